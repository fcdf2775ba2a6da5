"""The flow → Mermaid renderer, read back with a tiny parser: what a merchant would see in the picture."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from orderflow.flows.asl import generate_asl
from orderflow.flows.diagram import EVENT_LABELS, escape_label, to_markdown, to_mermaid
from orderflow.flows.files import load_flow
from orderflow.models.flow import ConditionStep, Flow, SplitterStep, parse_flow
from tests.conftest import ROOT

DEFAULT_FLOW = ROOT / "flows" / "default.yaml"
RETURN_FLOW = ROOT / "flows" / "default_return.yaml"

# Shapes as the renderer writes them: id, opening, "label", closing. A label is quoted and holds no raw
# quote, so `[^"]*` reads exactly one label and the closing must follow it.
_SHAPES = {
    "([": "start",
    "[": "action",
    "{": "condition",
    "{{": "splitter",
    "[[": "merge",
    "((": "end",
    "(": "hold",
}
_CLOSING = {"([": "])", "[": "]", "{": "}", "{{": "}}", "[[": "]]", "((": "))", "(": ")"}
NODE = re.compile(r'^    (n\d+)(\(\[|\[\[|\{\{|\(\(|\[|\{|\()"([^"]*)"(\]\)|\]\]|\}\}|\)\)|\]|\}|\))$')
EDGE = re.compile(r'^    (n\d+) (?:-->|-- (yes|no) -->|-->\|"([^"]*)"\|) (n\d+)$')
FAILED_EDGE = re.compile(r"^    (n\d+) -\. failed \.-> (n\d+)$")


@dataclass
class Diagram:
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (shape, first label line)
    edges: list[tuple[str, str | None, str]] = field(default_factory=list)  # (from, label, to)
    failed: list[tuple[str, str]] = field(default_factory=list)  # dotted "failed" edges: (from, to)

    def named(self, name: str) -> str:
        [node_id] = [node_id for node_id, (_, label) in self.nodes.items() if label == name]
        return node_id

    def out(self, node_id: str) -> list[tuple[str | None, str]]:
        return [(label, target) for source, label, target in self.edges if source == node_id]

    def into(self, node_id: str) -> list[tuple[str, str | None]]:
        return [(source, label) for source, label, target in self.edges if target == node_id]

    def failure_of(self, name: str) -> str | None:
        """Where a failure of the step (or merge) labelled ``name`` goes; None: to the Condition after it."""
        targets = [target for source, target in self.failed if source == self.named(name)]
        assert len(targets) <= 1
        return targets[0] if targets else None

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
        elif failed := FAILED_EDGE.match(line):
            diagram.failed.append((failed[1], failed[2]))
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
    assert diagram.nodes["n1"] == ("start", " / ".join(EVENT_LABELS[event] for event in flow.input_events))
    for source, _, target in diagram.edges:
        assert source in diagram.nodes and target in diagram.nodes
    labels = [
        label for shape, label in diagram.nodes.values() if shape in {"action", "condition", "splitter"}
    ]
    assert sorted(labels) == sorted(_step_names(flow.steps))
    for node_id, (shape, _) in diagram.nodes.items():
        terminal = shape in {"end", "hold"}
        assert terminal == (not diagram.out(node_id)), f"{node_id} ({shape})"
    for source, target in diagram.failed:
        assert diagram.shape(source) in {"action", "merge"}, "only actions and merges fail"
        assert diagram.shape(target) in {"hold", "merge"}, (
            "a failure ends in a hold or is reported to a merge"
        )
    for node_id, (shape, _) in diagram.nodes.items():
        if shape == "hold":
            assert not diagram.out(node_id) and not [s for s, _ in diagram.failed if s == node_id]
            assert not diagram.into(node_id), "only failures go on hold"
    seen, pending = set(), ["n1"]
    while pending:
        node_id = pending.pop()
        if node_id not in seen:
            seen.add(node_id)
            pending.extend(target for _, target in diagram.out(node_id))
            pending.extend(target for source, target in diagram.failed if source == node_id)
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
    # the validations are tested by conditions; the status updates after them fail to the one hold
    assert diagram.failure_of("Validate order header") is diagram.failure_of("Validate order lines") is None
    hold = diagram.named("On hold")
    assert [diagram.failure_of(name) for name in ends_of_default()] == [hold] * 3
    assert "    n6 -. failed .-> n12\n" in text


def ends_of_default() -> list[str]:
    return ["Release to fulfillment", "Hold for review (lines)", "Hold for review (header)"]


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


def test_splitter_merge_branches_join_at_the_merge_before_the_next_step() -> None:
    # Given a splitter-merge whose branches each end, followed by a step
    # When it is drawn
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

    # Then every branch ends at the merge, named like the state machine's merge state, then the step
    assert diagram.shape(join) == "merge" and diagram.nodes[join][1] == "Fan out (merge)"
    assert diagram.next_of("Again") == join
    assert diagram.out(join) == [(None, diagram.named("Done"))]
    assert [label for label, _ in diagram.out(diagram.named("Fan out"))] == ["DOM", "Invoice"]


def test_a_condition_nested_in_a_merging_branch_ends_that_branch_at_the_merge() -> None:
    # Given a splitter-merge branch whose step is tested by a condition
    # When it is drawn
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

    # Then both condition paths end at the merge, and the tested step has no failure edge of its own
    assert diagram.shape(join) == "merge"
    assert diagram.next_of("Ship") == join
    assert diagram.failure_of("To DOM") is None
    assert diagram.failure_of("Ship") == diagram.failure_of("Invoice") == join
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


def test_markdown_wraps_the_diagram_under_a_heading_naming_the_type_of_flow() -> None:
    flow = load_flow(DEFAULT_FLOW)
    assert (
        to_markdown(flow) == f"### Default order flow v1 (order flow)\n\n```mermaid\n{to_mermaid(flow)}```\n"
    )
    odd = parse_flow({"name": "B2B <EU> #1", "steps": [_action("A")]})
    assert to_markdown(odd).splitlines()[0] == r"### B2B \<EU\> \#1 v1 (order flow)"
    assert to_markdown(load_flow(RETURN_FLOW)).splitlines()[0] == "### Default return flow v1 (return flow)"


# -- failure exits (README "When a step fails") ------------------------------------------------------


def test_every_action_not_followed_by_a_condition_fails_to_the_on_hold_of_its_path() -> None:
    # Given a sequence, a condition after its second step, and a condition-merge whose path's last
    # step is followed by another condition
    flow = _flow(
        _action("Header", "validate_order_header"),
        _action("Lines", "validate_order_line"),
        {"name": "Lines ok?", "element": "condition_merge", "yes": [_action("To DOM")], "no": []},
        {
            "name": "Sourced?",
            "element": "condition",
            "yes": [_action("Ship", "send_to_fulfillment")],
            "no": [],
        },
    )

    # When it is drawn
    diagram = render(flow)

    # Then the untested steps fail to one "On hold" node, drawn after the paths, with dotted edges
    hold = diagram.named("On hold")
    assert diagram.shape(hold) == "hold" and hold == f"n{len(diagram.nodes)}"
    assert diagram.failure_of("Header") == diagram.failure_of("Ship") == hold
    # ... and the steps a condition tests fail to it instead
    assert diagram.failure_of("Lines") is None
    assert diagram.failure_of("To DOM") is None, "the condition after the condition-merge tests it"
    assert diagram.next_of("Header") == diagram.named("Lines"), "success is the solid edge"


def test_a_flow_whose_every_step_is_tested_has_no_hold() -> None:
    # Given a step tested by a condition whose paths are empty
    flow = _flow(
        _action("Header", "validate_order_header"),
        {"name": "Ok?", "element": "condition", "yes": [], "no": []},
    )

    # When it is drawn
    diagram = render(flow)

    # Then nothing fails unhandled, so no hold node is drawn
    assert "hold" not in [shape for shape, _ in diagram.nodes.values()]
    assert diagram.failed == []


def test_each_splitter_branch_goes_on_hold_on_its_own() -> None:
    # Given a splitter whose branches each hold the order when they fail, after a step
    flow = _flow(
        _action("Source"),
        {
            "name": "Per warehouse",
            "element": "splitter",
            "branches": [
                {
                    "name": "East",
                    "steps": [_action("Ship east", "send_to_fulfillment"), _action("Bill east")],
                },
                {"name": "West", "steps": [_action("Ship west", "send_to_fulfillment")]},
            ],
        },
    )

    # When it is drawn
    diagram = render(flow)

    # Then each branch has its own hold, named like its state, and the top level keeps its own
    east, west = diagram.named("East (on hold)"), diagram.named("West (on hold)")
    assert diagram.failure_of("Ship east") == diagram.failure_of("Bill east") == east
    assert diagram.failure_of("Ship west") == west
    assert diagram.failure_of("Source") == diagram.named("On hold")
    assert east != west


def test_a_splitter_merge_hears_its_branches_failures_and_its_own_failure_holds() -> None:
    # Given the documentation's splitter-merge, followed by a step (not a condition)
    flow = _flow(
        {
            "name": "Validation split",
            "element": "splitter_merge",
            "branches": [
                {"name": "Order Source 1", "steps": [_action("Test validation 1", "validate_order_header")]},
                {
                    "name": "Order Source 2",
                    "steps": [_action("Test validation 2", "validate_order_header"), _action("Then lines")],
                },
            ],
        },
        _action("Release", "update_order_status", params={"status": "validated"}),
    )

    # When it is drawn
    diagram = render(flow)

    # Then every failure in a branch goes to the merge, and the merge's failure to the hold
    merge = diagram.named("Validation split (merge)")
    assert diagram.shape(merge) == "merge"
    assert {diagram.failure_of(n) for n in ("Test validation 1", "Test validation 2", "Then lines")} == {
        merge
    }
    assert diagram.failure_of("Validation split (merge)") == diagram.named("On hold")
    assert diagram.next_of("Validation split (merge)") == diagram.named("Release")
    assert diagram.failure_of("Release") == diagram.named("On hold")
    assert [shape for shape, _ in diagram.nodes.values()].count("hold") == 1


def test_a_condition_after_a_splitter_merge_branches_on_the_merge() -> None:
    # Given a splitter-merge followed by a condition
    flow = _flow(
        {
            "name": "Split",
            "element": "splitter_merge",
            "branches": [{"name": "B", "steps": [_action("Check")]}],
        },
        {"name": "All ok?", "element": "condition", "yes": [_action("Go")], "no": []},
    )

    # When it is drawn
    diagram = render(flow)

    # Then the merge has no failure edge: the condition takes its "no" path
    assert diagram.failure_of("Split (merge)") is None
    assert diagram.next_of("Split (merge)") == diagram.named("All ok?")


def test_a_splitter_inside_a_merging_branch_merges_and_reports_to_the_outer_merge() -> None:
    # Given a plain splitter nested in a splitter-merge's branch
    flow = _flow(
        {
            "name": "Outer",
            "element": "splitter_merge",
            "branches": [
                {
                    "name": "Nested",
                    "steps": [
                        _action("First"),
                        {
                            "name": "Inner",
                            "element": "splitter",
                            "branches": [
                                {"name": "A", "steps": [_action("In A")]},
                                {"name": "B", "steps": [_action("In B")]},
                            ],
                        },
                    ],
                },
                {"name": "Plain", "steps": [_action("Alone")]},
            ],
        },
        _action("After"),
    )

    # When it is drawn
    diagram = render(flow)

    # Then the inner splitter has a merge of its own, which reports (both ways) to the outer merge
    inner, outer = diagram.named("Inner (merge)"), diagram.named("Outer (merge)")
    assert diagram.failure_of("In A") == diagram.failure_of("In B") == inner
    assert diagram.next_of("Inner (merge)") == outer and diagram.failure_of("Inner (merge)") == outer
    assert diagram.failure_of("First") == diagram.failure_of("Alone") == outer
    assert diagram.failure_of("Outer (merge)") == diagram.named("On hold")
    assert "end" not in [diagram.shape(target) for _, target in diagram.out(inner)]


def test_a_splitter_merge_inside_a_splitter_branch_holds_that_branch() -> None:
    # Given a splitter-merge nested in a plain splitter's branch
    flow = _flow(
        {
            "name": "Fan out",
            "element": "splitter",
            "branches": [
                {
                    "name": "East",
                    "steps": [
                        {"name": "Checks", "element": "splitter_merge", "branches": [
                            {"name": "Header", "steps": [_action("Check header")]}]},
                        _action("Ship east"),
                    ],
                }
            ],
        },
    )  # fmt: skip

    # When it is drawn
    diagram = render(flow)

    # Then the merge's failure, like the next step's, holds the order from that branch
    east = diagram.named("East (on hold)")
    assert diagram.failure_of("Checks (merge)") == diagram.failure_of("Ship east") == east
    assert diagram.failure_of("Check header") == diagram.named("Checks (merge)")


@pytest.mark.parametrize(
    "flow",
    [
        load_flow(DEFAULT_FLOW),
        load_flow(RETURN_FLOW),
        _flow(
            _action("Header", "validate_order_header"),
            {"name": "Split", "element": "splitter_merge", "branches": [
                {"name": "One", "steps": [_action("A1"), {"name": "Inner", "element": "splitter", "branches": [
                    {"name": "X", "steps": [_action("X1")]}, {"name": "Y", "steps": [_action("Y1")]}]}]},
                {"name": "Two", "steps": [_action("B1"), {"name": "B1 ok?", "element": "condition_merge",
                                                          "yes": [], "no": [_action("B2")]}, _action("B3")]},
            ]},
            {"name": "Merged?", "element": "condition_merge", "yes": [_action("Go on")], "no": []},
            {"name": "Fan", "element": "splitter", "branches": [
                {"name": "East", "steps": [_action("E1")]}, {"name": "West", "steps": [_action("W1"),
                 {"name": "W1 ok?", "element": "condition", "yes": [], "no": [_action("W2")]}]}]},
        ),
    ],
    ids=["default flow", "return flow", "nested flow"],
)  # fmt: skip
def test_failure_edges_are_the_ones_the_state_machine_takes(flow: Flow) -> None:
    # Given a flow and its generated state machine
    machine = generate_asl(flow)

    # When both are read for where each step's failure goes
    diagram = render(flow)
    drawn = {
        label: diagram.nodes[target][1] if (target := diagram.failure_of(label)) else None
        for shape, label in diagram.nodes.values()
        if shape in {"action", "merge"}
    }

    # Then they agree: the same hold (by state name), the same merge, or the condition after it
    assert drawn == _failure_targets(machine, None)


def _failure_targets(machine: dict[str, Any], merge: str | None) -> dict[str, str | None]:
    """Task → where the state machine sends its failure: a hold state, the merge of the branch
    (``merge``), or None when the Catch goes to a Condition's Choice."""
    found: dict[str, str | None] = {}
    states = machine["States"]
    for name, state in states.items():
        if state["Type"] == "Parallel":
            for branch in state["Branches"]:
                found.update(_failure_targets(branch, state.get("Next")))
        if state["Type"] != "Task" or state["Comment"] in ("hold_order", "hold_return"):
            continue
        # the first step's handover to a resubmit's resume point is not a failure
        failure = next(c for c in state["Catch"] if c["ErrorEquals"] != ["ResumeElsewhere"])
        caught = states[failure["Next"]]
        if caught["Type"] == "Choice":
            found[name] = None
        else:
            found[name] = caught.get("Next", merge)
    return found


