"""BigCommerce webhooks: parse, de-duplicate, and start the order's intake execution, or, for
an order imported already, the flows its event starts (a merchant's status change or cancellation, a
shipment made in the store).

BigCommerce retries anything that is not a 2xx for ~48 hours and may deliver an event twice or out
of order, so: accepted, duplicate and ignored deliveries all answer 200; only a failure to start the
work answers 5xx (and releases the delivery's claim so the retry is not taken for a duplicate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from orderflow import clock
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.bigcommerce.hooks import (
    ORDER_CREATED,
    ORDER_STATUS_UPDATED,
    ORDER_UPDATED,
    REFUND_CREATED,
    SHIPMENT_CREATED,
)
from orderflow.errors import ConfigurationError, DomainError, InvalidInput
from orderflow.inbound import (
    json_document,
)
from orderflow.models.event import store_status_event
from orderflow.models.order import Order, order_key_for
from orderflow.observability import logger, trace_order
from orderflow.orders.events import emit, emitter
from orderflow.orders.executions import pending_order, start_intake
from orderflow.store.deliveries import DeliveryLedger
from orderflow.store.executions import ExecutionStarter
from orderflow.store.flows import FlowRepository
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository

if TYPE_CHECKING:
    from orderflow.store.shipments import ShipmentRepository

HANDLED_SCOPES = {ORDER_CREATED, ORDER_UPDATED, ORDER_STATUS_UPDATED, SHIPMENT_CREATED, REFUND_CREATED}
# BigCommerce moves an order to 4 Refunded / 14 Partially Refunded by itself after a refund: that is the
# store's bookkeeping of a refund (which comes as store/order/refund/created), not a merchant's change.
REFUND_STATUS_IDS = frozenset({4, 14})


# BigCommerce's ids are 32-bit signed integers; anything else is not an order of a store.
PositiveId = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
# Unix seconds from 2000 to 2100: BigCommerce's clock, not milliseconds or a float overflow.
UnixTime = Annotated[StrictInt, Field(ge=946_684_800, le=4_102_444_800)]
# The delivery's id, a DynamoDB key of ours: BigCommerce sends 40 hex digits; a bound keeps the key
# well inside DynamoDB's limit and keeps spaces and control characters out of it.
HASH_PATTERN = r"^[0-9A-Za-z_-]{1,128}$"
STORE_HASH_PATTERN = r"[0-9A-Za-z_-]{1,64}"


# The data.type each family of scopes carries (store/order/*, store/shipment/*).
_DATA_TYPES = {"order": "order", "shipment": "shipment"}


def _refuse(loc: tuple[str, ...], given: Any, message: str) -> None:
    raise ValidationError.from_exception_data(
        "WebhookData",
        [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=given)],
    )


class WebhookData(BaseModel):
    """``data`` of an order or shipment webhook: ``{"type": "order", "id": 250}``, a shipment's
    ``{"type": "shipment", "id": 12, "orderId": 251}``; ``statusUpdated`` may add ``status``."""

    model_config = ConfigDict(defer_build=True, extra="allow", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    id: PositiveId
    order_id: PositiveId | None = Field(default=None, alias="orderId")
    status: dict[str, Any] | None = None


class WebhookPayload(BaseModel):
    """A BigCommerce webhook callback: strict where we read it (ids, hash, producer, the data of order
    and shipment scopes), lenient where BigCommerce itself varies (``store_id`` a string or a number,
    ``created_at`` and ``producer`` absent in older payloads, extra fields)."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    scope: str = Field(pattern=r"^store(/[A-Za-z]+){1,6}$", max_length=100)
    store_id: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")  # a string today, a number before
    data: WebhookData
    hash: str = Field(pattern=HASH_PATTERN)
    created_at: UnixTime | None = None  # absent in older payloads
    # "stores/{store_hash}": the store the event belongs to (accept ignores another store's)
    producer: str | None = Field(default=None, pattern=f"^stores/{STORE_HASH_PATTERN}$")

    @field_validator("store_id", mode="before")
    @classmethod
    def _store_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("data", mode="wrap")
    @classmethod
    def _data_of_its_scope(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        scope = info.data.get("scope")  # absent when the scope itself was refused
        kind = _DATA_TYPES.get(scope.split("/")[1]) if isinstance(scope, str) else None
        if scope is not None and kind is None:
            # A scope we register no hook for (a cart's id is a UUID, an app's data has no id):
            # accept answers it "ignored" without reading its data, so only its shape is checked
            # and nothing of it is kept (id 0 is no order).
            if not isinstance(value, dict):
                raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
            return WebhookData.model_construct(type=str(value.get("type") or ""), id=0)
        data: WebhookData = handler(value)
        if kind is None:
            return data
        if data.type != kind:
            _refuse(("type",), data.type, f"a {scope} webhook has data.type {kind!r}")
        if kind == "order" and data.order_id not in (None, data.id):
            # the order is data.id; event_key would take this one for it
            _refuse(("orderId",), data.order_id, "an order webhook names its order in data.id only")
        return data

    @property
    def store_hash(self) -> str | None:
        if self.producer and self.producer.startswith("stores/"):
            return self.producer.removeprefix("stores/")
        return None


@dataclass
class IntakeResult:
    status: Literal["accepted", "duplicate", "ignored"]
    reason: str = ""
    order_key: str | None = None
    executions: list[str] = field(default_factory=list)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.reason:
            body["reason"] = self.reason
        if self.order_key:
            body["order_key"] = self.order_key
        if self.executions:
            body["executions"] = self.executions
        return body


def parse_webhook(body: str | bytes | None) -> WebhookPayload:
    data = json_document(body, "a BigCommerce webhook")
    if not isinstance(data, dict):
        raise InvalidInput(
            "the request body is not a BigCommerce webhook (expected a JSON object)", field="body"
        )
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"not a BigCommerce webhook: {where}: {first['msg']}", field=where) from None


