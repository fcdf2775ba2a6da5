"""Catalog items imported from the store (SKU, name, description, price, unit, accounts), one item per SKU.

Key design: ``pk = <sku>``; one deployment serves one store, and SKUs are unique within a store, so
the SKU alone identifies an item and a re-import can only ever update it, never duplicate it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orderflow import clock
from orderflow.errors import InvalidInput, NotFound
from orderflow.models.order import ITEM_ACCOUNTS, Item, ItemAccounts
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    resource,
)
from orderflow.store.mappings import BATCH_LIMIT, UpsertCounts


class ItemRepository(TableRepository):
    def put_many(self, items: Iterable[Item]) -> UpsertCounts:
        """Create or update items by SKU, keeping ``created_at``; an unchanged item is not written.
        The accounts a merchant set on an item stay, unless the item given names its own.

        One BatchGetItem per 100 SKUs and one BatchWriteItem per 25 changes; a later item with the
        same SKU wins.
        """
        by_sku = {item.sku: item for item in items}
        existing = self.get_many(by_sku)
        counts = UpsertCounts()
        at = clock.iso()
        with self.table.batch_writer() as batch:
            for sku, given in by_sku.items():
                current = existing.get(sku)
                item = _keeping_accounts(given, current)
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
        raw = self.table.get_item(Key={"pk": _key(sku)}).get("Item")
        if not raw:
            raise NotFound(f"no item with sku {sku}", field="sku")
        return Item.model_validate(raw)

    def set_accounts(self, sku: str, change: ItemAccounts) -> Item:
        """Change the accounts ``change`` names (null: back to the settings' default); the item as
        stored after it. One conditional UpdateItem: an item that does not exist is not created."""
        named = change.model_dump(include=change.model_fields_set)
        setting = {name: value for name, value in named.items() if value is not None}
        removing = [name for name, value in named.items() if value is None]
        values: dict[str, Any] = {":at": clock.iso(), **{f":{name}": v for name, v in setting.items()}}
        expression = "SET " + ", ".join(["updated_at = :at", *(f"{name} = :{name}" for name in setting)])
        if removing:
            expression += " REMOVE " + ", ".join(removing)
        try:
            answer = self.table.update_item(
                Key={"pk": _key(sku)},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise NotFound(f"no item with sku {sku}", field="sku") from None
            raise
        return Item.model_validate(answer["Attributes"])

    def scan_page(self, limit: int = 100, cursor: str | None = None) -> tuple[list[Item], str | None]:
        """One page of items in no particular order (a Scan), and the cursor of the next page."""
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor)
        if start:
            if set(start) != {"pk"} or not isinstance(start["pk"], str) or not start["pk"]:
                raise InvalidInput("the cursor is not one this API gave out", field="cursor")
            kwargs["ExclusiveStartKey"] = start
        page = self.table.scan(**kwargs)
        items = [Item.model_validate(raw) for raw in page.get("Items", [])]
        return items, encode_cursor(page.get("LastEvaluatedKey"))


# BigCommerce's SKUs have at most 255 characters; DynamoDB refuses a key over 2,048 bytes.
_SKU_LIMIT = 255


def _key(sku: str) -> str:
    # A SKU no item can have is not found, rather than a key DynamoDB refuses (an empty one, a long one).
    if not sku or len(sku) > _SKU_LIMIT:
        raise NotFound(f"no item with sku {sku[:_SKU_LIMIT]}", field="sku")
    return sku


def _keeping_accounts(item: Item, current: Item | None) -> Item:
    # The catalog knows nothing of accounts: an import must not wipe those a merchant set.
    if current is None:
        return item
    kept = {name: getattr(current, name) for name in ITEM_ACCOUNTS if getattr(item, name) is None}
    return item.model_copy(update=kept)


def _item(item: Item) -> dict[str, Any]:
    # Python mode keeps the price a Decimal, which DynamoDB stores as an exact number.
    return {"pk": item.sku, **item.model_dump()}
