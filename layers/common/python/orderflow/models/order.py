"""The canonical order and its companions (lines, customer, step results, mappings, settings)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

DEFAULT_MAPPING_GROUP = "Default Mapping Group"
SOURCE_BIGCOMMERCE = "bigcommerce"
IMPORT_SOURCE_CODE = "BC"


class OrderStatus(StrEnum):
    """Internal order status; the status mapping in settings says what BigCommerce sees."""

    # Accepted (a webhook, sync, reconciliation) but not imported yet: the store was not asked, or did
    # not answer; import_failed: the store refused it for good (401/403/404) until an operator acts.
    PENDING_IMPORT = "pending_import"
    IMPORT_FAILED = "import_failed"
    NEW = "new"
    VALIDATED = "validated"
    ON_HOLD = "on_hold"
    ERROR = "error"
    SOURCED = "sourced"
    IN_FULFILLMENT = "in_fulfillment"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    # Money went back for part of the order (a return's refund, or one made in the store), or for all of it.
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRYING = "retrying"  # waiting for a store or provider that did not answer; tried again later


class MappingKind(StrEnum):
    ACCOUNTS = "accounts"
    PRICE_LISTS = "price-lists"
    UNITS = "units"
    PRODUCTS = "products"


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", populate_by_name=True)


class Address(_Model):
    external_id: int | None = None
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    street_1: str = ""
    street_2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    country_iso2: str = ""
    phone: str = ""
    email: str = ""
    shipping_method: str = ""


class Customer(_Model):
    """The order's customer as BigCommerce gave it, and the customer record it was matched to."""

    external_id: int = 0
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    record_id: str | None = None  # our customer record (see CustomerRecord)
    record_created: bool = False  # this order's import created that record

    @property
    def is_guest(self) -> bool:
        return self.external_id == 0


class Contact(_Model):
    """A person at a customer (a buyer, accounts payable): their e-mail also finds the customer on import."""

    name: str = ""
    email: str = ""
    phone: str = ""
    role: str = ""


class CustomerRecord(_Model):
    """One customer of a store, keyed by email; created the first time an order brings a new one, or by
    an operator (``POST /customers``).

    ``external_id`` is the BigCommerce customer id (0 for a guest who never registered).
    """

    id: str
    store_hash: str
    email: str
    external_id: int = 0
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    contacts: list[Contact] = Field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    created_by_order: str = ""


_EMAIL_MAX = 254


def _email_like(value: str) -> str:
    if value and ("@" not in value or any(c.isspace() for c in value)):
        raise ValueError(f"{value[:60]!r} is not an e-mail address")
    return value.lower()


class ContactInput(BaseModel):
    """A contact as an operator gives it."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=_EMAIL_MAX)] = ""
    phone: Annotated[str, Field(max_length=50)] = ""
    role: Annotated[str, Field(max_length=100, description="e.g. buyer, accounts payable")] = ""

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str) -> str:
        return _email_like(value)


class CustomerChange(BaseModel):
    """What an operator changes of a customer (``PATCH /customers/{id}``): the fields given; ``contacts``
    replaces the list. The e-mail is the customer's key and stays."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    first_name: Annotated[str, Field(max_length=200)] | None = None
    last_name: Annotated[str, Field(max_length=200)] | None = None
    company: Annotated[str, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    contacts: Annotated[list[ContactInput], Field(max_length=50)] | None = None


class CustomerInput(CustomerChange):
    """A customer an operator creates (``POST /customers``), before a phone order, say."""

    email: Annotated[str, Field(min_length=3, max_length=_EMAIL_MAX)]

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str) -> str:
        return _email_like(value)


class MappingIssue(_Model):
    """A value the mappings could not resolve; every one is reported, not only the first."""

    kind: MappingKind
    field: str
    value: str
    message: str


class OrderLine(_Model):
    line_number: int
    external_id: int
    external_product_id: int = 0
    external_variant_id: int | None = None
    sku: str = ""
    name: str = ""
    quantity: int
    external_unit: str = "each"
    unit_price: Decimal = Decimal("0")
    total_ex_tax: Decimal = Decimal("0")
    total_inc_tax: Decimal = Decimal("0")
    ship_to_external_id: int | None = None
    quantity_shipped: int = 0
    # What sourcing could not place yet; a later send_to_dom sources it (fulfillment/sourcing.py).
    quantity_backordered: int = 0
    # Asked back by returns (never more than shipped), and refunded in the store (returns or by hand).
    quantity_returned: int = 0
    quantity_refunded: int = 0
    product: str | None = None
    unit: str | None = None
    mapping_issues: list[MappingIssue] = Field(default_factory=list)


