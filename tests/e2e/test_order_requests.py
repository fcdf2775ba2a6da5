"""What one order costs in requests, webhook to status push-back through the default flow: DynamoDB
requests by operation and BigCommerce calls, for a small order and one of 2,000 lines. Counts, not
times: a change that adds a request to every order fails here."""

from __future__ import annotations

from collections import Counter

import pytest

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, post_webhook, webhook_body

# Per order (21): the webhook's delivery claim, pending record and delivery mark; the import's
# settings, order and customer reads, the customer record, one mapping read and one transaction
# writing the order; the route's flows and order reads; each validation step's order read; the status
# step's header read, its status change with the push's record, and the push's confirmation; one step
# result per step (5).
PER_ORDER = Counter(
    {
        "TransactWriteItems": 2,
        "PutItem": 7,
        "UpdateItem": 3,
        "GetItem": 2,
        "Query": 6,
        "BatchGetItem": 1,
    }
)


@pytest.mark.parametrize("lines", [2, 2_000])
def test_an_order_costs_the_same_requests_at_2_and_at_2000_lines(
    runtime: LocalRuntime, store: DemoStore, api: Api, dynamodb_calls: Counter[str], lines: int
) -> None:
    # Given the demo mappings, and a new customer's order of 2 or 2,000 lines
    api.seed_demo_mappings()
    order_id = store.add_order(
        customer={"customer_id": 7, "email": f"buyer{lines}@example.com"},
        lines=[
            {"sku": "ABS" if n % 2 else "SCW", "name": f"Line {n}", "quantity": 1, "price": "1.00"}
            for n in range(lines)
        ],
    )
    store.clear_requests()
    dynamodb_calls.clear()

    # When its webhook arrives and the intake and the default flow run
    answer = post_webhook(runtime, webhook_body(store, order_id))
    executions = runtime.wait_for_all(timeout=300)
    made = Counter(dynamodb_calls)

    # Then it was imported and released, with the same requests whatever its size
    assert answer.status_code == 200 and [e["status"] for e in executions] == ["SUCCEEDED", "SUCCEEDED"]
    order = api.get(f"/orders/{answer.json()['order_key']}").json()
    assert order["status"] == "validated" and len(order["lines"]) == lines
    assert "" < order["received_at"] <= order["imported_at"]  # when its webhook was accepted, kept
    assert made == PER_ORDER, made
    bigcommerce = Counter(f"{r.method} {r.path.split('?')[0]}" for r in store.requests)
    assert bigcommerce == Counter({f"GET /v2/orders/{order_id}": 1, f"PUT /v2/orders/{order_id}": 1})
