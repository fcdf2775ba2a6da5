"""The optimiser as it was before the anytime search: the reference the corpus test compares with.

Kept unchanged (an exact enumeration of source subsets when EXACT_SUBSETS/EXACT_WORK allow, else a
greedy cover); not part of the package. Plans are compared lexicographically by the merchant's ranked
objectives, then by source ids.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.fulfillment.geo import Located, haversine_km
from orderflow.models.fulfillment import BackorderedLine, DomSettings, GeoPoint, Objective

# A source or ship-to without coordinates ranks as if half the world away: usable, never preferred.
UNKNOWN_DISTANCE_KM = 20_000.0
EXACT_SUBSETS = 512  # source sets an exact search may evaluate
EXACT_WORK = 150_000  # and (sets x lines) it may spend on them
DEFAULT_OBJECTIVES = [Objective.UNSOURCED, Objective.SHIPMENTS, Objective.DISTANCE, Objective.PRIORITY]
RELAX_ORDER = ("max_distance_km", "max_sources", "ship_complete")


@dataclass(frozen=True)
class DomLine:
    line_number: int
    product: str | None
    quantity: int
    sku: str = ""


@dataclass
class DomSource:
    id: str
    stock: dict[str, int]  # available (on hand - reserved) per product
    priority: int = 100
    location: GeoPoint | None = None
    active: bool = True


@dataclass
class Shipment:
    source_id: str
    lines: list[tuple[int, int]]  # (line_number, quantity), by line number
    distance_km: float | None


@dataclass
class DomResult:
    shipments: list[Shipment] = field(default_factory=list)
    backordered: list[BackorderedLine] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    distance_basis: str = "unknown"  # how the ship-to was located (geo.Located.basis)
    exact: bool = False  # every candidate source set was compared

    @property
    def complete(self) -> bool:
        return not self.backordered

    @property
    def distance_estimated(self) -> bool:
        return self.distance_basis != "coordinates"


@dataclass(frozen=True)
class _Constraints:
    ship_complete: bool
    max_distance_km: float | None
    max_sources: int | None


@dataclass
class _Fill:
    taken: dict[str, list[tuple[int, int]]]
    unsourced: dict[int, int]
    score: tuple[object, ...] = ()


def normal_objectives(objectives: Iterable[Objective]) -> list[Objective]:
    """The merchant's ranking, without repeats, completed with the unranked ones in default order."""
    ranked: list[Objective] = []
    for objective in [*objectives, *DEFAULT_OBJECTIVES]:
        if objective not in ranked:
            ranked.append(objective)
    return ranked


def plan(
    lines: Sequence[DomLine], sources: Sequence[DomSource], ship_to: Located, settings: DomSettings
) -> DomResult:
    objectives = normal_objectives(settings.objectives)
    active = [s for s in sources if s.active]
    distance = {s.id: _distance(s, ship_to) for s in active}
    wanted = [line for line in lines if line.product and line.quantity > 0]
    problem = _Problem(wanted, active, distance, objectives)

    strict = _Constraints(settings.ship_complete, settings.max_distance_km, settings.max_sources)
    levels: list[tuple[list[str], _Constraints]] = [([], strict)]
    if settings.relax:
        relaxed: list[str] = []
        current = strict
        for name in RELAX_ORDER:
            if getattr(current, name) in (None, False):
                continue
            relaxed = [*relaxed, name]
            relaxed_value: dict[str, Any] = {name: False if name == "ship_complete" else None}
            current = dataclasses.replace(current, **relaxed_value)
            levels.append((relaxed, current))

    best: tuple[list[str], _Constraints, _Fill, bool] | None = None
    for names, constraints in levels:
        fill, exact = problem.solve(constraints)
        if best is None or sum(fill.unsourced.values()) < sum(best[2].unsourced.values()):
            best = (names, constraints, fill, exact)
        if not fill.unsourced:
            break
    assert best is not None
    names, constraints, fill, exact = best

    shipments = [
        Shipment(source_id, sorted(taken), distance[source_id])
        for source_id, taken in fill.taken.items()
        if taken
    ]
    shipments.sort(key=lambda s: (s.distance_km if s.distance_km is not None else math.inf, s.source_id))
    backordered = [
        BackorderedLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity, reason=reason)
        for line, reason in _unmapped(lines)
    ]
    for line in wanted:
        missing = fill.unsourced.get(line.line_number, 0)
        if missing:
            backordered.append(
                BackorderedLine(
                    line_number=line.line_number,
                    sku=line.sku,
                    quantity=missing,
                    reason=problem.why(line, missing, constraints),
                )
            )
    backordered.sort(key=lambda b: b.line_number)
    return DomResult(shipments, backordered, names, ship_to.basis, exact)


