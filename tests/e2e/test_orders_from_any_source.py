"""Orders from any source, over HTTP through the local runtime: sources, POST /orders (an Orderful order with
its source's secret, an operator's manual order), de-duplication, unmapped values, clones, and the sample
flow's two branches (Order Source 1 for BigCommerce, Order Source 2 for Orderful)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, local_runtime, post_webhook, webhook_body

ORDERFUL_SECRET = "orderful-secret-0123456789abcdef"
AMAZON_SECRET = "amazon-secret-0123456789abcdef"
BIGCOMMERCE_FILTER = "Filter Policy \u2013 BigCommerce"  # the README's sample flow, en dash and all
ORDERFUL_FILTER = "Filter Policy \u2013 Orderful"
HEADER_POLICY = "Order header Validation Policy"


@pytest.fixture
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    # The sources' secrets, where their secret_ref points (an environment variable of the admin API)
    with local_runtime(store, ORDERFUL_SECRET=ORDERFUL_SECRET, AMAZON_SECRET=AMAZON_SECRET) as local:
        yield local


@pytest.fixture
def ready(api: Api) -> Api:
    """Mappings for the demo SKUs, and the Orderful source (an EDI network posting with its own secret)."""
    api.seed_demo_mappings()
    answer = api.put("/sources/ORDERFUL", {"name": "Orderful", "secret_ref": "ORDERFUL_SECRET"})
    assert answer.status_code == 201, answer.text
    return api


def orderful_order(external_id: str = "PO4500012345", **changes: Any) -> dict[str, Any]:
    """An order as an EDI translator sends an Orderful 850 purchase order, in our canonical shape."""
    body: dict[str, Any] = {
        "source": "ORDERFUL",
        "external_id": external_id,
        "currency": "USD",
        "customer": {"email": "purchasing@acme.example", "company": "Acme Scales", "first_name": "Pat"},
        "billing_address": {"company": "Acme Scales", "city": "Austin", "country_iso2": "US"},
        "ship_to": [{"first_name": "Jane", "street_1": "1 Main St", "city": "Austin", "state": "Texas",
                     "zip": "78701", "country_iso2": "US"}],
        "lines": [{"sku": "ABS", "name": "Accu Scale", "quantity": 2, "unit": "each", "unit_price": "45.00"},
                  {"sku": "SCW", "quantity": 1, "unit_price": 12.5}],
    }  # fmt: skip
    body.update(changes)
    return body


def post_as_source(
    runtime: LocalRuntime, body: Any, secret: str | None = ORDERFUL_SECRET
) -> requests.Response:
    headers = {"X-Source-Secret": secret} if secret is not None else {}
    return requests.post(f"{runtime.api_url}/orders", json=body, headers=headers, timeout=10)


def policy(api: Api, body: dict[str, Any]) -> None:
    created = api.post("/policies", body)
    assert created.status_code == 201, created.text
    assert api.post(f"/policies/{created.json()['id']}/publish").status_code == 200


def publish(api: Api, name: str, *steps: dict[str, Any]) -> None:
    created = api.post("/flows", {"name": name, "type": "order_orchestration", "steps": list(steps)})
    assert created.status_code == 201, created.text
    assert api.post(f"/flows/{created.json()['id']}/publish").status_code == 200


def release(name: str = "Release", **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": "update_order_status", "params": {"status": "validated"}, **extra}


def the_sample_flow(api: Api) -> None:
    """The README's sample: a splitter-merge whose branches are for BigCommerce and for Orderful orders."""
    rule = {"field": "provider", "operator": "equals"}
    policy(api, {"name": BIGCOMMERCE_FILTER, "kind": "filter", "rules": [{**rule, "value": "BigCommerce"}]})
    policy(api, {"name": ORDERFUL_FILTER, "kind": "filter", "rules": [{**rule, "value": "Orderful"}]})
    policy(api, {"name": HEADER_POLICY, "kind": "execution", "criticality": "critical",
                 "rules": [{"field": "total", "operator": ">", "value": 0},
                           {"field": "customer_email", "operator": "contains data"}]})  # fmt: skip
    validation = {"action": "validate_order_header", "execution_policies": [HEADER_POLICY]}
    publish(
        api,
        "Validation flow",
        {"name": "Validation split", "element": "splitter_merge", "branches": [
            {"name": "Order Source 1",
             "steps": [{"name": "Test validation 1", "filter_policies": [BIGCOMMERCE_FILTER], **validation}]},
            {"name": "Order Source 2",
             "steps": [{"name": "Test validation 2", "filter_policies": [ORDERFUL_FILTER], **validation}]}]},
        release(),
    )  # fmt: skip


