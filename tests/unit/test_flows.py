"""Flow definitions and the generated state machines: validation with paths, determinism, drift."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from orderflow.flows.asl import generate_asl, intake_asl, structural_problems, to_json
from orderflow.flows.files import asl_file_name, load_flow, parse_yaml
from orderflow.models.flow import FlowError, parse_flow
from tests.conftest import ROOT

DEFAULT_FLOW = ROOT / "flows" / "default.yaml"


def _action(name: str, action: str = "validate_order_header", **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": action, **extra}


def _flow(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "Test flow", "type": "order_orchestration", "version": 1, "steps": list(steps), **extra}


def test_the_committed_state_machine_is_what_the_generator_makes_of_the_default_flow() -> None:
    committed = (ROOT / "statemachines" / asl_file_name(DEFAULT_FLOW)).read_text()
    generated = to_json(generate_asl(load_flow(DEFAULT_FLOW)))
    assert committed == generated, "statemachines/ is stale: run `make generate` and commit the result"


def test_the_template_deploys_the_default_flow_it_names() -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_cfn_loader())
    flow = load_flow(DEFAULT_FLOW)
    route_env = template["Resources"]["RouteOrderFunction"]["Properties"]["Environment"]["Variables"]

    assert route_env["DEFAULT_FLOW_ID"] == flow.id
    assert route_env["DEFAULT_FLOW_NAME"] == flow.name
    assert int(route_env["DEFAULT_FLOW_VERSION"]) == flow.version
    for machine in ("DefaultFlowStateMachine", "OrderIntakeStateMachine"):
        properties = template["Resources"][machine]["Properties"]
        asl_text = (ROOT / properties["DefinitionUri"]).read_text()
        assert set(re.findall(r"\$\{(\w+)\}", asl_text)) == set(properties["DefinitionSubstitutions"]), (
            machine
        )


def test_the_committed_intake_is_what_the_generator_makes() -> None:
    committed = (ROOT / "statemachines" / "order_intake.asl.json").read_text()
    assert committed == to_json(intake_asl()), (
        "statemachines/ is stale: run `make generate` and commit the result"
    )
    assert structural_problems(intake_asl()) == []


def test_generation_is_deterministic_and_names_states_after_steps() -> None:
    flow = load_flow(DEFAULT_FLOW)
    again = parse_flow(json.loads(json.dumps(flow.model_dump(mode="json"))))

    first, second = to_json(generate_asl(flow)), to_json(generate_asl(again))
    asl = generate_asl(flow)

    assert first == second
    assert asl["Comment"].startswith("Default order flow v1")
    # A new order starts at the first step; a resubmit goes from there to its failed step.
    assert asl["StartAt"] == "Validate order header"
    assert asl["States"]["Resume at"]["Choices"][0]["Next"] == "Validate order header"
    assert list(asl["States"]) == [
        "Validate order header",
        "Header valid?",
        "Validate order lines",
        "Lines valid?",
        "Release to fulfillment",
        "Release to fulfillment (failed)",
        "Hold for review (lines)",
        "Hold for review (lines) (failed)",
        "Hold for review (header)",
        "Hold for review (header) (failed)",
        "On hold",
        "Resume at",
        "Unknown resume point",
    ]
    # A step with a Condition after it hands its failure to the Condition; one without stops there
    header = asl["States"]["Validate order header"]
    assert (
        header["Catch"][1]["Next"] == "Header valid?"
        and "stop_on_failure" not in header["Parameters"]["Payload"]
    )
    release = asl["States"]["Release to fulfillment"]
    assert release["Parameters"]["Payload"]["stop_on_failure"] is True
    assert release["Catch"][0]["Next"] == "Release to fulfillment (failed)"
    assert asl["States"]["Release to fulfillment (failed)"]["Next"] == "On hold"
    assert asl["States"]["On hold"]["Parameters"]["Payload"]["action"] == "hold_order"
    assert "Catch" not in asl["States"]["On hold"]  # a hold that fails fails the execution


ELEMENT_FLOWS = {
    "condition_merge": _flow(
        _action("Check header"),
        {"name": "Header ok?", "element": "condition_merge", "yes": [_action("Check lines", "validate_order_line")],
         "no": []},
        _action("Release", "update_order_status", params={"status": "validated"}),
    ),
    "splitter": _flow(
        _action("Check header"),
        {"name": "Split", "element": "splitter", "branches": [
            {"name": "Branch A", "steps": [_action("A1", "validate_order_line")]},
            {"name": "Branch B", "steps": [_action("B1", "update_order_status", params={"status": "on_hold"})]},
        ]},
    ),
    "splitter_merge nested two deep": _flow(
        {"name": "Validation split", "element": "splitter_merge", "branches": [
            {"name": "Order Source 1", "steps": [
                _action("Test validation 1"),
                {"name": "Valid 1?", "element": "condition", "yes": [_action("Lines 1", "validate_order_line")],
                 "no": [_action("Hold 1", "update_order_status", params={"status": "on_hold"})]},
            ]},
            {"name": "Order Source 2", "steps": [_action("Test validation 2")]},
        ]},
        _action("After the split", "update_order_status", params={"status": "validated"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ELEMENT_FLOWS))
def test_every_element_generates_a_sound_machine(name: str) -> None:
    asl = generate_asl(parse_flow(ELEMENT_FLOWS[name]))
    assert structural_problems(asl) == []


def test_a_failure_inside_a_splitter_branch_holds_the_order_from_that_branch_only() -> None:
    asl = generate_asl(parse_flow(ELEMENT_FLOWS["splitter"]))
    branch_b = asl["States"]["Split"]["Branches"][1]["States"]

    assert branch_b["B1"]["Catch"][0]["Next"] == "B1 (failed)"
    assert branch_b["B1 (failed)"]["Next"] == "Branch B (on hold)"
    assert branch_b["Branch B (on hold)"]["End"] is True  # the sibling branch is not cancelled
    assert asl["States"]["Split"]["ResultPath"] is None  # branch outputs never grow the state


def test_a_splitter_merge_reports_its_branches_to_a_merge_step_that_follows_the_failure_rule() -> None:
    asl = generate_asl(parse_flow(ELEMENT_FLOWS["splitter_merge nested two deep"]))
    split = asl["States"]["Validation split"]
    source_2 = split["Branches"][1]["States"]

    # a failed branch step ends its branch with the failure in $.last (no hold inside the branch)
    assert source_2["Test validation 2 (failed)"]["End"] is True
    assert "Order Source 2 (on hold)" not in source_2
    # only each branch's last result comes back, and the merge step records the merge's result
    assert (
        split["ResultSelector"] == {"branches.$": "$[*].last"} and split["Next"] == "Validation split (merge)"
    )
    merge = asl["States"]["Validation split (merge)"]["Parameters"]["Payload"]
    assert merge["action"] == "merge_branches" and merge["step"] == "Validation split"
    assert [b["name"] for b in merge["branches"]] == ["Order Source 1", "Order Source 2"]
    # nothing branches on the merge: a failed merge holds the order
    assert merge["stop_on_failure"] is True
    assert asl["States"]["Validation split (failed)"]["Next"] == "On hold"


def test_a_branch_whose_first_step_is_filtered_out_is_not_taken() -> None:
    flow = _flow(
        {"name": "By source", "element": "splitter_merge", "branches": [
            {"name": "Store orders", "steps": [
                _action("Check store order", input_events=["new_order"]), _action("Then lines", "validate_order_line")]},
            {"name": "Other", "steps": [_action("Check other")]},
        ]},
    )  # fmt: skip
    asl = generate_asl(parse_flow(flow))
    store = asl["States"]["By source"]["Branches"][0]["States"]

    assert store["Check store order"]["Next"] == "Store orders (taken?)"
    assert store["Store orders (taken?)"]["Choices"][0]["Next"] == "Store orders (end)"
    assert store["Store orders (taken?)"]["Default"] == "Then lines"
    merge = asl["States"]["By source (merge)"]["Parameters"]["Payload"]
    assert merge["branches"] == [
        {"name": "Store orders", "first_step": "Check store order"},
        {"name": "Other", "first_step": None},
    ]


def test_long_step_names_keep_generated_state_names_unique_and_within_80_characters() -> None:
    long_a, long_b = "A" * 78 + "x1", "A" * 78 + "x2"
    asl = generate_asl(parse_flow(_flow(_action(long_a), _action(long_b))))

    names = list(asl["States"])
    assert len(names) == len(set(names)) and all(len(n) <= 80 for n in names)
    assert asl["States"][long_a]["Catch"][0]["Next"] != asl["States"][long_b]["Catch"][0]["Next"]
    assert structural_problems(asl) == []


def test_the_structural_check_finds_broken_machines() -> None:
    asl = generate_asl(load_flow(DEFAULT_FLOW))
    broken = copy.deepcopy(asl)
    broken["States"]["Validate order header"]["Next"] = "Nowhere"
    broken["States"]["Orphan"] = {"Type": "Succeed"}
    broken["States"]["Release to fulfillment"]["Next"] = "Orphan"  # now has both End and Next

    problems = structural_problems(broken)

    assert any("'Nowhere', which is not a state" in p for p in problems)
    assert any("'Release to fulfillment' must have exactly one of Next and End" in p for p in problems)
    unreachable = copy.deepcopy(asl)
    unreachable["States"]["Orphan"] = {"Type": "Succeed"}
    assert structural_problems(unreachable) == ["'Orphan' cannot be reached from 'Validate order header'"]


MISTAKES = [
    (_flow(_action("A", "send_to_xyz")), "steps[0].action: unknown action 'send_to_xyz'"),
    (_flow(_action("A"), _action("A", "validate_order_line")), "steps[1].name: duplicate step name 'A' (also at steps[0])"),
    (_flow({"name": "C", "element": "condition", "yes": [_action("Y")], "no": []}),
     "steps[0]: a condition needs a previous step"),
    (_flow(_action("A"), {"name": "C", "element": "condition", "yes": [_action("Y")]}, _action("After")),
     "steps[2]: a step cannot follow 'C'"),
    (_flow(_action("x" * 81)), "steps[0].name: String should have at most 80 characters"),
    (_flow(_action("A"), type="order_routing"), "type: unsupported flow type 'order_routing'"),
    (_flow(_action("A", "custom")), "steps[0]: a custom action needs a target"),
    (_flow(_action("A", "update_order_status", params={"status": "teleported"})), "params.status must be one of"),
    (_flow(_action("A"), {"name": "S", "element": "splitter_merge", "branches": [{"name": "B", "steps": []}]}),
     "steps[1].branches[0].steps: List should have at least 1 item"),
    (_flow(_action("A"), {"name": "S", "element": "splitter", "branches": [
        {"name": "B", "steps": [_action("Wrap up (end)")]}]}),
     "steps[1].branches[0].steps[0].name: names ending in '(end)' are kept"),
    (_flow(_action("A"), input_events=["New Order!"]), "input_events[0]: String should match pattern"),
    (_flow({"name": "What", "element": "loop"}), "steps[0]: a step needs an 'action' or an 'element'"),
    (_flow(), "steps: List should have at least 1 item"),
]  # fmt: skip


@pytest.mark.parametrize(("flow", "expected"), MISTAKES, ids=[m[1][:40] for m in MISTAKES])
def test_a_malformed_flow_is_rejected_with_the_path_of_the_mistake(
    flow: dict[str, Any], expected: str
) -> None:
    with pytest.raises(FlowError) as caught:
        parse_flow(flow)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_yaml_yes_and_no_stay_the_condition_paths() -> None:
    text = """
