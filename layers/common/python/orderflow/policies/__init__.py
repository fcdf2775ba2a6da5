"""Policies: filter policies decide whether a step applies; execution policies check an order."""

from orderflow.policies.evaluate import (
    LINE_FIELDS,
    ORDER_FIELDS,
    ExecutionCheck,
    FilterDecision,
    PolicyResult,
    check_execution_policies,
    decide_filters,
    evaluate_policy,
    evaluate_rules,
)
from orderflow.policies.model import Operator, Policy, PolicyError, Rule, RuleGroup, parse_policy

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
