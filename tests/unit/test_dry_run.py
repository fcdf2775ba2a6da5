"""The flow dry run: where a sample order's paths stop under the failure rule, and why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderflow.errors import InvalidInput, NotFound
from orderflow.flows.asl import generate_asl
from orderflow.flows.dry_run import (
    DryRun,
    dry_run,
    planned_return,
    return_fields,
    sample_event,
    sample_return,
)
from orderflow.flows.files import load_flow
from orderflow.models.flow import Flow, parse_flow
from orderflow.models.order import Address, BigCommerceSettings, Customer, Order, OrderLine, OrderStatus
from orderflow.models.policy import Policy, parse_policy
from orderflow.models.returns import Return, ReturnRequest
from tests.conftest import ROOT

BIGCOMMERCE_FILTER = "Filter Policy \u2013 BigCommerce"  # the product documentation's names, en dash and all
ORDERFUL_FILTER = "Filter Policy \u2013 Orderful"
HEADER_POLICY = "Order header Validation Policy"


def _policies() -> dict[str, Policy]:
    rule = {"field": "provider", "operator": "equals"}
    policies = [
        {"name": BIGCOMMERCE_FILTER, "kind": "filter", "rules": [{**rule, "value": "BigCommerce"}]},
        {"name": ORDERFUL_FILTER, "kind": "filter", "rules": [{**rule, "value": "Orderful"}]},
        {
            "name": HEADER_POLICY,
            "kind": "execution",
            "criticality": "critical",
            "rules": [
                {"field": "total", "operator": ">", "value": 0},
                {"field": "customer_email", "operator": "contains data"},
            ],
        },
    ]
    return {policy.name: policy for policy in map(parse_policy, policies)}


def _line(number: int, **extra: Any) -> OrderLine:
    values: dict[str, Any] = {
        "line_number": number,
        "external_id": 100 + number,
        "sku": f"SKU-{number}",
        "name": f"Product {number}",
        "quantity": 1,
        "unit_price": Decimal("50.0000"),
        "total_inc_tax": Decimal("50.0000"),
        "product": f"Product {number}",
        "unit": "Each",
    }
    return OrderLine(**{**values, **extra})


def _order(**extra: Any) -> Order:
    """A valid BigCommerce order awaiting fulfillment (store status 11)."""
    values: dict[str, Any] = {
        "order_key": "BC-abc123-250",
        "store_hash": "abc123",
        "external_id": 250,
        "import_id": "BC-250",
        "currency": "USD",
        "total_inc_tax": Decimal("100.0000"),
        "customer": Customer(external_id=11, email="jo@example.com", first_name="Jo"),
        "billing_address": Address(country_iso2="US"),
        "ship_to": [Address(country_iso2="US", state="Texas", zip="78701")],
        "lines": [_line(1), _line(2)],
        "external_status_id": 11,
    }
    return Order(**{**values, **extra})


# The three ways an order meets a validation step: it passes, the check itself fails (a business
# failure), or a critical execution policy does not hold before the check runs.
VALID = _order()
NO_SHIPPING_ADDRESS = _order(ship_to=[])
ZERO_TOTAL = _order(total_inc_tax=Decimal("0"))
FAILING = [
    pytest.param(NO_SHIPPING_ADDRESS, "the order has no shipping address", id="business failure"),
    pytest.param(
        ZERO_TOTAL, f"execution policy '{HEADER_POLICY}' (critical): total > 0", id="critical policy"
    ),
]


def _action(name: str, action: str = "validate_order_header", **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": action, **extra}


def _checked(name: str, *filters: str) -> dict[str, Any]:
    """The documentation's validation step: a header check behind the header policy."""
    return _action(name, filter_policies=list(filters), execution_policies=[HEADER_POLICY])


def _release(name: str = "Release", status: str = "validated") -> dict[str, Any]:
    return _action(name, "update_order_status", params={"status": status})


def _flow(*steps: dict[str, Any]) -> Flow:
    return parse_flow({"name": "Dry flow", "steps": list(steps)})


def _documentation_sample(*after: dict[str, Any]) -> Flow:
    return _flow(
        {
            "name": "Validation split",
            "element": "splitter_merge",
            "branches": [
                {"name": "Order Source 1", "steps": [_checked("Test validation 1", BIGCOMMERCE_FILTER)]},
                {"name": "Order Source 2", "steps": [_checked("Test validation 2", ORDERFUL_FILTER)]},
            ],
        },
        *after,
    )


def _run(flow: Flow, order: Order = VALID, event: str = "new_order", **settings: Any) -> DryRun:
    result = dry_run(flow, _policies(), order, BigCommerceSettings(**settings), event)
    states = _state_names(generate_asl(flow))
    for hold in result.holds:
        assert hold["hold"] in states, "a hold the dry run shows is a state of the generated machine"
    return result


