"""A BigCommerce order end to end through the local runtime's HTTP API, against the loopback store:
webhook → import → mapping → the generated state machine (moto's engine) → step results → push-back."""

from __future__ import annotations

import json
import re
import threading
import time

import boto3

from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET, Api, post_webhook, webhook_body

INTAKE_STEPS = ["Import order", "Route to flows"]
FLOW_STEPS = ["Validate order header", "Validate order lines", "Release to fulfillment"]


def _statuses(executions: list[dict]) -> list[str]:
    return [e["status"] for e in executions]


def _order_get_requests(store: DemoStore, order_id: int) -> int:
    return sum(1 for r in store.requests if r.method == "GET" and r.path == f"/v2/orders/{order_id}")


def _items(table: str) -> list[dict]:
    return boto3.resource("dynamodb").Table(table).scan()["Items"]


def test_a_new_order_is_imported_validated_and_released_to_the_store(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given mappings for the store's SKUs and an order waiting in the store
    api.seed_demo_mappings()
    order_id = store.sample_order()

    # When the store's order-created webhook arrives
    answer = post_webhook(runtime, webhook_body(store, order_id))
    intake, flow = runtime.wait_for_all()

    # Then the webhook was accepted, the order's intake started the default flow, both succeeded,
    # and the store shows Awaiting Shipment
    assert answer.status_code == 200
    assert answer.json()["status"] == "accepted"
    assert answer.json()["executions"] == [intake["name"]]
    assert re.fullmatch(rf"BC-test-store-{order_id}-intake-[0-9a-f]{{16}}", intake["name"])
    assert flow["name"] == f"BC-test-store-{order_id}-default-order-flow-v1"
    assert _statuses([intake, flow]) == ["SUCCEEDED", "SUCCEEDED"]
    assert store.status_updates(order_id) == [9]
    assert store.order(order_id)["status"] == "Awaiting Shipment"

    # And the order has one succeeded step result per step, with the flow and version that ran it
    order_key = answer.json()["order_key"]
    results = api.get(f"/orders/{order_key}/step-results").json()["step_results"]
    assert [r["step"] for r in results] == INTAKE_STEPS + FLOW_STEPS
    assert {r["status"] for r in results} == {"succeeded"}
    assert {(r["step"], r["flow_id"], r["flow_version"], r["execution"]) for r in results} == {
        *((step, "order-intake", 1, intake["name"]) for step in INTAKE_STEPS),
        *((step, "default-order-flow", 1, flow["name"]) for step in FLOW_STEPS),
    }
    assert results[1]["message"] == "started Default order flow v1"

    # And the stored order is the mapped canonical order, findable by its BigCommerce id
    order = api.get(f"/orders/{order_key}").json()
    assert order["status"] == "validated"
    assert order["import_id"] == f"BC-{order_id}"
    assert [(line["sku"], line["product"], line["unit"]) for line in order["lines"]] == [
        ("ABS", "Accu Scale", "ea"),
        ("SCW", "Scale Calibration Weights", "ea"),
    ]
    assert order["total_inc_tax"] == store.order(order_id)["total_inc_tax"]
    assert [s["step"] for s in order["step_results"]] == INTAKE_STEPS + FLOW_STEPS
    found = api.get("/orders", params={"external_id": order_id}).json()["orders"]
    assert [o["order_key"] for o in found] == [order_key]
    listed = api.get("/orders").json()["orders"]
    assert [o["order_key"] for o in listed] == [order_key]


def test_the_import_reads_the_order_in_one_call_to_the_store(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    store.clear_requests()

    post_webhook(runtime, webhook_body(store, order_id))
    runtime.wait_for_all()

    # The store's quota is shared by every app: one GET for the whole order, one PUT for its status.
    assert [(r.method, r.path) for r in store.requests] == [
        ("GET", f"/v2/orders/{order_id}"),
        ("PUT", f"/v2/orders/{order_id}"),
    ]


def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_written(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    order_id = store.sample_order()
    store.clear_requests()
    body = webhook_body(store, order_id)

    missing = post_webhook(runtime, body, secret=None)
    wrong = post_webhook(runtime, body, secret="not-the-secret")
    admin_token_instead = post_webhook(runtime, body, secret=ADMIN_TOKEN)

    for answer in (missing, wrong, admin_token_instead):
        assert answer.status_code == 401
        assert answer.json()["error"]["field"] == "x-webhook-secret"
    assert _items("WebhookDeliveriesTable") == []
    assert _items("OrdersTable") == []
    assert runtime.executions() == []
    assert store.requests == []


def test_a_malformed_body_is_a_400_that_names_the_problem(runtime: LocalRuntime, store: DemoStore) -> None:
    order_id = store.sample_order()
    good = webhook_body(store, order_id)

    not_json = post_webhook(runtime, None, raw=b'{"scope": "store/order/created",')
    a_list = post_webhook(runtime, [good])
    no_hash = post_webhook(runtime, {k: v for k, v in good.items() if k != "hash"})
    bad_id = post_webhook(runtime, {**good, "data": {"type": "order", "id": "two hundred"}})
    empty = post_webhook(runtime, None, raw=b"")

    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]["message"]
    assert a_list.status_code == 400 and "JSON object" in a_list.json()["error"]["message"]
    assert no_hash.status_code == 400 and no_hash.json()["error"]["field"] == "hash"
    assert bad_id.status_code == 400 and bad_id.json()["error"]["field"] == "data.id"
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "body"
    assert _items("WebhookDeliveriesTable") == []
    assert runtime.executions() == []


def test_older_payload_shapes_are_accepted(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    # store_id as a number and no created_at, as older BigCommerce payloads have it
    api.seed_demo_mappings()
    order_id = store.sample_order()
    body = webhook_body(store, order_id, store_id=1025646)
    del body["created_at"]

    answer = post_webhook(runtime, body)

    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    assert _statuses(runtime.wait_for_all()) == ["SUCCEEDED", "SUCCEEDED"]


def test_the_same_webhook_three_times_and_concurrently_runs_the_order_once(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    first, second = store.sample_order(), store.sample_order()
    body = webhook_body(store, first)

    # Given the same delivery three times in a row
    answers = [post_webhook(runtime, body) for _ in range(3)]
    # And a second order's delivery arriving twice at the same moment
    other = webhook_body(store, second)
    barrier = threading.Barrier(2)
    concurrent: list[int] = []

    def deliver() -> None:
        barrier.wait()
        concurrent.append(post_webhook(runtime, other).json()["status"])

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # And a redelivery with a new hash for the same event within the window
    rehashed = post_webhook(runtime, {**body, "hash": "0" * 40})
    executions = runtime.wait_for_all()

    # Then each order has one execution and one status push, and every delivery got a 200
    assert [a.json()["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert sorted(concurrent) == ["accepted", "duplicate"]
    assert rehashed.status_code == 200 and rehashed.json()["status"] == "duplicate"
    assert sorted(e["name"] for e in executions) == sorted(
        [
            f"BC-test-store-{first}-intake-{body['hash'][:16]}",
            f"BC-test-store-{second}-intake-{other['hash'][:16]}",
        ]
        + [f"BC-test-store-{order}-default-order-flow-v1" for order in (first, second)]
    )
    assert store.status_updates(first) == [9]
    assert store.status_updates(second) == [9]
    assert len(api.get("/orders").json()["orders"]) == 2


def test_an_unmapped_sku_fails_the_import_keeps_the_order_and_tells_the_store(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given only the units and one of two SKUs are mapped
    api.post(
        "/mappings/products",
        {"product": "Accu Scale", "external_field_name": "sku", "external_field_value": "ABS"},
    )
    api.post("/mappings/units", {"unit": "ea", "external_field_name": "unit", "external_field_value": "each"})
    order_id = store.add_order(
        lines=[
            {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
            {"sku": "XYZ-404", "name": "Mystery Part", "quantity": 3, "price": "2.00"},
        ]
    )

    answer = post_webhook(runtime, webhook_body(store, order_id))
    executions = runtime.wait_for_all()

    # Then the import failed naming the SKU, no flow started, and the store shows the import-error status
    assert _statuses(executions) == ["SUCCEEDED"]
    results = {
        r["step"]: r
        for r in api.get(f"/orders/{answer.json()['order_key']}/step-results").json()["step_results"]
    }
    assert list(results) == ["Import order"]
    assert results["Import order"]["status"] == "failed"
    assert "XYZ-404" in results["Import order"]["message"]
    assert "'ABS'" not in results["Import order"]["message"]
    assert store.status_updates(order_id) == [12]
    # And nothing is lost: the order is stored with its error, the unmapped line marked
    order = api.get(f"/orders/{answer.json()['order_key']}").json()
    assert order["status"] == "error"
    assert [line["product"] for line in order["lines"]] == ["Accu Scale", None]
    assert order["lines"][1]["mapping_issues"][0]["value"] == "XYZ-404"


def test_a_store_error_then_success_is_retried_by_the_import(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    store.inject("GET", rf"/v2/orders/{order_id}", Fault(500), Fault(503))
    store.clear_requests()

    post_webhook(runtime, webhook_body(store, order_id))
    executions = runtime.wait_for_all()

    assert _statuses(executions) == ["SUCCEEDED", "SUCCEEDED"]
    assert _order_get_requests(store, order_id) == 3
    assert store.status_updates(order_id) == [9]


def test_a_rate_limited_store_is_waited_for_as_it_asks(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    store.inject("GET", rf"/v2/orders/{order_id}", Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "300"}))
    store.clear_requests()

    started = time.monotonic()
    post_webhook(runtime, webhook_body(store, order_id))
    executions = runtime.wait_for_all()

    assert _statuses(executions) == ["SUCCEEDED", "SUCCEEDED"]
    assert _order_get_requests(store, order_id) == 2
    assert time.monotonic() - started >= 0.3  # it waited the reset time before trying again


def test_other_scopes_and_other_stores_are_acknowledged_and_ignored(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    order_id = store.sample_order()

    archived = post_webhook(runtime, webhook_body(store, order_id, scope="store/order/archived"))
    elsewhere = post_webhook(runtime, webhook_body(store, order_id, producer="stores/someone-else"))

    assert archived.status_code == 200 and archived.json()["status"] == "ignored"
    assert elsewhere.status_code == 200 and elsewhere.json()["status"] == "ignored"
    assert "someone-else" in elsewhere.json()["reason"]
    assert runtime.executions() == []
    assert _items("WebhookDeliveriesTable") == []


def test_admin_routes_need_the_bearer_token(runtime: LocalRuntime) -> None:
    import requests

    anonymous = requests.get(f"{runtime.api_url}/orders", timeout=10)
    wrong = requests.get(f"{runtime.api_url}/orders", headers={"Authorization": "Bearer nope"}, timeout=10)

    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["error"]["field"] == "Authorization"


def test_logs_carry_the_order_key_and_never_the_customers_details(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    import logging

    from orderflow.observability import logger

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logger.addHandler(keep)
    logger.setLevel("DEBUG")
    try:
        api.seed_demo_mappings()
        customer = {"customer_id": 42, "first_name": "Priya", "last_name": "Kowalczyk", "street_1": "77 Quillfeather Lane",
                    "phone": "+1 512 555 0199", "email": "priya.k@example.org"}  # fmt: skip
        order_id = store.add_order(  # a new customer: the customer record is created too
            customer=customer,
            lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
                   {"sku": "SCW", "name": "Scale Calibration Weights", "quantity": 2, "price": "12.50"}],
        )  # fmt: skip
        answer = post_webhook(runtime, webhook_body(store, order_id))
        runtime.wait_for_all()
    finally:
        logger.removeHandler(keep)
        logger.setLevel("WARNING")

    # What would be written: each record through the logger's own JSON formatter
    written = [json.loads(logger.registered_formatter.format(r)) for r in records]
    text = json.dumps(written)
    billing = store.order(order_id)["billing_address"]
    assert written, "the run logged nothing"
    for secret in (
        billing["email"],
        billing["phone"],
        billing["street_1"],
        billing["last_name"],
        WEBHOOK_SECRET,
    ):
        assert secret not in text
    steps = [w for w in written if w["message"] == "step finished"]
    assert len(steps) == 5  # import, route, validate header, validate lines, release
    assert {(w["order_key"], w["correlation_id"]) for w in steps} == {(answer.json()["order_key"],) * 2}


def test_a_deployment_without_its_secret_answers_500_so_bigcommerce_retries(
    runtime: LocalRuntime, store: DemoStore, monkeypatch
) -> None:
    # Given the webhook function cannot find its secret (a misconfigured deployment)
    monkeypatch.delenv("WEBHOOK_SECRET_SECRET_ARN")

    answer = post_webhook(runtime, webhook_body(store, store.sample_order()))

    # Then it is our error, not the sender's: 5xx, which BigCommerce retries, and nothing stored
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert _items("WebhookDeliveriesTable") == []
