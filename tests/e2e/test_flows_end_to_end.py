"""Flows designed through the API, published as Step Functions versions, and run for real orders:
webhook → order intake → routing → the published flow's generated state machine (moto's engine)."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from orderflow.flows.asl import MAX_DEFINITION_BYTES
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, post_webhook, webhook_body

BIGCOMMERCE_FILTER = "Filter Policy \u2013 BigCommerce"  # the product documentation's names, en dash and all
ORDERFUL_FILTER = "Filter Policy \u2013 Orderful"
HEADER_POLICY = "Order header Validation Policy"
LINES = [
    {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
    {"sku": "SCW", "name": "Scale Calibration Weights", "quantity": 2, "price": "12.50"},
]


def action(name: str, kind: str = "validate_order_header", **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": kind, **extra}


def release(name: str = "Release", status: str = "validated") -> dict[str, Any]:
    return action(name, "update_order_status", params={"status": status})


def flow(name: str, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "order_orchestration",
        "description": f"{name} (test)",
        "steps": list(steps),
        **extra,
    }


def publish(api: Api, definition: dict[str, Any]) -> dict[str, Any]:
    created = api.post("/flows", definition)
    assert created.status_code == 201, created.text
    published = api.post(f"/flows/{created.json()['id']}/publish")
    assert published.status_code == 200, published.text
    return dict(published.json())


def policy(api: Api, body: dict[str, Any], publish_it: bool = True) -> dict[str, Any]:
    created = api.post("/policies", body)
    assert created.status_code == 201, created.text
    if publish_it:
        assert api.post(f"/policies/{created.json()['id']}/publish").status_code == 200
    return dict(created.json())


def documentation_policies(api: Api) -> None:
    rule = {"field": "provider", "operator": "equals"}
    policy(api, {"name": BIGCOMMERCE_FILTER, "kind": "filter", "rules": [{**rule, "value": "BigCommerce"}]})
    policy(api, {"name": ORDERFUL_FILTER, "kind": "filter", "rules": [{**rule, "value": "Orderful"}]})
    policy(
        api,
        {
            "name": HEADER_POLICY,
            "kind": "execution",
            "criticality": "critical",
            "rules": [
                {"field": "total", "operator": ">", "value": 0},
                {"field": "customer_email", "operator": "contains data"},
            ],
        },
    )


def run_order(runtime: LocalRuntime, store: DemoStore, api: Api, **order: Any) -> dict[str, Any]:
    """One order through webhook, intake and flows; its executions and step results by (flow, step)."""
    order_id = store.add_order(lines=order.pop("lines", LINES), **order)
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert answer.status_code == 200
    executions = runtime.wait_for_all()
    key = answer.json()["order_key"]
    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    return {
        "order_id": order_id,
        "executions": {e["name"]: e for e in executions if key in e["name"]},
        "results": {(r["flow_id"], r["step"]): r for r in results},
        "steps": [(r["flow_id"], r["step"], r["status"]) for r in results],
    }


@pytest.fixture
def mapped(api: Api) -> Api:
    api.seed_demo_mappings()
    return api


def test_the_documentation_sample_runs_branch_one_and_records_branch_two_as_skipped(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    # Given the product documentation's Splitter-Merge "Validation split" and its three policies
    documentation_policies(mapped)
    validation = {"execution_policies": [HEADER_POLICY]}
    published = publish(
        mapped,
        flow(
            "Validation flow",
            {
                "name": "Validation split",
                "element": "splitter_merge",
                "branches": [
                    {"name": "Order Source 1",
                     "steps": [action("Test validation 1", filter_policies=[BIGCOMMERCE_FILTER], **validation)]},
                    {"name": "Order Source 2",
                     "steps": [action("Test validation 2", filter_policies=[ORDERFUL_FILTER], **validation)]},
                ],
            },
            release(),
        ),
    )  # fmt: skip

    # When a BigCommerce order arrives
    run = run_order(runtime, store, mapped)

    # Then branch 1 validated it, branch 2 recorded itself as skipped, and the flow went on after the merge
    assert published["status"] == "published" and published["version"] == 1
    assert {e["status"] for e in run["executions"].values()} == {"SUCCEEDED"}
    results = run["results"]
    assert results[("validation-flow", "Test validation 1")]["status"] == "succeeded"
    skipped = results[("validation-flow", "Test validation 2")]
    assert skipped["status"] == "skipped" and ORDERFUL_FILTER in skipped["message"]
    assert results[("validation-flow", "Release")]["status"] == "succeeded"
    mine = [r for (flow_id, _), r in results.items() if flow_id == "validation-flow"]
    assert {(r["flow_name"], r["flow_version"]) for r in mine} == {("Validation flow", 1)}
    assert store.status_updates(run["order_id"]) == [9]


def test_a_condition_takes_yes_for_a_passing_order_and_no_for_a_failing_one(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    policy(mapped, {"name": "Orders up to 1000", "kind": "execution", "criticality": "critical",
                    "rules": [{"field": "total", "operator": "<=", "value": 1000}]})  # fmt: skip
    publish(
        mapped,
        flow(
            "Big order check",
            action("Check header", execution_policies=["Orders up to 1000"]),
            {"name": "Small enough?", "element": "condition", "yes": [release("Release small")],
             "no": [release("Hold big", "on_hold")]},
        ),
    )  # fmt: skip

    small = run_order(runtime, store, mapped)
    big = run_order(
        runtime, store, mapped, lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 100, "price": "45"}]
    )

    assert [s for s in small["steps"] if s[0] == "big-order-check"] == [
        ("big-order-check", "Check header", "succeeded"),
        ("big-order-check", "Release small", "succeeded"),
    ]
    assert [s for s in big["steps"] if s[0] == "big-order-check"] == [
        ("big-order-check", "Check header", "failed"),
        ("big-order-check", "Hold big", "succeeded"),
    ]
    assert "Orders up to 1000" in big["results"][("big-order-check", "Check header")]["message"]
    assert store.status_updates(small["order_id"]) == [9] and store.status_updates(big["order_id"]) == [12]


def test_condition_merge_paths_rejoin_at_the_next_step(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    policy(mapped, {"name": "Needs a company", "kind": "execution", "criticality": "critical",
                    "rules": [{"field": "company", "operator": "contains data"}]})  # fmt: skip
    publish(
        mapped,
        flow(
            "Merge flow",
            action("Company check", execution_policies=["Needs a company"]),
            {"name": "Business customer?", "element": "condition_merge",
             "yes": [action("Business lines", "validate_order_line")], "no": []},
            release("Always released"),
        ),
    )  # fmt: skip

    business = run_order(runtime, store, mapped, customer={"customer_id": 7, "company": "Scales Ltd"})
    consumer = run_order(runtime, store, mapped, customer={"customer_id": 8, "company": ""})

    assert [s[1:] for s in business["steps"] if s[0] == "merge-flow"] == [
        ("Company check", "succeeded"), ("Business lines", "succeeded"), ("Always released", "succeeded")]  # fmt: skip
    assert [s[1:] for s in consumer["steps"] if s[0] == "merge-flow"] == [
        ("Company check", "failed"), ("Always released", "succeeded")]  # fmt: skip


def test_splitter_branches_each_run_to_their_own_end(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    publish(
        mapped,
        flow(
            "Split flow",
            action("Check header"),
            {"name": "Fan out", "element": "splitter", "branches": [
                {"name": "Lines branch", "steps": [action("Check lines", "validate_order_line"), release()]},
                {"name": "Audit branch", "steps": [action("Recheck header")]},
            ]},
        ),
    )  # fmt: skip

    run = run_order(runtime, store, mapped)

    assert {s[1]: s[2] for s in run["steps"] if s[0] == "split-flow"} == {
        "Check header": "succeeded", "Check lines": "succeeded", "Release": "succeeded", "Recheck header": "succeeded"}  # fmt: skip
    assert store.status_updates(run["order_id"]) == [9]


def test_elements_nest_two_deep_and_a_failing_branch_fails_the_merge_without_stopping_its_sibling(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    publish(
        mapped,
        flow(
            "Nested flow",
            {"name": "Outer split", "element": "splitter_merge", "branches": [
                {"name": "Checked branch", "steps": [
                    action("Lines first", "validate_order_line"),
                    {"name": "Lines ok?", "element": "condition",
                     "yes": [action("Inner header")], "no": [release("Inner hold", "on_hold")]},
                ]},
                {"name": "Plain branch", "steps": [action("Plain header")]},
            ]},
            release("After the split"),
        ),
    )  # fmt: skip

    # A line with a negative price: the first branch's line check fails and it takes its "no" path
    run = run_order(
        runtime, store, mapped, lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "-3"}]
    )

    # Then the first branch handled its failure (its condition's "no" path), the sibling ran all the
    # same and failed (the negative total), so the merge failed and nothing after it ran: on hold
    assert {s[1]: s[2] for s in run["steps"] if s[0] == "nested-flow"} == {
        "Lines first": "failed", "Inner hold": "succeeded", "Plain header": "failed",
        "Outer split": "failed", "On hold": "succeeded"}  # fmt: skip
    merge = run["results"][("nested-flow", "Outer split")]
    assert merge["details"]["failed"][0]["branch"] == "Plain branch"
    assert "Plain branch at 'Plain header'" in merge["message"] and "total" in merge["message"]
    assert {e["status"] for e in run["executions"].values()} == {"SUCCEEDED"}
    assert store.status_updates(run["order_id"]) == [12]  # held once; never released


def test_a_60_step_flow_runs_every_step(runtime: LocalRuntime, store: DemoStore, mapped: Api) -> None:
    steps = [
        action(f"Check {n:02d}", "validate_order_header" if n % 2 else "validate_order_line")
        for n in range(1, 60)
    ]
    publish(mapped, flow("Long flow", *steps, release("Step 60")))

    run = run_order(runtime, store, mapped)

    mine = [s for s in run["steps"] if s[0] == "long-flow"]
    assert len(mine) == 60 and {s[2] for s in mine} == {"succeeded"}
    assert store.status_updates(run["order_id"]) == [9]


def test_publish_edit_and_republish_make_versions_and_runs_stay_on_theirs(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    v1 = flow("Versioned flow", release("Release v1"))
    record = publish(mapped, v1)
    flow_id = record["id"]

    # A published flow cannot be edited or deleted
    edited = copy.deepcopy(v1)
    edited["steps"].insert(0, action("Added in v2"))
    refused_edit = mapped.put(f"/flows/{flow_id}", edited)
    refused_delete = mapped.delete(f"/flows/{flow_id}")
    assert refused_edit.status_code == 409 and "unpublish it first" in refused_edit.json()["error"]["message"]
    assert refused_delete.status_code == 409

    # An order starts on v1, and its status push is slow: it is still running while v2 is published
    slow = store.add_order(lines=LINES)
    store.inject("PUT", rf"/v2/orders/{slow}", Fault(None, delay=1.5))
    post_webhook(runtime, webhook_body(store, slow))
    running = _wait_until_running(runtime, f"BC-test-store-{slow}-{flow_id}-v1")

    assert mapped.post(f"/flows/{flow_id}/unpublish").json()["status"] == "unpublished"
    assert mapped.put(f"/flows/{flow_id}", edited).status_code == 200
    v2 = mapped.post(f"/flows/{flow_id}/publish").json()
    later = run_order(runtime, store, mapped)

    # Then the running order finished on v1, the next one ran v2, and both versions are kept
    assert running["status"] == "RUNNING"
    assert v2["version"] == 2 and v2["versions"] == [1, 2]
    old = {
        r["step"]: r["flow_version"]
        for r in mapped.get(f"/orders/BC-test-store-{slow}/step-results").json()["step_results"]
    }
    assert old == {"Import order": 1, "Route to flows": 1, "Release v1": 1}
    assert [s[1] for s in later["steps"] if s[0] == flow_id] == ["Added in v2", "Release v1"]
    assert {later["results"][(flow_id, step)]["flow_version"] for step in ("Added in v2", "Release v1")} == {
        2
    }
    assert f"BC-test-store-{later['order_id']}-{flow_id}-v2" in later["executions"]
    assert "Added in v2" not in mapped.get(f"/flows/{flow_id}/asl", params={"version": 1}).text
    assert "Added in v2" in mapped.get(f"/flows/{flow_id}/asl", params={"version": 2}).text


def _wait_until_running(runtime: LocalRuntime, name: str) -> dict[str, Any]:
    import time

    for _ in range(200):
        found = [e for e in runtime.executions() if e["name"] == name]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"execution {name} never started")


def test_several_published_flows_each_take_the_orders_their_filters_match(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    policy(
        mapped,
        {"name": "Web store", "kind": "filter", "rules": [{"field": "channel", "operator": "=", "value": 1}]},
    )
    policy(
        mapped,
        {
            "name": "Marketplace",
            "kind": "filter",
            "rules": [{"field": "channel", "operator": "=", "value": 2}],
        },
    )
    publish(mapped, flow("Web orders", release("Web release"), filter_policies=["Web store"]))
    publish(
        mapped, flow("Marketplace orders", release("Marketplace release"), filter_policies=["Marketplace"])
    )
    publish(mapped, flow("Status watcher", release("Watch"), input_events=["order_status_changed"]))

    web = run_order(runtime, store, mapped, channel_id=1)
    marketplace = run_order(runtime, store, mapped, channel_id=2)

    assert {s[0] for s in web["steps"]} == {"order-intake", "web-orders"}
    assert {s[0] for s in marketplace["steps"]} == {"order-intake", "marketplace-orders"}
    route = web["results"][("order-intake", "Route to flows")]["message"]
    assert route.startswith("started Web orders v1")
    assert "Marketplace orders v1 (filter policy 'Marketplace'" in route
    assert "Status watcher v1 (starts on order_status_changed, not new_order)" in route


def test_while_no_flow_is_published_orders_run_the_default_flow(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    # A draft flow does not take orders away from the default flow
    assert mapped.post("/flows", flow("Draft only", release())).status_code == 201

    run = run_order(runtime, store, mapped)

    assert {s[0] for s in run["steps"]} == {"order-intake", "default-order-flow"}


def test_a_published_flow_for_other_events_leaves_new_orders_to_the_default_flow(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    # Given only an invoice-on-shipment flow is published
    publish(mapped, flow("Shipped only", release("Invoice later"), input_events=["order_shipped"]))

    run = run_order(runtime, store, mapped)

    # Then a new order still runs the stack's default flow, and not the shipment flow
    assert {s[0] for s in run["steps"]} == {"order-intake", "default-order-flow"}


def test_malformed_flows_are_refused_with_the_path_and_nothing_is_stored(mapped: Api) -> None:
    policy(mapped, {"name": "Draft filter", "kind": "filter", "rules": [{"field": "channel", "operator": "=", "value": 1}]},
           publish_it=False)  # fmt: skip
    branch = {"name": "Validation split", "element": "splitter_merge", "branches": [
        {"name": "Order Source 1", "steps": [action("Test validation 1", filter_policies=["Filter Policy - Orderfull"])]}]}  # fmt: skip
    mistakes = [
        (flow("Typo policy", action("A"), branch), "steps[1].branches[0].steps[0].filter_policies[0]: unknown policy 'Filter Policy - Orderfull'"),
        ({**flow("Wrong type", action("A")), "type": "order_routing"}, "type: unsupported flow type 'order_routing'"),
        (flow("Unknown action", action("A", "send_to_xyz")), "steps[0].action: unknown action 'send_to_xyz'"),
        (flow("Twice", action("A"), action("A", "validate_order_line")), "steps[1].name: duplicate step name 'A'"),
        (flow("Empty branch", action("A"), {"name": "S", "element": "splitter", "branches": [{"name": "B", "steps": []}]}),
         "steps[1].branches[0].steps: List should have at least 1 item"),
        (flow("Condition first", {"name": "C", "element": "condition", "yes": [action("Y")]}), "steps[0]: a condition needs a previous step"),
        (flow("After condition", action("A"), {"name": "C", "element": "condition", "yes": [action("Y")]}, action("Z")),
         "steps[2]: a step cannot follow 'C'"),
        (flow("After splitter", action("A"), {"name": "S", "element": "splitter", "branches": [{"name": "B", "steps": [action("X")]}]},
              action("Z")), "steps[2]: a step cannot follow 'S'"),
        (flow("Long name", action("x" * 81)), "steps[0].name: String should have at most 80 characters"),
        (flow("Kind mixup", action("A", execution_policies=["Draft filter"])), "steps[0].execution_policies[0]: 'Draft filter' is a filter policy"),
        (flow("No target", action("A", "custom")), "steps[0]: a custom action needs a target"),
        (flow("Bad status", action("A", "update_order_status", params={"status": "lost"})), "params.status must be one of"),
        (flow("Too big", *[action(f"Step {n:04d} " + "x" * 60) for n in range(1600)]), "accepts at most 1,048,576"),
        ({"name": "No steps", "type": "order_orchestration", "steps": []}, "steps: List should have at least 1 item"),
    ]  # fmt: skip
    for definition, expected in mistakes:
        answer = mapped.post("/flows", definition)
        assert answer.status_code == 400, (expected, answer.text)
        problems = answer.json()["error"]["problems"]
        assert any(expected in p for p in problems), (expected, problems)
    assert mapped.get("/flows").json()["flows"] == []


def test_a_flow_using_a_draft_policy_cannot_be_published(mapped: Api) -> None:
    policy(mapped, {"name": "Draft filter", "kind": "filter", "rules": [{"field": "channel", "operator": "=", "value": 1}]},
           publish_it=False)  # fmt: skip
    created = mapped.post("/flows", flow("Uses a draft", action("A", filter_policies=["Draft filter"])))
    assert created.status_code == 201  # a draft flow may name a draft policy

    refused = mapped.post("/flows/uses-a-draft/publish")

    assert refused.status_code == 400
    assert refused.json()["error"]["problems"] == [
        "steps[0].filter_policies[0]: policy 'Draft filter' is not published (only published policies can be used)"
    ]
    assert mapped.get("/flows/uses-a-draft").json()["status"] == "unpublished"


def test_a_flow_shows_its_asl_its_diagram_and_a_dry_run(
    runtime: LocalRuntime, store: DemoStore, mapped: Api
) -> None:
    documentation_policies(mapped)
    definition = flow(
        "Documented flow",
        {"name": "Validation split", "element": "splitter_merge", "branches": [
            {"name": "Order Source 1", "steps": [action("Test validation 1", filter_policies=[BIGCOMMERCE_FILTER],
                                                        execution_policies=[HEADER_POLICY])]},
            {"name": "Order Source 2", "steps": [action("Test validation 2", filter_policies=[ORDERFUL_FILTER])]},
        ]},
        action("Lines", "validate_order_line"),
        {"name": "Lines ok?", "element": "condition", "yes": [release()], "no": [release("Hold", "on_hold")]},
    )  # fmt: skip
    assert mapped.post("/flows", definition).status_code == 201
    order_id = store.add_order(
        lines=[*LINES, {"sku": "NOPE", "name": "Unmapped", "quantity": 1, "price": "1"}]
    )
    bigcommerce_order = {
        **store.order(order_id),
        "products": store.order_products(order_id),
        "shipping_addresses": [],
    }

    asl = mapped.get("/flows/documented-flow/asl")
    diagram = mapped.get("/flows/documented-flow/diagram")
    dry = mapped.post("/flows/documented-flow/dry-run", {"order": bigcommerce_order})

    assert (
        asl.status_code == 200
        and asl.json()["States"]["Start or resume"]["Choices"][0]["Next"] == "Validation split"
    )
    embedded = asl.json()["States"]["Validation split"]["Branches"][0]["States"]["Test validation 1"]
    assert embedded["Parameters"]["Payload"]["filter_policies"][0]["name"] == BIGCOMMERCE_FILTER
    assert diagram.status_code == 200 and diagram.text.startswith("flowchart TD")
    assert "Test validation 2" in diagram.text and "-- yes -->" in diagram.text
    assert '[["Validation split (merge)"]]' in diagram.text and " -. failed .-> " in diagram.text
    assert dry.status_code == 200
    # no shipping address: the header policy's rules hold, the check fails; the failed branch fails the
    # merge, which no condition tests, so the order would go on hold there and "Lines" never runs
    assert [(s["step"], s["outcome"]) for s in dry.json()["steps"]] == [
        ("Order Source 1", "runs"), ("Test validation 1", "failed"), ("Order Source 2", "not taken"),
        ("Test validation 2", "skipped"), ("Validation split", "failed"), ("On hold", "on_hold"),
    ]  # fmt: skip
    assert "no shipping address" in dry.json()["steps"][1]["message"]
    assert dry.json()["outcome"] == "on_hold" and dry.json()["failed_steps"] == ["Validation split"]
    assert dry.json()["steps"][5]["bigcommerce_status_id"] == 12
    assert mapped.get("/orders").json()["orders"] == []  # nothing written
    assert runtime.executions() == []


def test_policies_are_validated_and_protected_while_a_published_flow_uses_them(mapped: Api) -> None:
    bad = mapped.post(
        "/policies",
        {"name": "Bad", "kind": "filter", "rules": [{"field": "countri", "operator": "=", "value": "US"}]},
    )
    assert bad.status_code == 400 and bad.json()["error"]["problems"][0].startswith("rules[0].field")

    created = policy(
        mapped,
        {
            "name": "US only",
            "kind": "filter",
            "rules": [{"field": "country", "operator": "=", "value": "US"}],
        },
    )
    publish(mapped, flow("US flow", action("A", filter_policies=["US only"])))

    listed = mapped.get("/policies").json()["policies"]
    assert [(p["name"], p["status"], p["summary"]) for p in listed] == [
        ("US only", "published", "order country equals US")
    ]
    assert mapped.delete(f"/policies/{created['id']}").status_code == 409
    assert mapped.post(f"/policies/{created['id']}/unpublish").status_code == 409
    changed = mapped.put(f"/policies/{created['id']}", {"name": "US only", "kind": "filter",
                                                          "rules": [{"field": "country", "operator": "=", "value": "CA"}]})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["status"] == "published"
    # the published flow keeps the copy it was published with
    kept = mapped.get("/flows/us-flow/asl", params={"version": 1}).json()
    assert kept["States"]["A"]["Parameters"]["Payload"]["filter_policies"][0]["rules"][0]["value"] == "US"


def test_a_flow_larger_than_a_dynamodb_item_publishes_compact_and_one_past_the_limit_is_refused_before_anything_is_stored(
    mapped: Api,
) -> None:
    def long_flow(name: str, steps: int) -> dict[str, Any]:
        return flow(name, *(action(f"Check {n:04d}") for n in range(1, steps)), release(f"Step {steps}"))

    # (moto parses a definition slowly: 250 steps keep the test short; the unit tests take 700)
    record = publish(mapped, long_flow("Two hundred and fifty steps", 250))

    # Step Functions got the compact text ...
    deployed = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=record["state_machine_arn"]
    )
    definition = deployed["definition"]
    assert len(definition.encode()) < MAX_DEFINITION_BYTES and "\n" not in definition
    # ... the version's ASL reads back as the pretty, stable text, larger than one DynamoDB item may be
    # (it is stored compressed)
    asl = mapped.get(f"/flows/{record['id']}/asl", params={"version": 1})
    assert (
        asl.status_code == 200
        and json.loads(asl.text)["States"].keys() == json.loads(definition)["States"].keys()
    )
    assert len(asl.text.encode()) > 400 * 1024 and asl.text.startswith('{\n  "Comment"')

    # A flow past the limit is refused when it is saved, naming its size and what fits
    too_long = mapped.post("/flows", long_flow("Too long", 1_000))
    assert too_long.status_code == 400, too_long.text
    message = too_long.json()["error"]["message"]
    assert "its 1,000 steps" in message and "1,048,576" in message and "steps of this kind" in message
    assert all(f["name"] != "Too long" for f in mapped.get("/flows").json()["flows"])
