"""Flow definitions as data: actions and elements (condition, splitter and their merging variants).

A flow is validated as a whole before anything uses it; errors name their path in the flow, e.g.
``steps[2].yes[0].action: unknown action 'send_to_xyz'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, Protocol, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from orderflow import config
from orderflow.models.event import EVENTS, RETURN_EVENTS, is_known
from orderflow.models.order import OrderStatus, slug
from orderflow.models.returns import ReturnStatus
from orderflow.problems import Problems, loc_path

MAX_NAME_LENGTH = 80  # Step Functions' limit on state names, which are our step names.
END_SUFFIX = "(end)"  # the generator names the end states it adds "<branch> (end)", "<condition> (no: end)"
# ... and the other states it adds after a step or branch: "<step> (failed)", "<splitter> (merge)",
# "<branch> (taken?)", "<branch> (on hold)". Step names cannot end like these.
RESERVED_SUFFIXES = (END_SUFFIX, "(failed)", "(merge)", "(taken?)", "(on hold)")
EVENT_PATTERN = r"^[a-z][a-z0-9_]*$"

Action = Literal[
    "validate_order_header",
    "validate_order_line",
    "send_to_dom",
    "assign_fulfillment_source",
    "send_to_fulfillment",
    "send_to_invoice",
    "send_to_accounting",
    "update_order_status",
    "cancel_order",
    "validate_return",
    "assign_return_source",
    "send_to_returns_provider",
    "refund",
    "update_return_status",
    "custom",
]
ACTIONS: tuple[str, ...] = get_args(Action)
FlowType = Literal["order_orchestration", "return_orchestration"]
FLOW_TYPES: tuple[str, ...] = get_args(FlowType)
# What each type of flow may do: an order flow moves orders, a return flow moves a return of one.
RETURN_ACTIONS = frozenset(
    {"validate_return", "assign_return_source", "send_to_returns_provider", "refund", "update_return_status"}
)
SHARED_ACTIONS = frozenset({"custom"})
ORDER_ACTIONS = frozenset(ACTIONS) - RETURN_ACTIONS - SHARED_ACTIONS
StepName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


def _known_event(value: str) -> str:
    if not is_known(value):
        raise ValueError(f"unknown event {value!r} (known: {', '.join(EVENTS)})")
    return value


EventName = Annotated[str, Field(pattern=EVENT_PATTERN, max_length=80), AfterValidator(_known_event)]


class FlowError(Problems):
    """A flow that cannot be used; ``problems`` lists every mistake with its path."""


def _local_http(url: str) -> bool:
    """A plain-http endpoint on this machine, where the deployment allows loopback targets (the local
    runtime's tests and demo; never on AWS). Each call is still checked when it is made."""
    host = (urlsplit(url).hostname or "").lower()
    return config.settings().allow_loopback_targets is True and host in ("127.0.0.1", "localhost", "::1")


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True, frozen=True)


class ActionStep(_Strict):
    name: StepName
    action: Action
    input_events: list[EventName] = Field(default_factory=list)
    filter_policies: list[str] = Field(default_factory=list)
    execution_policies: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    # custom actions: a Lambda (name or ARN, named <stack>-custom-* so flows may invoke it) or an
    # https:// endpoint; it answers {"succeeded": bool, "message": str}
    target: str | None = None

    @model_validator(mode="after")
    def _action_needs(self) -> ActionStep:
        if self.action == "custom" and not self.target:
            raise ValueError(
                "a custom action needs a target (a Lambda function name or ARN, or an https:// URL)"
            )
        if self.target and self.target.startswith("http://") and not _local_http(self.target):
            raise ValueError(
                "a custom action's endpoint must be https:// (plain http only on 127.0.0.1 or localhost, "
                "where ALLOW_LOOPBACK_TARGETS is true: a local run)"
            )
        if self.action == "update_order_status":
            status = self.params.get("status")
            settable = [
                s.value
                for s in OrderStatus
                if s not in (OrderStatus.PENDING_IMPORT, OrderStatus.IMPORT_FAILED)
            ]
            if status not in settable:
                known = ", ".join(settable)
                raise ValueError(f"params.status must be one of: {known} (got {status!r})")
        if self.action == "update_return_status":
            status = self.params.get("status")
            settable = [s.value for s in ReturnStatus if s != ReturnStatus.REQUESTED]
            if status not in settable:
                raise ValueError(f"params.status must be one of: {', '.join(settable)} (got {status!r})")
        return self


class ConditionStep(_Strict):
    """Yes/no on whether the previous step succeeded. ``condition`` paths end; ``condition_merge``
    paths rejoin at the step after it."""

    name: StepName
    element: Literal["condition", "condition_merge"]
    yes: list[Step] = Field(default_factory=list)
    no: list[Step] = Field(default_factory=list)


