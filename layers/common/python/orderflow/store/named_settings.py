"""A handful of named documents kept in the settings table under one item (read whole, written under its
revision): what configured providers and order sources share."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from orderflow import clock
from orderflow.errors import Conflict
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

Named = TypeVar("Named", bound=BaseModel)
# Two operators saving at once: each write is conditioned on the revision it read, and tried again on
# a fresh read this many times before it answers 409.
_WRITE_TRIES = 3


class NamedSettingsRepository(TableRepository, Generic[Named]):
    """One item (``pk = PK``) holding every document by its key (``KEY_FIELD``) under ``ATTRIBUTE``, and
    a revision: the functions that read it need GetItem and PutItem on the settings table, nothing more."""

    MODEL: ClassVar[type[BaseModel]]
    PK: ClassVar[str]
    ATTRIBUTE: ClassVar[str]
    KEY_FIELD: ClassVar[str]
    WHAT: ClassVar[str]  # "the providers", in the 409 of a write that kept losing

    def all(self) -> list[Named]:
        stored, _ = self._read()
        return [self._model(stored[key]) for key in sorted(stored)]

    def find(self, key: str) -> Named | None:
        stored, _ = self._read()
        found = stored.get(key)
        return self._model(found) if found is not None else None

    def save(self, document: Named) -> tuple[Named, bool]:
        """Create or replace the document of its key; the document as stored, and whether it is new."""
        key = str(getattr(document, self.KEY_FIELD))
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            now = clock.iso()
            previous = stored.get(key)
            saved = document.model_copy(
                update={"created_at": previous["created_at"] if previous else now, "updated_at": now}
            )
            stored[key] = saved.model_dump(mode="json", exclude_none=True)
            if self._write(stored, revision):
                return saved, previous is None
        raise Conflict(f"{self.WHAT} changed meanwhile; try again", field=self.KEY_FIELD)

    def delete(self, key: str) -> bool:
        """Forget the document; False when there was none of that key."""
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            if stored.pop(key, None) is None:
                return False
            if self._write(stored, revision):
                return True
        raise Conflict(f"{self.WHAT} changed meanwhile; try again", field=self.KEY_FIELD)

    def _model(self, data: dict[str, Any]) -> Named:
        return self.MODEL.model_validate(data)  # type: ignore[return-value]

    def _read(self) -> tuple[dict[str, dict[str, Any]], int]:
        item = self.table.get_item(Key={"pk": self.PK}, ConsistentRead=True).get("Item")
        if not item:
            return {}, 0
        found = plain(item)
        return dict(found.get(self.ATTRIBUTE) or {}), int(found.get("revision") or 0)

    def _write(self, stored: dict[str, dict[str, Any]], revision: int) -> bool:
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :revision"
        kwargs: dict[str, Any] = {
            "Item": storable({"pk": self.PK, self.ATTRIBUTE: stored, "revision": revision + 1}),
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
