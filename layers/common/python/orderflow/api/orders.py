"""Orders: ``GET /orders``, ``GET /orders/{order_key}``, ``GET /orders/{order_key}/step-results``,
``POST /orders/{order_key}/clone`` (``POST /orders`` is in order_intake.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config
from orderflow.api import http
from orderflow.api.dependencies import Customers, Flows, Mappings, Orders, Settings
from orderflow.models.order import OrderStatus, order_key_for
from orderflow.orders import intake
from orderflow.orders.events import DefaultFlow, published_routes
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
FLOW_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,199}$"


@router.get(
    "/orders",
    summary="List orders, newest import first, or find one by BigCommerce id",
    description="Filters: `status`, and the shortcuts `on_hold`, `pending_import`, `import_failed` "
    "(true: orders with that status; several name alternatives, like `status`), `flow` (orders a flow "
    "ran on: a step result of it). A filtered listing looks at up to 1,000 orders per call (200 with "
    "`flow`), so a page may hold fewer than `limit` orders and still have a `next_cursor`: follow it "
    "to the end. `external_id` finds one order by its BigCommerce id.",
    tags=["orders"],
)
def list_orders(
    external_id: Annotated[int | None, Query(description="the BigCommerce order id", ge=1)] = None,
    status: Annotated[OrderStatus | None, Query(description="orders with this status")] = None,
    on_hold: Annotated[bool | None, Query(description="true: orders on hold")] = None,
    pending_import: Annotated[
        bool | None, Query(description="true: orders accepted, not imported yet")
    ] = None,
    import_failed: Annotated[bool | None, Query(description="true: orders the store refused to give")] = None,
    flow: Annotated[
        str | None, Query(pattern=FLOW_ID_PATTERN, description="a flow id: the orders it ran on")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="from the previous page's next_cursor")] = None,
    *,
    repo: Orders,
) -> dict[str, Any]:
    if external_id is not None:
        order = repo.find(order_key_for(config.store_hash(), external_id))
        return {"orders": [_summary(order.model_dump(mode="json"))] if order else [], "next_cursor": None}
    statuses = {status.value} if status is not None else set()
    for flag, named in (
        (on_hold, OrderStatus.ON_HOLD),
        (pending_import, OrderStatus.PENDING_IMPORT),
        (import_failed, OrderStatus.IMPORT_FAILED),
    ):
        if flag:
            statuses.add(named.value)
    if statuses or flow is not None:
        orders, next_cursor = repo.search(statuses=statuses, flow_id=flow, limit=limit, cursor=cursor)
    else:
        orders, next_cursor = repo.recent(limit=limit, cursor=cursor)
    return {"orders": [_summary(o.model_dump(mode="json")) for o in orders], "next_cursor": next_cursor}


@router.get("/orders/<order_key>", summary="One order with its lines and step results", tags=["orders"])
def get_order(order_key: str, repo: Orders) -> dict[str, Any]:
    order, steps = repo.get_with_steps(order_key)
    return {**order.model_dump(mode="json"), "step_results": [s.model_dump(mode="json") for s in steps]}


@router.get(
    "/orders/<order_key>/step-results", summary="The order's step results, in run order", tags=["orders"]
)
def get_step_results(order_key: str, repo: Orders) -> dict[str, Any]:
    steps = repo.step_results(order_key)
    if not steps:
        repo.get(order_key)  # 404 when the order does not exist at all
    return {"order_key": order_key, "step_results": [s.model_dump(mode="json") for s in steps]}


@router.post(
    "/orders/<order_key>/clone",
    summary="Reorder: a new manual order with the same customer, addresses and lines, routed to the flows",
    description="201 with the new order: source MANUAL, a new external_id, is_manual true, cloned_from the "
    "original; mapped with the original's mapping group and routed like any new order (`started`). 404 for "
    "an unknown order; 409 for one not imported yet.",
    tags=["orders"],
)
def clone_order(
    order_key: str, orders: Orders, mappings: Mappings, customers: Customers, settings: Settings, flows: Flows
) -> tuple[dict[str, Any], int]:
    taken = intake.clone_order(
        order_key,
        by=http.caller(router.current_event.raw_event),
        store_hash=config.store_hash(),
        settings=settings.bigcommerce(),
        orders=orders,
        mappings=mappings,
        customers=customers,
        routes=lambda: published_routes(flows, DefaultFlow.from_env()),
        starter=ExecutionStarter(),
    )
    body = {**taken.order.model_dump(mode="json"), "message": taken.message, "started": taken.started}
    return body, 201


def _summary(order: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "order_key", "import_id", "external_id", "source", "source_code", "source_order_id", "is_manual",
        "store_hash", "status", "external_status_id", "currency", "total_inc_tax", "account", "placed_at",
        "received_at", "imported_at", "updated_at",
    )  # fmt: skip
    return {k: order.get(k) for k in keep}
