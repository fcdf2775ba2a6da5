"""A BigCommerce v2 order (documented shapes) becomes the canonical order."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from orderflow.bigcommerce.orders import OrderDataError, to_order

RAW = {
    "id": 218, "customer_id": 11, "date_created": "Tue, 05 Mar 2019 21:40:11 +0000", "status_id": 11,
    "status": "Awaiting Fulfillment", "subtotal_ex_tax": "62.6793", "total_inc_tax": "69.8400",
    "total_tax": "5.3100", "payment_method": "Cash", "currency_code": "USD", "channel_id": 1,
    "order_source": "external",
    "billing_address": {"first_name": "Jane", "last_name": "Doe", "company": "", "street_1": "555 East Street",
                        "city": "Austin", "state": "Texas", "zip": "78108", "country": "United States",
                        "country_iso2": "US", "phone": "1234567890", "email": "janedoe@example.com"},
    "products": [
        {"id": 194, "order_id": 218, "product_id": 77, "variant_id": 1, "order_address_id": 119, "name": "Accu Scale",
         "sku": "ABS", "quantity": 2, "price_ex_tax": "30.0000", "total_ex_tax": "60.0000", "total_inc_tax": "65.0000",
         "quantity_shipped": 0},
        {"id": 195, "order_id": 218, "product_id": 0, "variant_id": None, "order_address_id": 119,
         "name": "Custom engraving", "sku": "", "quantity": 1, "price_ex_tax": "2.6793", "total_ex_tax": "2.6793",
         "total_inc_tax": "4.8400"},
    ],
    "shipping_addresses": [{"id": 119, "first_name": "Jane", "city": "Austin", "zip": "78108", "country_iso2": "US",
                            "shipping_method": "Flat Rate"}],
}  # fmt: skip


def test_money_stays_exact_and_dates_become_utc_iso() -> None:
    order = to_order(RAW, "abc123", "Default Mapping Group")

    assert order.order_key == "BC-abc123-218" and order.import_id == "BC-218"
    assert order.total_inc_tax == Decimal("69.8400")
    assert order.placed_at == "2019-03-05T21:40:11.000Z"
    assert order.customer.external_id == 11 and order.customer.email == "janedoe@example.com"
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("ABS", 2, Decimal("30.0000")),
        ("", 1, Decimal("2.6793")),
    ]
    assert order.lines[0].ship_to_external_id == 119 and order.ship_to[0].external_id == 119


def test_unreadable_data_names_the_field() -> None:
    broken = copy.deepcopy(RAW)
    broken["products"][1]["total_inc_tax"] = "lots"
    with pytest.raises(OrderDataError, match="order 218 product 195: total_inc_tax is not an amount"):
        to_order(broken, "abc123", "G")
    without_products = {**RAW, "products": {"url": "...", "resource": "/orders/218/products"}}
    with pytest.raises(OrderDataError, match="products were not loaded"):
        to_order(without_products, "abc123", "G")
