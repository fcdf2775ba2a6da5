"""``POST /orders/{order_key}/shipments`` through the local runtime's API against the loopback store:
orders come in by their webhook, are shipped in parts, and BigCommerce ends up with exactly the
shipments and statuses it should, whatever fails or repeats on the way."""

from __future__ import annotations

import threading
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

SETTLE_SECONDS = 1.0
SHIPMENTS_PATH = r"/v2/orders/\d+/shipments"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    # The wait before a lost POST is looked for in the store, shortened from a minute for the tests.
    with local_runtime(store, SHIPMENT_SETTLE_SECONDS=str(SETTLE_SECONDS)) as local:
        yield local


def _imported(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """The sample order (line 1: 1 ABS, line 2: 2 SCW) imported by its webhook and released."""
    api.seed_demo_mappings()
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert [e["status"] for e in runtime.wait_for_all()] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(store.status_updates(order_id)) == 1  # the flow's release status
    return order_id, answer.json()["order_key"]


def _ship(api: Api, order_key: str, body: dict[str, Any]) -> Any:
    return api.post(f"/orders/{order_key}/shipments", body)


def _posts(store: DemoStore, order_id: int) -> int:
    return sum(
        1 for r in store.requests if r.method == "POST" and r.path == f"/v2/orders/{order_id}/shipments"
    )


def _shipped(api: Api, order_key: str) -> list[int]:
    return [line["quantity_shipped"] for line in api.get(f"/orders/{order_key}").json()["lines"]]


def _stored_shipments(order_key: str) -> list[Shipment]:
    return ShipmentRepository("OrdersTable").for_order(order_key)


def _short_read_timeout() -> None:
    # The API's client gives up reading after 0.3 s, so a store that answers in 1 s looks lost to it.
    client = connection.client(time_budget=connection.API_TIME_BUDGET)
    client.timeout = (1.0, 0.3)


def test_a_partial_then_a_complete_shipment_reach_bigcommerce_and_move_the_status(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given the sample order, imported by its webhook and validated (store status 11)
    order_id, order_key = _imported(runtime, store, api)
    released = store.status_updates(order_id)
    products = {p["sku"]: p for p in store.order_products(order_id)}
    address_id = products["ABS"]["order_address_id"]

    # When one of the two calibration weights ships, named by SKU
    first = _ship(
        api,
        order_key,
        {"items": [{"sku": "SCW", "quantity": 1}], "tracking_number": "1Z999AA10123456784", "carrier": "ups"},
    )

    # Then BigCommerce has that shipment, and the order is Partially Shipped here and there
    assert first.status_code == 201, first.text
    body = first.json()
    [made] = store.shipments(order_id)
    assert made["order_address_id"] == address_id
    assert made["items"] == [
        {
            "order_product_id": products["SCW"]["id"],
            "product_id": products["SCW"]["product_id"],
            "quantity": 1,
        }
    ]
    assert (made["tracking_number"], made["shipping_provider"]) == ("1Z999AA10123456784", "ups")
    assert body["status"] == "created"
    assert body["bigcommerce_shipment_ids"] == [made["id"]]
    assert body["order_status"] == "partially_shipped"
    assert [(line["line_number"], line["sku"], line["quantity"]) for line in body["lines"]] == [(2, "SCW", 1)]
    assert store.status_updates(order_id) == [*released, 3]
    assert store.order(order_id)["status_id"] == 3
    order = api.get(f"/orders/{order_key}").json()
    assert order["status"] == "partially_shipped"
    assert _shipped(api, order_key) == [0, 1]

    # When the rest ships, lines named by number
    second = _ship(
        api, order_key, {"items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 1}]}
    )

    # Then BigCommerce has both shipments and the order went Partially Shipped → Shipped, in that order
    assert second.status_code == 201, second.text
    assert second.json()["order_status"] == "shipped"
    shipments = store.shipments(order_id)
    assert len(shipments) == 2
    assert sorted((i["order_product_id"], i["quantity"]) for i in shipments[1]["items"]) == [
        (products["ABS"]["id"], 1),
        (products["SCW"]["id"], 1),
    ]
    assert [p["quantity_shipped"] for p in store.order_products(order_id)] == [1, 2]
    assert store.status_updates(order_id) == [*released, 3, 2]
    assert api.get(f"/orders/{order_key}").json()["status"] == "shipped"
    assert _shipped(api, order_key) == [1, 2]
    stored = _stored_shipments(order_key)
    assert [(s.status, s.order_status) for s in stored] == [
        ("created", "partially_shipped"),
        ("created", "shipped"),
    ]
    assert [g.id for s in stored for g in s.bigcommerce] == [made["id"], shipments[1]["id"]]


def test_over_shipping_is_refused_with_every_problem_named_and_nothing_recorded_or_posted(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key = _imported(runtime, store, api)
    store.clear_requests()

    answer = _ship(
        api,
        order_key,
        {
            "items": [
                {"line_number": 1, "quantity": 1},
                {"sku": "SCW", "quantity": 3},
                {"line_number": 7, "quantity": 1},
            ]
        },
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == "items[1].quantity"
    assert error["problems"] == [
        "items[1].quantity: 3 exceeds the 2 still to ship on line 2 (SKU SCW)",
        f"items[2].line_number: order {order_key} has no line 7; its lines are 1 to 2",
    ]
    assert store.requests == []
    assert store.shipments(order_id) == []
    assert _shipped(api, order_key) == [0, 0]
    assert _stored_shipments(order_key) == []


def test_an_unknown_order_is_a_404_and_a_malformed_body_a_400(runtime: LocalRuntime, api: Api) -> None:
    missing = _ship(api, "BC-test-store-999", {"items": [{"line_number": 1, "quantity": 1}]})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "order_key"

    bad = _ship(api, "BC-test-store-999", {"items": [{"line_number": 1, "quantity": 0}], "carrier": "dhl"})
    assert bad.status_code == 400
    assert [p.split(":")[0] for p in bad.json()["error"]["problems"]] == ["items[0].quantity", "carrier"]


def test_the_same_shipment_id_twice_makes_one_shipment(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key = _imported(runtime, store, api)
    body = {"shipment_id": "WH1-0001", "items": [{"sku": "SCW", "quantity": 1}], "tracking_number": "T1"}

    first = _ship(api, order_key, body)
    again = _ship(api, order_key, body)

    # The repeat answers the same shipment (200: nothing new) without recording or posting again
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["id"] == "WH1-0001"
    assert len(store.shipments(order_id)) == 1
    assert _posts(store, order_id) == 1
    assert _shipped(api, order_key) == [0, 1]

    # The same id with other contents is a mistake, not a new shipment
    other = _ship(api, order_key, {**body, "items": [{"sku": "SCW", "quantity": 2}]})
    assert other.status_code == 409
    assert other.json()["error"]["field"] == "shipment_id"
    assert len(store.shipments(order_id)) == 1


def test_a_post_whose_answer_is_lost_is_found_in_the_store_not_sent_twice(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a store that answers shipment POSTs after our read timeout (but does create them)
    order_id, order_key = _imported(runtime, store, api)
    released = store.status_updates(order_id)
    _short_read_timeout()
    store.inject("POST", SHIPMENTS_PATH, Fault(None, delay=1.0))
    body = {"shipment_id": "slow-1", "items": [{"sku": "SCW", "quantity": 1}]}

    # When the shipment is sent, its answer is lost: 503, pending, come back later
    lost = _ship(api, order_key, body)
    assert lost.status_code == 503, lost.text
    assert lost.json()["error"]["code"] == "bigcommerce_outcome_unknown"
    assert lost.json()["shipment"]["status"] == "pending"
    assert int(lost.headers["Retry-After"]) >= 1

    # And a retry straight away is told to wait: the store may still be working on it
    early = _ship(api, order_key, body)
    assert early.status_code == 503
    assert _posts(store, order_id) == 1

    # When the retry comes after the wait, the shipment is found in the store, not posted again
    time.sleep(SETTLE_SECONDS + 0.2)
    assert len(store.shipments(order_id)) == 1  # the slow POST did its work
    done = _ship(api, order_key, body)

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "created"
    assert done.json()["bigcommerce_shipment_ids"] == [store.shipments(order_id)[0]["id"]]
    assert done.json()["order_status"] == "partially_shipped"
    assert len(store.shipments(order_id)) == 1
    assert _posts(store, order_id) == 1
    assert store.status_updates(order_id) == [*released, 3]
    assert _shipped(api, order_key) == [0, 1]


def test_a_post_that_failed_after_reaching_the_store_is_looked_for_then_sent_again(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # A 502 from the store's gateway: the POST may or may not have been carried out (here: not)
    order_id, order_key = _imported(runtime, store, api)
    released = store.status_updates(order_id)
    store.inject("POST", SHIPMENTS_PATH, Fault(502))
    body = {
        "shipment_id": "gw-1",
        "items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}],
    }

    lost = _ship(api, order_key, body)
    assert lost.status_code == 503 and lost.json()["error"]["code"] == "bigcommerce_outcome_unknown"

    time.sleep(SETTLE_SECONDS + 0.2)
    done = _ship(api, order_key, body)

    assert done.status_code == 200, done.text
    assert done.json()["order_status"] == "shipped"
    assert len(store.shipments(order_id)) == 1
    assert _posts(store, order_id) == 2
    gets = [r for r in store.requests if r.method == "GET" and r.path == f"/v2/orders/{order_id}/shipments"]
    assert len(gets) == 1  # looked before posting again
    assert store.status_updates(order_id) == [*released, 2]


def test_a_post_that_never_reached_the_store_is_sent_again_at_once(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Throttled on every attempt: a 429 is refused before any work, so nothing needs looking for
    order_id, order_key = _imported(runtime, store, api)
    throttled = Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "5"})
    store.inject("POST", SHIPMENTS_PATH, *[throttled] * 4)
    body = {"shipment_id": "busy-1", "items": [{"line_number": 1, "quantity": 1}]}

    busy = _ship(api, order_key, body)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "bigcommerce_unavailable"

    done = _ship(api, order_key, body)
    assert done.status_code == 200, done.text
    assert len(store.shipments(order_id)) == 1
    assert not [r for r in store.requests if r.method == "GET" and r.path.endswith("/shipments")]


def test_a_shipment_bigcommerce_refuses_is_kept_as_failed_and_its_units_released(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key = _imported(runtime, store, api)
    released = store.status_updates(order_id)
    refusal = Fault(400, body=[{"status": 400, "message": "The field 'tracking_link' is invalid."}])
    store.inject("POST", SHIPMENTS_PATH, refusal)
    body = {"shipment_id": "bad-1", "items": [{"sku": "SCW", "quantity": 2}], "tracking_link": "not a link"}

    refused = _ship(api, order_key, body)

    assert refused.status_code == 502
    error = refused.json()["error"]
    assert error["code"] == "bigcommerce_refused"
    assert "The field 'tracking_link' is invalid." in error["message"]
    shipment = refused.json()["shipment"]
    assert (shipment["status"], shipment["error"]) == ("failed", "The field 'tracking_link' is invalid.")
    assert shipment["bigcommerce"][0]["state"] == "refused"
    assert _shipped(api, order_key) == [0, 0]
    assert [(s.id, s.status) for s in _stored_shipments(order_key)] == [("bad-1", "failed")]
    assert store.status_updates(order_id) == released

    # The same request again gets the same answer and sends nothing; a corrected one ships
    assert _ship(api, order_key, body).status_code == 502
    assert _posts(store, order_id) == 1
    fixed = _ship(api, order_key, {**body, "shipment_id": "bad-1-fixed", "tracking_link": ""})
    assert fixed.status_code == 201, fixed.text
    assert _shipped(api, order_key) == [0, 2]
    assert len(store.shipments(order_id)) == 1


def test_two_shipments_competing_for_the_last_units_ship_them_once(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key = _imported(runtime, store, api)
    start = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def ship(shipment_id: str) -> None:
        own = Api(api.base)  # a session per thread
        start.wait()
        answers[shipment_id] = _ship(
            own, order_key, {"shipment_id": shipment_id, "items": [{"sku": "SCW", "quantity": 2}]}
        )

    threads = [threading.Thread(target=ship, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    codes = sorted(a.status_code for a in answers.values())
    assert codes[0] == 201 and codes[1] in (400, 409), [a.text for a in answers.values()]
    loser = next(a for a in answers.values() if a.status_code != 201)
    assert "exceeds the 0 still to ship" in loser.text or "fully shipped" in loser.text
    assert len(store.shipments(order_id)) == 1
    assert _posts(store, order_id) == 1
    assert _shipped(api, order_key) == [0, 2]
    assert len(_stored_shipments(order_key)) == 1


def _two_address_order(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str, list[int]]:
    """The sample order with SCW (line 2) going to a second address, imported by its webhook."""
    # The demo store seeds one address per order: the second is added to its state directly.
    api.seed_demo_mappings()
    order_id = store.sample_order()
    with store._lock:
        first = store._addresses[order_id][0]
        second = {**first, "id": store._take("address"), "street_1": "1 Second Street"}
        store._addresses[order_id].append(second)
        store._products[order_id][1]["order_address_id"] = second["id"]
    answer = post_webhook(runtime, webhook_body(store, order_id))
    runtime.wait_for_all()
    return order_id, answer.json()["order_key"], [first["id"], second["id"]]


def test_an_order_shipping_to_two_addresses_gets_one_bigcommerce_shipment_per_address(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key, addresses = _two_address_order(runtime, store, api)

    shipped = _ship(
        api, order_key, {"items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}]}
    )

    assert shipped.status_code == 201, shipped.text
    made = store.shipments(order_id)
    assert [(s["order_address_id"], len(s["items"])) for s in made] == [(addresses[0], 1), (addresses[1], 1)]
    assert shipped.json()["bigcommerce_shipment_ids"] == [s["id"] for s in made]
    assert [g["order_address_id"] for g in shipped.json()["bigcommerce"]] == addresses
    assert shipped.json()["order_status"] == "shipped"
    assert store.status_updates(order_id)[-1] == 2


def test_a_part_bigcommerce_refuses_is_released_and_the_part_it_took_stays_shipped(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a two-address order whose second BigCommerce shipment is refused
    order_id, order_key, addresses = _two_address_order(runtime, store, api)
    released = store.status_updates(order_id)
    refusal = Fault(400, body=[{"status": 400, "message": "The field 'order_address_id' is invalid."}])
    store.inject("POST", SHIPMENTS_PATH, Fault(None), refusal)

    answer = _ship(
        api, order_key, {"items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}]}
    )

    # Then the first part stands (and moves the order), the second is recorded as refused and released
    assert answer.status_code == 502, answer.text
    shipment = answer.json()["shipment"]
    assert shipment["status"] == "partially_created"
    assert [(g["order_address_id"], g["state"]) for g in shipment["bigcommerce"]] == [
        (addresses[0], "created"),
        (addresses[1], "refused"),
    ]
    assert "were created; the rest was released" in answer.json()["error"]["message"]
    assert [s["order_address_id"] for s in store.shipments(order_id)] == [addresses[0]]
    assert _shipped(api, order_key) == [1, 0]
    assert shipment["order_status"] == "partially_shipped"
    assert store.status_updates(order_id) == [*released, 3]
