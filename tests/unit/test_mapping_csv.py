"""CSV import/export of mappings (pure): parsing, per-row errors, header errors, rendering, planning; and
the inventory CSV's parsing."""

from __future__ import annotations

import random

import pytest

from orderflow.errors import InvalidInput
from orderflow.mapping.csv_files import (
    BOM,
    MAX_REPORTED_ERRORS,
    MAX_ROWS,
    ImportReport,
    InventoryRow,
    ParsedCsv,
    ParsedInventory,
    RowError,
    columns,
    decode,
    escape_cell,
    identity,
    parse_csv,
    parse_inventory_csv,
    plan_import,
    render_csv,
    unescape_cell,
)
from orderflow.models.order import DEFAULT_MAPPING_GROUP, Mapping, MappingInput, MappingKind
from orderflow.store.mappings import item_key, key_of

PRODUCTS = MappingKind.PRODUCTS
HEADER = "mapping_group,account,product,external_field_name,external_field_value"


def _csv(*lines: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


def _errors(parsed: ParsedCsv) -> list[tuple[int, str | None]]:
    return [(e.row, e.field) for e in parsed.errors]


def test_columns_are_named_after_the_kind_and_accounts_have_no_separate_account_column() -> None:
    assert columns(MappingKind.PRODUCTS) == HEADER.split(",")
    assert columns(MappingKind.UNITS)[2] == "unit"
    assert columns(MappingKind.PRICE_LISTS)[2] == "price_list"
    assert columns(MappingKind.ACCOUNTS) == [
        "mapping_group",
        "account",
        "external_field_name",
        "external_field_value",
    ]


def test_a_spreadsheet_export_with_bom_crlf_spaces_and_blank_rows_is_read_with_defaults() -> None:
    # Given what Excel's "CSV UTF-8" writes: a BOM, CRLF, a header in its own words, padded cells,
    # blank rows and trailing empty rows
    text = (
        f"{BOM}Mapping Group , Account,Product,External Field Name,external-field-value\r\n"
        "  , ,  Accu Scale ,sku, ABS \r\n"
        "\r\n"
        "Wholesale,TestBCAccount,Accu Scale (trade),sku,ABS\r\n"
        ",,,,\r\n"
    )

    # When it is parsed
    parsed = parse_csv(PRODUCTS, decode(text.encode()))

    # Then both rows are read, numbered as the spreadsheet shows them, with the defaults filled in
    assert parsed.errors == []
    assert [(r.row, r.mapping) for r in parsed.rows] == [
        (2, MappingInput(value="Accu Scale", external_field_name="sku", external_field_value="ABS")),
        (
            4,
            MappingInput(
                mapping_group="Wholesale",
                account="TestBCAccount",
                value="Accu Scale (trade)",
                external_field_name="sku",
                external_field_value="ABS",
            ),
        ),
    ]
    assert parsed.rows[0].mapping.mapping_group == DEFAULT_MAPPING_GROUP
    assert parsed.rows[0].mapping.account is None


def test_optional_columns_may_be_left_out_and_short_rows_read_as_empty_cells() -> None:
    parsed = parse_csv(
        MappingKind.UNITS, "unit,external_field_name,external_field_value\nea,unit,each\nbx,unit\n"
    )

    assert [r.mapping.value for r in parsed.rows] == ["ea"]
    assert parsed.rows[0].mapping.mapping_group == DEFAULT_MAPPING_GROUP
    assert [(e.row, e.field, e.message) for e in parsed.errors] == [
        (3, "external_field_value", "external_field_value is empty")
    ]


def test_a_quoted_value_with_a_line_break_is_one_row_so_later_row_numbers_stay_right() -> None:
    parsed = parse_csv(PRODUCTS, _csv(',,"Accu\nScale",sku,ABS', ",,,sku,SCW"))

    # row 2 spans two lines of the file but is one spreadsheet row; the next is row 3
    assert [(e.row, e.field) for e in parsed.errors] == [(2, "product"), (3, "product")]
    assert "line break" in parsed.errors[0].message
    assert parsed.errors[1].message == "product is empty"


def test_every_bad_row_is_reported_with_its_row_and_column_and_good_rows_are_kept() -> None:
    long_name = "x" * 201
    parsed = parse_csv(
        PRODUCTS,
        _csv(
            ",,Accu Scale,sku,ABS",  # 2 good
            ",,,sku,SCW",  # 3 no product
            f",,{long_name},sku,LONG",  # 4 too long
            ",,Weights,,SCW-2",  # 5 no field name
            ",,Weights,sku,SCW-3,surplus",  # 6 a value outside the header's columns
            ",,Weights,sku,SCW-4,,",  # 7 good: trailing empty cells are nothing
            f",,{long_name},,",  # 8 three problems at once
        ),
    )

    assert [r.row for r in parsed.rows] == [2, 7]
    assert _errors(parsed) == [
        (3, "product"),
        (4, "product"),
        (5, "external_field_name"),
        (6, None),
        (8, "product"),
        (8, "external_field_name"),
        (8, "external_field_value"),
    ]
    assert parsed.errors[1].message == "product is longer than 200 characters"
    assert parsed.errors[3].message == "has a value in column 6, which the header does not name"


def test_a_key_repeated_in_the_file_is_an_error_on_the_later_row_naming_the_earlier() -> None:
    parsed = parse_csv(
        PRODUCTS,
        _csv(
            ",,Accu Scale,sku,ABS",  # 2
            ",TestBCAccount,Accu Scale (trade),sku,ABS",  # 3: another account, another key
            "Wholesale,,Accu Scale,sku,ABS",  # 4: another group, another key
            ",,Accu Scale,sku,abs",  # 5: values are case-sensitive, another key
            "Default Mapping Group,,Other,SKU,ABS",  # 6: same key as row 2 (names are not)
            ",,Accu Scale,sku,ABS",  # 7: same as row 2, even with the same value
        ),
    )

    assert [r.row for r in parsed.rows] == [2, 3, 4, 5]
    assert _errors(parsed) == [(6, "external_field_value"), (7, "external_field_value")]
    assert parsed.errors[0].message.startswith("duplicates row 2:")


def test_the_in_file_identity_is_the_stores_key() -> None:
    a = MappingInput(value="A", external_field_name="SKU", external_field_value="ABS", account="Acme")
    b = MappingInput(value="B", external_field_name="sku", external_field_value="ABS", account="Acme")
    c = MappingInput(value="C", external_field_name="sku", external_field_value="ABS")

    assert identity(a) == identity(b) and item_key(key_of(PRODUCTS, a)) == item_key(key_of(PRODUCTS, b))
    assert identity(a) != identity(c) and item_key(key_of(PRODUCTS, a)) != item_key(key_of(PRODUCTS, c))


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ("mapping_group,account,product,external_field_name,external_field_value,colour", "colour",
         "unknown column 'colour'"),
        ("mapping_group,account,external_field_name,external_field_value", "product", "missing column 'product'"),
        ("product,external_field_name", "external_field_value", "missing column 'external_field_value'"),
        ("product,Product,external_field_name,external_field_value", "product",
         "column 'product' appears twice"),
        ("sku,product,unit", "sku", "unknown column 'sku'"),
    ],
)  # fmt: skip
def test_a_bad_header_is_one_error_naming_the_column(header: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_csv(PRODUCTS, _csv(",,Accu Scale,sku,ABS", header=header))

    assert raised.value.field == field
    assert words in raised.value.message
    assert f"the header for products is {HEADER}" in raised.value.message


def test_the_accounts_header_has_no_product_and_its_account_column_is_the_value() -> None:
    parsed = parse_csv(
        MappingKind.ACCOUNTS,
        "mapping_group,account,external_field_name,external_field_value\n,TestBCAccount,ProviderName,BigCommerce\n",
    )
    assert parsed.rows[0].mapping.value == "TestBCAccount" and parsed.rows[0].mapping.account is None

    with pytest.raises(InvalidInput) as raised:
        parse_csv(MappingKind.ACCOUNTS, _csv(",,Accu Scale,sku,ABS"))
    assert raised.value.field == "product"


@pytest.mark.parametrize("text", ["", BOM, "\r\n\r\n", ",,,\n"])
def test_a_file_without_a_header_row_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="no header row") as raised:
        parse_csv(PRODUCTS, text)
    assert raised.value.field == "body"


