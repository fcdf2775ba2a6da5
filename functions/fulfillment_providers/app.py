"""Flow steps: send_to_fulfillment, send_to_invoice, send_to_accounting, cancel_order and custom actions
(HTTPS, SQS, Lambda); a sent order moves to ``in_fulfillment``, an invoiced one to ``invoiced``, a
cancelled one to ``cancelled``; one handed to accounting keeps its status."""

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow import config
from orderflow.accounting.send import send_to_accounting
from orderflow.bigcommerce import connection
from orderflow.errors import InvalidInput
from orderflow.fulfillment import actions, providers
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics, tracer
from orderflow.orders import events, status_push
from orderflow.steps import runner, transient
from orderflow.store import tables
from orderflow.store.accounting import AccountingRepository
from orderflow.store.executions import ExecutionStarter
from orderflow.store.invoices import InvoiceRepository


def _secret() -> str:
    return config.secret("PROVIDER_SECRET")


def _queue_url() -> str:
    return config.settings().need("fulfillment_queue_url")


PROVIDERS = actions.Providers(secret=_secret, queue_url=_queue_url)


def perform(request: StepRequest, mover: status_push.StatusMover) -> StepOutcome:
    orders = tables.orders()
    if request.action == "send_to_fulfillment":
        emit = events.emitter(
            request.order_key,
            orders=orders,
            flows=tables.flows(),
            starter=ExecutionStarter(),
            trigger="fulfillment refused",
        )
        return actions.send_to_fulfillment(request, tables.fulfillment_orders(), PROVIDERS, emit)
    if request.action == "send_to_invoice":
        return actions.send_to_invoice(request, orders, InvoiceRepository(orders.table_name), PROVIDERS)
    if request.action == "send_to_accounting":
        records = AccountingRepository(orders.table_name)
        return send_to_accounting(request, orders, records, tables.items(), tables.settings(), PROVIDERS)
    if request.action == "cancel_order":
        # cancel_order moves the order itself: only once its fulfillment orders are cancelled.
        return actions.cancel_order(request, tables.fulfillment_orders(), PROVIDERS, mover)
    if request.action == "custom":
        return actions.custom(request, providers.invoke_lambda, _secret)
    raise InvalidInput(f"this function does not serve the action {request.action!r}", field="action")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    mover = status_push.StatusMover(tables.orders(), tables.settings().bigcommerce, connection.client)
    return runner.run_step(
        event,
        status_push.moving(functools.partial(perform, mover=mover), mover),
        tables.orders(),
        transient.is_transient,
    )