def steps_of(api: Api, order_key: str, flow_id: str = "validation-flow") -> dict[str, str]:
    results = api.get(f"/orders/{order_key}/step-results").json()["step_results"]
    return {r["step"]: r["status"] for r in results if r["flow_id"] == flow_id}


# -- the sample flow's two branches ---------------------------------------------------------------------


def test_an_orderful_order_takes_branch_two_and_a_bigcommerce_order_branch_one(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given the sample flow published
    the_sample_flow(ready)

    # When Orderful posts a purchase order with its own secret, and the store sends an order's webhook
    posted = post_as_source(runtime, orderful_order())
    order_id = store.add_order(lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"}])
    assert post_webhook(runtime, webhook_body(store, order_id)).status_code == 200
    runtime.wait_for_all()

    # Then the Orderful order is keyed and imported as ORDERFUL-<its id>, and ran branch 2 only
    assert posted.status_code == 201, posted.text
    order = posted.json()
    assert order["order_key"] == order["import_id"] == "ORDERFUL-PO4500012345"
    assert (order["source"], order["source_code"], order["is_manual"]) == ("orderful", "ORDERFUL", False)
    assert order["started"] == ["Validation flow v1"]
    assert steps_of(ready, "ORDERFUL-PO4500012345") == {
        "Test validation 1": "skipped", "Test validation 2": "succeeded",
        "Validation split": "succeeded", "Release": "succeeded"}  # fmt: skip
    stored = ready.get("/orders/ORDERFUL-PO4500012345").json()
    assert stored["status"] == "validated"
    # computed totals, mapped lines, a customer record for the buyer
    assert stored["subtotal_ex_tax"] == stored["total_inc_tax"] == "102.50" and stored["total_tax"] == "0"
    assert [line["product"] for line in stored["lines"]] == ["Accu Scale", "Scale Calibration Weights"]
    assert stored["customer"]["record_id"] and stored["mapping_issues"] == []
    # and the BigCommerce order ran branch 1 only, its status pushed to the store
    assert steps_of(ready, f"BC-{store.store_hash}-{order_id}") == {
        "Test validation 1": "succeeded", "Test validation 2": "skipped",
        "Validation split": "succeeded", "Release": "succeeded"}  # fmt: skip
    assert store.status_updates(order_id) == [9]
    # nothing of the Orderful order was pushed to the store, where it does not exist
    assert not [r for r in store.requests if r.method == "PUT" and str(order_id) not in r.path]


# -- de-duplication, unmapped values, credentials -----------------------------------------------------------


def test_the_same_order_posted_twice_is_one_order_and_other_contents_under_its_key_are_refused(
    runtime: LocalRuntime, ready: Api
) -> None:
    first = post_as_source(runtime, orderful_order("PO-1001"))
    again = post_as_source(runtime, orderful_order("PO-1001"))
    changed = post_as_source(runtime, orderful_order("PO-1001", currency="EUR"))
    runtime.wait_for_all()

    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json()["order_key"] == first.json()["order_key"] == "ORDERFUL-PO-1001"
    assert changed.status_code == 409 and changed.json()["error"]["field"] == "external_id"
    listed = [o for o in ready.get("/orders").json()["orders"] if o["source_code"] == "ORDERFUL"]
    assert [o["order_key"] for o in listed] == ["ORDERFUL-PO-1001"]
    assert ready.get("/orders/ORDERFUL-PO-1001").json()["currency"] == "USD"


def test_an_unknown_sku_keeps_the_order_in_error_like_a_store_order_until_it_is_mapped(
    runtime: LocalRuntime, ready: Api
) -> None:
    # Given a published flow, and an order with a SKU no mapping knows
    publish(ready, "Release flow", release())
    body = orderful_order("PO-2001", lines=[{"sku": "NEW-1", "quantity": 1, "unit_price": "9.99"}])

    # When it is posted
    taken = post_as_source(runtime, body)
    runtime.wait_for_all()

    # Then it is kept with its problem, in error, and no flow started (as a BigCommerce order would be)
    assert taken.status_code == 201, taken.text
    order = taken.json()
    assert order["status"] == "error" and order["started"] == []
    assert "no product mapping for sku 'NEW-1'" in order["message"]
    assert order["lines"][0]["mapping_issues"][0]["value"] == "NEW-1"
    results = ready.get("/orders/ORDERFUL-PO-2001/step-results").json()["step_results"]
    assert [(r["step"], r["status"]) for r in results] == [("Import order", "failed")]

    # When the mapping is added and the same order is posted again
    mapping = {"product": "New One", "external_field_name": "sku", "external_field_value": "NEW-1"}
    assert ready.post("/mappings/products", mapping).status_code == 201
    healed = post_as_source(runtime, body)
    runtime.wait_for_all()

    # Then it is mapped now, and runs its flows
    assert healed.status_code == 200, healed.text
    assert healed.json()["started"] == ["Release flow v1"]
    stored = ready.get("/orders/ORDERFUL-PO-2001").json()
    assert stored["status"] == "validated" and stored["lines"][0]["product"] == "New One"


def test_a_posted_order_in_mapping_error_is_mapped_and_routed_by_a_resubmit(
    runtime: LocalRuntime, ready: Api
) -> None:
    # Given a posted order held in error for a SKU no mapping knows, under a published flow
    publish(ready, "Release flow", release())
    body = orderful_order("PO-2002", lines=[{"sku": "NEW-2", "quantity": 1, "unit_price": "9.99"}])
    assert post_as_source(runtime, body).status_code == 201
    runtime.wait_for_all()

    # When an operator resubmits it before the mapping exists, then after adding it
    early = ready.post("/orders/ORDERFUL-PO-2002/resubmit")
    mapping = {"product": "New Two", "external_field_name": "sku", "external_field_value": "NEW-2"}
    assert ready.post("/mappings/products", mapping).status_code == 201
    resubmitted = ready.post("/orders/ORDERFUL-PO-2002/resubmit")
    runtime.wait_for_all()

    # Then the first says what is still unmapped, and the second maps it and runs its flows
    assert early.status_code == 202 and "no product mapping for sku 'NEW-2'" in early.json()["message"]
    assert early.json()["executions"] == []
    assert resubmitted.status_code == 202, resubmitted.text
    assert resubmitted.json()["executions"] == ["Release flow v1"]
    stored = ready.get("/orders/ORDERFUL-PO-2002").json()
    assert stored["status"] == "validated" and stored["lines"][0]["product"] == "New Two"
    assert any("resubmitted by" in h["reason"] for h in stored["history"])


def test_a_wrong_or_missing_secret_is_401_and_nothing_is_stored(runtime: LocalRuntime, ready: Api) -> None:
    # Given a second source with a secret of its own
    assert ready.put("/sources/AMZ", {"name": "Amazon", "secret_ref": "AMAZON_SECRET"}).status_code == 201

    wrong = post_as_source(runtime, orderful_order("PO-3001"), secret="not-the-secret")
    empty = post_as_source(runtime, orderful_order("PO-3002"), secret="")
    missing = post_as_source(runtime, orderful_order("PO-3003"), secret=None)
    # Amazon's secret, for an Orderful order
    another = post_as_source(runtime, orderful_order("PO-3004"), secret=AMAZON_SECRET)

    for answer in (wrong, empty, another):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.json()["error"]["field"].lower() == "x-source-secret"
    assert missing.status_code == 401 and missing.json()["error"]["field"] == "Authorization"
    for number in ("3001", "3002", "3003", "3004"):
        assert ready.get(f"/orders/ORDERFUL-PO-{number}").status_code == 404
    assert ready.get("/orders").json()["orders"] == []


def test_a_source_posts_only_its_own_orders_and_never_manual_ones(runtime: LocalRuntime, ready: Api) -> None:
    # A source's secret, with no source named: its own; is_manual is not its to set
    own = post_as_source(runtime, {**orderful_order("PO-4001", is_manual=True), "source": None})
    # a source that is not configured, by an operator
    unknown = ready.post("/orders", orderful_order("PO-4002", source="NOPE"))
    # BigCommerce's orders come from the store
    store_order = ready.post("/orders", orderful_order("4003", source="BC"))
    runtime.wait_for_all()

    assert own.status_code == 201, own.text
    assert own.json()["order_key"] == "ORDERFUL-PO-4001" and own.json()["is_manual"] is False
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "source"
    assert store_order.status_code == 400 and store_order.json()["error"]["field"] == "source"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [{"sku": "ABS", "quantity": "two", "unit_price": "45"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "ABS", "quantity": 1.5, "unit_price": "45"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "ABS", "quantity": 1, "unit_price": "forty"}]}, "lines[0].unit_price"),
        ({"lines": [{"sku": "ABS", "quantity": 1, "unit_price": -1}]}, "lines[0].unit_price"),
        ({"lines": [{"quantity": 1, "unit_price": 1}]}, "lines[0]"),
        ({"lines": []}, "lines"),
        ({"external_id": "x" * 10_000}, "external_id"),
        ({"external_id": "PO/1"}, "external_id"),
        ({"customer": {"email": "y" * 300}}, "customer.email"),
        ({"customer": {}}, "customer"),
        ({"currency": 5}, "currency"),
        ({"ship_to": [{"city": "z" * 100_000}]}, "ship_to[0].city"),
        ({"discount_code": "FREE"}, "discount_code"),
        ({"is_manual": "yes"}, "is_manual"),
        ({"placed_at": "yesterday"}, "placed_at"),
    ],
)
def test_a_hostile_body_is_refused_naming_the_field_and_nothing_is_stored(
    runtime: LocalRuntime, ready: Api, change: dict[str, Any], field: str
) -> None:
    answer = ready.post("/orders", {**orderful_order("PO-5001"), **change})

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert answer.json()["error"]["field"] == field
    assert ready.get("/orders/ORDERFUL-PO-5001").status_code == 404


