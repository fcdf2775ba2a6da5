"""``POST /orders/{order_key}/resubmit``: run a failed order again from its failed step."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import resubmit
from orderflow.store import tables
from orderflow.store.execution_status import ExecutionReader
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()


@router.post(
    "/orders/<order_key>/resubmit",
    summary="Resubmit a failed order: run it again from its failed step",
    description="202 with the failed step, the step the new execution starts at (`resume_at`) and the new "
    "execution's name (`<failed execution>-resubmit-<n>`). The latest step whose latest result failed is run "
    "again on the same flow version, then what follows it; the steps before it are not run again and "
    "their results stay. A failed import maps the stored order again, then routes it to its flows. 404 for "
    "an unknown order; 409 when nothing failed (every step succeeded), when the failed execution is still "
    "running, or when the order is completed or cancelled.",
    tags=["orders"],
)
def resubmit_order(order_key: str) -> tuple[dict[str, Any], int]:
    result = resubmit.resubmit(
        order_key,
        orders=tables.orders(),
        flows=tables.flows(),
        starter=ExecutionStarter(),
        reader=ExecutionReader(),
        machines=resubmit.StackMachines.from_env(),
    )
    return result.to_body(), 202
