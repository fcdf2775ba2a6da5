"""``assign_return_source``: where a return's goods go back. By rules (the first whose criteria match
the return names the source, as in assign_fulfillment_source), else the closest active source that
accepts returns, by the distance DOM uses from the order's ship-to address."""

from __future__ import annotations

import fnmatch
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderflow import clock
from orderflow.fulfillment.geo import haversine_km, locate
from orderflow.models.fulfillment import FulfillmentSource
from orderflow.models.order import Order
from orderflow.models.returns import Return
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.returns.steps import the_return
from orderflow.store.returns import ReturnRepository


class ReturnRule(BaseModel):
    """Every criterion given must match: the ship-to country, a line's SKU (glob), a line's reason."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    source: Annotated[str, Field(min_length=1)]
    country: str | None = None
    sku: str | None = None
    reason: str | None = None

    def matches(self, order: Order, ret: Return) -> bool:
        country = order.ship_to[0].country_iso2 if order.ship_to else order.billing_address.country_iso2
        return (
            (self.country is None or self.country.upper() == country.upper())
            and (self.sku is None or any(fnmatch.fnmatchcase(line.sku, self.sku) for line in ret.lines))
            and (self.reason is None or any(line.reason.lower() == self.reason.lower() for line in ret.lines))
        )


class ReturnSourceSettings(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    rules: list[ReturnRule] = Field(default_factory=list)
    default: str | None = None


class Orders(Protocol):
    def get(self, order_key: str) -> Order: ...


class Sources(Protocol):
    def list_all(self) -> list[FulfillmentSource]: ...


def choose(
    order: Order, ret: Return, sources: list[FulfillmentSource], settings: ReturnSourceSettings
) -> tuple[FulfillmentSource | None, str]:
    """The source and why; (None, why not) when none takes the return."""
    taking = {s.id: s for s in sources if s.active and s.accepts_returns}
    for index, rule in enumerate(settings.rules):
        if rule.matches(order, ret):
            if rule.source in taking:
                return taking[rule.source], f"rule {index + 1} names {rule.source}"
            return (
                None,
                f"rule {index + 1} names {rule.source}, which is not an active source that accepts returns",
            )
    if settings.default is not None:
        if settings.default in taking:
            return taking[settings.default], f"the default source {settings.default}"
        return None, f"the default source {settings.default} is not an active source that accepts returns"
    if not taking:
        return None, "no active source accepts returns"
    address = order.ship_to[0] if order.ship_to else order.billing_address
    here = locate(address.zip, address.country_iso2)
    if here.point is None:
        best = min(taking.values(), key=lambda s: (s.priority, s.id))
        return best, f"the ship-to address could not be located: the first by priority ({best.id})"

    def distance(source: FulfillmentSource) -> float:
        there = locate(source.address.zip, source.address.country_iso2, source.address.location)
        return haversine_km(here.point, there.point) if here.point and there.point else float("inf")

    best = min(taking.values(), key=lambda s: (distance(s), s.priority, s.id))
    km = distance(best)
    where = f"{km:.0f} km" if km != float("inf") else "distance unknown"
    return best, f"the closest source that accepts returns ({where}, ship-to located by {here.basis})"


def assign_return_source(
    request: StepRequest, returns: ReturnRepository, orders: Orders, sources: Sources
) -> StepOutcome:
    try:
        settings = ReturnSourceSettings.model_validate(request.params)
    except ValidationError as exc:
        problems = "; ".join(f"params.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return StepOutcome(succeeded=False, message=problems)
    ret = the_return(request, returns)
    if ret.source_id:
        return StepOutcome(
            succeeded=True,
            message=f"return {ret.return_id} goes back to {ret.source_id} (assigned before)",
            details={"source_id": ret.source_id},
        )
    order = orders.get(ret.order_key)
    source, why = choose(order, ret, sources.list_all(), settings)
    if source is None:
        return StepOutcome(succeeded=False, message=f"return {ret.return_id}: {why}")
    chosen = source.id
    returns.update(
        ret.return_id,
        lambda current: current.model_copy(update={"source_id": current.source_id or chosen}),
        ret.order_key,
    )
    details: dict[str, Any] = {"source_id": chosen, "assigned_at": clock.iso()}
    return StepOutcome(
        succeeded=True,
        message=f"return {ret.return_id} goes back to {source.name} ({chosen}): {why}",
        details=details,
    )
