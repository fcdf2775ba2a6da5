"""The sourcing steps: ``send_to_dom`` (optimised, dom.py) and ``assign_fulfillment_source`` (rules).

Both plan from the stock and the sources' daily line counts read now, then reserve and store the
fulfillment orders in one write that is conditioned on the stock (and each source's lines left
today) still being there; when another order took them meanwhile, they are read again and the order
re-planned (a few times, then the step is retried by the state machine).
A step that backorders anything answers ``succeeded: false`` naming the lines and why, so a flow's
Condition can branch on it; what could be sourced is reserved all the same, and the order lines
record what is backordered. Run again (a resubmit, a flow started when stock arrives), the step
sources only what is still backordered, in new fulfillment orders; with nothing backordered it
answers what was stored. Each run that reserves writes the next round of the order's sourcing
claim, conditioned on the round it read, so retries and concurrent runs never reserve twice.
"""

from __future__ import annotations

import fnmatch
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderflow.errors import TransientStepError
from orderflow.fulfillment import dom
from orderflow.fulfillment.geo import Located, haversine_km, locate
from orderflow.models.fulfillment import (
    BackorderedLine,
    DomSettings,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentSource,
)
from orderflow.models.order import Order, OrderLine
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger
from orderflow.store.fulfillment import (
    AlreadySourced,
    FulfillmentOrderRepository,
    InventoryRepository,
    SourceRepository,
    SourcingStore,
    StockTaken,
    today,
)
from orderflow.store.orders import OrderRepository

ATTEMPTS = 6  # plans per invocation when other orders keep taking the stock read
LISTED = 5  # backordered lines named in a step's message (all are in its details)
_FO_NUMBER = re.compile(r"-FO(\d+)$")

Planner = Callable[[list[dom.DomLine], list[dom.DomSource], Located], dom.DomResult]


@dataclass
class Stores:
    orders: OrderRepository
    sources: SourceRepository
    inventory: InventoryRepository
    sourcing: SourcingStore
    fulfillment_orders: FulfillmentOrderRepository


class Rule(BaseModel):
    """Every criterion given must match (country of the ship-to, channel id, SKU glob, product)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    source: Annotated[str, Field(min_length=1)]
    country: str | None = None
    channel: int | None = None
    sku: str | None = None  # a glob: "ABS*"
    product: str | None = None

    def matches(self, order: Order, line: OrderLine) -> bool:
        country = order.ship_to[0].country_iso2 if order.ship_to else order.billing_address.country_iso2
        return (
            (self.country is None or self.country.upper() == country.upper())
            and (self.channel is None or self.channel == order.channel_id)
            and (self.sku is None or fnmatch.fnmatchcase(line.sku, self.sku))
            and (self.product is None or self.product == line.product)
        )


class AssignSettings(BaseModel):
    """An assign_fulfillment_source step's ``params``: the first matching rule names the source."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    default: str | None = None


def send_to_dom(request: StepRequest, stores: Stores) -> StepOutcome:
    try:
        settings = DomSettings.model_validate(request.params)
    except ValidationError as exc:
        return _bad_params(exc)
    return _source(
        request,
        stores,
        "send_to_dom",
        lambda lines, sources, ship_to: dom.plan(lines, sources, ship_to, settings),
    )


def assign_fulfillment_source(request: StepRequest, stores: Stores) -> StepOutcome:
    try:
        settings = AssignSettings.model_validate(request.params)
    except ValidationError as exc:
        return _bad_params(exc)
    order_holder: list[Order] = []

    def planner(lines: list[dom.DomLine], sources: list[dom.DomSource], ship_to: Located) -> dom.DomResult:
        return assign(order_holder[0], lines, sources, ship_to, settings)

    return _source(request, stores, "assign_fulfillment_source", planner, order_holder)


