"""BigCommerceClient against the loopback DemoStore: real HTTP, faults injected by the store."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceUnavailable,
)
from orderflow.local.demo_store import DemoStore, Fault

ORDER_PATH = r"/v2/orders/\d+"
EMAIL = "janedoe@example.com"


@pytest.fixture
def store():
    with DemoStore() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(store: DemoStore, sleeps: list[float], **options) -> BigCommerceClient:
    options.setdefault("timeout", (1.0, 2.0))
    return BigCommerceClient(store.url, store.store_hash, store.access_token, sleep=sleeps.append, **options)


@pytest.fixture
def client(store, sleeps):
    made = make_client(store, sleeps)
    yield made
    made.close()


def test_get_order_reads_the_whole_order_in_one_request(store, client):
    order_id = store.sample_order()

    order = client.get_order(order_id)

    assert client.request_count == 1
    [sent] = store.requests
    assert sent.path == f"/v2/orders/{order_id}"
    assert sent.query == {"include": ["consignments.line_items"], "consignment_structure": ["object"]}
    assert order["products"] == store.order_products(order_id)
    assert [p["sku"] for p in order["products"]] == ["ABS", "SCW"]
    [address] = order["shipping_addresses"]
    assert address["city"] == "Austin"
    assert address["shipping_method"] == "Flat Rate"
    assert address["items_total"] == 3
    assert "line_items" not in address
    assert {p["order_address_id"] for p in order["products"]} == {address["id"]}
    assert "consignments" not in order


def test_get_order_falls_back_to_sub_resources_when_consignments_are_missing(store, client):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(200, body=store.order(order_id)))

    order = client.get_order(order_id)

    assert client.request_count == 3
    assert [r.path for r in store.requests] == [
        f"/v2/orders/{order_id}",
        f"/v2/orders/{order_id}/products",
        f"/v2/orders/{order_id}/shipping_addresses",
    ]
    assert order["products"] == store.order_products(order_id)
    assert [a["city"] for a in order["shipping_addresses"]] == ["Austin"]


def test_get_order_falls_back_when_line_items_are_only_links(store, client):
    order_id = store.sample_order()
    linked = requests.get(
        f"{store.api_base}/v2/orders/{order_id}",
        params={"include": "consignments", "consignment_structure": "object"},
        headers={"X-Auth-Token": store.access_token},
        timeout=5,
    ).json()
    assert all("resource" in item for item in linked["consignments"]["shipping"][0]["line_items"])
    store.inject("GET", ORDER_PATH, Fault(200, body=linked))

    order = client.get_order(order_id)

    assert client.request_count == 3
    assert [p["quantity"] for p in order["products"]] == [1, 2]


def test_server_error_is_retried_after_a_backoff(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(500))

    order = client.get_order(order_id)

    assert order["id"] == order_id
    assert client.request_count == 2
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= client.backoff_base


def test_429_waits_for_the_rate_limit_reset(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "50"}))

    assert client.get_order(order_id)["id"] == order_id

    assert sleeps == [pytest.approx(0.05)]
    assert client.request_count == 2


def test_429_without_headers_backs_off_instead_of_retrying_at_once(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(429), Fault(429))

    assert client.get_order(order_id)["id"] == order_id

    assert len(sleeps) == 2
    assert client.backoff_base / 2 <= sleeps[0] <= client.backoff_base
    assert client.backoff_base <= sleeps[1] <= 2 * client.backoff_base


def test_429_with_only_retry_after_waits_that_many_seconds(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(429, headers={"X-Retry-After": "1"}))

    assert client.get_order(order_id)["id"] == order_id

    assert sleeps == [1.0]


def test_a_response_slower_than_the_read_timeout_is_retried_then_unavailable(store, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(200, body={}, delay=1.0), Fault(200, body={}, delay=1.0))
    slow = make_client(store, sleeps, timeout=(1.0, 0.1), max_attempts=2)

    started = time.monotonic()
    with pytest.raises(BigCommerceUnavailable) as caught:
        slow.get_order(order_id)

    assert time.monotonic() - started < 0.9
    assert slow.request_count == 2
    assert len(sleeps) == 1
    assert caught.value.status is None
    assert str(caught.value) == f"BigCommerce did not answer GET /v2/orders/{order_id}: read timeout"


def test_server_errors_through_every_attempt_raise_unavailable_with_the_last_status(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, *[Fault(503)] * 4)

    with pytest.raises(BigCommerceUnavailable) as caught:
        client.get_order(order_id)

    assert caught.value.status == 503
    assert caught.value.message == "Service Unavailable"
    assert client.request_count == 4
    assert len(sleeps) == 3


def test_bad_token_raises_auth_error_at_once_with_bigcommerce_message(store, sleeps):
    order_id = store.sample_order()
    wrong = BigCommerceClient(store.url, store.store_hash, "not-the-token", sleep=sleeps.append)

    with pytest.raises(BigCommerceAuthError) as caught:
        wrong.get_order(order_id)

    assert wrong.request_count == 1
    assert sleeps == []
    assert caught.value.status == 401
    assert caught.value.message.startswith("You are not authorized")
    assert str(caught.value).startswith(f"BigCommerce answered 401 on GET /v2/orders/{order_id}: You are")


def test_unknown_order_raises_not_found(client):
    with pytest.raises(BigCommerceNotFound) as caught:
        client.get_order(9)

    assert client.request_count == 1
    assert (
        str(caught.value)
        == "BigCommerce answered 404 on GET /v2/orders/9: The requested resource was not found."
    )


def test_other_client_errors_are_not_retried_and_carry_v3_titles(client, sleeps):
    with pytest.raises(BigCommerceError) as caught:
        client.post("/v3/hooks", {"scope": "store/order/created"})

    assert type(caught.value) is BigCommerceError
    assert caught.value.status == 422
    assert caught.value.message == "Input is invalid (destination)"
    assert client.request_count == 1
    assert sleeps == []


def test_iter_pages_stops_on_204(store, client):
    ids = [store.add_order() for _ in range(4)]

    listed = [o["id"] for o in client.iter_pages("/v2/orders", limit=2)]

    assert listed == ids
    assert [r.query["page"] for r in store.requests] == [["1"], ["2"], ["3"]]


def test_iter_pages_stops_on_a_short_page(store, client):
    ids = [store.add_order() for _ in range(3)]

    assert [o["id"] for o in client.iter_pages("/v2/orders", limit=2)] == ids
    assert client.request_count == 2


def test_update_order_status_sends_the_status_id(store, client):
    order_id = store.sample_order()

    order = client.update_order_status(order_id, 11)

    [put] = store.requests
    assert (put.method, put.path, put.body) == ("PUT", f"/v2/orders/{order_id}", {"status_id": 11})
    assert store.status_updates(order_id) == [11]
    assert order["status"] == "Awaiting Fulfillment"


def test_statuses_and_store_info(client):
    statuses = client.list_order_statuses()
    assert [s["id"] for s in statuses] == list(range(15))
    assert client.get_store_info()["name"] == "Demo Store"


@pytest.fixture
def client_logs(caplog):
    # The package's loggers hand their records to the Powertools "orderflow" logger (one JSON stream
    # on Lambda), not to the root logger where caplog listens: listen on the client's logger itself.
    caplog.set_level(logging.DEBUG)
    client_logger = logging.getLogger("orderflow.bigcommerce.client")
    level = client_logger.level
    client_logger.addHandler(caplog.handler)
    client_logger.setLevel(logging.DEBUG)
    yield caplog
    client_logger.removeHandler(caplog.handler)
    client_logger.setLevel(level)


def test_no_customer_email_reaches_logs_or_errors(store, sleeps, client_logs):
    caplog = client_logs
    order_id = store.sample_order()
    client = make_client(store, sleeps, max_attempts=2)
    store.inject("GET", r"/v3/customers", Fault(500), Fault(500))
    store.inject(
        "POST",
        r"/v3/customers",
        Fault(422, body={"status": 422, "title": f"Email {EMAIL} is already in use"}),
    )

    order = client.get_order(order_id)
    with pytest.raises(BigCommerceUnavailable) as unavailable:
        client.get("/v3/customers", {"email:in": EMAIL})
    with pytest.raises(BigCommerceError) as rejected:
        client.post("/v3/customers", [{"email": EMAIL}])

    assert order["billing_address"]["email"] == EMAIL  # the data is there, only the logs must not have it
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("orderflow")]
    assert any(f"GET /v2/orders/{order_id} -> 200" in m for m in ours)
    assert not [m for m in ours if "janedoe" in m]
    assert not [r for r in caplog.records if EMAIL in r.getMessage()]
    assert "janedoe" not in str(unavailable.value)
    assert rejected.value.message == "Email <email> is already in use"
