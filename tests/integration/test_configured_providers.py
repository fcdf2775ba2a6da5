"""Configured providers (``/providers/configured``) named by steps, in the local runtime with a loopback
provider: the admin API's answers, the step's requests, and publishing a flow that names one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from orderflow.errors import ProviderUnavailable
from orderflow.fulfillment.providers import parse_config
from orderflow.store import tables
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from orderflow_local.server import api_gateway_event
from orderflow_local.template import Route
from tests.conftest import ADMIN_TOKEN, Api, local_runtime
from tests.integration.test_fulfillment_providers import _imported, _step
from tests.provider_server import ProviderServer

ACME_SECRET = "acme-3pl-secret-value-0123456789"
ADMIN = "AdminApiFunction"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    # The configured provider's secret is read where the step runs: an environment variable it names.
    with local_runtime(store, PROVIDER_BACKOFF_SECONDS="0.01", ACME_3PL_SECRET=ACME_SECRET) as local:
        yield local


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


def admin(
    runtime: LocalRuntime, method: str, path: str, body: Any = None, query: str = ""
) -> tuple[int, Any]:
    """The admin API function answering an API Gateway request for ``method path``."""
    template_path = (
        "/providers/configured" if path == "/providers/configured" else "/providers/configured/{name}"
    )
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
    raw = b"" if body is None else json.dumps(body).encode()
    event = api_gateway_event(method, Route(method, template_path, ADMIN), path, query, headers, raw, "local")
    answer = runtime.invoke(ADMIN, event)
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def acme(provider: ProviderServer, **changes: Any) -> dict[str, Any]:
    return {
        "role": "fulfillment",
        "kind": "https",
        "target": f"{provider.url}/acme/orders",
        "secret_ref": "ACME_3PL_SECRET",
        **changes,
    }


# -- steps naming a configured provider ---------------------------------------------------------------


def test_a_step_naming_a_configured_https_provider_posts_to_its_target_with_its_secret(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given the 3PL configured once, its secret kept in an environment variable of the stack
    _, order_key = _imported(runtime, store, api)
    status, configured = admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider))
    assert status == 201, configured

    # When a send-to-fulfillment step names it
    result = _step(runtime, order_key, "send_to_fulfillment", params={"provider": "acme-3pl"})

    # Then both fulfillment orders went to its URL with its own secret, and are recorded as sent to it
    assert result["succeeded"], result
    assert result["message"].startswith(f"sent {order_key}-FO1, {order_key}-FO2 to the acme-3pl provider")
    assert [r.path for r in provider.requests] == ["/acme/orders", "/acme/orders"]
    assert {r.headers["X-Provider-Secret"] for r in provider.requests} == {ACME_SECRET}
    stored = tables.fulfillment_orders().for_order(order_key)
    assert [(fo.provider, fo.provider_reference) for fo in stored] == [
        ("acme-3pl", "PRV-1"),
        ("acme-3pl", "PRV-2"),
    ]
    # And the admin API showed where the secret is, never the secret
    assert configured["secret_ref"] == "ACME_3PL_SECRET" and ACME_SECRET not in json.dumps(configured)


def test_a_configured_providers_callbacks_carry_its_own_secret_and_the_stacks_is_refused(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given the fulfillment orders sent to the 3PL, which has a secret of its own
    _, order_key = _imported(runtime, store, api)
    assert admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider))[0] == 201
    assert _step(runtime, order_key, "send_to_fulfillment", params={"provider": "acme-3pl"})["succeeded"]
    body = {"event_id": "evt-acme-1", "type": "cancelled"}

    def callback(secret: str) -> requests.Response:
        return requests.post(
            f"{runtime.api_url}/fulfillment/{order_key}-FO1/events",
            json=body,
            headers={"X-Provider-Secret": secret},
            timeout=10,
        )

    # When it calls back with the stack's provider secret, then with its own
    stacks = callback(runtime.secret_value("ProviderSecretValue"))
    own = callback(ACME_SECRET)

    # Then only its own is taken: the stack's is a 401 that changed nothing
    assert stacks.status_code == 401, stacks.text
    assert own.status_code == 200, own.text
    assert own.json()["fulfillment_order"]["status"] == "cancelled"


def test_a_steps_params_override_the_configured_url_attempts_and_timeout(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    # Given a provider configured with one attempt, and a second endpoint that is down twice then up
    _, order_key = _imported(runtime, store, api)
    admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider, attempts=1, timeout_seconds=20))
    provider.failures = 1

    # When the step names it as configured, one 503 is all it tries for FO1
    with pytest.raises(ProviderUnavailable, match="in 1 attempts: HTTP 503"):
        _step(runtime, order_key, "send_to_fulfillment", params={"provider": "acme-3pl"})

    # And with its own url, attempts and timeout, the step's params win
    with ProviderServer(failures=2) as other:
        staging = f"{other.url}/staging"
        params = {"provider": "acme-3pl", "url": staging, "attempts": 3, "timeout_seconds": 2}
        result = _step(runtime, order_key, "send_to_fulfillment", params=params)
        assert result["succeeded"], result
        # FO1 three times (FO2 went to the configured URL the first time)
        assert [(r.path, r.body["id"]) for r in other.requests] == [("/staging", f"{order_key}-FO1")] * 3
        assert {r.headers["X-Provider-Secret"] for r in other.requests} == {ACME_SECRET}
        resolved = parse_config(params, tables.configured_providers())
    assert (resolved.url, resolved.attempts, resolved.timeout_seconds) == (staging, 3, 2)
    assert [r.body["id"] for r in provider.requests] == [f"{order_key}-FO1", f"{order_key}-FO2"]


def test_a_step_naming_an_unknown_provider_fails_naming_it_and_sends_nothing(
    runtime: LocalRuntime, store: DemoStore, api: Api, provider: ProviderServer
) -> None:
    _, order_key = _imported(runtime, store, api)

    result = _step(runtime, order_key, "send_to_fulfillment", params={"provider": "acme-3pl"})

    assert result["status"] == "failed"
    assert "no provider named 'acme-3pl' is configured" in result["message"]
    assert not result["message"].startswith(
        "will retry"
    )  # a configuration error: it does not pass by waiting
    assert provider.requests == []
    assert [fo.status.value for fo in tables.fulfillment_orders().for_order(order_key)] == [
        "created",
        "created",
    ]


def test_an_sqs_provider_configured_on_its_own_queue_gets_the_messages(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    import boto3

    _, order_key = _imported(runtime, store, api)
    queue_url = boto3.client("sqs").create_queue(QueueName="accounting-documents")["QueueUrl"]
    status, _ = admin(
        runtime,
        "PUT",
        "/providers/configured/ledger",
        {"role": "fulfillment", "kind": "sqs", "target": queue_url},
    )
    assert status == 201

    result = _step(runtime, order_key, "send_to_fulfillment", params={"provider": "ledger"})

    assert result["succeeded"] and "to the ledger provider" in result["message"]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["id"] for m in messages) == [f"{order_key}-FO1", f"{order_key}-FO2"]


# -- the admin API ---------------------------------------------------------------------------------------


def test_configured_providers_are_listed_shown_replaced_and_deleted(
    runtime: LocalRuntime, provider: ProviderServer
) -> None:
    assert admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider))[0] == 201
    status, invoices = admin(
        runtime,
        "PUT",
        "/providers/configured/billing",
        {"role": "invoice", "kind": "https", "target": "https://billing.example.com/invoices"},
    )
    assert status == 201 and invoices["secret_ref"] is None  # the stack's PROVIDER_SECRET

    replaced = admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider, attempts=2))
    listed = admin(runtime, "GET", "/providers/configured")
    only_invoice = admin(runtime, "GET", "/providers/configured", query="role=invoice")
    deleted = admin(runtime, "DELETE", "/providers/configured/billing")
    gone = admin(runtime, "GET", "/providers/configured/billing")
    again = admin(runtime, "DELETE", "/providers/configured/billing")

    assert replaced[0] == 200 and replaced[1]["attempts"] == 2
    assert replaced[1]["created_at"] <= replaced[1]["updated_at"]
    assert [p["name"] for p in listed[1]["providers"]] == ["acme-3pl", "billing"]
    assert [p["name"] for p in only_invoice[1]["providers"]] == ["billing"]
    assert deleted == (200, {"deleted": "billing"})
    assert gone[0] == 404 and gone[1]["error"]["field"] == "name"
    assert again[0] == 404
    assert (
        admin(runtime, "GET", "/providers/configured/acme-3pl")[1]["target"] == f"{provider.url}/acme/orders"
    )


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("acme", {"role": "fulfillment", "kind": "ftp", "target": "https://x.example.com"}, "kind"),
        ("acme", {"role": "warehouse", "kind": "https", "target": "https://x.example.com"}, "role"),
        ("acme", {"role": "fulfillment", "kind": "https"}, "target"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "http://x.example.com/orders"}, "target"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://10.1.2.3/orders"}, "target"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://169.254.169.254/latest"}, "target"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com", "attempts": 0}, "attempts"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com", "colour": 1}, "colour"),
        ("acme", {"role": "accounting", "kind": "sqs", "target": "https://example.com/queue"}, "target"),
        ("acme", {"role": "accounting", "kind": "sqs", "secret_ref": "ACME_SECRET"}, "secret_ref"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com",
                  "secret_ref": "WEBHOOK_SECRET"}, "secret_ref"),
        ("acme", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com",
                  "secret_ref": "AWS_SECRET_ACCESS_KEY"}, "secret_ref"),
        ("https", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com"}, "name"),
        ("Acme 3PL", {"role": "fulfillment", "kind": "https", "target": "https://x.example.com"}, "name"),
    ],
)  # fmt: skip
def test_a_wrong_provider_is_refused_naming_its_field_and_nothing_is_stored(
    runtime: LocalRuntime, name: str, body: dict[str, Any], field: str
) -> None:
    status, answer = admin(runtime, "PUT", f"/providers/configured/{name}", body)

    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_input" and answer["error"]["field"] == field
    assert admin(runtime, "GET", "/providers/configured")[1] == {"providers": []}


@pytest.mark.parametrize(
    ("secret_ref", "target"),
    [
        ("s3cr3t-Value-pasted-by-mistake", "https://x.example.com/orders"),
        (None, "https://acme:s3cr3t-Value-pasted-by-mistake@x.example.com/orders"),
    ],
)
def test_a_secret_sent_where_a_reference_belongs_is_refused_and_never_echoed(
    runtime: LocalRuntime, secret_ref: str | None, target: str
) -> None:
    body = {"role": "fulfillment", "kind": "https", "target": target, "secret_ref": secret_ref}

    status, answer = admin(runtime, "PUT", "/providers/configured/acme", body)

    assert status == 400 and answer["error"]["field"] == ("secret_ref" if secret_ref else "target")
    assert "s3cr3t" not in json.dumps(answer)


# -- publishing a flow that names a provider ---------------------------------------------------------------


def test_a_flow_naming_an_unconfigured_provider_is_not_published_until_it_is(
    runtime: LocalRuntime, api: Api, provider: ProviderServer
) -> None:
    definition = {
        "name": "Ship with ACME",
        "type": "order_orchestration",
        "description": "fulfillment by the configured 3PL",
        "steps": [
            {"name": "Validate", "action": "validate_order_header"},
            {"name": "Ship", "action": "send_to_fulfillment", "params": {"provider": "acme-3pl"}},
        ],
    }
    flow_id = api.post("/flows", definition).json()["id"]

    refused = api.post(f"/flows/{flow_id}/publish")
    admin(runtime, "PUT", "/providers/configured/acme-3pl", acme(provider))
    published = api.post(f"/flows/{flow_id}/publish")

    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "steps[1].params.provider"
    assert "no provider named 'acme-3pl' is configured" in refused.json()["error"]["message"]
    assert published.status_code == 200, published.text

    # And while the flow is published the provider cannot be forgotten; once unpublished it can
    status, kept = admin(runtime, "DELETE", "/providers/configured/acme-3pl")
    assert status == 409 and kept["error"]["field"] == "name", kept
    assert f"named by published flows ({flow_id} steps[1])" in kept["error"]["message"]
    assert admin(runtime, "GET", "/providers/configured/acme-3pl")[0] == 200
    assert api.post(f"/flows/{flow_id}/unpublish").status_code == 200
    assert admin(runtime, "DELETE", "/providers/configured/acme-3pl")[0] == 200
