"""DemoStore speaks BigCommerce's documented shapes over HTTP, enforces its rules, calls webhooks back."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from orderflow_local.demo_store import DemoStore, Fault

MONEY = re.compile(r"^\d+\.\d{4}$")
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
ORDER_MONEY = ("subtotal_ex_tax", "subtotal_inc_tax", "total_ex_tax", "total_inc_tax", "total_tax")
LINE_MONEY = ("base_price", "price_ex_tax", "price_inc_tax", "total_ex_tax", "total_inc_tax")


@pytest.fixture
def store():
    with DemoStore() as running:
        yield running


class Api:
    """Plain requests against the store, with the token unless told otherwise."""

    def __init__(self, store: DemoStore, token: str | None = None) -> None:
        self.base = store.api_base
        self.headers = {"X-Auth-Token": token or store.access_token}

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base + path, headers=self.headers, timeout=5, **kwargs)


@pytest.fixture
def api(store) -> Api:
    return Api(store)


class Receiver:
    """A loopback webhook destination that records each callback and answers after ``delay``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, str], dict]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.calls.append((self.path, dict(self.headers.items()), body))
                receiver.arrived.set()
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver(delay=0.3)
    yield made
    made.close()


def test_order_has_the_documented_v2_shape(store, api):
    order_id = store.sample_order()

    order = api("GET", f"/v2/orders/{order_id}").json()

    assert order_id == 250
    assert (order["status_id"], order["status"]) == (11, "Awaiting Fulfillment")
    assert order["customer_id"] == 11
    assert order["billing_address"]["email"] == "janedoe@example.com"
    assert order["billing_address"]["city"] == "Austin"
    assert order["currency_code"] == "USD"
    assert all(MONEY.match(order[field]) for field in ORDER_MONEY)
    assert (order["subtotal_ex_tax"], order["total_inc_tax"], order["items_total"]) == (
        "70.0000",
        "70.0000",
        3,
    )
    assert RFC2822.match(order["date_created"]) and RFC2822.match(order["date_modified"])
    parsedate_to_datetime(order["date_created"])
    assert order["products"]["resource"] == f"/orders/{order_id}/products"
    assert order["products"]["url"] == f"{store.api_base}/v2/orders/{order_id}/products"
    assert order["shipping_addresses"]["resource"] == f"/orders/{order_id}/shipping_addresses"
    assert "consignments" not in order


def test_order_products_and_addresses_are_consistent(store, api):
    order_id = store.sample_order()

    lines = api("GET", f"/v2/orders/{order_id}/products").json()
    [address] = api("GET", f"/v2/orders/{order_id}/shipping_addresses").json()

    assert [(p["sku"], p["quantity"], p["price_ex_tax"], p["total_inc_tax"]) for p in lines] == [
        ("ABS", 1, "45.0000", "45.0000"),
        ("SCW", 2, "12.5000", "25.0000"),
    ]
    assert len({p["id"] for p in lines}) == 2
    for line in lines:
        assert all(MONEY.match(line[field]) for field in LINE_MONEY)
        assert line["order_id"] == order_id and line["order_address_id"] == address["id"]
        assert (line["quantity_shipped"], line["product_options"], line["applied_discounts"]) == (0, [], [])
        assert line["is_bundled_product"] is False and line["parent_order_product_id"] is None
    assert address["order_id"] == order_id and address["items_total"] == 3


def test_guest_order_status_name_follows_status_id(store, api):
    order_id = store.add_order(status_id=11, lines=[{"sku": "X", "name": "X", "quantity": 3, "price": "2.5"}])

    order = api("GET", f"/v2/orders/{order_id}").json()

    assert (order["customer_id"], order["status"], order["total_inc_tax"]) == (
        0,
        "Awaiting Fulfillment",
        "7.5000",
    )


def test_consignments_object_form_carries_line_items_or_links(store, api):
    order_id = store.sample_order()
    full = api(
        "GET",
        f"/v2/orders/{order_id}",
        params={"include": "consignments.line_items", "consignment_structure": "object"},
    ).json()
    linked = api(
        "GET", f"/v2/orders/{order_id}", params={"include": "consignments", "consignment_structure": "object"}
    ).json()

    consignments = full["consignments"]
    assert (consignments["pickups"], consignments["downloads"]) == ([], [])
    assert consignments["email"] == {"gift_certificates": []}
    [shipping] = consignments["shipping"]
    assert shipping["city"] == "Austin" and shipping["shipping_method"] == "Flat Rate"
    assert shipping["line_items"] == store.order_products(order_id)
    assert [item["resource"] for item in linked["consignments"]["shipping"][0]["line_items"]] == [
        f"/orders/{order_id}/products/{p['id']}" for p in store.order_products(order_id)
    ]


