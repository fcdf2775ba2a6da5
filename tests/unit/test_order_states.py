"""The order status state machine and the line shipping state (pure)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from orderflow.errors import Conflict
from orderflow.models.order import OrderLine, OrderStatus
from orderflow.models.transitions import (
    ORDER_TRANSITIONS,
    IllegalTransition,
    LineStatus,
    can_transition,
    check_transition,
    is_final,
    line_status,
)

S = OrderStatus

HAPPY_PATH = [
    S.NEW,
    S.VALIDATED,
    S.SOURCED,
    S.IN_FULFILLMENT,
    S.PARTIALLY_SHIPPED,
    S.SHIPPED,
    S.INVOICED,
    S.COMPLETED,
]

# What the code performs today: the import, the flows' update_order_status, shipments, resubmits.
PERFORMED = [
    (S.NEW, S.ERROR),  # import: values without a mapping
    (S.NEW, S.VALIDATED),  # default flow: released
    (S.NEW, S.ON_HOLD),  # default flow: held for review
    (S.ON_HOLD, S.VALIDATED),  # an operator's fix, then a resubmit
    (S.ERROR, S.VALIDATED),  # a failed import resubmitted, then its flow
    (S.ERROR, S.ON_HOLD),
    (S.NEW, S.PARTIALLY_SHIPPED),  # shipments move any order not invoiced, completed or cancelled
    (S.VALIDATED, S.SHIPPED),
    (S.ON_HOLD, S.PARTIALLY_SHIPPED),
    (S.PARTIALLY_SHIPPED, S.SHIPPED),
]


def test_every_status_has_its_transitions() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(("current", "target"), list(pairwise(HAPPY_PATH)))
def test_the_happy_path_is_allowed(current: OrderStatus, target: OrderStatus) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), PERFORMED)
def test_what_the_code_performs_is_allowed(current: OrderStatus, target: OrderStatus) -> None:
    check_transition("BC-test-1", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.SHIPPED, S.VALIDATED),  # shipped goods are not validated again
        (S.SHIPPED, S.CANCELLED),
        (S.PARTIALLY_SHIPPED, S.CANCELLED),
        (S.COMPLETED, S.NEW),
        (S.CANCELLED, S.VALIDATED),
        (S.INVOICED, S.ON_HOLD),
        (S.VALIDATED, S.NEW),  # only a re-import starts again at new, as a new revision
    ],
)
def test_illegal_transitions_are_refused_naming_both_statuses(
    current: OrderStatus, target: OrderStatus
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as refused:
        check_transition("BC-test-1", current, target)

    assert isinstance(refused.value, Conflict) and refused.value.status == 409
    assert f"from {current.value} to {target.value}" in refused.value.message


def test_the_same_status_again_is_allowed_as_a_no_op() -> None:
    assert all(can_transition(status, status) for status in OrderStatus)


def test_completed_and_cancelled_are_final() -> None:
    assert {s for s in OrderStatus if is_final(s)} == {S.COMPLETED, S.CANCELLED, S.REFUNDED}
    with pytest.raises(IllegalTransition, match="none \\(final\\)"):
        check_transition("BC-test-1", S.CANCELLED, S.VALIDATED)


def test_every_status_can_be_reached_from_an_accepted_order() -> None:
    reached, pending = {S.PENDING_IMPORT}, [S.PENDING_IMPORT]
    while pending:
        for target in ORDER_TRANSITIONS[pending.pop()]:
            if target not in reached:
                reached.add(target)
                pending.append(target)

    assert reached == set(OrderStatus)


@pytest.mark.parametrize(
    ("shipped", "expected"),
    [(0, LineStatus.OPEN), (1, LineStatus.PARTIALLY_SHIPPED), (3, LineStatus.SHIPPED)],
)
def test_a_line_status_follows_its_shipped_quantity(shipped: int, expected: LineStatus) -> None:
    line = OrderLine(line_number=1, external_id=1, quantity=3, quantity_shipped=shipped)

    assert line_status(line) == expected
