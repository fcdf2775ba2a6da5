"""Catalog item import: the loopback store's v3 catalog through ``POST /providers/bigcommerce/items/import``
and ``python -m orderflow_cli bigcommerce items import`` into the items table and the product mappings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderflow.bigcommerce import connection
from orderflow.connector import items as item_import
from orderflow.models.order import DEFAULT_MAPPING_GROUP, Item, MappingKey, MappingKind
from orderflow.store import tables
from orderflow_cli.__main__ import main
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, Api

IMPORT = "/providers/bigcommerce/items/import"
SIMPLE_PRODUCTS = 260  # with the two below: 262 products, two pages of 250
ITEMS = SIMPLE_PRODUCTS + 2


@pytest.fixture
def catalog(store: DemoStore) -> dict[str, int]:
    """260 simple products, a T-shirt with two variants (one priced by the product), and a product
    without a SKU; the last two land on page 2. Answers the product ids by name."""
    ids: dict[str, int] = {}
    for n in range(SIMPLE_PRODUCTS):
        ids[f"Item {n:04d}"] = store.add_catalog_product(
            name=f"Item {n:04d}", sku=f"SKU-{n:04d}", price="9.99", description=f"<p>Item <b>{n}</b></p>"
        )
    ids["T-Shirt"] = store.add_catalog_product(
        name="T-Shirt",
        sku="TS",
        price=20,
        variants=[
            {"sku": "TS-RED", "options": {"Color": "Red"}},
            {"sku": "TS-BLUE", "price": 22.5, "options": {"Color": "Blue"}},
        ],
    )
    ids["Gift wrap"] = store.add_catalog_product(name="Gift wrap", sku="")
    return ids


def all_items() -> dict[str, Item]:
    found, cursor = tables.items().scan_page(limit=1000)
    assert cursor is None
    return {item.sku: item for item in found}


def product_mappings(group: str = DEFAULT_MAPPING_GROUP) -> dict[str, str]:
    mappings, cursor = tables.mappings().search(MappingKind.PRODUCTS, group=group, limit=1000)
    assert cursor is None
    return {m.external_field_value: m.value for m in mappings}


def test_a_multi_page_catalog_becomes_items_and_product_mappings(
    runtime: LocalRuntime, api: Api, store: DemoStore, catalog: dict[str, int]
) -> None:
    # Given a merchant whose mappings live in their own group
    assert api.put("/settings/bigcommerce", {"mapping_group": "Web Store"}).status_code == 200

    # When the whole catalog is imported in one call
    answer = api.post(IMPORT)

    # Then every sellable SKU is an item, mapped to its product in the merchant's group
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["next_page"], result["total_pages"]) == (None, 2)
    assert [(p["page"], p["products"], p["item_count"], p["skipped"]) for p in result["pages"]] == [
        (1, 250, 250, 0),
        (2, 12, 12, 1),
    ]
    assert result["items"] == {"created": ITEMS, "updated": 0, "unchanged": 0}
    assert result["mappings"] == {"created": ITEMS, "updated": 0, "unchanged": 0}
    assert result["skipped_count"] == 1
    [skipped] = result["skipped"]
    assert (skipped["product_id"], skipped["reason"]) == (catalog["Gift wrap"], "no SKU")

    stored = all_items()
    assert len(stored) == ITEMS
    scale = stored["SKU-0007"]
    assert (scale.name, scale.description, scale.price) == ("Item 0007", "Item 7", Decimal("9.99"))
    assert (scale.unit, scale.unit_name) == ("ea", "Each")
    assert (stored["TS-RED"].name, stored["TS-RED"].price) == ("T-Shirt (Color: Red)", Decimal("20"))
    assert (stored["TS-BLUE"].name, stored["TS-BLUE"].price) == ("T-Shirt (Color: Blue)", Decimal("22.5"))
    assert "TS" not in stored

    mapped = product_mappings("Web Store")
    assert len(mapped) == ITEMS and mapped["SKU-0007"] == "Item 0007"
    assert mapped["TS-BLUE"] == "T-Shirt (Color: Blue)"
    assert product_mappings(DEFAULT_MAPPING_GROUP) == {}

    # And the unit every imported line carries maps to the items' unit
    assert result["unit_mapping"] == "created"
    units = api.get("/mappings/units", params={"mapping_group": "Web Store"}).json()["mappings"]
    assert [(u["external_field_name"], u["external_field_value"], u["unit"]) for u in units] == [
        ("unit", "each", "ea")
    ]

    # And one BigCommerce request per page of 250 products, variants included
    reads = [r for r in store.requests if r.path == "/v3/catalog/products"]
    assert [(r.query["page"], r.query["limit"], r.query["include"]) for r in reads] == [
        (["1"], ["250"], ["variants"]),
        (["2"], ["250"], ["variants"]),
    ]


def test_importing_again_updates_what_changed_and_never_duplicates(
    runtime: LocalRuntime, api: Api, store: DemoStore, catalog: dict[str, int]
) -> None:
    # Given an imported catalog, then a price and a name changed in the store
    assert api.post(IMPORT).status_code == 200
    before = all_items()
    store.update_catalog_product(catalog["Item 0003"], price="10.50")
    store.update_catalog_product(catalog["Item 0004"], name="Item Four")

    # When it is imported again
    again = api.post(IMPORT).json()

    # Then only those two change; nothing is created twice
    assert again["items"] == {"created": 0, "updated": 2, "unchanged": ITEMS - 2}
    assert again["mappings"] == {"created": 0, "updated": 1, "unchanged": ITEMS - 1}
    assert again["unit_mapping"] == "existing"
    after = all_items()
    assert len(after) == ITEMS
    assert after["SKU-0003"].price == Decimal("10.5") and after["SKU-0004"].name == "Item Four"
    assert after["SKU-0003"].created_at == before["SKU-0003"].created_at
    assert after["SKU-0003"].updated_at > before["SKU-0003"].updated_at
    assert after["SKU-0005"].updated_at == before["SKU-0005"].updated_at  # unchanged: not rewritten
    mapped = product_mappings()
    assert len(mapped) == ITEMS and mapped["SKU-0004"] == "Item Four"


def test_a_merchants_own_unit_mapping_is_kept(runtime: LocalRuntime, api: Api, store: DemoStore) -> None:
    store.add_catalog_product(name="Accu Scale", sku="ABS", price=45)
    own = {"unit": "EACH-1", "external_field_name": "unit", "external_field_value": "each"}
    assert api.post("/mappings/units", own).status_code == 201

    result = api.post(IMPORT).json()

    assert result["unit_mapping"] == "existing"
    units = api.get("/mappings/units").json()["mappings"]
    assert [u["unit"] for u in units] == ["EACH-1"]
    key = MappingKey(MappingKind.PRODUCTS, DEFAULT_MAPPING_GROUP, "sku", "ABS")
    assert tables.mappings().resolve([key])[key].value == "Accu Scale"


def test_a_page_budget_answers_the_next_page_and_the_import_resumes_there(
    runtime: LocalRuntime, api: Api, catalog: dict[str, int]
) -> None:
    first = api.post(IMPORT, {"max_pages": 1}).json()

    assert (first["next_page"], [p["page"] for p in first["pages"]]) == (2, [1])
    assert len(all_items()) == 250

    rest = api.post(IMPORT, {"start_page": first["next_page"], "max_pages": 5}).json()

    assert (rest["next_page"], [p["page"] for p in rest["pages"]]) == (None, [2])
    assert rest["items"]["created"] == ITEMS - 250 and len(all_items()) == ITEMS
    beyond = api.post(IMPORT, {"start_page": 9}).json()
    assert beyond["next_page"] is None and [p["products"] for p in beyond["pages"]] == [0]


def test_the_deadline_stops_before_a_page_that_might_not_finish(
    runtime: LocalRuntime, catalog: dict[str, int]
) -> None:
    # A Lambda with 5 s left must not start a page that may need up to PAGE_RESERVE_SECONDS.
    result = item_import.import_items(
        connection.client(),
        tables.items(),
        tables.mappings(),
        DEFAULT_MAPPING_GROUP,
        remaining_seconds=lambda: 5.0,
    )

    assert (len(result.pages), result.next_page) == (1, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"max_pages": 0}, "max_pages"), ({"start_page": "2"}, "start_page"), ({"pages": 1}, "pages")],
)
def test_the_body_is_validated_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    answer = api.post(IMPORT, body)

    assert answer.status_code == 400 and answer.json()["error"]["field"] == field


def test_a_token_the_store_refuses_is_a_clear_502_and_nothing_is_written(
    runtime: LocalRuntime, api: Api, store: DemoStore, catalog: dict[str, int]
) -> None:
    store.access_token = "revoked-in-the-control-panel"

    answer = api.post(IMPORT)

    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "bigcommerce_unauthorized"
    assert "BigCommerce answered 401 on GET /v3/catalog/products" in error["message"]
    assert "access token" in error["message"] and "revoked" not in error["message"]
    assert all_items() == {} and api.get("/mappings/units").json()["mappings"] == []


def test_a_store_that_keeps_throttling_is_a_503_to_try_later(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    store.inject(
        "GET", r"/v3/catalog/products", *[Fault(429, headers={"X-Rate-Limit-Time-Reset-Ms": "1"})] * 4
    )

    answer = api.post(IMPORT)

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "bigcommerce_unavailable"
    assert "429" in answer.json()["error"]["message"]


def test_the_cli_prints_a_line_per_page_and_fails_naming_the_page_to_resume(
    runtime: LocalRuntime, store: DemoStore, catalog: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["bigcommerce", "items", "import", "--api", runtime.api_url, "--token", ADMIN_TOKEN]

    assert main(command) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "page 1/2: 250 items (250 new, 0 changed), 0 skipped",
        "page 2/2: 12 items (12 new, 0 changed), 1 skipped",
    ]
    assert out[2].startswith(f"done: 2 pages, {ITEMS} ({ITEMS} new, 0 changed, 0 unchanged) items")
    assert "unit mapping each → ea created" in out[2]
    assert out[3].startswith("  skipped product ") and out[3].endswith(": no SKU")

    assert main([*command, "--start-page", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "page 2/2: 12 items (0 new, 0 changed), 1 skipped"

    store.access_token = "revoked"
    assert main(command) == 1
    err = capsys.readouterr().err
    assert f"page 1: POST {IMPORT} answered 502: BigCommerce answered 401" in err
    assert "resume with --start-page 1" in err
