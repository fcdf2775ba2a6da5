"""Setting an order's internal status and pushing the mapped BigCommerce status.

Pushes are ordered per order: each pushes one status change (its place in the order's history) and
is recorded before the PUT, under a condition that no newer change was pushed already, so a late or
retried push never overwrites a newer status; and the webhooks the PUT causes are recognised as ours.
A status the store already shows is never pushed again.

Actions move the order when they succeed (``ACTION_MOVES``): forward only, so a step run again on an
order that has gone further changes nothing; an order on hold stays on hold until it is resubmitted;
an illegal move (sourcing a cancelled order, invoicing one that has not shipped) is refused before
the action does anything, as a failed step naming both statuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orderflow import clock
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceUnavailable
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.order import SOURCE_BIGCOMMERCE, BigCommerceSettings, Order, OrderStatus, StatusPush
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.models.transitions import check_transition
from orderflow.observability import logger, metrics
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository

S = OrderStatus
# The order's way forward; the detours (on hold, error, cancelled) are not on it.
FORWARD = [
    S.NEW,
    S.VALIDATED,
    S.SOURCED,
    S.IN_FULFILLMENT,
    S.PARTIALLY_SHIPPED,
    S.SHIPPED,
    S.INVOICED,
    S.COMPLETED,
]
# Where each action moves the order when it succeeds (shipments move it themselves, see shipments/shipping.py).
ACTION_MOVES: dict[str, OrderStatus] = {
    "send_to_dom": S.SOURCED,
    "assign_fulfillment_source": S.SOURCED,
    "send_to_fulfillment": S.IN_FULFILLMENT,
    "send_to_invoice": S.INVOICED,
}


def update_order_status(
    request: StepRequest,
    orders: OrderRepository,
    settings: SettingsRepository,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    """The flow action: set the status named in the step's params."""
    try:
        status = OrderStatus(str(request.params.get("status")))
    except ValueError:
        raise InvalidInput(
            f"unknown order status {request.params.get('status')!r}", field="params.status"
        ) from None
    reason = f"{request.flow.id} v{request.flow.version}: {request.step}"
    return push_status(request.order_key, status, reason, orders, settings.bigcommerce(), bigcommerce)


def header(orders: OrderRepository, order_key: str) -> Order:
    order = orders.find_header(order_key)
    if order is None:
        raise NotFound(f"order {order_key} does not exist", field="order_key")
    return order


def push_status(
    order_key: str,
    status: OrderStatus,
    reason: str,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient | Callable[[], BigCommerceClient],
    *,
    fallback_store_status: int | None = None,
    current: Order | None = None,
) -> StepOutcome:
    """Set the internal status (once: a retry does not add it to the history twice) and push its
    mapped BigCommerce status, unless pushing is off, the status is not assigned (then
    ``fallback_store_status``, if given, is pushed), the store shows it already, or a newer status
    change has been pushed meanwhile. ``current``: the order's header, when the caller has just read
    it (one read fewer; a status change reads it again under its lock, so nothing stale is written).
    Without it the status change's own read is the only one: it answers the header as read when the
    order has the status already, and as written otherwise."""
    target = config.status_mapping.get(status)
    if target is None:
        target = fallback_store_status

    def push_to(read: Order) -> int | None:
        # What the checks below would push, claimed in the status change's own write.
        due = config.push_enabled and read.source == SOURCE_BIGCOMMERCE and target is not None
        return target if due and read.external_status_id != target else None

    claimed = None
    if current is not None and current.status == status:
        order = current
    else:
        order, claimed = orders.transition_and_claim_push(order_key, status, reason, push_to)
    details: dict[str, object] = {"status": status.value, "bigcommerce_status_id": target}
    if not config.push_enabled:
        return StepOutcome(
            succeeded=True, message=f"status {status.value}; pushing to BigCommerce is off", details=details
        )
    if order.source != SOURCE_BIGCOMMERCE:
        return StepOutcome(
            succeeded=True,
            message=f"status {status.value}; the order came from {order.source}, not BigCommerce: nothing pushed",
            details=details,
        )
    if target is None:
        return StepOutcome(
            succeeded=True,
            message=f"status {status.value}; not assigned to a BigCommerce status, nothing pushed",
            details=details,
        )
    if order.external_status_id == target:
        return StepOutcome(
            succeeded=True,
            message=f"status {status.value}; BigCommerce shows {target} {status_name(target)} already",
            details={**details, "pushed": False},
        )
    client = bigcommerce if isinstance(bigcommerce, BigCommerceClient) else bigcommerce()
    return push_store_status(
        order, _seq(order, status), target, reason, orders, client, status.value, claimed=claimed
    )


