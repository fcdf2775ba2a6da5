"""Accounting documents handed over, in their order's partition of the Orders table (``sk = "ACCOUNTING#<key>"``)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, ConfigDict, Field

from orderflow import clock
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

ACCOUNTING_PREFIX = "ACCOUNTING#"


class AccountingRecord(BaseModel):
    """One accounting document of an order's revision: what was (or is to be) sent, and the
    provider's answer once it took it."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    order_key: str
    key: str  # the Idempotency-Key: order key, revision and document type
    document_type: str
    import_id: str
    revision: int
    document: dict[str, Any] = Field(default_factory=dict)  # as sent (accounting/document.py)
    created_at: str = ""
    sent_at: str | None = None
    provider: str | None = None
    document_number: str | None = None  # the provider's reference for it


class AccountingRepository(TableRepository):
    def create(self, record: AccountingRecord) -> AccountingRecord:
        """Store the record; the one stored already under its key if there is one (a retried step, a
        resubmit), so a document's contents never change once made and it is sent as it was."""
        try:
            self.table.put_item(Item=_item(record), ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            existing = self.find(record.order_key, record.key)
            assert existing is not None  # the condition failed because it exists
            return existing
        return record

    def find(self, order_key: str, key: str) -> AccountingRecord | None:
        item = self.table.get_item(
            Key={"pk": order_key, "sk": f"{ACCOUNTING_PREFIX}{key}"}, ConsistentRead=True
        ).get("Item")
        return _model(item) if item else None

    def for_order(self, order_key: str) -> list[AccountingRecord]:
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(ACCOUNTING_PREFIX))
        return [_model(item) for item in items]

    def mark_sent(self, record: AccountingRecord, provider: str, document_number: str) -> AccountingRecord:
        sent_at = clock.iso()
        self.table.update_item(
            Key={"pk": record.order_key, "sk": f"{ACCOUNTING_PREFIX}{record.key}"},
            UpdateExpression="SET sent_at = :at, provider = :provider, document_number = :number",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": sent_at, ":provider": provider, ":number": document_number},
        )
        return record.model_copy(
            update={"sent_at": sent_at, "provider": provider, "document_number": document_number}
        )


def _item(record: AccountingRecord) -> dict[str, Any]:
    return {
        "pk": record.order_key,
        "sk": f"{ACCOUNTING_PREFIX}{record.key}",
        "entity": "ACCOUNTING",
        **storable(record.model_dump(mode="json")),
    }


def _model(item: dict[str, Any]) -> AccountingRecord:
    return AccountingRecord.model_validate(plain(item))
