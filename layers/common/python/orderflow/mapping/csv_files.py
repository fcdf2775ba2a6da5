"""CSV import and export of mappings, and the inventory CSV: a merchant's spreadsheet in, per-row errors
out, and back.

Mappings' columns, per kind: ``mapping_group,account,<value field>,external_field_name,
external_field_value``, the value field being ``account``, ``price_list``, ``unit`` or ``product``.
Accounts mappings have no separate ``account`` column: there, as in the JSON API, ``account`` is the
value. Inventory's columns: ``source_id,product,on_hand``. Everything here is pure except
``import_csv``, which runs the plan against the repository it is given.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orderflow.errors import InvalidInput
from orderflow.models.order import MAPPING_VALUE_FIELD, Mapping, MappingInput, MappingKey, MappingKind
from orderflow.store.mappings import key_of

if TYPE_CHECKING:
    from orderflow.store.mappings import MappingRepository

BOM = "\ufeff"
QUOTE = "'"
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_REPORTED_ERRORS = 1000  # a 5 MB file of bad rows would otherwise answer more than Lambda's 6 MB
# One import is one API call, answered within API Gateway's 30 s: 20,000 new rows are a read of the
# group's partition and 800 batched writes. A bigger file is refused whole, before anything is written.
MAX_ROWS = 20_000
REQUIRED = ("external_field_name", "external_field_value")
INVENTORY_COLUMNS = ("source_id", "product", "on_hand")
PRODUCT_MAX = 200  # characters, as a products mapping's product (what inventory is kept by)
ON_HAND_DIGITS = 38  # DynamoDB's precision


def columns(kind: MappingKind) -> list[str]:
    value = MAPPING_VALUE_FIELD[kind]
    scope = [] if value == "account" else ["account"]
    return ["mapping_group", *scope, value, "external_field_name", "external_field_value"]


def escape_cell(value: str) -> str:
    """A value a spreadsheet shows as text: a leading quote before anything it would run.

    Values that already start with quotes before a trigger get one more, so that ``unescape_cell``
    can always take exactly one off: importing an export gives back every value as it was.
    """
    return QUOTE + value if value.lstrip(QUOTE).startswith(FORMULA_TRIGGERS) else value


def unescape_cell(value: str) -> str:
    """The inverse of ``escape_cell``. A quote is taken off only before quotes-then-a-trigger (what
    the export writes), never from ``'abc``: the one value read differently from how it was typed is
    a hand-written ``'=x``, which is the export's own spelling of ``=x``."""
    return (
        value[1:] if value.startswith(QUOTE) and value.lstrip(QUOTE).startswith(FORMULA_TRIGGERS) else value
    )


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1 (blank rows count, and are skipped)
    field: str | None
    message: str


@dataclass(frozen=True)
class CsvRow:
    row: int
    mapping: MappingInput


@dataclass
class ParsedCsv:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected(self) -> int:
        return len({e.row for e in self.errors})

    def to_body(self) -> dict[str, Any]:
        errors = sorted(self.errors, key=lambda e: e.row)
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": [
                {"row": e.row, "field": e.field, "message": e.message} for e in errors[:MAX_REPORTED_ERRORS]
            ],
            "errors_omitted": max(0, len(errors) - MAX_REPORTED_ERRORS),
            "dry_run": self.dry_run,
        }


@dataclass
class ImportPlan:
    """What an import writes (each input with the stored mapping it replaces, if any) and reports."""

    writes: list[tuple[MappingInput, Mapping | None]]
    report: ImportReport


def decode(data: bytes) -> str:
    """The text of an uploaded file: UTF-8, with or without the BOM Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"the file is not UTF-8 text (row {row} has the byte 0x{data[exc.start]:02X}): "
            "save it as 'CSV UTF-8'",
            field="body",
        ) from None


def identity(mapping: MappingInput) -> tuple[str, str, str, str]:
    # The same identity as the store's key (store/mappings.py item_key): the field name's case does
    # not matter, the value's does.
    return (
        mapping.mapping_group,
        mapping.account or "",
        mapping.external_field_name.lower(),
        mapping.external_field_value,
    )


def parse_csv(kind: MappingKind, text: str) -> ParsedCsv:
    """Rows of a kind's CSV, each valid one as a MappingInput, each problem with its row and column.

    A bad header (an unknown, repeated or missing column; no header at all) is one InvalidInput:
    nothing in the file can be trusted to mean what it says.
    """
    parsed = ParsedCsv()
    names: list[str | None] | None = None
    first_row: dict[tuple[str, str, str, str], int] = {}
    data_rows = 0
    for number, cells in _records(text.removeprefix(BOM)):
        if not any(cells):
            continue  # blank rows, and the ",,,," a spreadsheet leaves after formatted rows
        if names is None:
            names = _header(kind, cells)
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise InvalidInput(
                f"the file has more than {MAX_ROWS:,} rows: split it and import the parts", field="body"
            )
        mapping, errors = _row(kind, names, number, cells)
        if mapping is not None:
            earlier = first_row.setdefault(identity(mapping), number)
            if earlier != number:
                errors.append(
                    RowError(
                        number,
                        "external_field_value",
                        f"duplicates row {earlier}: the same mapping_group, account, external_field_name "
                        "and external_field_value may appear only once",
                    )
                )
        if errors:
            parsed.errors.extend(errors)
        elif mapping is not None:
            parsed.rows.append(CsvRow(number, mapping))
    if names is None:
        raise InvalidInput(f"the file has no header row: expected {','.join(columns(kind))}", field="body")
    return parsed


