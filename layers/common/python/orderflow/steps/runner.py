"""What every step does around its action: read the request, record a step result, classify errors.

A step's business outcome (``succeeded`` true/false, a message) is written as the order's step
result. When no Condition follows the step (``stop_on_failure``), a failure is raised as
``StepFailed`` so that the generated Catch ends the path and holds the order; otherwise it is
returned for the Condition to branch on. A step listing ``input_events`` runs only on those events
(else it is skipped). A domain error (an illegal status change, a missing order) is a failed step
with its message. Problems that may pass (store unreachable, throttling) are re-raised as
``TransientStepError`` so the generated Retry takes them; anything else is recorded as a failed step
and re-raised for the generated Catch.

The machine's first step also reads a resubmit's ``resume_at``: when it names another step, the
step hands over untouched (``ResumeElsewhere``) and the generated Catch goes there, so a run that is
not a resubmit pays no entry state. An import that finds the store not answering, when the machine
waits by error (``waits_by_error``), records its result and raises ``StoreNotAnswering``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from orderflow import clock
from orderflow.errors import (
    DomainError,
    ProviderUnavailable,
    ResumeElsewhere,
    StepFailed,
    StoreNotAnswering,
    TransientStepError,
)
from orderflow.models.order import Order, StepResult, StepStatus
from orderflow.models.policy import parse_policy
from orderflow.models.returns import Return, return_document
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import logger, metrics, trace_order
from orderflow.policies.evaluate import check_execution_policies, decide_filters


class StepStore(Protocol):
    """Where orders are read and step results go: the orders table (store/orders.py)."""

    def get(self, order_key: str) -> Order: ...

    def record_step(self, result: StepResult) -> None: ...


class ReturnReader(Protocol):
    """Where a return flow's return is read, for its return policies: store/returns.py."""

    def get(self, return_id: str, order_key: str | None = None) -> Return: ...


def run_step(
    event: dict[str, Any],
    perform: Callable[[StepRequest], StepOutcome],
    orders: StepStore,
    is_transient: Callable[[BaseException], bool],
    returns: ReturnReader | None = None,
) -> dict[str, Any]:
    request = StepRequest.model_validate(event)
    logger.set_correlation_id(request.order_key)
    logger.thread_safe_append_keys(order_key=request.order_key, step=request.step, flow=request.flow.id)
    if request.return_id:
        logger.thread_safe_append_keys(return_id=request.return_id)
    trace_order(request.order_key)
    if request.resume_at is not None and request.resume_at != request.step:
        logger.info("the execution resumes at another step", extra={"resume_at": request.resume_at})
        raise ResumeElsewhere(request.resume_at)
    started = clock.iso()
    try:
        outcome = _for_event(request) or _with_policies(request, orders, perform, returns)
    except DomainError as exc:
        outcome = StepOutcome(succeeded=False, message=exc.message, details={"error": exc.code})
    except Exception as exc:
        waits = isinstance(exc, ProviderUnavailable)
        transient = waits or isinstance(exc, TransientStepError) or is_transient(exc)
        # Recorded as failed, saying it will retry: when the machine's Retry gives up, whatever comes
        # next (a hold, a merge, a Condition's path) finds the step failed, as it then is.
        message = f"{'will retry: ' if transient else ''}{exc}"
        _record(orders, request, StepOutcome(succeeded=False, message=message), started)
        metrics.add_metric(name="StepErrors", unit="Count", value=1)
        logger.warning("step raised", extra={"error": type(exc).__name__, "transient": transient})
        if transient and not waits and not isinstance(exc, TransientStepError):
            raise TransientStepError(str(exc)) from exc
        raise
    if outcome.recorded:
        _record(orders, request, outcome, started)
    if outcome.status == StepStatus.FAILED:
        metrics.add_metric(name="StepsFailed", unit="Count", value=1)
    logger.info("step finished", extra={"status": outcome.status.value})
    if outcome.status == StepStatus.FAILED and request.stop_on_failure:
        raise StepFailed(failure_cause(request.step, outcome.message))
    answer = {
        "step": request.step,
        "status": outcome.status.value,
        "succeeded": outcome.succeeded,
        "message": outcome.message,
        "retry_in": outcome.retry_in,
        "attempt": outcome.attempt,
    }
    if outcome.status == StepStatus.RETRYING and request.waits_by_error:
        # the generated Catch reads how long to wait from the error (flows/asl.py, intake_asl)
        raise StoreNotAnswering(json.dumps({key: answer[key] for key in ("status", "retry_in", "attempt")}))
    return answer


_CAUSE_LIMIT = 1000  # of a failure's message carried in the error (the step result keeps it whole)


def failure_cause(step: str, message: str) -> str:
    text = f"{step}: {message}"
    return text if len(text) <= _CAUSE_LIMIT else text[: _CAUSE_LIMIT - 1] + "…"


def _for_event(request: StepRequest) -> StepOutcome | None:
    """A step that lists input events runs only on them: skipped (with why) on any other."""
    if not request.input_events:
        return None
    event = request.event or "new_order"
    if event in request.input_events:
        return None
    return StepOutcome(
        succeeded=True,
        skipped=True,
        message=f"skipped: this step runs on {', '.join(request.input_events)}, not on {event}",
    )


def _with_policies(
    request: StepRequest,
    orders: StepStore,
    perform: Callable[[StepRequest], StepOutcome],
    returns: ReturnReader | None,
) -> StepOutcome:
    """Filter policies decide whether the step applies (and to which lines); critical execution
    policies that do not hold fail it before it runs; information ones are noted with its result.
    In a return flow, return policies read the return."""
    if not (request.filter_policies or request.execution_policies):
        return perform(request)
    order = orders.get(request.order_key)
    subject = None
    if request.return_id and returns is not None:
        subject = return_document(returns.get(request.return_id, request.order_key))
    decision = decide_filters([parse_policy(p) for p in request.filter_policies], order, subject)
    if not decision.applies:
        return StepOutcome(succeeded=True, skipped=True, message=f"skipped: {'; '.join(decision.reasons)}")
    check = check_execution_policies(
        [parse_policy(p) for p in request.execution_policies], order, decision.lines, subject
    )
    details = {"critical": check.critical, "information": check.information}
    if check.critical:
        return StepOutcome(succeeded=False, message="; ".join(check.critical), details=details)
    outcome = perform(request.model_copy(update={"lines": decision.lines}))
    if check.information:
        outcome = outcome.model_copy(
            update={
                "message": f"{outcome.message} (noted: {'; '.join(check.information)})",
                "details": {**outcome.details, **details},
            }
        )
    return outcome


def _record(recorder: StepStore, request: StepRequest, outcome: StepOutcome, started: str) -> None:
    recorder.record_step(
        StepResult(
            order_key=request.order_key,
            flow_id=request.flow.id,
            flow_version=request.flow.version,
            flow_name=request.flow.name,
            step=request.step,
            action=request.action,
            status=outcome.status,
            message=outcome.message,
            details=outcome.details,
            started_at=started,
            finished_at=clock.iso(),
            attempts=max(1, outcome.attempt),
            execution=request.execution,
            return_id=request.return_id,
        )
    )
