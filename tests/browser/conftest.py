"""The operator console in a real browser: Chromium driven by Playwright against the local runtime (the
same handlers, routes and state machines as ``make serve``) and the loopback BigCommerce-shaped store.

Each test gets a fresh runtime and store, and a page signed in with the admin token. ``shoot`` saves a
screenshot to ``test-results/console/``; ``accessible`` runs axe-core on the page and fails on serious or
critical violations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, ROOT, Api, local_runtime

SCREENSHOTS = ROOT / "test-results" / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags for a closed network: Chromium's own background calls would be refused, many at a time.
QUIET_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium where it is installed (``make browser``), else Playwright's own."""
    args = {**browser_type_launch_args, "args": QUIET_FLAGS}
    if Path(CHROMIUM).exists():
        args["executable_path"] = CHROMIUM
    return args


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01") as local:
        yield local


@pytest.fixture
def api(runtime: LocalRuntime) -> Api:
    return Api(runtime.api_url)


@pytest.fixture
def console(runtime: LocalRuntime, page: Page) -> Page:
    """The console, signed in with the admin token (kept for the tab), on its Orders page. The token is
    put where the sign-in form keeps it (the form itself is tested in test_console_shell.py and
    test_console_signin.py): a second or so less for every test."""
    page.add_init_script(f"sessionStorage.setItem('orderflow.adminToken', {json.dumps(ADMIN_TOKEN)})")
    page.goto(f"{runtime.api_url}/console")
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    return page


def shoot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page: Page) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    details = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}" for v in bad
    ]
    assert not bad, "\n".join(details)


def have_browser() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None
