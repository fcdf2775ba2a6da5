"""Mappings: ``GET|POST /mappings/{kind}``, ``GET|PUT|DELETE /mappings/{kind}/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orderflow.api.http import created
from orderflow.errors import InvalidInput
from orderflow.models import MAPPING_VALUE_FIELD, Mapping, MappingInput, MappingKind
from orderflow.store import tables

router = APIGatewayHttpRouter()
KINDS = ", ".join(k.value for k in MappingKind)
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
