"""Resubmitting failed orders (``POST /orders/{order_key}/resubmit``): the failed step runs again on
the same state machine version, from that step; the steps before it are not run again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from orderflow.errors import Conflict
from orderflow.models.order import OrderStatus
from orderflow.models.transitions import IllegalTransition
from orderflow.store import tables
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import LINES, action, flow, publish, release


def _order(runtime: LocalRuntime, store: DemoStore, lines: list[dict[str, Any]]) -> str:
    answer = post_webhook(runtime, webhook_body(store, store.add_order(lines=lines)))
    assert answer.status_code == 200, answer.text
    runtime.wait_for_all()
    return str(answer.json()["order_key"])


def _runs(api: Api, key: str) -> tuple[Counter[str], dict[str, str]]:
    """How many results each step has (one per execution that ran it), and each step's latest status."""
    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    return Counter(r["step"] for r in results), {r["step"]: r["status"] for r in results}


def test_a_step_failed_on_a_down_provider_resumes_there_once_it_is_back(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a published flow, and a store that refuses every status update (down for this order)
    api.seed_demo_mappings()
    published = publish(api, flow("Release flow", action("Validate header"), release()))
    store.inject("PUT", r"/v2/orders/\d+", *[Fault(403)] * 5)
    key = _order(runtime, store, LINES)
    runs, latest = _runs(api, key)
    assert latest["Validate header"] == "succeeded" and latest["Release"] == "failed"
    [failed_run] = [
        e
        for e in runtime.executions()
        if e["name"].endswith(f"release-flow-v{published['published_version']}")
    ]
    # the step failed, so the order went on hold; the store refused that status too, so the hold
    # failed and with it the execution, which is what alarms an operator
    assert failed_run["status"] == "FAILED"
    assert latest["On hold"] == "failed" and api.get(f"/orders/{key}").json()["status"] == "on_hold"

    # When the store is back and the order is resubmitted
    store.clear_faults()
    answer = api.post(f"/orders/{key}/resubmit")
    runtime.wait_for_all()

    # Then a new execution of the same version starts at the failed step; the earlier step is not re-run
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["resume_at"] == "Release" and body["failed_step"]["step"] == "Release"
    assert body["failed_step"]["flow_version"] == published["published_version"]
    assert body["execution"] == f"{failed_run['name']}-resubmit-1"
    runs, latest = _runs(api, key)
    assert runs == Counter(
        {"Import order": 1, "Route to flows": 1, "Validate header": 1, "Release": 2, "On hold": 1}
    )
    assert latest["Release"] == "succeeded"
    # the resubmit took the order out of hold, back to validated, and pushed that status once
    assert body["order_status"] == "validated" and "set to 9" in body["healed"]
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "validated" and order["external_status_id"] == 9
    assert [h["status"] for h in order["history"]] == ["validated", "on_hold", "validated"]
    assert order["history"][-1]["reason"].startswith(
        "resubmitted by an operator (admin API token) from step 'Release'"
    )
    assert store.status_updates(int(key.rsplit("-", 1)[1])) == [9]
    # And nothing is left to resubmit
    again = api.post(f"/orders/{key}/resubmit")
    assert again.status_code == 409 and "nothing to resubmit" in again.json()["error"]["message"]


def test_a_failed_import_is_mapped_again_routed_and_run_after_the_mapping_is_added(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an order whose import failed: one SKU has no mapping (the stack's default flow applies)
    api.seed_demo_mappings()
    key = _order(runtime, store, [*LINES, {"sku": "NOPE", "name": "Unmapped", "quantity": 1, "price": "1"}])
    runs, latest = _runs(api, key)
    assert latest["Import order"] == "failed" and "Validate order header" not in runs
    assert api.get(f"/orders/{key}").json()["status"] == "error"

    # When the mapping is added and the order resubmitted
    mapping = {"product": "Nope Scale", "external_field_name": "sku", "external_field_value": "NOPE"}
    assert api.post("/mappings/products", mapping).status_code == 201
    answer = api.post(f"/orders/{key}/resubmit")
    runtime.wait_for_all()

    # Then the import step maps the stored order again, routes it, and its flow runs
    assert answer.status_code == 202, answer.text
    assert answer.json()["resume_at"] == "Import order"
    assert "-intake-" in answer.json()["execution"] and answer.json()["execution"].endswith("-resubmit-1")
    runs, latest = _runs(api, key)
    assert runs["Import order"] == 2 and latest["Import order"] == "succeeded"  # the failed one is kept
    assert latest["Route to flows"] == "succeeded"
    assert latest["Validate order header"] == "succeeded" and latest["Release to fulfillment"] == "succeeded"
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "validated"
    assert [line["product"] for line in order["lines"]] == [
        "Accu Scale",
        "Scale Calibration Weights",
        "Nope Scale",
    ]
    assert [h["status"] for h in order["history"]] == ["error", "new", "validated"]
    assert "resubmitted by an operator" in order["history"][1]["reason"]
    # and the store left "Manual Verification Required" for the new-order status, then was released
    assert store.status_updates(int(key.rsplit("-", 1)[1])) == [12, 11, 9]


def test_a_succeeded_order_is_not_resubmitted_and_an_unknown_one_is_not_found(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    key = _order(runtime, store, LINES)
    before = len(runtime.executions())

    succeeded = api.post(f"/orders/{key}/resubmit")
    unknown = api.post("/orders/BC-test-store-999999/resubmit")

    assert succeeded.status_code == 409
    assert succeeded.json()["error"]["message"].startswith("nothing to resubmit: every step")
    assert unknown.status_code == 404
    assert len(runtime.executions()) == before


def test_an_illegal_transition_is_refused_and_leaves_the_order_as_it_was(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a released order that has shipped
    api.seed_demo_mappings()
    key = _order(runtime, store, LINES)
    orders = tables.orders()
    orders.transition(key, OrderStatus.SHIPPED, reason="test: shipped")
    before = orders.get(key)

    # When something tries to take it back to validated
    with pytest.raises(IllegalTransition) as refused:
        orders.transition(key, OrderStatus.VALIDATED, reason="test: a late flow step")

    # Then it is refused (409, naming both statuses) and the order is unchanged
    assert isinstance(refused.value, Conflict)
    assert "from shipped to validated" in refused.value.message
    assert orders.get(key) == before
    # And the same status again is a no-op: no second history entry
    assert orders.transition(key, OrderStatus.SHIPPED).history == before.history
    assert orders.get(key) == before
