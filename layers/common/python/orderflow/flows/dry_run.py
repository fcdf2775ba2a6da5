"""Dry run: a sample order through a flow's logic, writing nothing, following the generated state
machine's failure rule (README "When a step fails") to show where each path would stop, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.bigcommerce.orders import OrderDataError, to_order
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput

# The state machine's own naming, so that the hold states a dry run shows are the ones it would run.
from orderflow.flows.asl import HOLD_STATE, HOLD_SUFFIX, StateNames, step_names
from orderflow.mapping.resolve import map_order
from orderflow.models.event import EVENTS, OrderEvent, is_known
from orderflow.models.flow import ActionStep, Branch, ConditionStep, Flow, SplitterStep, merge_message
from orderflow.models.order import BigCommerceSettings, MappingKey, Order, OrderStatus, StepStatus
from orderflow.models.order import Mapping as MappingRecord
from orderflow.models.policy import Policy
from orderflow.models.transitions import can_transition
from orderflow.orders.validation import check_header, check_lines
from orderflow.policies.evaluate import check_execution_policies, decide_filters

Lookup = Callable[[Iterable[MappingKey]], dict[MappingKey, MappingRecord]]

DEFAULT_EVENT = OrderEvent.NEW_ORDER.value
# Entry outcomes beyond a step's own succeeded / failed / skipped.
ON_HOLD = "on_hold"
NOT_HELD = "not held"
NOT_TAKEN = "not taken"
# Where the order ends, in the summary.
COMPLETED = "completed"
FAILED_NOT_HELD = "failed"

# What the actions that reach other systems would do (they are not simulated), and the status their
# success moves the order to.
_WOULD: dict[str, tuple[str, OrderStatus]] = {
    "send_to_dom": ("send the order to the DOM for sourcing", OrderStatus.SOURCED),
    "assign_fulfillment_source": ("assign the order's fulfillment source", OrderStatus.SOURCED),
    "send_to_fulfillment": ("send the order to its fulfillment source", OrderStatus.IN_FULFILLMENT),
    "send_to_invoice": ("send the invoice (once the order has shipped)", OrderStatus.INVOICED),
    "cancel_order": ("cancel the order", OrderStatus.CANCELLED),
}


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


def sample_event(body: Any) -> str:
    """The event the dry run runs on: the body's ``event``, ``new_order`` when it names none."""
    event = body.get("event") if isinstance(body, dict) else None
    if event is None:
        return DEFAULT_EVENT
    if not isinstance(event, str) or not is_known(event):
        raise InvalidInput(f"event: unknown event {event!r} (known: {', '.join(EVENTS)})", field="event")
    return event


@dataclass(frozen=True)
class DryRun:
    """Each step the order would go through, in order, and the holds its failed paths would end in."""

    event: str
    steps: list[dict[str, Any]]
    holds: list[dict[str, Any]]

    @property
    def outcome(self) -> str:
        if any(hold["held"] for hold in self.holds):
            return ON_HOLD
        return FAILED_NOT_HELD if self.holds else COMPLETED

    def summary(self) -> dict[str, Any]:
        """Where the order ends: ``completed``, ``on_hold`` (naming the failed steps) or ``failed``
        (a path ended on a failure, but the order is past holding)."""
        failed = [hold["failed_step"] for hold in self.holds]
        named = ", ".join(f"'{step}'" for step in failed)
        message = {
            COMPLETED: "no path ends on a failure: the flow runs to its end",
            ON_HOLD: f"the order would go on hold: {named} failed",
            FAILED_NOT_HELD: f"{named} failed, but the order is past holding: its status stays",
        }[self.outcome]
        return {
            "event": self.event,
            "outcome": self.outcome,
            "failed_steps": failed,
            "message": message,
            "holds": self.holds,
        }


def dry_run(
    flow: Flow,
    policies: Mapping[str, Policy],
    order: Order,
    settings: BigCommerceSettings,
    event: str = DEFAULT_EVENT,
) -> DryRun:
    """The sample order through ``flow`` on ``event``: what each step would do and where it stops."""
    names = StateNames(step_names(flow.steps))
    walk = _Walk(policies, order, settings, event, names)
    walk.sequence(list(flow.steps), None, None, _Path(hold=names.unique(HOLD_STATE)))
    return DryRun(event=event, steps=walk.steps, holds=walk.holds)


@dataclass(frozen=True)
class _Result:
    """What the state machine's ``$.last`` would hold: the result a Condition or a merge reads."""

    step: str
    status: StepStatus
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status != StepStatus.FAILED


