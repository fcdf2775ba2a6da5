"""Shipments made by hand in the BigCommerce control panel, end to end: the store calls back with
``store/shipment/created``, the shipment is recorded once as ours (lines shipped, the order's status,
the ``order_shipped`` flows) and never posted back; the webhooks our own shipments cause are
recognised and record nothing twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from orderflow.bigcommerce import connection
from orderflow.models.shipment import Shipment
from orderflow.store.shipments import ShipmentRepository
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, publish, release

SHIPMENT_CREATED = "store/shipment/created"
AWAITING_SHIPMENT, SHIPPED, PARTIALLY_SHIPPED = 9, 2, 3
SETTLE_SECONDS = 1.0
ONE_SHIPMENT = r"/v2/orders/\d+/shipments/\d+"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    # The wait before a lost POST is looked for in the store, shortened from a minute for the tests.
    with local_runtime(store, SHIPMENT_SETTLE_SECONDS=str(SETTLE_SECONDS)) as local:
        yield local


def _settle(runtime: LocalRuntime, store: DemoStore) -> list[dict[str, Any]]:
    """Until no execution runs and the store has no callback left to send (callbacks start
    executions, executions push statuses, pushes and shipments cause callbacks)."""
    while True:
        executions = runtime.wait_for_all()
        assert store.wait_for_callbacks()
        if len(runtime.executions()) == len(executions):
            return executions


def _imported(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """The sample order (line 1: 1 ABS, line 2: 2 SCW) imported and released (store status 9), with
    the store calling us back (our registered hooks) and flows published on the shipping events and on
    a merchant's status change."""
    api.seed_demo_mappings()
    publish(api, flow("Order flow", release()))
    publish(api, flow("On shipment", action("Shipped check"), input_events=["order_shipped"]))
    publish(api, flow("On part shipment", action("Part check"), input_events=["order_partially_shipped"]))
    publish(api, flow("Status watcher", action("Watch"), input_events=["order_status_changed"]))
    hooks = api.post(
        "/providers/bigcommerce/webhooks", {"destination": f"{runtime.api_url}/webhooks/bigcommerce"}
    )
    assert hooks.status_code == 200, hooks.text
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert answer.json()["status"] == "accepted", answer.text
    _settle(runtime, store)
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    return order_id, answer.json()["order_key"]


