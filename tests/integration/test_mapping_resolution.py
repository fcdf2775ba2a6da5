"""A 500-line order mapped against the embedded DynamoDB: batched reads, precedence, every miss named."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest

from orderflow.mapping.resolve import PROVIDER_FIELD, PROVIDER_VALUE, header_keys, line_keys, map_order
from orderflow.models.order import Address, Customer, MappingInput, MappingKind, Order, OrderLine
from orderflow.store import dynamo, tables
from orderflow.store.mappings import BATCH_LIMIT
from orderflow_local.runtime import LocalRuntime

ACCOUNT = "TestBCAccount"
UNMAPPED_SKU_AT = {17: "GONE-1", 250: "GONE-2", 499: "GONE-3"}  # line number → a SKU nobody mapped
UNMAPPED_UNIT_AT = {40: "pallet", 41: "crate", 420: "pallet"}


@pytest.fixture
def dynamodb_calls(runtime: LocalRuntime) -> Iterator[Counter[str]]:
    """DynamoDB API calls by operation, seen through botocore's events (no mocks of our code)."""
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)
    dynamo.reset()  # resources made from now on carry the counter
    yield calls
    boto3.DEFAULT_SESSION.events.unregister("before-call.dynamodb", count)
    dynamo.reset()


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


def test_a_500_line_order_is_mapped_in_a_few_batched_reads(dynamodb_calls: Counter[str]) -> None:
    # Given the mappings of 300 products and four units, some with the account's own variant
    _seed()
    order = _order()
    dynamodb_calls.clear()

    # When the 500-line order is mapped against the table
    mapped = map_order(order, tables.mappings().resolve)

    # Then the lookups were batched: one read for the account and price list, then every line's keys
    # at once, 100 keys a call; never a request per line
    keys = len(header_keys(order)) + len(line_keys(order, ACCOUNT))
    assert set(dynamodb_calls) == {"BatchGetItem"}
    assert dynamodb_calls["BatchGetItem"] == 1 + math.ceil(len(line_keys(order, ACCOUNT)) / BATCH_LIMIT)
    assert dynamodb_calls["BatchGetItem"] <= 2 * math.ceil(keys / BATCH_LIMIT)
    assert len(mapped.lines) == 500


def test_the_accounts_own_mapping_beats_the_groups_general_one(runtime: LocalRuntime) -> None:
    # Given general mappings, the account's own for every tenth SKU and for "box", another account's
    _seed()

    # When the order (whose account the group's accounts mapping names) is mapped
    mapped = map_order(_order(), tables.mappings().resolve)

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
    mapped = map_order(_order(), tables.mappings().resolve)

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
