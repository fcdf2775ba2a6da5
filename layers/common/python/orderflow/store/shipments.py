"""Shipments of an order, kept in the order's partition of the Orders table (``sk = "SHIPMENT#<id>"``).

A shipment and the quantities it takes from the order's lines are written in one transaction (one
write per item of lines, see store/orders.py), each line under the condition that it never ships more
than was ordered: concurrent shipments cannot over-ship. Later changes are compare-and-set on the shipment's ``version``; a change that gives
quantities back (BigCommerce refused the shipment) takes them off the lines in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.order import Order
from orderflow.models.shipment import (
    Shipment,
)
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, resource
from orderflow.store.orders import SHIPPED, by_lines_item, order_from_items

SHIPMENT_PREFIX = "SHIPMENT#"
# Sorts after every SHIPMENT# key and before STEP#: one Query reads lines, header and shipments.
_AFTER_SHIPMENTS = "SHIPMENT$"


class ShipmentExists(Exception):
    """A shipment with that id was recorded for the order already."""


class LinesTaken(Exception):
    """A line no longer has the quantity the shipment wants (another shipment took it meanwhile)."""


class ShipmentRepository(TableRepository):
    """Shipments in the Orders table (the table of ``OrderRepository``)."""

    def record(self, shipment: Shipment, ordered: dict[int, int], revision: int) -> Shipment:
        """Store a new shipment and add its quantities to the lines' ``quantity_shipped``, all or
        nothing. ``ordered`` is each shipped line's ordered quantity (line number → quantity) in the
        order's ``revision`` read: a re-import meanwhile (which may change them) fails the write."""
        at = clock.iso()
        stored = shipment.model_copy(update={"created_at": at, "updated_at": at, "version": 1})
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._item(stored),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        held = stored.held()
        for sk, numbers in by_lines_item(held).items():
            actions.append(
                self._lines_change(
                    stored.order_key, sk, {n: (held[n], ordered[n]) for n in numbers}, revision
                )
            )
        try:
            resource().meta.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise ShipmentExists(shipment.id) from None
            if not reasons and self.find(shipment.order_key, shipment.id) is not None:
                raise ShipmentExists(shipment.id) from None
            raise LinesTaken(shipment.id) from None
        return stored

    def find(self, order_key: str, shipment_id: str) -> Shipment | None:
        item = self.table.get_item(
            Key={"pk": order_key, "sk": f"{SHIPMENT_PREFIX}{shipment_id}"}, ConsistentRead=True
        ).get("Item")
        return _shipment(item) if item else None

    def get(self, order_key: str, shipment_id: str) -> Shipment:
        shipment = self.find(order_key, shipment_id)
        if shipment is None:
            raise NotFound(f"order {order_key} has no shipment {shipment_id}", field="shipment_id")
        return shipment

    def for_order(self, order_key: str) -> list[Shipment]:
        """The order's shipments, oldest first."""
        items = self.query_all(
            Key("pk").eq(order_key) & Key("sk").begins_with(SHIPMENT_PREFIX), ConsistentRead=True
        )
        return sorted((_shipment(i) for i in items), key=lambda s: (s.created_at, s.id))

    def order_with_shipments(self, order_key: str) -> tuple[Order, list[Shipment]]:
        """The order (with its lines) and its shipments in one Query: the lines' quantities and the
        shipments' states are read together, which the order's status is computed from."""
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").lt(_AFTER_SHIPMENTS), ConsistentRead=True)
        order = order_from_items([i for i in items if not i["sk"].startswith(SHIPMENT_PREFIX)])
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        shipments = [_shipment(i) for i in items if i["sk"].startswith(SHIPMENT_PREFIX)]
        return order, sorted(shipments, key=lambda s: (s.created_at, s.id))

    def update(self, order_key: str, shipment_id: str, change: Callable[[Shipment], Shipment]) -> Shipment:
        """Apply ``change`` to the stored shipment and write it if nobody wrote it meanwhile (else
        read again and re-apply). ``change`` may raise to give up. Quantities the change stops holding
        are taken off the lines in the same transaction, so they are released exactly once."""
        for _ in range(5):
            current = self.get(order_key, shipment_id)
            changed = change(current)
            if changed == current:
                return current
            updated = changed.model_copy(update={"version": current.version + 1, "updated_at": clock.iso()})
            released = current.held() - updated.held()
            put = {
                "TableName": self.table_name,
                "Item": self._item(updated),
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": current.version},
            }
            try:
                if released:
                    actions = [{"Put": put}]
                    actions += [
                        self._lines_release(order_key, sk, {n: released[n] for n in numbers})
                        for sk, numbers in by_lines_item(released).items()
                    ]
                    resource().meta.client.transact_write_items(TransactItems=actions)
                else:
                    self.table.put_item(**{k: v for k, v in put.items() if k != "TableName"})
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[1:]):
                    # The lines hold less than this shipment counted on them: something rewrote them.
                    raise Conflict(
                        f"order {order_key}: the lines no longer hold the quantities of shipment "
                        f"{shipment_id}, so they were not released",
                        field="shipment_id",
                    ) from None
                continue  # the shipment changed meanwhile: read it again
            return updated
        raise Conflict(f"shipment {shipment_id} keeps changing; ask again", field="shipment_id")

    # -- helpers -------------------------------------------------------------------------------
    def _item(self, shipment: Shipment) -> dict[str, Any]:
        return {
            "pk": shipment.order_key,
            "sk": f"{SHIPMENT_PREFIX}{shipment.id}",
            **shipment.model_dump(mode="json"),
        }

    def _lines_change(
        self, order_key: str, sk: str, changes: dict[int, tuple[int, int]], revision: int
    ) -> dict[str, Any]:
        # shipped + q <= ordered, written as shipped <= ordered - q (a condition cannot add); pinning
        # the revision keeps the ordered quantities those of the revision read.
        names = {"#s": SHIPPED, "#revision": "revision", **{f"#n{i}": str(n) for i, n in enumerate(changes)}}
        values: dict[str, Any] = {":revision": revision}
        sets, conditions = [], ["#revision = :revision"]
        for i, (quantity, ordered) in enumerate(changes.values()):
            values.update({f":q{i}": quantity, f":m{i}": ordered - quantity})
            sets.append(f"#s.#n{i} = #s.#n{i} + :q{i}")
            conditions.append(f"#s.#n{i} <= :m{i}")
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

    def _lines_release(self, order_key: str, sk: str, released: dict[int, int]) -> dict[str, Any]:
        names = {"#s": SHIPPED, **{f"#n{i}": str(n) for i, n in enumerate(released)}}
        values = {f":q{i}": quantity for i, quantity in enumerate(released.values())}
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": order_key, "sk": sk},
                "UpdateExpression": "SET "
                + ", ".join(f"#s.#n{i} = #s.#n{i} - :q{i}" for i in range(len(values))),
                "ConditionExpression": " AND ".join(f"#s.#n{i} >= :q{i}" for i in range(len(values))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def _shipment(item: dict[str, Any]) -> Shipment:
    return Shipment.model_validate(plain(item))
