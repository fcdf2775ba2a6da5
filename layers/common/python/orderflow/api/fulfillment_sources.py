"""Fulfillment sources and inventory: ``GET|POST /fulfillment-sources``,
``GET|PUT|DELETE /fulfillment-sources/{source_id}``, ``GET /inventory``,
``PUT /inventory/{source_id}/{product}``, CSV ``POST /inventory/import``, and the fulfillment orders
in a state (``GET /fulfillment-orders``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from orderflow.api.dependencies import FulfillmentOrders, Inventory, Sources
from orderflow.api.http import created
from orderflow.api.mappings import csv_text
from orderflow.errors import InvalidInput
from orderflow.mapping.csv_files import PRODUCT_MAX, ParsedInventory, parse_inventory_csv
from orderflow.models.fulfillment import FulfillmentOrderStatus, FulfillmentSource, InventoryLevel
from orderflow.observability import logger

router = APIGatewayHttpRouter()
SOURCE_ID_MAX = 64  # characters, FulfillmentSource.id's limit
SOURCE_BODY = Body(
    description='e.g. {"id": "WH-TX", "name": "Austin warehouse", "kind": "warehouse", "priority": 10, '
    '"active": true, "max_lines_per_day": 5000, "address": {"city": "Austin", "zip": "78701", '
    '"country_iso2": "US", "location": {"latitude": 30.27, "longitude": -97.74}}}'
)


class NewSource(FulfillmentSource):
    """A warehouse, store or 3PL that ships orders. created_at and updated_at are set by the API."""

    # Left out of the document and ignored when sent: the repository stamps each write.
    created_at: SkipJsonSchema[Any] = ""
    updated_at: SkipJsonSchema[Any] = ""


class SourceReplacement(NewSource):
    """A fulfillment source in full, replacing the stored one; its id may be left out (the path's)."""

    # FulfillmentSource.id's rules, for an id that may now be left out.
    id: Annotated[str | None, *FulfillmentSource.model_fields["id"].metadata] = None  # type: ignore[assignment]


class StockCount(BaseModel):
    """The units of a product on hand at a source; what is reserved of them is kept."""

    model_config = ConfigDict(defer_build=True)

    # Strict: a whole number of units, not true, 4.0 or "4".
    on_hand: Annotated[int, Field(strict=True, ge=0, description="units on hand")]


def render_level(level: InventoryLevel) -> dict[str, Any]:
    return {**level.model_dump(mode="json"), "available": level.available}


@router.get("/fulfillment-sources", summary="Every fulfillment source", tags=["fulfillment"])
def list_sources(sources: Sources) -> dict[str, Any]:
    return {"sources": [s.model_dump(mode="json") for s in sources.list_all()]}


@router.post(
    "/fulfillment-sources",
    summary="Create a fulfillment source (409 when the id exists)",
    tags=["fulfillment"],
)
def create_source(body: Annotated[NewSource, SOURCE_BODY], sources: Sources) -> tuple[Any, int]:
    return created(sources.create(body).model_dump(mode="json"))


@router.get("/fulfillment-sources/<source_id>", summary="One fulfillment source", tags=["fulfillment"])
def get_source(source_id: str, sources: Sources) -> dict[str, Any]:
    return sources.get(source_id).model_dump(mode="json")


@router.put("/fulfillment-sources/<source_id>", summary="Replace a fulfillment source", tags=["fulfillment"])
def put_source(
    source_id: str, body: Annotated[SourceReplacement, SOURCE_BODY], sources: Sources
) -> dict[str, Any]:
    if body.id is not None and body.id != source_id:
        raise InvalidInput(f"id '{body.id}' differs from the path's '{source_id}'", field="id")
    return sources.replace(body.model_copy(update={"id": source_id})).model_dump(mode="json")


@router.delete(
    "/fulfillment-sources/<source_id>",
    summary="Delete a fulfillment source and its stock (409 while any of it is reserved)",
    tags=["fulfillment"],
)
def delete_source(source_id: str, sources: Sources, inventory: Inventory) -> dict[str, Any]:
    sources.delete(source_id, inventory)
    return {"deleted": source_id}


@router.get("/inventory", summary="Stock levels, by source and/or product", tags=["fulfillment"])
def list_inventory(
    source_id: Annotated[str | None, Query()] = None,
    product: Annotated[str | None, Query(description="the internal product")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
    *,
    inventory: Inventory,
) -> dict[str, Any]:
    # Nothing is kept under an empty or overlong name, and DynamoDB refuses such a key to look it up.
    if not (_can_exist(source_id, SOURCE_ID_MAX) and _can_exist(product, PRODUCT_MAX)):
        return {"inventory": [], "next_cursor": None}
    levels, next_cursor = inventory.search(source_id, product, limit=limit, cursor=cursor)
    return {"inventory": [render_level(level) for level in levels], "next_cursor": next_cursor}


@router.get(
    "/fulfillment-orders",
    summary="Fulfillment orders in a state (created, sent, shipped, cancelled, failed), newest first",
    tags=["fulfillment"],
)
def list_fulfillment_orders(
    status: Annotated[FulfillmentOrderStatus, Query(description="the state to list")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="from the previous page's next_cursor")] = None,
    *,
    fulfillment_orders: FulfillmentOrders,
) -> dict[str, Any]:
    found, next_cursor = fulfillment_orders.in_state(status, limit=limit, cursor=cursor)
    return {"fulfillment_orders": [fo.model_dump(mode="json") for fo in found], "next_cursor": next_cursor}


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
    *,
    sources: Sources,
    inventory: Inventory,
) -> dict[str, Any]:
    # The raw body is the CSV file, not a JSON body parameter (see the mappings' import).
    text = csv_text(router.current_event)
    parsed: ParsedInventory = parse_inventory_csv(text, {s.id for s in sources.list_all()})
    if not dry_run:
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
    body: Annotated[StockCount, Body(description='{"on_hand": 40}')],
    sources: Sources,
    inventory: Inventory,
) -> dict[str, Any]:
    if len(product) > PRODUCT_MAX:
        raise InvalidInput(f"product is longer than {PRODUCT_MAX} characters", field="product")
    sources.get(source_id)  # 404 naming source_id for an unknown source
    return render_level(inventory.set_on_hand(source_id, product, body.on_hand))
