"""The accounting hand-off in the local runtime: import-as in the settings, items' accounts through the
admin API, and ``send_to_accounting`` against a loopback provider (HTTPS) and moto SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from orderflow.errors import ProviderUnavailable
from orderflow.store import tables
from orderflow.store.accounting import AccountingRepository
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, step_event, webhook_body
from tests.provider_server import ProviderServer

PROVIDERS = "FulfillmentProvidersFunction"
IMPORT = "/providers/bigcommerce/items/import"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01") as local:
        yield local


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def _catalog(store: DemoStore, api: Api) -> None:
    """The sample order's two products as catalog items (and their product mappings)."""
    store.add_catalog_product(name="Accu Scale", sku="ABS", price="45.00")
    store.add_catalog_product(name="Scale Calibration Weights", sku="SCW", price="12.50")
    answer = api.post(IMPORT, {})
    assert answer.status_code == 200, answer.text


def _imported(runtime: LocalRuntime, store: DemoStore, api: Api, *, mapped: bool = False) -> str:
    """The sample order (ABS x1 at 45.00, SCW x2 at 12.50) imported by its webhook; with the demo's
    mappings unless the catalog import ``mapped`` its SKUs already."""
    if not mapped:
        api.seed_demo_mappings()
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert [e["status"] for e in runtime.wait_for_all()] == ["SUCCEEDED", "SUCCEEDED"]
    return str(answer.json()["order_key"])


def _step(runtime: LocalRuntime, order_key: str, **changes: Any) -> dict[str, Any]:
    event = step_event("step_send_to_accounting.json", order_key=order_key, **changes)
    result: dict[str, Any] = runtime.invoke(PROVIDERS, event)
    return result


def _https(provider: ProviderServer, **extra: Any) -> dict[str, Any]:
    return {"provider": "https", "url": f"{provider.url}/sales-documents", **extra}


def _records(order_key: str) -> AccountingRepository:
    return AccountingRepository(tables.orders().table_name)


# -- settings and items --------------------------------------------------------------------------------


def test_import_as_is_a_cash_sale_by_default_and_the_item_account_defaults_are_settings(api: Api) -> None:
    defaults = api.get("/settings/bigcommerce").json()
    assert defaults["import_as"] == "cash_sale"
    assert (
        defaults["default_income_account"],
        defaults["default_cogs_account"],
        defaults["default_asset_account"],
    ) == ("Sales", "Cost of Goods Sold", "Stock Asset")

    saved = api.put("/settings/bigcommerce", {"import_as": "sales_invoice", "default_income_account": "4000"})
    wrong = api.put("/settings/bigcommerce", {"import_as": "quote"})
    blank = api.put("/settings/bigcommerce", {"default_cogs_account": " "})

    assert saved.status_code == 200 and saved.json()["import_as"] == "sales_invoice"
    assert saved.json()["default_income_account"] == "4000"
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "import_as"
    assert "'cash_sale', 'sales_order' or 'sales_invoice'" in wrong.json()["error"]["message"]
    assert blank.status_code == 400 and blank.json()["error"]["field"] == "default_cogs_account"


def test_settings_stored_with_an_older_import_as_name_keep_working(api: Api) -> None:
    # Given settings saved before the hand-off existed (its names, no account defaults)
    tables.settings().table.put_item(
        Item={"pk": "bigcommerce", "value": {"import_as": "pending_sales_order", "push_enabled": False}}
    )

    shown = api.get("/settings/bigcommerce").json()
    changed = api.put("/settings/bigcommerce", {"new_order_status_id": 11})

    assert shown["import_as"] == "sales_order" and shown["push_enabled"] is False
    assert shown["default_asset_account"] == "Stock Asset"
    assert changed.status_code == 200 and changed.json()["import_as"] == "sales_order"


