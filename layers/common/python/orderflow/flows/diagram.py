"""The flow → Mermaid flowchart renderer: a flow the way the designer canvas shows it, with the
failure exits the generated state machine takes (README "When a step fails") drawn as dotted edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# The state machine's own naming, so that hold and merge nodes read like the states they stand for.
from orderflow.flows.asl import HOLD_STATE, HOLD_SUFFIX, MERGE_SUFFIX, StateNames, step_names
from orderflow.models.flow import ActionStep, Branch, ConditionStep, Flow, SplitterStep

START_LABEL = "New order imported"
# What the start node says for each event a flow starts on.
EVENT_LABELS = {
    "new_order": START_LABEL,
    "order_cancelled": "Order cancelled in the store",
    "order_status_changed": "Status changed in the store",
    "order_shipped": "Order shipped",
    "order_partially_shipped": "Order partially shipped",
    "fulfillment_failed": "Fulfillment failed",
    "return_requested": "Return requested",
    "return_received": "Return received",
    "return_refunded": "Return refunded",
}
# What the markdown heading calls each type of flow.
FLOW_TYPE_LABELS = {"order_orchestration": "order flow", "return_orchestration": "return flow"}
END_LABEL = "End"
FAILED_LABEL = "failed"

# Characters Mermaid (or the HTML the label becomes) could read as syntax, as Mermaid entity codes:
# ``#name;`` / ``#123;`` turn into ``&name;`` / ``&#123;`` when the diagram renders. ``:`` is coded
# so that no line can match Mermaid's ``style…:…#…;`` pre-processing, ``|`` so labels are safe
# between edge pipes, and the backtick so no label becomes a markdown string.
_ENTITIES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "|": "#124;",
    ":": "#58;",
}

_ACTION_TEXT = {
    "validate_order_header": "validate order header",
    "validate_order_line": "validate order line",
    "send_to_dom": "send to DOM",
    "assign_fulfillment_source": "assign fulfillment source",
    "send_to_fulfillment": "send to fulfillment",
    "send_to_invoice": "send to invoice",
    "send_to_accounting": "send to accounting",
    "update_order_status": "update order status",
    "cancel_order": "cancel order",
    "validate_return": "validate return",
    "assign_return_source": "assign return source",
    "send_to_returns_provider": "send to returns provider",
    "refund": "refund in BigCommerce",
    "update_return_status": "update return status",
    "custom": "custom action",
}


def escape_label(text: str) -> str:
    """Text made safe inside a quoted Mermaid label (``id["..."]``, ``-->|"..."|``).

    Printable ASCII stays as it is except the characters in ``_ENTITIES``; everything else
    (unicode such as en dashes, line breaks, tabs) becomes a numeric entity code.
    """
    out = []
    for char in text:
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"#{ord(char)};")
    return "".join(out)


def to_mermaid(flow: Flow) -> str:
    """The flow as Mermaid flowchart text; the same flow always gives byte-identical text.

    Deterministic: node ids are ``n1``, ``n2``, … in walk order (never derived from names) and every
    label goes through :func:`escape_label`, so any step name is safe. It renders on GitHub and in
    most markdown viewers (``flowchart TD``, classic shapes only, quoted labels, no styling).

    A path that ends goes to an ``End`` node of its own; inside a splitter-merge's branch it goes to
    the merge instead. Every action (and merge) with no Condition right after it has a dotted
    ``failed`` edge: to the ``On hold`` node of its path (the top level, each splitter branch), or,
    in a splitter-merge's branch, to the merge, which reports it.
    """
    renderer = _Renderer(StateNames(step_names(flow.steps)))
    label = " / ".join(EVENT_LABELS.get(event, event) for event in flow.input_events)
    start = renderer.node(label, "([", "])")
    top = _Scope(hold=renderer.names.unique(HOLD_STATE))
    renderer.scopes.append(top)
    renderer.end(renderer.sequence(flow.steps, [_Exit(start)], None))
    renderer.finish(top)
    return renderer.text()


def to_markdown(flow: Flow) -> str:
    """The diagram in a fenced ``mermaid`` block under a ``### <name> v<version> (<type>)`` heading."""
    heading = _markdown_text(f"{flow.name} v{flow.version} ({FLOW_TYPE_LABELS[flow.type]})")
    return f"### {heading}\n\n```mermaid\n{to_mermaid(flow)}```\n"


@dataclass(frozen=True)
class _Exit:
    """A way out of what has been drawn so far: an edge from ``source`` still looking for a target."""

    source: str
    label: str | None = None  # already escaped
    failed: bool = False  # the dotted edge a failure takes


@dataclass
class _Scope:
    """A path container. With a ``hold`` (the top level, a splitter's branch) its paths end in End
    nodes and its failures in its hold node; without (a splitter-merge's branches) both go to the merge."""

    hold: str | None
    failures: list[_Exit] = field(default_factory=list)
    into_merge: list[_Exit] = field(default_factory=list)


