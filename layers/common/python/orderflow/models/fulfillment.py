"""Fulfillment sources, inventory, and the fulfillment orders sourcing produces (one per source)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", populate_by_name=True)


class GeoPoint(_Model):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


class SourceAddress(_Model):
    street_1: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country_iso2: Annotated[str, Field(max_length=2)] = ""
    location: GeoPoint | None = None


class FulfillmentSource(_Model):
    """A warehouse, store or 3PL that ships orders."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: str = "warehouse"  # warehouse | store | 3pl
    address: SourceAddress = Field(default_factory=SourceAddress)
    priority: int = 100  # lower ships first when all else is equal
    active: bool = True
    accepts_returns: bool = True  # where a return may go back to (assign_return_source)
    max_lines_per_day: Annotated[int, Field(ge=1)] | None = None
    created_at: str = ""
    updated_at: str = ""


class InventoryLevel(_Model):
    """Stock of one product at one source. ``available = on_hand - reserved``; never negative."""

    source_id: str
    product: str  # the internal product (what the products mapping resolves a SKU to)
    on_hand: Annotated[int, Field(ge=0)] = 0
    reserved: Annotated[int, Field(ge=0)] = 0
    updated_at: str = ""

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved)


class FulfillmentOrderStatus(StrEnum):
    CREATED = "created"  # sourced, inventory reserved
    SENT = "sent"  # accepted by the fulfillment provider
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the provider refused it for good


class FulfillmentOrderLine(_Model):
    line_number: int  # the order line it fulfills (OrderLine.line_number)
    sku: str = ""
    product: str | None = None
    quantity: int
    quantity_shipped: int = 0


class FulfillmentOrder(_Model):
    """What one source ships of one order. Stored in the order's partition (``FO#<id>``)."""

    id: str  # e.g. "<order key>-FO1"
    order_key: str
    source_id: str
    status: FulfillmentOrderStatus = FulfillmentOrderStatus.CREATED
    lines: list[FulfillmentOrderLine] = Field(default_factory=list)
    distance_km: float | None = None
    provider: str = ""  # which provider it was sent to ("https", "sqs")
    provider_reference: str = ""
    tracking_number: str = ""
    carrier: str = ""
    created_at: str = ""
    updated_at: str = ""


class BackorderedLine(_Model):
    line_number: int
    sku: str = ""
    quantity: int
    reason: str


class Objective(StrEnum):
    """What Send to DOM minimises, in the order the merchant ranks them."""

    UNSOURCED = "unsourced"  # quantity left unsourced
    SHIPMENTS = "shipments"  # sources used (one shipment each)
    DISTANCE = "distance"  # unit-kilometres from source to ship-to
    PRIORITY = "priority"  # the sources' priority, lower first


class DomSettings(_Model):
    """A send_to_dom step's ``params``: the strategy and its constraints.

    Inactive sources are always excluded (hard). ``ship_complete``, ``max_distance_km`` and
    ``max_sources`` are soft: when they leave quantity unsourced that relaxing them would source,
    and ``relax`` allows it, they are relaxed (distance, then sources, then ship complete) and the
    step result says which.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid")

    objectives: list[Objective] = Field(
        default_factory=lambda: [
            Objective.UNSOURCED,
            Objective.SHIPMENTS,
            Objective.DISTANCE,
            Objective.PRIORITY,
        ]
    )
    ship_complete: bool = False  # a line ships whole from one source, never split
    max_distance_km: Annotated[float, Field(gt=0)] | None = None
    max_sources: Annotated[int, Field(ge=1)] | None = None
    relax: bool = True


class Invoice(_Model):
    """An invoice for an order (``send_to_invoice``), from the order's own totals and tax."""

    number: str
    order_key: str
    currency: str = ""
    lines: list[dict[str, object]] = Field(default_factory=list)
    subtotal_ex_tax: Decimal = Decimal("0")
    total_tax: Decimal = Decimal("0")
    total_inc_tax: Decimal = Decimal("0")
    created_at: str = ""
    sent_at: str | None = None
