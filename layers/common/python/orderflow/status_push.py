"""The update_order_status step: set the internal status, push the mapped status to BigCommerce."""

from __future__ import annotations

from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput
from orderflow.models import OrderStatus
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository


def update_order_status(
    request: StepRequest,
    orders: OrderRepository,
    settings: SettingsRepository,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    try:
        status = OrderStatus(str(request.params.get("status")))
    except ValueError:
        raise InvalidInput(
            f"unknown order status {request.params.get('status')!r}", field="params.status"
        ) from None
    order = orders.get(request.order_key)
    if order.status != status:  # a retried step must not add the change to the history twice
        order = orders.transition(
            order.order_key, status, reason=f"{request.flow.id} v{request.flow.version}: {request.step}"
        )
    config = settings.bigcommerce()
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
    bigcommerce.update_order_status(order.external_id, target)
    return StepOutcome(
        succeeded=True,
        message=f"status {status.value}; BigCommerce status set to {target} {status_name(target)}",
        details=details,
    )
