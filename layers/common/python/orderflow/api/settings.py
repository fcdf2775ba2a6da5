"""Settings: ``GET|PUT /settings/bigcommerce``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from orderflow import config
from orderflow.api.dependencies import Settings
from orderflow.bigcommerce.statuses import ORDER_STATUSES
from orderflow.errors import InvalidInput
from orderflow.models.order import BigCommerceSettings, OrderStatus

router = APIGatewayHttpRouter()
STORE_HASH = "store_hash"


class SettingsChange(BigCommerceSettings):
    """The BigCommerce connector's settings to change: those left out keep their value."""

    store_hash: Annotated[
        str | None, Field(description="the deployment's store; 400 unless it is this deployment's")
    ] = None

    @model_validator(mode="wrap")
    @classmethod
    def _worded(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Refused in the words of the settings screen: an unknown status is named, the status ids listed.
        try:
            return handler(data)
        except ValidationError as exc:
            # Raised as a ValidationError, each error keeps its own location (the key it is about).
            raise ValidationError.from_exception_data(
                exc.title, [_worded(error) for error in exc.errors()]
            ) from None


def _worded(error: ErrorDetails) -> InitErrorDetails:
    # A status_mapping key's error is about the key: "status_mapping.shiped", not "…shiped.[key]".
    loc = tuple(part for part in error["loc"] if part != "[key]")
    message = error["msg"]
    if error["type"] == "enum" and loc and loc[0] == "status_mapping":
        known = ", ".join(s.value for s in OrderStatus)
        message = f"'{loc[-1]}' is not an order status (known: {known})"
    elif error["type"] in {"greater_than_equal", "less_than_equal", "int_parsing", "int_type"}:
        valid = ", ".join(f"{k} {v}" for k, v in ORDER_STATUSES.items())
        message = (
            f"{error['input']!r} is not a BigCommerce status id (valid: {valid}; "
            'or "not assigned" in status_mapping)'
        )
    # Without a context the message is taken as it is (braces the merchant typed are not placeholders).
    return {"type": PydanticCustomError(error["type"], message), "loc": loc, "input": error["input"]}


@router.get("/settings/bigcommerce", summary="The BigCommerce connector's settings", tags=["settings"])
def get_settings(repo: Settings) -> dict[str, Any]:
    return _render(repo.bigcommerce(fresh=True))  # an operator sees what is stored, not a kept copy


@router.put(
    "/settings/bigcommerce",
    summary="Change the BigCommerce connector's settings (only the fields given)",
    tags=["settings"],
)
def put_settings(body: Annotated[SettingsChange, Body()], repo: Settings) -> dict[str, Any]:
    if body.store_hash is not None and body.store_hash != config.store_hash():
        raise InvalidInput(
            f"{STORE_HASH}: the store is chosen when the stack is deployed (parameter BigCommerceStoreHash, "
            f"now '{config.store_hash()}'); it cannot be changed here",
            field=STORE_HASH,
        )
    changes = body.model_dump(exclude_unset=True, exclude={STORE_HASH})
    return _render(repo.save_bigcommerce(repo.bigcommerce(fresh=True).model_copy(update=changes)))


def _render(settings: BigCommerceSettings) -> dict[str, Any]:
    return {STORE_HASH: config.store_hash(), **settings.model_dump(mode="json")}
