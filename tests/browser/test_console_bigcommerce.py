"""The console's BigCommerce page in a real browser: the connection test in the API's own words, webhook
registration, the settings (a status "not assigned" pushes nothing), and the store's orders and items
listed without importing them, then the selected ones imported with a progress bar."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.conftest import Api, post_webhook, webhook_body


def open_section(console: Page, name: str) -> None:
    # The Orders page the console opens on has finished drawing before we leave it.
    expect(console.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    console.get_by_role("navigation", name="Console sections").get_by_role("link", name="BigCommerce").click()
    expect(console.get_by_role("heading", level=1, name="BigCommerce")).to_be_visible()
    console.get_by_role("navigation", name="BigCommerce sections").get_by_role("link", name=name).click()
    expect(console.get_by_role("heading", level=2, name=name)).to_be_visible()


def test_test_connection_shows_the_result_in_the_apis_words_and_a_refused_token_as_an_alert(
    console: Page, store: DemoStore
) -> None:
    # Given the BigCommerce page, on its Connection section, showing the deployment's store
    open_section(console, "Connection")
    expect(console.get_by_label("Store hash")).to_have_value("test-store")

    # When the operator tests the connection
    console.get_by_role("button", name="Test Connection").click()

    # Then the API's own words say it passed
    passed = console.locator("#connection-result").get_by_role("status")
    expect(passed).to_contain_text("TEST PASSED: SUCCESSFULLY CONNECTED TO CART")
    shoot(console, "bigcommerce-connection")
    accessible(console)

    # Given the merchant revoked the API account, so the store refuses the token the deployment holds
    store.access_token = "a-new-token"

    # When tested again
    console.get_by_role("button", name="Test Connection").click()

    # Then the failure is an alert naming the cause and the setting to check
    failed = console.locator("#connection-result").get_by_role("alert")
    expect(failed).to_contain_text("TEST FAILED: THE STORE REFUSED THE ACCESS TOKEN (401)")
    expect(failed).to_contain_text("BIGCOMMERCE_ACCESS_TOKEN")
    expect(passed).to_have_count(0)
    shoot(console, "bigcommerce-connection-failed")
    accessible(console)


def test_webhooks_are_registered_at_the_apis_own_address_and_listed_with_their_state(
    console: Page, runtime: LocalRuntime, store: DemoStore
) -> None:
    # Given a store with no webhooks: every scope is missing
    open_section(console, "Webhooks")
    expect(console.get_by_text("The store has no webhooks for this API account.")).to_be_visible()
    expect(console.get_by_role("list", name="Scopes missing").get_by_role("listitem")).to_have_count(5)
    destination = f"{runtime.api_url}/webhooks/bigcommerce"
    expect(console.get_by_label("Destination")).to_have_value(destination)

    # When the operator registers them at the default destination
    console.get_by_role("button", name="Register webhooks").click()

    # Then each scope's hook is created, listed active with our secret, and no scope is missing
    expect(console.locator("#webhooks-registered").get_by_role("status")).to_contain_text(
        f"Registered for {destination}: 5 created."
    )
    hooks = console.get_by_role("table", name="Webhooks registered with the store")
    expect(hooks.get_by_role("row")).to_have_count(6)
    expect(hooks.get_by_role("row").filter(has_text="store/order/created")).to_contain_text("matches")
    expect(console.get_by_text("Every scope has an active hook with our secret.")).to_be_visible()
    assert {hook["destination"] for hook in store.hooks()} == {destination}
    shoot(console, "bigcommerce-webhooks")
    accessible(console)


def test_settings_validated_not_assigned_then_the_next_order_pushes_nothing(
    console: Page, runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given mapped products (so the default flow releases an order to validated), on the Settings section
    api.seed_demo_mappings()
    open_section(console, "Settings")
    validated = console.get_by_label("BigCommerce status for validated")
    expect(validated).to_have_value("9")
    expect(console.get_by_role("radio", name="Running")).to_be_checked()

    # When a refused value is saved, the problem is shown by the field it names
    group = console.get_by_label("Mapping group").input_value()
    console.get_by_label("Mapping group").fill("")
    console.get_by_role("button", name="Save settings").click()
    expect(console.get_by_role("alert")).to_contain_text("mapping_group")
    expect(console.get_by_label("Mapping group")).to_have_attribute("aria-invalid", "true")

    # When "validated" is set to "not assigned" in the status mapping table and the settings saved
    console.get_by_label("Mapping group").fill(group)
    validated.select_option(label="not assigned")
    console.get_by_role("button", name="Save settings").click()

    # Then they are saved, and read back so
    expect(console.locator("#settings-result").get_by_role("status")).to_have_text("Settings saved.")
    expect(console.get_by_label("Mapping group")).not_to_have_attribute("aria-invalid", "true")
    shoot(console, "bigcommerce-settings")
    accessible(console)
    console.reload()
    expect(console.get_by_label("BigCommerce status for validated")).to_have_value("")

    # When the next order arrives by its webhook and the default flow releases it to validated
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert answer.status_code == 200, answer.text
    runtime.wait_for_all()

    # Then it is validated here and nothing was pushed to the store
    assert api.get(f"/orders/{answer.json()['order_key']}").json()["status"] == "validated"
    assert store.status_updates(order_id) == []


def test_orders_cart_lists_store_orders_and_imports_two_selected_with_a_progress_bar(
    console: Page, runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given three paid orders in the store at Awaiting Fulfillment, none imported
    api.seed_demo_mappings()
    first, second, third = (store.sample_order() for _ in range(3))
    open_section(console, "Orders (Cart)")
    expect(console.get_by_label("Orders with status")).to_have_value("11")

    # When the operator lists them
    console.get_by_role("button", name="List Orders").click()
    orders = console.get_by_role("table", name=re.compile("Store orders at 11 Awaiting Fulfillment"))
    expect(orders.get_by_role("row")).to_have_count(4)
    expect(orders.get_by_role("row").filter(has_text=str(third))).to_contain_text("not imported")

    # When two are selected and imported
    console.get_by_role("checkbox", name=f"Select order {first}").check()
    console.get_by_role("checkbox", name=f"Select order {second}").check()
    console.get_by_role("button", name="Import Selected Orders").click()

    # Then the bar completes, each row says accepted and links to its order, the third is untouched
    bar = console.get_by_role("progressbar", name="Order import progress")
    expect(bar).to_have_attribute("value", "2")
    expect(bar).to_have_attribute("max", "2")
    expect(console.locator("#cart-orders-result").get_by_role("status")).to_have_text(
        "Import finished: 2 accepted."
    )
    keys = {order_id: f"BC-{store.store_hash}-{order_id}" for order_id in (first, second)}
    for order_id, key in keys.items():
        row = orders.get_by_role("row").filter(has_text=key)
        expect(row).to_contain_text("accepted")
        expect(row.get_by_role("link", name=key)).to_have_attribute("href", f"#/orders/{key}")
        expect(console.get_by_role("checkbox", name=f"Select order {order_id}")).to_be_disabled()
    expect(orders.get_by_role("row").filter(has_text=str(third))).to_contain_text("not imported")
    shoot(console, "bigcommerce-orders-cart")
    accessible(console)

    # When one of them is opened
    console.get_by_role("link", name=keys[first]).click()

    # Then its order page shows, and its timeline fills in as its flow runs, without reloading the page
    expect(console).to_have_url(re.compile(f"#/orders/{keys[first]}$"))
    timeline = console.get_by_role("region", name="Timeline")
    released = timeline.get_by_role("listitem").filter(has_text=re.compile("^Release to fulfillment"))
    expect(released).to_contain_text("succeeded", timeout=60_000)
    shoot(console, "bigcommerce-imported-order")
    runtime.wait_for_all()
    for key in keys.values():
        steps = {
            r["step"]: r["status"] for r in api.get(f"/orders/{key}/step-results").json()["step_results"]
        }
        assert steps.get("Release to fulfillment") == "succeeded", steps
    assert store.status_updates(third) == []

    # When the orders released to Awaiting Shipment are listed, they are marked imported and linked
    console.go_back()
    console.get_by_label("Orders with status").select_option("9")
    console.get_by_role("button", name="List Orders").click()
    shipped = console.get_by_role("table", name=re.compile("Store orders at 9 Awaiting Shipment"))
    for order_id, key in keys.items():
        expect(shipped.get_by_role("link", name=key)).to_be_visible()
        expect(console.get_by_role("checkbox", name=f"Select order {order_id}")).to_be_disabled()


def test_items_cart_searches_the_catalog_imports_selected_items_and_marks_them(
    console: Page, store: DemoStore, api: Api
) -> None:
    # Given a catalog of three products, none imported
    store.add_catalog_product(name="Accu Scale", sku="ABS", price="45.00")
    store.add_catalog_product(name="Scale Calibration Weights", sku="SCW", price="12.50")
    store.add_catalog_product(name="Shipping Box", sku="BOX", price="2.00")
    open_section(console, "Items (Cart)")
    expect(console.get_by_role("table", name=re.compile("Store items")).get_by_role("row")).to_have_count(4)

    # When the operator searches "scale"
    console.get_by_label("Keyword").fill("scale")
    console.get_by_role("button", name="List Items").click()
    items = console.get_by_role("table", name=re.compile("Store items matching “scale”"))
    expect(items.get_by_role("row")).to_have_count(3)

    # When both are selected and imported
    console.get_by_role("checkbox", name="Select every item").check()
    console.get_by_role("button", name="Import Selected Items").click()

    # Then the bar completes and each row says created and is marked imported
    bar = console.get_by_role("progressbar", name="Item import progress")
    expect(bar).to_have_attribute("value", "2")
    expect(console.locator("#cart-items-result").get_by_role("status")).to_have_text(
        "Import finished: 2 created."
    )
    for sku in ("ABS", "SCW"):
        row = items.get_by_role("row").filter(has=console.get_by_role("checkbox", name=f"Select item {sku}"))
        expect(row).to_contain_text("created")
        expect(row).to_contain_text("imported")
    shoot(console, "bigcommerce-items-cart")
    accessible(console)

    # Then they are our items now, and the whole catalog listed again marks them and not the third
    assert {item["sku"] for item in api.get("/items").json()["items"]} == {"ABS", "SCW"}
    console.get_by_label("Keyword").fill("")
    console.get_by_role("button", name="List Items").click()
    listed = console.get_by_role("table", name=re.compile(r"Store items \(page"))
    expect(listed.get_by_role("row").filter(has_text="BOX")).to_contain_text("not imported")
    expect(listed.get_by_role("row").filter(has_text="Accu Scale")).not_to_contain_text("not imported")
