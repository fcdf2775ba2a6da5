"""Settings: ``GET|PUT /settings/bigcommerce``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orderflow.bigcommerce.statuses import ORDER_STATUSES
from orderflow.errors import InvalidInput
from orderflow.models import BigCommerceSettings
from orderflow.store import tables

router = APIGatewayHttpRouter()


@router.get("/settings/bigcommerce", summary="The BigCommerce connector's settings", tags=["settings"])
def get_settings() -> dict[str, Any]:
    return tables.settings().bigcommerce().model_dump(mode="json")


@router.put("/settings/bigcommerce", summary="Change the BigCommerce connector's settings", tags=["settings"])
def put_settings(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    repo = tables.settings()
    merged = {**repo.bigcommerce().model_dump(mode="json"), **body}
    try:
        settings = BigCommerceSettings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = f"{field}: {first['msg']}"
        if first["type"] in {"greater_than_equal", "less_than_equal", "int_parsing", "int_type"}:
            valid = ", ".join(f"{k} {v}" for k, v in ORDER_STATUSES.items())
            message = f"{field}: {first['input']!r} is not a BigCommerce status id (valid: {valid})"
        raise InvalidInput(message, field=field) from None
    return repo.save_bigcommerce(settings).model_dump(mode="json")
