"""Send to DOM's optimiser, pure: which sources ship which lines, and why a line is backordered."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from orderflow.fulfillment.dom import (
    UNKNOWN_DISTANCE_KM,
    DomLine,
    DomResult,
    DomSource,
    normal_objectives,
    plan,
)
from orderflow.fulfillment.geo import Located, haversine_km, locate
from orderflow.models.fulfillment import DomSettings, GeoPoint, Objective
from tests.unit import dom_reference as reference

AUSTIN = locate("78701", "US")  # the ship-to, estimated from its ZIP prefix
COORDS = {
    "AUS": (30.27, -97.74),  # ~0 km
    "DAL": (32.78, -96.80),  # ~290 km
    "HOU": (29.76, -95.37),  # ~235 km
    "CHI": (41.88, -87.63),  # ~1,570 km
    "SEA": (47.61, -122.33),  # ~2,860 km
}


def source(source_id: str, stock: dict[str, int], **kwargs: object) -> DomSource:
    lat, lon = COORDS[source_id]
    return DomSource(source_id, stock, location=GeoPoint(latitude=lat, longitude=lon), **kwargs)  # type: ignore[arg-type]


def lines(*specs: tuple[str, int]) -> list[DomLine]:
    return [DomLine(i, product, quantity, sku=product) for i, (product, quantity) in enumerate(specs, 1)]


def shipped(result: object) -> dict[str, list[tuple[int, int]]]:
    return {s.source_id: s.lines for s in result.shipments}  # type: ignore[attr-defined]


def test_one_source_that_has_everything_ships_everything() -> None:
    # Given the nearest source has every line, and a farther one too
    sources = [source("CHI", {"A": 10, "B": 10}), source("AUS", {"A": 10, "B": 10})]

    result = plan(lines(("A", 2), ("B", 3)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"AUS": [(1, 2), (2, 3)]}
    assert result.complete and not result.relaxed and result.distance_estimated
    assert result.shipments[0].distance_km is not None and result.shipments[0].distance_km < 5


def test_lines_split_across_two_sources_when_none_has_all() -> None:
    sources = [source("AUS", {"A": 5}), source("DAL", {"B": 5}), source("SEA", {"A": 5})]

    result = plan(lines(("A", 2), ("B", 1)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"AUS": [(1, 2)], "DAL": [(2, 1)]}
    assert result.complete


def test_fewest_shipments_wins_over_distance_by_default() -> None:
    # AUS + DAL would be nearer, but CHI alone is one shipment
    sources = [source("AUS", {"A": 5}), source("DAL", {"B": 5}), source("CHI", {"A": 5, "B": 5})]

    result = plan(lines(("A", 2), ("B", 1)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"CHI": [(1, 2), (2, 1)]}


def test_ship_complete_forces_a_farther_source() -> None:
    # Given distance ranks before shipments: the nearest split is AUS 3 + HOU 2
    sources = [source("AUS", {"A": 3}), source("HOU", {"A": 2}), source("CHI", {"A": 5})]
    nearest = DomSettings(objectives=[Objective.UNSOURCED, Objective.DISTANCE])

    split = plan(lines(("A", 5)), sources, AUSTIN, nearest)
    whole = plan(lines(("A", 5)), sources, AUSTIN, nearest.model_copy(update={"ship_complete": True}))

    assert shipped(split) == {"AUS": [(1, 3)], "HOU": [(1, 2)]}
    assert shipped(whole) == {"CHI": [(1, 5)]}
    assert whole.complete and not whole.relaxed


def test_nothing_in_stock_backorders_the_line_and_says_why() -> None:
    sources = [source("AUS", {"A": 0}), source("DAL", {"B": 4})]

    result = plan(lines(("A", 2), ("B", 6)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"DAL": [(2, 4)]}
    assert [(b.line_number, b.quantity, b.reason) for b in result.backordered] == [
        (1, 2, "no stock of A at any active source"),
        (2, 2, "only 4 of B available at active sources, 6 ordered"),
    ]


def test_an_unmapped_line_is_backordered() -> None:
    result = plan([DomLine(1, None, 2, sku="NOPE")], [source("AUS", {"A": 1})], AUSTIN, DomSettings())

    assert result.backordered[0].sku == "NOPE" and "not mapped" in result.backordered[0].reason


def test_max_sources_caps_the_shipments_and_is_relaxed_only_when_allowed() -> None:
    sources = [source("AUS", {"A": 5}), source("DAL", {"B": 5})]
    capped = DomSettings(max_sources=1, relax=False)

    strict = plan(lines(("A", 1), ("B", 2)), sources, AUSTIN, capped)
    relaxed = plan(lines(("A", 1), ("B", 2)), sources, AUSTIN, capped.model_copy(update={"relax": True}))

    assert len(strict.shipments) == 1 and len(strict.backordered) == 1
    assert "maximum of 1" in strict.backordered[0].reason
    assert relaxed.complete and relaxed.relaxed == ["max_sources"] and len(relaxed.shipments) == 2


def test_inactive_sources_are_never_used_not_even_when_relaxing() -> None:
    sources = [source("AUS", {"A": 5}, active=False), source("DAL", {"A": 1})]

    result = plan(lines(("A", 2)), sources, AUSTIN, DomSettings(ship_complete=True))

    assert shipped(result) == {"DAL": [(1, 1)]}
    assert result.relaxed == ["ship_complete"]
    assert result.backordered[0].quantity == 1


def test_max_distance_is_relaxed_and_reported_when_nothing_nearer_has_stock() -> None:
    sources = [source("AUS", {"A": 0}), source("DAL", {"A": 5})]
    near_only = DomSettings(max_distance_km=100)

    relaxed = plan(lines(("A", 2)), sources, AUSTIN, near_only)
    strict = plan(lines(("A", 2)), sources, AUSTIN, near_only.model_copy(update={"relax": False}))

    assert shipped(relaxed) == {"DAL": [(1, 2)]} and relaxed.relaxed == ["max_distance_km"]
    assert not strict.shipments and "within 100 km" in strict.backordered[0].reason


def test_priority_breaks_a_tie_in_distance() -> None:
    here = GeoPoint(latitude=30.27, longitude=-97.74)
    sources = [DomSource("B", {"A": 5}, priority=5, location=here), DomSource("A", {"A": 5}, location=here)]

    result = plan(lines(("A", 1)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"B": [(1, 1)]}


def test_the_ship_to_is_located_by_the_best_fallback_and_says_which() -> None:
    assert locate("78701-1234", "US").basis == "zip3"
    assert locate("12345", "US").basis == "zip1"
    assert locate("10115", "DE").basis == "country"
    assert locate("", "ZZ").basis == "unknown" and locate("", "ZZ").point is None
    exact = locate("", "", GeoPoint(latitude=1, longitude=2))
    assert exact.basis == "coordinates" and not exact.estimated
    # New York to Los Angeles is about 3,940 km
    ny, la = locate("10001", "US").point, locate("90001", "US").point
    assert ny and la and 3900 < haversine_km(ny, la) < 3980


def test_an_unknown_ship_to_still_sources_by_the_other_objectives() -> None:
    sources = [source("AUS", {"A": 5}, priority=50), source("SEA", {"A": 5}, priority=1)]

    result = plan(lines(("A", 1)), sources, locate("", "ZZ"), DomSettings())

    assert shipped(result) == {"SEA": [(1, 1)]} and result.shipments[0].distance_km is None


def test_a_large_order_is_planned_fast_and_never_takes_more_than_is_there() -> None:
    # Given 1,000 lines over 200 sources, each source stocking a random quarter of 500 products
    rng = random.Random(7)
    products = [f"P{i}" for i in range(500)]
    sources = [
        DomSource(
            f"S{i}",
            {p: rng.randint(1, 20) for p in rng.sample(products, 125)},
            priority=rng.randint(1, 9),
            location=GeoPoint(latitude=rng.uniform(25, 48), longitude=rng.uniform(-122, -70)),
        )
        for i in range(200)
    ]
    order = [DomLine(i, rng.choice(products), rng.randint(1, 5)) for i in range(1, 1001)]

    started = time.perf_counter()
    result = plan(order, sources, AUSTIN, DomSettings())
    elapsed = time.perf_counter() - started

    taken: dict[tuple[str, str], int] = defaultdict(int)
    products_of = {line.line_number: line.product for line in order}
    for shipment in result.shipments:
        for line_number, quantity in shipment.lines:
            taken[(shipment.source_id, products_of[line_number] or "")] += quantity
    stock = {s.id: s.stock for s in sources}
    assert all(q <= stock[s][p] for (s, p), q in taken.items())
    sourced = sum(q for s in result.shipments for _, q in s.lines)
    assert sourced + sum(b.quantity for b in result.backordered) == sum(line.quantity for line in order)
    assert elapsed < 5  # a generous bound for slow CI machines; `make bench` prints the real figure


# -- daily line limits -------------------------------------------------------------------------------


def test_a_source_at_its_daily_line_limit_is_not_used_and_the_reason_names_the_limit() -> None:
    # Given the nearest source has shipped its 40 lines today, and nobody else has the stock
    sources = [source("AUS", {"A": 10}, max_lines_per_day=40, lines_today=40), source("DAL", {"B": 5})]

    result = plan(lines(("A", 2), ("B", 1)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"DAL": [(2, 1)]}
    [backordered] = result.backordered
    assert backordered.line_number == 1
    assert backordered.reason == (
        "the stock of A is at sources that reached their limit of lines per day: AUS (max_lines_per_day 40)"
    )


def test_a_source_takes_no_more_lines_than_it_has_left_today() -> None:
    # Given AUS has everything but one line left today; DAL, farther, has the rest
    sources = [
        source("AUS", {"A": 10, "B": 10, "C": 10}, max_lines_per_day=5, lines_today=4),
        source("DAL", {"B": 10, "C": 10}),
    ]

    result = plan(lines(("A", 1), ("B", 1), ("C", 1)), sources, AUSTIN, DomSettings())

    # Then AUS ships one line (the one only it has), DAL the other two
    assert shipped(result) == {"AUS": [(1, 1)], "DAL": [(2, 1), (3, 1)]}
    assert result.complete and result.exact


def test_when_no_source_has_lines_left_for_a_line_it_is_backordered_naming_the_limit() -> None:
    sources = [source("AUS", {"A": 10}, max_lines_per_day=3, lines_today=2)]

    result = plan(lines(("A", 1), ("A", 1)), sources, AUSTIN, DomSettings())

    assert shipped(result) == {"AUS": [(1, 1)]}
    assert [b.line_number for b in result.backordered] == [2]
    assert "no lines left today: AUS (max_lines_per_day 3)" in result.backordered[0].reason


# -- the search against the previous optimiser --------------------------------------------------------


def cliff(order_lines: int) -> tuple[list[DomLine], list[DomSource]]:
    """The instance family that showed the old exact search's cliff: 290 sources, 31 of them near
    (each stocking five of nine products, every sixth all of them), one more near source stocking only
    a tenth product, and 258 far away stocking everything; max 2 sources within 250 km. With nine
    lines the old search enumerated 496 source sets; with ten, 528, over its limit of 512."""
    rng = random.Random(290)
    products = [f"P{i}" for i in range(1, 11)]
    sources = []
    for i in range(290):
        if i < 31:
            km, held = 10 + 7 * i, (rng.sample(products[:9], 5) if i % 6 else products[:9])
        elif i == 31:
            km, held = 240, ["P10"]
        else:
            km, held = 300 + 10 * i, products
        bearing = rng.uniform(0, 2 * math.pi)
        point = GeoPoint(
            latitude=30.27 + km / 111.2 * math.cos(bearing),
            longitude=-97.74 + km / (111.2 * math.cos(math.radians(30.27))) * math.sin(bearing),
        )
        stock = {p: rng.randint(2, 9) for p in held}
        sources.append(DomSource(f"S{i:03d}", stock, priority=rng.randint(1, 9), location=point))
    order = [DomLine(n, products[n - 1], rng.randint(1, 2)) for n in range(1, order_lines + 1)]
    return order, sources


CLIFF_SETTINGS = DomSettings(max_sources=2, max_distance_km=250)


def test_the_search_finishes_on_both_sides_of_the_old_cliff() -> None:
    for order_lines in (9, 10):
        order, sources = cliff(order_lines)

        result = plan(order, sources, AUSTIN, CLIFF_SETTINGS)
        before = reference.plan(
            [reference.DomLine(**vars(line)) for line in order],
            [reference.DomSource(s.id, s.stock, s.priority, s.location) for s in sources],
            AUSTIN,
            CLIFF_SETTINGS,
        )

        assert result.exact, order_lines  # every source set compared, or ruled out by a bound
        assert result.complete and not result.relaxed
        assert shipped(result) == shipped(before)  # the old search was exact at 9; at 10 it guessed right


OBJECTIVES = [Objective.UNSOURCED, Objective.SHIPMENTS, Objective.DISTANCE, Objective.PRIORITY]
PLACES = [locate("78701", "US"), locate("10001", "US"), locate("98101", "US"), locate("", "ZZ")]


@dataclass(frozen=True)
class Instance:
    lines: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    settings: DomSettings
    ship_to: Located

    def new(self, settings: DomSettings) -> DomResult:
        return plan(
            [DomLine(**line) for line in self.lines],
            [DomSource(**s) for s in self.sources],
            self.ship_to,
            settings,
        )

    def old(self, settings: DomSettings) -> reference.DomResult:
        return reference.plan(
            [reference.DomLine(**line) for line in self.lines],
            [reference.DomSource(**s) for s in self.sources],
            self.ship_to,
            settings,
        )


def random_instance(seed: int) -> Instance:
    """Orders of 1 to 40 lines over 2 to 64 sources, some inactive or without coordinates, some lines
    unmapped; every strategy: ship complete, max sources, max distance, relax, ranked objectives."""
    rng = random.Random(seed)
    count = rng.choice([2, 3, 4, 5, 6, 8, 9, 10, 12, 16, 24, 32, 48, 64])
    order_lines = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 40])
    catalogue = [f"P{i}" for i in range(rng.randint(1, order_lines))]
    sources = [
        {
            "id": f"S{i:02d}",
            "stock": {p: rng.randint(0, 12) for p in rng.sample(catalogue, rng.randint(1, len(catalogue)))},
            "priority": rng.randint(1, 9),
            "location": None
            if rng.random() < 0.1
            else GeoPoint(latitude=rng.uniform(25, 48), longitude=rng.uniform(-122, -70)),
            "active": rng.random() > 0.1,
        }
        for i in range(count)
    ]
    order = [
        {
            "line_number": n,
            "product": None if rng.random() < 0.05 else rng.choice(catalogue),
            "quantity": rng.randint(1, 8),
            "sku": f"SKU-{n}",
        }
        for n in range(1, order_lines + 1)
    ]
    objectives = list(OBJECTIVES)
    if rng.random() < 0.4:
        rng.shuffle(objectives)
        objectives = objectives[: rng.randint(1, 4)]
    settings = DomSettings(
        objectives=objectives,
        ship_complete=rng.random() < 0.3,
        max_sources=rng.choice([None, None, 1, 2, 3, 4]),
        max_distance_km=rng.choice([None, None, 500, 1200, 2500]),
        relax=rng.random() < 0.7,
    )
    return Instance(order, sources, settings, rng.choice(PLACES))


def levels(settings: DomSettings) -> list[DomSettings]:
    """The strategy and each relaxation of it, in the order plan() relaxes them, none relaxing more."""
    found = [settings.model_copy(update={"relax": False})]
    for name in ("max_distance_km", "max_sources", "ship_complete"):
        if getattr(found[-1], name) not in (None, False):
            found.append(found[-1].model_copy(update={name: False if name == "ship_complete" else None}))
    return found


def view(result: DomResult | reference.DomResult) -> tuple[object, ...]:
    return (
        [(s.source_id, s.lines) for s in result.shipments],
        [(b.line_number, b.quantity, b.reason) for b in result.backordered],
        result.relaxed,
    )


def objective_score(result: DomResult | reference.DomResult, case: Instance) -> tuple[object, ...]:
    """The documented objective: the ranked objectives' values, then the source ids."""
    priority = {s["id"]: s["priority"] for s in case.sources}
    mapped = {line["line_number"] for line in case.lines if line["product"]}
    values: list[object] = []
    for objective in normal_objectives(case.settings.objectives):
        if objective is Objective.UNSOURCED:
            values.append(sum(b.quantity for b in result.backordered if b.line_number in mapped))
        elif objective is Objective.SHIPMENTS:
            values.append(len(result.shipments))
        elif objective is Objective.DISTANCE:
            km = {
                s.source_id: UNKNOWN_DISTANCE_KM if s.distance_km is None else s.distance_km
                for s in result.shipments
            }
            values.append(round(sum(q * km[s.source_id] for s in result.shipments for _, q in s.lines), 3))
        else:
            values.append(sum(q * priority[s.source_id] for s in result.shipments for _, q in s.lines))
    return (*values, tuple(sorted(s.source_id for s in result.shipments)))


