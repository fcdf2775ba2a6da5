"""The flow actions served by the providers function: send_to_fulfillment, send_to_invoice, custom.

Each is idempotent, so a retried step (Step Functions' Retry, or an operator's resubmit) hands over
only what was not accepted before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import requests
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from orderflow import clock
from orderflow.errors import InvalidInput
from orderflow.fulfillment.models import FulfillmentOrder, FulfillmentOrderStatus, Invoice
from orderflow.fulfillment.providers import (
    SECRET_HEADER,
    Document,
    Provider,
    ProviderError,
    parse_config,
    provider_for,
    validate_url,
)
from orderflow.models import Order
from orderflow.observability import logger
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.invoices import InvoiceRepository

_ANSWER_LIMIT = 300  # of a custom action's unexpected answer quoted in the step result


class FulfillmentOrders(Protocol):
    """Sourcing's repository (store/fulfillment.py): status changes also move the reserved stock."""

    def for_order(self, order_key: str) -> list[FulfillmentOrder]: ...

    def update_status(
        self,
        order_key: str,
        fo_id: str,
        status: FulfillmentOrderStatus,
        *,
        expected: FulfillmentOrderStatus | None = None,
        **fields: str,
    ) -> FulfillmentOrder: ...


class Orders(Protocol):
    def get(self, order_key: str) -> Order: ...


@dataclass(frozen=True)
class Providers:
    """How providers are made: the shared secret and the queue are read only when a step uses them."""

    secret: Callable[[], str]
    queue_url: Callable[[], str]

    def for_step(self, request: StepRequest) -> Provider:
        return provider_for(parse_config(request.params), self.secret, self.queue_url)


# -- send_to_fulfillment -------------------------------------------------------------------------------


def send_to_fulfillment(
    request: StepRequest, fulfillment_orders: FulfillmentOrders, providers: Providers
) -> StepOutcome:
    """Every fulfillment order still ``created`` goes to the provider and becomes ``sent``; those
    sent before are not sent again. A refusal marks that one ``failed``; one the provider could not
    take now stays ``created`` for a resubmit. The step succeeds when none is left unsent."""
    provider = providers.for_step(request)
    everything = fulfillment_orders.for_order(request.order_key)
    if not everything:
        return StepOutcome(
            succeeded=False,
            message=f"order {request.order_key} has no fulfillment orders; assign a fulfillment source first",
        )
    sent: list[str] = []
    problems: list[str] = []
    for fulfillment_order in everything:
        if fulfillment_order.status != FulfillmentOrderStatus.CREATED:
            continue
        document = Document(
            "fulfillment_order", fulfillment_order.id, request.order_key, _fulfillment_body(fulfillment_order)
        )
        try:
            reference = provider.send(document)
        except ProviderError as exc:
            problems.append(exc.message)
            if exc.permanent:  # gives its reserved stock back (the repository does, with the status)
                fulfillment_orders.update_status(
                    request.order_key,
                    fulfillment_order.id,
                    FulfillmentOrderStatus.FAILED,
                    expected=FulfillmentOrderStatus.CREATED,
                )
            continue
        fulfillment_orders.update_status(
            request.order_key,
            fulfillment_order.id,
            FulfillmentOrderStatus.SENT,
            expected=FulfillmentOrderStatus.CREATED,
            provider=provider.name,
            provider_reference=reference,
        )
        sent.append(fulfillment_order.id)
    already = [fo.id for fo in everything if fo.status != FulfillmentOrderStatus.CREATED]
    details = {"provider": provider.name, "sent": sent, "not_sent_again": already}
    if problems:
        return StepOutcome(succeeded=False, message="; ".join(problems), details=details)
    if not sent:
        return StepOutcome(
            succeeded=True, message=f"nothing to send: {', '.join(already)} sent before", details=details
        )
    return StepOutcome(
        succeeded=True, message=f"sent {', '.join(sent)} to the {provider.name} provider", details=details
    )


def _fulfillment_body(fulfillment_order: FulfillmentOrder) -> dict[str, Any]:
    return fulfillment_order.model_dump(
        mode="json",
        include={"id", "order_key", "source_id", "lines", "created_at"},
    )


# -- send_to_invoice -----------------------------------------------------------------------------------


