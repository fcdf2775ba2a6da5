"""The providers function's steps and the provider callback, in the local runtime: a loopback
provider, moto SQS, a custom action's Lambda served in-process, and the loopback BigCommerce store.

Fulfillment orders are written as sourcing writes them, without reserving stock, so each test
starts from exactly the fulfillment orders it needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from orderflow.errors import ProviderUnavailable
from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderLine, FulfillmentOrderStatus
from orderflow.store import tables
from orderflow.store.fulfillment import FulfillmentOrderRepository
from orderflow.store.fulfillment_index import FulfillmentEventStore
from orderflow.store.invoices import InvoiceRepository
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import (
    ADMIN_TOKEN,
    Api,
    local_runtime,
    post_webhook,
    step_event,
    webhook_body,
)
from tests.provider_server import ProviderServer

PROVIDERS = "FulfillmentProvidersFunction"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01") as local:
        yield local


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _imported(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """The sample order (line 1: 1 ABS, line 2: 2 SCW) imported by its webhook, with one fulfillment
    order per line (FO1: line 1, FO2: line 2), as sourcing leaves them."""
    api.seed_demo_mappings()
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert [e["status"] for e in runtime.wait_for_all()] == ["SUCCEEDED", "SUCCEEDED"]
    order_key = answer.json()["order_key"]
    order = tables.orders().get(order_key)
    for number, line in enumerate(order.lines, start=1):
        FulfillmentEventStore(tables.orders().table_name).add_fulfillment_order(
            FulfillmentOrder(
                id=f"{order_key}-FO{number}",
                order_key=order_key,
                source_id=f"WH{number}",
                lines=[
                    FulfillmentOrderLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity)
                ],
            )
        )
    return order_id, order_key


def _fulfillment_orders() -> FulfillmentOrderRepository:
    return tables.fulfillment_orders()


def _statuses(order_key: str) -> list[str]:
    return [fo.status.value for fo in _fulfillment_orders().for_order(order_key)]


def _step(runtime: LocalRuntime, order_key: str, action: str, **changes: Any) -> dict[str, Any]:
    event = step_event("step_send_to_fulfillment.json", order_key=order_key, action=action, **changes)
    result: dict[str, Any] = runtime.invoke(PROVIDERS, event)
    return result


def _https(provider: ProviderServer, **extra: Any) -> dict[str, Any]:
    return {"provider": "https", "url": f"{provider.url}/orders", **extra}


# -- send to fulfillment -------------------------------------------------------------------------------


def test_fulfillment_orders_are_sent_once_to_the_https_provider(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given an order with two fulfillment orders
    _, order_key = _imported(runtime, store, api)

    # When the step runs, and runs again (a retry or a resubmit)
    first = _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))
    second = _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))

    # Then each went to the provider once, with the shared secret, and is sent; the order is in fulfillment
    assert first["succeeded"] and first["message"] == (
        f"sent {order_key}-FO1, {order_key}-FO2 to the https provider; "
        "status in_fulfillment; not assigned to a BigCommerce status, nothing pushed"
    )
    assert api.get(f"/orders/{order_key}").json()["status"] == "in_fulfillment"
    assert second["succeeded"] and second["message"].startswith("nothing to send")
    assert [r.body["id"] for r in provider.requests] == [f"{order_key}-FO1", f"{order_key}-FO2"]
    secret = runtime.secret_value("ProviderSecretValue")
    assert len(secret) == 40 and all(r.headers["X-Provider-Secret"] == secret for r in provider.requests)
    stored = _fulfillment_orders().for_order(order_key)
    assert [(fo.status, fo.provider, fo.provider_reference) for fo in stored] == [
        (FulfillmentOrderStatus.SENT, "https", "PRV-1"),
        (FulfillmentOrderStatus.SENT, "https", "PRV-2"),
    ]
    assert stored[0].lines[0].quantity == 1 and provider.requests[0].body["lines"][0]["sku"] == "ABS"


def test_a_provider_down_then_up_is_retried_within_the_step(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)
    provider.failures = 2  # two 503s, then it is back

    result = _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))

    assert result["succeeded"], result
    assert len(provider.requests) == 4  # FO1 three times, FO2 once
    assert _statuses(order_key) == ["sent", "sent"]


def test_a_provider_that_does_not_answer_makes_the_step_wait_for_it_not_fail(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)
    provider.always_fail = True

    # When the provider keeps answering 503 through the step's own attempts
    with pytest.raises(ProviderUnavailable, match="warehouse system is down for maintenance"):
        _step(runtime, order_key, "send_to_fulfillment", params=_https(provider, attempts=2))

    # Then the step raised the error the machine retries on its long schedule, and says it will retry;
    # the fulfillment orders are still created, for the next try
    assert _statuses(order_key) == ["created", "created"]
    recorded = tables.orders().step_results(order_key)[-1]
    assert recorded.step == "Send to fulfillment" and recorded.status == "failed"
    assert recorded.message.startswith("will retry: ") and "HTTP 503" in recorded.message

    provider.always_fail = False
    assert _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))["succeeded"]
    assert _statuses(order_key) == ["sent", "sent"]


def test_a_refusal_marks_the_fulfillment_order_failed(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)
    provider.failures, provider.fail_status, provider.fail_message = 1, 422, "SKU ABS is not stocked here"

    result = _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))

    assert not result["succeeded"]
    assert result["message"] == f"the provider refused {order_key}-FO1: HTTP 422: SKU ABS is not stocked here"
    assert _statuses(order_key) == ["failed", "sent"] and len(provider.requests) == 2


def test_the_sqs_provider_puts_one_message_per_fulfillment_order(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    _, order_key = _imported(runtime, store, api)

    result = _step(runtime, order_key, "send_to_fulfillment", params={"provider": "sqs"})
    _step(runtime, order_key, "send_to_fulfillment", params={"provider": "sqs"})

    assert result["succeeded"], result
    sqs = boto3.client("sqs")
    queue_url = runtime.template.functions[PROVIDERS].environment["FULFILLMENT_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [(b["kind"], b["id"]) for b in bodies] == [
        ("fulfillment_order", f"{order_key}-FO1"),
        ("fulfillment_order", f"{order_key}-FO2"),
    ]
    assert [m["MessageAttributes"]["id"]["StringValue"] for m in messages] == [b["id"] for b in bodies]
    stored = _fulfillment_orders().for_order(order_key)
    assert [fo.provider_reference for fo in stored] == [m["MessageId"] for m in messages]


# -- send to invoice -----------------------------------------------------------------------------------


def test_an_order_is_invoiced_once_it_has_shipped_and_only_once(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)
    order = tables.orders().get(order_key)

    # Not shipped yet: refused before anything is sent, saying how to invoice on shipment
    early = _step(runtime, order_key, "send_to_invoice", step="Send to invoice", params=_https(provider))
    assert early["status"] == "failed" and "invoiced once it has shipped" in early["message"]
    assert "order_shipped" in early["message"] and provider.requests == []

    # Shipped: the invoice goes, once, and the order is invoiced
    items = [{"line_number": line.line_number, "quantity": line.quantity} for line in order.lines]
    shipped = api.post(f"/orders/{order_key}/shipments", {"shipment_id": "S-1", "items": items})
    assert shipped.status_code == 201, shipped.text
    first = _step(runtime, order_key, "send_to_invoice", step="Send to invoice", params=_https(provider))
    second = _step(runtime, order_key, "send_to_invoice", step="Send to invoice", params=_https(provider))

    number = f"INV-{order.import_id}-r{order.revision}"
    assert first["succeeded"] and first["message"].startswith(f"invoice {number} (")
    assert "status invoiced" in first["message"]
    assert api.get(f"/orders/{order_key}").json()["status"] == "invoiced"
    assert second["succeeded"] and "was sent before" in second["message"]
    (received,) = provider.requests
    assert received.headers["Idempotency-Key"] == number
    assert received.body["total_tax"] == str(order.total_tax)
    assert received.body["total_inc_tax"] == str(order.total_inc_tax)
    assert [(line["sku"], line["quantity"]) for line in received.body["lines"]] == [
        (line.sku, line.quantity) for line in order.lines
    ]
    (stored,) = InvoiceRepository(tables.orders().table_name).for_order(order_key)
    assert stored.number == number and stored.sent_at and stored.total_inc_tax == order.total_inc_tax


# -- custom actions ------------------------------------------------------------------------------------


def test_a_custom_lambda_answer_is_the_step_result(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    _, order_key = _imported(runtime, store, api)
    calls: list[dict[str, Any]] = []

    def credit_check(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"succeeded": False, "message": "credit limit reached for this account"}

    runtime.register_function("orderflow-local-custom-credit", credit_check)

    result = _step(
        runtime,
        order_key,
        "custom",
        step="Credit check",
        target="orderflow-local-custom-credit",
        params={"limit": 5},
    )

    assert result["status"] == "failed" and result["message"] == "credit limit reached for this account"
    assert calls[0]["order_key"] == order_key and calls[0]["params"] == {"limit": 5}
    assert calls[0]["step"] == "Credit check"


def test_a_custom_https_endpoint_answer_is_the_step_result_and_a_bad_answer_fails(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)
    provider.answer = {"succeeded": True, "message": "fraud score 3: fine"}

    good = _step(runtime, order_key, "custom", step="Fraud check", target=f"{provider.url}/check", params={})
    provider.answer = {"ok": True}
    bad = _step(runtime, order_key, "custom", step="Fraud check", target=f"{provider.url}/check", params={})

    assert good["succeeded"] and good["message"] == "fraud score 3: fine"
    assert provider.requests[0].headers["X-Provider-Secret"] == runtime.secret_value("ProviderSecretValue")
    assert not bad["succeeded"]
    assert 'did not answer {"succeeded": bool, "message": str} (succeeded: Field required)' in bad["message"]


# -- the provider callback -----------------------------------------------------------------------------


def _event(runtime: LocalRuntime, fo_id: str, body: Any, secret: str | None = "") -> requests.Response:
    headers = (
        {} if secret is None else {"X-Provider-Secret": secret or runtime.secret_value("ProviderSecretValue")}
    )
    return requests.post(
        f"{runtime.api_url}/fulfillment/{fo_id}/events", json=body, headers=headers, timeout=10
    )


def test_shipped_events_create_the_shipments_in_bigcommerce_and_push_the_statuses(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given both fulfillment orders sent
    order_id, order_key = _imported(runtime, store, api)
    _step(runtime, order_key, "send_to_fulfillment", params=_https(provider))
    released = store.status_updates(order_id)

    # When the provider reports FO1 shipped, twice (a retried callback), then FO2
    body = {"event_id": "evt-1", "type": "shipped", "tracking_number": "1Z999AA10123456784", "carrier": "UPS"}
    first = _event(runtime, f"{order_key}-FO1", body)
    again = _event(runtime, f"{order_key}-FO1", body)
    last = _event(runtime, f"{order_key}-FO2", {"type": "shipped", "tracking_number": "1Z2"})

    # Then BigCommerce has one shipment per event, with its tracking, and the statuses 3 then 2
    assert first.status_code == 200, first.text
    assert first.json()["fulfillment_order"]["status"] == "shipped"
    assert first.json()["order_status"] == "partially_shipped"
    assert again.status_code == 200 and again.json() == {**first.json(), "repeated": True}
    assert last.status_code == 200 and last.json()["order_status"] == "shipped"
    made = store.shipments(order_id)
    assert [(s["tracking_number"], s["shipping_provider"]) for s in made] == [
        ("1Z999AA10123456784", "ups"),
        ("1Z2", ""),
    ]
    assert [[item["quantity"] for item in s["items"]] for s in made] == [[1], [2]]
    assert store.status_updates(order_id) == [*released, 3, 2]
    assert [line.quantity_shipped for line in tables.orders().get(order_key).lines] == [1, 2]
    fo1 = _fulfillment_orders().get(order_key, f"{order_key}-FO1")
    assert (fo1.tracking_number, fo1.carrier, fo1.lines[0].quantity_shipped) == (
        "1Z999AA10123456784",
        "ups",
        1,
    )


def test_cancelling_every_fulfillment_order_cancels_the_order(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_id, order_key = _imported(runtime, store, api)
    released = store.status_updates(order_id)

    one = _event(runtime, f"{order_key}-FO1", {"type": "cancelled"})
    both = _event(runtime, f"{order_key}-FO2", {"type": "cancelled", "event_id": "c-2"})

    assert one.status_code == 200 and one.json()["order_status"] is None
    assert both.status_code == 200 and both.json()["order_status"] == "cancelled"
    assert _statuses(order_key) == ["cancelled", "cancelled"]
    assert tables.orders().get(order_key).status.value == "cancelled"
    assert store.status_updates(order_id) == [*released, 5]
    shipped = _event(runtime, f"{order_key}-FO1", {"type": "shipped"})
    assert shipped.status_code == 409 and shipped.json()["error"]["field"] == "type"


def test_callbacks_are_authenticated_and_checked(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    _, order_key = _imported(runtime, store, api)
    fo_id = f"{order_key}-FO1"

    missing = _event(runtime, fo_id, {"type": "shipped"}, secret=None)
    wrong = _event(runtime, fo_id, {"type": "shipped"}, secret="not-the-secret")
    admin = requests.post(
        f"{runtime.api_url}/fulfillment/{fo_id}/events",
        json={"type": "shipped"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    unknown = _event(runtime, f"{order_key}-FO9", {"type": "shipped"})
    not_ours = _event(runtime, "something-else", {"type": "shipped"})
    bad_line = _event(runtime, fo_id, {"type": "shipped", "lines": [{"line_number": 2, "quantity": 1}]})
    too_many = _event(runtime, fo_id, {"type": "shipped", "lines": [{"line_number": 1, "quantity": 5}]})
    bad_type = _event(runtime, fo_id, {"type": "delivered"})

    assert [r.status_code for r in (missing, wrong, admin)] == [401, 401, 401]
    assert missing.json()["error"]["field"] == "x-provider-secret"
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "fulfillment_order_id"
    assert not_ours.status_code == 404
    assert bad_line.status_code == 400 and bad_line.json()["error"]["field"] == "lines[0].line_number"
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "lines[0].quantity"
    assert bad_type.status_code == 400 and bad_type.json()["error"]["field"] == "type"
    assert _statuses(order_key) == ["created", "created"]


def test_shipping_consumes_and_cancelling_releases_the_reserved_stock(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given the order sourced as sourcing does it: stock reserved for each fulfillment order
    api.seed_demo_mappings()
    order_id = store.sample_order()
    order_key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()
    order = tables.orders().get(order_key)
    for line in order.lines:
        tables.inventory().set_on_hand("WH1", str(line.product), 5)
    tables.sourcing().commit(
        order_key,
        {"strategy": "test"},
        [
            FulfillmentOrder(
                id=f"{order_key}-FO{n}",
                order_key=order_key,
                source_id="WH1",
                lines=[
                    FulfillmentOrderLine(
                        line_number=line.line_number,
                        sku=line.sku,
                        product=line.product,
                        quantity=line.quantity,
                    )
                ],
            )
            for n, line in enumerate(order.lines, start=1)
        ],
    )
    first, second = (str(line.product) for line in order.lines)
    assert tables.inventory().get("WH1", second).reserved == 2

    # When FO1 ships and FO2 is cancelled
    assert _event(runtime, f"{order_key}-FO1", {"type": "shipped"}).status_code == 200
    cancelled = _event(runtime, f"{order_key}-FO2", {"type": "cancelled"})

    # Then FO1's unit left the shelf and FO2's are available again
    shipped_level, released_level = (
        tables.inventory().get("WH1", first),
        tables.inventory().get("WH1", second),
    )
    assert (shipped_level.on_hand, shipped_level.reserved) == (4, 0)
    assert (released_level.on_hand, released_level.reserved, released_level.available) == (5, 0, 5)
    assert cancelled.json()["inventory_released"] is True and cancelled.json()["order_status"] is None
