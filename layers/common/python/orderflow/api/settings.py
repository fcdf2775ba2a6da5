"""Settings: ``GET|PUT /settings/bigcommerce``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orderflow import config
from orderflow.bigcommerce.statuses import ORDER_STATUSES
from orderflow.errors import InvalidInput
from orderflow.models.order import BigCommerceSettings, OrderStatus
from orderflow.store import tables

router = APIGatewayHttpRouter()
STORE_HASH = "store_hash"


@router.get("/settings/bigcommerce", summary="The BigCommerce connector's settings", tags=["settings"])
def get_settings() -> dict[str, Any]:
    return _render(tables.settings().bigcommerce())


@router.put(
    "/settings/bigcommerce",
    summary="Change the BigCommerce connector's settings (only the fields given)",
    tags=["settings"],
)
def put_settings(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    repo = tables.settings()
    changes = dict(body)
    store_hash = changes.pop(STORE_HASH, None)
    if store_hash is not None and store_hash != config.store_hash():
        raise InvalidInput(
            f"{STORE_HASH}: the store is chosen when the stack is deployed (parameter BigCommerceStoreHash, "
            f"now '{config.store_hash()}'); it cannot be changed here",
            field=STORE_HASH,
        )
    merged = {**repo.bigcommerce().model_dump(mode="json"), **changes}
    try:
        settings = BigCommerceSettings.model_validate(merged)
    except ValidationError as exc:
        raise _invalid(exc.errors()[0]) from None
    return _render(repo.save_bigcommerce(settings))


def _render(settings: BigCommerceSettings) -> dict[str, Any]:
    return {STORE_HASH: config.store_hash(), **settings.model_dump(mode="json")}


def _invalid(error: Any) -> InvalidInput:
    loc = [str(p) for p in error["loc"] if p != "[key]"]
    field = ".".join(loc)
    message = f"{field}: {error['msg']}"
    if error["type"] == "enum" and loc and loc[0] == "status_mapping":
        known = ", ".join(s.value for s in OrderStatus)
        message = f"{field}: '{loc[-1]}' is not an order status (known: {known})"
    elif error["type"] in {"greater_than_equal", "less_than_equal", "int_parsing", "int_type"}:
        valid = ", ".join(f"{k} {v}" for k, v in ORDER_STATUSES.items())
        message = (
            f"{field}: {error['input']!r} is not a BigCommerce status id (valid: {valid}; "
            'or "not assigned" in status_mapping)'
        )
    return InvalidInput(message, field=field)
