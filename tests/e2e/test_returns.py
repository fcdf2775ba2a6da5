"""Returns end to end, through the local runtime and the loopback BigCommerce-shaped store: a shipped
order, a return of part of it, the returns provider's label request and its ``received`` callback, the
stock back at the receiving source, the refund in the store with the right items and amount, and the
order Partially Refunded there and here. Then what must never happen: over-returning, a return made
twice, a second refund after one made in the control panel or after a lost answer."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests

from orderflow import clock
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, policy, publish, release
from tests.e2e.test_fulfillment_flow import _stock
from tests.provider_server import ProviderServer

PARTIALLY_REFUNDED = 14
REFUNDS_PATH = r"/v3/orders/\d+/payment_actions/refunds"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01") as local:
        yield local


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _settle(runtime: LocalRuntime, store: DemoStore) -> list[dict[str, Any]]:
    """Until no execution runs and the store has no callback left to send."""
    while True:
        executions = runtime.wait_for_all()
        assert store.wait_for_callbacks()
        if len(runtime.executions()) == len(executions):
            return executions


def _shipped_order(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """The sample order (line 1: 1 ABS, line 2: 2 SCW), imported, released and shipped whole, with the
    store calling us back on our registered hooks; two warehouses, Dallas nearer the Austin customer."""
    api.seed_demo_mappings()
    _stock(api, "WH-DAL", 32.78, -96.80, Accu_Scale=0, Scale_Calibration_Weights=3)
    _stock(api, "WH-SEA", 47.61, -122.33, Accu_Scale=0)
    publish(api, flow("Order flow", release()))
    hooks = api.post(
        "/providers/bigcommerce/webhooks", {"destination": f"{runtime.api_url}/webhooks/bigcommerce"}
    )
    assert hooks.status_code == 200, hooks.text
    order_id = store.sample_order()
    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    _settle(runtime, store)
    shipped = api.post(
        f"/orders/{key}/shipments",
        {"items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}]},
    )
    assert shipped.status_code == 201, shipped.text
    _settle(runtime, store)
    return order_id, key


def _return_flow(provider: ProviderServer, **extra: Any) -> dict[str, Any]:
    return flow(
        "Returns",
        action("Check the return", "validate_return", input_events=["return_requested"], **extra),
        action("Pick where it goes", "assign_return_source", input_events=["return_requested"]),
        action(
            "Ask for a label",
            "send_to_returns_provider",
            input_events=["return_requested"],
            params={"provider": "https", "url": f"{provider.url}/returns", "attempts": 2},
        ),
        action("Refund it", "refund", input_events=["return_received"]),
        action(
            "Close it", "update_return_status", input_events=["return_received"], params={"status": "closed"}
        ),
        type="return_orchestration",
        input_events=["return_requested", "return_received"],
    )


def _received(
    runtime: LocalRuntime, return_id: str, body: dict[str, Any], secret: str | None = None
) -> requests.Response:
    return requests.post(
        f"{runtime.api_url}/returns/{return_id}/events",
        json=body,
        headers={"X-Provider-Secret": secret or runtime.secret_value("ProviderSecretValue")},
        timeout=10,
    )


def _refund_posts(store: DemoStore, order_id: int) -> int:
    path = f"/v3/orders/{order_id}/payment_actions/refunds"
    return sum(1 for r in store.requests if r.method == "POST" and r.path == path)


def _on_hand(api: Api, source_id: str) -> dict[str, int]:
    listed = api.get("/inventory", params={"source_id": source_id}).json()["inventory"]
    return {i["product"]: i["on_hand"] for i in listed}


def test_a_return_is_labelled_received_restocked_and_refunded_and_the_store_shows_partially_refunded(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a shipped order and the return flow: validate → source → label; on receipt: refund → close
    order_id, key = _shipped_order(runtime, store, api)
    publish(api, _return_flow(provider))
    scw = store.order_products(order_id)[1]
    stock_before = _on_hand(api, "WH-DAL")["Scale Calibration Weights"]

    # When the merchant asks one of the two calibration weights back
    asked = api.post(
        f"/orders/{key}/returns",
        {"lines": [{"sku": "SCW", "quantity": 1, "reason": "damaged in transit", "condition": "dented"}]},
    )
    _settle(runtime, store)

    # Then the return is recorded, authorised, sent to the provider with where it goes back to
    assert asked.status_code == 201, asked.text
    return_id = asked.json()["return_id"]
    assert asked.json()["status"] == "requested" and len(asked.json()["executions"]) == 1
    [label_request] = provider.requests
    assert label_request.path == "/returns"
    assert label_request.body["return_id"] == return_id
    assert label_request.body["lines"] == [
        {"line_number": 2, "sku": "SCW", "quantity": 1, "reason": "damaged in transit", "condition": "dented"}
    ]
    assert label_request.body["return_to"]["source_id"] == "WH-DAL"  # nearer Austin than Seattle
    assert label_request.headers["X-Provider-Secret"] == runtime.secret_value("ProviderSecretValue")
    ret = api.get(f"/returns/{return_id}").json()
    assert (ret["status"], ret["source_id"], ret["provider"]) == ("authorised", "WH-DAL", "https")
    assert [line["quantity_returned"] for line in api.get(f"/orders/{key}").json()["lines"]] == [0, 1]

    # When the provider calls back: the weight arrived, sellable
    received = _received(
        runtime,
        return_id,
        {
            "event_id": "rcv-1",
            "type": "received",
            "lines": [{"line_number": 2, "quantity": 1, "condition": "sellable"}],
        },
    )
    _settle(runtime, store)

    # Then it is back on the Dallas shelf, refunded in the store for that item at its price, and closed
    assert received.status_code == 200, received.text
    assert received.json()["applied"] is True
    assert _on_hand(api, "WH-DAL")["Scale Calibration Weights"] == stock_before + 1
    [refund] = store.refunds(order_id)
    assert refund["items"][0]["item_type"] == "PRODUCT"
    assert (refund["items"][0]["item_id"], refund["items"][0]["quantity"]) == (scw["id"], 1)
    assert Decimal(str(refund["total_amount"])) == Decimal(str(scw["price_inc_tax"]))
    assert return_id in refund["reason"]
    ret = api.get(f"/returns/{return_id}").json()
    assert ret["status"] == "closed"
    assert [h["status"] for h in ret["history"]] == ["authorised", "received", "refunded", "closed"]
    assert ret["refund"]["store_refund_id"] == refund["id"]
    assert ret["lines"][0]["quantity_restocked"] == 1 and ret["lines"][0]["quantity_refunded"] == 1

    # and the store shows Partially Refunded, as does the order here, with no second refund or push
    assert store.order(order_id)["status_id"] == PARTIALLY_REFUNDED
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "partially_refunded"
    assert [line["quantity_refunded"] for line in order["lines"]] == [0, 1]
    assert PARTIALLY_REFUNDED not in store.status_updates(order_id)  # the store moved itself; nothing pushed
    assert len(api.get(f"/orders/{key}/returns").json()["returns"]) == 1  # our refund's webhook: ours
    assert _refund_posts(store, order_id) == 1

    # When the provider sends the same event again
    again = _received(
        runtime,
        return_id,
        {
            "event_id": "rcv-1",
            "type": "received",
            "lines": [{"line_number": 2, "quantity": 1, "condition": "sellable"}],
        },
    )

    # Then nothing changes twice
    assert again.status_code == 200 and again.json()["applied"] is False
    assert _on_hand(api, "WH-DAL")["Scale Calibration Weights"] == stock_before + 1


def test_over_returns_are_refused_naming_the_line_and_the_same_return_twice_is_one(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a shipped order (1 ABS, 2 SCW) and no return flow
    _, key = _shipped_order(runtime, store, api)

    # When more weights are asked back than shipped
    over = api.post(
        f"/orders/{key}/returns", {"lines": [{"sku": "SCW", "quantity": 3, "reason": "unwanted"}]}
    )

    # Then it is refused, naming the line and what it can return
    assert over.status_code == 409, over.text
    assert over.json()["error"]["field"] == "lines[0].quantity"
    assert "can be returned up to 2 (shipped 2, returned 0); asked 3" in over.json()["error"]["message"]

    # When the same return is sent twice (the merchant's id), then with other contents
    body = {"return_id": "RMA-1001", "lines": [{"line_number": 2, "quantity": 2, "reason": "unwanted"}]}
    first, second = api.post(f"/orders/{key}/returns", body), api.post(f"/orders/{key}/returns", body)
    other = api.post(
        f"/orders/{key}/returns", {**body, "lines": [{"line_number": 1, "quantity": 1, "reason": "x"}]}
    )

    # Then it is one return; the other contents are refused naming return_id
    assert (first.status_code, second.status_code) == (201, 200), (first.text, second.text)
    assert first.json()["return_id"] == second.json()["return_id"] == "RMA-1001"
    assert other.status_code == 409 and other.json()["error"]["field"] == "return_id"
    assert [r["return_id"] for r in api.get(f"/orders/{key}/returns").json()["returns"]] == ["RMA-1001"]

    # And what that return took cannot be returned again; an unknown line or SKU is named
    more = api.post(
        f"/orders/{key}/returns", {"lines": [{"line_number": 2, "quantity": 1, "reason": "again"}]}
    )
    assert more.status_code == 409 and "shipped 2, returned 2" in more.json()["error"]["message"]
    unknown = api.post(f"/orders/{key}/returns", {"lines": [{"sku": "NOPE", "quantity": 1, "reason": "x"}]})
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "lines[0].sku"
    bad = api.post(f"/orders/{key}/returns", {"lines": [{"line_number": 1, "quantity": 0, "reason": ""}]})
    assert bad.status_code in (400, 422) and "lines[0]" in bad.json()["error"]["message"]
    assert api.post("/orders/BC-test-store-999/returns", body).status_code == 404


def test_concurrent_returns_of_the_same_units_take_them_once(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a shipped order with 2 weights
    _, key = _shipped_order(runtime, store, api)

    # When four returns of 1 weight each arrive at once
    def ask(n: int) -> int:
        body = {"return_id": f"RMA-C{n}", "lines": [{"sku": "SCW", "quantity": 1, "reason": "unwanted"}]}
        return api.post(f"/orders/{key}/returns", body).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(ask, range(4)))

    # Then exactly two were taken, and the lines say 2 returned
    assert codes == [201, 201, 409, 409]
    assert [line["quantity_returned"] for line in api.get(f"/orders/{key}").json()["lines"]] == [0, 2]


def test_a_refund_made_in_the_control_panel_becomes_a_return_and_no_refund_is_sent(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a shipped order and the return flow published
    order_id, key = _shipped_order(runtime, store, api)
    publish(api, _return_flow(provider))
    abs_line = store.order_products(order_id)[0]

    # When the merchant refunds the scale in the control panel (the store calls us back)
    store.refund_by_hand(order_id, [{"item_type": "PRODUCT", "item_id": abs_line["id"], "quantity": 1}])
    _settle(runtime, store)

    # Then it is a return record of that item, refunded already; nothing was posted to the store
    [ret] = api.get(f"/orders/{key}/returns").json()["returns"]
    assert (ret["origin"], ret["status"]) == ("store", "refunded")
    assert [(line["line_number"], line["quantity_refunded"]) for line in ret["lines"]] == [(1, 1)]
    assert _refund_posts(store, order_id) == 0
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "partially_refunded"
    assert [line["quantity_refunded"] for line in order["lines"]] == [1, 0]
    assert provider.requests == []  # no return flow runs on return_refunded here

    # When the same webhook is delivered again under a new hash
    [callback] = [d for d in store.deliveries if d.body["scope"] == "store/order/refund/created"]
    again = post_webhook(runtime, {**callback.body, "hash": store.build_webhook("x/y", {})["hash"]})

    # Then it is recognised: still one return
    assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    assert len(api.get(f"/orders/{key}/returns").json()["returns"]) == 1


def test_a_refund_whose_answer_is_lost_is_found_in_the_store_and_never_sent_twice(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a return received, and a store that makes the refund then answers 500
    order_id, key = _shipped_order(runtime, store, api)
    publish(api, _return_flow(provider))
    asked = api.post(
        f"/orders/{key}/returns", {"lines": [{"line_number": 1, "quantity": 1, "reason": "faulty"}]}
    )
    _settle(runtime, store)
    return_id = asked.json()["return_id"]
    store.inject("POST", REFUNDS_PATH, Fault(500), after_work=True)

    # When the goods arrive (damaged) and the refund step runs
    answer = _received(
        runtime,
        return_id,
        {
            "event_id": "rcv-9",
            "type": "received",
            "lines": [{"sku": "ABS", "quantity": 1, "condition": "damaged"}],
        },
    )
    _settle(runtime, store)

    # Then the store has one refund, the return knows it, and damaged goods were not restocked
    assert answer.status_code == 200, answer.text
    assert answer.json()["restocked"] == []
    assert _refund_posts(store, order_id) == 1
    [refund] = store.refunds(order_id)
    ret = api.get(f"/returns/{return_id}").json()
    assert ret["status"] == "closed" and ret["refund"]["store_refund_id"] == refund["id"]
    assert ret["lines"][0]["quantity_damaged"] == 1 and ret["lines"][0]["quantity_restocked"] == 0
    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    # (the return_requested run skipped it; the return_received run's retry replaced its "will retry")
    [refund_step] = [r for r in results if r["step"] == "Refund it" and r["status"] != "skipped"]
    assert refund_step["status"] == "succeeded", refund_step
    # (found in the store by the retry, or made known by the store's own refund webhook meanwhile)
    assert f"(BigCommerce refund {refund['id']})" in refund_step["message"]


def test_a_return_outside_the_window_fails_its_critical_policy_and_is_held_with_the_reason(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a return window of 30 days (a critical execution policy on the return) and an order that
    # shipped 40 days ago
    _, key = _shipped_order(runtime, store, api)
    window = {"field": "days_since_shipment", "operator": "<=", "value": 30}
    policy(api, {"name": "Return window", "kind": "execution", "applies_to": "return", "criticality": "critical",
                 "rules": [window]})  # fmt: skip
    publish(api, _return_flow(provider, execution_policies=["Return window"]))
    table = boto3.resource("dynamodb").Table("OrdersTable")
    long_ago = clock.iso(clock.now() - timedelta(days=40))
    for item in table.query(KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": key})["Items"]:
        if item["sk"].startswith("SHIPMENT#"):
            table.update_item(Key={"pk": key, "sk": item["sk"]}, UpdateExpression="SET created_at = :t",
                              ExpressionAttributeValues={":t": long_ago})  # fmt: skip

    # When the customer asks the scale back
    asked = api.post(
        f"/orders/{key}/returns", {"lines": [{"sku": "ABS", "quantity": 1, "reason": "changed mind"}]}
    )
    _settle(runtime, store)

    # Then the return is held, naming the failed step and the policy; no label was asked for
    return_id = asked.json()["return_id"]
    ret = api.get(f"/returns/{return_id}").json()
    assert ret["status"] == "requested" and ret["on_hold"] is True
    assert ret["hold"]["step"] == "Check the return"
    assert "Return window" in ret["hold"]["message"] and "days_since_shipment <= 30" in ret["hold"]["message"]
    assert provider.requests == []
    assert api.get(f"/orders/{key}").json()["status"] == "shipped"  # the order itself is not held


def test_a_return_held_by_a_refusing_provider_is_resubmitted_and_goes_on_from_that_step(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a shipped order, the return flow, and a returns provider that refuses the label request
    _, key = _shipped_order(runtime, store, api)
    publish(api, _return_flow(provider))
    provider.failures, provider.fail_status, provider.fail_message = 1, 400, "unknown carrier account"

    # When a return is requested
    asked = api.post(
        f"/orders/{key}/returns", {"lines": [{"sku": "SCW", "quantity": 2, "reason": "unwanted"}]}
    )
    _settle(runtime, store)

    # Then the return is held at the label step with the provider's words; the order is not held
    return_id = asked.json()["return_id"]
    held = api.get(f"/returns/{return_id}").json()
    assert held["on_hold"] is True and held["hold"]["step"] == "Ask for a label"
    assert "unknown carrier account" in held["hold"]["message"]
    assert api.get(f"/orders/{key}").json()["status"] == "shipped"

    # When the operator resubmits once the provider account is fixed
    resubmitted = api.post(f"/orders/{key}/resubmit")
    _settle(runtime, store)

    # Then the flow resumed at the label step (nothing before it ran again) and the return goes on
    assert resubmitted.status_code == 202, resubmitted.text
    assert resubmitted.json()["resume_at"] == "Ask for a label"
    ret = api.get(f"/returns/{return_id}").json()
    assert ret["on_hold"] is False and ret["provider"] == "https" and ret["status"] == "authorised"
    assert len(provider.requests) == 2 and provider.requests[-1].body["return_id"] == return_id


def test_a_returns_callback_that_is_hostile_or_unknown_is_refused_and_changes_nothing(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a shipped order with one return requested
    _, key = _shipped_order(runtime, store, api)
    asked = api.post(
        f"/orders/{key}/returns", {"lines": [{"sku": "SCW", "quantity": 1, "reason": "unwanted"}]}
    )
    return_id = asked.json()["return_id"]
    url = f"{runtime.api_url}/returns/{return_id}/events"
    secret = {"X-Provider-Secret": runtime.secret_value("ProviderSecretValue")}

    # When a caller without the secret, an undecodable body, a body that is not an event, more than
    # was asked back, and an unknown or absurd return id come
    answers = {
        "no secret": requests.post(url, json={"event_id": "e1", "type": "rejected"}, timeout=10),
        "not utf-8": requests.post(url, data=b"\xff\xfe{", headers=secret, timeout=10),
        "not an event": requests.post(
            url, json={"event_id": "e2", "type": "lost"}, headers=secret, timeout=10
        ),
        "too many": requests.post(
            url,
            json={"event_id": "e3", "type": "received", "lines": [{"sku": "SCW", "quantity": 2}]},
            headers=secret,
            timeout=10,
        ),
        "unknown": requests.post(
            f"{runtime.api_url}/returns/RMA-NOPE/events",
            json={"event_id": "e4", "type": "rejected"},
            headers=secret,
            timeout=10,
        ),
        "absurd id": requests.post(
            f"{runtime.api_url}/returns/{'x' * 3000}/events",
            json={"event_id": "e5", "type": "rejected"},
            headers=secret,
            timeout=10,
        ),
    }

    # Then each is refused with its reason, none with a 5xx, and the return is as it was
    codes = {name: answer.status_code for name, answer in answers.items()}
    assert codes == {"no secret": 401, "not utf-8": 400, "not an event": 400, "too many": 409,
                     "unknown": 404, "absurd id": 404}, {n: a.text for n, a in answers.items()}  # fmt: skip
    assert answers["not an event"].json()["error"]["field"] == "type"
    assert answers["too many"].json()["error"]["field"] == "lines[0].quantity"
    ret = api.get(f"/returns/{return_id}").json()
    assert ret["status"] == "requested" and all(line["quantity_received"] == 0 for line in ret["lines"])
