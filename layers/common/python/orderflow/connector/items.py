"""Catalog import: the store's products become items and product mappings (sku → product), a page
at a time, within a page budget and the caller's deadline so that one API call answers in time.

Idempotent: items are keyed by SKU and mappings by their key, so importing again updates what
changed, writes nothing for what did not, and never duplicates. A call that stops early answers
``next_page``; calling again from there carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from orderflow.bigcommerce.catalog import (
    Skipped,
    product_ids_of_skus,
    product_items,
    read_page,
    read_products,
    to_items,
)
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.errors import Conflict, InvalidInput
from orderflow.models.order import DEFAULT_UNIT, Item, MappingInput, MappingKey, MappingKind
from orderflow.observability import logger
from orderflow.store.items import ItemRepository
from orderflow.store.mappings import MappingRepository, UpsertCounts

PRODUCT_FIELD = "sku"
UNIT_FIELD = "unit"
EXTERNAL_UNIT = "each"  # what an imported order line's unit is (OrderLine.external_unit)
# Another page is started only with this much time left: a slow BigCommerce answer (10 s read
# timeout) plus a page of writes must still finish before API Gateway gives up at 30 s.
PAGE_RESERVE_SECONDS = 12.0
SKIPPED_REPORT_LIMIT = 100  # the count is exact; the list of what was skipped is only a sample

UnitMapping = Literal["created", "existing"]


@dataclass
class PageResult:
    page: int
    products: int
    items: UpsertCounts
    mappings: UpsertCounts
    skipped: int

    @property
    def item_count(self) -> int:
        return self.items.created + self.items.updated + self.items.unchanged


@dataclass
class ImportResult:
    start_page: int
    unit_mapping: UnitMapping = "existing"
    next_page: int | None = None
    total_pages: int | None = None
    pages: list[PageResult] = field(default_factory=list)
    items: UpsertCounts = field(default_factory=UpsertCounts)
    mappings: UpsertCounts = field(default_factory=UpsertCounts)
    skipped_count: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, page: PageResult, skipped: list[Skipped]) -> None:
        self.pages.append(page)
        for total, part in ((self.items, page.items), (self.mappings, page.mappings)):
            total.created += part.created
            total.updated += part.updated
            total.unchanged += part.unchanged
        self.skipped_count += len(skipped)
        self.skipped.extend(skipped[: SKIPPED_REPORT_LIMIT - len(self.skipped)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_page": self.start_page,
            "next_page": self.next_page,
            "total_pages": self.total_pages,
            "pages": [{**asdict(p), "item_count": p.item_count} for p in self.pages],
            "items": asdict(self.items),
            "mappings": asdict(self.mappings),
            "unit_mapping": self.unit_mapping,
            "skipped_count": self.skipped_count,
            "skipped": [s.to_dict() for s in self.skipped],
        }


def import_items(
    client: BigCommerceClient,
    items: ItemRepository,
    mappings: MappingRepository,
    mapping_group: str,
    *,
    start_page: int = 1,
    max_pages: int | None = None,
    remaining_seconds: Callable[[], float] | None = None,
) -> ImportResult:
    """Import catalog pages from ``start_page`` until the catalog ends, ``max_pages`` pages are done,
    or ``remaining_seconds()`` drops below what one more page may need. At least one page is done."""
    if start_page < 1:
        raise InvalidInput("start_page must be 1 or more", field="start_page")
    if max_pages is not None and max_pages < 1:
        raise InvalidInput("max_pages must be 1 or more", field="max_pages")
    result = ImportResult(start_page=start_page)
    page = start_page
    while True:
        catalog = read_page(client, page)
        if not result.pages:  # after the first read: a store refusing our token leaves nothing behind
            result.unit_mapping = ensure_unit_mapping(mappings, mapping_group)
        conversion = to_items(catalog.products)
        done = PageResult(
            page=page,
            products=len(catalog.products),
            items=items.put_many(conversion.items),
            mappings=mappings.upsert_many(
                MappingKind.PRODUCTS, (product_mapping(item, mapping_group) for item in conversion.items)
            ),
            skipped=len(conversion.skipped),
        )
        result.add(done, conversion.skipped)
        result.total_pages = catalog.total_pages
        logger.info(
            "catalog page imported",
            extra={
                "page": done.page,
                "total_pages": catalog.total_pages,
                "products": done.products,
                "items": asdict(done.items),
                "mappings": asdict(done.mappings),
                "skipped": done.skipped,
            },
        )
        if catalog.last:
            return result
        page += 1
        if (max_pages is not None and len(result.pages) >= max_pages) or (
            remaining_seconds is not None and remaining_seconds() < PAGE_RESERVE_SECONDS
        ):
            result.next_page = page
            return result


def product_mapping(item: Item, mapping_group: str) -> MappingInput:
    """``sku`` = the item's SKU → product = the item's name, for all accounts of the group."""
    return MappingInput(
        mapping_group=mapping_group,
        value=item.name,
        external_field_name=PRODUCT_FIELD,
        external_field_value=item.sku,
    )


def ensure_unit_mapping(mappings: MappingRepository, mapping_group: str) -> UnitMapping:
    """``unit`` = ``each`` → ``ea`` (the imported items' unit), created only when absent: a
    merchant's own mapping of that unit is theirs to keep."""
    key = MappingKey(MappingKind.UNITS, mapping_group, UNIT_FIELD, EXTERNAL_UNIT)
    if mappings.resolve([key]):
        return "existing"
    try:
        mappings.create(
            MappingKind.UNITS,
            MappingInput(
                mapping_group=mapping_group,
                value=DEFAULT_UNIT,
                external_field_name=UNIT_FIELD,
                external_field_value=EXTERNAL_UNIT,
            ),
        )
    except Conflict:  # another import created it in between
        return "existing"
    return "created"


# -- the console: the catalog without importing it, and selected items imported ----------------------


def list_catalog(
    client: BigCommerceClient, items: ItemRepository, *, keyword: str | None, page: int, limit: int
) -> dict[str, Any]:
    """A page of the store's products as items (one per sellable SKU), each marked ``imported`` when
    we hold its SKU; what gives no item (no SKU, no price) is listed under ``skipped``. Writes nothing."""
    catalog = read_page(client, page, limit, keyword=keyword)
    conversion = to_items(catalog.products)
    held = items.get_many(item.sku for item in conversion.items)
    return {
        "page": page,
        "limit": limit,
        "keyword": keyword,
        "products": len(catalog.products),
        "total_pages": catalog.total_pages,
        "has_more": not catalog.last,
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "price": str(item.price),
                "product_id": item.external_product_id,
                "variant_id": item.external_variant_id,
                "imported": item.sku in held,
            }
            for item in conversion.items
        ],
        "skipped": [skipped.to_dict() for skipped in conversion.skipped],
    }


