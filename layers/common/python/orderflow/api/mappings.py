"""Mappings: ``GET|POST /mappings/{kind}``, ``GET|PUT|DELETE /mappings/{kind}/{id}``, and CSV
``POST /mappings/{kind}/import``, ``GET /mappings/{kind}/export``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import ValidationError

from orderflow.api.http import created
from orderflow.errors import InvalidInput
from orderflow.mapping import csv_files as mapping_csv
from orderflow.models.order import MAPPING_VALUE_FIELD, Mapping, MappingInput, MappingKind
from orderflow.observability import logger
from orderflow.store import tables

router = APIGatewayHttpRouter()
KINDS = ", ".join(k.value for k in MappingKind)
MAX_CSV_BYTES = 5 * 1024 * 1024  # under Lambda's 6 MB request limit, with room for the event around it
MAPPING_BODY = Body(
    description='e.g. {"mapping_group": "Default Mapping Group", "product": "Accu Scale", '
    '"external_field_name": "sku", "external_field_value": "ABS"}; the internal value is named after the '
    "kind: account, price_list, unit or product"
)


def parse_kind(kind: str) -> MappingKind:
    try:
        return MappingKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown mapping kind '{kind}' (known: {KINDS})", field="kind") from None


def parse_mapping(kind: MappingKind, body: Any) -> MappingInput:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    value_field = MAPPING_VALUE_FIELD[kind]
    data = dict(body)
    if value_field in data:
        data["value"] = data.pop(value_field)
    try:
        return MappingInput.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        field = value_field if field == "value" else field
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


def render(mapping: Mapping) -> dict[str, Any]:
    body = mapping.model_dump(mode="json")
    body[MAPPING_VALUE_FIELD[mapping.kind]] = body.pop("value")
    return body


def csv_text(event: APIGatewayProxyEventV2) -> str:
    """The uploaded CSV: the raw body, which API Gateway may hand over base64-encoded."""
    content_type = (event.headers.get("content-type") or "").lower()
    if content_type.startswith("multipart/"):
        raise InvalidInput(
            "send the CSV file itself as the body (Content-Type: text/csv), not as a form upload",
            field="body",
        )
    body = event.body or ""
    if event.is_base64_encoded:
        if len(body) > (MAX_CSV_BYTES + 2) // 3 * 4:  # refuse before decoding what is too big anyway
            raise _too_large()
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise InvalidInput("the body is marked base64 but is not valid base64", field="body") from None
    else:
        data = body.encode()
    if not data.strip():
        raise InvalidInput("the body is empty: send the CSV file (Content-Type: text/csv)", field="body")
    if len(data) > MAX_CSV_BYTES:
        raise _too_large()
    return mapping_csv.decode(data)


def _too_large() -> InvalidInput:
    return InvalidInput(
        f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB: split it and import the parts",
        field="body",
    )


@router.get("/mappings/<kind>", summary="List mappings of a kind", tags=["mappings"])
def list_mappings(
    kind: str,
    mapping_group: Annotated[str | None, Query()] = None,
    external_field_value: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    mappings, next_cursor = tables.mappings().search(
        parse_kind(kind), group=mapping_group, external_value=external_field_value, limit=limit, cursor=cursor
    )
    return {"mappings": [render(m) for m in mappings], "next_cursor": next_cursor}


@router.post("/mappings/<kind>", summary="Create a mapping (409 when it exists)", tags=["mappings"])
def create_mapping(kind: str, body: Annotated[dict[str, Any], MAPPING_BODY]) -> tuple[Any, int]:
    mapping_kind = parse_kind(kind)
    return created(render(tables.mappings().create(mapping_kind, parse_mapping(mapping_kind, body))))


# Registered before /mappings/<kind>/<mapping_id>: Powertools tries routes in registration order, and
# "export" would otherwise be taken for a mapping id.
@router.get(
    "/mappings/<kind>/export",
    summary="Every mapping of a kind as CSV (the columns the import reads)",
    tags=["mappings"],
    responses={200: {"description": "the mappings", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_mappings(
    kind: str, mapping_group: Annotated[str | None, Query(description="only this group")] = None
) -> Response[str]:
    mapping_kind = parse_kind(kind)
    text = mapping_csv.render_csv(mapping_kind, tables.mappings().list_all(mapping_kind, group=mapping_group))
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=text,
        headers={"Content-Disposition": f'attachment; filename="{mapping_kind.value}-mappings.csv"'},
    )


@router.post(
    "/mappings/<kind>/import",
    summary="Import mappings from a CSV body (per-row errors; bad rows are not written)",
    description="The raw body is the CSV file (Content-Type: text/csv, UTF-8, at most 5 MB), with a header "
    "row: mapping_group,account,<account|price_list|unit|product>,external_field_name,external_field_value "
    "(accounts have no separate account column). Empty mapping_group: the default group; empty account: "
    "a general mapping.",
    tags=["mappings"],
    # The body is read raw (not a parameter Powertools would parse as JSON): document it by hand.
    openapi_extensions={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
def import_mappings(
    kind: str,
    on_existing: Annotated[
        Literal["refuse", "update"],
        Query(description="refuse (default): a row whose key exists with another value is an error"),
    ] = "refuse",
    dry_run: Annotated[bool, Query(description="validate and count; write nothing")] = False,
) -> dict[str, Any]:
    mapping_kind = parse_kind(kind)
    text = csv_text(router.current_event)
    report = mapping_csv.import_csv(
        mapping_kind, text, tables.mappings(), replace=on_existing == "update", dry_run=dry_run
    )
    body = report.to_body()
    # Named keys, not the body's: "created" is a LogRecord attribute, which no log key may be.
    logger.info(
        "mappings imported",
        extra={
            "kind": mapping_kind.value,
            "created_count": report.created,
            "updated_count": report.updated,
            "unchanged_count": report.unchanged,
            "rejected_count": report.rejected,
            "dry_run": report.dry_run,
        },
    )
    return body


@router.get("/mappings/<kind>/<mapping_id>", summary="One mapping", tags=["mappings"])
def get_mapping(kind: str, mapping_id: str) -> dict[str, Any]:
    return render(tables.mappings().get(parse_kind(kind), mapping_id))


@router.put("/mappings/<kind>/<mapping_id>", summary="Replace a mapping", tags=["mappings"])
def put_mapping(kind: str, mapping_id: str, body: Annotated[dict[str, Any], MAPPING_BODY]) -> dict[str, Any]:
    mapping_kind = parse_kind(kind)
    return render(tables.mappings().update(mapping_kind, mapping_id, parse_mapping(mapping_kind, body)))


@router.delete("/mappings/<kind>/<mapping_id>", summary="Delete a mapping", tags=["mappings"])
def delete_mapping(kind: str, mapping_id: str) -> tuple[Any, int]:
    tables.mappings().delete(parse_kind(kind), mapping_id)
    return {"deleted": mapping_id}, 200
