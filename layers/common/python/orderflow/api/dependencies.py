"""The repositories the routes are given (``orders: Orders``): the deployment's tables, which a test swaps
through ``app.dependency_overrides[dependencies.orders]``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends

from orderflow.store import tables
from orderflow.store.customers import CustomerRepository
from orderflow.store.deliveries import DeliveryLedger
from orderflow.store.flows import FlowRepository
from orderflow.store.fulfillment import FulfillmentOrderRepository, InventoryRepository, SourceRepository
from orderflow.store.items import ItemRepository
from orderflow.store.mappings import MappingRepository
from orderflow.store.orders import OrderRepository
from orderflow.store.providers import ConfiguredProviderRepository
from orderflow.store.returns import ReturnRepository
from orderflow.store.settings import SettingsRepository
from orderflow.store.shipments import ShipmentRepository
from orderflow.store.sources import OrderSourceRepository
from orderflow.store.state_machines import StateMachineRepository


def orders() -> OrderRepository:
    return tables.orders()


def mappings() -> MappingRepository:
    return tables.mappings()


def settings() -> SettingsRepository:
    return tables.settings()


def configured_providers() -> ConfiguredProviderRepository:
    return tables.configured_providers()


def order_sources() -> OrderSourceRepository:
    return tables.order_sources()


def customers() -> CustomerRepository:
    return tables.customers()


def items() -> ItemRepository:
    return tables.items()


def flows() -> FlowRepository:
    return tables.flows()


def sources() -> SourceRepository:
    return tables.sources()


def inventory() -> InventoryRepository:
    return tables.inventory()


def fulfillment_orders() -> FulfillmentOrderRepository:
    return tables.fulfillment_orders()


def state_machines() -> StateMachineRepository:
    return tables.state_machines()


def deliveries() -> DeliveryLedger:
    return tables.deliveries()


Orders = Annotated[OrderRepository, Depends(orders)]


def shipments(order_repository: Orders) -> ShipmentRepository:
    # Shipments live in the orders' table, beside the order they ship.
    return ShipmentRepository(order_repository.table_name)


Mappings = Annotated[MappingRepository, Depends(mappings)]
Settings = Annotated[SettingsRepository, Depends(settings)]
ConfiguredProviders = Annotated[ConfiguredProviderRepository, Depends(configured_providers)]
OrderSources = Annotated[OrderSourceRepository, Depends(order_sources)]
Customers = Annotated[CustomerRepository, Depends(customers)]
Items = Annotated[ItemRepository, Depends(items)]
Flows = Annotated[FlowRepository, Depends(flows)]
Sources = Annotated[SourceRepository, Depends(sources)]
Inventory = Annotated[InventoryRepository, Depends(inventory)]
FulfillmentOrders = Annotated[FulfillmentOrderRepository, Depends(fulfillment_orders)]
StateMachines = Annotated[StateMachineRepository, Depends(state_machines)]
Deliveries = Annotated[DeliveryLedger, Depends(deliveries)]
Shipments = Annotated[ShipmentRepository, Depends(shipments)]


def returns(order_repository: Orders) -> ReturnRepository:
    # Returns live in the orders' table too, beside the order they return.
    return ReturnRepository(order_repository.table_name)


Returns = Annotated[ReturnRepository, Depends(returns)]
