"""Customer records: one per store and email, created the first time an order brings a new one.

Key design, from the access patterns:
  ``pk = "customer#<store hash>#<email, lower case>"``: matching by email is a consistent GetItem,
  and creating is a put conditioned on that key being free, so two orders racing for the same new
  email create one record. ``ById`` answers ``GET /customers/{id}``; the sparse ``ByExternalKey``
  (``<store hash>#<BigCommerce customer id>``, registered customers only) matches by customer id.
"""

from __future__ import annotations

import uuid
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer

from orderflow import clock
from orderflow.errors import NotFound
from orderflow.models.order import CustomerRecord
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
)

ID_INDEX = "ById"
EXTERNAL_INDEX = "ByExternalKey"
_TYPES = TypeDeserializer()


def normal_email(email: str) -> str:
    return email.strip().lower()


def record_key(store_hash: str, email: str) -> dict[str, str]:
    return {"pk": f"customer#{store_hash}#{normal_email(email)}"}


def external_key(store_hash: str, external_id: int) -> str:
    return f"{store_hash}#{external_id}"


def new_customer_id() -> str:
    return f"CUS-{uuid.uuid4().hex[:12].upper()}"


def _deserialised(item: dict[str, Any]) -> dict[str, Any]:
    """An item as an error hands it back (DynamoDB's typed JSON: the resource does not convert it)."""
    return {name: _TYPES.deserialize(value) for name, value in item.items()}


class CustomerRepository(TableRepository):
    def by_email(self, store_hash: str, email: str) -> CustomerRecord | None:
        item = self.table.get_item(Key=record_key(store_hash, email), ConsistentRead=True).get("Item")
        return CustomerRecord.model_validate(item) if item else None

    def by_external_id(self, store_hash: str, external_id: int) -> CustomerRecord | None:
        """The record of a registered BigCommerce customer (the index is eventually consistent: a
        record created a moment ago may not show yet, and the caller then matches by email)."""
        page = self.table.query(
            IndexName=EXTERNAL_INDEX,
            KeyConditionExpression=Key("external_key").eq(external_key(store_hash, external_id)),
        )
        items = sorted(page.get("Items", []), key=lambda i: str(i.get("created_at", "")))
        return CustomerRecord.model_validate(items[0]) if items else None

    def get(self, customer_id: str) -> CustomerRecord:
        page = self.table.query(IndexName=ID_INDEX, KeyConditionExpression=Key("id").eq(customer_id))
        items = page.get("Items", [])
        if not items:
            raise NotFound(f"no customer with id {customer_id}", field="customer_id")
        return CustomerRecord.model_validate(items[0])

    def create_if_absent(self, record: CustomerRecord) -> tuple[CustomerRecord, bool]:
        """Store the record unless one exists for its email; answer the stored one and whether it is
        new. One request either way: a refused write hands back the record that refused it."""
        record = record.model_copy(update={"email": normal_email(record.email)})
        try:
            self.table.put_item(
                Item=self._item(record),
                ConditionExpression=Attr("pk").not_exists(),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            stored = getattr(exc, "response", {}).get("Item")
            if stored:
                return CustomerRecord.model_validate(_deserialised(stored)), False
            existing = self.by_email(record.store_hash, record.email)
            if existing is None:  # deleted between the two calls: nothing sensible left but to fail
                raise
            return existing, False
        return record, True

    def link_external_id(self, record: CustomerRecord, external_id: int) -> CustomerRecord:
        """A guest who has since registered: remember their BigCommerce customer id."""
        updated = record.model_copy(update={"external_id": external_id, "updated_at": clock.iso()})
        self.table.update_item(
            Key=record_key(record.store_hash, record.email),
            UpdateExpression="SET external_id = :id, external_key = :key, updated_at = :at",
            ExpressionAttributeValues={
                ":id": external_id,
                ":key": external_key(record.store_hash, external_id),
                ":at": updated.updated_at,
            },
        )
        return updated

    def page(self, limit: int = 50, cursor: str | None = None) -> tuple[list[CustomerRecord], str | None]:
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.table.scan(**kwargs)
        records = [CustomerRecord.model_validate(i) for i in page.get("Items", [])]
        return records, encode_cursor(page.get("LastEvaluatedKey"))

    @staticmethod
    def _item(record: CustomerRecord) -> dict[str, Any]:
        item = {**record_key(record.store_hash, record.email), **record.model_dump(mode="json")}
        if record.external_id:
            item["external_key"] = external_key(record.store_hash, record.external_id)
        return item
