"""The routes the operator console calls, through the local runtime and the loopback store: the store's
orders and catalog without importing them, selected orders and items imported, auto-sync stopped and
running again, flows' created_on, an order's executions, the orders' filters and fulfillment orders
by state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderLine, FulfillmentOrderStatus
from orderflow.models.order import order_key_for
from orderflow.store import tables
from orderflow.store.fulfillment_index import FulfillmentEventStore
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body

STORE = "test-store"
STORE_ORDERS = "/providers/bigcommerce/orders"
IMPORT_ORDERS = "/providers/bigcommerce/orders/import"
STORE_ITEMS = "/providers/bigcommerce/items"
IMPORT_ITEMS = "/providers/bigcommerce/items/import"
SWEEP = "ReconcileOrdersFunction"
FLOW = {
    "name": "Console test flow",
    "description": "validates the header",
    "steps": [{"name": "Validate order header", "action": "validate_order_header"}],
}


def order_reads(store: DemoStore) -> set[int]:
    return {
        int(r.path.rsplit("/", 1)[1])
        for r in store.requests
        if r.method == "GET" and r.path.startswith("/v2/orders/") and r.path.count("/") == 3
    }


def stored_order(api: Api, order_id: int) -> dict[str, Any] | None:
    answer = api.get("/orders", params={"external_id": order_id})
    assert answer.status_code == 200, answer.text
    found = answer.json()["orders"]
    return found[0] if found else None


def keep_store_statuses(api: Api) -> None:
    answer = api.put(
        "/settings/bigcommerce", {"downloaded_status_id": None, "status_mapping": {"validated": None}}
    )
    assert answer.status_code == 200, answer.text


def intake_names(runtime: LocalRuntime) -> list[str]:
    return [e["name"] for e in runtime.executions() if "-intake-" in e["name"]]


# -- the store's orders ------------------------------------------------------------------------------


def test_the_stores_orders_at_a_status_are_listed_marked_when_imported_and_nothing_is_written(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given three paid orders, one imported by its webhook, and one at another status
    api.seed_demo_mappings()
    keep_store_statuses(api)
    paid = [store.add_order(status_id=11) for _ in range(3)]
    store.add_order(status_id=0)
    assert post_webhook(runtime, webhook_body(store, paid[0])).status_code == 200
    runtime.wait_for_all()
    store.clear_requests()
    before = len(runtime.executions())

    # When the console lists the store's orders at Awaiting Payment (11)
    answer = api.get(STORE_ORDERS, params={"status_id": 11})

    # Then each is shown with its customer, total and items, the imported one marked with our key
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    assert (listing["status_id"], listing["page"], listing["has_more"]) == (11, 1, False)
    rows = {row["id"]: row for row in listing["orders"]}
    assert sorted(rows) == paid
    first = rows[paid[0]]
    assert first["imported"] is True
    assert first["order_key"] == order_key_for(STORE, paid[0])
    assert first["our_status"] not in (None, "pending_import")
    for order_id in paid[1:]:
        assert (rows[order_id]["imported"], rows[order_id]["order_key"]) == (False, None)
    assert rows[paid[1]]["customer_name"] and rows[paid[1]]["currency"] == "USD"
    assert float(rows[paid[1]]["total_inc_tax"]) > 0 and rows[paid[1]]["items_total"] > 0
    assert rows[paid[1]]["date_created"].endswith("Z")
    # and nothing was read order by order, started or stored
    assert order_reads(store) == set()
    assert len(runtime.executions()) == before
    assert stored_order(api, paid[1]) is None

    # When it pages two at a time
    page_one = api.get(STORE_ORDERS, params={"status_id": 11, "limit": 2}).json()
    page_two = api.get(STORE_ORDERS, params={"status_id": 11, "limit": 2, "page": 2}).json()

    # Then the pages follow each other
    assert [r["id"] for r in page_one["orders"]] == paid[:2] and page_one["has_more"] is True
    assert [r["id"] for r in page_two["orders"]] == paid[2:] and page_two["has_more"] is False


def test_selected_store_orders_are_imported_each_answered_for(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given paid orders (one imported already), one awaiting shipment and an id the store has not
    api.seed_demo_mappings()
    keep_store_statuses(api)
    paid = [store.add_order(status_id=11) for _ in range(3)]
    shipped = store.add_order(status_id=2)
    assert post_webhook(runtime, webhook_body(store, paid[0])).status_code == 200
    runtime.wait_for_all()

    # When the operator imports a selection
    selection = [paid[1], paid[0], shipped, 999_999, paid[2]]
    answer = api.post(IMPORT_ORDERS, {"order_ids": selection})

    # Then each is answered, in the order sent
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["order_id"], r["result"]) for r in results] == [
        (paid[1], "accepted"),
        (paid[0], "already_imported"),
        (shipped, "not_new_status"),
        (999_999, "not_found"),
        (paid[2], "accepted"),
    ]
    assert results[2]["status_id"] == 2
    assert results[0]["order_key"] == order_key_for(STORE, paid[1])
    assert "-intake-console-" in results[0]["execution"]
    # and the accepted ones are imported, as a webhook would have imported them
    runtime.wait_for_all()
    for order_id in paid:
        order = stored_order(api, order_id)
        assert order is not None and order["status"] not in ("pending_import", "import_failed")
    assert stored_order(api, shipped) is None
    assert sum("-intake-console-" in name for name in intake_names(runtime)) == 2

    # When the same selection is imported again
    again = api.post(IMPORT_ORDERS, {"order_ids": [paid[1], paid[2]]}).json()["results"]

    # Then nothing is imported twice
    assert {r["result"] for r in again} == {"already_imported"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"order_ids": []}, "order_ids"),
        ({"order_ids": [0]}, "order_ids.0"),
        ({"order_ids": [250, "251"]}, "order_ids.1"),
        ({"order_ids": [2**31]}, "order_ids.0"),
        ({"order_ids": list(range(1, 52))}, "order_ids"),
        ({}, "order_ids"),
        ({"order_ids": [250], "status_id": 11}, "status_id"),
    ],
)
def test_a_bad_selection_of_orders_is_refused_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    answer = api.post(IMPORT_ORDERS, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status_id": 15}, "status_id"), ({"page": 0}, "page"), ({"limit": 251}, "limit")],
)
def test_a_bad_listing_of_store_orders_is_refused_naming_the_parameter(
    api: Api, params: dict[str, object], field: str
) -> None:
    answer = api.get(STORE_ORDERS, params=params)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


# -- the store's catalog -----------------------------------------------------------------------------


@pytest.fixture
def catalog(store: DemoStore) -> dict[str, int]:
    ids = {
        "Accu Scale": store.add_catalog_product(name="Accu Scale", sku="ABS", price="45.00"),
        "Scale Calibration Weights": store.add_catalog_product(
            name="Scale Calibration Weights", sku="SCW", price="12.50"
        ),
        "T-Shirt": store.add_catalog_product(
            name="T-Shirt",
            sku="TS",
            price=20,
            variants=[
                {"sku": "TS-RED", "options": {"Color": "Red"}},
                {"sku": "TS-BLUE", "price": 22.5, "options": {"Color": "Blue"}},
            ],
        ),
        "Gift wrap": store.add_catalog_product(name="Gift wrap", sku=""),
    }
    return ids


def test_the_catalog_is_searched_without_importing_and_selected_items_are_imported(
    runtime: LocalRuntime, api: Api, store: DemoStore, catalog: dict[str, int]
) -> None:
    # When the console searches the catalog for "scale"
    answer = api.get(STORE_ITEMS, params={"keyword": "scale"})

    # Then it sees both scales' items, none imported, and nothing was written
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [(i["sku"], i["name"], i["price"], i["imported"]) for i in found["items"]] == [
        ("ABS", "Accu Scale", "45.0000", False),
        ("SCW", "Scale Calibration Weights", "12.5000", False),
    ]
    assert found["items"][0]["product_id"] == catalog["Accu Scale"]
    assert found["has_more"] is False
    assert tables.items().get_many(["ABS", "SCW"]) == {}

    # When it imports one SKU, a variant's SKU and one the store does not have
    imported = api.post(IMPORT_ITEMS, {"skus": ["ABS", "TS-BLUE", "NOPE"]})

    # Then each is answered, and only those are now items and product mappings
    assert imported.status_code == 200, imported.text
    results = imported.json()["results"]
    assert [(r["sku"], r["result"]) for r in results] == [
        ("ABS", "created"),
        ("TS-BLUE", "created"),
        ("NOPE", "not_found"),
    ]
    assert results[1]["variant_id"] is not None
    assert set(tables.items().get_many(["ABS", "SCW", "TS-BLUE", "TS-RED"])) == {"ABS", "TS-BLUE"}
    listed = api.get(STORE_ITEMS).json()["items"]
    assert {i["sku"]: i["imported"] for i in listed} == {
        "ABS": True,
        "SCW": False,
        "TS-RED": False,
        "TS-BLUE": True,
    }
    [skipped] = api.get(STORE_ITEMS).json()["skipped"]
    assert (skipped["product_id"], skipped["reason"]) == (catalog["Gift wrap"], "no SKU")

    # When it imports whole products, one of them unknown, and a SKU again
    by_product = api.post(IMPORT_ITEMS, {"product_ids": [catalog["T-Shirt"], 999_999]}).json()["results"]
    again = api.post(IMPORT_ITEMS, {"skus": ["ABS"]}).json()["results"]

    # Then the product's items are imported (the one held already refreshed), the unknown one named
    assert sorted((r.get("sku"), r["result"]) for r in by_product if "sku" in r) == [
        ("TS-BLUE", "updated"),
        ("TS-RED", "created"),
    ]
    assert [r for r in by_product if "sku" not in r] == [
        {"product_id": 999_999, "result": "not_found", "reason": "the store has no product with this id"}
    ]
    assert again == [{**results[0], "result": "updated"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skus": []}, "skus"),
        ({"skus": [""]}, "skus.0"),
        ({"skus": ["ABS", " padded "]}, "skus.1"),
        ({"skus": ["x"] * 51}, "skus"),
        ({"product_ids": [0]}, "product_ids.0"),
        ({"skus": ["ABS"], "product_ids": [1]}, "product_ids"),
        ({"skus": ["ABS"], "start_page": 2}, "start_page"),
    ],
)
def test_a_bad_selection_of_items_is_refused_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    answer = api.post(IMPORT_ITEMS, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


# -- auto-sync -----------------------------------------------------------------------------------------


@pytest.fixture
def eager_runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    # The sweep restarts an import at once (no grace): the test is about whether it may, not when.
    with local_runtime(store, SWEEP_GRACE_SECONDS="0") as local:
        yield local


def test_stopped_auto_sync_imports_nothing_loses_nothing_and_running_again_imports_the_waiting_orders(
    eager_runtime: LocalRuntime, store: DemoStore
) -> None:
    runtime = eager_runtime
    api = Api(runtime.api_url)
    api.seed_demo_mappings()
    # Given auto-sync is stopped
    assert api.get("/settings/bigcommerce").json()["auto_sync"] == "running"
    stopped = api.put("/settings/bigcommerce", {"auto_sync": "stopped"})
    assert stopped.status_code == 200 and stopped.json()["auto_sync"] == "stopped"
    assert api.get("/health").json()["auto_sync"] == "stopped"

    # When a new order's webhook comes, and another order is placed without one
    announced = store.add_order(status_id=11)
    unannounced = store.add_order(status_id=11)
    answer = post_webhook(runtime, webhook_body(store, announced))

    # Then the webhook is accepted, saying why nothing started; the order waits as pending import
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "accepted" and "auto-sync is stopped" in body["reason"]
    assert "executions" not in body
    assert stored_order(api, announced)["status"] == "pending_import"  # type: ignore[index]
    assert intake_names(runtime) == []

    # When the sweep runs while stopped
    report = runtime.invoke(SWEEP, {})

    # Then it starts no import and does not reconcile; the orders keep waiting
    assert (report["auto_sync"], report["restarted"], report["reconcile"]) == ("stopped", [], None)
    assert api.get("/health").json()["last_reconciliation"] is None
    runtime.wait_for_all()
    assert intake_names(runtime) == []
    assert stored_order(api, announced)["status"] == "pending_import"  # type: ignore[index]
    assert stored_order(api, unannounced) is None

    # When auto-sync runs again and the next sweep comes
    assert api.put("/settings/bigcommerce", {"auto_sync": "running"}).json()["auto_sync"] == "running"
    resumed = runtime.invoke(SWEEP, {})
    runtime.wait_for_all()

    # Then the waiting order's intake is started, the unannounced one is reconciled: both imported
    assert resumed["auto_sync"] == "running"
    assert [name.split("-intake-")[0] for name in resumed["restarted"]] == [order_key_for(STORE, announced)]
    assert unannounced in resumed["reconcile"]["started_ids"]
    for order_id in (announced, unannounced):
        order = stored_order(api, order_id)
        assert order is not None and order["status"] not in ("pending_import", "import_failed")
    # and the health route reports that reconciliation run: when, and what it started
    last = api.get("/health").json()["last_reconciliation"]
    assert last["updated_at"] and last["in_progress"] is False
    assert unannounced in resumed["reconcile"]["started_ids"] and last["started"] >= 1


def test_auto_sync_takes_only_running_or_stopped(api: Api) -> None:
    answer = api.put("/settings/bigcommerce", {"auto_sync": "paused"})

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == "auto_sync"
    assert api.get("/settings/bigcommerce").json()["auto_sync"] == "running"


# -- flows and executions ------------------------------------------------------------------------------


def test_a_flow_created_through_the_api_has_its_creation_day_kept_through_edits_and_versions(
    api: Api,
) -> None:
    today = datetime.now(UTC).date().isoformat()

    # When a flow is created without created_on, edited, published, unpublished and edited again
    created = api.post("/flows", FLOW)
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    edited = api.put(f"/flows/{flow_id}", {**FLOW, "description": "edited"})
    published = api.post(f"/flows/{flow_id}/publish")
    api.post(f"/flows/{flow_id}/unpublish")
    again = api.put(f"/flows/{flow_id}", {**FLOW, "description": "version 2"})

    # Then each answer names the day it was created
    assert created.json()["created_on"] == today
    assert [a.json()["created_on"] for a in (edited, published, again)] == [today] * 3
    # and the list shows it, with the type, status, version and last change
    [listed] = [f for f in api.get("/flows").json()["flows"] if f["id"] == flow_id]
    assert listed["created_on"] == today
    assert (listed["type"], listed["status"], listed["version"]) == ("order_orchestration", "unpublished", 2)
    assert listed["name"] == FLOW["name"] and listed["updated_at"]

    # When a flow says when it was created
    dated = api.post("/flows", {**FLOW, "name": "Dated flow", "created_on": "2026-11-23"})

    # Then that day is kept
    assert dated.json()["created_on"] == "2026-11-23"


def test_an_orders_executions_link_to_the_step_functions_console(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given an order imported through its webhook and run through the default flow
    api.seed_demo_mappings()
    order_id = store.add_order(status_id=11)
    assert post_webhook(runtime, webhook_body(store, order_id)).status_code == 200
    ran = {e["name"]: e["executionArn"] for e in runtime.wait_for_all()}
    key = order_key_for(STORE, order_id)

    # When the console asks for its executions
    answer = api.get(f"/orders/{key}/executions")

    # Then the intake and the flow are listed with the ARN each ran under and a console link
    assert answer.status_code == 200, answer.text
    executions = answer.json()["executions"]
    assert [e["flow_id"] for e in executions] == ["order-intake", "default-order-flow"]
    for execution in executions:
        assert execution["execution_arn"] == ran[execution["name"]]
        region = execution["execution_arn"].split(":")[3]
        assert execution["console_url"].startswith(
            f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/"
        )
        assert execution["console_url"].endswith(execution["execution_arn"])
        assert execution["steps"] >= 1 and execution["flow_version"] == 1

    # And an unknown order is a 404 naming it
    missing = api.get(f"/orders/{order_key_for(STORE, 999_999)}/executions")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "order_key"


# -- the orders' filters and fulfillment orders -------------------------------------------------------


def test_orders_are_filtered_by_status_shortcut_and_flow(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given an imported order and one waiting while auto-sync is stopped
    api.seed_demo_mappings()
    imported_id = store.add_order(status_id=11)
    assert post_webhook(runtime, webhook_body(store, imported_id)).status_code == 200
    runtime.wait_for_all()
    api.put("/settings/bigcommerce", {"auto_sync": "stopped"})
    waiting_id = store.add_order(status_id=11)
    assert post_webhook(runtime, webhook_body(store, waiting_id)).status_code == 200
    imported_status = stored_order(api, imported_id)["status"]  # type: ignore[index]

    def listed(**params: Any) -> list[int]:
        answer = api.get("/orders", params=params)
        assert answer.status_code == 200, answer.text
        return [o["external_id"] for o in answer.json()["orders"]]

    # Then each filter lists the orders it names
    assert listed(pending_import="true") == [waiting_id]
    assert listed(status="pending_import") == [waiting_id]
    assert listed(status=imported_status) == [imported_id]
    assert listed(status=imported_status, pending_import="true") == [waiting_id, imported_id]
    assert listed(import_failed="true") == [] and listed(pending_import="false") == [waiting_id, imported_id]
    assert listed(flow="default-order-flow") == [imported_id]
    assert listed(flow="another-flow") == []
    # and each listed order says where it came from and what it is worth
    [summary] = api.get("/orders", params={"flow": "order-intake"}).json()["orders"]
    assert summary["source"] == "bigcommerce" and summary["external_id"] == imported_id
    assert summary["currency"] == "USD" and float(summary["total_inc_tax"]) > 0
    assert summary["imported_at"] and summary["placed_at"]

    # When a filtered page is smaller than the matches
    first = api.get(
        "/orders", params={"status": imported_status, "pending_import": "true", "limit": 1}
    ).json()
    second = api.get(
        "/orders",
        params={
            "status": imported_status,
            "pending_import": "true",
            "limit": 1,
            "cursor": first["next_cursor"],
        },
    ).json()

    # Then the cursor carries on where the page stopped
    assert [o["external_id"] for o in first["orders"] + second["orders"]] == [waiting_id, imported_id]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"on_hold": "maybe"}, "on_hold"),
        ({"flow": "Not A Flow"}, "flow"),
        ({"status": "new", "cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"flow": "f", "cursor": "eyJwayI6IDF9"}, "cursor"),
    ],
)
def test_a_bad_orders_filter_is_refused_naming_the_parameter(
    api: Api, params: dict[str, object], field: str
) -> None:
    answer = api.get("/orders", params=params)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_fulfillment_orders_are_listed_by_state(runtime: LocalRuntime, api: Api) -> None:
    # Given three fulfillment orders of an order, one of them sent to its provider since
    events = FulfillmentEventStore(tables.orders().table_name)
    for n, at in (
        (1, "2026-12-01T10:00:00.000Z"),
        (2, "2026-12-01T11:00:00.000Z"),
        (3, "2026-12-01T12:00:00.000Z"),
    ):
        events.add_fulfillment_order(
            FulfillmentOrder(
                id=f"BC-test-store-7-FO{n}",
                order_key="BC-test-store-7",
                source_id="WH-TX",
                lines=[FulfillmentOrderLine(line_number=1, sku="ABS", quantity=1)],
                created_at=at,
                updated_at=at,
            )
        )
    tables.fulfillment_orders().update_status(
        "BC-test-store-7", "BC-test-store-7-FO2", FulfillmentOrderStatus.SENT, provider="https"
    )

    def listed(**params: Any) -> tuple[list[str], str | None]:
        answer = api.get("/fulfillment-orders", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return [fo["id"][-3:] for fo in body["fulfillment_orders"]], body["next_cursor"]

    # Then each state lists its own, newest first, a page at a time
    assert listed(status="sent") == (["FO2"], None)
    assert listed(status="shipped") == ([], None)
    first, cursor = listed(status="created", limit=1)
    assert first == ["FO3"] and cursor is not None
    assert listed(status="created", limit=1, cursor=cursor)[0] == ["FO1"]
    # and a state or cursor that is not one is refused, naming it
    for params, field in (({"status": "lost"}, "status"), ({}, "status")):
        refused = api.get("/fulfillment-orders", params=params)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field
    refused = api.get("/fulfillment-orders", params={"status": "sent", "cursor": cursor})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "cursor"


def test_the_console_routes_are_in_the_openapi_document_with_their_errors(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]

    expected = {
        ("get", "/providers/bigcommerce/orders"): {"400", "401", "500", "502", "503"},
        ("post", "/providers/bigcommerce/orders/import"): {"400", "401", "413", "500", "502", "503"},
        ("get", "/providers/bigcommerce/items"): {"400", "401", "500", "502", "503"},
        ("get", "/orders/{order_key}/executions"): {"401", "404", "500"},
        ("get", "/fulfillment-orders"): {"400", "401", "500"},
    }
    for (method, path), errors in expected.items():
        responses = set(paths[path][method]["responses"])
        assert responses - {"200"} == errors, (method, path)
    get_orders = {p["name"] for p in paths["/orders"]["get"]["parameters"]}
    assert {"status", "on_hold", "pending_import", "import_failed", "flow", "external_id"} <= get_orders