class Branch(_Strict):
    name: StepName
    steps: list[Step] = Field(min_length=1)


class SplitterStep(_Strict):
    """Parallel branches. ``splitter`` branches each run to their own end; ``splitter_merge``
    continues with the next step once all branches finish."""

    name: StepName
    element: Literal["splitter", "splitter_merge"]
    branches: list[Branch] = Field(min_length=1)


def merge_message(branches: int, ran: list[str], skipped: list[str], failed: list[dict[str, Any]]) -> str:
    """How a splitter-merge's result reads, in a run (flow_control) and in a dry run alike."""
    parts = [f"{branches} branches"]
    if ran:
        parts.append(f"succeeded: {', '.join(ran)}")
    if skipped:
        parts.append(f"skipped: {', '.join(skipped)}")
    if failed:
        parts.append(
            "failed: " + "; ".join(f"{f['branch']} at '{f['step']}': {f['message']}" for f in failed)
        )
    elif not ran:
        parts.append("no branch applied to this order")
    return "; ".join(parts)


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "action" in value:
            return "action"
        return {
            "condition": "condition",
            "condition_merge": "condition",
            "splitter": "splitter",
            "splitter_merge": "splitter",
        }.get(str(value.get("element")), "unknown")
    if isinstance(value, ActionStep):
        return "action"
    if isinstance(value, ConditionStep):
        return "condition"
    if isinstance(value, SplitterStep):
        return "splitter"
    return None


Step = Annotated[
    Annotated[ActionStep, Tag("action")]
    | Annotated[ConditionStep, Tag("condition")]
    | Annotated[SplitterStep, Tag("splitter")],
    Discriminator(
        _step_kind,
        custom_error_type="unknown_step",
        custom_error_message="a step needs an 'action' or an 'element' (condition, condition_merge, "
        "splitter, splitter_merge)",
    ),
]


class Flow(_Strict):
    name: StepName
    type: FlowType = "order_orchestration"
    description: str = ""
    created_on: date | None = None
    status: Literal["unpublished", "published"] = "unpublished"
    version: int = Field(default=1, ge=1)
    # Which orders the flow is for: the events that start it, and the filter policies an order
    # must match (checked on the imported order before an execution is started).
    input_events: list[EventName] = Field(default_factory=lambda: ["new_order"], min_length=1)
    filter_policies: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @property
    def id(self) -> str:
        return slug(self.name)

    @model_validator(mode="before")
    @classmethod
    def _return_flow_events(cls, data: Any) -> Any:
        # A return flow without input events starts when a return is requested (an order flow: new orders).
        if (
            isinstance(data, dict)
            and data.get("type") == "return_orchestration"
            and "input_events" not in data
        ):
            return {**data, "input_events": ["return_requested"]}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if value not in FLOW_TYPES:
            raise ValueError(f"unsupported flow type {value!r} (known: {', '.join(FLOW_TYPES)})")
        return value

    @property
    def is_return_flow(self) -> bool:
        return self.type == "return_orchestration"


# The models refer to each other (a branch holds steps): with defer_build, pydantic resolves the
# references when a model is first used, so a function that never parses one never builds it.


def parse_flow(data: Any) -> Flow:
    """Validate a whole flow (structure and semantics) and return it; raise FlowError with paths."""
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "action":
                message = f"unknown action {err.get('input')!r} (known: {', '.join(ACTIONS)})"
            problems.append(f"{loc_path(err['loc'], {'action', 'condition', 'splitter'})}: {message}")
        raise FlowError(problems) from None
    problems = check_flow(flow)
    if problems:
        raise FlowError(problems)
    return flow


def check_flow(flow: Flow) -> list[str]:
    """Semantic checks the schema cannot express: unique names, what may follow what."""
    problems: list[str] = []
    seen: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        reserved = next((suffix for suffix in RESERVED_SUFFIXES if name.endswith(suffix)), None)
        if reserved:
            problems.append(
                f"{path}.name: names ending in '{reserved}' are kept for the states the generator adds"
            )
        elif name in seen:
            problems.append(f"{path}.name: duplicate step name '{name}' (also at {seen[name]})")
        else:
            seen[name] = path

    def walk(steps: list[Any], path: str, has_previous: bool) -> None:
        for index, step in enumerate(steps):
            here = f"{path}[{index}]"
            claim(step.name, here)
            previous = has_previous or index > 0
            if isinstance(step, ConditionStep):
                if not previous:
                    problems.append(f"{here}: a condition needs a previous step whose result it tests")
                if step.element == "condition" and index < len(steps) - 1:
                    problems.append(
                        f"{path}[{index + 1}]: a step cannot follow '{step.name}' (a condition's paths "
                        "end; use condition_merge to continue after it)"
                    )
                walk(step.yes, f"{here}.yes", True)
                walk(step.no, f"{here}.no", True)
            elif isinstance(step, SplitterStep):
                if step.element == "splitter" and index < len(steps) - 1:
                    problems.append(
                        f"{path}[{index + 1}]: a step cannot follow '{step.name}' (a splitter's branches "
                        "do not merge; use splitter_merge to continue after it)"
                    )
                for b_index, branch in enumerate(step.branches):
                    claim(branch.name, f"{here}.branches[{b_index}]")
                    walk(branch.steps, f"{here}.branches[{b_index}].steps", previous)

    walk(list(flow.steps), "steps", False)
    problems.extend(_type_problems(flow))
    return problems


