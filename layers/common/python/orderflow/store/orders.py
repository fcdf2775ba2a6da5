"""Orders and their step results, in one table and one partition per order.

Items of an order (partition key ``pk`` = order key):
  ``sk = "LINES#0000"`` …   up to 100 lines each (line n in item n // 100): what was imported and mapped,
                            compressed in ``lines``, and the quantities that change line by line in
                            maps by line number, ``shipped`` and ``backordered`` (see below)
  ``sk = "ORDER"``          the header; also indexed by ``ByImportedAt`` for listing
  ``sk = "STEP#<flow>#<version>#<execution>#<step>"`` one per executed step
  ``sk = "REVISION#0001"`` … a revision a re-import replaced (compressed, whole)
  ``sk = "PUSH#PENDING"``   a status push the store did not take yet (retried by the sweep)
so one Query returns an order with its step results.

Why lines are kept that way: a line item of its own cost a write unit per line at import (a 2,000-line
order: 80 BatchWriteItems and ~1.5 MB written), and every step read them all back. In items of 100 a
2,000-line order is 20 items written in one BatchWriteItem, and compressed (the lines of an order repeat
their field names and most values) they are a few KB each. What is written by different hands lives in
different attributes, so none overwrites another: the import and a re-mapping replace ``lines`` (under
the chunk's ``revision``), shipments add to ``shipped`` and sourcing sets ``backordered`` per line, with
conditions on those very map entries. Orders that need attention (pending import,
import failed, error, on hold, a push pending) are also in the sparse ``NeedsAttention`` index,
oldest first, for the sweep and ``GET /health``.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary, TypeDeserializer

from orderflow import clock
from orderflow.errors import Conflict, InvalidInput, NotFound
from orderflow.models.order import Order, OrderLine, OrderStatus, StatusChange, StatusPush, StepResult
from orderflow.models.transitions import IllegalTransition, check_transition
from orderflow.observability import logger
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    plain,
    resource,
    storable,
)

HEADER = "ORDER"
LINES_PREFIX = "LINES#"
LINES_PER_ITEM = 100
# The per-line quantities kept outside the compressed lines (each written on its own, line by line).
SHIPPED = "shipped"
BACKORDERED = "backordered"
RETURNED = "returned"
REFUNDED = "refunded"
_QUANTITIES = {
    "quantity_shipped": SHIPPED,
    "quantity_backordered": BACKORDERED,
    "quantity_returned": RETURNED,
    "quantity_refunded": REFUNDED,
}
STEP_PREFIX = "STEP#"
LIST_INDEX = "ByImportedAt"
REVISION_PREFIX = "REVISION#"
PENDING_PUSH = "PUSH#PENDING"
BATCH_GET_KEYS = 100  # BatchGetItem's limit per call
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit per call
ORDER_ENTITY = "ORDER"
ATTENTION_INDEX = "NeedsAttention"
PUSH_PENDING = "push_pending"  # the attention value of a pending push
# A filtered listing (GET /orders?status=…) reads the listing index a page at a time, and looks at this
# many orders per call at most: a filter that matches few orders answers in time, with a cursor.
SEARCH_PAGE = 200
SEARCH_BUDGET = 1000
FLOW_SEARCH_BUDGET = 200  # each order looked at for a flow costs a Query of its partition
FLOW_CHECK_WORKERS = 8
# Statuses an operator (or the sweep) must see: each is indexed by the time the order got there.
ATTENTION_STATUSES = frozenset(
    {OrderStatus.PENDING_IMPORT, OrderStatus.IMPORT_FAILED, OrderStatus.ERROR, OrderStatus.ON_HOLD}
)
# A claim on a first import older than this is taken to be from an import that died (the import
# function's timeout is 60 s): another import may take it over.
STALE_CLAIM_SECONDS = 300
_UNIMPORTED = [OrderStatus.PENDING_IMPORT.value, OrderStatus.IMPORT_FAILED.value]
_DESERIALIZE = TypeDeserializer()


def lines_sk(line_number: int) -> str:
    """The key of the item that holds line ``line_number``."""
    return f"{LINES_PREFIX}{max(0, line_number) // LINES_PER_ITEM:04d}"


def by_lines_item(line_numbers: Iterable[int]) -> dict[str, list[int]]:
    """Line numbers grouped by the key of the item holding them (each group sorted)."""
    grouped: dict[str, list[int]] = {}
    for number in sorted(set(line_numbers)):
        grouped.setdefault(lines_sk(number), []).append(number)
    return grouped


def lines_items(order: Order) -> list[dict[str, Any]]:
    """The order's lines as the items that hold them."""
    chunks: dict[str, list[OrderLine]] = {}
    for line in sorted(order.lines, key=lambda line: line.line_number):
        chunks.setdefault(lines_sk(line.line_number), []).append(line)
    return [
        {
            "pk": order.order_key,
            "sk": sk,
            "revision": order.revision,
            "lines": _packed(lines),
            SHIPPED: {str(line.line_number): line.quantity_shipped for line in lines},
            BACKORDERED: {str(line.line_number): line.quantity_backordered for line in lines},
            RETURNED: {str(line.line_number): line.quantity_returned for line in lines},
            REFUNDED: {str(line.line_number): line.quantity_refunded for line in lines},
        }
        for sk, lines in chunks.items()
    ]


