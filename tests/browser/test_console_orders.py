"""The console's Orders pages in a real browser: the list with its filters and search, the order page with
its lines and timeline (which fills in by itself as executions run), and shipping lines from it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.conftest import Api, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import LINES, action, flow, publish, release

ONE_ABS = "1 \u00d7 ABS"  # a shipment's line as the console writes it (multiplication sign)


def _imported(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """The sample order (line 1: 1 ABS, line 2: 2 SCW) imported by its webhook and run through a
    published flow of two steps; its BigCommerce id and order key."""
    api.seed_demo_mappings()
    publish(api, flow("Orders flow", action("Check header"), release()))
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    assert answer.status_code == 200, answer.text
    runtime.wait_for_all()
    return order_id, answer.json()["order_key"]


def _open_order(console: Page, runtime: LocalRuntime, order_key: str) -> None:
    console.goto(f"{runtime.api_url}/console/index.html#/orders/{order_key}")
    expect(console.get_by_role("heading", level=1)).to_contain_text("Order BC-")


def test_an_imported_order_is_listed_filtered_found_and_shows_its_lines_and_timeline(
    runtime: LocalRuntime, store: DemoStore, api: Api, console: Page
) -> None:
    # Given an order imported by its webhook and run through a published flow
    order_id, key = _imported(runtime, store, api)
    import_id = f"BC-{order_id}"
    results = console.locator("#orders-results")

    # Then the Orders page (already open) lists it by itself, with its status
    row = results.get_by_role("row").filter(has=console.get_by_role("link", name=import_id))
    expect(row).to_contain_text("validated")
    expect(row).to_contain_text(str(order_id))
    expect(row).to_contain_text("70.00 USD")
    shoot(console, "orders-list")
    accessible(console)

    # When the list is filtered by another status, it is not there; by its own status, it is
    console.get_by_label("Status", exact=True).select_option("on_hold")
    expect(console.get_by_role("status").filter(has_text="No orders match")).to_be_visible()
    console.get_by_label("Status", exact=True).select_option("validated")
    expect(results.get_by_role("link", name=import_id)).to_be_visible()

    # When the search is not an order id, the field says so
    console.get_by_role("button", name="Clear filters").click()
    console.get_by_label("BigCommerce order id").fill("abc")
    console.get_by_label("BigCommerce order id").press("Enter")
    expect(console.get_by_role("alert")).to_contain_text("external_id: Input should be a valid integer")
    expect(console.get_by_label("BigCommerce order id")).to_have_attribute("aria-invalid", "true")

    # When it is searched for by its BigCommerce id
    console.get_by_label("BigCommerce order id").fill(str(order_id))
    console.get_by_label("BigCommerce order id").press("Enter")

    # Then it alone is found, and its link opens the order page
    expect(console.locator("#orders-summary")).to_have_text("1 order")
    results.get_by_role("link", name=import_id).click()
    expect(console.get_by_role("heading", level=1)).to_contain_text(f"Order {import_id}")
    expect(console.get_by_role("heading", level=1)).to_contain_text("validated")

    # with its lines (ordered and shipped quantities, mapped products)
    lines = console.get_by_role("table", name="Order lines")
    expect(lines.get_by_role("row").filter(has_text="ABS")).to_contain_text("Accu Scale")
    expect(lines.get_by_role("row").filter(has_text="SCW")).to_contain_text("Scale Calibration Weights")
    people = console.locator("#order-customer-body")
    expect(people).to_contain_text("janedoe@example.com")
    expect(people.locator("address").first).to_have_text(
        re.compile(r"^Jane Doe\s*555 East Street\s*78108 Austin")
    )

    # and its timeline: the intake's and the flow's executions, each step's result and message, the status change
    timeline = console.locator("#order-timeline")
    expect(timeline.get_by_role("heading", name="Order intake v1")).to_be_visible()
    expect(timeline.get_by_role("heading", name="Orders flow v1")).to_be_visible()
    flow_steps = timeline.get_by_role("list", name="Orders flow v1")
    expect(flow_steps.get_by_role("listitem").filter(has_text="Check header")).to_contain_text("succeeded")
    expect(flow_steps.get_by_role("listitem").filter(has_text="Check header")).to_contain_text("header valid")
    expect(flow_steps.get_by_role("listitem").filter(has_text="Release").first).to_contain_text("succeeded")
    expect(flow_steps).to_contain_text("orders-flow v1: Release")
    execution = timeline.get_by_role("listitem").filter(
        has=console.get_by_role("heading", name="Orders flow v1")
    )
    expect(execution.get_by_role("link", name="Open in Step Functions")).to_have_attribute(
        "href",
        re.compile(
            rf"/states/home\?region=[\w-]+#/v2/executions/details/arn:aws:states:.+:{key}-orders-flow-v1$"
        ),
    )
    shoot(console, "order-page")
    accessible(console)


def test_the_timeline_fills_in_by_itself_while_the_order_page_is_open(
    runtime: LocalRuntime, store: DemoStore, api: Api, console: Page
) -> None:
    # Given an imported order whose page is open, the operator's focus on its Resubmit button,
    # and a flow published on order_shipped
    _, key = _imported(runtime, store, api)
    publish(api, flow("On shipment", action("Shipped check"), input_events=["order_shipped"]))
    _open_order(console, runtime, key)
    expect(console.get_by_role("heading", name="Orders flow v1")).to_be_visible()
    expect(console.get_by_role("heading", name="On shipment v1")).to_have_count(0)
    console.get_by_role("button", name="Resubmit").focus()

    # When the whole order ships through the API, starting the order_shipped flow
    shipped = api.post(
        f"/orders/{key}/shipments",
        {"items": [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}], "carrier": "ups"},
    )
    assert shipped.status_code == 201, shipped.text

    # Then, without reloading, the new execution and its step's result appear, the status moves,
    # and the operator's focus is where it was
    steps = console.get_by_role("list", name="On shipment v1")
    expect(steps.get_by_role("listitem").filter(has_text="Shipped check")).to_contain_text("succeeded")
    expect(console.get_by_role("heading", level=1)).to_contain_text("shipped")
    shipments = (
        console.get_by_role("table", name="Shipments")
        .get_by_role("row")
        .filter(has_text=shipped.json()["id"])
    )
    expect(shipments).to_contain_text("shipped")
    expect(console.get_by_role("button", name="Resubmit")).to_be_focused()
    shoot(console, "order-timeline-live")


def test_ship_a_line_from_the_order_page(
    runtime: LocalRuntime, store: DemoStore, api: Api, console: Page
) -> None:
    # Given an imported order's page
    _, key = _imported(runtime, store, api)
    _open_order(console, runtime, key)
    quantity = console.get_by_label("Quantity to ship of line 1 (ABS)")

    # When more is shipped than was ordered, the line's field says why and nothing ships
    quantity.fill("5")
    console.get_by_role("button", name="Ship", exact=True).click()
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#ship-line-1-problem")).to_contain_text("exceeds the 1 still to ship")
    expect(console.get_by_role("heading", level=1)).to_contain_text("validated")

    # When one ABS ships with a tracking number and carrier
    quantity.fill("1")
    console.get_by_label("Tracking number").fill("1Z999AA10123456784")
    console.get_by_label("Carrier").select_option("ups")
    console.get_by_role("button", name="Ship", exact=True).click()

    # Then the shipment is said, listed with its lines and tracking, the line counts it, the order moves
    expect(console.locator("#ship-outcome")).to_contain_text(
        re.compile(rf"Shipment console-\w+ created \({ONE_ABS}\)")
    )
    shipments = console.get_by_role("table", name="Shipments")
    expect(shipments).to_contain_text(ONE_ABS)
    expect(shipments).to_contain_text("ups 1Z999AA10123456784")
    expect(quantity).not_to_have_attribute("aria-invalid", "true")
    expect(console.get_by_role("heading", level=1)).to_contain_text("partially shipped")
    abs_line = console.get_by_role("table", name="Order lines").get_by_role("row").filter(has_text="ABS")
    expect(abs_line.get_by_role("cell").nth(5)).to_have_text("1")
    expect(console.locator("#order-shipments")).to_contain_text("1 of 3 units shipped.")
    shoot(console, "order-shipped")
    accessible(console)


def test_resubmit_a_failed_import_from_the_order_page_after_adding_its_mapping(
    runtime: LocalRuntime, store: DemoStore, api: Api, console: Page
) -> None:
    # Given an order whose import failed on a SKU without a product mapping, its page open
    api.seed_demo_mappings()
    unmapped = {"sku": "NOPE", "name": "Unmapped scale", "quantity": 1, "price": "1.00"}
    answer = post_webhook(runtime, webhook_body(store, store.add_order(lines=[*LINES, unmapped])))
    key = answer.json()["order_key"]
    runtime.wait_for_all()
    _open_order(console, runtime, key)
    intake = console.get_by_role("list", name="Order intake v1")
    expect(intake.get_by_role("listitem").filter(has_text="Import order")).to_contain_text("failed")
    nope = console.get_by_role("table", name="Order lines").get_by_role("row").filter(has_text="NOPE")
    expect(nope).to_contain_text("not mapped")

    # When the operator adds its mapping in the Mappings page, comes back and resubmits it
    console.get_by_role("navigation", name="Console sections").get_by_role("link", name="Mappings").click()
    console.get_by_role("navigation", name="Mapping kinds").get_by_role("link", name="Products").click()
    expect(console.get_by_role("heading", level=2, name="Products mappings")).to_be_visible()
    console.get_by_role("button", name="New mapping").click()
    form = console.locator("#mapping-form")
    form.get_by_label("External field value").fill("NOPE")
    form.get_by_label("Product").fill("Nope Scale")
    form.get_by_role("button", name="Create mapping").click()
    expect(console.locator("#mappings-table").get_by_role("row", name="NOPE")).to_contain_text("Nope Scale")
    _open_order(console, runtime, key)
    console.get_by_role("button", name="Resubmit").click()

    # Then the page says from which step it resumed, and the resumed execution fills in the timeline
    expect(console.locator("#resubmit-outcome")).to_contain_text("Resubmitted from step Import order")
    expect(console.locator("#resubmit-outcome")).to_contain_text(
        re.compile(r"-resubmit-1 resumes at Import order")
    )
    resumed = console.locator("li.execution").filter(has_text="-resubmit-1")
    expect(resumed.get_by_role("listitem").filter(has_text="Import order")).to_contain_text("succeeded")
    expect(nope).to_contain_text("Nope Scale")
    expect(console.get_by_role("heading", level=1)).to_contain_text("validated")
    shoot(console, "order-resubmitted")
    accessible(console)
