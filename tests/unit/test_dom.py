"""Send to DOM's optimiser, pure: which sources ship which lines, and why a line is backordered."""

from __future__ import annotations

import random
import time
from collections import defaultdict

from orderflow.fulfillment.dom import DomLine, DomSource, plan
from orderflow.fulfillment.geo import haversine_km, locate
from orderflow.models.fulfillment import DomSettings, GeoPoint, Objective

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