def push_store_status(
    order: Order,
    seq: int,
    target: int,
    reason: str,
    orders: OrderRepository,
    bigcommerce: BigCommerceClient,
    label: str = "",
    *,
    claimed: StatusPush | None = None,
) -> StepOutcome:
    """Push one BigCommerce status for the order's status change ``seq`` (ordered, recorded first;
    ``claimed``: recorded already, with the status change)."""
    label = label or f"BigCommerce status {target}"
    details: dict[str, object] = {"status": label, "bigcommerce_status_id": target, "seq": seq}
    push = claimed or StatusPush(
        seq=seq, from_status_id=order.external_status_id, to_status_id=target, at=clock.iso(), reason=reason
    )
    if claimed is None and not orders.claim_push(order.order_key, push):
        return StepOutcome(
            succeeded=True,
            message=f"status {label}; not pushed: a newer status of this order was pushed already",
            details={**details, "superseded": True},
        )
    try:
        bigcommerce.update_order_status(order.external_id, target)
    except BigCommerceUnavailable as exc:
        # Kept, not dropped: the sweep pushes the order's latest status once the store answers
        # (a PUT of a status is safe to repeat; an older one is never pushed over a newer).
        orders.mark_push_pending(order.order_key, push, str(exc))
        metrics.add_metric(name="StatusPushesPending", unit="Count", value=1)
        logger.warning("status push pending: the store did not answer", extra={"status_id": target})
        return StepOutcome(
            succeeded=True,
            message=f"status {label}; BigCommerce did not answer ({exc}): the push of {target} "
            f"{status_name(target)} is pending and will be retried",
            details={**details, "pushed": False, "pending": True},
        )
    orders.confirm_push(order.order_key, push)
    if order.push_pending_seq is not None:
        orders.clear_push_pending(order.order_key, push.seq)
    return StepOutcome(
        succeeded=True,
        message=f"status {label}; BigCommerce status set to {target} {status_name(target)}",
        details={**details, "pushed": True},
    )


def _seq(order: Order, status: OrderStatus) -> int:
    """The place of the order's latest change to ``status`` in its history (1-based)."""
    for index in range(len(order.history), 0, -1):
        if order.history[index - 1].status == status:
            return index
    return len(order.history)


# -- actions move the order --------------------------------------------------------------------------


def plan_move(order: Order, target: OrderStatus) -> str | None:
    """Whether an action that succeeds should move ``order`` to ``target``: None when it should, a
    reason to leave the status as it is otherwise; IllegalTransition (a 409, a failed step) when the
    order may not get there at all."""
    if order.status == target:
        return None  # set already; the push may still be due (a retried step)
    if order.status in FORWARD and target in FORWARD and FORWARD.index(order.status) > FORWARD.index(target):
        return f"the order is {order.status.value} already; its status stays"
    if order.status == S.ON_HOLD and target != S.CANCELLED:
        return "the order is on hold; it stays on hold until it is resubmitted"
    if target == S.INVOICED and order.status not in (S.PARTIALLY_SHIPPED, S.SHIPPED):
        raise Conflict(
            f"order {order.order_key} is {order.status.value}: it is invoiced once it has shipped (send the "
            "invoice from a flow that starts on order_shipped, like flows/invoice_on_shipment.yaml)",
            field="status",
        )
    check_transition(order.order_key, order.status, target)
    return None


@dataclass(frozen=True)
class StatusMover:
    """What moving an order needs; the settings and the store's client are fetched only to push."""

    orders: OrderRepository
    settings: Callable[[], BigCommerceSettings]
    bigcommerce: Callable[[], BigCommerceClient]

    def move(self, order_key: str, target: OrderStatus, reason: str) -> StepOutcome:
        order = header(self.orders, order_key)
        stay = plan_move(order, target)
        if stay is not None:
            return StepOutcome(succeeded=True, message=stay, details={"status_unchanged": True})
        return push_status(
            order_key, target, reason, self.orders, self.settings(), self.bigcommerce, current=order
        )


def moving(
    perform: Callable[[StepRequest], StepOutcome], mover: StatusMover
) -> Callable[[StepRequest], StepOutcome]:
    """The action, checked first against where it would move the order, and moving it when it
    succeeds (``ACTION_MOVES``); actions that move nothing run as they are."""

    def run(request: StepRequest) -> StepOutcome:
        target = ACTION_MOVES.get(request.action)
        if target is None:
            return perform(request)
        plan_move(header(mover.orders, request.order_key), target)  # refuses before anything is done
        outcome = perform(request)
        if not outcome.succeeded or outcome.skipped:
            return outcome
        moved = mover.move(
            request.order_key, target, f"{request.flow.id} v{request.flow.version}: {request.step}"
        )
        return outcome.model_copy(
            update={
                "message": f"{outcome.message}; {moved.message}",
                "details": {**outcome.details, "order_status": moved.details.get("status")},
            }
        )

    return run


def push_pending(order_key: str, orders: OrderRepository, bigcommerce: BigCommerceClient) -> str:
    """Push the order's latest claimed status again, the store having not taken it (the sweep)."""
    order = header(orders, order_key)
    latest = max(order.pushes, key=lambda p: p.seq, default=None)
    if latest is None or latest.seq < order.last_push_seq:
        orders.clear_push_pending(order_key, order.last_push_seq)
        return "nothing to push: the latest push is not on record"
    if order.external_status_id == latest.to_status_id:
        orders.clear_push_pending(order_key, latest.seq)
        return f"BigCommerce shows {latest.to_status_id} {status_name(latest.to_status_id)} already"
    try:
        bigcommerce.update_order_status(order.external_id, latest.to_status_id)
    except BigCommerceUnavailable as exc:
        orders.mark_push_pending(order_key, latest, str(exc))
        return f"still pending: {exc}"
    orders.confirm_push(order_key, latest)
    orders.clear_push_pending(order_key, latest.seq)
    return f"BigCommerce status set to {latest.to_status_id} {status_name(latest.to_status_id)}"
