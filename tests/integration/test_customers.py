"""Customers: every imported order is matched to a customer record (by BigCommerce customer id, else
email), created on the customer's first order, asked of the store only when the order lacks it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from orderflow.models.order import CustomerRecord
from orderflow.store import tables
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, post_webhook, watching_dynamodb, webhook_body

BUYER = {
    "first_name": "Ana",
    "last_name": "Lima",
    "street_1": "1 Main St",
    "city": "Austin",
    "state": "Texas",
    "zip": "78701",
    "country": "United States",
    "country_iso2": "US",
    "phone": "5551234567",
}


def _import(runtime: LocalRuntime, store: DemoStore, api: Api, **customer: Any) -> dict[str, Any]:
    order_id = store.add_order(
        customer={**BUYER, **customer}, lines=[{"sku": "ABS", "quantity": 1, "price": "5"}]
    )
    key = post_webhook(runtime, webhook_body(store, order_id)).json()["order_key"]
    runtime.wait_for_all()
    return dict(api.get(f"/orders/{key}").json())


def _import_step(order: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in order["step_results"] if s["action"] == "import_order")


def _customer_lookups(store: DemoStore) -> list[dict[str, list[str]]]:
    return [r.query for r in store.requests if r.method == "GET" and r.path == "/v3/customers"]


def test_a_guest_is_created_on_the_first_order_and_matched_on_the_next(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()

    first = _import(runtime, store, api, customer_id=0, email="Ana.Lima@Example.com")
    second = _import(runtime, store, api, customer_id=0, email="ana.lima@example.com")

    record_id = first["customer"]["record_id"]
    assert record_id and record_id.startswith("CUS-")
    assert (first["customer"]["record_created"], second["customer"]["record_created"]) == (True, False)
    assert second["customer"]["record_id"] == record_id
    # No accounts mapping is configured: the customer record is the account
    assert first["account"] == second["account"] == record_id
    assert f"customer {record_id} created" in _import_step(first)["message"]
    assert _import_step(first)["details"]["customer_created"] is True
    # The store was asked once, by email, whether this guest is a registered customer
    assert [q.get("email:in") for q in _customer_lookups(store)] == [["ana.lima@example.com"]]
    [record] = api.get("/customers").json()["customers"]
    assert record["id"] == record_id and record["email"] == "ana.lima@example.com"
    assert (record["external_id"], record["first_name"], record["created_by_order"]) == (
        0,
        "Ana",
        first["order_key"],
    )


def test_a_guest_whose_email_belongs_to_a_registered_customer_is_linked_to_them(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    registered = store.add_customer(
        email="buyer@acme.example", first_name="Bo", last_name="Buyer", company="Acme"
    )

    order = _import(runtime, store, api, customer_id=0, email="buyer@acme.example")

    record = api.get(f"/customers/{order['customer']['record_id']}").json()
    assert (record["external_id"], record["company"]) == (registered, "Acme")
    # A later order placed while signed in is matched by customer id, with no question to the store
    store.clear_requests()
    signed_in = _import(runtime, store, api, customer_id=registered, email="buyer@acme.example")
    assert signed_in["customer"]["record_id"] == record["id"]
    assert _customer_lookups(store) == []


@pytest.fixture
def customer_requests(runtime: LocalRuntime) -> Iterator[list[str]]:
    """The DynamoDB operations made on the customers table, in order, seen through botocore's events."""
    table = tables.customers().table_name
    made: list[str] = []

    def count(operation: str, params: dict[str, Any]) -> None:
        if json.loads(params.get("body") or b"{}").get("TableName") == table:  # the serialized request
            made.append(operation)

    with watching_dynamodb(count):
        yield made


def test_a_registered_customers_first_order_creates_their_record_in_two_requests(
    runtime: LocalRuntime, store: DemoStore, api: Api, customer_requests: list[str]
) -> None:
    api.seed_demo_mappings()
    registered = store.add_customer(email="new.buyer@example.com", first_name="Di", last_name="Eve")
    customer_requests.clear()

    order = _import(runtime, store, api, customer_id=registered, email="New.Buyer@example.com")

    # Matched by customer id (none yet), then created by a write that would have answered the record
    # the email has: no read by email first, and no question to the store
    assert order["customer"]["record_created"] is True
    assert customer_requests == ["Query", "PutItem"]
    assert _customer_lookups(store) == []
    record = api.get(f"/customers/{order['customer']['record_id']}").json()
    assert (record["email"], record["external_id"], record["first_name"]) == (
        "new.buyer@example.com",
        registered,
        "Ana",
    )


