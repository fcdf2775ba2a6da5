"""The steps of return flows that move the return itself: validate_return, send_to_returns_provider,
update_return_status, and the hold a failed path of a return flow ends in (hold_return)."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from orderflow import clock
from orderflow.errors import ProviderUnavailable
from orderflow.fulfillment.providers import Document, Provider, ProviderError
from orderflow.models.order import Order
from orderflow.models.returns import Return, ReturnHold, ReturnStatus
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics
from orderflow.store.returns import ReturnRepository

R = ReturnStatus
# What an SQS consumer tells a return authorisation request by (providers.Document's kinds).
DOCUMENT_KIND: Literal["return_authorisation"] = "return_authorisation"
_OPEN = (R.REQUESTED, R.AUTHORISED, R.IN_TRANSIT)


class Orders(Protocol):
    def get(self, order_key: str) -> Order: ...


class Providers(Protocol):
    def for_step(self, request: StepRequest) -> Provider: ...


class SourceAddresses(Protocol):
    def get(self, source_id: str) -> Any: ...


def the_return(request: StepRequest, returns: ReturnRepository) -> Return:
    if not request.return_id:
        raise ValueError(f"step '{request.step}' is a return step and needs return_id (a return flow's run)")
    return returns.get(request.return_id, request.order_key)


def _reason(request: StepRequest) -> str:
    return f"{request.flow.id} v{request.flow.version}: {request.step}"


def validate_return(request: StepRequest, returns: ReturnRepository) -> StepOutcome:
    """The return's execution policies held (the step runner checked them): a requested return is
    authorised. One that is rejected or closed fails the step; one further on passes unchanged."""
    ret = the_return(request, returns)
    if ret.status in (R.REJECTED, R.CLOSED):
        return StepOutcome(succeeded=False, message=f"return {ret.return_id} is {ret.status.value}")
    details = {"return_id": ret.return_id, "value": str(ret.value), "lines": len(ret.lines)}
    if ret.status != R.REQUESTED:
        return StepOutcome(
            succeeded=True, message=f"return {ret.return_id} is {ret.status.value} already", details=details
        )
    at = clock.iso()
    returns.update(
        ret.return_id,
        lambda current: current.moved(R.AUTHORISED, _reason(request), at).model_copy(update={"hold": None}),
        ret.order_key,
    )
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} authorised: {_units(ret)} worth {ret.value:.2f}",
        details=details,
    )


def send_to_returns_provider(
    request: StepRequest,
    returns: ReturnRepository,
    orders: Orders,
    providers: Providers,
    sources: SourceAddresses,
) -> StepOutcome:
    """The return authorisation request (the label request) to the step's provider, once: a return
    sent before is not sent again. The provider calls back on ``POST /returns/{return_id}/events``."""
    provider = providers.for_step(request)
    ret = the_return(request, returns)
    if ret.provider:
        return StepOutcome(
            succeeded=True,
            message=f"return {ret.return_id} was sent to the {ret.provider} provider before "
            f"({ret.provider_reference}); nothing sent again",
            details={"provider": ret.provider, "reference": ret.provider_reference},
        )
    if ret.status not in _OPEN:
        return StepOutcome(succeeded=False, message=f"return {ret.return_id} is {ret.status.value}: not sent")
    order = orders.get(ret.order_key)
    body = authorisation_request(ret, order, sources.get(ret.source_id) if ret.source_id else None)
    try:
        reference = provider.send(Document(DOCUMENT_KIND, ret.return_id, ret.order_key, body))
    except ProviderError as exc:
        if not exc.permanent:
            raise ProviderUnavailable(exc.message) from exc
        return StepOutcome(succeeded=False, message=exc.message, details={"provider": provider.name})
    at = clock.iso()

    def sent(current: Return) -> Return:
        moved = (
            current.moved(R.AUTHORISED, _reason(request), at) if current.status == R.REQUESTED else current
        )
        return moved.model_copy(update={"provider": provider.name, "provider_reference": reference})

    returns.update(ret.return_id, sent, ret.order_key)
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} sent to the {provider.name} provider ({reference})",
        details={"provider": provider.name, "reference": reference, "source_id": ret.source_id},
    )


def authorisation_request(ret: Return, order: Order, source: Any) -> dict[str, Any]:
    """What a returns provider gets: the return, where the goods come from and go back to, and where
    to call back."""
    ship_from = order.ship_to[0] if order.ship_to else order.billing_address
    return {
        "return_id": ret.return_id,
        "order_key": ret.order_key,
        "import_id": order.import_id,
        "resolution": ret.resolution,
        "note": ret.note,
        "lines": [
            {
                "line_number": line.line_number,
                "sku": line.sku,
                "quantity": line.quantity,
                "reason": line.reason,
                "condition": line.condition,
            }
            for line in ret.lines
        ],
        "ship_from": ship_from.model_dump(mode="json"),
        "return_to": (
            {"source_id": source.id, "name": source.name, "address": source.address.model_dump(mode="json")}
            if source is not None
            else None
        ),
        "callback": f"/returns/{ret.return_id}/events",
    }


def update_return_status(request: StepRequest, returns: ReturnRepository) -> StepOutcome:
    """Set the status the step's params name (checked against the return's state machine)."""
    target = R(str(request.params.get("status")))
    ret = the_return(request, returns)
    at = clock.iso()
    updated = returns.update(
        ret.return_id, lambda current: current.moved(target, _reason(request), at), ret.order_key
    )
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} is {updated.status.value}",
        details={"return_id": ret.return_id, "status": updated.status.value},
    )


def hold_return(request: StepRequest, returns: ReturnRepository, cause: str) -> StepOutcome:
    """A failed path of a return flow holds the return (its goods or money wait for an operator),
    naming the failed step and why; the order itself is not touched."""
    failed = request.failed or {}
    step = str(failed.get("step") or "an earlier step")
    hold = ReturnHold(
        step=step, flow=f"{request.flow.id} v{request.flow.version}", message=cause, at=clock.iso()
    )
    ret = the_return(request, returns)
    returns.update(ret.return_id, lambda current: current.model_copy(update={"hold": hold}), ret.order_key)
    metrics.add_metric(name="ReturnsOnHold", unit="Count", value=1)
    logger.info("return on hold", extra={"return_id": ret.return_id, "failed_step": step})
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} on hold: step '{step}' failed: {cause}",
        details={"failed_step": step, "held": True, "return_id": ret.return_id},
    )


def _units(ret: Return) -> str:
    count = sum(line.quantity for line in ret.lines)
    return f"{count} unit{'s' if count != 1 else ''}"
