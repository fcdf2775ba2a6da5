"""Shipments: what was shipped is checked against the order's lines, recorded, created in BigCommerce
(one BigCommerce shipment per order address) and moves the order to Partially Shipped or Shipped.

A request may carry its own ``shipment_id`` (without one, an id is derived from the request): repeating
it answers the same shipment and never records or posts it twice. A POST whose answer was lost is
looked for in the store (the same address, items and tracking number, not yet one of ours) before it is
ever sent again, so retries cannot duplicate a shipment in the store.

A shipment a merchant creates by hand in the control panel reaches us as a ``store/shipment/created``
webhook (as ours do): it is recorded once, without being posted, and moves the order the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from orderflow import clock
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceOutcomeUnknown,
    BigCommerceUnavailable,
)
from orderflow.errors import Conflict, DomainError, InvalidInput
from orderflow.models.order import SOURCE_BIGCOMMERCE, BigCommerceSettings, Order, OrderLine, OrderStatus
from orderflow.models.shipment import (
    MAX_LINES_PER_SHIPMENT,
    BigCommerceShipment,
    GroupState,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from orderflow.observability import logger
from orderflow.orders.status_push import push_status
from orderflow.problems import loc_path
from orderflow.store.orders import OrderRepository
from orderflow.store.shipments import LinesTaken, ShipmentExists, ShipmentRepository

# BigCommerce's shipping_provider values (POST /v2/orders/{id}/shipments), plus carrier_{id}.
CARRIERS = (
    "",
    "auspost",
    "canadapost",
    "endicia",
    "usps",
    "fedex",
    "royalmail",
    "ups",
    "upsready",
    "shipperhq",
)
_CUSTOM_CARRIER = re.compile(r"carrier_\d+")
SHIPMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
TRACKING_NUMBER_MAX = 50
# After a POST whose outcome is unknown, the store may still be working on it: it is looked for (and
# only then sent again) once this long has passed. Our read timeout is 10 s; this leaves a wide margin.
DEFAULT_SETTLE_SECONDS = 60.0
_RETRY_SECONDS = 5
# Statuses that come after shipping: a late shipment does not take the order back.
_PAST_SHIPPING = {OrderStatus.INVOICED, OrderStatus.COMPLETED, OrderStatus.CANCELLED}


# -- the request ---------------------------------------------------------------------------------------


class ShipmentItem(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    line_number: Annotated[StrictInt, Field(ge=1)] | None = None
    sku: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    quantity: Annotated[StrictInt, Field(ge=1)]

    @model_validator(mode="after")
    def _one_reference(self) -> ShipmentItem:
        if (self.line_number is None) == (self.sku is None):
            raise ValueError("give line_number or sku (one of them) to name the order line")
        return self


class ShipmentRequest(BaseModel):
    """``POST /orders/{order_key}/shipments``."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    shipment_id: Annotated[str, Field(pattern=SHIPMENT_ID_PATTERN)] | None = None
    items: Annotated[list[ShipmentItem], Field(min_length=1, max_length=MAX_LINES_PER_SHIPMENT)]
    tracking_number: Annotated[str, Field(max_length=TRACKING_NUMBER_MAX)] = ""
    carrier: str = ""
    tracking_link: Annotated[str, Field(max_length=2048)] = ""
    comments: Annotated[str, Field(max_length=1000)] = ""

    @field_validator("tracking_number", "carrier", "tracking_link", "comments", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("carrier")
    @classmethod
    def _known_carrier(cls, value: str) -> str:
        value = value.lower()
        if value not in CARRIERS and not _CUSTOM_CARRIER.fullmatch(value):
            known = ", ".join(repr(c) for c in CARRIERS)
            raise ValueError(f"unknown carrier {value!r}; BigCommerce knows {known} and carrier_{{id}}")
        return value


def parse_request(body: Any) -> ShipmentRequest:
    """The request, or InvalidInput naming every problem with its path (``items[1].quantity: ...``)."""
    try:
        return ShipmentRequest.model_validate(body)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            path = loc_path(err["loc"], set())
            if path == "items" and err["type"] == "too_short":
                message = "give at least one item to ship"
            elif path == "items" and err["type"] == "too_long":
                message = f"at most {MAX_LINES_PER_SHIPMENT} lines per shipment; send the others as another shipment"
            elif path == "shipment_id" and err["type"] == "string_pattern_mismatch":
                message = "1 to 64 letters, digits and . _ : - (starting with a letter or digit)"
            problems.append(f"{path}: {message}" if path else message)
        raise InvalidInput.listing(problems) from None


# -- pure rules ----------------------------------------------------------------------------------------


def plan(order: Order, request: ShipmentRequest, shipment_id: str) -> Shipment:
    """The shipment the request describes for this order; InvalidInput naming every item that cannot be
    shipped (unknown or ambiguous line, no shipping address, more than is left to ship)."""
    if order.status == OrderStatus.CANCELLED:
        raise Conflict(f"order {order.order_key} is cancelled; it cannot be shipped", field="order_key")
    by_number = {line.line_number: line for line in order.lines}
    by_sku: defaultdict[str, list[OrderLine]] = defaultdict(list)
    for order_line in order.lines:
        if order_line.sku:
            by_sku[order_line.sku].append(order_line)
    problems: list[str] = []
    chosen: list[tuple[OrderLine, int]] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(request.items):
        path = f"items[{index}]"
        line = _resolve(order, item, path, by_number, by_sku, problems)
        if line is None:
            continue
        if line.line_number in seen:
            problems.append(
                f"{path}: {_describe(line)} is already in items[{seen[line.line_number]}]; give each line once"
            )
            continue
        seen[line.line_number] = index
        if line.ship_to_external_id is None:
            problems.append(
                f"{path}: {_describe(line)} has no shipping address in BigCommerce; it is not shipped"
            )
            continue
        left = line.quantity - line.quantity_shipped
        if item.quantity > left:
            if left <= 0:
                problems.append(
                    f"{path}.quantity: {_describe(line)} is fully shipped "
                    f"({line.quantity_shipped} of {line.quantity})"
                )
            else:
                problems.append(
                    f"{path}.quantity: {item.quantity} exceeds the {left} still to ship on {_describe(line)}"
                )
            continue
        chosen.append((line, item.quantity))
    if problems:
        raise InvalidInput.listing(problems)
    lines = [
        ShipmentLine(
            line_number=line.line_number,
            sku=line.sku,
            quantity=quantity,
            order_product_id=line.external_id,
            order_address_id=line.ship_to_external_id,
        )
        for line, quantity in chosen
        if line.ship_to_external_id is not None
    ]
    addresses = list(dict.fromkeys(line.order_address_id for line in lines))
    return Shipment(
        id=shipment_id,
        order_key=order.order_key,
        lines=lines,
        tracking_number=request.tracking_number,
        carrier=request.carrier,
        tracking_link=request.tracking_link,
        comments=request.comments,
        bigcommerce=[BigCommerceShipment(order_address_id=address) for address in addresses],
        request=request.model_dump(mode="json"),
    )


def _resolve(
    order: Order,
    item: ShipmentItem,
    path: str,
    by_number: dict[int, OrderLine],
    by_sku: dict[str, list[OrderLine]],
    problems: list[str],
) -> OrderLine | None:
    if item.line_number is not None:
        line = by_number.get(item.line_number)
        if line is None:
            numbers = sorted(by_number)
            known = f"its lines are {numbers[0]} to {numbers[-1]}" if numbers else "it has no lines"
            problems.append(
                f"{path}.line_number: order {order.order_key} has no line {item.line_number}; {known}"
            )
        return line
    matches = by_sku.get(item.sku or "", [])
    if not matches:
        problems.append(f"{path}.sku: no line of order {order.order_key} has SKU {item.sku!r}")
        return None
    if len(matches) > 1:
        listed = ", ".join(str(match.line_number) for match in matches)
        problems.append(f"{path}.sku: SKU {item.sku!r} is on lines {listed}; give line_number instead")
        return None
    return matches[0]


def _describe(line: OrderLine) -> str:
    return f"line {line.line_number} (SKU {line.sku})" if line.sku else f"line {line.line_number}"


def status_after(order: Order, shipments: list[Shipment]) -> OrderStatus | None:
    """Partially Shipped or Shipped, from what BigCommerce has: quantities of shipments it has not
    confirmed yet do not count. None when nothing is shipped. Lines without a shipping address
    (nothing to ship) do not keep an order from being Shipped."""
    unconfirmed: Counter[int] = Counter()
    for shipment in shipments:
        unconfirmed.update(shipment.unconfirmed())
    shippable = [line for line in order.lines if line.ship_to_external_id is not None]
    shipped = {line.line_number: line.quantity_shipped - unconfirmed[line.line_number] for line in shippable}
    if not any(quantity > 0 for quantity in shipped.values()):
        return None
    if all(shipped[line.line_number] >= line.quantity for line in shippable):
        return OrderStatus.SHIPPED
    return OrderStatus.PARTIALLY_SHIPPED


def derived_shipment_id(order_key: str, request: ShipmentRequest) -> str:
    """The id of a shipment sent without one: the same request again (a retry after a lost answer)
    finds the shipment it made, and never ships twice. To ship the same items twice without ids,
    tell them apart (a tracking number, a comment)."""
    canonical = json.dumps(
        {"order_key": order_key, **request.model_dump(mode="json", exclude={"shipment_id"})}, sort_keys=True
    )
    return "auto-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def bigcommerce_payload(shipment: Shipment, group: BigCommerceShipment) -> dict[str, Any]:
    """The body of ``POST /v2/orders/{id}/shipments`` for the part of the shipment to one address."""
    payload: dict[str, Any] = {
        "order_address_id": group.order_address_id,
        "items": [
            {"order_product_id": line.order_product_id, "quantity": line.quantity}
            for line in shipment.lines_to(group.order_address_id)
        ],
        "shipping_provider": shipment.carrier,
    }
    if shipment.comments:  # the merchant's words only: comments can reach the customer's e-mail
        payload["comments"] = shipment.comments
    if shipment.tracking_number:
        payload["tracking_number"] = shipment.tracking_number
    if shipment.tracking_link:
        payload["tracking_link"] = shipment.tracking_link
    return payload


def find_ours(
    store_shipments: list[Any], shipment: Shipment, group: BigCommerceShipment, known_ids: set[int]
) -> int | None:
    """The id of the store's shipment that is this part of ours, after its POST's answer was lost:
    one we have not recorded under another shipment, to the same address, with the same items and
    quantities, and the same tracking number (when ours has one). No marker is written into the
    shipment for this: its comments can reach the customer."""
    wanted: Counter[int] = Counter()
    for line in shipment.lines_to(group.order_address_id):
        wanted[line.order_product_id] += line.quantity
    for candidate in store_shipments:
        if not isinstance(candidate, dict) or candidate.get("id") in known_ids:
            continue
        if candidate.get("order_address_id") != group.order_address_id or _store_items(candidate) != wanted:
            continue
        if (
            shipment.tracking_number
            and str(candidate.get("tracking_number") or "") != shipment.tracking_number
        ):
            continue
        found = candidate.get("id")
        return found if isinstance(found, int) else None
    return None


def _known_ids(shipments: list[Shipment]) -> set[int]:
    return {group.id for shipment in shipments for group in shipment.bigcommerce if group.id is not None}


def render(shipment: Shipment) -> dict[str, Any]:
    """A shipment as the API shows it."""
    body = shipment.model_dump(mode="json", exclude={"request", "version"})
    body["bigcommerce_shipment_ids"] = [g.id for g in shipment.bigcommerce if g.id is not None]
    return body


# -- errors --------------------------------------------------------------------------------------------


class ShipmentRefused(DomainError):
    """BigCommerce refused (part of) the shipment: it stays recorded with the store's message and the
    quantities it refused are released. 502: the store refused us, not the caller's request as such."""

    status = 502
    code = "bigcommerce_refused"

    def __init__(self, shipment: Shipment) -> None:
        created = [g.order_address_id for g in shipment.bigcommerce if g.state == "created"]
        if created:
            message = (
                f"BigCommerce refused part of shipment {shipment.id}: {shipment.error}. The parts to order "
                f"addresses {', '.join(map(str, created))} were created; the rest was released"
            )
        else:
            message = (
                f"BigCommerce refused shipment {shipment.id}: {shipment.error}. Its quantities were released"
            )
        super().__init__(f"{message}; correct the cause and send it again with a new shipment_id")
        self.shipment = shipment

    def to_body(self) -> dict:
        return {**super().to_body(), "shipment": render(self.shipment)}


class ShipmentPending(DomainError):
    """BigCommerce did not take the shipment this time (unreachable, or its answer was lost). It stays
    recorded as pending; the same request again (same shipment_id) after ``retry_after`` seconds
    finishes it, looking in the store first whenever a POST may have reached it."""

    status = 503
    code = "bigcommerce_unavailable"

    def __init__(self, shipment: Shipment, reason: str, retry_after: float, *, unknown: bool) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        if unknown:
            self.code = "bigcommerce_outcome_unknown"
            what = f"BigCommerce did not confirm shipment {shipment.id} ({reason})"
            then = "the store is checked for it before it is ever sent again"
        else:
            what = f"BigCommerce did not take shipment {shipment.id} ({reason})"
            then = "nothing reached the store, so it is sent then"
        super().__init__(
            f"{what}. It is recorded as pending: send the same request again (shipment_id {shipment.id}) "
            f"in {self.retry_after} s; {then}",
            field="shipment_id",
        )
        self.shipment = shipment

    def to_body(self) -> dict:
        return {**super().to_body(), "shipment": render(self.shipment)}


# -- the operation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentResult:
    shipment: Shipment
    created: bool  # this request recorded it (else it answers one recorded before)


# Starts the flows an event starts: (event, occurrence) → the executions started (orders/events.py emit).
Emitter = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class _Context:
    orders: OrderRepository
    shipments: ShipmentRepository
    config: BigCommerceSettings
    bigcommerce: BigCommerceClient
    settle_seconds: float
    emit: Emitter | None = None


def ship(
    order_key: str,
    body: Any,
    *,
    orders: OrderRepository,
    shipments: ShipmentRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    emit: Emitter | None = None,
) -> ShipmentResult:
    """Record the shipment the body describes, create it in BigCommerce and move the order's status.

    Raises InvalidInput (400: every problem named), NotFound (404), Conflict (409: the shipment_id was
    used for another shipment, or it is being created right now, or another shipment took the units),
    ShipmentRefused (502) or ShipmentPending (503: send the same request again later).
    """
    request = parse_request(body)
    context = _Context(orders, shipments, config, bigcommerce, settle_seconds, emit)
    if request.shipment_id:
        existing = shipments.find(order_key, request.shipment_id)
        if existing is not None:
            return ShipmentResult(_resume(existing, request, context), created=False)
    shipment_id = request.shipment_id or derived_shipment_id(order_key, request)
    raced = False
    for _ in range(3):
        order = orders.get(order_key)
        try:
            planned = plan(order, request, shipment_id)
        except InvalidInput as exc:
            if not raced:
                raise
            raise Conflict(
                f"{exc.message} (another shipment took them while this one was recorded)",
                field=exc.field,
                problems=exc.problems,
            ) from None
        try:
            recorded = shipments.record(
                planned, {line.line_number: line.quantity for line in order.lines}, order.revision
            )
        except ShipmentExists:
            return ShipmentResult(
                _resume(shipments.get(order_key, shipment_id), request, context), created=False
            )
        except LinesTaken:
            raced = True
            continue  # read the lines again: what is left now decides
        logger.info(
            "shipment recorded",
            extra={"order_key": order_key, "shipment_id": shipment_id, "lines": len(recorded.lines)},
        )
        return ShipmentResult(_complete(recorded, order.external_id, context), created=True)
    raise Conflict(f"the lines of order {order_key} keep changing; send the shipment again", field="items")


def _resume(existing: Shipment, request: ShipmentRequest, context: _Context) -> Shipment:
    if existing.request != request.model_dump(mode="json"):
        raise Conflict(
            f"shipment {existing.id} of order {existing.order_key} was recorded with other contents; "
            "a new shipment needs a new shipment_id",
            field="shipment_id",
        )
    if existing.status == "pending":
        header = context.orders.find_header(existing.order_key)
        if header is None:  # the order was removed underneath its shipment
            raise Conflict(f"order {existing.order_key} no longer exists", field="order_key")
        return _complete(existing, header.external_id, context)
    if existing.status != "failed" and (not existing.status_pushed or not existing.event_emitted):
        existing = _move_order_status(existing, context)
    if existing.status != "created":
        raise ShipmentRefused(existing)
    return existing


def _complete(shipment: Shipment, order_id: int, context: _Context) -> Shipment:
    """Create the shipment's parts in BigCommerce, one address after the other, then the status. An
    order from a source with no store behind it (POST /orders) has nothing to create: its parts are
    recorded as made, and the status moves (push_status pushes nothing for it)."""
    header = context.orders.find_header(shipment.order_key)
    if header is not None and header.source != SOURCE_BIGCOMMERCE:
        for index, group in enumerate(shipment.bigcommerce):
            if group.state != "created":
                shipment = context.shipments.update(shipment.order_key, shipment.id, _mark(index, "created"))
        order_id = -1  # never used: nothing is posted
    for index in range(len(shipment.bigcommerce)):
        group = shipment.bigcommerce[index]
        if group.state == "created":
            continue
        if group.state == "sent":
            shipment = _look_for(shipment, index, order_id, context)
            if shipment.bigcommerce[index].state == "created":
                continue
        shipment = _claim(shipment, index, context)
        shipment = _post(shipment, index, order_id, context)
        if shipment.bigcommerce[index].state != "created":
            break  # refused: the rest was given up with it
    if shipment.status == "pending":
        shipment = context.shipments.update(shipment.order_key, shipment.id, _settled)
    if shipment.status != "failed":
        shipment = _move_order_status(shipment, context)
    if shipment.status != "created":
        raise ShipmentRefused(shipment)
    return shipment


def _look_for(shipment: Shipment, index: int, order_id: int, context: _Context) -> Shipment:
    """A part POSTed before without an answer: found in the store → created; else left ``sent``."""
    group = shipment.bigcommerce[index]
    waited = (clock.now() - datetime.fromisoformat(group.sent_at or clock.iso())).total_seconds()
    if waited < context.settle_seconds:
        raise ShipmentPending(
            shipment, "its earlier answer is still awaited", context.settle_seconds - waited, unknown=True
        )
    try:
        existing = list(context.bigcommerce.iter_pages(f"/v2/orders/{order_id}/shipments"))
    except BigCommerceError as exc:
        raise ShipmentPending(
            shipment, f"checking the store failed: {exc}", _RETRY_SECONDS, unknown=True
        ) from None
    found = find_ours(existing, shipment, group, _known_ids(context.shipments.for_order(shipment.order_key)))
    if found is None:
        return shipment
    logger.info(
        "shipment found in the store after an unknown outcome",
        extra={"order_key": shipment.order_key, "shipment_id": shipment.id, "bigcommerce_shipment_id": found},
    )
    return context.shipments.update(shipment.order_key, shipment.id, _mark(index, "created", id=found))


def _claim(shipment: Shipment, index: int, context: _Context) -> Shipment:
    """Mark the part ``sent`` before the POST, if it is still as this request saw it: of two requests
    resuming one shipment, only one posts."""
    seen = shipment.bigcommerce[index]

    def claim(current: Shipment) -> Shipment:
        group = current.bigcommerce[index]
        if group.state != seen.state or group.sent_at != seen.sent_at:
            raise Conflict(
                f"shipment {current.id} is being created in BigCommerce by another request; ask again shortly",
                field="shipment_id",
            )
        return _mark(index, "sent", sent_at=clock.iso())(current)

    return context.shipments.update(shipment.order_key, shipment.id, claim)


def _post(shipment: Shipment, index: int, order_id: int, context: _Context) -> Shipment:
    group = shipment.bigcommerce[index]
    try:
        answer = context.bigcommerce.post(
            f"/v2/orders/{order_id}/shipments", bigcommerce_payload(shipment, group)
        )
    except BigCommerceOutcomeUnknown as exc:
        # It may have reached the store: the part stays ``sent`` and is looked for before any resend.
        raise ShipmentPending(shipment, str(exc), context.settle_seconds, unknown=True) from None
    except BigCommerceUnavailable as exc:
        # The client raises this for a POST only when the store cannot have acted on it.
        shipment = context.shipments.update(shipment.order_key, shipment.id, _unsend(index, group.sent_at))
        raise ShipmentPending(shipment, str(exc), _RETRY_SECONDS, unknown=False) from None
    except BigCommerceError as exc:
        if exc.status is None:  # a transport failure the client did not classify: assume it was sent
            raise ShipmentPending(shipment, str(exc), context.settle_seconds, unknown=True) from None
        logger.warning(
            "BigCommerce refused a shipment",
            extra={"order_key": shipment.order_key, "shipment_id": shipment.id, "status": exc.status},
        )
        return context.shipments.update(shipment.order_key, shipment.id, _refuse(index, exc.message))
    found = answer.get("id") if isinstance(answer, dict) else None
    return context.shipments.update(
        shipment.order_key, shipment.id, _mark(index, "created", id=found if isinstance(found, int) else None)
    )


def _mark(index: int, state: str, **fields: Any) -> Callable[[Shipment], Shipment]:
    def change(current: Shipment) -> Shipment:
        groups = list(current.bigcommerce)
        groups[index] = groups[index].model_copy(update={"state": state, **fields})
        return current.model_copy(update={"bigcommerce": groups})

    return change


def _unsend(index: int, sent_at: str | None) -> Callable[[Shipment], Shipment]:
    """Back to ``pending`` (nothing reached the store), unless another request has sent it since."""

    def change(current: Shipment) -> Shipment:
        if current.bigcommerce[index].sent_at != sent_at:
            return current
        return _mark(index, "pending", sent_at=None)(current)

    return change


def _refuse(index: int, message: str) -> Callable[[Shipment], Shipment]:
    """The part refused, the parts not sent yet given up; their quantities are released by the update."""

    def change(current: Shipment) -> Shipment:
        groups = list(current.bigcommerce)
        groups[index] = groups[index].model_copy(update={"state": "refused", "error": message})
        for later in range(index + 1, len(groups)):
            if groups[later].state == "pending":
                groups[later] = groups[later].model_copy(update={"state": "not_sent"})
        return _settled(current.model_copy(update={"bigcommerce": groups, "error": message}))

    return change


def _settled(current: Shipment) -> Shipment:
    states = {g.state for g in current.bigcommerce}
    if states & {"pending", "sent"}:
        return current
    status: ShipmentStatus
    if states == {"created"}:
        status = "created"
    elif "created" in states:
        status = "partially_created"
    else:
        status = "failed"
    return current.model_copy(update={"status": status})


def _move_order_status(shipment: Shipment, context: _Context) -> Shipment:
    """Partially Shipped or Shipped, through push_status (mapped and pushed to BigCommerce).

    A second look follows a partial result: a concurrent shipment that completed the order may have
    set Shipped before this one set Partially Shipped, and the order must end at Shipped.
    """
    status: OrderStatus | None = None
    message = ""
    pushed = True
    reason = f"shipment {shipment.id}"
    for attempt in range(2):
        order, all_shipments = context.shipments.order_with_shipments(shipment.order_key)
        target = status_after(order, all_shipments)
        if target is None or order.status in _PAST_SHIPPING:
            status, message = order.status, f"status {order.status.value} kept"
            break
        if attempt == 1 and order.status == target:
            break
        status = target
        try:
            message = push_status(
                shipment.order_key, target, reason, context.orders, context.config, context.bigcommerce
            ).message
            pushed = True
        except BigCommerceError as exc:
            message = f"status {target.value}; pushing it to BigCommerce failed: {exc}"
            pushed = False
            logger.warning(
                "status push after a shipment failed",
                extra={"order_key": shipment.order_key, "shipment_id": shipment.id, "status": exc.status},
            )
            break
        if target == OrderStatus.SHIPPED:
            break

    emitted = shipment.event_emitted or _emit(shipment, status, context)

    def note(current: Shipment) -> Shipment:
        return current.model_copy(
            update={
                "order_status": status,
                "status_message": message,
                "status_pushed": pushed,
                "event_emitted": emitted,
            }
        )

    return context.shipments.update(shipment.order_key, shipment.id, note)


def _emit(shipment: Shipment, status: OrderStatus | None, context: _Context) -> str:
    """``order_shipped`` or ``order_partially_shipped``, once per shipment (its id names the runs); ""
    when it could not be started (the same request again tries again)."""
    if context.emit is None or status not in (OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED):
        return ""
    event = "order_shipped" if status == OrderStatus.SHIPPED else "order_partially_shipped"
    try:
        context.emit(event, shipment.id)
    except Exception:
        logger.exception("could not start the flows of a shipment", extra={"order_key": shipment.order_key})
        return ""
    return event


# -- shipments made in the store -----------------------------------------------------------------------

# BigCommerce moves an order to these by itself when a shipment is created in the store.
_STORE_SHIPPED = 2
_STORE_PARTIALLY_SHIPPED = 3
# Our part of a shipment whose POST may have reached the store but whose answer is not recorded yet.
# Only ``sent``: a ``pending`` part was never POSTed (the client hands a POST back as unsent only when
# the store cannot have seen it), so a store shipment that matches a pending part is the merchant's.
_IN_FLIGHT: tuple[GroupState, ...] = ("sent",)


def store_shipment_id(bigcommerce_shipment_id: int) -> str:
    """Our id for a shipment made in the store: derived from BigCommerce's, so it is recorded once."""
    return f"bc-{bigcommerce_shipment_id}"


class StoreUnavailable(DomainError):
    """The store could not tell us about its shipment (unreachable, failing, our token refused): the
    webhook answers 503, its delivery is released, and BigCommerce's own retry tries again."""

    status = 503
    code = "bigcommerce_unavailable"


class FlowsNotStarted(DomainError):
    """The shipment is recorded but the flows it starts could not be started; BigCommerce's retry of
    the webhook finds it recorded and starts them (once: their names come from the shipment)."""

    status = 503
    code = "flows_not_started"


StoreShipmentStatus = Literal["recorded", "duplicate", "ours", "ignored"]


@dataclass(frozen=True)
class StoreShipmentOutcome:
    """``recorded``: a merchant's shipment, recorded now; ``duplicate``: recorded before (a redelivery);
    ``ours``: one we created, its webhook coming back; ``ignored``: nothing to record, ``reason`` says why."""

    status: StoreShipmentStatus
    reason: str
    shipment: Shipment | None = None


def record_store_shipment(
    order_key: str,
    order_id: int,
    bigcommerce_shipment_id: int,
    *,
    orders: OrderRepository,
    shipments: ShipmentRepository,
    config: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    emit: Emitter | None = None,
) -> StoreShipmentOutcome:
    """A ``store/shipment/created`` webhook: record the store's shipment as ours, once, without posting
    it, then move the order (Partially Shipped / Shipped) and start the flows its event starts.

    Ours (created through ``ship``) are recognised by the BigCommerce id we stored, the reference in
    their comments, or, while our POST's answer is not recorded yet, by the same address and items.
    What the store sends that does not fit the order (an unknown line, more than is left to ship)
    records nothing and says why: bad store data never makes the webhook fail. StoreUnavailable when
    the store cannot be read; FlowsNotStarted when the shipment's flows could not be started.
    """
    own_id = store_shipment_id(bigcommerce_shipment_id)
    if orders.find_header(order_key) is None:
        return StoreShipmentOutcome(
            "ignored", f"order {order_key} is not imported; its shipments are not recorded"
        )
    known = shipments.for_order(order_key)
    by_id = next((s for s in known if any(g.id == bigcommerce_shipment_id for g in s.bigcommerce)), None)
    if by_id is not None and by_id.made_in_store:
        return _recorded_already(by_id, orders, shipments, config, bigcommerce, emit)
    if by_id is not None:
        return StoreShipmentOutcome(
            "ours", f"BigCommerce shipment {bigcommerce_shipment_id} is our shipment {by_id.id}"
        )
    if any(s.id == own_id for s in known):
        # An API caller chose this id for a shipment of its own: recording the store's under it would
        # mix the two up (the API takes any shipment_id it is given).
        logger.warning(
            "a shipment made in the store cannot be recorded: its id is taken",
            extra={
                "order_key": order_key,
                "bigcommerce_shipment_id": bigcommerce_shipment_id,
                "shipment_id": own_id,
            },
        )
        return StoreShipmentOutcome(
            "ignored", f"shipment id {own_id} is used by another shipment of {order_key}"
        )
    client = bigcommerce()
    found = _read_store_shipment(client, order_key, order_id, bigcommerce_shipment_id)
    if isinstance(found, str):
        return StoreShipmentOutcome("ignored", found)
    ours = _ours_in_store(known, found)
    if ours is not None:
        return StoreShipmentOutcome(
            "ours",
            f"BigCommerce shipment {bigcommerce_shipment_id} is our shipment {ours.id} (its answer is on its way)",
        )
    context = _Context(orders, shipments, config(), client, DEFAULT_SETTLE_SECONDS, emit)
    for _ in range(3):
        order = orders.get(order_key)
        try:
            planned = plan_store_shipment(order, found, bigcommerce_shipment_id)
        except InvalidInput as exc:
            logger.warning(
                "a shipment made in the store was not recorded",
                extra={
                    "order_key": order_key,
                    "bigcommerce_shipment_id": bigcommerce_shipment_id,
                    "problems": exc.problems,
                },
            )
            return StoreShipmentOutcome(
                "ignored",
                f"BigCommerce shipment {bigcommerce_shipment_id} does not fit order {order_key}: {exc.message}",
            )
        try:
            recorded = shipments.record(
                planned, {line.line_number: line.quantity for line in order.lines}, order.revision
            )
        except ShipmentExists:
            # Another delivery of the same event recorded it a moment ago; that one finishes it.
            return StoreShipmentOutcome(
                "duplicate", f"BigCommerce shipment {bigcommerce_shipment_id} is recorded already as {own_id}"
            )
        except LinesTaken:
            continue  # another shipment took units meanwhile: what is left now decides
        logger.info(
            "shipment made in the store recorded",
            extra={"order_key": order_key, "shipment_id": own_id, "lines": len(recorded.lines)},
        )
        finished = _finish_store_shipment(recorded, context, note_store_status=True)
        return StoreShipmentOutcome(
            "recorded",
            f"BigCommerce shipment {bigcommerce_shipment_id} recorded as {own_id}; {finished.status_message}",
            finished,
        )
    raise Conflict(
        f"the lines of order {order_key} keep changing; the shipment is recorded on a later delivery"
    )


def _recorded_already(
    existing: Shipment,
    orders: OrderRepository,
    shipments: ShipmentRepository,
    config: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
    emit: Emitter | None,
) -> StoreShipmentOutcome:
    """A redelivery: nothing is recorded again, but what an earlier delivery left undone (the status,
    the flows) is finished."""
    reason = f"BigCommerce shipment {existing.bigcommerce[0].id} is recorded already as {existing.id}"
    if existing.status_pushed and existing.event_emitted:
        return StoreShipmentOutcome("duplicate", reason, existing)
    # The store's status is noted only when the earlier delivery did not get to it (a push failed or
    # it stopped before): later, the store may show a newer status that must not be overwritten.
    context = _Context(orders, shipments, config(), bigcommerce(), DEFAULT_SETTLE_SECONDS, emit)
    finished = _finish_store_shipment(existing, context, note_store_status=not existing.status_pushed)
    return StoreShipmentOutcome("duplicate", reason, finished)


def _read_store_shipment(
    client: BigCommerceClient, order_key: str, order_id: int, bigcommerce_shipment_id: int
) -> dict[str, Any] | str:
    """The store's shipment, or why there is nothing to record (the store does not have it, or its
    answer cannot be read). StoreUnavailable when asking again later may help."""
    try:
        return client.get_shipment(order_id, bigcommerce_shipment_id)
    except BigCommerceNotFound:
        return f"the store has no shipment {bigcommerce_shipment_id} on order {order_id}"
    except (BigCommerceUnavailable, BigCommerceAuthError) as exc:
        # Our token refused is ours to fix, not the store's data: BigCommerce's retries outlast the fix.
        logger.warning(
            "the store's shipment could not be read",
            extra={
                "order_key": order_key,
                "bigcommerce_shipment_id": bigcommerce_shipment_id,
                "status": exc.status,
            },
        )
        raise StoreUnavailable(
            f"{exc}. Shipment {bigcommerce_shipment_id} of order {order_id} is recorded when BigCommerce "
            "delivers its webhook again"
        ) from None
    except BigCommerceError as exc:
        if exc.status is None:  # a transport failure the client did not classify: it may pass
            raise StoreUnavailable(f"{exc}. Asked again on the webhook's next delivery") from None
        logger.warning(
            "the store's answer about a shipment is unusable",
            extra={
                "order_key": order_key,
                "bigcommerce_shipment_id": bigcommerce_shipment_id,
                "status": exc.status,
            },
        )
        return f"the store's answer for shipment {bigcommerce_shipment_id} could not be used: {exc.message}"


def _ours_in_store(known: list[Shipment], found: dict[str, Any]) -> Shipment | None:
    """Our shipment that the store's one is, when the id BigCommerce gave it is not recorded yet: a
    part we sent (its answer not back yet) to that address with the same items."""
    address = found.get("order_address_id")
    items = _store_items(found)
    for shipment in known:
        if shipment.made_in_store:
            continue
        for group in shipment.bigcommerce:
            if group.order_address_id != address:
                continue
            if group.state in _IN_FLIGHT and group.id is None and items is not None:
                sent: Counter[int] = Counter()
                for line in shipment.lines_to(group.order_address_id):
                    sent[line.order_product_id] += line.quantity
                if sent == items:
                    return shipment
    return None


def _store_items(found: dict[str, Any]) -> Counter[int] | None:
    """The store shipment's quantities per order product; None when they cannot be read."""
    items = found.get("items")
    if not isinstance(items, list):
        return None
    counts: Counter[int] = Counter()
    for item in items:
        if not isinstance(item, dict):
            return None
        product, quantity = item.get("order_product_id"), item.get("quantity")
        if not _is_count(product) or not _is_count(quantity):
            return None
        counts[product] += quantity
    return counts


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def plan_store_shipment(order: Order, found: dict[str, Any], bigcommerce_shipment_id: int) -> Shipment:
    """The store's shipment (``GET /v2/orders/{id}/shipments/{shipment_id}``) as ours: each item's
    ``order_product_id`` names the order line imported from it. InvalidInput naming every item that
    does not fit the order (no such line, more than is left to ship); nothing of it is recorded then,
    since recording part of what the store shipped would be as wrong as recording none."""
    problems: list[str] = []
    given_address = found.get("order_address_id")
    address = given_address if _is_count(given_address) else 0
    if not address:
        problems.append("order_address_id: the store's shipment has no order address")
    items = found.get("items")
    if not isinstance(items, list) or not items:
        items = []
        problems.append("items: the store's shipment has no items")
    by_product: defaultdict[int, list[OrderLine]] = defaultdict(list)
    for order_line in order.lines:
        by_product[order_line.external_id].append(order_line)
    wanted: dict[int, int] = {}  # line number → quantity
    first_seen: dict[int, tuple[int, OrderLine]] = {}
    for index, item in enumerate(items):
        path = f"items[{index}]"
        product = item.get("order_product_id") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if not _is_count(product):
            problems.append(f"{path}.order_product_id: missing or not an order product id")
            continue
        if not _is_count(quantity):
            problems.append(f"{path}.quantity: {quantity!r} is not a quantity")
            continue
        matches = by_product.get(product, [])
        if not matches:
            problems.append(
                f"{path}.order_product_id: no line of order {order.order_key} is order product {product}"
            )
            continue
        if len(matches) > 1:
            listed = ", ".join(str(match.line_number) for match in matches)
            problems.append(f"{path}.order_product_id: order product {product} is on lines {listed}")
            continue
        line = matches[0]
        wanted[line.line_number] = wanted.get(line.line_number, 0) + quantity
        first_seen.setdefault(line.line_number, (index, line))
    for line_number, quantity in wanted.items():
        index, line = first_seen[line_number]
        left = line.quantity - line.quantity_shipped
        if quantity > left:
            problems.append(
                f"items[{index}].quantity: {quantity} exceeds the {max(left, 0)} still to ship on {_describe(line)}"
            )
    if len(wanted) > MAX_LINES_PER_SHIPMENT:
        problems.append(
            f"items: {len(wanted)} lines; at most {MAX_LINES_PER_SHIPMENT} are recorded per shipment"
        )
    if problems:
        raise InvalidInput.listing(problems)
    lines = [
        ShipmentLine(
            line_number=line.line_number,
            sku=line.sku,
            quantity=wanted[line_number],
            order_product_id=line.external_id,
            order_address_id=address,
        )
        for line_number, (_, line) in sorted(first_seen.items())
    ]
    return Shipment(
        id=store_shipment_id(bigcommerce_shipment_id),
        order_key=order.order_key,
        status="created",
        lines=lines,
        tracking_number=_text(found.get("tracking_number")),
        carrier=_text(found.get("shipping_provider")),
        tracking_link=_text(found.get("tracking_link")),
        comments=_text(found.get("comments")),
        bigcommerce=[
            BigCommerceShipment(order_address_id=address, state="created", id=bigcommerce_shipment_id)
        ],
        made_in_store=True,
    )


def _finish_store_shipment(shipment: Shipment, context: _Context, *, note_store_status: bool) -> Shipment:
    """The order's status and the shipment's event, as for ours (``_move_order_status``)."""
    if note_store_status:
        # BigCommerce moved the order itself when the merchant made the shipment: noted first, so the
        # push that follows finds the store showing that status already and does not send it again.
        order, all_shipments = context.shipments.order_with_shipments(shipment.order_key)
        target = status_after(order, all_shipments)
        if target is not None:
            store_status = _STORE_SHIPPED if target == OrderStatus.SHIPPED else _STORE_PARTIALLY_SHIPPED
            context.orders.note_store_status(shipment.order_key, store_status)
    finished = _move_order_status(shipment, context)
    shipped = finished.order_status in (OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED)
    if context.emit is not None and shipped and not finished.event_emitted:
        raise FlowsNotStarted(
            f"shipment {finished.id} of order {finished.order_key} is recorded, but the flows it starts "
            "could not be started; they are started when BigCommerce delivers its webhook again"
        )
    return finished
