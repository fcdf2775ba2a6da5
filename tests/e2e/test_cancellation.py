"""Cancelling, end to end through published flows: the merchant cancels an order in the store, and
the cancellation sample flow (flows/cancel_on_store_cancellation.yaml) releases its reservations,
has the warehouse cancel what it was sent and cancels the order; a shipped order is not cancelled;
and a warehouse refusing a fulfillment order for good starts the flows of ``fulfillment_failed``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from orderflow.flows.files import load_flow
from orderflow.models.fulfillment import FulfillmentOrderStatus
from orderflow.store import tables
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ROOT, Api, post_webhook, step_event, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, publish
from tests.e2e.test_fulfillment_flow import _stock
from tests.provider_server import ProviderServer

CANCELLED, PARTIALLY_SHIPPED, MANUAL_VERIFICATION = 5, 3, 12
NOTIFY = "orderflow-local-custom-notify-buyer"


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _order_flow(provider: ProviderServer) -> dict[str, Any]:
    return flow(
        "Fulfillment flow",
        action("Check header"),
        action("Source the order", "send_to_dom"),
        action("Send to the warehouse", "send_to_fulfillment",
               params={"provider": "https", "url": f"{provider.url}/fulfillment-orders"}),
    )  # fmt: skip


def _cancel_on_store_cancellation(provider: ProviderServer) -> dict[str, Any]:
    """The sample flow shipped in flows/, pointed at the loopback provider."""
    definition = load_flow(ROOT / "flows" / "cancel_on_store_cancellation.yaml").model_dump(
        mode="json", exclude={"status", "version", "created_on"}
    )
    definition["steps"][0]["params"] = {"provider": "https", "url": f"{provider.url}/cancellations"}
    return definition


def _settle(runtime: LocalRuntime, store: DemoStore) -> list[dict[str, Any]]:
    """Wait until no execution runs and the store has no callback left to send (callbacks start
    executions, executions push statuses, pushes cause callbacks)."""
    while True:
        executions = runtime.wait_for_all()
        assert store.wait_for_callbacks()
        if len(runtime.executions()) == len(executions):
            return executions


def _sourced_and_sent(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str, dict[str, str]]:
    """The sample order (1 Accu Scale, 2 Scale Calibration Weights) through the order flow: sourced
    from two warehouses (each has one of the products), one fulfillment order each, both sent.
    Its fulfillment order ids by source."""
    order_id = store.sample_order()
    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    executions = _settle(runtime, store)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "in_fulfillment", order["history"]
    results = {r["step"]: r for r in api.get(f"/orders/{key}/step-results").json()["step_results"]}
    sourced = results["Source the order"]["details"]["fulfillment_orders"]
    return order_id, key, {fo["source_id"]: fo["id"] for fo in sourced}


def _reserved(api: Api) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(on hand, reserved, available) by source and product."""
    levels = api.get("/inventory").json()["inventory"]
    return {(i["source_id"], i["product"]): (i["on_hand"], i["reserved"], i["available"]) for i in levels}


def _fulfillment_orders(key: str) -> dict[str, FulfillmentOrderStatus]:
    return {fo.id: fo.status for fo in tables.fulfillment_orders().for_order(key)}


def _runs_of(executions: list[dict[str, Any]], key: str, short: str) -> list[dict[str, Any]]:
    """The executions an event started for the order (named ``<order>-<event>-…``, orders/executions.py)."""
    return [e for e in executions if e["name"].startswith(f"{key}-{short}-")]


def _step_result(api: Api, key: str, step: str) -> dict[str, Any]:
    results = [r for r in api.get(f"/orders/{key}/step-results").json()["step_results"] if r["step"] == step]
    assert len(results) == 1, results
    return dict(results[0])


@pytest.fixture
def stocked(runtime: LocalRuntime, api: Api, provider: ProviderServer) -> Api:
    """Mappings, Austin with the scales, Seattle with the weights, and both sample flows published;
    the store calls us back (our webhook is registered for the order scopes)."""
    api.seed_demo_mappings()
    _stock(api, "WH-AUS", 30.27, -97.74, Accu_Scale=5, Scale_Calibration_Weights=0)
    _stock(api, "WH-SEA", 47.61, -122.33, Scale_Calibration_Weights=5)
    publish(api, _order_flow(provider))
    publish(api, _cancel_on_store_cancellation(provider))
    hooks = api.post(
        "/providers/bigcommerce/webhooks", {"destination": f"{runtime.api_url}/webhooks/bigcommerce"}
    )
    assert hooks.status_code == 200, hooks.text
    return api


