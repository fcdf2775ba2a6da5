"""Settings, one item per area (``bigcommerce`` today); missing settings read as their defaults."""

from __future__ import annotations

from orderflow import clock
from orderflow.models import BigCommerceSettings
from orderflow.store.dynamo import TableRepository

BIGCOMMERCE = "bigcommerce"


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