def test_items_show_their_accounts_and_take_their_own_through_the_admin_api(
    api: Api, store: DemoStore
) -> None:
    _catalog(store, api)

    # Imported items use the settings' defaults
    shown = api.get("/items/ABS").json()
    assert (shown["income_account"], shown["cogs_account"], shown["asset_account"]) == (None, None, None)
    assert shown["accounts"] == {
        "income_account": "Sales",
        "cogs_account": "Cost of Goods Sold",
        "asset_account": "Stock Asset",
    }

    # Their own accounts are set, and one goes back to the default with null
    changed = api.session.patch(
        f"{api.base}/items/ABS",
        json={"income_account": "4010 Scales", "asset_account": "1400 Scales"},
        timeout=10,
    )
    back = api.session.patch(f"{api.base}/items/ABS", json={"asset_account": None}, timeout=10)
    assert changed.status_code == 200, changed.text
    assert changed.json()["accounts"]["income_account"] == "4010 Scales"
    assert back.json()["accounts"] == {
        "income_account": "4010 Scales",
        "cogs_account": "Cost of Goods Sold",
        "asset_account": "Stock Asset",
    }
    listed = {i["sku"]: i for i in api.get("/items").json()["items"]}
    assert listed["ABS"]["income_account"] == "4010 Scales" and listed["SCW"]["income_account"] is None

    # Importing the catalog again keeps what the merchant set
    assert api.post(IMPORT, {}).json()["items"]["unchanged"] == 2
    assert api.get("/items/ABS").json()["income_account"] == "4010 Scales"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"income_account": ""}, 400, "income_account"),
        ({"cogs_account": 4000}, 400, "cogs_account"),
        ({"income": "Sales"}, 400, "income"),
        (["Sales"], 400, "body"),
    ],
)
def test_bad_item_account_changes_are_refused_naming_the_field(
    api: Api, store: DemoStore, body: Any, status: int, field: str
) -> None:
    _catalog(store, api)
    answer = api.session.patch(f"{api.base}/items/ABS", json=body, timeout=10)
    assert answer.status_code == status and answer.json()["error"]["field"] == field
    assert api.get("/items/ABS").json()["income_account"] is None


def test_an_unknown_item_and_a_bad_cursor_are_answered_in_the_error_shape(api: Api) -> None:
    missing = api.session.patch(f"{api.base}/items/NOPE", json={"income_account": "Sales"}, timeout=10)
    too_long = api.get("/items/" + "X" * 300)
    cursor = api.get("/items", params={"cursor": "eyJ4IjogMX0="})  # {"x": 1}

    assert missing.status_code == 404 and missing.json()["error"]["field"] == "sku"
    assert too_long.status_code == 404 and too_long.json()["error"]["field"] == "sku"
    assert cursor.status_code == 400 and cursor.json()["error"]["field"] == "cursor"


# -- send_to_accounting --------------------------------------------------------------------------------


@pytest.mark.parametrize("import_as", ["cash_sale", "sales_order", "sales_invoice"])
def test_the_order_goes_to_the_provider_as_its_import_as_document_with_the_items_accounts(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer, import_as: str
) -> None:
    # Given the import-as setting, ABS with its own income account, SCW on the defaults
    assert api.put("/settings/bigcommerce", {"import_as": import_as}).status_code == 200
    _catalog(store, api)
    api.session.patch(f"{api.base}/items/ABS", json={"income_account": "4010 Scales"}, timeout=10)
    order_key = _imported(runtime, store, api, mapped=True)
    order = api.get(f"/orders/{order_key}").json()

    # When the step runs
    result = _step(runtime, order_key, params=_https(provider))

    # Then the provider got one document of that type, with the Import ID, the customer account and
    # each line's item, unit, price and accounts, under the shared secret and an idempotency key
    assert result["succeeded"], result
    (received,) = provider.requests
    key = f"{order_key}-r1-{import_as}"
    assert received.headers["Idempotency-Key"] == key
    assert received.headers["X-Provider-Secret"] == runtime.secret_value("ProviderSecretValue")
    document = received.body
    assert (document["document_type"], document["import_id"]) == (import_as, order["import_id"])
    assert document["customer_account"] == order["account"] and document["currency"] == order["currency"]
    assert [(line["item"], line["unit"], line["quantity"], line["price"]) for line in document["lines"]] == [
        ("Accu Scale", "ea", 1, "45.0000"),  # BigCommerce gives 4 places
        ("Scale Calibration Weights", "ea", 2, "12.5000"),
    ]
    assert [
        (line["income_account"], line["cogs_account"], line["asset_account"]) for line in document["lines"]
    ] == [
        ("4010 Scales", "Cost of Goods Sold", "Stock Asset"),
        ("Sales", "Cost of Goods Sold", "Stock Asset"),
    ]
    # and the step result shows the document type, the Import ID and the provider's document number
    recorded = api.get(f"/orders/{order_key}/step-results").json()["step_results"][-1]
    assert recorded["step"] == "Send to accounting" and recorded["status"] == "succeeded"
    assert recorded["details"]["document_type"] == import_as
    assert recorded["details"]["import_id"] == order["import_id"]
    assert recorded["details"]["document_number"] == "PRV-1"
    assert "accepted by the https provider as document PRV-1" in recorded["message"]
    # and the order keeps its status
    assert api.get(f"/orders/{order_key}").json()["status"] == order["status"]


