"""Order intake step: start every published flow whose input events and filter policies match."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.observability import logger, metrics, tracer
from orderflow.orders import routing
from orderflow.orders.events import DefaultFlow
from orderflow.steps import runner, transient
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return runner.run_step(
        event,
        lambda request: routing.route_order(
            request, tables.orders(), tables.flows(), ExecutionStarter(), DefaultFlow.from_env()
        ),
        tables.orders(),
        transient.is_transient,
    )
