"""BigCommerce's v3 refunds (payment actions): a quote for items, the refund, and an order's refunds."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError, BigCommerceOutcomeUnknown

STORE_CREDIT = "storecredit"
RESOLUTIONS = ("refund", "store_credit")
_CENT = Decimal("0.01")


def quotes_path(order_id: int) -> str:
    return f"/v3/orders/{order_id}/payment_actions/refund_quotes"


def refunds_path(order_id: int) -> str:
    return f"/v3/orders/{order_id}/payment_actions/refunds"


# -- items -------------------------------------------------------------------------------------------


def product_item(order_product_id: int, quantity: int) -> dict[str, Any]:
    """Refund ``quantity`` units of one order product (its id in the order, not the catalog's)."""
    if quantity < 1:
        raise ValueError(f"order product {order_product_id}: a refund quantity must be at least 1")
    return {"item_type": "PRODUCT", "item_id": order_product_id, "quantity": quantity}


def shipping_item(address_id: int, amount: Decimal | str | float) -> dict[str, Any]:
    """Refund ``amount`` of the shipping cost of one order address (a consignment)."""
    value = _amount(amount)
    if value <= 0:
        raise ValueError(f"order address {address_id}: a shipping refund must be more than 0")
    return {"item_type": "SHIPPING", "item_id": address_id, "amount": float(value)}


# -- quote -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundQuote:
    """What the store would refund for some items, and the ways it can pay it back: each refund method
    is a list of payments (a gateway, store credit, an offline method) that together make the total."""

    order_id: int
    total_refund_amount: Decimal
    total_refund_tax_amount: Decimal
    refund_methods: list[list[dict[str, Any]]] = field(default_factory=list)

    def payments_for(self, resolution: str) -> list[dict[str, Any]]:
        """The payments of the refund for a return's resolution: ``refund`` pays back through the
        order's own payment providers (the first method without store credit), ``store_credit`` as
        store credit only. ValueError when the store offers no such method."""
        if resolution not in RESOLUTIONS:
            raise ValueError(
                f"resolution {resolution!r} has no refund: expected one of {', '.join(RESOLUTIONS)}"
            )
        as_store_credit = resolution == "store_credit"
        for method in self.refund_methods:
            if method and all((p.get("provider_id") == STORE_CREDIT) == as_store_credit for p in method):
                return [
                    {
                        "provider_id": payment["provider_id"],
                        "amount": payment["amount"],
                        "offline": bool(payment.get("offline", False)),
                    }
                    for payment in method
                ]
        offered = sorted({str(p.get("provider_id")) for method in self.refund_methods for p in method})
        want = (
            "store credit" if resolution == "store_credit" else "a payment provider other than store credit"
        )
        raise ValueError(
            f"order {self.order_id}: the store offers no refund method through {want} "
            f"(it offers: {', '.join(offered) or 'none'})"
        )


def refund_quote(client: BigCommerceClient, order_id: int, items: list[dict[str, Any]]) -> RefundQuote:
    """The store's quote for refunding ``items``; BigCommerceError (422) when an item cannot be refunded
    (e.g. more units than are left to refund). A quote changes nothing, so it may be asked again."""
    path = quotes_path(order_id)
    data = _data(client.post(path, {"items": items}))
    methods = data.get("refund_methods") if data is not None else None
    if (
        data is None
        or not isinstance(methods, list)
        or not all(isinstance(method, list) and _payments(method) for method in methods)
    ):
        raise BigCommerceError(
            200, "expected a refund quote {data: {..., refund_methods}}", method="POST", path=path
        )
    try:
        total = _amount(data.get("total_refund_amount"))
        tax = _amount(data.get("total_refund_tax_amount", 0))
    except ValueError:
        raise BigCommerceError(
            200, "the refund quote has no readable total", method="POST", path=path
        ) from None
    return RefundQuote(order_id, total, tax, methods)


# -- refunds -----------------------------------------------------------------------------------------


def create_refund(
    client: BigCommerceClient,
    order_id: int,
    items: list[dict[str, Any]],
    payments: list[dict[str, Any]],
    reason: str,
) -> dict[str, Any]:
    """Refund ``items`` through ``payments`` (from :meth:`RefundQuote.payments_for`); the created refund.

    ``reason`` should name what the refund is for (e.g. our return id): a refund is not idempotent,
    so after :class:`BigCommerceOutcomeUnknown` the caller finds it among :func:`list_refunds` by that
    text before ever sending it again. BigCommerceError (422) when an item is over-refunded or the
    payments do not add up to the refund's amount."""
    path = refunds_path(order_id)
    data = _data(client.post(path, {"items": items, "payments": payments, "reason": reason}))
    if data is None or "id" not in data:
        # The store answered success, so the refund exists; without its id the caller must look it up.
        raise BigCommerceOutcomeUnknown(
            200, "the refund's answer has no {data: {id}}", method="POST", path=path
        )
    return data


def list_refunds(client: BigCommerceClient, order_id: int) -> list[dict[str, Any]]:
    """Every refund of the order, oldest first, whoever made it (our API calls or the control panel)."""
    return [refund for refund in client.iter_v3_pages(refunds_path(order_id)) if isinstance(refund, dict)]


def find_refund(refunds: list[dict[str, Any]], reason_marker: str) -> dict[str, Any] | None:
    """The refund whose reason contains ``reason_marker`` (the text :func:`create_refund` was given)."""
    if not reason_marker:
        raise ValueError("a reason marker is required: an empty one would match every refund")
    for refund in refunds:
        reason = refund.get("reason")
        if isinstance(reason, str) and reason_marker in reason:
            return refund
    return None


def refund_items_of(refund: dict[str, Any]) -> dict[int, int]:
    """Order product id → units the refund gave back (its PRODUCT items; shipping and the like carry
    amounts, not units)."""
    units: dict[int, int] = {}
    for item in refund.get("items") or []:
        if not isinstance(item, dict) or item.get("item_type") != "PRODUCT":
            continue
        product_id, quantity = item.get("item_id"), item.get("quantity")
        if isinstance(product_id, int) and isinstance(quantity, int) and not isinstance(quantity, bool):
            units[product_id] = units.get(product_id, 0) + quantity
    return units


# -- helpers -----------------------------------------------------------------------------------------


def _data(answer: Any) -> dict[str, Any] | None:
    data = answer.get("data") if isinstance(answer, dict) else None
    return data if isinstance(data, dict) else None


def _payments(method: list[Any]) -> bool:
    return all(
        isinstance(p, dict) and isinstance(p.get("provider_id"), str) and "amount" in p for p in method
    )


def _amount(value: Any) -> Decimal:
    """An amount as BigCommerce sends it (a number or a numeric string), to the cent."""
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    try:
        # quantize also refuses infinities and amounts too large to be money
        amount = Decimal(str(value)).quantize(_CENT)
    except InvalidOperation:
        amount = Decimal("NaN")
    if amount.is_nan():
        raise ValueError(f"not an amount: {value!r}")
    return amount