def _state_names(machine: dict[str, Any]) -> set[str]:
    names = set(machine["States"])
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            names |= _state_names(branch)
    return names


def _walk(result: DryRun) -> list[tuple[str, str]]:
    return [(entry["step"], entry["outcome"]) for entry in result.steps]


def _entry(result: DryRun, step: str) -> dict[str, Any]:
    [found] = [entry for entry in result.steps if entry["step"] == step]
    return found


# -- actions in sequence ----------------------------------------------------------------------------


def test_a_flow_whose_steps_succeed_completes() -> None:
    # Given a validation followed by a release
    flow = _flow(_checked("Check header"), _release())

    # When a valid order is dry-run
    result = _run(flow)

    # Then both steps run, nothing stops, and the order is not held
    assert _walk(result) == [("Check header", "succeeded"), ("Release", "succeeded")]
    assert result.summary()["outcome"] == "completed" and result.summary()["failed_steps"] == []
    assert not any("stops" in entry for entry in result.steps)
    assert _entry(result, "Release")["message"] == (
        "would set status validated; would push BigCommerce status 9 Awaiting Shipment"
    )


@pytest.mark.parametrize(("order", "why"), FAILING)
def test_a_failed_step_ends_the_flow_on_hold_and_nothing_after_it_runs(order: Order, why: str) -> None:
    # Given a validation followed by a release (no condition tests the validation)
    flow = _flow(_checked("Check header"), _release())

    # When an order that fails the validation is dry-run
    result = _run(flow, order)

    # Then the validation stops the path, the order goes on hold naming it, and the release never runs
    assert _walk(result) == [("Check header", "failed"), ("On hold", "on_hold")]
    failed = _entry(result, "Check header")
    assert why in failed["message"] and failed["stops"] is True and "'On hold'" in failed["reason"]
    hold = _entry(result, "On hold")
    assert hold["kind"] == "hold" and hold["failed_step"] == "Check header"
    assert hold["bigcommerce_status_id"] == 12 and "12 Manual Verification Required" in hold["message"]
    assert why in hold["message"]
    assert result.summary() == {
        "event": "new_order",
        "outcome": "on_hold",
        "failed_steps": ["Check header"],
        "message": "the order would go on hold: 'Check header' failed",
        "holds": [{"hold": "On hold", "failed_step": "Check header", "held": True}],
    }


def test_a_skipped_step_is_not_a_failure_and_the_flow_goes_on() -> None:
    # Given a step behind the Orderful filter, then a release
    flow = _flow(_checked("Orderful only", ORDERFUL_FILTER), _release())

    # When a BigCommerce order is dry-run
    result = _run(flow)

    # Then the step is skipped (saying why) and the flow carries on
    assert _walk(result) == [("Orderful only", "skipped"), ("Release", "succeeded")]
    assert "provider equals Orderful does not hold" in _entry(result, "Orderful only")["message"]
    assert result.outcome == "completed"


def test_a_step_listing_input_events_runs_only_on_those() -> None:
    # Given a step that runs on shipments only, before a release
    flow = _flow(_action("Invoice", "send_to_invoice", input_events=["order_shipped"]), _release())

    # When the order is dry-run on new_order, then on order_shipped
    on_new_order = _run(flow)
    on_shipped = _run(flow, event="order_shipped")

    # Then it is skipped on new_order, saying why, and runs (assumed to succeed) on order_shipped
    assert _walk(on_new_order) == [("Invoice", "skipped"), ("Release", "succeeded")]
    assert _entry(on_new_order, "Invoice")["message"] == "this step runs on order_shipped, not on new_order"
    assert _walk(on_shipped) == [("Invoice", "succeeded"), ("Release", "succeeded")]
    assert "would send the invoice" in _entry(on_shipped, "Invoice")["message"]
    assert on_shipped.summary()["event"] == "order_shipped"


def test_steps_that_reach_other_systems_are_assumed_to_succeed_and_say_what_they_would_do() -> None:
    # Given the actions a dry run cannot run
    flow = _flow(
        _action("Source", "send_to_dom"),
        _action("Fulfil", "send_to_fulfillment"),
        _action("Notify", "custom", target="notify-erp"),
        _action("Cancel", "cancel_order"),
    )

    # When it is dry-run
    result = _run(flow)

    # Then each succeeds and says what it would do
    assert {outcome for _, outcome in _walk(result)} == {"succeeded"}
    assert "send the order to the DOM" in _entry(result, "Source")["message"]
    assert "would become in_fulfillment" in _entry(result, "Fulfil")["message"]
    assert "would call notify-erp" in _entry(result, "Notify")["message"]
    assert "assumed to succeed" in _entry(result, "Cancel")["message"]


