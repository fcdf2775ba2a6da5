"""Order sources: ``GET /sources`` and ``GET|PUT|DELETE /sources/{code}`` (where orders come from; the
warehouses that ship them are the fulfillment sources, /fulfillment-sources).

A source's secret is never sent here nor shown: ``secret_ref`` says where the admin API reads it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import OrderSources, Settings
from orderflow.api.http import created
from orderflow.errors import InvalidInput, NotFound
from orderflow.models.order import SOURCE_BIGCOMMERCE
from orderflow.models.source import (
    BIGCOMMERCE_SOURCE,
    BUILT_IN_CODES,
    MANUAL_SOURCE,
    SOURCE_CODE_PATTERN,
    SOURCE_MANUAL,
    OrderSource,
    OrderSourceSettings,
    provider_name,
)
from orderflow.observability import logger

router = APIGatewayHttpRouter()
SOURCE_BODY = Body(
    description='e.g. {"name": "Orderful", "provider": "orderful", "mapping_group": "Orderful", "secret_ref": '
    '"ORDERFUL_SECRET"}: its orders are posted to POST /orders with X-Source-Secret and keyed ORDERFUL-<id>'
)
_RESERVED_PROVIDERS = {SOURCE_BIGCOMMERCE, SOURCE_MANUAL}


def render(source: OrderSource) -> dict[str, Any]:
    return source.model_dump(mode="json")


@router.get(
    "/sources", summary="The order sources: BigCommerce, manual orders and those configured", tags=["sources"]
)
def list_sources(sources: OrderSources, settings: Settings) -> dict[str, Any]:
    return {"sources": [render(s) for s in _built_in(settings) + sources.all()]}


@router.get("/sources/<code>", summary="One order source", tags=["sources"])
def get_source(code: str, sources: OrderSources, settings: Settings) -> dict[str, Any]:
    built_in = {s.code: s for s in _built_in(settings)}
    found = built_in.get(code) or sources.find(code)
    if found is None:
        raise _not_found(code)
    return render(found)


@router.put(
    "/sources/<code>",
    summary="Configure an order source under a code (creates or replaces it)",
    description="201 when the code is new, 200 when it replaced the source of that code. The code (1 to 12 "
    "capital letters and digits) starts its orders' keys and Import IDs (`ORDERFUL-PO4500012345`); BC and "
    "MANUAL are built in. The secret stays where `secret_ref` names it: only the reference is kept and shown.",
    tags=["sources"],
)
def put_source(code: str, body: Annotated[OrderSourceSettings, SOURCE_BODY], sources: OrderSources) -> Any:
    source = _checked(code, body)
    saved, is_new = sources.save(source)
    logger.info("order source configured", extra={"source": saved.code, "new": is_new})
    return created(render(saved)) if is_new else render(saved)


@router.delete(
    "/sources/<code>",
    summary="Forget an order source (its orders stay; it can post no more)",
    tags=["sources"],
)
def delete_source(code: str, sources: OrderSources) -> dict[str, Any]:
    if code in BUILT_IN_CODES:
        raise InvalidInput(f"code: {code} is built in and cannot be removed", field="code")
    if not sources.delete(code):
        raise _not_found(code)
    logger.info("order source removed", extra={"source": code})
    return {"deleted": code}


def _checked(code: str, body: OrderSourceSettings) -> OrderSource:
    if not re.fullmatch(SOURCE_CODE_PATTERN, code):
        raise InvalidInput(
            "code: 1 to 12 capital letters and digits, starting with a letter (e.g. ORDERFUL)", field="code"
        )
    if code in BUILT_IN_CODES:
        raise InvalidInput(f"code: {code} is built in; choose another code", field="code")
    provider = body.provider or provider_name(body.name)
    if provider in _RESERVED_PROVIDERS:
        raise InvalidInput(
            f"provider: '{provider}' is a built-in source's; name this one's provider", field="provider"
        )
    return OrderSource(**body.model_dump(exclude={"provider"}), provider=provider, code=code)


def _built_in(settings: Settings) -> list[OrderSource]:
    group = settings.bigcommerce().mapping_group
    return [
        BIGCOMMERCE_SOURCE.model_copy(update={"mapping_group": group}),
        MANUAL_SOURCE.model_copy(update={"mapping_group": group}),
    ]


def _not_found(code: str) -> NotFound:
    return NotFound(f"no order source with code '{code[:64]}'", field="code")
