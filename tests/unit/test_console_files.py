"""The console's files function: how it tells the browser to sign in, what it refuses to serve, and the
headers every answer carries."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tests.conftest import ROOT

CONSOLE = ROOT / "functions" / "console"
SIGN_IN = {
    "mode": "cognito",
    "region": "eu-west-1",
    "user_pool_id": "eu-west-1_Operators",
    "client_id": "console-client",
    "domain": "orderflow-123456789012-0a1b2c3d.auth.eu-west-1.amazoncognito.com",
    "identity_pool_id": "eu-west-1:00000000-0000-0000-0000-000000000000",
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("console_app", CONSOLE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = _load()


@pytest.fixture(autouse=True)
def no_sign_in_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ["CONSOLE_USER_POOL_ID", "CONSOLE_USER_POOL_CLIENT_ID", "CONSOLE_AUTH_DOMAIN",
                 "CONSOLE_IDENTITY_POOL_ID", "CONSOLE_SIGN_IN_PARAMETER"]:  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    parameters.clear_caches()
    yield
    parameters.clear_caches()


def get(path: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = app.handler({"rawPath": path, "headers": headers}, None)
    return answer


def body(answer: dict[str, Any]) -> bytes:
    raw = base64.b64decode(answer["body"])
    return gzip.decompress(raw) if answer["headers"].get("content-encoding") == "gzip" else raw


def connect_sources(answer: dict[str, Any]) -> list[str]:
    for directive in answer["headers"]["content-security-policy"].split(";"):
        name, _, sources = directive.strip().partition(" ")
        if name == "connect-src":
            return sources.split()
    return []


def test_config_says_cognito_from_the_environment_and_the_page_may_call_only_its_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the console's environment naming a user pool, its client and domain, and an identity pool
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("CONSOLE_USER_POOL_ID", SIGN_IN["user_pool_id"])
    monkeypatch.setenv("CONSOLE_USER_POOL_CLIENT_ID", SIGN_IN["client_id"])
    monkeypatch.setenv("CONSOLE_AUTH_DOMAIN", SIGN_IN["domain"])
    monkeypatch.setenv("CONSOLE_IDENTITY_POOL_ID", SIGN_IN["identity_pool_id"])

    # When the browser asks how to sign in, and loads the page
    config = get("/console/config.json")
    page = get("/console/index.html")

    # Then it is told the cognito mode with all of them, never cached, and the page may call this origin,
    # that hosted UI domain and the region's identity pool endpoint, nothing else
    assert json.loads(body(config)) == SIGN_IN
    assert config["headers"]["cache-control"] == "no-store"
    assert connect_sources(page) == [
        "'self'",
        f"https://{SIGN_IN['domain']}",
        "https://cognito-identity.eu-west-1.amazonaws.com",
    ]


def test_config_comes_from_the_stacks_parameter_and_says_token_where_there_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("CONSOLE_SIGN_IN_PARAMETER", "/orderflow/console/sign-in")
    with mock_aws():
        # Given no parameter yet (as in the local runtime, which makes no user pool)
        # Then the console asks for the admin token, and the page calls only its own origin
        assert json.loads(body(get("/console/config.json"))) == {"mode": "token"}
        assert connect_sources(get("/console/index.html")) == ["'self'"]

        # Given the stack's parameter, as template.yaml writes it
        boto3.client("ssm").put_parameter(
            Name="/orderflow/console/sign-in", Type="String", Value=json.dumps(SIGN_IN)
        )
        parameters.clear_caches()

        # Then config.json says what it holds
        assert json.loads(body(get("/console/config.json"))) == SIGN_IN
        assert f"https://{SIGN_IN['domain']}" in connect_sources(get("/console/index.html"))


@pytest.mark.parametrize(
    "path",
    ["/console/../template.yaml", "/console/../functions/console/app.py", "/console/pages/../../app.py",
     "/console/%2e%2e/app.py", "/console/nothing-here.js"],
)  # fmt: skip
def test_nothing_outside_the_web_root_is_served(path: str) -> None:
    answer = get(path)

    assert answer["statusCode"] == 404
    assert body(answer) == b"Not found"
    assert b"def handler" not in body(answer)


def test_large_files_are_gzipped_for_browsers_that_take_it() -> None:
    # Given the diagram library (large) and the sign-in module (small)
    vendor = next((CONSOLE / "static" / "vendor").glob("mermaid-*.min.js"))
    path = f"/console/vendor/{vendor.name}"

    # When they are asked for with and without gzip
    zipped = get(path, **{"Accept-Encoding": "gzip, deflate, br"})
    plain = get(path)
    small = get("/console/auth.js", **{"accept-encoding": "gzip"})

    # Then only the large one, asked with gzip, is compressed, and all arrive whole
    assert zipped["headers"]["content-encoding"] == "gzip" and zipped["headers"]["vary"] == "accept-encoding"
    assert len(base64.b64decode(zipped["body"])) < vendor.stat().st_size / 2
    assert body(zipped) == body(plain) == vendor.read_bytes()
    assert "content-encoding" not in plain["headers"]
    assert "content-encoding" not in small["headers"]
    assert small["headers"]["content-type"] == "text/javascript; charset=utf-8"
    # The versioned library is cached for good; the console's own files are checked on each load
    assert zipped["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert small["headers"]["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/console/index.html", "/console/", "/console/app.js", "/console/nope"])
def test_every_answer_carries_the_security_headers(path: str) -> None:
    headers = get(path)["headers"]

    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "'unsafe-eval'" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_bare_console_path_moves_to_its_page() -> None:
    answer = get("/console")

    assert answer["statusCode"] == 301
    assert answer["headers"]["location"] == "/console/index.html"
    assert get("/console/")["headers"]["content-type"] == "text/html; charset=utf-8"
