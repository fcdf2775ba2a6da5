"""One DynamoDB client serves every thread of a process (the local runtime runs each execution on a
thread of its own): requests made side by side keep their own conditions and values."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from moto import mock_aws

from orderflow.store import dynamo
from orderflow_local import moto_patches

REGION = "us-east-1"


@pytest.fixture
def orders_table() -> Iterator[str]:
    with mock_aws():
        moto_patches.apply(retry_wait_scale=0.0)
        boto3.setup_default_session(region_name=REGION)
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="orders",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamo.reset()
        yield "orders"
        dynamo.reset()


def test_threads_share_one_client_and_keep_their_own_conditions(orders_table: str) -> None:
    # Given eight threads writing and reading orders of their own through the shared client, switching
    # as often as the interpreter can (where two requests built at once would mix their placeholders)
    failures: list[Any] = []
    clients: set[int] = set()

    def work(n: int) -> None:
        table = dynamo.table(orders_table)
        clients.add(id(table.meta.client))
        order_key = f"BC-test-store-{n}"
        for step in range(100):
            try:
                # a conditional write and a conditional query, each with names and values of its own
                table.put_item(
                    Item={"pk": order_key, "sk": f"step#{step:03d}", "attempt": step, "thread": n},
                    ConditionExpression=Attr("pk").not_exists()
                    & Attr("attempt").not_exists()
                    & Attr("thread").not_exists(),
                )
                found = table.query(
                    KeyConditionExpression=Key("pk").eq(order_key) & Key("sk").eq(f"step#{step:03d}"),
                    FilterExpression=Attr("attempt").eq(step) & Attr("thread").eq(n),
                )["Items"]
                if [(item["thread"], item["attempt"]) for item in found] != [(n, step)]:
                    failures.append((n, step, found))
            except Exception as exc:  # a mixed-up request fails in DynamoDB or in moto
                failures.append((n, step, repr(exc)))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    # Then every thread found exactly the steps it wrote, and all used the one client
    assert failures == []
    assert len(clients) == 1
