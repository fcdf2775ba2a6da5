"""Customers: ``GET /customers`` (paged, or one by ``email``), ``GET /customers/{customer_id}``,
``POST /customers`` and ``PATCH /customers/{customer_id}`` (an operator's, with their contacts)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import clock, config
from orderflow.api.dependencies import Customers
from orderflow.api.http import created
from orderflow.models.order import Contact, CustomerChange, CustomerInput, CustomerRecord
from orderflow.observability import logger
from orderflow.store.customers import new_customer_id

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


CUSTOMER_BODY = Body(
    description='e.g. {"email": "orders@acme.example", "company": "Acme Scales", "phone": "+1 512 555 0100", '
    '"contacts": [{"name": "Jane Buyer", "email": "jane@acme.example", "phone": "+1 512 555 0101", "role": '
    "\"buyer\"}]}: orders billed to the customer's e-mail, or to one of its contacts', are matched to it"
)
CHANGE_BODY = Body(
    description='e.g. {"phone": "+1 512 555 0199", "contacts": [{"name": "Jane Buyer", "email": '
    '"jane@acme.example", "role": "buyer"}]}: the fields given change, `contacts` replaces the list; the '
    "e-mail is the customer's key and stays"
)


@router.post(
    "/customers",
    summary="Create a customer (with its contacts) before its first order, e.g. for a phone order",
    description="201 with the customer. 409 when the e-mail, or a contact's, belongs to a customer (or a "
    "customer's contact) already; 400 names the field.",
    tags=["customers"],
)
def create_customer(
    body: Annotated[CustomerInput, CUSTOMER_BODY], repo: Customers
) -> tuple[dict[str, Any], int]:
    now = clock.iso()
    record = repo.create(
        CustomerRecord(
            id=new_customer_id(),
            store_hash=config.store_hash(),
            email=body.email,
            first_name=body.first_name or "",
            last_name=body.last_name or "",
            company=body.company or "",
            phone=body.phone or "",
            contacts=[Contact.model_validate(c.model_dump()) for c in body.contacts or []],
            created_at=now,
            updated_at=now,
        )
    )
    logger.info("customer created", extra={"customer_id": record.id, "contacts": len(record.contacts)})
    return created(record.model_dump(mode="json"))


@router.patch(
    "/customers/<customer_id>",
    summary="Change a customer: names, company, phone, contacts",
    description="200 with the customer as changed. 404 for an unknown customer; 409 when a new contact's "
    "e-mail belongs to another customer, or the customer changed meanwhile; 400 names the field.",
    tags=["customers"],
)
def change_customer(
    customer_id: str, body: Annotated[CustomerChange, CHANGE_BODY], repo: Customers
) -> dict[str, Any]:
    current = repo.get(customer_id)
    given = body.model_dump(exclude_unset=True, exclude={"contacts"})
    changes: dict[str, Any] = {k: v if v is not None else "" for k, v in given.items()}
    if "contacts" in body.model_fields_set:
        changes["contacts"] = [Contact.model_validate(c.model_dump()) for c in body.contacts or []]
    changed = repo.replace(current, current.model_copy(update={**changes, "updated_at": clock.iso()}))
    logger.info("customer changed", extra={"customer_id": changed.id, "fields": sorted(changes)})
    return changed.model_dump(mode="json")