def test_a_held_order_gets_the_store_status_the_mapping_gives_on_hold() -> None:
    # Given on_hold mapped to 13 Disputed, and then pushing turned off
    flow = _flow(_checked("Check header"))

    # When a failing order is dry-run under each setting
    mapped = _run(flow, ZERO_TOTAL, status_mapping={"on_hold": 13})
    unpushed = _run(flow, ZERO_TOTAL, push_enabled=False)

    # Then the hold names the mapped status, or says nothing would be pushed
    assert _entry(mapped, "On hold")["bigcommerce_status_id"] == 13
    assert "would push BigCommerce status 13 Disputed" in _entry(mapped, "On hold")["message"]
    assert "pushing to BigCommerce is off" in _entry(unpushed, "On hold")["message"]


def test_an_order_past_holding_fails_but_keeps_its_status() -> None:
    # Given a stored order that has shipped already
    flow = _flow(_checked("Check header"))

    # When it fails the flow's validation
    result = _run(flow, ZERO_TOTAL.model_copy(update={"status": OrderStatus.SHIPPED}))

    # Then the path still ends, but the order is not put on hold
    assert _walk(result) == [("Check header", "failed"), ("On hold", "not held")]
    assert "the order is shipped and would not be put on hold" in _entry(result, "On hold")["message"]
    assert result.outcome == "failed" and result.holds[0]["held"] is False


def test_the_hold_is_named_as_the_state_machine_names_it() -> None:
    # Given a merchant's step called "On hold", as the generated hold state would be
    flow = _flow(_checked("Check header"), _release("On hold", "on_hold"))

    # When a failing order is dry-run
    result = _run(flow, ZERO_TOTAL)

    # Then the hold is the state machine's renamed one (checked against its states in _run)
    assert _walk(result) == [("Check header", "failed"), ("On hold (2)", "on_hold")]


# -- condition and condition_merge ------------------------------------------------------------------


def _condition(element: str = "condition") -> Flow:
    steps = [
        _checked("Check header"),
        {"name": "Header ok?", "element": element, "yes": [_release()], "no": [_release("Hold", "on_hold")]},
    ]
    if element == "condition_merge":
        steps.append(_action("Lines", "validate_order_line"))
    return _flow(*steps)


@pytest.mark.parametrize("element", ["condition", "condition_merge"])
def test_a_condition_takes_yes_after_a_step_that_succeeded(element: str) -> None:
    # Given a validation tested by a condition (or condition-merge)
    flow = _condition(element)

    # When a valid order is dry-run
    result = _run(flow)

    # Then it takes "yes", saying which step it tested
    assert _walk(result)[:3] == [
        ("Check header", "succeeded"),
        ("Header ok?", "yes"),
        ("Release", "succeeded"),
    ]
    assert _entry(result, "Header ok?")["message"] == "the previous step 'Check header' succeeded"
    assert result.outcome == "completed"


@pytest.mark.parametrize("element", ["condition", "condition_merge"])
@pytest.mark.parametrize(("order", "why"), FAILING)
def test_a_condition_takes_no_after_a_failed_step_and_nothing_is_held(
    element: str, order: Order, why: str
) -> None:
    # Given a validation tested by a condition (or condition-merge)
    flow = _condition(element)

    # When an order that fails it is dry-run
    result = _run(flow, order)

    # Then the failure does not stop the path: the condition takes "no" (and a merge rejoins after it)
    expected = [("Check header", "failed"), ("Header ok?", "no"), ("Hold", "succeeded")]
    if element == "condition_merge":
        expected.append(("Lines", "succeeded"))
    assert _walk(result) == expected
    assert why in _entry(result, "Check header")["message"]
    assert "stops" not in _entry(result, "Check header")
    assert result.outcome == "completed"


def test_a_condition_takes_yes_after_a_skipped_step() -> None:
    # Given a step behind the Orderful filter, tested by a condition
    flow = _flow(
        _checked("Orderful check", ORDERFUL_FILTER),
        {"name": "Ok?", "element": "condition", "yes": [_release()], "no": [_release("Hold", "on_hold")]},
    )

    # When a BigCommerce order is dry-run
    result = _run(flow, ZERO_TOTAL)

    # Then a skipped step is not a failure
    assert _walk(result) == [("Orderful check", "skipped"), ("Ok?", "yes"), ("Release", "succeeded")]
    assert "skipped, which is not a failure" in _entry(result, "Ok?")["message"]


@pytest.mark.parametrize(("order", "why"), FAILING)
def test_a_step_failing_on_a_condition_path_holds_the_order(order: Order, why: str) -> None:
    # Given a condition whose "yes" path validates the header (nothing tests that one)
    flow = _flow(
        _action("Lines", "validate_order_line"),
        {
            "name": "Lines ok?",
            "element": "condition",
            "yes": [_checked("Check header"), _release()],
            "no": [],
        },
    )

    # When the lines pass but the header fails
    result = _run(flow, order)

    # Then the path ends on hold at the header check
    assert _walk(result) == [
        ("Lines", "succeeded"), ("Lines ok?", "yes"), ("Check header", "failed"), ("On hold", "on_hold")]  # fmt: skip
    assert result.summary()["failed_steps"] == ["Check header"]


