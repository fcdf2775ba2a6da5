"""The v3 catalog: products and their variants, and the ids an order line's sku maps to."""

from __future__ import annotations

import copy
from typing import Any

from orderflow_local.demo_store.base import StoreState, _decimal, _iso, _now, _to_int, _v3_page


class CatalogResource(StoreState):
    """Catalog products are seeded or changed by hand and read over the v3 API."""

    # -- seeding -------------------------------------------------------------------------------------

    def add_catalog_product(
        self,
        *,
        name: str,
        sku: str,
        price: str | float = "0",
        description: str = "",
        inventory_level: int = 0,
        weight: float = 1.0,
        product_id: int | None = None,
        variants: list[dict[str, Any]] | None = None,
    ) -> int:
        """Add a v3 catalog product; ``sku`` may be empty (BigCommerce allows products without one).
        Each of ``variants`` is ``{"sku", "options": {"Size": "L"}}`` and optionally ``"price"`` (None:
        the product's price); without variants the product has its base variant only, as in BigCommerce."""
        with self._lock:
            skus = [sku, *(str(v.get("sku") or "") for v in variants or [])]
            for candidate in filter(None, skus):
                if candidate in self._catalog_skus():
                    raise ValueError(f"a catalog product or variant with sku {candidate!r} exists")
            if len(set(filter(None, skus))) != len(list(filter(None, skus))):
                raise ValueError("variant skus must be unique")
            known_id, variant_id = self._sku_ids.get(sku, (None, None)) if sku else (None, None)
            product_id = product_id or known_id or self._take("product")
            if product_id in self._catalog:
                raise ValueError(f"catalog product {product_id} exists")
            stamp = _iso(_now())
            rendered_variants: list[dict[str, Any]] = []
            if variants:
                variant_id = None  # a product with variant options has no base variant of its own
                for variant in variants:
                    options = dict(variant.get("options") or {})
                    if not options:
                        raise ValueError("a variant needs options, e.g. {'Size': 'L'}")
                    variant_sku = str(variant.get("sku") or "")
                    raw_price = variant.get("price")
                    rendered_variants.append(
                        self._variant(product_id, variant_sku, raw_price, price, options, inventory_level)
                    )
            else:
                variant_id = variant_id or self._take("variant")
                rendered_variants.append(
                    {
                        **self._variant(product_id, sku, None, price, {}, inventory_level),
                        "id": variant_id,
                    }
                )
            if sku:
                self._sku_ids[sku] = (product_id, variant_id or rendered_variants[0]["id"])
            # v3 catalog prices are JSON numbers, unlike v2 order money strings.
            self._catalog[product_id] = {
                "id": product_id,
                "name": name,
                "type": "physical",
                "sku": sku,
                "description": description,
                "weight": weight,
                "width": 0,
                "depth": 0,
                "height": 0,
                "price": float(_decimal(price)),
                "cost_price": 0,
                "retail_price": 0,
                "sale_price": 0,
                "map_price": 0,
                "tax_class_id": 0,
                "categories": [],
                "brand_id": 0,
                "inventory_level": inventory_level,
                "inventory_tracking": "variant" if variants else "none",
                "is_visible": True,
                "availability": "available",
                "base_variant_id": variant_id,
                "date_created": stamp,
                "date_modified": stamp,
                "variants": rendered_variants,
            }
            return product_id

    def update_catalog_product(self, product_id: int, **changes: Any) -> None:
        """Change product fields (``name``, ``price``, ``description``...) as the control panel would."""
        with self._lock:
            product = self._catalog[product_id]
            if "price" in changes:
                changes["price"] = float(_decimal(changes["price"]))
            product.update(changes)
            product["date_modified"] = _iso(_now())
            for variant in product["variants"]:
                if not variant["option_values"]:
                    variant.update(sku=product["sku"], price=product["price"])
                variant["calculated_price"] = (
                    variant["price"] if variant["price"] is not None else product["price"]
                )

    def _catalog_skus(self) -> set[str]:
        skus = {p["sku"] for p in self._catalog.values() if p["sku"]}
        skus.update(v["sku"] for p in self._catalog.values() for v in p["variants"] if v["sku"])
        return skus

    def _variant(
        self,
        product_id: int,
        sku: str,
        price: Any,
        product_price: Any,
        options: dict[str, Any],
        inventory_level: int,
    ) -> dict[str, Any]:
        variant_id = self._take("variant")
        if sku:
            self._sku_ids.setdefault(sku, (product_id, variant_id))
        own = None if price is None else float(_decimal(price))
        return {
            "id": variant_id,
            "product_id": product_id,
            "sku": sku,
            "sku_id": variant_id if options else None,
            # None means "the product's price", as BigCommerce documents for variants.
            "price": own,
            "calculated_price": own if own is not None else float(_decimal(product_price)),
            "sale_price": None,
            "retail_price": None,
            "map_price": None,
            "weight": None,
            "calculated_weight": 1.0,
            "cost_price": 0,
            "upc": "",
            "mpn": "",
            "gtin": "",
            "inventory_level": inventory_level,
            "purchasing_disabled": False,
            "purchasing_disabled_message": "",
            "image_url": "",
            "option_values": [
                {
                    "id": 100 + index,
                    "label": str(label),
                    "option_id": 10 + index,
                    "option_display_name": str(option),
                }
                for index, (option, label) in enumerate(options.items())
            ],
        }

    # -- v3 catalog ----------------------------------------------------------------------------------

    def _get_catalog_products(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            products = [copy.deepcopy(self._catalog[i]) for i in sorted(self._catalog)]
        if "sku" in query:
            products = [p for p in products if p["sku"] == query["sku"][0]]
        if query.get("keyword", [""])[0].strip():
            # As BigCommerce's keyword search: the words in the name, a SKU (a variant's too) or the description.
            words = query["keyword"][0].lower().split()
            products = [p for p in products if all(w in _searchable(p) for w in words)]
        ids = {_to_int(i, "id:in") for v in query.get("id:in", []) for i in v.split(",") if i.strip()}
        if ids:
            products = [p for p in products if p["id"] in ids]
        include = {part.strip() for value in query.get("include", []) for part in value.split(",")}
        if "variants" not in include:
            for product in products:
                del product["variants"]
        return _v3_page(products, query)

    def _get_catalog_variants(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """Every product's variants (a simple product's base variant carries its SKU), by ``sku`` or
        ``sku:in``."""
        with self._lock:
            variants = [copy.deepcopy(v) for i in sorted(self._catalog) for v in self._catalog[i]["variants"]]
        wanted = {s for v in query.get("sku:in", []) for s in v.split(",") if s}
        wanted.update(query.get("sku", []))
        if "sku" in query or "sku:in" in query:
            variants = [v for v in variants if v["sku"] in wanted]
        return _v3_page(variants, query)

    def _ids_for_sku(self, sku: str) -> tuple[int, int]:
        """The same sku maps to the same catalog product and variant across orders."""
        with self._lock:
            if not sku:
                return 0, 0
            if sku not in self._sku_ids:
                self._sku_ids[sku] = (self._take("product"), self._take("variant"))
            return self._sku_ids[sku]


def _searchable(product: dict[str, Any]) -> str:
    skus = [product["sku"], *(v["sku"] for v in product.get("variants") or [])]
    return " ".join([product["name"], product["description"], *skus]).lower()
