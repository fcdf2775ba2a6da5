"""The ``refund`` step of return flows: BigCommerce's refund quote, then the refund, for the return's
items (and shipping when the step says so). A refund POST is never sent twice: the return records it
as ``sending`` before the POST, and a later attempt looks for it in the store (by the return's id in
its reason) before sending anything. The order moves to partially refunded / refunded."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow import clock
from orderflow.bigcommerce import refunds as store_refunds
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError, BigCommerceOutcomeUnknown
from orderflow.errors import InvalidInput, TransientStepError
from orderflow.models.order import SOURCE_BIGCOMMERCE, BigCommerceSettings, Order, OrderStatus
from orderflow.models.returns import RefundRecord, Return, ReturnStatus
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.models.transitions import can_transition
from orderflow.observability import logger, metrics
from orderflow.orders.status_push import push_status
from orderflow.returns.steps import the_return
from orderflow.store.orders import OrderRepository
from orderflow.store.returns import ReturnRepository

R = ReturnStatus
_REFUNDABLE = (R.AUTHORISED, R.IN_TRANSIT, R.RECEIVED)
# (event, return, occurrence) -> executions: return flows started by the refund (returns/flows.py)
StartReturnFlows = Callable[[str, Return, str], list[str]]


def marker(ret: Return) -> str:
    """What names the return in its refund's reason, so the refund is recognised in the store."""
    return f"return {ret.return_id}"


def to_refund(ret: Return) -> dict[int, int]:
    """Line number → quantity the refund covers: what was received when the goods are back, else what
    was asked back; less what is refunded already."""
    counts: dict[int, int] = {}
    for line in ret.lines:
        base = line.quantity_received if ret.status == R.RECEIVED else line.quantity
        left = base - line.quantity_refunded
        if left > 0:
            counts[line.line_number] = counts.get(line.line_number, 0) + left
    return counts


def refund_items(ret: Return, counts: dict[int, int], shipping: Decimal | None) -> list[dict[str, Any]]:
    by_number = {line.line_number: line for line in ret.lines}
    items = [store_refunds.product_item(by_number[n].order_product_id, q) for n, q in sorted(counts.items())]
    address = next((line.order_address_id for line in ret.lines if line.order_address_id), None)
    if shipping and address:
        items.append(store_refunds.shipping_item(address, shipping))
    return items


def refund(
    request: StepRequest,
    returns: ReturnRepository,
    orders: OrderRepository,
    settings: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    start_flows: StartReturnFlows | None = None,
) -> StepOutcome:
    ret = the_return(request, returns)
    if ret.refund is not None and ret.refund.state == "created":
        return _finish(request, ret, returns, orders, settings, bigcommerce, start_flows, again=True)
    if ret.resolution == "exchange":
        return StepOutcome(
            succeeded=True,
            skipped=True,
            message=f"return {ret.return_id} is an exchange: nothing is refunded",
        )
    if ret.status not in _REFUNDABLE:
        return StepOutcome(
            succeeded=False,
            message=f"return {ret.return_id} is {ret.status.value}: only an authorised, in transit or received "
            "return is refunded",
        )
    order = orders.get(ret.order_key)
    if order.source != SOURCE_BIGCOMMERCE:
        return StepOutcome(
            succeeded=False,
            message=f"order {order.order_key} came from {order.source}: refunds are made in BigCommerce only",
        )
    client = bigcommerce()
    tag = marker(ret)
    if ret.refund is not None and ret.refund.state == "sending":
        # An earlier attempt POSTed and did not hear back: the store's refunds say whether it was made.
        found = store_refunds.find_refund(store_refunds.list_refunds(client, order.external_id), f"{tag}:")
        if found is not None:
            logger.info("a refund sent before was found in the store", extra={"return_id": ret.return_id})
            ret = adopt(returns, ret, found)
            return _finish(request, ret, returns, orders, settings, bigcommerce, start_flows, again=False)
    counts = to_refund(ret)
    if not counts:
        return StepOutcome(succeeded=False, message=f"return {ret.return_id} has nothing left to refund")
    items = refund_items(ret, counts, _shipping(request))
    try:
        quote = store_refunds.refund_quote(client, order.external_id, items)
        payments = quote.payments_for(ret.resolution)
    except BigCommerceError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 404, 429):
            return StepOutcome(succeeded=False, message=f"BigCommerce refused the refund quote: {exc}")
        raise
    except ValueError as exc:
        return StepOutcome(succeeded=False, message=str(exc))
    record = RefundRecord(
        state="sending",
        marker=tag,
        items=items,
        payments=payments,
        amount=Decimal(str(quote.total_refund_amount)),
        sent_at=clock.iso(),
    )
    ret = returns.update(
        ret.return_id, lambda current: current.model_copy(update={"refund": record}), ret.order_key
    )
    reasons = "; ".join(sorted({line.reason for line in ret.lines}))
    try:
        created = store_refunds.create_refund(
            client, order.external_id, items, payments, f"{tag}: {reasons}"[:1000]
        )
    except BigCommerceOutcomeUnknown as exc:
        # It may have been made: the next attempt reads the store's refunds before sending again.
        raise TransientStepError(
            f"the refund's answer was lost ({exc}); the store's refunds are read first"
        ) from exc
    except BigCommerceError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 404, 429):
            returns.update(
                ret.return_id, lambda current: current.model_copy(update={"refund": None}), ret.order_key
            )
            return StepOutcome(succeeded=False, message=f"BigCommerce refused the refund: {exc}")
        raise
    ret = adopt(returns, ret, created)
    metrics.add_metric(name="ReturnsRefunded", unit="Count", value=1)
    return _finish(request, ret, returns, orders, settings, bigcommerce, start_flows, again=False)


