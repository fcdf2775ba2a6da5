"""Policies as data: rules (field, operator, value) combined in all/any groups, as filter or execution policies.

A policy is validated as a whole; errors name their path, e.g. ``rules[1].rules[0].value: ...``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from orderflow.models.order import Order, OrderLine, slug
from orderflow.models.returns import Return
from orderflow.problems import Problems, loc_path

MAX_NAME_LENGTH = 80

Operator = Literal[
    "equals",
    "not_equals",
    "greater_than",
    "greater_than_or_equal",
    "less_than",
    "less_than_or_equal",
    "contains_data",
    "does_not_contain_data",
]
OPERATORS: tuple[str, ...] = get_args(Operator)
NO_VALUE_OPERATORS = frozenset({"contains_data", "does_not_contain_data"})
ORDERING_OPERATORS = frozenset({"greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal"})
Match = Literal["all", "any"]
AppliesTo = Literal["order", "lines", "return"]
Value = str | int | float | bool | None

# How each operator reads in descriptions and messages: symbols where merchants expect them.
OPERATOR_LABELS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "not equals",
    "greater_than": ">",
    "greater_than_or_equal": ">=",
    "less_than": "<",
    "less_than_or_equal": "<=",
    "contains_data": "contains data",
    "does_not_contain_data": "does not contain data",
}
_SYMBOLS = {"=": "equals", "==": "equals", "!=": "not_equals", ">": "greater_than",
            ">=": "greater_than_or_equal", "<": "less_than", "<=": "less_than_or_equal"}  # fmt: skip
# Keys are spelled with single spaces: input is lower-cased and underscores become spaces first.
_OPERATOR_ALIASES: dict[str, str] = {
    **_SYMBOLS,
    **{op.replace("_", " "): op for op in OPERATORS},
}


class PolicyError(Problems):
    """A policy that cannot be used; ``problems`` lists every mistake with its path."""


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True, frozen=True)


def _is_number(value: Value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return Decimal(str(value)).is_finite()
    if isinstance(value, str):
        try:
            return Decimal(value).is_finite()
        except InvalidOperation:
            return False
    return False


def _show(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


class Rule(_Strict):
    field: Annotated[str, Field(min_length=1, max_length=200)]
    operator: Operator
    # validate_default: a missing value must still be checked against the operator.
    value: Value = Field(default=None, validate_default=True)

    @field_validator("field")
    @classmethod
    def _lower_field(cls, value: str) -> str:
        # Every known field and order path is lower case, so this only forgives capitals.
        return value.lower()

    @field_validator("operator", mode="before")
    @classmethod
    def _normalise_operator(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = " ".join(value.replace("_", " ").lower().split())
            if key in _OPERATOR_ALIASES:
                return _OPERATOR_ALIASES[key]
        known = ", ".join(OPERATOR_LABELS[op] for op in OPERATORS)
        raise ValueError(f"unknown operator {value!r} (known: {known}; or =, ==, !=)")

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: Value, info: ValidationInfo) -> Value:
        operator = info.data.get("operator")
        if operator is None:  # the operator itself is wrong; that error is enough
            return value
        label = OPERATOR_LABELS[operator]
        if operator in NO_VALUE_OPERATORS:
            if value is not None:
                raise ValueError(
                    f"'{label}' takes no value (got {value!r}): it checks the field is filled in"
                )
        elif value is None:
            raise ValueError(f"'{label}' needs a value to compare with")
        elif operator in ORDERING_OPERATORS and not _is_number(value):
            raise ValueError(f"'{label}' compares numbers, and {value!r} is not a number")
        return value

    def describe(self) -> str:
        label = OPERATOR_LABELS[self.operator]
        if self.operator in NO_VALUE_OPERATORS:
            return f"{self.field} {label}"
        return f"{self.field} {label} {_show(self.value)}"


def _item_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "group" if "rules" in value else "rule"
    if isinstance(value, RuleGroup):
        return "group"
    if isinstance(value, Rule):
        return "rule"
    return None


RuleItem = Annotated[
    Annotated[Rule, Tag("rule")] | Annotated["RuleGroup", Tag("group")],
    Discriminator(
        _item_kind,
        custom_error_type="unknown_rule",
        custom_error_message="a rule needs field, operator (and value), or a group needs match and rules",
    ),
]


def describe_items(items: list[Rule | RuleGroup], match: Match) -> str:
    """``a and b`` / ``a or b``; nested groups in parentheses."""
    parts = [item.describe() if isinstance(item, Rule) else f"({item.describe()})" for item in items]
    return f" {'and' if match == 'all' else 'or'} ".join(parts)


class RuleGroup(_Strict):
    match: Match = "all"
    rules: list[RuleItem] = Field(min_length=1)

    def describe(self) -> str:
        return describe_items(list(self.rules), self.match)


class Policy(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    kind: Literal["filter", "execution"]
    description: str = ""
    applies_to: AppliesTo = "order"
    # Declared after kind and applies_to so their validators can read them from info.data.
    criticality: Literal["information", "critical"] | None = Field(default=None, validate_default=True)
    match: Match = "all"
    rules: list[RuleItem] = Field(min_length=1)
    status: Literal["draft", "published"] = "draft"

    @property
    def id(self) -> str:
        return slug(self.name)

    @field_validator("criticality")
    @classmethod
    def _criticality_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "execution" and value is None:
            raise ValueError(
                "an execution policy needs a criticality: 'information' (a failure is recorded and the "
                "step continues) or 'critical' (a failure fails the step)"
            )
        if kind == "filter" and value is not None:
            raise ValueError(
                "a filter policy has no criticality (it only decides whether a step applies); remove it"
            )
        return value

    @field_validator("rules")
    @classmethod
    def _known_fields(cls, value: list[Rule | RuleGroup], info: ValidationInfo) -> list[Rule | RuleGroup]:
        # Which fields exist depends on applies_to, which only the policy knows.
        applies_to = info.data.get("applies_to")
        if applies_to is None:  # applies_to itself is wrong; that error is enough
            return value
        problems: list[str] = []

        def walk(items: list[Rule | RuleGroup], path: str) -> None:
            for index, item in enumerate(items):
                here = f"{path}[{index}]"
                if isinstance(item, RuleGroup):
                    walk(list(item.rules), f"{here}.rules")
                elif (problem := field_problem(item.field, applies_to)) is not None:
                    problems.append(f"{here}.field: {problem}")

        walk(value, "rules")
        if problems:
            # One pydantic error can carry only one loc: the paths travel in ctx for parse_policy.
            raise PydanticCustomError(
                "unknown_field", "{summary}", {"summary": "; ".join(problems), "problems": problems}
            )
        return value

    def describe(self) -> str:
        """One line, e.g. ``order total_inc_tax > 100 and channel equals 1``."""
        subject = {"order": "order", "lines": "line", "return": "return"}[self.applies_to]
        return f"{subject} {describe_items(list(self.rules), self.match)}"


# The models refer to each other (a branch holds steps): with defer_build, pydantic resolves the
# references when a model is first used, so a function that never parses one never builds it.


def parse_policy(data: Any) -> Policy:
    """Validate a policy and return it; raise PolicyError listing the problems with their paths.

    Fields are checked against ``applies_to`` once the rules are otherwise well formed.
    """
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors():
            if err["type"] == "unknown_field":
                problems.extend(err["ctx"]["problems"])
                continue
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "too_short" and err["loc"] and err["loc"][-1] == "rules":
                message = "needs at least one rule"
            path = loc_path(err["loc"], {"rule", "group"})
            problems.append(f"{path}: {message}" if path else message)
        raise PolicyError(problems) from None


Document = dict[str, Any]


@dataclass(frozen=True)
class FieldSpec:
    """Where a friendly field's value comes from: a path, paths to try in turn, or a function."""

    source: str | tuple[str, ...] | Callable[[Document], Any]
    meaning: str