@dataclass(frozen=True)
class _Path:
    """Where a failure ends its path: the path's hold state (the top level, a splitter's branch), or,
    with no hold, the merge of the splitter-merge whose branch the path is."""

    hold: str | None
    merge: str | None = None
    branch: str | None = None  # "<splitter> / <branch>", nested as deep as the branch is


@dataclass
class _Walk:
    policies: Mapping[str, Policy]
    order: Order
    settings: BigCommerceSettings
    event: str
    names: StateNames
    steps: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)

    def sequence(
        self,
        steps: Sequence[Any],
        last: _Result | None,
        follower: Any,
        path: _Path,
        branch_entry: dict[str, Any] | None = None,
    ) -> tuple[_Result | None, bool]:
        """The steps of a path from ``last`` on: the result the path ends with, and whether it goes
        on to ``follower``, the step after them (None: the path ends after them)."""
        for index, step in enumerate(steps):
            next_step = steps[index + 1] if index + 1 < len(steps) else follower
            condition_follows = isinstance(next_step, ConditionStep)
            if isinstance(step, ActionStep):
                last, entry = self.action(step, path)
                if index == 0 and branch_entry is not None and last.status == StepStatus.SKIPPED:
                    self.not_taken(entry, branch_entry, step)
                    return last, False
                if not last.succeeded and not condition_follows:
                    self.stop(entry, last, path)
                    return last, False
            elif isinstance(step, ConditionStep):
                last, goes_on = self.condition(step, last, next_step, path)
                if not goes_on:
                    return last, False
            elif isinstance(step, SplitterStep):
                last, goes_on = self.splitter(step, last, condition_follows, path)
                if not goes_on:
                    return last, False
        return last, True

    def condition(
        self, step: ConditionStep, last: _Result | None, next_step: Any, path: _Path
    ) -> tuple[_Result | None, bool]:
        # A caught error leaves no result at all; the machine's Choice reads that as a failure too.
        yes = last is not None and last.succeeded
        self.record(step.name, step.element, "yes" if yes else "no", _tested(last), path)
        chosen = list(step.yes if yes else step.no)
        if step.element == "condition_merge":
            return self.sequence(chosen, last, next_step, path)
        last, _ = self.sequence(chosen, last, None, path)
        return last, False

    def splitter(
        self, step: SplitterStep, last: _Result | None, condition_follows: bool, path: _Path
    ) -> tuple[_Result | None, bool]:
        # Inside a splitter-merge's branch a plain splitter merges too: its failure is that branch's.
        merging = step.element == "splitter_merge" or path.hold is None
        ended: list[tuple[Branch, _Result | None]] = []
        for branch in step.branches:
            entry = self.record(branch.name, "branch", "runs", f"branch of {step.name}", path)
            inner = _Path(
                hold=None if merging else self.names.unique(f"{branch.name} {HOLD_SUFFIX}"),
                merge=step.name if merging else None,
                branch=f"{path.branch or step.name} / {branch.name}",
            )
            result, _ = self.sequence(list(branch.steps), last, None, inner, branch_entry=entry)
            ended.append((branch, result))
        if not merging:
            return last, False  # each branch ended on its own; nothing follows a splitter
        merged, entry = self.merge(step, ended, path)
        if not merged.succeeded and not condition_follows:
            self.stop(entry, merged, path)
            return merged, False
        return merged, True

    def merge(
        self, step: SplitterStep, ended: list[tuple[Branch, _Result | None]], path: _Path
    ) -> tuple[_Result, dict[str, Any]]:
        """The merge's own result, as ``merge_branches`` would record it under the splitter's name."""
        ran: list[str] = []
        skipped: list[str] = []
        failed: list[dict[str, Any]] = []
        for branch, last in ended:
            first = branch.steps[0]
            may_skip = isinstance(first, ActionStep) and bool(first.filter_policies or first.input_events)
            if last is None:
                failed.append(
                    {"branch": branch.name, "step": None, "message": "the branch reported no result"}
                )
            elif may_skip and last.status == StepStatus.SKIPPED and last.step == first.name:
                skipped.append(branch.name)
            elif last.succeeded:
                ran.append(branch.name)
            else:
                failed.append({"branch": branch.name, "step": last.step, "message": last.message})
        status = StepStatus.FAILED if failed else StepStatus.SUCCEEDED
        message = merge_message(len(ended), ran, skipped, failed)
        entry = self.record(
            step.name,
            "merge",
            status.value,
            message,
            path,
            ran=ran + [f["branch"] for f in failed],
            skipped=skipped,
            failed=failed,
        )
        return _Result(step.name, status, message), entry

    def action(self, step: ActionStep, path: _Path) -> tuple[_Result, dict[str, Any]]:
        status, message = self.outcome(step)
        return _Result(step.name, status, message), self.record(
            step.name, step.action, status.value, message, path
        )

    def outcome(self, step: ActionStep) -> tuple[StepStatus, str]:
        if step.input_events and self.event not in step.input_events:
            return (
                StepStatus.SKIPPED,
                f"this step runs on {', '.join(step.input_events)}, not on {self.event}",
            )
        decision = decide_filters([self.policy(name) for name in step.filter_policies], self.order)
        if not decision.applies:
            return StepStatus.SKIPPED, "; ".join(decision.reasons)
        check = check_execution_policies(
            [self.policy(n) for n in step.execution_policies], self.order, decision.lines
        )
        if check.critical:
            return StepStatus.FAILED, "; ".join(check.critical)
        succeeded, message = self.perform(step, decision.lines)
        if check.information:
            message += f" (noted: {'; '.join(check.information)})"
        return (StepStatus.SUCCEEDED if succeeded else StepStatus.FAILED), message

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
            return True, f"would set status {status.value}; {self.push(status)}"
        assumed = "assumed to succeed in a dry run"
        if step.action == "custom":
            return True, f"would call {step.target} and record its answer ({assumed})"
        if step.action == "send_to_accounting":
            kind = self.settings.document_type(self.order).replace("_", " ")
            return True, (
                f"would send the order to accounting as a {kind} with Import ID {self.order.import_id}; "
                f"its status stays {self.order.status.value} ({assumed})"
            )
        what, status = _WOULD.get(step.action, (step.action.replace("_", " "), self.order.status))
        return True, f"would {what}, and the order would become {status.value} ({assumed})"

    def push(self, status: OrderStatus) -> str:
        target = self.settings.status_mapping.get(status)
        if not self.settings.push_enabled:
            return "pushing to BigCommerce is off"
        if target is None:
            return f"{status.value} is not assigned to a BigCommerce status: nothing would be pushed"
        if self.order.external_status_id == target:
            return f"BigCommerce shows {target} {status_name(target)} already"
        return f"would push BigCommerce status {target} {status_name(target)}"

    def not_taken(self, entry: dict[str, Any], branch_entry: dict[str, Any], step: ActionStep) -> None:
        entry["stops"] = True
        entry["reason"] = "skipped as the branch's first step: the order does not go down this branch"
        branch_entry["outcome"] = NOT_TAKEN
        branch_entry["message"] += f"; not taken: its first step '{step.name}' is skipped"

    def stop(self, entry: dict[str, Any], failed: _Result, path: _Path) -> None:
        """The failure rule: with no Condition next, a failure ends its path, in the path's hold or
        reported to the merge."""
        entry["stops"] = True
        if path.hold is None:
            entry["reason"] = (
                f"failed and no condition follows: the branch ends here, and the merge of '{path.merge}' "
                "reports the failure"
            )
            return
        entry["reason"] = f"failed and no condition follows: the path ends here, in '{path.hold}'"
        self.hold(failed, path.hold, path)

    def hold(self, failed: _Result, name: str, path: _Path) -> None:
        cause = f"step '{failed.step}' failed: {failed.message}"
        held = can_transition(self.order.status, OrderStatus.ON_HOLD)
        if held:
            outcome, message = (
                ON_HOLD,
                f"would put the order on hold: {cause}; {self.push(OrderStatus.ON_HOLD)}",
            )
        else:
            # As the hold step does: an order past holding keeps its status; the failure stays on record.
            outcome = NOT_HELD
            message = f"{cause}; the order is {self.order.status.value} and would not be put on hold"
        self.record(
            name,
            "hold",
            outcome,
            message,
            path,
            failed_step=failed.step,
            bigcommerce_status_id=self.settings.status_mapping.get(OrderStatus.ON_HOLD) if held else None,
        )
        where = {"branch": path.branch} if path.branch else {}
        self.holds.append({"hold": name, "failed_step": failed.step, "held": held, **where})

    def policy(self, name: str) -> Policy:
        policy = self.policies.get(name)
        if policy is None:
            raise InvalidInput(f"the flow names policy '{name}', which no longer exists", field="policies")
        return policy

    def record(
        self, step: str, kind: str, outcome: str, message: str, path: _Path, **extra: Any
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"step": step, "kind": kind, "outcome": outcome, "message": message}
        if path.branch:
            entry["branch"] = path.branch
        entry.update(extra)
        self.steps.append(entry)
        return entry


def _tested(last: _Result | None) -> str:
    if last is None:
        return "no previous result: taken as a failure"
    if last.status == StepStatus.SKIPPED:
        return f"the previous step '{last.step}' was skipped, which is not a failure"
    return f"the previous step '{last.step}' {last.status.value}"