def _packed(lines: list[OrderLine]) -> Binary:
    body = [line.model_dump(mode="json", exclude=set(_QUANTITIES)) for line in lines]
    return Binary(zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6))


def _unpacked(item: dict[str, Any]) -> list[OrderLine]:
    raw: Any = item["lines"]
    body = json.loads(zlib.decompress(bytes(raw)))
    lines = []
    for fields in body:
        number = str(fields["line_number"])
        for field, attribute in _QUANTITIES.items():
            fields[field] = int(item.get(attribute, {}).get(number, 0))
        lines.append(OrderLine.model_validate(fields))
    return lines


def step_sk(result: StepResult) -> str:
    # Per execution: a step retried within a run replaces its result, while every run (a re-import's
    # intake, a new revision's flows) keeps its own results.
    return f"{STEP_PREFIX}{result.flow_id}#{result.flow_version:04d}#{result.execution or '-'}#{result.step}"


class OrderRepository(TableRepository):
    # -- writing -------------------------------------------------------------------------------
    def record_pending(self, order: Order) -> bool:
        """An accepted order, before its import: listed, fetchable and resubmittable while the store
        is not read yet. False (nothing written) when the order is stored already, in any state."""
        return self.record_pending_or_read(order) is None

    def record_pending_or_read(self, order: Order) -> Order | None:
        """``record_pending`` and, when the order is stored already, its header, in one request:
        None when the pending record was made, else the stored header (nothing written)."""
        pending = order.model_copy(
            update={"status": OrderStatus.PENDING_IMPORT, "received_at": order.received_at or clock.iso()}
        )
        try:
            self.table.put_item(
                Item=self._header_item(pending),
                ConditionExpression=Attr("pk").not_exists(),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                stored = getattr(exc, "response", {}).get("Item")
                if stored:
                    return _header({k: _DESERIALIZE.deserialize(v) for k, v in stored.items()})
                return self.find_header(order.order_key)  # an answer without the item: read it
            raise
        return None

    def create(self, order: Order) -> bool:
        """Store a newly imported order; False (and nothing written) when another import has it.

        An order of up to 9,900 lines (99 items of lines) is written in one transaction: the header,
        under the condition that the order is not imported and no live import claims it, with its
        lines. A larger one is claimed, then written: the first import claims the order's pending
        record (made here if no webhook made it), then writes its lines, then the header under its
        claim. Either way a concurrent import writes nothing, so it can never overwrite what the
        winner (or a shipment recorded meanwhile) wrote. A claim older than STALE_CLAIM_SECONDS is
        taken over. ``order.received_at``: when the order was accepted (the import passes on its
        pending record's); the claim path keeps the pending record's own.
        """
        items = lines_items(order)
        if len(items) < TRANSACTION_ITEMS:
            return self._create_at_once(order, items)
        token = uuid.uuid4().hex
        claimed = self._claim_import(order.order_key, token)
        if claimed is None and self.record_pending(order.model_copy(update={"lines": []})):
            claimed = self._claim_import(order.order_key, token)  # no webhook recorded it: now it is
        if claimed is None:
            return False
        with self.table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
        received = str(claimed.get("received_at") or order.received_at)
        header = order.model_copy(update={"received_at": received})
        try:
            self.table.put_item(
                Item=self._header_item(header), ConditionExpression=Attr("import_claim").eq(token)
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False  # our claim went stale and was taken over: that import wins
            raise
        return True

    def _create_at_once(self, order: Order, lines: list[dict[str, Any]]) -> bool:
        # A put (the pending record's attributes go), whose condition is the claim's.
        header = self._header_item(order.model_copy(update={"received_at": order.received_at or clock.iso()}))
        first_import = {
            "TableName": self.table_name,
            "Item": header,
            "ConditionExpression": "attribute_not_exists(pk) OR (#status IN (:pending, :failed) AND "
            "(attribute_not_exists(import_claim) OR import_claimed_at < :stale))",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pending": _UNIMPORTED[0],
                ":failed": _UNIMPORTED[1],
                ":stale": Decimal(str(time.time() - STALE_CLAIM_SECONDS)),
            },
        }
        actions = [
            {"Put": first_import},
            *({"Put": {"TableName": self.table_name, "Item": i}} for i in lines),
        ]
        for attempt in range(4):
            try:
                resource().meta.client.transact_write_items(TransactItems=actions)
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                if any(r.get("Code") == "TransactionConflict" for r in reasons) and attempt < 3:
                    time.sleep(0.05 * 2**attempt)  # another write to the header right now: try again
                    continue
                return False
            return True
        return False

    def _claim_import(self, order_key: str, token: str) -> dict[str, Any] | None:
        """Claim an order's first import (its stored header after the claim), or None: not stored,
        imported already, or claimed by a live import."""
        now = time.time()
        try:
            claimed = self.table.update_item(
                Key={"pk": order_key, "sk": HEADER},
                UpdateExpression="SET import_claim = :token, import_claimed_at = :now",
                ReturnValues="ALL_NEW",
                ConditionExpression=Attr("status").is_in(_UNIMPORTED)
                & (
                    Attr("import_claim").not_exists()
                    | Attr("import_claimed_at").lt(Decimal(str(now - STALE_CLAIM_SECONDS)))
                ),
                ExpressionAttributeValues={":token": token, ":now": Decimal(str(now))},
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return dict(claimed.get("Attributes", {}))

    def forget_pending(self, order_key: str) -> bool:
        """Drop a pending record the import found nothing to import for (the store shows another
        status: an Incomplete order, say); True when one was dropped."""
        try:
            self.table.delete_item(
                Key={"pk": order_key, "sk": HEADER},
                ConditionExpression=Attr("status").eq(OrderStatus.PENDING_IMPORT.value)
                & Attr("import_claim").not_exists(),
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def note_import_attempt(
        self, order_key: str, *, error: str, next_attempt_at: str | None, failed: bool
    ) -> None:
        """The store did not answer (pending_import: when the next try is), or refused the order for
        good (import_failed); only for an order not imported yet."""
        status = OrderStatus.IMPORT_FAILED if failed else OrderStatus.PENDING_IMPORT
        expression = (
            "SET #status = :status, import_error = :error, next_attempt_at = :next, updated_at = :at, "
            "import_attempts = if_not_exists(import_attempts, :zero) + :one, attention = :status, "
            "attention_since = if_not_exists(attention_since, :at)"
        )
        values: dict[str, Any] = {
            ":status": status.value,
            ":error": error,
            ":next": next_attempt_at,
            ":at": clock.iso(),
            ":zero": 0,
            ":one": 1,
        }
        if failed:
            expression = expression.replace(
                "attention_since = if_not_exists(attention_since, :at)", "attention_since = :at"
            )
        try:
            self.table.update_item(
                Key={"pk": order_key, "sk": HEADER},
                UpdateExpression=expression,
                ConditionExpression=Attr("status").is_in(_UNIMPORTED),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise

    def replace_revision(self, current: Order, revision: Order) -> None:
        """Store a re-import as the order's next revision, keeping the one it replaces.

        The replaced revision (header and lines) is kept whole in one compressed item; its step
        results stay where they are. The header is written last, under the version read, so two
        concurrent re-imports cannot both win.
        """
        snapshot = zlib.compress(current.model_dump_json().encode())
        with self.table.batch_writer() as batch:
            batch.put_item(
                Item={
                    "pk": current.order_key,
                    "sk": f"{REVISION_PREFIX}{current.revision:04d}",
                    "revision": current.revision,
                    "replaced_at": clock.iso(),
                    "order": Binary(snapshot),
                }
            )
            written = lines_items(revision)
            for item in written:
                batch.put_item(Item=item)
            kept = {item["sk"] for item in written}
            for sk in by_lines_item(line.line_number for line in current.lines):
                if sk not in kept:
                    batch.delete_item(Key={"pk": current.order_key, "sk": sk})
        item = self._header_item(revision)
        item["record_version"] = current.record_version + 1
        try:
            self.table.put_item(
                Item=item, ConditionExpression=Attr("record_version").eq(current.record_version)
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(f"order {current.order_key} changed while it was re-imported") from None
            raise

    def revisions(self, order_key: str) -> list[Order]:
        """The revisions a re-import replaced, oldest first."""
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(REVISION_PREFIX))
        return [Order.model_validate_json(zlib.decompress(bytes(i["order"].value))) for i in items]

    def transition(self, order_key: str, status: OrderStatus, reason: str = "") -> Order:
        """Set the order's internal status and append it to the history, with optimistic locking.

        The status state machine (models/transitions.py) is checked against the status read, under the
        same lock: an illegal change raises IllegalTransition (409) and is logged, nothing written;
        the same status again is a no-op (no second history entry).
        """
        return self.transition_and_claim_push(order_key, status, reason)[0]

    def transition_and_claim_push(
        self,
        order_key: str,
        status: OrderStatus,
        reason: str = "",
        push_to: Callable[[Order], int | None] | None = None,
    ) -> tuple[Order, StatusPush | None]:
        """``transition``, and in the same write the claim of the BigCommerce status push it causes
        (``claim_push``): ``push_to`` says, from the order as read, which store status to push (None:
        none). Answers the order as written and the push claimed (None when there is none to make or
        the status was set already: a retry claims its push with ``claim_push``)."""
        for _ in range(5):
            order = self.find_header(order_key)
            if order is None:
                raise NotFound(f"order {order_key} does not exist", field="order_key")
            if order.status == status:
                return order, None
            try:
                check_transition(order_key, order.status, status)
            except IllegalTransition:
                logger.warning(
                    "illegal status transition refused",
                    extra={
                        "order_key": order_key,
                        "from": order.status.value,
                        "to": status.value,
                        "reason": reason,
                    },
                )
                raise
            at = clock.iso()
            history = [*order.history, StatusChange(status=status, at=at, reason=reason)]
            attention = "attention = :status, attention_since = :at" if status in ATTENTION_STATUSES else None
            values: dict[str, Any] = {
                ":status": status.value,
                ":history": [h.model_dump(mode="json") for h in history],
                ":at": at,
                ":one": 1,
            }
            target = push_to(order) if push_to is not None else None
            push = None
            claim = ""
            if target is not None:
                # The change's place in the history: no push of this order can be newer.
                push = StatusPush(
                    seq=len(history),
                    from_status_id=order.external_status_id,
                    to_status_id=target,
                    at=at,
                    reason=reason,
                )
                claim = ", pushes = list_append(if_not_exists(pushes, :none), :push), last_push_seq = :seq"
                values.update({":none": [], ":push": [push.model_dump(mode="json")], ":seq": push.seq})
            try:
                self.table.update_item(
                    Key={"pk": order_key, "sk": HEADER},
                    UpdateExpression="SET #status = :status, history = :history, updated_at = :at, "
                    "record_version = record_version + :one"
                    + claim
                    + (f", {attention}" if attention else " REMOVE attention, attention_since"),
                    ConditionExpression=Attr("record_version").eq(order.record_version),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=values,
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    continue  # someone else changed the order meanwhile: read again and reapply
                raise
            changed: dict[str, Any] = {
                "status": status,
                "history": history,
                "updated_at": at,
                "record_version": order.record_version + 1,
            }
            if push is not None:
                changed.update({"pushes": [*order.pushes, push], "last_push_seq": push.seq})
            return order.model_copy(update=changed), push
        raise Conflict(f"order {order_key} keeps changing; status {status.value} was not applied")

    def note(self, order_key: str, reason: str) -> None:
        """A history entry that changes no status (who resubmitted the order, and when)."""
        order = self.find_header(order_key)
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        entry = StatusChange(status=order.status, at=clock.iso(), reason=reason)
        self.table.update_item(
            Key={"pk": order_key, "sk": HEADER},
            UpdateExpression="SET history = list_append(history, :entry), updated_at = :at, "
            "record_version = record_version + :one",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":entry": [entry.model_dump(mode="json")], ":at": entry.at, ":one": 1},
        )

    def save_mapping(self, order: Order) -> None:
        """Store what a new mapping run resolved (account, price list, each line's values and issues).

        The lines are rewritten under the revision read (a shipment recorded meanwhile keeps its
        quantities, which live beside them), then the header, under its version: a concurrent change
        of the order makes this fail rather than be overwritten.
        """
        for item in lines_items(order):
            try:
                # The lines only: the quantities beside them (shipments, sourcing) are not touched.
                self.table.update_item(
                    Key={"pk": order.order_key, "sk": item["sk"]},
                    UpdateExpression="SET #lines = :lines",
                    ConditionExpression=Attr("revision").eq(order.revision),
                    ExpressionAttributeNames={"#lines": "lines"},
                    ExpressionAttributeValues={":lines": item["lines"]},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise Conflict(
                        f"order {order.order_key} was re-imported while it was re-mapped; run the step again"
                    ) from None
                raise
        try:
            self.table.update_item(
                Key={"pk": order.order_key, "sk": HEADER},
                UpdateExpression="SET account = :account, price_list = :price_list, "
                "mapping_issues = :issues, updated_at = :at, record_version = record_version + :one",
                ConditionExpression=Attr("record_version").eq(order.record_version),
                ExpressionAttributeValues={
                    ":account": order.account,
                    ":price_list": order.price_list,
                    ":issues": [i.model_dump(mode="json") for i in order.mapping_issues],
                    ":at": clock.iso(),
                    ":one": 1,
                },
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(
                    f"order {order.order_key} changed while it was re-mapped; run the step again"
                ) from None
            raise

    # -- BigCommerce status ------------------------------------------------------------------------
    def claim_push(self, order_key: str, push: StatusPush) -> bool:
        """Record a push before it is made; False when a newer status change was pushed already.

        The same change may be pushed again (a retried step), an older one never: a late push
        cannot overwrite a newer status. The store's status is known to be the pushed one once the
        PUT has answered (``confirm_push``), not before: a push the store never took is pushed again.
        """
        try:
            # Appended, never rewritten: concurrent claims cannot lose each other's records (an order
            # sees a handful of status changes, so the list stays small).
            self.table.update_item(
                Key={"pk": order_key, "sk": HEADER},
                UpdateExpression="SET pushes = list_append(if_not_exists(pushes, :none), :push), "
                "last_push_seq = :seq, updated_at = :at",
                ConditionExpression=Attr("pk").exists()
                & (Attr("last_push_seq").not_exists() | Attr("last_push_seq").lte(push.seq)),
                ExpressionAttributeValues={
                    ":none": [],
                    ":push": [push.model_dump(mode="json")],
                    ":seq": push.seq,
                    ":at": clock.iso(),
                },
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def confirm_push(self, order_key: str, push: StatusPush) -> None:
        """The store took the push: its status is now the pushed one (unless a newer push was claimed
        meanwhile, whose own confirmation will say)."""
        try:
            self.table.update_item(
                Key={"pk": order_key, "sk": HEADER},
                UpdateExpression="SET external_status_id = :to, updated_at = :at",
                ConditionExpression=Attr("last_push_seq").eq(push.seq),
                ExpressionAttributeValues={":to": push.to_status_id, ":at": clock.iso()},
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise

    def mark_push_pending(self, order_key: str, push: StatusPush, error: str) -> None:
        """The store did not take a push (it was down): keep it for the sweep, with why; the header
        says so too, so that a later push knows there is something to clear."""
        self.table.update_item(
            Key={"pk": order_key, "sk": HEADER},
            UpdateExpression="SET push_pending_seq = :seq",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":seq": push.seq},
        )
        self.table.update_item(
            Key={"pk": order_key, "sk": PENDING_PUSH},
            UpdateExpression="SET attention = :kind, attention_since = if_not_exists(attention_since, :at), "
            "seq = :seq, to_status_id = :to, #error = :error, updated_at = :at, "
            "attempts = if_not_exists(attempts, :zero) + :one",
            ExpressionAttributeNames={"#error": "error"},
            ExpressionAttributeValues={
                ":kind": PUSH_PENDING,
                ":at": clock.iso(),
                ":seq": push.seq,
                ":to": push.to_status_id,
                ":error": error,
                ":zero": 0,
                ":one": 1,
            },
        )

    def clear_push_pending(self, order_key: str, seq: int) -> None:
        """The push of ``seq`` (or a newer one) reached the store: nothing is pending up to it."""
        try:
            self.table.delete_item(
                Key={"pk": order_key, "sk": PENDING_PUSH}, ConditionExpression=Attr("seq").lte(seq)
            )
            self.table.update_item(
                Key={"pk": order_key, "sk": HEADER},
                UpdateExpression="REMOVE push_pending_seq",
                ConditionExpression=Attr("push_pending_seq").lte(seq),
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise

    def needing_attention(self, kind: str, limit: int = 100) -> list[tuple[str, str]]:
        """(order key, since when) of the orders in ``kind`` (a status, or ``push_pending``), oldest first."""
        found: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {
            "IndexName": ATTENTION_INDEX,
            "KeyConditionExpression": Key("attention").eq(kind),
            "ScanIndexForward": True,
            "Limit": limit,
        }
        while len(found) < limit:
            page = self.table.query(**kwargs)
            found.extend((item["pk"], item.get("attention_since", "")) for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def attention_summary(self, kinds: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each kind: how many orders, and since when the oldest has waited (one count Query and
        one oldest-item Query per kind, whatever the number of orders)."""
        summary: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            count, kwargs = (
                0,
                {
                    "IndexName": ATTENTION_INDEX,
                    "KeyConditionExpression": Key("attention").eq(kind),
                    "Select": "COUNT",
                },
            )
            while True:
                page = self.table.query(**kwargs)
                count += int(page.get("Count", 0))
                if not page.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            oldest = self.needing_attention(kind, limit=1)
            summary[kind] = {
                "count": count,
                "oldest_order_key": oldest[0][0] if oldest else None,
                "oldest_since": oldest[0][1] if oldest else None,
            }
        return summary

    def recognise_echo(self, order_key: str, previous_status_id: int | None, new_status_id: int) -> bool:
        """True when a status change the store reports is one we pushed (and mark it seen, once)."""
        order = self.find_header(order_key)
        if order is None:
            return False
        for index, push in enumerate(order.pushes):
            if push.echoed or push.to_status_id != new_status_id:
                continue
            if previous_status_id is not None and push.from_status_id not in (None, previous_status_id):
                continue
            try:
                self.table.update_item(
                    Key={"pk": order_key, "sk": HEADER},
                    UpdateExpression=f"SET pushes[{index}].echoed = :yes",
                    ConditionExpression=Attr(f"pushes[{index}].echoed").eq(False)
                    & Attr(f"pushes[{index}].seq").eq(push.seq),
                    ExpressionAttributeValues={":yes": True},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    continue  # another delivery of the same webhook took it, or the list moved on
                raise
            return True
        return False

    def note_store_status(self, order_key: str, status_id: int) -> None:
        """What the store's status is now, as learnt from the store (a merchant's change)."""
        self.table.update_item(
            Key={"pk": order_key, "sk": HEADER},
            UpdateExpression="SET external_status_id = :status, updated_at = :at",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeValues={":status": status_id, ":at": clock.iso()},
        )

    def known_store_statuses(self, order_keys: Iterable[str]) -> dict[str, int | None]:
        """Which of these orders are imported, with the store status we last knew of each: one
        BatchGetItem per 100 orders, headers only, a few attributes each. An order accepted but not
        imported yet counts as imported only while its import waits for the store (so a sync does
        not start a second one); otherwise it is left out, to be imported."""
        keys = list(dict.fromkeys(order_keys))
        found: dict[str, int | None] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{"pk": key, "sk": HEADER} for key in keys[start : start + BATCH_GET_KEYS]],
                    "ProjectionExpression": "pk, external_status_id, #status, next_attempt_at",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ConsistentRead": True,  # an import may have finished a moment ago
                }
            }
            now = clock.iso()
            for attempt in range(8):
                answer = resource().batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    if item.get("status") in _UNIMPORTED and not (item.get("next_attempt_at") or "") > now:
                        continue
                    status = item.get("external_status_id")
                    found[item["pk"]] = int(status) if status is not None else None
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))  # throttled: DynamoDB hands back what it skipped
            else:
                raise RuntimeError("DynamoDB kept throttling the read of imported orders; try again")
        return found

    def statuses_of(self, order_keys: Iterable[str]) -> dict[str, str]:
        """Which of these orders we hold, in whatever state, with our status of each: one BatchGetItem
        per 100 orders, two attributes each."""
        keys = list(dict.fromkeys(order_keys))
        found: dict[str, str] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{"pk": key, "sk": HEADER} for key in keys[start : start + BATCH_GET_KEYS]],
                    "ProjectionExpression": "pk, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ConsistentRead": True,
                }
            }
            for attempt in range(8):
                answer = resource().batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found[item["pk"]] = str(item.get("status") or OrderStatus.NEW.value)
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise RuntimeError("DynamoDB kept throttling the read of our orders; try again")
        return found

    def find_header(self, order_key: str) -> Order | None:
        """The order without its lines (one GetItem)."""
        item = self.table.get_item(Key={"pk": order_key, "sk": HEADER}, ConsistentRead=True).get("Item")
        return _header(item) if item else None

    def record_step(self, result: StepResult) -> None:
        self.table.put_item(
            # details are free-form (distances, totals): floats must become Decimals for DynamoDB
            Item={"pk": result.order_key, "sk": step_sk(result), **storable(result.model_dump(mode="json"))}
        )

    # -- reading -------------------------------------------------------------------------------
    def find(self, order_key: str) -> Order | None:
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").between(LINES_PREFIX, HEADER))
        return order_from_items(items)

    def get(self, order_key: str) -> Order:
        order = self.find(order_key)
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        return order

    def get_with_steps(self, order_key: str) -> tuple[Order, list[StepResult]]:
        """The order and all its step results in one Query."""
        items = self.query_all(Key("pk").eq(order_key))
        order = order_from_items([i for i in items if not i["sk"].startswith(STEP_PREFIX)])
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        return order, _steps([i for i in items if i["sk"].startswith(STEP_PREFIX)])

    def execution_steps(
        self, order_key: str, flow_id: str, flow_version: int, execution: str
    ) -> list[StepResult]:
        """The step results one execution recorded (one Query on their common key prefix)."""
        prefix = f"{STEP_PREFIX}{flow_id}#{flow_version:04d}#{execution}#"
        return _steps(self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(prefix)))

    def step_results(self, order_key: str) -> list[StepResult]:
        return _steps(self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(STEP_PREFIX)))

    def recent(self, limit: int = 50, cursor: str | None = None) -> tuple[list[Order], str | None]:
        """Order headers, newest import first, without lines."""
        kwargs: dict[str, Any] = {
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": Key("entity").eq(ORDER_ENTITY),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.table.query(**kwargs)
        orders = [_header(item) for item in page.get("Items", [])]
        return orders, encode_cursor(page.get("LastEvaluatedKey"))

    def search(
        self,
        *,
        statuses: Iterable[str] = (),
        flow_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        budget: int | None = None,
    ) -> tuple[list[Order], str | None]:
        """Order headers, newest import first, with one of ``statuses`` (any when empty) and, with
        ``flow_id``, a step result of that flow. No index holds either, so the listing index is read
        with a filter: at most ``budget`` orders are looked at per call (a flow's check is a Query per
        order), so a page may hold fewer than ``limit`` orders and still have a ``next_cursor``."""
        wanted = sorted(set(statuses))
        if budget is None:
            budget = SEARCH_BUDGET if flow_id is None else FLOW_SEARCH_BUDGET
        kwargs: dict[str, Any] = {
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": Key("entity").eq(ORDER_ENTITY),
            "ScanIndexForward": False,
        }
        if wanted:
            kwargs["FilterExpression"] = Attr("status").is_in(wanted)
        start = _listing_key(cursor)
        found: list[dict[str, Any]] = []
        looked_at = 0
        while True:
            kwargs["Limit"] = max(1, min(SEARCH_PAGE, budget - looked_at))
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.table.query(**kwargs)
            looked_at += int(page.get("ScannedCount", 0))
            items = page.get("Items", [])
            if flow_id is not None:
                ran = self._ran_flow([item["pk"] for item in items], flow_id)
                items = [item for item in items if item["pk"] in ran]
            last = page.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                found.append(item)
                if len(found) == limit:
                    more = index < len(items) - 1 or bool(last)
                    return [_header(i) for i in found], _listing_cursor(item) if more else None
            if not last:
                return [_header(i) for i in found], None
            start = last
            if looked_at >= budget:
                return [_header(i) for i in found], encode_cursor(last)

    def _ran_flow(self, order_keys: list[str], flow_id: str) -> set[str]:
        """The orders among these with a step result of the flow (a one-item Query each, a few at once)."""
        prefix = f"{STEP_PREFIX}{flow_id}#"

        def ran(order_key: str) -> bool:
            page = self.table.query(
                KeyConditionExpression=Key("pk").eq(order_key) & Key("sk").begins_with(prefix),
                ProjectionExpression="pk",
                Limit=1,
            )
            return bool(page.get("Items"))

        if not order_keys:
            return set()
        with ThreadPoolExecutor(min(FLOW_CHECK_WORKERS, len(order_keys))) as pool:
            return {key for key, yes in zip(order_keys, pool.map(ran, order_keys), strict=True) if yes}

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _header_item(order: Order) -> dict[str, Any]:
        body = order.model_dump(mode="json", exclude={"lines", "record_version"})
        item = {
            "pk": order.order_key,
            "sk": HEADER,
            "entity": ORDER_ENTITY,
            # an order pending import is listed by when we accepted it
            "imported_sort": f"{order.imported_at or order.received_at}#{order.order_key}",
            "line_count": len(order.lines),
            "record_version": 1,
            **body,
        }
        if order.status in ATTENTION_STATUSES:
            item["attention"] = order.status.value
            item["attention_since"] = (
                order.updated_at or order.received_at or order.imported_at or clock.iso()
            )
        return item


_LISTING_KEY = ("entity", "imported_sort", "pk", "sk")


def _listing_cursor(item: dict[str, Any]) -> str | None:
    """A cursor that resumes the listing index right after this item."""
    return encode_cursor({name: item[name] for name in _LISTING_KEY})


def _listing_key(cursor: str | None) -> dict[str, Any] | None:
    """The cursor's key, when it is one of the listing index (anything else would reach DynamoDB)."""
    start = decode_cursor(cursor)
    if start is None:
        return None
    if set(start) != set(_LISTING_KEY) or not all(isinstance(v, str) and v for v in start.values()):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    if start["entity"] != ORDER_ENTITY or start["sk"] != HEADER:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return start


def _header(item: dict[str, Any]) -> Order:
    return Order.model_validate(plain(item))


def order_from_items(items: list[dict[str, Any]]) -> Order | None:
    header = next((i for i in items if i["sk"] == HEADER), None)
    if header is None:
        return None
    order = _header(header)
    lines = [line for item in items if item["sk"].startswith(LINES_PREFIX) for line in _unpacked(item)]
    order.lines = sorted(lines, key=lambda line: line.line_number)
    return order


def _steps(items: list[dict[str, Any]]) -> list[StepResult]:
    results = [StepResult.model_validate(plain(i)) for i in items]
    return sorted(results, key=lambda r: (r.started_at, r.finished_at))
