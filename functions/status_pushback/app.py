"""Status step: set the order's internal status and push the mapped status back to BigCommerce."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow import status_push, steps, transient
from orderflow.bigcommerce import connection
from orderflow.observability import logger, metrics
from orderflow.store import tables


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return steps.run_step(
        event,
        lambda request: status_push.update_order_status(
            request, tables.orders(), tables.settings(), connection.client()
        ),
        tables.orders(),
        transient.is_transient,
    )
