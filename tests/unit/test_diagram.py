"""The flow → Mermaid renderer, read back with a tiny parser: what a merchant would see in the picture."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from orderflow.flows.diagram import JOIN_LABEL, START_LABEL, escape_label, to_markdown, to_mermaid
from orderflow.flows.files import load_flow
from orderflow.flows.model import ConditionStep, Flow, SplitterStep, parse_flow
from tests.conftest import ROOT

DEFAULT_FLOW = ROOT / "flows" / "default.yaml"

# Shapes as the renderer writes them: id, opening, "label", closing. A label is quoted and holds no raw
# quote, so `[^"]*` reads exactly one label and the closing must follow it.
_SHAPES = {"([": "start", "[": "action", "{": "condition", "{{": "splitter", "[[": "join", "((": "end"}
_CLOSING = {"([": "])", "[": "]", "{": "}", "{{": "}}", "[[": "]]", "((": "))"}
NODE = re.compile(r'^    (n\d+)(\(\[|\[\[|\{\{|\(\(|\[|\{)"([^"]*)"(\]\)|\]\]|\}\}|\)\)|\]|\})$')
EDGE = re.compile(r'^    (n\d+) (?:-->|-- (yes|no) -->|-->\|"([^"]*)"\|) (n\d+)$')


@dataclass
class Diagram:
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (shape, first label line)
    edges: list[tuple[str, str | None, str]] = field(default_factory=list)  # (from, label, to)

    def named(self, name: str) -> str:
        [node_id] = [node_id for node_id, (_, label) in self.nodes.items() if label == name]
        return node_id

    def out(self, node_id: str) -> list[tuple[str | None, str]]:
        return [(label, target) for source, label, target in self.edges if source == node_id]

    def into(self, node_id: str) -> list[tuple[str, str | None]]:
        return [(source, label) for source, label, target in self.edges if target == node_id]

    def shape(self, node_id: str) -> str:
        return self.nodes[node_id][0]

    def next_of(self, name: str) -> str:
        [(label, target)] = self.out(self.named(name))
        assert label is None
        return target


def _decode(text: str) -> str:
    """Mermaid's entity codes (#quot; #35; …) back to text, as the renderer shows them."""
    return html.unescape(
        re.sub(r"#(\d+;|\w+;)", lambda code: ("&#" if code[1][0].isdigit() else "&") + code[1], text)
    )


def parse(text: str) -> Diagram:
    assert text.endswith("\n") and not text.endswith("\n\n")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    diagram = Diagram()
    for line in lines[1:]:
        assert line == line.rstrip(), f"trailing whitespace: {line!r}"
        if node := NODE.match(line):
            node_id, opening, label, closing = node.groups()
            assert closing == _CLOSING[opening], line
            assert node_id not in diagram.nodes, f"{node_id} defined twice"
            diagram.nodes[node_id] = (_SHAPES[opening], _decode(label.split("<br/>")[0]))
        elif edge := EDGE.match(line):
            source, yes_no, quoted, target = edge.groups()
            label = yes_no or (_decode(quoted) if quoted is not None else None)
            diagram.edges.append((source, label, target))
        else:
            pytest.fail(f"neither a node nor an edge: {line!r}")
    return diagram


def render(flow: Flow) -> Diagram:
    diagram = parse(to_mermaid(flow))
    _assert_sound(flow, diagram)
    return diagram


def _assert_sound(flow: Flow, diagram: Diagram) -> None:
    """What holds for every flow: ids in walk order, defined endpoints, one node per step, no dead ends."""
    assert list(diagram.nodes) == [f"n{index}" for index in range(1, len(diagram.nodes) + 1)]
    assert diagram.nodes["n1"] == ("start", START_LABEL)
    for source, _, target in diagram.edges:
        assert source in diagram.nodes and target in diagram.nodes
    labels = [
        label for shape, label in diagram.nodes.values() if shape in {"action", "condition", "splitter"}
    ]
    assert sorted(labels) == sorted(_step_names(flow.steps))
    for node_id, (shape, _) in diagram.nodes.items():
        assert (shape == "end") == (not diagram.out(node_id)), f"{node_id} ({shape})"
    seen, pending = set(), ["n1"]
    while pending:
        node_id = pending.pop()
        if node_id not in seen:
            seen.add(node_id)
            pending.extend(target for _, target in diagram.out(node_id))
    assert seen == set(diagram.nodes), "every node is reachable from the start"


