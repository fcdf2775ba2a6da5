"""BigCommerceClient against the loopback DemoStore: real HTTP, faults injected by the store."""

from __future__ import annotations

import contextlib
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from orderflow.bigcommerce import quota
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceOutcomeUnknown,
    BigCommerceUnavailable,
)
from orderflow_local.demo_store import DemoStore, Fault

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


# -- POST is not idempotent at BigCommerce --------------------------------------------------------

SHIPMENTS_PATH = r"/v2/orders/\d+/shipments"


def shipment_body(store: DemoStore, order_id: int) -> dict:
    [line, *_] = store.order_products(order_id)
    return {
        "order_address_id": line["order_address_id"],
        "items": [{"order_product_id": line["id"], "quantity": 1}],
    }


def test_a_post_answered_500_is_not_sent_again_and_reports_an_unknown_outcome(store, client, sleeps):
    # Given a store that fails after receiving a shipment
    order_id = store.sample_order()
    store.inject("POST", SHIPMENTS_PATH, Fault(500))

    # When the shipment is posted
    with pytest.raises(BigCommerceOutcomeUnknown) as caught:
        client.post(f"/v2/orders/{order_id}/shipments", shipment_body(store, order_id))

    # Then it went once, and the error says the caller must look before sending it again
    assert client.request_count == 1
    assert sleeps == []
    assert caught.value.status == 500
    assert isinstance(caught.value, BigCommerceUnavailable)  # still transient for the step retriers
    assert str(caught.value) == (
        f"BigCommerce answered 500 on POST /v2/orders/{order_id}/shipments: Internal Server Error; "
        "the request may have been carried out: check before sending it again"
    )


def test_a_post_whose_answer_is_slower_than_the_read_timeout_is_not_sent_again(store, sleeps):
    # Given a store that processes the shipment but answers too late
    order_id = store.sample_order()
    store.inject("POST", SHIPMENTS_PATH, Fault(None, delay=1.0))
    slow = make_client(store, sleeps, timeout=(1.0, 0.2))

    with pytest.raises(BigCommerceOutcomeUnknown) as caught:
        slow.post(f"/v2/orders/{order_id}/shipments", shipment_body(store, order_id))

    assert slow.request_count == 1
    assert caught.value.status is None
    assert caught.value.message == "read timeout"
    # The store did create it: exactly why the client must not send it again.
    deadline = time.monotonic() + 3
    while not store.shipments(order_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(store.shipments(order_id)) == 1


def test_a_throttled_post_is_sent_again_since_429_means_nothing_was_done(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("POST", SHIPMENTS_PATH, Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "20"}))

    shipment = client.post(f"/v2/orders/{order_id}/shipments", shipment_body(store, order_id))

    assert shipment["order_id"] == order_id
    assert sleeps == [pytest.approx(0.02)]
    assert len(store.shipments(order_id)) == 1


def test_a_post_that_could_not_connect_is_retried_and_ends_unavailable_not_unknown(sleeps):
    # Given a port nobody listens on: the request can never have reached a store
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = BigCommerceClient(f"http://127.0.0.1:{port}", "h", "t", sleep=sleeps.append, max_attempts=3)

    with pytest.raises(BigCommerceUnavailable) as caught:
        nowhere.post("/v3/hooks", {"scope": "store/order/created"})

    assert type(caught.value) is BigCommerceUnavailable
    assert nowhere.request_count == 3
    assert len(sleeps) == 2
    assert caught.value.message == "connection failed (ConnectionError)"


