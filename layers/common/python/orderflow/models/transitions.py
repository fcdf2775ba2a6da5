"""The order status state machine: which status may follow which (pure; enforced by
``OrderRepository.transition``), and the shipping state of a line, derived from its quantities.

Before it: pending_import (accepted, the store not read yet) and import_failed (the store refused it).
The happy path is new → validated → sourced → in fulfillment → partially shipped → shipped →
invoiced → completed; on hold and error are detours an order comes back from; cancelled and
refunded are final. After shipping, refunds move it to partially refunded, then refunded. A re-import (the store's status reset to the new-order status) is not a
transition: it starts a new revision of the order at ``new`` (see orders/importing.py), its history kept.
"""

from __future__ import annotations

from enum import StrEnum

from orderflow.errors import Conflict
from orderflow.models.order import OrderLine, OrderStatus

S = OrderStatus

# Shipping is what the warehouse did, not what the flow decided, so a shipment moves any order that
# is not invoiced, completed or cancelled (shipments/shipping.py), held and failed ones included.
_SHIPPING = {S.PARTIALLY_SHIPPED, S.SHIPPED}
# Detours: a step may hold an order for review or mark it failed; both stop before it ships.
_DETOURS = {S.ON_HOLD, S.ERROR, S.CANCELLED}
# Money going back (returns/refunds.py, or a refund made in the store) once goods have shipped.
_REFUNDS = {S.PARTIALLY_REFUNDED, S.REFUNDED}

ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # Accepted, not imported yet: an import makes it new (or error, when values have no mapping).
    S.PENDING_IMPORT: frozenset({S.NEW, S.ERROR, S.IMPORT_FAILED}),
    S.IMPORT_FAILED: frozenset({S.PENDING_IMPORT, S.NEW, S.ERROR}),
    S.NEW: frozenset({S.VALIDATED, S.SOURCED, S.IN_FULFILLMENT, *_SHIPPING, *_DETOURS}),
    S.VALIDATED: frozenset({S.SOURCED, S.IN_FULFILLMENT, *_SHIPPING, *_DETOURS}),
    S.SOURCED: frozenset({S.IN_FULFILLMENT, *_SHIPPING, *_DETOURS}),
    S.IN_FULFILLMENT: frozenset({*_SHIPPING, *_DETOURS}),
    # Held or failed orders go back to where the flow (or a resubmit) takes them next: a resubmit
    # returns a held order to the status it had before the hold, a failed import to new.
    S.ON_HOLD: frozenset({S.NEW, S.VALIDATED, S.SOURCED, S.IN_FULFILLMENT, *_SHIPPING, S.ERROR, S.CANCELLED}),
    S.ERROR: frozenset({S.NEW, S.VALIDATED, S.SOURCED, S.IN_FULFILLMENT, *_SHIPPING, S.ON_HOLD, S.CANCELLED}),
    # Part of it left the warehouse: it can still be held or fail (the rest), not be cancelled whole.
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.INVOICED, S.ON_HOLD, S.ERROR, *_REFUNDS}),
    S.SHIPPED: frozenset({S.INVOICED, S.COMPLETED, *_REFUNDS}),
    S.INVOICED: frozenset({S.COMPLETED, *_REFUNDS}),
    # A refund may follow completion (a return weeks later): the order's money moves, not its goods.
    S.COMPLETED: frozenset(_REFUNDS),
    S.CANCELLED: frozenset(),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED, S.SHIPPED, S.COMPLETED}),
    S.REFUNDED: frozenset(),
}


class IllegalTransition(Conflict):
    """A status change the state machine does not allow; refused, the order left as it was."""

    code = "illegal_transition"

    def __init__(self, order_key: str, current: OrderStatus, target: OrderStatus) -> None:
        allowed = ", ".join(sorted(s.value for s in ORDER_TRANSITIONS[current])) or "none (final)"
        super().__init__(
            f"order {order_key} cannot go from {current.value} to {target.value}; from {current.value} it may "
            f"go to: {allowed}",
            field="status",
        )
        self.order_key = order_key
        self.current = current
        self.target = target


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when ``target`` may follow ``current``; the same status again is always allowed (a no-op)."""
    return current == target or target in ORDER_TRANSITIONS[current]


def check_transition(order_key: str, current: OrderStatus, target: OrderStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(order_key, current, target)


def is_final(status: OrderStatus) -> bool:
    """No flow moves the order any more: only money may still go back (a refund after completion)."""
    return not (ORDER_TRANSITIONS[status] - _REFUNDS)


class LineStatus(StrEnum):
    """A line's shipping state. Derived from ``quantity_shipped`` rather than stored, so that it can
    never disagree with the quantities the shipments recorded."""

    OPEN = "open"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"


def line_status(line: OrderLine) -> LineStatus:
    if line.quantity_shipped <= 0:
        return LineStatus.OPEN
    if line.quantity_shipped >= line.quantity:
        return LineStatus.SHIPPED
    return LineStatus.PARTIALLY_SHIPPED
