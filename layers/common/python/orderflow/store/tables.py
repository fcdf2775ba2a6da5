"""The repositories of this deployment, by the table names in its settings (one per warm container)."""

from __future__ import annotations

import functools

from orderflow import config
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
from orderflow.store.settings import SettingsRepository
from orderflow.store.state_machines import StateMachineRepository


def orders() -> OrderRepository:
    return _orders(config.settings().need("orders_table"))


def mappings() -> MappingRepository:
    return _mappings(config.settings().need("mappings_table"))


def settings() -> SettingsRepository:
    return _settings(config.settings().need("settings_table"))


def customers() -> CustomerRepository:
    return _customers(config.settings().need("customers_table"))


def items() -> ItemRepository:
    return _items(config.settings().need("items_table"))


def flows() -> FlowRepository:
    return _flows(config.settings().need("flows_table"))


def sources() -> SourceRepository:
    return SourceRepository(config.settings().need("fulfillment_table"))


def inventory() -> InventoryRepository:
    return InventoryRepository(config.settings().need("fulfillment_table"))


def fulfillment_orders() -> FulfillmentOrderRepository:
    current = config.settings()
    return FulfillmentOrderRepository(current.need("orders_table"), current.need("fulfillment_table"))


def sourcing() -> SourcingStore:
    current = config.settings()
    return SourcingStore(current.need("fulfillment_table"), current.need("orders_table"))


def state_machines() -> StateMachineRepository:
    current = config.settings()
    return StateMachineRepository(
        current.need("flow_state_machine_prefix"), current.need("flow_execution_role_arn")
    )


def deliveries() -> DeliveryLedger:
    current = config.settings()
    return _deliveries(current.need("webhook_deliveries_table"), current.idempotency_window_seconds)


@functools.lru_cache(maxsize=4)
def _orders(name: str) -> OrderRepository:
    return OrderRepository(name)


@functools.lru_cache(maxsize=4)
def _mappings(name: str) -> MappingRepository:
    return MappingRepository(name)


@functools.lru_cache(maxsize=4)
def _settings(name: str) -> SettingsRepository:
    return SettingsRepository(name)


@functools.lru_cache(maxsize=4)
def _flows(name: str) -> FlowRepository:
    return FlowRepository(name)


@functools.lru_cache(maxsize=4)
def _customers(name: str) -> CustomerRepository:
    return CustomerRepository(name)


@functools.lru_cache(maxsize=4)
def _items(name: str) -> ItemRepository:
    return ItemRepository(name)


@functools.lru_cache(maxsize=4)
def _deliveries(name: str, window: int) -> DeliveryLedger:
    return DeliveryLedger(name, window)


def reset() -> None:
    for cached in (_orders, _mappings, _settings, _deliveries, _flows, _customers, _items):
        cached.cache_clear()
