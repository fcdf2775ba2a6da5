"""BigCommerce's system order statuses (GET /v2/order_statuses); ids are stable, labels can be relabelled."""

from __future__ import annotations

ORDER_STATUSES: dict[int, str] = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}


def status_name(status_id: int) -> str:
    """The system name of a status id; an id BigCommerce may add later still gets a readable label."""
    return ORDER_STATUSES.get(status_id, f"status {status_id}")
