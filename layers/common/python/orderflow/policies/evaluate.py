"""Evaluating policies against an order: field lookup, comparison, filter decisions, execution checks.

Pure functions over ``Order`` and its JSON form; nothing here does I/O.

Comparison semantics (what a merchant's rule means):

* If both sides parse as numbers (Decimal; ``true``/``false`` are not numbers), they compare
  numerically, so ``total > 100`` holds for ``"100.0100"`` and ``total equals 100`` for ``"100.0000"``.
* Otherwise ``equals`` / ``not equals`` compare text, case-insensitively after stripping, so
  ``provider equals BigCommerce`` matches ``bigcommerce``; booleans read as ``true`` / ``false``.
  Ordering operators on something that is not a number are false (never an error).
* A missing field (null, or a path that is not there) fails every operator except
  ``not equals`` and ``does not contain data``, which hold.
* ``contains data``: not null, not ``""``, not an empty list or object; ``does not contain data`` is
  the opposite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow.models.order import Order
from orderflow.models.policy import (
    FIELD_TABLES,
    AppliesTo,
    Document,
    Match,
    Policy,
    Rule,
    RuleGroup,
    Value,
    describe_items,
)

_TOKEN_RE = re.compile(r"[a-z_][a-z0-9_]*|\[(\d+)\]")


def _follow(document: Any, path: str) -> Any:
    current = document
    for match in _TOKEN_RE.finditer(path):
        index = match.group(1)
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
        else:
            if not isinstance(current, dict) or match.group(0) not in current:
                return None
            current = current[match.group(0)]
    return current


def resolve_field(document: Document, name: str, applies_to: AppliesTo = "order") -> Any:
    """The value ``name`` (a friendly name or a path) has in an order or line document; None if absent."""
    spec = FIELD_TABLES[applies_to][0].get(name)
    if spec is None:
        return _follow(document, name)
    if callable(spec.source):
        return spec.source(document)
    if isinstance(spec.source, str):
        return _follow(document, spec.source)
    # A fallback chain: the first path that has data wins (an empty ship-to country falls to billing).
    value = None
    for path in spec.source:
        value = _follow(document, path)
        if _has_data(value):
            return value
    return value


def _has_data(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def compare(actual: Any, operator: str, expected: Value) -> bool:
    """Does ``actual`` (a document value) satisfy ``operator expected``? See the module docstring."""
    if operator == "contains_data":
        return _has_data(actual)
    if operator == "does_not_contain_data":
        return not _has_data(actual)
    if actual is None or expected is None:
        return operator == "not_equals"
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return {
            "equals": left == right,
            "not_equals": left != right,
            "greater_than": left > right,
            "greater_than_or_equal": left >= right,
            "less_than": left < right,
            "less_than_or_equal": left <= right,
        }[operator]
    if isinstance(actual, list | dict) or operator not in {"equals", "not_equals"}:
        # A list or object equals no single value; ordering needs numbers.
        return operator == "not_equals"
    same = _text(actual) == _text(expected)
    return same if operator == "equals" else not same


def _holds(item: Rule | RuleGroup, document: Document, applies_to: AppliesTo) -> bool:
    if isinstance(item, RuleGroup):
        return _group_holds(item.rules, item.match, document, applies_to)
    return compare(resolve_field(document, item.field, applies_to), item.operator, item.value)


def _group_holds(
    items: Iterable[Rule | RuleGroup], match: Match, document: Document, applies_to: AppliesTo
) -> bool:
    results = (_holds(item, document, applies_to) for item in items)
    return all(results) if match == "all" else any(results)


def evaluate_rules(
    group_or_rules: Rule | RuleGroup | Sequence[Rule | RuleGroup],
    document: Document,
    *,
    applies_to: AppliesTo = "order",
) -> bool:
    """Do the rules hold for one order (or, with ``applies_to="lines"``, one line) document?

    A plain sequence of rules must all hold, like a group with ``match="all"``.
    """
    if isinstance(group_or_rules, Rule | RuleGroup):
        return _holds(group_or_rules, document, applies_to)
    return _group_holds(group_or_rules, "all", document, applies_to)


@dataclass
class PolicyResult:
    policy: str
    kind: str
    matched: bool  # the rules hold: a filter policy applies, an execution policy is satisfied
    lines: list[int] = field(default_factory=list)  # line policies: the lines where the rules hold
    failing_lines: list[int] = field(default_factory=list)
    message: str = ""


def _line_list(numbers: list[int]) -> str:
    word = "line" if len(numbers) == 1 else "lines"
    return f"{word} {', '.join(str(n) for n in numbers)}"


def _describe_item(item: Rule | RuleGroup) -> str:
    return item.describe() if isinstance(item, Rule) else f"({item.describe()})"


def _why_not(policy: Policy, failing: Sequence[tuple[int | None, Document]]) -> str:
    """Which top-level rules fail, and on which lines for a line policy."""
    if policy.match == "any" and len(policy.rules) > 1:
        numbers = [n for n, _ in failing if n is not None]
        where = f" for {_line_list(numbers)}" if numbers else ""
        return f"none of these holds{where}: {'; '.join(_describe_item(i) for i in policy.rules)}"
    reasons = []
    for item in policy.rules:
        failed_on = [n for n, doc in failing if not _holds(item, doc, policy.applies_to)]
        if failed_on:
            numbers = [n for n in failed_on if n is not None]
            where = f" for {_line_list(numbers)}" if numbers else ""
            reasons.append(f"{_describe_item(item)} does not hold{where}")
    return "; ".join(reasons)


def _evaluate(
    policy: Policy,
    document: Document,
    only_lines: Sequence[int] | None = None,
    return_document: Document | None = None,
) -> PolicyResult:
    label = f"{policy.kind} policy '{policy.name}'"
    if policy.criticality is not None:
        label += f" ({policy.criticality})"
    if policy.applies_to == "return":
        if return_document is None:
            return PolicyResult(
                policy.name, policy.kind, False, message=f"{label}: it applies to returns only"
            )
        document = return_document
    if policy.applies_to in ("order", "return"):
        matched = _group_holds(policy.rules, policy.match, document, policy.applies_to)
        if matched:
            message = f"{label} applies" if policy.kind == "filter" else f"{label} is satisfied"
        else:
            verb = " does not apply" if policy.kind == "filter" else ""
            message = f"{label}{verb}: {_why_not(policy, [(None, document)])}"
        return PolicyResult(policy.name, policy.kind, matched, message=message)

    lines = [line for line in document.get("lines") or [] if isinstance(line, dict)]
    if only_lines is not None:
        wanted = set(only_lines)
        lines = [line for line in lines if line.get("line_number") in wanted]
    holding: list[tuple[int, Document]] = []
    failing: list[tuple[int, Document]] = []
    for line in lines:
        ok = _group_holds(policy.rules, policy.match, line, "lines")
        (holding if ok else failing).append((line["line_number"], line))
    numbers = [n for n, _ in holding]
    failing_numbers = [n for n, _ in failing]
    if policy.kind == "filter":
        matched = bool(holding)
        if matched:
            message = f"{label} applies to {_line_list(numbers)}"
        elif not lines:
            message = f"{label} does not apply: the order has no lines"
        else:
            message = (
                f"{label} does not apply: no line matches {describe_items(list(policy.rules), policy.match)}"
            )
    else:
        matched = not failing  # every line must satisfy an execution policy; no lines, nothing fails
        message = f"{label} is satisfied" if matched else f"{label}: {_why_not(policy, failing)}"
    return PolicyResult(policy.name, policy.kind, matched, numbers, failing_numbers, message)


def evaluate_policy(policy: Policy, order: Order) -> PolicyResult:
    """Evaluate one policy: once against the order, or against each line for a line policy."""
    return _evaluate(policy, order.model_dump(mode="json"))


@dataclass
class FilterDecision:
    applies: bool
    lines: list[int] | None = None  # None: all lines; a list when line filters selected some
    reasons: list[str] = field(default_factory=list)  # why the step does not apply


def decide_filters(
    policies: Sequence[Policy], order: Order, return_document: Document | None = None
) -> FilterDecision:
    """Every filter policy must match; line filters together select the lines they all match. Return
    policies read ``return_document`` (a return flow's return, models/returns.py)."""
    wrong = [p.name for p in policies if p.kind != "filter"]
    if wrong:
        raise ValueError(f"not filter policies: {', '.join(wrong)}")
    document = order.model_dump(mode="json")
    reasons: list[str] = []
    selected: set[int] | None = None
    for policy in policies:
        result = _evaluate(policy, document, None, return_document)
        if not result.matched:
            reasons.append(result.message)
        if policy.applies_to == "lines":
            selected = set(result.lines) if selected is None else selected & set(result.lines)
    if selected is not None and not selected and not reasons:
        names = ", ".join(f"'{p.name}'" for p in policies if p.applies_to == "lines")
        reasons.append(f"no line matches every line filter policy ({names})")
    return FilterDecision(not reasons, None if selected is None else sorted(selected), reasons)


@dataclass
class ExecutionCheck:
    critical: list[str] = field(default_factory=list)  # failures that fail the step
    information: list[str] = field(default_factory=list)  # failures recorded while the step continues

    @property
    def passed(self) -> bool:
        return not self.critical


def check_execution_policies(
    policies: Sequence[Policy],
    order: Order,
    lines: list[int] | None = None,
    return_document: Document | None = None,
) -> ExecutionCheck:
    """Evaluate execution policies; ``lines`` (from the filters) limits what line policies look at."""
    wrong = [p.name for p in policies if p.kind != "execution"]
    if wrong:
        raise ValueError(f"not execution policies: {', '.join(wrong)}")
    document = order.model_dump(mode="json")
    check = ExecutionCheck()
    for policy in policies:
        result = _evaluate(policy, document, lines, return_document)
        if not result.matched:
            (check.critical if policy.criticality == "critical" else check.information).append(result.message)
    return check
