"""Settings, one item per area (``bigcommerce`` today); missing settings read as their defaults.

The reconciliation's checkpoint lives here too, under its own item, so saving the merchant's
settings never touches it and a checkpoint write never clobbers the settings.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orderflow import clock
from orderflow.models.order import BigCommerceSettings
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

BIGCOMMERCE = "bigcommerce"
RECONCILE = "bigcommerce#reconcile"


class ReconcileProgress(BaseModel):
    """A listing a run could not finish in its time: the next run carries on from here, with the
    same lower bound, before the checkpoint may move."""

    model_config = ConfigDict(extra="ignore")

    since: str  # ISO-8601 UTC: the min_date_modified the listing started with
    after_id: int  # the last order id done; the listing goes on above it
    newest: str | None = None  # the newest date_modified seen so far (ISO-8601 UTC)
    started_at: str  # when the listing began (ISO-8601 UTC)
    attempt: str  # names the run's intakes: resuming does not start an order twice


class ReconcileState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checkpoint: str | None = None  # ISO-8601 UTC; orders modified before it were reconciled
    progress: ReconcileProgress | None = None
    last_run: dict[str, Any] = Field(default_factory=dict)  # the last finished run's counts
    updated_at: str = ""


class SettingsRepository(TableRepository):
    def bigcommerce(self) -> BigCommerceSettings:
        item = self.table.get_item(Key={"pk": BIGCOMMERCE}).get("Item")
        if not item:
            return BigCommerceSettings()
        return BigCommerceSettings.model_validate(item["value"])

    def save_bigcommerce(self, settings: BigCommerceSettings) -> BigCommerceSettings:
        self.table.put_item(
            Item={"pk": BIGCOMMERCE, "value": settings.model_dump(mode="json"), "updated_at": clock.iso()}
        )
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