def test_a_merchant_cancelling_in_the_store_releases_the_stock_and_cancels_at_the_warehouse_once(
    runtime: LocalRuntime, store: DemoStore, stocked: Api, provider: ProviderServer
) -> None:
    # Given an order sourced from both warehouses and sent, its stock reserved
    api = stocked
    order_id, key, by_source = _sourced_and_sent(runtime, store, api)
    assert [r.path for r in provider.requests] == ["/fulfillment-orders"] * 2
    reserved = _reserved(api)
    assert reserved[("WH-AUS", "Accu Scale")] == (5, 1, 4)
    assert reserved[("WH-SEA", "Scale Calibration Weights")] == (5, 2, 3)
    pushed_before = store.status_updates(order_id)
    previous_status = store.order(order_id)["status_id"]

    # When the merchant cancels it in the control panel (the store calls us back), and the callback
    # arrives again: as it was, and as a redelivery with a new hash
    store.set_status(order_id, CANCELLED)
    _settle(runtime, store)
    [delivery] = [
        d
        for d in store.deliveries
        if d.body["scope"] == "store/order/statusUpdated"
        and d.body["data"]["status"]["new_status_id"] == CANCELLED
    ]
    again = post_webhook(runtime, delivery.body)
    status = {"previous_status_id": previous_status, "new_status_id": CANCELLED}
    redelivered = post_webhook(
        runtime,
        webhook_body(
            store,
            order_id,
            scope="store/order/statusUpdated",
            data={"type": "order", "id": order_id, "status": status},
        ),
    )
    executions = _settle(runtime, store)

    # Then the cancellation flow ran once, and succeeded
    assert (delivery.status, again.json()["status"], redelivered.json()["status"]) == (
        200,
        "duplicate",
        "duplicate",
    )
    [run] = _runs_of(executions, key, "cancelled")
    assert run["status"] == "SUCCEEDED"
    cancel = _step_result(api, key, "Cancel order")
    assert cancel["status"] == "succeeded", cancel
    # the reservations are given back and the fulfillment orders cancelled
    reserved = _reserved(api)
    assert reserved[("WH-AUS", "Accu Scale")] == (5, 0, 5)
    assert reserved[("WH-SEA", "Scale Calibration Weights")] == (5, 0, 5)
    assert _fulfillment_orders(key) == {fo: FulfillmentOrderStatus.CANCELLED for fo in by_source.values()}
    # the warehouse was asked once per fulfillment order it had, with the secret and an idempotency key
    cancellations = [r for r in provider.requests if r.path == "/cancellations"]
    assert sorted(r.body["fulfillment_order_id"] for r in cancellations) == sorted(by_source.values())
    assert {r.body["kind"] for r in cancellations} == {"fulfillment_order_cancellation"}
    assert {r.headers["Idempotency-Key"] for r in cancellations} == {
        f"{fo}:cancel" for fo in by_source.values()
    }
    secret = runtime.secret_value("ProviderSecretValue")
    assert all(r.headers["X-Provider-Secret"] == secret for r in cancellations)
    # and the order is cancelled; the store shows Cancelled already, so nothing was pushed for it
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "cancelled" and order["history"][-1]["status"] == "cancelled"
    assert "already" in cancel["message"]
    assert store.status_updates(order_id) == pushed_before
    assert store.order(order_id)["status_id"] == CANCELLED

    # When the step runs again (an operator's resubmit, a retry)
    event = step_event(
        "step_cancel_order.json",
        order_key=key,
        flow=json.loads(run["input"])["flow"],
        params={"provider": "https", "url": f"{provider.url}/cancellations"},
    )
    rerun = runtime.invoke("FulfillmentProvidersFunction", event)

    # Then it succeeds and changes nothing: nothing released or sent twice, nothing pushed
    assert rerun["succeeded"], rerun
    assert rerun["message"].startswith("nothing to release: ")
    assert all(fo in rerun["message"] for fo in by_source.values())
    assert len([r for r in provider.requests if r.path == "/cancellations"]) == 2
    assert _reserved(api)[("WH-SEA", "Scale Calibration Weights")] == (5, 0, 5)
    assert store.status_updates(order_id) == pushed_before


