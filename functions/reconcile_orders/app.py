"""The sweep (EventBridge schedule, one run at a time): pushes the statuses the store did not take,
starts again the imports that stopped waiting for the store, and imports the orders webhooks missed
since the last checkpoint. Answers the run's report."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow import config
from orderflow.bigcommerce import connection
from orderflow.connector import sweep, sync
from orderflow.observability import logger, metrics, tracer
from orderflow.store import tables


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    client = connection.client()
    orders = tables.orders()
    report = sweep.run(
        orders,
        tables.settings(),
        client,
        sync.intake_starter(
            client.store_hash, config.settings().need("order_intake_state_machine_arn"), orders=orders
        ),
        reconcile_orders=bool((event or {}).get("reconcile", True)),
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000.0,
    )
    if report.reconcile:
        metrics.add_metric(name="OrdersReconciled", unit="Count", value=report.reconcile["started"])
    return report.to_dict()
