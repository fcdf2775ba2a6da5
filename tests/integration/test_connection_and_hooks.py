"""The connection test and webhook registration through the local API (and the CLI), against the
loopback store: what an operator does first when connecting a store."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import pytest
import requests

from orderflow.bigcommerce.hooks import SCOPES
from orderflow_cli.__main__ import main
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime, RuntimeConfig
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET, Api

TEST_CONNECTION = "/providers/bigcommerce/test-connection"
WEBHOOKS = "/providers/bigcommerce/webhooks"
PASSED = "TEST PASSED: SUCCESSFULLY CONNECTED TO CART"


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Change the deployment's settings for a while; the handlers read them on every call."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def destination(runtime: LocalRuntime) -> str:
    return f"{runtime.api_url}/webhooks/bigcommerce"


def store_put(store: DemoStore, path: str, body: dict) -> None:
    """A change made on the store's side (BigCommerce deactivating a hook, another tool moving it)."""
    answer = requests.put(
        store.api_base + path, json=body, headers={"X-Auth-Token": store.access_token}, timeout=5
    )
    assert answer.status_code == 200, answer.text


def cli(runtime: LocalRuntime, *command: str) -> int:
    return main(["bigcommerce", *command, "--api", runtime.api_url, "--token", ADMIN_TOKEN])


# -- test connection -------------------------------------------------------------------------------


def test_the_connection_test_passes_with_the_stores_name(api: Api, store: DemoStore) -> None:
    answer = api.post(TEST_CONNECTION)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "passed": True,
        "result": PASSED,
        "store": {
            "name": "Demo Store",
            "domain": "test-store.example.com",
            "secure_url": "https://test-store.example.com",
            "status": "live",
            "plan_name": "Standard",
            "currency": "USD",
            "store_hash": "test-store",
        },
    }
    assert [(r.method, r.path) for r in store.requests] == [("GET", "/v2/store")]
    assert "merchant@example.com" not in answer.text  # the store's contact details stay out


def test_a_revoked_token_fails_the_test_as_unauthorized(api: Api, store: DemoStore) -> None:
    # Given the merchant deleted the API account, so the token the deployment holds is refused
    store.access_token = "a-new-token"

    answer = api.post(TEST_CONNECTION)

    # Then the test ran (200) and says why it failed, naming the setting to fix, not its value
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["passed"] is False
    assert result["result"] == "TEST FAILED: THE STORE REFUSED THE ACCESS TOKEN (401)"
    assert result["cause"] == "unauthorized"
    assert result["message"].startswith("BigCommerce answered 401 on GET /v2/store: You are not authorized")
    assert "BIGCOMMERCE_ACCESS_TOKEN" in result["message"]
    assert "test-token" not in answer.text
    assert len(store.requests) == 1  # a 401 is not retried


def test_a_token_without_the_scope_fails_as_forbidden(api: Api, store: DemoStore) -> None:
    store.inject("GET", "/v2/store", Fault(403))

    result = api.post(TEST_CONNECTION).json()

    assert (result["passed"], result["cause"]) == (False, "forbidden")
    assert "Information & Settings" in result["message"]


def test_an_unknown_store_hash_fails_as_store_not_found(api: Api, store: DemoStore) -> None:
    with environment(BIGCOMMERCE_STORE_HASH="no-such-store"):
        answer = api.post(TEST_CONNECTION)

    result = answer.json()
    assert answer.status_code == 200
    assert (result["passed"], result["cause"]) == (False, "store_not_found")
    assert result["result"] == "TEST FAILED: STORE NOT FOUND (404)"
    assert "BIGCOMMERCE_STORE_HASH" in result["message"]


def test_an_unreachable_store_fails_as_unreachable(api: Api, store: DemoStore) -> None:
    # Given the store's API does not answer at all
    store.stop()

    answer = api.post(TEST_CONNECTION)

    result = answer.json()
    assert answer.status_code == 200
    assert (result["passed"], result["cause"]) == (False, "unreachable")
    assert result["result"] == "TEST FAILED: THE STORE'S API IS UNREACHABLE"
    assert result["message"].startswith("BigCommerce did not answer GET /v2/store: connection failed")


def test_a_store_failing_through_every_attempt_fails_as_unavailable(api: Api, store: DemoStore) -> None:
    store.inject("GET", "/v2/store", *[Fault(503)] * 4)

    result = api.post(TEST_CONNECTION).json()

    assert (result["passed"], result["cause"]) == (False, "unavailable")
    assert result["result"] == "TEST FAILED: THE STORE'S API IS UNAVAILABLE (503)"


def test_a_malformed_token_fails_as_not_configured_naming_the_part(api: Api) -> None:
    with environment(BIGCOMMERCE_ACCESS_TOKEN="client id:test-token"):
        answer = api.post(TEST_CONNECTION)

    result = answer.json()
    assert (result["passed"], result["cause"]) == (False, "not_configured")
    assert result["message"].startswith(
        "BIGCOMMERCE_ACCESS_TOKEN is malformed: the client id (before ':') contains whitespace"
    )
    assert "test-token" not in answer.text