def test_a_header_after_blank_rows_keeps_spreadsheet_row_numbers() -> None:
    parsed = parse_csv(PRODUCTS, "\n\n" + _csv(",,,sku,ABS"))
    assert _errors(parsed) == [(4, "product")]


def test_a_file_over_the_row_limit_is_refused_whole() -> None:
    at_limit = parse_csv(PRODUCTS, _csv(*[f",,P{n},sku,S{n}" for n in range(MAX_ROWS)]))
    assert len(at_limit.rows) == MAX_ROWS

    with pytest.raises(InvalidInput, match="more than 20,000 rows: split it") as raised:
        parse_csv(PRODUCTS, _csv(*[f",,P{n},sku,S{n}" for n in range(MAX_ROWS + 1)]))
    assert raised.value.field == "body"


def test_a_header_alone_is_an_empty_import_not_an_error() -> None:
    assert parse_csv(PRODUCTS, HEADER) == ParsedCsv()


def test_a_quote_left_open_that_swallows_the_file_is_refused_with_its_row() -> None:
    text = _csv(",,Accu Scale,sku,ABS", ',,"Weights,sku,SCW', *[",,P,sku,S"] * 20_000)
    with pytest.raises(InvalidInput, match=r"row 3 cannot be read as CSV .* quote"):
        parse_csv(PRODUCTS, text)


