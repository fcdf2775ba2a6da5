"""Order sources, kept in the settings table under one item (a handful per merchant, read whole)."""

from __future__ import annotations

from typing import Any

from orderflow import clock
from orderflow.errors import Conflict
from orderflow.models.source import OrderSource
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

ORDER_SOURCES = "order_sources"
# Two operators saving at once: each write is conditioned on the revision it read, and tried again on
# a fresh read this many times before it answers 409.
_WRITE_TRIES = 3


class OrderSourceRepository(TableRepository):
    """One item (``pk = order_sources``) holding every configured order source by code and a revision;
    the built-in ones (BC, MANUAL) are not stored."""

    def all(self) -> list[OrderSource]:
        stored, _ = self._read()
        return [OrderSource.model_validate(stored[code]) for code in sorted(stored)]

    def find(self, code: str) -> OrderSource | None:
        stored, _ = self._read()
        found = stored.get(code)
        return OrderSource.model_validate(found) if found is not None else None

    def save(self, source: OrderSource) -> tuple[OrderSource, bool]:
        """Create or replace the source of its code; the source as stored, and whether it is new."""
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            now = clock.iso()
            previous = stored.get(source.code)
            saved = source.model_copy(
                update={"created_at": previous["created_at"] if previous else now, "updated_at": now}
            )
            stored[source.code] = saved.model_dump(mode="json", exclude_none=True)
            if self._write(stored, revision):
                return saved, previous is None
        raise Conflict("the order sources changed meanwhile; try again", field="code")

    def delete(self, code: str) -> bool:
        """Forget the source; False when there was none of that code."""
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            if stored.pop(code, None) is None:
                return False
            if self._write(stored, revision):
                return True
        raise Conflict("the order sources changed meanwhile; try again", field="code")

    def _read(self) -> tuple[dict[str, dict[str, Any]], int]:
        item = self.table.get_item(Key={"pk": ORDER_SOURCES}, ConsistentRead=True).get("Item")
        if not item:
            return {}, 0
        found = plain(item)
        return dict(found.get("sources") or {}), int(found.get("revision") or 0)

    def _write(self, stored: dict[str, dict[str, Any]], revision: int) -> bool:
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :revision"
        kwargs: dict[str, Any] = {
            "Item": storable({"pk": ORDER_SOURCES, "sources": stored, "revision": revision + 1}),
            "ConditionExpression": condition,
        }
        if revision:
            kwargs["ExpressionAttributeValues"] = {":revision": revision}
        try:
            self.table.put_item(**kwargs)
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