def test_a_guest_who_registers_keeps_their_record_and_it_learns_their_customer_id(
    runtime: LocalRuntime, store: DemoStore, api: Api, customer_requests: list[str]
) -> None:
    api.seed_demo_mappings()
    guest = _import(runtime, store, api, customer_id=0, email="later.registered@example.com")
    registered = store.add_customer(email="later.registered@example.com", first_name="Ana", last_name="Lima")
    customer_requests.clear()
    store.clear_requests()

    # When they order again, signed in
    signed_in = _import(runtime, store, api, customer_id=registered, email="later.registered@example.com")

    # Then the write that would have created a record answered theirs, which now has the customer id
    assert signed_in["customer"]["record_id"] == guest["customer"]["record_id"]
    assert signed_in["customer"]["record_created"] is False
    assert customer_requests == ["Query", "PutItem", "UpdateItem"]
    assert _customer_lookups(store) == []
    record = api.get(f"/customers/{guest['customer']['record_id']}").json()
    assert record["external_id"] == registered


def test_a_registered_customers_order_without_an_email_is_completed_from_the_store(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    registered = store.add_customer(email="no.mail.on.order@example.com", first_name="Cy", last_name="Doe")

    order = _import(runtime, store, api, customer_id=registered, email="")

    record = api.get(f"/customers/{order['customer']['record_id']}").json()
    assert record["email"] == "no.mail.on.order@example.com"
    assert record["external_id"] == registered
    assert [q.get("id:in") for q in _customer_lookups(store)] == [[str(registered)]]


def test_a_company_order_takes_the_company_accounts_mapping_over_the_catch_all(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    for body in (
        {
            "account": "TestBCAccount",
            "external_field_name": "ProviderName",
            "external_field_value": "BigCommerce",
        },
        {"account": "ACME-TRADE", "external_field_name": "company", "external_field_value": "Acme Scales"},
    ):
        assert api.post("/mappings/accounts", body).status_code == 201

    b2b = _import(runtime, store, api, customer_id=0, email="orders@acme.example", company="Acme Scales")
    consumer = _import(runtime, store, api, customer_id=0, email="someone@example.com")

    assert b2b["account"] == "ACME-TRADE"
    assert consumer["account"] == "TestBCAccount"
    # Both still have their customer record
    assert b2b["customer"]["record_id"] and consumer["customer"]["record_id"]
    assert _import_step(b2b)["status"] == "succeeded"


def test_two_orders_for_the_same_new_email_at_once_create_one_customer(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    orders = [
        store.add_order(
            customer={**BUYER, "customer_id": 0, "email": "twice@example.com"},
            lines=[{"sku": "ABS", "quantity": 1, "price": "5"}],
        )
        for _ in range(2)
    ]

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda o: post_webhook(runtime, webhook_body(store, o)), orders))
    runtime.wait_for_all()

    imported = [api.get(f"/orders/{a.json()['order_key']}").json()["customer"] for a in answers]
    [record] = api.get("/customers").json()["customers"]
    assert {c["record_id"] for c in imported} == {record["id"]}
    assert sorted(c["record_created"] for c in imported) == [False, True]


def test_the_create_race_is_decided_by_the_store_not_by_timing(runtime: LocalRuntime) -> None:
    # Both imports looked the email up and found nothing; both try to create the record at once.
    repo = tables.customers()
    start = threading.Barrier(2)

    def create(record_id: str) -> tuple[CustomerRecord, bool]:
        start.wait()
        return repo.create_if_absent(
            CustomerRecord(id=record_id, store_hash="test-store", email=" Race@Example.com ", created_at="t")
        )

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(create, ["CUS-A", "CUS-B"]))

    assert sorted(created for _, created in outcomes) == [False, True]
    winner = next(record.id for record, created in outcomes if created)
    assert {record.id for record, _ in outcomes} == {winner}
    stored = repo.by_email("test-store", "race@example.com")
    assert stored is not None and stored.id == winner


def test_customers_api_finds_by_email_and_id_and_names_what_is_missing(
    runtime: LocalRuntime, store: DemoStore, api: Api
) -> None:
    api.seed_demo_mappings()
    order = _import(runtime, store, api, customer_id=0, email="Find.Me@Example.com")
    record_id = order["customer"]["record_id"]

    [found] = api.get("/customers", params={"email": "FIND.ME@example.com"}).json()["customers"]
    assert found["id"] == record_id
    assert api.get("/customers", params={"email": "nobody@example.com"}).json()["customers"] == []
    assert api.get(f"/customers/{record_id}").json()["email"] == "find.me@example.com"
    missing = api.get("/customers/CUS-NOPE")
    assert missing.status_code == 404
    assert "CUS-NOPE" in missing.json()["error"]["message"]
    assert missing.json()["error"]["field"] == "customer_id"
    bad_limit = api.get("/customers", params={"limit": 0})
    assert bad_limit.status_code == 400 and bad_limit.json()["error"]["field"] == "limit"


def test_customers_are_paged(runtime: LocalRuntime) -> None:
    repo = tables.customers()
    for n in range(5):
        repo.create_if_absent(
            CustomerRecord(id=f"CUS-{n}", store_hash="test-store", email=f"p{n}@example.com")
        )

    seen: list[str] = []
    cursor = None
    while True:
        records, cursor = repo.page(limit=2, cursor=cursor)
        seen.extend(r.id for r in records)
        if cursor is None:
            break
    assert sorted(seen) == [f"CUS-{n}" for n in range(5)]
