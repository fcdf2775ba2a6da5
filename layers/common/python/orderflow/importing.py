"""The import step: fetch the order from BigCommerce, match its customer, map it, store it.

Importing an order that is already stored is a no-op (no BigCommerce call): a redelivered webhook
or a retried step must not import it twice. An order with values no mapping resolves is stored all
the same (an operator fixes the mappings, nothing is lost) and the step fails naming every one of
them; the flows it is routed to then decide what happens (the default flow holds it for review).
"""

from __future__ import annotations

from collections.abc import Iterable

from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.bigcommerce.orders import to_order
from orderflow.customers import match_customer
from orderflow.errors import InvalidInput
from orderflow.mapping import map_order
from orderflow.models import Order, order_key_for
from orderflow.observability import metrics
from orderflow.steps import StepOutcome, StepRequest
from orderflow.store.customers import CustomerRepository
from orderflow.store.mappings import MappingRepository
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository


def import_order(
    request: StepRequest,
    orders: OrderRepository,
    mappings: MappingRepository,
    settings: SettingsRepository,
    bigcommerce: BigCommerceClient,
    customers: CustomerRepository,
) -> StepOutcome:
    ref = request.order_ref
    if ref is None:
        raise InvalidInput("the import step needs order_ref (store_hash, order_id)", field="order_ref")
    if order_key_for(ref.store_hash, ref.order_id) != request.order_key:
        raise InvalidInput(f"order_ref does not match order key {request.order_key}", field="order_ref")

    existing = orders.find(request.order_key)
    if existing is not None and existing.all_mapping_issues:
        return _remap(existing, orders, mappings)
    if existing is not None:
        return StepOutcome(
            succeeded=not existing.all_mapping_issues,
            message=f"{existing.import_id} was already imported; nothing fetched",
            details=_summary(existing),
        )

    raw = bigcommerce.get_order(ref.order_id)
    order = to_order(raw, ref.store_hash, settings.bigcommerce().mapping_group)
    match = match_customer(order, customers, bigcommerce.find_customers)
    if match.record is not None:
        customer = order.customer.model_copy(
            update={"record_id": match.record.id, "record_created": match.created}
        )
        order = order.model_copy(update={"customer": customer})
        if match.created:
            metrics.add_metric(name="CustomersCreated", unit="Count", value=1)
    order = map_order(order, mappings.resolve)
    created = orders.create(order)
    if not created:
        stored = orders.get(request.order_key)
        return StepOutcome(
            succeeded=not stored.all_mapping_issues,
            message=f"{order.import_id} was imported concurrently by another run; kept that one",
            details=_summary(stored),
        )
    metrics.add_metric(name="OrdersImported", unit="Count", value=1)
    mapped = sum(1 for line in order.lines if not line.mapping_issues)
    message = f"imported {order.import_id}: {len(order.lines)} lines, {mapped} mapped; {match.describe()}"
    issues = order.all_mapping_issues
    if issues:
        metrics.add_metric(name="OrdersWithUnmappedValues", unit="Count", value=1)
        unmapped = _unique(i.message for i in issues)
        message = f"imported {order.import_id} but {len(unmapped)} value(s) have no mapping: " + "; ".join(
            unmapped
        )
    return StepOutcome(succeeded=not issues, message=message, details=_summary(order))


def _remap(order: Order, orders: OrderRepository, mappings: MappingRepository) -> StepOutcome:
    """Run again after an operator added the missing mappings: map the stored order anew (the store
    is not asked again; the order as imported is what gets mapped)."""
    before = len(order.all_mapping_issues)
    remapped = map_order(order, mappings.resolve)
    issues = remapped.all_mapping_issues
    if len(issues) != before or remapped.account != order.account or remapped.price_list != order.price_list:
        orders.save_mapping(remapped)
    if not issues:
        return StepOutcome(
            succeeded=True,
            message=f"{order.import_id} was already imported; re-mapped: every value is mapped now",
            details=_summary(remapped),
        )
    unmapped = _unique(i.message for i in issues)
    return StepOutcome(
        succeeded=False,
        message=f"{order.import_id} was already imported; re-mapped, {len(unmapped)} value(s) still have no "
        "mapping: " + "; ".join(unmapped),
        details=_summary(remapped),
    )


def _summary(order: Order) -> dict[str, object]:
    return {
        "import_id": order.import_id,
        "lines": len(order.lines),
        "unmapped": len(order.all_mapping_issues),
        "account": order.account,
        "price_list": order.price_list,
        "customer_id": order.customer.record_id,
        "customer_created": order.customer.record_created,
    }


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))
