"""Shared DynamoDB access: one client per warm container, tables by name."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import ConditionExpressionBuilder

_local = threading.local()
_creation = threading.Lock()
_generation = 0


class _ConditionsPerThread(ConditionExpressionBuilder):
    """boto3's builder of condition expressions with its placeholder counters kept per thread. A client
    has one builder for all its requests, resetting the counters for each: two threads building at
    once would hand out the same ``:v0`` for two values."""

    def __init__(self) -> None:
        self._counts = threading.local()
        super().__init__()

    @property
    def _name_count(self) -> int:
        return getattr(self._counts, "names", 0)

    @_name_count.setter
    def _name_count(self, value: int) -> None:
        self._counts.names = value

    @property
    def _value_count(self) -> int:
        return getattr(self._counts, "values", 0)

    @_value_count.setter
    def _value_count(self, value: int) -> None:
        self._counts.values = value


@dataclass(frozen=True)
class _Shared:
    generation: int
    resource: Any  # its client serves every thread
    table_class: Any  # what resource.Table(name) builds, built once (boto3 builds the class per call)


_shared: _Shared | None = None


def _process() -> _Shared:
    """The process's DynamoDB client (clients are thread-safe), made once per warm container (the local
    runtime runs each execution on a thread of its own: a client per thread would be one per step)."""
    global _shared
    shared = _shared
    if shared is not None and shared.generation == _generation:
        return shared
    with _creation:  # creating from boto3's shared default session is not thread-safe
        shared = _shared
        if shared is None or shared.generation != _generation:
            made = boto3.resource("dynamodb")
            # The first resource's transformations serve every request of the client (boto3 registers
            # them once per client): their condition builder is the one piece with state.
            made._injector._condition_builder = _ConditionsPerThread()
            shared = _shared = _Shared(_generation, made, type(made.Table("-")))
    return shared


def resource() -> Any:
    """The DynamoDB resource of this thread (boto3 resources are not thread-safe; a Lambda container has
    one thread, the local runtime several), over the process's one client."""
    shared = _process()
    cached = getattr(_local, "resource", None)
    if cached is None or cached[0] != shared.generation:
        cached = (shared.generation, type(shared.resource)(client=shared.resource.meta.client))
        _local.resource = cached
    return cached[1]


def table(name: str) -> Any:
    shared = _process()
    tables: tuple[int, dict[str, Any]] | None = getattr(_local, "tables", None)
    if tables is None or tables[0] != shared.generation:
        tables = (shared.generation, {})
        _local.tables = tables
    found = tables[1].get(name)
    if found is None:
        found = tables[1][name] = shared.table_class(name, client=shared.resource.meta.client)
    return found


class TableRepository:
    """A repository over one table, named by the deployment (the table object is per thread)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def table(self) -> Any:
        return table(self.table_name)

    def query_all(self, condition: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item a Query finds, across DynamoDB's 1 MB pages."""
        items: list[dict[str, Any]] = []
        kwargs["KeyConditionExpression"] = condition
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reset() -> None:
    """Forget the client and the resources made over it (the local runtime calls this when it starts a
    fresh embedded AWS; tests, to make a client that carries the handlers they registered)."""
    global _generation
    _generation += 1


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """An opaque pagination cursor for the API, from DynamoDB's LastEvaluatedKey."""
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    from orderflow.errors import InvalidInput

    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from None
    if not isinstance(value, dict):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return value


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the models want it: DynamoDB hands every number back as Decimal."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else value
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    result: dict[str, Any] = convert(item)
    return result


def storable(value: Any) -> Any:
    """A value DynamoDB accepts: it takes no floats (a policy rule may say ``total > 99.5``)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}
