"""The return's rules that need no AWS: its state machine, what a return policy reads, what a refund covers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderflow.errors import Conflict
from orderflow.models.order import Order
from orderflow.models.policy import parse_policy
from orderflow.models.returns import Return, ReturnLine, ReturnStatus, return_document
from orderflow.policies.evaluate import check_execution_policies, decide_filters
from orderflow.returns.refunds import to_refund

R = ReturnStatus


def _return(**changes: object) -> Return:
    fields: dict[str, object] = {
        "return_id": "BC-250-R1",
        "order_key": "BC-test-250",
        "lines": [
            ReturnLine(line_number=1, sku="ABS", quantity=1, reason="damaged", unit_price=Decimal("30.00")),
            ReturnLine(line_number=2, sku="SCW", quantity=2, reason="unwanted", unit_price=Decimal("20.00")),
        ],
        "requested_at": "2026-12-03T10:00:00.000Z",
        "shipped_at": "2026-11-01T09:00:00.000Z",
    }
    fields.update(changes)
    return Return.model_validate(fields)


def test_a_return_moves_along_its_state_machine_and_refuses_what_does_not_follow() -> None:
    ret = _return()
    moved = ret.moved(R.AUTHORISED, "validated", "2026-12-03T10:01:00.000Z").moved(R.RECEIVED, "in", "t")
    assert [h.status for h in moved.history] == [R.AUTHORISED, R.RECEIVED]
    with pytest.raises(Conflict, match="cannot go from received to in_transit"):
        moved.moved(R.IN_TRANSIT, "late label", "t")
    with pytest.raises(Conflict, match="from closed it may go to: none"):
        ret.model_copy(update={"status": R.CLOSED}).moved(R.REFUNDED, "x", "t")


def test_a_return_policy_reads_reason_value_and_days_since_shipment() -> None:
    document = return_document(_return())
    assert (document["reason"], document["value"], document["quantity"]) == ("damaged", "70.00", 3)
    assert document["days_since_shipment"] == 32
    window = parse_policy({"name": "Window", "kind": "execution", "applies_to": "return",
                           "criticality": "critical",
                           "rules": [{"field": "days_since_shipment", "operator": "<=", "value": 30}]})  # fmt: skip
    order = Order(order_key="BC-test-250", store_hash="test", external_id=250, import_id="BC-250")
    check = check_execution_policies([window], order, None, document)
    assert check.critical == ["execution policy 'Window' (critical): days_since_shipment <= 30 does not hold"]
    # an order flow has no return: a return policy does not apply there
    reasons = decide_filters(
        [parse_policy({**window.model_dump(), "kind": "filter", "criticality": None})], order
    )
    assert not reasons.applies and "applies to returns only" in reasons.reasons[0]


def test_a_return_policy_names_its_unknown_fields() -> None:
    with pytest.raises(Exception, match="unknown field 'colour' for a return policy"):
        parse_policy({"name": "x", "kind": "filter", "applies_to": "return",
                      "rules": [{"field": "colour", "operator": "equals", "value": "red"}]})  # fmt: skip


def test_a_refund_covers_what_arrived_once_received_and_never_what_was_refunded() -> None:
    requested = _return(status=R.AUTHORISED)
    assert to_refund(requested) == {1: 1, 2: 2}
    lines = [
        requested.lines[0].model_copy(update={"quantity_received": 1, "quantity_refunded": 1}),
        requested.lines[1].model_copy(update={"quantity_received": 1}),
    ]
    assert to_refund(requested.model_copy(update={"status": R.RECEIVED, "lines": lines})) == {2: 1}
