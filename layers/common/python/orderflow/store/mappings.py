"""Mappings: external values (sku=ABS) → internal values (product Accu Scale), per group and account.

Key design, from the access patterns:
  ``pk = "<kind>#<group>"``, ``sk = "<field name>#<field value>#<account or *>"``
Resolving an order is a BatchGetItem of exact keys (the general and the account-specific variant),
never a request per line; listing a kind within a group is a Query; ``ById`` finds one by id.
The key also makes duplicates (same group, account, field name and value) impossible.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.order import Mapping, MappingInput, MappingKey, MappingKind
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    resource,
)

ID_INDEX = "ById"
ANY_ACCOUNT = "*"
BATCH_LIMIT = 100  # BatchGetItem's maximum keys per call
SEARCH_PAGES = 10  # reads one filtered listing may take before it answers with a cursor


def item_key(key: MappingKey) -> dict[str, str]:
    return {
        "pk": f"{key.kind.value}#{key.group}",
        "sk": f"{key.field_name.lower()}#{key.field_value}#{key.account or ANY_ACCOUNT}",
    }


def key_of(kind: MappingKind, mapping: MappingInput) -> MappingKey:
    return MappingKey(
        kind,
        mapping.mapping_group,
        mapping.external_field_name,
        mapping.external_field_value,
        mapping.account,
    )


class MappingRepository(TableRepository):
    def create(self, kind: MappingKind, data: MappingInput) -> Mapping:
        at = clock.iso()
        mapping = Mapping(**data.model_dump(), id=str(uuid.uuid4()), kind=kind, created_at=at, updated_at=at)
        with _refusing_duplicates(kind, data):
            self.table.put_item(Item=self._item(mapping), ConditionExpression=Attr("pk").not_exists())
        return mapping

    def get(self, kind: MappingKind, mapping_id: str) -> Mapping:
        page = self.table.query(IndexName=ID_INDEX, KeyConditionExpression=Key("id").eq(mapping_id))
        items = [i for i in page.get("Items", []) if i.get("kind") == kind.value]
        if not items:
            raise NotFound(f"no {kind.value} mapping with id {mapping_id}", field="id")
        return Mapping.model_validate(items[0])

    def update(self, kind: MappingKind, mapping_id: str, data: MappingInput) -> Mapping:
        current = self.get(kind, mapping_id)
        updated = Mapping(
            **data.model_dump(),
            id=current.id,
            kind=kind,
            created_at=current.created_at,
            updated_at=clock.iso(),
        )
        old_key, new_key = item_key(key_of(kind, current)), item_key(key_of(kind, updated))
        if old_key == new_key:
            self.table.put_item(Item=self._item(updated))
            return updated
        # The key changed: move the item atomically, refusing to land on an existing mapping.
        client = resource().meta.client
        with _refusing_duplicates(kind, data):
            client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": self.table_name, "Key": old_key}},
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._item(updated),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        return updated

    def delete(self, kind: MappingKind, mapping_id: str) -> None:
        current = self.get(kind, mapping_id)
        self.table.delete_item(Key=item_key(key_of(kind, current)))

    def search(
        self,
        kind: MappingKind,
        group: str | None = None,
        external_value: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Mapping], str | None]:
        """One page of a kind's mappings, filtered, with a cursor to the next.

        DynamoDB applies ``Limit`` before a filter, so a filtered page could come back empty with a
        cursor; instead whole pages are read until ``limit`` matches are found (at most
        ``SEARCH_PAGES`` reads per call), and the cursor resumes right after the last one returned.
        """
        kwargs: dict[str, Any] = {}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        filters = [] if group is not None else [Attr("kind").eq(kind.value)]
        if external_value is not None:
            filters.append(Attr("external_field_value").eq(external_value))
        if filters:
            expression: Any = filters[0]
            for extra in filters[1:]:
                expression = expression & extra
            kwargs["FilterExpression"] = expression
        else:
            kwargs["Limit"] = limit

        def read(**more: Any) -> dict[str, Any]:
            if group is not None:
                return dict(
                    self.table.query(KeyConditionExpression=Key("pk").eq(f"{kind.value}#{group}"), **more)
                )
            return dict(self.table.scan(**more))

        found: list[dict[str, Any]] = []
        for _ in range(SEARCH_PAGES):
            page = read(**kwargs)
            items = page.get("Items", [])
            last_key = page.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                found.append(item)
                if len(found) == limit:
                    more = index + 1 < len(items) or last_key is not None
                    next_key = {"pk": item["pk"], "sk": item["sk"]} if more else None
                    return [Mapping.model_validate(i) for i in found], encode_cursor(next_key)
            if last_key is None:
                return [Mapping.model_validate(i) for i in found], None
            kwargs["ExclusiveStartKey"] = last_key
        return [Mapping.model_validate(i) for i in found], encode_cursor(last_key)

    def resolve(self, keys: Iterable[MappingKey]) -> dict[MappingKey, Mapping]:
        """Look up many keys with as few BatchGetItem calls as the limits allow."""
        wanted = {_flat(item_key(key)): key for key in set(keys)}
        found: dict[MappingKey, Mapping] = {}
        pending = [item_key(k) for k in wanted.values()]
        client_resource = resource()
        for start in range(0, len(pending), BATCH_LIMIT):
            request: dict[str, Any] = {self.table_name: {"Keys": pending[start : start + BATCH_LIMIT]}}
            while request:
                answer = client_resource.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found[wanted[_flat(item)]] = Mapping.model_validate(item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    def upsert_many(self, kind: MappingKind, inputs: Iterable[MappingInput]) -> UpsertCounts:
        """Create or update many mappings by their key, keeping the id of one that exists.

        Idempotent: a mapping whose value is already the one given is not written again. One
        BatchGetItem per 100 keys and one BatchWriteItem per 25 changes; a later input with the
        same key wins.
        """
        by_key: dict[str, MappingInput] = {}
        for data in inputs:
            by_key[_flat(item_key(key_of(kind, data)))] = data
        existing = {
            _flat(item_key(key)): mapping
            for key, mapping in self.resolve(key_of(kind, d) for d in by_key.values()).items()
        }
        counts = UpsertCounts()
        changes: list[tuple[MappingInput, Mapping | None]] = []
        for flat, data in by_key.items():
            current = existing.get(flat)
            if current is not None and current.value == data.value:
                counts.unchanged += 1
                continue
            changes.append((data, current))
            if current is None:
                counts.created += 1
            else:
                counts.updated += 1
        self.put_resolved(kind, changes)
        return counts

    def put_resolved(self, kind: MappingKind, changes: Iterable[tuple[MappingInput, Mapping | None]]) -> None:
        """Write mappings whose stored version the caller has just read (None: new), keeping its id
        and creation time. One BatchWriteItem per 25; being a batch, it cannot be conditional: a
        mapping created with the same key since the caller's read is replaced."""
        at = clock.iso()
        with self.table.batch_writer() as batch:
            for data, current in changes:
                mapping = Mapping(
                    **data.model_dump(),
                    id=current.id if current else str(uuid.uuid4()),
                    kind=kind,
                    created_at=current.created_at if current else at,
                    updated_at=at,
                )
                batch.put_item(Item=self._item(mapping))

    def list_all(self, kind: MappingKind, group: str | None = None) -> list[Mapping]:
        """Every mapping of a kind (of one group, or of all), across DynamoDB's pages: for exports."""
        if group is not None:
            items = self.query_all(Key("pk").eq(f"{kind.value}#{group}"))
        else:
            items = []
            kwargs: dict[str, Any] = {"FilterExpression": Attr("kind").eq(kind.value)}
            while True:
                page = self.table.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [Mapping.model_validate(item) for item in items]

    @staticmethod
    def _item(mapping: Mapping) -> dict[str, Any]:
        return {**item_key(key_of(mapping.kind, mapping)), **mapping.model_dump(mode="json")}


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _flat(key: dict[str, str]) -> str:
    return key["pk"] + "\x00" + key["sk"]


@contextmanager
def _refusing_duplicates(kind: MappingKind, data: MappingInput) -> Iterator[None]:
    """A write conditioned on the key being free failed: that is a duplicate mapping (409)."""
    try:
        yield
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        scope = f"account '{data.account}'" if data.account else "all accounts"
        raise Conflict(
            f"a {kind.value} mapping for {data.external_field_name}='{data.external_field_value}' already "
            f"exists in group '{data.mapping_group}' for {scope}",
            field="external_field_value",
        ) from None
