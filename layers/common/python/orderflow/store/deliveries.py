"""The webhook delivery ledger: which BigCommerce callbacks were accepted, so duplicates start nothing.

A delivery claims two records in one transaction: its ``hash`` (BigCommerce repeats it on every
redelivery, for up to ~48 hours) and its scope+order (+ new status) within the idempotency window,
for duplicates that come with a new hash. Either one already there → duplicate. Records expire
through DynamoDB TTL (``expires_at``); the condition also treats an expired-but-not-yet-deleted
record as gone, since TTL deletion is lazy.
"""

from __future__ import annotations

import time
from typing import Any

from orderflow.store.dynamo import TableRepository, is_conditional_failure, resource

HASH_RETENTION_SECONDS = 72 * 3600  # longer than BigCommerce's retry horizon


class DeliveryLedger(TableRepository):
    def __init__(self, table_name: str, window_seconds: int = 600) -> None:
        super().__init__(table_name)
        self.window_seconds = window_seconds

    def claim(self, delivery_hash: str, event_key: str, receipt: dict[str, Any]) -> bool:
        """Record the delivery; False when it (or its event) was already accepted."""
        now = int(time.time())
        items = [
            {"pk": f"hash#{delivery_hash}", "expires_at": now + HASH_RETENTION_SECONDS, **receipt},
            {"pk": f"event#{event_key}", "expires_at": now + self.window_seconds, "hash": delivery_hash},
        ]
        try:
            resource().meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            # the resource's client serialises plain values itself
                            "Item": {k: v for k, v in item.items() if v is not None},
                            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                            "ExpressionAttributeValues": {":now": now},
                        }
                    }
                    for item in items
                ]
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def release(self, delivery_hash: str, event_key: str) -> None:
        """Forget a claim whose work could not be started, so BigCommerce's retry is not a duplicate."""
        for pk in (f"hash#{delivery_hash}", f"event#{event_key}"):
            self.table.delete_item(Key={"pk": pk})

    def mark(self, delivery_hash: str, **fields: Any) -> None:
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": v for k, v in fields.items()}
        self.table.update_item(
            Key={"pk": f"hash#{delivery_hash}"},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