def _line_count(document: Document) -> Any:
    lines = document.get("lines")
    return len(lines) if isinstance(lines, list) else None


def _is_guest(document: Document) -> Any:
    customer = document.get("customer")
    if not isinstance(customer, dict) or customer.get("external_id") is None:
        return None
    return customer["external_id"] == 0


# The friendly names merchants use in an order policy. Any path into the order's JSON form works
# too (``ship_to[0].city``, ``billing_address.country_iso2``, ``total_inc_tax``).
ORDER_FIELDS: dict[str, FieldSpec] = {
    "provider": FieldSpec("source", "where the order came from, e.g. bigcommerce, orderful, manual"),
    "channel": FieldSpec("channel_id", "the BigCommerce channel id, e.g. 1"),
    "order_source": FieldSpec("order_source", "BigCommerce's order source, e.g. www, manual, external"),
    "currency": FieldSpec("currency", "currency code, e.g. USD"),
    "total": FieldSpec("total_inc_tax", "order total including tax"),
    "subtotal": FieldSpec("subtotal_ex_tax", "subtotal excluding tax"),
    "tax": FieldSpec("total_tax", "total tax"),
    "country": FieldSpec(
        ("ship_to[0].country_iso2", "billing_address.country_iso2"),
        "two-letter country of the first ship-to address, else of the billing address",
    ),
    "state": FieldSpec(("ship_to[0].state", "billing_address.state"), "state of the first ship-to address, else billing"),
    "postal_code": FieldSpec(("ship_to[0].zip", "billing_address.zip"), "postal code of the first ship-to address, else billing"),
    "customer_email": FieldSpec("customer.email", "the customer's email"),
    "company": FieldSpec("customer.company", "the customer's company"),
    "payment_method": FieldSpec("payment_method", "payment method, e.g. Credit Card"),
    "account": FieldSpec("account", "the mapped account"),
    "price_list": FieldSpec("price_list", "the mapped price list"),
    "mapping_group": FieldSpec("mapping_group", "the mapping group the order was imported with"),
    "line_count": FieldSpec(_line_count, "number of order lines"),
    "status": FieldSpec("status", "internal order status, e.g. new, validated, on_hold"),
    "guest": FieldSpec(_is_guest, "true when the customer checked out as a guest (customer id 0)"),
    "source": FieldSpec("source_code", "the order source's code (GET /sources), e.g. BC, ORDERFUL, MANUAL"),
    "is_manual": FieldSpec("is_manual", "true for an order an operator entered (or cloned)"),
}  # fmt: skip