class StatusChange(_Model):
    status: OrderStatus
    at: str
    reason: str = ""


class StatusPush(_Model):
    """A BigCommerce status we set, recorded before the PUT so that the webhooks it causes are known
    as ours (matched on previous → new status) and never come back as work."""

    seq: int  # the order's status change it pushes (its index in history, 1-based)
    from_status_id: int | None = None
    to_status_id: int
    at: str
    reason: str = ""
    echoed: bool = False  # its statusUpdated webhook has arrived and was recognised


class Order(_Model):
    """The canonical order. Stored as a header item plus one item per line (see store/orders.py)."""

    order_key: str
    source: str = SOURCE_BIGCOMMERCE  # the provider filter policies name (bigcommerce, orderful, manual)
    source_code: str = IMPORT_SOURCE_CODE  # the order source's code (BC, MANUAL, ORDERFUL): /sources
    store_hash: str
    external_id: int  # BigCommerce's order id; 0 for an order from another source (see source_order_id)
    source_order_id: str = ""  # the order's id at a source other than BigCommerce (POST /orders)
    import_id: str
    is_manual: bool = False  # entered by an operator (POST /orders with the admin credentials, a clone)
    cloned_from: str | None = None  # the order key a clone was made from
    # What a POST /orders carried, hashed: the same order posted again is recognised, another one refused.
    intake_fingerprint: str = ""
    revision: int = 1
    status: OrderStatus = OrderStatus.NEW
    external_status_id: int | None = None
    external_status: str = ""
    currency: str = ""
    subtotal_ex_tax: Decimal = Decimal("0")
    total_tax: Decimal = Decimal("0")
    total_inc_tax: Decimal = Decimal("0")
    payment_method: str = ""
    channel_id: int | None = None
    order_source: str = ""
    customer: Customer = Field(default_factory=Customer)
    billing_address: Address = Field(default_factory=Address)
    ship_to: list[Address] = Field(default_factory=list)
    mapping_group: str = DEFAULT_MAPPING_GROUP
    account: str | None = None
    price_list: str | None = None
    mapping_issues: list[MappingIssue] = Field(default_factory=list)
    placed_at: str | None = None
    imported_at: str = ""
    updated_at: str = ""
    received_at: str = ""  # when we accepted it (a webhook, sync, reconciliation), before its import
    import_attempts: int = 0  # store reads that did not answer, while pending_import
    import_error: str = ""  # the last one's cause, or why the store refused it (import_failed)
    next_attempt_at: str | None = None
    history: list[StatusChange] = Field(default_factory=list)
    pushes: list[StatusPush] = Field(default_factory=list)  # the latest few, oldest first
    last_push_seq: int = 0
    push_pending_seq: int | None = None  # a push the store did not take yet (see store/orders.py)
    import_as: str = ""
    lines: list[OrderLine] = Field(default_factory=list)
    record_version: int = 0  # bumped on every stored change; guards concurrent updates

    @property
    def is_imported(self) -> bool:
        """False while only accepted (pending_import) or refused by the store (import_failed)."""
        return self.status not in (OrderStatus.PENDING_IMPORT, OrderStatus.IMPORT_FAILED)

    @property
    def all_mapping_issues(self) -> list[MappingIssue]:
        return [*self.mapping_issues, *(issue for line in self.lines for issue in line.mapping_issues)]


def order_key_for(store_hash: str, external_id: int) -> str:
    """The order key names the store and the BigCommerce order id, e.g. ``BC-abc123-250``."""
    return f"{IMPORT_SOURCE_CODE}-{store_hash}-{external_id}"


def import_id_for(external_id: int) -> str:
    return f"{IMPORT_SOURCE_CODE}-{external_id}"


