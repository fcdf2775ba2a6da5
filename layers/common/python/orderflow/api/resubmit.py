"""``POST /orders/{order_key}/resubmit``: run a failed order again from its failed step."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import Flows, Mappings, Orders, Settings
from orderflow.api.http import caller
from orderflow.bigcommerce import connection
from orderflow.bigcommerce.client import BigCommerceError
from orderflow.flows import resubmit
from orderflow.models.order import SOURCE_BIGCOMMERCE, OrderStatus
from orderflow.observability import logger
from orderflow.orders import intake, status_push
from orderflow.orders.events import DefaultFlow, published_routes
from orderflow.store.execution_status import ExecutionReader
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()


@router.post(
    "/orders/<order_key>/resubmit",
    summary="Resubmit a failed order: run it again from its failed step",
    description="202 with the failed step, the step the new execution starts at (`resume_at`) and the new "
    "execution's name (`<failed execution>-resubmit-<n>`). The latest step whose latest result failed is run "
    "again on the same flow version, then what follows it; the steps before it are not run again and "
    "their results stay. A failed import maps the stored order again, then routes it to its flows (an order "
    "posted to POST /orders whose values had no mapping too: `executions` names the flows started). 404 for "
    "an unknown order; 409 when nothing failed (every step succeeded), when the failed execution is still "
    "running, or when the order is completed or cancelled. The order is healed first: one on hold goes back "
    "to the status it had before (and the store to the status it showed then), one whose import failed to "
    "`new`; its history names who resubmitted it.",
    tags=["orders"],
)
def resubmit_order(
    order_key: str, orders: Orders, settings: Settings, flows: Flows, mappings: Mappings
) -> tuple[dict[str, Any], int]:
    def heal(key: str, status: OrderStatus, reason: str, fallback_store_status: int | None) -> str:
        try:
            outcome = status_push.push_status(
                key,
                status,
                reason,
                orders,
                settings.bigcommerce(),
                lambda: connection.client(time_budget=connection.API_TIME_BUDGET),
                fallback_store_status=fallback_store_status,
            )
        except BigCommerceError as exc:
            logger.warning("resubmit: the store status was not set back", extra={"error": str(exc)})
            return f"status {status.value}; setting the store's status back failed: {exc}"
        return outcome.message

    header = orders.find_header(order_key)
    full = (
        orders.get(order_key)
        if header is not None and header.source != SOURCE_BIGCOMMERCE and header.status == OrderStatus.ERROR
        else None
    )
    if full is not None and intake.needs_mapping(full):
        # A posted order whose values had no mapping never ran a flow: its import is done again here.
        again = intake.remap_and_route(
            full,
            orders,
            mappings,
            lambda: published_routes(flows, DefaultFlow.from_env()),
            ExecutionStarter(),
        )
        orders.note(order_key, f"resubmitted by {caller(router.current_event.raw_event)}")
        body = {"order_key": order_key, "failed_step": intake.IMPORT_STEP, "message": again.message}
        return {**body, "executions": again.started}, 202
    result = resubmit.resubmit(
        order_key,
        orders=orders,
        flows=flows,
        starter=ExecutionStarter(),
        reader=ExecutionReader(),
        machines=resubmit.StackMachines.from_env(),
        heal=heal,
        by=caller(router.current_event.raw_event),
    )
    return result.to_body(), 202