def test_the_salesorder_api_key_form_connects(store: DemoStore) -> None:
    # Given the access-token secret holds ClientID:AccessToken
    config = RuntimeConfig(
        bigcommerce_api_url=store.url,
        store_hash=store.store_hash,
        access_token=f"salesorder-client-id:{store.access_token}",
        webhook_secret=WEBHOOK_SECRET,
        admin_token=ADMIN_TOKEN,
    )
    with LocalRuntime(config) as runtime:
        result = Api(runtime.api_url).post(TEST_CONNECTION).json()

    # Then only the token part is sent
    assert result["result"] == PASSED
    assert store.requests[-1].headers["X-Auth-Token"] == store.access_token


def test_the_cli_prints_the_result_and_fails_with_the_cause(
    runtime: LocalRuntime, store: DemoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(runtime, "test-connection") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [PASSED, "store: Demo Store (test-store.example.com, store hash test-store)"]

    store.access_token = "a-new-token"
    assert cli(runtime, "test-connection") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["TEST FAILED: THE STORE REFUSED THE ACCESS TOKEN (401)", "cause: unauthorized"]

    assert main(["bigcommerce", "test-connection", "--api", runtime.api_url, "--token", "wrong"]) == 1
    assert "answered 401" in capsys.readouterr().err


# -- webhooks --------------------------------------------------------------------------------------


def test_registration_creates_a_hook_per_scope_that_delivers_with_the_secret(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # When the hooks are registered for this deployment
    answer = api.post(WEBHOOKS, {"destination": destination(runtime)})

    # Then the store has one active hook per scope, carrying our secret header
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert [(h["scope"], h["action"]) for h in result["hooks"]] == [(s, "created") for s in SCOPES]
    assert result["counts"] == {"created": len(SCOPES), "updated": 0, "reactivated": 0, "unchanged": 0}
    hooks = store.hooks()
    assert sorted(h["scope"] for h in hooks) == sorted(SCOPES)
    assert {h["id"] for h in hooks} == {h["hook_id"] for h in result["hooks"]}
    for hook in hooks:
        assert hook["destination"] == destination(runtime)
        assert hook["headers"] == {"X-Webhook-Secret": WEBHOOK_SECRET}
        assert hook["is_active"] is True
    assert WEBHOOK_SECRET not in answer.text

    # And the store's callbacks are accepted by our webhook route
    order_id = store.add_order(status_id=11)
    store.set_status(order_id, 9)
    deliveries = store.wait_for_deliveries(2, timeout=10)
    assert [(d.body["scope"], d.status) for d in deliveries] == [
        ("store/order/updated", 200),
        ("store/order/statusUpdated", 200),
    ]


def test_registering_again_changes_nothing(runtime: LocalRuntime, api: Api, store: DemoStore) -> None:
    body = {"destination": destination(runtime)}
    first = api.post(WEBHOOKS, body).json()
    hooks_before = store.hooks()
    store.clear_requests()

    again = api.post(WEBHOOKS, body).json()

    assert [(h["action"], h["hook_id"]) for h in again["hooks"]] == [
        ("unchanged", h["hook_id"]) for h in first["hooks"]
    ]
    assert store.hooks() == hooks_before
    assert {r.method for r in store.requests} == {"GET"}


def test_a_deactivated_hook_is_reactivated_and_a_moved_one_brought_back(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given registered hooks, one deactivated by BigCommerce after failed deliveries and one moved
    # elsewhere with another secret
    body = {"destination": destination(runtime)}
    ids = {h["scope"]: h["hook_id"] for h in api.post(WEBHOOKS, body).json()["hooks"]}
    store_put(store, f"/v3/hooks/{ids['store/order/created']}", {"is_active": False})
    store_put(
        store,
        f"/v3/hooks/{ids['store/shipment/created']}",
        {"destination": "https://old.example.com/hooks", "headers": {"X-Webhook-Secret": "old"}},
    )

    # When the listing is read, then registration runs again
    listed = api.get(WEBHOOKS).json()
    result = api.post(WEBHOOKS, body).json()

    # Then the listing showed both problems, and registration fixed exactly those two hooks
    assert listed["scopes_missing"] == ["store/order/created", "store/shipment/created"]
    shown = {h["scope"]: (h["is_active"], h["secret"]) for h in listed["hooks"]}
    assert shown["store/order/created"] == (False, "matches")
    assert shown["store/shipment/created"] == (True, "differs")
    assert {h["scope"]: (h["action"], h["changes"]) for h in result["hooks"]} == {
        "store/order/created": ("reactivated", ["is_active"]),
        "store/order/statusUpdated": ("unchanged", []),
        "store/order/updated": ("unchanged", []),
        "store/shipment/created": ("updated", ["destination", "headers"]),
        "store/order/refund/created": ("unchanged", []),
    }
    assert {h["id"] for h in store.hooks()} == set(ids.values())
    for hook in store.hooks():
        assert (hook["destination"], hook["is_active"]) == (destination(runtime), True)
        assert hook["headers"] == {"X-Webhook-Secret": WEBHOOK_SECRET}
    assert api.get(WEBHOOKS).json()["scopes_missing"] == []


def test_the_listing_never_shows_the_secret(runtime: LocalRuntime, api: Api) -> None:
    assert api.get(WEBHOOKS).json() == {"hooks": [], "scopes_missing": list(SCOPES)}
    api.post(WEBHOOKS, {"destination": destination(runtime)})

    answer = api.get(WEBHOOKS)

    assert answer.status_code == 200
    assert [(h["scope"], h["is_active"], h["secret"], h["ours"]) for h in answer.json()["hooks"]] == [
        (s, True, "matches", True) for s in SCOPES
    ]
    assert WEBHOOK_SECRET not in answer.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"destination": "http://orders.example.com/webhooks/bigcommerce"}, "destination: must be https"),
        ({"destination": "https://orders.example.com:8443/x"}, "destination: BigCommerce delivers to"),
        ({"destination": ""}, "destination: String should have at least 1 character"),
        ({}, "destination: Field required"),
        ({"destination": 5}, "destination: Input should be a valid string"),
    ],
)
def test_a_bad_destination_is_a_400_naming_it(api: Api, store: DemoStore, body: dict, message: str) -> None:
    answer = api.post(WEBHOOKS, body)

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "destination"
    assert error["message"].startswith(message)
    assert store.requests == []


