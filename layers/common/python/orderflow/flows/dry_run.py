"""Dry run: a sample order (and, for a return flow, a sample return of it) through a flow's logic,
writing nothing, following the generated state machine's failure rule (README "When a step fails")
to show where each path would stop, and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from orderflow import clock
from orderflow.bigcommerce.orders import OrderDataError, to_order
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput, NotFound

# The state machine's own naming, so that the hold states a dry run shows are the ones it would run.
from orderflow.flows.asl import HOLD_STATE, HOLD_SUFFIX, StateNames, step_names
from orderflow.mapping.resolve import map_order
from orderflow.models.event import EVENTS, RETURN_EVENTS, OrderEvent, is_known
from orderflow.models.flow import (
    RETURN_ACTIONS,
    ActionStep,
    Branch,
    ConditionStep,
    Flow,
    SplitterStep,
    merge_message,
)
from orderflow.models.order import (
    SOURCE_BIGCOMMERCE,
    BigCommerceSettings,
    MappingKey,
    Order,
    OrderStatus,
    StepStatus,
)
from orderflow.models.order import Mapping as MappingRecord
from orderflow.models.policy import RETURN_FIELDS, Policy
from orderflow.models.returns import (
    RETURN_ID_PATTERN,
    IllegalReturnTransition,
    Return,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
    return_document,
)
from orderflow.models.transitions import can_transition
from orderflow.orders.validation import check_header, check_lines
from orderflow.policies.evaluate import check_execution_policies, decide_filters, resolve_field
from orderflow.problems import loc_path
from orderflow.returns.refunds import order_status_after_refunds, to_refund
from orderflow.returns.requests import find_line, unit_price
from orderflow.returns.sourcing import ReturnSourceSettings

Lookup = Callable[[Iterable[MappingKey]], dict[MappingKey, MappingRecord]]

DEFAULT_EVENT = OrderEvent.NEW_ORDER.value
DEFAULT_RETURN_EVENT = OrderEvent.RETURN_REQUESTED.value
SAMPLE_RETURN_ID = "sample"
MAX_DAYS_SINCE_SHIPMENT = 36_500
# As the return steps read a return's status (returns/steps.py, returns/refunds.py).
_OPEN_RETURN = (ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED, ReturnStatus.IN_TRANSIT)
_REFUNDABLE = (ReturnStatus.AUTHORISED, ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED)
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


def sample_event(body: Any, flow: Flow | None = None) -> str:
    """The event the dry run runs on: the body's ``event``; when it names none, ``new_order`` (a return
    flow: ``return_requested``). An event of the other kind of flow is refused."""
    event = body.get("event") if isinstance(body, dict) else None
    if event is None:
        return default_event(flow)
    if not isinstance(event, str) or not is_known(event):
        raise InvalidInput(f"event: unknown event {event!r} (known: {', '.join(EVENTS)})", field="event")
    if flow is not None:
        check_event(flow, event)
    return event


def default_event(flow: Flow | None) -> str:
    return DEFAULT_RETURN_EVENT if flow is not None and flow.is_return_flow else DEFAULT_EVENT


def check_event(flow: Flow, event: str) -> None:
    """A return flow runs on return events, an order flow on the others (models/flow.py)."""
    if (event in RETURN_EVENTS) == flow.is_return_flow:
        return
    if flow.is_return_flow:
        known = ", ".join(sorted(RETURN_EVENTS))
        raise InvalidInput(f"event: a return flow runs on {known}, not on {event!r}", field="event")
    raise InvalidInput(
        f"event: an order flow runs on order events, not on {event!r} (a return event starts return flows)",
        field="event",
    )


class ReturnFinder(Protocol):
    def find(self, return_id: str) -> Return | None: ...


class OrderFinder(Protocol):
    def find(self, order_key: str) -> Order | None: ...


def sample_return(
    body: Any,
    event: str,
    settings: BigCommerceSettings,
    lookup: Lookup,
    orders: OrderFinder,
    returns: ReturnFinder,
) -> tuple[Order, Return]:
    """The order and the return a return flow dry-runs. ``return`` is a return request as
    ``POST /orders/{key}/returns`` takes it, with an optional ``days_since_shipment``, made of the
    body's ``order`` and as it would be at ``event``; or ``{"return_id"}``, a stored return, with its
    stored order unless the body gives one."""
    raw = body.get("return") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        raise InvalidInput(
            'a return flow dry-runs a return: the body needs "return": a return request '
            '({"lines": [{"line_number" or "sku", "quantity", "reason"}], "days_since_shipment"?}) or '
            '{"return_id": <a stored return>}',
            field="return",
        )
    if "lines" not in raw and "return_id" in raw:
        ret = _stored_return(raw, returns)
        if isinstance(body, dict) and body.get("order") is not None:
            return sample_order(body, settings, lookup), ret
        order = orders.find(ret.order_key)
        if order is None:
            raise NotFound(f"return {ret.return_id}'s order {ret.order_key} does not exist", field="return")
        return order, ret
    days = _days_since_shipment(raw.get("days_since_shipment"))
    request = _return_request({k: v for k, v in raw.items() if k != "days_since_shipment"})
    order = sample_order(body, settings, lookup)
    return order, planned_return(order, request, event, days)


def _stored_return(raw: dict[str, Any], returns: ReturnFinder) -> Return:
    extra = sorted(key for key in raw if key != "return_id")
    if extra:
        raise InvalidInput(
            f"return.{extra[0]}: a stored return is dry-run as it is stored; give only its return_id "
            "(or lines, for a return request)",
            field=f"return.{extra[0]}",
        )
    return_id = raw["return_id"]
    if not isinstance(return_id, str) or not re.match(RETURN_ID_PATTERN, return_id):
        raise InvalidInput(
            f"return.return_id: {return_id!r} is not a return id (1 to 64 letters, digits and . _ -)",
            field="return.return_id",
        )
    ret = returns.find(return_id)
    if ret is None:
        raise NotFound(f"return {return_id} does not exist", field="return.return_id")
    return ret


def _days_since_shipment(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS_SINCE_SHIPMENT:
        raise InvalidInput(
            f"return.days_since_shipment: a whole number of days from 0 to {MAX_DAYS_SINCE_SHIPMENT} "
            f"(got {value!r})",
            field="return.days_since_shipment",
        )
    return value


def _return_request(raw: dict[str, Any]) -> ReturnRequest:
    try:
        return ReturnRequest.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(filter(None, ['return', loc_path(e['loc'], set())]))}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise InvalidInput.listing(problems) from None


def planned_return(order: Order, request: ReturnRequest, event: str, days: int | None) -> Return:
    """The return a request would make of ``order``, as it stands when ``event`` starts a flow: asked
    (requested), its goods back (received) or refunded. Lines must be the order's; what has shipped
    is not checked (a sample order may not have shipped)."""
    received = event == OrderEvent.RETURN_RECEIVED.value
    refunded = event == OrderEvent.RETURN_REFUNDED.value
    lines = []
    for index, wanted in enumerate(request.lines):
        line = find_line(order, wanted, f"return.lines[{index}]")
        asked = wanted.quantity
        lines.append(
            ReturnLine(
                line_number=line.line_number,
                sku=line.sku,
                order_product_id=line.external_id,
                order_address_id=line.ship_to_external_id,
                quantity=asked,
                reason=wanted.reason,
                condition=wanted.condition,
                unit_price=unit_price(line),
                # received: all of it, sellable (a provider's callback says per line)
                quantity_received=asked if received else 0,
                quantity_restocked=asked if received else 0,
                quantity_refunded=asked if refunded else 0,
            )
        )
    status = {
        OrderEvent.RETURN_RECEIVED.value: ReturnStatus.RECEIVED,
        OrderEvent.RETURN_REFUNDED.value: ReturnStatus.REFUNDED,
    }.get(event, ReturnStatus.REQUESTED)
    now = clock.now()
    return Return(
        return_id=request.return_id or SAMPLE_RETURN_ID,
        order_key=order.order_key,
        store_hash=order.store_hash,
        order_external_id=order.external_id,
        status=status,
        resolution=request.resolution,
        note=request.note,
        lines=lines,
        requested_at=clock.iso(now),
        shipped_at=None if days is None else clock.iso(now - timedelta(days=days)),
    )


def return_fields(ret: Return) -> dict[str, Any]:
    """The return as its policies read it: its id and each return field (models/policy.py)."""
    document = return_document(ret)
    return {
        "return_id": ret.return_id,
        **{name: resolve_field(document, name, "return") for name in RETURN_FIELDS},
    }


@dataclass(frozen=True)
class DryRun:
    """Each step the order (or its return) would go through, in order, and the holds its failed paths
    would end in."""

    event: str
    steps: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    ret: Return | None = None  # a return flow's return, as the dry run began with it

    @property
    def outcome(self) -> str:
        if any(hold["held"] for hold in self.holds):
            return ON_HOLD
        return FAILED_NOT_HELD if self.holds else COMPLETED

    def summary(self) -> dict[str, Any]:
        """Where the order (a return flow: the return) ends: ``completed``, ``on_hold`` (naming the
        failed steps) or ``failed`` (a path ended on a failure, but the order is past holding)."""
        failed = [hold["failed_step"] for hold in self.holds]
        named = ", ".join(f"'{step}'" for step in failed)
        subject = "the order" if self.ret is None else f"return {self.ret.return_id}"
        message = {
            COMPLETED: "no path ends on a failure: the flow runs to its end",
            ON_HOLD: f"{subject} would go on hold: {named} failed",
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
    event: str | None = None,
    ret: Return | None = None,
) -> DryRun:
    """The sample order through ``flow`` on ``event`` (by default the first event of its kind): what
    each step would do and where it stops. A return flow runs on ``ret``, a return of the order."""
    event = event or default_event(flow)
    check_event(flow, event)
    if flow.is_return_flow and ret is None:
        raise InvalidInput("a return flow dry-runs a return: give one", field="return")
    subject = ret if flow.is_return_flow else None
    names = StateNames(step_names(flow.steps))
    walk = _Walk(policies, order, settings, event, names, subject)
    walk.sequence(list(flow.steps), None, None, _Path(hold=names.unique(HOLD_STATE)))
    return DryRun(event=event, steps=walk.steps, holds=walk.holds, ret=subject)


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
    # A return flow's return, as the steps before would leave it (a refund makes it refunded, ...).
    ret: Return | None = None
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
                # As the machine's "(taken?)" choice: only a step with events or filters decides its branch.
                decides = bool(step.filter_policies or step.input_events)
                if index == 0 and branch_entry is not None and decides and last.status == StepStatus.SKIPPED:
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
        subject = None if self.ret is None else return_document(self.ret)
        decision = decide_filters([self.policy(name) for name in step.filter_policies], self.order, subject)
        if not decision.applies:
            return StepStatus.SKIPPED, "; ".join(decision.reasons)
        check = check_execution_policies(
            [self.policy(n) for n in step.execution_policies], self.order, decision.lines, subject
        )
        if check.critical:
            return StepStatus.FAILED, "; ".join(check.critical)
        if self.ret is not None and step.action in RETURN_ACTIONS:
            status, message = self.perform_return(step, self.ret)
        else:
            succeeded, message = self.perform(step, decision.lines)
            status = StepStatus.SUCCEEDED if succeeded else StepStatus.FAILED
        if check.information:
            message += f" (noted: {'; '.join(check.information)})"
        return status, message

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

    def perform_return(self, step: ActionStep, ret: Return) -> tuple[StepStatus, str]:
        """What a return step would do to the return, as the step would (returns/), sending nothing.
        A step that moves the return moves the walk's return, for the steps after it."""
        assumed = "assumed to succeed in a dry run"
        name = f"return {ret.return_id}"
        if step.action == "validate_return":
            if ret.status in (ReturnStatus.REJECTED, ReturnStatus.CLOSED):
                return StepStatus.FAILED, f"{name} is {ret.status.value}"
            if ret.status != ReturnStatus.REQUESTED:
                return StepStatus.SUCCEEDED, f"{name} is {ret.status.value} already"
            self.move(ReturnStatus.AUTHORISED, step)
            return StepStatus.SUCCEEDED, f"would authorise {name}: {_units(ret)} worth {ret.value:.2f}"
        if step.action == "assign_return_source":
            try:
                rules = ReturnSourceSettings.model_validate(step.params)
            except ValidationError as exc:
                return StepStatus.FAILED, "; ".join(
                    f"params.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
            if ret.source_id:
                return StepStatus.SUCCEEDED, f"{name} goes back to {ret.source_id} (assigned before)"
            return (
                StepStatus.SUCCEEDED,
                f"would choose where {name} goes back: {_source_choice(rules)} ({assumed})",
            )
        if step.action == "send_to_returns_provider":
            if ret.provider:
                return StepStatus.SUCCEEDED, (
                    f"{name} was sent to the {ret.provider} provider before ({ret.provider_reference}); "
                    "nothing would be sent again"
                )
            if ret.status not in _OPEN_RETURN:
                return StepStatus.FAILED, f"{name} is {ret.status.value}: not sent"
            provider = step.params.get("provider") or "step's"
            if ret.status == ReturnStatus.REQUESTED:
                self.move(ReturnStatus.AUTHORISED, step)
            return StepStatus.SUCCEEDED, (
                f"would send {name}'s authorisation request to the {provider} provider, which calls back on "
                f"POST /returns/{ret.return_id}/events ({assumed})"
            )
        if step.action == "refund":
            return self.refund(step, ret)
        target = ReturnStatus(str(step.params["status"]))
        try:
            self.move(target, step)
        except IllegalReturnTransition as exc:
            return StepStatus.FAILED, exc.message
        return StepStatus.SUCCEEDED, f"would set {name}'s status to {target.value}"

    def refund(self, step: ActionStep, ret: Return) -> tuple[StepStatus, str]:
        name = f"return {ret.return_id}"
        if ret.refund is not None and ret.refund.state == "created":
            return (
                StepStatus.SUCCEEDED,
                f"{name} was refunded before: {ret.refund.amount:.2f}; nothing is sent again",
            )
        if ret.resolution == "exchange":
            return StepStatus.SKIPPED, f"{name} is an exchange: nothing is refunded"
        if ret.status not in _REFUNDABLE:
            return StepStatus.FAILED, (
                f"{name} is {ret.status.value}: only an authorised, in transit or received return is refunded"
            )
        if self.order.source != SOURCE_BIGCOMMERCE:
            return StepStatus.FAILED, (
                f"order {self.order.order_key} came from {self.order.source}: refunds are made in BigCommerce only"
            )
        counts = to_refund(ret)
        if not counts:
            return StepStatus.FAILED, f"{name} has nothing left to refund"
        prices = {line.line_number: line.unit_price for line in ret.lines}
        worth = sum((prices[n] * q for n, q in counts.items()), Decimal("0"))
        lines = ", ".join(f"{q} of line {n}" for n, q in sorted(counts.items()))
        self.move(ReturnStatus.REFUNDED, step)
        credit = " as store credit" if ret.resolution == "store_credit" else ""
        return StepStatus.SUCCEEDED, (
            f"would ask BigCommerce for a refund quote, then refund {lines}{credit} ({worth:.2f} at the prices "
            f"paid); {self.order_after_refund(counts)} (assumed to succeed in a dry run)"
        )

    def order_after_refund(self, counts: dict[int, int]) -> str:
        """What the refund would do to the order's status, as returns/refunds.py moves it."""
        lines = [
            line.model_copy(
                update={"quantity_refunded": line.quantity_refunded + counts.get(line.line_number, 0)}
            )
            for line in self.order.lines
        ]
        target = order_status_after_refunds(self.order.model_copy(update={"lines": lines}))
        if self.order.status == target:
            return f"the order is {target.value} already"
        if not can_transition(self.order.status, target):
            return f"the order is {self.order.status.value} and would stay so ({target.value} does not follow it)"
        return f"the order would become {target.value}; {self.push(target)}"

    def move(self, status: ReturnStatus, step: ActionStep) -> None:
        """The walk's return after a step, checked against the return's state machine."""
        if self.ret is not None:
            self.ret = self.ret.moved(status, f"dry run: {step.name}", clock.iso())

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
        subject = "the order" if self.ret is None else "the return"
        entry["reason"] = f"skipped as the branch's first step: {subject} does not go down this branch"
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
        if self.ret is not None:
            # A return flow holds the return (hold_return), whatever the order's status: the order is not touched.
            message = f"would put return {self.ret.return_id} on hold: {cause}; the order is not touched"
            self.record(
                name, "hold", ON_HOLD, message, path, failed_step=failed.step, bigcommerce_status_id=None
            )
            where = {"branch": path.branch} if path.branch else {}
            self.holds.append({"hold": name, "failed_step": failed.step, "held": True, **where})
            return
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


def _units(ret: Return) -> str:
    count = sum(line.quantity for line in ret.lines)
    return f"{count} unit{'s' if count != 1 else ''}"


def _source_choice(rules: ReturnSourceSettings) -> str:
    """How assign_return_source would choose (returns/sourcing.py), in words."""
    parts = []
    if rules.rules:
        parts.append(f"the first of its {len(rules.rules)} rules that matches")
    if rules.default is not None:
        parts.append(f"the default source {rules.default}")
    else:
        parts.append("the closest active source that accepts returns")
    return ", else ".join(parts)


def _tested(last: _Result | None) -> str:
    if last is None:
        return "no previous result: taken as a failure"
    if last.status == StepStatus.SKIPPED:
        return f"the previous step '{last.step}' was skipped, which is not a failure"
    return f"the previous step '{last.step}' {last.status.value}"