def import_selected(
    client: BigCommerceClient,
    items: ItemRepository,
    mappings: MappingRepository,
    mapping_group: str,
    *,
    skus: list[str] | None = None,
    product_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Import the items of these SKUs, or every item of these products, as the catalog import does
    (items and sku → product mappings), answering per SKU or product: ``created``, ``updated`` (held
    already: refreshed from the store), ``skipped`` (with why) or ``not_found`` in the store."""
    if (skus is None) == (product_ids is None):
        raise InvalidInput("give either skus or product_ids", field="skus" if skus is None else "product_ids")
    if skus is not None:
        wanted_skus = list(dict.fromkeys(skus))
        product_of = product_ids_of_skus(client, wanted_skus)
        products = read_products(client, sorted(set(product_of.values())))
    else:
        wanted_ids = list(dict.fromkeys(product_ids or []))
        products = read_products(client, wanted_ids)
    made: list[Item] = []
    skipped: list[Skipped] = []
    for product in products:
        product_made, product_skipped = product_items(product)
        made.extend(product_made)
        skipped.extend(product_skipped)
    if skus is not None:
        made = [item for item in made if item.sku in product_of]
    held = items.get_many(item.sku for item in made)
    unit_mapping = ensure_unit_mapping(mappings, mapping_group) if made else "existing"
    counts = items.put_many(made)
    mapped = mappings.upsert_many(
        MappingKind.PRODUCTS, (product_mapping(item, mapping_group) for item in made)
    )
    outcomes = {item.sku: _outcome(item, held) for item in made}
    if skus is not None:
        results = [
            outcomes.get(sku)
            or _missing(sku, product_of.get(sku), "the store has no product or variant with this SKU")
            for sku in wanted_skus
        ]
    else:
        found_ids = {item.external_product_id for item in made}
        found_ids |= {s.product_id for s in skipped}
        results = [outcome for outcome in outcomes.values()]
        results += [
            {"product_id": s.product_id, "variant_id": s.variant_id, "result": "skipped", "reason": s.reason}
            for s in skipped
        ]
        results += [
            {"product_id": pid, "result": "not_found", "reason": "the store has no product with this id"}
            for pid in wanted_ids
            if pid not in found_ids
        ]
    logger.info(
        "selected catalog items imported", extra={"items": asdict(counts), "mappings": asdict(mapped)}
    )
    return {
        "results": results,
        "items": asdict(counts),
        "mappings": asdict(mapped),
        "unit_mapping": unit_mapping,
    }


def _outcome(item: Item, held: dict[str, Item]) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "name": item.name,
        "product_id": item.external_product_id,
        "variant_id": item.external_variant_id,
        "result": "updated" if item.sku in held else "created",
    }


def _missing(sku: str, product_id: int | None, reason: str) -> dict[str, Any]:
    if product_id is not None:  # found as a variant, but it gave no item (no price, an overlong SKU)
        reason = "the store's product or variant with this SKU gives no item (no price, or an overlong SKU)"
        return {"sku": sku, "product_id": product_id, "result": "skipped", "reason": reason}
    return {"sku": sku, "result": "not_found", "reason": reason}
