"""The canonical order a source or an operator posts (``POST /orders``), validated field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from orderflow.models.source import SOURCE_CODE_PATTERN

# The id the source gives the order: it ends the order key and the Import ID, and names the order in
# a path (/orders/{order_key}), so no slash, space or other separator.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_LINES = 2000
_TEXT = 200
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=_TEXT)]


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _null_text_is_empty(cls, data: Any) -> Any:
        # Senders write null for a field they do not have; for text that means empty.
        if isinstance(data, dict):
            texts = {name for name, f in cls.model_fields.items() if f.annotation is str}
            return {k: "" if v is None and k in texts else v for k, v in data.items()}
        return data


class SubmittedAddress(_Strict):
    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    street_1: Text = ""
    street_2: Text = ""
    city: Text = ""
    state: Text = ""
    zip: Annotated[str, Field(max_length=32)] = ""
    country: Text = ""
    country_iso2: Annotated[str, Field(pattern=r"^([A-Za-z]{2})?$")] = ""
    phone: Annotated[str, Field(max_length=50)] = ""
    email: Annotated[str, Field(max_length=254)] = ""
    shipping_method: Text = ""

    @field_validator("country_iso2")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class SubmittedCustomer(_Strict):
    """Who ordered: an existing customer record (``record_id``), or the details to match or create one
    (by e-mail, a contact's e-mail included)."""

    record_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    email: Annotated[str, Field(max_length=254)] = ""
    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    phone: Annotated[str, Field(max_length=50)] = ""

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if value and ("@" not in value or any(c.isspace() for c in value)):
            raise ValueError(f"{value[:60]!r} is not an e-mail address")
        return value


class SubmittedLine(_Strict):
    """A line names the item by the source's SKU (mapped through the products mappings) or by our own
    product (then no product mapping is needed)."""

    sku: Annotated[str | None, Field(min_length=1, max_length=_TEXT)] = None
    product: Annotated[str | None, Field(min_length=1, max_length=_TEXT)] = None
    name: Text = ""
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    unit: Annotated[str, Field(min_length=1, max_length=50)] = "each"
    unit_price: Money

    @model_validator(mode="after")
    def _names_an_item(self) -> SubmittedLine:
        if self.sku is None and self.product is None:
            raise ValueError("give the line's sku (or our product)")
        return self


class OrderSubmission(_Strict):
    """``POST /orders``: one order from a source other than the store, or entered by an operator."""

    source: Annotated[
        str | None,
        Field(
            pattern=SOURCE_CODE_PATTERN,
            description="the source's code (GET /sources); a machine sender may leave it out (its secret says "
            "which source it is); an operator's default is MANUAL",
        ),
    ] = None
    external_id: Annotated[
        str, Field(pattern=EXTERNAL_ID_PATTERN, description="the order's id at the source (PO number)")
    ]
    is_manual: Annotated[
        StrictBool,
        Field(description="entered by an operator; only operators may set it (a source's is false)"),
    ] = False
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. USD")]
    customer: SubmittedCustomer
    billing_address: SubmittedAddress = Field(default_factory=SubmittedAddress)
    ship_to: Annotated[list[SubmittedAddress], Field(max_length=20)] = Field(default_factory=list)
    lines: Annotated[list[SubmittedLine], Field(min_length=1, max_length=MAX_LINES)]
    subtotal_ex_tax: Money | None = None
    total_tax: Money | None = None
    total_inc_tax: Money | None = None
    payment_method: Annotated[str, Field(max_length=100)] = ""
    placed_at: datetime | None = None

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("placed_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):  # year 1 at +05:00 is before the calendar starts
            raise ValueError("out of the range of dates") from None

    @model_validator(mode="after")
    def _a_customer(self) -> OrderSubmission:
        buyer = self.customer
        if buyer.record_id is None and not buyer.email and not self.billing_address.email:
            raise ValueError("customer: give the customer's record_id or email")
        return self
