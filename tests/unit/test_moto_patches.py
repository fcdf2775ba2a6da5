"""The local runtime's patches of moto: applied again harmlessly, tied to the moto they were written for."""

from __future__ import annotations

import logging
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from moto import mock_aws

from orderflow_local import moto_patches

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture
def calls() -> Iterator[list[tuple[str, str]]]:
    """The (service, action) of each call moto answers, as the local state is told of them."""
    seen: list[tuple[str, str]] = []

    def observe(service: str, action: str, params: dict[str, Any]) -> None:
        seen.append((service, action))

    moto_patches.WRITE_OBSERVERS.append(observe)
    try:
        yield seen
    finally:
        moto_patches.WRITE_OBSERVERS.remove(observe)


def test_applying_twice_tells_the_local_state_of_each_call_once(calls):
    # Given moto patched twice, as two runtimes started one after the other in a process do
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_patches.apply(retry_wait_scale=0.0)
        moto_patches.apply(retry_wait_scale=0.0)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        calls.clear()

        # When one item is written and one Step Functions call is made
        dynamodb.put_item(TableName="orders", Item={"pk": {"S": "order#250"}})
        boto3.client("stepfunctions", region_name=REGION).list_state_machines()

    # Then each was observed once, not once per application (a save per write, not two)
    assert calls == [("dynamodb", "PutItem"), ("stepfunctions", "ListStateMachines")]


def test_the_installed_moto_is_the_one_the_patches_were_written_for(caplog):
    # Given the moto this checkout installs
    with caplog.at_level(logging.WARNING, logger=moto_patches.__name__):
        # When the patches are applied
        moto_patches.apply(retry_wait_scale=0.0)

    # Then no warning, and requirements-dev.txt pins that same version
    assert [r for r in caplog.records if r.name == moto_patches.__name__] == []
    pin = re.search(r"^moto\[[^\]]*\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pin is not None
    assert pin.group(1) == moto_patches.MOTO_VERSION == moto.__version__


def test_another_moto_version_warns_naming_both(caplog, monkeypatch):
    # Given a moto other than the one the patches were written for
    monkeypatch.setattr(moto, "__version__", "5.9.0")

    # When the patches are applied
    with caplog.at_level(logging.WARNING, logger=moto_patches.__name__):
        moto_patches.apply(retry_wait_scale=0.0)

    # Then one warning names the installed version and the one they were written for
    warnings = [r.getMessage() for r in caplog.records if r.name == moto_patches.__name__]
    assert len(warnings) == 1
    assert "moto 5.9.0 is installed" in warnings[0]
    assert f"written for moto {moto_patches.MOTO_VERSION}" in warnings[0]


def test_a_target_gone_from_moto_names_the_patch_that_no_longer_applies():
    # Given an object without the attribute a patch reaches into (a moto that moved it)
    gone = types.SimpleNamespace()

    # When the patch looks for it
    with pytest.raises(moto_patches.MotoPatchError) as raised:
        moto_patches.require(gone, "call_action", moto_patches.ATOMIC_DYNAMODB_WRITES)

    # Then the error names the patch, what is gone and both versions, not a bare AttributeError
    message = str(raised.value)
    assert "moto patch 'atomic DynamoDB writes' no longer applies" in message
    assert "call_action" in message
    assert f"written for moto {moto_patches.MOTO_VERSION}" in message
    assert f"moto {moto.__version__} is installed" in message
    assert not isinstance(raised.value, AttributeError)


def test_an_execution_without_a_worker_slot_names_the_restore_patch():
    # Given a restored execution from a moto whose executions no longer have an exec_worker
    execution = types.SimpleNamespace(name="order-250", exec_status="ABORTED")

    # When it is marked finished at restore time
    with pytest.raises(moto_patches.MotoPatchError) as raised:
        moto_patches.mark_finished(execution)

    # Then the error names the restore patch
    assert raised.value.patch == moto_patches.FINISHED_RESTORED_EXECUTIONS
    assert "exec_worker" in str(raised.value)


def test_an_attribute_a_class_only_declares_counts_as_there():
    # Given a class that declares the worker it sets per instance, as moto's Execution does
    class Execution:
        exec_worker: object | None

    # When a patch looks for it on the class, then it is there (set per instance, None until then)
    assert moto_patches.require(Execution, "exec_worker", moto_patches.FINISHED_RESTORED_EXECUTIONS) is None
