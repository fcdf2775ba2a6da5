"""Send to DOM's optimiser: which sources ship which order lines. Pure: no I/O, no clock.

Plans are compared lexicographically by the merchant's ranked objectives (unsourced quantity,
shipments, unit-kilometres, priority), then by source ids, then a plan that serves every line from
its sources in order of preference comes before one that does not: a total order, so the same inputs
give the same plan every time. Each source set is filled line by line in a fixed source order, so
"exact" means exact over source sets, not over line splits.

The search is anytime: the heuristic candidates first (the most preferred sources; a greedy set
cover, in pick order and in preference order), then every source set by size, smallest first, pruned
by lower bounds, until the relaxation level's work budget runs out; ``DomResult.exact`` says whether
it finished. The budget counts steps, not time, so a plan never depends on how busy the machine is.
A source with a daily line limit takes at most the lines it has left; one with none left is not
eligible.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.fulfillment.geo import Located, haversine_km
from orderflow.models.fulfillment import BackorderedLine, DomSettings, GeoPoint, Objective

# A source or ship-to without coordinates ranks as if half the world away: usable, never preferred.
UNKNOWN_DISTANCE_KM = 20_000.0
# Search steps per relaxation level (a source tried in a set, a line it is asked for, a line of a set
# scored): about 4 ms of CPython on a 2-core machine whatever the order's size, so even a plan that
# tries all four levels stays within 20 ms of search.
WORK_BUDGET = 15_000
NODE_STEPS = 12  # what trying one more source in a set costs besides asking it for lines
SMALL_SET = 8  # sets this small are filled by asking each member, not through the product's stockers
DISTANCE_SLACK = 1e-6  # unit-km sums added in another order may differ in their last bits
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
    max_lines_per_day: int | None = None
    lines_today: int = 0  # order lines assigned to it today (UTC)

    @property
    def lines_left(self) -> int | None:
        if self.max_lines_per_day is None:
            return None
        return max(0, self.max_lines_per_day - self.lines_today)


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
    exact: bool = False  # every candidate source set was compared (or ruled out by a bound)

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
    preferred: bool = True  # filled in preference order (see the module docstring's last tie-break)

    @property
    def key(self) -> tuple[object, ...]:
        return (*self.score, not self.preferred)


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, steps: int) -> bool:
        self.left -= steps
        return self.left >= 0


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
        # A budget per level: a level's plan is the same whether or not stricter ones were tried first.
        fill, exact = problem.solve(constraints, _Budget(WORK_BUDGET))
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
                    reason=problem.why(line, missing, constraints, fill),
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
        # Ship complete places the biggest lines first: they have the fewest sources that can take them.
        self.by_size = sorted(lines, key=lambda line: (-line.quantity, line.line_number))
        self.objectives = objectives
        self.distance = distance
        self.demand: dict[str, int] = defaultdict(int)
        self.smallest: dict[str, int] = {}  # each product's smallest line
        for line in lines:
            product = line.product or ""
            self.demand[product] += line.quantity
            self.smallest[product] = min(line.quantity, self.smallest.get(product, line.quantity))
        self.sources = {s.id: s for s in sources}
        # Only stock that matters to this order: a 200-source catalogue shrinks to what it asks for.
        self.stock: dict[str, dict[str, int]] = {
            s.id: {p: q for p, q in s.stock.items() if q > 0 and p in self.demand} for s in sources
        }
        self.room: dict[str, int | None] = {s.id: s.lines_left for s in sources}
        self.stockers: dict[str, list[str]] = defaultdict(list)
        for source_id in sorted(self.stock, key=self.sort_key):
            for product in self.stock[source_id]:
                self.stockers[product].append(source_id)  # most preferred first

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
    def solve(self, constraints: _Constraints, budget: _Budget) -> tuple[_Fill, bool]:
        eligible = [
            source_id
            for source_id, products in self.stock.items()
            if products
            and self.room[source_id] != 0
            and (
                constraints.max_distance_km is None
                or (
                    self.distance[source_id] is not None and self.km(source_id) <= constraints.max_distance_km
                )
            )
        ]
        if not eligible:  # everything is unsourced
            return _Fill({}, {line.line_number: line.quantity for line in self.lines}), True
        eligible.sort(key=self.sort_key)
        limit = min(constraints.max_sources or len(eligible), len(eligible))
        ship_complete = constraints.ship_complete
        best: _Fill | None = None

        def consider(fill: _Fill) -> None:
            nonlocal best
            fill.score = self.score(fill)
            if best is None or fill.key < best.key:
                best = fill

        # The most preferred sources first: optimal for distance/priority when nothing caps sources.
        first = self._fill(eligible, ship_complete)
        used = [s for s in eligible if first.taken.get(s)]
        # A fill of a set is the fill of the sources it uses: no need to fill ``used`` again.
        consider(first if len(used) <= limit else self._fill(used[:limit], ship_complete))
        cover = self._greedy_cover(eligible, ship_complete, limit)
        ranked = sorted(cover, key=self.sort_key)
        if cover != ranked:
            consider(self._fill(cover, ship_complete, preferred=False))
        consider(self._fill(ranked, ship_complete))
        if ship_complete and any(not self._ships_a_line(s) for s in eligible):
            # That source's set ships nothing: the empty plan is a candidate the search would not see.
            consider(self._fill([], ship_complete))
        assert best is not None
        # Listing the lines each source can serve is work like any other: an order too big to list
        # them within the budget keeps the heuristics' plan.
        entries = sum(len(self.stock[s]) for s in eligible)
        if not budget.spend(entries + entries * len(self.lines) // len(self.demand)):
            return best, False
        return _Search(self, eligible, limit, ship_complete, best, budget).run()

    def _fill(self, order: Sequence[str], ship_complete: bool, *, preferred: bool = True) -> _Fill:
        """Each line from the first sources in ``order`` that have it (whole, if ship complete), each
        source taking no more lines than it has left today. ``preferred``: ``order`` is in preference
        order (a subsequence of the sorted stockers)."""
        holders: Callable[[str], list[str]]
        if len(order) <= SMALL_SET:

            def holders(product: str) -> list[str]:
                return [s for s in order if product in self.stock[s]]
        elif preferred:
            members = set(order)

            def holders(product: str) -> list[str]:
                return [s for s in self.stockers.get(product, ()) if s in members]
        else:
            rank = {source_id: i for i, source_id in enumerate(order)}

            def holders(product: str) -> list[str]:
                return sorted((s for s in self.stockers.get(product, ()) if s in rank), key=rank.__getitem__)

        by_product: dict[str, list[str]] = {}
        left: dict[tuple[str, str], int] = {}
        room = {s: r for s in order if (r := self.room[s]) is not None}
        taken: dict[str, list[tuple[int, int]]] = {source_id: [] for source_id in order}
        unsourced: dict[int, int] = {}
        for line in self.by_size if ship_complete else self.lines:
            product = line.product or ""
            if product not in by_product:
                by_product[product] = holders(product)
            remaining = line.quantity
            for source_id in by_product[product]:
                available = left.get((source_id, product))
                if available is None:
                    available = self.stock[source_id][product]
                if available <= 0 or (ship_complete and available < remaining):
                    continue
                if source_id in room:
                    if room[source_id] <= 0:
                        continue
                    room[source_id] -= 1
                quantity = min(available, remaining)
                left[(source_id, product)] = available - quantity
                taken[source_id].append((line.line_number, quantity))
                remaining -= quantity
                if not remaining:
                    break
            if remaining:
                unsourced[line.line_number] = remaining
        return _Fill(taken, unsourced, preferred=preferred)

    def _ships_a_line(self, source_id: str) -> bool:
        """Whether the source alone could ship one of the lines whole."""
        return any(q >= self.smallest[product] for product, q in self.stock[source_id].items())

    def _greedy_cover(self, eligible: list[str], ship_complete: bool, limit: int) -> list[str]:
        """Greedy set cover: the source covering most still-open units (then the most preferred),
        until none adds any or ``limit`` are picked."""
        if ship_complete:
            return self._cover_whole_lines(eligible, limit)
        return self._cover_units(eligible, limit)

    def _cover_units(self, eligible: list[str], limit: int) -> list[str]:
        """Lazily: a source's gain only shrinks as others are picked, so a stale gain is an upper
        bound, and a popped source whose recomputed gain still tops the heap is the true best."""
        need = dict(self.demand)

        def gain(source_id: str) -> int:
            total = 0
            for product, stock in self.stock[source_id].items():
                wanted = need[product]
                total += stock if stock < wanted else wanted
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
                need[product] -= min(stock, need[product])
        return picked

    def _cover_whole_lines(self, eligible: list[str], limit: int) -> list[str]:
        """Lines whole, biggest first: what a source covers of a product changes only when a pick
        closes lines of it, so each source's cover is kept per product and updated there."""
        members = set(eligible)
        open_lines: dict[str, list[int]] = defaultdict(list)  # quantities, biggest first
        for line in self.by_size:
            open_lines[line.product or ""].append(line.quantity)

        def part(source_id: str, product: str) -> int:
            room, total = self.stock[source_id][product], 0
            for quantity in open_lines[product]:
                if quantity <= room:
                    room -= quantity
                    total += quantity
            return total

        parts = {s: {p: part(s, p) for p in self.stock[s]} for s in eligible}
        gain = {s: sum(covers.values()) for s, covers in parts.items()}
        keys = {s: self.sort_key(s) for s in eligible}
        heap = [(-gain[s], keys[s], s) for s in eligible]
        heapq.heapify(heap)
        picked: list[str] = []
        while heap and len(picked) < limit:
            negative, _key, source_id = heapq.heappop(heap)
            if -negative != gain[source_id]:
                continue  # an older entry: the source's current gain is in the heap too
            if negative >= 0:
                break  # no source adds anything any more
            picked.append(source_id)
            gain[source_id] = -1
            changed: set[str] = set()
            for product, stock in self.stock[source_id].items():
                room, kept = stock, []
                for quantity in open_lines[product]:
                    if quantity <= room:
                        room -= quantity
                    else:
                        kept.append(quantity)
                if len(kept) == len(open_lines[product]):
                    continue  # it closed no line of this product: nobody's cover of it changed
                open_lines[product] = kept
                for other in self.stockers[product]:
                    if other in members and gain[other] > 0:
                        fresh = part(other, product)
                        if fresh != parts[other][product]:
                            gain[other] += fresh - parts[other][product]
                            parts[other][product] = fresh
                            changed.add(other)
            for other in changed:
                heapq.heappush(heap, (-gain[other], keys[other], other))
        return picked

    # -- explaining ------------------------------------------------------------------------------
    def why(self, line: DomLine, missing: int, constraints: _Constraints, fill: _Fill) -> str:
        product = line.product or ""
        holders = self.stockers.get(product, [])
        anywhere = sum(self.stock[s][product] for s in holders)
        if not anywhere:
            return f"no stock of {product} at any active source"
        full = [s for s in holders if self.room[s] == 0]
        if full and sum(self.stock[s][product] for s in holders if s not in full) < line.quantity:
            return (
                f"the stock of {product} is at sources that reached their limit of lines per day: "
                + _limits(self.sources[s] for s in full)
            )
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
        busy = [
            s
            for s in holders
            if (room := self.room[s]) is not None and (room == 0 or len(fill.taken.get(s, ())) >= room)
        ]
        if busy:
            return f"the stock left of {product} is at sources with no lines left today: " + _limits(
                self.sources[s] for s in busy
            )
        if constraints.max_sources is not None:
            return f"the stock left is at sources beyond the maximum of {constraints.max_sources}"
        return f"{product}'s stock is taken by other lines of this order ({anywhere} available in all)"


