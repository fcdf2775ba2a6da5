"""``POST /providers/bigcommerce/sync``: pull the store's orders with a status and import them; for the
console, ``GET /providers/bigcommerce/orders`` (the store's orders, marked when imported, nothing
written) and ``POST /providers/bigcommerce/orders/import`` (selected orders' intakes started).

BigCommerce's refusals answer 502/503 through the providers router's handler (the same function
serves both); a token the store refuses is told here, naming the scope the sync needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from orderflow import config
from orderflow.api.dependencies import Orders, Settings
from orderflow.api.http import error_response
from orderflow.bigcommerce import connection
from orderflow.bigcommerce.client import BigCommerceAuthError
from orderflow.connector import sync

router = APIGatewayHttpRouter()

OrderId = Annotated[int, Field(strict=True, ge=1)]
StoreOrderId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]  # BigCommerce's ids are 32-bit


class SyncRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    status_id: Annotated[
        int | None,
        Field(
            strict=True,
            ge=0,
            le=14,
            description="the BigCommerce status to list; default: the new-order status",
        ),
    ] = None
    order_ids: Annotated[
        list[OrderId] | None,
        Field(
            min_length=1,
            max_length=sync.MAX_SELECTED,
            description="import only these of the listed orders; default: all of them",
        ),
    ] = None
    start_page: Annotated[int, Field(strict=True, ge=1, description="the page to start at (to resume)")] = 1
    after_id: Annotated[
        int | None,
        Field(strict=True, ge=0, description="resume above this order id (the previous answer's after_id)"),
    ] = None
    max_pages: Annotated[
        int | None,
        Field(
            strict=True, ge=1, description="pages in this call at most; by default as many as fit in the time"
        ),
    ] = None
    run_id: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9_-]{1,32}$",
            description="the run to resume (the previous answer's run_id): its orders are not started twice",
        ),
    ] = None


@router.post(
    "/providers/bigcommerce/sync",
    summary="List the store's orders with a status and import those not imported yet",
    description="Answers counts per page and in total, and `next_page`: null when the listing is "
    "done, else send `start_page` = next_page, `after_id` and `run_id` from this answer to carry "
    "on. Safe while webhooks arrive and safe to repeat: an order is imported once.",
    tags=["providers"],
)
def sync_orders(
    body: Annotated[SyncRequest | None, Body()] = None, *, orders: Orders, settings: Settings
) -> Any:
    request = body or SyncRequest()
    client = connection.client()
    try:
        report = sync.sync_orders(
            client,
            orders,
            settings.bigcommerce().new_order_status_id,
            sync.intake_starter(
                client.store_hash, config.env("ORDER_INTAKE_STATE_MACHINE_ARN"), orders=orders
            ),
            status_id=request.status_id,
            order_ids=request.order_ids,
            start_page=request.start_page,
            after_id=request.after_id,
            max_pages=request.max_pages,
            run_id=request.run_id,
            remaining_seconds=_remaining_seconds(),
        )
    except BigCommerceAuthError as exc:
        return _refused(exc)
    return report.to_dict()


class ImportOrdersRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    order_ids: Annotated[
        list[StoreOrderId],
        Field(
            min_length=1,
            max_length=sync.CONSOLE_MAX_SELECTED,
            description="the BigCommerce order ids to import (1 to 50)",
        ),
    ]


@router.get(
    "/providers/bigcommerce/orders",
    summary="The store's orders at a status, without importing them, each marked when imported",
    description="One page of the store's v2 orders list at `status_id` (default: the new-order status): "
    "id, status, customer_name, total_inc_tax, currency, date_created, items_total, and `imported` (true "
    "when we hold it imported), `order_key` and `our_status` whenever we hold it. `has_more`: a full page "
    "came back (the next may be empty). Reads the store; writes nothing.",
    tags=["providers"],
)
def list_store_orders(
    status_id: Annotated[
        int | None, Query(ge=0, le=14, description="a BigCommerce status id; default: the new-order status")
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=sync.PAGE_LIMIT)] = 50,
    *,
    orders: Orders,
    settings: Settings,
) -> Any:
    client = connection.client(time_budget=connection.API_TIME_BUDGET)
    status = settings.bigcommerce().new_order_status_id if status_id is None else status_id
    try:
        return sync.list_store_orders(client, orders, status_id=status, page=page, limit=limit)
    except BigCommerceAuthError as exc:
        return _refused(exc)


@router.post(
    "/providers/bigcommerce/orders/import",
    summary="Import selected store orders: each one's intake started, as a webhook would",
    description="Answers per id in `results`: `accepted` (its intake started, `execution` named), "
    "`already_imported`, `not_new_status` (the store has it at a status the import rules do not "
    "import: `status_id`) or `not_found` in the store. Safe to repeat: an order is imported once.",
    tags=["providers"],
)
def import_store_orders(
    body: Annotated[ImportOrdersRequest, Body()], *, orders: Orders, settings: Settings
) -> Any:
    client = connection.client(time_budget=connection.API_TIME_BUDGET)
    try:
        return sync.import_selected_orders(
            client,
            orders,
            settings.bigcommerce().new_order_status_id,
            sync.intake_starter(
                client.store_hash, config.env("ORDER_INTAKE_STATE_MACHINE_ARN"), orders=orders
            ),
            body.order_ids,
        )
    except BigCommerceAuthError as exc:
        return _refused(exc)


def _refused(exc: BigCommerceAuthError) -> Response:
    return error_response(
        502,
        "bigcommerce_unauthorized",
        f"{exc}. The store refused our access token: check BIGCOMMERCE_ACCESS_TOKEN (its secret on "
        "AWS) and that the API account has the Orders scope (read-only is enough to list).",
    )


def _remaining_seconds() -> Callable[[], float] | None:
    # No Lambda context (a direct call in a test) means no deadline: the page budget alone decides.
    context = getattr(router, "lambda_context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0
