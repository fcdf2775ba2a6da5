"""Reserving stock: the sourcing steps through their handler, and many orders after the last units."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from orderflow.errors import TransientStepError
from orderflow.models.fulfillment import FulfillmentOrderStatus, FulfillmentSource, GeoPoint, SourceAddress
from orderflow.models.order import Address, Order, OrderLine
from orderflow.store import tables
from orderflow.store.fulfillment import today
from orderflow_local.runtime import LocalRuntime
from tests.conftest import step_event

PLACES = {"AUS": (30.27, -97.74), "DAL": (32.78, -96.80), "CHI": (41.88, -87.63), "SEA": (47.61, -122.33)}


def add_source(
    source_id: str, priority: int = 100, active: bool = True, max_lines_per_day: int | None = None
) -> None:
    lat, lon = PLACES[source_id]
    tables.sources().create(
        FulfillmentSource(
            id=source_id,
            name=f"Warehouse {source_id}",
            priority=priority,
            active=active,
            max_lines_per_day=max_lines_per_day,
            address=SourceAddress(country_iso2="US", location=GeoPoint(latitude=lat, longitude=lon)),
        )
    )


def add_order(key: str, *lines: tuple[str, int], zip_code: str = "78701") -> str:
    tables.orders().create(
        Order(
            order_key=key,
            store_hash="test-store",
            external_id=int(key.rsplit("-", 1)[-1]),
            import_id=key,
            channel_id=1,
            ship_to=[Address(zip=zip_code, country_iso2="US")],
            lines=[
                OrderLine(line_number=n, external_id=n, sku=f"SKU-{product}", product=product, quantity=q)
                for n, (product, q) in enumerate(lines, 1)
            ],
        )
    )
    return key


def step(runtime: LocalRuntime, key: str, action: str = "send_to_dom", **params: Any) -> dict[str, Any]:
    event = step_event("step_send_to_dom.json", order_key=key, action=action)
    if params or action != "send_to_dom":
        event["params"] = params
    result: dict[str, Any] = runtime.invoke("SourcingFunction", event)
    return result


def levels(product: str) -> dict[str, tuple[int, int]]:
    return {
        level.source_id: (level.on_hand, level.reserved) for level in tables.inventory().for_product(product)
    }


def test_send_to_dom_reserves_stores_the_fulfillment_orders_and_runs_once(runtime: LocalRuntime) -> None:
    # Given stock of two products at two sources near the ship-to
    add_source("AUS")
    add_source("DAL")
    inventory = tables.inventory()
    inventory.set_on_hand("AUS", "Accu Scale", 10)
    inventory.set_on_hand("DAL", "Bench Press", 3)
    key = add_order("BC-test-store-101", ("Accu Scale", 2), ("Bench Press", 3))

    # When the step runs (the sample event's params), and then again
    first = step(runtime, key, objectives=["unsourced", "shipments", "distance"])
    second = step(runtime, key)

    # Then it split the order across both sources, reserved once, and the re-run answered the same
    assert first["succeeded"], first["message"]
    assert (
        "sourced 2 line(s) from 2 source(s): AUS (1 line(s), 0 km), DAL (1 line(s), 293 km)"
        in first["message"]
    )
    assert "estimated from the ship-to's ZIP area" in first["message"]
    assert second["succeeded"] and second["message"].startswith("already sourced: ")
    assert levels("Accu Scale") == {"AUS": (10, 2)} and levels("Bench Press") == {"DAL": (3, 3)}
    orders = tables.fulfillment_orders().for_order(key)
    assert [
        (fo.id, fo.source_id, [(line.line_number, line.quantity) for line in fo.lines]) for fo in orders
    ] == [
        (f"{key}-FO1", "AUS", [(1, 2)]),
        (f"{key}-FO2", "DAL", [(2, 3)]),
    ]
    assert tables.fulfillment_orders().get(key, f"{key}-FO2").lines[0].sku == "SKU-Bench Press"
    results = tables.orders().step_results(key)
    assert [r.status.value for r in results] == ["succeeded"]  # one execution, one step: replaced


def test_a_backordered_line_fails_the_step_naming_it_and_reserves_what_it_can(runtime: LocalRuntime) -> None:
    add_source("AUS")
    tables.inventory().set_on_hand("AUS", "Accu Scale", 5)
    key = add_order("BC-test-store-102", ("Accu Scale", 1), ("Nothing", 4))

    result = step(runtime, key)

    assert not result["succeeded"]
    assert "backordered 1 line(s): line 2 (4): no stock of Nothing at any active source" in result["message"]
    assert levels("Accu Scale") == {"AUS": (5, 1)}
    stored = tables.orders().step_results(key)[0]
    assert stored.details["backordered"] == [
        {
            "line_number": 2,
            "sku": "SKU-Nothing",
            "quantity": 4,
            "reason": "no stock of Nothing at any active source",
        }
    ]


def test_nothing_in_stock_reserves_nothing_and_a_rerun_after_restocking_sources_it(
    runtime: LocalRuntime,
) -> None:
    add_source("AUS")
    key = add_order("BC-test-store-103", ("Accu Scale", 2))

    empty = step(runtime, key)
    tables.inventory().set_on_hand("AUS", "Accu Scale", 2)
    again = step(runtime, key)

    assert not empty["succeeded"] and empty["message"].startswith("nothing reserved: backordered 1 line(s)")
    assert again["succeeded"] and levels("Accu Scale") == {"AUS": (2, 2)}


def test_bad_params_fail_the_step_naming_the_field(runtime: LocalRuntime) -> None:
    key = add_order("BC-test-store-104", ("Accu Scale", 1))

    result = step(runtime, key, objectives=["cheapest"])

    assert not result["succeeded"] and result["message"].startswith("params.objectives.0:")


def test_assign_fulfillment_source_follows_the_first_matching_rule(runtime: LocalRuntime) -> None:
    add_source("AUS")
    add_source("CHI")
    inventory = tables.inventory()
    inventory.set_on_hand("CHI", "Accu Scale", 5)
    inventory.set_on_hand("AUS", "Bench Press", 1)
    key = add_order("BC-test-store-105", ("Accu Scale", 2), ("Bench Press", 2))
    rules = [{"sku": "SKU-Accu*", "source": "CHI"}, {"country": "US", "channel": 1, "source": "AUS"}]

    result = step(runtime, key, "assign_fulfillment_source", rules=rules, default="AUS")

    # The nearer AUS is not considered for line 1: rules, not optimisation; line 2's source is short
    assert not result["succeeded"]
    assert "sourced 1 line(s) from 1 source(s): CHI" in result["message"]
    assert "line 2 (2): source AUS has 1 of Bench Press available, 2 ordered" in result["message"]
    assert levels("Accu Scale") == {"CHI": (5, 2)} and levels("Bench Press") == {"AUS": (1, 0)}


def test_status_changes_give_back_or_consume_the_stock_once(runtime: LocalRuntime) -> None:
    add_source("AUS")
    tables.inventory().set_on_hand("AUS", "Accu Scale", 10)
    shipped_key = add_order("BC-test-store-106", ("Accu Scale", 3))
    cancelled_key = add_order("BC-test-store-107", ("Accu Scale", 4))
    assert step(runtime, shipped_key)["succeeded"] and step(runtime, cancelled_key)["succeeded"]
    repo = tables.fulfillment_orders()

    repo.update_status(shipped_key, f"{shipped_key}-FO1", FulfillmentOrderStatus.SENT, provider="https")
    repo.update_status(
        shipped_key, f"{shipped_key}-FO1", FulfillmentOrderStatus.SHIPPED, tracking_number="1Z"
    )
    repo.update_status(cancelled_key, f"{cancelled_key}-FO1", FulfillmentOrderStatus.CANCELLED)
    repo.update_status(cancelled_key, f"{cancelled_key}-FO1", FulfillmentOrderStatus.CANCELLED)  # a repeat

    assert levels("Accu Scale") == {"AUS": (7, 0)}
    shipped = repo.get(shipped_key, f"{shipped_key}-FO1")
    assert shipped.status is FulfillmentOrderStatus.SHIPPED and shipped.provider == "https"
    assert shipped.tracking_number == "1Z"


def details(key: str) -> dict[str, Any]:
    """The details of the step's result (each run of the same execution replaces it)."""
    [result] = tables.orders().step_results(key)
    return result.details


