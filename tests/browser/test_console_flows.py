"""The console's Flows pages: the seed sample flow designed in the editor (problems by path, the step
palette), published, its Mermaid diagram drawn, its versions' ASL; and a dry run on a stored order."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page, expect

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.browser.test_console_policies import make_filter_policy, settled
from tests.conftest import Api, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import (
    BIGCOMMERCE_FILTER,
    HEADER_POLICY,
    LINES,
    ORDERFUL_FILTER,
    action,
    documentation_policies,
    flow,
    publish,
    release,
)


def validation_split(orderful_filter: str) -> dict[str, Any]:
    """The README's sample flow without its last step (the palette adds it)."""
    return {
        "name": "Validation flow",
        "type": "order_orchestration",
        "input_events": ["new_order"],
        "steps": [
            {
                "name": "Validation split",
                "element": "splitter_merge",
                "branches": [
                    {"name": "Order Source 1",
                     "steps": [action("Test validation 1", filter_policies=[BIGCOMMERCE_FILTER])]},
                    {"name": "Order Source 2",
                     "steps": [action("Test validation 2", filter_policies=[orderful_filter])]},
                ],
            }
        ],
    }  # fmt: skip


def flow_status(page: Page) -> Any:
    return page.get_by_role("definition").filter(has=page.locator(".status"))


def open_flows(page: Page) -> None:
    settled(page)
    page.get_by_role("navigation").get_by_role("link", name="Flows", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Flows")).to_be_visible()


def test_the_seed_sample_flow_is_designed_published_and_drawn(console: Page, api: Api) -> None:
    # Given the two filter policies, made with the rule builder and published
    make_filter_policy(console, BIGCOMMERCE_FILTER, "BigCommerce")
    make_filter_policy(console, ORDERFUL_FILTER, "Orderful")

    # When the sample flow is typed into the editor with a policy name wrong, and checked
    open_flows(console)
    console.get_by_role("link", name="New flow").click()
    expect(console.get_by_role("heading", level=1, name="New flow")).to_be_visible()
    text = console.get_by_label("Flow definition (JSON)")
    text.fill(json.dumps(validation_split("Filter Policy \u2013 Orderfull"), indent=2, ensure_ascii=False))
    console.get_by_role("button", name="Validate", exact=True).click()

    # Then the problem is listed by its path next to the text
    wrong = (
        "steps[0].branches[1].steps[0].filter_policies[0]: unknown policy 'Filter Policy \u2013 Orderfull'"
    )
    expect(console.get_by_role("alert")).to_have_text(wrong)

    # And saving it is refused with the API's own problem, storing nothing
    console.get_by_role("button", name="Save").click()
    expect(console.get_by_role("alert")).to_have_text(wrong)
    assert api.get("/flows").json()["flows"] == []
    shoot(console, "flow-editor")
    accessible(console)

    # When the name is fixed and the release step added from the palette with the keyboard
    text.fill(json.dumps(validation_split(ORDERFUL_FILTER), indent=2, ensure_ascii=False))
    console.get_by_role("button", name="Add update_order_status").focus()
    console.keyboard.press("Enter")
    expect(text).to_have_value(re.compile(re.escape('"name": "Update order status"')))
    console.get_by_role("button", name="Save").click()

    # Then the flow's page shows it, unpublished
    expect(console.get_by_role("heading", level=1, name="Validation flow")).to_be_visible()
    expect(flow_status(console)).to_have_text("unpublished")

    # When it is published
    console.get_by_role("button", name="Publish", exact=True).click()

    # Then its diagram is drawn: an SVG naming both branches; version 1's ASL is shown
    expect(flow_status(console)).to_have_text("published")
    diagram = console.get_by_role("region", name="Diagram").locator("svg")
    expect(diagram).to_contain_text("Order Source 1")
    expect(diagram).to_contain_text("Order Source 2")
    expect(console.get_by_label("Show the ASL of")).to_have_value("1")
    expect(console.get_by_role("region", name="ASL of version 1")).to_contain_text('"Validation split"')
    shoot(console, "flow")
    accessible(console)

    # When it is published again, the conflict is shown
    console.get_by_role("button", name="Publish", exact=True).click()
    expect(console.get_by_role("alert")).to_contain_text("already published as version 1")

    # When it is unpublished, edited and saved again
    console.get_by_role("button", name="Unpublish").click()
    console.get_by_role("link", name="Edit").click()
    expect(text).to_have_value(re.compile('"Validation split"'))
    text.fill(text.input_value().replace('"Update order status"', '"Release"'))
    console.get_by_role("button", name="Save").click()

    # Then the flow's page shows the change in its diagram, unpublished
    expect(console.get_by_role("heading", level=1, name="Validation flow")).to_be_visible()
    expect(flow_status(console)).to_have_text("unpublished")
    expect(console.get_by_role("region", name="Diagram").locator("svg")).to_contain_text("Release")

    # And the list shows the flow with its status, version and day created
    open_flows(console)
    row = console.get_by_role("row").filter(has_text="Validation flow")
    expect(row).to_contain_text("unpublished")
    expect(row).to_contain_text(api.get("/flows/validation-flow").json()["created_on"])
    shoot(console, "flows")
    accessible(console)
    stored = api.get("/flows/validation-flow").json()
    assert [s["name"] for s in stored["steps"]] == ["Validation split", "Release"]
    assert stored["steps"][1]["params"] == {"status": "validated"}


def test_a_dry_run_on_a_stored_order_shows_its_path(
    console: Page, runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given the documentation's sample flow, published, and an order imported from the store
    api.seed_demo_mappings()
    documentation_policies(api)
    checked = [HEADER_POLICY]
    publish(
        api,
        flow(
            "Validation flow",
            {
                "name": "Validation split",
                "element": "splitter_merge",
                "branches": [
                    {"name": "Order Source 1",
                     "steps": [action("Test validation 1", filter_policies=[BIGCOMMERCE_FILTER], execution_policies=checked)]},
                    {"name": "Order Source 2",
                     "steps": [action("Test validation 2", filter_policies=[ORDERFUL_FILTER], execution_policies=checked)]},
                ],
            },
            release(),
        ),
    )  # fmt: skip
    answer = post_webhook(runtime, webhook_body(store, store.add_order(lines=LINES)))
    key = answer.json()["order_key"]
    runtime.wait_for_all()

    # When the flow is dry-run on that order, by its key
    settled(console)
    console.goto(f"{runtime.api_url}/console/index.html#/flows/validation-flow")
    console.get_by_label("Order key").fill(key)
    console.get_by_role("button", name="Dry run").click()

    # Then the path shows step by step: branch 1 validated, branch 2 not taken, then the release
    result = console.get_by_role("status").filter(has_text="Outcome")
    expect(result).to_contain_text("completed")

    def step(name: str) -> Any:
        return result.get_by_role("row").filter(has=console.get_by_role("cell", name=name, exact=True))

    expect(step("Test validation 1")).to_contain_text("succeeded")
    expect(step("Order Source 2")).to_contain_text("not taken")
    expect(step("Test validation 2")).to_contain_text("skipped")
    expect(step("Validation split")).to_contain_text("succeeded")
    expect(step("Release")).to_contain_text("succeeded")
    shoot(console, "flow-dry-run")
    accessible(console)

    # When a pasted order is not JSON, the problem is shown and nothing runs
    console.get_by_label("A pasted BigCommerce order").check()
    console.get_by_label("BigCommerce order (JSON").fill("{not json")
    console.get_by_role("button", name="Dry run").click()
    expect(console.get_by_role("alert")).to_contain_text("The pasted order is not JSON")