def _step_names(steps: list[Any]) -> list[str]:
    names = []
    for step in steps:
        names.append(step.name)
        if isinstance(step, ConditionStep):
            names += _step_names(step.yes) + _step_names(step.no)
        elif isinstance(step, SplitterStep):
            for branch in step.branches:
                names += _step_names(branch.steps)
    return names


def _action(name: str, action: str = "send_to_dom", **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": action, **extra}


def _flow(*steps: dict[str, Any]) -> Flow:
    return parse_flow({"name": "Test flow", "version": 3, "steps": list(steps)})


def test_the_default_flow_renders_from_the_new_order_to_each_of_its_ends() -> None:
    flow = load_flow(DEFAULT_FLOW)
    text = to_mermaid(flow)
    diagram = render(flow)

    assert text.startswith('flowchart TD\n    n1(["New order imported"])\n')
    assert diagram.into(diagram.named("Validate order header")) == [("n1", None)]
    header = diagram.named("Header valid?")
    assert diagram.shape(header) == "condition"
    assert sorted(diagram.out(header)) == [
        ("no", diagram.named("Hold for review (header)")),
        ("yes", diagram.named("Validate order lines")),
    ]
    ends = [diagram.next_of(name) for name in ("Release to fulfillment", "Hold for review (lines)")]
    ends.append(diagram.next_of("Hold for review (header)"))
    assert [diagram.shape(end) for end in ends] == ["end"] * 3
    assert len(set(ends)) == 3, "each place the flow stops has its own end"
    assert "set status to validated" in text and "set status to on_hold" in text


def test_a_condition_has_one_yes_and_one_no_edge_whatever_its_paths() -> None:
    for yes, no in [([_action("Y")], [_action("N")]), ([], [_action("N")]), ([], [])]:
        diagram = render(
            _flow(
                _action("A"),
                {"name": "Ok?", "element": "condition_merge", "yes": yes, "no": no},
                _action("B"),
            )
        )
        labels = sorted(label or "" for label, _ in diagram.out(diagram.named("Ok?")))
        assert labels == ["no", "yes"]


def test_condition_merge_paths_rejoin_at_the_following_step() -> None:
    diagram = render(
        _flow(
            _action("Send"),
            {"name": "Sent?", "element": "condition_merge", "yes": [_action("Invoice")], "no": []},
            _action("After"),
        )
    )
    after, sent = diagram.named("After"), diagram.named("Sent?")

    assert diagram.next_of("Invoice") == after
    assert ("no", after) in diagram.out(sent), "an empty path is a labelled edge straight to the next step"
    assert ("yes", diagram.named("Invoice")) in diagram.out(sent)
    assert sorted(diagram.into(after), key=str) == sorted(
        [(diagram.named("Invoice"), None), (sent, "no")], key=str
    )
    assert diagram.shape(diagram.next_of("After")) == "end"


def test_condition_paths_each_end_on_their_own() -> None:
    diagram = render(
        _flow(
            _action("Send"), {"name": "Sent?", "element": "condition", "yes": [_action("Invoice")], "no": []}
        )
    )
    end_of_yes = diagram.next_of("Invoice")
    [end_of_no] = [target for label, target in diagram.out(diagram.named("Sent?")) if label == "no"]

    assert diagram.shape(end_of_yes) == diagram.shape(end_of_no) == "end"
    assert end_of_yes != end_of_no


def test_a_splitter_forks_one_labelled_edge_per_branch_and_each_branch_ends() -> None:
    diagram = render(
        _flow(
            _action("Source"),
            {
                "name": "Per warehouse",
                "element": "splitter",
                "branches": [
                    {"name": "East", "steps": [_action("Ship east", "send_to_fulfillment")]},
                    {"name": "West", "steps": [_action("Ship west", "send_to_fulfillment")]},
                ],
            },
        )
    )
    fork = diagram.named("Per warehouse")

    assert diagram.shape(fork) == "splitter"
    assert diagram.out(fork) == [("East", diagram.named("Ship east")), ("West", diagram.named("Ship west"))]
    assert [diagram.shape(diagram.next_of(name)) for name in ("Ship east", "Ship west")] == ["end", "end"]


def test_splitter_merge_branches_join_before_the_next_step() -> None:
    diagram = render(
        _flow(
            {
                "name": "Fan out",
                "element": "splitter_merge",
                "branches": [
                    {"name": "DOM", "steps": [_action("To DOM")]},
                    {
                        "name": "Invoice",
                        "steps": [_action("To invoicing", "send_to_invoice"), _action("Again")],
                    },
                ],
            },
            _action("Done", "update_order_status", params={"status": "completed"}),
        )
    )
    join = diagram.next_of("To DOM")

    assert diagram.shape(join) == "join" and diagram.nodes[join][1] == JOIN_LABEL
    assert diagram.next_of("Again") == join
    assert diagram.out(join) == [(None, diagram.named("Done"))]
    assert [label for label, _ in diagram.out(diagram.named("Fan out"))] == ["DOM", "Invoice"]


def test_a_condition_nested_in_a_merging_branch_ends_that_branch_at_the_join() -> None:
    diagram = render(
        _flow(
            {
                "name": "Fan out",
                "element": "splitter_merge",
                "branches": [
                    {
                        "name": "Fulfil",
                        "steps": [
                            _action("To DOM"),
                            {"name": "At DOM?", "element": "condition", "yes": [_action("Ship")], "no": []},
                        ],
                    },
                    {"name": "Bill", "steps": [_action("Invoice", "send_to_invoice")]},
                ],
            },
            _action("Close", "update_order_status", params={"status": "completed"}),
        )
    )
    join = diagram.next_of("Invoice")

    assert diagram.shape(join) == "join"
    assert diagram.next_of("Ship") == join
    assert ("no", join) in diagram.out(diagram.named("At DOM?"))
    assert diagram.next_of("To DOM") == diagram.named("At DOM?")
    assert diagram.out(join) == [(None, diagram.named("Close"))]
    assert [shape for shape, _ in diagram.nodes.values()].count("end") == 1


def test_any_step_name_is_escaped_and_reads_back_as_written() -> None:
    odd = [
        'Say "hi" [now]',
        "Check #1 <b>&amp; {x} (y)",
        "Pipe | and `code`",
        "Hold \u2013 review: style:#35;x;",
        "Line\u2028break",
    ]
    branch = 'Branch "B" | #2 \u2013 east'
    diagram = render(
        _flow(
            _action(odd[0], filter_policies=["b2b", 'high "value" <orders>']),
            {"name": odd[1], "element": "condition_merge", "yes": [_action(odd[2])], "no": []},
            {
                "name": odd[3],
                "element": "splitter",
                "branches": [{"name": branch, "steps": [_action(odd[4])]}],
            },
        )
    )
    text = to_mermaid(_flow(_action(odd[0]), _action(odd[3])))

    for name in odd:
        assert diagram.nodes[diagram.named(name)][1] == name
    assert [label for label, _ in diagram.out(diagram.named(odd[3]))] == [branch]
    assert '["Say #quot;hi#quot; [now]<br/>' in text
    assert "Hold #8211; review#58; style#58;#35;35;x;" in text
    assert "#" not in re.sub(r"#\w+;", "", text), "every # is part of an entity code"
    assert ":" not in text
    assert escape_label("a \u2013 b") == "a #8211; b"


def test_filter_policies_and_custom_targets_are_shown_on_the_action() -> None:
    text = to_mermaid(
        _flow(
            _action("Big orders", filter_policies=["high_value", "b2b"]),
            _action(
                "Notify", "custom", target="arn:aws:lambda:us-east-1:123456789012:function:notify-erp:live"
            ),
        )
    )
    assert '["Big orders<br/><i>send to DOM</i><br/><small>filter#58; high_value, b2b</small>"]' in text
    assert '["Notify<br/><i>custom action notify-erp</i>"]' in text


def test_rendering_is_deterministic() -> None:
    flow = load_flow(DEFAULT_FLOW)
    again = parse_flow(json.loads(json.dumps(flow.model_dump(mode="json"))))

    assert to_mermaid(flow) == to_mermaid(again) == to_mermaid(flow)
    assert to_markdown(flow) == to_markdown(again)


def test_markdown_wraps_the_diagram_under_a_heading() -> None:
    flow = load_flow(DEFAULT_FLOW)
    assert to_markdown(flow) == f"### Default order flow v1\n\n```mermaid\n{to_mermaid(flow)}```\n"
    odd = parse_flow({"name": "B2B <EU> #1", "steps": [_action("A")]})
    assert to_markdown(odd).splitlines()[0] == r"### B2B \<EU\> \#1 v1"
