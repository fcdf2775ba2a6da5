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
from pydantic import BaseModel, ConfigDict, Field

from orderflow.api.dependencies import Mappings
from orderflow.api.http import created
from orderflow.errors import InvalidInput
from orderflow.mapping import csv_files as mapping_csv
from orderflow.models.order import (
    DEFAULT_MAPPING_GROUP,
    MAPPING_VALUE_FIELD,
    Mapping,
    MappingInput,
    MappingKind,
)
from orderflow.observability import logger

router = APIGatewayHttpRouter()
KINDS = ", ".join(k.value for k in MappingKind)
MAX_CSV_BYTES = 5 * 1024 * 1024  # under Lambda's 6 MB request limit, with room for the event around it
MAPPING_BODY = Body(
    description='e.g. {"mapping_group": "Default Mapping Group", "product": "Accu Scale", '
    '"external_field_name": "sku", "external_field_value": "ABS"}; the internal value is named after the '
    "kind: account, price_list, unit or product"
)
NAME_LIMIT = 200  # characters, MappingInput's limit for each of its names
Name = Annotated[str, Field(min_length=1, max_length=NAME_LIMIT)]


class MappingBody(BaseModel):
    """A mapping: the internal value under its kind's name (account, price_list, unit or product); for
    accounts mappings, account is that value, for the others the account the mapping is limited to."""

    model_config = ConfigDict(defer_build=True)

    # MappingInput as the API spells it. Which field holds the value depends on the path's kind, which
    # a body model cannot know: the four are optional here, and to_input takes the kind's.
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    mapping_group: Name = DEFAULT_MAPPING_GROUP
    account: Annotated[str, Field(max_length=NAME_LIMIT)] | None = None
    price_list: Name | None = None
    unit: Name | None = None
    product: Name | None = None
    external_field_name: Name
    external_field_value: Name

    def to_input(self, kind: MappingKind) -> MappingInput:
        value_field = MAPPING_VALUE_FIELD[kind]
        for other in MAPPING_VALUE_FIELD.values():
            if other not in (value_field, "account") and other in self.model_fields_set:
                raise InvalidInput(
                    f"{other}: {kind.value} mappings have no {other} (their value is {value_field})",
                    field=other,
                )
        value = getattr(self, value_field)
        if not value:
            raise InvalidInput(f"{value_field}: Field required", field=value_field)
        return MappingInput(
            mapping_group=self.mapping_group,
            account=None if value_field == "account" else self.account,
            value=value,
            external_field_name=self.external_field_name,
            external_field_value=self.external_field_value,
        )


def parse_kind(kind: str) -> MappingKind:
    try:
        return MappingKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown mapping kind '{kind}' (known: {KINDS})", field="kind") from None


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
    *,
    repo: Mappings,
) -> dict[str, Any]:
    mappings, next_cursor = repo.search(
        parse_kind(kind), group=mapping_group, external_value=external_field_value, limit=limit, cursor=cursor
    )
    return {"mappings": [render(m) for m in mappings], "next_cursor": next_cursor}


@router.post("/mappings/<kind>", summary="Create a mapping (409 when it exists)", tags=["mappings"])
def create_mapping(kind: str, body: Annotated[MappingBody, MAPPING_BODY], repo: Mappings) -> tuple[Any, int]:
    mapping_kind = parse_kind(kind)
    return created(render(repo.create(mapping_kind, body.to_input(mapping_kind))))


# Registered before /mappings/<kind>/<mapping_id>: Powertools tries routes in registration order, and
# "export" would otherwise be taken for a mapping id.
@router.get(
    "/mappings/<kind>/export",
    summary="Every mapping of a kind as CSV (the columns the import reads)",
    tags=["mappings"],
    responses={200: {"description": "the mappings", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_mappings(
    kind: str,
    mapping_group: Annotated[str | None, Query(description="only this group")] = None,
    *,
    repo: Mappings,
) -> Response[str]:
    mapping_kind = parse_kind(kind)
    text = mapping_csv.render_csv(mapping_kind, repo.list_all(mapping_kind, group=mapping_group))
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
    *,
    repo: Mappings,
) -> dict[str, Any]:
    mapping_kind = parse_kind(kind)
    text = csv_text(router.current_event)
    report = mapping_csv.import_csv(
        mapping_kind, text, repo, replace=on_existing == "update", dry_run=dry_run
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
def get_mapping(kind: str, mapping_id: str, repo: Mappings) -> dict[str, Any]:
    return render(repo.get(parse_kind(kind), mapping_id))


@router.put("/mappings/<kind>/<mapping_id>", summary="Replace a mapping", tags=["mappings"])
def put_mapping(
    kind: str, mapping_id: str, body: Annotated[MappingBody, MAPPING_BODY], repo: Mappings
) -> dict[str, Any]:
    mapping_kind = parse_kind(kind)
    return render(repo.update(mapping_kind, mapping_id, body.to_input(mapping_kind)))


@router.delete("/mappings/<kind>/<mapping_id>", summary="Delete a mapping", tags=["mappings"])
def delete_mapping(kind: str, mapping_id: str, repo: Mappings) -> tuple[Any, int]:
    repo.delete(parse_kind(kind), mapping_id)
    return {"deleted": mapping_id}, 200