def test_a_shipped_order_is_not_cancelled_and_nothing_is_released(
    runtime: LocalRuntime, store: DemoStore, stocked: Api, provider: ProviderServer
) -> None:
    # Given an order sent to both warehouses, of which Austin has shipped its part
    api = stocked
    order_id, key, by_source = _sourced_and_sent(runtime, store, api)
    shipped = requests.post(
        f"{runtime.api_url}/fulfillment/{by_source['WH-AUS']}/events",
        json={
            "event_id": "evt-1",
            "type": "shipped",
            "tracking_number": "1Z999AA10123456784",
            "carrier": "ups",
        },
        headers={"X-Provider-Secret": runtime.secret_value("ProviderSecretValue")},
        timeout=30,
    )
    assert shipped.status_code == 200, shipped.text
    _settle(runtime, store)
    assert api.get(f"/orders/{key}").json()["status"] == "partially_shipped"
    before = _reserved(api)
    sent = len(provider.requests)

    # When the merchant cancels it in the store
    store.set_status(order_id, CANCELLED)
    executions = _settle(runtime, store)

    # Then the cancellation step failed saying why: the order and its shipped fulfillment order
    [run] = _runs_of(executions, key, "cancelled")
    cancel = _step_result(api, key, "Cancel order")
    assert cancel["status"] == "failed"
    assert cancel["message"] == (
        f"order {key} has shipped (status partially_shipped; fulfillment order(s) {by_source['WH-AUS']} "
        "shipped): a shipped order cannot be cancelled; nothing was released"
    )
    # nothing was released or cancelled, and the warehouse was not asked to cancel anything
    assert _reserved(api) == before and before[("WH-SEA", "Scale Calibration Weights")] == (5, 2, 3)
    assert _fulfillment_orders(key) == {
        by_source["WH-AUS"]: FulfillmentOrderStatus.SHIPPED,
        by_source["WH-SEA"]: FulfillmentOrderStatus.SENT,
    }
    assert len(provider.requests) == sent
    # and by the failure rule the order is held for an operator, naming the step
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "on_hold" and "Cancel order" in order["history"][-1]["reason"]
    assert run["status"] == "SUCCEEDED"  # held, not lost
    assert store.status_updates(order_id)[-2:] == [PARTIALLY_SHIPPED, MANUAL_VERIFICATION]


