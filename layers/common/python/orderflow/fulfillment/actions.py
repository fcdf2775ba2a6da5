"""The flow actions served by the providers function: send_to_fulfillment, send_to_invoice,
cancel_order, custom.

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
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from orderflow import clock
from orderflow.errors import InvalidInput, ProviderUnavailable
from orderflow.fulfillment.providers import (
    SECRET_HEADER,
    Document,
    Provider,
    ProviderError,
    parse_config,
    provider_for,
    validate_url,
)
from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderStatus, Invoice
from orderflow.models.order import Order, OrderStatus
from orderflow.models.provider import ConfiguredProvider, ProviderDirectory
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger
from orderflow.orders.status_push import StatusMover, header, plan_move
from orderflow.store import tables
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


# (event, occurrence) -> the executions started: orders/events.py emitter for the step's order.
Emit = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class Providers:
    """How providers are made: the shared secret, the queue and the configured providers are read only
    when a step uses them."""

    secret: Callable[[], str]
    queue_url: Callable[[], str]
    configured: Callable[[], ProviderDirectory] = tables.configured_providers

    def for_step(self, request: StepRequest) -> Provider:
        return provider_for(parse_config(request.params, _Lazy(self.configured)), self.secret, self.queue_url)


@dataclass(frozen=True)
class _Lazy:
    """The configured providers, reached only for a step that names one (not https or sqs)."""

    directory: Callable[[], ProviderDirectory]

    def find(self, name: str) -> ConfiguredProvider | None:
        return self.directory().find(name)


# -- send_to_fulfillment -------------------------------------------------------------------------------


def send_to_fulfillment(
    request: StepRequest,
    fulfillment_orders: FulfillmentOrders,
    providers: Providers,
    emit: Emit | None = None,
) -> StepOutcome:
    """Every fulfillment order still ``created`` goes to the provider and becomes ``sent``; those
    sent before are not sent again. A refusal marks that one ``failed`` and starts the flows of
    ``fulfillment_failed`` (given ``emit``); one the provider could not take now stays ``created``
    for a resubmit. The step succeeds when none is left unsent."""
    provider = providers.for_step(request)
    everything = fulfillment_orders.for_order(request.order_key)
    if not everything:
        return StepOutcome(
            succeeded=False,
            message=f"order {request.order_key} has no fulfillment orders; assign a fulfillment source first",
        )
    sent: list[str] = []
    refused: list[str] = []
    problems: list[str] = []
    unreachable: list[str] = []
    for fulfillment_order in everything:
        if fulfillment_order.status != FulfillmentOrderStatus.CREATED:
            continue
        document = Document(
            "fulfillment_order", fulfillment_order.id, request.order_key, _fulfillment_body(fulfillment_order)
        )
        try:
            reference = provider.send(document)
        except ProviderError as exc:
            if not exc.permanent:
                unreachable.append(exc.message)
                continue
            problems.append(exc.message)
            if exc.permanent:  # gives its reserved stock back (the repository does, with the status)
                fulfillment_orders.update_status(
                    request.order_key,
                    fulfillment_order.id,
                    FulfillmentOrderStatus.FAILED,
                    expected=FulfillmentOrderStatus.CREATED,
                )
                refused.append(fulfillment_order.id)
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
    details: dict[str, Any] = {"provider": provider.name, "sent": sent, "not_sent_again": already}
    # Those refused by an earlier run are emitted again on purpose: had starting their flows failed
    # after the refusal was recorded, nothing else would start them; the execution names (one per
    # fulfillment order and flow version) keep each start once.
    failed = [fo.id for fo in everything if fo.status == FulfillmentOrderStatus.FAILED] + refused
    if emit is not None and failed:
        details["executions"] = [name for fo_id in failed for name in emit("fulfillment_failed", fo_id)]
    if unreachable:
        # Sent what could be sent; the rest waits for the provider on the long schedule.
        raise ProviderUnavailable("; ".join(unreachable))
    if problems:
        return StepOutcome(succeeded=False, message="; ".join(problems), details=details)
    if failed:
        # A refused fulfillment order is not in fulfillment: the order must not move on as if it were.
        return StepOutcome(
            succeeded=False,
            message=f"refused by the provider earlier: {', '.join(failed)} (source the order again, or cancel it)",
            details=details,
        )
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


# -- cancel_order --------------------------------------------------------------------------------------

CANCELLATION = "fulfillment_order_cancellation"
# Statuses an order has once goods left the warehouse: too late to cancel it whole.
_HAS_SHIPPED = {
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.INVOICED,
    OrderStatus.COMPLETED,
}
# Fulfillment orders that still hold reserved stock (failed ones gave it back when refused).
_HOLDING = {FulfillmentOrderStatus.CREATED, FulfillmentOrderStatus.SENT}


def cancel_order(
    request: StepRequest, fulfillment_orders: FulfillmentOrders, providers: Providers, mover: StatusMover
) -> StepOutcome:
    """Cancel the order: its fulfillment orders that were never sent are cancelled at once, those
    sent once their provider accepted the cancellation (sent once per fulfillment order); each gives
    its reserved stock back as it is cancelled. Then the order becomes ``cancelled`` and its mapped
    store status is pushed, unless the store shows it already (the merchant cancelled it there).

    An order that has shipped, whole or in part, is refused before anything is released. A provider
    that refuses a cancellation fails the step with its words and leaves that fulfillment order
    ``sent`` (it may still ship): the order is not cancelled, and a resubmit asks again."""
    order = header(mover.orders, request.order_key)
    everything = fulfillment_orders.for_order(request.order_key)
    shipped = [
        fo.id
        for fo in everything
        if fo.status == FulfillmentOrderStatus.SHIPPED or any(line.quantity_shipped for line in fo.lines)
    ]
    if shipped or order.status in _HAS_SHIPPED:
        which = f"; fulfillment order(s) {', '.join(shipped)} shipped" if shipped else ""
        return StepOutcome(
            succeeded=False,
            message=f"order {request.order_key} has shipped (status {order.status.value}{which}): "
            "a shipped order cannot be cancelled; nothing was released",
            details={"order_status": order.status.value, "shipped": shipped},
        )
    # The order state machine has the last word (a completed order is final): a 409, before any release.
    plan_move(order, OrderStatus.CANCELLED)
    releasing = [fo for fo in everything if fo.status in _HOLDING]
    # The provider is only needed (and its secret or queue only read) when one was sent.
    provider = (
        providers.for_step(request)
        if any(fo.status == FulfillmentOrderStatus.SENT for fo in releasing)
        else None
    )
    released: list[str] = []
    told: list[str] = []
    problems: list[str] = []
    for fulfillment_order in releasing:
        if fulfillment_order.status == FulfillmentOrderStatus.SENT:
            assert provider is not None
            try:
                provider.send(_cancellation(fulfillment_order))
            except ProviderError as exc:
                if not exc.permanent:
                    raise ProviderUnavailable(exc.message) from exc  # asked again on the long schedule
                # Kept sent, stock and all: the provider may still ship it.
                problems.append(exc.message)
                continue
            told.append(fulfillment_order.id)
        # Conditioned on the status read: one shipped or cancelled meanwhile is a conflict, not lost.
        fulfillment_orders.update_status(
            request.order_key,
            fulfillment_order.id,
            FulfillmentOrderStatus.CANCELLED,
            expected=fulfillment_order.status,
        )
        released.append(fulfillment_order.id)
    before = [fo.id for fo in everything if fo.status not in _HOLDING]
    details: dict[str, Any] = {"released": released, "cancellation_sent": told, "not_cancelled_again": before}
    if provider is not None:
        details["provider"] = provider.name
    if problems:
        return StepOutcome(
            succeeded=False, message=f"{'; '.join(problems)}; the order is not cancelled", details=details
        )
    done = f"released {', '.join(released)}"
    if not released:
        done = f"nothing to release: {', '.join(before)} released before" if before else "nothing to release"
    if told:
        done += f"; the {details['provider']} provider accepted the cancellation of {', '.join(told)}"
    moved = mover.move(
        request.order_key, OrderStatus.CANCELLED, f"{request.flow.id} v{request.flow.version}: {request.step}"
    )
    return StepOutcome(
        succeeded=True,
        message=f"{done}; {moved.message}",
        details={**details, "order_status": moved.details.get("status", order.status.value)},
    )


def _cancellation(fulfillment_order: FulfillmentOrder) -> Document:
    body = {
        "kind": CANCELLATION,  # the https provider gets the body alone: it says what it is
        "fulfillment_order_id": fulfillment_order.id,
        "order_key": fulfillment_order.order_key,
        "source_id": fulfillment_order.source_id,
        "provider_reference": fulfillment_order.provider_reference,
    }
    return Document(
        "fulfillment_order_cancellation",
        # Not the fulfillment order's own id: a provider de-duplicating on Idempotency-Key would take
        # the cancellation for the order sent again.
        f"{fulfillment_order.id}:cancel",
        fulfillment_order.order_key,
        body,
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
        if not exc.permanent:
            raise ProviderUnavailable(exc.message) from exc  # sent again on the long schedule
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
    model_config = ConfigDict(defer_build=True, extra="allow")

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
        try:
            answer, function_error = invoke_lambda(target, payload)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise  # throttling and the like: transient.is_transient decides
            # Locally a merchant's function is served once it is registered (LOCAL_FUNCTIONS).
            return StepOutcome(
                succeeded=False,
                message=f"custom action {where}: no such function (deployed as <stack>-custom-…, or "
                "registered with the local runtime)",
            )
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