def in_preference_order(
    result: DomResult | reference.DomResult, case: Instance, settings: DomSettings
) -> bool:
    """Whether every line is served by the plan's sources in order of preference: the last tie-break."""
    active = [reference.DomSource(**s) for s in case.sources if s["active"]]
    distance = {s.id: reference._distance(s, case.ship_to) for s in active}
    wanted = [reference.DomLine(**line) for line in case.lines if line["product"]]
    problem = reference._Problem(wanted, active, distance, normal_objectives(settings.objectives))
    used = sorted((s.source_id for s in result.shipments), key=problem.sort_key)
    fill = problem._fill(used, settings.ship_complete)
    return {s: sorted(taken) for s, taken in fill.taken.items() if taken} == {
        s.source_id: s.lines for s in result.shipments
    }


def compare(case: Instance, settings: DomSettings) -> str:
    old, new = case.old(settings), case.new(settings)
    if view(new) == view(old):
        return "same plan"
    before, after = objective_score(old, case), objective_score(new, case)
    if after < before:
        return "better by the ranked objectives or source ids"
    if (
        after == before
        and in_preference_order(new, case, settings)
        and not in_preference_order(old, case, settings)
    ):
        return "equal, and the new plan serves each line from the preferred sources first"
    raise AssertionError(f"worse than before: {case.settings} {settings}\n{view(old)}\n{view(new)}")