def test_a_warehouse_refusing_a_fulfillment_order_for_good_starts_the_fulfillment_failed_flow_once(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given the order flow, one warehouse with all the stock, and a flow that tells the buyer when a
    # fulfillment order fails (a custom action)
    api.seed_demo_mappings()
    _stock(api, "WH-AUS", 30.27, -97.74, Accu_Scale=5, Scale_Calibration_Weights=5)
    publish(api, _order_flow(provider))
    publish(
        api,
        flow(
            "Tell the buyer", action("Notify", "custom", target=NOTIFY), input_events=["fulfillment_failed"]
        ),
    )
    calls: list[dict[str, Any]] = []

    def notify(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"succeeded": True, "message": "buyer told"}

    runtime.register_function(NOTIFY, notify)
    provider.failures, provider.fail_status, provider.fail_message = 1, 422, "SKU ABS is not stocked here"

    # When an order comes in and the warehouse refuses its fulfillment order
    order_id = store.sample_order()
    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    executions = runtime.wait_for_all()

    # Then the step failed with the warehouse's words, the fulfillment order failed (stock given back)
    send = _step_result(api, key, "Send to the warehouse")
    assert send["status"] == "failed" and "HTTP 422: SKU ABS is not stocked here" in send["message"]
    [fo_id] = _fulfillment_orders(key)
    assert _fulfillment_orders(key) == {fo_id: FulfillmentOrderStatus.FAILED}
    assert _reserved(api)[("WH-AUS", "Accu Scale")] == (5, 0, 5)
    # and the fulfillment_failed flow ran once, for this order
    [run] = _runs_of(executions, key, "fofailed")
    assert run["status"] == "SUCCEEDED"
    assert [c["order_key"] for c in calls] == [key] and calls[0]["step"] == "Notify"
    assert send["details"]["executions"] == [run["name"]]

    # When the step runs again (a retry, or a resubmit)
    runtime.invoke(
        "FulfillmentProvidersFunction",
        step_event(
            "step_send_to_fulfillment.json",
            order_key=key,
            params={"provider": "https", "url": f"{provider.url}/fulfillment-orders"},
        ),
    )
    executions = runtime.wait_for_all()

    # Then the refusal is not sent again, and does not start the flow a second time
    assert len(provider.requests) == 1
    assert len(_runs_of(executions, key, "fofailed")) == 1 and len(calls) == 1


def test_a_warehouse_refusing_the_cancellation_fails_the_step_and_keeps_that_fulfillment_order(
    runtime: LocalRuntime, store: DemoStore, stocked: Api, provider: ProviderServer
) -> None:
    # Given an order sent to both warehouses, and a warehouse that has picked the first one already
    api = stocked
    order_id, key, by_source = _sourced_and_sent(runtime, store, api)
    provider.failures, provider.fail_status, provider.fail_message = 1, 409, "already picked"
    params = {"provider": "https", "url": f"{provider.url}/cancellations"}

    # When the cancel step runs (with a Condition after it, so that it answers rather than raises)
    refused = runtime.invoke(
        "FulfillmentProvidersFunction",
        step_event("step_cancel_order.json", order_key=key, params=params, stop_on_failure=False),
    )

    # Then it failed with the warehouse's words; the refused one is still sent and holds its stock,
    # the other was cancelled and released, and the order is not cancelled
    first, second = sorted(by_source.values())
    assert not refused["succeeded"]
    assert refused["message"] == (
        f"the provider refused {first}:cancel: HTTP 409: already picked; the order is not cancelled"
    )
    assert _fulfillment_orders(key) == {
        first: FulfillmentOrderStatus.SENT,
        second: FulfillmentOrderStatus.CANCELLED,
    }
    holding = {"WH-AUS": ("WH-AUS", "Accu Scale"), "WH-SEA": ("WH-SEA", "Scale Calibration Weights")}
    kept, let_go = (holding[source] for fo in (first, second) for source, of in by_source.items() if of == fo)
    assert _reserved(api)[kept][1] > 0 and _reserved(api)[let_go][1] == 0
    assert api.get(f"/orders/{key}").json()["status"] == "in_fulfillment"

    # When it is settled with the warehouse and the step runs again (a resubmit)
    again = runtime.invoke(
        "FulfillmentProvidersFunction",
        step_event("step_cancel_order.json", order_key=key, params=params, stop_on_failure=False),
    )

    # Then only the refused one is asked again; everything is released and the order cancelled,
    # its Cancelled status pushed to the store (the merchant had not cancelled it there)
    assert again["succeeded"], again
    asked = [r.body["fulfillment_order_id"] for r in provider.requests if r.path == "/cancellations"]
    assert sorted(asked) == [first, first, second]
    assert all(level[1] == 0 for level in _reserved(api).values())
    assert api.get(f"/orders/{key}").json()["status"] == "cancelled"
    assert store.status_updates(order_id)[-1:] == [CANCELLED]


def test_cancellations_go_on_the_queue_with_the_sqs_provider(
    runtime: LocalRuntime, store: DemoStore, stocked: Api
) -> None:
    # Given an order sent to both warehouses
    _, key, by_source = _sourced_and_sent(runtime, store, stocked)

    # When it is cancelled through the stack's queue, twice
    for _ in range(2):
        answer = runtime.invoke(
            "FulfillmentProvidersFunction",
            step_event("step_cancel_order.json", order_key=key, params={"provider": "sqs"}),
        )
        assert answer["succeeded"], answer

    # Then the queue has one cancellation per fulfillment order
    queue_url = runtime.template.functions["FulfillmentProvidersFunction"].environment[
        "FULFILLMENT_QUEUE_URL"
    ]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert sorted((b["kind"], b["fulfillment_order_id"], b["id"]) for b in bodies) == [
        ("fulfillment_order_cancellation", fo, f"{fo}:cancel") for fo in sorted(by_source.values())
    ]