def test_a_repeat_sends_nothing_and_answers_from_the_stored_document(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    order_key = _imported(runtime, store, api)
    provider.answer = {"reference": "CS-000123"}

    first = _step(runtime, order_key, params=_https(provider))
    again = _step(runtime, order_key, params=_https(provider))

    assert first["succeeded"] and again["succeeded"]
    assert len(provider.requests) == 1
    assert "was sent before" in again["message"] and "document CS-000123" in again["message"]
    (record,) = _records(order_key).for_order(order_key)
    assert (record.document_type, record.document_number, record.provider) == (
        "cash_sale",
        "CS-000123",
        "https",
    )
    assert record.document == provider.requests[0].body


def test_a_provider_down_then_up_gets_one_document(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    order_key = _imported(runtime, store, api)

    # When the provider answers 503 through the step's attempts, the step waits for it (the flow's retry)
    provider.always_fail = True
    with pytest.raises(ProviderUnavailable, match="warehouse system is down"):
        _step(runtime, order_key, params=_https(provider, attempts=2))
    waiting = tables.orders().step_results(order_key)[-1]
    assert waiting.status == "failed" and waiting.message.startswith("will retry: ")

    # and when it is back, the retried step sends the same document under the same key, once accepted
    provider.always_fail = False
    provider.failures = 1  # one more 503: retried within the step
    result = _step(runtime, order_key, params=_https(provider))

    assert result["succeeded"], result
    keys = {r.headers["Idempotency-Key"] for r in provider.requests}
    bodies = [r.body for r in provider.requests]
    assert keys == {f"{order_key}-r1-cash_sale"} and len(provider.requests) == 4
    assert all(body == bodies[0] for body in bodies)
    (record,) = _records(order_key).for_order(order_key)
    assert record.sent_at and record.document_number == "PRV-4"


def test_a_provider_refusal_fails_the_step_with_its_message(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    order_key = _imported(runtime, store, api)
    provider.failures, provider.fail_status, provider.fail_message = 1, 422, "customer C-1 is on credit hold"

    result = _step(runtime, order_key, params=_https(provider))

    assert result["status"] == "failed"
    assert result["message"] == (
        f"the provider refused {order_key}-r1-cash_sale: HTTP 422: customer C-1 is on credit hold"
    )
    (record,) = _records(order_key).for_order(order_key)
    assert record.sent_at is None  # a resubmit sends it again, under the same key
    assert _step(runtime, order_key, params=_https(provider))["succeeded"]
    assert len(provider.requests) == 2


def test_the_sqs_provider_puts_the_document_on_the_queue_once(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    order_key = _imported(runtime, store, api)

    first = _step(runtime, order_key, params={"provider": "sqs"})
    _step(runtime, order_key, params={"provider": "sqs"})

    assert first["succeeded"], first
    queue_url = runtime.template.functions[PROVIDERS].environment["FULFILLMENT_QUEUE_URL"]
    messages = boto3.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    (message,) = messages
    body = json.loads(message["Body"])
    assert (body["kind"], body["id"], body["document_type"]) == (
        "accounting_document",
        f"{order_key}-r1-cash_sale",
        "cash_sale",
    )
    (record,) = _records(order_key).for_order(order_key)
    assert record.document_number == message["MessageId"]


def test_an_order_without_its_mappings_fails_the_step_naming_what_is_missing(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given an order imported with no product mapping for either SKU
    order_id = store.sample_order()
    order_key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()

    result = _step(runtime, order_key, params=_https(provider))

    assert result["status"] == "failed" and provider.requests == []
    assert "lines[0].item: no product mapping for sku 'ABS'" in result["message"]
