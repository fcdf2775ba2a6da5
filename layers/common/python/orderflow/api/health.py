"""``GET /health``: what needs an operator's attention, and ``POST /sweep``: run the sweep now."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config
from orderflow.api.dependencies import Orders, Settings
from orderflow.bigcommerce import connection
from orderflow.connector import sweep, sync

router = APIGatewayHttpRouter()


@router.get(
    "/health",
    summary="Orders that need attention: pending import, import failed, in error, on hold, pushes pending",
    description="`attention`: for each kind, how many orders and the oldest one with how long it has waited "
    "(`oldest_age_seconds`). `status` is `ok` when nothing is pending import or pushing for longer than "
    "the grace period and nothing failed its import; `attention` otherwise. Two DynamoDB queries per "
    "kind, whatever the number of orders. `auto_sync`: `stopped` while new orders are kept pending "
    "import (settings), which then wait by design. `last_reconciliation`: the sweep's last finished "
    "reconciliation (when, its checkpoint, what it listed and started); null before the first.",
    tags=["operations"],
)
def get_health(orders: Orders, settings: Settings) -> dict[str, Any]:
    summary = sweep.health(orders)
    grace = int(sweep.grace().total_seconds())
    late = [
        kind
        for kind in (sweep.OrderStatus.PENDING_IMPORT.value, sweep.PUSH_PENDING)
        if (summary[kind].get("oldest_age_seconds") or 0) > grace
    ]
    failed = summary[sweep.OrderStatus.IMPORT_FAILED.value]["count"] > 0
    state = settings.reconcile_state()
    return {
        "status": "attention" if late or failed else "ok",
        "auto_sync": settings.bigcommerce().auto_sync,
        "attention": summary,
        # the reconciliation's last finished run (what it listed and started) and where it stands;
        # null before its first run
        "last_reconciliation": (
            {
                "updated_at": state.updated_at or None,
                "checkpoint": state.checkpoint,
                "in_progress": state.progress is not None,
                **state.last_run,
            }
            if state.updated_at or state.last_run
            else None
        ),
    }


@router.post(
    "/sweep",
    summary="Run the sweep now: pending pushes, stopped imports, orders webhooks missed",
    description="What the schedule runs every 15 minutes, one run at a time (`ran: false` when one is "
    "running). The reconciliation part carries on from its checkpoint and stops in time to answer.",
    tags=["operations"],
)
def run_sweep(orders: Orders, settings: Settings) -> dict[str, Any]:
    client = connection.client(time_budget=connection.API_TIME_BUDGET)
    context = router.lambda_context
    report = sweep.run(
        orders,
        settings,
        client,
        sync.intake_starter(client.store_hash, config.env("ORDER_INTAKE_STATE_MACHINE_ARN"), orders=orders),
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000.0 - 5.0,
    )
    return report.to_dict()