def test_the_start_node_names_the_events_the_flow_starts_on() -> None:
    # Given a flow started by shipments
    flow = parse_flow(
        {"name": "Invoice later", "input_events": ["order_shipped", "order_partially_shipped"],
         "steps": [{"name": "Invoice", "action": "send_to_invoice"}]}
    )  # fmt: skip

    # Then its diagram starts from those events, not from a new order
    assert to_mermaid(flow).startswith('flowchart TD\n    n1(["Order shipped / Order partially shipped"])')


def test_the_sample_return_flow_starts_on_return_events_and_each_return_step_fails_to_its_hold() -> None:
    # Given the sample return flow
    flow = load_flow(RETURN_FLOW)

    # When it is drawn
    text = to_mermaid(flow)
    diagram = render(flow)

    # Then it starts from the return events, and each return action says what it does
    assert text.startswith('flowchart TD\n    n1(["Return requested / Return received"])\n')
    for name, does in [
        ("Validate return", "validate return"),
        ("Assign return source", "assign return source"),
        ("Send to returns provider", "send to returns provider"),
        ("Refund", "refund in BigCommerce"),
        ("Close return", "set return status to closed"),
    ]:
        assert f'["{name}<br/><i>{does}</i>"]' in text
    # And the steps run one after the other to one end, each failure going to the one hold
    steps = ["Validate return", "Assign return source", "Send to returns provider", "Refund", "Close return"]
    assert [diagram.next_of(name) for name in steps[:-1]] == [diagram.named(name) for name in steps[1:]]
    assert diagram.shape(diagram.next_of("Close return")) == "end"
    hold = diagram.named("On hold")
    assert [diagram.failure_of(name) for name in steps] == [hold] * len(steps)
