"""The flow → Amazon States Language generator: a pure, deterministic function.

Every action is a Task invoking its function with a small payload (the order travels by key, not by
value, with the step's policies); business failures come back as ``succeeded: false``;
infrastructure errors retry with backoff and are then caught into ``$.last`` so the next Condition
can branch on them. Lambda ARNs are ``${...}`` DefinitionSubstitutions so the same text deploys with
SAM, is published through the admin API, and runs in the local runtime.

Orders reach a flow already imported: the order intake machine (``intake_asl``) imports each order
once and starts the flows whose input events and filter policies match it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orderflow.flows.model import (
    END_SUFFIX,
    ActionStep,
    ConditionStep,
    Flow,
    SplitterStep,
)

IMPORT_STEP = "Import order"
ROUTE_STEP = "Route to flows"
IMPORTED_CHOICE = "Imported?"
NOT_ROUTED = "Nothing to route"
# A resubmit starts a new execution of the same machine at the failed step (see orderflow/resubmit.py).
RESUME_FIELD = "resume_at"
RESUME_ENTRY = "Start or resume"
RESUME_REFUSED = "Unknown resume point"
MAX_DEFINITION_BYTES = 1_048_576  # Step Functions' limit on a state machine definition

# DefinitionSubstitutions keys in template.yaml, one per function that performs actions.
ACTION_FUNCTIONS: dict[str, str] = {
    "import_order": "ImportOrderFunctionArn",
    "route_order": "RouteOrderFunctionArn",
    "validate_order_header": "ValidateOrderFunctionArn",
    "validate_order_line": "ValidateOrderFunctionArn",
    "update_order_status": "StatusPushbackFunctionArn",
    "send_to_dom": "SendToDomFunctionArn",
    "assign_fulfillment_source": "AssignFulfillmentSourceFunctionArn",
    "send_to_fulfillment": "SendToFulfillmentFunctionArn",
    "send_to_invoice": "SendToInvoiceFunctionArn",
    "custom": "CustomActionFunctionArn",
}

# Errors worth another attempt: the Lambda service's own, and what our steps raise for problems that
# may pass (see orderflow.errors.TransientStepError).
TRANSIENT_ERRORS = [
    "TransientStepError",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
RETRY = {
    "ErrorEquals": TRANSIENT_ERRORS,
    "IntervalSeconds": 2,
    "MaxAttempts": 4,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}


class _States(dict[str, Any]):
    """The States of a machine or branch; a name given twice is a bug, never a silent overwrite."""

    def add(self, name: str, state: dict[str, Any]) -> None:
        if name in self:
            raise ValueError(f"two states would be named '{name}'")
        self[name] = state


def generate_asl(flow: Flow, policies: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The state machine of a validated flow. ``policies`` (name → definition) are the policies the
    flow names, embedded in each step's payload so a published version never changes underneath."""
    states = _States()
    _sequence(list(flow.steps), None, states, in_branch=None, policies=policies or {})
    return {
        "Comment": f"{flow.name} v{flow.version} (flow '{flow.id}'), generated from its flow definition",
        **_with_resume_entry(states, flow.steps[0].name),
    }


def intake_asl() -> dict[str, Any]:
    """The order intake: import the order once, then start every published flow that applies to it.

    Only an order imported by this run (or imported again, or mapped now) goes on to its flows: a
    skipped import (not at the new-order status, already imported) ends here, and so does a failed
    one (values without a mapping: the order waits for an operator, the store shows the
    import-error status). No Catch: an order that cannot be imported fails its intake execution
    visibly (and redrivably).
    """
    states = _States()
    states.add(
        IMPORT_STEP,
        _task(IMPORT_STEP, "import_order", payload_extra={"order_ref.$": "$.order_ref", "trigger.$": "$.trigger"},
              next_state=IMPORTED_CHOICE, catch=False),
    )  # fmt: skip
    states.add(
        IMPORTED_CHOICE,
        {
            "Type": "Choice",
            "Comment": "route only what this run imported",
            "Choices": [{"Variable": "$.last.status", "StringEquals": "succeeded", "Next": ROUTE_STEP}],
            "Default": NOT_ROUTED,
        },
    )
    states.add(
        ROUTE_STEP,
        _task(ROUTE_STEP, "route_order", payload_extra={"order_ref.$": "$.order_ref", "trigger.$": "$.trigger"},
              next_state=None, catch=False),
    )  # fmt: skip
    states.add(NOT_ROUTED, {"Type": "Succeed", "Comment": "nothing imported by this run: no flow to start"})
    return {
        "Comment": "Order intake: import each order once, then start the published flows that apply to it",
        **_with_resume_entry(states, IMPORT_STEP),
    }


