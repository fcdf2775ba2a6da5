"""Which step errors Step Functions retries: the ones that pass on their own."""

from __future__ import annotations

import os
import subprocess
import sys

import requests
from botocore.exceptions import ClientError

from orderflow.bigcommerce.client import BigCommerceError, BigCommerceUnavailable
from orderflow.steps.transient import is_transient
from tests.conftest import ROOT


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "PutItem")


def test_a_store_that_did_not_answer_a_timeout_and_throttling_are_retried() -> None:
    assert is_transient(BigCommerceUnavailable(503, "down", method="GET", path="/v2/orders/1"))
    assert is_transient(requests.ConnectionError("refused"))
    assert is_transient(requests.Timeout("slow"))
    assert is_transient(_client_error("ProvisionedThroughputExceededException"))
    assert is_transient(_client_error("TransactionConflictException"))


def test_what_a_retry_cannot_cure_is_not_retried() -> None:
    assert not is_transient(BigCommerceError(404, "no such order", method="GET", path="/v2/orders/1"))
    assert not is_transient(_client_error("ConditionalCheckFailedException"))
    assert not is_transient(ValueError("bad input"))


def test_a_function_that_makes_no_http_call_does_not_load_requests_for_its_retry_rule() -> None:
    probe = "import sys, orderflow.steps.transient; print('requests' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common" / "python")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
