"""The route step of the order intake: a new order starts every published flow whose input events
and filter policies match it, each on the version it was published as.

While no flow is published, orders run the default flow deployed with the stack.
"""

from __future__ import annotations

from orderflow.models.event import OrderEvent
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.orders.events import DefaultFlow, published_routes, start_flows
from orderflow.store.executions import ExecutionStarter
from orderflow.store.flows import FlowRepository
from orderflow.store.orders import OrderRepository


def route_order(
    request: StepRequest,
    orders: OrderRepository,
    flows: FlowRepository,
    starter: ExecutionStarter,
    default_flow: DefaultFlow | None,
) -> StepOutcome:
    """Whatever brought the order in (webhook, the order reaching the new-order status, sync,
    reconciliation, a status reset's new revision, a healed import), its flows see a new order."""
    if request.order_ref is None:
        raise ValueError("the route step needs order_ref")
    # "started": no import ran in this execution (a resubmit resuming here)
    imported = (request.previous or {}).get("status", "succeeded")
    if imported not in ("succeeded", "started"):
        # the import step's own result says why (not at the new-order status, imported already,
        # values without a mapping, the store not answering for the whole window)
        return StepOutcome(
            succeeded=True, skipped=True, recorded=False, message="nothing imported by this run"
        )
    emission = start_flows(
        OrderEvent.NEW_ORDER,
        request.order_key,
        lambda: orders.get(request.order_key),
        published_routes(flows, default_flow),
        starter,
        trigger=request.trigger or "",
    )
    message = emission.describe().removeprefix(f"{OrderEvent.NEW_ORDER.value}: ")
    return StepOutcome(
        succeeded=True,
        message=message,
        details={"started": emission.started, "not_started": emission.not_started},
    )
