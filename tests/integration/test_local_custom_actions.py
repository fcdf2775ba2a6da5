"""Custom actions and providers under the local runtime: loopback endpoints when allowed, Lambda targets
served from the local registry, and the providers' secret chosen with PROVIDER_SECRET (``make serve``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orderflow.store import tables
from orderflow_cli import __main__ as cli
from orderflow_local import serve
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body
from tests.integration.test_fulfillment_providers import _imported, _step
from tests.provider_server import ProviderServer

CHOSEN_SECRET = "provider-secret-chosen-for-this-run"


def fraud_check(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A merchant's custom action, as LOCAL_FUNCTIONS names it (tests.integration.…:fraud_check)."""
    return {"succeeded": False, "message": f"fraud score 97 for {event['order_key']}: review it"}


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


# -- loopback endpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("allowed", ["true", "false"])
def test_a_custom_endpoint_on_loopback_runs_only_where_loopback_targets_are_allowed(
    store: DemoStore, provider: ProviderServer, allowed: str
) -> None:
    provider.answer = {"succeeded": True, "message": "fraud score 3: fine"}
    with local_runtime(store, ALLOW_LOOPBACK_TARGETS=allowed) as runtime:
        _, order_key = _imported(runtime, store, Api(runtime.api_url))

        # When a custom step calls an endpoint on this machine, and one on a private network
        local = _step(
            runtime, order_key, "custom", step="Fraud check", target=f"{provider.url}/check", params={}
        )
        private = _step(
            runtime, order_key, "custom", step="Fraud check", target="https://10.0.0.7/check", params={}
        )

    # Then the loopback one answers when allowed, and is refused (not called) when not, even though the
    # store is on loopback too; a private address is refused either way
    if allowed == "true":
        assert local["succeeded"] and local["message"] == "fraud score 3: fine"
        assert len(provider.requests) == 1
    else:
        assert local["status"] == "failed"
        assert "127.0.0.1/localhost only in local runs, with ALLOW_LOOPBACK_TARGETS" in local["message"]
        assert provider.requests == []
    assert private["status"] == "failed" and "private, link-local or reserved address" in private["message"]


@pytest.mark.parametrize("allowed", ["true", "false"])
def test_a_flow_calling_a_loopback_endpoint_runs_where_loopback_is_allowed_and_is_refused_elsewhere(
    store: DemoStore, provider: ProviderServer, allowed: str
) -> None:
    provider.answer = {"succeeded": True, "message": "fraud score 3: fine"}
    definition = {
        "name": "Fraud check on this machine",
        "type": "order_orchestration",
        "steps": [{"name": "Fraud check", "action": "custom", "target": f"{provider.url}/check"}],
    }
    with local_runtime(store, ALLOW_LOOPBACK_TARGETS=allowed) as runtime:
        api = Api(runtime.api_url)
        created = api.post("/flows", definition)
        if allowed == "false":
            # Then a plain-http endpoint is refused when the flow is saved, naming the step
            assert created.status_code == 400, created.text
            assert created.json()["error"]["field"] == "steps[0]"
            assert "https://" in created.json()["error"]["message"]
            return
        assert created.status_code == 201, created.text
        assert api.post(f"/flows/{created.json()['id']}/publish").status_code == 200
        api.seed_demo_mappings()
        order_id = store.sample_order()
        order_key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
        runtime.wait_for_all()
        results = api.get(f"/orders/{order_key}/step-results").json()["step_results"]

    # Then the published flow called it, and its answer is the step's result
    [fraud] = [r for r in results if r["step"] == "Fraud check"]
    assert fraud["status"] == "succeeded" and fraud["message"] == "fraud score 3: fine"
    assert len(provider.requests) == 1


# -- Lambda targets from the local registry ------------------------------------------------------------------


@pytest.fixture
def runtime(store: DemoStore, tmp_path: Path) -> Iterator[LocalRuntime]:
    # A merchant's functions, by module (on PYTHONPATH) and by file, as `make serve` takes them
    script = tmp_path / "credit.py"
    script.write_text(
        "def check(event, context):\n"
        "    return {'succeeded': True, 'message': 'credit fine for ' + event['order_key']}\n"
    )
    local = local_runtime(store)
    local.config.functions = {
        "shop-custom-fraud": f"{__name__}:fraud_check",
        "shop-custom-credit": f"{script}:check",
    }
    with local:
        yield local


