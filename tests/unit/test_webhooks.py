"""Webhook parsing, authentication and the names that make retries harmless."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from orderflow.connector.webhooks import (
    StatusChangeSeen,
    WebhookPayload,
    event_key,
    parse_webhook,
    status_change,
    triage,
)
from orderflow.errors import ConfigurationError, InvalidInput, Unauthorized
from orderflow.inbound import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    PayloadTooLarge,
    authenticate,
    json_document,
    request_body,
)
from orderflow.models.order import FlowRef, Order
from orderflow.orders.executions import execution_name
from tests.conftest import load_event

SAMPLE = load_event("webhook_order_created.json")["body"]


def test_the_sample_event_is_a_valid_bigcommerce_webhook() -> None:
    payload = parse_webhook(SAMPLE)
    assert (payload.scope, payload.data.id, payload.store_hash) == ("store/order/created", 250, "abc123xyz")


def test_store_id_may_be_a_number_and_created_at_may_be_missing() -> None:
    body = json.loads(SAMPLE)
    body["store_id"] = 1025646
    del body["created_at"]
    payload = parse_webhook(json.dumps(body))
    assert payload.store_id == "1025646" and payload.created_at is None


def test_a_shipment_webhook_carries_its_order_in_camel_case() -> None:
    body = {
        **json.loads(SAMPLE),
        "scope": "store/shipment/created",
        "data": {"type": "shipment", "id": 12, "orderId": 251},
    }
    assert parse_webhook(json.dumps(body)).data.order_id == 251


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{", "body"),
        (b"[]", "body"),
        (b"", "body"),
        (json.dumps({"scope": "store/order/created", "store_id": "1", "hash": "h"}).encode(), "data"),
        (json.dumps({"scope": "order created", "store_id": "1", "hash": "h", "data": {"type": "order", "id": 1}}).encode(),
         "scope"),
    ],
)  # fmt: skip
def test_what_is_not_a_webhook_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(body)
    assert caught.value.field == field


def _changed(path: str, value: Any) -> bytes:
    body = json.loads(SAMPLE)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.id", -5), ("data.id", 0), ("data.id", 10**40), ("data.id", 2**31), ("data.id", True),
        ("data.id", "9005"), ("data.id", 250.0), ("data.type", "product"), ("data.type", ""),
        ("data.orderId", 7), ("producer", "apps/evil"), ("producer", "stores/"), ("producer", "stores/a b"),
        ("hash", " "), ("hash", ""), ("hash", "a" * 129), ("hash", "abc\n"), ("created_at", 1e30),
        ("created_at", 1561479335000), ("created_at", -1), ("created_at", "1561479335"),
        ("store_id", True), ("store_id", "x" * 65), ("scope", "store/" + "a/" * 10 + "b"),
    ],
)  # fmt: skip
def test_webhooks_are_validated_strictly_naming_the_field(path: str, value: Any) -> None:
    # positive 32-bit order ids only, data.type "order" for order scopes, a producer that names a
    # store, a hash of 1-128 key characters, created_at a unix time in seconds
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(_changed(path, value))
    assert caught.value.field == path


def test_the_largest_order_id_and_a_long_hash_are_taken() -> None:
    payload = parse_webhook(_changed("data.id", 2**31 - 1))
    assert payload.data.id == 2**31 - 1
    assert parse_webhook(_changed("hash", "f" * 128)).hash == "f" * 128


def test_a_shipment_webhook_names_the_shipment_in_data_id_and_its_order_in_order_id() -> None:
    body = {**json.loads(SAMPLE), "scope": "store/shipment/created"}
    for data, field in (
        ({"type": "order", "id": 12, "orderId": 251}, "data.type"),
        ({"type": "shipment", "id": 12, "orderId": 0}, "data.orderId"),
        ({"type": "shipment", "id": "12", "orderId": 251}, "data.id"),
    ):
        with pytest.raises(InvalidInput) as caught:
            parse_webhook(json.dumps({**body, "data": data}))
        assert caught.value.field == field
    payload = parse_webhook(json.dumps({**body, "data": {"type": "shipment", "id": 12, "orderId": 251}}))
    assert (payload.data.id, payload.data.order_id) == (12, 251)


def test_the_data_of_a_scope_we_do_not_handle_is_not_read() -> None:
    # a cart's id is a UUID: the webhook is answered "ignored", so its data only has to be an object
    cart = {"type": "cart", "id": "09346904-4175-44fd-be53-f7e598531b6c", "cartId": "x"}
    payload = parse_webhook(json.dumps({**json.loads(SAMPLE), "scope": "store/cart/created", "data": cart}))
    assert payload.scope == "store/cart/created"
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(json.dumps({**json.loads(SAMPLE), "scope": "store/cart/created", "data": "cart"}))
    assert caught.value.field == "data"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'{"a": "\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
        (b"   ", "empty"),
    ],
)
def test_a_body_that_is_not_json_we_can_read_is_refused_as_the_body(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        json_document(body, "a webhook")
    assert caught.value.field == "body" and caught.value.status == 400
    assert message in caught.value.message


def test_json_as_deep_as_allowed_and_real_emoji_are_read() -> None:
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_document(deep, "a webhook") is not None
    assert json_document(b'{"a": "\\ud83d\\ude00"}', "a webhook") == {"a": "\U0001f600"}


def test_api_gateway_bodies_are_decoded_and_what_does_not_decode_is_refused_as_the_body() -> None:
    assert request_body(None, False) == b""
    assert request_body('{"a": 1}', False) == b'{"a": 1}'
    assert request_body(base64.b64encode(b"\xff\x00").decode(), True) == b"\xff\x00"
    with pytest.raises(InvalidInput) as caught:
        request_body("!!not base64!!", True)
    assert caught.value.field == "body"


def test_a_body_over_lambdas_limit_is_refused_before_it_is_decoded_or_parsed() -> None:
    over = MAX_BODY_BYTES + 1
    for refuse in (
        lambda: request_body("A" * (over // 3 * 4 + 4), True),  # base64: before decoding
        lambda: json_document(request_body('"' + "x" * over + '"', False), "a webhook"),
        lambda: parse_webhook(b" " * over),
    ):
        with pytest.raises(PayloadTooLarge) as too_large:
            refuse()
        assert (too_large.value.status, too_large.value.field) == (413, "body")


def test_the_secret_header_is_required_and_compared_exactly() -> None:
    authenticate({"X-Webhook-Secret": "s3cret"}, "s3cret")
    authenticate({"x-webhook-secret": "s3cret"}, "s3cret")
    for headers in (
        {},
        {"x-webhook-secret": "s3cre"},
        {"x-webhook-secret": "s3cret "},
        {"x-webhook-secret": ""},
    ):
        with pytest.raises(Unauthorized):
            authenticate(headers, "s3cret")


def test_an_empty_secret_lets_no_one_in() -> None:
    # compare_digest("", "") holds: a deployment without a secret is our fault, not an open door
    with pytest.raises(ConfigurationError):
        authenticate({"x-webhook-secret": ""}, "")


def test_execution_names_are_deterministic_valid_and_short_enough() -> None:
    flow = FlowRef(id="default-order-flow", version=3)
    assert execution_name("BC-abc-250", flow) == "BC-abc-250-default-order-flow-v3"
    long_name = execution_name("BC-" + "s" * 70 + "-250", FlowRef(id="a-very-long-flow-name", version=12))
    assert len(long_name) == 80 and long_name == execution_name(
        "BC-" + "s" * 70 + "-250", FlowRef(id="a-very-long-flow-name", version=12)
    )
    assert execution_name("BC-a b/c-1", flow) == "BC-a_b_c-1-default-order-flow-v3"


def test_status_changes_of_one_order_are_distinct_events() -> None:
    body = json.loads(SAMPLE)
    body["scope"] = "store/order/statusUpdated"
    body["data"]["status"] = {"previous_status_id": 0, "new_status_id": 11}
    first = event_key(parse_webhook(json.dumps(body)))
    body["data"]["status"] = {"previous_status_id": 11, "new_status_id": 1}
    assert first != event_key(parse_webhook(json.dumps(body)))


_STORED = Order(order_key="BC-s-1", store_hash="s", external_id=1, import_id="BC-1", external_status_id=9)


@pytest.mark.parametrize(
    ("scope", "change", "stored", "starts", "why"),
    [
        ("store/order/created", None, None, True, ""),
        ("store/order/created", None, _STORED, False, "already imported as BC-1"),
        ("store/order/updated", None, None, True, ""),
        ("store/order/updated", None, _STORED, False, "after import are ignored"),
        # BigCommerce does not promise the status in the callback: then the intake reads the order
        ("store/order/statusUpdated", None, _STORED, True, ""),
        ("store/order/statusUpdated", StatusChangeSeen(0, 11), None, True, ""),
        ("store/order/statusUpdated", StatusChangeSeen(11, 0), None, False, "not the new-order status 11"),
        ("store/order/statusUpdated", StatusChangeSeen(9, 11), _STORED, True, ""),
        (
            "store/order/statusUpdated",
            StatusChangeSeen(9, 2),
            _STORED,
            False,
            "after import; not imported again",
        ),
    ],
)
def test_triage_applies_the_import_rules(
    scope: str, change: StatusChangeSeen | None, stored: Order | None, starts: bool, why: str
) -> None:
    start, reason = triage(scope, change, stored, new_order_status_id=11)
    assert start is starts
    assert why in reason and (reason == "") is starts


def test_the_status_change_is_read_when_the_callback_says_it() -> None:
    def payload(status: object) -> WebhookPayload:
        return parse_webhook(
            json.dumps(
                {
                    "scope": "store/order/statusUpdated",
                    "store_id": "1",
                    "hash": "h",
                    "data": {"type": "order", "id": 5, "status": status},
                }
            )
        )

    assert status_change(payload({"previous_status_id": 0, "new_status_id": 11})) == StatusChangeSeen(0, 11)
    assert status_change(payload({"new_status_id": "11"})) == StatusChangeSeen(None, 11)
    assert status_change(payload(None)) is None
    assert status_change(payload({"new_status_id": "eleven"})) is None
