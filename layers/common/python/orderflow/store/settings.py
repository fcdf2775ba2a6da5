"""Settings, one item per area (``bigcommerce`` today); missing settings read as their defaults."""

from __future__ import annotations

from typing import Any

from orderflow import clock
from orderflow.models import BigCommerceSettings
from orderflow.store.dynamo import table

BIGCOMMERCE = "bigcommerce"


class SettingsRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def table(self) -> Any:
        return table(self.table_name)

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
