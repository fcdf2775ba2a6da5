"""The Fulfillment and Health pages in a real browser: a source is created through its form (a bad field's
problem shown next to it), an inventory CSV sets its stock with the bad row's error listed, and the health
page counts the orders that wait for the store."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.browser.test_console_mappings import open_page
from tests.conftest import Api, local_runtime, post_webhook, webhook_body

INVENTORY_CSV = (
    "source_id,product,on_hand\n"
    "WH-TX,Accu Scale,40\n"
    "WH-NOPE,Accu Scale,5\n"
    "WH-TX,Scale Calibration Weights,12\n"
)


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    """The console's runtime with imports that give up on a store that is down within a second or two,
    leaving the order pending import, and no grace period before that needs attention (as
    tests/e2e/test_store_outage.py does)."""
    with local_runtime(
        store,
        PROVIDER_BACKOFF_SECONDS="0.01",
        STORE_RETRY_FIRST_SECONDS="1",
        STORE_RETRY_MAX_SECONDS="1",
        STORE_RETRY_WINDOW_SECONDS="1",
        BIGCOMMERCE_READ_TIMEOUT_SECONDS="1",
        BIGCOMMERCE_MAX_ATTEMPTS="1",
        SWEEP_GRACE_SECONDS="0",
    ) as local:
        yield local


def test_create_a_source_and_upload_its_inventory(console: Page, api: Api) -> None:
    # Given the fulfillment page with no sources
    open_page(console, "#/fulfillment")
    expect(console.get_by_text("No fulfillment sources yet")).to_be_visible()

    # When a source is created with a latitude out of range
    console.get_by_role("button", name="New source").click()
    form = console.locator("#source-form")
    form.get_by_label("ID").fill("WH-TX")
    form.get_by_label("Name").fill("Austin warehouse")
    form.get_by_label("Priority").fill("10")
    form.get_by_label("Accepts returns").uncheck()
    form.get_by_label("City").fill("Austin")
    form.get_by_label("Country").fill("US")
    form.get_by_label("Latitude").fill("300")
    form.get_by_label("Longitude").fill("-97.74")
    form.get_by_role("button", name="Create source").click()

    # Then the latitude shows its problem
    latitude = form.get_by_label("Latitude")
    expect(latitude).to_have_attribute("aria-invalid", "true")
    expect(latitude).to_have_accessible_description(re.compile("less than or equal to 90"))

    # When it is corrected
    latitude.fill("30.27")
    form.get_by_role("button", name="Create source").click()

    # Then the source is listed as given
    row = console.locator("#sources-table").get_by_role("row", name="WH-TX")
    expect(row).to_contain_text("Austin warehouse")
    expect(row).to_contain_text("Austin, US (30.27, -97.74)")
    source = api.get("/fulfillment-sources/WH-TX").json()
    assert (source["priority"], source["active"], source["accepts_returns"]) == (10, True, False)

    # When an inventory CSV naming an unknown source on row 3 is uploaded
    console.get_by_label("CSV file").set_input_files(
        files=[{"name": "stock.csv", "mimeType": "text/csv", "buffer": INVENTORY_CSV.encode()}]
    )
    console.get_by_role("button", name="Import").click()

    # Then row 3's error is listed against it, and the good rows' levels are shown
    expect(console.locator("#inventory-import-result")).to_contain_text("2 stock levels set; 1 row rejected")
    bad = console.get_by_role("table", name="Rows not imported").get_by_role("row").nth(1)
    expect(bad.get_by_role("rowheader")).to_have_text("3")
    expect(bad).to_contain_text("no fulfillment source with id WH-NOPE")
    stock = console.locator("#inventory-table")
    expect(stock.get_by_role("row", name="Accu Scale")).to_contain_text("40")
    expect(stock.get_by_role("row", name="Scale Calibration Weights")).to_contain_text("12")
    expect(console.locator("#fo-list")).to_contain_text("No fulfillment orders are created.")
    shoot(console, "fulfillment")
    accessible(console)

    # When the source is edited to inactive
    row.get_by_role("button", name="Edit WH-TX").click()
    expect(form.get_by_label("ID")).to_have_attribute("readonly", "")
    form.get_by_label("Active").uncheck()
    form.get_by_role("button", name="Save source").click()

    # Then it is listed inactive, its other fields kept
    expect(row.get_by_role("cell").nth(4)).to_have_text("no")
    source = api.get("/fulfillment-sources/WH-TX").json()
    assert (source["active"], source["priority"], source["address"]["city"]) == (False, 10, "Austin")


def test_health_counts_an_order_waiting_for_the_store(
    console: Page, runtime: LocalRuntime, store: DemoStore
) -> None:
    # Given the health page, nothing waiting
    open_page(console, "#/health")
    expect(console.locator("#health-status")).to_contain_text("Status: ok")
    pending = console.get_by_role("row", name="Pending import")
    expect(pending.get_by_role("cell").first).to_have_text("0")
    expect(console.locator("#last-reconciliation")).to_contain_text("Not recorded")

    # When an order is announced while the store answers 503 for it
    store.outage("GET", r"/v2/orders/\d+", Fault(503), seconds=3600)
    answer = post_webhook(runtime, webhook_body(store, store.sample_order()))
    assert answer.status_code == 200, answer.text

    # Then the page counts it as pending import by itself, and links the oldest one
    expect(pending.get_by_role("cell").first).to_have_text("1")
    expect(pending.get_by_role("link", name=answer.json()["order_key"])).to_be_visible()
    expect(console.locator("#health-status")).to_contain_text("Status: attention")
    shoot(console, "health")
    accessible(console)
