"""The flow → Amazon States Language generator: a pure, deterministic function.

Every action is a Task invoking its function with a small payload (the order travels by key, not by
value, with the step's policies). The failure rule (DESIGN §3, README "When a step fails") is built
in: a step that fails, by a business failure, a critical execution policy or an error left after its
retries, ends its path, unless a Condition follows it, which branches on ``$.last``. A path that ends
on a failure puts the order on hold in its hold state; a splitter-merge's branch ends instead with
the failure in ``$.last``, and the merge after the branches reports which ran, were skipped and
failed, as a step of its own. Lambda ARNs are ``${...}`` DefinitionSubstitutions so the same text
deploys with SAM, is published through the admin API, and runs in the local runtime.

Orders reach a flow already imported: the order intake machine (``intake_asl``) imports each order
once and starts the flows whose input events and filter policies match it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orderflow.models.flow import (
    END_SUFFIX,
    MAX_NAME_LENGTH,
    ActionStep,
    Branch,
    ConditionStep,
    Flow,
    SplitterStep,
)
from orderflow.retries import RetrySchedule

IMPORT_STEP = "Import order"
ROUTE_STEP = "Route to flows"
STORE_NOT_ANSWERING = "Store not answering"
STORE_WAIT_READ = "Read the wait"
STORE_WAIT = "Wait for the store"
# A resubmit starts a new execution of the same machine at the failed step (see flows/resubmit.py).
RESUME_FIELD = "resume_at"
RESUME_ENTRY = "Start or resume"
RESUME_AT = "Resume at"
RESUME_REFUSED = "Unknown resume point"
# The states the generator adds around the merchant's steps (models/flow.py reserves the suffixes).
HOLD_STATE = "On hold"
FAILED_SUFFIX = "(failed)"
MERGE_SUFFIX = "(merge)"
TAKEN_SUFFIX = "(taken?)"
HOLD_SUFFIX = "(on hold)"
MAX_STATE_NAME = MAX_NAME_LENGTH
MAX_DEFINITION_BYTES = 1_048_576  # Step Functions' limit on a state machine definition

# DefinitionSubstitutions keys in template.yaml, one per function that performs actions.
ACTION_FUNCTIONS: dict[str, str] = {
    "import_order": "ImportOrderFunctionArn",
    "route_order": "RouteOrderFunctionArn",
    "validate_order_header": "ValidateOrderFunctionArn",
    "validate_order_line": "ValidateOrderFunctionArn",
    "update_order_status": "StatusPushbackFunctionArn",
    # the generated steps: the hold a failed path ends in, and a splitter-merge's merge
    "hold_order": "StatusPushbackFunctionArn",
    "merge_branches": "StatusPushbackFunctionArn",
    "send_to_dom": "SendToDomFunctionArn",
    "assign_fulfillment_source": "AssignFulfillmentSourceFunctionArn",
    "send_to_fulfillment": "SendToFulfillmentFunctionArn",
    "send_to_invoice": "SendToInvoiceFunctionArn",
    "send_to_accounting": "SendToAccountingFunctionArn",
    "cancel_order": "CancelOrderFunctionArn",
    "custom": "CustomActionFunctionArn",
    # return flows: their actions, and the hold their failed paths end in (the return is held)
    "validate_return": "ReturnsFunctionArn",
    "assign_return_source": "ReturnsFunctionArn",
    "send_to_returns_provider": "ReturnsFunctionArn",
    "refund": "ReturnsFunctionArn",
    "update_return_status": "ReturnsFunctionArn",
    "hold_return": "ReturnsFunctionArn",
}
RETURN_ID_FIELD = "return_id"

# Errors worth another attempt: the Lambda service's own, and what our steps raise for problems that
# may pass (see orderflow.errors.TransientStepError).
TRANSIENT_ERRORS = [
    "TransientStepError",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# Actions handing documents to a fulfillment, invoice or accounting provider, which may be down for hours.
PROVIDER_ACTIONS = frozenset(
    {
        "send_to_fulfillment",
        "send_to_invoice",
        "send_to_accounting",
        "cancel_order",
        "send_to_returns_provider",
        "refund",
    }
)
RETRY = {
    "ErrorEquals": TRANSIENT_ERRORS,
    "IntervalSeconds": 2,
    "MaxAttempts": 4,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}

# The import function's concurrency is bounded (ImportConcurrency: a flash sale must not spend the
# store's API quota): a throttled import waits its turn, for as long as a sale takes to drain
# (~50 minutes), rather than failing its intake after the ~30 s of RETRY.
IMPORT_THROTTLED_RETRY = {
    "ErrorEquals": ["Lambda.TooManyRequestsException"],
    "IntervalSeconds": 5,
    "MaxAttempts": 100,
    "BackoffRate": 1.5,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}


class _States(dict[str, Any]):
    """The States of a machine or branch; a name given twice is a bug, never a silent overwrite."""

    def add(self, name: str, state: dict[str, Any]) -> None:
        if name in self:
            raise ValueError(f"two states would be named '{name}'")
        self[name] = state


def generate_asl(
    flow: Flow, policies: Mapping[str, dict[str, Any]] | None = None, waits: RetrySchedule | None = None
) -> dict[str, Any]:
    """The state machine of a validated flow. ``policies`` (name → definition) are the policies the
    flow names, embedded in each step's payload so a published version never changes underneath.
    ``waits`` is how long a step waits for a provider that does not answer (publishing passes the
    stack's schedule; the default is 24 hours)."""
    names = StateNames(step_names(flow.steps))
    states = _States()
    path = _Path(
        kind="hold",
        states=states,
        names=names,
        hold_name=HOLD_STATE,
        provider_retry=_provider_retry(waits or RetrySchedule()),
    )
    _sequence(list(flow.steps), None, None, path, policies or {})
    path.finish()
    if flow.is_return_flow:
        _about_the_return(states)
    resumable = [step.name for step in flow.steps if not isinstance(step, ConditionStep)]
    return {
        "Comment": f"{flow.name} v{flow.version} (flow '{flow.id}'), generated from its flow definition",
        **_with_resume_entry(states, flow.steps[0].name, resumable),
    }


def _about_the_return(states: Mapping[str, Any]) -> None:
    """A return flow's steps are about one return of the order: each Task carries its id, and a failed
    path holds the return (not the order, whose goods have shipped)."""
    for state in states.values():
        if state.get("Type") == "Parallel":
            for branch in state["Branches"]:
                _about_the_return(branch["States"])
        if state.get("Type") != "Task":
            continue
        payload = state["Parameters"]["Payload"]
        payload[f"{RETURN_ID_FIELD}.$"] = f"$.{RETURN_ID_FIELD}"
        if payload.get("action") == "hold_order":
            payload["action"] = "hold_return"
            state["Comment"] = "hold_return"
            state["Parameters"]["FunctionName"] = f"${{{ACTION_FUNCTIONS['hold_return']}}}"


def intake_asl() -> dict[str, Any]:
    """The order intake: import the order once, then start every published flow that applies to it.

    Only an order imported by this run (or imported again, or mapped now) goes on to its flows: the
    route step does nothing after a skipped import (not at the new-order status, already imported)
    or a failed one (values without a mapping: the order waits for an operator, the store shows the
    import-error status). A store that does not answer makes the import raise ``StoreNotAnswering``
    saying how long to wait: the Catch reads it, the machine waits (free on Standard workflows) and
    imports again, on the schedule the import function reads from its environment. So an order
    whose store answers costs two states, its two steps. No other Catch: an order that cannot be
    imported fails its intake execution visibly; it stays pending_import for the sweep.
    """
    states = _States()
    import_task = _task(
        IMPORT_STEP,
        "import_order",
        payload_extra={
            "order_ref.$": "$.order_ref",
            "trigger.$": "$.trigger",
            "previous.$": "$.last",
            "waits_by_error": True,
        },
        next_state=ROUTE_STEP,
    )
    import_task["Retry"].insert(0, dict(IMPORT_THROTTLED_RETRY))
    import_task["Catch"] = [
        {"ErrorEquals": ["StoreNotAnswering"], "ResultPath": "$.last", "Next": STORE_NOT_ANSWERING}
    ]
    states.add(IMPORT_STEP, import_task)
    states.add(
        ROUTE_STEP,
        _task(ROUTE_STEP, "route_order",
              payload_extra={"order_ref.$": "$.order_ref", "trigger.$": "$.trigger", "previous.$": "$.last"},
              next_state=None),
    )  # fmt: skip
    # The Lambda error's Cause is JSON whose errorMessage is the import's own JSON: read twice.
    states.add(
        STORE_NOT_ANSWERING,
        {
            "Type": "Pass",
            "Comment": "the import said how long to wait (capped exponential, within the retry window)",
            "Parameters": {"cause.$": "States.StringToJson($.last.Cause)"},
            "ResultPath": "$.last",
            "Next": STORE_WAIT_READ,
        },
    )
    states.add(
        STORE_WAIT_READ,
        {
            "Type": "Pass",
            "Parameters": {"wait.$": "States.StringToJson($.last.cause.errorMessage)"},
            "ResultPath": "$.last",
            "Next": STORE_WAIT,
        },
    )
    states.add(
        STORE_WAIT,
        {"Type": "Wait", "SecondsPath": "$.last.wait.retry_in", "Next": IMPORT_STEP},
    )
    return {
        "Comment": "Order intake: import each order once, then start the published flows that apply to it",
        **_with_resume_entry(states, IMPORT_STEP, [IMPORT_STEP, ROUTE_STEP]),
    }


def _provider_retry(waits: RetrySchedule) -> dict[str, Any]:
    """A provider that does not answer is asked again on the stack's schedule: capped exponential
    waits for as many tries as fit in the window (Standard workflows wait for free)."""
    attempts = 1
    while not waits.gives_up(attempts) and attempts < 1000:
        attempts += 1
    return {
        "ErrorEquals": ["ProviderUnavailable"],
        "IntervalSeconds": waits.wait(1),
        "MaxAttempts": attempts,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": round(waits.max_seconds),
    }


def _with_resume_entry(states: _States, first: str, targets: list[str]) -> dict[str, Any]:
    """StartAt and States, with a way in for a resubmit: it starts an execution with ``$.resume_at``
    naming the step to run again. Step Functions cannot start an execution mid-machine (and can
    redrive only a FAILED one, while a step that fails softly lets its execution succeed), so:

    * when the first step is a Task, the machine starts at it and the Task gets the execution's
      input: with a ``resume_at`` naming another step it hands over untouched (``ResumeElsewhere``)
      and its Catch goes to the ``Resume at`` Choice. A run that is not a resubmit pays nothing;
    * otherwise (a splitter first), an entry Choice comes first, as it did for every machine before.

    Only top-level actions and splitters are resume points: a state inside a Parallel branch cannot
    be jumped to from outside."""
    refused = _free_name(RESUME_REFUSED, states)
    first_state = states.get(first, {})
    by_catch = first_state.get("Type") == "Task"
    chooser = _free_name(RESUME_AT if by_catch else RESUME_ENTRY, states)
    choices: list[dict[str, Any]] = [
        {"Variable": f"$.{RESUME_FIELD}", "StringEquals": name, "Next": name} for name in targets
    ]
    if not by_catch:
        choices.insert(0, {"Variable": f"$.{RESUME_FIELD}", "IsPresent": False, "Next": first})
    resume_states = _States()
    resume_states.add(
        chooser,
        {
            "Type": "Choice",
            "Comment": f"resume point: {RESUME_FIELD} (a resubmit)"
            + ("" if by_catch else ", else the first step"),
            "Choices": choices,
            "Default": refused,
        },
    )
    resume_states.add(
        refused,
        {
            "Type": "Fail",
            "Error": "UnknownResumePoint",
            "Cause": f"{RESUME_FIELD} names no top-level step of this state machine",
        },
    )
    if not by_catch:
        return {"StartAt": chooser, "States": {**resume_states, **states}}
    first_state["Parameters"]["Payload"]["execution_input.$"] = "$$.Execution.Input"
    handover = {"ErrorEquals": ["ResumeElsewhere"], "ResultPath": None, "Next": chooser}
    first_state["Catch"] = [handover, *first_state.get("Catch", [])]
    return {"StartAt": first, "States": {**states, **resume_states}}


def _free_name(name: str, states: Mapping[str, Any]) -> str:
    # The merchant names the steps: a step called like an entry state keeps its name, the entry moves.
    candidate, number = name, 1
    while candidate in states:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def resume_point(asl: Mapping[str, Any], step: str) -> str | None:
    """Where a resubmit of ``step`` starts: the step itself when it is a top-level action or
    splitter (a splitter-merge's merge result carries the splitter's name), the top-level splitter
    holding it otherwise; None when this machine cannot resume there (a machine generated before
    resume points existed, or a step it does not have)."""
    states: Mapping[str, Any] = asl.get("States", {})
    resumable = {
        choice.get("StringEquals")
        for state in states.values()
        if state.get("Type") == "Choice"
        for choice in state.get("Choices", [])
        if choice.get("Variable") == f"$.{RESUME_FIELD}"
    }
    for name, state in states.items():
        if name not in resumable:
            continue
        if name == step and state["Type"] in {"Task", "Parallel"}:
            return name
        if state["Type"] == "Parallel" and any(_holds(branch, step) for branch in state.get("Branches", [])):
            return name
    return None


def _holds(machine: Mapping[str, Any], step: str) -> bool:
    for name, state in machine.get("States", {}).items():
        if name == step and state["Type"] in {"Task", "Parallel"}:
            return True
        if state["Type"] == "Parallel" and any(_holds(b, step) for b in state.get("Branches", [])):
            return True
    return False


def to_json(asl: dict[str, Any]) -> str:
    """Pretty, stable text: the same flow always gives byte-identical output (the committed machines,
    the stored versions, the API)."""
    return json.dumps(asl, indent=2, ensure_ascii=False) + "\n"


def to_deployable_json(asl: dict[str, Any]) -> str:
    """Compact text, what Step Functions is given: a third smaller than the pretty form, so a flow
    may have more steps before the 1 MiB limit on a definition."""
    return json.dumps(asl, separators=(",", ":"), ensure_ascii=False)


def count_states(asl: dict[str, Any]) -> int:
    """States in the machine, those inside Parallel branches included."""
    total = 0
    for state in asl.get("States", {}).values():
        total += 1
        for branch in state.get("Branches", ()):
            total += count_states(branch)
    return total


# -- the flow's own states --------------------------------------------------------------------------


class StateNames:
    """State names are unique in the whole machine (branches included) and at most 80 characters;
    the merchant's step names are taken first, as they are."""

    def __init__(self, taken: list[str]) -> None:
        self.taken = set(taken)

    def unique(self, name: str) -> str:
        candidate, number = _fit(name), 1
        while candidate in self.taken:
            number += 1
            candidate = _fit(name, f" ({number})")
        self.taken.add(candidate)
        return candidate


def _fit(name: str, tail: str = "") -> str:
    if len(name) + len(tail) <= MAX_STATE_NAME:
        return name + tail
    # Shortened in the middle, where a long step name says least; the marker ("(failed)") stays.
    head, _, marker = name.rpartition(" (")
    marker = f" ({marker}" if head else ""
    head = head or name
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    room = MAX_STATE_NAME - len(marker) - len(tail) - len(digest) - 1
    return f"{head[:room]}…{digest}{marker}{tail}"


def step_names(steps: Any) -> list[str]:
    found: list[str] = []
    for step in steps:
        found.append(step.name)
        if isinstance(step, ConditionStep):
            found += step_names(step.yes) + step_names(step.no)
        elif isinstance(step, SplitterStep):
            for branch in step.branches:
                found += step_names(branch.steps)
    return found


@dataclass
class _Path:
    """Where the steps of a path go when one fails (the failure rule).

    ``hold``: the path ends in its hold state, which puts the order on hold (the top level, and the
    branches of a splitter without merge). ``report``: the path ends with the failure in ``$.last``,
    for the merge after it to report (the branches of a splitter-merge).
    """

    kind: Literal["hold", "report"]
    states: _States
    names: StateNames
    hold_name: str
    provider_retry: dict[str, Any]
    hold: str | None = None

    def hold_state(self) -> str:
        """The path's hold state, named the first time a step needs it (added by ``finish``)."""
        if self.hold is None:
            self.hold = self.names.unique(self.hold_name)
        return self.hold

    def finish(self) -> None:
        if self.hold is not None:
            # No Catch: if even the hold fails after its retries, the execution fails, and that is
            # what alarms an operator.
            self.states.add(
                self.hold,
                _task(self.hold, "hold_order", payload_extra={"failed.$": "$.last"}, next_state=None),
            )


def _sequence(
    steps: list[Any],
    continuation: str | None,
    follower: Any,
    path: _Path,
    policies: Mapping[str, dict[str, Any]],
    *,
    branch: Branch | None = None,
) -> None:
    """The states of a list of steps. ``continuation`` is the state after the last one (None: the
    path ends there) and ``follower`` its step (is it a Condition, which branches on the last one?)."""
    for index, step in enumerate(steps):
        last = index + 1 == len(steps)
        next_state = continuation if last else steps[index + 1].name
        next_step = follower if last else steps[index + 1]
        condition_follows = isinstance(next_step, ConditionStep) and next_state is not None
        if isinstance(step, ActionStep):
            on_success = next_state
            if index == 0 and branch is not None and next_state is not None and _may_skip(step):
                # The branch's first step decides whether the order goes down it.
                on_success = _taken_choice(branch, next_state, path)
            _action(step, on_success, next_state, condition_follows, path, policies)
        elif isinstance(step, ConditionStep):
            _condition(step, next_state, next_step, path, policies)
        elif isinstance(step, SplitterStep):
            _splitter(step, next_state, condition_follows, path, policies)


def _may_skip(step: ActionStep) -> bool:
    return bool(step.filter_policies or step.input_events)


def _taken_choice(branch: Branch, second: str, path: _Path) -> str:
    name = path.names.unique(f"{branch.name} {TAKEN_SUFFIX}")
    end = path.names.unique(f"{branch.name} {END_SUFFIX}")
    path.states.add(
        name,
        {
            "Type": "Choice",
            "Comment": "a branch whose first step is filtered out is not taken",
            "Choices": [{"Variable": "$.last.status", "StringEquals": "skipped", "Next": end}],
            "Default": second,
        },
    )
    path.states.add(end, {"Type": "Succeed", "Comment": "branch not taken"})
    return name


def _action(
    step: ActionStep,
    on_success: str | None,
    next_state: str | None,
    condition_follows: bool,
    path: _Path,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    extra: dict[str, Any] = {}
    if step.params:
        extra["params"] = dict(step.params)
    if step.input_events:
        extra["input_events"] = list(step.input_events)
        extra["event.$"] = "$.event"
    if step.filter_policies:
        extra["filter_policies"] = [policies.get(name, {"name": name}) for name in step.filter_policies]
    if step.execution_policies:
        extra["execution_policies"] = [policies.get(name, {"name": name}) for name in step.execution_policies]
    if step.action == "custom":
        # Through our own function, which calls the target and records its answer as the step result.
        extra["target"] = step.target
    state = _task(step.name, step.action, payload_extra=extra, next_state=on_success)
    if step.action in PROVIDER_ACTIONS:
        state["Retry"].append(dict(path.provider_retry))
    path.states.add(step.name, state)
    _on_failure(step.name, state, next_state, condition_follows, path)


def _on_failure(
    step: str, state: dict[str, Any], next_state: str | None, condition_follows: bool, path: _Path
) -> None:
    """The failure rule. With a Condition next, a failure goes to it ({succeeded: false} from the
    function, or {Error, Cause} caught). Otherwise the function raises ``StepFailed`` for a business
    failure; that, and any error left after the retries, is caught into a small Pass naming the
    step, which ends the path: in the path's hold state, or with the failure in ``$.last``."""
    if condition_follows and next_state is not None:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.last", "Next": next_state}]
        return
    state["Parameters"]["Payload"]["stop_on_failure"] = True
    failed = path.names.unique(f"{step} {FAILED_SUFFIX}")
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.last", "Next": failed}]
    marker: dict[str, Any] = {
        "Type": "Pass",
        "Comment": "the step failed: its path ends here",
        "Parameters": {"step": step, "status": "failed", "succeeded": False, "error.$": "$.last.Error"},
        "ResultPath": "$.last",
    }
    _link(marker, path.hold_state() if path.kind == "hold" else None)
    path.states.add(failed, marker)


def _task(name: str, action: str, *, payload_extra: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": action,
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": f"${{{ACTION_FUNCTIONS[action]}}}",
            "Payload": {
                "order_key.$": "$.order_key",
                "flow.$": "$.flow",
                "execution.$": "$$.Execution.Name",
                "step": name,
                "action": action,
                **payload_extra,
            },
        },
        "ResultSelector": {
            "step.$": "$.Payload.step",
            "status.$": "$.Payload.status",
            "succeeded.$": "$.Payload.succeeded",
        },
        "ResultPath": "$.last",
        "Retry": [dict(RETRY)],
    }
    _link(state, next_state)
    return state


def _condition(
    step: ConditionStep,
    next_state: str | None,
    next_step: Any,
    path: _Path,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    merging = step.element == "condition_merge"
    continuation = next_state if merging else None
    follower = next_step if merging else None
    yes_target = step.yes[0].name if step.yes else continuation or _path_end(step.name, "yes", path)
    no_target = step.no[0].name if step.no else continuation or _path_end(step.name, "no", path)
    # Rules are tried in order, so $.last.succeeded is only compared once we know it is there
    # (a caught error leaves {Error, Cause} in $.last instead).
    path.states.add(
        step.name,
        {
            "Type": "Choice",
            "Comment": step.element,
            "Choices": [
                {"Variable": "$.last.succeeded", "IsPresent": False, "Next": no_target},
                {"Variable": "$.last.succeeded", "BooleanEquals": True, "Next": yes_target},
            ],
            "Default": no_target,
        },
    )
    _sequence(list(step.yes), continuation, follower, path, policies)
    _sequence(list(step.no), continuation, follower, path, policies)


def _splitter(
    step: SplitterStep,
    next_state: str | None,
    condition_follows: bool,
    path: _Path,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    """Parallel branches. A splitter-merge's branches report to its merge, a step that records the
    merge's result and carries on (or, failed, follows the failure rule). A splitter's branches end
    on their own, each holding the order when it fails; inside a splitter-merge's branch, though, a
    splitter merges too: its failure is that branch's, for the outer merge to report."""
    merging = step.element == "splitter_merge" or path.kind == "report"
    branches = []
    for branch in step.branches:
        branch_states = _States()
        branch_path = _Path(
            kind="report" if merging else "hold",
            states=branch_states,
            names=path.names,
            hold_name=f"{branch.name} {HOLD_SUFFIX}",
            provider_retry=path.provider_retry,
        )
        _sequence(list(branch.steps), None, None, branch_path, policies, branch=branch)
        branch_path.finish()
        branches.append(
            {"Comment": branch.name, "StartAt": branch.steps[0].name, "States": dict(branch_states)}
        )
    state: dict[str, Any] = {"Type": "Parallel", "Comment": step.element, "Branches": branches}
    if not merging:
        # Branch outputs are dropped: the state stays as small as the input, whatever the order.
        state["ResultPath"] = None
        _link(state, None)
        path.states.add(step.name, state)
        return
    # Each branch hands on only its last result ({step, status, succeeded}): under a hundred bytes a
    # branch, whatever the order's size.
    state["ResultSelector"] = {"branches.$": "$[*].last"}
    state["ResultPath"] = "$.merge"
    merge = path.names.unique(f"{step.name} {MERGE_SUFFIX}")
    _link(state, merge)
    path.states.add(step.name, state)
    described = [
        {
            "name": branch.name,
            "first_step": branch.steps[0].name
            if isinstance(branch.steps[0], ActionStep) and _may_skip(branch.steps[0])
            else None,
        }
        for branch in step.branches
    ]
    merge_state = _task(
        step.name,
        "merge_branches",
        payload_extra={"branches": described, "results.$": "$.merge.branches"},
        next_state=next_state,
    )
    path.states.add(merge, merge_state)
    _on_failure(step.name, merge_state, next_state, condition_follows, path)


def _path_end(condition: str, which: str, path: _Path) -> str:
    name = path.names.unique(f"{condition} ({which}: end)")
    path.states.add(name, {"Type": "Succeed"})
    return name


def _link(state: dict[str, Any], next_state: str | None) -> None:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state


def substitute(definition: str, substitutions: Mapping[str, str]) -> str:
    """Apply DefinitionSubstitutions like CloudFormation does; an unknown ``${Name}`` is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise ValueError(f"the state machine refers to ${{{name}}}, which DefinitionSubstitutions lacks")
        return substitutions[name]

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, definition)


def limit_problems(asl: dict[str, Any], steps: int | None = None) -> list[str]:
    """What Step Functions would refuse: a definition over 1 MiB once its ARNs are filled in.
    ``steps``, the flow's own step count, lets the message speak of steps rather than states."""
    # a Lambda ARN is at most ~140 characters
    text = re.sub(r"\$\{\w+\}", "x" * 140, to_deployable_json(asl))
    size = len(text.encode())
    if size <= MAX_DEFINITION_BYTES:
        return []
    count, unit = (steps, "steps") if steps else (count_states(asl), "states")
    fits = count * MAX_DEFINITION_BYTES // size
    return [
        f"the flow is too large for one state machine: its {count:,} {unit} would take {size:,} bytes, "
        f"and Step Functions accepts at most {MAX_DEFINITION_BYTES:,} (about {fits:,} {unit} of this "
        "kind); split it into flows that start each other through events, or use fewer steps"
    ]


def structural_problems(asl: dict[str, Any]) -> list[str]:
    """What would make a machine unsound: missing Next targets, unreachable states, bad terminals.

    Checked on every generated machine (tests, publish); applies to Parallel branches recursively.
    """
    problems: list[str] = []
    _check_machine(asl, "", problems)
    return problems


def _check_machine(machine: dict[str, Any], where: str, problems: list[str]) -> None:
    states: dict[str, Any] = machine.get("States", {})
    start = machine.get("StartAt")
    if start not in states:
        problems.append(f"{where}StartAt '{start}' is not a state")
        return
    for name, state in states.items():
        if len(name) > 80:
            problems.append(f"{where}state name longer than 80 characters: '{name[:40]}…'")
        kind = state.get("Type")
        targets = _targets(state)
        for target in targets:
            if target not in states:
                problems.append(f"{where}'{name}' goes to '{target}', which is not a state")
        terminal = kind in {"Succeed", "Fail"} or state.get("End") is True
        if kind == "Choice":
            if state.get("End") or "Next" in state:
                problems.append(f"{where}Choice '{name}' must not have End or Next")
        elif terminal == ("Next" in state):
            problems.append(f"{where}'{name}' must have exactly one of Next and End")
        if kind == "Parallel":
            for index, branch in enumerate(state.get("Branches", [])):
                _check_machine(branch, f"{where}{name}.Branches[{index}]: ", problems)
    reachable, pending = set(), [start]
    while pending:
        name = pending.pop()
        if name in reachable or name not in states:
            continue
        reachable.add(name)
        pending.extend(_targets(states[name]))
    for name in states:
        if name not in reachable:
            problems.append(f"{where}'{name}' cannot be reached from '{start}'")


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    if "Default" in state:
        targets.append(state["Default"])
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets
