"""The failure rule, element by element, on moto's engine running the generated state machines: a
failed step (business failure, critical policy, a function that still errs after its retries) ends
its path and holds the order, unless a Condition follows it; merges report their branches."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow.models.event import OrderEvent
from orderflow.models.order import Address, Customer, Order, OrderLine, order_key_for
from orderflow.orders.events import start_flows
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api
from tests.e2e.test_flows_end_to_end import (
    BIGCOMMERCE_FILTER,
    HEADER_POLICY,
    ORDERFUL_FILTER,
    action,
    documentation_policies,
    flow,
    policy,
    publish,
    release,
    run_order,
)

PROBE = "orderflow-local-custom-probe"
UNREACHABLE = "https://127.0.0.1:9/probe"  # connection refused: the step's function errs every time
BIG_ORDERS = "Orders over 1000"
AWAITING_SHIPMENT, MANUAL_VERIFICATION = 9, 12
OUTCOMES = ["succeeds", "business failure", "critical policy", "crash after retries"]


def probe(name: str, outcome: str) -> dict[str, Any]:
    """A step that ends as ``outcome`` says: a custom action answering for itself, one whose critical
    policy does not hold for the test's small orders, or one whose endpoint never answers."""
    if outcome == "crash after retries":
        return action(name, "custom", target=UNREACHABLE)
    step = action(name, "custom", target=PROBE, params={"succeed": outcome != "business failure"})
    if outcome == "critical policy":
        step["execution_policies"] = [BIG_ORDERS]
    return step


@pytest.fixture
def ready(runtime: LocalRuntime, api: Api) -> Api:
    api.seed_demo_mappings()
    policy(api, {"name": BIG_ORDERS, "kind": "execution", "criticality": "critical",
                 "rules": [{"field": "total", "operator": ">", "value": 1000}]})  # fmt: skip

    def answer(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        succeed = bool(event["params"]["succeed"])
        return {"succeeded": succeed, "message": "probe passed" if succeed else "probe refused the order"}

    runtime.register_function(PROBE, answer)
    return api


def ended(api: Api, run: dict[str, Any], flow_id: str) -> tuple[dict[str, str], str]:
    """Each of the flow's steps and how it ended; the order's status."""
    statuses = {step: status for fid, step, status in run["steps"] if fid == flow_id}
    key = order_key_for("test-store", run["order_id"])
    return statuses, api.get(f"/orders/{key}").json()["status"]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_step_with_no_condition_after_it_stops_the_flow_and_holds_the_order(
    runtime: LocalRuntime, store: DemoStore, ready: Api, outcome: str
) -> None:
    # Given a probe step and a release after it
    publish(ready, flow("Straight", probe("Probe", outcome), release("Release")))

    # When an order runs through it
    run = run_order(runtime, store, ready)

    # Then only a success reaches the release; a failure holds the order, naming the step
    steps, status = ended(ready, run, "straight")
    if outcome == "succeeds":
        assert steps == {"Probe": "succeeded", "Release": "succeeded"} and status == "validated"
        assert store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]
        return
    assert steps == {"Probe": "failed", "On hold": "succeeded"} and status == "on_hold"
    assert store.status_updates(run["order_id"]) == [MANUAL_VERIFICATION]
    hold = run["results"][("straight", "On hold")]["message"]
    assert hold.startswith("order on hold: step 'Probe' failed: ")
    expected = {
        "business failure": "probe refused the order",
        "critical policy": "total",
        "crash after retries": "gave up after its retries",
    }[outcome]
    assert expected in hold and expected in run["results"][("straight", "Probe")]["message"]
    assert {e["status"] for e in run["executions"].values()} == {"SUCCEEDED"}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_condition_after_a_step_branches_on_it_and_nothing_is_held(
    runtime: LocalRuntime, store: DemoStore, ready: Api, outcome: str
) -> None:
    # Given a probe step and a condition after it
    publish(
        ready,
        flow("Checked", probe("Probe", outcome),
             {"name": "Passed?", "element": "condition", "yes": [release("Release")],
              "no": [release("Review", "on_hold")]}),
    )  # fmt: skip

    run = run_order(runtime, store, ready)

    # Then the condition takes yes for a success and no for any failure; no hold of its own
    steps, status = ended(ready, run, "checked")
    if outcome == "succeeds":
        assert steps == {"Probe": "succeeded", "Release": "succeeded"} and status == "validated"
        assert store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]
    else:
        assert steps == {"Probe": "failed", "Review": "succeeded"} and status == "on_hold"
        assert store.status_updates(run["order_id"]) == [MANUAL_VERIFICATION]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_condition_merge_paths_rejoin_whatever_the_step_did(
    runtime: LocalRuntime, store: DemoStore, ready: Api, outcome: str
) -> None:
    publish(
        ready,
        flow("Rejoin", probe("Probe", outcome),
             {"name": "Passed?", "element": "condition_merge", "yes": [probe("Yes path", "succeeds")],
              "no": [probe("No path", "succeeds")]},
             release("Release")),
    )  # fmt: skip

    run = run_order(runtime, store, ready)

    steps, status = ended(ready, run, "rejoin")
    taken = "Yes path" if outcome == "succeeds" else "No path"
    assert steps == {"Probe": "succeeded" if outcome == "succeeds" else "failed", taken: "succeeded",
                     "Release": "succeeded"}  # fmt: skip
    assert status == "validated" and store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_failed_splitter_branch_holds_the_order_and_its_sibling_goes_on(
    runtime: LocalRuntime, store: DemoStore, ready: Api, outcome: str
) -> None:
    publish(
        ready,
        flow("Fan out", probe("First", "succeeds"),
             {"name": "Split", "element": "splitter", "branches": [
                 {"name": "Branch one", "steps": [probe("Probe", outcome), probe("After probe", "succeeds")]},
                 {"name": "Branch two", "steps": [probe("Sibling", "succeeds")]}]}),
    )  # fmt: skip

    run = run_order(runtime, store, ready)

    steps, status = ended(ready, run, "fan-out")
    if outcome == "succeeds":
        assert steps == {"First": "succeeded", "Probe": "succeeded", "After probe": "succeeded",
                         "Sibling": "succeeded"} and status == "new"  # fmt: skip
        assert store.status_updates(run["order_id"]) == []
        return
    assert steps == {"First": "succeeded", "Probe": "failed", "Branch one (on hold)": "succeeded",
                     "Sibling": "succeeded"}  # fmt: skip
    assert status == "on_hold" and store.status_updates(run["order_id"]) == [MANUAL_VERIFICATION]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_splitter_merge_fails_when_a_branch_that_ran_failed_and_then_follows_the_rule(
    runtime: LocalRuntime, store: DemoStore, ready: Api, outcome: str
) -> None:
    publish(
        ready,
        flow("Merged", probe("First", "succeeds"),
             {"name": "Split", "element": "splitter_merge", "branches": [
                 {"name": "Branch one", "steps": [probe("Probe", outcome), probe("After probe", "succeeds")]},
                 {"name": "Branch two", "steps": [probe("Sibling", "succeeds")]}]},
             release("Release")),
    )  # fmt: skip

    run = run_order(runtime, store, ready)

    steps, status = ended(ready, run, "merged")
    merge = run["results"][("merged", "Split")]
    if outcome == "succeeds":
        assert steps == {"First": "succeeded", "Probe": "succeeded", "After probe": "succeeded",
                         "Sibling": "succeeded", "Split": "succeeded", "Release": "succeeded"}  # fmt: skip
        assert merge["details"]["ran"] == ["Branch one", "Branch two"] and merge["details"]["failed"] == []
        assert status == "validated" and store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]
        return
    # the failed step ended its branch (nothing after it there), the sibling ran, the merge failed
    # naming the branch and step, and the order is on hold: the release never ran
    assert steps == {"First": "succeeded", "Probe": "failed", "Sibling": "succeeded", "Split": "failed",
                     "On hold": "succeeded"}  # fmt: skip
    assert [(f["branch"], f["step"]) for f in merge["details"]["failed"]] == [("Branch one", "Probe")]
    assert "Branch one at 'Probe'" in merge["message"]
    assert run["results"][("merged", "On hold")]["message"].startswith("order on hold: step 'Split' failed")
    assert status == "on_hold" and store.status_updates(run["order_id"]) == [MANUAL_VERIFICATION]


def test_a_condition_after_a_merge_branches_on_the_merge(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    publish(
        ready,
        flow("Merge then check", probe("First", "succeeds"),
             {"name": "Split", "element": "splitter_merge", "branches": [
                 {"name": "Branch one", "steps": [probe("Probe", "business failure")]},
                 {"name": "Branch two", "steps": [probe("Sibling", "succeeds")]}]},
             {"name": "All branches passed?", "element": "condition", "yes": [release("Release")],
              "no": [release("Review", "on_hold")]}),
    )  # fmt: skip

    run = run_order(runtime, store, ready)

    steps, status = ended(ready, run, "merge-then-check")
    assert steps["Split"] == "failed" and steps["Review"] == "succeeded" and "Release" not in steps
    assert "On hold" not in steps and status == "on_hold"


# -- the product's own sample: "Validation split" ---------------------------------------------------


def _sample_flow(api: Api) -> None:
    documentation_policies(api)
    validation = {"execution_policies": [HEADER_POLICY]}
    publish(
        api,
        flow(
            "Test Order flow sample",
            {"name": "Validation split", "element": "splitter_merge", "branches": [
                {"name": "Order Source 1",
                 "steps": [action("Test validation 1", filter_policies=[BIGCOMMERCE_FILTER], **validation)]},
                {"name": "Order Source 2",
                 "steps": [action("Test validation 2", filter_policies=[ORDERFUL_FILTER], **validation)]},
            ]},
            release("Awaiting shipment"),
        ),
    )  # fmt: skip


def test_the_sample_flow_holds_a_zero_total_order_and_releases_nothing(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    _sample_flow(ready)

    # When a BigCommerce order with a total of 0 arrives
    run = run_order(
        runtime, store, ready, lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "0"}]
    )

    # Then the critical policy fails branch 1, the merge fails, the order is held, nothing released
    steps, status = ended(ready, run, "test-order-flow-sample")
    assert steps == {"Test validation 1": "failed", "Test validation 2": "skipped",
                     "Validation split": "failed", "On hold": "succeeded"}  # fmt: skip
    merge = run["results"][("test-order-flow-sample", "Validation split")]["details"]
    assert merge["skipped"] == ["Order Source 2"] and merge["failed"][0]["branch"] == "Order Source 1"
    assert "total" in merge["failed"][0]["message"]
    assert status == "on_hold" and store.status_updates(run["order_id"]) == [MANUAL_VERIFICATION]