def _with_resume_entry(states: _States, first: str) -> dict[str, Any]:
    """StartAt and States, behind an entry Choice: without ``$.resume_at`` the machine starts at its
    first step; with it, at that step. Step Functions cannot start an execution mid-machine (and can
    redrive only a FAILED one, while a step that fails softly lets its execution succeed), so this
    is how a resubmit re-runs one version from its failed step. Only top-level Tasks and splitters
    are resume points: a state inside a Parallel branch cannot be jumped to from outside."""
    entry = _free_name(RESUME_ENTRY, states)
    refused = _free_name(RESUME_REFUSED, states)
    targets = [name for name, state in states.items() if state["Type"] in {"Task", "Parallel"}]
    entry_states = _States()
    entry_states.add(
        entry,
        {
            "Type": "Choice",
            "Comment": f"resume point: {RESUME_FIELD} (a resubmit), else the first step",
            "Choices": [
                {"Variable": f"$.{RESUME_FIELD}", "IsPresent": False, "Next": first},
                *({"Variable": f"$.{RESUME_FIELD}", "StringEquals": name, "Next": name} for name in targets),
            ],
            "Default": refused,
        },
    )
    entry_states.add(
        refused,
        {
            "Type": "Fail",
            "Error": "UnknownResumePoint",
            "Cause": f"{RESUME_FIELD} names no top-level step of this state machine",
        },
    )
    return {"StartAt": entry, "States": {**entry_states, **states}}


def _free_name(name: str, states: Mapping[str, Any]) -> str:
    # The merchant names the steps: a step called like an entry state keeps its name, the entry moves.
    candidate, number = name, 1
    while candidate in states:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def resume_point(asl: Mapping[str, Any], step: str) -> str | None:
    """Where a resubmit of ``step`` starts: the step itself when it is a top-level Task, the
    top-level splitter holding it otherwise; None when this machine cannot resume there (a machine
    generated before resume points existed, or a step it does not have)."""
    states: Mapping[str, Any] = asl.get("States", {})
    entry = states.get(asl.get("StartAt", ""), {})
    choices = entry.get("Choices", []) if entry.get("Type") == "Choice" else []
    resumable = {c.get("StringEquals") for c in choices if c.get("Variable") == f"$.{RESUME_FIELD}"}
    for name, state in states.items():
        if name not in resumable:
            continue
        if name == step and state["Type"] == "Task":
            return name
        if state["Type"] == "Parallel" and any(_holds(branch, step) for branch in state.get("Branches", [])):
            return name
    return None


def _holds(machine: Mapping[str, Any], step: str) -> bool:
    for name, state in machine.get("States", {}).items():
        if name == step and state["Type"] == "Task":
            return True
        if state["Type"] == "Parallel" and any(_holds(b, step) for b in state.get("Branches", [])):
            return True
    return False


def to_json(asl: dict[str, Any]) -> str:
    """Pretty, stable text: the same flow always gives byte-identical output."""
    return json.dumps(asl, indent=2, ensure_ascii=False) + "\n"