def backordered(key: str) -> dict[int, int]:
    return {line.line_number: line.quantity_backordered for line in tables.orders().get(key).lines}


def test_stock_arriving_lets_send_to_dom_source_the_backordered_rest_once(runtime: LocalRuntime) -> None:
    # Given an order of 5 Accu Scale and 2 Bench Press, with only 3 Accu Scale in stock
    add_source("AUS")
    add_source("DAL")
    inventory = tables.inventory()
    inventory.set_on_hand("AUS", "Accu Scale", 3)
    inventory.set_on_hand("AUS", "Bench Press", 2)
    key = add_order("BC-test-store-110", ("Accu Scale", 5), ("Bench Press", 2))

    # When it is sourced: 3 and 2 are reserved, 2 backordered and recorded on the line
    first = step(runtime, key)
    assert (
        not first["succeeded"]
        and "backordered 1 line(s): line 1 (2): not enough Accu Scale" in first["message"]
    )
    assert backordered(key) == {1: 2, 2: 0}
    # and a run before any stock arrives reserves nothing more
    waiting = step(runtime, key)
    assert not waiting["succeeded"] and waiting["message"].startswith("nothing more reserved: ")
    assert [fo["id"] for fo in details(key)["fulfillment_orders"]] == [f"{key}-FO1"]

    # When stock arrives at Dallas and the step runs again, twice at once (a retry racing a resubmit)
    inventory.set_on_hand("DAL", "Accu Scale", 10)
    with ThreadPoolExecutor(max_workers=2) as pool:
        again = list(pool.map(lambda _: step(runtime, key), range(2)))

    # Then the 2 backordered are sourced from Dallas in a new fulfillment order, reserved once
    assert all(r["succeeded"] for r in again), [r["message"] for r in again]
    assert sorted(r["message"].split(":")[0] for r in again) == [
        "already sourced",
        "backordered lines sourced",
    ]
    assert levels("Accu Scale") == {"AUS": (3, 3), "DAL": (10, 2)}
    assert levels("Bench Press") == {"AUS": (2, 2)}
    orders = tables.fulfillment_orders().for_order(key)
    assert [
        (fo.id, fo.source_id, [(line.line_number, line.quantity) for line in fo.lines]) for fo in orders
    ] == [
        (f"{key}-FO1", "AUS", [(1, 3), (2, 2)]),
        (f"{key}-FO2", "DAL", [(1, 2)]),
    ]
    assert backordered(key) == {1: 0, 2: 0}
    # and with nothing backordered, the step answers what is stored
    last = step(runtime, key)
    assert last["succeeded"] and last["message"].startswith("already sourced: ")
    assert [fo["id"] for fo in details(key)["fulfillment_orders"]] == [f"{key}-FO1", f"{key}-FO2"]
    assert levels("Accu Scale") == {"AUS": (3, 3), "DAL": (10, 2)}