def source_order_key(source_code: str, source_order_id: str) -> str:
    """The key (and Import ID) of an order from another source: ``ORDERFUL-PO4500012345``."""
    return f"{source_code}-{source_order_id}"


class FlowRef(_Model):
    """Which published flow version an execution runs; carried in every step request."""

    id: str
    version: int
    name: str = ""


class StepResult(_Model):
    order_key: str
    flow_id: str
    flow_version: int
    flow_name: str = ""
    step: str
    action: str
    status: StepStatus
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    finished_at: str
    attempts: int = 1
    execution: str | None = None
    return_id: str | None = None  # a return flow's step: the return it was about


_NAME_LIMIT = 200


class MappingInput(_Model):
    """What a merchant sends to create or replace a mapping."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    mapping_group: Annotated[str, Field(min_length=1, max_length=_NAME_LIMIT)] = DEFAULT_MAPPING_GROUP
    account: Annotated[str, Field(max_length=_NAME_LIMIT)] | None = None
    value: Annotated[str, Field(min_length=1, max_length=_NAME_LIMIT)]
    external_field_name: Annotated[str, Field(min_length=1, max_length=_NAME_LIMIT)]
    external_field_value: Annotated[str, Field(min_length=1, max_length=_NAME_LIMIT)]

    @field_validator("account")
    @classmethod
    def _blank_account_is_none(cls, value: str | None) -> str | None:
        return value or None


class Mapping(MappingInput):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    id: str
    kind: MappingKind
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class MappingKey:
    """What one mapping is found by: kind, group, external field name and value, and account."""

    kind: MappingKind
    group: str
    field_name: str
    field_value: str
    account: str | None = None


# The field each kind's internal value is called by in the API (`"product": "Accu Scale"`).
MAPPING_VALUE_FIELD: dict[MappingKind, str] = {
    MappingKind.ACCOUNTS: "account",
    MappingKind.PRICE_LISTS: "price_list",
    MappingKind.UNITS: "unit",
    MappingKind.PRODUCTS: "product",
}

BigCommerceStatusId = Annotated[int, Field(ge=0, le=14)]
# The accounting document an order is handed over as (send_to_accounting): Salesorder's "Import Cart
# Orders as" Pending Cash Sales, Pending Sales Orders or Pending Sales Invoices.
ImportAs = Literal["cash_sale", "sales_order", "sales_invoice"]
# Whether new orders are imported by themselves (webhooks, the sweep); stopped keeps them pending_import.
AutoSync = Literal["running", "stopped"]
IMPORT_AS_TYPES: tuple[str, ...] = get_args(ImportAs)
DEFAULT_IMPORT_AS: ImportAs = "cash_sale"
# The names stored settings and imported orders carried before the hand-off existed.
_LEGACY_IMPORT_AS = {
    "pending_cash_sale": "cash_sale",
    "pending_sales_order": "sales_order",
    "pending_sales_invoice": "sales_invoice",
}
AccountName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=_NAME_LIMIT)]
# An item's accounting accounts, and the settings' defaults for an item that does not name its own.
ITEM_ACCOUNTS = ("income_account", "cogs_account", "asset_account")
DEFAULT_ITEM_ACCOUNTS = {
    "income_account": "Sales",
    "cogs_account": "Cost of Goods Sold",
    "asset_account": "Stock Asset",
}


def import_as_type(value: Any) -> ImportAs | None:
    """An import-as value, an older name included, as a document type; None for anything else."""
    named = _LEGACY_IMPORT_AS.get(value, value) if isinstance(value, str) else None
    return cast(ImportAs, named) if named in IMPORT_AS_TYPES else None


def default_status_mapping() -> dict[OrderStatus, int | None]:
    # None = "not assigned": nothing is pushed for that internal status.
    return {
        OrderStatus.PENDING_IMPORT: None,
        OrderStatus.IMPORT_FAILED: None,
        OrderStatus.NEW: None,
        OrderStatus.VALIDATED: 9,  # Awaiting Shipment: accepted and released onwards
        OrderStatus.ON_HOLD: 12,
        OrderStatus.ERROR: 12,
        OrderStatus.SOURCED: None,
        OrderStatus.IN_FULFILLMENT: None,
        OrderStatus.PARTIALLY_SHIPPED: 3,
        OrderStatus.SHIPPED: 2,
        OrderStatus.INVOICED: None,
        OrderStatus.COMPLETED: 10,
        OrderStatus.CANCELLED: 5,
        OrderStatus.PARTIALLY_REFUNDED: 14,
        OrderStatus.REFUNDED: 4,
    }


class BigCommerceSettings(_Model):
    """The connector's settings (``GET|PUT /settings/bigcommerce``)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    mapping_group: Annotated[str, Field(min_length=1, max_length=_NAME_LIMIT)] = DEFAULT_MAPPING_GROUP
    new_order_status_id: BigCommerceStatusId = 11
    downloaded_status_id: BigCommerceStatusId | None = None
    import_error_status_id: BigCommerceStatusId = 12
    status_mapping: dict[OrderStatus, BigCommerceStatusId | None] = Field(
        default_factory=default_status_mapping
    )
    push_enabled: bool = True
    import_as: ImportAs = DEFAULT_IMPORT_AS
    auto_sync: AutoSync = "running"
    # Accounts for items that do not name their own (Item.income_account, …)
    default_income_account: AccountName = DEFAULT_ITEM_ACCOUNTS["income_account"]
    default_cogs_account: AccountName = DEFAULT_ITEM_ACCOUNTS["cogs_account"]
    default_asset_account: AccountName = DEFAULT_ITEM_ACCOUNTS["asset_account"]

    @field_validator("import_as", mode="before")
    @classmethod
    def _older_import_as_name(cls, value: Any) -> Any:
        # Settings saved before the hand-off say pending_sales_order & co.: they keep meaning the same.
        return _LEGACY_IMPORT_AS.get(value, value) if isinstance(value, str) else value

    def document_type(self, order: Order) -> ImportAs:
        """What an order is handed over as: the import-as recorded when it was imported, else these
        settings' (an order imported before import-as was recorded)."""
        return import_as_type(order.import_as) or self.import_as

    def item_accounts(self, item: Item | None) -> dict[str, str]:
        """The item's accounts, each one it does not name taken from these defaults."""
        defaults = {name: getattr(self, f"default_{name}") for name in ITEM_ACCOUNTS}
        own = {name: getattr(item, name) for name in ITEM_ACCOUNTS} if item is not None else {}
        return {name: own.get(name) or defaults[name] for name in ITEM_ACCOUNTS}

    @field_validator("status_mapping", mode="before")
    @classmethod
    def _not_assigned_is_none(cls, value: Any) -> Any:
        # Merchants read "not assigned" in the settings screen; accept it as well as null.
        if isinstance(value, dict):
            return {k: None if _is_not_assigned(v) else v for k, v in value.items()}
        return value

    @field_validator("status_mapping")
    @classmethod
    def _complete_mapping(cls, value: dict[OrderStatus, int | None]) -> dict[OrderStatus, int | None]:
        # A partial mapping in a PUT keeps the defaults for the statuses it does not name.
        return {**default_status_mapping(), **value}


