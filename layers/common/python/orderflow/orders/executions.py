"""Executions of the state machines: their names (deterministic, so a retried start finds the run it
started), their inputs, and starting an order's intake."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Protocol

from orderflow.models.event import OrderEvent
from orderflow.models.order import SOURCE_BIGCOMMERCE, FlowRef, Order, import_id_for, order_key_for
from orderflow.store.executions import ExecutionStarter
from orderflow.store.orders import OrderRepository

_NAME_LIMIT = 80  # Step Functions' limit on execution names

_SHORT = {
    OrderEvent.ORDER_CANCELLED: "cancelled",
    OrderEvent.ORDER_STATUS_CHANGED: "status",
    OrderEvent.ORDER_SHIPPED: "shipped",
    OrderEvent.ORDER_PARTIALLY_SHIPPED: "partship",
    OrderEvent.FULFILLMENT_FAILED: "fofailed",
}


def _fit(name: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_-]", "_", name)
    if len(name) > _NAME_LIMIT:
        name = f"{name[:71]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def execution_name(
    order_key: str, flow: FlowRef, revision: int = 1, event: str = OrderEvent.NEW_ORDER, occurrence: str = ""
) -> str:
    """Deterministic per order (revision), event occurrence and flow version, so a retried start
    cannot run a flow twice. A new order's run is ``<order>[-r<n>]-<flow>-v<version>``."""
    order = order_key if revision == 1 else f"{order_key}-r{revision}"
    if event == OrderEvent.NEW_ORDER:
        return _fit(f"{order}-{flow.id}-v{flow.version}")
    short = _SHORT.get(OrderEvent(event), event)
    digest = hashlib.sha1(occurrence.encode()).hexdigest()[:10]
    return _fit(f"{order}-{short}-{digest}-{flow.id}-v{flow.version}")


def return_execution_name(
    order_key: str, return_id: str, flow: FlowRef, event: str, occurrence: str = ""
) -> str:
    """Deterministic per return, event occurrence and flow version: ``<order>-ret-<digest>-<flow>-v<n>``."""
    digest = hashlib.sha1(f"{return_id}|{event}|{occurrence}".encode()).hexdigest()[:10]
    return _fit(f"{order_key}-ret-{digest}-{flow.id}-v{flow.version}")


def execution_input(
    store_hash: str,
    order_id: int,
    flow: FlowRef,
    trigger: str,
    event: str = OrderEvent.NEW_ORDER,
    *,
    order: Order | None = None,
) -> dict[str, Any]:
    """What a flow execution starts with: references only (the order itself stays in DynamoDB).

    Deterministic for an order, flow and event, so a repeated start is recognised as the same
    execution. ``last`` is the result a Condition or a merge would read before any step ran. An order
    from another source (POST /orders) is named by its own key: it has no BigCommerce order id.
    """
    key = order.order_key if order is not None else order_key_for(store_hash, order_id)
    source = order.source if order is not None else SOURCE_BIGCOMMERCE
    return {
        "order_key": key,
        "order_ref": {"source": source, "store_hash": store_hash, "order_id": order_id},
        "flow": flow.model_dump(),
        "trigger": trigger,
        "event": str(event),
        "last": {"step": "", "status": "started", "succeeded": True},
    }


class Starter(Protocol):
    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]: ...


INTAKE = FlowRef(id="order-intake", version=1, name="Order intake")


def intake_execution_name(order_key: str, attempt: str) -> str:
    """One intake per order and event (a webhook's hash, a sync run): a redelivered or retried start
    finds the same execution, while a later event (the order reaching the new-order status, a
    status reset) gets its own. Importing stays once per order revision (the import step decides)."""
    return _fit(f"{order_key}-intake-{attempt}")


def pending_order(store_hash: str, order_id: int) -> Order:
    """The record of an order accepted and not imported yet."""
    return Order(
        order_key=order_key_for(store_hash, order_id),
        store_hash=store_hash,
        external_id=order_id,
        import_id=import_id_for(order_id),
    )


def start_intake(
    store_hash: str,
    order_id: int,
    trigger: str,
    attempt: str,
    *,
    starter: ExecutionStarter,
    state_machine_arn: str,
    orders: OrderRepository | None = None,
) -> tuple[str, bool]:
    """Start the order's intake (import, then route); (execution name, False) when it already ran.

    The order is recorded as pending_import first (unless it is stored already; ``orders`` None: the
    caller recorded it), so from the moment we answer, it is listed, fetchable and resubmittable,
    whatever the store does meanwhile."""
    key = order_key_for(store_hash, order_id)
    if orders is not None:
        orders.record_pending(pending_order(store_hash, order_id))
    name = intake_execution_name(key, attempt)
    _, started = starter.start(
        state_machine_arn, name, execution_input(store_hash, order_id, INTAKE, trigger)
    )
    return name, started
