"""Catalog conversion: v3 products (variants included) → items, one per sellable SKU; and reading
catalog pages from the loopback store, however its pagination answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderflow.bigcommerce.catalog import (
    DESCRIPTION_LIMIT,
    NAME_LIMIT,
    PRODUCTS_PATH,
    Skipped,
    plain_text,
    product_items,
    read_page,
    to_items,
)
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError
from orderflow_local.demo_store import DemoStore, Fault


def product(**fields: Any) -> dict[str, Any]:
    """A v3 catalog product as ``include=variants`` returns it: a simple one has its base variant."""
    body: dict[str, Any] = {
        "id": 77,
        "name": "Accu Scale",
        "type": "physical",
        "sku": "ABS",
        "description": "<p>A precise scale.</p>",
        "price": 45,
        "base_variant_id": 150,
        "variants": [{"id": 150, "product_id": 77, "sku": "ABS", "price": 45, "option_values": []}],
    }
    body.update(fields)
    return body


def variant(variant_id: int, sku: str | None, price: float | None, **options: str) -> dict[str, Any]:
    return {
        "id": variant_id,
        "product_id": 80,
        "sku": sku,
        "price": price,
        "calculated_price": price,
        "option_values": [
            {"id": 100 + n, "label": label, "option_id": 10 + n, "option_display_name": name}
            for n, (name, label) in enumerate(options.items())
        ],
    }


def test_a_simple_product_is_one_item_under_its_own_sku() -> None:
    items, skipped = product_items(product())

    assert skipped == []
    [item] = items
    assert (item.sku, item.name, item.description) == ("ABS", "Accu Scale", "A precise scale.")
    assert item.price == Decimal("45") and isinstance(item.price, Decimal)
    assert (item.unit, item.unit_name, item.source) == ("ea", "Each", "bigcommerce")
    assert (item.external_product_id, item.external_variant_id) == (77, 150)


def test_a_product_with_variant_options_gives_one_item_per_variant_priced_by_variant_or_product() -> None:
    shirt = product(
        id=80,
        name="T-Shirt",
        sku="TS",
        price=20,
        base_variant_id=None,
        variants=[
            variant(201, "TS-RED-L", None, Color="Red", Size="L"),
            variant(202, "TS-BLUE-L", 22.5, Color="Blue", Size="L"),
        ],
    )

    items, skipped = product_items(shirt)

    assert skipped == []
    assert [(i.sku, i.name, i.price, i.external_variant_id) for i in items] == [
        ("TS-RED-L", "T-Shirt (Color: Red, Size: L)", Decimal("20"), 201),
        ("TS-BLUE-L", "T-Shirt (Color: Blue, Size: L)", Decimal("22.5"), 202),
    ]
    assert {i.external_product_id for i in items} == {80}
    assert "TS" not in {i.sku for i in items}  # the parent is not sold itself


def test_products_and_variants_without_a_sku_are_skipped_and_named() -> None:
    no_sku = product(
        id=90, sku="", base_variant_id=300, variants=[{"id": 300, "sku": "", "option_values": []}]
    )
    blank = product(id=91, sku="   ", base_variant_id=301, variants=[])
    partly = product(
        id=92,
        name="Mug",
        sku="MUG",
        variants=[variant(302, "MUG-W", 8, Color="White"), variant(303, None, 8, Color="Black")],
    )

    conversion = to_items([no_sku, blank, partly, "not a product"])

    assert [i.sku for i in conversion.items] == ["MUG-W"]
    assert conversion.skipped == [
        Skipped(90, 300, "no SKU"),
        Skipped(91, 301, "no SKU"),
        Skipped(92, 303, "no SKU"),
        Skipped(None, None, "not a product object"),
    ]


def test_a_product_without_variants_in_the_answer_still_counts_as_simple() -> None:
    # Without include=variants (or a store that leaves them out) the product itself is the SKU.
    items, _ = product_items(product(variants=None, base_variant_id=None))

    assert [(i.sku, i.external_variant_id) for i in items] == [("ABS", None)]


def test_html_descriptions_become_plain_trimmed_text() -> None:
    html = (
        "<h2>Accu&nbsp;Scale</h2><p>Weighs up to <b>5&nbsp;kg</b> &amp; more.<br>Battery included."
        "</p><script>track('x')</script><style>p {color: red}</style><ul><li>Steel</li><li>Glass</li></ul>"
    )

    # Non-breaking spaces collapse like any other: the text is for lists and searches, not layout.
    assert plain_text(html) == "Accu Scale Weighs up to 5 kg & more. Battery included. Steel Glass"
    assert plain_text("") == ""
    assert plain_text("no <b>closing") == "no closing"
    long = plain_text("<p>" + "word " * 1000 + "</p>")
    assert len(long) <= DESCRIPTION_LIMIT and long.endswith("word…")
    [item], _ = product_items(product(description="<p>" + "x" * 5000 + "</p>"))
    assert len(item.description) == DESCRIPTION_LIMIT and item.description.endswith("…")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (19.99, Decimal("19.99")),  # through str(): no binary-float tail like 19.989999…
        (45, Decimal("45")),
        ("12.5", Decimal("12.5")),
        (0, Decimal("0")),
        (0.1 + 0.2, Decimal("0.3")),  # kept to 4 decimals, like BigCommerce's money strings
    ],
)
def test_prices_are_exact_decimals(raw: Any, expected: Decimal) -> None:
    [item], _ = product_items(product(price=raw))

    assert item.price == expected and item.price.as_tuple().exponent == -4


@pytest.mark.parametrize("raw", [None, "", "abc", True, float("nan"), "Infinity"])
def test_a_missing_or_unreadable_price_skips_the_product(raw: Any) -> None:
    items, skipped = product_items(product(price=raw))

    assert items == [] and skipped == [Skipped(77, 150, "no price, or a price that is not a number")]


def test_names_fit_a_mapping_and_overlong_skus_are_skipped() -> None:
    [item], _ = product_items(product(name="  Very   " + "long " * 100))
    items, skipped = product_items(product(sku="S" * 201))

    assert len(item.name) <= NAME_LIMIT and item.name.startswith("Very long") and item.name.endswith("…")
    assert items == [] and skipped == [Skipped(77, 150, "SKU longer than 200 characters")]
    [unnamed], _ = product_items(product(name=""))
    assert unnamed.name == "ABS"


def test_pages_end_by_total_pages_an_empty_page_or_a_204(store: DemoStore) -> None:
    for n in range(3):
        store.add_catalog_product(name=f"Item {n}", sku=f"SKU-{n}", price=1)
    client = BigCommerceClient(store.url, store.store_hash, store.access_token)

    first, second = read_page(client, 1, limit=2), read_page(client, 2, limit=2)
    store.inject("GET", PRODUCTS_PATH, Fault(204))
    gone = read_page(client, 3, limit=2)
    past = read_page(client, 7, limit=2)

    assert (first.page, len(first.products), first.total_pages, first.last) == (1, 2, 2, False)
    assert (second.page, len(second.products), second.last) == (2, 1, True)
    assert "variants" in second.products[0]  # asked for with include=variants
    assert (gone.products, gone.last) == ([], True)
    assert (past.products, past.last) == ([], True)


def test_pages_without_or_with_wrong_pagination_still_move_forward(store: DemoStore) -> None:
    client = BigCommerceClient(store.url, store.store_hash, store.access_token)
    full = {"data": [{"id": n, "sku": f"S{n}", "price": 1} for n in range(2)]}
    stale = {**full, "meta": {"pagination": {"current_page": 1, "total_pages": 3}}}
    store.inject("GET", PRODUCTS_PATH, Fault(200, body=full), Fault(200, body={"data": full["data"][:1]}))
    store.inject("GET", PRODUCTS_PATH, Fault(200, body=stale), Fault(200, body=stale))
    store.inject("GET", PRODUCTS_PATH, Fault(200, body=[1, 2]))

    assert read_page(client, 1, limit=2).last is False  # no metadata, a full page: ask for more
    assert read_page(client, 2, limit=2).last is True  # no metadata, a short page: the end
    assert (read_page(client, 2, limit=2).page, read_page(client, 3, limit=2).last) == (2, True)
    with pytest.raises(BigCommerceError, match="expected"):
        read_page(client, 1)
