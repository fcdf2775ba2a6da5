"""The admin API's order sources (/sources) and the customers an operator creates and edits, with contacts."""

from __future__ import annotations

from orderflow.models.order import Customer, Order
from orderflow.orders.customers import match_customer
from orderflow.store import tables
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api


def test_the_built_in_sources_are_listed_with_those_configured(api: Api) -> None:
    # Given a source configured for an EDI network
    created = api.put(
        "/sources/ORDERFUL", {"name": "Orderful", "mapping_group": "EDI", "secret_ref": "ORDERFUL_SECRET"}
    )
    replaced = api.put("/sources/ORDERFUL", {"name": "Orderful EDI", "secret_ref": "ORDERFUL_SECRET"})

    listed = api.get("/sources").json()["sources"]

    # Then BigCommerce (a store behind it) and manual orders come first, then the configured one
    assert created.status_code == 201 and replaced.status_code == 200, (created.text, replaced.text)
    assert [(s["code"], s["provider"], s["store"]) for s in listed] == [
        ("BC", "bigcommerce", "bigcommerce"), ("MANUAL", "manual", None), ("ORDERFUL", "orderful-edi", None)]  # fmt: skip
    orderful = api.get("/sources/ORDERFUL").json()
    assert (
        orderful["secret_ref"] == "ORDERFUL_SECRET" and orderful["mapping_group"] == "Default Mapping Group"
    )
    assert orderful["created_at"] == created.json()["created_at"]
    assert api.get("/sources/BC").json()["built_in"] is True


def test_a_source_is_refused_naming_the_field_and_its_secret_is_only_referenced(api: Api) -> None:
    cases = {
        "/sources/orderful": ({"name": "Orderful"}, "code"),  # capitals and digits only
        "/sources/OR-DERFUL": ({"name": "Orderful"}, "code"),
        "/sources/BC": ({"name": "Another store"}, "code"),
        "/sources/MANUAL": ({"name": "Phone"}, "code"),
        "/sources/EDI": ({"name": "EDI", "secret_ref": "hunter2-the-secret-itself"}, "secret_ref"),
        "/sources/EDI2": ({"name": "EDI", "secret_ref": "WEBHOOK_SECRET"}, "secret_ref"),
        "/sources/EDI3": ({"name": "EDI", "provider": "bigcommerce"}, "provider"),
        "/sources/EDI4": ({"name": "EDI", "colour": "blue"}, "colour"),
        "/sources/EDI5": ({"name": ""}, "name"),
    }
    for path, (body, field) in cases.items():
        answer = api.put(path, body)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["field"] == field, (path, answer.text)
    assert [s["code"] for s in api.get("/sources").json()["sources"]] == ["BC", "MANUAL"]


def test_a_source_is_removed_and_the_built_in_ones_stay(api: Api) -> None:
    assert api.put("/sources/AMZ", {"name": "Amazon"}).status_code == 201

    removed = api.delete("/sources/AMZ")
    again = api.delete("/sources/AMZ")
    built_in = api.delete("/sources/BC")

    assert removed.status_code == 200 and removed.json() == {"deleted": "AMZ"}
    assert again.status_code == 404 and again.json()["error"]["field"] == "code"
    assert built_in.status_code == 400 and built_in.json()["error"]["field"] == "code"
    assert api.get("/sources/AMZ").status_code == 404


def test_a_customer_is_created_with_contacts_and_their_emails_are_its_own(
    runtime: LocalRuntime, api: Api
) -> None:
    # Given a customer created by an operator, with two contacts
    body = {
        "email": "Orders@Acme.example",
        "company": "Acme Scales",
        "contacts": [
            {"name": "Jane Buyer", "email": "jane@acme.example", "role": "buyer"},
            {
                "name": "Sam Payable",
                "email": "ap@acme.example",
                "phone": "+1 512 555 0102",
                "role": "accounts payable",
            },
        ],
    }
    created = api.post("/customers", body)
    assert created.status_code == 201, created.text
    customer = created.json()

    # Then it is found by its id and e-mail (lower case), and its contacts' e-mails belong to it
    assert customer["email"] == "orders@acme.example" and customer["id"].startswith("CUS-")
    assert api.get(f"/customers/{customer['id']}").json()["contacts"][1]["role"] == "accounts payable"
    assert [c["id"] for c in api.get("/customers").json()["customers"]] == [customer["id"]]
    taken = api.post("/customers", {"email": "jane@acme.example"})
    duplicate = api.post("/customers", {"email": "orders@acme.example"})
    assert taken.status_code == 409 and duplicate.status_code == 409
    assert duplicate.json()["error"]["field"] == "email"
    # and an order billed to a contact's e-mail is matched to the customer, none created
    order = Order(order_key="K-1", store_hash="test-store", external_id=0, import_id="K-1",
                  customer=Customer(email="AP@acme.example"))  # fmt: skip
    match = match_customer(order, tables.customers(), lambda **_: [])
    assert match.record is not None and match.record.id == customer["id"] and not match.created


def test_a_customers_contacts_are_changed_and_a_removed_contacts_email_is_free_again(
    runtime: LocalRuntime, api: Api
) -> None:
    first = api.post(
        "/customers", {"email": "orders@acme.example", "contacts": [{"email": "jane@acme.example"}]}
    )
    other = api.post("/customers", {"email": "buy@globex.example"})
    assert first.status_code == 201 and other.status_code == 201
    customer_id = first.json()["id"]

    # When Jane leaves and Pat joins, and the phone changes
    changed = api.session.patch(
        f"{api.base}/customers/{customer_id}",
        json={"phone": "+1 512 555 0199", "contacts": [{"name": "Pat", "email": "pat@acme.example"}]},
        timeout=10,
    )

    # Then the customer shows it, Pat's e-mail finds it, Jane's e-mail is free for another customer
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+1 512 555 0199" and changed.json()["company"] == ""
    assert [c["email"] for c in changed.json()["contacts"]] == ["pat@acme.example"]
    assert tables.customers().by_email("test-store", "pat@acme.example").id == customer_id  # type: ignore[union-attr]
    assert api.post("/customers", {"email": "jane@acme.example"}).status_code == 201

    def patch(path: str, body: object) -> tuple[int, str | None]:
        answer = api.session.patch(f"{api.base}{path}", json=body, timeout=10)
        return answer.status_code, answer.json()["error"]["field"]

    # A contact's e-mail that is another customer's, the key itself, an unknown customer: refused by name
    assert patch(f"/customers/{customer_id}", {"contacts": [{"email": "buy@globex.example"}]}) == (
        409,
        "contacts",
    )
    assert patch(f"/customers/{customer_id}", {"email": "new@acme.example"})[1] == "email"
    assert patch("/customers/CUS-NOPE", {"phone": "1"}) == (404, "customer_id")
    assert (
        patch(f"/customers/{customer_id}", {"contacts": [{"email": "not an address"}]})[1]
        == "contacts.0.email"
    )
    assert api.get(f"/customers/{customer_id}").json()["contacts"][0]["email"] == "pat@acme.example"
