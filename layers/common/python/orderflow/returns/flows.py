"""Starting return flows: the published flows a return event starts, each run carrying the return."""

from __future__ import annotations

from collections.abc import Callable

from orderflow.models.returns import Return
from orderflow.orders.events import DefaultFlow, RouteSource, published_routes, start_flows
from orderflow.orders.executions import Starter
from orderflow.store.orders import OrderRepository


def return_flow_starter(
    orders: OrderRepository, flows: RouteSource, starter: Starter, *, trigger: str = ""
) -> Callable[..., list[str]]:
    """(event, return, occurrence="") → the executions started, for the return flows that take it."""

    def start(event: str, ret: Return, occurrence: str = "") -> list[str]:
        emission = start_flows(
            event,
            ret.order_key,
            lambda: orders.get(ret.order_key),
            published_routes(flows, DefaultFlow.from_env()),
            starter,
            occurrence=occurrence,
            trigger=trigger or str(event),
            about=ret,
        )
        return emission.executions

    return start