name: Y
steps:
  - {name: A, action: validate_order_header}
  - name: C
    element: condition
    yes: [{name: Y1, action: validate_order_line}]
    no: [{name: N1, action: validate_order_line}]
"""
    flow = parse_flow(parse_yaml(text))
    assert [s.name for s in flow.steps[1].yes] == ["Y1"]  # type: ignore[union-attr]
    assert [s.name for s in flow.steps[1].no] == ["N1"]  # type: ignore[union-attr]


def _cfn_loader() -> type:
    from orderflow_local.template import _CfnLoader

    return _CfnLoader


def _validations(steps: int) -> Any:
    return parse_flow(
        {"name": f"{steps} checks", "steps": [{"name": f"Check {n:04d}", "action": "validate_order_header"} for n in range(steps)]}
    )  # fmt: skip


def test_step_functions_is_given_compact_text_so_a_flow_may_be_larger_than_its_pretty_form_allows() -> None:
    from orderflow.flows.asl import MAX_DEFINITION_BYTES, limit_problems, to_deployable_json

    asl = generate_asl(_validations(700))

    assert len(to_json(asl).encode()) > MAX_DEFINITION_BYTES  # the committed / stored form
    assert json.loads(to_deployable_json(asl)) == asl and "\n" not in to_deployable_json(asl)
    assert limit_problems(asl) == []


def test_a_flow_past_the_definition_limit_is_refused_naming_its_states_and_what_fits() -> None:
    from orderflow.flows.publishing import validate

    with pytest.raises(FlowError) as refused:
        validate(_validations(1_000).model_dump(mode="json"), {})
    [problem] = refused.value.problems

    assert "its 1,000 steps" in problem and "at most 1,048,576" in problem
    fits = int(re.search(r"about ([\d,]+) steps", problem)[1].replace(",", ""))  # type: ignore[index]
    assert 700 <= fits < 1_000
    validate(_validations(fits - 10).model_dump(mode="json"), {})  # what it says fits, fits


def test_a_published_version_is_stored_with_its_asl_compressed_and_reads_back_the_same() -> None:
    from orderflow.store.flows import FlowVersion, version_from_item, version_item

    text = to_json(generate_asl(_validations(700)))
    version = FlowVersion(
        flow_id="checks", version=1, definition={"name": "checks"}, asl=text,
        state_machine_arn="arn:sm", version_arn="arn:sm:1", published_at="2026-12-03T00:00:00Z",
    )  # fmt: skip
    item = version_item(version)

    assert "asl" not in item and len(json.dumps(item).encode()) < 100 * 1024  # DynamoDB items: 400 KB
    assert version_from_item(dict(item)) == version


def test_a_throttled_import_waits_its_turn_for_as_long_as_a_flash_sale_drains() -> None:
    retries = intake_asl()["States"]["Import order"]["Retry"]

    # the first retrier that matches applies: throttling is taken before the short transient one
    assert retries[0]["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    waited, interval = 0.0, float(retries[0]["IntervalSeconds"])
    for _ in range(retries[0]["MaxAttempts"]):
        waited += min(interval, retries[0]["MaxDelaySeconds"])
        interval *= retries[0]["BackoffRate"]
    assert waited > 45 * 60  # a 3,000-order sale on a Standard store drains in ~21 minutes
    assert "Lambda.TooManyRequestsException" in retries[1]["ErrorEquals"]  # other steps: unchanged


# -- return flows -----------------------------------------------------------------------------------

RETURN_FLOW = ROOT / "flows" / "default_return.yaml"


def _return_flow(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _flow(*steps, type="return_orchestration", **extra)


def test_the_committed_state_machine_is_what_the_generator_makes_of_the_sample_return_flow() -> None:
    committed = (ROOT / "statemachines" / asl_file_name(RETURN_FLOW)).read_text()
    flow = load_flow(RETURN_FLOW)

    assert committed == to_json(generate_asl(flow)), "statemachines/ is stale: run `make generate`"
    assert flow.is_return_flow and flow.input_events == ["return_requested", "return_received"]


TYPE_MISTAKES = [
    (_return_flow(_action("Check", "validate_return"), _action("Header")),
     "steps[1].action: 'validate_order_header' belongs in an order flow; a return flow uses: assign_return_source, "
     "custom, refund, send_to_returns_provider, update_return_status, validate_return"),
    (_return_flow(_action("Check", "validate_return"), input_events=["return_received", "new_order"]),
     "input_events[1]: a return flow starts on return_requested, return_received, return_refunded, not on "
     "'new_order'"),
    (_return_flow(_action("Check", "validate_return", input_events=["order_shipped"])),
     "steps[0].input_events[0]: a return flow runs on return_requested, return_received, return_refunded, not "
     "'order_shipped'"),
    (_flow(_action("Header"), {"name": "Split", "element": "splitter", "branches": [
        {"name": "Money", "steps": [_action("Pay back", "refund")]}]}),
     "steps[1].branches[0].steps[0].action: 'refund' belongs in a return flow; an order flow uses:"),
    (_flow(_action("Header", input_events=["return_received"])),
     "steps[0].input_events[0]: an order flow runs on order events, not 'return_received'"),
    (_flow(_action("Header"), input_events=["return_requested"]),
     "input_events[0]: an order flow starts on order events, not on 'return_requested'"),
    (_return_flow(_action("Close", "update_return_status", params={"status": "requested"})),
     "steps[0]: params.status must be one of: authorised, in_transit, received, refunded, "
     "rejected, closed (got 'requested')"),
]  # fmt: skip


@pytest.mark.parametrize(("flow", "expected"), TYPE_MISTAKES, ids=[m[1][:48] for m in TYPE_MISTAKES])
def test_a_flow_mixing_order_and_return_steps_or_events_is_refused_naming_the_path(
    flow: dict[str, Any], expected: str
) -> None:
    with pytest.raises(FlowError) as caught:
        parse_flow(flow)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_a_return_flow_without_input_events_starts_when_a_return_is_requested() -> None:
    flow = parse_flow(_return_flow(_action("Check", "validate_return")))
    assert flow.input_events == ["return_requested"]


# Every element in a return flow: each Task, in branches too, must carry the return's id.
ELEMENTS_OF_A_RETURN_FLOW = _return_flow(
    _action("Check the return", "validate_return", execution_policies=["Return window"]),
    {"name": "Prepare", "element": "splitter_merge", "branches": [
        {"name": "Where to", "steps": [_action("Assign", "assign_return_source")]},
        {"name": "Label", "steps": [_action("Send", "send_to_returns_provider", params={"provider": "sqs"})]},
    ]},
    _action("Pay back", "refund", input_events=["return_received"]),
    {"name": "Paid?", "element": "condition",
     "yes": [_action("Close", "update_return_status", params={"status": "closed"})],
     "no": [_action("Note it", "custom", target="notify-returns-desk")]},
    input_events=["return_requested", "return_received"],
)  # fmt: skip


def _tasks(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in machine["States"].items():
        if state["Type"] == "Task":
            found[name] = state
        for branch in state.get("Branches", []):
            found.update(_tasks(branch))
    return found


@pytest.mark.parametrize("flow", [ELEMENTS_OF_A_RETURN_FLOW, None], ids=["every element", "the sample"])
def test_every_task_of_a_return_flow_carries_the_return_and_a_failed_path_holds_the_return(
    flow: dict[str, Any] | None,
) -> None:
    # Given a return flow
    parsed = parse_flow(flow) if flow is not None else load_flow(RETURN_FLOW)

    # When its state machine is generated
    asl = generate_asl(parsed)

    # Then every Task, inside the merge's branches too, hands its function the return's id
    tasks = _tasks(asl)
    assert tasks and all(t["Parameters"]["Payload"]["return_id.$"] == "$.return_id" for t in tasks.values())
    assert structural_problems(asl) == []
    # And a failed path ends in the hold of the return, on the returns function; no order is held
    hold = asl["States"]["On hold"]
    assert hold["Comment"] == hold["Parameters"]["Payload"]["action"] == "hold_return"
    assert hold["Parameters"]["FunctionName"] == "${ReturnsFunctionArn}"
    assert all(t["Parameters"]["Payload"]["action"] != "hold_order" for t in tasks.values())
    return_actions = {"validate_return", "assign_return_source", "send_to_returns_provider", "refund"}
    for task in tasks.values():
        if task["Parameters"]["Payload"]["action"] in return_actions | {"update_return_status"}:
            assert task["Parameters"]["FunctionName"] == "${ReturnsFunctionArn}"


def test_step_functions_accepts_the_generated_machine_of_a_return_flow() -> None:
    import boto3
    from moto import mock_aws

    from orderflow.flows.asl import substitute, to_deployable_json

    # Given a return flow's machine with its functions' ARNs filled in, as publishing deploys it
    text = to_deployable_json(generate_asl(parse_flow(ELEMENTS_OF_A_RETURN_FLOW)))
    arns = {
        name: f"arn:aws:lambda:us-east-1:123456789012:function:stack-{name}"
        for name in re.findall(r"\$\{(\w+)\}", text)
    }

    # When Step Functions (moto's, which parses the ASL) is asked to create it
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
        created = stepfunctions.create_state_machine(
            name="stack-flow-returns",
            definition=substitute(text, arns),
            roleArn="arn:aws:iam::123456789012:role/FlowExecutionRole",
        )

        # Then it is created, as it was given
        described = stepfunctions.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert json.loads(described["definition"])["States"]["On hold"]["Comment"] == "hold_return"
    assert "ReturnsFunctionArn" in arns
