"""Fulfillment sources and inventory (FulfillmentTable), fulfillment orders (in the order's partition).

FulfillmentTable keys, from the access patterns:
  ``pk = "SOURCE"``,          ``sk = <source id>``   every source in one Query (tens to hundreds)
  ``pk = "INV#<product>"``,   ``sk = <source id>``   a product's stock at every source in one Query
Inventory items keep ``available = on_hand - reserved`` as an attribute of its own, because a
condition expression cannot subtract: reserving is ``available >= :q`` then ``available -= q``,
``reserved += q`` in one conditional write. Listing by source is a Scan (admin only, paginated).

Orders table, in the order's partition (pk = order key):
  ``sk = "FO#<id>"``    one per fulfillment order
  ``sk = "SOURCING"``   what sourcing decided (reservations, backorders): the step's idempotency claim
The claim, the fulfillment orders and the stock they reserve are written in one TransactWriteItems
across both tables, so a retried or concurrent step can never reserve twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.fulfillment import (
    FulfillmentOrder,
    FulfillmentOrderStatus,
    FulfillmentSource,
    InventoryLevel,
)
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    plain,
    resource,
    storable,
)

SOURCE_PK = "SOURCE"
INVENTORY_PREFIX = "INV#"
FO_PREFIX = "FO#"
SOURCING_SK = "SOURCING"
TRANSACTION_LIMIT = 100  # TransactWriteItems' maximum items per call
READ_THREADS = 8  # parallel Queries when an order asks for many products
SEARCH_PAGES = 10
# Stock given back when a fulfillment order ends without shipping; consumed when it ships.
RELEASING = {FulfillmentOrderStatus.CANCELLED, FulfillmentOrderStatus.FAILED}
CONSUMING = {FulfillmentOrderStatus.SHIPPED}


def inventory_key(source_id: str, product: str) -> dict[str, str]:
    return {"pk": f"{INVENTORY_PREFIX}{product}", "sk": source_id}


def _level(item: dict[str, Any]) -> InventoryLevel:
    return InventoryLevel.model_validate(plain(item))


class SourceRepository(TableRepository):
    def create(self, source: FulfillmentSource) -> FulfillmentSource:
        at = clock.iso()
        source = source.model_copy(update={"created_at": at, "updated_at": at})
        try:
            self.table.put_item(Item=self._item(source), ConditionExpression=Attr("pk").not_exists())
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(
                    f"a fulfillment source with id {source.id} already exists", field="id"
                ) from None
            raise
        return source

    def get(self, source_id: str) -> FulfillmentSource:
        item = self.table.get_item(Key={"pk": SOURCE_PK, "sk": source_id}).get("Item")
        if item is None:
            raise NotFound(f"no fulfillment source with id {source_id}", field="source_id")
        return FulfillmentSource.model_validate(plain(item))

    def replace(self, source: FulfillmentSource) -> FulfillmentSource:
        current = self.get(source.id)
        source = source.model_copy(update={"created_at": current.created_at, "updated_at": clock.iso()})
        try:
            self.table.put_item(Item=self._item(source), ConditionExpression=Attr("pk").exists())
        except Exception as exc:
            if is_conditional_failure(exc):  # deleted since it was read
                raise NotFound(f"no fulfillment source with id {source.id}", field="source_id") from None
            raise
        return source

    def list_all(self) -> list[FulfillmentSource]:
        items = self.query_all(Key("pk").eq(SOURCE_PK))
        return [FulfillmentSource.model_validate(plain(i)) for i in items]

    def delete(self, source_id: str, inventory: InventoryRepository) -> None:
        """Delete a source and its stock rows; refused while any of its stock is reserved (409)."""
        self.get(source_id)
        levels = inventory.for_source(source_id)
        reserved = [level for level in levels if level.reserved > 0]
        if reserved:
            total = sum(level.reserved for level in reserved)
            raise Conflict(
                f"fulfillment source {source_id} has {total} unit(s) reserved for open fulfillment orders "
                f"({len(reserved)} product(s)); deactivate it (active: false) and delete it once they ship",
                field="source_id",
            )
        self.table.delete_item(Key={"pk": SOURCE_PK, "sk": source_id})
        with self.table.batch_writer() as batch:
            for level in levels:
                batch.delete_item(Key=inventory_key(source_id, level.product))

    @staticmethod
    def _item(source: FulfillmentSource) -> dict[str, Any]:
        return {"pk": SOURCE_PK, "sk": source.id, **storable(source.model_dump(mode="json"))}


class InventoryRepository(TableRepository):
    def set_on_hand(self, source_id: str, product: str, on_hand: int) -> InventoryLevel:
        """Set the counted stock; ``reserved`` is ours and stays. ``available`` follows in the same
        write, so a reservation landing meanwhile is never lost. A count below what is reserved is
        accepted (the shelf is the truth): nothing more is reserved until stock comes back."""
        answer = self.table.update_item(
            Key=inventory_key(source_id, product),
            UpdateExpression="SET on_hand = :n, reserved = if_not_exists(reserved, :zero), "
            "available = :n - if_not_exists(reserved, :zero), source_id = :s, product = :p, updated_at = :at",
            ExpressionAttributeValues={
                ":n": on_hand,
                ":zero": 0,
                ":s": source_id,
                ":p": product,
                ":at": clock.iso(),
            },
            ReturnValues="ALL_NEW",
        )
        return _level(answer["Attributes"])

    def get(self, source_id: str, product: str) -> InventoryLevel:
        item = self.table.get_item(Key=inventory_key(source_id, product)).get("Item")
        if item is None:
            raise NotFound(f"no inventory of {product} at source {source_id}", field="product")
        return _level(item)

    def for_product(self, product: str) -> list[InventoryLevel]:
        return [_level(i) for i in self.query_all(Key("pk").eq(f"{INVENTORY_PREFIX}{product}"))]

    def availability(self, products: Iterable[str]) -> dict[str, list[InventoryLevel]]:
        """Each product's stock at every source: one Query per product, several at a time."""
        wanted = sorted(set(products))
        if len(wanted) <= 2:
            return {p: self.for_product(p) for p in wanted}
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(wanted))) as pool:
            return dict(zip(wanted, pool.map(self.for_product, wanted), strict=True))

    def for_source(self, source_id: str) -> list[InventoryLevel]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": Attr("pk").begins_with(INVENTORY_PREFIX) & Attr("sk").eq(source_id)
        }
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return [_level(i) for i in items]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def search(
        self,
        source_id: str | None = None,
        product: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[InventoryLevel], str | None]:
        """One page of stock levels, by product (a Query) or else by source / all (a Scan)."""
        kwargs: dict[str, Any] = {}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        if product is not None:
            condition: Any = Key("pk").eq(f"{INVENTORY_PREFIX}{product}")
            if source_id is not None:
                condition = condition & Key("sk").eq(source_id)

            def read(**more: Any) -> dict[str, Any]:
                return dict(self.table.query(KeyConditionExpression=condition, Limit=limit, **more))
        else:
            expression: Any = Attr("pk").begins_with(INVENTORY_PREFIX)
            if source_id is not None:
                expression = expression & Attr("sk").eq(source_id)

            def read(**more: Any) -> dict[str, Any]:
                return dict(self.table.scan(FilterExpression=expression, **more))

        found: list[dict[str, Any]] = []
        for _ in range(SEARCH_PAGES):
            page = read(**kwargs)
            items, last_key = page.get("Items", []), page.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                found.append(item)
                if len(found) == limit:
                    more = index + 1 < len(items) or last_key is not None
                    next_key = {"pk": item["pk"], "sk": item["sk"]} if more else None
                    return [_level(i) for i in found], encode_cursor(next_key)
            if last_key is None:
                return [_level(i) for i in found], None
            kwargs["ExclusiveStartKey"] = last_key
        return [_level(i) for i in found], encode_cursor(last_key)