def test_a_source_takes_no_more_order_lines_a_day_than_its_limit(runtime: LocalRuntime) -> None:
    # Given Austin ships at most 3 order lines a day, Dallas (farther) has no limit
    add_source("AUS", max_lines_per_day=3)
    add_source("DAL")
    inventory = tables.inventory()
    inventory.set_on_hand("AUS", "Accu Scale", 50)
    inventory.set_on_hand("AUS", "Bench Press", 50)
    inventory.set_on_hand("DAL", "Bench Press", 50)
    first = add_order("BC-test-store-111", ("Accu Scale", 1), ("Bench Press", 1))
    second = add_order("BC-test-store-112", ("Accu Scale", 1), ("Bench Press", 1))
    third = add_order("BC-test-store-113", ("Accu Scale", 1))

    results = [step(runtime, key) for key in (first, second, third)]

    # Then the first order takes 2 of Austin's lines, the second its last one (the Accu Scale only
    # Austin has) with the Bench Press from Dallas, and the third finds Austin full
    assert results[0]["succeeded"] and results[1]["succeeded"]
    sources_of = {
        key: sorted((fo.source_id, len(fo.lines)) for fo in tables.fulfillment_orders().for_order(key))
        for key in (first, second)
    }
    assert sources_of == {first: [("AUS", 2)], second: [("AUS", 1), ("DAL", 1)]}
    assert not results[2]["succeeded"]
    assert (
        "line 1 (1): the stock of Accu Scale is at sources that reached their limit of lines per day: "
        "AUS (max_lines_per_day 3)" in results[2]["message"]
    )
    assert tables.sources().lines_on(today()) == {"AUS": 3}
    assert backordered(third) == {1: 1}


