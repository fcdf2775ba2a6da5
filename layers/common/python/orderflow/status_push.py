"""Setting an order's internal status and pushing the mapped BigCommerce status.

Pushes are ordered per order: each pushes one status change (its place in the order's history) and
is recorded before the PUT, under a condition that no newer change was pushed already, so a late or
retried push never overwrites a newer status; and the webhooks the PUT causes are recognised as ours.
"""

from __future__ import annotations

from orderflow import clock
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput
from orderflow.models import BigCommerceSettings, Order, OrderStatus, StatusPush
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository


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


def push_status(
    order_key: str,
    status: OrderStatus,
    reason: str,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    """Set the internal status (once: a retry does not add it to the history twice) and push its
    mapped BigCommerce status, unless pushing is off, the status is not assigned, or a newer status
    change has been pushed meanwhile."""
    order = orders.get(order_key)
    if order.status != status:
        order = orders.transition(order_key, status, reason=reason)
    target = config.status_mapping.get(status)
    details: dict[str, object] = {"status": status.value, "bigcommerce_status_id": target}
    if not config.push_enabled:
        return StepOutcome(
            succeeded=True, message=f"status {status.value}; pushing to BigCommerce is off", details=details
        )
    if target is None:
        return StepOutcome(
            succeeded=True,
            message=f"status {status.value}; not assigned to a BigCommerce status, nothing pushed",
            details=details,
        )
    return push_store_status(order, _seq(order, status), target, reason, orders, bigcommerce, status.value)


def push_store_status(
    order: Order,
    seq: int,
    target: int,
    reason: str,
    orders: OrderRepository,
    bigcommerce: BigCommerceClient,
    label: str = "",
) -> StepOutcome:
    """Push one BigCommerce status for the order's status change ``seq`` (ordered, recorded first)."""
    label = label or f"BigCommerce status {target}"
    details: dict[str, object] = {"status": label, "bigcommerce_status_id": target, "seq": seq}
    push = StatusPush(
        seq=seq, from_status_id=order.external_status_id, to_status_id=target, at=clock.iso(), reason=reason
    )
    if not orders.claim_push(order.order_key, push):
        return StepOutcome(
            succeeded=True,
            message=f"status {label}; not pushed: a newer status of this order was pushed already",
            details={**details, "superseded": True},
        )
    bigcommerce.update_order_status(order.external_id, target)
    return StepOutcome(
        succeeded=True,
        message=f"status {label}; BigCommerce status set to {target} {status_name(target)}",
        details=details,
    )


def _seq(order: Order, status: OrderStatus) -> int:
    """The place of the order's latest change to ``status`` in its history (1-based)."""
    for index in range(len(order.history), 0, -1):
        if order.history[index - 1].status == status:
            return index
    return len(order.history)