@pytest.fixture
def hang_up() -> Iterator[str]:
    """A server that reads a request and closes the connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1.0)
                with contextlib.suppress(OSError):
                    connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopping.set()
    thread.join(timeout=2)
    listener.close()


def test_a_connection_dropped_after_sending_a_post_is_an_unknown_outcome(hang_up, sleeps):
    dropped = BigCommerceClient(hang_up, "h", "t", sleep=sleeps.append, timeout=(1.0, 2.0))

    with pytest.raises(BigCommerceOutcomeUnknown) as caught:
        dropped.post("/v2/orders/1/shipments", {"items": []})
    with pytest.raises(BigCommerceUnavailable) as read:
        dropped.get("/v2/orders/1")

    assert caught.value.message == "connection failed (ConnectionError)"
    assert type(read.value) is BigCommerceUnavailable  # a GET is simply retried
    assert dropped.request_count == 1 + dropped.max_attempts


def test_put_and_delete_are_retried_after_server_errors(store, client, sleeps):
    order_id = store.sample_order()
    store.inject("PUT", ORDER_PATH, Fault(502))

    client.update_order_status(order_id, 2)

    assert client.request_count == 2
    assert store.status_updates(order_id) == [2]


def test_an_unknown_outcome_survives_pickling():
    error = BigCommerceOutcomeUnknown(504, "Gateway Timeout", method="POST", path="/v3/hooks")

    copied = pickle.loads(pickle.dumps(error))

    assert type(copied) is BigCommerceOutcomeUnknown
    assert str(copied) == str(error)


# -- rate limits -----------------------------------------------------------------------------------


def real_sleep(slept: list[float]):
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    return sleep


def test_the_stores_own_quota_is_paced_on_without_meeting_a_429(store):
    # Given a store allowing 2 requests per 300 ms (one of them kept for the merchant's other apps),
    # and a client that really sleeps
    store.rate_limit(2, 300)
    slept: list[float] = []
    paced = BigCommerceClient(store.url, store.store_hash, store.access_token, sleep=real_sleep(slept))

    # When it sends three requests at once
    for _ in range(3):
        paced.list_order_statuses()

    # Then each after the first waited for the window to reset, and none was refused
    assert [r.path for r in store.requests] == ["/v2/order_statuses"] * 3
    assert store.throttled == 0
    assert len(slept) == 2 and all(0 < seconds <= 0.3 + quota.MARGIN for seconds in slept)
    assert [window.served for window in store.quota_windows] == [1, 1, 1]


def test_threads_sharing_the_stores_limiter_never_meet_a_429_and_leave_the_reserve(store):
    # Given a store allowing 10 requests per 300 ms, and 6 threads with a client each
    store.rate_limit(10, 300)
    clients = [BigCommerceClient(store.url, store.store_hash, store.access_token) for _ in range(6)]
    failures: list[Exception] = []

    def work(client: BigCommerceClient) -> None:
        try:
            for _ in range(10):
                client.list_order_statuses()
        except Exception as exc:
            failures.append(exc)

    # When they send 60 requests as fast as they can
    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then none was refused, and no window served more than 9 (one left to the other apps); how many
    # each window served depends on this machine's speed, so that is a bench figure, not a test's
    assert failures == []
    assert len({id(client.limiter) for client in clients}) == 1
    assert store.throttled == 0 and len(store.requests) == 60
    assert max(window.served for window in store.quota_windows) <= 9


def test_another_apps_spending_still_meets_a_429_which_waits_for_the_reset(store):
    # Given a store allowing 5 requests per 400 ms, all of them spent by another app
    store.rate_limit(5, 400)
    for _ in range(5):
        answer = requests.get(
            f"{store.api_base}/v2/store", headers={"X-Auth-Token": store.access_token}, timeout=5
        )
        assert answer.status_code == 200
    slept: list[float] = []
    ours = BigCommerceClient(store.url, store.store_hash, store.access_token, sleep=real_sleep(slept))

    # When our client asks twice
    ours.list_order_statuses()
    ours.list_order_statuses()

    # Then the first met the 429, waited for the reset and got through; the second went at once
    assert store.throttled == 1
    assert [r.path for r in store.requests][5:] == ["/v2/order_statuses"] * 3
    assert len(slept) == 1 and 0 < slept[0] <= 0.4


def test_clients_of_one_store_share_its_limiter_and_a_wait_beyond_the_budget_gives_up_unsent(store):
    # Given a store allowing 3 requests per 5 s, spent down to its reserve by one client
    store.rate_limit(3, 5_000)
    first = BigCommerceClient(store.url, store.store_hash, store.access_token)
    first.list_order_statuses()
    first.list_order_statuses()
    other_store = BigCommerceClient(store.url, "another-store", store.access_token)
    assert other_store.limiter is not first.limiter

    # When another client of the same store, answering within 1 s, asks
    hurried = BigCommerceClient(store.url, store.store_hash, store.access_token, time_budget=1.0)
    assert hurried.limiter is first.limiter
    with pytest.raises(BigCommerceUnavailable) as caught:
        hurried.list_order_statuses()

    # Then it gives up at once, saying why, without spending the request left to the other apps
    assert caught.value.status == 429
    assert caught.value.message.startswith("the store's API quota is spent until its window resets in")
    assert caught.value.message.endswith("; gave up within the client's 1 s time budget")
    assert hurried.request_count == 0 and len(store.requests) == 2 and store.throttled == 0


def test_the_reset_header_wins_over_retry_after_and_absurd_waits_are_capped(store, client, sleeps):
    order_id = store.sample_order()
    store.inject(
        "GET",
        ORDER_PATH,
        Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "30", "X-Retry-After": "5"}),
        Fault(429, headers={"X-Retry-After": "86400"}),
        Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "soon"}),
    )

    assert client.get_order(order_id)["id"] == order_id

    assert sleeps[:2] == [pytest.approx(0.03), 60.0]
    # A header that is not a number counts as no header: back off, never retry at once.
    assert client._ceiling(2) / 2 <= sleeps[2] <= client._ceiling(2)


# -- the time budget -------------------------------------------------------------------------------


def test_a_rate_limit_wait_beyond_the_time_budget_gives_up_at_once(store, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "5000"}))
    budgeted = make_client(store, sleeps, time_budget=1.0)

    with pytest.raises(BigCommerceUnavailable) as caught:
        budgeted.get_order(order_id)

    assert sleeps == []
    assert budgeted.request_count == 1
    assert caught.value.status == 429
    assert caught.value.message == "Too Many Requests; gave up within the client's 1 s time budget"


def test_the_time_budget_shortens_the_read_timeout_of_a_hanging_response(store, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, *[Fault(None, delay=2.0)] * 4)
    budgeted = make_client(store, sleeps, timeout=(1.0, 5.0), time_budget=0.3)

    started = time.monotonic()
    with pytest.raises(BigCommerceUnavailable) as caught:
        budgeted.get_order(order_id)

    assert time.monotonic() - started < 1.0
    assert caught.value.status is None
    assert caught.value.message.startswith("read timeout")


def test_without_a_time_budget_the_attempts_alone_bound_a_call(store, sleeps):
    order_id = store.sample_order()
    store.inject("GET", ORDER_PATH, Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "5000"}))
    plain = make_client(store, sleeps)

    assert plain.get_order(order_id)["id"] == order_id
    assert sleeps == [5.0]


def test_a_time_budget_must_be_positive(store):
    with pytest.raises(ValueError, match="time_budget"):
        BigCommerceClient(store.url, store.store_hash, store.access_token, time_budget=0)


# -- pagination ------------------------------------------------------------------------------------


def test_a_204_on_the_first_page_is_an_empty_list(store, client):
    order_id = store.sample_order()

    assert list(client.iter_pages(f"/v2/orders/{order_id}/shipments")) == []
    assert client.request_count == 1


def test_iter_v3_pages_follows_total_pages(store, client):
    for n in range(5):
        client.create_hook({"scope": "store/order/created", "destination": f"https://example.com/{n}"})
    store.clear_requests()

    hooks = list(client.iter_v3_pages("/v3/hooks", limit=2))

    assert [h["destination"] for h in hooks] == [f"https://example.com/{n}" for n in range(5)]
    assert [r.query["page"] for r in store.requests] == [["1"], ["2"], ["3"]]


def test_hooks_are_listed_created_and_updated(store, client):
    created = client.create_hook({"scope": "store/order/created", "destination": "https://example.com/a"})

    updated = client.update_hook(created["id"], {"is_active": False})

    assert updated["is_active"] is False
    assert client.list_hooks() == store.hooks()


def test_a_post_refused_for_a_bad_token_is_not_retried(store, sleeps):
    wrong = BigCommerceClient(store.url, store.store_hash, "not-the-token", sleep=sleeps.append)

    with pytest.raises(BigCommerceAuthError):
        wrong.create_hook({"scope": "store/order/created", "destination": "https://example.com/a"})

    assert wrong.request_count == 1
    assert store.hooks() == []
