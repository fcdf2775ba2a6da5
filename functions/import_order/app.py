"""Import step: fetch the BigCommerce order, match its customer, map it, store the canonical order; a
merchant's status change found on an imported order starts the flows that take it."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.bigcommerce import connection
from orderflow.observability import logger, metrics, tracer
from orderflow.orders import importing
from orderflow.orders.events import emitter
from orderflow.steps import runner, transient
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return runner.run_step(
        event,
        lambda request: importing.import_order(
            request,
            tables.orders(),
            tables.mappings(),
            tables.settings(),
            connection.client(),
            tables.customers(),
            emitter(
                request.order_key, orders=tables.orders(), flows=tables.flows(), starter=ExecutionStarter()
            ),
        ),
        tables.orders(),
        transient.is_transient,
    )
