"""Hostile input on the routes that are not admin routes, through the local API: the BigCommerce
webhook and the fulfillment provider callback. Whatever a client sends answers 4xx with the contract's
error body (or, for a webhook of another store or scope, 200 "ignored"), the secret is checked before
the body is read, and nothing is stored. Then the local API under a burst of one delivery."""

from __future__ import annotations

import base64
import copy
import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderLine
from orderflow.store import tables
from orderflow.store.fulfillment_index import FulfillmentEventStore
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import WEBHOOK_SECRET, Api, load_event, local_runtime, post_webhook, webhook_body

WRONG = "not-the-secret"
MB = 1024 * 1024


# One runtime for the module: each case checks that it changed nothing, so they cannot disturb each other.
@pytest.fixture(scope="module")
def store() -> Iterator[DemoStore]:
    with DemoStore(store_hash="test-store", access_token="test-token") as demo_store:
        yield demo_store


@pytest.fixture(scope="module")
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store) as local:
        yield local


@pytest.fixture(scope="module")
def order_id(store: DemoStore) -> int:
    return store.sample_order()


@pytest.fixture(scope="module")
def fulfillment_order_id(runtime: LocalRuntime, store: DemoStore, order_id: int) -> str:
    """A fulfillment order waiting for its provider's callback, so that a refused body is refused for
    itself, not for an unknown fulfillment order."""
    order_key = f"BC-{store.store_hash}-{order_id}"
    fulfillment_order = FulfillmentOrder(
        id=f"{order_key}-FO1",
        order_key=order_key,
        source_id="WH1",
        lines=[FulfillmentOrderLine(line_number=1, sku="ABS", quantity=1)],
    )
    FulfillmentEventStore(tables.orders().table_name).add_fulfillment_order(fulfillment_order)
    return fulfillment_order.id


