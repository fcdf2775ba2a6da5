"""The repositories of this deployment, by the table names in the environment (one per warm container)."""

from __future__ import annotations

import functools
import os

from orderflow.config import env
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
    return _orders(env("ORDERS_TABLE"))


def mappings() -> MappingRepository:
    return _mappings(env("MAPPINGS_TABLE"))


def settings() -> SettingsRepository:
    return _settings(env("SETTINGS_TABLE"))


def customers() -> CustomerRepository:
    return _customers(env("CUSTOMERS_TABLE"))


def items() -> ItemRepository:
    return _items(env("ITEMS_TABLE"))


def flows() -> FlowRepository:
    return _flows(env("FLOWS_TABLE"))


def sources() -> SourceRepository:
    return SourceRepository(env("FULFILLMENT_TABLE"))


def inventory() -> InventoryRepository:
    return InventoryRepository(env("FULFILLMENT_TABLE"))


def fulfillment_orders() -> FulfillmentOrderRepository:
    return FulfillmentOrderRepository(env("ORDERS_TABLE"), env("FULFILLMENT_TABLE"))


def sourcing() -> SourcingStore:
    return SourcingStore(env("FULFILLMENT_TABLE"), env("ORDERS_TABLE"))


def state_machines() -> StateMachineRepository:
    return StateMachineRepository(env("FLOW_STATE_MACHINE_PREFIX"), env("FLOW_EXECUTION_ROLE_ARN"))


def deliveries() -> DeliveryLedger:
    return _deliveries(
        env("WEBHOOK_DELIVERIES_TABLE"), int(os.environ.get("IDEMPOTENCY_WINDOW_SECONDS", "600"))
    )


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
