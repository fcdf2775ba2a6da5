"""Matching an order's customer to a customer record: by BigCommerce customer id, else by billing
email (the customer's own or one of its contacts'); created on the customer's first order, like an ERP
connector's client/contact import.

BigCommerce is asked (v3 customers) only when the order does not carry what is needed: a registered
customer's order without a billing email, or a guest whose email may belong to a registered customer
(asked once, when the record is created).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orderflow import clock
from orderflow.models.order import CustomerRecord, Order
from orderflow.store.customers import CustomerRepository, new_customer_id, normal_email

FindCustomers = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True)
class CustomerMatch:
    record: CustomerRecord | None
    created: bool = False
    asked_store: bool = False  # BigCommerce's customers API was called
    reason: str = ""  # why there is no record

    def describe(self) -> str:
        if self.record is None:
            return f"no customer record: {self.reason}"
        return f"customer {self.record.id} {'created' if self.created else 'matched'}"


def match_customer(
    order: Order, customers: CustomerRepository, find_customers: FindCustomers
) -> CustomerMatch:
    buyer = order.customer
    store = order.store_hash
    if buyer.external_id:
        record = customers.by_external_id(store, buyer.external_id)
        if record is not None:
            return CustomerMatch(record)

    profile: dict[str, Any] = {
        "email": buyer.email,
        "external_id": buyer.external_id,
        "first_name": buyer.first_name,
        "last_name": buyer.last_name,
        "company": buyer.company,
        "phone": order.billing_address.phone,
    }
    asked = False
    if not normal_email(buyer.email) and buyer.external_id:
        asked = True
        _fill(profile, find_customers(ids=[buyer.external_id]))
    email = normal_email(str(profile["email"]))
    if not email:
        reason = (
            "a guest order without a billing email"
            if not buyer.external_id
            else (f"BigCommerce customer {buyer.external_id} has no email")
        )
        return CustomerMatch(None, asked_store=asked, reason=reason)

    if not buyer.external_id:
        # A guest: the store is asked about an email new to us only, so the record is looked for first.
        record = customers.by_email(store, email)
        if record is not None:
            return CustomerMatch(record, asked_store=asked)
        if not asked:
            asked = True
            _fill(profile, find_customers(emails=[email]))
    # A registered customer's record needs nothing more from the store: the write that creates it
    # hands back the record its email has already, if any (one request, not a read and a write).
    now = clock.iso()
    record, created = customers.create_if_absent(
        CustomerRecord(
            id=new_customer_id(),
            store_hash=store,
            email=email,
            external_id=int(profile["external_id"] or 0),
            first_name=str(profile["first_name"]),
            last_name=str(profile["last_name"]),
            company=str(profile["company"]),
            phone=str(profile["phone"]),
            created_at=now,
            updated_at=now,
            created_by_order=order.order_key,
        )
    )
    # A contact's e-mail found the customer: the contact's own store account is not the customer's.
    own = record.email == email
    if not created and buyer.external_id and record.external_id != buyer.external_id and own:
        record = customers.link_external_id(record, buyer.external_id)
    return CustomerMatch(record, created=created, asked_store=asked)


def _fill(profile: dict[str, Any], found: list[dict[str, Any]]) -> None:
    """Complete what the order lacks from the store's customer (the order's own values win)."""
    if not found:
        return
    customer = found[0]
    for field in ("email", "first_name", "last_name", "company", "phone"):
        if not profile[field] and customer.get(field):
            profile[field] = str(customer[field])
    if not profile["external_id"] and customer.get("id"):
        profile["external_id"] = int(customer["id"])
