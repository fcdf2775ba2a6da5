"""The steps the generator adds around the merchant's: the hold a failed path ends in, and the merge
after a splitter-merge's branches (see flows/asl.py and the README's "When a step fails").

``hold_order`` puts the order on hold naming the failed step (status, history, step result, and the
store status the mapping gives ``on_hold``); the order can then be resubmitted from that step.
``merge_branches`` is the merge's own result: it succeeded when every branch that ran succeeded
(a branch whose first step was filtered out was skipped, which is not a failure), and it says which
branches ran, were skipped and failed, with each failed step's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orderflow import clock
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.models.flow import merge_message
from orderflow.models.order import BigCommerceSettings, OrderStatus, StepResult, StepStatus
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.models.transitions import can_transition
from orderflow.observability import logger, metrics
from orderflow.orders.status_push import header, push_status
from orderflow.store.orders import OrderRepository

RETRYING = "will retry: "
_MESSAGE_LIMIT = 500  # of a failed step's message quoted in a hold or merge message


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def hold_order(
    request: StepRequest,
    orders: OrderRepository,
    settings: Callable[[], BigCommerceSettings],
    bigcommerce: Callable[[], BigCommerceClient],
) -> StepOutcome:
    failed = request.failed or {}
    step = str(failed.get("step") or "an earlier step")
    error = str(failed.get("error") or "")
    cause = failure_of(request, orders, step, error)
    order = header(orders, request.order_key)
    reason = f"{request.flow.id} v{request.flow.version}: step '{step}' failed: {_short(cause)}"
    details: dict[str, Any] = {"failed_step": step, "error": error or None}
    if not can_transition(order.status, OrderStatus.ON_HOLD):
        # A shipped, invoiced, completed or cancelled order is past holding: the failure stays on
        # record (and resubmittable), the status as it is.
        logger.warning("failed step on an order that cannot be held", extra={"status": order.status.value})
        return StepOutcome(
            succeeded=True,
            message=f"step '{step}' failed: {_short(cause)}; the order is {order.status.value} and is not put on hold",
            details={**details, "held": False},
        )
    pushed = push_status(request.order_key, OrderStatus.ON_HOLD, reason, orders, settings(), bigcommerce)
    metrics.add_metric(name="OrdersOnHold", unit="Count", value=1)
    logger.info("order on hold", extra={"failed_step": step})
    return StepOutcome(
        succeeded=True,
        message=f"order on hold: step '{step}' failed: {_short(cause)}; {pushed.message.split('; ', 1)[-1]}",
        details={
            **details,
            "held": True,
            "bigcommerce_status_id": pushed.details.get("bigcommerce_status_id"),
        },
    )


def failure_of(request: StepRequest, orders: OrderRepository, step: str, error: str) -> str:
    """The failed step's message; recorded here when its function could not record one (it timed
    out or crashed) or only said it would retry (the retries are spent now)."""
    execution = request.execution or "-"
    results = [
        r
        for r in orders.execution_steps(request.order_key, request.flow.id, request.flow.version, execution)
        if r.step == step
    ]
    latest = results[-1] if results else None
    if latest is not None and latest.status == StepStatus.FAILED and not latest.message.startswith(RETRYING):
        return latest.message  # the function said why (a business failure); nothing more to record
    if latest is not None and latest.message.startswith(RETRYING):
        message = f"gave up after its retries: {latest.message.removeprefix(RETRYING)}"
    else:
        message = f"its function failed: {error or 'no answer'}"
    now = clock.iso()
    orders.record_step(
        StepResult(
            order_key=request.order_key,
            flow_id=request.flow.id,
            flow_version=request.flow.version,
            flow_name=request.flow.name,
            step=step,
            action=latest.action if latest else "unknown",
            status=StepStatus.FAILED,
            message=message,
            details={"error": error} if error else {},
            started_at=latest.started_at if latest else now,
            finished_at=now,
            attempts=(latest.attempts if latest else 0) + 1,
            execution=request.execution,
        )
    )
    return message


def merge_branches(request: StepRequest, orders: OrderRepository) -> StepOutcome:
    ran: list[str] = []
    skipped: list[str] = []
    failed: list[dict[str, Any]] = []
    for index, branch in enumerate(request.branches):
        name = str(branch.get("name"))
        last = request.results[index] if index < len(request.results) else None
        if not isinstance(last, dict):
            failed.append({"branch": name, "step": None, "message": "the branch reported no result"})
            continue
        status = last.get("status")
        if status == StepStatus.SKIPPED.value and last.get("step") == branch.get("first_step"):
            skipped.append(name)
        elif last.get("succeeded") is True:
            ran.append(name)
        else:
            failed.append({"branch": name, "step": last.get("step"), "message": last.get("error") or ""})
    if failed:
        _fill_messages(request, orders, failed)
    details = {"ran": ran + [f["branch"] for f in failed], "skipped": skipped, "failed": failed}
    shown = [{**f, "message": _short(str(f["message"]))} for f in failed]
    message = merge_message(len(request.branches), ran, skipped, shown)
    return StepOutcome(succeeded=not failed, message=message, details=details)


def _fill_messages(request: StepRequest, orders: OrderRepository, failed: list[dict[str, Any]]) -> None:
    """Each failed branch's message, from the step results of this run (one Query)."""
    results: dict[str, StepResult] = {}
    for result in orders.execution_steps(
        request.order_key, request.flow.id, request.flow.version, request.execution or "-"
    ):
        results[result.step] = result  # oldest first: the latest of each step wins
    for entry in failed:
        found = results.get(str(entry["step"]))
        if found is not None and found.status == StepStatus.FAILED:
            entry["message"] = _short(found.message)
        elif entry["message"]:
            entry["message"] = f"its function failed: {entry['message']}"
