"""Fulfillment sources and inventory (FulfillmentTable), fulfillment orders (in the order's partition).

FulfillmentTable keys, from the access patterns:
  ``pk = "SOURCE"``,          ``sk = <source id>``   every source in one Query (tens to hundreds)
  ``pk = "INV#<product>"``,   ``sk = <source id>``   a product's stock at every source in one Query;
                                                     index ``BySource`` (source_id, product): a
                                                     source's stock in one Query (listing, deleting it)
  ``pk = "LINES#<day>"``,     ``sk = <source id>``   order lines given that UTC day to each source with
                                                     a daily limit (``max_lines_per_day``), all in one
                                                     Query; gone a week later (TTL ``expires_at``)
Inventory items keep ``available = on_hand - reserved`` as an attribute of its own, because a
condition expression cannot subtract: reserving is ``available >= :q`` then ``available -= q``,
``reserved += q`` in one conditional write. Only inventory items carry ``source_id``, so the index
holds nothing else.

Orders table, in the order's partition (pk = order key):
  ``sk = "FO#<id>"``    one per fulfillment order; also in the table's listing index (``ByImportedAt``),
                        under its own entity, sorted by ``<status>#<created_at>#<id>``: the fulfillment
                        orders in one state, newest first, are one Query (``GET /fulfillment-orders``)
  ``sk = "SOURCING"``   what sourcing decided (reservations, backorders): the step's idempotency claim,
                        with the round that wrote it (a later run that sources backordered lines
                        writes the next round, conditioned on the one it read)
The claim, the fulfillment orders, the stock they reserve, the sources' daily line counts and the
order lines' backordered quantities are written in one TransactWriteItems across both tables, so a
retried or concurrent step can never reserve twice, nor give a source more lines than its limit.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderflow import clock
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.fulfillment import (
    FulfillmentOrder,
    FulfillmentOrderStatus,
    FulfillmentSource,
    InventoryLevel,
)
from orderflow.models.order import OrderLine
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    plain,
    resource,
    storable,
)
from orderflow.store.orders import BACKORDERED, by_lines_item

SOURCE_PK = "SOURCE"
INVENTORY_PREFIX = "INV#"
BY_SOURCE_INDEX = "BySource"
DAY_LINES_PREFIX = "LINES#"
LINES_KEPT_DAYS = 8  # a day's line counts are only read on that day; kept a week after it for operators
FO_PREFIX = "FO#"
FO_ENTITY = "FULFILLMENT_ORDER"
# The Orders table's listing index (entity, imported_sort): orders are listed under their entity by
# import, fulfillment orders under theirs by status (the sort attribute is named after the orders').
LISTING_INDEX = "ByImportedAt"
LISTED_SORT = "imported_sort"
SOURCING_SK = "SOURCING"
TRANSACTION_LIMIT = 100  # TransactWriteItems' maximum items per call
READ_THREADS = 8  # parallel Queries when an order asks for many products
SEARCH_PAGES = 10
# Stock given back when a fulfillment order ends without shipping; consumed when it ships.
RELEASING = {FulfillmentOrderStatus.CANCELLED, FulfillmentOrderStatus.FAILED}
CONSUMING = {FulfillmentOrderStatus.SHIPPED}


def inventory_key(source_id: str, product: str) -> dict[str, str]:
    return {"pk": f"{INVENTORY_PREFIX}{product}", "sk": source_id}


def today() -> str:
    """The UTC day that daily line limits count in."""
    return clock.now().date().isoformat()


def _expiry(day: str) -> int:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return int((start + timedelta(days=LINES_KEPT_DAYS)).timestamp())


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

    def lines_on(self, day: str) -> dict[str, int]:
        """Order lines each source with a daily limit has been given on ``day`` (UTC)."""
        items = self.query_all(Key("pk").eq(f"{DAY_LINES_PREFIX}{day}"), ConsistentRead=True)
        return {str(i["sk"]): int(i.get("lines", 0)) for i in items}

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


def restock_action(
    fulfillment_table: str, source_id: str, product: str, quantity: int, at: str
) -> dict[str, Any]:
    """A transaction item putting returned units back on a source's shelf (on hand and available); a
    product the source never stocked starts at what came back."""
    return {
        "Update": {
            "TableName": fulfillment_table,
            "Key": inventory_key(source_id, product),
            "UpdateExpression": "SET on_hand = if_not_exists(on_hand, :zero) + :q, "
            "available = if_not_exists(available, :zero) + :q, reserved = if_not_exists(reserved, :zero), "
            "source_id = :s, product = :p, updated_at = :at",
            "ExpressionAttributeValues": {
                ":q": quantity,
                ":zero": 0,
                ":s": source_id,
                ":p": product,
                ":at": at,
            },
        }
    }


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
        items = self.query_all(Key("source_id").eq(source_id), IndexName=BY_SOURCE_INDEX)
        return [_level(i) for i in items]

    def search(
        self,
        source_id: str | None = None,
        product: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[InventoryLevel], str | None]:
        """One page of stock levels: by product (a Query), by source (a Query of ``BySource``), or
        all (a Scan)."""
        keys = (
            ("pk", "sk", "source_id", "product")
            if product is None and source_id is not None
            else ("pk", "sk")
        )
        kwargs: dict[str, Any] = {}
        start = decode_cursor(cursor)
        if start:
            # DynamoDB refuses a start key of another listing's shape: that is the client's mistake.
            if sorted(start) != sorted(keys) or not all(isinstance(v, str) for v in start.values()):
                raise InvalidInput("the cursor is not one this API gave out for this listing", field="cursor")
            kwargs["ExclusiveStartKey"] = start
        if product is not None:
            condition: Any = Key("pk").eq(f"{INVENTORY_PREFIX}{product}")
            if source_id is not None:
                condition = condition & Key("sk").eq(source_id)

            def read(**more: Any) -> dict[str, Any]:
                return dict(self.table.query(KeyConditionExpression=condition, Limit=limit, **more))
        elif source_id is not None:

            def read(**more: Any) -> dict[str, Any]:
                return dict(
                    self.table.query(
                        IndexName=BY_SOURCE_INDEX,
                        KeyConditionExpression=Key("source_id").eq(source_id),
                        Limit=limit,
                        **more,
                    )
                )
        else:

            def read(**more: Any) -> dict[str, Any]:
                return dict(
                    self.table.scan(FilterExpression=Attr("pk").begins_with(INVENTORY_PREFIX), **more)
                )

        found: list[dict[str, Any]] = []
        for _ in range(SEARCH_PAGES):
            page = read(**kwargs)
            items, last_key = page.get("Items", []), page.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                found.append(item)
                if len(found) == limit:
                    more = index + 1 < len(items) or last_key is not None
                    next_key = {k: item[k] for k in keys} if more else None
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
    """Writes a sourcing decision: claim + fulfillment orders + reservations + daily line counts +
    the order lines' backordered quantities, all or nothing."""

    def __init__(self, fulfillment_table: str, orders_table: str) -> None:
        self.fulfillment_table = fulfillment_table
        self.orders_table = orders_table

    def record(self, order_key: str) -> dict[str, Any] | None:
        item = (
            resource()
            .Table(self.orders_table)
            .get_item(Key={"pk": order_key, "sk": SOURCING_SK}, ConsistentRead=True)
            .get("Item")
        )
        return plain(item) if item else None

    def commit(
        self,
        order_key: str,
        decision: dict[str, Any],
        orders: Sequence[FulfillmentOrder],
        *,
        previous: Mapping[str, Any] | None = None,
        line_limits: Mapping[str, int] | None = None,
        day: str | None = None,
        backordered: Iterable[tuple[OrderLine, int]] = (),
    ) -> list[Reservation]:
        """Reserve and store in one transaction (several when over 100 items: each later one failing
        undoes the earlier ones). Raises AlreadySourced or StockTaken, having written nothing.

        ``previous``: the claim read, when this sources what an earlier round backordered; the new
        claim replaces it only if it is still that round. ``line_limits``: the sources' daily line
        limits, counted on ``day`` under a condition that keeps each within its limit.
        ``backordered``: order lines and the quantity of each now backordered."""
        at = clock.iso()
        reservations = reservations_of(orders)
        claim = {
            "pk": order_key,
            "sk": SOURCING_SK,
            **storable(decision),
            "round": 1,
            "reservations": [r.__dict__ for r in reservations],
            "fulfillment_orders": [fo.id for fo in orders],
            "created_at": at,
        }
        writes: list[tuple[dict[str, Any], Callable[[], None]]] = []
        if previous is None:
            writes.append(self._put_new(self.orders_table, claim))
        else:
            writes.append(self._replace_claim(claim, previous, at))
        writes += [self._put_new(self.orders_table, fo_item(fo)) for fo in orders]
        writes += [self._reserve(r, at) for r in reservations]
        writes += self._count_lines(orders, line_limits or {}, day or today())
        writes += self._backorder(order_key, backordered)
        done: list[Callable[[], None]] = []
        for start in range(0, len(writes), TRANSACTION_LIMIT):
            chunk = writes[start : start + TRANSACTION_LIMIT]
            try:
                resource().meta.client.transact_write_items(TransactItems=[item for item, _ in chunk])
            except Exception as exc:
                if not is_conditional_failure(exc):
                    _undo(done)
                    raise
                codes = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
                _undo(done)
                if start == 0 and codes[:1] == ["ConditionalCheckFailed"]:
                    raise AlreadySourced(order_key) from None
                raise StockTaken(order_key) from None
            done += [undo for _, undo in chunk]
        return reservations

    def note_backordered(self, order_key: str, backordered: Iterable[tuple[OrderLine, int]]) -> None:
        """Record on the order lines what is backordered when nothing could be reserved (no claim)."""
        quantities = {line.line_number: quantity for line, quantity in backordered}
        for sk, numbers in by_lines_item(quantities).items():
            resource().Table(self.orders_table).update_item(
                **_backorder_update(order_key, sk, {n: quantities[n] for n in numbers})
            )

    # -- the items of a decision, each with what undoes it ---------------------------------------
    @staticmethod
    def _put_new(table_name: str, item: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None]]:
        def undo() -> None:
            resource().Table(table_name).delete_item(Key={"pk": item["pk"], "sk": item["sk"]})

        return _put(table_name, item), undo

    def _replace_claim(
        self, claim: dict[str, Any], previous: Mapping[str, Any], at: str
    ) -> tuple[dict[str, Any], Callable[[], None]]:
        """The next round's claim: everything reserved so far, conditioned on the round read."""
        earlier = int(previous.get("round", 1))
        claim.update(
            {
                "round": earlier + 1,
                "reservations": [*previous.get("reservations", []), *claim["reservations"]],
                "fulfillment_orders": [*previous.get("fulfillment_orders", []), *claim["fulfillment_orders"]],
                "created_at": previous.get("created_at", at),
                "updated_at": at,
            }
        )
        # A claim written before rounds were counted is round 1.
        condition = (
            "#round = :round"
            if "round" in previous
            else "attribute_exists(pk) AND attribute_not_exists(#round)"
        )
        values = {":round": earlier} if "round" in previous else {}
        put: dict[str, Any] = {
            "TableName": self.orders_table,
            "Item": claim,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#round": "round"},
        }
        if values:
            put["ExpressionAttributeValues"] = values
        restored = storable(dict(previous))

        def undo() -> None:
            resource().Table(self.orders_table).put_item(Item=restored)

        return {"Put": put}, undo

    def _reserve(self, reservation: Reservation, at: str) -> tuple[dict[str, Any], Callable[[], None]]:
        key = inventory_key(reservation.source_id, reservation.product)
        item = {
            "Update": {
                "TableName": self.fulfillment_table,
                "Key": key,
                "UpdateExpression": "SET reserved = reserved + :q, available = available - :q, updated_at = :at",
                "ConditionExpression": "available >= :q",
                "ExpressionAttributeValues": {":q": reservation.quantity, ":at": at},
            }
        }

        def undo() -> None:
            resource().Table(self.fulfillment_table).update_item(
                Key=key,
                UpdateExpression="SET reserved = reserved - :q, available = available + :q",
                ExpressionAttributeValues={":q": reservation.quantity},
            )

        return item, undo

    def _count_lines(
        self, orders: Sequence[FulfillmentOrder], limits: Mapping[str, int], day: str
    ) -> list[tuple[dict[str, Any], Callable[[], None]]]:
        """A day's capacity is consumed by the lines sourced that day and never given back: a
        fulfillment order cancelled or failed later may have been picked already, and its lines were
        counted on the day it was sourced, not the day it ends. Only sources with a limit are
        counted, so the others add no contended item to every order's transaction."""
        lines: dict[str, int] = defaultdict(int)
        for fo in orders:
            if fo.source_id in limits:
                lines[fo.source_id] += len(fo.lines)
        writes: list[tuple[dict[str, Any], Callable[[], None]]] = []
        for source_id, count in sorted(lines.items()):
            if count > limits[source_id]:
                raise StockTaken(source_id)  # planned on a limit that has changed since
            key = {"pk": f"{DAY_LINES_PREFIX}{day}", "sk": source_id}
            item = {
                "Update": {
                    "TableName": self.fulfillment_table,
                    "Key": key,
                    "UpdateExpression": "ADD #lines :n SET expires_at = :expires",
                    "ConditionExpression": "attribute_not_exists(#lines) OR #lines <= :room",
                    "ExpressionAttributeNames": {"#lines": "lines"},
                    "ExpressionAttributeValues": {
                        ":n": count,
                        ":room": limits[source_id] - count,
                        ":expires": _expiry(day),
                    },
                }
            }

            def undo(key: dict[str, str] = key, count: int = count) -> None:
                resource().Table(self.fulfillment_table).update_item(
                    Key=key,
                    UpdateExpression="ADD #lines :n",
                    ExpressionAttributeNames={"#lines": "lines"},
                    ExpressionAttributeValues={":n": -count},
                )

            writes.append((item, undo))
        return writes

    def _backorder(
        self, order_key: str, backordered: Iterable[tuple[OrderLine, int]]
    ) -> list[tuple[dict[str, Any], Callable[[], None]]]:
        """One write per item of lines (a transaction may not touch an item twice), each undone by
        setting back the quantities read."""
        lines = {line.line_number: (line, quantity) for line, quantity in backordered}
        writes: list[tuple[dict[str, Any], Callable[[], None]]] = []
        for sk, numbers in by_lines_item(lines).items():
            now = {n: lines[n][1] for n in numbers}
            before = {n: lines[n][0].quantity_backordered for n in numbers}

            def undo(sk: str = sk, before: dict[int, int] = before) -> None:
                resource().Table(self.orders_table).update_item(**_backorder_update(order_key, sk, before))

            writes.append(
                ({"Update": {"TableName": self.orders_table, **_backorder_update(order_key, sk, now)}}, undo)
            )
        return writes