def assign(
    order: Order,
    lines: Sequence[dom.DomLine],
    sources: Sequence[dom.DomSource],
    ship_to: Located,
    settings: AssignSettings,
) -> dom.DomResult:
    """Rule-based sourcing, pure: each line whole from its rule's source, or backordered."""
    by_number = {line.line_number: line for line in order.lines}
    known = {s.id: s for s in sources}
    taken: dict[str, list[tuple[int, int]]] = defaultdict(list)
    used: dict[tuple[str, str], int] = defaultdict(int)
    lines_left = {s.id: s.lines_left for s in sources}
    backordered: list[BackorderedLine] = []

    def backorder(line: dom.DomLine, reason: str) -> None:
        backordered.append(
            BackorderedLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity, reason=reason)
        )

    for line in lines:
        if not line.product:
            backorder(line, "the line has no internal product (its SKU is not mapped)")
            continue
        rule = next((r for r in settings.rules if r.matches(order, by_number[line.line_number])), None)
        source_id = rule.source if rule else settings.default
        if source_id is None:
            backorder(line, "no rule matches the line and there is no default source")
            continue
        source = known.get(source_id)
        if source is None or not source.active:
            state = "does not exist" if source is None else "is inactive"
            backorder(line, f"the rule's source {source_id} {state}")
            continue
        left = source.stock.get(line.product, 0) - used[(source_id, line.product)]
        if left < line.quantity:
            backorder(
                line,
                f"source {source_id} has {max(0, left)} of {line.product} available, {line.quantity} ordered",
            )
            continue
        if lines_left[source_id] == 0:
            backorder(
                line,
                f"source {source_id} reached its limit of lines per day "
                f"(max_lines_per_day {source.max_lines_per_day})",
            )
            continue
        if (room := lines_left[source_id]) is not None:
            lines_left[source_id] = room - 1
        used[(source_id, line.product)] += line.quantity
        taken[source_id].append((line.line_number, line.quantity))
    shipments = [
        dom.Shipment(
            source_id,
            sorted(parts),
            haversine_km(known[source_id].location, ship_to.point)  # type: ignore[arg-type]
            if known[source_id].location is not None and ship_to.point is not None
            else None,
        )
        for source_id, parts in sorted(taken.items())
    ]
    return dom.DomResult(shipments, sorted(backordered, key=lambda b: b.line_number), [], ship_to.basis)


def _source(
    request: StepRequest,
    stores: Stores,
    action: str,
    planner: Planner,
    order_holder: list[Order] | None = None,
) -> StepOutcome:
    key = request.order_key
    # The claim first: what it says is backordered is what this run may source, and the new round
    # is written only if the claim is still the one read (the order lines only mirror it).
    record = stores.sourcing.record(key)
    backordered_before = _backordered(record, request) if record is not None else {}
    if record is not None and not backordered_before:
        return _answer_stored(record, stores.fulfillment_orders.for_order(key))
    order = stores.orders.get(key)
    if order_holder is not None:
        order_holder.append(order)
    selected, lines = _to_source(order, request, backordered_before if record is not None else None)
    address = order.ship_to[0] if order.ship_to else order.billing_address
    ship_to = locate(address.zip, address.country_iso2)
    sources = stores.sources.list_all()
    limits = {s.id: s.max_lines_per_day for s in sources if s.max_lines_per_day is not None}
    products = {line.product for line in lines if line.product}
    earlier = stores.fulfillment_orders.for_order(key) if record is not None else []
    for attempt in range(ATTEMPTS):
        day = today()
        lines_given = stores.sources.lines_on(day) if limits else {}
        stock = stores.inventory.availability(products)
        result = planner(lines, _dom_sources(sources, stock, lines_given), ship_to)
        orders = _fulfillment_orders(order, selected, result, _next_number(record))
        now_backordered = _line_backorders(selected, result)
        if not orders:
            # Nothing reserved, nothing claimed: running the step again once stock arrives sources it.
            stores.sourcing.note_backordered(key, now_backordered)
            if record is None:
                return _outcome(result, [], stored=False)
            return _summary(
                earlier,
                result.backordered,
                result.relaxed,
                result.distance_basis,
                prefix="nothing more reserved: ",
            )
        decision = {
            "action": action,
            "step": request.step,
            "relaxed": result.relaxed,
            "distance_basis": result.distance_basis,
            "backordered": [
                b.model_dump(mode="json") for b in _still_backordered(record, selected, result.backordered)
            ],
        }
        try:
            stores.sourcing.commit(
                key,
                decision,
                orders,
                previous=record,
                line_limits=limits,
                day=day,
                backordered=now_backordered,
            )
        except AlreadySourced:
            return _answer_stored(
                stores.sourcing.record(key) or decision, stores.fulfillment_orders.for_order(key)
            )
        except StockTaken:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # spread competing orders apart
            continue
        logger.info(
            "order sourced",
            extra={
                "action": action,
                "fulfillment_orders": len(orders),
                "backordered": len(result.backordered),
                "round": int(record.get("round", 1)) + 1 if record is not None else 1,
            },
        )
        if record is None:
            return _outcome(result, orders, stored=True)
        return _summary(
            orders,
            result.backordered,
            result.relaxed,
            result.distance_basis,
            prefix="backordered lines sourced: ",
            earlier=earlier,
        )
    raise TransientStepError(
        f"other orders kept taking the stock this order was planned on ({ATTEMPTS} plans)"
    )


