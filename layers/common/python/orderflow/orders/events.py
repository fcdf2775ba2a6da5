"""The events that start flows, and starting them: one catalogue, one way to name and start executions.

Each event is emitted where it happens (the intake's route step, the webhook, shipments, fulfillment
providers), once per occurrence: the execution's name is derived from the order, the event, what
identifies the occurrence (a webhook's hash, a shipment id) and the flow version, so a repeated
emission finds the execution it started before instead of running the flow twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderflow import config
from orderflow.models.event import (
    OrderEvent,
)
from orderflow.models.order import FlowRef, Order
from orderflow.models.policy import parse_policy
from orderflow.models.returns import Return, return_document
from orderflow.observability import logger
from orderflow.orders.executions import Starter, execution_input, execution_name, return_execution_name
from orderflow.policies.evaluate import decide_filters

# -- starting the flows an event starts -----------------------------------------------------------


class RouteLike(Protocol):
    @property
    def flow_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def version_arn(self) -> str: ...
    @property
    def input_events(self) -> list[str]: ...
    @property
    def filter_policies(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class DefaultFlow:
    """The flow deployed with the stack, run while no flow is published (new orders only)."""

    flow_id: str
    name: str
    version: int
    version_arn: str
    input_events: list[str] = field(default_factory=lambda: [OrderEvent.NEW_ORDER.value])
    filter_policies: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> DefaultFlow | None:
        settings = config.settings()
        if not settings.default_flow_state_machine_arn:
            return None
        return cls(
            flow_id=settings.default_flow_id,
            name=settings.default_flow_name,
            version=settings.default_flow_version,
            version_arn=settings.default_flow_state_machine_arn,
        )


@dataclass
class Emission:
    """Which flows an event started for an order, and which it did not start, and why."""

    event: str
    started: list[str] = field(default_factory=list)  # "<flow name> v<n>"
    executions: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)

    def describe(self) -> str:
        message = (
            f"{self.event}: started {', '.join(self.started)}"
            if self.started
            else f"{self.event}: no published flow starts on it for this order"
        )
        if self.not_started:
            message += f"; not for this order: {', '.join(self.not_started)}"
        return message


def start_flows(
    event: str,
    order_key: str,
    load_order: Callable[[], Order],
    routes: Iterable[RouteLike],
    starter: Starter,
    *,
    occurrence: str = "",
    trigger: str = "",
    about: Return | None = None,
) -> Emission:
    """Start every flow whose input events hold ``event`` and whose filter policies match the order
    (and, for a return flow, ``about``: the return its run is about, which return policies read and
    each run carries).

    The order is read only when a route needs it (filter policies) or to name the run (revision).
    """
    emission = Emission(event=str(event))
    order: Order | None = None
    document = return_document(about) if about is not None else None
    for route in sorted(routes, key=lambda r: r.flow_id):
        label = f"{route.name} v{route.version}"
        if event not in route.input_events:
            emission.not_started.append(f"{label} (starts on {', '.join(route.input_events)}, not {event})")
            continue
        order = order or load_order()
        decision = decide_filters([parse_policy(p) for p in route.filter_policies], order, document)
        if not decision.applies:
            emission.not_started.append(f"{label} ({'; '.join(decision.reasons)})")
            continue
        ref = FlowRef(id=route.flow_id, version=route.version, name=route.name)
        payload = execution_input(
            order.store_hash, order.external_id, ref, trigger or str(event), event, order=order
        )
        if about is None:
            name = execution_name(order.order_key, ref, order.revision, event, occurrence)
        else:
            name = return_execution_name(order.order_key, about.return_id, ref, str(event), occurrence)
            payload["return_id"] = about.return_id
        starter.start(route.version_arn, name, payload)
        emission.started.append(label)
        emission.executions.append(name)
    if emission.started:
        extra = {"order_key": order_key, "event": str(event), "executions": emission.executions}
        if about is not None:
            extra["return_id"] = about.return_id
        logger.info("flows started", extra=extra)
    return emission


def published_routes(flows: RouteSource, default: DefaultFlow | None) -> list[RouteLike]:
    """The published flows' routes, and the stack's default flow while no published flow takes new
    orders (publishing only, say, an invoice-on-shipment flow leaves new orders to the default)."""
    routes: list[RouteLike] = list(flows.routes())
    if default is not None and not any(OrderEvent.NEW_ORDER in route.input_events for route in routes):
        routes.append(default)
    return routes


class OrderReader(Protocol):
    def get(self, order_key: str) -> Order: ...


class RouteSource(Protocol):
    def routes(self) -> Any: ...


def emit(
    event: str,
    order_key: str,
    *,
    orders: OrderReader,
    flows: RouteSource,
    starter: Starter,
    occurrence: str,
    trigger: str = "",
) -> Emission:
    """An event happened to an imported order: start the published flows it starts."""
    return start_flows(
        event,
        order_key,
        lambda: orders.get(order_key),
        published_routes(flows, DefaultFlow.from_env()),
        starter,
        occurrence=occurrence,
        trigger=trigger,
    )


def emitter(
    order_key: str, *, orders: OrderReader, flows: RouteSource, starter: Starter, trigger: str = ""
) -> Callable[[str, str], list[str]]:
    """``emit`` for one order, as the shipments and fulfillment code call it: (event, occurrence) →
    the executions started."""

    def start(event: str, occurrence: str) -> list[str]:
        emission = emit(
            event,
            order_key,
            orders=orders,
            flows=flows,
            starter=starter,
            occurrence=occurrence,
            trigger=trigger,
        )
        return emission.executions

    return start
