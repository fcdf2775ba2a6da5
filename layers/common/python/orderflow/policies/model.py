"""Policies as data: rules (field, operator, value) combined in all/any groups, as filter or execution policies.

A policy is validated as a whole; errors name their path, e.g. ``rules[1].rules[0].value: ...``.
"""

from __future__ import annotations

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

from orderflow.models import slug
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
AppliesTo = Literal["order", "lines"]
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
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


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
        # Imported here: evaluate.py holds the field tables and itself imports this module.
        from orderflow.policies.evaluate import field_problem

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
        subject = "order" if self.applies_to == "order" else "line"
        return f"{subject} {describe_items(list(self.rules), self.match)}"


RuleGroup.model_rebuild()
Policy.model_rebuild()


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
