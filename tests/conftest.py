"""Shared fixtures: a loopback BigCommerce store, the local runtime wired to it, an admin API client,
and event builders that start from the samples in events/ (so those stay correct)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from orderflow.store import dynamo
from orderflow_local.demo import DEMO_MAPPINGS
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime, RuntimeConfig

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
ADMIN_TOKEN = "test-admin-token"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def step_event(name: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    event.update(changes)
    return event


@pytest.fixture
def store() -> Iterator[DemoStore]:
    with DemoStore(store_hash="test-store", access_token="test-token") as demo_store:
        yield demo_store


def local_runtime(store: DemoStore, **extra_env: str) -> LocalRuntime:
    """The local runtime wired to the loopback store (``with local_runtime(store) as runtime:``);
    ``extra_env`` sets variables every function sees, e.g. a shorter wait for the tests."""
    config = RuntimeConfig(
        bigcommerce_api_url=store.url,
        store_hash=store.store_hash,
        access_token=store.access_token,
        webhook_secret=WEBHOOK_SECRET,
        admin_token=ADMIN_TOKEN,
        extra_env=extra_env,
        # `make test` runs the suite at DEBUG, so that every log line is executed.
        log_level=os.environ.get("LOG_LEVEL", "WARNING"),
        retry_wait_scale=0.0,  # a Task's retries follow at once (their count and order are what matter)
    )
    return LocalRuntime(config)


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store) as local:
        yield local


class Api:
    """The admin API over HTTP, with the admin bearer token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=10, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=10, **kwargs)

    def put(self, path: str, body: Any = None) -> requests.Response:
        return self.session.put(self.base + path, json=body, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path, timeout=10)

    def seed_demo_mappings(self) -> None:
        for kind, body in DEMO_MAPPINGS:
            answer = self.post(f"/mappings/{kind}", body)
            assert answer.status_code == 201, answer.text


@pytest.fixture
def api(runtime: LocalRuntime) -> Api:
    return Api(runtime.api_url)


def webhook_body(
    store: DemoStore, order_id: int, scope: str = "store/order/created", **changes: Any
) -> dict[str, Any]:
    """A callback shaped like events/webhook_order_created.json's body, for this store and order."""
    body = json.loads(load_event("webhook_order_created.json")["body"])
    fresh = store.build_webhook(scope, {"type": "order", "id": order_id})
    body.update(
        scope=scope,
        data=fresh["data"],
        hash=fresh["hash"],
        producer=fresh["producer"],
        store_id=fresh["store_id"],
    )
    body.update(changes)
    return body


def post_webhook(
    runtime: LocalRuntime,
    body: Any,
    secret: str | None = WEBHOOK_SECRET,
    raw: bytes | None = None,
    timeout: float = 10,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Webhook-Secret"] = secret
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(
        f"{runtime.api_url}/webhooks/bigcommerce", data=data, headers=headers, timeout=timeout
    )


@contextlib.contextmanager
def watching_dynamodb(seen: Callable[[str, dict[str, Any]], None]) -> Iterator[None]:
    """Tell ``seen`` of each DynamoDB call (operation, the serialized request) through botocore's events:
    what our code asks of DynamoDB, with no mock of our code."""

    def call(event_name: str, params: dict[str, Any], **_: object) -> None:
        seen(event_name.rsplit(".", 1)[-1], params)

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", call)
    dynamo.reset()  # clients made from now on carry the handler
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION.events.unregister("before-call.dynamodb", call)
        dynamo.reset()


@pytest.fixture
def dynamodb_calls(runtime: LocalRuntime) -> Iterator[Counter[str]]:
    """DynamoDB API calls by operation, from the moment the test starts."""
    calls: Counter[str] = Counter()

    def count(operation: str, _params: dict[str, Any]) -> None:
        calls[operation] += 1

    with watching_dynamodb(count):
        yield calls