def test_a_file_that_is_not_utf8_is_refused_naming_the_row() -> None:
    data = _csv(",,Accu Scale,sku,ABS", ",,Café,sku,CAFE").encode("cp1252")

    with pytest.raises(InvalidInput, match=r"not UTF-8 text \(row 3 has the byte 0xE9\)"):
        decode(data)
    assert decode(BOM.encode() + b"a,b") == "a,b"


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("'=x", "''=x"),  # a value that really starts with a quote survives the round trip too
        ("'abc", "'abc"),  # no trigger after the quote: nothing added, nothing taken
        ("Accu Scale", "Accu Scale"),
        ("a=b", "a=b"),
        ("'", "'"),
    ],
)
def test_formula_triggers_are_quoted_on_export_and_unquoted_on_import(value: str, exported: str) -> None:
    assert escape_cell(value) == exported
    assert unescape_cell(exported) == value


def test_a_hand_written_formula_value_is_imported_as_written() -> None:
    parsed = parse_csv(PRODUCTS, _csv(",,=Accu Scale,sku,-ABS", ",,'Weights,sku,'SCW"))
    assert [(r.mapping.value, r.mapping.external_field_value) for r in parsed.rows] == [
        ("=Accu Scale", "-ABS"),
        ("'Weights", "'SCW"),
    ]


def _stored(n: int, **changes: str | None) -> Mapping:
    data = {
        "id": f"id-{n}",
        "kind": PRODUCTS,
        "value": f"Product {n}",
        "external_field_name": "sku",
        "external_field_value": f"SKU-{n}",
        **changes,
    }
    return Mapping.model_validate(data)


