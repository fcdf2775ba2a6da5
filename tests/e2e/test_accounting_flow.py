"""The accounting hand-off through a published flow: validate → send to accounting (a loopback provider
that is down for a while), run by the generated state machine in the local runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.store import tables
from orderflow.store.accounting import AccountingRepository
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, publish
from tests.provider_server import ProviderServer


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01") as local:
        yield local


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _accounting_flow(provider: ProviderServer) -> dict[str, object]:
    return flow(
        "Accounting hand-off",
        action("Check header"),
        action(
            "Send to accounting",
            "send_to_accounting",
            params={"provider": "https", "url": f"{provider.url}/sales-documents", "attempts": 2},
        ),
    )


def test_a_published_flow_hands_the_order_to_accounting_once_through_a_provider_outage(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given sales orders as the import-as type, the demo mappings and a flow ending in send_to_accounting
    assert api.put("/settings/bigcommerce", {"import_as": "sales_order"}).status_code == 200
    api.seed_demo_mappings()
    publish(api, _accounting_flow(provider))
    # and a provider that answers 503 three times: the step's own two attempts, then one more
    provider.failures = 3
    provider.answer = {"reference": "SO-0001"}

    # When an order arrives
    order_id = store.sample_order()
    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    executions = runtime.wait_for_all()

    # Then the flow succeeded: the step waited for the provider (the flow's retry) and the document
    # went once, as a sales order with the order's Import ID
    assert {e["status"] for e in executions} == {"SUCCEEDED"}, executions
    order = api.get(f"/orders/{key}").json()
    results = [r for r in api.get(f"/orders/{key}/step-results").json()["step_results"]
               if r["step"] == "Send to accounting"]  # fmt: skip
    # one result for the step, the retried run's (the first run's "will retry" replaced)
    [result] = results
    assert result["status"] == "succeeded", result
    assert result["details"] == {
        "document_type": "sales_order",
        "import_id": order["import_id"],
        "idempotency_key": f"{key}-r1-sales_order",
        "provider": "https",
        "document_number": "SO-0001",
    }
    assert (
        result["message"]
        == f"sales order {order['import_id']} (70.0000 USD) accepted by the https provider as document SO-0001"
    )
    assert len(provider.requests) == 4
    assert {r.headers["Idempotency-Key"] for r in provider.requests} == {f"{key}-r1-sales_order"}
    assert provider.requests[-1].body["document_type"] == "sales_order"
    (record,) = AccountingRepository(tables.orders().table_name).for_order(key)
    assert record.document_number == "SO-0001"


def test_the_dry_run_and_the_diagram_show_the_hand_off(api: Api, provider: ProviderServer) -> None:
    hand_off = flow(
        "Hand off", action("Send to accounting", "send_to_accounting", params={"provider": "sqs"})
    )
    created = api.post("/flows", hand_off)
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    sample = {
        "id": 250,
        "status_id": 11,
        "currency_code": "USD",
        "billing_address": {"email": "janedoe@example.com", "first_name": "Jane"},
        "products": [{"id": 1, "sku": "ABS", "name": "Accu Scale", "quantity": 1, "price_ex_tax": "45.00"}],
    }

    ran = api.post(f"/flows/{flow_id}/dry-run", {"order": sample})
    diagram = api.get(f"/flows/{flow_id}/diagram")

    assert ran.status_code == 200, ran.text
    [step] = [s for s in ran.json()["steps"] if s["step"] == "Send to accounting"]
    assert "would send the order to accounting as a cash sale with Import ID BC-250" in step["message"]
    assert "send to accounting" in diagram.text