# -- what "nothing stored" means ------------------------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """What a request can leave behind: items in any table (orders, the webhook deliveries ledger,
    fulfillment orders and their events, shipments), executions started, calls to the store."""

    items: dict[str, list[str]]  # every table's items
    executions: int
    store_requests: int


def footprint(runtime: LocalRuntime, store: DemoStore) -> Footprint:
    dynamodb = boto3.resource("dynamodb")
    items = {
        table.name: sorted(json.dumps(item, sort_keys=True, default=str) for item in table.scan()["Items"])
        for table in dynamodb.tables.all()
    }
    return Footprint(items, len(runtime.executions()), len(store.requests))


def assert_error(answer: requests.Response, status: int, field: str | None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) >= {"code", "message", "field"} and error["message"]
    assert error["field"] == field


# -- the webhook ------------------------------------------------------------------------------------------


def _with(path: str, value: Any) -> Any:
    """The good webhook with one field changed (``data.id``), for the table below."""

    def change(body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        *parents, last = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        target[last] = value
        return body

    return change


def _nested(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


# (case, what is sent: a change of the good webhook or raw bytes, status, error field)
WEBHOOK_REFUSED: list[tuple[str, Any, int, str]] = [
    ("not UTF-8", b'{"scope": "store/order/created", "hash": "\xff\xfe"}', 400, "body"),
    ("JSON nested 5,000 levels", _nested(5000), 400, "body"),
    ("JSON nested 40 levels", _nested(40), 400, "body"),
    ("not JSON", b"scope=store/order/created", 400, "body"),
    ("a JSON list", b"[]", 400, "body"),
    ("empty", b"", 400, "body"),
    ("NaN", b'{"scope": "store/order/created", "data": {"type": "order", "id": NaN}}', 400, "body"),
    ("an integer of 5,000 digits", b'{"data": {"id": ' + b"9" * 5000 + b"}}", 400, "body"),
    ("a lone surrogate", b'{"scope": "store/order/created", "hash": "\\ud800"}', 400, "body"),
    ("a hash longer than a key", _with("hash", "a" * 3000), 400, "hash"),
    ("a blank hash", _with("hash", " "), 400, "hash"),
    ("a hash with a control character", _with("hash", "abc\u0000"), 400, "hash"),
    ("order id -5", _with("data.id", -5), 400, "data.id"),
    ("order id 0", _with("data.id", 0), 400, "data.id"),
    ("order id 10**40", _with("data.id", 10**40), 400, "data.id"),
    ("order id 2**31", _with("data.id", 2**31), 400, "data.id"),
    ("order id true", _with("data.id", True), 400, "data.id"),
    ('order id "9005"', _with("data.id", "9005"), 400, "data.id"),
    ("order id 250.5", _with("data.id", 250.5), 400, "data.id"),
    ("data.type product on an order scope", _with("data.type", "product"), 400, "data.type"),
    ("data.orderId naming another order", _with("data.orderId", 7), 400, "data.orderId"),
    ("data not an object", _with("data", [250]), 400, "data"),
    ("producer apps/evil", _with("producer", "apps/evil"), 400, "producer"),
    ("created_at 1e30", _with("created_at", 1e30), 400, "created_at"),
    ("created_at in milliseconds", _with("created_at", 1561479335000), 400, "created_at"),
    ("created_at negative", _with("created_at", -1), 400, "created_at"),
    ("store_id true", _with("store_id", True), 400, "store_id"),
    ("a scope that is no scope", _with("scope", "store/../../etc"), 400, "scope"),
]


@pytest.mark.parametrize(
    ("sent", "status", "field"),
    [pytest.param(sent, status, field, id=case) for case, sent, status, field in WEBHOOK_REFUSED],
)
def test_a_hostile_webhook_is_refused_naming_the_field_and_nothing_is_stored(
    runtime: LocalRuntime, store: DemoStore, order_id: int, sent: Any, status: int, field: str
) -> None:
    # Given the store's secret and a body that is not a BigCommerce webhook we can take
    body = sent(webhook_body(store, order_id)) if callable(sent) else None
    before = footprint(runtime, store)

    # When it is delivered
    answer = post_webhook(runtime, body, raw=None if callable(sent) else sent, timeout=30)

    # Then it answers the status with the contract's error body, and nothing was stored or started
    assert_error(answer, status, field)
    assert footprint(runtime, store) == before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(_with("producer", "stores/another-store"), "webhook for store 'another-store'", id="another store"),
        pytest.param(lambda b: {**b, "scope": "store/product/updated", "data": {"type": "product", "id": 5}},
                     "scope store/product/updated starts no work", id="a product scope"),
        pytest.param(lambda b: {**b, "scope": "store/cart/created",
                                "data": {"type": "cart", "id": "09346904-4175-44fd-be53-f7e598531b6c"}},
                     "scope store/cart/created starts no work", id="a cart scope (its id a UUID)"),
        pytest.param(_with("scope", "store/order/archived"), "scope store/order/archived starts no work",
                     id="an order scope we do not handle"),
    ],
)  # fmt: skip
def test_a_webhook_for_another_store_or_scope_is_answered_ignored_and_nothing_is_stored(
    runtime: LocalRuntime, store: DemoStore, order_id: int, change: Any, reason: str
) -> None:
    # Given a well-formed webhook that is not ours to handle
    before = footprint(runtime, store)

    # When it is delivered
    answer = post_webhook(runtime, change(webhook_body(store, order_id)))

    # Then it answers 200 "ignored" (BigCommerce does not retry it), saying why, and stores nothing
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ignored" and reason in answer.json()["reason"]
    assert footprint(runtime, store) == before


# Bodies that would be refused (or taken) with the secret: without it, every one is a 401.
UNREAD_BODIES: list[tuple[str, bytes, str]] = [
    ("a good webhook", b"", "application/json"),  # filled in with the good webhook
    ("not UTF-8", b"\xff\xfe\xfd", "application/json"),
    ("JSON nested 5,000 levels", _nested(5000), "application/json"),
    ("1 MB", b'{"pad": "' + b"x" * MB + b'"}', "application/json"),
    ("text/plain", b"hello", "text/plain"),
    ("multipart", b'--x\r\nContent-Disposition: form-data; name="type"\r\n\r\nshipped\r\n--x--\r\n',
     "multipart/form-data; boundary=x"),
    ("binary", bytes(range(256)), "application/octet-stream"),
]  # fmt: skip


@pytest.mark.parametrize("secret", [None, WRONG, ""], ids=["no secret", "a wrong secret", "an empty secret"])
@pytest.mark.parametrize(
    ("raw", "content_type"), [pytest.param(raw, ct, id=case) for case, raw, ct in UNREAD_BODIES]
)
def test_without_the_secret_a_webhook_is_401_whatever_its_body(
    runtime: LocalRuntime, store: DemoStore, order_id: int, secret: str | None, raw: bytes, content_type: str
) -> None:
    # Given a caller without the store's secret
    data = raw or json.dumps(webhook_body(store, order_id)).encode()
    headers = {"Content-Type": content_type} | ({} if secret is None else {"X-Webhook-Secret": secret})
    before = footprint(runtime, store)

    # When it posts anything
    answer = requests.post(f"{runtime.api_url}/webhooks/bigcommerce", data=data, headers=headers, timeout=30)

    # Then it is refused for the secret, before its body is read, and nothing is stored
    assert_error(answer, 401, "x-webhook-secret")
    assert footprint(runtime, store) == before


# -- the provider callback ------------------------------------------------------------------------------


def _callback(
    runtime: LocalRuntime, fulfillment_order_id: str, data: bytes, content_type: str, secret: str | None
) -> requests.Response:
    headers = {"Content-Type": content_type} | ({} if secret is None else {"X-Provider-Secret": secret})
    return requests.post(
        f"{runtime.api_url}/fulfillment/{fulfillment_order_id}/events", data=data, headers=headers, timeout=30
    )


@pytest.mark.parametrize("secret", [None, WRONG, ""], ids=["no secret", "a wrong secret", "an empty secret"])
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [pytest.param(raw or b'{"type": "shipped"}', ct, id=case) for case, raw, ct in UNREAD_BODIES],
)
def test_without_the_secret_a_provider_callback_is_401_whatever_its_body(
    runtime: LocalRuntime,
    store: DemoStore,
    fulfillment_order_id: str,
    secret: str | None,
    raw: bytes,
    content_type: str,
) -> None:
    # Given a caller without the providers' secret, and a fulfillment order waiting for its callback
    before = footprint(runtime, store)

    # When it posts anything (text/plain and multipart answered 500 before, from the body's parsing)
    answer = _callback(runtime, fulfillment_order_id, raw, content_type, secret)

    # Then it is refused for the secret, before its body is read, and nothing is stored
    assert_error(answer, 401, "x-provider-secret")
    assert footprint(runtime, store) == before


# (case, body, content type, status, error field)
CALLBACK_REFUSED: list[tuple[str, bytes, str, int, str]] = [
    ("text/plain", b"shipped", "text/plain", 400, "body"),
    ("multipart", UNREAD_BODIES[5][1], UNREAD_BODIES[5][2], 400, "body"),
    ("binary", bytes(range(256)), "application/octet-stream", 400, "body"),
    ("not UTF-8", b'{"type": "shipped", "carrier": "\xff"}', "application/json", 400, "body"),
    ("JSON nested 5,000 levels", b'{"type": "shipped", "lines": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "application/json", 400, "body"),
    ("empty", b"", "application/json", 400, "body"),
    ("a JSON list", b'[{"type": "shipped"}]', "application/json", 400, "body"),
    ("a JSON string", b'"shipped"', "application/json", 400, "body"),
    ("NaN", b'{"type": "shipped", "lines": [{"line_number": 1, "quantity": NaN}]}', "application/json", 400, "body"),
    ("a lone surrogate", b'{"type": "shipped", "tracking_number": "\\udfff"}', "application/json", 400, "body"),
    ("an unknown type", b'{"type": "delivered"}', "application/json", 400, "type"),
    ("a carrier of 10,000 characters", b'{"type": "shipped", "carrier": "' + b"u" * 10_000 + b'"}',
     "application/json", 400, "carrier"),
    ("a quantity of true", b'{"type": "shipped", "lines": [{"line_number": 1, "quantity": true}]}',
     "application/json", 400, "lines[0].quantity"),
    ("100 lines", json.dumps({"type": "shipped", "lines": [{"line_number": 1, "quantity": 1}] * 100}).encode(),
     "application/json", 400, "lines"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "field"),
    [pytest.param(raw, ct, status, field, id=case) for case, raw, ct, status, field in CALLBACK_REFUSED],
)
def test_a_hostile_provider_callback_is_refused_naming_the_field_and_nothing_is_stored(
    runtime: LocalRuntime,
    store: DemoStore,
    fulfillment_order_id: str,
    raw: bytes,
    content_type: str,
    status: int,
    field: str,
) -> None:
    # Given the providers' secret and a fulfillment order waiting for its callback
    secret = runtime.secret_value("ProviderSecretValue")
    before = footprint(runtime, store)

    # When the callback's body is not an event we can take
    answer = _callback(runtime, fulfillment_order_id, raw, content_type, secret)

    # Then it answers the status naming the field; the fulfillment order, the order and the store are
    # as they were
    assert_error(answer, status, field)
    assert footprint(runtime, store) == before


@pytest.mark.parametrize(
    "path_id",
    ["x" * 3000 + "-FO1", "no-fulfillment-order"],
    ids=["an id longer than a key", "not a fulfillment order id"],
)
def test_a_callback_for_an_id_no_fulfillment_order_has_is_404(
    runtime: LocalRuntime, store: DemoStore, path_id: str
) -> None:
    # Given the providers' secret
    secret = runtime.secret_value("ProviderSecretValue")
    before = footprint(runtime, store)

    # When the callback names a fulfillment order no one can have
    answer = _callback(runtime, path_id, b'{"type": "shipped"}', "application/json", secret)

    # Then it is unknown (not a key DynamoDB refuses: a 500)
    assert_error(answer, 404, "fulfillment_order_id")
    assert footprint(runtime, store) == before


# -- both routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["the secret", None], ids=["with the secret", "without it"])
@pytest.mark.parametrize("route", ["webhook", "provider callback"])
def test_a_body_over_lambdas_6_mb_is_413_before_any_function_reads_it(
    runtime: LocalRuntime, store: DemoStore, fulfillment_order_id: str, route: str, secret: str | None
) -> None:
    # Given a 10 MB body (Lambda takes 6 MB: on AWS the request never reaches the function, so its
    # secret is not checked either; the local API refuses it the same way)
    data = b'{"type": "shipped", "pad": "' + b"x" * (10 * MB) + b'"}'
    before = footprint(runtime, store)

    # When it is posted
    if route == "webhook":
        answer = post_webhook(runtime, None, raw=data, secret=WEBHOOK_SECRET if secret else None, timeout=30)
    else:
        provider_secret = runtime.secret_value("ProviderSecretValue") if secret else None
        answer = _callback(runtime, fulfillment_order_id, data, "application/json", provider_secret)

    # Then it is refused for its size, unread, and nothing is stored
    assert_error(answer, 413, "body")
    assert footprint(runtime, store) == before


def _raw_request(runtime: LocalRuntime, request: bytes) -> tuple[int, bytes]:
    address = urlsplit(runtime.api_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, answer.read()


@pytest.mark.parametrize(
    ("head", "status", "field"),
    [
        pytest.param(b"POST /webhooks/bigcommerce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                     411, "Content-Length", id="a chunked body"),
        pytest.param(b"POST /webhooks/bigcommerce HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length",
                     id="a negative Content-Length"),
        pytest.param(b"POST /webhooks/bigcommerce HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                     400, "Content-Length", id="two Content-Lengths"),
        pytest.param(b"BREW /webhooks/bigcommerce HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 404, None,
                     id="a method no route has"),
    ],
)  # fmt: skip
def test_a_request_the_local_api_cannot_read_is_a_4xx_before_any_function(
    runtime: LocalRuntime, store: DemoStore, head: bytes, status: int, field: str | None
) -> None:
    # Given a request whose framing is broken or unknown (with the secret, so that only the framing
    # is at fault)
    request = head.replace(b"\r\n", f"\r\nX-Webhook-Secret: {WEBHOOK_SECRET}\r\n".encode(), 1)
    before, invocations = footprint(runtime, store), len(runtime.invocations)

    # When it reaches the local API
    answered, body = _raw_request(runtime, request)

    # Then it is a 4xx (not a 501 nor a hang), and no function ran
    assert answered == status, body
    if field is not None:
        assert json.loads(body)["error"]["field"] == field
    assert len(runtime.invocations) == invocations
    assert footprint(runtime, store) == before


# -- on AWS: API Gateway's base64 bodies --------------------------------------------------------------


def _gateway_event(body: str, *, base64_encoded: bool, headers: dict[str, str]) -> dict[str, Any]:
    event = load_event("webhook_order_created.json")
    event["headers"] = {"content-type": "application/octet-stream", **headers}
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    return event


@pytest.mark.parametrize(
    ("body", "base64_encoded"),
    [
        pytest.param("!!not base64!!", True, id="not base64"),
        pytest.param(base64.b64encode(b'{"hash": "\xff"}').decode(), True, id="base64 of what is not UTF-8"),
        pytest.param(base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(), True, id="base64 of deep JSON"),
        pytest.param("\ud800", False, id="text with a lone surrogate"),
    ],
)
def test_on_aws_a_body_that_does_not_decode_is_400_on_both_routes(
    runtime: LocalRuntime,
    store: DemoStore,
    fulfillment_order_id: str,
    body: str,
    base64_encoded: bool,
) -> None:
    # Given API Gateway's events, as it passes a binary content type (isBase64Encoded)
    webhook = _gateway_event(
        body, base64_encoded=base64_encoded, headers={"x-webhook-secret": WEBHOOK_SECRET}
    )
    callback = _gateway_event(
        body,
        base64_encoded=base64_encoded,
        headers={"x-provider-secret": runtime.secret_value("ProviderSecretValue")},
    )
    path = f"/fulfillment/{fulfillment_order_id}/events"
    callback.update(rawPath=path, routeKey="POST /fulfillment/{fulfillment_order_id}/events")
    callback["requestContext"] = {
        **callback["requestContext"],
        "http": {**callback["requestContext"]["http"], "path": path},
    }
    callback["pathParameters"] = {"fulfillment_order_id": fulfillment_order_id}
    before = footprint(runtime, store)

    # When the functions get them
    answers = [
        runtime.invoke("WebhookFunction", webhook),
        runtime.invoke("FulfillmentEventsFunction", callback),
    ]

    # Then both answer 400 naming the body, and nothing is stored
    for answer in answers:
        assert answer["statusCode"] == 400, answer
        assert json.loads(answer["body"])["error"]["field"] == "body"
    assert footprint(runtime, store) == before


# -- the local API under load ---------------------------------------------------------------------------


def test_concurrent_callers_each_get_the_answer_to_their_own_request(
    runtime: LocalRuntime, store: DemoStore, order_id: int
) -> None:
    # Given callers at the same moment: some with the secret, others with a wrong one and a body of
    # another store (the function must never read one caller's headers with another's body)
    good = webhook_body(store, order_id, scope="store/order/archived")
    other = {**good, "producer": "stores/another-store"}
    sends = [(good, WEBHOOK_SECRET), (other, WRONG)] * 50
    barrier = threading.Barrier(len(sends))
    before = footprint(runtime, store)

    def send(body: dict[str, Any], secret: str) -> tuple[str, int, str]:
        barrier.wait()
        answer = post_webhook(runtime, body, secret=secret, timeout=60)
        return secret, answer.status_code, answer.json().get("reason", "")

    # When they all post at once
    with ThreadPoolExecutor(len(sends)) as pool:
        answers = list(pool.map(lambda s: send(*s), sends))

    # Then every caller with the secret was answered for its own body, every other one 401
    assert {(secret, status) for secret, status, _ in answers} == {(WEBHOOK_SECRET, 200), (WRONG, 401)}
    assert {reason for secret, _, reason in answers if secret == WEBHOOK_SECRET} == {
        "scope store/order/archived starts no work"
    }
    assert footprint(runtime, store) == before


def test_the_local_api_holds_a_burst_of_one_delivery(runtime: LocalRuntime, store: DemoStore) -> None:
    # Given mappings for the store's SKUs and a new order (500 concurrent deliveries of its webhook
    # reset 434 connections when the listen backlog was 5)
    api = Api(runtime.api_url)
    api.seed_demo_mappings()
    order_id = store.sample_order()
    body = json.dumps(webhook_body(store, order_id)).encode()
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": WEBHOOK_SECRET}
    address = urlsplit(runtime.api_url)
    deliveries = 500
    barrier = threading.Barrier(deliveries)
    executions_before = {e["name"] for e in runtime.executions()}

    def deliver(_: int) -> tuple[int | str, dict[str, Any]]:
        # http.client rather than requests: on 2 cores, 500 threads of requests' CPU would slow the
        # server they measure
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        barrier.wait()
        try:
            connection.request("POST", "/webhooks/bigcommerce", body, headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        except OSError as exc:  # reset, refused, timed out: no answer
            return type(exc).__name__, {}
        finally:
            connection.close()

    # When 500 deliveries of the same event (same hash) arrive at once
    started = time.perf_counter()
    with ThreadPoolExecutor(deliveries) as pool:
        answers = list(pool.map(deliver, range(deliveries)))
    elapsed = time.perf_counter() - started
    executions = [e for e in runtime.wait_for_all() if e["name"] not in executions_before]

    # Then every delivery got an answer, a 200: one accepted, the others duplicates
    assert Counter(status for status, _ in answers) == {200: deliveries}
    statuses = [answer["status"] for _, answer in answers]
    assert statuses.count("accepted") == 1 and statuses.count("duplicate") == deliveries - 1
    # And the order was taken in once: one intake, one order, and its flow ran
    key = f"BC-{store.store_hash}-{order_id}"
    hash_ = json.loads(body)["hash"]
    assert sorted(e["name"] for e in executions) == [
        f"{key}-default-order-flow-v1",
        f"{key}-intake-{hash_[:16]}",
    ]
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    found = api.get("/orders", params={"external_id": order_id}).json()["orders"]
    assert [o["order_key"] for o in found] == [key]
    print(f"\n{deliveries} concurrent deliveries answered in {elapsed:.1f} s")
