"""Mapping resolution and the built-in order checks (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from orderflow.mapping.resolve import map_order
from orderflow.models.order import Address, Customer, Mapping, MappingKey, MappingKind, Order, OrderLine
from orderflow.orders.validation import check_header, check_lines

GROUP = "Default Mapping Group"


def _order(*skus: str) -> Order:
    return Order(
        order_key="BC-s-1",
        store_hash="s",
        external_id=1,
        import_id="BC-1",
        currency="USD",
        total_inc_tax=Decimal("10"),
        customer=Customer(external_id=0, email="guest@example.com", record_id="CUS-GUEST"),
        ship_to=[Address(external_id=1, city="Austin")],
        lines=[OrderLine(line_number=i, external_id=i, sku=sku, quantity=1) for i, sku in enumerate(skus, 1)],
    )


def _mapping(kind: MappingKind, field: str, external: str, value: str, account: str | None = None) -> Mapping:
    return Mapping(
        id=f"{kind}-{external}-{account}", kind=kind, mapping_group=GROUP, account=account, value=value,
        external_field_name=field, external_field_value=external,
    )  # fmt: skip


class _Mappings:
    """In-memory lookup with the repository's contract; counts lookups like batched reads."""

    def __init__(self, *mappings: Mapping) -> None:
        self.by_key = {
            MappingKey(m.kind, m.mapping_group, m.external_field_name, m.external_field_value, m.account): m
            for m in mappings
        }
        self.lookups = 0

    def __call__(self, keys: Iterable[MappingKey]) -> dict[MappingKey, Mapping]:
        self.lookups += 1
        return {k: self.by_key[k] for k in keys if k in self.by_key}


def test_an_account_specific_mapping_beats_the_groups_general_one() -> None:
    mappings = _Mappings(
        _mapping(MappingKind.ACCOUNTS, "ProviderName", "BigCommerce", "TestBCAccount"),
        _mapping(MappingKind.PRICE_LISTS, "ProviderName", "BigCommerce", "MasterPriceList"),
        _mapping(MappingKind.PRODUCTS, "sku", "ABS", "Accu Scale"),
        _mapping(MappingKind.PRODUCTS, "sku", "ABS", "Accu Scale (trade)", account="TestBCAccount"),
        _mapping(MappingKind.PRODUCTS, "sku", "SCW", "Scale Calibration Weights"),
        _mapping(MappingKind.UNITS, "unit", "each", "ea"),
    )

    mapped = map_order(_order("ABS", "SCW"), mappings)

    assert (mapped.account, mapped.price_list) == ("TestBCAccount", "MasterPriceList")
    assert [line.product for line in mapped.lines] == ["Accu Scale (trade)", "Scale Calibration Weights"]
    assert [line.unit for line in mapped.lines] == ["ea", "ea"]
    assert mapped.all_mapping_issues == []
    assert mappings.lookups == 2  # the account's keys named another account than the customer record's


def test_every_unmapped_value_is_reported_not_only_the_first() -> None:
    mappings = _Mappings(_mapping(MappingKind.PRODUCTS, "sku", "ABS", "Accu Scale"))

    mapped = map_order(_order("ABS", "NOPE-1", "NOPE-2"), mappings)
    problems = check_lines(mapped)

    assert {(i.kind, i.value) for i in mapped.all_mapping_issues} == {
        (MappingKind.PRODUCTS, "NOPE-1"),
        (MappingKind.PRODUCTS, "NOPE-2"),
        (MappingKind.UNITS, "each"),
    }
    assert any("line 2 (SKU 'NOPE-1'): no product mapping for sku 'NOPE-1'" in p for p in problems)
    assert any("line 3 (SKU 'NOPE-2')" in p for p in problems)
    assert sum("no unit mapping" in p for p in problems) == 3


def _with_customer(order: Order, **changes: object) -> Order:
    return order.model_copy(update={"customer": order.customer.model_copy(update=changes)})


def test_the_account_is_the_company_mapping_then_the_catch_all_then_the_customer_record() -> None:
    catch_all = _mapping(MappingKind.ACCOUNTS, "ProviderName", "BigCommerce", "TestBCAccount")
    company = _mapping(MappingKind.ACCOUNTS, "company", "Acme Scales Ltd", "ACME")
    trade_price = _mapping(
        MappingKind.PRICE_LISTS, "ProviderName", "BigCommerce", "TradePrices", account="ACME"
    )
    b2b = _with_customer(_order("ABS"), company="Acme Scales Ltd")

    # A B2B order of a mapped company gets its account, and that account's own price list
    mapped = map_order(b2b, _Mappings(catch_all, company, trade_price))
    assert (mapped.account, mapped.price_list) == ("ACME", "TradePrices")
    # An unmapped company falls back to the group's catch-all
    assert map_order(_with_customer(b2b, company="Other Co"), _Mappings(catch_all, company)).account == (
        "TestBCAccount"
    )
    # Without a catch-all, a consumer's account is their customer record; no price list is not an issue
    lookup = _Mappings(company)
    consumer = map_order(_order("ABS"), lookup)
    assert (consumer.account, consumer.price_list) == ("CUS-GUEST", None)
    assert lookup.lookups == 1  # the lines' keys were asked with the header's, for the record's account
    assert [i.kind for i in consumer.all_mapping_issues] == [MappingKind.PRODUCTS, MappingKind.UNITS]


def test_an_order_with_no_customer_record_and_no_catch_all_reports_the_missing_account() -> None:
    orphan = _with_customer(_order("ABS"), email="", record_id=None)

    mapped = map_order(orphan, _Mappings(_mapping(MappingKind.PRODUCTS, "sku", "ABS", "Accu Scale")))

    assert mapped.account is None
    [issue] = [i for i in mapped.all_mapping_issues if i.kind is MappingKind.ACCOUNTS]
    assert "no account" in issue.message and "ProviderName='BigCommerce'" in issue.message


def test_header_checks_name_each_problem() -> None:
    order = _order("ABS").model_copy(
        update={"currency": "", "ship_to": [], "customer": Customer(), "total_inc_tax": Decimal("-1")}
    )

    problems = check_header(order)

    assert problems == [
        "currency is missing",
        "the customer has no email address",
        "total_inc_tax is negative (-1)",
        "the order has no shipping address",
    ]
    assert check_header(_order("ABS")) == []


def test_line_checks_catch_quantities_and_prices() -> None:
    order = _order("ABS")
    order.lines[0] = order.lines[0].model_copy(
        update={"quantity": 0, "unit_price": Decimal("-2"), "product": "P", "unit": "ea"}
    )
    assert check_lines(order) == [
        "line 1 (SKU 'ABS'): quantity must be positive (got 0)",
        "line 1 (SKU 'ABS'): unit price is negative (-2)",
    ]