def test_plans_agree_with_the_previous_optimiser_or_are_better_on_200_random_instances() -> None:
    outcomes: Counter[str] = Counter()
    for seed in range(200):
        case = random_instance(seed)
        # Each relaxation level on its own: there, the plan is the best by the ranked objectives.
        for settings in levels(case.settings):
            outcomes[compare(case, settings)] += 1
        # With relaxing allowed, a level is kept unless a later one leaves less unsourced: a better
        # plan at a level can change which level that is, so that rule is checked on the new plans.
        if case.settings.relax:
            result = case.new(case.settings)
            per_level = [case.new(settings) for settings in levels(case.settings)]
            assert view(result)[:2] == view(per_level[len(result.relaxed)])[:2], seed
            unsourced = [sum(b.quantity for b in r.backordered) for r in per_level]
            kept = unsourced[len(result.relaxed)]
            assert all(u > kept for u in unsourced[: len(result.relaxed)]), (seed, unsourced, result.relaxed)
            if result.relaxed == case.old(case.settings).relaxed:
                outcomes[compare(case, case.settings)] += 1
            else:
                outcomes["another relaxation level, by the relaxing rule"] += 1
    assert set(outcomes) <= {
        "same plan",
        "better by the ranked objectives or source ids",
        "equal, and the new plan serves each line from the preferred sources first",
        "another relaxation level, by the relaxing rule",
    }, outcomes
    assert outcomes["same plan"] > 500 and outcomes["better by the ranked objectives or source ids"] > 50, (
        outcomes
    )
