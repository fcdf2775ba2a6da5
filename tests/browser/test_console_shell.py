"""The console's shell: it is served at /console, asks for the admin token once per tab, refuses a
wrong one, reaches every page with the keyboard alone, and passes axe-core."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.conftest import ADMIN_TOKEN

PAGES = ["Orders", "Flows", "Policies", "Mappings", "BigCommerce", "Fulfillment", "Health"]


def test_the_console_is_served_with_its_security_headers(runtime: LocalRuntime) -> None:
    root = requests.get(f"{runtime.api_url}/console", allow_redirects=False, timeout=10)
    index = requests.get(f"{runtime.api_url}/console/index.html", timeout=10)
    config = requests.get(f"{runtime.api_url}/console/config.json", timeout=10)
    outside = requests.get(f"{runtime.api_url}/console/..%2Ftemplate.yaml", timeout=10)

    assert root.status_code == 301 and root.headers["location"] == "/console/index.html"
    assert index.status_code == 200 and "<main" in index.text
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["x-content-type-options"] == "nosniff"
    assert config.json() == {"mode": "token"}
    assert outside.status_code == 404


def test_sign_in_with_the_admin_token_then_every_page_by_keyboard(runtime: LocalRuntime, page: Page) -> None:
    # Given the console opened in a new tab
    page.goto(f"{runtime.api_url}/console")

    # When a wrong token is given, it is refused at once, saying so
    page.get_by_label("Admin token").fill("wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("That token was refused")
    expect(page.get_by_label("Admin token")).to_be_focused()
    shoot(page, "sign-in")
    accessible(page)

    # When the right one is given
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")

    # Then the Orders page shows, and every page is reached with Tab and Enter
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    for name in PAGES:
        link = page.get_by_role("navigation").get_by_role("link", name=name, exact=True)
        link.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text(name.split()[0])
        expect(link).to_have_attribute("aria-current", "page")
        accessible(page)
