"""Providers against a loopback server: retries, refusals, the shared secret; configuration checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orderflow.errors import InvalidInput
from orderflow.fulfillment.events import parse_event
from orderflow.fulfillment.providers import (
    Document,
    HttpsProvider,
    ProviderError,
    parse_config,
)
from tests.provider_server import ProviderServer

SECRET = "provider-secret-for-tests"


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _local_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loopback store is what makes a run local: only then is http://127.0.0.1 accepted.
    monkeypatch.setenv("BIGCOMMERCE_API_URL", "http://127.0.0.1:9")


def _provider(server: ProviderServer, sleeps: list[float], attempts: int = 4) -> HttpsProvider:
    return HttpsProvider(
        server.url + "/orders", SECRET, timeout_seconds=2, attempts=attempts, sleep=sleeps.append
    )


def _document(key: str = "BC-s-1-FO1") -> Document:
    return Document("fulfillment_order", key, "BC-s-1", {"id": key, "lines": []})


def test_an_accepted_document_carries_the_secret_and_its_idempotency_key(
    provider_server: ProviderServer,
) -> None:
    sleeps: list[float] = []

    reference = _provider(provider_server, sleeps).send(_document())

    assert reference == "PRV-1" and sleeps == []
    (received,) = provider_server.requests
    assert received.headers["X-Provider-Secret"] == SECRET
    assert received.headers["Idempotency-Key"] == "BC-s-1-FO1"
    assert received.body == {"id": "BC-s-1-FO1", "lines": []}


def test_a_provider_down_then_up_is_retried_with_backoff(provider_server: ProviderServer) -> None:
    # Given a provider that answers 503 twice, then accepts
    provider_server.failures = 2
    sleeps: list[float] = []

    reference = _provider(provider_server, sleeps).send(_document())

    assert reference == "PRV-3"
    assert len(provider_server.requests) == 3 and sleeps == [0.5, 1.0]


def test_a_provider_down_for_good_fails_with_its_own_message(provider_server: ProviderServer) -> None:
    provider_server.always_fail = True
    sleeps: list[float] = []

    with pytest.raises(ProviderError) as raised:
        _provider(provider_server, sleeps, attempts=3).send(_document())

    assert not raised.value.permanent and len(provider_server.requests) == 3
    assert "in 3 attempts: HTTP 503: warehouse system is down for maintenance" in raised.value.message


def test_a_refusal_is_not_retried(provider_server: ProviderServer) -> None:
    provider_server.always_fail, provider_server.fail_status = True, 422
    provider_server.fail_message = "unknown SKU ABS"

    with pytest.raises(ProviderError) as raised:
        _provider(provider_server, []).send(_document())

    assert raised.value.permanent and len(provider_server.requests) == 1
    assert raised.value.message == "the provider refused BC-s-1-FO1: HTTP 422: unknown SKU ABS"


def test_an_unreachable_provider_is_retried_then_reported() -> None:
    sleeps: list[float] = []
    provider = HttpsProvider(
        "http://127.0.0.1:9/orders", SECRET, timeout_seconds=1, attempts=2, sleep=sleeps.append
    )

    with pytest.raises(ProviderError, match=r"in 2 attempts: unreachable \(ConnectionError\)"):
        provider.send(_document())
    assert sleeps == [0.5]


@pytest.fixture
def busy_provider() -> Iterator[tuple[str, list[tuple[int, dict[str, str]]]]]:
    """A provider answering from a script of (status, headers); 202 once the script runs out."""
    script: list[tuple[int, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers = script.pop(0) if script else (202, {})
            data = json.dumps({"message": "busy"} if status >= 300 else {"reference": "PRV-9"}).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/orders", script
    finally:
        server.shutdown()
        server.server_close()


def test_a_busy_provider_is_given_the_time_it_asks_for_within_reason(
    busy_provider: tuple[str, list[tuple[int, dict[str, str]]]],
) -> None:
    # Given a provider that says "come back in 2 s", then "in an hour", then "busy" without saying when
    url, script = busy_provider
    script.extend([(429, {"Retry-After": "2"}), (503, {"Retry-After": "3600"}), (429, {})])
    sleeps: list[float] = []

    reference = HttpsProvider(url, SECRET, timeout_seconds=2, attempts=4, sleep=sleeps.append).send(
        _document()
    )

    # Then it waited as asked, at most 10 s (longer outages are the flow's to wait for), else its own pause
    assert reference == "PRV-9" and sleeps == [2, 10, 2.0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"provider": "ftp"}, "params.provider"),
        ({"provider": "https"}, "params.url"),
        ({"provider": "https", "url": "http://example.com/x"}, "params.url"),
        ({"provider": "https", "url": "https://x.example.com", "attempts": 0}, "params.attempts"),
    ],
)
def test_a_wrong_provider_configuration_names_its_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_config(params)
    assert raised.value.field == field


def test_plain_http_is_refused_when_the_store_is_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIGCOMMERCE_API_URL", "https://api.bigcommerce.com")
    with pytest.raises(InvalidInput, match="must be an https:// URL"):
        parse_config({"provider": "https", "url": "http://127.0.0.1:8080/orders"})
    assert parse_config({}).provider == "sqs"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "lost"}, "type"),
        ({"type": "shipped", "lines": []}, "lines"),
        ({"type": "shipped", "lines": [{"line_number": 1, "quantity": 0}]}, "lines[0].quantity"),
        ({"type": "shipped", "tracking_number": "x" * 51}, "tracking_number"),
        ({"type": "shipped", "colour": "red"}, "colour"),
        ("{not json", "body"),
    ],
)
def test_a_malformed_event_names_its_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_event(body)
    assert raised.value.field == field


def test_an_event_without_an_id_is_known_by_its_contents() -> None:
    first = parse_event({"type": "shipped", "tracking_number": "1Z"})
    assert first.key() == parse_event('{"tracking_number": "1Z", "type": "shipped"}').key()
    assert first.key() != parse_event({"type": "shipped", "tracking_number": "1Y"}).key()