def plan_import(
    kind: MappingKind, parsed: ParsedCsv, existing: dict[MappingKey, Mapping], *, replace: bool
) -> ImportPlan:
    """Decide each valid row against the stored mapping with its key: create, update, leave, or refuse
    (a different value is stored and ``replace`` is off)."""
    report = ImportReport(errors=list(parsed.errors))
    writes: list[tuple[MappingInput, Mapping | None]] = []
    value_field = MAPPING_VALUE_FIELD[kind]
    for row in parsed.rows:
        current = existing.get(key_of(kind, row.mapping))
        if current is None:
            report.created += 1
        elif current.value == row.mapping.value:
            report.unchanged += 1
            continue
        elif replace:
            report.updated += 1
        else:
            scope = f"account '{current.account}'" if current.account else "all accounts"
            report.errors.append(
                RowError(
                    row.row,
                    value_field,
                    f"a mapping for {current.external_field_name}='{current.external_field_value}' already "
                    f"exists in group '{current.mapping_group}' for {scope} with {value_field} "
                    f"'{current.value}' (id {current.id}); import with on_existing=update to replace it",
                )
            )
            continue
        writes.append((row.mapping, current))
    return ImportPlan(writes, report)


def import_csv(
    kind: MappingKind, text: str, mappings: MappingRepository, *, replace: bool, dry_run: bool
) -> ImportReport:
    """Parse, look every row's key up at once (a big file: each group's partition read whole), write
    the good rows (unless a dry run), report."""
    parsed = parse_csv(kind, text)
    existing = mappings.lookup(key_of(kind, row.mapping) for row in parsed.rows)
    plan = plan_import(kind, parsed, existing, replace=replace)
    if plan.writes and not dry_run:
        mappings.put_resolved(kind, plan.writes)
    plan.report.dry_run = dry_run
    return plan.report