def test_rendering_is_stable_safe_and_reads_back_as_the_same_mappings() -> None:
    # Given mappings with everything a CSV finds hard: commas, quotes, line-break-free unicode,
    # formula triggers, accounts and groups
    mappings = [
        _stored(1),
        _stored(2, account="TestBCAccount", value="Product 2 (trade)", external_field_value="SKU-1"),
        _stored(3, mapping_group="Wholesale", value='Scale, "Pro" 2000', external_field_value="=1+1"),
        _stored(4, value="Balança de precisão ✓", external_field_value="-SKU"),
        _stored(5, value="'=quoted", external_field_value="@home", external_field_name="Barcode"),
    ]
    shuffled = random.Random(7).sample(mappings, len(mappings))

    # When rendered (in any input order) and read back
    text = render_csv(PRODUCTS, shuffled)
    parsed = parse_csv(PRODUCTS, decode(text.encode()))

    # Then the file is the same whatever the order, no cell starts with a formula trigger, and every
    # mapping comes back as it was
    assert text == render_csv(PRODUCTS, mappings)
    assert text.startswith(BOM + HEADER + "\r\n")
    cells = [cell for line in text.splitlines()[1:] for cell in line.split(",")]
    assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in cells)
    assert parsed.errors == []
    as_inputs = [
        MappingInput.model_validate(m.model_dump(include=set(MappingInput.model_fields))) for m in mappings
    ]
    assert sorted((r.mapping for r in parsed.rows), key=identity) == sorted(as_inputs, key=identity)


def test_accounts_render_with_the_account_as_the_value() -> None:
    mapping = Mapping(
        id="a", kind=MappingKind.ACCOUNTS, value="TestBCAccount", external_field_name="ProviderName",
        external_field_value="BigCommerce",
    )  # fmt: skip
    text = render_csv(MappingKind.ACCOUNTS, [mapping])
    assert text.splitlines()[1] == "Default Mapping Group,TestBCAccount,ProviderName,BigCommerce"
    assert parse_csv(MappingKind.ACCOUNTS, text).rows[0].mapping.value == "TestBCAccount"


def test_the_plan_creates_updates_leaves_or_refuses_each_row() -> None:
    parsed = parse_csv(
        PRODUCTS,
        _csv(",,Product 1,sku,SKU-1", ",,Product 2 renamed,sku,SKU-2", ",,New,sku,SKU-9", ",,,sku,BAD"),
    )
    stored = {key_of(PRODUCTS, m): m for m in (_stored(1), _stored(2))}

    refusing = plan_import(PRODUCTS, parsed, stored, replace=False)
    replacing = plan_import(PRODUCTS, parsed, stored, replace=True)

    body = refusing.report.to_body()
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (1, 0, 1, 2)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "product"), (5, "product")]
    assert (
        "already exists in group 'Default Mapping Group' for all accounts with product 'Product 2'"
        in (body["errors"][0]["message"])
    )
    assert "(id id-2)" in body["errors"][0]["message"]
    assert [(m.value, current) for m, current in refusing.writes] == [("New", None)]

    assert (replacing.report.created, replacing.report.updated, replacing.report.unchanged) == (1, 1, 1)
    assert [(m.value, current and current.id) for m, current in replacing.writes] == [
        ("Product 2 renamed", "id-2"),
        ("New", None),
    ]


def test_a_report_of_a_huge_bad_file_stays_small_but_counts_every_rejected_row() -> None:
    errors = [RowError(n, "product", "product is empty") for n in range(2, MAX_REPORTED_ERRORS + 502)]
    body = ImportReport(errors=list(reversed(errors))).to_body()

    assert body["rejected"] == MAX_REPORTED_ERRORS + 500
    assert len(body["errors"]) == MAX_REPORTED_ERRORS and body["errors_omitted"] == 500
    assert body["errors"][0]["row"] == 2  # in row order


# -- inventory -------------------------------------------------------------------------------------------

SOURCES = {"WH-TX", "WH-2"}
INVENTORY_HEADER = "source_id,product,on_hand"


def _inventory(*lines: str, header: str = INVENTORY_HEADER) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


