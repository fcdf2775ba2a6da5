"""Dry run: a sample order through a flow's logic, step by step, writing nothing.

It follows the generated state machine's rules (a condition tests the step before it; condition
paths end, condition_merge paths rejoin; splitter branches end on their own, splitter_merge
continues) and runs what can run without side effects: policies and the validation checks. Actions
that would reach other systems say what they would do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orderflow.bigcommerce.orders import OrderDataError, to_order
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput
from orderflow.flows.model import ActionStep, ConditionStep, Flow, SplitterStep
from orderflow.mapping import map_order
from orderflow.models import BigCommerceSettings, MappingKey, Order, OrderStatus
from orderflow.models import Mapping as MappingRecord
from orderflow.policies.evaluate import check_execution_policies, decide_filters
from orderflow.policies.model import Policy
from orderflow.validation import check_header, check_lines

Lookup = Callable[[Iterable[MappingKey]], dict[MappingKey, MappingRecord]]


def sample_order(body: Any, settings: BigCommerceSettings, lookup: Lookup) -> Order:
    """The order to dry-run: a BigCommerce v2 order (mapped like an import would, reading mappings
    only) or a canonical order as ``GET /orders/{key}`` returns it."""
    raw = body.get("order") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        raise InvalidInput(
            'the body needs "order": a BigCommerce order (with products) or a stored order', field="order"
        )
    if "order_key" in raw:
        try:
            return Order.model_validate(raw)
        except ValueError as exc:
            raise InvalidInput(f"order: not an order this API returned: {exc}", field="order") from None
    try:
        order = to_order(raw, str(body.get("store_hash") or "sample"), settings.mapping_group)
    except OrderDataError as exc:
        raise InvalidInput(f"order: {exc}", field="order") from None
    return map_order(order, lookup)


@dataclass
class _Walk:
    policies: Mapping[str, Policy]
    order: Order
    settings: BigCommerceSettings
    steps: list[dict[str, Any]]

    def sequence(self, steps: list[Any], last: bool, branch: str | None) -> bool:
        for step in steps:
            if isinstance(step, ActionStep):
                last = self.action(step, branch)
            elif isinstance(step, ConditionStep):
                taken = "yes" if last else "no"
                self.record(
                    step.name,
                    step.element,
                    taken,
                    f"the previous step {'succeeded' if last else 'failed'}",
                    branch,
                )
                last = self.sequence(list(step.yes if last else step.no), last, branch)
                if step.element == "condition":
                    return last  # its paths end the flow (or the branch)
            elif isinstance(step, SplitterStep):
                for each in step.branches:
                    label = f"{step.name} / {each.name}" if branch is None else f"{branch} / {each.name}"
                    self.record(each.name, "branch", "runs", f"branch of {step.name}", branch)
                    self.sequence(list(each.steps), last, label)
                if step.element == "splitter":
                    return last
                # after a merge the flow goes on with what it knew before the split (ResultPath null)
        return last

    def action(self, step: ActionStep, branch: str | None) -> bool:
        filters = [self.policy(name) for name in step.filter_policies]
        decision = decide_filters(filters, self.order)
        if not decision.applies:
            self.record(step.name, step.action, "skipped", "; ".join(decision.reasons), branch)
            return True
        check = check_execution_policies(
            [self.policy(n) for n in step.execution_policies], self.order, decision.lines
        )
        if check.critical:
            self.record(step.name, step.action, "failed", "; ".join(check.critical), branch)
            return False
        succeeded, message = self.perform(step, decision.lines)
        if check.information:
            message += f" (noted: {'; '.join(check.information)})"
        self.record(step.name, step.action, "succeeded" if succeeded else "failed", message, branch)
        return succeeded

    def perform(self, step: ActionStep, lines: list[int] | None) -> tuple[bool, str]:
        if step.action == "validate_order_header":
            problems = check_header(self.order)
            return not problems, "; ".join(problems) or "header valid"
        if step.action == "validate_order_line":
            problems = check_lines(self.order, lines)
            count = len(self.order.lines) if lines is None else len(lines)
            return not problems, "; ".join(problems) or f"{count} lines valid"
        if step.action == "update_order_status":
            status = OrderStatus(str(step.params["status"]))
            target = self.settings.status_mapping.get(status)
            if not self.settings.push_enabled or target is None:
                return True, f"would set status {status.value}; nothing would be pushed to BigCommerce"
            return (
                True,
                f"would set status {status.value} and push BigCommerce status {target} {status_name(target)}",
            )
        return True, f"would run {step.action.replace('_', ' ')} (not simulated in a dry run)"

    def policy(self, name: str) -> Policy:
        policy = self.policies.get(name)
        if policy is None:
            raise InvalidInput(f"the flow names policy '{name}', which no longer exists", field="policies")
        return policy

    def record(self, step: str, kind: str, outcome: str, message: str, branch: str | None) -> None:
        entry: dict[str, Any] = {"step": step, "kind": kind, "outcome": outcome, "message": message}
        if branch:
            entry["branch"] = branch
        self.steps.append(entry)


def dry_run(
    flow: Flow, policies: Mapping[str, Policy], order: Order, settings: BigCommerceSettings
) -> list[dict[str, Any]]:
    """Each step the order would go through, in order, with what would happen there."""
    walk = _Walk(policies, order, settings, [])
    walk.sequence(list(flow.steps), True, None)
    return walk.steps
