"""The step functions, invoked as the state machine invokes them (payloads from events/step_*.json)."""

from __future__ import annotations

import json
import re

import pytest

from orderflow.errors import ResumeElsewhere, StoreNotAnswering
from orderflow.store import tables
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, step_event


def _import(runtime: LocalRuntime, store: DemoStore, order_id: int) -> dict:
    key = f"BC-{store.store_hash}-{order_id}"
    event = step_event(
        "step_import_order.json",
        order_key=key,
        order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
    )
    return runtime.invoke("ImportOrderFunction", event)


def test_importing_twice_asks_the_store_once(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    store.clear_requests()

    first = _import(runtime, store, order_id)
    second = _import(runtime, store, order_id)

    assert {k: first[k] for k in ("step", "status", "succeeded")} == {
        "step": "Import order", "status": "succeeded", "succeeded": True}  # fmt: skip
    assert re.fullmatch(
        rf"imported BC-{order_id}: 2 lines, 2 mapped; customer CUS-\w+ created", first["message"]
    )
    assert second["succeeded"] and "already imported; nothing fetched" in second["message"]
    assert len(store.requests) == 1


def test_an_unmapped_order_fails_the_import_naming_every_value_and_maps_once_fixed(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id = store.add_order(
        lines=[
            {"sku": "ABS", "quantity": 1, "price": "45.00"},
            {"sku": "NOPE-1", "quantity": 1, "price": "1.00"},
            {"sku": "NOPE-2", "quantity": 2, "price": "1.00"},
        ]
    )
    store.clear_requests()

    first = _import(runtime, store, order_id)

    assert first["status"] == "failed" and not first["succeeded"]
    for value in ("sku 'ABS'", "sku 'NOPE-1'", "sku 'NOPE-2'", "unit 'each'"):
        assert value in first["message"], value
    assert "4 value(s) have no mapping" in first["message"]
    # Nothing is lost: the order is stored with its issues for an operator
    stored = tables.orders().get(f"BC-{store.store_hash}-{order_id}")
    assert [len(line.mapping_issues) for line in stored.lines] == [2, 2, 2]

    # An operator adds the mappings; running the step again maps the stored order, no new fetch
    api.seed_demo_mappings()
    for sku in ("NOPE-1", "NOPE-2"):
        api.post(
            "/mappings/products",
            {"product": f"Part {sku}", "external_field_name": "sku", "external_field_value": sku},
        )
    again = _import(runtime, store, order_id)

    assert again["succeeded"] and "every value is mapped now" in again["message"]
    fixed = tables.orders().get(f"BC-{store.store_hash}-{order_id}")
    assert [line.product for line in fixed.lines] == ["Accu Scale", "Part NOPE-1", "Part NOPE-2"]
    assert all(not line.mapping_issues for line in fixed.lines) and fixed.account
    assert len([r for r in store.requests if r.method == "GET" and r.path == f"/v2/orders/{order_id}"]) == 1
    # The failed import told the store (import-error status 12); the fixed one moves it on (11, the
    # new-order status: no downloaded status is set) and the order out of error
    assert store.status_updates(order_id) == [12, 11]
    assert fixed.status == "new" and [h.status for h in fixed.history][-2:] == ["error", "new"]


def test_an_order_the_store_does_not_have_is_kept_as_import_failed_and_not_retried(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    # When the store answers 404 for the order
    answer = _import(runtime, store, 9999)

    # Then the step failed at once (it will not pass), saying why, and the order is kept, visible
    assert answer["status"] == "failed" and answer["retry_in"] == 0
    key = f"BC-{store.store_hash}-9999"
    (result,) = tables.orders().step_results(key)
    assert (
        result.status == "failed"
        and "the store has no such order" in result.message
        and "404" in result.message
    )
    order = tables.orders().get(key)
    assert order.status == "import_failed" and "404" in order.import_error
    assert len([r for r in store.requests if r.path.startswith("/v2/orders/9999")]) == 1


def test_an_unreachable_store_makes_the_import_wait_on_the_schedule(
    runtime: LocalRuntime, store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store that answers 503 for a while, and the retry schedule 30 s, doubling, at most 5 min
    monkeypatch.setenv("STORE_RETRY_FIRST_SECONDS", "30")
    monkeypatch.setenv("STORE_RETRY_MAX_SECONDS", "300")
    order_id = store.sample_order()
    key = f"BC-{store.store_hash}-{order_id}"
    store.inject("GET", rf"/v2/orders/{order_id}", *[Fault(503)] * 20)

    # When the import runs, and runs again as the intake would after each wait
    first = _import(runtime, store, order_id)
    event = step_event(
        "step_import_order.json",
        order_key=key,
        order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
        previous={"step": "Import order", "status": "retrying", "succeeded": False, "attempt": 4},
    )
    fifth = runtime.invoke("ImportOrderFunction", event)

    # Then each says when to try again (30 s, then … 300 s), and the order is kept as pending_import
    # with the truth: attempts so far, the last error, the next try
    assert (first["status"], first["retry_in"], first["attempt"]) == ("retrying", 30, 1)
    assert (fifth["status"], fifth["retry_in"], fifth["attempt"]) == ("retrying", 300, 5)
    (result,) = tables.orders().step_results(key)
    assert result.status == "retrying" and result.attempts == 5 and "503" in result.message
    assert result.details["next_attempt_at"] and "503" in result.details["last_error"]
    order = tables.orders().get(key)
    assert order.status == "pending_import" and order.import_attempts == 2 and order.next_attempt_at


def test_validation_steps_answer_with_the_problems(runtime: LocalRuntime, store: DemoStore) -> None:
    order_id = store.add_order(lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"}])
    _import(runtime, store, order_id)  # no mappings at all
    key = f"BC-{store.store_hash}-{order_id}"

    header = runtime.invoke(
        "ValidateOrderFunction", step_event("step_validate_order_header.json", order_key=key)
    )
    lines = runtime.invoke(
        "ValidateOrderFunction", step_event("step_validate_order_line.json", order_key=key)
    )

    assert header["succeeded"] is True
    assert lines["succeeded"] is False and lines["status"] == "failed"
    assert "no product mapping for sku 'ABS'" in lines["message"] and "no unit mapping" in lines["message"]


def test_status_pushes_follow_the_settings(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    _import(runtime, store, order_id)
    key = f"BC-{store.store_hash}-{order_id}"

    # A status mapped to "not assigned" pushes nothing
    api.put("/settings/bigcommerce", {"status_mapping": {"validated": None}})
    unassigned = runtime.invoke(
        "StatusPushbackFunction", step_event("step_update_order_status.json", order_key=key)
    )
    # Pushing turned off pushes nothing either
    api.put("/settings/bigcommerce", {"status_mapping": {"on_hold": 12}, "push_enabled": False})
    held = runtime.invoke(
        "StatusPushbackFunction",
        step_event("step_update_order_status.json", order_key=key, params={"status": "on_hold"}, step="Hold"),
    )
    # A mapped status with pushing on is pushed
    api.put("/settings/bigcommerce", {"push_enabled": True, "status_mapping": {"validated": 9}})
    pushed = runtime.invoke(
        "StatusPushbackFunction", step_event("step_update_order_status.json", order_key=key)
    )

    assert "not assigned" in unassigned["message"] and "pushing to BigCommerce is off" in held["message"]
    assert "BigCommerce status set to 9 Awaiting Shipment" in pushed["message"]
    assert store.status_updates(order_id) == [9]
    history = [(h["status"]) for h in api.get(f"/orders/{key}").json()["history"]]
    assert history == ["validated", "on_hold", "validated"]


def test_a_resubmits_first_step_hands_over_to_the_resume_point_untouched(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    # Given the intake's first step, started by a resubmit that resumes at the route step
    order_id = store.sample_order()
    key = f"BC-{store.store_hash}-{order_id}"
    event = step_event(
        "step_import_order.json",
        order_key=key,
        order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
        execution_input={"order_key": key, "resume_at": "Route to flows"},
    )
    store.clear_requests()

    # Then it hands over (the machine's Catch goes to the resume point): nothing asked, nothing written
    with pytest.raises(ResumeElsewhere, match="Route to flows"):
        runtime.invoke("ImportOrderFunction", event)
    assert store.requests == [] and tables.orders().step_results(key) == []


def test_an_import_the_machine_waits_for_says_how_long_in_its_error(
    runtime: LocalRuntime, store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store that answers 503, and the intake's import, which waits by error
    monkeypatch.setenv("STORE_RETRY_FIRST_SECONDS", "30")
    monkeypatch.setenv("STORE_RETRY_MAX_SECONDS", "300")
    order_id = store.sample_order()
    key = f"BC-{store.store_hash}-{order_id}"
    store.inject("GET", rf"/v2/orders/{order_id}", *[Fault(503)] * 20)
    ref = {"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id}

    # When it runs first, and again after the machine read the wait of the fourth try
    with pytest.raises(StoreNotAnswering) as first:
        runtime.invoke("ImportOrderFunction", step_event(
            "step_import_order.json", order_key=key, order_ref=ref, waits_by_error=True))  # fmt: skip
    after_wait = {"wait": {"status": "retrying", "retry_in": 240, "attempt": 4}}
    with pytest.raises(StoreNotAnswering) as fifth:
        runtime.invoke("ImportOrderFunction", step_event(
            "step_import_order.json", order_key=key, order_ref=ref, waits_by_error=True, previous=after_wait))  # fmt: skip

    # Then each error is the JSON the machine waits on, and the step result says it is retrying
    assert json.loads(str(first.value)) == {"status": "retrying", "retry_in": 30, "attempt": 1}
    assert json.loads(str(fifth.value)) == {"status": "retrying", "retry_in": 300, "attempt": 5}
    (result,) = tables.orders().step_results(key)
    assert result.status == "retrying" and result.attempts == 5


def test_the_route_step_after_an_import_that_imported_nothing_starts_nothing_and_records_nothing(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    key = f"BC-{store.store_hash}-{order_id}"
    _import(runtime, store, order_id)
    skipped_import = {"step": "Import order", "status": "skipped", "succeeded": True}

    answer = runtime.invoke("RouteOrderFunction", step_event(
        "step_route_order.json", order_key=key,
        order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
        previous=skipped_import))  # fmt: skip

    assert (answer["status"], answer["message"]) == ("skipped", "nothing imported by this run")
    assert [r.step for r in tables.orders().step_results(key)] == ["Import order"]
    assert runtime.executions() == []
