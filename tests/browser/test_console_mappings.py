"""The Mappings page in a real browser: a CSV upload with a bad row shows that row's error and imports the
others, the CSV download gives them back, and a product mapping is created, edited and deleted through
its form, with a bad field's problem shown next to it."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shoot
from tests.conftest import Api

CSV_WITH_A_BAD_ROW = (
    "mapping_group,account,product,external_field_name,external_field_value\n"
    ",,Accu Scale,sku,ABS\n"
    ",,,sku,SCW\n"
    "Wholesale,,Scale Calibration Weights,sku,SCW\n"
)


def open_page(page: Page, hash_route: str) -> None:
    """The console at a page's address, once the sign-in is through (the token is kept for the tab)."""
    expect(page.get_by_label("Admin token")).to_have_count(0)
    page.goto(page.url.split("#")[0] + hash_route)


def open_products(page: Page) -> None:
    open_page(page, "#/mappings")
    page.get_by_role("navigation", name="Mapping kinds").get_by_role("link", name="Products").click()
    expect(page.get_by_role("heading", level=2, name="Products mappings")).to_be_visible()


def test_a_csv_upload_with_one_bad_row_shows_its_error_and_imports_the_others(
    console: Page, api: Api, tmp_path: Path
) -> None:
    # Given the products mappings page, with no mappings yet
    open_products(console)
    expect(console.get_by_text("No product mappings in all groups yet.")).to_be_visible()

    # When a CSV whose row 3 has no product is uploaded
    console.get_by_label("CSV file").set_input_files(
        files=[{"name": "products.csv", "mimeType": "text/csv", "buffer": CSV_WITH_A_BAD_ROW.encode()}]
    )
    console.get_by_role("button", name="Import").click()

    # Then the answer says what was imported, and row 3 is listed with its values and its error
    result = console.locator("#mapping-import-result")
    expect(result).to_contain_text("2 created, 0 updated, 0 unchanged; 1 row rejected")
    errors = console.get_by_role("table", name="Rows not imported")
    expect(errors.get_by_role("row")).to_have_count(2)  # the header and row 3
    bad = errors.get_by_role("row").nth(1)
    expect(bad.get_by_role("rowheader")).to_have_text("3")
    expect(bad).to_contain_text("SCW")
    expect(bad).to_contain_text("product is empty")

    # And the good rows are listed in the table, and their groups offered as a filter
    mappings = console.locator("#mappings-table")
    expect(mappings.get_by_role("row", name="ABS")).to_contain_text("Accu Scale")
    expect(mappings.get_by_role("row", name="Wholesale")).to_contain_text("Scale Calibration Weights")
    console.get_by_label("Mapping group").select_option("Wholesale")
    expect(mappings.get_by_role("row")).to_have_count(2)
    expect(mappings).not_to_contain_text("ABS")
    assert len(api.get("/mappings/products").json()["mappings"]) == 2
    shoot(console, "mappings-csv-upload")
    accessible(console)

    # When the operator downloads the group's CSV
    with console.expect_download() as download:
        console.get_by_role("button", name="Download CSV").click()

    # Then it holds that group's mapping in the columns the import reads
    saved = tmp_path / "products.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert text.splitlines() == [
        "mapping_group,account,product,external_field_name,external_field_value",
        "Wholesale,,Scale Calibration Weights,sku,SCW",
    ]


def test_create_edit_and_delete_a_product_mapping_through_the_form(console: Page, api: Api) -> None:
    # Given the products mappings page
    open_products(console)

    # When a mapping is created without its product
    console.get_by_role("button", name="New mapping").click()
    form = console.locator("#mapping-form")
    expect(form.get_by_label("External field name")).to_have_value("sku")
    form.get_by_label("External field value").fill("ABS")
    form.get_by_role("button", name="Create mapping").click()

    # Then the product field shows its problem, and has the focus
    product = form.get_by_label("Product")
    expect(product).to_have_attribute("aria-invalid", "true")
    expect(product).to_have_accessible_description(re.compile("product: String should have at least 1"))
    expect(product).to_be_focused()
    shoot(console, "mappings-form-problem")
    accessible(console)

    # When the product is given
    product.fill("Accu Scale")
    form.get_by_role("button", name="Create mapping").click()

    # Then the mapping is listed
    row = console.locator("#mappings-table").get_by_role("row", name="ABS")
    expect(row).to_contain_text("Accu Scale")
    expect(console.get_by_role("status").filter(has_text="Created the product mapping")).to_be_visible()

    # When it is edited to another product
    row.get_by_role("button", name="Edit ABS").click()
    expect(form.get_by_label("Product")).to_have_value("Accu Scale")
    form.get_by_label("Product").fill("Accu Scale 2000")
    form.get_by_role("button", name="Save changes").click()

    # Then the table shows the new product, and so does the API
    expect(row).to_contain_text("Accu Scale 2000")
    (stored,) = api.get("/mappings/products").json()["mappings"]
    assert stored["product"] == "Accu Scale 2000"
    shoot(console, "mappings-products")
    accessible(console)

    # When it is deleted, confirming
    row.get_by_role("button", name="Delete ABS").click()
    console.get_by_role("button", name="Yes, delete ABS").click()

    # Then it is gone
    expect(console.get_by_text("No product mappings in all groups yet.")).to_be_visible()
    assert api.get("/mappings/products").json()["mappings"] == []
