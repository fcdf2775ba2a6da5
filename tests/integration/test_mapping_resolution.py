"""Orders mapped against the embedded DynamoDB: at most 3 requests at any size, writes seen at once,
precedence, every miss named."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType

import boto3
import pytest

from orderflow.mapping.resolve import PROVIDER_FIELD, PROVIDER_VALUE, map_order
from orderflow.models.order import Address, Customer, MappingInput, MappingKind, Order, OrderLine
from orderflow.store import mappings as store_mappings
from orderflow.store import tables
from orderflow.store.mappings import forget_kept_partitions
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api

ACCOUNT = "TestBCAccount"
UNMAPPED_SKU_AT = {17: "GONE-1", 250: "GONE-2", 499: "GONE-3"}  # line number → a SKU nobody mapped
UNMAPPED_UNIT_AT = {40: "pallet", 41: "crate", 420: "pallet"}


@pytest.fixture(autouse=True)
def cold_container() -> Iterator[None]:
    """Each test starts, and leaves, as a container that keeps no mappings (the tables are new)."""
    forget_kept_partitions()
    yield
    forget_kept_partitions()


def _sku(n: int) -> str:
    return f"SKU-{n:04d}"


def _order() -> Order:
    # 500 lines over 300 SKUs (lines 301-500 repeat earlier ones), four units, and a few values
    # nobody mapped spread through the order
    lines = [
        OrderLine(
            line_number=n,
            external_id=n,
            sku=UNMAPPED_SKU_AT.get(n, _sku((n - 1) % 300 + 1)),
            external_unit=UNMAPPED_UNIT_AT.get(n, ("each", "box", "case", "dozen")[n % 4]),
            quantity=1,
        )
        for n in range(1, 501)
    ]
    return Order(
        order_key="BC-test-store-500",
        store_hash="test-store",
        external_id=500,
        import_id="BC-500",
        currency="USD",
        total_inc_tax=Decimal("500"),
        customer=Customer(external_id=11, email="janedoe@example.com"),
        ship_to=[Address(external_id=1)],
        lines=lines,
    )


def _seed() -> None:
    mappings = tables.mappings()

    def general(value: str, name: str, external: str) -> MappingInput:
        return MappingInput(value=value, external_field_name=name, external_field_value=external)

    def own(value: str, name: str, external: str) -> MappingInput:
        return MappingInput(
            value=value, external_field_name=name, external_field_value=external, account=ACCOUNT
        )

    mappings.upsert_many(MappingKind.ACCOUNTS, [general(ACCOUNT, PROVIDER_FIELD, PROVIDER_VALUE)])
    mappings.upsert_many(
        MappingKind.PRICE_LISTS,
        [
            general("MasterPriceList", PROVIDER_FIELD, PROVIDER_VALUE),
            own("TradePriceList", PROVIDER_FIELD, PROVIDER_VALUE),
        ],
    )
    products = [general(f"Product {n}", "sku", _sku(n)) for n in range(1, 301)]
    products += [own(f"Trade product {n}", "sku", _sku(n)) for n in range(1, 301, 10)]  # every tenth SKU
    products += [own("Not this account's", "sku", _sku(2)).model_copy(update={"account": "OtherAccount"})]
    mappings.upsert_many(MappingKind.PRODUCTS, products)
    mappings.upsert_many(
        MappingKind.UNITS,
        [general("ea", "unit", "each"), general("bx", "unit", "box"), general("cs", "unit", "case"),
         general("dz", "unit", "dozen"), own("bx-trade", "unit", "box")],
    )  # fmt: skip


def test_a_500_line_order_is_mapped_in_three_requests_then_two(dynamodb_calls: Counter[str]) -> None:
    # Given the mappings of 300 products and four units, some with the account's own variant, in a
    # container that has not read them (as one that did not write them)
    _seed()
    forget_kept_partitions()
    order = _order()
    dynamodb_calls.clear()

    # When the 500-line order is mapped against the table
    mapped = map_order(order, tables.mappings().lookup)

    # Then it took the account's read, one read of the few unit and price list keys with the group's
    # version, and the group's products in one Query: never a request per line or per 100 keys
    assert dynamodb_calls == Counter({"BatchGetItem": 2, "Query": 1})
    assert len(mapped.lines) == 500 and mapped.lines[1].product == "Product 2"

    # When the next order is mapped by the same container
    dynamodb_calls.clear()
    again = map_order(order, tables.mappings().lookup)

    # Then the products it keeps, at the version just read, serve it: two requests
    assert dynamodb_calls == Counter({"BatchGetItem": 2})
    assert again == mapped


def _catalog(products: int) -> None:
    mappings = tables.mappings()
    mappings.upsert_many(
        MappingKind.ACCOUNTS,
        [
            MappingInput(
                value=ACCOUNT, external_field_name=PROVIDER_FIELD, external_field_value=PROVIDER_VALUE
            )
        ],
    )
    mappings.upsert_many(
        MappingKind.UNITS, [MappingInput(value="ea", external_field_name="unit", external_field_value="each")]
    )
    mappings.upsert_many(
        MappingKind.PRODUCTS,
        [MappingInput(value=f"Product {n}", external_field_name="sku", external_field_value=_sku(n))
         for n in range(1, products + 1)],
    )  # fmt: skip


def _sized(lines: int) -> Order:
    return Order(
        order_key=f"BC-test-store-{lines}", store_hash="test-store", external_id=lines, import_id=f"BC-{lines}",
        lines=[OrderLine(line_number=n, external_id=n, sku=_sku(n), quantity=1) for n in range(1, lines + 1)],
    )  # fmt: skip


@pytest.mark.parametrize("lines", [1, 2000])
def test_an_order_of_any_size_is_mapped_in_at_most_three_requests(
    dynamodb_calls: Counter[str], lines: int
) -> None:
    # Given a group of 2,000 products, read by no container yet
    _catalog(2000)
    forget_kept_partitions()
    order = _sized(lines)

    # When the order is mapped, by a cold container and then by the same one again
    counts = []
    for _ in range(2):
        dynamodb_calls.clear()
        mapped = map_order(order, tables.mappings().lookup)
        counts.append(sum(dynamodb_calls.values()))
        assert not mapped.all_mapping_issues
        assert mapped.lines[-1].product == f"Product {lines}" and mapped.account == ACCOUNT

    # Then neither took more than 3 DynamoDB requests
    assert max(counts) <= 3, counts
    assert counts[1] == 2


def test_a_small_order_whose_account_is_its_customer_is_mapped_in_one_request(
    dynamodb_calls: Counter[str],
) -> None:
    # Given a group without accounts mappings, one customer's own product, and a container that has
    # read none of them (as the demo store's, where every customer record is its own account)
    mappings = tables.mappings()
    mappings.upsert_many(
        MappingKind.PRODUCTS,
        [MappingInput(value="Accu Scale", external_field_name="sku", external_field_value="ABS"),
         MappingInput(value="Calibration Weights", external_field_name="sku", external_field_value="SCW"),
         MappingInput(value="Accu Scale (yours)", external_field_name="sku", external_field_value="ABS",
                      account="CUS-1")],
    )  # fmt: skip
    mappings.upsert_many(
        MappingKind.UNITS, [MappingInput(value="ea", external_field_name="unit", external_field_value="each")]
    )
    forget_kept_partitions()
    order = _sized(2).model_copy(
        update={
            "customer": Customer(external_id=7, email="ana@example.com", record_id="CUS-1"),
            "lines": [
                OrderLine(line_number=1, external_id=1, sku="ABS", quantity=1),
                OrderLine(line_number=2, external_id=2, sku="SCW", quantity=1),
            ],
        }
    )
    dynamodb_calls.clear()

    # When its 2-line order is mapped
    mapped = map_order(order, tables.mappings().lookup)

    # Then the header's keys and the lines' (the customer's own variants with them) took one read,
    # and the customer's own mapping won
    assert dynamodb_calls == Counter({"BatchGetItem": 1})
    assert mapped.account == "CUS-1" and not mapped.all_mapping_issues
    assert [line.product for line in mapped.lines] == ["Accu Scale (yours)", "Calibration Weights"]

    # When the group gets a catch-all accounts mapping (another account than the customer's)
    mappings.upsert_many(
        MappingKind.ACCOUNTS,
        [
            MappingInput(
                value=ACCOUNT, external_field_name=PROVIDER_FIELD, external_field_value=PROVIDER_VALUE
            )
        ],
    )
    dynamodb_calls.clear()
    mapped = map_order(order, tables.mappings().lookup)

    # Then that account's keys take a second read, and the customer's own mapping no longer applies
    assert dynamodb_calls == Counter({"BatchGetItem": 2})
    assert mapped.account == ACCOUNT
    assert [line.product for line in mapped.lines] == ["Accu Scale", "Calibration Weights"]


def test_a_mapping_written_while_the_products_are_kept_is_seen_by_the_next_order(
    dynamodb_calls: Counter[str], api: Api
) -> None:
    # Given a container keeping the products of a group (a big order was just mapped)
    _catalog(300)
    order = _sized(301)  # its last SKU has no mapping yet
    assert [i.value for i in map_order(order, tables.mappings().lookup).all_mapping_issues] == [_sku(301)]

    # When a merchant creates the missing mapping and changes another through the admin API
    created = api.post("/mappings/products", {"product": "New", "external_field_name": "sku",
                                               "external_field_value": _sku(301)})  # fmt: skip
    assert created.status_code == 201, created.text
    [first] = api.get("/mappings/products", params={"external_field_value": _sku(1)}).json()["mappings"]
    changed = api.put(f"/mappings/products/{first['id']}", {**_body(first), "product": "Renamed"})
    assert changed.status_code == 200, changed.text
    dynamodb_calls.clear()
    mapped = map_order(order, tables.mappings().lookup)

    # Then the next order sees both, still from what the container keeps (brought up to date by its
    # own writes): two requests
    assert not mapped.all_mapping_issues
    assert (mapped.lines[0].product, mapped.lines[-1].product) == ("Renamed", "New")
    assert dynamodb_calls == Counter({"BatchGetItem": 2})

    # When the mapping is deleted
    assert api.delete(f"/mappings/products/{created.json()['id']}").status_code == 200

    # Then the next order misses it again
    assert [i.value for i in map_order(order, tables.mappings().lookup).all_mapping_issues] == [_sku(301)]


def _body(mapping: dict[str, object]) -> dict[str, object]:
    return {k: mapping[k] for k in ("mapping_group", "account", "product", "external_field_name",
                                    "external_field_value")}  # fmt: skip


def _another_container(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """store/mappings.py loaded again: a module of its own, so the partitions it keeps are its own,
    as those of another Lambda container writing to the same table."""
    name = "other_container_mappings"
    spec = importlib.util.spec_from_file_location(name, store_mappings.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # where its dataclasses find their module
    spec.loader.exec_module(module)
    return module


def test_a_write_by_another_container_is_seen_by_the_next_order(
    dynamodb_calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given this container keeping a group's products, and another container of the admin API
    _catalog(300)
    order = _sized(300)
    assert map_order(order, tables.mappings().lookup).lines[0].product == "Product 1"
    other = _another_container(monkeypatch).MappingRepository(tables.mappings().table_name)

    # When the other container changes a product mapping and creates one for a new account
    other.upsert_many(
        MappingKind.PRODUCTS,
        [MappingInput(value="Changed", external_field_name="sku", external_field_value=_sku(1)),
         MappingInput(value="Trade", external_field_name="sku", external_field_value=_sku(2), account=ACCOUNT)],
    )  # fmt: skip
    dynamodb_calls.clear()
    mapped = map_order(order, tables.mappings().lookup)

    # Then the version read with the next order tells this container its copy is old: it reads the
    # products again and maps with both changes
    assert (mapped.lines[0].product, mapped.lines[1].product) == ("Changed", "Trade")
    assert dynamodb_calls == Counter({"BatchGetItem": 2, "Query": 1})


def test_a_write_that_moved_no_version_is_seen_once_the_kept_copy_is_old(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a container keeping a group's products, which it reads again after two seconds at most
    monkeypatch.setattr(store_mappings, "CACHE_SECONDS", 2.0)
    _catalog(300)
    forget_kept_partitions()
    order = _sized(300)
    assert map_order(order, tables.mappings().lookup).lines[0].product == "Product 1"
    read_at = time.monotonic()

    # When a mapping changes without its version (as the previous release, still running during a
    # deployment, writes: the item alone)
    table = boto3.resource("dynamodb").Table(tables.mappings().table_name)
    key = {"pk": f"products#{order.mapping_group}", "sk": f"sku#{_sku(1)}#*"}
    table.update_item(Key=key, UpdateExpression="SET #v = :v", ExpressionAttributeNames={"#v": "value"},
                      ExpressionAttributeValues={":v": "Changed"})  # fmt: skip

    # Then orders mapped meanwhile use the kept copy, and once it is two seconds old the change shows
    assert map_order(order, tables.mappings().lookup).lines[0].product == "Product 1"
    time.sleep(max(0.0, read_at + 2.1 - time.monotonic()))
    assert map_order(order, tables.mappings().lookup).lines[0].product == "Changed"


def test_a_group_too_big_to_keep_is_read_for_each_order_and_still_maps_it(
    dynamodb_calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a container that keeps at most 100 mappings, and a group of 300 products
    monkeypatch.setattr(store_mappings, "CACHE_LIMIT", 100)
    _catalog(300)
    order = _sized(300)

    # When two orders are mapped
    for _ in range(2):
        dynamodb_calls.clear()
        mapped = map_order(order, tables.mappings().lookup)

        # Then each read the products (memory stays bounded) and was mapped whole
        assert dynamodb_calls == Counter({"BatchGetItem": 2, "Query": 1})
        assert not mapped.all_mapping_issues and mapped.lines[-1].product == "Product 300"


def test_orders_mapped_on_many_threads_while_mappings_are_written_all_see_a_whole_group(
    runtime: LocalRuntime,
) -> None:
    # Given a group of 300 products (the local runtime runs its functions on threads of one process)
    _catalog(300)
    order = _sized(300)
    problems: list[str] = []
    writing = threading.Event()

    def mapper() -> None:
        while not writing.is_set():
            try:
                mapped = map_order(order, tables.mappings().lookup)
            except Exception as exc:  # a thread's exception would otherwise only be printed
                problems.append(repr(exc))
                return
            # every line mapped, to the value it had before the writes or to the one written
            for n, line in enumerate(mapped.lines, start=1):
                if line.product not in (f"Product {n}", f"Changed {n}"):
                    problems.append(f"line {n}: {line.product} {line.mapping_issues}")

    # When four threads map orders while a fifth changes the products in ten writes
    threads = [threading.Thread(target=mapper) for _ in range(4)]
    for thread in threads:
        thread.start()
    mappings = tables.mappings()
    for n in range(0, 300, 30):
        mappings.upsert_many(
            MappingKind.PRODUCTS,
            [MappingInput(value=f"Changed {m}", external_field_name="sku", external_field_value=_sku(m))
             for m in range(n + 1, n + 31)],
        )  # fmt: skip
    writing.set()
    for thread in threads:
        thread.join()

    # Then no order saw a broken group, and the next one sees every write
    assert problems == []
    after = map_order(order, tables.mappings().lookup)
    assert [line.product for line in after.lines] == [f"Changed {n}" for n in range(1, 301)]


def test_the_accounts_own_mapping_beats_the_groups_general_one(runtime: LocalRuntime) -> None:
    # Given general mappings, the account's own for every tenth SKU and for "box", another account's
    _seed()

    # When the order (whose account the group's accounts mapping names) is mapped
    mapped = map_order(_order(), tables.mappings().lookup)

    # Then the account's own variant wins wherever it exists, on every line that repeats a SKU too
    assert (mapped.account, mapped.price_list) == (ACCOUNT, "TradePriceList")
    by_sku = {line.sku: line for line in mapped.lines}
    assert by_sku[_sku(1)].product == "Trade product 1"  # the account's own
    assert by_sku[_sku(11)].product == "Trade product 11"
    assert by_sku[_sku(2)].product == "Product 2"  # another account's variant is not used
    assert by_sku[_sku(3)].product == "Product 3"  # only the general one exists
    units = {line.external_unit: line.unit for line in mapped.lines if not line.mapping_issues}
    assert units == {"each": "ea", "box": "bx-trade", "case": "cs", "dozen": "dz"}
    repeated = [line for line in mapped.lines if line.sku == _sku(1)]
    assert len(repeated) == 2 and {line.product for line in repeated} == {"Trade product 1"}


def test_every_unmapped_value_of_the_order_is_reported_at_once(runtime: LocalRuntime) -> None:
    # Given an order with three SKUs and two units nobody mapped, on six of its 500 lines
    _seed()

    # When it is mapped
    mapped = map_order(_order(), tables.mappings().lookup)

    # Then every missing SKU and unit is named, each on the lines that carry it, and nothing else
    issues = mapped.all_mapping_issues
    assert {(i.kind, i.value) for i in issues} == {
        *((MappingKind.PRODUCTS, sku) for sku in UNMAPPED_SKU_AT.values()),
        *((MappingKind.UNITS, unit) for unit in UNMAPPED_UNIT_AT.values()),
    }
    lines_with_issues = {
        line.line_number: [i.value for i in line.mapping_issues]
        for line in mapped.lines
        if line.mapping_issues
    }
    assert lines_with_issues == {
        17: ["GONE-1"], 250: ["GONE-2"], 499: ["GONE-3"], 40: ["pallet"], 41: ["crate"], 420: ["pallet"],
    }  # fmt: skip
    assert "no product mapping for sku 'GONE-2' in mapping group 'Default Mapping Group'" in [
        i.message for i in issues
    ]
    assert all(line.product and line.unit for line in mapped.lines if not line.mapping_issues)


@pytest.mark.parametrize("threads", ["1", "8"])
def test_a_large_file_written_on_several_threads_is_all_there_and_seen_by_the_next_order(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    # Given the writes of a large file kept in flight 1 or 8 at a time (8 on AWS)
    monkeypatch.setenv("MAPPING_WRITE_THREADS", threads)
    mappings = tables.mappings()
    rows = [
        MappingInput(value=f"Product {n}", external_field_name="sku", external_field_value=_sku(n))
        for n in range(1, 1001)
    ]

    # When 1,000 products are written (40 batches), then written again with every tenth changed
    first = mappings.upsert_many(MappingKind.PRODUCTS, rows)
    changed = [
        r.model_copy(update={"value": f"{r.value} v2"}) if n % 10 == 0 else r for n, r in enumerate(rows)
    ]
    second = mappings.upsert_many(MappingKind.PRODUCTS, changed)

    # Then every row is stored once, and the next order sees the changed ones
    assert (first.created, second.updated, second.unchanged) == (1000, 100, 900)
    assert len(mappings.list_all(MappingKind.PRODUCTS, "Default Mapping Group")) == 1000
    order = _order().model_copy(
        update={
            "lines": [OrderLine(line_number=1, external_id=1, sku=_sku(1), quantity=1)],
            "mapping_group": "Default Mapping Group",
        }
    )
    assert map_order(order, mappings.lookup).lines[0].product == "Product 1 v2"