@pytest.mark.parametrize("follower", ["action", "condition"])
def test_a_condition_merge_path_ending_in_a_failure_follows_the_step_after_the_merge(follower: str) -> None:
    # Given a condition-merge whose "yes" path ends with a header check, and after it an action or a condition
    after = (
        _release()
        if follower == "action"
        else {"name": "Header ok?", "element": "condition", "yes": [_release()], "no": []}
    )
    flow = _flow(
        _action("Lines", "validate_order_line"),
        {"name": "Lines ok?", "element": "condition_merge", "yes": [_checked("Check header")], "no": []},
        after,
    )

    # When the header fails
    result = _run(flow, ZERO_TOTAL)

    # Then a condition after the merge branches on it; otherwise the order is held there
    if follower == "condition":
        assert _walk(result)[2:] == [("Check header", "failed"), ("Header ok?", "no")]
        assert result.outcome == "completed"
    else:
        assert _walk(result)[2:] == [("Check header", "failed"), ("On hold", "on_hold")]
        assert result.outcome == "on_hold"


# -- splitter ---------------------------------------------------------------------------------------


def _splitter() -> Flow:
    return _flow(
        _action("Source", "send_to_dom"),
        {
            "name": "Per source",
            "element": "splitter",
            "branches": [
                {"name": "Order Source 1", "steps": [_checked("Test validation 1", BIGCOMMERCE_FILTER), _release()]},
                {"name": "Order Source 2", "steps": [_checked("Test validation 2", ORDERFUL_FILTER),
                                                     _release("Orderful release")]},
                {"name": "Lines", "steps": [_action("Check lines", "validate_order_line")]},
            ],
        },
    )  # fmt: skip


def test_splitter_branches_that_succeed_each_run_to_their_end() -> None:
    # Given a splitter with a branch per order source and one checking lines
    flow = _splitter()

    # When a valid BigCommerce order is dry-run
    result = _run(flow)

    # Then the BigCommerce branch runs, the Orderful branch is not taken, the lines branch runs
    assert _walk(result) == [
        ("Source", "succeeded"),
        ("Order Source 1", "runs"), ("Test validation 1", "succeeded"), ("Release", "succeeded"),
        ("Order Source 2", "not taken"), ("Test validation 2", "skipped"),
        ("Lines", "runs"), ("Check lines", "succeeded"),
    ]  # fmt: skip
    assert _entry(result, "Release")["branch"] == "Per source / Order Source 1"
    assert result.outcome == "completed"


def test_a_branch_whose_first_step_is_skipped_is_not_taken() -> None:
    # Given the same splitter
    flow = _splitter()

    # When a BigCommerce order meets the Orderful branch
    result = _run(flow)

    # Then its first step is skipped, the branch stops there, and the rest of it does not run
    skipped = _entry(result, "Test validation 2")
    assert skipped["stops"] is True and "does not go down this branch" in skipped["reason"]
    assert (
        "not taken: its first step 'Test validation 2' is skipped"
        in _entry(result, "Order Source 2")["message"]
    )
    assert "Orderful release" not in [step for step, _ in _walk(result)]


def test_a_branch_not_taken_on_its_event_is_skipped_saying_why() -> None:
    # Given a splitter branch that starts with a step for shipments only
    flow = _flow(
        _action("Source", "send_to_dom"),
        {"name": "Split", "element": "splitter", "branches": [
            {"name": "Shipped", "steps": [_action("Invoice", "send_to_invoice", input_events=["order_shipped"]),
                                          _release("Complete", "completed")]}]},
    )  # fmt: skip

    # When it is dry-run on new_order
    result = _run(flow)

    # Then the branch is not taken, and the step says which events it runs on
    assert _walk(result)[1:] == [("Shipped", "not taken"), ("Invoice", "skipped")]
    assert "runs on order_shipped, not on new_order" in _entry(result, "Invoice")["message"]


@pytest.mark.parametrize(("order", "why"), FAILING)
def test_a_failing_splitter_branch_holds_the_order_and_its_siblings_go_on(order: Order, why: str) -> None:
    # Given the splitter
    flow = _splitter()

    # When the BigCommerce branch's validation fails
    result = _run(flow, order)

    # Then that branch holds the order in its own hold state, and the lines branch runs all the same
    assert _walk(result) == [
        ("Source", "succeeded"),
        ("Order Source 1", "runs"), ("Test validation 1", "failed"), ("Order Source 1 (on hold)", "on_hold"),
        ("Order Source 2", "not taken"), ("Test validation 2", "skipped"),
        ("Lines", "runs"), ("Check lines", "succeeded"),
    ]  # fmt: skip
    hold = _entry(result, "Order Source 1 (on hold)")
    assert hold["branch"] == "Per source / Order Source 1" and why in hold["message"]
    assert result.holds == [
        {"hold": "Order Source 1 (on hold)", "failed_step": "Test validation 1", "held": True,
         "branch": "Per source / Order Source 1"}]  # fmt: skip
    assert result.outcome == "on_hold"


