"""Configured providers, kept in the settings table under one item (a handful per merchant, read whole)."""

from __future__ import annotations

from typing import Any

from orderflow import clock
from orderflow.errors import Conflict
from orderflow.models.provider import ConfiguredProvider
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

PROVIDERS = "providers"
# Two operators saving at once: each write is conditioned on the revision it read, and tried again on
# a fresh read this many times before it answers 409.
_WRITE_TRIES = 3


class ConfiguredProviderRepository(TableRepository):
    """One item (``pk = providers``) holding every configured provider by name and a revision: the
    functions that read it are allowed GetItem and PutItem on the settings table, nothing more."""

    def all(self) -> list[ConfiguredProvider]:
        stored, _ = self._read()
        return [ConfiguredProvider.model_validate(stored[name]) for name in sorted(stored)]

    def find(self, name: str) -> ConfiguredProvider | None:
        stored, _ = self._read()
        found = stored.get(name)
        return ConfiguredProvider.model_validate(found) if found is not None else None

    def save(self, provider: ConfiguredProvider) -> tuple[ConfiguredProvider, bool]:
        """Create or replace the provider of its name; the provider as stored, and whether it is new."""
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            now = clock.iso()
            previous = stored.get(provider.name)
            saved = provider.model_copy(
                update={"created_at": previous["created_at"] if previous else now, "updated_at": now}
            )
            stored[provider.name] = saved.model_dump(mode="json", exclude_none=True)
            if self._write(stored, revision):
                return saved, previous is None
        raise Conflict("the providers changed meanwhile; try again", field="name")

    def delete(self, name: str) -> bool:
        """Forget the provider; False when there was none of that name."""
        for _ in range(_WRITE_TRIES):
            stored, revision = self._read()
            if stored.pop(name, None) is None:
                return False
            if self._write(stored, revision):
                return True
        raise Conflict("the providers changed meanwhile; try again", field="name")

    def _read(self) -> tuple[dict[str, dict[str, Any]], int]:
        item = self.table.get_item(Key={"pk": PROVIDERS}, ConsistentRead=True).get("Item")
        if not item:
            return {}, 0
        found = plain(item)
        return dict(found.get("providers") or {}), int(found.get("revision") or 0)

    def _write(self, stored: dict[str, dict[str, Any]], revision: int) -> bool:
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :revision"
        kwargs: dict[str, Any] = {
            "Item": storable({"pk": PROVIDERS, "providers": stored, "revision": revision + 1}),
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