# -- manual orders and clones ------------------------------------------------------------------------------


def test_a_manual_order_and_its_clone_run_through_the_flows_and_an_is_manual_policy_picks_them(
    runtime: LocalRuntime, store: DemoStore, ready: Api
) -> None:
    # Given a flow with a step only for manual orders, then a release
    policy(ready, {"name": "Manual orders", "kind": "filter",
                   "rules": [{"field": "is_manual", "operator": "equals", "value": True}]})  # fmt: skip
    publish(
        ready,
        "Phone orders",
        {
            "name": "Check phone order",
            "action": "validate_order_header",
            "filter_policies": ["Manual orders"],
        },
        release(),
    )

    # When an operator enters a phone order, and a source posts one
    phone = ready.post("/orders", {**orderful_order("PHONE-1"), "source": None, "is_manual": True})
    machine = post_as_source(runtime, orderful_order("PO-6001"))
    runtime.wait_for_all()

    # Then the phone order is a MANUAL one, and took the manual step; the source's skipped it
    assert phone.status_code == 201 and machine.status_code == 201, (phone.text, machine.text)
    manual = phone.json()
    assert (manual["order_key"], manual["source"], manual["is_manual"]) == ("MANUAL-PHONE-1", "manual", True)
    assert steps_of(ready, "MANUAL-PHONE-1", "phone-orders") == {
        "Check phone order": "succeeded", "Release": "succeeded"}  # fmt: skip
    assert steps_of(ready, "ORDERFUL-PO-6001", "phone-orders") == {
        "Check phone order": "skipped", "Release": "succeeded"}  # fmt: skip

    # When the operator clones the source's order (a reorder by phone)
    clone = ready.post("/orders/ORDERFUL-PO-6001/clone")
    runtime.wait_for_all()

    # Then it is a new manual order for the same customer and lines, and it ran through the flows
    assert clone.status_code == 201, clone.text
    cloned = clone.json()
    original = ready.get("/orders/ORDERFUL-PO-6001").json()
    assert cloned["order_key"].startswith("MANUAL-ORDERFUL-PO-6001-R") and cloned["is_manual"] is True
    assert cloned["cloned_from"] == "ORDERFUL-PO-6001" and cloned["source_code"] == "MANUAL"
    assert cloned["customer"]["record_id"] == original["customer"]["record_id"]
    assert [(li["sku"], li["quantity"], li["product"]) for li in cloned["lines"]] == [
        (li["sku"], li["quantity"], li["product"]) for li in original["lines"]
    ]
    assert steps_of(ready, cloned["order_key"], "phone-orders") == {
        "Check phone order": "succeeded", "Release": "succeeded"}  # fmt: skip
    assert ready.get(f"/orders/{cloned['order_key']}").json()["status"] == "validated"
    # a clone of an order that does not exist
    assert ready.post("/orders/MANUAL-NOPE/clone").status_code == 404
    # nothing was pushed to the store for any of them
    assert not [r for r in store.requests if r.method == "PUT"]


