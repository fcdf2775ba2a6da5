"""A shipment of an order: its lines, and the groups it is sent to BigCommerce in."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orderflow.models.order import OrderStatus

# DynamoDB takes at most 100 actions per transaction: the shipment itself and one per line.
MAX_LINES_PER_SHIPMENT = 99

ShipmentStatus = Literal["pending", "created", "partially_created", "failed"]

# pending: not sent yet · sent: POSTed, BigCommerce's answer not known · created · refused: BigCommerce
# said no · not_sent: given up because another part of the shipment was refused
GroupState = Literal["pending", "sent", "created", "refused", "not_sent"]

HOLDING_STATES = ("pending", "sent", "created")  # the group's quantities count on the lines


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")


class ShipmentLine(_Model):
    line_number: int
    sku: str = ""
    quantity: int
    order_product_id: int  # BigCommerce's order product id (OrderLine.external_id)
    order_address_id: int  # BigCommerce's order address id (OrderLine.ship_to_external_id)


class BigCommerceShipment(_Model):
    """The part of a shipment going to one order address: one BigCommerce shipment."""

    order_address_id: int
    state: GroupState = "pending"
    id: int | None = None  # BigCommerce's shipment id, once it is known
    sent_at: str | None = None  # when it was last POSTed
    error: str = ""


class Shipment(_Model):
    id: str
    order_key: str
    status: ShipmentStatus = "pending"
    lines: list[ShipmentLine]
    tracking_number: str = ""
    carrier: str = ""
    tracking_link: str = ""
    comments: str = ""
    bigcommerce: list[BigCommerceShipment]
    error: str = ""
    # Made by hand in the store's control panel: recorded from its webhook, never posted by us.
    made_in_store: bool = False
    order_status: OrderStatus | None = None  # the order's status once this shipment was made
    status_message: str = ""
    status_pushed: bool = False
    event_emitted: str = ""  # the event this shipment started flows on (order_shipped, …), once
    request: dict[str, Any] = Field(default_factory=dict)  # as received, to recognise a repeat
    created_at: str = ""
    updated_at: str = ""
    version: int = 1

    def lines_to(self, order_address_id: int) -> list[ShipmentLine]:
        return [line for line in self.lines if line.order_address_id == order_address_id]

    def held(self) -> Counter[int]:
        """Quantities per line number that this shipment counts on the order's lines."""
        holding = {g.order_address_id for g in self.bigcommerce if g.state in HOLDING_STATES}
        counts: Counter[int] = Counter()
        for line in self.lines:
            if line.order_address_id in holding:
                counts[line.line_number] += line.quantity
        return counts

    def unconfirmed(self) -> Counter[int]:
        """Quantities per line number counted on the lines but not (yet) known to BigCommerce."""
        waiting = {g.order_address_id for g in self.bigcommerce if g.state in ("pending", "sent")}
        counts: Counter[int] = Counter()
        for line in self.lines:
            if line.order_address_id in waiting:
                counts[line.line_number] += line.quantity
        return counts
