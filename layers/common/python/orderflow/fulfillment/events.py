"""Fulfillment provider callbacks (``POST /fulfillment/{fulfillment_order_id}/events``).

``shipped`` ships the fulfillment order's lines through the order's shipments (orderflow/shipments/shipping.py:
recorded, created in BigCommerce, status pushed); ``cancelled`` cancels the fulfillment order and the
order once none of its fulfillment orders is left. An event handled once answers the same again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from orderflow import inbound
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderStatus
from orderflow.models.order import BigCommerceSettings, OrderStatus
from orderflow.models.provider import ConfiguredProvider
from orderflow.models.shipment import MAX_LINES_PER_SHIPMENT
from orderflow.observability import logger
from orderflow.orders.events import RouteSource, emitter
from orderflow.orders.executions import Starter
from orderflow.orders.status_push import push_status
from orderflow.problems import loc_path
from orderflow.shipments import shipping as shipments
from orderflow.shipments.shipping import Emitter
from orderflow.store.fulfillment import FulfillmentOrderRepository
from orderflow.store.fulfillment_index import FulfillmentEventStore, order_key_of
from orderflow.store.orders import OrderRepository
from orderflow.store.shipments import ShipmentRepository

SECRET_HEADER = "x-provider-secret"
_SHIPMENT_ID_LIMIT = 64
_DIGEST = 16
_CARRIER_LIMIT = 64
# "{order key}-FO{n}": printable ASCII, well within DynamoDB's key size.
_ID = re.compile(r"[\x21-\x7e]{1,256}")


def authenticate(headers: Mapping[str, str], expected_secret: str) -> None:
    """The providers' shared secret (``X-Provider-Secret``), checked before the body is read."""
    inbound.authenticate(headers, expected_secret, header=SECRET_HEADER)


# What a fulfillment order names when its step gave the kind itself rather than a configured provider.
_BUILT_IN_PROVIDERS = frozenset({"", "https", "sqs"})


class ProviderLookup(Protocol):
    def find(self, name: str) -> ConfiguredProvider | None: ...


def callback_secret(
    fulfillment_order_id: str,
    *,
    orders_table: str,
    providers: ProviderLookup,
    stack_secret: Callable[[], str],
    secret_of: Callable[[str], str],
) -> str:
    """The secret a callback about this fulfillment order must carry: that of the configured provider it
    was sent to, when that provider has its own (``secret_ref``); else the stack's PROVIDER_SECRET (an
    unknown fulfillment order too: it is answered 404 only once the caller has proven a secret)."""
    order_key = order_key_of(fulfillment_order_id) if _ID.fullmatch(fulfillment_order_id) else None
    sent = (
        FulfillmentEventStore(orders_table).find_fulfillment_order(order_key, fulfillment_order_id)
        if order_key is not None
        else None
    )
    if sent is not None and sent.provider not in _BUILT_IN_PROVIDERS:
        configured = providers.find(sent.provider)
        if configured is not None and configured.secret_ref:
            return secret_of(configured.secret_ref)
    return stack_secret()


