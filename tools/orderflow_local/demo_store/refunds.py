"""v3 refunds (payment actions) of an order: quotes, refunds over the API or by hand, and their effects."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow_local.demo_store.base import _ApiError, _iso, _money, _now, _v3_page
from orderflow_local.demo_store.orders import OrderResource

GATEWAY = {"provider_id": "testgateway", "provider_description": "Test Payment Gateway"}
STORE_CREDIT = {"provider_id": "storecredit", "provider_description": "Store Credit"}
_PROVIDERS = {GATEWAY["provider_id"], STORE_CREDIT["provider_id"]}
_AMOUNT_ITEMS = ("SHIPPING", "HANDLING")
_CENT = Decimal("0.01")
REFUNDED = 4
PARTIALLY_REFUNDED = 14
HAND_REASON = "Refunded in the control panel"


@dataclass(frozen=True)
class _Quoted:
    """Items checked against what is left to refund, with their amounts."""

    items: list[dict[str, Any]]  # as requested, each with its requested_amount
    units: dict[int, int]  # order product id -> units
    total: Decimal
    tax: Decimal


class RefundResource(OrderResource):
    """A refund gives back order products (by units) and shipping or handling (by amount) once each:
    the store refuses more than is left, and moves the order to Partially Refunded or Refunded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refunds: dict[int, list[dict[str, Any]]] = {}
        self._next.update({"refund": 1, "refund_payment": 1})

    # -- inspection and the control panel ------------------------------------------------------------

    def refunds(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._refunds.get(order_id, []))

    def refund_by_hand(
        self, order_id: int, items: list[dict[str, Any]], reason: str = HAND_REASON
    ) -> dict[str, Any]:
        """A merchant refunds in the control panel: the same checks and effects as the API (status,
        webhooks), paid back through the order's gateway, and not one of ``requests``. ``items`` are
        v3 refund items (``{"item_type": "PRODUCT", "item_id", "quantity"}``, ...); ValueError for
        what the control panel would refuse."""
        with self._lock:
            try:
                quoted = self._quote(order_id, _items_of({"items": items}))
                payments = [
                    {"provider_id": GATEWAY["provider_id"], "amount": float(quoted.total), "offline": False}
                ]
                return self._refund(order_id, quoted, payments, reason)
            except _ApiError as exc:
                raise ValueError(exc.message) from None

    # -- v3 payment actions --------------------------------------------------------------------------

    def _post_refund_quote(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            quoted = self._quote(order_id, _items_of(body))
        total = float(quoted.total)
        methods = [[{**provider, **_payment(total)}] for provider in (GATEWAY, STORE_CREDIT)]
        return 201, {
            "data": {
                "order_id": order_id,
                "total_refund_amount": total,
                "total_refund_tax_amount": float(quoted.tax),
                "rounding": 0,
                "adjustment": 0,
                "tax_inclusive": True,
                "refund_methods": methods,
            },
            "meta": {},
        }

    def _post_refund(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = _items_of(body)
        with self._lock:
            quoted = self._quote(order_id, items)
            payments = _payments_of(body, quoted.total)
            reason = body.get("reason", "")
            if not isinstance(reason, str):
                raise _ApiError(422, "Input is invalid", {"reason": "reason must be a string"})
            return 201, {"data": self._refund(order_id, quoted, payments, reason), "meta": {}}

    def _get_refunds(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            return _v3_page(copy.deepcopy(self._refunds.get(order_id, [])), query)

    # -- the rules -----------------------------------------------------------------------------------

    def _quote(self, order_id: int, items: list[Any]) -> _Quoted:
        """Price ``items`` against what is left to refund of the order; _ApiError (422) when one is
        unknown, malformed or more than is left. The caller holds the lock."""
        self._require_order(order_id)
        products = {p["id"]: p for p in self._products[order_id]}
        addresses = {a["id"]: a for a in self._addresses[order_id]}
        units: dict[int, int] = {}
        amounts: dict[tuple[str, int], Decimal] = {}
        priced: list[dict[str, Any]] = []
        total = tax = Decimal(0)
        for index, item in enumerate(items):
            where = f"items.{index}"
            if not isinstance(item, dict):
                raise _ApiError(422, "Input is invalid", {where: "each item must be an object"})
            kind, item_id = item.get("item_type"), item.get("item_id")
            if kind == "PRODUCT":
                if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id not in products:
                    raise _ApiError(
                        422,
                        f"Order product {item_id} does not exist on order {order_id}.",
                        {f"{where}.item_id": "not a product of this order"},
                    )
                quantity = item.get("quantity")
                if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                    raise _ApiError(
                        422, "Input is invalid", {f"{where}.quantity": "quantity must be at least 1"}
                    )
                product = products[item_id]
                units[item_id] = units.get(item_id, 0) + quantity
                left = product["quantity"] - product["quantity_refunded"]
                if units[item_id] > left:
                    raise _ApiError(
                        422,
                        f"The quantity to refund for order product {item_id} is greater than the quantity "
                        f"available to refund ({left}).",
                        {f"{where}.quantity": f"at most {left}"},
                    )
                requested = Decimal(product["price_inc_tax"]) * quantity
                tax += Decimal(product["price_tax"]) * quantity
            elif kind in _AMOUNT_ITEMS:
                if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id not in addresses:
                    raise _ApiError(
                        422,
                        f"Order address {item_id} does not exist on order {order_id}.",
                        {f"{where}.item_id": "not an address of this order"},
                    )
                requested = _amount(item.get("amount"), f"{where}.amount")
                key = (str(kind), item_id)
                amounts[key] = amounts.get(key, Decimal(0)) + requested
                left_amount = self._cost_left(order_id, addresses[item_id], str(kind))
                if amounts[key] > left_amount:
                    raise _ApiError(
                        422,
                        f"The {str(kind).lower()} amount to refund for order address {item_id} is greater "
                        f"than the amount available to refund ({left_amount}).",
                        {f"{where}.amount": f"at most {left_amount}"},
                    )
            else:
                raise _ApiError(
                    422, "Input is invalid", {f"{where}.item_type": "must be PRODUCT, SHIPPING or HANDLING"}
                )
            if not isinstance(item.get("reason", ""), str):
                raise _ApiError(422, "Input is invalid", {f"{where}.reason": "reason must be a string"})
            total += requested
            priced.append({**copy.deepcopy(item), "requested_amount": float(requested.quantize(_CENT))})
        return _Quoted(priced, units, total.quantize(_CENT), tax.quantize(_CENT))

    def _cost_left(self, order_id: int, address: dict[str, Any], kind: str) -> Decimal:
        cost = Decimal(address["cost_inc_tax" if kind == "SHIPPING" else "handling_cost_inc_tax"])
        refunded = sum(
            (
                Decimal(str(item["requested_amount"]))
                for refund in self._refunds.get(order_id, [])
                for item in refund["items"]
                if item.get("item_type") == kind and item.get("item_id") == address["id"]
            ),
            Decimal(0),
        )
        return (cost - refunded).quantize(_CENT)

    def _refund(
        self, order_id: int, quoted: _Quoted, payments: list[dict[str, Any]], reason: str
    ) -> dict[str, Any]:
        """Store the refund and apply it: products' refunded counts, the order's refunded amount and
        status (through the status path, so it calls back like any change), then
        ``store/order/refund/created``. The caller holds the lock."""
        order = self._require_order(order_id)
        refund = {
            "id": self._take("refund"),
            "order_id": order_id,
            "user_id": 0,
            "created": _iso(_now()),
            "reason": reason,
            "total_amount": float(quoted.total),
            "total_tax": float(quoted.tax),
            "uses_merchant_override_values": False,
            "payments": [
                {
                    "id": self._take("refund_payment"),
                    "provider_id": payment["provider_id"],
                    "amount": float(_amount(payment["amount"], "amount")),
                    "offline": bool(payment.get("offline", False)),
                    "is_declined": False,
                    "declined_message": "",
                }
                for payment in payments
            ],
            "items": [
                {
                    "item_type": item["item_type"],
                    "item_id": item["item_id"],
                    "quantity": item.get("quantity"),
                    "requested_amount": item["requested_amount"],
                    "reason": item.get("reason", ""),
                }
                for item in quoted.items
            ],
        }
        self._refunds.setdefault(order_id, []).append(refund)
        products = self._products[order_id]
        for product in products:
            quantity = quoted.units.get(product["id"], 0)
            if quantity:
                product["quantity_refunded"] += quantity
                product["refund_amount"] = _money(
                    Decimal(product["refund_amount"]) + Decimal(product["price_inc_tax"]) * quantity
                )
                product["is_refunded"] = product["quantity_refunded"] >= product["quantity"]
        fully = all(p["quantity_refunded"] >= p["quantity"] for p in products)
        order["refunded_amount"] = _money(Decimal(order["refunded_amount"]) + quoted.total)
        order["payment_status"] = "refunded" if fully else "partially refunded"
        # The callback names the refund first, then its consequence, as a shipment does for Shipped.
        self._emit(
            "store/order/refund/created",
            {"type": "order", "id": order_id, "refund": {"refund_id": refund["id"]}},
        )
        self._set_status(order_id, REFUNDED if fully else PARTIALLY_REFUNDED, recorded=False)
        return copy.deepcopy(refund)


def _items_of(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise _ApiError(422, "Input is invalid", {"body": "the request body must be a JSON object"})
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise _ApiError(422, "Input is invalid", {"items": "at least one item is required"})
    return items


def _payments_of(body: dict[str, Any], total: Decimal) -> list[dict[str, Any]]:
    payments = body.get("payments")
    if not isinstance(payments, list) or not payments:
        raise _ApiError(422, "Input is invalid", {"payments": "at least one payment is required"})
    paid = Decimal(0)
    for index, payment in enumerate(payments):
        where = f"payments.{index}"
        if not isinstance(payment, dict) or payment.get("provider_id") not in _PROVIDERS:
            raise _ApiError(
                422, "Input is invalid", {f"{where}.provider_id": "not a payment provider of this order"}
            )
        if not isinstance(payment.get("offline", False), bool):
            raise _ApiError(422, "Input is invalid", {f"{where}.offline": "offline must be a boolean"})
        paid += _amount(payment.get("amount"), f"{where}.amount")
    if paid != total:
        raise _ApiError(
            422,
            f"The refund amount does not match the amount of the items to refund ({paid} given, {total} due).",
            {"payments": "the payments must add up to the refund's total"},
        )
    return payments


def _payment(amount: float) -> dict[str, Any]:
    return {"amount": amount, "offline": False, "offline_provider": False, "offline_reason": ""}


def _amount(value: Any, where: str) -> Decimal:
    not_a_number = _ApiError(422, "Input is invalid", {where: "amount must be a number"})
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise not_a_number
    try:
        # quantize refuses infinities and amounts too large to be money, e.g. "1e999999999"
        amount = Decimal(str(value)).quantize(_CENT)
    except InvalidOperation:
        raise not_a_number from None
    if amount.is_nan():
        raise not_a_number
    if amount <= 0:
        raise _ApiError(422, "Input is invalid", {where: "amount must be more than 0"})
    return amount