def test_each_failing_splitter_branch_holds_on_its_own() -> None:
    # Given the splitter
    flow = _splitter()

    # When both the header and the lines fail
    result = _run(flow, _order(total_inc_tax=Decimal("0"), lines=[_line(1, quantity=0)]))

    # Then both branches end on hold, each naming its failed step
    assert [(h["hold"], h["failed_step"]) for h in result.holds] == [
        ("Order Source 1 (on hold)", "Test validation 1"), ("Lines (on hold)", "Check lines")]  # fmt: skip
    assert result.summary()["failed_steps"] == ["Test validation 1", "Check lines"]


# -- splitter_merge ---------------------------------------------------------------------------------


def test_the_documentation_sample_merges_after_its_bigcommerce_branch_and_releases() -> None:
    # Given the documentation's "Validation split", followed by a release
    flow = _documentation_sample(_release())

    # When a valid BigCommerce order is dry-run
    result = _run(flow)

    # Then branch 1 ran, branch 2 was not taken, the merge succeeded, and the release ran
    assert _walk(result) == [
        ("Order Source 1", "runs"), ("Test validation 1", "succeeded"),
        ("Order Source 2", "not taken"), ("Test validation 2", "skipped"),
        ("Validation split", "succeeded"), ("Release", "succeeded"),
    ]  # fmt: skip
    merge = _entry(result, "Validation split")
    assert merge["kind"] == "merge" and (merge["ran"], merge["skipped"], merge["failed"]) == (
        ["Order Source 1"], ["Order Source 2"], [])  # fmt: skip
    assert merge["message"] == "2 branches; succeeded: Order Source 1; skipped: Order Source 2"
    assert result.outcome == "completed"


@pytest.mark.parametrize(("order", "why"), FAILING)
def test_a_failed_branch_fails_the_merge_which_holds_the_order(order: Order, why: str) -> None:
    # Given the documentation's "Validation split", followed by a release
    flow = _documentation_sample(_release())

    # When the BigCommerce branch's validation fails
    result = _run(flow, order)

    # Then the branch ends at its failure, the merge fails naming it, and the order is held there
    assert _walk(result) == [
        ("Order Source 1", "runs"), ("Test validation 1", "failed"),
        ("Order Source 2", "not taken"), ("Test validation 2", "skipped"),
        ("Validation split", "failed"), ("On hold", "on_hold"),
    ]  # fmt: skip
    assert "merge of 'Validation split' reports the failure" in _entry(result, "Test validation 1")["reason"]
    merge = _entry(result, "Validation split")
    assert merge["stops"] is True
    assert merge["ran"] == ["Order Source 1"] and merge["skipped"] == ["Order Source 2"]
    [failed] = merge["failed"]
    assert (failed["branch"], failed["step"]) == ("Order Source 1", "Test validation 1") and why in failed[
        "message"
    ]
    assert result.summary()["failed_steps"] == ["Validation split"]


@pytest.mark.parametrize(("order", "taken"), [(VALID, "yes"), (ZERO_TOTAL, "no")])
def test_a_condition_after_the_merge_branches_on_it(order: Order, taken: str) -> None:
    # Given the documentation's "Validation split", tested by a condition
    flow = _documentation_sample(
        {"name": "Valid?", "element": "condition", "yes": [_release()], "no": [_release("Hold", "on_hold")]}
    )

    # When the order is dry-run
    result = _run(flow, order)

    # Then the condition takes the merge's result, and nothing is held by the rule
    assert _entry(result, "Valid?")["outcome"] == taken
    assert "stops" not in _entry(result, "Validation split")
    assert result.outcome == "completed"


def test_a_merge_with_no_branch_taken_succeeds() -> None:
    # Given a splitter-merge whose only branch is for Orderful orders
    flow = _flow(
        {"name": "Validation split", "element": "splitter_merge", "branches": [
            {"name": "Order Source 2", "steps": [_checked("Test validation 2", ORDERFUL_FILTER), _release()]}]},
        _release("After"),
    )  # fmt: skip

    # When a BigCommerce order is dry-run
    result = _run(flow, ZERO_TOTAL)

    # Then a branch not taken does not count: the merge succeeds and the flow goes on
    merge = _entry(result, "Validation split")
    assert merge["outcome"] == "succeeded" and "no branch applied to this order" in merge["message"]
    assert _walk(result)[-1] == ("After", "succeeded")