def test_a_failed_create_is_not_repeated_and_running_again_completes(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given the store fails on the first hook it is asked to create
    store.inject("POST", "/v3/hooks", Fault(500))
    body = {"destination": destination(runtime)}

    failed = api.post(WEBHOOKS, body)

    # Then the API says so and that running again is safe; the POST was not repeated blindly
    assert failed.status_code == 503, failed.text
    message = failed.json()["error"]["message"]
    assert "may have been carried out" in message
    assert "running it again is safe" in message
    assert [r.method for r in store.requests] == ["GET", "POST"]

    again = api.post(WEBHOOKS, body).json()
    assert again["counts"]["created"] == len(SCOPES)
    assert len(store.hooks()) == len(SCOPES)


def test_a_missing_webhook_secret_is_a_500_naming_the_setting(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    with environment(WEBHOOK_SECRET="", WEBHOOK_SECRET_SECRET_ARN=""):
        answer = api.post(WEBHOOKS, {"destination": destination(runtime)})

    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "code": "not_configured",
        "message": "neither WEBHOOK_SECRET nor WEBHOOK_SECRET_SECRET_ARN is set",
        "field": None,
    }
    assert store.hooks() == []


def test_the_cli_registers_lists_and_reports(
    runtime: LocalRuntime, store: DemoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    url = destination(runtime)

    assert cli(runtime, "list-webhooks") == 0
    assert capsys.readouterr().out.splitlines() == [
        "no webhooks",
        f"no active hook with our secret for: {', '.join(SCOPES)}",
        "fix with: python -m orderflow_cli bigcommerce register-webhooks --destination URL",
    ]

    assert cli(runtime, "register-webhooks", "--destination", url) == 0
    assert capsys.readouterr().out.splitlines() == [
        *[
            f"{scope}: created (hook {n}: destination, headers, is_active)"
            for n, scope in enumerate(SCOPES, 1)
        ],
        f"done: {len(SCOPES)} created, 0 updated, 0 reactivated, 0 unchanged → {url}",
    ]

    store_put(store, "/v3/hooks/2", {"is_active": False})
    assert cli(runtime, "register-webhooks", "--destination", url) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "store/order/statusUpdated: reactivated (hook 2: is_active)"
    assert out[-1] == f"done: 0 created, 0 updated, 1 reactivated, {len(SCOPES) - 1} unchanged → {url}"

    assert cli(runtime, "list-webhooks") == 0
    listed = capsys.readouterr().out
    assert listed.splitlines() == [
        f"hook {n}  {scope}  active  secret matches  {url}" for n, scope in enumerate(SCOPES, 1)
    ]
    assert WEBHOOK_SECRET not in listed

    assert cli(runtime, "register-webhooks", "--destination", "http://example.com/x") == 1
    assert "answered 400: destination: must be https" in capsys.readouterr().err


def test_the_register_answer_is_json_serialisable_per_scope(runtime: LocalRuntime, api: Api) -> None:
    result = api.post(WEBHOOKS, {"destination": destination(runtime)}).json()

    assert json.loads(json.dumps(result))["destination"] == destination(runtime)
    assert [set(h) for h in result["hooks"]] == [
        {"scope", "action", "hook_id", "changes", "other_hook_ids"}
    ] * len(SCOPES)