@dataclass(frozen=True)
class Reservation:
    source_id: str
    product: str
    quantity: int


def reservations_of(orders: Iterable[FulfillmentOrder]) -> list[Reservation]:
    """What fulfillment orders hold, one entry per source and product (one item each in a write)."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for fo in orders:
        for line in fo.lines:
            if line.product:
                totals[(fo.source_id, line.product)] += line.quantity - line.quantity_shipped
    return [Reservation(s, p, q) for (s, p), q in sorted(totals.items()) if q > 0]


class AlreadySourced(Exception):
    """The order's sourcing claim exists: another run of the step reserved for it."""


class StockTaken(Exception):
    """A reservation's condition failed: others reserved the stock since it was read."""


class SourcingStore:
    """Writes a sourcing decision: claim + fulfillment orders + reservations, all or nothing."""

    def __init__(self, fulfillment_table: str, orders_table: str) -> None:
        self.fulfillment_table = fulfillment_table
        self.orders_table = orders_table

    def record(self, order_key: str) -> dict[str, Any] | None:
        item = (
            resource().Table(self.orders_table).get_item(Key={"pk": order_key, "sk": SOURCING_SK}).get("Item")
        )
        return plain(item) if item else None

    def commit(
        self, order_key: str, decision: dict[str, Any], orders: Sequence[FulfillmentOrder]
    ) -> list[Reservation]:
        """Reserve and store in one transaction (several when over 100 items: each later one failing
        undoes the earlier ones). Raises AlreadySourced or StockTaken, having written nothing."""
        at = clock.iso()
        reservations = reservations_of(orders)
        claim = {
            "pk": order_key,
            "sk": SOURCING_SK,
            **storable(decision),
            "reservations": [r.__dict__ for r in reservations],
            "fulfillment_orders": [fo.id for fo in orders],
            "created_at": at,
        }
        items: list[dict[str, Any]] = [_put(self.orders_table, claim)]
        items += [_put(self.orders_table, fo_item(fo)) for fo in orders]
        items += [self._reserve(r, at) for r in reservations]
        done: list[list[dict[str, Any]]] = []
        for start in range(0, len(items), TRANSACTION_LIMIT):
            chunk = items[start : start + TRANSACTION_LIMIT]
            try:
                resource().meta.client.transact_write_items(TransactItems=chunk)
            except Exception as exc:
                if not is_conditional_failure(exc):
                    self._undo(done)
                    raise
                codes = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
                self._undo(done)
                if start == 0 and codes[:1] == ["ConditionalCheckFailed"]:
                    raise AlreadySourced(order_key) from None
                raise StockTaken(order_key) from None
            done.append(chunk)
        return reservations

    def _reserve(self, reservation: Reservation, at: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.fulfillment_table,
                "Key": inventory_key(reservation.source_id, reservation.product),
                "UpdateExpression": "SET reserved = reserved + :q, available = available - :q, updated_at = :at",
                "ConditionExpression": "available >= :q",
                "ExpressionAttributeValues": {":q": reservation.quantity, ":at": at},
            }
        }

    def _undo(self, chunks: list[list[dict[str, Any]]]) -> None:
        """Compensate committed chunks of a decision that could not be completed."""
        for chunk in chunks:
            for item in chunk:
                if "Put" in item:
                    put = item["Put"]
                    key = {"pk": put["Item"]["pk"], "sk": put["Item"]["sk"]}
                    resource().Table(put["TableName"]).delete_item(Key=key)
                else:
                    update = item["Update"]
                    resource().Table(update["TableName"]).update_item(
                        Key=update["Key"],
                        UpdateExpression="SET reserved = reserved - :q, available = available + :q",
                        ExpressionAttributeValues={":q": update["ExpressionAttributeValues"][":q"]},
                    )


