"""After validation, end to end through published flows: validate → send to DOM → send to
fulfillment (a loopback provider); then the provider's "shipped" callback creates the BigCommerce
shipment, moves the store's order to Shipped (2) and starts the invoice-on-shipment flow."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from orderflow.flows.files import load_flow
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ROOT, Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, publish
from tests.provider_server import ProviderServer

SHIPPED = 2


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _stock(api: Api, source_id: str, latitude: float, longitude: float, **on_hand: int) -> None:
    created = api.post(
        "/fulfillment-sources",
        {"id": source_id, "name": f"Warehouse {source_id}",
         "address": {"country_iso2": "US", "location": {"latitude": latitude, "longitude": longitude}}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    for product, quantity in on_hand.items():
        answer = api.put(f"/inventory/{source_id}/{_product_segment(product)}", {"on_hand": quantity})
        assert answer.status_code == 200, answer.text


def _product_segment(product: str) -> str:
    # keyword arguments cannot hold spaces: Accu_Scale is the product "Accu Scale"
    return quote(product.replace("_", " "), safe="")


def _invoice_on_shipment(provider: ProviderServer) -> dict[str, object]:
    """The sample flow shipped in flows/, pointed at the loopback provider."""
    definition = load_flow(ROOT / "flows" / "invoice_on_shipment.yaml").model_dump(
        mode="json", exclude={"status", "version", "created_on"}
    )
    definition["steps"][0]["params"] = {"provider": "https", "url": f"{provider.url}/invoices"}
    return definition


def test_an_order_is_sourced_sent_shipped_then_invoiced_and_its_shipment_reaches_bigcommerce(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given mappings, two warehouses (Austin has the stock, Seattle has none), the order flow and the
    # invoice-on-shipment sample flow
    api.seed_demo_mappings()
    _stock(api, "WH-AUS", 30.27, -97.74, Accu_Scale=5, Scale_Calibration_Weights=5)
    _stock(api, "WH-SEA", 47.61, -122.33, Accu_Scale=0)
    publish(
        api,
        flow(
            "Fulfillment flow",
            action("Check header"),
            action("Check lines", "validate_order_line"),
            action("Release", "update_order_status", params={"status": "validated"}),
            action("Source the order", "send_to_dom"),
            action("Send to the warehouse", "send_to_fulfillment",
                   params={"provider": "https", "url": f"{provider.url}/fulfillment-orders"}),
        ),
    )  # fmt: skip
    publish(api, _invoice_on_shipment(provider))
    order_id = store.sample_order()  # ABS x1, SCW x2, shipping to Austin

    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    executions = runtime.wait_for_all()

    # Then every step succeeded, the order is sourced from Austin, its stock reserved, and it moved
    # through its statuses; the invoice waits for the shipment
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    results = {r["step"]: r for r in api.get(f"/orders/{key}/step-results").json()["step_results"]}
    for step in ("Check header", "Check lines", "Release", "Source the order", "Send to the warehouse"):
        assert results[step]["status"] == "succeeded", results[step]
    assert "Send to invoice" not in results
    order = api.get(f"/orders/{key}").json()
    assert [h["status"] for h in order["history"]] == ["validated", "sourced", "in_fulfillment"]
    assert store.status_updates(order_id) == [9]  # sourced and in fulfillment map to no store status
    [fulfillment_order] = results["Source the order"]["details"]["fulfillment_orders"]
    assert fulfillment_order["source_id"] == "WH-AUS"
    stock = {
        i["product"]: i for i in api.get("/inventory", params={"source_id": "WH-AUS"}).json()["inventory"]
    }
    assert (stock["Accu Scale"]["reserved"], stock["Scale Calibration Weights"]["reserved"]) == (1, 2)
    # The provider received the fulfillment order once, with the shared secret
    assert [r.path for r in provider.requests] == ["/fulfillment-orders"]
    secret = runtime.secret_value("ProviderSecretValue")
    assert all(r.headers.get("X-Provider-Secret") == secret for r in provider.requests)

    # When the warehouse ships it and calls back
    shipped = requests.post(
        f"{runtime.api_url}/fulfillment/{fulfillment_order['id']}/events",
        json={
            "event_id": "evt-1",
            "type": "shipped",
            "tracking_number": "1Z999AA10123456784",
            "carrier": "ups",
        },
        headers={"X-Provider-Secret": secret},
        timeout=30,
    )

    # Then BigCommerce has the shipment for both lines and shows Shipped; the stock left the shelf;
    # and the shipment started the invoice flow, which sent the invoice once
    assert shipped.status_code == 200, shipped.text
    after = runtime.wait_for_all()
    assert {e["status"] for e in after} == {"SUCCEEDED"} and len(after) == len(executions) + 1
    [shipment] = store.shipments(order_id)
    assert shipment["tracking_number"] == "1Z999AA10123456784"
    assert sorted(i["quantity"] for i in shipment["items"]) == [1, 2]
    assert store.status_updates(order_id) == [9, SHIPPED]
    assert [r.path for r in provider.requests] == ["/fulfillment-orders", "/invoices"]
    invoice = provider.requests[1].body
    assert invoice["order_key"] == key and len(invoice["lines"]) == 2
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "invoiced"
    assert [h["status"] for h in order["history"]][-2:] == ["shipped", "invoiced"]
    assert [line["quantity_shipped"] for line in order["lines"]] == [1, 2]
    stock = {
        i["product"]: i for i in api.get("/inventory", params={"source_id": "WH-AUS"}).json()["inventory"]
    }
    assert (stock["Accu Scale"]["on_hand"], stock["Accu Scale"]["reserved"]) == (4, 0)


@pytest.fixture
def short_waits(store: DemoStore) -> Iterator[LocalRuntime]:
    """A provider is waited for 3 seconds in all (1 s between tries), not 24 hours."""
    window = {
        "STORE_RETRY_FIRST_SECONDS": "1",
        "STORE_RETRY_MAX_SECONDS": "1",
        "STORE_RETRY_WINDOW_SECONDS": "3",
    }
    with local_runtime(store, **window, PROVIDER_BACKOFF_SECONDS="0.01") as runtime:
        yield runtime


def test_a_provider_down_beyond_the_window_holds_the_order_and_a_resubmit_later_runs_only_from_there(
    short_waits: LocalRuntime, store: DemoStore, provider: ProviderServer
) -> None:
    runtime, api = short_waits, Api(short_waits.api_url)
    api.seed_demo_mappings()
    _stock(api, "WH-AUS", 30.27, -97.74, Accu_Scale=5, Scale_Calibration_Weights=5)
    publish(
        api,
        flow(
            "Fulfillment flow",
            action("Check header"),
            action("Source the order", "send_to_dom"),
            action("Send to the warehouse", "send_to_fulfillment",
                   params={"provider": "https", "url": f"{provider.url}/fulfillment-orders", "attempts": 2}),
        ),
    )  # fmt: skip
    provider.always_fail = True
    provider.fail_status = 503
    order_id = store.sample_order()

    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()

    # The warehouse system is down: the step tried on the schedule (a first try and 3 more, 2 requests
    # each), then gave up and held the order with the provider's message
    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    [send] = [r for r in results if r["step"] == "Send to the warehouse"]
    assert send["status"] == "failed" and "down for maintenance" in send["message"]
    assert send["message"].startswith("gave up after its retries")
    tried = len(provider.requests)
    assert tried == 2 * 4
    assert api.get(f"/orders/{key}").json()["status"] == "on_hold"

    # When it is back, a resubmit runs the order from that step only
    provider.always_fail = False
    answer = api.post(f"/orders/{key}/resubmit")
    assert answer.status_code == 202, answer.text
    assert answer.json()["resume_at"] == "Send to the warehouse"
    runtime.wait_for_all()

    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    by_step: dict[str, list[str]] = {}
    for result in results:
        by_step.setdefault(result["step"], []).append(result["status"])
    assert by_step["Check header"] == ["succeeded"]  # not run again
    assert by_step["Source the order"] == ["succeeded"]  # nothing reserved twice
    assert by_step["Send to the warehouse"] == ["failed", "succeeded"]
    assert len(provider.requests) == tried + 1
    stock = {
        i["product"]: i for i in api.get("/inventory", params={"source_id": "WH-AUS"}).json()["inventory"]
    }
    assert stock["Accu Scale"]["reserved"] == 1
    # and a succeeded order has nothing to resubmit
    assert api.post(f"/orders/{key}/resubmit").status_code == 409


def test_a_backordered_line_is_sourced_by_a_resubmit_once_stock_arrives_and_sent_to_the_warehouse(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given Austin has the Accu Scale but only 1 of the 2 calibration weights the order asks for
    api.seed_demo_mappings()
    _stock(api, "WH-AUS", 30.27, -97.74, Accu_Scale=5, Scale_Calibration_Weights=1)
    publish(
        api,
        flow(
            "Fulfillment flow",
            action("Check header"),
            action("Source the order", "send_to_dom"),
            action("Send to the warehouse", "send_to_fulfillment",
                   params={"provider": "https", "url": f"{provider.url}/fulfillment-orders"}),
        ),
    )  # fmt: skip
    order_id = store.sample_order()  # ABS x1, SCW x2

    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()

    # Then what was there is reserved, the rest is backordered on its line, and the order is held
    results = {r["step"]: r for r in api.get(f"/orders/{key}/step-results").json()["step_results"]}
    assert results["Source the order"]["status"] == "failed"
    assert "backordered 1 line(s)" in results["Source the order"]["message"]
    order = api.get(f"/orders/{key}").json()
    assert order["status"] == "on_hold" and provider.requests == []
    assert [line["quantity_backordered"] for line in order["lines"]] == [0, 1]

    # When the weights arrive and the order is resubmitted
    assert api.put("/inventory/WH-AUS/Scale%20Calibration%20Weights", {"on_hand": 6}).status_code == 200
    assert api.post(f"/orders/{key}/resubmit").status_code == 202
    executions = runtime.wait_for_all()

    # Then the backordered weight is sourced in a second fulfillment order, each reserved once, and
    # both go to the warehouse
    assert executions[-1]["status"] == "SUCCEEDED"
    order = api.get(f"/orders/{key}").json()
    assert [line["quantity_backordered"] for line in order["lines"]] == [0, 0]
    assert order["status"] == "in_fulfillment"
    stock = {
        i["product"]: i for i in api.get("/inventory", params={"source_id": "WH-AUS"}).json()["inventory"]
    }
    assert (stock["Accu Scale"]["reserved"], stock["Scale Calibration Weights"]["reserved"]) == (1, 2)
    sent = sorted((r.body["id"], [(line["line_number"], line["quantity"]) for line in r.body["lines"]])
                  for r in provider.requests)  # fmt: skip
    assert sent == [(f"{key}-FO1", [(1, 1), (2, 1)]), (f"{key}-FO2", [(2, 1)])]
