"""Webhook parsing, authentication and the names that make retries harmless."""

from __future__ import annotations

import json

import pytest

from orderflow.errors import InvalidInput, Unauthorized
from orderflow.intake import (
    StatusChangeSeen,
    WebhookPayload,
    authenticate,
    event_key,
    parse_webhook,
    status_change,
    triage,
)
from orderflow.models import FlowRef, Order
from orderflow.order_events import execution_name
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


def test_the_secret_header_is_required_and_compared_exactly() -> None:
    authenticate({"X-Webhook-Secret": "s3cret"}, "s3cret")
    authenticate({"x-webhook-secret": "s3cret"}, "s3cret")
    for headers in ({}, {"x-webhook-secret": "s3cre"}, {"x-webhook-secret": "s3cret "}):
        with pytest.raises(Unauthorized):
            authenticate(headers, "s3cret")


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