def fo_item(fo: FulfillmentOrder) -> dict[str, Any]:
    return {
        "pk": fo.order_key,
        "sk": f"{FO_PREFIX}{fo.id}",
        "entity": "FULFILLMENT_ORDER",
        **storable(fo.model_dump(mode="json")),
    }


def _put(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table_name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


class FulfillmentOrderRepository(TableRepository):
    """Fulfillment orders, read by order and by id; status changes give back or consume the stock."""

    def __init__(self, orders_table: str, fulfillment_table: str) -> None:
        super().__init__(orders_table)
        self.fulfillment_table = fulfillment_table

    def for_order(self, order_key: str) -> list[FulfillmentOrder]:
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(FO_PREFIX))
        return [FulfillmentOrder.model_validate(plain(i)) for i in items]

    def get(self, order_key: str, fo_id: str) -> FulfillmentOrder:
        item = self.table.get_item(Key={"pk": order_key, "sk": f"{FO_PREFIX}{fo_id}"}).get("Item")
        if item is None:
            raise NotFound(f"order {order_key} has no fulfillment order {fo_id}", field="fulfillment_order")
        return FulfillmentOrder.model_validate(plain(item))

    def update_status(
        self,
        order_key: str,
        fo_id: str,
        status: FulfillmentOrderStatus,
        *,
        expected: FulfillmentOrderStatus | None = None,
        **fields: str,
    ) -> FulfillmentOrder:
        """Move a fulfillment order to ``status`` (only from ``expected``, when given), setting any of
        provider, provider_reference, tracking_number, carrier.

        Cancelled or failed gives the reserved stock back; shipped takes it off on hand. That happens
        in the same transaction as the status change, conditioned on the status read, so a repeated
        callback cannot release or consume twice.
        """
        allowed = {"provider", "provider_reference", "tracking_number", "carrier"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown fulfillment order fields: {sorted(unknown)}")
        for _ in range(5):
            current = self.get(order_key, fo_id)
            if expected is not None and current.status != expected:
                raise Conflict(
                    f"fulfillment order {fo_id} is {current.status.value}, not {expected.value}",
                    field="status",
                )
            at = clock.iso()
            values: dict[str, Any] = {":status": status.value, ":at": at, ":read": current.status.value}
            sets = ["#status = :status", "updated_at = :at"]
            for name, value in fields.items():
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
            update = {
                "Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": order_key, "sk": f"{FO_PREFIX}{fo_id}"},
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": "#status = :read",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                }
            }
            stock = self._stock_changes(current, status, at)
            try:
                resource().meta.client.transact_write_items(
                    TransactItems=[update, *stock[: TRANSACTION_LIMIT - 1]]
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    time.sleep(0.01)
                    continue  # changed meanwhile: read again
                raise
            for item in stock[TRANSACTION_LIMIT - 1 :]:  # a fulfillment order of 100+ products
                resource().meta.client.transact_write_items(TransactItems=[item])
            updated: dict[str, Any] = {"status": status, "updated_at": at, **fields}
            return current.model_copy(update=updated)
        raise Conflict(
            f"fulfillment order {fo_id} keeps changing; {status.value} was not applied", field="status"
        )

    def _stock_changes(
        self, current: FulfillmentOrder, status: FulfillmentOrderStatus, at: str
    ) -> list[dict[str, Any]]:
        holds = current.status not in RELEASING | CONSUMING
        if not holds or status not in RELEASING | CONSUMING:
            return []
        if status in RELEASING:
            expression = "SET reserved = reserved - :q, available = available + :q, updated_at = :at"
        else:
            expression = "SET reserved = reserved - :q, on_hand = on_hand - :q, updated_at = :at"
        return [
            {
                "Update": {
                    "TableName": self.fulfillment_table,
                    "Key": inventory_key(r.source_id, r.product),
                    "UpdateExpression": expression,
                    "ConditionExpression": "reserved >= :q",
                    "ExpressionAttributeValues": {":q": r.quantity, ":at": at},
                }
            }
            for r in reservations_of([current])
        ]