def _type_problems(flow: Flow) -> list[str]:
    """A return flow runs on return events with return actions; an order flow on order events with
    order actions (custom actions serve both)."""
    returns = flow.is_return_flow
    kind = "a return flow" if returns else "an order flow"
    problems = []

    def event_fits(event: str) -> bool:
        return (event in RETURN_EVENTS) == returns

    wanted = "return_requested, return_received, return_refunded" if returns else "order events"
    for index, event in enumerate(flow.input_events):
        if not event_fits(event):
            problems.append(f"input_events[{index}]: {kind} starts on {wanted}, not on {event!r}")

    def walk(steps: list[Any], path: str) -> None:
        for index, step in enumerate(steps):
            here = f"{path}[{index}]"
            if isinstance(step, ActionStep):
                allowed = (RETURN_ACTIONS if returns else ORDER_ACTIONS) | SHARED_ACTIONS
                if step.action not in allowed:
                    other = "an order flow" if returns else "a return flow"
                    problems.append(
                        f"{here}.action: '{step.action}' belongs in {other}; {kind} uses: "
                        f"{', '.join(sorted(allowed))}"
                    )
                for e_index, event in enumerate(step.input_events):
                    if not event_fits(event):
                        problems.append(
                            f"{here}.input_events[{e_index}]: {kind} runs on {wanted}, not {event!r}"
                        )
            elif isinstance(step, ConditionStep):
                walk(step.yes, f"{here}.yes")
                walk(step.no, f"{here}.no")
            elif isinstance(step, SplitterStep):
                for b_index, branch in enumerate(step.branches):
                    walk(branch.steps, f"{here}.branches[{b_index}].steps")

    walk(list(flow.steps), "steps")
    return problems


class PolicyLike(Protocol):
    """What a flow needs to know of a policy it names (see orderflow.policies.model.Policy)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def status(self) -> str: ...


def step_count(steps: list[Any]) -> int:
    """The flow's steps, actions and elements alike, those inside conditions and branches included."""
    total = 0
    for step in steps:
        total += 1
        if isinstance(step, ConditionStep):
            total += step_count(step.yes) + step_count(step.no)
        elif isinstance(step, SplitterStep):
            total += sum(step_count(branch.steps) for branch in step.branches)
    return total


def policy_references(flow: Flow) -> list[tuple[str, str, str]]:
    """Every policy a flow names: (path, expected kind, name)."""
    found = [(f"filter_policies[{i}]", "filter", name) for i, name in enumerate(flow.filter_policies)]

    def walk(steps: list[Any], path: str) -> None:
        for index, step in enumerate(steps):
            here = f"{path}[{index}]"
            if isinstance(step, ActionStep):
                found.extend(
                    (f"{here}.filter_policies[{i}]", "filter", n) for i, n in enumerate(step.filter_policies)
                )
                found.extend(
                    (f"{here}.execution_policies[{i}]", "execution", n)
                    for i, n in enumerate(step.execution_policies)
                )
            elif isinstance(step, ConditionStep):
                walk(step.yes, f"{here}.yes")
                walk(step.no, f"{here}.no")
            elif isinstance(step, SplitterStep):
                for b_index, branch in enumerate(step.branches):
                    walk(branch.steps, f"{here}.branches[{b_index}].steps")

    walk(list(flow.steps), "steps")
    return found


def check_policies(flow: Flow, policies: Mapping[str, PolicyLike], require_published: bool) -> list[str]:
    """Each named policy exists, is of the kind its place needs, and (to publish) is published."""
    problems = []
    for path, kind, name in policy_references(flow):
        policy = policies.get(name)
        if policy is None:
            problems.append(f"{path}: unknown policy '{name}'")
        elif policy.kind != kind:
            problems.append(f"{path}: '{name}' is a {policy.kind} policy, not a {kind} policy")
        elif require_published and policy.status != "published":
            problems.append(f"{path}: policy '{name}' is not published (only published policies can be used)")
    return problems
