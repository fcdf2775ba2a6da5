"""``POST /orders/{order_key}/returns``: a return of shipped quantities, checked line by line, recorded
with the quantities it takes in one transaction, and the return flows it starts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from orderflow import clock
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.event import OrderEvent
from orderflow.models.order import Order, OrderLine
from orderflow.models.returns import LineRef, Return, ReturnLine, ReturnRequest
from orderflow.models.shipment import Shipment
from orderflow.observability import logger
from orderflow.problems import loc_path
from orderflow.store.returns import LinesTaken, ReturnExists, ReturnRepository

# Tries at a generated id (<import id>-R<n>) and at the lines' quantities, when another return of the
# same order is written at the same moment.
_ATTEMPTS = 5


class OrderReader(Protocol):
    def order_with_shipments(self, order_key: str) -> tuple[Order, list[Shipment]]: ...


# (event, return) -> the executions started: the return flows it starts (returns/flows.py).
StartReturnFlows = Callable[[str, Return], list[str]]


@dataclass
class ReturnAnswer:
    ret: Return
    created: bool
    executions: list[str] = field(default_factory=list)


def parse_request(body: Any) -> ReturnRequest:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    try:
        return ReturnRequest.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{loc_path(e['loc'], set())}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        raise InvalidInput.listing(problems) from None


def fingerprint(request: ReturnRequest) -> str:
    body = request.model_dump(mode="json", exclude={"return_id"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def find_line(order: Order, ref: LineRef, path: str) -> OrderLine:
    """The order line a request names, by number or by SKU (which must name exactly one line)."""
    if ref.line_number is not None:
        line = next((line for line in order.lines if line.line_number == ref.line_number), None)
        if line is None:
            numbers = ", ".join(str(line.line_number) for line in order.lines)
            raise InvalidInput(
                f"{path}.line_number: order {order.order_key} has no line {ref.line_number} (lines: {numbers})",
                field=f"{path}.line_number",
            )
        return line
    matches = [line for line in order.lines if line.sku == ref.sku]
    if len(matches) != 1:
        why = "no line has" if not matches else f"{len(matches)} lines have"
        raise InvalidInput(
            f"{path}.sku: {why} SKU {ref.sku!r} on order {order.order_key}; name the line by line_number",
            field=f"{path}.sku",
        )
    return matches[0]


def unit_price(line: OrderLine) -> Decimal:
    """What one unit cost the customer, tax included."""
    if line.quantity <= 0:
        return Decimal("0")
    return (line.total_inc_tax / line.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def plan_return(order: Order, shipments: list[Shipment], request: ReturnRequest, return_id: str) -> Return:
    """The return a request makes, or InvalidInput / Conflict naming the line: a line returns at most
    what shipped less what other returns took."""
    if not order.is_imported:
        raise Conflict(
            f"order {order.order_key} is not imported yet: nothing of it has shipped", field="order_key"
        )
    asked: dict[int, int] = {}
    lines: list[ReturnLine] = []
    for index, wanted in enumerate(request.lines):
        path = f"lines[{index}]"
        line = find_line(order, wanted, path)
        asked[line.line_number] = asked.get(line.line_number, 0) + wanted.quantity
        room = line.quantity_shipped - line.quantity_returned
        if asked[line.line_number] > room:
            raise Conflict(
                f"{path}.quantity: line {line.line_number} ({line.sku or line.name}) can be returned up to {max(room, 0)} "
                f"(shipped {line.quantity_shipped}, returned {line.quantity_returned}); asked {asked[line.line_number]}",
                field=f"{path}.quantity",
            )
        lines.append(
            ReturnLine(
                line_number=line.line_number,
                sku=line.sku,
                order_product_id=line.external_id,
                order_address_id=line.ship_to_external_id,
                quantity=wanted.quantity,
                reason=wanted.reason,
                condition=wanted.condition,
                unit_price=unit_price(line),
            )
        )
    at = clock.iso()
    made = [s.created_at for s in shipments if s.status != "failed" and s.created_at]
    return Return(
        return_id=return_id,
        order_key=order.order_key,
        store_hash=order.store_hash,
        order_external_id=order.external_id,
        resolution=request.resolution,
        note=request.note,
        lines=lines,
        requested_at=at,
        shipped_at=max(made) if made else None,
        fingerprint=fingerprint(request),
        history=[],
    )


def request_return(
    order_key: str,
    body: Any,
    *,
    orders: OrderReader,
    returns: ReturnRepository,
    start_flows: StartReturnFlows,
) -> ReturnAnswer:
    """Create the return (201), or answer the one this request made before (same return_id and body:
    200). The same return_id with other contents is a 409 naming it."""
    request = parse_request(body)
    for attempt in range(_ATTEMPTS):
        try:
            order, shipments = orders.order_with_shipments(order_key)
        except NotFound:
            raise NotFound(f"order {order_key} does not exist", field="order_key") from None
        return_id = request.return_id or _next_id(order, returns, attempt)
        existing = returns.find(return_id) if request.return_id else None
        if existing is not None:
            return _same_again(existing, order_key, request)
        ret = plan_return(order, shipments, request, return_id)
        try:
            stored = returns.create(ret, _shipped(order), _returned(order), order.revision)
        except ReturnExists:
            if request.return_id:
                found = returns.find(return_id)
                if found is not None:
                    return _same_again(found, order_key, request)
            continue  # a generated id taken meanwhile: the next one
        except LinesTaken:
            continue  # another return or a refused shipment changed the lines: read them again
        logger.info(
            "return requested",
            extra={"order_key": order_key, "return_id": stored.return_id, "lines": len(stored.lines)},
        )
        executions = start_flows(OrderEvent.RETURN_REQUESTED.value, stored)
        return ReturnAnswer(stored, True, executions)
    raise Conflict(
        f"order {order_key} keeps changing while the return is recorded; ask again", field="order_key"
    )


def _same_again(existing: Return, order_key: str, request: ReturnRequest) -> ReturnAnswer:
    if existing.order_key != order_key or existing.fingerprint != fingerprint(request):
        where = "another order's" if existing.order_key != order_key else "a return with other contents"
        raise Conflict(
            f"return_id {existing.return_id} is {where} (order {existing.order_key}); choose another return_id",
            field="return_id",
        )
    return ReturnAnswer(existing, False)


def _next_id(order: Order, returns: ReturnRepository, attempt: int) -> str:
    taken = len(returns.for_order(order.order_key))
    return f"{order.import_id}-R{taken + 1 + attempt}"


def _shipped(order: Order) -> dict[int, int]:
    return {line.line_number: line.quantity_shipped for line in order.lines}


def _returned(order: Order) -> dict[int, int]:
    return {line.line_number: line.quantity_returned for line in order.lines}
