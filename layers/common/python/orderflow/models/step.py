"""What a flow step is asked (a Lambda task's input) and what it answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orderflow.models.order import FlowRef, StepStatus


class OrderRef(BaseModel):
    model_config = ConfigDict(defer_build=True)

    source: str = "bigcommerce"
    store_hash: str
    order_id: int


class StepRequest(BaseModel):
    """The small payload the generated Task sends (see flows/asl.py)."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    order_key: str
    return_id: str | None = None  # a return flow's steps are about this return of the order
    flow: FlowRef
    step: str
    action: str
    execution: str | None = None
    order_ref: OrderRef | None = None
    trigger: str | None = None
    event: str | None = None  # the event that started the execution (models/event.py)
    # set by the generator when no Condition follows the step: a failure ends the path
    stop_on_failure: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None  # custom actions: the Lambda or https:// endpoint the flow names
    input_events: list[str] = Field(default_factory=list)
    # the policies' definitions, embedded when the flow was published
    filter_policies: list[dict[str, Any]] = Field(default_factory=list)
    execution_policies: list[dict[str, Any]] = Field(default_factory=list)
    # the generated steps: a hold gets the failed step's $.last; a merge its branches and their results
    failed: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None  # $.last before this step: a retried import's attempt count
    branches: list[dict[str, Any]] = Field(default_factory=list)
    results: list[Any] = Field(default_factory=list)
    # set here, not by the state machine: the lines a line filter policy selected (None = all)
    lines: list[int] | None = None
    # the machine's first step gets the execution's input: a resubmit's resume_at is read there
    execution_input: dict[str, Any] | None = None
    # the intake's import: a store that did not answer is said with an error the machine catches
    # (to wait and try again), so that an import that succeeds goes straight on to routing
    waits_by_error: bool = False

    @property
    def resume_at(self) -> str | None:
        """The step a resubmit resumes at, when this is the machine's first step."""
        given = (self.execution_input or {}).get("resume_at")
        return given if isinstance(given, str) and given else None


class StepOutcome(BaseModel):
    model_config = ConfigDict(defer_build=True)

    succeeded: bool
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    skipped: bool = False
    # the store or provider did not answer: try again in this many seconds (the machine waits)
    retry_in: int = 0
    attempt: int = 0
    # False for an outcome that is not worth a step result (a route step with nothing imported)
    recorded: bool = True

    @property
    def status(self) -> StepStatus:
        if self.skipped:
            return StepStatus.SKIPPED
        if self.succeeded:
            return StepStatus.SUCCEEDED
        return StepStatus.RETRYING if self.retry_in > 0 else StepStatus.FAILED
