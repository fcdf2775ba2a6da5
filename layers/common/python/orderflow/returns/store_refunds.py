"""A refund made in the store (``store/order/refund/created``): our own refund step's comes back and is
recognised (by the return named in its reason); one made in the control panel becomes a return record
with its items, refunded already, so our quantities and the store's agree and no refund is sent again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow import clock
from orderflow.bigcommerce import refunds as store_refunds
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.models.event import OrderEvent
from orderflow.models.order import BigCommerceSettings
from orderflow.models.returns import RefundRecord, Return, ReturnLine, ReturnStatus, ReturnStatusChange
from orderflow.observability import logger
from orderflow.returns.refunds import adopt, marker, move_order_after_refund
from orderflow.returns.requests import unit_price
from orderflow.store.orders import OrderRepository
from orderflow.store.returns import ReturnExists, ReturnRepository

StartReturnFlows = Callable[[str, Return, str], list[str]]


@dataclass
class StoreRefundOutcome:
    status: str  # recorded | ours | duplicate | ignored
    reason: str
    return_id: str | None = None
    executions: list[str] = field(default_factory=list)


def store_return_id(import_id: str, refund_id: int) -> str:
    return f"{import_id}-REFUND{refund_id}"


def record_store_refund(
    order_key: str,
    order_id: int,
    refund_id: int,
    *,
    orders: OrderRepository,
    returns: ReturnRepository,
    settings: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    start_flows: StartReturnFlows,
) -> StoreRefundOutcome:
    order = orders.find(order_key)
    if order is None or not order.is_imported:
        return StoreRefundOutcome(
            "ignored", f"order {order_key} is not imported: its refunds are not ours to track"
        )
    found = next(
        (
            r
            for r in store_refunds.list_refunds(bigcommerce(), order_id)
            if int(r.get("id") or 0) == refund_id
        ),
        None,
    )
    if found is None:
        return StoreRefundOutcome("ignored", f"refund {refund_id} is not among order {order_id}'s refunds")
    reason = str(found.get("reason") or "")
    for ret in returns.for_order(order_key):
        ours = ret.refund is not None and ret.refund.store_refund_id == refund_id
        if ours or (ret.origin == "merchant" and reason.split(":", 1)[0].strip() == marker(ret)):
            if ret.refund is None or ret.refund.state != "created":
                adopt(returns, ret, found)
            status = "duplicate" if ret.origin == "store" else "ours"
            return StoreRefundOutcome(
                status, f"refund {refund_id} is return {ret.return_id}'s", ret.return_id
            )
    ret = _from_store(order, found, refund_id)
    try:
        stored = returns.create(ret, {}, {}, order.revision)
    except ReturnExists:
        return StoreRefundOutcome("duplicate", f"refund {refund_id} was recorded before", ret.return_id)
    logger.info(
        "refund made in the store recorded", extra={"order_key": order_key, "return_id": stored.return_id}
    )
    moved = move_order_after_refund(
        order_key, orders, settings, bigcommerce, f"refund {refund_id} made in BigCommerce"
    )
    executions = start_flows(OrderEvent.RETURN_REFUNDED.value, stored, str(refund_id))
    return StoreRefundOutcome(
        "recorded",
        f"refund {refund_id} recorded as return {stored.return_id}; {moved}",
        stored.return_id,
        executions,
    )


def _from_store(order: Any, found: dict[str, Any], refund_id: int) -> Return:
    by_product = store_refunds.refund_items_of(found)
    lines: list[ReturnLine] = []
    for line in order.lines:
        quantity = min(by_product.get(line.external_id, 0), line.quantity)
        if quantity <= 0:
            continue
        by_product[line.external_id] -= quantity
        lines.append(
            ReturnLine(
                line_number=line.line_number,
                sku=line.sku,
                order_product_id=line.external_id,
                order_address_id=line.ship_to_external_id,
                quantity=quantity,
                reason=str(found.get("reason") or "refunded in the store"),
                unit_price=unit_price(line),
                quantity_refunded=quantity,
            )
        )
    at = clock.iso()
    try:
        amount = Decimal(str(found.get("total_amount") or "0"))
    except InvalidOperation:
        amount = Decimal("0")
    return Return(
        return_id=store_return_id(order.import_id, refund_id),
        order_key=order.order_key,
        store_hash=order.store_hash,
        order_external_id=order.external_id,
        origin="store",
        status=ReturnStatus.REFUNDED,
        lines=lines,
        requested_at=str(found.get("created") or at),
        refund=RefundRecord(state="created", marker="", amount=amount, store_refund_id=refund_id, sent_at=at),
        history=[
            ReturnStatusChange(
                status=ReturnStatus.REFUNDED, at=at, reason="refunded in the store's control panel"
            )
        ],
    )
