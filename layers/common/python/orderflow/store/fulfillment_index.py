"""What the provider callbacks keep beside sourcing's fulfillment orders (store/fulfillment.py), in
the order's partition of the Orders table.

Items (partition key ``pk`` = order key):
  ``sk = "FOEVENT#<fo id>#<event id>"`` a provider callback handled, with the answer it got
(not under ``FO#``, which sourcing's repository reads as fulfillment orders). A fulfillment order id
is ``<order key>-FO<n>``, so a callback naming only the id finds its order without an index.
"""

from __future__ import annotations

import re
from typing import Any

from orderflow import clock
from orderflow.errors import Conflict
from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderLine
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable
from orderflow.store.fulfillment import FO_PREFIX, fo_item

EVENT_PREFIX = "FOEVENT#"
_ID = re.compile(r"^(?P<order_key>.+)-FO\d+$")


def order_key_of(fulfillment_order_id: str) -> str | None:
    match = _ID.fullmatch(fulfillment_order_id)
    return match.group("order_key") if match else None


class FulfillmentEventStore(TableRepository):
    def add_fulfillment_order(self, fulfillment_order: FulfillmentOrder) -> None:
        """Store a fulfillment order as sourcing does, without reserving stock (tests and demos)."""
        self.table.put_item(Item=fo_item(fulfillment_order))

    def find_fulfillment_order(self, order_key: str, fulfillment_order_id: str) -> FulfillmentOrder | None:
        item = self.table.get_item(
            Key={"pk": order_key, "sk": f"{FO_PREFIX}{fulfillment_order_id}"}, ConsistentRead=True
        ).get("Item")
        return FulfillmentOrder.model_validate(plain(item)) if item else None

    def set_lines(self, current: FulfillmentOrder, lines: list[FulfillmentOrderLine]) -> FulfillmentOrder:
        """Record shipped quantities, if the fulfillment order is as this caller read it."""
        updated = current.model_copy(update={"lines": lines, "updated_at": clock.iso()})
        try:
            self.table.update_item(
                Key={"pk": current.order_key, "sk": f"{FO_PREFIX}{current.id}"},
                UpdateExpression="SET #lines = :lines, updated_at = :at",
                ConditionExpression="#status = :status",
                ExpressionAttributeNames={"#lines": "lines", "#status": "status"},
                ExpressionAttributeValues={
                    ":lines": storable([line.model_dump(mode="json") for line in lines]),
                    ":at": updated.updated_at,
                    ":status": current.status.value,
                },
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(
                    f"fulfillment order {current.id} changed meanwhile; send the event again",
                    field="fulfillment_order_id",
                ) from None
            raise
        return updated

    def event_answer(self, order_key: str, fulfillment_order_id: str, event_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(
            Key={"pk": order_key, "sk": _event_sk(fulfillment_order_id, event_id)}, ConsistentRead=True
        ).get("Item")
        return plain(item["answer"]) if item else None

    def record_event(
        self, order_key: str, fulfillment_order_id: str, event_id: str, answer: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep the answer of a handled event; if another delivery of it got there first, its answer."""
        try:
            self.table.put_item(
                Item={
                    "pk": order_key,
                    "sk": _event_sk(fulfillment_order_id, event_id),
                    "entity": "FULFILLMENT_EVENT",
                    "answer": storable(answer),
                    "at": clock.iso(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            earlier = self.event_answer(order_key, fulfillment_order_id, event_id)
            return earlier if earlier is not None else answer
        return answer


def _event_sk(fulfillment_order_id: str, event_id: str) -> str:
    return f"{EVENT_PREFIX}{fulfillment_order_id}#{event_id}"
