"""Returns of an order, kept in the order's partition of the Orders table (``sk = "RETURN#<id>"``), with
a pointer item (``pk = "RETURN#<id>"``) so a provider's callback finds a return by its id alone.

A return and the quantities it takes from the order's lines (``returned``: never more than shipped
minus what other returns took) are written in one transaction, like shipments. Later changes are
compare-and-set on the return's ``version``; what a change does to the lines (a rejected return gives
its quantities back; a refund adds to ``refunded``) is written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.returns import Return, ReturnStatus
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, resource, storable
from orderflow.store.orders import REFUNDED, RETURNED, SHIPPED, by_lines_item

RETURN_PREFIX = "RETURN#"
POINTER_SK = "RETURN"


class ReturnExists(Exception):
    """A return with that id exists already (this order's, or another's)."""

    def __init__(self, return_id: str) -> None:
        super().__init__(return_id)
        self.return_id = return_id


class LinesTaken(Exception):
    """A line no longer has the quantity the return wants: shipped less returned is smaller now."""


def returned_held(ret: Return) -> dict[int, int]:
    """What the return counts on the lines' ``returned``: its quantities, until it is rejected. A
    refund made in the store is not a return of goods: it counts on ``refunded`` only."""
    if ret.origin == "store" or ret.status == ReturnStatus.REJECTED:
        return {}
    return ret.quantities()


def refunded_held(ret: Return) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in ret.lines:
        if line.quantity_refunded:
            counts[line.line_number] = counts.get(line.line_number, 0) + line.quantity_refunded
    return counts


class ReturnRepository(TableRepository):
    """Returns in the Orders table (the table of ``OrderRepository``)."""

    def create(self, ret: Return, shipped: dict[int, int], returned: dict[int, int], revision: int) -> Return:
        """Store a new return and take its quantities on the lines, all or nothing. ``shipped`` and
        ``returned`` are the lines' quantities as read (in the order's ``revision``): the write holds
        only while shipped has not shrunk and returned has not grown past what leaves room."""
        at = clock.iso()
        stored = ret.model_copy(update={"created_at": at, "updated_at": at, "version": 1})
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._item(stored),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": f"{RETURN_PREFIX}{ret.return_id}",
                        "sk": POINTER_SK,
                        "order_key": ret.order_key,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        held = returned_held(stored)
        refunded = refunded_held(stored)
        for sk, numbers in by_lines_item([*held, *refunded]).items():
            actions.append(
                self._lines_take(
                    stored.order_key,
                    sk,
                    {
                        n: (held.get(n, 0), shipped.get(n, 0), returned.get(n, 0))
                        for n in numbers
                        if n in held
                    },
                    {n: refunded[n] for n in numbers if n in refunded},
                    revision,
                )
            )
        try:
            resource().meta.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[:2]):
                raise ReturnExists(ret.return_id) from None
            if not reasons and self.find(ret.return_id) is not None:
                raise ReturnExists(ret.return_id) from None
            raise LinesTaken(ret.return_id) from None
        return stored

    def order_key_of(self, return_id: str) -> str | None:
        item = self.table.get_item(
            Key={"pk": f"{RETURN_PREFIX}{return_id}", "sk": POINTER_SK}, ConsistentRead=True
        ).get("Item")
        return str(item["order_key"]) if item else None

    def find(self, return_id: str, order_key: str | None = None) -> Return | None:
        key = order_key or self.order_key_of(return_id)
        if key is None:
            return None
        item = self.table.get_item(
            Key={"pk": key, "sk": f"{RETURN_PREFIX}{return_id}"}, ConsistentRead=True
        ).get("Item")
        return _return(item) if item else None

    def get(self, return_id: str, order_key: str | None = None) -> Return:
        found = self.find(return_id, order_key)
        if found is None:
            raise NotFound(f"return {return_id} does not exist", field="return_id")
        return found

    def for_order(self, order_key: str) -> list[Return]:
        """The order's returns, oldest first."""
        items = self.query_all(
            Key("pk").eq(order_key) & Key("sk").begins_with(RETURN_PREFIX), ConsistentRead=True
        )
        return sorted((_return(i) for i in items), key=lambda r: (r.created_at, r.return_id))

    def update(
        self,
        return_id: str,
        change: Callable[[Return], Return],
        order_key: str | None = None,
        *,
        also: list[dict[str, Any]] | None = None,
    ) -> Return:
        """Apply ``change`` to the stored return and write it if nobody wrote it meanwhile (else read
        again and re-apply). ``change`` may raise to give up. What the change does to the quantities
        the return counts on the lines (returned given back, refunded added), and ``also`` (transaction
        items of other tables: a restock), are written with it, once."""
        key = order_key
        for _ in range(5):
            current = self.get(return_id, key)
            key = current.order_key
            changed = change(current)
            if changed == current:
                return current
            updated = changed.model_copy(update={"version": current.version + 1, "updated_at": clock.iso()})
            put = {
                "TableName": self.table_name,
                "Item": self._item(updated),
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": current.version},
            }
            deltas = _deltas(current, updated)
            try:
                if deltas or also:
                    actions = [{"Put": put}]
                    actions += [
                        self._lines_adjust(key, sk, {n: deltas[n] for n in numbers})
                        for sk, numbers in by_lines_item(deltas).items()
                    ]
                    actions += also or []
                    resource().meta.client.transact_write_items(TransactItems=actions)
                else:
                    self.table.put_item(**{k: v for k, v in put.items() if k != "TableName"})
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[1:]):
                    raise Conflict(
                        f"order {key}: its lines no longer hold what return {return_id} counts on them",
                        field="return_id",
                    ) from None
                continue  # the return changed meanwhile: read it again
            return updated
        raise Conflict(f"return {return_id} keeps changing; ask again", field="return_id")

    # -- helpers -------------------------------------------------------------------------------
    def _item(self, ret: Return) -> dict[str, Any]:
        return {
            "pk": ret.order_key,
            "sk": f"{RETURN_PREFIX}{ret.return_id}",
            **storable(ret.model_dump(mode="json")),
        }

    def _lines_take(
        self,
        order_key: str,
        sk: str,
        takes: dict[int, tuple[int, int, int]],
        refunds: dict[int, int],
        revision: int,
    ) -> dict[str, Any]:
        # returned + q <= shipped, written (a condition cannot add) as: returned <= shipped_read - q and
        # shipped >= shipped_read, shipped only ever shrinking when a shipment is refused.
        names: dict[str, str] = {"#revision": "revision"}
        if takes:
            names.update({"#r": RETURNED, "#s": SHIPPED})
        if refunds:
            names["#f"] = REFUNDED
        values: dict[str, Any] = {":revision": revision}
        sets, conditions = [], ["#revision = :revision"]
        for i, (number, (quantity, shipped, _returned)) in enumerate(takes.items()):
            names[f"#n{i}"] = str(number)
            values.update({f":q{i}": quantity, f":m{i}": shipped - quantity, f":s{i}": shipped})
            sets.append(f"#r.#n{i} = if_not_exists(#r.#n{i}, :zero) + :q{i}")
            conditions.append(f"(attribute_not_exists(#r.#n{i}) OR #r.#n{i} <= :m{i}) AND #s.#n{i} >= :s{i}")
        for i, (number, quantity) in enumerate(refunds.items()):
            names[f"#k{i}"] = str(number)
            values[f":f{i}"] = quantity
            sets.append(f"#f.#k{i} = if_not_exists(#f.#k{i}, :zero) + :f{i}")
        values[":zero"] = 0
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": order_key, "sk": sk},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _lines_adjust(self, order_key: str, sk: str, deltas: dict[int, tuple[int, int]]) -> dict[str, Any]:
        names: dict[str, str] = {}
        if any(returned for returned, _ in deltas.values()):
            names["#r"] = RETURNED
        if any(refunded for _, refunded in deltas.values()):
            names["#f"] = REFUNDED
        values: dict[str, Any] = {":zero": 0}
        sets, conditions = [], []
        for i, (number, (returned, refunded)) in enumerate(deltas.items()):
            names[f"#n{i}"] = str(number)
            if returned:
                values[f":r{i}"] = returned
                sets.append(f"#r.#n{i} = if_not_exists(#r.#n{i}, :zero) + :r{i}")
                if returned < 0:
                    values[f":g{i}"] = -returned
                    conditions.append(f"#r.#n{i} >= :g{i}")
            if refunded:
                values[f":f{i}"] = refunded
                sets.append(f"#f.#n{i} = if_not_exists(#f.#n{i}, :zero) + :f{i}")
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": order_key, "sk": sk},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}


def _deltas(before: Return, after: Return) -> dict[int, tuple[int, int]]:
    """Per line number: (change of returned, change of refunded) between two versions of a return."""
    held_before, held_after = returned_held(before), returned_held(after)
    refunded_before, refunded_after = refunded_held(before), refunded_held(after)
    deltas: dict[int, tuple[int, int]] = {}
    for number in {*held_before, *held_after, *refunded_before, *refunded_after}:
        change = (
            held_after.get(number, 0) - held_before.get(number, 0),
            refunded_after.get(number, 0) - refunded_before.get(number, 0),
        )
        if change != (0, 0):
            deltas[number] = change
    return deltas


def _return(item: dict[str, Any]) -> Return:
    return Return.model_validate(plain(item))
