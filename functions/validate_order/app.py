"""Validation steps: validate_order_header and validate_order_line."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.observability import logger, metrics, tracer
from orderflow.orders import validation
from orderflow.steps import runner, transient
from orderflow.store import tables


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return runner.run_step(
        event,
        lambda request: validation.validate_order(request, tables.orders()),
        tables.orders(),
        transient.is_transient,
    )
