"""Order sources: where orders come from (BigCommerce, an EDI network, a marketplace, an operator), each with its code."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orderflow.models.order import DEFAULT_MAPPING_GROUP, IMPORT_SOURCE_CODE, SOURCE_BIGCOMMERCE
from orderflow.models.provider import NOT_PROVIDER_SECRETS, SECRET_REF_PATTERN

# Letters and digits only: the code starts the order key and Import ID (``<code>-<external id>``), so a
# dash in it would make the two parts ambiguous.
SOURCE_CODE_PATTERN = r"^[A-Z][A-Z0-9]{0,11}$"
PROVIDER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# The sources every deployment has: BigCommerce's orders (Import ID BC-<order id>) and the orders an
# operator enters (POST /orders with the admin token, clones).
MANUAL_SOURCE_CODE = "MANUAL"
SOURCE_MANUAL = "manual"
BUILT_IN_CODES = frozenset({IMPORT_SOURCE_CODE, MANUAL_SOURCE_CODE})
StoreKind = Literal["bigcommerce"]


class OrderSourceSettings(BaseModel):
    """What an operator sets for an order source (``PUT /sources/{code}``); its code is the path's."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=80, description="e.g. Orderful")]
    provider: Annotated[
        str | None,
        Field(
            pattern=PROVIDER_PATTERN,
            description="what filter policies call it (`provider equals orderful`); default: the name in "
            "lower case, spaces as dashes",
        ),
    ] = None
    mapping_group: Annotated[
        str,
        Field(min_length=1, max_length=200, description="the mapping group its orders are mapped with"),
    ] = DEFAULT_MAPPING_GROUP
    secret_ref: Annotated[
        str | None,
        Field(
            pattern=SECRET_REF_PATTERN,
            description="where the X-Source-Secret value a machine sender posts with is kept, never the value: "
            "the name of an environment variable ending in _SECRET (set NAME, or NAME_SECRET_ARN, on the admin "
            "API function) or a Secrets Manager secret ARN; without one, only operators post its orders",
        ),
    ] = None
    description: Annotated[str, Field(max_length=500)] = ""

    @field_validator("secret_ref")
    @classmethod
    def _not_the_stores(cls, value: str | None) -> str | None:
        if value in NOT_PROVIDER_SECRETS:
            raise ValueError(f"{value} is the store's secret, not a source's")
        return value


class OrderSource(OrderSourceSettings):
    """An order source as it is stored and shown: its settings, code, provider and whether a store stands
    behind it (then its statuses are pushed back there)."""

    model_config = ConfigDict(defer_build=True, extra="ignore", str_strip_whitespace=True)

    code: Annotated[str, Field(pattern=SOURCE_CODE_PATTERN)]
    provider: str = ""
    store: StoreKind | None = None
    built_in: bool = False
    created_at: str = ""
    updated_at: str = ""

    @property
    def key_prefix(self) -> str:
        return f"{self.code}-"


def provider_name(name: str) -> str:
    """The provider a source's name stands for when none is given: ``Orderful EDI`` → ``orderful-edi``."""
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:64] or "source"


BIGCOMMERCE_SOURCE = OrderSource(
    code=IMPORT_SOURCE_CODE,
    name="BigCommerce",
    provider=SOURCE_BIGCOMMERCE,
    store="bigcommerce",
    built_in=True,
    description="the store's orders, brought by its webhooks and the sync (Import ID BC-<order id>)",
)
MANUAL_SOURCE = OrderSource(
    code=MANUAL_SOURCE_CODE,
    name="Manual",
    provider=SOURCE_MANUAL,
    built_in=True,
    description="orders an operator enters (POST /orders with the admin credentials) and clones",
)
