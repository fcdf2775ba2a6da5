"""v2 shipments of an order: created over the API or by hand, and the order's shipped counts."""

from __future__ import annotations

import copy
import re
from typing import Any

from orderflow_local.demo_store.base import NOT_FOUND, _ApiError, _money, _now, _page, _rfc2822
from orderflow_local.demo_store.orders import OrderResource

SHIPPING_PROVIDERS = {
    "",
    "auspost",
    "canadapost",
    "endicia",
    "usps",
    "fedex",
    "royalmail",
    "ups",
    "upsready",
    "shipperhq",
}


class ShipmentResource(OrderResource):
    """A shipment ships an order's products to one of its addresses and may move its status."""

    # -- inspection ----------------------------------------------------------------------------------

    def shipments(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._shipments.get(order_id, []))

    # -- v2 shipments --------------------------------------------------------------------------------

    def _get_shipments(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._shipments[order_id], query)
            return (200, copy.deepcopy(page)) if page else (204, None)

    def _get_shipment(
        self, order_id: int, shipment_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            for shipment in self._shipments[order_id]:
                if shipment["id"] == shipment_id:
                    return 200, copy.deepcopy(shipment)
        raise _ApiError(404, NOT_FOUND)

    def _post_shipment(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        shipment = self._create_shipment(order_id, body)
        self._emit("store/shipment/created", {"type": "shipment", "id": shipment["id"], "orderId": order_id})
        return 201, shipment

    def create_shipment_by_hand(
        self,
        order_id: int,
        items: list[dict[str, int]],
        *,
        order_address_id: int | None = None,
        tracking_number: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> dict[str, Any]:
        """A merchant ships in the control panel: the shipment is stored as a POST would store it, the
        order moves to Partially Shipped (3) or Shipped (2) as BigCommerce does by itself (not one of
        ``status_updates``, which are what the API was asked to do), and ``store/shipment/created``
        then the status webhooks call back. ``items`` are ``{"order_product_id", "quantity"}``; the
        address defaults to the first item's. ValueError for what the control panel would refuse."""
        with self._lock:
            products = {p["id"]: p for p in self._products.get(order_id, [])}
            first = items[0].get("order_product_id") if items and isinstance(items[0], dict) else None
            if order_address_id is None and isinstance(first, int) and first in products:
                order_address_id = products[first]["order_address_id"]
            body = {
                "order_address_id": order_address_id,
                "items": items,
                "tracking_number": tracking_number,
                "shipping_provider": shipping_provider,
                "comments": comments,
            }
            try:
                shipment = self._create_shipment(order_id, body)
            except _ApiError as exc:
                raise ValueError(exc.message) from None
            every_unit_shipped = all(p["quantity_shipped"] >= p["quantity"] for p in self._products[order_id])
        self._emit("store/shipment/created", {"type": "shipment", "id": shipment["id"], "orderId": order_id})
        self._set_status(order_id, 2 if every_unit_shipped else 3, recorded=False)
        return shipment

    def _create_shipment(self, order_id: int, body: Any) -> dict[str, Any]:
        """Validate and store a shipment as ``POST /v2/orders/{id}/shipments`` does; _ApiError when refused."""
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        with self._lock:
            order = self._require_order(order_id)
            addresses = {a["id"]: a for a in self._addresses[order_id]}
            address_id = body.get("order_address_id")
            if isinstance(address_id, bool) or not isinstance(address_id, int) or address_id not in addresses:
                raise _ApiError(400, "The field 'order_address_id' is invalid.")
            items = body.get("items")
            if not isinstance(items, list) or not items:
                raise _ApiError(400, "The field 'items' is invalid.")
            products = {p["id"]: p for p in self._products[order_id]}
            wanted: dict[int, int] = {}
            for item in items:
                product_id = item.get("order_product_id") if isinstance(item, dict) else None
                quantity = item.get("quantity") if isinstance(item, dict) else None
                if (
                    not isinstance(product_id, int)
                    or isinstance(product_id, bool)
                    or product_id not in products
                ):
                    raise _ApiError(400, "The field 'order_product_id' is invalid.")
                if products[product_id]["order_address_id"] != address_id:
                    raise _ApiError(400, f"Order product {product_id} is not shipped to that address.")
                if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                    raise _ApiError(400, "The field 'quantity' is invalid.")
                wanted[product_id] = wanted.get(product_id, 0) + quantity
            for product_id, quantity in wanted.items():
                product = products[product_id]
                if quantity > product["quantity"] - product["quantity_shipped"]:
                    raise _ApiError(
                        400,
                        f"The quantity specified for order product {product_id} is greater than the "
                        "quantity that is available to ship.",
                    )
            tracking_number = str(body.get("tracking_number") or "")
            if len(tracking_number) > 50:
                raise _ApiError(400, "The field 'tracking_number' is longer than 50 characters.")
            provider = body.get("shipping_provider", "")
            if not isinstance(provider, str) or (
                provider not in SHIPPING_PROVIDERS and not re.fullmatch(r"carrier_\d+", provider)
            ):
                raise _ApiError(400, "The field 'shipping_provider' is invalid.")
            address = addresses[address_id]
            for product_id, quantity in wanted.items():
                products[product_id]["quantity_shipped"] += quantity
                address["items_shipped"] += quantity
                order["items_shipped"] += quantity
            now = _now()
            order["date_modified"] = _rfc2822(now)
            shipment = {
                "id": self._take("shipment"),
                "order_id": order_id,
                "customer_id": order["customer_id"],
                "order_address_id": address_id,
                "date_created": _rfc2822(now),
                "tracking_number": tracking_number,
                "merchant_shipping_cost": _money(0),
                "shipping_method": address["shipping_method"],
                "comments": str(body.get("comments") or ""),
                "shipping_provider": provider,
                "shipping_provider_display_name": provider.upper() if provider else "",
                "tracking_carrier": str(body.get("tracking_carrier") or ""),
                "tracking_link": str(body.get("tracking_link") or ""),
                "billing_address": copy.deepcopy(order["billing_address"]),
                "shipping_address": self._render_address(address),
                "items": [
                    {"order_product_id": pid, "product_id": products[pid]["product_id"], "quantity": qty}
                    for pid, qty in wanted.items()
                ],
            }
            self._shipments[order_id].append(shipment)
            return copy.deepcopy(shipment)
