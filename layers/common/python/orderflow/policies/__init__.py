"""Policies: filter policies decide whether a step applies; execution policies check an order."""

from orderflow.models.policy import (
    LINE_FIELDS,
    ORDER_FIELDS,
    Operator,
    Policy,
    PolicyError,
    Rule,
    RuleGroup,
    parse_policy,
)
from orderflow.policies.evaluate import (
    ExecutionCheck,
    FilterDecision,
    PolicyResult,
    check_execution_policies,
    decide_filters,
    evaluate_policy,
    evaluate_rules,
)

__all__ = [
    "LINE_FIELDS",
    "ORDER_FIELDS",
    "ExecutionCheck",
    "FilterDecision",
    "Operator",
    "Policy",
    "PolicyError",
    "PolicyResult",
    "Rule",
    "RuleGroup",
    "check_execution_policies",
    "decide_filters",
    "evaluate_policy",
    "evaluate_rules",
    "parse_policy",
]
