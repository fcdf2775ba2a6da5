"""The console's Policies page: filter and execution policies made with the rule builder (rows of field,
operator and value in all/any groups), the API's problems shown by path, publish and unpublish."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shoot
from tests.conftest import Api


def settled(page: Page) -> None:
    """Signed in, and the first page shown: a click on the navigation is not overtaken by it."""
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def open_policies(page: Page) -> None:
    settled(page)
    page.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Policies")).to_be_visible()


def fill_rule(page: Page, legend: str, field: str, operator: str, value: str | None = None) -> None:
    rule = page.get_by_role("group", name=legend, exact=True)
    rule.get_by_label("Field").fill(field)
    rule.get_by_label("Operator").select_option(label=operator)
    if value is not None:
        rule.get_by_label("Value").fill(value)


def make_filter_policy(page: Page, name: str, provider: str) -> None:
    """A published filter policy ``provider equals <provider>``, made in the Policies page."""
    open_policies(page)
    page.get_by_role("link", name="New policy").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option("filter")
    page.get_by_label("Applies to").select_option(label="the order")
    fill_rule(page, "Rule 1", "provider", "equals", provider)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Status:")).to_contain_text("published")


def test_filter_policies_are_made_with_the_rule_builder_and_published(console: Page, api: Api) -> None:
    # Given the console signed in, with no policy yet
    open_policies(console)
    expect(console.get_by_text("No policies yet")).to_be_visible()

    # When two filter policies are made with the rule builder and published
    make_filter_policy(console, "Filter Policy \u2013 BigCommerce", "BigCommerce")
    shoot(console, "policy")
    accessible(console)
    make_filter_policy(console, "Filter Policy \u2013 Orderful", "Orderful")

    # Then the list shows both, published, with their rules in words, and the API has them as built
    open_policies(console)
    rows = console.get_by_role("row")
    expect(rows.filter(has_text="Filter Policy \u2013 BigCommerce")).to_contain_text(
        "order provider equals BigCommerce"
    )
    expect(rows.filter(has_text="Filter Policy \u2013 Orderful")).to_contain_text("published")
    shoot(console, "policies")
    accessible(console)
    stored = api.get("/policies/filter-policy-orderful").json()
    assert stored["rules"] == [{"field": "provider", "operator": "equals", "value": "Orderful"}]
    assert stored["status"] == "published"


def test_an_execution_policy_with_a_nested_group_shows_an_unknown_field_by_path(
    console: Page, api: Api
) -> None:
    # Given a new execution policy: total > 0 and (country equals US or a field that does not exist)
    open_policies(console)
    console.get_by_role("link", name="New policy").click()
    console.get_by_label("Name").fill("Domestic orders with a total")
    console.get_by_label("Kind").select_option("execution")
    console.get_by_label("Criticality").select_option("information")
    fill_rule(console, "Rule 1", "total", ">", "0")
    console.get_by_role("group", name="Rules", exact=True).get_by_role("button", name="Add group").click()
    group = console.get_by_role("group", name="Group 2", exact=True)
    group.get_by_label("Group matches when").select_option("any")
    fill_rule(console, "Rule 2.1", "country", "equals", "US")
    group.get_by_role("button", name="Add rule").click()
    fill_rule(console, "Rule 2.2", "shoe_size", "equals", "9")

    # When it is saved
    console.get_by_role("button", name="Save").click()

    # Then the API's problem names the field by its path, and nothing is stored
    expect(console.get_by_role("alert")).to_contain_text("rules[1].rules[1].field: unknown field 'shoe_size'")
    assert api.get("/policies").json()["policies"] == []
    shoot(console, "policy-problem")
    accessible(console)

    # When the field is fixed (a suggested one) and the policy saved, then published
    fill_rule(console, "Rule 2.2", "state", "equals", "TX")
    console.get_by_role("button", name="Save").click()
    expect(console.get_by_role("heading", level=1, name="Domestic orders with a total")).to_be_visible()
    expect(console.get_by_text("Status:")).to_contain_text(
        "order total > 0 and (country equals US or state equals TX)"
    )
    console.get_by_role("button", name="Publish", exact=True).click()
    expect(console.get_by_text("Status:")).to_contain_text("published")

    # Then the API has the group as built, with its criticality
    stored = api.get("/policies/domestic-orders-with-a-total").json()
    assert stored["criticality"] == "information"
    assert stored["rules"][1] == {
        "match": "any",
        "rules": [
            {"field": "country", "operator": "equals", "value": "US"},
            {"field": "state", "operator": "equals", "value": "TX"},
        ],
    }
    assert stored["status"] == "published"