def _backordered(record: dict[str, Any], request: StepRequest) -> dict[int, int]:
    """What the claim says is still backordered, of the lines this step sources."""
    found: dict[int, int] = defaultdict(int)
    for entry in record.get("backordered", []):
        line = BackorderedLine.model_validate(entry)
        if request.lines is None or line.line_number in request.lines:
            found[line.line_number] += line.quantity
    return dict(found)


def _to_source(
    order: Order, request: StepRequest, backordered: dict[int, int] | None
) -> tuple[list[OrderLine], list[dom.DomLine]]:
    """The order lines to source and what of each: what is not shipped yet, or, when an earlier run
    backordered some, only that."""
    selected: list[OrderLine] = []
    lines: list[dom.DomLine] = []
    for line in order.lines:
        if request.lines is not None and line.line_number not in request.lines:
            continue
        quantity = line.quantity - line.quantity_shipped
        if backordered is not None:
            quantity = min(quantity, backordered.get(line.line_number, 0))
        if quantity > 0:
            selected.append(line)
            lines.append(dom.DomLine(line.line_number, line.product, quantity, line.sku))
    return selected, lines


def _line_backorders(selected: list[OrderLine], result: dom.DomResult) -> list[tuple[OrderLine, int]]:
    """The order lines whose backordered quantity this plan changes, with the new quantity."""
    missing = {b.line_number: b.quantity for b in result.backordered}
    return [
        (line, missing.get(line.line_number, 0))
        for line in selected
        if missing.get(line.line_number, 0) != line.quantity_backordered
    ]


def _still_backordered(
    record: dict[str, Any] | None, selected: list[OrderLine], backordered: list[BackorderedLine]
) -> list[BackorderedLine]:
    """The claim's backorders after this run: its plan's, and the earlier ones of lines it left out."""
    planned = {line.line_number for line in selected}
    kept = [
        BackorderedLine.model_validate(entry)
        for entry in (record or {}).get("backordered", [])
        if entry["line_number"] not in planned
    ]
    return sorted([*kept, *backordered], key=lambda b: b.line_number)


def _next_number(record: dict[str, Any] | None) -> int:
    """The number of the next fulfillment order (``<order key>-FO<n>``) after the earlier rounds'."""
    numbers = [
        int(match.group(1))
        for fo_id in (record or {}).get("fulfillment_orders", [])
        if (match := _FO_NUMBER.search(fo_id))
    ]
    return max(numbers, default=0) + 1


def _dom_sources(
    sources: list[FulfillmentSource], stock: dict[str, list[Any]], lines_given: dict[str, int]
) -> list[dom.DomSource]:
    per_source: dict[str, dict[str, int]] = defaultdict(dict)
    for product, levels in stock.items():
        for level in levels:
            per_source[level.source_id][product] = level.available
    return [
        dom.DomSource(
            s.id,
            per_source.get(s.id, {}),
            priority=s.priority,
            location=s.address.location,
            active=s.active,
            max_lines_per_day=s.max_lines_per_day,
            lines_today=lines_given.get(s.id, 0),
        )
        for s in sources
    ]