def test_the_sample_flow_releases_a_bigcommerce_order_with_a_total(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    _sample_flow(ready)

    run = run_order(runtime, store, ready)

    steps, status = ended(ready, run, "test-order-flow-sample")
    assert steps == {"Test validation 1": "succeeded", "Test validation 2": "skipped",
                     "Validation split": "succeeded", "Awaiting shipment": "succeeded"}  # fmt: skip
    assert status == "validated" and store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]


def test_the_sample_flow_skips_the_bigcommerce_branch_for_an_order_from_another_provider(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given the sample flow, and an order that came from Orderful (stored as an import would)
    _sample_flow(ready)
    order = Order(
        order_key=order_key_for("test-store", 9001),
        source="orderful",
        store_hash="test-store",
        external_id=9001,
        import_id="OF-9001",
        currency="USD",
        total_inc_tax="45.00",
        customer=Customer(email="buyer@example.com"),
        ship_to=[Address(first_name="Jane", city="Austin", country_iso2="US")],
        lines=[OrderLine(line_number=1, external_id=1, sku="ABS", quantity=1, unit_price="45.00")],
    )
    assert tables.orders().create(order)

    # When its new-order event starts the published flows
    emission = start_flows(
        OrderEvent.NEW_ORDER,
        order.order_key,
        lambda: tables.orders().get(order.order_key),
        tables.flows().routes(),
        ExecutionStarter(),
    )
    runtime.wait_for_all()

    # Then branch 1 is skipped (not failed), branch 2 validates it, and it is released without a
    # push to BigCommerce, where it does not exist
    assert emission.started == ["Test Order flow sample v1"]
    results = {
        r["step"]: r for r in ready.get(f"/orders/{order.order_key}/step-results").json()["step_results"]
    }
    assert {step: r["status"] for step, r in results.items()} == {
        "Test validation 1": "skipped", "Test validation 2": "succeeded",
        "Validation split": "succeeded", "Awaiting shipment": "succeeded"}  # fmt: skip
    assert results["Validation split"]["details"]["skipped"] == ["Order Source 1"]
    assert "not BigCommerce: nothing pushed" in results["Awaiting shipment"]["message"]
    assert ready.get(f"/orders/{order.order_key}").json()["status"] == "validated"


# -- statuses and events ----------------------------------------------------------------------------


def test_a_status_the_store_shows_already_is_not_pushed_again(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given validated and sourced both mapped to Awaiting Shipment
    settings = ready.put("/settings/bigcommerce", {"status_mapping": {"validated": 9, "sourced": 9}})
    assert settings.status_code == 200, settings.text
    publish(ready, flow("Twice", release("Release"), release("Release again", "sourced")))

    run = run_order(runtime, store, ready)

    # Then the order moved twice and the store was told once
    steps, status = ended(ready, run, "twice")
    assert steps == {"Release": "succeeded", "Release again": "succeeded"} and status == "sourced"
    assert store.status_updates(run["order_id"]) == [AWAITING_SHIPMENT]
    assert "shows 9 Awaiting Shipment already" in run["results"][("twice", "Release again")]["message"]


def test_a_step_runs_only_on_its_own_input_events(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    publish(ready, flow("Events", release("Release"), {**probe("On shipment only", "succeeds"),
                                                       "input_events": ["order_shipped"]}))  # fmt: skip

    run = run_order(runtime, store, ready)

    skipped = run["results"][("events", "On shipment only")]
    assert skipped["status"] == "skipped"
    assert skipped["message"] == "skipped: this step runs on order_shipped, not on new_order"


def test_an_illegal_move_is_a_failed_step_with_its_reason_not_a_crash(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given a flow that invoices before anything shipped
    publish(ready, flow("Too early", action("Invoice", "send_to_invoice", params={"provider": "sqs"})))

    run = run_order(runtime, store, ready)

    # Then the step failed saying why (nothing was sent), and the order is held from it
    steps, status = ended(ready, run, "too-early")
    assert steps == {"Invoice": "failed", "On hold": "succeeded"} and status == "on_hold"
    assert "invoiced once it has shipped" in run["results"][("too-early", "Invoice")]["message"]
    assert {e["status"] for e in run["executions"].values()} == {"SUCCEEDED"}