def render_csv(kind: MappingKind, mappings: Iterable[Mapping]) -> str:
    """The kind's mappings as a CSV ``parse_csv`` reads back, in a stable order, with a BOM (without
    one, Excel reads UTF-8 as the machine's code page)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = columns(kind)
    writer.writerow(names)
    value_field = MAPPING_VALUE_FIELD[kind]
    ordered = sorted(
        mappings,
        key=lambda m: (
            m.mapping_group,
            m.external_field_name.lower(),
            m.external_field_value,
            m.account or "",
        ),
    )
    for mapping in ordered:
        cells = {
            "mapping_group": mapping.mapping_group,
            "account": mapping.account or "",
            "external_field_name": mapping.external_field_name,
            "external_field_value": mapping.external_field_value,
            value_field: mapping.value,  # last: for accounts, the value is the account column
        }
        writer.writerow([escape_cell(cells[name]) for name in names])
    return BOM + out.getvalue()


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    # Counting records, not lines: a quoted value with a line break is one spreadsheet row.
    reader = csv.reader(io.StringIO(text, newline=""))
    number = 0
    while True:
        number += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(
                f'row {number} cannot be read as CSV ({exc}): is a quote (") left open?', field="body"
            ) from None
        yield number, [cell.strip() for cell in record]


def _normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _header(kind: MappingKind, cells: list[str]) -> list[str | None]:
    expected = columns(kind)
    names: list[str | None] = []
    problems: list[tuple[str, str]] = []  # (column, problem)
    for cell in cells:
        name = _normal(cell)
        if not name:
            names.append(None)  # an unnamed column may only hold empty cells (checked per row)
        elif name not in expected:
            problems.append((cell, f"unknown column '{cell}'"))
            names.append(None)
        elif name in names:
            problems.append((name, f"column '{name}' appears twice"))
            names.append(None)
        else:
            names.append(name)
    for name in (MAPPING_VALUE_FIELD[kind], *REQUIRED):
        if name not in names:
            problems.append((name, f"missing column '{name}'"))
    if problems:
        listing = ",".join(expected)
        raise InvalidInput(
            f"bad header row: {'; '.join(p for _, p in problems)} (the header for {kind.value} is {listing})",
            field=problems[0][0],
            problems=[p for _, p in problems],
        )
    return names


def _row(
    kind: MappingKind, names: list[str | None], number: int, cells: list[str]
) -> tuple[MappingInput | None, list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, str] = {}
    for index, cell in enumerate(cells):
        name = names[index] if index < len(names) else None
        if name is None:
            if cell:
                errors.append(
                    RowError(
                        number, None, f"has a value in column {index + 1}, which the header does not name"
                    )
                )
            continue
        if "\n" in cell or "\r" in cell:
            errors.append(RowError(number, name, f'{name} has a line break: is a quote (") left open?'))
            continue
        values[name] = unescape_cell(cell)
    if errors:
        return None, errors
    value_field = MAPPING_VALUE_FIELD[kind]
    data: dict[str, Any] = {
        "value": values.get(value_field, ""),
        "external_field_name": values.get("external_field_name", ""),
        "external_field_value": values.get("external_field_value", ""),
    }
    if values.get("mapping_group"):
        data["mapping_group"] = values["mapping_group"]
    if value_field != "account":
        data["account"] = values.get("account") or None
    try:
        return MappingInput.model_validate(data), []
    except ValidationError as exc:
        for error in exc.errors():
            column = str(error["loc"][0]) if error["loc"] else None
            column = value_field if column == "value" else column
            errors.append(RowError(number, column, _message(column, error)))
        return None, errors


def _message(column: str | None, error: Any) -> str:
    if error["type"] == "string_too_short":
        return f"{column} is empty"
    if error["type"] == "string_too_long":
        return f"{column} is longer than {error['ctx']['max_length']} characters"
    return f"{column}: {error['msg']}"


# -- inventory ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryRow:
    row: int
    source_id: str
    product: str
    on_hand: int


@dataclass
class ParsedInventory:
    """The good rows of an inventory CSV, and each problem of the others with its row and column."""

    rows: list[InventoryRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def to_body(self, dry_run: bool) -> dict[str, Any]:
        errors = sorted(self.errors, key=lambda e: e.row)
        return {
            "updated": 0 if dry_run else len(self.rows),
            "valid": len(self.rows),
            "rejected": len({e.row for e in errors}),
            "errors": [
                {"row": e.row, "field": e.field, "message": e.message} for e in errors[:MAX_REPORTED_ERRORS]
            ],
            "errors_omitted": max(0, len(errors) - MAX_REPORTED_ERRORS),
            "dry_run": dry_run,
        }


def parse_inventory_csv(text: str, known_sources: Collection[str]) -> ParsedInventory:
    """Rows of an inventory CSV (``source_id,product,on_hand``), each problem with its row (the header
    is row 1) and column; a row naming a source not in ``known_sources`` is one of them.

    A bad header, a file over the row limit or one that is not CSV is one InvalidInput, as for mappings.
    """
    parsed = ParsedInventory()
    names: list[str] | None = None
    first_row: dict[tuple[str, str], int] = {}
    data_rows = 0
    for number, cells in _records(text.removeprefix(BOM)):
        if not any(cells):
            continue
        if names is None:
            names = _inventory_header(cells)
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise InvalidInput(
                f"the file has more than {MAX_ROWS:,} rows: split it and import the parts", field="body"
            )
        values = {name: unescape_cell(cell) for name, cell in zip(names, cells, strict=False) if name}
        row = _inventory_row(number, values, known_sources, parsed.errors)
        if row is None:
            continue
        earlier = first_row.setdefault((row.source_id, row.product), number)
        if earlier != number:
            parsed.errors.append(
                RowError(number, "product", f"repeats row {earlier} ({row.product} at {row.source_id})")
            )
            continue
        parsed.rows.append(row)
    if names is None:
        raise InvalidInput(f"the file has no header row ({','.join(INVENTORY_COLUMNS)})", field="body")
    return parsed


def _inventory_header(cells: list[str]) -> list[str]:
    names = [cell.strip().lower().replace(" ", "_") for cell in cells]
    missing = [c for c in INVENTORY_COLUMNS if c not in names]
    unknown = [c for c in names if c and c not in INVENTORY_COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        raise InvalidInput(
            f"bad header row: the header is {','.join(INVENTORY_COLUMNS)}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (unknown {', '.join(unknown)})" if unknown else ""),
            field=(missing or unknown or ["body"])[0],
        )
    return names


def _inventory_row(
    number: int, values: dict[str, str], known_sources: Collection[str], errors: list[RowError]
) -> InventoryRow | None:
    before = len(errors)
    source_id, product, on_hand = (values.get(c, "") for c in INVENTORY_COLUMNS)
    if not source_id:
        errors.append(RowError(number, "source_id", "source_id is empty"))
    elif source_id not in known_sources:
        errors.append(RowError(number, "source_id", f"no fulfillment source with id {source_id}"))
    if not product:
        errors.append(RowError(number, "product", "product is empty"))
    elif len(product) > PRODUCT_MAX:
        errors.append(RowError(number, "product", f"product is longer than {PRODUCT_MAX} characters"))
    # ASCII digits only: str.isdigit() takes "²" and "١٢" too, which int() refuses or reads otherwise.
    digits = on_hand.lstrip("0") or "0"
    if not (on_hand.isascii() and on_hand.isdigit()):
        shown = on_hand if len(on_hand) <= 40 else f"{on_hand[:40]}…"
        errors.append(
            RowError(number, "on_hand", f"on_hand must be a whole number, 0 or more (got '{shown}')")
        )
    elif len(digits) > ON_HAND_DIGITS:
        errors.append(RowError(number, "on_hand", f"on_hand has more than {ON_HAND_DIGITS} digits"))
    if len(errors) > before:
        return None
    return InventoryRow(number, source_id, product, int(digits))
