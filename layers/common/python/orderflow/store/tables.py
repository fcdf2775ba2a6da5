"""The repositories of this deployment, by the table names in its settings (one per warm container)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from orderflow import config

# Each repository module is imported by the factory that builds it, so a function loads only the
# repositories it uses (and their models): cold start grows with what a function does, not with
# everything the package holds.
if TYPE_CHECKING:
    from orderflow.store.customers import CustomerRepository
    from orderflow.store.deliveries import DeliveryLedger
    from orderflow.store.flows import FlowRepository
    from orderflow.store.fulfillment import (
        FulfillmentOrderRepository,
        InventoryRepository,
        SourceRepository,
        SourcingStore,
    )
    from orderflow.store.items import ItemRepository
    from orderflow.store.mappings import MappingRepository
    from orderflow.store.orders import OrderRepository
    from orderflow.store.providers import ConfiguredProviderRepository
    from orderflow.store.returns import ReturnRepository
    from orderflow.store.settings import SettingsRepository
    from orderflow.store.sources import OrderSourceRepository
    from orderflow.store.state_machines import StateMachineRepository


def orders() -> OrderRepository:
    return _orders(config.settings().need("orders_table"))


def returns() -> ReturnRepository:
    """Returns of orders, kept in the orders table."""
    from orderflow.store.returns import ReturnRepository

    return ReturnRepository(config.settings().need("orders_table"))


def mappings() -> MappingRepository:
    return _mappings(config.settings().need("mappings_table"))


def settings() -> SettingsRepository:
    return _settings(config.settings().need("settings_table"))


def configured_providers() -> ConfiguredProviderRepository:
    """The configured providers, kept in the settings table."""
    from orderflow.store.providers import ConfiguredProviderRepository

    return ConfiguredProviderRepository(config.settings().need("settings_table"))


def order_sources() -> OrderSourceRepository:
    """Where orders come from (/sources), kept in the settings table; not the fulfillment sources."""
    from orderflow.store.sources import OrderSourceRepository

    return OrderSourceRepository(config.settings().need("settings_table"))


def customers() -> CustomerRepository:
    return _customers(config.settings().need("customers_table"))


def items() -> ItemRepository:
    return _items(config.settings().need("items_table"))


def flows() -> FlowRepository:
    return _flows(config.settings().need("flows_table"))


def sources() -> SourceRepository:
    from orderflow.store.fulfillment import SourceRepository

    return SourceRepository(config.settings().need("fulfillment_table"))


def inventory() -> InventoryRepository:
    from orderflow.store.fulfillment import InventoryRepository

    return InventoryRepository(config.settings().need("fulfillment_table"))


def fulfillment_orders() -> FulfillmentOrderRepository:
    from orderflow.store.fulfillment import FulfillmentOrderRepository

    current = config.settings()
    return FulfillmentOrderRepository(current.need("orders_table"), current.need("fulfillment_table"))


def sourcing() -> SourcingStore:
    from orderflow.store.fulfillment import SourcingStore

    current = config.settings()
    return SourcingStore(current.need("fulfillment_table"), current.need("orders_table"))


def state_machines() -> StateMachineRepository:
    from orderflow.store.state_machines import StateMachineRepository

    current = config.settings()
    return StateMachineRepository(
        current.need("flow_state_machine_prefix"), current.need("flow_execution_role_arn")
    )


def deliveries() -> DeliveryLedger:
    current = config.settings()
    return _deliveries(current.need("webhook_deliveries_table"), current.idempotency_window_seconds)


@functools.lru_cache(maxsize=4)
def _orders(name: str) -> OrderRepository:
    from orderflow.store.orders import OrderRepository

    return OrderRepository(name)


@functools.lru_cache(maxsize=4)
def _mappings(name: str) -> MappingRepository:
    from orderflow.store.mappings import MappingRepository

    return MappingRepository(name)


@functools.lru_cache(maxsize=4)
def _settings(name: str) -> SettingsRepository:
    from orderflow.store.settings import SettingsRepository

    return SettingsRepository(name)


@functools.lru_cache(maxsize=4)
def _flows(name: str) -> FlowRepository:
    from orderflow.store.flows import FlowRepository

    return FlowRepository(name)


@functools.lru_cache(maxsize=4)
def _customers(name: str) -> CustomerRepository:
    from orderflow.store.customers import CustomerRepository

    return CustomerRepository(name)


@functools.lru_cache(maxsize=4)
def _items(name: str) -> ItemRepository:
    from orderflow.store.items import ItemRepository

    return ItemRepository(name)


@functools.lru_cache(maxsize=4)
def _deliveries(name: str, window: int) -> DeliveryLedger:
    from orderflow.store.deliveries import DeliveryLedger

    return DeliveryLedger(name, window)


def reset() -> None:
    for cached in (_orders, _mappings, _settings, _deliveries, _flows, _customers, _items):
        cached.cache_clear()