@dataclass
class _Renderer:
    names: StateNames
    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    scopes: list[_Scope] = field(default_factory=list)

    def node(self, label: str, opening: str, closing: str) -> str:
        node_id = f"n{len(self.nodes) + 1}"
        self.nodes.append(f'    {node_id}{opening}"{label}"{closing}')
        return node_id

    def connect(self, exits: list[_Exit], target: str) -> None:
        for exit_ in exits:
            if exit_.failed:
                self.edges.append(f"    {exit_.source} -. {exit_.label} .-> {target}")
            elif exit_.label is None:
                self.edges.append(f"    {exit_.source} --> {target}")
            elif exit_.label in {"yes", "no"}:
                self.edges.append(f"    {exit_.source} -- {exit_.label} --> {target}")
            else:
                self.edges.append(f'    {exit_.source} -->|"{exit_.label}"| {target}')

    def end(self, exits: list[_Exit]) -> None:
        """Where paths stop: the enclosing splitter-merge's merge, or an End node of their own."""
        if not exits:
            return
        scope = self.scopes[-1]
        if scope.hold is None:
            scope.into_merge.extend(exits)
        else:
            self.connect(exits, self.node(END_LABEL, "((", "))"))

    def fail(self, source: str, next_step: object) -> None:
        """The failure rule: a failure goes to the Condition right after, else it ends the path."""
        if isinstance(next_step, ConditionStep):
            return
        self.scopes[-1].failures.append(_Exit(source, FAILED_LABEL, failed=True))

    def finish(self, scope: _Scope) -> None:
        """The scope's hold node, drawn after its paths, when some failure ends in it."""
        if scope.hold is not None and scope.failures:
            self.connect(scope.failures, self.node(escape_label(scope.hold), "(", ")"))

    def sequence(self, steps: Sequence[object], exits: list[_Exit], follower: object) -> list[_Exit]:
        """``follower`` is the step after these (None when the path ends after them)."""
        for index, step in enumerate(steps):
            next_step = steps[index + 1] if index + 1 < len(steps) else follower
            exits = self.step(step, exits, next_step)
        return exits

    def step(self, step: object, exits: list[_Exit], next_step: object) -> list[_Exit]:
        if isinstance(step, ActionStep):
            node_id = self.node(_action_label(step), "[", "]")
            self.connect(exits, node_id)
            self.fail(node_id, next_step)
            return [_Exit(node_id)]
        if isinstance(step, ConditionStep):
            node_id = self.node(escape_label(step.name), "{", "}")
            self.connect(exits, node_id)
            merging = step.element == "condition_merge"
            yes = self.sequence(step.yes, [_Exit(node_id, "yes")], next_step if merging else None)
            no = self.sequence(step.no, [_Exit(node_id, "no")], next_step if merging else None)
            if merging:
                return yes + no
            self.end(yes)
            self.end(no)
            return []
        if isinstance(step, SplitterStep):
            return self.splitter(step, exits, next_step)
        raise TypeError(f"not a flow step: {step!r}")

    def splitter(self, step: SplitterStep, exits: list[_Exit], next_step: object) -> list[_Exit]:
        node_id = self.node(escape_label(step.name), "{{", "}}")
        self.connect(exits, node_id)
        # Inside a splitter-merge's branch a plain splitter merges too, as the state machine does.
        merging = step.element == "splitter_merge" or self.scopes[-1].hold is None
        if not merging:
            for branch in step.branches:
                scope = _Scope(hold=self.names.unique(f"{branch.name} {HOLD_SUFFIX}"))
                self.scopes.append(scope)
                self.end(self.branch(node_id, branch))
                self.scopes.pop()
                self.finish(scope)
            return []
        collected = _Scope(hold=None)
        self.scopes.append(collected)
        for branch in step.branches:
            self.end(self.branch(node_id, branch))
        self.scopes.pop()
        merge = self.node(escape_label(f"{step.name} {MERGE_SUFFIX}"), "[[", "]]")
        self.connect(collected.into_merge + collected.failures, merge)
        self.fail(merge, next_step)
        return [_Exit(merge)]

    def branch(self, fork: str, branch: Branch) -> list[_Exit]:
        return self.sequence(branch.steps, [_Exit(fork, escape_label(branch.name))], None)

    def text(self) -> str:
        return "\n".join(["flowchart TD", *self.nodes, *self.edges]) + "\n"


def _action_label(step: ActionStep) -> str:
    detail = _ACTION_TEXT.get(step.action, step.action.replace("_", " "))
    if step.action == "update_order_status" and "status" in step.params:
        detail = f"set status to {step.params['status']!s}"
    elif step.action == "update_return_status" and "status" in step.params:
        detail = f"set return status to {step.params['status']!s}"
    elif step.action == "custom" and step.target:
        detail = f"custom action {_function_name(step.target)}"
    lines = [escape_label(step.name), f"<i>{escape_label(detail)}</i>"]
    if step.filter_policies:
        lines.append(f"<small>{escape_label('filter: ' + ', '.join(step.filter_policies))}</small>")
    return "<br/>".join(lines)


def _function_name(target: str) -> str:
    """``my-fn`` for ``arn:aws:lambda:…:function:my-fn[:alias]``; other targets as they are."""
    parts = target.split(":")
    if target.startswith("arn:") and "function" in parts[:-1]:
        return parts[parts.index("function") + 1]
    return target


def _markdown_text(text: str) -> str:
    """One line of plain text for a markdown heading: whitespace collapsed, markup characters escaped."""
    return "".join(f"\\{char}" if char in "\\`*_[]<>#|~&!" else char for char in " ".join(text.split()))
