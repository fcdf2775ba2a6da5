"""``POST /returns/{return_id}/events``: the returns provider's callbacks. ``in_transit`` (the label
was used), ``received`` (quantities and condition per line: sellable units go back into the
receiving source's inventory, damaged ones are recorded and not restocked), ``rejected`` (the
return's quantities go back to the order's lines). Each event applies once, by its id: the return's
change, its restock and the event's id are one write."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from orderflow import clock, inbound
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.event import OrderEvent
from orderflow.models.order import Order
from orderflow.models.provider import ConfiguredProvider
from orderflow.models.returns import Return, ReturnEventRequest, ReturnLine, ReturnStatus
from orderflow.observability import logger
from orderflow.problems import loc_path
from orderflow.returns.requests import find_line
from orderflow.store.fulfillment import restock_action
from orderflow.store.returns import ReturnRepository

R = ReturnStatus
SECRET_HEADER = "x-provider-secret"
# (event, return, occurrence) -> executions: the return flows the event starts (returns/flows.py)
StartReturnFlows = Callable[[str, Return, str], list[str]]


class ProviderDirectory(Protocol):
    def find(self, name: str) -> ConfiguredProvider | None: ...


class Orders(Protocol):
    def get(self, order_key: str) -> Order: ...


def callback_secret(
    return_id: str,
    returns: ReturnRepository,
    providers: ProviderDirectory,
    stack_secret: Callable[[], str],
    secret_of: Callable[[str], str],
) -> str:
    """The secret a callback about this return carries: that of the configured provider it was sent to,
    when it has its own; else the stack's PROVIDER_SECRET (an unknown return too: it is answered 404
    only once the caller has proven a secret)."""
    ret = returns.find(return_id) if plausible_return_id(return_id) else None
    if ret is not None and ret.provider:
        configured = providers.find(ret.provider)
        if configured is not None and configured.secret_ref:
            return secret_of(configured.secret_ref)
    return stack_secret()


def authenticate(headers: Mapping[str, str], expected_secret: str) -> None:
    inbound.authenticate(headers, expected_secret, header=SECRET_HEADER)


def parse_event(body: Any) -> ReturnEventRequest:
    document = (
        inbound.json_document(body, "a return event")
        if isinstance(body, str | bytes) or body is None
        else body
    )
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    try:
        return ReturnEventRequest.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{loc_path(e['loc'], set())}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        raise InvalidInput.listing(problems) from None


def handle(
    return_id: str,
    body: Any,
    *,
    returns: ReturnRepository,
    orders: Orders,
    inventory_table: str,
    start_flows: StartReturnFlows,
) -> dict[str, Any]:
    """Apply the event once; the same event again answers the return as it is (``applied: false``)."""
    if not plausible_return_id(return_id):
        raise NotFound(f"return {return_id} does not exist", field="return_id")
    event = parse_event(body)
    ret = returns.get(return_id)
    if event.event_id in ret.events:
        return _answer(ret, event, applied=False)
    order = orders.get(ret.order_key)
    at = clock.iso()
    restocked: dict[str, int] = {}
    if event.type == "received":
        plan = _received(ret, order, event)
        source = event.source_id or ret.source_id
        if source is None and any(sellable for sellable, _ in plan.values()):
            raise InvalidInput(
                "source_id: the return has no receiving source (assign_return_source); say where the goods "
                "arrived",
                field="source_id",
            )
        for number, (sellable, _) in plan.items():
            product = next(line.product for line in order.lines if line.line_number == number)
            if sellable and product:
                restocked[product] = restocked.get(product, 0) + sellable

    def change(current: Return) -> Return:
        if event.event_id in current.events:
            return current
        events = [*current.events, event.event_id][-200:]
        if event.type == "in_transit":
            moved = current.moved(R.IN_TRANSIT, f"provider: in transit {event.tracking_number}".strip(), at)
            return moved.model_copy(
                update={"events": events, "tracking_number": event.tracking_number or current.tracking_number}
            )
        if event.type == "rejected":
            moved = current.moved(R.REJECTED, f"provider: rejected {event.message}".strip(), at)
            return moved.model_copy(update={"events": events})
        lines = [_receive(line, plan.get(line.line_number)) for line in current.lines]
        # The first part of the goods moves the return to received; later parts add to its quantities
        # (and a return refunded before its goods came back stays refunded, its goods counted in).
        if current.status in (R.RECEIVED, R.REFUNDED):
            moved = current
        else:
            moved = current.moved(R.RECEIVED, f"provider: received {event.message}".strip(), at)
        return moved.model_copy(
            update={"events": events, "lines": lines, "source_id": event.source_id or current.source_id}
        )

    source_id = event.source_id or ret.source_id
    also = (
        [
            restock_action(inventory_table, source_id, product, quantity, at)
            for product, quantity in restocked.items()
        ]
        if source_id
        else []
    )
    updated = returns.update(return_id, change, ret.order_key, also=also)
    applied = event.event_id in updated.events and event.event_id not in ret.events
    logger.info(
        "return event", extra={"return_id": return_id, "type": event.type, "status": updated.status.value}
    )
    executions: list[str] = []
    if applied and event.type == "received":
        executions = start_flows(OrderEvent.RETURN_RECEIVED.value, updated, event.event_id)
    answer = _answer(updated, event, applied=applied)
    answer["restocked"] = [
        {"source_id": source_id, "product": p, "quantity": q} for p, q in restocked.items()
    ]
    answer["executions"] = executions
    return answer


def _received(ret: Return, order: Order, event: ReturnEventRequest) -> dict[int, tuple[int, int]]:
    """Line number → (sellable, damaged) the event receives; never more than the return asked back."""
    asked = {line.line_number: line for line in ret.lines}
    plan: dict[int, tuple[int, int]] = {}
    for index, received in enumerate(event.lines):
        path = f"lines[{index}]"
        line = find_line(order, received, path)
        ours = asked.get(line.line_number)
        if ours is None:
            raise InvalidInput(
                f"{path}: line {line.line_number} is not part of return {ret.return_id}", field=path
            )
        sellable, damaged = plan.get(line.line_number, (0, 0))
        if received.condition == "sellable":
            sellable += received.quantity
        else:
            damaged += received.quantity
        if ours.quantity_received + sellable + damaged > ours.quantity:
            raise Conflict(
                f"{path}.quantity: return {ret.return_id} asked back {ours.quantity} of line {line.line_number} "
                f"and {ours.quantity_received} arrived before; this event brings {sellable + damaged}",
                field=f"{path}.quantity",
            )
        plan[line.line_number] = (sellable, damaged)
    return plan


def _receive(line: ReturnLine, got: tuple[int, int] | None) -> ReturnLine:
    if got is None:
        return line
    sellable, damaged = got
    return line.model_copy(
        update={
            "quantity_received": line.quantity_received + sellable + damaged,
            "quantity_restocked": line.quantity_restocked + sellable,
            "quantity_damaged": line.quantity_damaged + damaged,
        }
    )


def _answer(ret: Return, event: ReturnEventRequest, *, applied: bool) -> dict[str, Any]:
    return {"event_id": event.event_id, "applied": applied, "return": render(ret)}


def render(ret: Return) -> dict[str, Any]:
    body = ret.model_dump(mode="json", exclude={"fingerprint", "events"})
    body["value"] = f"{ret.value:.2f}"
    body["on_hold"] = ret.hold is not None
    return body


def plausible_return_id(return_id: str) -> bool:
    """A return id as they are made (``models/returns.py`` RETURN_ID_PATTERN, or a store refund's): no
    other text reaches a DynamoDB key."""
    return 0 < len(return_id) <= 64 and all(c.isalnum() or c in "_.-" for c in return_id)
