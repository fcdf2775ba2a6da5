"""Returns (RMAs): what a merchant asks back or the store refunded, the state machine a return moves
through, and the callbacks a returns provider sends."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orderflow.errors import Conflict

# One transaction writes the return, its pointer and one update per item of lines (100 lines each):
# a return may name up to this many lines.
MAX_RETURN_LINES = 98
RETURN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Resolution = Literal["refund", "exchange", "store_credit"]
ReceivedCondition = Literal["sellable", "damaged"]
# merchant: POST /orders/{key}/returns · store: a refund made in the store's control panel
ReturnOrigin = Literal["merchant", "store"]


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    AUTHORISED = "authorised"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CLOSED = "closed"


R = ReturnStatus
# A refund may come before the goods do (a merchant who refunds on the label), so authorised and in
# transit may go straight to refunded; a store refund is recorded refunded from the start.
RETURN_TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    R.REQUESTED: frozenset({R.AUTHORISED, R.REJECTED, R.CLOSED}),
    R.AUTHORISED: frozenset({R.IN_TRANSIT, R.RECEIVED, R.REFUNDED, R.REJECTED, R.CLOSED}),
    R.IN_TRANSIT: frozenset({R.RECEIVED, R.REFUNDED, R.REJECTED, R.CLOSED}),
    R.RECEIVED: frozenset({R.REFUNDED, R.CLOSED}),
    R.REFUNDED: frozenset({R.CLOSED}),
    R.REJECTED: frozenset({R.CLOSED}),
    R.CLOSED: frozenset(),
}


class IllegalReturnTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, return_id: str, current: ReturnStatus, target: ReturnStatus) -> None:
        allowed = ", ".join(sorted(s.value for s in RETURN_TRANSITIONS[current])) or "none (final)"
        super().__init__(
            f"return {return_id} cannot go from {current.value} to {target.value}; from {current.value} it "
            f"may go to: {allowed}",
            field="status",
        )


def check_return_transition(return_id: str, current: ReturnStatus, target: ReturnStatus) -> None:
    if current != target and target not in RETURN_TRANSITIONS[current]:
        raise IllegalReturnTransition(return_id, current, target)


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")


Reason = Annotated[str, Field(min_length=1, max_length=200)]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]


class LineRef(_Strict):
    """A line of the order, by number or by SKU (the SKU must name one line)."""

    line_number: Annotated[int, Field(ge=0, strict=True)] | None = None
    sku: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> LineRef:
        if (self.line_number is None) == (self.sku is None):
            raise ValueError("give line_number or sku (one of them)")
        return self


class ReturnLineRequest(LineRef):
    quantity: Quantity
    reason: Reason
    condition: Annotated[str, Field(min_length=1, max_length=80)] | None = None


class ReturnRequest(_Strict):
    """``POST /orders/{order_key}/returns``."""

    return_id: Annotated[str, Field(pattern=RETURN_ID_PATTERN)] | None = None
    lines: list[ReturnLineRequest] = Field(min_length=1, max_length=MAX_RETURN_LINES)
    resolution: Resolution = "refund"
    note: Annotated[str, Field(max_length=1000)] = ""


class ReceivedLine(LineRef):
    quantity: Quantity
    condition: ReceivedCondition = "sellable"


class ReturnEventRequest(_Strict):
    """``POST /returns/{return_id}/events``: the returns provider's callback."""

    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    type: Literal["in_transit", "received", "rejected"]
    lines: list[ReceivedLine] = Field(default_factory=list, max_length=MAX_RETURN_LINES)
    source_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    tracking_number: Annotated[str, Field(max_length=200)] = ""
    message: Annotated[str, Field(max_length=1000)] = ""

    @model_validator(mode="after")
    def _received_has_lines(self) -> ReturnEventRequest:
        if self.type == "received" and not self.lines:
            raise ValueError("a 'received' event lists the lines received (lines: at least one)")
        return self


class ReturnLine(_Model):
    line_number: int
    sku: str = ""
    order_product_id: int = 0  # BigCommerce's order product id (OrderLine.external_id)
    order_address_id: int | None = None
    quantity: int
    reason: str = ""
    condition: str | None = None
    unit_price: Decimal = Decimal("0")  # what the customer paid for one, tax included
    quantity_received: int = 0
    quantity_restocked: int = 0
    quantity_damaged: int = 0
    quantity_refunded: int = 0

    @property
    def value(self) -> Decimal:
        return self.unit_price * self.quantity


class ReturnHold(_Model):
    step: str
    flow: str = ""
    message: str
    at: str


class RefundRecord(_Model):
    """A refund of the return in the store. ``sending``: POSTed and its answer not known yet, so it is
    looked for in the store (by ``marker`` in its reason) before anything is sent again."""

    state: Literal["sending", "created"]
    marker: str
    items: list[dict[str, Any]] = Field(default_factory=list)
    payments: list[dict[str, Any]] = Field(default_factory=list)
    amount: Decimal = Decimal("0")
    store_refund_id: int | None = None
    sent_at: str = ""


class ReturnStatusChange(_Model):
    status: ReturnStatus
    at: str
    reason: str = ""


class Return(_Model):
    return_id: str
    order_key: str
    store_hash: str = ""
    order_external_id: int = 0
    origin: ReturnOrigin = "merchant"
    status: ReturnStatus = ReturnStatus.REQUESTED
    resolution: Resolution = "refund"
    note: str = ""
    lines: list[ReturnLine]
    requested_at: str = ""
    shipped_at: str | None = None  # the order's last shipment before the request
    source_id: str | None = None  # where the goods go back (assign_return_source)
    provider: str = ""  # where the return request went (send_to_returns_provider)
    provider_reference: str = ""
    tracking_number: str = ""
    refund: RefundRecord | None = None
    hold: ReturnHold | None = None
    history: list[ReturnStatusChange] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)  # provider callbacks applied, by event id
    fingerprint: str = ""  # of the request that made it: the same request again is the same return
    created_at: str = ""
    updated_at: str = ""
    version: int = 1

    @property
    def value(self) -> Decimal:
        return sum((line.value for line in self.lines), Decimal("0"))

    def quantities(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for line in self.lines:
            counts[line.line_number] = counts.get(line.line_number, 0) + line.quantity
        return counts

    def moved(self, status: ReturnStatus, reason: str, at: str) -> Return:
        """This return in ``status`` (checked against the state machine), its history noting why."""
        check_return_transition(self.return_id, self.status, status)
        if status == self.status:
            return self
        change = ReturnStatusChange(status=status, at=at, reason=reason)
        return self.model_copy(update={"status": status, "history": [*self.history, change]})


def _days_between(start: str | None, end: str) -> int | None:
    if not start or not end:
        return None
    try:
        first = datetime.fromisoformat(start.replace("Z", "+00:00"))
        last = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (last - first).days


def return_document(ret: Return) -> dict[str, Any]:
    """The JSON a return policy reads (models/policy.py RETURN_FIELDS): the return with its derived
    values. ``days_since_shipment`` counts from the order's last shipment to the request."""
    document = ret.model_dump(mode="json")
    reasons = [line.reason for line in ret.lines]
    conditions = [line.condition for line in ret.lines if line.condition]
    document.update(
        reason=reasons[0] if reasons else None,
        reasons=reasons,
        condition=conditions[0] if conditions else None,
        value=str(ret.value),
        quantity=sum(line.quantity for line in ret.lines),
        days_since_shipment=_days_between(ret.shipped_at, ret.requested_at),
    )
    return document