class EventLine(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    line_number: Annotated[StrictInt, Field(ge=1)]
    quantity: Annotated[StrictInt, Field(ge=1)]


# One shipment takes at most this many lines (a DynamoDB transaction): the event cannot ship more.
EventLines = Annotated[list[EventLine], Field(min_length=1, max_length=MAX_LINES_PER_SHIPMENT)]


class FulfillmentEvent(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    event_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] | None = None
    type: Literal["shipped", "cancelled"]
    lines: EventLines | None = None  # None: every line
    tracking_number: Annotated[str, Field(max_length=shipments.TRACKING_NUMBER_MAX)] = ""
    # A BigCommerce shipping_provider ("ups", "carrier_12"); the shipment checks the name itself
    carrier: Annotated[str, Field(max_length=_CARRIER_LIMIT)] = ""

    @field_validator("tracking_number", "carrier", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    def key(self) -> str:
        """The event's id, or one made from its contents: the same body again is the same event."""
        if self.event_id:
            return self.event_id
        canonical = json.dumps(self.model_dump(mode="json", exclude={"event_id"}), sort_keys=True)
        return "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def parse_event(body: Any) -> FulfillmentEvent:
    """The event from the request body (bytes or text, or already parsed), or InvalidInput."""
    if body is None or isinstance(body, str | bytes):
        body = inbound.json_document(body, "a fulfillment event")
    if not isinstance(body, dict):
        raise InvalidInput(
            'the request body is not a fulfillment event (expected a JSON object: {"type": "shipped"})',
            field="body",
        )
    try:
        return FulfillmentEvent.model_validate(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = loc_path(err["loc"], set())
            message = err["msg"]
            if path == "type":
                message = "must be 'shipped' or 'cancelled'"
            problems.append(f"{path}: {message}" if path else message)
        raise InvalidInput.listing(problems) from None


def handle(
    fulfillment_order_id: str,
    body: Any,
    *,
    fulfillment_orders: FulfillmentOrderRepository,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
    flows: RouteSource | None = None,
    starter: Starter | None = None,
) -> dict[str, Any]:
    """Apply the event; the answer says what changed. The same event again answers the same.

    A shipment starts the flows of ``order_shipped`` / ``order_partially_shipped``; a cancelled
    fulfillment order those of ``fulfillment_failed`` (given ``flows`` and ``starter``)."""
    # An id no fulfillment order can have is unknown without a read (nor a key too long to read).
    order_key = order_key_of(fulfillment_order_id) if _ID.fullmatch(fulfillment_order_id) else None
    events = FulfillmentEventStore(orders.table_name)
    fulfillment_order = (
        events.find_fulfillment_order(order_key, fulfillment_order_id) if order_key is not None else None
    )
    if order_key is None or fulfillment_order is None:
        raise NotFound(f"no fulfillment order {fulfillment_order_id}", field="fulfillment_order_id")
    event = parse_event(body)
    event_id = event.key()
    earlier = events.event_answer(order_key, fulfillment_order_id, event_id)
    if earlier is not None:
        return {**earlier, "repeated": True}
    emit = (
        emitter(order_key, orders=orders, flows=flows, starter=starter, trigger="fulfillment event")
        if flows is not None and starter is not None
        else None
    )
    if event.type == "shipped":
        answer = _shipped(
            fulfillment_order, event, event_id, fulfillment_orders, events, orders, config, bigcommerce, emit
        )
    else:
        answer = _cancelled(fulfillment_order, event_id, fulfillment_orders, orders, config, bigcommerce)
        if emit is not None:
            answer["executions"] = emit("fulfillment_failed", f"{fulfillment_order_id}:{event_id}")
    logger.info(
        "fulfillment event handled",
        extra={"order_key": order_key, "fulfillment_order_id": fulfillment_order_id, "type": event.type},
    )
    return {
        **events.record_event(order_key, fulfillment_order_id, event_id, answer),
        "repeated": False,
    }


def _shipped(
    fulfillment_order: FulfillmentOrder,
    event: FulfillmentEvent,
    event_id: str,
    repository: FulfillmentOrderRepository,
    events: FulfillmentEventStore,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
    emit: Emitter | None,
) -> dict[str, Any]:
    if fulfillment_order.status in (FulfillmentOrderStatus.CANCELLED, FulfillmentOrderStatus.SHIPPED):
        raise Conflict(
            f"fulfillment order {fulfillment_order.id} is {fulfillment_order.status.value}; "
            "nothing is left to ship",
            field="type",
        )
    shipment_repository = ShipmentRepository(orders.table_name)
    before = _shipped_so_far(fulfillment_order, shipment_repository)
    items = _items(fulfillment_order, event, before)
    result = shipments.ship(
        fulfillment_order.order_key,
        {
            "shipment_id": _shipment_id(fulfillment_order.id, event_id),
            "items": items,
            "tracking_number": event.tracking_number,
            "carrier": event.carrier,
            "comments": f"fulfillment order {fulfillment_order.id}",
        },
        orders=orders,
        shipments=shipment_repository,
        config=config,
        bigcommerce=bigcommerce,
        emit=emit,
    )
    shipment = result.shipment
    after = _shipped_so_far(fulfillment_order, shipment_repository)
    updated = fulfillment_order
    if all(after.get(line.line_number, 0) >= line.quantity for line in fulfillment_order.lines):
        # Shipped consumes the stock the fulfillment order reserved, by its lines' unshipped
        # quantities: the status goes first, the shipped quantities after.
        updated = repository.update_status(
            fulfillment_order.order_key,
            fulfillment_order.id,
            FulfillmentOrderStatus.SHIPPED,
            tracking_number=event.tracking_number or fulfillment_order.tracking_number,
            carrier=shipment.carrier or fulfillment_order.carrier,  # as BigCommerce knows it (lower case)
        )
        updated = events.set_lines(
            updated,
            [line.model_copy(update={"quantity_shipped": line.quantity}) for line in updated.lines],
        )
    rendered = _render(updated)
    rendered["lines"] = [
        {**line, "quantity_shipped": after.get(line["line_number"], 0)} for line in rendered["lines"]
    ]
    return {
        "fulfillment_order_id": fulfillment_order.id,
        "event_id": event_id,
        "type": "shipped",
        "fulfillment_order": rendered,
        "shipment": {
            "shipment_id": shipment.id,
            "status": shipment.status,
            "tracking_number": shipment.tracking_number,
            "carrier": shipment.carrier,
            "bigcommerce_shipment_ids": [g.id for g in shipment.bigcommerce if g.id is not None],
        },
        "order_status": shipment.order_status.value if shipment.order_status else None,
        "message": shipment.status_message,
    }


def _shipped_so_far(fulfillment_order: FulfillmentOrder, repository: ShipmentRepository) -> dict[int, int]:
    """Quantities shipped per line by this fulfillment order's events: the shipments carry them, so a
    partial shipment does not touch the fulfillment order (and the stock it holds) until it is done."""
    prefix = _shipment_prefix(fulfillment_order.id)
    shipped: dict[int, int] = {}
    for shipment in repository.for_order(fulfillment_order.order_key):
        if shipment.id.startswith(prefix) and shipment.status != "failed":
            for line in shipment.lines:
                shipped[line.line_number] = shipped.get(line.line_number, 0) + line.quantity
    return shipped


def _items(
    fulfillment_order: FulfillmentOrder, event: FulfillmentEvent, shipped: dict[int, int]
) -> list[dict[str, int]]:
    remaining = {
        line.line_number: line.quantity - shipped.get(line.line_number, 0) for line in fulfillment_order.lines
    }
    if event.lines is None:
        items = [{"line_number": number, "quantity": left} for number, left in remaining.items() if left > 0]
        if not items:
            raise Conflict(f"fulfillment order {fulfillment_order.id} has nothing left to ship", field="type")
        return items
    problems: list[str] = []
    seen: set[int] = set()
    for index, line in enumerate(event.lines):
        if line.line_number not in remaining:
            known = ", ".join(map(str, remaining)) or "none"
            problems.append(
                f"lines[{index}].line_number: fulfillment order {fulfillment_order.id} has no line "
                f"{line.line_number}; its lines are {known}"
            )
        elif line.line_number in seen:
            problems.append(f"lines[{index}].line_number: line {line.line_number} is given twice")
        elif line.quantity > remaining[line.line_number]:
            problems.append(
                f"lines[{index}].quantity: {line.quantity} exceeds the {remaining[line.line_number]} "
                f"left to ship on line {line.line_number}"
            )
        seen.add(line.line_number)
    if problems:
        raise InvalidInput.listing(problems)
    return [{"line_number": line.line_number, "quantity": line.quantity} for line in event.lines]


def _shipment_prefix(fulfillment_order_id: str) -> str:
    return f"{fulfillment_order_id[: _SHIPMENT_ID_LIMIT - _DIGEST - 1]}:"


def _shipment_id(fulfillment_order_id: str, event_id: str) -> str:
    """``<fo id>:<event id>``: the event's shipment, the same for every delivery of the event."""
    candidate = f"{fulfillment_order_id}:{event_id}"
    if len(candidate) <= _SHIPMENT_ID_LIMIT and len(fulfillment_order_id) <= _SHIPMENT_ID_LIMIT - _DIGEST - 1:
        return candidate
    return _shipment_prefix(fulfillment_order_id) + hashlib.sha256(candidate.encode()).hexdigest()[:_DIGEST]


def _cancelled(
    fulfillment_order: FulfillmentOrder,
    event_id: str,
    repository: FulfillmentOrderRepository,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
) -> dict[str, Any]:
    if fulfillment_order.status == FulfillmentOrderStatus.SHIPPED:
        raise Conflict(
            f"fulfillment order {fulfillment_order.id} is shipped; it cannot be cancelled", field="type"
        )
    if _shipped_so_far(fulfillment_order, ShipmentRepository(orders.table_name)):
        raise Conflict(
            f"fulfillment order {fulfillment_order.id} is partly shipped; it cannot be cancelled",
            field="type",
        )
    updated = fulfillment_order
    if fulfillment_order.status != FulfillmentOrderStatus.CANCELLED:
        # The repository gives the reserved stock back in the same transaction (unless it was failed,
        # which gave it back already).
        updated = repository.update_status(
            fulfillment_order.order_key,
            fulfillment_order.id,
            FulfillmentOrderStatus.CANCELLED,
            expected=fulfillment_order.status,
        )
    siblings = repository.for_order(fulfillment_order.order_key)
    message = f"fulfillment order {fulfillment_order.id} cancelled"
    order_status: str | None = None
    if all(fo.status == FulfillmentOrderStatus.CANCELLED for fo in siblings):
        try:
            outcome = push_status(
                fulfillment_order.order_key,
                OrderStatus.CANCELLED,
                f"fulfillment order {fulfillment_order.id} cancelled by the provider",
                orders,
                config,
                bigcommerce,
            )
            message = f"{message}; every fulfillment order of the order is cancelled: {outcome.message}"
        except BigCommerceError as exc:
            message = f"{message}; order cancelled, pushing it to BigCommerce failed: {exc}"
        order_status = OrderStatus.CANCELLED.value
    return {
        "fulfillment_order_id": fulfillment_order.id,
        "event_id": event_id,
        "type": "cancelled",
        "fulfillment_order": _render(updated),
        "inventory_released": fulfillment_order.status
        not in (FulfillmentOrderStatus.CANCELLED, FulfillmentOrderStatus.FAILED),
        "order_status": order_status,
        "message": message,
    }


def _render(fulfillment_order: FulfillmentOrder) -> dict[str, Any]:
    return fulfillment_order.model_dump(
        mode="json", include={"id", "status", "lines", "tracking_number", "carrier", "provider_reference"}
    )


__all__ = ["authenticate", "handle", "parse_event"]
