"""Shared DynamoDB access: one resource per warm container, tables by name."""

from __future__ import annotations

import base64
import json
import threading
from decimal import Decimal
from typing import Any

import boto3

_local = threading.local()
_creation = threading.Lock()
_generation = 0


def resource() -> Any:
    """The DynamoDB resource of this thread (boto3 resources are not thread-safe; a Lambda
    container has one thread, the local runtime several)."""
    cached = getattr(_local, "resource", None)
    if cached is None or cached[0] != _generation:
        with _creation:  # creating from boto3's shared default session is not thread-safe either
            cached = (_generation, boto3.resource("dynamodb"))
        _local.resource = cached
    return cached[1]


def table(name: str) -> Any:
    tables: tuple[int, dict[str, Any]] | None = getattr(_local, "tables", None)
    if tables is None or tables[0] != _generation:
        tables = (_generation, {})
        _local.tables = tables
    if name not in tables[1]:
        tables[1][name] = resource().Table(name)
    return tables[1][name]


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
    """Forget cached resources (the local runtime calls this when it starts a fresh embedded AWS)."""
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
