"""v2 orders: seeding them, their products, shipping addresses and coupons, and status changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from orderflow.bigcommerce.statuses import ORDER_STATUSES, status_name
from orderflow_local.demo_store.base import (
    NOT_FOUND,
    _ApiError,
    _date_param,
    _decimal,
    _int_param,
    _money,
    _now,
    _page,
    _rfc2822,
    _round,
)
from orderflow_local.demo_store.catalog import CatalogResource
from orderflow_local.demo_store.customers import CustomerResource
from orderflow_local.demo_store.hooks import HookResource

SAMPLE_CUSTOMER = {
    "customer_id": 11,
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "",
    "street_1": "555 East Street",
    "street_2": "",
    "city": "Austin",
    "state": "Texas",
    "zip": "78108",
    "country": "United States",
    "country_iso2": "US",
    "phone": "1234567890",
    "email": "janedoe@example.com",
}
SAMPLE_LINES = [
    {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
    {"sku": "SCW", "name": "Scale Calibration Weights", "quantity": 2, "price": "12.50"},
]
_GUEST = {
    "customer_id": 0,
    "first_name": "Alex",
    "last_name": "Guest",
    "company": "",
    "street_1": "1 Market Street",
    "street_2": "",
    "city": "San Francisco",
    "state": "California",
    "zip": "94105",
    "country": "United States",
    "country_iso2": "US",
    "phone": "",
    "email": "guest@example.com",
}
_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "street_1",
    "street_2",
    "city",
    "state",
    "zip",
    "country",
    "country_iso2",
    "phone",
    "email",
)


class OrderResource(HookResource, CustomerResource, CatalogResource):
    """Orders call back on status changes (hooks), the sample order has its customer, and a line's
    sku names a catalog product and variant."""

    # -- seeding -------------------------------------------------------------------------------------

    def add_order(
        self,
        *,
        status_id: int = 11,
        customer: dict[str, Any] | None = None,
        lines: list[dict[str, Any]] | None = None,
        shipping_address: dict[str, Any] | None = None,
        currency_code: str = "USD",
        payment_method: str = "Credit Card",
        shipping_cost: str = "0.00",
        shipping_method: str = "Flat Rate",
        tax_rate: str = "0",
        channel_id: int = 1,
        order_source: str = "www",
        customer_message: str = "",
        staff_notes: str = "",
        date_created: datetime | None = None,
    ) -> int:
        """Add a v2 order and return its id (250, 251, ...). ``customer`` gives ``customer_id`` (0 = guest)
        and the billing address fields; each line is ``{"sku", "name", "quantity", "price"}`` (optionally
        ``product_id``, 0 for a custom product, and ``variant_id``). Totals follow from the lines."""
        if status_id not in ORDER_STATUSES:
            raise ValueError(f"unknown status_id {status_id}")
        person = {**_GUEST, **(customer or {})}
        lines = lines if lines is not None else SAMPLE_LINES[:1]
        if not lines:
            raise ValueError("an order needs at least one line")
        rate = _decimal(tax_rate)
        shipping = _decimal(shipping_cost)
        created = (date_created or _now()).astimezone(UTC).replace(microsecond=0)
        with self._lock:
            order_id = self._take("order")
            address_id = self._take("address")
            billing = {field: str(person.get(field) or "") for field in _ADDRESS_FIELDS}
            products: list[dict[str, Any]] = []
            subtotal_ex = subtotal_inc = Decimal(0)
            items = 0
            for line in lines:
                product = self._order_line(order_id, address_id, line, rate)
                products.append(product)
                subtotal_ex += Decimal(product["total_ex_tax"])
                subtotal_inc += Decimal(product["total_inc_tax"])
                items += product["quantity"]
            address = {
                "id": address_id,
                "order_id": order_id,
                **billing,
                **{field: str(value) for field, value in (shipping_address or {}).items()},
                "form_fields": [],
                "shipping_method": shipping_method,
                "base_cost": _money(shipping),
                "cost_ex_tax": _money(shipping),
                "cost_inc_tax": _money(shipping),
                "cost_tax": _money(0),
                "cost_tax_class_id": 2,
                "base_handling_cost": _money(0),
                "handling_cost_ex_tax": _money(0),
                "handling_cost_inc_tax": _money(0),
                "handling_cost_tax": _money(0),
                "handling_cost_tax_class_id": 2,
                "shipping_zone_id": 1,
                "shipping_zone_name": billing["country"] or "United States",
                "items_total": items,
                "items_shipped": 0,
            }
            stamp = _rfc2822(created)
            self._orders[order_id] = {
                "id": order_id,
                "customer_id": int(person.get("customer_id") or 0),
                "date_created": stamp,
                "date_modified": stamp,
                "date_shipped": "",
                "status_id": status_id,
                "status": status_name(status_id),
                "custom_status": status_name(status_id),
                "subtotal_ex_tax": _money(subtotal_ex),
                "subtotal_inc_tax": _money(subtotal_inc),
                "subtotal_tax": _money(subtotal_inc - subtotal_ex),
                "base_shipping_cost": _money(shipping),
                "shipping_cost_ex_tax": _money(shipping),
                "shipping_cost_inc_tax": _money(shipping),
                "shipping_cost_tax": _money(0),
                "shipping_cost_tax_class_id": 2,
                "base_handling_cost": _money(0),
                "handling_cost_ex_tax": _money(0),
                "handling_cost_inc_tax": _money(0),
                "handling_cost_tax": _money(0),
                "handling_cost_tax_class_id": 2,
                "base_wrapping_cost": _money(0),
                "wrapping_cost_ex_tax": _money(0),
                "wrapping_cost_inc_tax": _money(0),
                "wrapping_cost_tax": _money(0),
                "wrapping_cost_tax_class_id": 3,
                "total_ex_tax": _money(subtotal_ex + shipping),
                "total_inc_tax": _money(subtotal_inc + shipping),
                "total_tax": _money(subtotal_inc - subtotal_ex),
                "items_total": items,
                "items_shipped": 0,
                "payment_method": payment_method,
                "payment_provider_id": None,
                "payment_status": "captured",
                "refunded_amount": _money(0),
                "order_is_digital": False,
                "store_credit_amount": _money(0),
                "gift_certificate_amount": _money(0),
                "ip_address": "",
                "geoip_country": "",
                "geoip_country_iso2": "",
                "currency_id": 1,
                "currency_code": currency_code,
                "currency_exchange_rate": "1.0000000000",
                "default_currency_id": 1,
                "default_currency_code": currency_code,
                "store_default_currency_code": currency_code,
                "store_default_to_transactional_exchange_rate": "1.0000000000",
                "staff_notes": staff_notes,
                "customer_message": customer_message,
                "discount_amount": _money(0),
                "coupon_discount": _money(0),
                "shipping_address_count": 1,
                "is_deleted": False,
                "ebay_order_id": "0",
                "cart_id": "",
                "billing_address": {**billing, "form_fields": []},
                "is_email_opt_in": False,
                "credit_card_type": None,
                "order_source": order_source,
                "channel_id": channel_id,
                "external_source": None,
                "external_id": None,
                "external_merchant_id": None,
                "tax_provider_id": "BasicTaxProvider",
                "customer_locale": "en",
                "is_tax_inclusive_pricing": False,
            }
            self._products[order_id] = products
            self._addresses[order_id] = [address]
            self._shipments[order_id] = []
            self._status_updates[order_id] = []
            return order_id

    def sample_order(self) -> int:
        """The standard demo order: Jane Doe (customer 11, Austin, Texas), Awaiting Fulfillment (paid,
        the store's usual new-order status), USD, two lines."""
        with self._lock:
            if 11 not in self._customers:
                self.add_customer(
                    customer_id=11,
                    email="janedoe@example.com",
                    first_name="Jane",
                    last_name="Doe",
                    phone="1234567890",
                )
            lines = copy.deepcopy(SAMPLE_LINES)
            return self.add_order(status_id=11, customer=dict(SAMPLE_CUSTOMER), lines=lines)

    # -- inspection ----------------------------------------------------------------------------------

    def status_updates(self, order_id: int) -> list[int]:
        """The status_id of every accepted PUT on that order, oldest first (repeats included)."""
        with self._lock:
            return list(self._status_updates.get(order_id, []))

    def order(self, order_id: int) -> dict[str, Any]:
        """The order as ``GET /v2/orders/{id}`` returns it now (sub-resources as links)."""
        with self._lock:
            if order_id not in self._orders:
                raise KeyError(order_id)
            return self._render_order(order_id, set(), structure_object=False)

    def order_products(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._products[order_id])

    # -- v2 orders -----------------------------------------------------------------------------------

    def _get_orders(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        status_id = _int_param(query, "status_id")
        customer_id = _int_param(query, "customer_id")
        min_id = _int_param(query, "min_id")
        max_id = _int_param(query, "max_id")
        min_modified = _date_param(query, "min_date_modified")
        max_modified = _date_param(query, "max_date_modified")
        min_created = _date_param(query, "min_date_created")
        max_created = _date_param(query, "max_date_created")
        with self._lock:
            selected = []
            for order_id in sorted(self._orders):
                order = self._orders[order_id]
                modified = parsedate_to_datetime(order["date_modified"])
                created = parsedate_to_datetime(order["date_created"])
                if (
                    (status_id is not None and order["status_id"] != status_id)
                    or (customer_id is not None and order["customer_id"] != customer_id)
                    or (min_id is not None and order_id < min_id)
                    or (max_id is not None and order_id > max_id)
                    or (min_modified is not None and modified < min_modified)
                    or (max_modified is not None and modified > max_modified)
                    or (min_created is not None and created < min_created)
                    or (max_created is not None and created > max_created)
                ):
                    continue
                selected.append(order_id)
            page = _page(selected, query)
            return (200, [self._render_order(i, set(), False) for i in page]) if page else (204, None)

    def _get_order(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        include = {part.strip() for value in query.get("include", []) for part in value.split(",")}
        structure_object = "object" in query.get("consignment_structure", [])
        with self._lock:
            self._require_order(order_id)
            return 200, self._render_order(order_id, include, structure_object)

    def _put_order(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        new = body.get("status_id")
        if "status_id" in body and (
            isinstance(new, bool) or not isinstance(new, int) or new not in ORDER_STATUSES
        ):
            raise _ApiError(400, "The field 'status_id' is invalid.")
        return 200, self._set_status(order_id, new, recorded=True)

    def set_status(self, order_id: int, status_id: int) -> None:
        """A merchant changes the status in the control panel: same webhooks as an API change, but
        not one of ``status_updates`` (those are what the API was asked to do)."""
        if status_id not in ORDER_STATUSES:
            raise ValueError(f"unknown status_id {status_id}")
        self._set_status(order_id, status_id, recorded=False)

    def _set_status(self, order_id: int, new: int | None, *, recorded: bool) -> dict[str, Any]:
        with self._lock:
            order = self._require_order(order_id)
            previous = order["status_id"]
            if new is not None:
                if recorded:
                    self._status_updates[order_id].append(new)
                if new != previous:
                    order["status_id"] = new
                    order["status"] = order["custom_status"] = status_name(new)
                    order["date_modified"] = _rfc2822(_now())
            rendered = self._render_order(order_id, set(), False)
            changed = order["status_id"] != previous
        if changed:
            status = {"previous_status_id": previous, "new_status_id": rendered["status_id"]}
            self._emit("store/order/updated", {"type": "order", "id": order_id})
            self._emit("store/order/statusUpdated", {"type": "order", "id": order_id, "status": status})
        return rendered

    def _get_order_products(
        self, order_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._products[order_id], query)
            return (200, copy.deepcopy(page)) if page else (204, None)

    def _get_order_product(
        self, order_id: int, product_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            for product in self._products[order_id]:
                if product["id"] == product_id:
                    return 200, copy.deepcopy(product)
        raise _ApiError(404, NOT_FOUND)

    def _get_order_addresses(
        self, order_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._addresses[order_id], query)
            return (200, [self._render_address(a) for a in page]) if page else (204, None)

    def _get_order_coupons(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
        return 204, None

    def _get_order_statuses(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        return 200, [
            {"id": sid, "name": name, "system_label": name, "custom_label": name, "order": sid}
            for sid, name in ORDER_STATUSES.items()
        ]

    def _require_order(self, order_id: int) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None:
            raise _ApiError(404, NOT_FOUND)
        return order

    def _render_order(self, order_id: int, include: set[str], structure_object: bool) -> dict[str, Any]:
        rendered = copy.deepcopy(self._orders[order_id])
        rendered["products"] = self._link(f"/orders/{order_id}/products")
        rendered["shipping_addresses"] = self._link(f"/orders/{order_id}/shipping_addresses")
        rendered["coupons"] = self._link(f"/orders/{order_id}/coupons")
        if include & {"consignments", "consignments.line_items"}:
            full = "consignments.line_items" in include
            shipping = []
            for address in self._addresses[order_id]:
                consignment = self._render_address(address)
                consignment.pop("shipping_quotes")
                lines = [p for p in self._products[order_id] if p["order_address_id"] == address["id"]]
                consignment["line_items"] = (
                    copy.deepcopy(lines)
                    if full
                    else [self._link(f"/orders/{order_id}/products/{p['id']}") for p in lines]
                )
                consignment["shipping_quotes"] = self._link(
                    f"/orders/{order_id}/consignments/shipping/{address['id']}/shipping_quotes"
                )
                shipping.append(consignment)
            consignments = {
                "pickups": [],
                "shipping": shipping,
                "downloads": [],
                "email": {"gift_certificates": []},
            }
            # Without consignment_structure=object BigCommerce answers an older array form.
            rendered["consignments"] = consignments if structure_object else [consignments]
        return rendered

    def _render_address(self, address: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(address)
        rendered["shipping_quotes"] = self._link(
            f"/orders/{address['order_id']}/shipping_addresses/{address['id']}/shipping_quotes"
        )
        return rendered

    def _link(self, resource: str) -> dict[str, str]:
        return {"url": f"{self.api_base}/v2{resource}", "resource": resource}

    def _order_line(
        self, order_id: int, address_id: int, line: dict[str, Any], rate: Decimal
    ) -> dict[str, Any]:
        sku = str(line.get("sku") or "")
        name = str(line.get("name") or sku or "Custom product")
        quantity = int(line.get("quantity", 1))
        if quantity < 1:
            raise ValueError("line quantity must be at least 1")
        price = _decimal(line.get("price", "0"))
        if "product_id" in line:
            product_id = int(line["product_id"])
            variant_id = int(line.get("variant_id") or 0) or None
        else:
            product_id, variant_id = self._ids_for_sku(sku)
            variant_id = int(line.get("variant_id") or variant_id)
        price_inc = _round(price * (1 + rate))
        return {
            "id": self._take("order_product"),
            "order_id": order_id,
            "product_id": product_id,
            "variant_id": variant_id,
            "order_address_id": address_id,
            "name": name,
            "name_customer": name,
            "name_merchant": name,
            "sku": sku,
            "upc": "",
            "type": "physical",
            "base_price": _money(price),
            "price_ex_tax": _money(price),
            "price_inc_tax": _money(price_inc),
            "price_tax": _money(price_inc - price),
            "base_total": _money(price * quantity),
            "total_ex_tax": _money(price * quantity),
            "total_inc_tax": _money(price_inc * quantity),
            "total_tax": _money((price_inc - price) * quantity),
            "weight": "1.0000",
            "quantity": quantity,
            "base_cost_price": _money(0),
            "is_refunded": False,
            "quantity_refunded": 0,
            "refund_amount": _money(0),
            "return_id": 0,
            "quantity_shipped": 0,
            "fixed_shipping_cost": _money(0),
            "option_set_id": None,
            "parent_order_product_id": None,
            "is_bundled_product": False,
            "bin_picking_number": "",
            "external_id": None,
            "applied_discounts": [],
            "product_options": [],
            "configurable_fields": [],
        }
