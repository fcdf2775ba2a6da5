"""Orders and their step results, in one table and one partition per order.

Items of an order (partition key ``pk`` = order key):
  ``sk = "LINE#00001"`` … one per line (an order of 2,000 lines stays far from the 400 KB item limit)
  ``sk = "ORDER"``          the header; also indexed by ``ByImportedAt`` for listing
  ``sk = "STEP#<flow>#<version>#<revision>#<step>"`` one per executed step
so one Query returns an order with its step results.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models import Order, OrderLine, OrderStatus, StatusChange, StepResult
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    plain,
)

HEADER = "ORDER"
LINE_PREFIX = "LINE#"
STEP_PREFIX = "STEP#"
LIST_INDEX = "ByImportedAt"
ORDER_ENTITY = "ORDER"


def _line_sk(line: OrderLine) -> str:
    return f"{LINE_PREFIX}{line.line_number:05d}"


def step_sk(result: StepResult, revision: int = 1) -> str:
    return f"{STEP_PREFIX}{result.flow_id}#{result.flow_version:04d}#{revision:03d}#{result.step}"


class OrderRepository(TableRepository):
    # -- writing -------------------------------------------------------------------------------
    def create(self, order: Order) -> bool:
        """Store a newly imported order; False (and nothing changed) when it is already stored.

        Lines go first and the header last, conditionally: readers only see an order once it is
        whole, and two concurrent imports of one order write identical lines and one header.
        """
        with self.table.batch_writer() as batch:
            for line in order.lines:
                batch.put_item(
                    Item={"pk": order.order_key, "sk": _line_sk(line), **line.model_dump(mode="json")}
                )
        try:
            self.table.put_item(
                Item=self._header_item(order),
                ConditionExpression=Attr("pk").not_exists(),
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def transition(self, order_key: str, status: OrderStatus, reason: str = "") -> Order:
        """Set the order's internal status and append it to the history, with optimistic locking."""
        for _ in range(5):
            order = self.get(order_key)
            at = clock.iso()
            history = [*order.history, StatusChange(status=status, at=at, reason=reason)]
            try:
                self.table.update_item(
                    Key={"pk": order_key, "sk": HEADER},
                    UpdateExpression="SET #status = :status, history = :history, updated_at = :at, "
                    "record_version = record_version + :one",
                    ConditionExpression=Attr("record_version").eq(order.record_version),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":status": status.value,
                        ":history": [h.model_dump(mode="json") for h in history],
                        ":at": at,
                        ":one": 1,
                    },
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    continue  # someone else changed the order meanwhile: read again and reapply
                raise
            return order.model_copy(
                update={
                    "status": status,
                    "history": history,
                    "updated_at": at,
                    "record_version": order.record_version + 1,
                }
            )
        raise Conflict(f"order {order_key} keeps changing; status {status.value} was not applied")

    def save_mapping(self, order: Order) -> None:
        """Store what a new mapping run resolved (account, price list, each line's values and issues).

        The lines are rewritten before the header changes, under the header's version: a
        concurrent change of the order makes this fail rather than be overwritten.
        """
        with self.table.batch_writer() as batch:
            for line in order.lines:
                batch.put_item(
                    Item={"pk": order.order_key, "sk": _line_sk(line), **line.model_dump(mode="json")}
                )
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

    def record_step(self, result: StepResult, revision: int = 1) -> None:
        self.table.put_item(
            Item={"pk": result.order_key, "sk": step_sk(result, revision), **result.model_dump(mode="json")}
        )

    # -- reading -------------------------------------------------------------------------------
    def find(self, order_key: str) -> Order | None:
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").lte(HEADER))
        return _assemble(items)

    def get(self, order_key: str) -> Order:
        order = self.find(order_key)
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        return order

    def get_with_steps(self, order_key: str) -> tuple[Order, list[StepResult]]:
        """The order and all its step results in one Query."""
        items = self.query_all(Key("pk").eq(order_key))
        order = _assemble([i for i in items if not i["sk"].startswith(STEP_PREFIX)])
        if order is None:
            raise NotFound(f"order {order_key} does not exist", field="order_key")
        return order, _steps([i for i in items if i["sk"].startswith(STEP_PREFIX)])

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

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _header_item(order: Order) -> dict[str, Any]:
        body = order.model_dump(mode="json", exclude={"lines", "record_version"})
        return {
            "pk": order.order_key,
            "sk": HEADER,
            "entity": ORDER_ENTITY,
            "imported_sort": f"{order.imported_at}#{order.order_key}",
            "line_count": len(order.lines),
            "record_version": 1,
            **body,
        }


def _header(item: dict[str, Any]) -> Order:
    return Order.model_validate(plain(item))


def _assemble(items: list[dict[str, Any]]) -> Order | None:
    header = next((i for i in items if i["sk"] == HEADER), None)
    if header is None:
        return None
    order = _header(header)
    lines = sorted((i for i in items if i["sk"].startswith(LINE_PREFIX)), key=lambda i: i["sk"])
    order.lines = [OrderLine.model_validate(plain(line)) for line in lines]
    return order


def _steps(items: list[dict[str, Any]]) -> list[StepResult]:
    results = [StepResult.model_validate(plain(i)) for i in items]
    return sorted(results, key=lambda r: (r.started_at, r.finished_at))