def _backorder_update(order_key: str, sk: str, quantities: Mapping[int, int]) -> dict[str, Any]:
    """Set the backordered quantity of lines held by one item (``sk``), line by line."""
    names = {"#b": BACKORDERED, **{f"#n{i}": str(n) for i, n in enumerate(quantities)}}
    values = {f":q{i}": q for i, q in enumerate(quantities.values())}
    return {
        "Key": {"pk": order_key, "sk": sk},
        "UpdateExpression": "SET " + ", ".join(f"#b.#n{i} = :q{i}" for i in range(len(quantities))),
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _undo(compensations: list[Callable[[], None]]) -> None:
    """Compensate committed chunks of a decision that could not be completed."""
    for compensate in compensations:
        compensate()


def fo_item(fo: FulfillmentOrder) -> dict[str, Any]:
    return {
        "pk": fo.order_key,
        "sk": f"{FO_PREFIX}{fo.id}",
        "entity": FO_ENTITY,
        LISTED_SORT: listed_sort(fo.status, fo.created_at, fo.id),
        **storable(fo.model_dump(mode="json")),
    }


def listed_sort(status: FulfillmentOrderStatus, created_at: str, fo_id: str) -> str:
    return f"{status.value}#{created_at}#{fo_id}"


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

    def in_state(
        self, status: FulfillmentOrderStatus, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[FulfillmentOrder], str | None]:
        """The fulfillment orders in ``status``, newest first: one Query of the listing index. Those
        written before the index held them appear once their status changes."""
        kwargs: dict[str, Any] = {
            "IndexName": LISTING_INDEX,
            "KeyConditionExpression": Key("entity").eq(FO_ENTITY)
            & Key(LISTED_SORT).begins_with(f"{status.value}#"),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start is not None:
            if set(start) != {"entity", LISTED_SORT, "pk", "sk"} or not all(
                isinstance(v, str) for v in start.values()
            ):
                raise InvalidInput("the cursor is not one this API gave out", field="cursor")
            if start["entity"] != FO_ENTITY or not start[LISTED_SORT].startswith(f"{status.value}#"):
                raise InvalidInput("the cursor is of another listing", field="cursor")
            kwargs["ExclusiveStartKey"] = start
        page = self.table.query(**kwargs)
        found = [FulfillmentOrder.model_validate(plain(i)) for i in page.get("Items", [])]
        return found, encode_cursor(page.get("LastEvaluatedKey"))

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
            values: dict[str, Any] = {
                ":status": status.value,
                ":at": at,
                ":read": current.status.value,
                ":listed": listed_sort(status, current.created_at, current.id),
            }
            sets = ["#status = :status", "updated_at = :at", f"{LISTED_SORT} = :listed"]
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
