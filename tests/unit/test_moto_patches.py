"""The local runtime's patches of moto: applied again harmlessly, tied to the moto they were written for."""

from __future__ import annotations

import json
import logging
import re
import time
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


@pytest.fixture
def patched_moto() -> Iterator[Any]:
    """moto patched as the local runtime patches it, with an orders-shaped table (pk, sk)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_patches.apply(retry_wait_scale=0.0)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="orders",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def _keys(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["pk"]["S"], item["sk"]["S"]) for item in page["Items"]]


def test_a_query_reads_its_partition_as_moto_would_have(patched_moto):
    # Given three orders' items, written out of order
    for pk in ("order#3", "order#1", "order#2"):
        for sk in ("line#002", "#header", "line#001", "step#a"):
            patched_moto.put_item(
                TableName="orders", Item={"pk": {"S": pk}, "sk": {"S": sk}, "status": {"S": "new"}}
            )

    def query(**kwargs: Any) -> dict[str, Any]:
        return patched_moto.query(
            TableName="orders",
            KeyConditionExpression=kwargs.pop("condition", "pk = :pk"),
            ExpressionAttributeValues={":pk": {"S": "order#2"}, **kwargs.pop("values", {})},
            **kwargs,
        )

    # When one order's partition is read: whole, by a range of its keys, backwards, a page at a time
    whole = query()
    lines = query(condition="pk = :pk AND begins_with(sk, :line)", values={":line": {"S": "line#"}})
    backwards = query(ScanIndexForward=False)
    first = query(Limit=2)
    rest = query(Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"])

    # Then only that order's items come back, in key order, paged as DynamoDB pages them
    assert _keys(whole) == [("order#2", sk) for sk in ("#header", "line#001", "line#002", "step#a")]
    assert _keys(lines) == [("order#2", "line#001"), ("order#2", "line#002")]
    assert _keys(backwards) == list(reversed(_keys(whole)))
    assert _keys(first) + _keys(rest) == _keys(whole)
    # And an index, whose partitions span the table, still finds every order's items
    by_status = patched_moto.query(
        TableName="orders",
        IndexName="by-status",
        KeyConditionExpression="#s = :new",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":new": {"S": "new"}},
    )
    assert len(by_status["Items"]) == 12


def test_a_query_of_an_order_not_there_finds_nothing_and_adds_nothing(patched_moto):
    # Given one stored order
    patched_moto.put_item(TableName="orders", Item={"pk": {"S": "order#1"}, "sk": {"S": "#header"}})

    # When an order that was never written is queried
    missing = patched_moto.query(
        TableName="orders",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "order#404"}},
    )

    # Then nothing is found, and the table still holds just the one item
    assert missing["Items"] == []
    assert patched_moto.scan(TableName="orders")["Count"] == 1


def test_an_item_of_every_attribute_type_reads_back_as_written(patched_moto):
    # Given an item with every kind of attribute value, blobs and empty collections included
    item = {
        "pk": {"S": "order#1"},
        "sk": {"S": "#header"},
        "total": {"N": "70.25"},
        "count": {"N": "3"},
        "lines": {"B": b"\x78\x9c compressed \x00\xff"},
        "released": {"BOOL": False},
        "held": {"BOOL": True},
        "note": {"NULL": True},
        "tags": {"SS": ["b2b", "rush"]},
        "codes": {"NS": ["1", "2.5"]},
        "blobs": {"BS": [b"\x00\x01", b"\x02"]},
        "nothing": {"M": {}},
        "none": {"L": []},
        "customer": {
            "M": {
                "email": {"S": "jane@example.com"},
                "address": {"M": {"zip": {"S": "78701"}, "lines": {"L": [{"S": "1 Main St"}, {"N": "2"}]}}},
                "avatar": {"B": b"\x89PNG"},
                "history": {
                    "L": [{"M": {"status": {"S": "new"}, "at": {"N": "1700000000"}}}, {"NULL": True}]
                },
            }
        },
    }
    patched_moto.put_item(TableName="orders", Item=item)

    # When it is read back by key and by a query of its partition
    got = patched_moto.get_item(TableName="orders", Key={"pk": item["pk"], "sk": item["sk"]})["Item"]
    queried = patched_moto.query(
        TableName="orders",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "order#1"}},
    )["Items"]

    # Then it is exactly what was written (sets compared as sets: DynamoDB keeps no order in them)
    def normal(value: dict[str, Any]) -> dict[str, Any]:
        return {
            k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in av.items()}
            for k, av in value.items()
        }

    assert normal(got) == normal(item)
    assert [normal(i) for i in queried] == [normal(item)]


def test_an_item_over_dynamodbs_size_limit_is_still_refused(patched_moto):
    # Given an item just under the limit as moto measures it (405,000 bytes of names and values), made of
    # many attributes none of which is large alone
    under = {"pk": {"S": "order#1"}, "sk": {"S": "#header"}}
    under.update({f"line{n:03d}": {"S": "x" * 4_000} for n in range(101)})  # 18 + 101 x 4,007 bytes
    over = {**under, "sk": {"S": "#copy"}, "line101": {"S": "x" * 4_000}}

    # When both are written, then the one under is stored whole
    patched_moto.put_item(TableName="orders", Item=under)
    # And the one over gets DynamoDB's refusal, and nothing of it is stored
    with pytest.raises(patched_moto.exceptions.ClientError) as refused:
        patched_moto.put_item(TableName="orders", Item=over)
    assert "Item size has exceeded the maximum allowed size" in str(refused.value)
    stored = patched_moto.scan(TableName="orders")["Items"]
    assert [len(item) for item in stored] == [len(under)]


def test_executions_of_one_definition_each_run_their_own_program(patched_moto):
    # Given a state machine that branches on its input (one definition and its paths, parsed once)
    definition = {
        "StartAt": "Which?",
        "States": {
            "Which?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
                "Default": "Small",
            },
            "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
            "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
        },
    }
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    arn = stepfunctions.create_state_machine(
        name="sizes", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sizes"
    )["stateMachineArn"]

    # When several executions run it side by side
    runs = {
        n: stepfunctions.start_execution(stateMachineArn=arn, name=f"run-{n}", input=json.dumps({"n": n}))[
            "executionArn"
        ]
        for n in range(4)
    }
    outputs = {}
    for n, execution in runs.items():
        for _ in range(500):
            described = stepfunctions.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.01)
        outputs[n] = (described["status"], json.loads(described["output"]))

    # Then each took its own path through it
    assert outputs == {
        0: ("SUCCEEDED", {"n": 0, "size": "small"}),
        1: ("SUCCEEDED", {"n": 1, "size": "small"}),
        2: ("SUCCEEDED", {"n": 2, "size": "big"}),
        3: ("SUCCEEDED", {"n": 3, "size": "big"}),
    }


def test_a_failed_transaction_leaves_every_item_as_it_was(patched_moto):
    # Given an order's header, a line, and other orders' items around them
    def put(pk: str, sk: str, **attrs: dict[str, Any]) -> None:
        patched_moto.put_item(TableName="orders", Item={"pk": {"S": pk}, "sk": {"S": sk}, **attrs})

    put("order#1", "#header", status={"S": "new"})
    put("order#1", "line#001", quantity={"N": "2"})
    put("order#2", "#header", status={"S": "new"})
    before = patched_moto.scan(TableName="orders")["Items"]

    def transaction(condition_holds: bool) -> list[dict[str, Any]]:
        order = {"S": "order#1"}
        return [
            {
                "Put": {
                    "TableName": "orders",
                    "Item": {"pk": order, "sk": {"S": "step#a"}, "status": {"S": "ok"}},
                }
            },
            {
                "Update": {
                    "TableName": "orders",
                    "Key": {"pk": order, "sk": {"S": "#header"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "validated"}},
                }
            },
            {"Delete": {"TableName": "orders", "Key": {"pk": order, "sk": {"S": "line#001"}}}},
            {
                "ConditionCheck": {
                    "TableName": "orders",
                    "Key": {"pk": {"S": "order#2"}, "sk": {"S": "#header"}},
                    "ConditionExpression": "#s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "new" if condition_holds else "held"}},
                }
            },
        ]

    # When a transaction that writes a new item, changes one and deletes one fails on its last condition
    with pytest.raises(patched_moto.exceptions.TransactionCanceledException):
        patched_moto.transact_write_items(TransactItems=transaction(condition_holds=False))

    # Then the table is as it was: the new item gone, the changed and deleted ones back
    assert sorted(map(str, patched_moto.scan(TableName="orders")["Items"])) == sorted(map(str, before))

    # And the same transaction whose condition holds writes all three
    patched_moto.transact_write_items(TransactItems=transaction(condition_holds=True))
    after = {
        (i["pk"]["S"], i["sk"]["S"]): i.get("status", {}).get("S")
        for i in patched_moto.scan(TableName="orders")["Items"]
    }
    assert after == {
        ("order#1", "#header"): "validated",
        ("order#1", "step#a"): "ok",
        ("order#2", "#header"): "new",
    }