def test_a_phone_order_for_a_customer_created_first_is_billed_to_it_and_a_contacts_email_finds_it(
    runtime: LocalRuntime, ready: Api
) -> None:
    # Given a customer an operator created, with a buyer contact
    created = ready.post(
        "/customers",
        {"email": "orders@acme.example", "company": "Acme Scales",
         "contacts": [{"name": "Jane Buyer", "email": "Jane@Acme.example", "phone": "+1 512 555 0101",
                       "role": "buyer"}]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]

    # When a phone order names the record, and a source's order is billed to the contact's e-mail
    by_record = ready.post(
        "/orders", {**orderful_order("PHONE-2"), "source": None, "customer": {"record_id": customer_id}}
    )
    by_contact = post_as_source(
        runtime, orderful_order("PO-7001", customer={"email": "jane@acme.example", "first_name": "Jane"})
    )
    runtime.wait_for_all()

    # Then both are the customer's, and no other customer record was made
    assert by_record.status_code == 201 and by_contact.status_code == 201, (by_record.text, by_contact.text)
    assert by_record.json()["customer"]["record_id"] == customer_id
    assert by_record.json()["customer"]["email"] == "orders@acme.example"
    assert by_contact.json()["customer"]["record_id"] == customer_id
    assert [c["id"] for c in ready.get("/customers").json()["customers"]] == [customer_id]
    # an unknown record is named
    missing = ready.post(
        "/orders", {**orderful_order("PHONE-3"), "source": None, "customer": {"record_id": "CUS-X"}}
    )
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "customer.record_id"


def test_a_posted_order_ships_without_a_store_call_and_is_resubmitted_under_its_own_key(
    runtime: LocalRuntime, ready: Api, store: DemoStore
) -> None:
    # Given an Orderful order whose flow fails its second step (a release to a status it cannot reach)
    publish(
        ready, "Two steps", release("Release"), release("Invoice too early", params={"status": "invoiced"})
    )
    posted = post_as_source(runtime, orderful_order("PO-SHIP-1"))
    assert posted.status_code == 201, posted.text
    order_key = posted.json()["order_key"]
    runtime.wait_for_all()
    assert ready.get(f"/orders/{order_key}").json()["status"] == "on_hold"

    # When an operator resubmits it: its flow runs again under its own key, not a store order's
    resubmitted = ready.post(f"/orders/{order_key}/resubmit")
    assert resubmitted.status_code in (200, 202), resubmitted.text
    runtime.wait_for_all()
    runs = [r for r in ready.get(f"/orders/{order_key}/step-results").json()["step_results"]]
    assert {r["order_key"] for r in runs} == {order_key}

    # And it ships (a held order may): recorded, the order moved, nothing asked of the store
    store.clear_requests()
    shipped = ready.post(
        f"/orders/{order_key}/shipments",
        {"items": [{"sku": "ABS", "quantity": 2}, {"sku": "SCW", "quantity": 1}]},
    )
    assert shipped.status_code in (200, 201), shipped.text
    assert shipped.json()["status"] == "created"
    assert ready.get(f"/orders/{order_key}").json()["status"] == "shipped"
    assert [r for r in store.requests if "/shipments" in r.path or r.method == "PUT"] == []


def test_a_sources_orders_take_the_groups_catch_all_account_for_that_source_not_the_stores(
    runtime: LocalRuntime, ready: Api
) -> None:
    # Given catch-all accounts for BigCommerce's orders and for Orderful's
    for provider, account in (("BigCommerce", "C-WEBSHOP"), ("orderful", "C-EDI")):
        mapping = {
            "account": account,
            "external_field_name": "ProviderName",
            "external_field_value": provider,
        }
        assert ready.post("/mappings/accounts", mapping).status_code == 201

    # When Orderful posts an order (its buyer's company has no accounts mapping of its own)
    posted = post_as_source(runtime, orderful_order("PO-ACCT-1"))
    runtime.wait_for_all()

    # Then it is billed to Orderful's catch-all account
    assert posted.status_code == 201, posted.text
    assert ready.get(f"/orders/{posted.json()['order_key']}").json()["account"] == "C-EDI"
