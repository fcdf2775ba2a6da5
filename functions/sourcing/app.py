"""Sourcing steps: send_to_dom (optimised) and assign_fulfillment_source (rules); a sourced order
moves to ``sourced`` (and its mapped store status, if one is set)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.bigcommerce import connection
from orderflow.fulfillment import sourcing
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics, tracer
from orderflow.orders import status_push
from orderflow.steps import runner, transient
from orderflow.store import tables

ACTIONS = {
    "send_to_dom": sourcing.send_to_dom,
    "assign_fulfillment_source": sourcing.assign_fulfillment_source,
}


def _perform(request: StepRequest) -> StepOutcome:
    action = ACTIONS.get(request.action)
    if action is None:
        raise ValueError(f"the sourcing function does not serve action '{request.action}'")
    stores = sourcing.Stores(
        orders=tables.orders(),
        sources=tables.sources(),
        inventory=tables.inventory(),
        sourcing=tables.sourcing(),
        fulfillment_orders=tables.fulfillment_orders(),
    )
    return action(request, stores)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    mover = status_push.StatusMover(tables.orders(), tables.settings().bigcommerce, connection.client)
    return runner.run_step(
        event, status_push.moving(_perform, mover), tables.orders(), transient.is_transient
    )
