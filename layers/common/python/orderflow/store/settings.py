"""Settings, one item per area (``bigcommerce`` today); missing settings read as their defaults.

Every step of every order reads the connector's settings, and merchants seldom change them: each
process keeps what it read for ``KEPT_SECONDS``, so a change made through ``PUT /settings/bigcommerce``
reaches running functions within 30 s (at once in the process that made it, whose write replaces its
kept copy).

The reconciliation's checkpoint lives here too, under its own item, so saving the merchant's
settings never touches it and a checkpoint write never clobbers the settings; it and the leases
are always read afresh.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orderflow import clock
from orderflow.models.order import BigCommerceSettings
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

BIGCOMMERCE = "bigcommerce"
RECONCILE = "bigcommerce#reconcile"
# How long a process serves the settings it read: how long a change made elsewhere may take to be seen.
KEPT_SECONDS = 30.0


class ReconcileProgress(BaseModel):
    """A listing a run could not finish in its time: the next run carries on from here, with the
    same lower bound, before the checkpoint may move."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    since: str  # ISO-8601 UTC: the min_date_modified the listing started with
    after_id: int  # the last order id done; the listing goes on above it
    newest: str | None = None  # the newest date_modified seen so far (ISO-8601 UTC)
    started_at: str  # when the listing began (ISO-8601 UTC)
    attempt: str  # names the run's intakes: resuming does not start an order twice


class ReconcileState(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    checkpoint: str | None = None  # ISO-8601 UTC; orders modified before it were reconciled
    progress: ReconcileProgress | None = None
    last_run: dict[str, Any] = Field(default_factory=dict)  # the last finished run's counts
    updated_at: str = ""


class SettingsRepository(TableRepository):
    def bigcommerce(self, *, fresh: bool = False) -> BigCommerceSettings:
        """The connector's settings as this process keeps them (read at most ``KEPT_SECONDS`` ago);
        ``fresh``: read from the table now (and kept)."""
        kept = None if fresh else _KEPT.get(self.table_name, BIGCOMMERCE)
        if kept is None:
            writes = _KEPT.writes(self.table_name, BIGCOMMERCE)
            item = self.table.get_item(Key={"pk": BIGCOMMERCE}, ConsistentRead=True).get("Item")
            kept = BigCommerceSettings.model_validate(item["value"]) if item else BigCommerceSettings()
            _KEPT.put(self.table_name, BIGCOMMERCE, kept, unless_written_since=writes)
        # a copy: what a caller changes in its settings is not what the next caller reads
        return kept.model_copy(deep=True)

    def save_bigcommerce(self, settings: BigCommerceSettings) -> BigCommerceSettings:
        self.table.put_item(
            Item={"pk": BIGCOMMERCE, "value": settings.model_dump(mode="json"), "updated_at": clock.iso()}
        )
        _KEPT.written(self.table_name, BIGCOMMERCE, settings.model_copy(deep=True))
        return settings

    # -- reconciliation checkpoint -----------------------------------------------------------------
    def reconcile_state(self) -> ReconcileState:
        item = self.table.get_item(Key={"pk": RECONCILE}, ConsistentRead=True).get("Item")
        return ReconcileState.model_validate(plain(item)) if item else ReconcileState()

    def save_reconcile_state(self, state: ReconcileState) -> bool:
        """Store the state; False (nothing written) when the stored checkpoint is newer than this
        one: a late, overlapping run must not move the checkpoint back (orders would be listed
        again, harmlessly, but the newer run's progress would be lost)."""
        item: dict[str, Any] = {
            "pk": RECONCILE,
            **state.model_dump(mode="json", exclude_none=True),
            "updated_at": clock.iso(),
        }
        kwargs: dict[str, Any] = {
            "Item": storable(item),
            "ConditionExpression": "attribute_not_exists(checkpoint)",
        }
        if state.checkpoint is not None:
            # ISO-8601 UTC strings of one shape order like the instants they name.
            kwargs["ConditionExpression"] += " OR checkpoint <= :checkpoint"
            kwargs["ExpressionAttributeValues"] = {":checkpoint": state.checkpoint}
        try:
            self.table.put_item(**kwargs)
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # -- one run at a time -------------------------------------------------------------------------
    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` (or until released); False while another holder has it.
        A run that dies lets its lease run out rather than blocking the next one for ever."""
        now = time.time()
        try:
            self.table.put_item(
                Item={"pk": f"lease#{name}", "holder": holder, "expires_at": Decimal(str(now + seconds))},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :holder",
                ExpressionAttributeValues={":now": Decimal(str(now)), ":holder": holder},
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def release_lease(self, name: str, holder: str) -> None:
        try:
            self.table.delete_item(
                Key={"pk": f"lease#{name}"},
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":holder": holder},
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise


@dataclass
class _KeptSettings:
    """Settings items this process read, by table and item, each with when it was read (monotonic).
    Shared by the threads of the process (the local runtime runs its functions on threads)."""

    _kept: dict[tuple[str, str], tuple[float, BigCommerceSettings]] = field(default_factory=dict)
    # writes through this process per item: a read that a write overtook does not replace what it wrote
    _writes: dict[tuple[str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, table: str, pk: str) -> BigCommerceSettings | None:
        with self._lock:
            kept = self._kept.get((table, pk))
            if kept is None or time.monotonic() - kept[0] >= KEPT_SECONDS:
                return None
            return kept[1]

    def writes(self, table: str, pk: str) -> int:
        with self._lock:
            return self._writes.get((table, pk), 0)

    def put(self, table: str, pk: str, value: BigCommerceSettings, *, unless_written_since: int) -> None:
        with self._lock:
            if self._writes.get((table, pk), 0) == unless_written_since:
                self._kept[(table, pk)] = (time.monotonic(), value)

    def written(self, table: str, pk: str, value: BigCommerceSettings) -> None:
        with self._lock:
            self._writes[(table, pk)] = self._writes.get((table, pk), 0) + 1
            self._kept[(table, pk)] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()  # the write counts stay: a read under way still sees it was overtaken


_KEPT = _KeptSettings()


def forget_kept_settings() -> None:
    """Drop the settings this process keeps: the next read goes to the table (a test that changed
    them behind the repository's back, a local runtime starting on fresh tables)."""
    _KEPT.clear()
