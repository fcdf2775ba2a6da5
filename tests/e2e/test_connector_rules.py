"""The connector's import rules against a store that calls back: imported at the new-order status,
once; our own status pushes come back as webhooks and are recognised (no loops); a merchant's
status reset re-imports the order as a new revision, other changes after import are ignored."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import WEBHOOK_SECRET, Api, post_webhook, webhook_body

AWAITING_FULFILLMENT, AWAITING_SHIPMENT, SHIPPED, CANCELLED, INCOMPLETE = 11, 9, 2, 5, 0


def _register_hooks(store: DemoStore, runtime: LocalRuntime, *scopes: str) -> None:
    for scope in scopes:
        answer = requests.post(
            f"{store.api_base}/v3/hooks",
            json={
                "scope": scope,
                "destination": f"{runtime.api_url}/webhooks/bigcommerce",
                "is_active": True,
                "headers": {"X-Webhook-Secret": WEBHOOK_SECRET},
            },
            headers={"X-Auth-Token": store.access_token},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text


def _settle(runtime: LocalRuntime, store: DemoStore) -> list[dict[str, Any]]:
    """Wait until no execution runs and the store has no callback left to send (callbacks start
    executions, executions push statuses, pushes cause callbacks)."""
    while True:
        executions = runtime.wait_for_all()
        assert store.wait_for_callbacks()
        if len(runtime.executions()) == len(executions):
            return executions


def _intakes(executions: list[dict[str, Any]], order_key: str) -> list[dict[str, Any]]:
    return [e for e in executions if e["name"].startswith(f"{order_key}-intake-")]


def test_a_webhook_storm_imports_each_order_once_pushes_in_order_and_never_loops(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a store that calls us back on every status change, and settings that would loop if our
    # own pushes were taken for the merchant's: downloaded = Awaiting Shipment, then validated maps
    # back to the new-order status (Awaiting Fulfillment)
    api.seed_demo_mappings()
    assert (
        api.put(
            "/settings/bigcommerce",
            {
                "downloaded_status_id": AWAITING_SHIPMENT,
                "status_mapping": {"validated": AWAITING_FULFILLMENT},
            },
        ).status_code
        == 200
    )
    _register_hooks(store, runtime, "store/order/statusUpdated", "store/order/updated")
    orders = [store.add_order(status_id=AWAITING_FULFILLMENT) for _ in range(20)]

    # When 80 `created` webhooks arrive for them: each event twice with its hash, and twice more
    # as redeliveries with new hashes, shuffled, from 8 senders at once
    deliveries: list[dict[str, Any]] = []
    for order_id in orders:
        body = webhook_body(store, order_id)
        deliveries += [body, body, webhook_body(store, order_id), webhook_body(store, order_id)]
    random.Random(7).shuffle(deliveries)
    # (the local runtime is one CPU-bound process: under this load an answer may take seconds)
    with ThreadPoolExecutor(8) as senders:
        answers = list(senders.map(lambda body: post_webhook(runtime, body, timeout=90), deliveries))
    executions = _settle(runtime, store)

    # Then every delivery got a 200, and exactly 20 orders were imported, each once
    assert {a.status_code for a in answers} == {200}
    assert sorted(a.json()["status"] for a in answers).count("accepted") == 20
    listed = api.get("/orders", params={"limit": 200}).json()["orders"]
    assert sorted(o["external_id"] for o in listed) == sorted(orders)
    for order_id in orders:
        key = f"BC-{store.store_hash}-{order_id}"
        # one intake, one flow run, revision 1: the store's callbacks started nothing
        assert [e["name"] for e in executions if e["name"].startswith(f"{key}-")] == [
            _intakes(executions, key)[0]["name"],
            f"{key}-default-order-flow-v1",
        ]
        # pushed exactly the downloaded status, then the validated one, in that order
        assert store.status_updates(order_id) == [AWAITING_SHIPMENT, AWAITING_FULFILLMENT]
        assert api.get(f"/orders/{key}").json()["revision"] == 1
    # Our pushes caused 4 callbacks per order (updated + statusUpdated, twice), all answered 200
    # and recognised: none started work
    callbacks = [d for d in store.deliveries]
    assert len(callbacks) == 4 * len(orders) and all(d.ok for d in callbacks)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}


def test_an_order_is_imported_when_it_reaches_the_new_order_status(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    _register_hooks(store, runtime, "store/order/statusUpdated")
    order_id = store.add_order(status_id=INCOMPLETE)  # e.g. a payment that has not gone through
    key = f"BC-{store.store_hash}-{order_id}"

    created = post_webhook(runtime, webhook_body(store, order_id))
    executions = _settle(runtime, store)

    # The created webhook's intake found it Incomplete: nothing imported, nothing pushed
    assert created.json()["status"] == "accepted"
    [intake] = executions
    assert api.get(f"/orders/{key}").status_code == 404
    assert store.status_updates(order_id) == []

    # When the payment goes through, the store moves it to Awaiting Fulfillment and calls us back
    store.set_status(order_id, AWAITING_FULFILLMENT)
    executions = _settle(runtime, store)

    order = api.get(f"/orders/{key}").json()
    assert order["import_id"] == f"BC-{order_id}" and order["revision"] == 1
    assert len(_intakes(executions, key)) == 2
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    steps = {(s["execution"], s["step"]): s["status"] for s in order["step_results"]}
    assert steps[(intake["name"], "Import order")] == "skipped"


def test_a_status_reset_re_imports_the_order_and_other_changes_are_ignored(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    _register_hooks(store, runtime, "store/order/statusUpdated", "store/order/updated")
    order_id = store.add_order(lines=[{"sku": "ABS", "quantity": 1, "price": "45.00"}])
    key = f"BC-{store.store_hash}-{order_id}"
    post_webhook(runtime, webhook_body(store, order_id))
    _settle(runtime, store)
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    before = len(runtime.executions())

    # A merchant's edits after import are ignored: they start nothing and change nothing
    store.set_status(order_id, SHIPPED)
    store.set_status(order_id, CANCELLED)
    _settle(runtime, store)
    assert len(runtime.executions()) == before
    assert api.get(f"/orders/{key}").json()["revision"] == 1

    # Until the status is reset to the new-order status: then it is imported again, as revision 2,
    # and runs its flows again under a new execution
    store.set_status(order_id, AWAITING_FULFILLMENT)
    executions = _settle(runtime, store)

    order = api.get(f"/orders/{key}").json()
    assert order["revision"] == 2
    assert f"{key}-r2-default-order-flow-v1" in {e["name"] for e in executions}
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT, AWAITING_SHIPMENT]
    assert any("re-imported" in h["reason"] for h in order["history"])
    # Both revisions' step results are kept (two imports, two releases)
    releases = [s for s in order["step_results"] if s["step"] == "Release to fulfillment"]
    assert len(releases) == 2
    # and only once: the reset's own echoes did not import it a third time
    assert len(runtime.executions()) == len(executions) == before + 2
