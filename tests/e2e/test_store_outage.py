"""Never lose an accepted order: a store that is down, hangs or throttles for longer than a Task's
retries lasted, a store that refuses an order, pushes the store did not take, and the sweep.

The retry schedule is scaled to seconds (STORE_RETRY_*), the BigCommerce client's own timeout and
attempts shortened, and the sweep's grace period removed, so each scenario takes seconds."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from orderflow.store import tables
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import flow, publish, release

SWEEP = "ReconcileOrdersFunction"
AWAITING_SHIPMENT, MANUAL_VERIFICATION = 9, 12
FAST = {
    "STORE_RETRY_FIRST_SECONDS": "1",
    "STORE_RETRY_MAX_SECONDS": "2",
    "STORE_RETRY_WINDOW_SECONDS": "120",
    "BIGCOMMERCE_READ_TIMEOUT_SECONDS": "1",
    "BIGCOMMERCE_MAX_ATTEMPTS": "2",
    "SWEEP_GRACE_SECONDS": "0",
}


@pytest.fixture
def outage_runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, **FAST) as runtime:
        yield runtime


@pytest.fixture
def ready(outage_runtime: LocalRuntime) -> Api:
    api = Api(outage_runtime.api_url)
    api.seed_demo_mappings()
    return api


def _order_gets(store: DemoStore, since: int = 0) -> Counter[int]:
    counts: Counter[int] = Counter()
    for request in store.requests[since:]:
        parts = request.path.split("/")
        if request.method == "GET" and len(parts) == 4 and parts[1:3] == ["v2", "orders"]:
            counts[int(parts[3])] += 1
    return counts


def _deliver_all(runtime: LocalRuntime, store: DemoStore, ids: list[int]) -> dict[int, str]:
    keys = {}
    for order_id in ids:
        answer = post_webhook(runtime, webhook_body(store, order_id))
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
        keys[order_id] = answer.json()["order_key"]
    return keys


OUTAGES = {
    "answers 500": (Fault(500), 12),
    "hangs": (Fault(None, delay=2.0), 6),
    "throttles with reset headers": (Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "300"}), 6),
}


@pytest.mark.parametrize("kind", list(OUTAGES))
def test_orders_accepted_during_a_store_outage_are_each_imported_once_when_it_is_back(
    outage_runtime: LocalRuntime, store: DemoStore, ready: Api, kind: str
) -> None:
    fault, count = OUTAGES[kind]
    ids = [store.add_order() for _ in range(count)]
    # Given the store's order reads fail for as long as the test says
    store.outage("GET", r"/v2/orders/\d+", fault, seconds=3600)

    # When their webhooks arrive during the outage
    keys = _deliver_all(outage_runtime, store, ids)

    # Then every order exists from the moment we answered: listed, fetchable, pending import
    listed = {
        o["order_key"]: o["status"] for o in ready.get("/orders", params={"limit": 200}).json()["orders"]
    }
    assert all(listed.get(key) == "pending_import" for key in keys.values())
    assert ready.get(f"/orders/{keys[ids[0]]}").status_code == 200
    time.sleep(6)  # longer than a Task's retries used to last here: the imports keep waiting
    health = ready.get("/health").json()
    assert health["attention"]["pending_import"]["count"] == count and health["status"] == "attention"
    waiting = ready.get(f"/orders/{keys[ids[0]]}/step-results").json()["step_results"]
    assert [(r["step"], r["status"]) for r in waiting] == [("Import order", "retrying")]
    assert waiting[0]["attempts"] >= 2 and waiting[0]["details"]["next_attempt_at"]

    # When the store is back
    recovered = len(store.requests)
    store.end_outages()
    executions = outage_runtime.wait_for_all(timeout=240)

    # Then every order is imported exactly once, read once after the recovery, its status pushed once
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    statuses = {key: ready.get(f"/orders/{key}").json()["status"] for key in keys.values()}
    assert set(statuses.values()) == {"validated"}, statuses
    assert _order_gets(store, recovered) == Counter({order_id: 1 for order_id in ids})
    assert all(store.status_updates(order_id) == [AWAITING_SHIPMENT] for order_id in ids)
    intakes = Counter(e["name"].rsplit("-intake-", 1)[0] for e in executions if "-intake-" in e["name"])
    assert set(intakes.values()) == {1} and len(intakes) == count
    assert ready.get("/health").json()["attention"]["pending_import"]["count"] == 0


def test_an_order_the_store_does_not_have_is_import_failed_listed_and_resubmittable(
    outage_runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given the store answers 404 for an order it announced (a deleted or mistyped order)
    order_id = store.add_order()
    store.inject("GET", rf"/v2/orders/{order_id}", Fault(404))

    key = _deliver_all(outage_runtime, store, [order_id])[order_id]
    outage_runtime.wait_for_all()

    # Then it is import_failed with the cause, listed and in the health report, no retry spent
    order = ready.get(f"/orders/{key}").json()
    assert order["status"] == "import_failed" and "no such order" in order["import_error"]
    assert _order_gets(store)[order_id] == 1
    assert ready.get("/health").json()["attention"]["import_failed"]["count"] == 1

    # When the merchant has fixed it and an operator resubmits it
    answer = ready.post(f"/orders/{key}/resubmit")
    outage_runtime.wait_for_all()

    # Then it is imported and runs its flow
    assert answer.status_code == 202, answer.text
    assert ready.get(f"/orders/{key}").json()["status"] == "validated"
    assert ready.get("/health").json()["attention"]["import_failed"]["count"] == 0


def test_a_store_down_beyond_the_retry_window_leaves_orders_pending_until_the_sweep_imports_them(
    store: DemoStore,
) -> None:
    # Given imports that give up after a 3-second window
    with local_runtime(store, **{**FAST, "STORE_RETRY_WINDOW_SECONDS": "3"}) as runtime:
        api = Api(runtime.api_url)
        api.seed_demo_mappings()
        ids = [store.add_order() for _ in range(3)]
        store.outage("GET", r"/v2/orders/\d+", Fault(503), seconds=3600)
        keys = _deliver_all(runtime, store, ids)
        runtime.wait_for_all(timeout=120)

        # Then the orders stay pending, with honest step results, and the health route shows them
        for key in keys.values():
            order = api.get(f"/orders/{key}").json()
            assert order["status"] == "pending_import" and "503" in order["import_error"]
            (result,) = api.get(f"/orders/{key}/step-results").json()["step_results"]
            assert result["status"] == "failed" and "the sweep" in result["message"]
        pending = api.get("/health").json()["attention"]["pending_import"]
        assert pending["count"] == 3 and pending["oldest_age_seconds"] >= 0

        # A sweep while the store is still down starts them again, and they wait again
        down = runtime.invoke(SWEEP, {"reconcile": False})
        assert len(down["restarted"]) == 3
        runtime.wait_for_all(timeout=120)

        # When the store is back, the next sweep imports each once
        store.end_outages()
        report = runtime.invoke(SWEEP, {"reconcile": False})
        runtime.wait_for_all(timeout=120)

        # (the report counts what is still pending as the sweep ends: the restarted imports may have
        # finished by then, so anything from 0 to 3; once they ran, nothing is)
        assert len(report["restarted"]) == 3 and report["attention"]["pending_import"]["count"] <= 3
        assert api.get("/health").json()["attention"]["pending_import"]["count"] == 0
        assert {api.get(f"/orders/{key}").json()["status"] for key in keys.values()} == {"validated"}
        assert api.get("/health").json()["status"] == "ok"
        assert all(store.status_updates(order_id) == [AWAITING_SHIPMENT] for order_id in ids)


def test_status_pushes_the_store_did_not_take_are_pushed_later_in_order(
    outage_runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given a flow that releases the order, then holds it for review: two pushes (9, then 12)
    publish(ready, flow("Two statuses", release("Release"), release("Review", "on_hold")))
    order_id = store.add_order()
    # and a store that refuses status changes (503) for now
    store.outage("PUT", rf"/v2/orders/{order_id}", Fault(503), seconds=3600)

    key = _deliver_all(outage_runtime, store, [order_id])[order_id]
    outage_runtime.wait_for_all()

    # Then the steps succeeded, saying the push is pending; the store has nothing yet
    results: dict[str, Any] = {
        r["step"]: r for r in ready.get(f"/orders/{key}/step-results").json()["step_results"]
    }
    assert results["Review"]["status"] == "succeeded" and "pending" in results["Review"]["message"]
    assert (
        store.status_updates(order_id) == []
        and ready.get("/health").json()["attention"]["push_pending"]["count"] == 1
    )

    # When the store is back and the sweep runs (twice: the second finds nothing left)
    store.end_outages()
    first = outage_runtime.invoke(SWEEP, {"reconcile": False})
    second = outage_runtime.invoke(SWEEP, {"reconcile": False})

    # Then only the latest status reached the store: never 9 after 12
    assert first["pushes"] == {key: "BigCommerce status set to 12 Manual Verification Required"}
    assert second["pushes"] == {}
    assert store.status_updates(order_id) == [MANUAL_VERIFICATION]
    order = ready.get(f"/orders/{key}").json()
    assert order["status"] == "on_hold" and order["external_status_id"] == MANUAL_VERIFICATION


def test_a_second_sweep_while_one_runs_does_nothing_and_the_next_runs(
    outage_runtime: LocalRuntime, ready: Api
) -> None:
    # Given a sweep holding its lease (a run started by the schedule, say)
    settings = tables.settings()
    assert settings.take_lease("sweep", "the-running-sweep", 60)

    # When another one is started by hand
    second = outage_runtime.invoke(SWEEP, {"reconcile": False})

    # Then it stops at once; once the lease is given back, a sweep runs
    assert second["ran"] is False and second["restarted"] == [] and second["attention"] == {}
    settings.release_lease("sweep", "the-running-sweep")
    assert outage_runtime.invoke(SWEEP, {"reconcile": False})["ran"] is True


def test_an_order_the_store_shows_as_incomplete_is_not_kept_as_pending(
    outage_runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given an order created Incomplete (a payment that has not gone through)
    order_id = store.add_order(status_id=0)

    # When its created webhook is accepted and its intake reads it
    key = _deliver_all(outage_runtime, store, [order_id])[order_id]
    outage_runtime.wait_for_all()

    # Then nothing is imported, and its pending record is gone: not listed, nothing waits on it
    assert ready.get(f"/orders/{key}").status_code == 404
    assert ready.get("/health").json()["attention"]["pending_import"]["count"] == 0
