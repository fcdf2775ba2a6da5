"""Fulfillment sources and inventory: ``GET|POST /fulfillment-sources``,
``GET|PUT|DELETE /fulfillment-sources/{source_id}``, ``GET /inventory``,
``PUT /inventory/{source_id}/{product}`` and CSV ``POST /inventory/import``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orderflow.api.http import created
from orderflow.api.mappings import csv_text
from orderflow.errors import InvalidInput
from orderflow.mapping import csv_files as mapping_csv
from orderflow.mapping.csv_files import BOM, MAX_REPORTED_ERRORS, MAX_ROWS, RowError
from orderflow.models.fulfillment import FulfillmentSource, InventoryLevel
from orderflow.observability import logger
from orderflow.store import tables

router = APIGatewayHttpRouter()
CSV_COLUMNS = ("source_id", "product", "on_hand")
PRODUCT_MAX = 200  # characters, as a products mapping's product (what inventory is kept by)
SOURCE_ID_MAX = 64  # characters, FulfillmentSource.id's limit
ON_HAND_DIGITS = 38  # DynamoDB's precision
SOURCE_BODY = Body(
    description='e.g. {"id": "WH-TX", "name": "Austin warehouse", "kind": "warehouse", "priority": 10, '
    '"active": true, "max_lines_per_day": 5000, "address": {"city": "Austin", "zip": "78701", '
    '"country_iso2": "US", "location": {"latitude": 30.27, "longitude": -97.74}}}'
)


def parse_source(body: Any, source_id: str | None = None) -> FulfillmentSource:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    data = {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}
    if source_id is not None and data.setdefault("id", source_id) != source_id:
        raise InvalidInput(f"id '{data['id']}' differs from the path's '{source_id}'", field="id")
    try:
        return FulfillmentSource.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from None


def render_level(level: InventoryLevel) -> dict[str, Any]:
    return {**level.model_dump(mode="json"), "available": level.available}


@router.get("/fulfillment-sources", summary="Every fulfillment source", tags=["fulfillment"])
def list_sources() -> dict[str, Any]:
    return {"sources": [s.model_dump(mode="json") for s in tables.sources().list_all()]}


@router.post(
    "/fulfillment-sources",
    summary="Create a fulfillment source (409 when the id exists)",
    tags=["fulfillment"],
)
def create_source(body: Annotated[dict[str, Any], SOURCE_BODY]) -> tuple[Any, int]:
    return created(tables.sources().create(parse_source(body)).model_dump(mode="json"))


@router.get("/fulfillment-sources/<source_id>", summary="One fulfillment source", tags=["fulfillment"])
def get_source(source_id: str) -> dict[str, Any]:
    return tables.sources().get(source_id).model_dump(mode="json")


@router.put("/fulfillment-sources/<source_id>", summary="Replace a fulfillment source", tags=["fulfillment"])
def put_source(source_id: str, body: Annotated[dict[str, Any], SOURCE_BODY]) -> dict[str, Any]:
    return tables.sources().replace(parse_source(body, source_id)).model_dump(mode="json")


@router.delete(
    "/fulfillment-sources/<source_id>",
    summary="Delete a fulfillment source and its stock (409 while any of it is reserved)",
    tags=["fulfillment"],
)
def delete_source(source_id: str) -> dict[str, Any]:
    tables.sources().delete(source_id, tables.inventory())
    return {"deleted": source_id}


@router.get("/inventory", summary="Stock levels, by source and/or product", tags=["fulfillment"])
def list_inventory(
    source_id: Annotated[str | None, Query()] = None,
    product: Annotated[str | None, Query(description="the internal product")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    # Nothing is kept under an empty or overlong name, and DynamoDB refuses such a key to look it up.
    if not (_can_exist(source_id, SOURCE_ID_MAX) and _can_exist(product, PRODUCT_MAX)):
        return {"inventory": [], "next_cursor": None}
    levels, next_cursor = tables.inventory().search(source_id, product, limit=limit, cursor=cursor)
    return {"inventory": [render_level(level) for level in levels], "next_cursor": next_cursor}


def _can_exist(name: str | None, limit: int) -> bool:
    return name is None or 0 < len(name) <= limit


# Registered before /inventory/<source_id>/<product> for the same reason as the mappings export.
@router.post(
    "/inventory/import",
    summary="Set on-hand stock from a CSV body (per-row errors; bad rows are not written)",
    description="The raw body is the CSV file (Content-Type: text/csv, UTF-8, at most 5 MB) with the header "
    "source_id,product,on_hand. Each good row sets that source's on-hand stock of the product; reserved "
    "stock is kept.",
    tags=["fulfillment"],
    openapi_extensions={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
def import_inventory(
    dry_run: Annotated[bool, Query(description="validate and count; write nothing")] = False,
) -> dict[str, Any]:
    parsed = parse_inventory_csv(csv_text(router.current_event), {s.id for s in tables.sources().list_all()})
    if not dry_run:
        inventory = tables.inventory()
        for row in parsed.rows:
            inventory.set_on_hand(row.source_id, row.product, row.on_hand)
    body = parsed.to_body(dry_run)
    logger.info("inventory imported", extra={k: v for k, v in body.items() if k != "errors"})
    return body


@router.put(
    "/inventory/<source_id>/<product>",
    summary="Set a source's on-hand stock of a product (reserved stock is kept)",
    tags=["fulfillment"],
)
def put_inventory(
    source_id: str,
    product: str,
    body: Annotated[dict[str, Any], Body(description='{"on_hand": 40}')],
) -> dict[str, Any]:
    # Powertools matches routes on the raw path: a product like "Accu Scale" arrives percent-encoded.
    on_hand = body.get("on_hand") if isinstance(body, dict) else None
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
        raise InvalidInput("on_hand must be a whole number, 0 or more", field="on_hand")
    if len(product) > PRODUCT_MAX:
        raise InvalidInput(f"product is longer than {PRODUCT_MAX} characters", field="product")
    tables.sources().get(source_id)  # 404 naming source_id for an unknown source
    return render_level(tables.inventory().set_on_hand(source_id, product, on_hand))


@dataclass(frozen=True)
class InventoryRow:
    row: int
    source_id: str
    product: str
    on_hand: int


@dataclass
class ParsedInventory:
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


def parse_inventory_csv(text: str, known_sources: set[str]) -> ParsedInventory:
    """Rows of an inventory CSV, each problem with its row (the header is row 1) and column."""
    parsed = ParsedInventory()
    names: list[str] | None = None
    first_row: dict[tuple[str, str], int] = {}
    data_rows = 0
    for number, cells in mapping_csv._records(text.removeprefix(BOM)):
        if not any(cells):
            continue
        if names is None:
            names = [cell.strip().lower().replace(" ", "_") for cell in cells]
            missing = [c for c in CSV_COLUMNS if c not in names]
            unknown = [c for c in names if c and c not in CSV_COLUMNS]
            if missing or unknown or len(set(names)) != len(names):
                raise InvalidInput(
                    f"bad header row: the header is {','.join(CSV_COLUMNS)}"
                    + (f" (missing {', '.join(missing)})" if missing else "")
                    + (f" (unknown {', '.join(unknown)})" if unknown else ""),
                    field=(missing or unknown or ["body"])[0],
                )
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise InvalidInput(
                f"the file has more than {MAX_ROWS:,} rows: split it and import the parts", field="body"
            )
        values = {
            name: mapping_csv.unescape_cell(cell) for name, cell in zip(names, cells, strict=False) if name
        }
        row = _row(number, values, known_sources, parsed.errors)
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
        raise InvalidInput(f"the file has no header row ({','.join(CSV_COLUMNS)})", field="body")
    return parsed


def _row(
    number: int, values: dict[str, str], known_sources: set[str], errors: list[RowError]
) -> InventoryRow | None:
    before = len(errors)
    source_id, product, on_hand = (values.get(c, "") for c in CSV_COLUMNS)
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