def _fulfillment_orders(
    order: Order, lines: list[OrderLine], result: dom.DomResult, first: int = 1
) -> list[FulfillmentOrder]:
    by_number = {line.line_number: line for line in lines}
    return [
        FulfillmentOrder(
            id=f"{order.order_key}-FO{n}",
            order_key=order.order_key,
            source_id=shipment.source_id,
            distance_km=round(shipment.distance_km, 1) if shipment.distance_km is not None else None,
            lines=[
                FulfillmentOrderLine(
                    line_number=number,
                    sku=by_number[number].sku,
                    product=by_number[number].product,
                    quantity=quantity,
                )
                for number, quantity in shipment.lines
            ],
        )
        for n, shipment in enumerate(result.shipments, first)
    ]


def _outcome(result: dom.DomResult, orders: list[FulfillmentOrder], stored: bool) -> StepOutcome:
    return _summary(
        orders,
        result.backordered,
        result.relaxed,
        result.distance_basis,
        prefix="" if stored or orders else "nothing reserved: ",
    )


def _answer_stored(record: dict[str, Any], orders: list[FulfillmentOrder]) -> StepOutcome:
    backordered = [BackorderedLine.model_validate(b) for b in record.get("backordered", [])]
    missing = set(record.get("fulfillment_orders", [])) - {fo.id for fo in orders}
    if missing:
        # A decision of more than 100 items is written in several transactions; one was cut short.
        return StepOutcome(
            succeeded=False,
            message=f"sourcing was interrupted: fulfillment orders {sorted(missing)} are missing; an operator "
            "must release the order's reservations and run the step again",
            details={"missing_fulfillment_orders": sorted(missing)},
        )
    return _summary(
        orders,
        backordered,
        list(record.get("relaxed", [])),
        str(record.get("distance_basis", "unknown")),
        prefix="already sourced: ",
    )


def _summary(
    orders: list[FulfillmentOrder],
    backordered: list[BackorderedLine],
    relaxed: list[str],
    basis: str,
    prefix: str,
    earlier: Sequence[FulfillmentOrder] = (),
) -> StepOutcome:
    """The step's answer; ``earlier``: the fulfillment orders of earlier runs, in its details too."""
    parts: list[str] = []
    if orders:
        listing = ", ".join(
            f"{fo.source_id} ({len(fo.lines)} line(s)"
            + (f", {fo.distance_km:g} km" if fo.distance_km is not None else "")
            + ")"
            for fo in orders
        )
        lines = len({line.line_number for fo in orders for line in fo.lines})
        parts.append(f"sourced {lines} line(s) from {len(orders)} source(s): {listing}")
    if backordered:
        named = "; ".join(f"line {b.line_number} ({b.quantity}): {b.reason}" for b in backordered[:LISTED])
        more = f"; and {len(backordered) - LISTED} more" if len(backordered) > LISTED else ""
        parts.append(f"backordered {len(backordered)} line(s): {named}{more}")
    if relaxed:
        parts.append(f"relaxed to source more: {', '.join(relaxed)}")
    if basis not in ("coordinates", "unknown"):
        parts.append(f"distances estimated from the ship-to's {_BASES.get(basis, basis)}")
    if earlier:
        parts.append(f"{len(earlier)} fulfillment order(s) from before")
    return StepOutcome(
        succeeded=not backordered,
        message=prefix + ("; ".join(parts) or "nothing to source"),
        details={
            "fulfillment_orders": [
                {
                    "id": fo.id,
                    "source_id": fo.source_id,
                    # whole km: step results are stored as they are, and DynamoDB takes no floats
                    "distance_km": round(fo.distance_km) if fo.distance_km is not None else None,
                    "lines": [
                        {"line_number": line.line_number, "quantity": line.quantity} for line in fo.lines
                    ],
                }
                for fo in [*earlier, *orders]
            ],
            "backordered": [b.model_dump(mode="json") for b in backordered],
            "relaxed": relaxed,
            "distance_basis": basis,
        },
    )


_BASES = {"zip3": "ZIP area", "zip1": "ZIP region", "country": "country"}


def _bad_params(exc: ValidationError) -> StepOutcome:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "params"
    return StepOutcome(
        succeeded=False, message=f"params.{field}: {first['msg']}", details={"field": f"params.{field}"}
    )
