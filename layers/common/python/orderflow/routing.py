"""The route step of the order intake: start every published flow whose input events and filter
policies match the imported order, each on the version it was published as.

While no flow is published, orders run the default flow deployed with the stack.
"""

from __future__ import annotations

import os

from orderflow.intake import execution_input, execution_name
from orderflow.models import FlowRef
from orderflow.policies.evaluate import decide_filters
from orderflow.policies.model import parse_policy
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.executions import ExecutionStarter
from orderflow.store.flows import FlowRepository, Route
from orderflow.store.orders import OrderRepository

# What brought the order in, as a flow's input event: whatever the route (webhook, a status reaching
# the new-order status, sync, reconciliation, a status reset's new revision), the flows see a new order.
NEW_ORDER = "new_order"
TRIGGER_EVENTS = {
    "store/order/created": NEW_ORDER,
    "store/order/statusUpdated": NEW_ORDER,
    "store/order/updated": NEW_ORDER,
    "sync": NEW_ORDER,
    "reconcile": NEW_ORDER,
}


def stack_default_flow() -> Route | None:
    arn = os.environ.get("DEFAULT_FLOW_STATE_MACHINE_ARN")
    if not arn:
        return None
    return Route(
        flow_id=os.environ.get("DEFAULT_FLOW_ID", "default-order-flow"),
        name=os.environ.get("DEFAULT_FLOW_NAME", "Default order flow"),
        version=int(os.environ.get("DEFAULT_FLOW_VERSION", "1")),
        version_arn=arn,
        input_events=["new_order"],
    )


def route_order(
    request: StepRequest,
    orders: OrderRepository,
    flows: FlowRepository,
    starter: ExecutionStarter,
    default_flow: Route | None,
) -> StepOutcome:
    if request.order_ref is None:
        raise ValueError("the route step needs order_ref")
    order = orders.get(request.order_key)
    event = TRIGGER_EVENTS.get(request.trigger or "", request.trigger or NEW_ORDER)
    routes: list[Route] = flows.routes() or ([default_flow] if default_flow else [])
    started: list[str] = []
    passed: list[str] = []
    for route in sorted(routes, key=lambda r: r.flow_id):
        label = f"{route.name} v{route.version}"
        if event not in route.input_events:
            passed.append(f"{label} (starts on {', '.join(route.input_events)}, not {event})")
            continue
        decision = decide_filters([parse_policy(p) for p in route.filter_policies], order)
        if not decision.applies:
            passed.append(f"{label} ({'; '.join(decision.reasons)})")
            continue
        ref = FlowRef(id=route.flow_id, version=route.version, name=route.name)
        name = execution_name(order.order_key, ref, order.revision)
        payload = execution_input(order.store_hash, order.external_id, ref, request.trigger or "")
        starter.start(route.version_arn, name, payload)
        started.append(label)
    message = f"started {', '.join(started)}" if started else "no published flow applies to this order"
    if passed:
        message += f"; not for this order: {', '.join(passed)}"
    return StepOutcome(succeeded=True, message=message, details={"started": started, "not_started": passed})
