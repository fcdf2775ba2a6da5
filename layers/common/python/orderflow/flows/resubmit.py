"""Resubmitting a failed order: run its failed step again, and what follows it, keeping the results
of the steps before it.

What "failed" means: a step whose latest result (per flow and step) is ``failed``. A flow execution
usually *succeeds* although a step failed (the failure is caught into ``$.last`` and a Condition
takes the ``no`` path), so the step results, not the execution status, say what failed; a failed
import (values without a mapping) counts. The latest such step is the one resubmitted.

How: Step Functions cannot redrive a SUCCEEDED execution, and moto cannot redrive at all, so a
resubmit is a new execution of the same state machine version, named ``<failed execution>-resubmit-<n>``,
started with ``resume_at``: the generated entry Choice (flows/asl.py) jumps to that step. A step
inside a splitter resumes at its top-level splitter. The earlier executions' step results stay;
the new one records its own. A failed import re-runs the intake's import step (which maps the stored
order again) and then routes the order to its flows.

Resubmitting heals the order: one on hold goes back to the status it had before the hold (and the
store to the status it showed then), one whose import failed goes back to ``new`` (the import step
then sets the store's downloaded or new-order status); its history says who resubmitted it, when and
from which step. The new execution runs on the event the failed one ran on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orderflow import config
from orderflow.errors import ConfigurationError, Conflict
from orderflow.flows.asl import RESUME_FIELD, intake_asl, resume_point
from orderflow.models.event import OrderEvent
from orderflow.models.order import FlowRef, Order, OrderStatus, StepResult, StepStatus
from orderflow.models.transitions import is_final
from orderflow.observability import logger
from orderflow.orders.executions import INTAKE, execution_input
from orderflow.store.flows import FlowRepository
from orderflow.store.orders import OrderRepository

RESUBMIT_TRIGGER = "resubmit"
# The intake's import step maps a stored order again only for a trigger that cannot mean a status
# reset in the store, and routing starts the flows that take new orders: "new_order" is both.
INTAKE_RESUBMIT_TRIGGER = "new_order"
GENERATED_STEPS = {"hold_order"}
_SUFFIX_RE = re.compile(r"-resubmit-(\d+)$")
_NAME_LIMIT = 80  # Step Functions' limit on execution names
_NAME_ATTEMPTS = 5


class Starter(Protocol):
    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]: ...


class Reader(Protocol):
    def definition(self, state_machine_arn: str) -> dict[str, Any]: ...

    def status(self, state_machine_arn: str, name: str) -> str | None: ...

    def input(self, state_machine_arn: str, name: str) -> dict[str, Any] | None: ...


# Sets the order's status back and pushes it: (order key, status, reason, store status to push when
# the status maps to none) → what was done; status_push.push_status with the deployment's store.
Healer = Callable[[str, OrderStatus, str, int | None], str]


@dataclass(frozen=True)
class StackMachines:
    """The state machines deployed with the stack (their ARNs come from the settings)."""

    intake_arn: str | None
    default_flow_arn: str | None
    default_flow_id: str = "default-order-flow"
    default_flow_version: int = 1

    @classmethod
    def from_env(cls) -> StackMachines:
        settings = config.settings()
        return cls(
            intake_arn=settings.order_intake_state_machine_arn,
            default_flow_arn=settings.default_flow_state_machine_arn,
            default_flow_id=settings.default_flow_id,
            default_flow_version=settings.default_flow_version,
        )


@dataclass(frozen=True)
class Resubmission:
    order_key: str
    failed: StepResult
    resume_at: str
    execution: str
    order_status: str = ""
    healed: str = ""

    def to_body(self) -> dict[str, Any]:
        return {
            "order_key": self.order_key,
            "status": "resubmitted",
            "failed_step": {
                "flow_id": self.failed.flow_id,
                "flow_version": self.failed.flow_version,
                "step": self.failed.step,
                "execution": self.failed.execution,
                "message": self.failed.message,
                "finished_at": self.failed.finished_at,
            },
            "resume_at": self.resume_at,
            "execution": self.execution,
            "order_status": self.order_status,
            "healed": self.healed,
        }


def latest_failure(results: Iterable[StepResult]) -> StepResult | None:
    """The most recent step whose latest result is a failure: a step that later succeeded (in a
    resubmit, or in a new revision's run of the flow) is no longer failed."""
    latest: dict[tuple[str, str], StepResult] = {}
    for result in sorted(results, key=lambda r: (r.finished_at, r.started_at)):
        if result.action in GENERATED_STEPS:
            continue  # a hold that could not push is the failed step's consequence, not a step to resume
        latest[(result.flow_id, result.step)] = result
    failed = [r for r in latest.values() if r.status == StepStatus.FAILED]
    return max(failed, key=lambda r: (r.finished_at, r.started_at)) if failed else None


def resubmit(
    order_key: str,
    *,
    orders: OrderRepository,
    flows: FlowRepository,
    starter: Starter,
    reader: Reader,
    machines: StackMachines,
    heal: Healer | None = None,
    by: str = "an operator",
) -> Resubmission:
    order, results = orders.get_with_steps(order_key)  # NotFound (404) for an unknown order
    failed = latest_failure(results)
    # A return flow's failure is the return's: it is resubmitted whatever the order's status (a
    # completed order's return, say).
    if is_final(order.status) and (failed is None or not failed.return_id):
        raise Conflict(
            f"order {order_key} is {order.status.value}: nothing is resubmitted for it", field="order_key"
        )
    if failed is None or not failed.execution:
        raise Conflict(f"nothing to resubmit: every step of order {order_key} succeeded", field="order_key")
    machine_arn, state_machine_arn, asl, ref = _machine_of(failed, flows, reader, machines)
    root = _SUFFIX_RE.sub("", failed.execution)
    number = _next_number(root, results)
    # The failed run may still be retrying, and an earlier resubmit may still be running after the
    # step it resumed: another run now would do their work twice.
    for execution in {failed.execution, *([resubmit_name(root, number - 1)] if number > 1 else [])}:
        if reader.status(state_machine_arn, execution) == "RUNNING":
            raise Conflict(
                f"order {order_key}: execution {execution} is still running; resubmit once it has finished",
                field="order_key",
            )
    point = resume_point(asl, failed.step)
    if point is None:
        raise Conflict(
            f"{ref.name or ref.id} v{ref.version} cannot resume at '{failed.step}' (its state machine has no "
            "resume point there; publish the flow again to resubmit orders on it)",
            field="order_key",
        )
    trigger = INTAKE_RESUBMIT_TRIGGER if ref.id == INTAKE.id else RESUBMIT_TRIGGER
    original = reader.input(state_machine_arn, failed.execution) or {}
    event = str(original.get("event") or OrderEvent.NEW_ORDER)
    payload = {
        **execution_input(order.store_hash, order.external_id, ref, trigger, event, order=order),
        RESUME_FIELD: point,
    }
    reason = f"resubmitted by {by} from step '{failed.step}' ({ref.name or ref.id} v{ref.version})"
    if failed.return_id:
        payload["return_id"] = failed.return_id
        status, healed = order.status, _release_return(order.order_key, failed.return_id, reason, orders)
    else:
        status, healed = _heal(order, reason, orders, heal)
    for attempt in range(_NAME_ATTEMPTS):
        name = resubmit_name(root, number + attempt)
        _, started = starter.start(machine_arn, name, payload)
        if started:
            break
    else:
        raise Conflict(
            f"order {order_key} was resubmitted concurrently; look at its step results", field="order_key"
        )
    logger.info(
        "order resubmitted",
        extra={"order_key": order_key, "flow": ref.id, "resume_at": point, "execution": name},
    )
    return Resubmission(
        order_key=order_key,
        failed=failed,
        resume_at=point,
        execution=name,
        order_status=status.value,
        healed=healed,
    )


def _release_return(order_key: str, return_id: str, reason: str, orders: OrderRepository) -> str:
    """A held return is taken out of hold when its flow is resubmitted (the order is not touched)."""
    from orderflow.store.returns import ReturnRepository

    returns = ReturnRepository(orders.table_name)
    returns.update(return_id, lambda current: current.model_copy(update={"hold": None}), order_key)
    orders.note(order_key, f"return {return_id} {reason}")
    return f"return {return_id} taken out of hold"


def _heal(order: Order, reason: str, orders: OrderRepository, heal: Healer | None) -> tuple[OrderStatus, str]:
    """Take the order out of hold (to the status before it) or out of a failed import (to ``new``);
    otherwise say in its history that it was resubmitted. (new status, what was done)"""
    if order.status == OrderStatus.ON_HOLD and heal is not None:
        before, store_before = _before_hold(order)
        return before, heal(order.order_key, before, reason, store_before)
    if order.status == OrderStatus.ERROR:
        orders.transition(order.order_key, OrderStatus.NEW, reason=reason)
        return OrderStatus.NEW, "out of error: the import step maps the order again"
    orders.note(order.order_key, reason)
    return order.status, ""


def _before_hold(order: Order) -> tuple[OrderStatus, int | None]:
    """The status the order had before its latest hold, and the store status pushed before it."""
    held_at = max((i for i, h in enumerate(order.history) if h.status == OrderStatus.ON_HOLD), default=None)
    previous = OrderStatus.NEW
    if held_at is not None:
        earlier = [h.status for h in order.history[:held_at] if h.status != OrderStatus.ON_HOLD]
        previous = earlier[-1] if earlier else OrderStatus.NEW
    hold_push = next(
        (p for p in reversed(order.pushes) if held_at is not None and p.seq == held_at + 1), None
    )
    return previous, hold_push.from_status_id if hold_push else None


def _machine_of(
    failed: StepResult, flows: FlowRepository, reader: Reader, machines: StackMachines
) -> tuple[str, str, Mapping[str, Any], FlowRef]:
    """(ARN to start, its state machine's ARN, its definition, the flow) of the failed step's run."""
    if failed.flow_id == INTAKE.id:
        if not machines.intake_arn:
            raise ConfigurationError(
                "ORDER_INTAKE_STATE_MACHINE_ARN is not set: the intake cannot be resubmitted"
            )
        return machines.intake_arn, machines.intake_arn, intake_asl(), INTAKE
    ref = FlowRef(id=failed.flow_id, version=failed.flow_version, name=failed.flow_name)
    if (
        machines.default_flow_arn
        and failed.flow_id == machines.default_flow_id
        and failed.flow_version == machines.default_flow_version
    ):
        arn = machines.default_flow_arn
        return arn, arn, reader.definition(arn), ref
    # The version the order ran on, even when the flow has been published again since.
    version = flows.version(failed.flow_id, failed.flow_version)
    return version.version_arn, version.state_machine_arn, json.loads(version.asl), ref


def _next_number(root: str, results: Iterable[StepResult]) -> int:
    numbers = [0]
    for result in results:
        execution = result.execution or ""
        match = _SUFFIX_RE.search(execution)
        if match and execution[: match.start()] == root:
            numbers.append(int(match.group(1)))
    return max(numbers) + 1


def resubmit_name(root: str, number: int) -> str:
    suffix = f"-resubmit-{number}"
    name = re.sub(r"[^0-9A-Za-z_-]", "_", root)
    if len(name) + len(suffix) > _NAME_LIMIT:
        # Shortened with a digest, so that different long roots keep different names.
        keep = _NAME_LIMIT - len(suffix) - 9
        name = f"{name[:keep]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name + suffix
