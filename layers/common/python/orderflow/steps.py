"""What every step does around its action: read the request, record a step result, classify errors.

A step's business outcome (``succeeded`` true/false, a message) is returned to the state machine and
written as the order's step result. Problems that may pass (store unreachable, throttling) are
re-raised as ``TransientStepError`` so the generated Retry takes them; anything else is recorded as
a failed step and re-raised for the generated Catch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from orderflow import clock
from orderflow.errors import TransientStepError
from orderflow.models import FlowRef, StepResult, StepStatus
from orderflow.observability import logger, metrics


class OrderRef(BaseModel):
    source: str = "bigcommerce"
    store_hash: str
    order_id: int


class StepRequest(BaseModel):
    """The small payload the generated Task sends (see flows/asl.py)."""

    model_config = ConfigDict(extra="ignore")

    order_key: str
    flow: FlowRef
    step: str
    action: str
    execution: str | None = None
    order_ref: OrderRef | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    input_events: list[str] = Field(default_factory=list)
    filter_policies: list[str] = Field(default_factory=list)
    execution_policies: list[str] = Field(default_factory=list)


class StepOutcome(BaseModel):
    succeeded: bool
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    skipped: bool = False

    @property
    def status(self) -> StepStatus:
        if self.skipped:
            return StepStatus.SKIPPED
        return StepStatus.SUCCEEDED if self.succeeded else StepStatus.FAILED


class StepRecorder(Protocol):
    """Where step results go: the orders table (store/orders.py)."""

    def record_step(self, result: StepResult) -> None: ...


def run_step(
    event: dict[str, Any],
    perform: Callable[[StepRequest], StepOutcome],
    recorder: StepRecorder,
    is_transient: Callable[[BaseException], bool],
) -> dict[str, Any]:
    request = StepRequest.model_validate(event)
    logger.set_correlation_id(request.order_key)
    logger.append_keys(order_key=request.order_key, step=request.step, flow=request.flow.id)
    started = clock.iso()
    try:
        outcome = perform(request)
    except Exception as exc:
        transient = isinstance(exc, TransientStepError) or is_transient(exc)
        message = f"{'will retry: ' if transient else ''}{exc}"
        _record(recorder, request, StepOutcome(succeeded=False, message=message), started)
        metrics.add_metric(name="StepErrors", unit="Count", value=1)
        logger.warning("step raised", extra={"error": type(exc).__name__, "transient": transient})
        if transient and not isinstance(exc, TransientStepError):
            raise TransientStepError(str(exc)) from exc
        raise
    _record(recorder, request, outcome, started)
    if not outcome.succeeded:
        metrics.add_metric(name="StepsFailed", unit="Count", value=1)
    logger.info("step finished", extra={"status": outcome.status.value})
    return {
        "step": request.step,
        "status": outcome.status.value,
        "succeeded": outcome.succeeded,
        "message": outcome.message,
    }


def _record(recorder: StepRecorder, request: StepRequest, outcome: StepOutcome, started: str) -> None:
    recorder.record_step(
        StepResult(
            order_key=request.order_key,
            flow_id=request.flow.id,
            flow_version=request.flow.version,
            step=request.step,
            action=request.action,
            status=outcome.status,
            message=outcome.message,
            details=outcome.details,
            started_at=started,
            finished_at=clock.iso(),
            execution=request.execution,
        )
    )