def _unmapped(lines: Iterable[DomLine]) -> Iterable[tuple[DomLine, str]]:
    for line in lines:
        if line.quantity > 0 and not line.product:
            yield line, "the line has no internal product (its SKU is not mapped)"


def _distance(source: DomSource, ship_to: Located) -> float | None:
    if source.location is None or ship_to.point is None:
        return None
    return haversine_km(source.location, ship_to.point)


class _Problem:
    def __init__(
        self,
        lines: list[DomLine],
        sources: list[DomSource],
        distance: dict[str, float | None],
        objectives: list[Objective],
    ) -> None:
        self.lines = lines
        self.objectives = objectives
        self.distance = distance
        demand = {line.product for line in lines if line.product}
        self.sources = {s.id: s for s in sources}
        # Only stock that matters to this order: a 200-source catalogue shrinks to what it asks for.
        self.stock: dict[str, dict[str, int]] = {
            s.id: {p: q for p, q in s.stock.items() if q > 0 and p in demand} for s in sources
        }
        self.stockers: dict[str, list[str]] = defaultdict(list)
        for source_id, products in self.stock.items():
            for product in products:
                self.stockers[product].append(source_id)

    # -- ordering and scoring --------------------------------------------------------------------
    def km(self, source_id: str) -> float:
        value = self.distance[source_id]
        return UNKNOWN_DISTANCE_KM if value is None else value

    def preference(self, source_id: str) -> tuple[float, ...]:
        """How much a source is preferred for a unit, by the ranked per-unit objectives."""
        key: list[float] = []
        for objective in self.objectives:
            if objective is Objective.DISTANCE:
                key.append(round(self.km(source_id), 6))
            elif objective is Objective.PRIORITY:
                key.append(self.sources[source_id].priority)
        return tuple(key)

    def sort_key(self, source_id: str) -> tuple[tuple[float, ...], str]:
        return self.preference(source_id), source_id

    def score(self, fill: _Fill) -> tuple[object, ...]:
        used = sorted(s for s, taken in fill.taken.items() if taken)
        values: list[object] = []
        for objective in self.objectives:
            if objective is Objective.UNSOURCED:
                values.append(sum(fill.unsourced.values()))
            elif objective is Objective.SHIPMENTS:
                values.append(len(used))
            elif objective is Objective.DISTANCE:
                units = (q * self.km(s) for s, taken in fill.taken.items() for _, q in taken)
                values.append(round(sum(units), 3))
            else:
                values.append(
                    sum(q * self.sources[s].priority for s, taken in fill.taken.items() for _, q in taken)
                )
        values.append(tuple(used))
        return tuple(values)

    # -- solving ---------------------------------------------------------------------------------
    def solve(self, constraints: _Constraints) -> tuple[_Fill, bool]:
        eligible = [
            source_id
            for source_id, products in self.stock.items()
            if products
            and (
                constraints.max_distance_km is None
                or (
                    self.distance[source_id] is not None and self.km(source_id) <= constraints.max_distance_km
                )
            )
        ]
        eligible.sort(key=self.sort_key)
        limit = min(constraints.max_sources or len(eligible), len(eligible))
        candidates: list[list[str]] = []
        exact = self._exact_feasible(len(eligible), limit)
        if exact:
            for size in range(1, limit + 1):
                candidates.extend(list(c) for c in itertools.combinations(eligible, size))
        # The most preferred sources first: optimal for distance/priority when nothing caps sources.
        first_used = self._fill(eligible, constraints.ship_complete)
        used = [s for s in eligible if first_used.taken.get(s)]
        candidates.append(used[:limit])
        cover = self._greedy_cover(eligible, constraints.ship_complete, limit)
        candidates.append(cover)
        candidates.append(sorted(cover, key=self.sort_key))

        best: _Fill | None = None
        for order in candidates:
            fill = self._fill(order, constraints.ship_complete)
            fill.score = self.score(fill)
            if best is None or fill.score < best.score:
                best = fill
        if best is None:  # nothing eligible: everything is unsourced
            best = _Fill({}, {line.line_number: line.quantity for line in self.lines})
        return best, exact

    def _exact_feasible(self, n: int, limit: int) -> bool:
        subsets = sum(math.comb(n, k) for k in range(1, limit + 1))
        return 0 < subsets <= EXACT_SUBSETS and subsets * max(1, len(self.lines)) <= EXACT_WORK

    def _fill(self, order: Sequence[str], ship_complete: bool) -> _Fill:
        """Each line from the first sources in ``order`` that have it (whole, if ship complete)."""
        rank = {source_id: i for i, source_id in enumerate(order)}
        by_product: dict[str, list[str]] = {}
        taken_stock: dict[tuple[str, str], int] = defaultdict(int)
        taken: dict[str, list[tuple[int, int]]] = {source_id: [] for source_id in order}
        unsourced: dict[int, int] = {}
        lines = (
            sorted(self.lines, key=lambda line: (-line.quantity, line.line_number))
            if ship_complete
            else self.lines
        )
        for line in lines:
            product = line.product or ""
            if product not in by_product:
                by_product[product] = sorted(
                    (s for s in self.stockers.get(product, ()) if s in rank), key=rank.__getitem__
                )
            remaining = line.quantity
            for source_id in by_product[product]:
                available = self.stock[source_id][product] - taken_stock[(source_id, product)]
                if available <= 0 or (ship_complete and available < remaining):
                    continue
                quantity = min(available, remaining)
                taken_stock[(source_id, product)] += quantity
                taken[source_id].append((line.line_number, quantity))
                remaining -= quantity
                if not remaining:
                    break
            if remaining:
                unsourced[line.line_number] = remaining
        return _Fill(taken, unsourced)

    def _greedy_cover(self, eligible: list[str], ship_complete: bool, limit: int) -> list[str]:
        """Lazy greedy set cover: the source covering most still-open units, until none adds any.

        A source's gain can only shrink as others are picked, so a stale gain is an upper bound: a
        popped source whose recomputed gain still tops the heap is the true best.
        """
        open_lines: dict[str, list[DomLine]] = defaultdict(list)
        for line in sorted(self.lines, key=lambda line: (-line.quantity, line.line_number)):
            open_lines[line.product or ""].append(line)
        need = {p: sum(line.quantity for line in ls) for p, ls in open_lines.items()}

        def gain(source_id: str) -> int:
            total = 0
            for product, stock in self.stock[source_id].items():
                if ship_complete:
                    room = stock
                    for line in open_lines.get(product, ()):
                        if line.quantity <= room:
                            room -= line.quantity
                            total += line.quantity
                else:
                    total += min(stock, need.get(product, 0))
            return total

        heap = [(-gain(s), self.sort_key(s), s) for s in eligible]
        heapq.heapify(heap)
        picked: list[str] = []
        while heap and len(picked) < limit:
            _stale, key, source_id = heapq.heappop(heap)
            fresh = gain(source_id)
            if fresh <= 0:
                continue
            if heap and (-fresh, key) > heap[0][:2]:
                heapq.heappush(heap, (-fresh, key, source_id))
                continue
            picked.append(source_id)
            for product, stock in self.stock[source_id].items():
                if ship_complete:
                    room, kept = stock, []
                    for line in open_lines.get(product, ()):
                        if line.quantity <= room:
                            room -= line.quantity
                        else:
                            kept.append(line)
                    if product in open_lines:
                        open_lines[product] = kept
                elif product in need:
                    need[product] -= min(stock, need[product])
        return picked

    # -- explaining ------------------------------------------------------------------------------
    def why(self, line: DomLine, missing: int, constraints: _Constraints) -> str:
        product = line.product or ""
        holders = self.stockers.get(product, [])
        anywhere = sum(self.stock[s][product] for s in holders)
        if not anywhere:
            return f"no stock of {product} at any active source"
        if constraints.max_distance_km is not None:
            near = [
                s
                for s in holders
                if self.distance[s] is not None and self.km(s) <= constraints.max_distance_km
            ]
            if sum(self.stock[s][product] for s in near) < line.quantity:
                return (
                    f"not enough {product} within {constraints.max_distance_km:g} km "
                    f"({sum(self.stock[s][product] for s in near)} there, {anywhere} at all active sources)"
                )
        most = max(self.stock[s][product] for s in holders)
        if constraints.ship_complete and most < line.quantity:
            return f"ship complete: no single source has {line.quantity} of {product} (at most {most})"
        if anywhere < line.quantity:
            return f"only {anywhere} of {product} available at active sources, {line.quantity} ordered"
        if constraints.max_sources is not None:
            return f"the stock left is at sources beyond the maximum of {constraints.max_sources}"
        return f"{product}'s stock is taken by other lines of this order ({anywhere} available in all)"
