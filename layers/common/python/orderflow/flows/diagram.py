"""The flow → Mermaid flowchart renderer: a picture of a flow the way the designer canvas shows it.

A pure, deterministic function, like the ASL generator: node ids are ``n1``, ``n2``, … in walk order
(never derived from names) and every label goes through :func:`escape_label`, so any step name is
safe. The result renders on GitHub and in most markdown viewers (``flowchart TD``, classic shapes
only, quoted labels, no styling).

Where a path stops is drawn the way it runs: at the top level (and inside ``splitter`` branches) a
path that ends goes to its own ``End`` node; inside a ``splitter_merge`` branch an ending path ends
that branch only, so it goes to the branch's join node like every other way out of the branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orderflow.flows.model import ActionStep, Branch, ConditionStep, Flow, SplitterStep

START_LABEL = "New order imported"
END_LABEL = "End"
JOIN_LABEL = "All branches done"

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
    "update_order_status": "update order status",
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
    """The flow as Mermaid flowchart text; the same flow always gives byte-identical text."""
    renderer = _Renderer()
    start = renderer.node(START_LABEL, "([", "])")
    exits = renderer.sequence(flow.steps, [_Exit(start)])
    renderer.end(exits)
    return renderer.text()


def to_markdown(flow: Flow) -> str:
    """The diagram in a fenced ``mermaid`` block under a ``### <name> v<version>`` heading."""
    heading = _markdown_text(f"{flow.name} v{flow.version}")
    return f"### {heading}\n\n```mermaid\n{to_mermaid(flow)}```\n"


@dataclass(frozen=True)
class _Exit:
    """A way out of what has been drawn so far: an edge from ``source`` still looking for a target."""

    source: str
    label: str | None = None  # already escaped


@dataclass
class _Renderer:
    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    # One list per enclosing splitter_merge branch: where that branch's ending paths are collected.
    merge_scopes: list[list[_Exit]] = field(default_factory=list)

    def node(self, label: str, opening: str, closing: str) -> str:
        node_id = f"n{len(self.nodes) + 1}"
        self.nodes.append(f'    {node_id}{opening}"{label}"{closing}')
        return node_id

    def connect(self, exits: list[_Exit], target: str) -> None:
        for exit_ in exits:
            if exit_.label is None:
                self.edges.append(f"    {exit_.source} --> {target}")
            elif exit_.label in {"yes", "no"}:
                self.edges.append(f"    {exit_.source} -- {exit_.label} --> {target}")
            else:
                self.edges.append(f'    {exit_.source} -->|"{exit_.label}"| {target}')

    def end(self, exits: list[_Exit]) -> None:
        """Where paths stop: the enclosing splitter_merge's join, or an End node of their own."""
        if not exits:
            return
        if self.merge_scopes:
            self.merge_scopes[-1].extend(exits)
        else:
            self.connect(exits, self.node(END_LABEL, "((", "))"))

    def sequence(self, steps: Sequence[object], exits: list[_Exit]) -> list[_Exit]:
        for step in steps:
            exits = self.step(step, exits)
        return exits

    def step(self, step: object, exits: list[_Exit]) -> list[_Exit]:
        if isinstance(step, ActionStep):
            node_id = self.node(_action_label(step), "[", "]")
            self.connect(exits, node_id)
            return [_Exit(node_id)]
        if isinstance(step, ConditionStep):
            node_id = self.node(escape_label(step.name), "{", "}")
            self.connect(exits, node_id)
            yes = self.sequence(step.yes, [_Exit(node_id, "yes")])
            no = self.sequence(step.no, [_Exit(node_id, "no")])
            if step.element == "condition_merge":
                return yes + no
            self.end(yes)
            self.end(no)
            return []
        if isinstance(step, SplitterStep):
            return self.splitter(step, exits)
        raise TypeError(f"not a flow step: {step!r}")

    def splitter(self, step: SplitterStep, exits: list[_Exit]) -> list[_Exit]:
        node_id = self.node(escape_label(step.name), "{{", "}}")
        self.connect(exits, node_id)
        if step.element == "splitter":
            for branch in step.branches:
                self.end(self.branch(node_id, branch))
            return []
        collected: list[_Exit] = []
        for branch in step.branches:
            self.merge_scopes.append(collected)
            collected.extend(self.branch(node_id, branch))
            self.merge_scopes.pop()
        join = self.node(JOIN_LABEL, "[[", "]]")
        self.connect(collected, join)
        return [_Exit(join)]

    def branch(self, fork: str, branch: Branch) -> list[_Exit]:
        return self.sequence(branch.steps, [_Exit(fork, escape_label(branch.name))])

    def text(self) -> str:
        return "\n".join(["flowchart TD", *self.nodes, *self.edges]) + "\n"


def _action_label(step: ActionStep) -> str:
    detail = _ACTION_TEXT.get(step.action, step.action.replace("_", " "))
    if step.action == "update_order_status" and "status" in step.params:
        detail = f"set status to {step.params['status']!s}"
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