# The friendly names for a line policy; any path into the line's JSON form works too.
LINE_FIELDS: dict[str, FieldSpec] = {
    "sku": FieldSpec("sku", "the line's SKU"),
    "name": FieldSpec("name", "the product name on the line"),
    "quantity": FieldSpec("quantity", "quantity ordered"),
    "unit_price": FieldSpec("unit_price", "unit price"),
    "total": FieldSpec("total_inc_tax", "line total including tax"),
    "product": FieldSpec("product", "the mapped product"),
    "unit": FieldSpec("unit", "the mapped unit"),
    "external_unit": FieldSpec("external_unit", "the unit as BigCommerce sent it, e.g. each"),
    "quantity_shipped": FieldSpec("quantity_shipped", "quantity shipped so far"),
}

# The friendly names for a return policy (a return flow's steps and filters); any path into the
# return's JSON form works too (models/returns.py return_document).
RETURN_FIELDS: dict[str, FieldSpec] = {
    "reason": FieldSpec("reason", "the reason given for the return (its first line's), e.g. damaged"),
    "condition": FieldSpec("condition", "the condition the customer gave (its first line's), e.g. unopened"),
    "value": FieldSpec("value", "what the returned lines cost the customer, tax included"),
    "quantity": FieldSpec("quantity", "units asked back, all lines together"),
    "days_since_shipment": FieldSpec("days_since_shipment", "days from the order's last shipment to the request"),
    "resolution": FieldSpec("resolution", "refund, exchange or store_credit"),
    "origin": FieldSpec("origin", "merchant (POST /orders/{key}/returns) or store (refunded in the control panel)"),
    "status": FieldSpec("status", "the return's status, e.g. requested, received"),
    "line_count": FieldSpec(_line_count, "number of lines returned"),
}  # fmt: skip

FIELD_TABLES: dict[str, tuple[dict[str, FieldSpec], set[str], str]] = {
    "order": (ORDER_FIELDS, set(Order.model_fields), "ship_to[0].city or customer.email"),
    "lines": (LINE_FIELDS, set(OrderLine.model_fields), "total_ex_tax or mapping_issues[0].kind"),
    "return": (RETURN_FIELDS, {*Return.model_fields, "reasons"}, "lines[0].sku or note"),
}

_PATH_RE = re.compile(r"^[a-z_][a-z0-9_]*(\[\d+\])*(\.[a-z_][a-z0-9_]*(\[\d+\])*)*$")


def field_problem(name: str, applies_to: AppliesTo) -> str | None:
    """Why ``name`` cannot be used in a policy that applies to ``applies_to``; None when it can."""
    friendly, model_fields, example = FIELD_TABLES[applies_to]
    if name in friendly:
        return None
    subject = {"order": "an order", "lines": "a line", "return": "a return"}[applies_to]
    if _PATH_RE.match(name) and re.split(r"[.\[]", name, maxsplit=1)[0] in model_fields:
        return None
    return (
        f"unknown field {name!r} for {subject} policy (known: {', '.join(friendly)}; "
        f"or a path into {subject} such as {example})"
    )
