"""The accounting document (send_to_accounting) built from an order, its items and the settings: pure."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orderflow.accounting.document import build_document, document_key, json_schema, skus_of
from orderflow.errors import InvalidInput
from orderflow.models.order import (
    Address,
    BigCommerceSettings,
    Customer,
    Item,
    ItemAccounts,
    Order,
    OrderLine,
)
from tests.conftest import ROOT


def _order(**changes: Any) -> Order:
    order = Order(
        order_key="BC-abc123-250",
        store_hash="abc123",
        external_id=250,
        import_id="BC-250",
        revision=2,
        currency="USD",
        subtotal_ex_tax=Decimal("70.00"),
        total_tax=Decimal("5.60"),
        total_inc_tax=Decimal("75.60"),
        payment_method="Credit Card",
        customer=Customer(external_id=11, email="janedoe@example.com", first_name="Jane", last_name="Doe"),
        ship_to=[
            Address(
                first_name="Jane",
                last_name="Doe",
                company="Acme Scales",
                street_1="1 Congress Ave",
                street_2="Suite 200",
                city="Austin",
                state="Texas",
                zip="78701",
                country="United States",
                country_iso2="US",
            )
        ],
        account="C-0042",
        price_list="Wholesale",
        placed_at="2026-11-23T10:15:30Z",
        lines=[
            OrderLine(
                line_number=1,
                external_id=1,
                sku="ABS",
                name="Accu Scale",
                quantity=1,
                unit_price=Decimal("45.00"),
                total_ex_tax=Decimal("45.00"),
                total_inc_tax=Decimal("48.60"),
                product="Accu Scale",
                unit="ea",
            ),
            OrderLine(
                line_number=2,
                external_id=2,
                sku="SCW",
                name="Scale Calibration Weights",
                quantity=2,
                unit_price=Decimal("12.50"),
                total_ex_tax=Decimal("25.00"),
                total_inc_tax=Decimal("27.00"),
                product="Scale Calibration Weights",
                unit="ea",
            ),
        ],
    )
    return order.model_copy(update=changes)


SCALE = Item(sku="ABS", name="Accu Scale", price=Decimal("45"), income_account="4010 Scales")


@pytest.mark.parametrize("import_as", ["cash_sale", "sales_order", "sales_invoice"])
def test_the_document_type_is_the_import_as_the_order_was_imported_with(import_as: str) -> None:
    # Given an order imported while the settings said import_as, and settings saying otherwise now
    order = _order(import_as=import_as)
    now = BigCommerceSettings(import_as="sales_order" if import_as != "sales_order" else "cash_sale")

    document = build_document(order, now, {})

    # Then it goes as what it was imported as, under a key naming the order's revision and that type
    assert document.document_type == import_as
    assert document_key(order, import_as) == f"BC-abc123-250-r2-{import_as}"


def test_an_order_without_a_recorded_import_as_goes_as_the_settings_say_and_older_names_still_read() -> None:
    assert build_document(_order(), BigCommerceSettings(), {}).document_type == "cash_sale"
    assert build_document(_order(), BigCommerceSettings(import_as="sales_invoice"), {}).document_type == (
        "sales_invoice"
    )
    # an order imported under the older names, and settings stored with them
    assert build_document(
        _order(import_as="pending_sales_order"), BigCommerceSettings(), {}
    ).document_type == ("sales_order")
    stored = BigCommerceSettings.model_validate({"import_as": "pending_sales_invoice"})
    assert stored.import_as == "sales_invoice"
    with pytest.raises(ValidationError, match="cash_sale"):
        BigCommerceSettings.model_validate({"import_as": "quote"})


def test_the_header_carries_the_import_id_customer_account_currency_and_the_order_totals() -> None:
    document = build_document(_order(), BigCommerceSettings(), {"ABS": SCALE})

    assert (document.import_id, document.order_key, document.revision) == ("BC-250", "BC-abc123-250", 2)
    assert (document.customer_account, document.customer_name, document.customer_email) == (
        "C-0042",
        "Jane Doe",
        "janedoe@example.com",
    )
    assert (document.currency, document.price_list, document.payment_method) == (
        "USD",
        "Wholesale",
        "Credit Card",
    )
    assert document.order_date == "2026-11-23T10:15:30Z"
    assert (document.subtotal_ex_tax, document.total_tax, document.total_inc_tax) == (
        Decimal("70.00"),
        Decimal("5.60"),
        Decimal("75.60"),
    )
    assert document.delivery_address is not None
    assert document.delivery_address.model_dump() == {
        "name": "Jane Doe (Acme Scales)",
        "street": "1 Congress Ave, Suite 200",
        "city": "Austin",
        "state": "Texas",
        "zip": "78701",
        "country": "US",
    }


def test_lines_carry_the_mapped_item_unit_price_amounts_and_the_items_accounts_or_the_defaults() -> None:
    # Given ABS with its own income account, SCW with no item at all, and the settings' defaults edited
    settings = BigCommerceSettings(default_cogs_account="5000 COGS")

    scale, weights = build_document(_order(), settings, {"ABS": SCALE}).lines

    assert (scale.item, scale.unit, scale.quantity, scale.price, scale.line_amount, scale.tax_amount) == (
        "Accu Scale",
        "ea",
        1,
        Decimal("45.00"),
        Decimal("45.00"),
        Decimal("3.60"),
    )
    assert (scale.income_account, scale.cogs_account, scale.asset_account) == (
        "4010 Scales",
        "5000 COGS",
        "Stock Asset",
    )
    assert (weights.sku, weights.item, weights.quantity, weights.price, weights.line_amount) == (
        "SCW",
        "Scale Calibration Weights",
        2,
        Decimal("12.50"),
        Decimal("25.00"),
    )
    assert (weights.income_account, weights.cogs_account, weights.asset_account) == (
        "Sales",
        "5000 COGS",
        "Stock Asset",
    )


def test_a_missing_subtotal_is_the_sum_of_the_line_amounts() -> None:
    document = build_document(_order(subtotal_ex_tax=Decimal(0)), BigCommerceSettings(), {})
    assert document.subtotal_ex_tax == Decimal("70.00")


def test_every_gap_the_accounting_system_would_refuse_is_named_with_where_it_is() -> None:
    order = _order(account=None)
    order.lines[1] = order.lines[1].model_copy(update={"product": None, "unit": None})

    with pytest.raises(InvalidInput) as refused:
        build_document(order, BigCommerceSettings(), {})

    assert refused.value.field == "customer_account"
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "customer_account",
        "lines[1].item",
        "lines[1].unit",
    ]
    assert "no product mapping for sku 'SCW'" in refused.value.message


def test_the_document_is_json_with_amounts_as_decimal_strings_and_the_items_skus_are_asked_once() -> None:
    order = _order()
    order.lines.append(order.lines[0].model_copy(update={"line_number": 3}))
    body = build_document(order, BigCommerceSettings(), {}).model_dump(mode="json")

    assert json.loads(json.dumps(body))["lines"][0]["price"] == "45.00"
    assert skus_of(order) == ["ABS", "SCW"]


def test_settings_default_accounts_and_item_accounts_refuse_blanks() -> None:
    assert BigCommerceSettings().item_accounts(None) == {
        "income_account": "Sales",
        "cogs_account": "Cost of Goods Sold",
        "asset_account": "Stock Asset",
    }
    with pytest.raises(ValidationError, match="default_income_account"):
        BigCommerceSettings.model_validate({"default_income_account": "  "})
    with pytest.raises(ValidationError, match="asset_account"):
        ItemAccounts.model_validate({"asset_account": ""})
    assert ItemAccounts.model_validate({"income_account": " 4000 Sales "}).income_account == "4000 Sales"


def test_the_readme_shows_the_schema_the_document_model_generates() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Accounting hand-off", 1)[1]
    shown = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert shown is not None, "the README's Accounting hand-off section shows the schema as JSON"
    assert json.loads(shown.group(1)) == json_schema()
