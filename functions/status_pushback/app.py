"""Status steps: set the order's status and push the mapped status back to BigCommerce; and the steps
the generator adds: the hold a failed path ends in, and a splitter-merge's merge."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.bigcommerce import connection
from orderflow.errors import InvalidInput
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics, tracer
from orderflow.orders import flow_control, status_push
from orderflow.steps import runner, transient
from orderflow.store import tables


def perform(request: StepRequest) -> StepOutcome:
    orders = tables.orders()
    if request.action == "update_order_status":
        return status_push.update_order_status(request, orders, tables.settings(), connection.client())
    if request.action == "hold_order":
        return flow_control.hold_order(request, orders, tables.settings().bigcommerce, connection.client)
    if request.action == "merge_branches":
        return flow_control.merge_branches(request, orders)
    raise InvalidInput(f"this function does not serve the action {request.action!r}", field="action")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return runner.run_step(event, perform, tables.orders(), transient.is_transient)
