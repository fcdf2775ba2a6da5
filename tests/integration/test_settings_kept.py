"""The connector's settings, read by every step, are read from the table once per 30 s per process: a
save through the repository is seen at once, a change made elsewhere within the 30 s."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

from orderflow.models.order import OrderStatus
from orderflow.store import dynamo, tables
from orderflow.store import settings as store_settings
from orderflow.store.settings import BIGCOMMERCE, forget_kept_settings
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api


@pytest.fixture
def settings_reads(runtime: LocalRuntime) -> Iterator[Counter[str]]:
    """DynamoDB API calls by operation, seen through botocore's events, from a process that keeps no
    settings yet."""
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)
    dynamo.reset()  # clients made from now on carry the counter
    forget_kept_settings()
    yield calls
    boto3.DEFAULT_SESSION.events.unregister("before-call.dynamodb", count)
    dynamo.reset()
    forget_kept_settings()


def test_the_settings_are_read_once_and_a_save_is_seen_at_once(
    settings_reads: Counter[str], api: Api
) -> None:
    # Given the default settings
    repo = tables.settings()

    # When three steps of this process read them
    reads = [repo.bigcommerce() for _ in range(3)]

    # Then the table was read once, and each got the same settings
    assert settings_reads == Counter({"GetItem": 1})
    assert reads[0] == reads[1] == reads[2] and reads[0].push_enabled is True

    # When the merchant turns pushing off through the admin API (served by this process)
    settings_reads.clear()
    answer = api.put("/settings/bigcommerce", {"push_enabled": False})
    assert answer.status_code == 200, answer.text

    # Then the next step reads the change without asking the table again
    settings_reads.clear()
    assert repo.bigcommerce().push_enabled is False
    assert settings_reads == Counter()


def test_a_caller_changing_its_settings_does_not_change_the_next_callers(
    settings_reads: Counter[str],
) -> None:
    # Given a caller that changes the settings it was handed (a status mapping edited in place)
    repo = tables.settings()
    mine = repo.bigcommerce()
    mine.status_mapping[OrderStatus.VALIDATED] = None

    # Then the next caller gets the settings as stored
    assert repo.bigcommerce().status_mapping[OrderStatus.VALIDATED] == 9


def test_a_change_made_elsewhere_is_seen_once_the_kept_copy_is_old(
    settings_reads: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a process keeping the settings, which it reads again after one second at most
    monkeypatch.setattr(store_settings, "KEPT_SECONDS", 1.0)
    repo = tables.settings()
    assert repo.bigcommerce().push_enabled is True
    read_at = time.monotonic()

    # When another container saves a change (the item written behind this process's repository)
    table = boto3.resource("dynamodb").Table(repo.table_name)
    changed = repo.bigcommerce().model_copy(update={"push_enabled": False}).model_dump(mode="json")
    table.put_item(Item={"pk": BIGCOMMERCE, "value": changed, "updated_at": "now"})

    # Then steps meanwhile use the kept settings, and once they are a second old the change shows
    assert repo.bigcommerce().push_enabled is True
    time.sleep(max(0.0, read_at + 1.1 - time.monotonic()))
    assert repo.bigcommerce().push_enabled is False
    assert settings_reads["GetItem"] == 2