def _sequence(
    steps: list[Any],
    continuation: str | None,
    states: _States,
    in_branch: str | None,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    for index, step in enumerate(steps):
        next_state = steps[index + 1].name if index + 1 < len(steps) else continuation
        if isinstance(step, ActionStep):
            _action(step, next_state, states, in_branch, policies)
        elif isinstance(step, ConditionStep):
            _condition(step, next_state, states, in_branch, policies)
        elif isinstance(step, SplitterStep):
            _splitter(step, next_state, states, policies)


def _action(
    step: ActionStep,
    next_state: str | None,
    states: _States,
    in_branch: str | None,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    extra: dict[str, Any] = {}
    if step.params:
        extra["params"] = dict(step.params)
    if step.input_events:
        extra["input_events"] = list(step.input_events)
    if step.filter_policies:
        extra["filter_policies"] = [policies.get(name, {"name": name}) for name in step.filter_policies]
    if step.execution_policies:
        extra["execution_policies"] = [policies.get(name, {"name": name}) for name in step.execution_policies]
    if step.action == "custom":
        # Through our own function, which calls the target and records its answer as the step result.
        extra["target"] = step.target
    function = f"${{{ACTION_FUNCTIONS[step.action]}}}"
    catch_to = next_state
    if catch_to is None and in_branch is not None:
        # Inside a splitter a failure must not cancel the sibling branches: end this branch softly.
        catch_to = _branch_end(in_branch, states)
    states.add(
        step.name,
        _task(
            step.name,
            step.action,
            payload_extra=extra,
            next_state=next_state,
            catch=catch_to is not None,
            catch_to=catch_to,
            function=function,
        ),
    )


def _task(
    name: str,
    action: str,
    *,
    payload_extra: dict[str, Any],
    next_state: str | None,
    catch: bool,
    catch_to: str | None = None,
    function: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": action,
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": function or f"${{{ACTION_FUNCTIONS[action]}}}",
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
    if catch:
        state["Catch"] = [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.last", "Next": catch_to or next_state}
        ]
    _link(state, next_state)
    return state


def _condition(
    step: ConditionStep,
    next_state: str | None,
    states: _States,
    in_branch: str | None,
    policies: Mapping[str, dict[str, Any]],
) -> None:
    continuation = next_state if step.element == "condition_merge" else None
    yes_target = step.yes[0].name if step.yes else continuation or _path_end(step.name, "yes", states)
    no_target = step.no[0].name if step.no else continuation or _path_end(step.name, "no", states)
    # Rules are tried in order, so $.last.succeeded is only compared once we know it is there
    # (a caught error leaves {Error, Cause} in $.last instead).
    states.add(
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
    _sequence(list(step.yes), continuation, states, in_branch, policies)
    _sequence(list(step.no), continuation, states, in_branch, policies)


def _splitter(
    step: SplitterStep, next_state: str | None, states: _States, policies: Mapping[str, dict[str, Any]]
) -> None:
    branches = []
    for branch in step.branches:
        branch_states = _States()
        _sequence(list(branch.steps), None, branch_states, in_branch=branch.name, policies=policies)
        branches.append(
            {"Comment": branch.name, "StartAt": branch.steps[0].name, "States": dict(branch_states)}
        )
    state: dict[str, Any] = {
        "Type": "Parallel",
        "Comment": step.element,
        "Branches": branches,
        # Branch outputs are dropped: the merged state stays as small as the input, whatever the order.
        "ResultPath": None,
    }
    _link(state, next_state if step.element == "splitter_merge" else None)
    states.add(step.name, state)


def _path_end(condition: str, path: str, states: _States) -> str:
    name = _end_name(f"{condition} ({path}: ")
    states.add(name, {"Type": "Succeed"})
    return name


def _branch_end(branch: str, states: _States) -> str:
    name = _end_name(f"{branch} ")
    if name not in states:
        states.add(name, {"Type": "Succeed", "Comment": "a failed step ends its branch only"})
    return name


def _end_name(prefix: str) -> str:
    # State names are limited to 80 characters: shorten the step name, keep the "(end)" marker.
    room = 80 - len(END_SUFFIX)
    return (prefix if len(prefix) <= room else prefix[: room - 1] + "…") + END_SUFFIX


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


def limit_problems(asl: dict[str, Any]) -> list[str]:
    """What Step Functions would refuse: a definition over 1 MiB once its ARNs are filled in."""
    text = re.sub(r"\$\{\w+\}", "x" * 140, to_json(asl))  # a Lambda ARN is at most ~140 characters
    size = len(text.encode())
    if size > MAX_DEFINITION_BYTES:
        return [
            f"the generated state machine would be {size:,} bytes; Step Functions accepts at most "
            f"{MAX_DEFINITION_BYTES:,} (split the flow, or use fewer steps)"
        ]
    return []


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
