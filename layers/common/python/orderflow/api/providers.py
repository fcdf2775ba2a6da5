"""Provider operations that talk to the BigCommerce store: ``POST /providers/bigcommerce/items/import``.

BigCommerce's refusals are not the caller's fault: they answer 502 (the store refused us) or 503
(the store stayed unreachable or throttled), with a message naming the cause, never 401, which
would read as the caller's own admin credentials being wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from orderflow import items
from orderflow.api.http import error_response
from orderflow.bigcommerce import connection
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceUnavailable,
)
from orderflow.observability import logger
from orderflow.store import tables

router = APIGatewayHttpRouter()


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_page: Annotated[int, Field(strict=True, ge=1, description="the catalog page to start at")] = 1
    max_pages: Annotated[
        int | None,
        Field(
            strict=True,
            ge=1,
            description="pages to import in this call at most; by default as many as fit in the time",
        ),
    ] = None


@router.post(
    "/providers/bigcommerce/items/import",
    summary="Import catalog items (and sku → product mappings) from the store, page by page",
    description="Answers counts and `next_page`: null when the catalog is done, else the page to "
    "send as `start_page` in the next call. Importing again updates, never duplicates.",
    tags=["providers"],
)
def import_items(body: Annotated[ImportRequest | None, Body()] = None) -> dict[str, Any]:
    request = body or ImportRequest()
    result = items.import_items(
        connection.client(),
        tables.items(),
        tables.mappings(),
        tables.settings().bigcommerce().mapping_group,
        start_page=request.start_page,
        max_pages=request.max_pages,
        remaining_seconds=_remaining_seconds(),
    )
    return result.to_dict()


def _remaining_seconds() -> Callable[[], float] | None:
    # No Lambda context (a direct call in a test) means no deadline: the page budget alone decides.
    context = getattr(router, "lambda_context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0


@router.exception_handler(BigCommerceError)
def _bigcommerce_error(exc: BigCommerceError) -> Response:
    # The message is BigCommerce's own, already free of customer data (client.py); no token in it.
    logger.warning("BigCommerce refused a provider operation", extra={"status": exc.status, "path": exc.path})
    if isinstance(exc, BigCommerceAuthError):
        return error_response(
            502,
            "bigcommerce_unauthorized",
            f"{exc}. The store refused our access token: check BIGCOMMERCE_ACCESS_TOKEN (its secret "
            "on AWS) and that the API account has the scopes this operation needs "
            "(Products: read-only for the item import).",
        )
    if isinstance(exc, BigCommerceUnavailable):
        return error_response(
            503, "bigcommerce_unavailable", f"{exc}. Try again later; an import resumes at its page."
        )
    if isinstance(exc, BigCommerceNotFound):
        return error_response(
            502, "bigcommerce_not_found", f"{exc}. Check BIGCOMMERCE_STORE_HASH and BIGCOMMERCE_API_URL."
        )
    return error_response(502, "bigcommerce_error", str(exc))
