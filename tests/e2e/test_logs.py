"""The logs of the local runtime: each invocation's lines name their own function and correlation id
while functions run at once on threads, and no line, at DEBUG, of ours or a library's, carries a
customer's e-mail, phone or street."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import quote, quote_plus

import boto3
import pytest
from aws_lambda_powertools.logging import correlation_paths

from orderflow.observability import logger
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the package's logger writes (its JSON lines) while the test runs."""
    handler = cast(logging.StreamHandler, logger.registered_handler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def debug_runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    """The runtime at DEBUG, whatever level the suite runs at."""
    with local_runtime(store, LOG_LEVEL="DEBUG") as local:
        yield local


# -- one context per invocation ----------------------------------------------------------------------
def test_functions_running_at_once_each_log_their_own_name_and_correlation_id(
    debug_runtime: LocalRuntime, written: io.StringIO
) -> None:
    # Given two functions decorated as ours are: one sets the order key as correlation id (as the
    # steps do), the other takes the API request id (as the API functions do)
    both_in = threading.Barrier(2, timeout=10)

    @logger.inject_lambda_context
    def step(event: dict[str, Any], context: Any) -> str:
        logger.set_correlation_id(event["order_key"])
        logger.info("step started")
        both_in.wait()  # each has set its keys before either logs again
        logger.info("step working")
        return "done"

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def api(event: dict[str, Any], context: Any) -> str:
        logger.info("request started")
        both_in.wait()
        logger.info("request working")
        return "done"

    debug_runtime.register_function("StepProbeFunction", step)
    debug_runtime.register_function("ApiProbeFunction", api)

    # When both are invoked at once, on two threads
    calls = [
        ("StepProbeFunction", {"order_key": "BC-test-store-1"}),
        ("ApiProbeFunction", {"requestContext": {"requestId": "request-2"}}),
    ]
    threads = [threading.Thread(target=debug_runtime.invoke, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each line names the function that wrote it and that invocation's correlation id
    probes = [
        line for line in _lines(written) if "started" in line["message"] or "working" in line["message"]
    ]
    assert sorted((p["message"], p["function_name"], p["correlation_id"]) for p in probes) == [
        ("request started", "ApiProbeFunction", "request-2"),
        ("request working", "ApiProbeFunction", "request-2"),
        ("step started", "StepProbeFunction", "BC-test-store-1"),
        ("step working", "StepProbeFunction", "BC-test-store-1"),
    ]
    assert len({p["function_request_id"] for p in probes}) == 2


def test_a_function_invoked_by_another_leaves_the_callers_log_context_as_it_was(
    debug_runtime: LocalRuntime, written: io.StringIO
) -> None:
    # Given a function that invokes another through Lambda (served on the caller's own thread)
    @logger.inject_lambda_context
    def callee(event: dict[str, Any], context: Any) -> str:
        logger.set_correlation_id("inner")
        logger.info("callee ran")
        return "done"

    @logger.inject_lambda_context
    def caller(event: dict[str, Any], context: Any) -> str:
        logger.set_correlation_id("outer")
        boto3.client("lambda").invoke(FunctionName="CalleeProbeFunction", Payload=b"{}")
        logger.info("caller goes on")
        return "done"

    debug_runtime.register_function("CalleeProbeFunction", callee)
    debug_runtime.register_function("CallerProbeFunction", caller)

    # When the caller runs
    debug_runtime.invoke("CallerProbeFunction", {})

    # Then its lines after the call are still its own
    lines = {line["message"]: line for line in _lines(written)}
    assert (lines["callee ran"]["function_name"], lines["callee ran"]["correlation_id"]) == (
        "CalleeProbeFunction",
        "inner",
    )
    assert (lines["caller goes on"]["function_name"], lines["caller goes on"]["correlation_id"]) == (
        "CallerProbeFunction",
        "outer",
    )


# -- no customer data at any level -------------------------------------------------------------------
CUSTOMER = {
    "customer_id": 0,  # a guest: the store is asked, by e-mail, whether they are a registered customer
    "first_name": "Priya",
    "last_name": "Kowalczyk",
    "email": "Priya.K+orders@example.org",
    "phone": "+1 512 555 0199",
    "street_1": "77 Quillfeather Lane",
    "city": "Austin",
    "state": "Texas",
    "zip": "78701",
    "country": "United States",
    "country_iso2": "US",
}


def _forms(value: str) -> set[str]:
    """A value as a log line could carry it: as is, lower-cased, and URL-encoded either way."""
    return {form for v in (value, value.lower()) for form in (v, quote(v, safe=""), quote_plus(v))}


def test_no_log_line_at_debug_carries_the_customers_email_phone_or_street(
    store: DemoStore,
    written: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given every logger at DEBUG (urllib3's request lines, botocore's bodies, ours), as on Lambda at DEBUG
    caplog.set_level(logging.DEBUG)
    with local_runtime(store, LOG_LEVEL="DEBUG") as runtime:
        api = Api(runtime.api_url)
        api.seed_demo_mappings()
        order_id = store.add_order(
            customer=CUSTOMER,
            lines=[
                {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
                {"sku": "SCW", "name": "Scale Calibration Weights", "quantity": 2, "price": "12.50"},
            ],
        )

        # When the order goes end to end: webhook, import (a customer look-up by e-mail), flow, push-back
        answer = post_webhook(runtime, webhook_body(store, order_id))
        executions = runtime.wait_for_all()
        order = api.get(f"/orders/{answer.json()['order_key']}").json()
    out, err = capfd.readouterr()

    # Then the run did all of that
    assert answer.status_code == 200, answer.text
    assert [e["status"] for e in executions] == ["SUCCEEDED", "SUCCEEDED"]
    assert order["customer"]["record_created"] is True
    assert store.status_updates(order_id) == [9]
    lookups = [r.query for r in store.requests if r.method == "GET" and r.path == "/v3/customers"]
    assert [q.get("email:in") for q in lookups] == [[CUSTOMER["email"].lower()]]

    # And it was logged at DEBUG, by us and by the libraries, the look-up's URL included, masked
    ours = _lines(written)
    assert any(line["level"] == "DEBUG" for line in ours)
    assert {"urllib3.connectionpool", "botocore.endpoint"} <= {r.name for r in caplog.records}
    assert any("/v3/customers?" in r.getMessage() and "<email>" in r.getMessage() for r in caplog.records)

    # And no output, of any logger or stream, carries the customer's e-mail, phone or street
    text = "\n".join([written.getvalue(), out, err, caplog.text, *(r.getMessage() for r in caplog.records)])
    for field in ("email", "phone", "street_1"):
        found = [form for form in _forms(str(CUSTOMER[field])) if form in text]
        assert found == [], f"the customer's {field} is in the logs"
