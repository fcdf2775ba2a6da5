"""The flow dry run: where a sample order's paths stop under the failure rule, and why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderflow.errors import InvalidInput
from orderflow.flows.asl import generate_asl
from orderflow.flows.dry_run import DryRun, dry_run, sample_event
from orderflow.models.flow import Flow, parse_flow
from orderflow.models.order import Address, BigCommerceSettings, Customer, Order, OrderLine, OrderStatus
from orderflow.models.policy import Policy, parse_policy

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