DEFAULT_UNIT = "ea"
DEFAULT_UNIT_NAME = "Each"
# Bookkeeping fields: a re-import that changes none of the others writes nothing.
_STAMPS = {"created_at", "updated_at"}


class Item(_Model):
    """A catalog item imported from the store, one per SKU (``POST /providers/bigcommerce/items/import``)."""

    sku: str
    name: str
    description: str = ""
    price: Decimal
    unit: str = DEFAULT_UNIT
    unit_name: str = DEFAULT_UNIT_NAME
    source: str = SOURCE_BIGCOMMERCE
    external_product_id: int | None = None
    external_variant_id: int | None = None
    # Where the accounting document books the item; None: the settings' default (default_income_account, …)
    income_account: str | None = None
    cogs_account: str | None = None
    asset_account: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def same_content(self, other: Item) -> bool:
        return self.model_dump(exclude=_STAMPS) == other.model_dump(exclude=_STAMPS)


class ItemAccounts(_Model):
    """An item's accounts to change (``PATCH /items/{sku}``): those left out keep their value, null
    goes back to the settings' default."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    income_account: AccountName | None = None
    cogs_account: AccountName | None = None
    asset_account: AccountName | None = None


def _is_not_assigned(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().replace("_", " ") in {"not assigned", ""}


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")