def test_a_failed_branch_does_not_stop_its_sibling_before_the_merge() -> None:
    # Given a splitter-merge with a failing branch before a sibling that succeeds
    flow = _flow(
        {"name": "Split", "element": "splitter_merge", "branches": [
            {"name": "Header", "steps": [_checked("Check header"), _release("Never")]},
            {"name": "Lines", "steps": [_action("Check lines", "validate_order_line")]}]},
        _release(),
    )  # fmt: skip

    # When the header fails
    result = _run(flow, ZERO_TOTAL)

    # Then the sibling runs, the merge fails, and the order is held
    assert _walk(result) == [
        ("Header", "runs"), ("Check header", "failed"), ("Lines", "runs"), ("Check lines", "succeeded"),
        ("Split", "failed"), ("On hold", "on_hold"),
    ]  # fmt: skip
    assert _entry(result, "Split")["ran"] == ["Lines", "Header"]


@pytest.mark.parametrize(("order", "outcome"), [(VALID, "completed"), (ZERO_TOTAL, "on_hold")])
def test_a_splitter_inside_a_merging_branch_merges_too(order: Order, outcome: str) -> None:
    # Given a plain splitter nested in a splitter-merge's branch
    flow = _flow(
        {"name": "Outer", "element": "splitter_merge", "branches": [
            {"name": "Nested", "steps": [
                _action("Check lines", "validate_order_line"),
                {"name": "Inner", "element": "splitter", "branches": [
                    {"name": "Inner 1", "steps": [_checked("Inner validation", BIGCOMMERCE_FILTER)]},
                    {"name": "Inner 2", "steps": [_checked("Orderful validation", ORDERFUL_FILTER)]}]}]}]},
        _release(),
    )  # fmt: skip

    # When the order is dry-run
    result = _run(flow, order)

    # Then the inner splitter merges (its result is the branch's) and the outer merge follows it
    inner = _entry(result, "Inner")
    assert inner["kind"] == "merge" and inner["skipped"] == ["Inner 2"]
    assert _entry(result, "Outer")["outcome"] == ("succeeded" if outcome == "completed" else "failed")
    assert result.outcome == outcome
    if outcome == "on_hold":
        assert "merge of 'Inner' reports" in _entry(result, "Inner validation")["reason"]
        assert "merge of 'Outer' reports" in inner["reason"]
        assert _entry(result, "Outer")["failed"][0]["step"] == "Inner"
        assert result.holds == [{"hold": "On hold", "failed_step": "Outer", "held": True}]
        assert "Release" not in [step for step, _ in _walk(result)]


def test_a_splitter_merge_inside_a_splitter_branch_holds_that_branch() -> None:
    # Given a splitter-merge nested in a plain splitter's branch, then a step of that branch
    flow = _flow(
        _action("Source", "send_to_dom"),
        {"name": "Fan out", "element": "splitter", "branches": [
            {"name": "East", "steps": [
                {"name": "Checks", "element": "splitter_merge", "branches": [
                    {"name": "Header", "steps": [_checked("Check header")]}]},
                _action("Ship east", "send_to_fulfillment")]},
            {"name": "West", "steps": [_action("Ship west", "send_to_fulfillment")]}]},
    )  # fmt: skip

    # When the header check fails
    result = _run(flow, ZERO_TOTAL)

    # Then the merge's failure holds the order from the East branch; West ships all the same
    assert result.holds == [
        {"hold": "East (on hold)", "failed_step": "Checks", "held": True, "branch": "Fan out / East"}]  # fmt: skip
    assert "Ship east" not in [step for step, _ in _walk(result)]
    assert _entry(result, "Ship west")["outcome"] == "succeeded"


# -- the request ------------------------------------------------------------------------------------


def test_the_event_defaults_to_new_order_and_must_be_known() -> None:
    # Given bodies with no event, a known one and an unknown one
    # When their events are read
    # Then new_order is the default and an unknown event is refused, naming the known ones
    assert sample_event({"order": {}}) == "new_order"
    assert sample_event({"order": {}, "event": "order_shipped"}) == "order_shipped"
    with pytest.raises(InvalidInput, match=r"unknown event 'shipped'.*order_shipped"):
        sample_event({"order": {}, "event": "shipped"})


# -- return flows -----------------------------------------------------------------------------------

RETURN_WINDOW = "Return window"


def _return_policies() -> dict[str, Policy]:
    window = parse_policy(
        {"name": RETURN_WINDOW, "kind": "execution", "criticality": "critical", "applies_to": "return",
         "rules": [{"field": "days_since_shipment", "operator": "<=", "value": 30}]}
    )  # fmt: skip
    return {**_policies(), window.name: window}


def _sample_return_flow() -> Flow:
    return load_flow(ROOT / "flows" / "default_return.yaml")


def _return(event: str = "return_requested", days: int | None = 10, **request: Any) -> Return:
    body = {
        "return_id": "RMA-1",
        "lines": [{"line_number": 1, "quantity": 1, "reason": "too small"}],
        **request,
    }
    return planned_return(VALID, ReturnRequest.model_validate(body), event, days)


