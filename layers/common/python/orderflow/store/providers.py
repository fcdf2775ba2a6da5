"""Configured providers, kept in the settings table under one item (a handful per merchant, read whole)."""

from __future__ import annotations

from orderflow.models.provider import ConfiguredProvider
from orderflow.store.named_settings import NamedSettingsRepository

PROVIDERS = "providers"


class ConfiguredProviderRepository(NamedSettingsRepository[ConfiguredProvider]):
    """Every configured provider by name (``pk = providers``)."""

    MODEL = ConfiguredProvider
    PK = PROVIDERS
    ATTRIBUTE = "providers"
    KEY_FIELD = "name"
    WHAT = "the providers"
