"""Order sources, kept in the settings table under one item (a handful per merchant, read whole)."""

from __future__ import annotations

from orderflow.models.source import OrderSource
from orderflow.store.named_settings import NamedSettingsRepository

ORDER_SOURCES = "order_sources"


class OrderSourceRepository(NamedSettingsRepository[OrderSource]):
    """Every configured order source by code (``pk = order_sources``); the built-in ones (BC, MANUAL)
    are not stored."""

    MODEL = OrderSource
    PK = ORDER_SOURCES
    ATTRIBUTE = "sources"
    KEY_FIELD = "code"
    WHAT = "the order sources"