def _run_return(flow: Flow, ret: Return, event: str = "return_requested", order: Order = VALID) -> DryRun:
    result = dry_run(flow, _return_policies(), order, BigCommerceSettings(), event, ret)
    states = _state_names(generate_asl(flow))
    for hold in result.holds:
        assert hold["hold"] in states, "a hold the dry run shows is a state of the generated machine"
    return result


def test_a_return_outside_the_window_fails_its_critical_policy_and_is_held_at_validate_return() -> None:
    # Given the sample return flow, whose validation needs days_since_shipment <= 30
    flow = _sample_return_flow()

    # When a return asked 45 days after the shipment is dry-run on return_requested
    result = _run_return(flow, _return(days=45))

    # Then the validation fails on the window, the return goes on hold, and nothing after it runs
    assert _walk(result) == [("Validate return", "failed"), ("On hold", "on_hold")]
    assert _entry(result, "Validate return")["message"] == (
        "execution policy 'Return window' (critical): days_since_shipment <= 30 does not hold"
    )
    hold = _entry(result, "On hold")
    assert hold["failed_step"] == "Validate return" and hold["bigcommerce_status_id"] is None
    assert hold["message"].startswith("would put return RMA-1 on hold: step 'Validate return' failed")
    assert "the order is not touched" in hold["message"]
    assert result.summary()["message"] == "return RMA-1 would go on hold: 'Validate return' failed"
    assert result.summary()["outcome"] == "on_hold"


def test_a_return_inside_the_window_is_authorised_and_sent_and_waits_for_its_goods() -> None:
    # Given the sample return flow
    flow = _sample_return_flow()

    # When a return asked 10 days after the shipment is dry-run on return_requested
    result = _run_return(flow, _return(days=10))

    # Then it is authorised, given a source and sent to the provider; the refund waits for return_received
    assert _walk(result) == [
        ("Validate return", "succeeded"),
        ("Assign return source", "succeeded"),
        ("Send to returns provider", "succeeded"),
        ("Refund", "skipped"),
        ("Close return", "skipped"),
    ]
    assert _entry(result, "Validate return")["message"] == "would authorise return RMA-1: 1 unit worth 50.00"
    assert (
        "the closest active source that accepts returns" in _entry(result, "Assign return source")["message"]
    )
    assert "to the sqs provider" in _entry(result, "Send to returns provider")["message"]
    assert _entry(result, "Refund")["message"] == "this step runs on return_received, not on return_requested"
    assert result.outcome == "completed"


def test_a_received_return_is_refunded_for_what_came_back_and_closed() -> None:
    # Given the sample return flow and a return of one of line 1's units
    flow = _sample_return_flow()

    # When it is dry-run on return_received
    shipped = VALID.model_copy(update={"status": OrderStatus.SHIPPED, "external_status_id": 2})
    result = _run_return(flow, _return("return_received"), "return_received", shipped)

    # Then the request's steps are skipped, the refund names the lines and amount, and the return closes
    assert _walk(result) == [
        ("Validate return", "skipped"),
        ("Assign return source", "skipped"),
        ("Send to returns provider", "skipped"),
        ("Refund", "succeeded"),
        ("Close return", "succeeded"),
    ]
    refund = _entry(result, "Refund")["message"]
    assert "refund 1 of line 1 (50.00 at the prices paid)" in refund
    assert "the order would become partially_refunded; would push BigCommerce status 14" in refund
    # And an order that has not shipped keeps its status, as the refund step would leave it
    unshipped = _entry(_run_return(flow, _return("return_received"), "return_received"), "Refund")
    assert (
        "the order is new and would stay so (partially_refunded does not follow it)" in unshipped["message"]
    )
    assert _entry(result, "Close return")["message"] == "would set return RMA-1's status to closed"


def test_a_status_the_return_cannot_reach_fails_the_step_naming_the_state_machine() -> None:
    # Given a return flow that marks a requested return in transit before anything authorised it
    flow = parse_flow(
        {"name": "Too soon", "type": "return_orchestration", "steps": [
            {"name": "Ship it back", "action": "update_return_status", "params": {"status": "in_transit"}}]}
    )  # fmt: skip

    # When a requested return is dry-run
    result = _run_return(flow, _return())

    # Then the step fails, saying where a requested return may go, and the return is held
    assert _walk(result) == [("Ship it back", "failed"), ("On hold", "on_hold")]
    assert "cannot go from requested to in_transit" in _entry(result, "Ship it back")["message"]


def test_an_exchange_is_not_refunded() -> None:
    result = _run_return(
        _sample_return_flow(), _return("return_received", resolution="exchange"), "return_received"
    )
    assert (_entry(result, "Refund")["outcome"], _entry(result, "Close return")["outcome"]) == (
        "skipped",
        "succeeded",
    )
    assert _entry(result, "Refund")["message"] == "return RMA-1 is an exchange: nothing is refunded"


