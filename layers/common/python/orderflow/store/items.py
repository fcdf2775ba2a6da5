"""Catalog items imported from the store (SKU, name, description, price, unit), one item per SKU.

Key design: ``pk = <sku>``; one deployment serves one store, and SKUs are unique within a store, so
the SKU alone identifies an item and a re-import can only ever update it, never duplicate it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orderflow import clock
from orderflow.errors import NotFound
from orderflow.models.order import Item
from orderflow.store.dynamo import TableRepository, decode_cursor, encode_cursor, resource
from orderflow.store.mappings import BATCH_LIMIT, UpsertCounts


class ItemRepository(TableRepository):
    def put_many(self, items: Iterable[Item]) -> UpsertCounts:
        """Create or update items by SKU, keeping ``created_at``; an unchanged item is not written.

        One BatchGetItem per 100 SKUs and one BatchWriteItem per 25 changes; a later item with the
        same SKU wins.
        """
        by_sku = {item.sku: item for item in items}
        existing = self.get_many(by_sku)
        counts = UpsertCounts()
        at = clock.iso()
        with self.table.batch_writer() as batch:
            for sku, item in by_sku.items():
                current = existing.get(sku)
                if current is not None and current.same_content(item):
                    counts.unchanged += 1
                    continue
                stored = item.model_copy(
                    update={"created_at": current.created_at if current else at, "updated_at": at}
                )
                batch.put_item(Item=_item(stored))
                if current is None:
                    counts.created += 1
                else:
                    counts.updated += 1
        return counts

    def get_many(self, skus: Iterable[str]) -> dict[str, Item]:
        keys = [{"pk": sku} for sku in dict.fromkeys(skus)]
        found: dict[str, Item] = {}
        dynamodb = resource()
        for start in range(0, len(keys), BATCH_LIMIT):
            request: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + BATCH_LIMIT]}}
            while request:
                answer = dynamodb.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(self.table_name, []):
                    item = Item.model_validate(raw)
                    found[item.sku] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def get(self, sku: str) -> Item:
        raw = self.table.get_item(Key={"pk": sku}).get("Item")
        if not raw:
            raise NotFound(f"no item with sku {sku}", field="sku")
        return Item.model_validate(raw)

    def scan_page(self, limit: int = 100, cursor: str | None = None) -> tuple[list[Item], str | None]:
        """One page of items in no particular order (a Scan), and the cursor of the next page."""
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.table.scan(**kwargs)
        items = [Item.model_validate(raw) for raw in page.get("Items", [])]
        return items, encode_cursor(page.get("LastEvaluatedKey"))


def _item(item: Item) -> dict[str, Any]:
    # Python mode keeps the price a Decimal, which DynamoDB stores as an exact number.
    return {"pk": item.sku, **item.model_dump()}