def invoice_for(order: Order) -> Invoice:
    """The invoice of an order's revision: its lines and the order's own totals and tax."""
    return Invoice(
        number=f"INV-{order.import_id}-r{order.revision}",
        order_key=order.order_key,
        currency=order.currency,
        lines=[
            {
                "line_number": line.line_number,
                "sku": line.sku,
                "product": line.product or line.sku,
                "description": line.name,
                "quantity": line.quantity,
                "unit": line.unit or line.external_unit,
                "unit_price": str(line.unit_price),
                "total_ex_tax": str(line.total_ex_tax),
                "total_tax": str(line.total_inc_tax - line.total_ex_tax),
                "total_inc_tax": str(line.total_inc_tax),
            }
            for line in order.lines
        ],
        subtotal_ex_tax=order.subtotal_ex_tax or sum((line.total_ex_tax for line in order.lines), Decimal(0)),
        total_tax=order.total_tax,
        total_inc_tax=order.total_inc_tax,
        created_at=clock.iso(),
    )


def send_to_invoice(
    request: StepRequest, orders: Orders, invoices: InvoiceRepository, providers: Providers
) -> StepOutcome:
    """Make the order's invoice (once per revision), store it and send it (once)."""
    provider = providers.for_step(request)
    invoice = invoices.create(invoice_for(orders.get(request.order_key)))
    details: dict[str, Any] = {"invoice": invoice.number, "provider": provider.name}
    if invoice.sent_at:
        return StepOutcome(
            succeeded=True,
            message=f"invoice {invoice.number} was sent before ({invoice.sent_at})",
            details=details,
        )
    body = invoice.model_dump(mode="json", exclude={"sent_at"})
    try:
        reference = provider.send(Document("invoice", invoice.number, request.order_key, body))
    except ProviderError as exc:
        return StepOutcome(succeeded=False, message=exc.message, details=details)
    invoices.mark_sent(invoice, reference)
    return StepOutcome(
        succeeded=True,
        message=f"invoice {invoice.number} ({invoice.total_inc_tax} {invoice.currency}, tax {invoice.total_tax}) "
        f"sent to the {provider.name} provider",
        details={**details, "reference": reference},
    )


# -- custom --------------------------------------------------------------------------------------------


class CustomAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    succeeded: StrictBool
    message: StrictStr = ""


class LambdaInvoker(Protocol):
    def __call__(self, function: str, payload: dict[str, Any]) -> tuple[Any, str | None]:
        """The function's answer (parsed JSON) and its FunctionError, if it raised."""
        ...


def custom(
    request: StepRequest,
    invoke_lambda: LambdaInvoker,
    secret: Callable[[], str],
    timeout_seconds: float = 25.0,
) -> StepOutcome:
    """Call the flow's target (a Lambda, or an https endpoint) with the order's reference; its
    ``{"succeeded": bool, "message": str}`` is the step's result."""
    target = (request.target or "").strip()
    if not target:
        raise InvalidInput(
            "a custom action needs a target (a Lambda name or ARN, or an https:// URL)", field="target"
        )
    payload = {
        "order_key": request.order_key,
        "order_ref": request.order_ref.model_dump() if request.order_ref else None,
        "step": request.step,
        "flow": request.flow.model_dump(),
        "params": request.params,
    }
    if target.startswith(("https://", "http://")):
        url = validate_url(target, field="target")
        where = url
        try:
            response = requests.post(
                url,
                json=payload,
                headers={
                    SECRET_HEADER: secret(),
                    "Idempotency-Key": f"{request.execution or '-'}:{request.step}",
                },
                timeout=(3.05, timeout_seconds),
            )
        except requests.RequestException as exc:
            # Connection problems may pass: let the step's Retry take them (transient.is_transient).
            logger.info("custom action endpoint unreachable", extra={"error": type(exc).__name__})
            raise
        if not 200 <= response.status_code < 300:
            return StepOutcome(
                succeeded=False,
                message=f"custom action {where} answered HTTP {response.status_code}: "
                f"{response.text.strip()[:_ANSWER_LIMIT]}",
            )
        try:
            answer: Any = response.json()
        except ValueError:
            return _unexpected(where, "not JSON", response.text)
    else:
        where = f"Lambda {target}"
        answer, function_error = invoke_lambda(target, payload)
        if function_error:
            detail = answer.get("errorMessage") if isinstance(answer, dict) else answer
            return StepOutcome(succeeded=False, message=f"custom action {where} raised: {detail}")
    try:
        parsed = CustomAnswer.model_validate(answer)
    except ValidationError as exc:
        what = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()
        )
        return _unexpected(where, what, json.dumps(answer, default=str))
    return StepOutcome(
        succeeded=parsed.succeeded,
        message=parsed.message or f"custom action {where} {'succeeded' if parsed.succeeded else 'failed'}",
        details={"target": target},
    )


def _unexpected(where: str, what: str, text: str) -> StepOutcome:
    return StepOutcome(
        succeeded=False,
        message=f'custom action {where} did not answer {{"succeeded": bool, "message": str}} '
        f"({what}): {text.strip()[:_ANSWER_LIMIT]}",
    )