def test_an_order_flow_refuses_return_events_and_a_return_flow_order_events() -> None:
    # Given an order flow and a return flow
    order_flow, return_flow = _flow(_checked("Check header")), _sample_return_flow()

    # When each is asked to run on the other kind's event
    # Then it is refused, naming the event
    with pytest.raises(
        InvalidInput, match="an order flow runs on order events, not on 'return_requested'"
    ) as refused:
        sample_event({"order": {}, "event": "return_requested"}, order_flow)
    assert refused.value.field == "event"
    with pytest.raises(InvalidInput, match=r"a return flow runs on .*, not on 'new_order'") as refused:
        sample_event({"order": {}, "event": "new_order"}, return_flow)
    assert refused.value.field == "event"
    with pytest.raises(InvalidInput, match="an order flow runs on order events"):
        dry_run(order_flow, _policies(), VALID, BigCommerceSettings(), "return_received")
    # And with no event each runs on the first of its own
    assert sample_event({}, order_flow) == "new_order" and sample_event({}, return_flow) == "return_requested"


def test_a_return_flow_needs_a_return() -> None:
    # Given the sample return flow and a body with an order but no return
    flow = _sample_return_flow()

    # When it is dry-run
    # Then the body is refused naming return, and so is a dry run given no return
    with pytest.raises(InvalidInput, match='the body needs "return"') as refused:
        sample_return(
            {"order": {}}, "return_requested", BigCommerceSettings(), dict, _NoOrders(), _NoReturns()
        )
    assert refused.value.field == "return"
    with pytest.raises(InvalidInput) as refused:
        dry_run(flow, _return_policies(), VALID, BigCommerceSettings(), "return_requested")
    assert refused.value.field == "return"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"days_since_shipment": -1}, "return.days_since_shipment", "a whole number of days from 0"),
        ({"days_since_shipment": "ten"}, "return.days_since_shipment", "(got 'ten')"),
        ({"lines": [{"line_number": 9, "quantity": 1, "reason": "x"}]}, "return.lines[0].line_number", "has no line 9"),
        ({"lines": [{"sku": "SKU-1", "quantity": 0, "reason": "x"}]}, "return.lines[0].quantity", "greater than 0"),
        ({"lines": []}, "return.lines", "at least 1 item"),
        ({"resolution": "cash"}, "return.resolution", "'refund', 'exchange' or 'store_credit'"),
        ({"return_id": "RMA 1"}, "return.return_id", "should match pattern"),
    ],
)  # fmt: skip
def test_a_bad_return_request_is_refused_naming_the_field(
    change: dict[str, Any], field: str, message: str
) -> None:
    body = {"return": {"lines": [{"line_number": 1, "quantity": 1, "reason": "x"}], **change},
            "order": VALID.model_dump(mode="json")}  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        sample_return(body, "return_requested", BigCommerceSettings(), dict, _NoOrders(), _NoReturns())
    assert refused.value.field == field and message in refused.value.message, refused.value.message


def test_a_sample_return_is_made_of_the_order_as_it_stands_at_the_event() -> None:
    # Given a return request of line 2 by SKU, 40 days after shipment
    body = {
        "order": VALID.model_dump(mode="json"),
        "return": {"lines": [{"sku": "SKU-2", "quantity": 1, "reason": "damaged", "condition": "opened"}],
                   "days_since_shipment": 40},
    }  # fmt: skip

    # When it is read for return_requested and for return_received
    order, requested = sample_return(
        body, "return_requested", BigCommerceSettings(), dict, _NoOrders(), _NoReturns()
    )
    _, received = sample_return(
        body, "return_received", BigCommerceSettings(), dict, _NoOrders(), _NoReturns()
    )

    # Then the return policies read its fields as they would on the stored return
    assert order.order_key == VALID.order_key
    assert return_fields(requested) == {
        "return_id": "sample", "reason": "damaged", "condition": "opened", "value": "50.0000", "quantity": 1,
        "days_since_shipment": 40, "resolution": "refund", "origin": "merchant", "status": "requested",
        "line_count": 1,
    }  # fmt: skip
    assert received.status == "received" and received.lines[0].quantity_received == 1


class _NoOrders:
    def find(self, order_key: str) -> Order | None:
        return None


class _NoReturns:
    def find(self, return_id: str) -> Return | None:
        return None


def test_an_unknown_stored_return_is_not_found() -> None:
    with pytest.raises(NotFound) as missing:
        sample_return({"return": {"return_id": "RMA-404"}}, "return_requested", BigCommerceSettings(), dict,
                      _NoOrders(), _NoReturns())  # fmt: skip
    assert missing.value.field == "return.return_id"