def event_key(payload: WebhookPayload) -> str:
    parts = [
        payload.scope,
        payload.store_hash or payload.store_id,
        str(payload.data.order_id or payload.data.id),
    ]
    status = payload.data.status or {}
    if status.get("new_status_id") is not None:
        parts.append(f"status={status.get('previous_status_id')}>{status['new_status_id']}")
    if payload.data.type == "shipment" and payload.data.order_id is not None:
        # An order's shipments are distinct events: the order's id alone would merge them.
        parts.append(f"shipment={payload.data.id}")
    refund_id = refund_id_of(payload)
    if refund_id is not None:
        parts.append(f"refund={refund_id}")
    return "|".join(parts)


def refund_id_of(payload: WebhookPayload) -> int | None:
    """``data.refund.refund_id`` of a refund webhook; None when it is not a positive id."""
    refund = (payload.data.model_extra or {}).get("refund")
    value = refund.get("refund_id") if isinstance(refund, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    return None


@dataclass(frozen=True)
class StatusChangeSeen:
    previous: int | None
    new: int


def status_change(payload: WebhookPayload) -> StatusChangeSeen | None:
    """The change a statusUpdated webhook reports, when it says (BigCommerce does not promise it)."""
    status = payload.data.status or {}
    try:
        new = int(status["new_status_id"])
    except (KeyError, TypeError, ValueError):
        return None
    previous = status.get("previous_status_id")
    return StatusChangeSeen(
        int(previous) if isinstance(previous, int | str) and str(previous).isdigit() else None, new
    )


def triage(
    scope: str, change: StatusChangeSeen | None, stored: Order | None, new_order_status_id: int | None
) -> tuple[bool, str]:
    """Whether a webhook starts the order's intake (True) or is answered and dropped, and why.

    The import rules: an order is imported at the new-order status, once; changes made in
    BigCommerce after import are ignored unless the status is reset to the new-order status (then
    it is imported again as a new revision). When a webhook does not say the status, the intake
    reads the order and decides; our own pushes are recognised before this (``accept``). An order
    accepted but not imported yet is not imported: its import starts again, unless one is waiting
    for the store already.
    """
    if stored is not None and not stored.is_imported:
        if stored.next_attempt_at and stored.next_attempt_at > clock.iso():
            return (
                False,
                f"accepted before; its import waits for the store (next try at {stored.next_attempt_at})",
            )
        stored = None
    if scope == ORDER_CREATED:
        if stored is not None:
            return False, f"already imported as {stored.import_id}"
        return True, ""
    if scope == ORDER_UPDATED:
        if stored is not None:
            return (
                False,
                "changes made in BigCommerce after import are ignored (a status reset comes as statusUpdated)",
            )
        return True, ""
    if change is None:
        return True, ""
    if change.new == new_order_status_id:
        return True, ""
    if stored is not None:
        return False, f"status changed in BigCommerce to {change.new} after import; not imported again"
    return (
        False,
        f"status {change.new} is not the new-order status {new_order_status_id}; imported when it gets there",
    )


def accept(
    payload: WebhookPayload,
    *,
    store_hash: str,
    intake_state_machine_arn: str,
    ledger: DeliveryLedger,
    starter: ExecutionStarter,
    orders: OrderRepository,
    settings: SettingsRepository,
    flows: FlowRepository,
    shipments: ShipmentRepository | None = None,
    bigcommerce: Callable[[], BigCommerceClient] | None = None,
) -> IntakeResult:
    if payload.scope not in HANDLED_SCOPES:
        return IntakeResult("ignored", reason=f"scope {payload.scope} starts no work")
    if payload.store_hash and payload.store_hash != store_hash:
        return IntakeResult(
            "ignored",
            reason=f"webhook for store '{payload.store_hash}'; this deployment serves '{store_hash}'",
        )
    if payload.scope == SHIPMENT_CREATED:
        # Shipments are imported when one comes: an order webhook (most of them, and the ones a flash
        # sale brings) does not load the shipping and fulfillment code in a cold container.
        from orderflow.store.shipments import ShipmentRepository

        return _accept_store_shipment(
            payload,
            store_hash,
            ledger=ledger,
            starter=starter,
            orders=orders,
            settings=settings,
            flows=flows,
            shipments=shipments or ShipmentRepository(orders.table_name),
            bigcommerce=bigcommerce,
        )
    if payload.scope == REFUND_CREATED:
        return _accept_store_refund(
            payload, store_hash, ledger=ledger, starter=starter, orders=orders, settings=settings,
            flows=flows, bigcommerce=bigcommerce,
        )  # fmt: skip
    order_id = payload.data.id
    key = order_key_for(store_hash, order_id)
    logger.set_correlation_id(key)
    trace_order(key)
    receipt = {"scope": payload.scope, "order_key": key, "created_at_store": payload.created_at}
    if not ledger.claim(payload.hash, event_key(payload), receipt):
        logger.info("duplicate webhook", extra={"order_key": key, "scope": payload.scope})
        return IntakeResult("duplicate", reason="this delivery was already accepted", order_key=key)
    # Claimed first: a redelivered echo of our own push must not be taken for a merchant's change.
    change = status_change(payload) if payload.scope == ORDER_STATUS_UPDATED else None
    recorded = False
    if payload.scope in (ORDER_CREATED, ORDER_UPDATED):
        # These start the intake of an order not stored yet: record it pending, or read what is
        # stored, in one request.
        stored = orders.record_pending_or_read(pending_order(store_hash, order_id))
        recorded = stored is None
    else:
        stored = orders.find_header(key)
    if change is not None and stored is not None and orders.recognise_echo(key, change.previous, change.new):
        logger.info("our own status change came back", extra={"order_key": key, "status": change.new})
        return IntakeResult("ignored", reason=f"status {change.new} was set by us", order_key=key)
    # Only a reported status change is judged against the settings: the other webhooks need no read.
    new_order_status_id = settings.bigcommerce().new_order_status_id if change is not None else None
    merchant_change = (
        change is not None
        and stored is not None
        and stored.is_imported
        and change.new not in (stored.external_status_id, new_order_status_id)
    )
    if merchant_change and change is not None and change.new in REFUND_STATUS_IDS:
        orders.note_store_status(key, change.new)
        return IntakeResult(
            "ignored",
            reason=f"status {change.new} is the store's own after a refund (refunds come as {REFUND_CREATED})",
            order_key=key,
        )
    if merchant_change and change is not None:
        # Learn the merchant's change, except a reset to the new-order status: the import step
        # compares that with what we knew before, to decide on a new revision.
        orders.note_store_status(key, change.new)
        return _emit_store_change(
            payload, key, change.new, ledger=ledger, starter=starter, orders=orders, flows=flows
        )
    start, why = triage(payload.scope, change, stored, new_order_status_id)
    if not start:
        logger.info("webhook starts no work", extra={"order_key": key, "scope": payload.scope})
        return IntakeResult("ignored", reason=why, order_key=key)
    if settings.bigcommerce().auto_sync == "stopped":
        return _held_while_stopped(store_hash, order_id, stored, recorded, orders)
    try:
        name, _ = start_intake(
            store_hash,
            order_id,
            payload.scope,
            payload.hash[:16],
            starter=starter,
            state_machine_arn=intake_state_machine_arn,
            orders=None if recorded else orders,
        )
    except Exception:
        logger.exception("could not start the order intake; releasing the delivery", extra={"order_key": key})
        ledger.release(payload.hash, event_key(payload))
        raise
    ledger.mark(payload.hash, executions=[name])
    logger.info("webhook accepted", extra={"order_key": key, "execution": name})
    return IntakeResult("accepted", order_key=key, executions=[name])


AUTO_SYNC_STOPPED = (
    "auto-sync is stopped: the order is recorded as pending import and is imported when auto-sync "
    "runs again (the next sweep after it is set to running)"
)


def _held_while_stopped(
    store_hash: str, order_id: int, stored: Order | None, recorded: bool, orders: OrderRepository
) -> IntakeResult:
    """Auto-sync stopped: nothing is imported by itself, and nothing is lost either. A new order is
    kept pending_import (the sweep starts its intake once auto-sync runs again); an imported order
    reset to the new-order status is found by the reconciliation, whose checkpoint waits meanwhile."""
    key = order_key_for(store_hash, order_id)
    if not recorded and stored is None:
        orders.record_pending(pending_order(store_hash, order_id))
    logger.info("auto-sync stopped: webhook recorded, intake not started", extra={"order_key": key})
    return IntakeResult("accepted", reason=AUTO_SYNC_STOPPED, order_key=key)


def _emit_store_change(
    payload: WebhookPayload,
    key: str,
    new_status_id: int,
    *,
    ledger: DeliveryLedger,
    starter: ExecutionStarter,
    orders: OrderRepository,
    flows: FlowRepository,
) -> IntakeResult:
    """A merchant changed an imported order's status in the store: ``order_cancelled`` (5, 6) or
    ``order_status_changed`` starts the flows that take it, once per delivery (named by its hash)."""
    event = store_status_event(new_status_id)
    try:
        emission = emit(
            event,
            key,
            orders=orders,
            flows=flows,
            starter=starter,
            occurrence=payload.hash,
            trigger=payload.scope,
        )
    except Exception:
        logger.exception(
            "could not start the flows of a store event; releasing the delivery", extra={"order_key": key}
        )
        ledger.release(payload.hash, event_key(payload))
        raise
    ledger.mark(payload.hash, executions=emission.executions)
    logger.info(
        "store status change", extra={"order_key": key, "event": event.value, "status": new_status_id}
    )
    if not emission.executions:
        return IntakeResult("ignored", reason=emission.describe(), order_key=key)
    return IntakeResult("accepted", reason=emission.describe(), order_key=key, executions=emission.executions)


def _accept_store_shipment(
    payload: WebhookPayload,
    store_hash: str,
    *,
    ledger: DeliveryLedger,
    starter: ExecutionStarter,
    orders: OrderRepository,
    settings: SettingsRepository,
    flows: FlowRepository,
    shipments: ShipmentRepository,
    bigcommerce: Callable[[], BigCommerceClient] | None,
) -> IntakeResult:
    """A shipment created in the store: one made by hand in the control panel is recorded once (its
    quantities, the order's status, ``order_shipped`` / ``order_partially_shipped``); one we created
    comes back here too and is recognised (shipments.record_store_shipment). Only the store being
    unreachable, or the flows not starting, answers 5xx (the claim released for BigCommerce's retry)."""
    order_id = payload.data.order_id
    if order_id is None:
        return IntakeResult("ignored", reason="the shipment webhook does not name its order (data.orderId)")
    key = order_key_for(store_hash, order_id)
    logger.set_correlation_id(key)
    receipt = {
        "scope": payload.scope,
        "order_key": key,
        "bigcommerce_shipment_id": payload.data.id,
        "created_at_store": payload.created_at,
    }
    if not ledger.claim(payload.hash, event_key(payload), receipt):
        logger.info("duplicate webhook", extra={"order_key": key, "scope": payload.scope})
        return IntakeResult("duplicate", reason="this delivery was already accepted", order_key=key)
    started: list[str] = []
    start_flows = emitter(key, orders=orders, flows=flows, starter=starter, trigger=payload.scope)

    def emit_and_keep(event: str, occurrence: str) -> list[str]:
        executions = start_flows(event, occurrence)
        started.extend(executions)
        return executions

    try:
        if bigcommerce is None:
            raise ConfigurationError(
                "shipment webhooks need the BigCommerce client (BIGCOMMERCE_ACCESS_TOKEN)"
            )
        from orderflow.shipments.shipping import record_store_shipment

        outcome = record_store_shipment(
            key,
            order_id,
            payload.data.id,
            orders=orders,
            shipments=shipments,
            config=settings.bigcommerce,
            bigcommerce=bigcommerce,
            emit=emit_and_keep,
        )
    except DomainError as exc:
        logger.warning(
            "a store shipment could not be handled; releasing the delivery",
            extra={"order_key": key, "reason": exc.message},
        )
        ledger.release(payload.hash, event_key(payload))
        raise
    except Exception:
        logger.exception(
            "a store shipment could not be handled; releasing the delivery", extra={"order_key": key}
        )
        ledger.release(payload.hash, event_key(payload))
        raise
    if started:
        ledger.mark(payload.hash, executions=started)
    logger.info(
        "store shipment webhook",
        extra={"order_key": key, "bigcommerce_shipment_id": payload.data.id, "outcome": outcome.status},
    )
    if outcome.status == "recorded":
        return IntakeResult("accepted", reason=outcome.reason, order_key=key, executions=started)
    if outcome.status == "duplicate":
        return IntakeResult("duplicate", reason=outcome.reason, order_key=key, executions=started)
    return IntakeResult("ignored", reason=outcome.reason, order_key=key)


def _accept_store_refund(
    payload: WebhookPayload,
    store_hash: str,
    *,
    ledger: DeliveryLedger,
    starter: ExecutionStarter,
    orders: OrderRepository,
    settings: SettingsRepository,
    flows: FlowRepository,
    bigcommerce: Callable[[], BigCommerceClient] | None,
) -> IntakeResult:
    """A refund made in the store: one of our refund steps' is recognised; one made in the control panel
    becomes a return record (returns/store_refunds.py). Only the store being unreachable, or the flows
    not starting, answers 5xx (the claim released for BigCommerce's retry)."""
    refund_id = refund_id_of(payload)
    if refund_id is None:
        return IntakeResult(
            "ignored", reason="the refund webhook does not name its refund (data.refund.refund_id)"
        )
    order_id = payload.data.id
    key = order_key_for(store_hash, order_id)
    logger.set_correlation_id(key)
    receipt = {
        "scope": payload.scope,
        "order_key": key,
        "refund_id": refund_id,
        "created_at_store": payload.created_at,
    }
    if not ledger.claim(payload.hash, event_key(payload), receipt):
        logger.info("duplicate webhook", extra={"order_key": key, "scope": payload.scope})
        return IntakeResult("duplicate", reason="this delivery was already accepted", order_key=key)
    from orderflow.returns.flows import return_flow_starter
    from orderflow.returns.store_refunds import record_store_refund
    from orderflow.store.returns import ReturnRepository

    try:
        if bigcommerce is None:
            raise ConfigurationError("refund webhooks need the BigCommerce client (BIGCOMMERCE_ACCESS_TOKEN)")
        outcome = record_store_refund(
            key,
            order_id,
            refund_id,
            orders=orders,
            returns=ReturnRepository(orders.table_name),
            settings=settings.bigcommerce,
            bigcommerce=bigcommerce,
            start_flows=return_flow_starter(orders, flows, starter, trigger=payload.scope),
        )
    except Exception:
        logger.exception(
            "a store refund could not be handled; releasing the delivery", extra={"order_key": key}
        )
        ledger.release(payload.hash, event_key(payload))
        raise
    if outcome.executions:
        ledger.mark(payload.hash, executions=outcome.executions)
    logger.info(
        "store refund webhook", extra={"order_key": key, "refund_id": refund_id, "outcome": outcome.status}
    )
    status: Literal["accepted", "duplicate", "ignored"] = (
        "accepted"
        if outcome.status == "recorded"
        else "duplicate"
        if outcome.status == "duplicate"
        else "ignored"
    )
    return IntakeResult(status, reason=outcome.reason, order_key=key, executions=outcome.executions)
