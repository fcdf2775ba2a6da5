"""The accounting document an order is handed over as (``send_to_accounting``): its shape and how an order
becomes one. Pure; README "Accounting hand-off" shows its JSON schema and maps it to Dynamics 365 F&O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from orderflow.errors import InvalidInput
from orderflow.models.order import BigCommerceSettings, ImportAs, Item, Order, OrderLine

# What each document type is called where a merchant reads it (step results, the dry run).
DOCUMENT_LABELS: dict[str, str] = {
    "cash_sale": "cash sale",
    "sales_order": "sales order",
    "sales_invoice": "sales invoice",
}

Money = Annotated[Decimal, Field(description="an amount in the document's currency, as a decimal string")]


class _Document(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class DeliveryAddress(_Document):
    """Where the order ships (its first shipping address)."""

    name: str = Field(description="first and last name, and the company when there is one")
    street: str
    city: str
    state: str
    zip: str
    country: str = Field(description="ISO 3166-1 alpha-2 code when the store gave one, else the name")


class AccountingLine(_Document):
    line_number: int = Field(description="the order line's number, from 1")
    sku: str = Field(description="the store's SKU")
    item: str = Field(description="the item: the product the SKU maps to (products mapping)")
    description: str = Field(description="the line's name in the store")
    unit: str = Field(description="the unit the line's unit maps to (units mapping)")
    quantity: int
    price: Money = Field(
        description="unit price ex tax that the store charged; BigCommerce applies the customer "
        "group's price list at checkout, so this is the price list price when one applies"
    )
    line_amount: Money = Field(description="the line's amount ex tax, after the store's discounts")
    tax_amount: Money
    income_account: str = Field(description="the item's income account, else the settings' default")
    cogs_account: str = Field(description="the item's cost of goods sold account, else the default")
    asset_account: str = Field(description="the item's stock asset account, else the default")


class AccountingDocument(_Document):
    """An order as a cash sale, sales order or sales invoice for the accounting system."""

    document_type: ImportAs = Field(description="the settings' import-as when the order was imported")
    import_id: str = Field(
        description="the external reference: the source's code and its order id, e.g. BC-250"
    )
    order_key: str = Field(description="this system's order key")
    revision: int = Field(description="the order's revision: a re-imported order is a new document")
    customer_account: str = Field(description="the customer account the order maps to")
    customer_name: str
    customer_email: str
    currency: str = Field(description="ISO 4217 code")
    price_list: str | None = Field(description="the price list the order maps to, if any")
    order_date: str | None = Field(description="when the order was placed (ISO 8601, UTC)")
    payment_method: str
    delivery_address: DeliveryAddress | None
    lines: list[AccountingLine]
    subtotal_ex_tax: Money
    total_tax: Money
    total_inc_tax: Money


def document_key(order: Order, document_type: str) -> str:
    """The document's Idempotency-Key: one document per order revision and type, however often sent."""
    return f"{order.order_key}-r{order.revision}-{document_type}"


def skus_of(order: Order) -> list[str]:
    """The SKUs whose items the document needs (for their accounts)."""
    return list(dict.fromkeys(line.sku for line in order.lines if line.sku))


def build_document(
    order: Order, settings: BigCommerceSettings, items: Mapping[str, Item]
) -> AccountingDocument:
    """The order's document; every gap the accounting system would refuse (no customer account, a
    line without its item or unit) is named at once, with where it is."""
    problems: list[str] = []
    if not order.account:
        problems.append(
            "customer_account: the order has no customer account (add an accounts mapping, or a "
            "billing email to match a customer on), then resubmit"
        )
    for index, line in enumerate(order.lines):
        if not line.product:
            problems.append(f"lines[{index}].item: no product mapping for sku '{line.sku}'")
        if not line.unit:
            problems.append(f"lines[{index}].unit: no unit mapping for unit '{line.external_unit}'")
    if not order.lines:
        problems.append("lines: the order has no lines")
    if problems:
        raise InvalidInput.listing(problems)
    lines = [_line(line, settings.item_accounts(items.get(line.sku))) for line in order.lines]
    amounts = sum((line.line_amount for line in lines), Decimal(0))
    return AccountingDocument(
        document_type=settings.document_type(order),
        import_id=order.import_id,
        order_key=order.order_key,
        revision=order.revision,
        customer_account=str(order.account),
        customer_name=_name(order.customer.first_name, order.customer.last_name, order.customer.company),
        customer_email=order.customer.email,
        currency=order.currency,
        price_list=order.price_list,
        order_date=order.placed_at,
        payment_method=order.payment_method,
        delivery_address=_delivery(order),
        lines=lines,
        subtotal_ex_tax=order.subtotal_ex_tax or amounts,
        total_tax=order.total_tax,
        total_inc_tax=order.total_inc_tax,
    )


def _line(line: OrderLine, accounts: dict[str, str]) -> AccountingLine:
    return AccountingLine(
        line_number=line.line_number,
        sku=line.sku,
        item=str(line.product),
        description=line.name,
        unit=str(line.unit),
        quantity=line.quantity,
        price=line.unit_price,
        line_amount=line.total_ex_tax,
        tax_amount=line.total_inc_tax - line.total_ex_tax,
        **accounts,
    )


def _delivery(order: Order) -> DeliveryAddress | None:
    if not order.ship_to:
        return None
    where = order.ship_to[0]
    return DeliveryAddress(
        name=_name(where.first_name, where.last_name, where.company),
        street=", ".join(part for part in (where.street_1, where.street_2) if part),
        city=where.city,
        state=where.state,
        zip=where.zip,
        country=where.country_iso2 or where.country,
    )


def _name(first: str, last: str, company: str) -> str:
    person = " ".join(part for part in (first, last) if part)
    return f"{person} ({company})" if person and company else person or company


def json_schema() -> dict[str, Any]:
    """The document's JSON schema, as it is sent (amounts as decimal strings)."""
    return AccountingDocument.model_json_schema(mode="serialization")