def test_a_published_flow_runs_custom_steps_whose_lambdas_are_served_locally(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    # Given a flow calling the registry's example, the merchant's file, then the merchant's module
    definition = {
        "name": "Custom checks",
        "type": "order_orchestration",
        "description": "custom actions served by the local runtime",
        "steps": [
            {"name": "Approve", "action": "custom", "target": "orderflow-local-custom-approve"},
            {"name": "Credit check", "action": "custom", "target": "shop-custom-credit"},
            {
                "name": "Fraud check",
                "action": "custom",
                "target": "arn:aws:lambda:us-east-1:123456789012:function:shop-custom-fraud",
            },
        ],
    }
    flow_id = api.post("/flows", definition).json()["id"]
    assert api.post(f"/flows/{flow_id}/publish").status_code == 200
    api.seed_demo_mappings()

    # When an order comes in
    order_id = store.sample_order()
    order_key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()

    # Then each Lambda answered its step, and the merchant's refusal holds the order
    results = {r["step"]: r for r in api.get(f"/orders/{order_key}/step-results").json()["step_results"]}
    assert results["Approve"]["status"] == "succeeded"
    assert results["Approve"]["message"] == f"approved {order_key} (local example)"
    assert results["Credit check"]["message"] == f"credit fine for {order_key}"
    assert results["Fraud check"]["status"] == "failed"
    assert results["Fraud check"]["message"] == f"fraud score 97 for {order_key}: review it"
    assert api.get(f"/orders/{order_key}").json()["status"] == "on_hold"


def test_a_lambda_target_nobody_registered_fails_the_step_saying_so(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    _, order_key = _imported(runtime, store, api)

    result = _step(runtime, order_key, "custom", step="Fraud check", target="shop-custom-unknown", params={})

    assert result["status"] == "failed"
    assert result["message"].startswith("custom action Lambda shop-custom-unknown: no such function")


# -- PROVIDER_SECRET -------------------------------------------------------------------------------------------


def test_the_provider_secret_chosen_for_the_run_is_sent_and_accepted_on_callbacks(
    store: DemoStore, provider: ProviderServer
) -> None:
    local = local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01")
    local.config.provider_secret = CHOSEN_SECRET
    with local as runtime:
        _, order_key = _imported(runtime, store, Api(runtime.api_url))
        params = {"provider": "https", "url": f"{provider.url}/orders"}
        assert _step(runtime, order_key, "send_to_fulfillment", params=params)["succeeded"]

        url = f"{runtime.api_url}/fulfillment/{order_key}-FO1/events"
        shipped = requests.post(
            url, json={"type": "shipped"}, headers={"X-Provider-Secret": CHOSEN_SECRET}, timeout=10
        )
        made_up = requests.post(
            url, json={"type": "shipped"}, headers={"X-Provider-Secret": "other"}, timeout=10
        )
        fulfillment_order = tables.fulfillment_orders().get(order_key, f"{order_key}-FO1")

    assert {r.headers["X-Provider-Secret"] for r in provider.requests} == {CHOSEN_SECRET}
    assert shipped.status_code == 200, shipped.text
    assert made_up.status_code == 401
    assert fulfillment_order.status.value == "shipped"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serving(port: int, stop: threading.Event) -> threading.Thread:
    serving = threading.Thread(target=serve.serve_forever, kwargs={"port": port, "stop": stop}, daemon=True)
    serving.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
            return serving
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError("make serve did not start")


@pytest.mark.parametrize("chosen", [True, False])
def test_make_serve_says_which_provider_secret_callbacks_need_and_honours_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], chosen: bool
) -> None:
    # Given `make serve` on the demo store, with PROVIDER_SECRET set or not, and a function of the merchant's
    for name in ("BIGCOMMERCE_API_URL", "ADMIN_API_TOKEN", "WEBHOOK_SECRET", "PROVIDER_SECRET"):
        monkeypatch.delenv(name, raising=False)
    if chosen:
        monkeypatch.setenv("PROVIDER_SECRET", CHOSEN_SECRET)
    monkeypatch.setenv("LOCAL_FUNCTIONS", f"shop-custom-fraud={__name__}:fraud_check")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    port, stop = _free_port(), threading.Event()

    serving = _serving(port, stop)
    try:
        printed = capsys.readouterr().out
        secret = CHOSEN_SECRET
        if not chosen:
            [line] = [line for line in printed.splitlines() if line.startswith("PROVIDER_SECRET is not set")]
            secret = line.rsplit("X-Provider-Secret: ", 1)[1]
        # (and it says where the operator console is)
        assert f"Operator console: http://127.0.0.1:{port}/console" in printed
        console = requests.get(f"http://127.0.0.1:{port}/console/index.html", timeout=10)
        assert console.status_code == 200 and "<main" in console.text
        url = f"http://127.0.0.1:{port}/fulfillment/BC-demo-store-1-FO1/events"
        known = requests.post(
            url, json={"type": "shipped"}, headers={"X-Provider-Secret": secret}, timeout=10
        )
        wrong = requests.post(url, json={"type": "shipped"}, headers={"X-Provider-Secret": "x"}, timeout=10)
    finally:
        stop.set()
        serving.join(timeout=60)

    # Then the secret it printed (or the one chosen, which it does not print) gets past the check: the
    # fulfillment order is unknown (404), where any other secret is refused (401)
    assert known.status_code == 404, known.text
    assert wrong.status_code == 401
    assert (CHOSEN_SECRET in printed) is False
    assert ("X-Provider-Secret: $PROVIDER_SECRET" in printed) is chosen
    assert "shop-custom-fraud" in printed and "orderflow-local-custom-approve" in printed
    assert not serving.is_alive()


def test_serve_takes_the_merchants_functions_as_flags_and_refuses_a_malformed_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, str] | None] = []

    def serve_forever(
        port: int | None = None, stop: Any = None, state_dir: Any = None, functions: Any = None
    ) -> int:
        seen.append(functions)
        return 0

    monkeypatch.setattr(serve, "serve_forever", serve_forever)

    flags = [
        "--function",
        "shop-custom-fraud=my_actions:check",
        "--function",
        "shop-custom-credit=./credit.py:run",
    ]
    assert cli.main(["serve", "--ephemeral", *flags]) == 0
    assert seen == [{"shop-custom-fraud": "my_actions:check", "shop-custom-credit": "./credit.py:run"}]
    assert cli.main(["serve", "--ephemeral", "--function", "shop-custom-fraud"]) == 2
    assert "--function: 'shop-custom-fraud' is not NAME=module:function" in capsys.readouterr().err
