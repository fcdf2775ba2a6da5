"""BigCommerce v2 order (with its products and shipping addresses) → the canonical Order. Pure."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from orderflow import clock
from orderflow.models.order import Address, Customer, Order, OrderLine, import_id_for, order_key_for


class OrderDataError(ValueError):
    """The store sent an order we cannot read; the message names the field."""


def to_order(raw: dict[str, Any], store_hash: str, mapping_group: str) -> Order:
    try:
        external_id = int(raw["id"])
    except (KeyError, TypeError, ValueError):
        raise OrderDataError("order.id is missing or not a number") from None
    products = raw.get("products")
    if not isinstance(products, list):
        raise OrderDataError(f"order {external_id}: products were not loaded")
    billing = raw.get("billing_address") or {}
    now = clock.iso()
    return Order(
        order_key=order_key_for(store_hash, external_id),
        store_hash=store_hash,
        external_id=external_id,
        import_id=import_id_for(external_id),
        external_status_id=_int(raw.get("status_id")),
        external_status=str(raw.get("status") or ""),
        currency=str(raw.get("currency_code") or ""),
        subtotal_ex_tax=_money(raw, "subtotal_ex_tax"),
        total_tax=_money(raw, "total_tax"),
        total_inc_tax=_money(raw, "total_inc_tax"),
        payment_method=str(raw.get("payment_method") or ""),
        channel_id=_int(raw.get("channel_id")),
        order_source=str(raw.get("order_source") or ""),
        customer=Customer(
            external_id=_int(raw.get("customer_id")) or 0,
            email=str(billing.get("email") or ""),
            first_name=str(billing.get("first_name") or ""),
            last_name=str(billing.get("last_name") or ""),
            company=str(billing.get("company") or ""),
        ),
        billing_address=Address.model_validate(billing),
        ship_to=[_address(a) for a in raw.get("shipping_addresses") or []],
        mapping_group=mapping_group,
        placed_at=_date(raw.get("date_created")),
        imported_at=now,
        updated_at=now,
        lines=[_line(index, item, external_id) for index, item in enumerate(products, start=1)],
    )


def _line(number: int, item: dict[str, Any], order_id: int) -> OrderLine:
    where = f"order {order_id} product {item.get('id')}"
    try:
        quantity = int(item["quantity"])
    except (KeyError, TypeError, ValueError):
        raise OrderDataError(f"{where}: quantity is missing or not a number") from None
    return OrderLine(
        line_number=number,
        external_id=int(item.get("id") or 0),
        external_product_id=int(item.get("product_id") or 0),
        external_variant_id=_int(item.get("variant_id")),
        sku=str(item.get("sku") or ""),
        name=str(item.get("name") or ""),
        quantity=quantity,
        unit_price=_money(item, "price_ex_tax", where),
        total_ex_tax=_money(item, "total_ex_tax", where),
        total_inc_tax=_money(item, "total_inc_tax", where),
        ship_to_external_id=_int(item.get("order_address_id")),
        quantity_shipped=int(item.get("quantity_shipped") or 0),
    )


def _address(raw: dict[str, Any]) -> Address:
    return Address.model_validate({**raw, "external_id": raw.get("id")})


def _money(raw: dict[str, Any], field: str, where: str = "order") -> Decimal:
    value = raw.get(field)
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise OrderDataError(f"{where}: {field} is not an amount ({value!r})") from None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str | None:
    if not value:
        return None
    try:
        return clock.iso(parsedate_to_datetime(str(value)))
    except (TypeError, ValueError):
        return None


def listed_order(raw: Any) -> dict[str, Any] | None:
    """An order of a v2 orders list as the console shows it (before any import): id, status, the
    billing name, total, currency, date created and item count; None for an entry without an id."""
    if not isinstance(raw, dict) or isinstance(raw.get("id"), bool) or not isinstance(raw.get("id"), int):
        return None
    given = raw.get("billing_address")
    billing: dict[str, Any] = given if isinstance(given, dict) else {}
    name = " ".join(str(billing.get(part) or "").strip() for part in ("first_name", "last_name")).strip()
    try:
        total: str | None = str(_money(raw, "total_inc_tax"))
    except OrderDataError:
        total = None
    return {
        "id": raw["id"],
        "status_id": _int(raw.get("status_id")),
        "status": str(raw.get("custom_status") or raw.get("status") or ""),
        "customer_name": name or str(billing.get("company") or "").strip(),
        "total_inc_tax": total,
        "currency": str(raw.get("currency_code") or raw.get("default_currency_code") or ""),
        "date_created": _date(raw.get("date_created")),
        "items_total": _int(raw.get("items_total")),
    }
