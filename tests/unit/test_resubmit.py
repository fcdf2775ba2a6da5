"""Resubmit's pure parts: which step failed, where its machine resumes, what the new run is called."""

from __future__ import annotations

from typing import Any

from orderflow.flows.asl import (
    RESUME_AT,
    RESUME_ENTRY,
    generate_asl,
    intake_asl,
    resume_point,
    structural_problems,
)
from orderflow.flows.resubmit import latest_failure, resubmit_name
from orderflow.models.flow import parse_flow
from orderflow.models.order import StepResult, StepStatus


def _flow(*steps: dict[str, Any]) -> Any:
    return parse_flow(
        {"name": "Resume flow", "type": "order_orchestration", "description": "test", "steps": list(steps)}
    )


SPLIT_FLOW = _flow(
    {"name": "Check", "action": "validate_order_header"},
    {
        "name": "Split",
        "element": "splitter_merge",
        "branches": [
            {"name": "One", "steps": [{"name": "Lines", "action": "validate_order_line"}]},
            {"name": "Two", "steps": [{"name": "Source", "action": "send_to_dom"}]},
        ],
    },
    {"name": "Release", "action": "update_order_status", "params": {"status": "validated"}},
)


def _result(step: str, status: StepStatus, at: str, flow_id: str = "f", execution: str = "x") -> StepResult:
    return StepResult(
        order_key="BC-s-1", flow_id=flow_id, flow_version=1, step=step, action="a", status=status,
        started_at=at, finished_at=at, execution=execution,
    )  # fmt: skip


def test_a_machine_resumes_at_a_top_level_step_or_at_the_splitter_holding_it() -> None:
    asl = generate_asl(SPLIT_FLOW)

    assert structural_problems(asl) == []
    assert asl["StartAt"] == "Check"
    assert resume_point(asl, "Release") == "Release"
    assert resume_point(asl, "Source") == "Split"
    assert resume_point(asl, "Nowhere") is None
    assert resume_point(intake_asl(), "Import order") == "Import order"
    assert resume_point(intake_asl(), "Route to flows") == "Route to flows"


def test_a_machine_starts_at_its_first_step_which_hands_a_resubmit_over_to_its_resume_point() -> None:
    asl = generate_asl(SPLIT_FLOW)
    first = asl["States"]["Check"]

    # The first step reads the execution's input; a resume_at naming another step is caught first
    assert first["Parameters"]["Payload"]["execution_input.$"] == "$$.Execution.Input"
    assert first["Catch"][0] == {"ErrorEquals": ["ResumeElsewhere"], "ResultPath": None, "Next": RESUME_AT}
    chooser = asl["States"][RESUME_AT]
    assert [c["Next"] for c in chooser["Choices"]] == ["Check", "Split", "Release"]
    assert chooser["Default"] == "Unknown resume point"
    # No other step reads the execution's input
    assert "execution_input.$" not in asl["States"]["Release"]["Parameters"]["Payload"]


def test_a_machine_starting_with_a_splitter_keeps_an_entry_choice() -> None:
    asl = generate_asl(_flow(*SPLIT_FLOW.model_dump(mode="json")["steps"][1:]))
    entry = asl["States"][asl["StartAt"]]

    assert asl["StartAt"] == RESUME_ENTRY and structural_problems(asl) == []
    assert entry["Choices"][0] == {"Variable": "$.resume_at", "IsPresent": False, "Next": "Split"}
    assert entry["Default"] == "Unknown resume point"
    assert resume_point(asl, "Release") == "Release"


def test_a_step_named_like_the_resume_point_keeps_its_name() -> None:
    asl = generate_asl(_flow({"name": RESUME_AT, "action": "validate_order_header"}))

    assert asl["StartAt"] == RESUME_AT and f"{RESUME_AT} (2)" in asl["States"]
    assert structural_problems(asl) == []
    assert resume_point(asl, RESUME_AT) == RESUME_AT


def test_a_machine_generated_without_resume_points_cannot_resume() -> None:
    asl = generate_asl(SPLIT_FLOW)
    old = {"StartAt": "Check", "States": {k: v for k, v in asl["States"].items() if k != RESUME_AT}}

    assert resume_point(old, "Check") is None


def test_the_latest_failure_is_a_step_whose_latest_result_failed() -> None:
    results = [
        _result("Import order", StepStatus.FAILED, "2026-01-01T00:00:01Z", flow_id="order-intake"),
        _result("Import order", StepStatus.SUCCEEDED, "2026-01-01T00:00:05Z", flow_id="order-intake"),
        _result("Check", StepStatus.FAILED, "2026-01-01T00:00:06Z"),
        _result("Hold", StepStatus.SUCCEEDED, "2026-01-01T00:00:07Z"),
    ]

    failed = latest_failure(results)

    assert failed is not None and failed.step == "Check"
    assert latest_failure([*results, _result("Check", StepStatus.SUCCEEDED, "2026-01-01T00:00:09Z")]) is None


def test_resubmitted_runs_are_numbered_and_fit_step_functions_limit() -> None:
    assert resubmit_name("BC-s-1-flow-v1", 2) == "BC-s-1-flow-v1-resubmit-2"
    long = resubmit_name("x" * 80, 1)
    assert len(long) == 80 and long.endswith("-resubmit-1")
    assert resubmit_name("x" * 80, 1) != resubmit_name("x" * 79 + "y", 1)
