"""Orders: ``GET /orders``, ``GET /orders/{order_key}``, ``GET /orders/{order_key}/step-results``,
``POST /orders/{order_key}/clone`` (``POST /orders`` is in order_intake.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config
from orderflow.api import http
from orderflow.api.dependencies import Customers, Flows, Mappings, Orders, Settings
from orderflow.models.order import order_key_for
from orderflow.orders import intake
from orderflow.orders.events import DefaultFlow, published_routes
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()


@router.get(
    "/orders", summary="List orders, newest import first, or find one by BigCommerce id", tags=["orders"]
)
def list_orders(
    external_id: Annotated[int | None, Query(description="the BigCommerce order id", ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="from the previous page's next_cursor")] = None,
    *,
    repo: Orders,
) -> dict[str, Any]:
    if external_id is not None:
        order = repo.find(order_key_for(config.store_hash(), external_id))
        return {"orders": [_summary(order.model_dump(mode="json"))] if order else [], "next_cursor": None}
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
        "store_hash", "status", "external_status_id", "currency", "total_inc_tax", "account", "imported_at",
        "updated_at",
    )  # fmt: skip
    return {k: order.get(k) for k in keep}