def adopt(returns: ReturnRepository, ret: Return, found: dict[str, Any]) -> Return:
    """The store made the refund: the return records it (its id, the quantities refunded per line,
    status refunded), once."""
    refund_id = int(found.get("id") or 0) or None
    by_product = store_refunds.refund_items_of(found)
    at = clock.iso()

    def record(current: Return) -> Return:
        if current.refund is not None and current.refund.state == "created":
            return current
        left = dict(by_product)
        lines = []
        for line in current.lines:
            take = min(left.get(line.order_product_id, 0), line.quantity - line.quantity_refunded)
            if take > 0:
                left[line.order_product_id] -= take
                line = line.model_copy(update={"quantity_refunded": line.quantity_refunded + take})
            lines.append(line)
        base = current.refund or RefundRecord(state="created", marker=marker(current))
        amount = _amount(found.get("total_amount"), base.amount)
        refunded = base.model_copy(
            update={"state": "created", "store_refund_id": refund_id, "amount": amount}
        )
        moved = current.moved(R.REFUNDED, f"refund {refund_id} made in BigCommerce", at)
        return moved.model_copy(update={"lines": lines, "refund": refunded, "hold": None})

    return returns.update(ret.return_id, record, ret.order_key)


def order_status_after_refunds(order: Order) -> OrderStatus:
    """Refunded when every line's quantity is refunded; partially refunded otherwise."""
    if order.lines and all(line.quantity_refunded >= line.quantity for line in order.lines):
        return OrderStatus.REFUNDED
    return OrderStatus.PARTIALLY_REFUNDED


def move_order_after_refund(
    order_key: str,
    orders: OrderRepository,
    settings: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    reason: str,
) -> str:
    """Move the order to (partially) refunded and push the mapped status once; the store moves itself
    after a refund, and a status it shows already is not pushed again. An order a refund cannot move
    (not shipped yet, cancelled) keeps its status, the refund noted."""
    order = orders.get(order_key)
    target = order_status_after_refunds(order)
    if order.status == target:
        return f"the order is {target.value} already"
    if not can_transition(order.status, target):
        orders.note(order_key, f"{reason}; the order stays {order.status.value}")
        return f"the order is {order.status.value} and stays so ({target.value} does not follow it)"
    if order.source == SOURCE_BIGCOMMERCE:
        _learn_store_status(order, orders, bigcommerce)
    pushed = push_status(order_key, target, reason, orders, settings(), bigcommerce)
    return pushed.message


def _learn_store_status(
    order: Order, orders: OrderRepository, bigcommerce: Callable[[], BigCommerceClient]
) -> None:
    """BigCommerce may have moved the order after the refund: read it back, so an equal status is not
    pushed, and its webhook is known as the store's own."""
    try:
        status_id = int(bigcommerce().get_order(order.external_id).get("status_id") or 0)
    except Exception as exc:  # the push below goes ahead without it; the sweep retries pushes
        logger.warning(
            "could not read the order's status after a refund", extra={"error": type(exc).__name__}
        )
        return
    if status_id != order.external_status_id:
        orders.note_store_status(order.order_key, status_id)


def _finish(
    request: StepRequest,
    ret: Return,
    returns: ReturnRepository,
    orders: OrderRepository,
    settings: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    start_flows: StartReturnFlows | None,
    *,
    again: bool,
) -> StepOutcome:
    refund_record = ret.refund
    assert refund_record is not None
    reason = f"{request.flow.id} v{request.flow.version}: {request.step}: return {ret.return_id} refunded"
    moved = move_order_after_refund(ret.order_key, orders, settings, bigcommerce, reason)
    executions = (
        start_flows("return_refunded", ret, str(refund_record.store_refund_id or "")) if start_flows else []
    )
    what = "was refunded before" if again else "refunded"
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} {what}: {refund_record.amount:.2f} (BigCommerce refund "
        f"{refund_record.store_refund_id}); {moved}",
        details={
            "return_id": ret.return_id,
            "store_refund_id": refund_record.store_refund_id,
            "amount": str(refund_record.amount),
            "items": refund_record.items,
            "executions": executions,
        },
    )


def _shipping(request: StepRequest) -> Decimal | None:
    value = request.params.get("shipping_amount")
    if value in (None, "", 0):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(
            f"params.shipping_amount must be an amount, got {value!r}", field="params.shipping_amount"
        ) from None
    return amount if amount > 0 else None


def _amount(value: Any, default: Decimal) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else default
    except InvalidOperation:
        return default
