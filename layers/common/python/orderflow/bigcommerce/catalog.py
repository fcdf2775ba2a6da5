"""The store's v3 catalog as items: products read page by page with their variants, and every
sellable SKU (a simple product's own, or each variant's) turned into an :class:`Item`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError
from orderflow.models.order import Item

PRODUCTS_PATH = "/v3/catalog/products"
VARIANTS_PATH = "/v3/catalog/variants"
IDS_PER_REQUEST = 50  # ids or SKUs named in one filter (`id:in`, `sku:in`): a URL well under 8 KB
PAGE_LIMIT = 250  # BigCommerce's maximum: one request per 250 products, variants included
# Names and SKUs become product mappings, whose values are limited to 200 characters (MappingInput).
NAME_LIMIT = 200
SKU_LIMIT = 200
DESCRIPTION_LIMIT = 1000
_MONEY = Decimal("0.0001")
_BLOCK_TAGS = {
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "td",
    "th", "tr", "ul",
}  # fmt: skip
_HIDDEN_TAGS = {"script", "style", "template", "noscript"}


@dataclass(frozen=True)
class Skipped:
    """A product or variant that gave no item, and why (e.g. it has no SKU)."""

    product_id: int | None
    variant_id: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "variant_id": self.variant_id, "reason": self.reason}


@dataclass
class Conversion:
    items: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class CatalogPage:
    page: int
    products: list[Any]
    total_pages: int | None
    last: bool


def read_page(
    client: BigCommerceClient, page: int, limit: int = PAGE_LIMIT, keyword: str | None = None
) -> CatalogPage:
    """One page of products with their variants (those ``keyword`` finds: BigCommerce searches names,
    SKUs and descriptions); ``last`` when no page follows it."""
    params: dict[str, Any] = {"page": page, "limit": limit, "include": "variants"}
    if keyword:
        params["keyword"] = keyword
    body = client.get(PRODUCTS_PATH, params)
    if body is None:  # 204: past the end
        return CatalogPage(page, [], None, last=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BigCommerceError(
            200, "expected {data: [...], meta} from the catalog", method="GET", path=PRODUCTS_PATH
        )
    products: list[Any] = body["data"]
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    pagination = pagination if isinstance(pagination, dict) else {}
    # The page asked for stays the page: a store echoing a wrong current_page must not make a
    # caller ask for the same page again and again.
    current = max(page, _positive_int(pagination.get("current_page")) or page)
    total_pages = _positive_int(pagination.get("total_pages"))
    if not products:
        last = True
    elif total_pages is not None:
        last = current >= total_pages
    else:
        last = len(products) < limit  # no pagination metadata: a short page is the last one
    return CatalogPage(page, products, total_pages, last)


def read_products(client: BigCommerceClient, product_ids: list[int]) -> list[Any]:
    """The products with these ids, with their variants (those the store does not have are left out)."""
    products: list[Any] = []
    for start in range(0, len(product_ids), IDS_PER_REQUEST):
        chunk = product_ids[start : start + IDS_PER_REQUEST]
        params = {"id:in": ",".join(map(str, chunk)), "limit": PAGE_LIMIT, "include": "variants"}
        products.extend(_data_list(client.get(PRODUCTS_PATH, params), PRODUCTS_PATH))
    return products


def product_ids_of_skus(client: BigCommerceClient, skus: list[str]) -> dict[str, int]:
    """The product of each SKU the store has (a simple product's SKU is its base variant's)."""
    found: dict[str, int] = {}
    listable = [sku for sku in skus if "," not in sku]
    # A SKU with a comma in it cannot be one of a list: it is asked for alone.
    requests: list[tuple[dict[str, str], list[str]]] = []
    for start in range(0, len(listable), IDS_PER_REQUEST):
        chunk = listable[start : start + IDS_PER_REQUEST]
        requests.append(({"sku:in": ",".join(chunk)}, chunk))
    requests += [({"sku": sku}, [sku]) for sku in skus if "," in sku]
    for filters, chunk in requests:
        params = {**filters, "limit": PAGE_LIMIT}
        for variant in _data_list(client.get(VARIANTS_PATH, params), VARIANTS_PATH):
            if not isinstance(variant, dict):
                continue
            sku, product_id = _text(variant.get("sku")), _positive_int(variant.get("product_id"))
            if sku in chunk and product_id is not None:
                found[sku] = product_id
    return found


def _data_list(body: Any, path: str) -> list[Any]:
    if body is None:  # 204: nothing matched
        return []
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BigCommerceError(200, "expected {data: [...], meta} from the catalog", method="GET", path=path)
    return list(body["data"])


def to_items(products: list[Any]) -> Conversion:
    conversion = Conversion()
    for product in products:
        items, skipped = product_items(product)
        conversion.items.extend(items)
        conversion.skipped.extend(skipped)
    return conversion


def product_items(product: Any) -> tuple[list[Item], list[Skipped]]:
    """A product without variant options is one item under its own SKU; a product with variant
    options gives one item per variant, priced by the variant or else by the product."""
    if not isinstance(product, dict):
        return [], [Skipped(None, None, "not a product object")]
    product_id = _positive_int(product.get("id"))
    name = _clip(" ".join(str(product.get("name") or "").split()), NAME_LIMIT)
    description = plain_text(str(product.get("description") or ""), DESCRIPTION_LIMIT)
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    # Modifier-only products have one base variant without option values: that is the product itself.
    optioned = [v for v in variants if v.get("option_values")]
    if not optioned:
        base_variant = _positive_int(product.get("base_variant_id")) or (
            _positive_int(variants[0].get("id")) if len(variants) == 1 else None
        )
        sku = _text(product.get("sku")) or (_text(variants[0].get("sku")) if len(variants) == 1 else "")
        made = _item(sku, name, description, product.get("price"), product_id, base_variant)
        return ([made], []) if isinstance(made, Item) else ([], [made])
    items: list[Item] = []
    skipped: list[Skipped] = []
    for variant in optioned:
        variant_price = variant.get("price")
        options = _options(variant["option_values"])
        made = _item(
            _text(variant.get("sku")),
            _clip(f"{name} ({options})", NAME_LIMIT) if options and name else name,
            description,
            product.get("price") if variant_price is None else variant_price,
            product_id,
            _positive_int(variant.get("id")),
        )
        if isinstance(made, Item):
            items.append(made)
        else:
            skipped.append(made)
    return items, skipped


def plain_text(html: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Readable text from an HTML description: tags and hidden content dropped, entities decoded,
    whitespace collapsed, cut at a word boundary to ``limit`` characters."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return _clip(" ".join("".join(parser.parts).split()), limit)


def _item(
    sku: str,
    name: str,
    description: str,
    raw_price: Any,
    product_id: int | None,
    variant_id: int | None,
) -> Item | Skipped:
    if not sku:
        return Skipped(product_id, variant_id, "no SKU")
    if len(sku) > SKU_LIMIT:
        return Skipped(product_id, variant_id, f"SKU longer than {SKU_LIMIT} characters")
    price = _price(raw_price)
    if price is None:
        return Skipped(product_id, variant_id, "no price, or a price that is not a number")
    return Item(
        sku=sku,
        name=name or sku,
        description=description,
        price=price,
        external_product_id=product_id,
        external_variant_id=variant_id,
    )


def _options(values: Any) -> str:
    parts = []
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, dict):
            continue
        label = _text(value.get("label"))
        option = _text(value.get("option_display_name"))
        if label:
            parts.append(f"{option}: {label}" if option else label)
    return ", ".join(parts)


def _price(value: Any) -> Decimal | None:
    # v3 catalog prices are JSON numbers: go through str() so 19.99 stays 19.99, not a binary float.
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return price.quantize(_MONEY) if price.is_finite() else None


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # A word boundary reads better, unless it would throw most of the text away.
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
