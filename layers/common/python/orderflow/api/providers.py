"""Provider operations that talk to the BigCommerce store: the connection test, webhook registration
(``GET|POST /providers/bigcommerce/webhooks``), the catalog as the store has it
(``GET /providers/bigcommerce/items``) and the item import, whole or selected; the imported items
(``GET /items``, ``GET|PATCH /items/{sku}``: their accounting accounts).

BigCommerce's refusals are not the caller's fault: they answer 502 (the store refused us) or 503
(the store stayed unreachable or throttled), with a message naming the cause, never 401, which
would read as the caller's own admin credentials being wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from orderflow import config
from orderflow.api.dependencies import Items, Mappings, Settings
from orderflow.api.http import error_response
from orderflow.bigcommerce import connection, hooks
from orderflow.bigcommerce.catalog import PAGE_LIMIT, SKU_LIMIT
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceUnavailable,
)
from orderflow.connector import items
from orderflow.errors import ConfigurationError, InvalidInput
from orderflow.models.order import BigCommerceSettings, Item, ItemAccounts
from orderflow.observability import logger

router = APIGatewayHttpRouter()
SELECTED_MAX = 50  # items or products imported by one call: one page of the console's list
Sku = Annotated[str, Field(strict=True, min_length=1, max_length=SKU_LIMIT, pattern=r"^\S(.*\S)?$")]
ProductId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]


class ImportRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    start_page: Annotated[int, Field(strict=True, ge=1, description="the catalog page to start at")] = 1
    max_pages: Annotated[
        int | None,
        Field(
            strict=True,
            ge=1,
            description="pages to import in this call at most; by default as many as fit in the time",
        ),
    ] = None
    skus: Annotated[
        list[Sku] | None,
        Field(
            min_length=1,
            max_length=SELECTED_MAX,
            description="import only the items of these SKUs (not with product_ids or paging)",
        ),
    ] = None
    product_ids: Annotated[
        list[ProductId] | None,
        Field(
            min_length=1,
            max_length=SELECTED_MAX,
            description="import only the items of these products (not with skus or paging)",
        ),
    ] = None


class RegisterWebhooksRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    destination: Annotated[
        str,
        Field(
            strict=True,
            min_length=1,
            max_length=2048,
            description="this deployment's webhook URL (https, port 443), e.g. https://…/webhooks/bigcommerce",
        ),
    ]


@router.post(
    "/providers/bigcommerce/test-connection",
    summary="Test the connection to the store (GET /v2/store with the deployment's settings)",
    description='Always 200 once the test ran: `passed` true with `result` "TEST PASSED: SUCCESSFULLY '
    'CONNECTED TO CART" and the store\'s name and domain, or false with `result` "TEST FAILED: …", '
    "a `cause` (unauthorized, forbidden, store_not_found, unreachable, unavailable, not_configured, "
    "unexpected_answer) and a `message` saying what to check.",
    tags=["providers"],
)
def run_connection_test() -> dict[str, Any]:
    return connection.check_connection().to_dict()


@router.get(
    "/providers/bigcommerce/webhooks",
    summary="The store's webhooks for this API account, and which of our scopes have none that works",
    description="Each hook's `secret` is `matches`, `differs` or `missing` (the value is never shown); "
    "`scopes_missing` lists our scopes without an active hook carrying our secret.",
    tags=["providers"],
)
def list_webhooks() -> dict[str, Any]:
    return hooks.describe(_client().list_hooks(), config.secret("WEBHOOK_SECRET"))


@router.post(
    "/providers/bigcommerce/webhooks",
    summary="Register this deployment's webhooks (idempotent)",
    description="For store/order/created, store/order/statusUpdated, store/order/updated and "
    "store/shipment/created: creates the missing hooks with the X-Webhook-Secret header, updates "
    "those whose destination or secret differ, re-activates deactivated ones, leaves correct ones "
    "alone; answers per scope `created`, `updated`, `reactivated` or `unchanged`.",
    tags=["providers"],
)
def register_webhooks(body: Annotated[RegisterWebhooksRequest, Body()]) -> dict[str, Any]:
    destination = hooks.validate_destination(
        body.destination, allow_loopback_http=hooks.is_loopback_url(config.bigcommerce_api_url())
    )
    return hooks.register(_client(), destination, config.secret("WEBHOOK_SECRET"))


def _client() -> BigCommerceClient:
    return connection.client(time_budget=connection.API_TIME_BUDGET)


@router.get(
    "/providers/bigcommerce/items",
    summary="The store's catalog as items (one per sellable SKU), each marked imported when we hold it",
    description="Reads a page of the store's products (v3 catalog, with their variants), `keyword` "
    "searching them as BigCommerce does; writes nothing. `page`/`limit` count products; `has_more` "
    "says whether another page follows. What gives no item (no SKU or price) is in `skipped`.",
    tags=["providers"],
)
def list_store_items(
    keyword: Annotated[str | None, Query(min_length=1, max_length=200, description="search words")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT, description="products per page")] = 50,
    *,
    catalog: Items,
) -> dict[str, Any]:
    words = (keyword or "").strip() or None  # only spaces: the whole catalog
    return items.list_catalog(_client(), catalog, keyword=words, page=page, limit=limit)


@router.post(
    "/providers/bigcommerce/items/import",
    summary="Import catalog items (and sku → product mappings) from the store: page by page, or selected",
    description="Paging: answers counts and `next_page`: null when the catalog is done, else the page to "
    "send as `start_page` in the next call. Selected (`skus` or `product_ids`, up to 50): answers per SKU "
    "or product in `results`: `created`, `updated`, `skipped` (with the reason) or `not_found` in the "
    "store. Importing again updates, never duplicates.",
    tags=["providers"],
)
def import_items(
    body: Annotated[ImportRequest | None, Body()] = None,
    *,
    catalog: Items,
    mappings: Mappings,
    settings: Settings,
) -> dict[str, Any]:
    request = body or ImportRequest()
    if request.skus is not None or request.product_ids is not None:
        paging = request.model_fields_set & {"start_page", "max_pages"}
        if request.skus is not None and request.product_ids is not None:
            raise InvalidInput("give skus or product_ids, not both", field="product_ids")
        if paging:
            raise InvalidInput(
                f"{min(paging)} pages the whole catalog; selected items are imported in one call",
                field=min(paging),
            )
        return items.import_selected(
            connection.client(),
            catalog,
            mappings,
            settings.bigcommerce().mapping_group,
            skus=request.skus,
            product_ids=request.product_ids,
        )
    result = items.import_items(
        connection.client(),
        catalog,
        mappings,
        settings.bigcommerce().mapping_group,
        start_page=request.start_page,
        max_pages=request.max_pages,
        remaining_seconds=_remaining_seconds(),
    )
    return result.to_dict()


ACCOUNTS_BODY = Body(
    description='e.g. {"income_account": "4000 Sales - Web", "cogs_account": null}: the accounts named are '
    "set, null goes back to the settings' default (default_income_account, …), those left out stay"
)


@router.get(
    "/items",
    summary="Imported catalog items, with the accounts the accounting document books each on",
    description="`income_account`, `cogs_account`, `asset_account` are the item's own (null: the "
    "settings' default); `accounts` are those the accounting document uses.",
    tags=["items"],
)
def list_items(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="from the previous page's next_cursor")] = None,
    *,
    catalog: Items,
    settings: Settings,
) -> dict[str, Any]:
    found, next_cursor = catalog.scan_page(limit=limit, cursor=cursor)
    current = settings.bigcommerce()
    return {"items": [render_item(item, current) for item in found], "next_cursor": next_cursor}


@router.get("/items/<sku>", summary="One item, with its accounts", tags=["items"])
def get_item(sku: str, catalog: Items, settings: Settings) -> dict[str, Any]:
    return render_item(catalog.get(sku), settings.bigcommerce())


@router.patch("/items/<sku>", summary="Change an item's accounting accounts", tags=["items"])
def change_item_accounts(
    sku: str, body: Annotated[ItemAccounts, ACCOUNTS_BODY], catalog: Items, settings: Settings
) -> dict[str, Any]:
    return render_item(catalog.set_accounts(sku, body), settings.bigcommerce())


def render_item(item: Item, settings: BigCommerceSettings) -> dict[str, Any]:
    return {**item.model_dump(mode="json"), "accounts": settings.item_accounts(item)}


def _remaining_seconds() -> Callable[[], float] | None:
    # No Lambda context (a direct call in a test) means no deadline: the page budget alone decides.
    context = getattr(router, "lambda_context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0


@router.exception_handler(ConfigurationError)
def _not_configured(exc: ConfigurationError) -> Response:
    # These messages name settings (environment variables, secrets), never their values.
    logger.error("provider operation not configured", extra={"reason": str(exc)})
    return error_response(500, "not_configured", str(exc))


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
            "(Products: read-only for the item import; the scopes of the hooked resources, Orders, "
            "for webhooks).",
        )
    if isinstance(exc, BigCommerceUnavailable):
        return error_response(
            503,
            "bigcommerce_unavailable",
            f"{exc}. Try again later; running it again is safe (an import resumes at its page, "
            "webhook registration changes only what is still wrong).",
        )
    if isinstance(exc, BigCommerceNotFound):
        return error_response(
            502, "bigcommerce_not_found", f"{exc}. Check BIGCOMMERCE_STORE_HASH and BIGCOMMERCE_API_URL."
        )
    return error_response(502, "bigcommerce_error", str(exc))