def test_empty_list_pages_answer_204_without_body(store, api):
    order_id = store.sample_order()

    for path, params in [
        (f"/v2/orders/{order_id}/products", {"page": 2}),
        ("/v2/orders", {"status_id": 5}),
        (f"/v2/orders/{order_id}/shipments", {}),
    ]:
        answer = api("GET", path, params=params)
        assert (answer.status_code, answer.content) == (204, b""), path


def test_order_list_filters_by_modification_date_in_either_format(store, api):
    old = store.add_order(date_created=datetime(2019, 3, 5, 21, 40, 11, tzinfo=UTC))
    new = store.add_order()

    for since in ("2020-01-01T00:00:00Z", "Wed, 01 Jan 2020 00:00:00 +0000"):
        listed = api("GET", "/v2/orders", params={"min_date_modified": since}).json()
        assert [o["id"] for o in listed] == [new]
    assert [o["id"] for o in api("GET", "/v2/orders").json()] == [old, new]
    assert api("GET", "/v2/orders", params={"min_date_modified": "yesterday"}).status_code == 400


def test_bad_token_and_unknown_store_are_refused(store):
    bad = Api(store, token="wrong")

    v2 = bad("GET", "/v2/orders")
    v3 = bad("GET", "/v3/hooks")
    other_store = requests.get(
        f"{store.url}/stores/elsewhere/v2/orders", headers={"X-Auth-Token": store.access_token}, timeout=5
    )

    assert v2.status_code == 401 and v2.json()[0]["status"] == 401
    assert v3.status_code == 401 and v3.json()["status"] == 401 and v3.json()["title"]
    assert other_store.status_code == 404


def test_unknown_order_answers_v2_404(api):
    answer = api("GET", "/v2/orders/999")

    assert answer.status_code == 404
    assert answer.json() == [{"status": 404, "message": "The requested resource was not found."}]


def test_status_update_validates_and_is_recorded(store, api):
    order_id = store.sample_order()

    refused = api("PUT", f"/v2/orders/{order_id}", json={"status_id": 15})
    accepted = api("PUT", f"/v2/orders/{order_id}", json={"status_id": 9})

    assert refused.status_code == 400 and refused.json()[0]["status"] == 400
    assert accepted.json()["status"] == "Awaiting Shipment"
    assert store.order(order_id)["status_id"] == 9
    assert store.status_updates(order_id) == [9]


