"""Customers: ``GET /customers`` (paged, or one by ``email``), ``GET /customers/{customer_id}``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config
from orderflow.api.dependencies import Customers

router = APIGatewayHttpRouter()


@router.get("/customers", summary="List customer records, or find one by email", tags=["customers"])
def list_customers(
    email: Annotated[str | None, Query(description="exact billing email, any case")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="from the previous page's next_cursor")] = None,
    *,
    repo: Customers,
) -> dict[str, Any]:
    if email is not None:
        record = repo.by_email(config.store_hash(), email)
        return {"customers": [record.model_dump(mode="json")] if record else [], "next_cursor": None}
    records, next_cursor = repo.page(limit=limit, cursor=cursor)
    return {"customers": [r.model_dump(mode="json") for r in records], "next_cursor": next_cursor}


@router.get("/customers/<customer_id>", summary="One customer record", tags=["customers"])
def get_customer(customer_id: str, repo: Customers) -> dict[str, Any]:
    return repo.get(customer_id).model_dump(mode="json")