def _lines(store: DemoStore, order_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    abs_line, scw_line = store.order_products(order_id)
    return abs_line, scw_line


def _runs(runtime: LocalRuntime, order_key: str, event: str) -> list[dict[str, Any]]:
    """The flow executions an event started for the order (named ``<order>-<event>-<occurrence>-…``)."""
    return [e for e in runtime.executions() if e["name"].startswith(f"{order_key}-{event}-")]


def _shipped(api: Api, order_key: str) -> list[int]:
    return [line["quantity_shipped"] for line in api.get(f"/orders/{order_key}").json()["lines"]]


def _stored(order_key: str) -> list[Shipment]:
    return ShipmentRepository("OrdersTable").for_order(order_key)


def _shipment_callbacks(store: DemoStore) -> list[Any]:
    return [d for d in store.deliveries if d.body["scope"] == SHIPMENT_CREATED]


def _wait_for_shipment_callbacks(store: DemoStore, count: int) -> list[Any]:
    """The shipment callbacks, once ``count`` of them were answered (the store sends them on its own)."""
    deadline = time.monotonic() + 15
    while len(_shipment_callbacks(store)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.wait_for_callbacks()
    return _shipment_callbacks(store)


def _posted_shipments(store: DemoStore, order_id: int) -> int:
    return sum(
        1 for r in store.requests if r.method == "POST" and r.path == f"/v2/orders/{order_id}/shipments"
    )


def _redelivery(store: DemoStore, body: dict[str, Any]) -> dict[str, Any]:
    """The same event delivered under a new hash (BigCommerce does not promise to reuse it)."""
    return {**body, "hash": store.build_webhook(body["scope"], body["data"])["hash"]}


def test_a_shipment_made_by_hand_ships_the_lines_and_starts_order_shipped_once_however_often_it_arrives(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an imported, released order and a store that calls us back
    order_id, key = _imported(runtime, store, api)
    abs_line, scw_line = _lines(store, order_id)

    # When the merchant ships the whole order by hand in the control panel (the store moves it to
    # Shipped itself and calls back: the shipment, then the status change)
    made = store.create_shipment_by_hand(
        order_id,
        [
            {"order_product_id": abs_line["id"], "quantity": 1},
            {"order_product_id": scw_line["id"], "quantity": 2},
        ],
        tracking_number="1ZHAND0001",
        shipping_provider="ups",
    )
    _settle(runtime, store)

    # Then the lines are shipped and the order is Shipped, without that status being pushed back
    [callback] = _shipment_callbacks(store)
    assert callback.status == 200
    assert _shipped(api, key) == [1, 2]
    assert api.get(f"/orders/{key}").json()["status"] == "shipped"
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    assert store.order(order_id)["status_id"] == SHIPPED
    # and it is recorded as ours, from the store, never posted to it
    [shipment] = _stored(key)
    assert (shipment.id, shipment.status, shipment.made_in_store) == (f"bc-{made['id']}", "created", True)
    assert [g.id for g in shipment.bigcommerce] == [made["id"]]
    assert (shipment.tracking_number, shipment.carrier) == ("1ZHAND0001", "ups")
    assert [(line.line_number, line.quantity) for line in shipment.lines] == [(1, 1), (2, 2)]
    assert (shipment.order_status, shipment.event_emitted) == ("shipped", "order_shipped")
    assert _posted_shipments(store, order_id) == 0 and len(store.shipments(order_id)) == 1
    # and it started the order_shipped flow once; the store's own move to Shipped is no merchant's change
    [run] = _runs(runtime, key, "shipped")
    assert run["status"] == "SUCCEEDED" and run["name"].endswith("on-shipment-v1")
    assert _runs(runtime, key, "partship") == [] and _runs(runtime, key, "status") == []

    # When BigCommerce delivers the same event again: twice with its hash, once under a new hash
    answers = [post_webhook(runtime, callback.body) for _ in range(2)]
    answers.append(post_webhook(runtime, _redelivery(store, callback.body)))
    _settle(runtime, store)

    # Then each is a duplicate: nothing is counted twice, pushed or started again
    assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "duplicate")] * 3
    assert _shipped(api, key) == [1, 2]
    assert len(_stored(key)) == 1
    assert len(_runs(runtime, key, "shipped")) == 1
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    assert _posted_shipments(store, order_id) == 0


def test_a_redelivery_after_the_de_duplication_window_finds_the_shipment_recorded(
    runtime: LocalRuntime, store: DemoStore, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a de-duplication window of nothing (BigCommerce retries for up to two days; the window is
    # minutes), and a shipment made by hand and recorded
    monkeypatch.setenv("IDEMPOTENCY_WINDOW_SECONDS", "0")
    order_id, key = _imported(runtime, store, api)
    abs_line, scw_line = _lines(store, order_id)
    made = store.create_shipment_by_hand(
        order_id,
        [
            {"order_product_id": abs_line["id"], "quantity": 1},
            {"order_product_id": scw_line["id"], "quantity": 2},
        ],
    )
    _settle(runtime, store)
    [callback] = _shipment_callbacks(store)
    assert callback.status == 200 and _shipped(api, key) == [1, 2]

    # When the event comes again under a new hash once the window has passed
    time.sleep(1.1)
    late = post_webhook(runtime, _redelivery(store, callback.body))
    _settle(runtime, store)

    # Then the recorded shipment knows it: a duplicate, nothing counted or started again
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "duplicate"
    assert f"is recorded already as bc-{made['id']}" in late.json()["reason"]
    assert _shipped(api, key) == [1, 2]
    assert len(_stored(key)) == 1
    assert len(_runs(runtime, key, "shipped")) == 1
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]


def test_two_shipments_made_by_hand_move_the_order_to_partially_shipped_then_shipped(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an imported order
    order_id, key = _imported(runtime, store, api)
    abs_line, scw_line = _lines(store, order_id)

    # When the merchant ships one weight by hand
    store.create_shipment_by_hand(order_id, [{"order_product_id": scw_line["id"], "quantity": 1}])
    _settle(runtime, store)

    # Then the order is Partially Shipped here as in the store, nothing pushed, order_partially_shipped ran
    assert _shipped(api, key) == [0, 1]
    assert api.get(f"/orders/{key}").json()["status"] == "partially_shipped"
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]
    assert len(_runs(runtime, key, "partship")) == 1 and _runs(runtime, key, "shipped") == []

    # When the rest is shipped by hand a moment later (another shipment of the same order)
    store.create_shipment_by_hand(
        order_id,
        [
            {"order_product_id": abs_line["id"], "quantity": 1},
            {"order_product_id": scw_line["id"], "quantity": 1},
        ],
    )
    _settle(runtime, store)

    # Then it is a shipment of its own, not a duplicate of the first: the order is Shipped, once each
    assert _shipped(api, key) == [1, 2]
    assert api.get(f"/orders/{key}").json()["status"] == "shipped"
    assert sorted(s.id for s in _stored(key)) == sorted(f"bc-{s['id']}" for s in store.shipments(order_id))
    assert len(_runs(runtime, key, "partship")) == 1 and len(_runs(runtime, key, "shipped")) == 1
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT] and _posted_shipments(store, order_id) == 0
    assert _runs(runtime, key, "status") == []


def test_our_own_shipments_webhook_is_recognised_and_records_nothing_twice(
    runtime: LocalRuntime, store: DemoStore, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an imported order, one weight shipped by hand in the store, and a de-duplication window
    # of nothing (so that a redelivery below is judged on the shipment, not on the delivery ledger)
    monkeypatch.setenv("IDEMPOTENCY_WINDOW_SECONDS", "0")
    order_id, key = _imported(runtime, store, api)
    _, scw_line = _lines(store, order_id)
    by_hand = store.create_shipment_by_hand(order_id, [{"order_product_id": scw_line["id"], "quantity": 1}])
    _settle(runtime, store)

    # When the warehouse ships the rest through our API (its webhook comes back to us as well)
    shipped = api.post(
        f"/orders/{key}/shipments",
        {
            "shipment_id": "WH1-0002",
            "items": [{"line_number": 1, "quantity": 1}, {"sku": "SCW", "quantity": 1}],
        },
    )
    _settle(runtime, store)
    ours = store.shipments(order_id)[1]
    # and its callback comes once more under a new hash, later
    first, callback = _shipment_callbacks(store)
    time.sleep(1.1)
    again = post_webhook(runtime, _redelivery(store, callback.body))

    # Then our shipment's callbacks are ours: ignored, the quantities counted once, one order_shipped
    # run, nothing posted twice; Shipped was pushed by us (the store had only Partially Shipped)
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["order_status"] == "shipped"
    assert (first.status, callback.status, again.status_code) == (200, 200, 200)
    assert callback.body["data"]["id"] == ours["id"]
    assert (again.json()["status"], again.json()["reason"]) == (
        "ignored",
        f"BigCommerce shipment {ours['id']} is our shipment WH1-0002",
    )
    assert _shipped(api, key) == [1, 2]
    assert sorted(s.id for s in _stored(key)) == ["WH1-0002", f"bc-{by_hand['id']}"]
    assert len(_runs(runtime, key, "partship")) == 1 and len(_runs(runtime, key, "shipped")) == 1
    assert _posted_shipments(store, order_id) == 1
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT, SHIPPED]
    assert _runs(runtime, key, "status") == []


def test_our_shipments_webhook_arriving_before_our_post_is_answered_is_still_ours(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an imported order, a store that answers shipment POSTs after our read timeout (it creates
    # them, and calls back, before we hear its answer), and whose shipment reads leave out the comments
    # our POST puts the shipment's reference in: only the address and the items can tell it is ours
    order_id, key = _imported(runtime, store, api)
    _, scw_line = _lines(store, order_id)
    connection.client(time_budget=connection.API_TIME_BUDGET).timeout = (1.0, 0.3)
    store.inject("POST", r"/v2/orders/\d+/shipments", Fault(None, delay=1.0))
    as_the_store_reads_it = {
        "id": 1,
        "order_id": order_id,
        "order_address_id": scw_line["order_address_id"],
        "comments": "",
        "items": [{"order_product_id": scw_line["id"], "product_id": scw_line["product_id"], "quantity": 1}],
    }
    store.inject("GET", ONE_SHIPMENT, Fault(200, body=as_the_store_reads_it))
    body = {"shipment_id": "slow-1", "items": [{"sku": "SCW", "quantity": 1}]}

    # When our POST's answer is lost while the store's callback for it arrives
    lost = api.post(f"/orders/{key}/shipments", body)
    assert lost.status_code == 503, lost.text
    [callback] = _wait_for_shipment_callbacks(store, 1)
    assert callback.status == 200
    assert [r.path for r in store.requests if r.method == "GET" and "/shipments/" in r.path] == [
        f"/v2/orders/{order_id}/shipments/1"
    ]  # the store's shipment was read (the id BigCommerce gave ours was not known yet)
    assert [s.id for s in _stored(key)] == ["slow-1"]  # still pending: the callback recorded nothing

    # And the shipment is asked for again once the store had time to settle: found, not posted twice
    time.sleep(SETTLE_SECONDS + 0.2)
    done = api.post(f"/orders/{key}/shipments", body)
    _settle(runtime, store)

    # Then the weight is shipped once, by our shipment alone
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "created"
    assert _shipped(api, key) == [0, 1]
    assert [s.id for s in _stored(key)] == ["slow-1"]
    assert len(store.shipments(order_id)) == 1 and _posted_shipments(store, order_id) == 1
    assert len(_runs(runtime, key, "partship")) == 1


def test_a_store_outage_while_reading_the_shipment_answers_503_and_the_redelivery_records_it(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an imported order and a store whose shipment reads fail (5xx) for a while
    order_id, key = _imported(runtime, store, api)
    _, scw_line = _lines(store, order_id)
    store.inject("GET", ONE_SHIPMENT, *[Fault(503)] * 4)

    # When the merchant ships a weight by hand and the store calls us back
    store.create_shipment_by_hand(order_id, [{"order_product_id": scw_line["id"], "quantity": 2}])
    _settle(runtime, store)

    # Then the callback failed with a 5xx (BigCommerce will retry it) and nothing was recorded
    [callback] = _shipment_callbacks(store)
    assert callback.status == 503
    assert _shipped(api, key) == [0, 0]
    assert _stored(key) == []

    # When the store is back and BigCommerce delivers the same event again (same hash)
    store.clear_faults()
    retried = post_webhook(runtime, callback.body)
    _settle(runtime, store)

    # Then it was not taken for a duplicate: recorded, Partially Shipped, its flow started once, no push
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "accepted"
    assert len(retried.json()["executions"]) == 1
    assert _shipped(api, key) == [0, 2]
    assert api.get(f"/orders/{key}").json()["status"] == "partially_shipped"
    assert len(_runs(runtime, key, "partship")) == 1
    assert store.status_updates(order_id) == [AWAITING_SHIPMENT]


def test_a_shipment_for_an_unknown_order_or_one_the_store_does_not_have_is_ignored(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given an imported order, and an order the store has that was never imported
    order_id, key = _imported(runtime, store, api)
    abs_line, _ = _lines(store, order_id)
    never_imported = store.add_order(status_id=0)

    # When callbacks come for a shipment of the order never imported, and for a shipment the store
    # does not have
    unknown_order = post_webhook(
        runtime,
        store.build_webhook(SHIPMENT_CREATED, {"type": "shipment", "id": 7, "orderId": never_imported}),
    )
    unknown_shipment = post_webhook(
        runtime, store.build_webhook(SHIPMENT_CREATED, {"type": "shipment", "id": 999, "orderId": order_id})
    )

    # Then both answer 200 ignored, saying why, and record nothing
    assert [a.status_code for a in (unknown_order, unknown_shipment)] == [200, 200]
    assert unknown_order.json()["status"] == "ignored" and "is not imported" in unknown_order.json()["reason"]
    assert unknown_shipment.json()["status"] == "ignored"
    assert f"the store has no shipment 999 on order {order_id}" in unknown_shipment.json()["reason"]

    # When the store answers with a shipment that does not fit the order (an order product it does
    # not have, more than was ordered)
    misfit = {
        "id": 998,
        "order_id": order_id,
        "order_address_id": abs_line["order_address_id"],
        "items": [
            {"order_product_id": 424242, "product_id": 1, "quantity": 1},
            {"order_product_id": abs_line["id"], "product_id": abs_line["product_id"], "quantity": 5},
        ],
    }
    store.inject("GET", ONE_SHIPMENT, Fault(200, body=misfit))
    refused = post_webhook(
        runtime, store.build_webhook(SHIPMENT_CREATED, {"type": "shipment", "id": 998, "orderId": order_id})
    )
    _settle(runtime, store)

    # Then it is refused whole with every problem named (never a 5xx for the store's data)
    assert refused.status_code == 200
    assert refused.json()["status"] == "ignored"
    reason = refused.json()["reason"]
    assert "items[0].order_product_id: no line of order" in reason
    assert "items[1].quantity: 5 exceeds the 1 still to ship on line 1 (SKU ABS)" in reason
    assert _shipped(api, key) == [0, 0] and _stored(key) == []
    assert api.get(f"/orders/{key}").json()["status"] == "validated"
    assert _runs(runtime, key, "shipped") == [] and _runs(runtime, key, "partship") == []