def test_rate_limit_quota_answers_429_with_headers(store, api):
    store.rate_limit(2, 60_000)

    answers = [api("GET", "/v2/order_statuses") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-Rate-Limit-Requests-Left"] for a in answers] == ["1", "0", "0"]
    limited = answers[2].headers
    assert limited["X-Rate-Limit-Requests-Quota"] == "2"
    assert limited["X-Rate-Limit-Time-Window-Ms"] == "60000"
    assert 0 < int(limited["X-Rate-Limit-Time-Reset-Ms"]) <= 60_000


def test_shipments_are_validated_against_the_order(store, api):
    order_id = store.sample_order()
    abs_line, scw_line = store.order_products(order_id)
    address_id = abs_line["order_address_id"]
    path = f"/v2/orders/{order_id}/shipments"

    def ship(**body):
        return api("POST", path, json=body)

    assert ship(items=[{"order_product_id": abs_line["id"], "quantity": 1}]).status_code == 400
    assert (
        ship(order_address_id=address_id, items=[{"order_product_id": 999, "quantity": 1}]).status_code == 400
    )
    too_many = ship(order_address_id=address_id, items=[{"order_product_id": scw_line["id"], "quantity": 3}])
    assert too_many.status_code == 400 and too_many.json()[0]["status"] == 400
    created = ship(
        order_address_id=address_id,
        tracking_number="1Z999",
        shipping_provider="ups",
        items=[{"order_product_id": scw_line["id"], "quantity": 1}],
    )
    again = ship(order_address_id=address_id, items=[{"order_product_id": scw_line["id"], "quantity": 2}])

    assert created.status_code == 201
    shipment = created.json()
    assert (shipment["tracking_number"], shipment["shipping_provider"]) == ("1Z999", "ups")
    assert shipment["items"] == [
        {"order_product_id": scw_line["id"], "product_id": scw_line["product_id"], "quantity": 1}
    ]
    assert again.status_code == 400
    assert [p["quantity_shipped"] for p in store.order_products(order_id)] == [0, 1]
    assert store.order(order_id)["status_id"] == 11  # shipping does not move the status by itself
    assert [s["id"] for s in api("GET", path).json()] == [shipment["id"]]


def test_one_shipment_is_read_by_its_id_and_an_unknown_one_answers_404(store, api):
    # Given an order with one shipment created through the API
    order_id = store.sample_order()
    abs_line, _ = store.order_products(order_id)
    created = api(
        "POST",
        f"/v2/orders/{order_id}/shipments",
        json={
            "order_address_id": abs_line["order_address_id"],
            "items": [{"order_product_id": abs_line["id"], "quantity": 1}],
            "tracking_number": "1Z999",
        },
    ).json()

    # When it is read by its id, and shipments that do not exist are asked for
    found = api("GET", f"/v2/orders/{order_id}/shipments/{created['id']}")
    unknown = api("GET", f"/v2/orders/{order_id}/shipments/999")
    other_order = api("GET", f"/v2/orders/999/shipments/{created['id']}")

    # Then the shipment comes back as the POST answered it; the others are v2 404s
    assert found.status_code == 200 and found.json() == created
    assert {
        "order_address_id",
        "items",
        "tracking_number",
        "comments",
        "shipping_address",
    } <= found.json().keys()
    assert unknown.status_code == 404
    assert unknown.json() == [{"status": 404, "message": "The requested resource was not found."}]
    assert other_order.status_code == 404


def test_a_shipment_made_by_hand_moves_the_status_itself_and_calls_back(store, api, receiver):
    # Given an order at Awaiting Fulfillment and hooks on shipments and status changes
    order_id = store.sample_order()
    abs_line, scw_line = store.order_products(order_id)
    for scope in ("store/shipment/created", "store/order/statusUpdated"):
        hook = {"scope": scope, "destination": f"{receiver.url}/{scope}", "is_active": True}
        assert api("POST", "/v3/hooks", json=hook).status_code == 200

    # When the merchant ships one weight by hand in the control panel
    first = store.create_shipment_by_hand(
        order_id, [{"order_product_id": scw_line["id"], "quantity": 1}], tracking_number="1ZHAND"
    )
    deliveries = store.wait_for_deliveries(2, timeout=5)

    # Then the store has it (readable by id), shows Partially Shipped, and called back: the
    # shipment first, then the status change; no API status update was recorded
    assert api("GET", f"/v2/orders/{order_id}/shipments/{first['id']}").json() == first
    assert first["order_address_id"] == scw_line["order_address_id"]
    assert first["items"] == [
        {"order_product_id": scw_line["id"], "product_id": scw_line["product_id"], "quantity": 1}
    ]
    assert first["tracking_number"] == "1ZHAND"
    assert [p["quantity_shipped"] for p in store.order_products(order_id)] == [0, 1]
    assert store.order(order_id)["status_id"] == 3
    assert store.status_updates(order_id) == []
    assert [(d.body["scope"], d.body["data"]) for d in deliveries] == [
        ("store/shipment/created", {"type": "shipment", "id": first["id"], "orderId": order_id}),
        (
            "store/order/statusUpdated",
            {"type": "order", "id": order_id, "status": {"previous_status_id": 11, "new_status_id": 3}},
        ),
    ]

    # When the rest ships by hand: Shipped
    store.create_shipment_by_hand(
        order_id,
        [
            {"order_product_id": abs_line["id"], "quantity": 1},
            {"order_product_id": scw_line["id"], "quantity": 1},
        ],
    )
    later = store.wait_for_deliveries(4, timeout=5)
    assert store.order(order_id)["status_id"] == 2
    assert [d.body["scope"] for d in later[2:]] == ["store/shipment/created", "store/order/statusUpdated"]
    assert later[3].body["data"]["status"] == {"previous_status_id": 3, "new_status_id": 2}

    # And what the control panel would refuse (nothing left to ship) is refused, nothing changed
    with pytest.raises(ValueError, match="greater than the quantity that is available to ship"):
        store.create_shipment_by_hand(order_id, [{"order_product_id": abs_line["id"], "quantity": 1}])
    assert len(store.shipments(order_id)) == 2 and store.status_updates(order_id) == []


def test_hooks_crud(api):
    body = {
        "scope": "store/order/statusUpdated",
        "destination": "https://example.com/webhooks",
        "is_active": True,
        "headers": {"X-Webhook-Secret": "s3cret"},
    }

    created = api("POST", "/v3/hooks", json=body).json()
    duplicate = api("POST", "/v3/hooks", json=body)
    hook = created["data"]
    updated = api("PUT", f"/v3/hooks/{hook['id']}", json={"is_active": False}).json()["data"]
    listed = api("GET", "/v3/hooks").json()["data"]
    deleted = api("DELETE", f"/v3/hooks/{hook['id']}")
    gone = api("GET", f"/v3/hooks/{hook['id']}")

    assert created["meta"] == {}
    assert {k: hook[k] for k in body} == body
    assert {"id", "client_id", "store_hash", "created_at", "updated_at"} <= hook.keys()
    assert duplicate.status_code == 422
    assert updated["is_active"] is False and updated["destination"] == body["destination"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert deleted.status_code == 200
    assert gone.status_code == 404 and gone.json()["status"] == 404


def test_status_change_calls_active_hooks_back_without_blocking_the_put(store, api, receiver):
    order_id = store.sample_order()
    secret = {"X-Webhook-Secret": "s3cret"}
    for scope, path, active in [
        ("store/order/statusUpdated", "/status", True),
        ("store/order/updated", "/updated", True),
        ("store/order/statusUpdated", "/inactive", False),
    ]:
        hook = {"scope": scope, "destination": receiver.url + path, "is_active": active, "headers": secret}
        assert api("POST", "/v3/hooks", json=hook).status_code == 200

    started = time.monotonic()
    assert api("PUT", f"/v2/orders/{order_id}", json={"status_id": 9}).status_code == 200
    put_seconds = time.monotonic() - started
    deliveries = store.wait_for_deliveries(2)
    api("PUT", f"/v2/orders/{order_id}", json={"status_id": 9})  # no change, no callback

    assert put_seconds < 0.25  # the receiver takes 0.3 s to answer
    assert len(deliveries) == 2 and all(d.ok for d in deliveries)
    by_path = {path: (headers, body) for path, headers, body in receiver.calls}
    assert set(by_path) == {"/status", "/updated"}
    headers, body = by_path["/status"]
    assert headers["X-Webhook-Secret"] == "s3cret"
    assert body["scope"] == "store/order/statusUpdated"
    assert body["data"] == {
        "type": "order",
        "id": order_id,
        "status": {"previous_status_id": 11, "new_status_id": 9},
    }
    assert body["store_id"] == store.store_id and isinstance(body["store_id"], str)
    assert body["producer"] == f"stores/{store.store_hash}"
    assert re.fullmatch(r"[0-9a-f]{40}", body["hash"])
    assert isinstance(body["created_at"], int)
    assert by_path["/updated"][1]["data"] == {"type": "order", "id": order_id}
    time.sleep(0.1)
    assert len(store.deliveries) == 2


def test_build_and_deliver_an_order_created_callback(store, receiver):
    first = store.build_webhook("store/order/created", {"type": "order", "id": 250})
    second = store.build_webhook("store/order/created", {"type": "order", "id": 250})

    delivery = store.deliver_webhook(receiver.url + "/hook", first, {"X-Webhook-Secret": "s3cret"})

    assert first["hash"] != second["hash"]  # a new event, not a redelivery
    assert delivery.ok and store.deliveries == [delivery]
    [(path, headers, body)] = receiver.calls
    assert (path, headers["X-Webhook-Secret"], body) == ("/hook", "s3cret", first)


def test_faults_are_consumed_in_order_and_match_the_whole_path(store, api):
    order_id = store.sample_order()
    store.inject("GET", r"/v2/orders/\d+", Fault(503), Fault(429, headers={"X-Retry-After": "2"}))

    products = api("GET", f"/v2/orders/{order_id}/products")
    first, second, third = (api("GET", f"/v2/orders/{order_id}") for _ in range(3))

    assert products.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 429, 200)
    assert second.headers["X-Retry-After"] == "2"
    assert [r.path for r in store.requests][-3:] == [f"/v2/orders/{order_id}"] * 3


def test_customers_and_catalog_follow_v3_shapes(store, api):
    store.sample_order()
    store.add_customer(email="other@example.com", first_name="Ola", last_name="Nordmann")
    for n in range(3):
        store.add_catalog_product(name=f"Item {n}", sku=f"SKU-{n}", price="9.99")

    customers = api(
        "GET", "/v3/customers", params={"email:in": "JaneDoe@example.com,nobody@example.com"}
    ).json()
    page = api("GET", "/v3/catalog/products", params={"page": 2, "limit": 2}).json()

    assert [(c["id"], c["email"]) for c in customers["data"]] == [(11, "janedoe@example.com")]
    assert customers["meta"]["pagination"]["total"] == 1
    assert [p["sku"] for p in page["data"]] == ["SKU-2"]
    assert {k: page["meta"]["pagination"][k] for k in ("total", "count", "per_page", "current_page")} == {
        "total": 3,
        "count": 1,
        "per_page": 2,
        "current_page": 2,
    }
    assert page["meta"]["pagination"]["total_pages"] == 2