def test_an_inventory_export_with_bom_spaces_and_blank_rows_is_read_with_spreadsheet_row_numbers() -> None:
    # Given what a spreadsheet writes: a BOM, a header in its own words, padded cells, a blank row,
    # leading zeros and a quoted product with a comma
    text = f'{BOM}Source ID,Product, On Hand\r\n WH-TX , Accu Scale ,40\r\n\r\nWH-2,"Scale, Pro",007\r\n'

    # When it is parsed
    parsed = parse_inventory_csv(decode(text.encode()), SOURCES)

    # Then both rows are read, numbered as the spreadsheet shows them
    assert parsed == ParsedInventory(
        rows=[InventoryRow(2, "WH-TX", "Accu Scale", 40), InventoryRow(4, "WH-2", "Scale, Pro", 7)]
    )


def test_every_bad_inventory_row_is_reported_with_its_row_and_column_and_good_rows_are_kept() -> None:
    parsed = parse_inventory_csv(
        _inventory(
            "WH-TX,Accu Scale,40",  # 2 good
            "NOPE,Accu Scale,1",  # 3 an unknown source
            "WH-TX,,3",  # 4 no product
            "WH-TX,Bench Press,-2",  # 5 a negative count
            "WH-TX,Bench Press,\u00b2",  # 6 a digit int() would refuse
            f"WH-TX,{'x' * 201},1",  # 7 a product too long to be one
            f"WH-TX,Weights,{'9' * 39}",  # 8 more digits than DynamoDB keeps
            ",,",  # skipped: blank
            "WH-TX,Accu Scale,41",  # 10 repeats row 2
            "WH-2,Accu Scale,3",  # 11 good: another source
        ),
        SOURCES,
    )

    assert [(r.row, r.source_id, r.on_hand) for r in parsed.rows] == [(2, "WH-TX", 40), (11, "WH-2", 3)]
    assert [(e.row, e.field) for e in parsed.errors] == [
        (3, "source_id"), (4, "product"), (5, "on_hand"), (6, "on_hand"), (7, "product"), (8, "on_hand"),
        (10, "product")]  # fmt: skip
    messages = [e.message for e in parsed.errors]
    assert messages[0] == "no fulfillment source with id NOPE"
    assert messages[2] == "on_hand must be a whole number, 0 or more (got '-2')"
    assert messages[5] == "on_hand has more than 38 digits"
    assert messages[6] == "repeats row 2 (Accu Scale at WH-TX)"
    assert parsed.to_body(dry_run=True)["updated"] == 0 and parsed.to_body(dry_run=False)["updated"] == 2
    assert parsed.to_body(dry_run=False)["rejected"] == 7


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ("source,product,qty", "source_id", "(missing source_id, on_hand) (unknown source, qty)"),
        ("source_id,product", "on_hand", "(missing on_hand)"),
        ("source_id,product,on_hand,bin", "bin", "(unknown bin)"),
        ("source_id,product,on_hand,on_hand", "body", "the header is source_id,product,on_hand"),
    ],
)
def test_a_bad_inventory_header_is_one_error_naming_the_column(header: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_inventory_csv(_inventory("WH-TX,Accu Scale,1", header=header), SOURCES)

    assert raised.value.field == field
    assert words in raised.value.message


@pytest.mark.parametrize("text", ["", BOM, "\r\n\r\n", ",,\n"])
def test_an_inventory_file_without_a_header_row_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="no header row") as raised:
        parse_inventory_csv(text, SOURCES)
    assert raised.value.field == "body"


def test_an_inventory_file_over_the_row_limit_is_refused_whole() -> None:
    rows = [f"WH-TX,P{n},1" for n in range(MAX_ROWS + 1)]

    assert len(parse_inventory_csv(_inventory(*rows[:MAX_ROWS]), SOURCES).rows) == MAX_ROWS
    with pytest.raises(InvalidInput, match="more than 20,000 rows: split it") as raised:
        parse_inventory_csv(_inventory(*rows), SOURCES)
    assert raised.value.field == "body"


def test_an_inventory_product_is_read_as_the_mappings_export_writes_it() -> None:
    # A product the mappings export quoted against formulas is the same product here
    parsed = parse_inventory_csv(_inventory(f"WH-TX,{escape_cell('=Accu')},1"), SOURCES)
    assert [r.product for r in parsed.rows] == ["=Accu"]
