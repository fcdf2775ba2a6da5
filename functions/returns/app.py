"""Return flow steps: validate_return, assign_return_source, send_to_returns_provider, refund,
update_return_status, and the hold a failed path of a return flow ends in."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow import config
from orderflow.bigcommerce import connection
from orderflow.errors import InvalidInput
from orderflow.fulfillment.actions import Providers
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics, tracer
from orderflow.orders.flow_control import failure_of
from orderflow.returns import refunds, sourcing, steps
from orderflow.returns.flows import return_flow_starter
from orderflow.steps import runner, transient
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter

PROVIDERS = Providers(
    secret=lambda: config.secret("PROVIDER_SECRET"),
    queue_url=lambda: config.settings().need("fulfillment_queue_url"),
)


def perform(request: StepRequest) -> StepOutcome:
    returns = tables.returns()
    orders = tables.orders()
    if request.action == "validate_return":
        return steps.validate_return(request, returns)
    if request.action == "assign_return_source":
        return sourcing.assign_return_source(request, returns, orders, tables.sources())
    if request.action == "send_to_returns_provider":
        return steps.send_to_returns_provider(request, returns, orders, PROVIDERS, tables.sources())
    if request.action == "refund":
        start = return_flow_starter(orders, tables.flows(), ExecutionStarter(), trigger="refund")
        return refunds.refund(
            request, returns, orders, lambda: tables.settings().bigcommerce(), connection.client, start
        )
    if request.action == "update_return_status":
        return steps.update_return_status(request, returns)
    if request.action == "hold_return":
        failed = request.failed or {}
        step = str(failed.get("step") or "an earlier step")
        cause = failure_of(request, orders, step, str(failed.get("error") or ""))
        return steps.hold_return(request, returns, cause)
    raise InvalidInput(f"this function does not serve the action {request.action!r}", field="action")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runner.run_step(event, perform, tables.orders(), transient.is_transient, tables.returns())
