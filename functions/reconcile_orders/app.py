"""Auto-sync (EventBridge schedule): import the orders modified since the last checkpoint that
webhooks missed. Answers the run's report (counts, the checkpoint before and after)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow import config, sync
from orderflow.bigcommerce import connection
from orderflow.observability import logger, metrics
from orderflow.store import tables


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    client = connection.client()
    report = sync.reconcile(
        client,
        tables.orders(),
        tables.settings(),
        sync.intake_starter(client.store_hash, config.env("ORDER_INTAKE_STATE_MACHINE_ARN")),
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000.0,
    )
    metrics.add_metric(name="OrdersReconciled", unit="Count", value=report.totals.started)
    return report.to_dict()
