"""The import step: fetch the order from BigCommerce, map it, store the canonical order.

Importing an order that is already stored is a no-op (no BigCommerce call): several flows may run
for one order, and a redelivered webhook or a retried step must not import it twice.
"""

from __future__ import annotations

from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.bigcommerce.orders import to_order
from orderflow.errors import InvalidInput
from orderflow.mapping import map_order
from orderflow.models import Order, order_key_for
from orderflow.observability import metrics
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.mappings import MappingRepository
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository


def import_order(
    request: StepRequest,
    orders: OrderRepository,
    mappings: MappingRepository,
    settings: SettingsRepository,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    ref = request.order_ref
    if ref is None:
        raise InvalidInput("the import step needs order_ref (store_hash, order_id)", field="order_ref")
    if order_key_for(ref.store_hash, ref.order_id) != request.order_key:
        raise InvalidInput(f"order_ref does not match order key {request.order_key}", field="order_ref")

    existing = orders.find(request.order_key)
    if existing is not None:
        return StepOutcome(
            succeeded=True,
            message=f"{existing.import_id} was already imported; nothing fetched",
            details=_summary(existing),
        )

    raw = bigcommerce.get_order(ref.order_id)
    order = map_order(to_order(raw, ref.store_hash, settings.bigcommerce().mapping_group), mappings.resolve)
    created = orders.create(order)
    if created:
        metrics.add_metric(name="OrdersImported", unit="Count", value=1)
    mapped = sum(1 for line in order.lines if not line.mapping_issues)
    message = f"imported {order.import_id}: {len(order.lines)} lines, {mapped} mapped"
    if not created:
        message = f"{order.import_id} was imported concurrently by another run; kept that one"
    unmapped = sorted({f"{i.field} '{i.value}'" for i in order.all_mapping_issues})
    if unmapped:
        message += f"; unmapped: {', '.join(unmapped)}"
    return StepOutcome(succeeded=True, message=message, details=_summary(order))


def _summary(order: Order) -> dict[str, object]:
    return {
        "import_id": order.import_id,
        "lines": len(order.lines),
        "unmapped": len(order.all_mapping_issues),
        "account": order.account,
        "price_list": order.price_list,
    }