def test_concurrent_orders_never_give_a_source_more_lines_than_its_daily_limit(runtime: LocalRuntime) -> None:
    # Given Austin may ship 2 order lines today and has stock for 6; 6 one-line orders at once
    add_source("AUS", max_lines_per_day=2)
    tables.inventory().set_on_hand("AUS", "Widget", 6)
    keys = [add_order(f"BC-test-store-{120 + i}", ("Widget", 1)) for i in range(6)]

    def run(key: str) -> dict[str, Any]:
        for _ in range(5):  # what the state machine's Retry does with a TransientStepError
            try:
                return step(runtime, key)
            except TransientStepError:
                continue
        raise AssertionError(f"{key} kept losing the race")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, keys))

    # Then exactly 2 were sourced; the others name the limit, and only 2 units are reserved
    assert sum(r["succeeded"] for r in results) == 2
    assert all("max_lines_per_day 2" in r["message"] for r in results if not r["succeeded"])
    assert levels("Widget") == {"AUS": (6, 2)}
    assert tables.sources().lines_on(today()) == {"AUS": 2}


# About a minute: moto copies a whole table for every item of a transaction (DynamoDB does not).
@pytest.mark.slow
def test_80_orders_after_40_units_reserve_exactly_40_and_never_more_than_on_hand(
    runtime: LocalRuntime,
) -> None:
    # Given 40 units of one product over four sources, and 80 orders of one unit each (twice the
    # stock, from 32 threads at once: enough to make them race, small enough for a 2-core CI)
    for source_id, units in (("AUS", 16), ("DAL", 12), ("CHI", 8), ("SEA", 4)):
        add_source(source_id)
        tables.inventory().set_on_hand(source_id, "Widget", units)
    keys = [add_order(f"BC-test-store-{1000 + i}", ("Widget", 1)) for i in range(80)]

    def run(key: str) -> dict[str, Any]:
        for _ in range(5):  # what the state machine's Retry does with a TransientStepError
            try:
                return step(runtime, key)
            except TransientStepError:
                continue
        raise AssertionError(f"{key} kept losing the race")

    # When they are all sourced at once
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(run, keys))

    # Then exactly 40 got a unit, the rest are backordered, and no source went below zero
    assert sum(r["succeeded"] for r in results) == 40
    assert all(
        "no stock of Widget at any active source" in r["message"] for r in results if not r["succeeded"]
    )
    stock = tables.inventory().for_product("Widget")
    assert sum(level.reserved for level in stock) == 40
    assert all(level.reserved == level.on_hand for level in stock)
    assert sum(len(tables.fulfillment_orders().for_order(k)) for k in keys) == 40
