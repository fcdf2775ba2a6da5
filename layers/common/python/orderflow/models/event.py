"""The events that start flows: one catalogue, the names flows and steps may use."""

from __future__ import annotations

from enum import StrEnum


class OrderEvent(StrEnum):
    """What can start a flow (a flow's ``input_events``) or let a step run (a step's ``input_events``)."""

    NEW_ORDER = "new_order"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_STATUS_CHANGED = "order_status_changed"
    ORDER_SHIPPED = "order_shipped"
    ORDER_PARTIALLY_SHIPPED = "order_partially_shipped"
    FULFILLMENT_FAILED = "fulfillment_failed"
    # Returns (return_orchestration flows): each carries the return it is about.
    RETURN_REQUESTED = "return_requested"
    RETURN_RECEIVED = "return_received"
    RETURN_REFUNDED = "return_refunded"


EVENT_DESCRIPTIONS: dict[OrderEvent, str] = {
    OrderEvent.NEW_ORDER: "an order was imported (webhook, sync, reconciliation, a re-import's new revision)",
    OrderEvent.ORDER_CANCELLED: "the merchant cancelled or declined the order in BigCommerce (status 5 or 6)",
    OrderEvent.ORDER_STATUS_CHANGED: "the merchant changed the order's status in BigCommerce (any other status)",
    OrderEvent.ORDER_SHIPPED: "a shipment completed the order (ours, a provider's, or one made in the store)",
    OrderEvent.ORDER_PARTIALLY_SHIPPED: "a shipment shipped part of the order",
    OrderEvent.FULFILLMENT_FAILED: "a fulfillment provider refused or cancelled a fulfillment order",
    OrderEvent.RETURN_REQUESTED: "a return was requested (POST /orders/{order_key}/returns)",
    OrderEvent.RETURN_RECEIVED: "the returns provider received a return's goods (POST /returns/{return_id}/events)",
    OrderEvent.RETURN_REFUNDED: "a return was refunded: by a refund step, or in the store's control panel",
}

RETURN_EVENTS = frozenset(
    {OrderEvent.RETURN_REQUESTED.value, OrderEvent.RETURN_RECEIVED.value, OrderEvent.RETURN_REFUNDED.value}
)

EVENTS: tuple[str, ...] = tuple(e.value for e in OrderEvent)

# BigCommerce statuses a merchant's change to which is a cancellation: 5 Cancelled, 6 Declined.
CANCELLING_STORE_STATUSES = frozenset({5, 6})


def is_known(event: str) -> bool:
    return event in EVENTS


def store_status_event(new_status_id: int) -> OrderEvent:
    """The event a merchant's status change in the store is."""
    if new_status_id in CANCELLING_STORE_STATUSES:
        return OrderEvent.ORDER_CANCELLED
    return OrderEvent.ORDER_STATUS_CHANGED