def _limits(sources: Iterable[DomSource]) -> str:
    return ", ".join(f"{s.id} (max_lines_per_day {s.max_lines_per_day})" for s in sources)


class _Search:
    """Every set of up to ``limit`` eligible sources, smallest first, each filled in preference order.

    Sets grow by adding sources in preference order, so a source added last is asked for each line
    after all the others: what they took stays as it was, and the set's fill is built one source at a
    time (``_add``). A fill only ever uses sources that take something, and a set's fill is the fill
    of the sources it uses: so a source that would take nothing ends its branch (that set is
    scored as the smaller one), and a set of k sources that all take makes k shipments. Lower bounds,
    valid for every set a branch can still become:
      unsourced >= max(what no set of eligible sources can source, what the branch leaves
                       - r x the most any one source still to come could take)   (r: sources to add)
      shipments  = k;  unit-km and priority points >= what the branch's sources take already
    """

    def __init__(
        self,
        problem: _Problem,
        eligible: list[str],
        limit: int,
        ship_complete: bool,
        best: _Fill,
        budget: _Budget,
    ) -> None:
        self.problem = problem
        self.eligible = eligible
        self.limit = limit
        self.ship_complete = ship_complete
        self.best = best
        self.budget = budget
        self.lines = problem.by_size if ship_complete else problem.lines
        self.left = [line.quantity for line in self.lines]  # per line, what the branch leaves
        self.open = sum(self.left)
        self.units = 0.0
        self.points = 0
        self.chosen: list[tuple[int, list[tuple[int, int]]]] = []  # (source, its (line, quantity) takes)
        self.priority_floor = all(problem.sources[s].priority >= 0 for s in eligible)
        lines_of: dict[str, list[int]] = defaultdict(list)
        for j, line in enumerate(self.lines):
            lines_of[line.product or ""].append(j)
        self.serves: list[list[int]] = []
        for source_id in eligible:
            served = [j for product in problem.stock[source_id] for j in lines_of[product]]
            served.sort()
            self.serves.append(served)
        self.km = [problem.km(s) for s in eligible]
        self.priority = [problem.sources[s].priority for s in eligible]
        # The most units any one source from i on could take (its stock, up to what is ordered).
        self.most_after = [0] * (len(eligible) + 1)
        for i in range(len(eligible) - 1, -1, -1):
            stock = problem.stock[eligible[i]]
            most = sum(min(q, problem.demand[p]) for p, q in stock.items())
            self.most_after[i] = max(self.most_after[i + 1], most)
        self.floor = self._unsourced_floor()

    def _unsourced_floor(self) -> int:
        """Unsourced quantity no set of eligible sources can go below."""
        problem = self.problem
        total: dict[str, int] = defaultdict(int)
        biggest: dict[str, int] = defaultdict(int)
        for source_id in self.eligible:
            for product, q in problem.stock[source_id].items():
                total[product] += q
                biggest[product] = max(biggest[product], q)
        stranded: dict[str, int] = defaultdict(int)
        if self.ship_complete:  # a line no single source can ship whole is unsourced in every plan
            for line in self.lines:
                if line.quantity > biggest[line.product or ""]:
                    stranded[line.product or ""] += line.quantity
        return sum(stranded[p] + max(0, d - stranded[p] - total[p]) for p, d in problem.demand.items())

    def run(self) -> tuple[_Fill, bool]:
        for size in range(1, self.limit + 1):
            if self._beaten(self.floor, size, 0.0, 0):
                return self.best, True  # no set this big, or bigger, can come first
            if not self._extend(0, size):
                return self.best, False
        return self.best, True

    def _beaten(self, unsourced: int, shipments: int, units: float, points: int) -> bool:
        """True when no set with these lower bounds can come before the best plan."""
        score = self.best.score
        for j, objective in enumerate(self.problem.objectives):
            target: Any = score[j]
            if objective is Objective.UNSOURCED:
                if unsourced != target:
                    return unsourced > target
            elif objective is Objective.SHIPMENTS:
                if shipments != target:
                    return shipments > target
            elif objective is Objective.DISTANCE:
                if abs(units - target) <= DISTANCE_SLACK:
                    return False  # too close to call from a bound: look at the set itself
                return units > target
            elif not self.priority_floor:
                return False  # a negative priority: what is taken so far bounds nothing
            elif points != target:
                return points > target
        return False

    def _extend(self, start: int, size: int) -> bool:
        """Add the next source of a ``size`` set from ``start`` on; False when the budget ran out."""
        still = size - len(self.chosen) - 1  # sources to add after this one
        for i in range(start, len(self.eligible) - still):
            if not self.budget.spend(NODE_STEPS + len(self.serves[i])):
                return False
            takes = self._add(i)
            if not takes:
                continue  # it would take nothing: not a set worth scoring
            unsourced = max(self.floor, self.open - still * self.most_after[i + 1])
            if not self._beaten(unsourced, size, self.units, self.points):
                if still:
                    if not self._extend(i + 1, size):
                        return False
                elif not self._score_set():
                    return False
            self._remove(i, takes)
        return True

    def _add(self, i: int) -> list[tuple[int, int]]:
        """Ask source ``i`` for every line after the sources chosen: what it takes, taken."""
        source_id = self.eligible[i]
        stock = self.problem.stock[source_id]
        have: dict[str, int] = {}  # what it has left of the products it gave some of
        room = self.problem.room[source_id]
        left = self.left
        takes: list[tuple[int, int]] = []
        for j in self.serves[i]:
            wanted = left[j]
            if not wanted:
                continue
            product = self.lines[j].product or ""
            available = have.get(product, stock[product])
            if available <= 0 or (self.ship_complete and available < wanted):
                continue
            if room is not None:
                if room <= 0:
                    break
                room -= 1
            quantity = wanted if wanted < available else available
            have[product] = available - quantity
            left[j] = wanted - quantity
            takes.append((j, quantity))
        if takes:
            covered = sum(q for _, q in takes)
            self.open -= covered
            self.units += covered * self.km[i]
            self.points += covered * self.priority[i]
            self.chosen.append((i, takes))
        return takes

    def _remove(self, i: int, takes: list[tuple[int, int]]) -> None:
        self.chosen.pop()
        covered = 0
        for j, quantity in takes:
            self.left[j] += quantity
            covered += quantity
        self.open += covered
        self.units -= covered * self.km[i]
        self.points -= covered * self.priority[i]

    def _score_set(self) -> bool:
        if not self.budget.spend(len(self.lines) + len(self.chosen)):
            return False
        taken = {
            self.eligible[i]: [(self.lines[j].line_number, q) for j, q in takes] for i, takes in self.chosen
        }
        unsourced = {self.lines[j].line_number: q for j, q in enumerate(self.left) if q}
        fill = _Fill(taken, unsourced)
        fill.score = self.problem.score(fill)
        if fill.key < self.best.key:
            self.best = fill
        return True
