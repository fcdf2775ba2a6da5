"""The admin routes read and write through repositories Powertools injects (``Depends``): a function's
app takes another one through ``app.dependency_overrides``, here a settings table DynamoDB throttles."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, cast

from botocore.awsrequest import AWSResponse, HTTPHeaders

from orderflow.api import dependencies
from orderflow.observability import logger
from orderflow.store import dynamo
from orderflow.store.settings import SettingsRepository
from orderflow_local.runtime import LocalContext, LocalRuntime
from tests.conftest import ADMIN_TOKEN, ROOT, load_event

THROTTLED_TABLE = "orderflow-settings-throttled"


def admin_function() -> ModuleType:
    """functions/admin_api/app.py as Lambda loads it: its ``app`` and its ``handler``."""
    spec = importlib.util.spec_from_file_location(
        "admin_api_app", ROOT / "functions" / "admin_api" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def admin_request(method: str, path: str) -> dict[str, Any]:
    """API Gateway's event for an admin route called with the admin token (from events/admin_health.json)."""
    event = copy.deepcopy(load_event("admin_health.json"))
    event.update(routeKey=f"{method} {path}", rawPath=path)
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"]["authorization"] = f"Bearer {ADMIN_TOKEN}"
    return event


@contextlib.contextmanager
def throttling(table_name: str) -> Iterator[None]:
    """DynamoDB refusing every request on one table for want of capacity, as the SDK raises it once its
    retries are spent (ProvisionedThroughputExceededException), on this thread's client."""
    events = dynamo.resource().meta.client.meta.events

    def refuse(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if json.loads(params.get("body") or b"{}").get("TableName") != table_name:
            return None
        error = {
            "Code": "ProvisionedThroughputExceededException",
            "Message": "The level of configured provisioned throughput for the table was exceeded.",
        }
        parsed = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse(params.get("url", ""), 400, HTTPHeaders(), None), parsed

    events.register("before-call.dynamodb", refuse, unique_id="throttling")
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb", unique_id="throttling")


@contextlib.contextmanager
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the package's logger writes meanwhile."""
    handler = cast(logging.StreamHandler, logger.registered_handler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def test_a_settings_read_dynamodb_throttles_is_the_contracts_logged_500(runtime: LocalRuntime) -> None:
    # Given the admin function, its settings repository replaced by one on a table DynamoDB throttles
    admin = admin_function()
    admin.app.dependency_overrides[dependencies.settings] = lambda: SettingsRepository(THROTTLED_TABLE)
    request = admin_request("GET", "/settings/bigcommerce")
    context = LocalContext("AdminApiFunction", 30)

    # When the settings are read
    with throttling(THROTTLED_TABLE), log_lines() as lines:
        answer = admin.handler(request, context)

    # Then it is a 500 in the contract's shape (our side, not the caller's), naming neither DynamoDB
    # nor the table, and the cause is logged for the operator
    assert answer["statusCode"] == 500, answer
    assert json.loads(answer["body"]) == {
        "error": {
            "code": "internal_error",
            "message": "something went wrong on our side; it was logged",
            "field": None,
        }
    }
    logged = [line for line in lines() if line["message"] == "unhandled error"]
    assert [line["exception_name"] for line in logged] == ["ProvisionedThroughputExceededException"]

    # And given its own repository back, the same function answers the deployment's settings
    admin.app.dependency_overrides.clear()
    again = admin.handler(request, context)
    assert again["statusCode"] == 200, again
    assert json.loads(again["body"])["store_hash"] == "test-store"
