"""An order's executions, read from its step results, with their ARNs and Step Functions console links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from orderflow.errors import NotFound
from orderflow.flows.resubmit import StackMachines
from orderflow.models.order import StepResult
from orderflow.orders.executions import INTAKE
from orderflow.store.flows import FlowRepository

# The console's domain in each partition (the standard one for any other).
_CONSOLE_DOMAINS = {"aws-cn": "console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}


@dataclass
class Execution:
    name: str
    flow_id: str
    flow_name: str
    flow_version: int
    started_at: str
    steps: int
    last_status: str
    execution_arn: str | None = None
    console_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "flow_id": self.flow_id,
            "flow_name": self.flow_name,
            "flow_version": self.flow_version,
            "started_at": self.started_at,
            "steps": self.steps,
            "last_status": self.last_status,
            "execution_arn": self.execution_arn,
            "console_url": self.console_url,
        }


def execution_arn(state_machine_arn: str, name: str) -> str | None:
    """``arn:…:stateMachine:<machine>[:<version or alias>]`` → ``arn:…:execution:<machine>:<name>``
    (an execution started through a version is named after the machine alone)."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[5] != "stateMachine" or not name:
        return None
    return ":".join([*parts[:5], "execution", parts[6], name])


def console_url(arn: str) -> str | None:
    """The AWS console's page of the execution, in the execution's own region."""
    parts = arn.split(":")
    if len(parts) < 8 or parts[5] != "execution" or not parts[3]:
        return None
    region = parts[3]
    domain = _CONSOLE_DOMAINS.get(parts[1], "console.aws.amazon.com")
    return (
        f"https://{region}.{domain}/states/home?region={region}#/v2/executions/details/{quote(arn, safe=':')}"
    )


def of_order(steps: Iterable[StepResult], flows: FlowRepository, machines: StackMachines) -> list[Execution]:
    """One entry per execution named by the step results, earliest first; the ARN from the machine its
    flow version runs on (the stack's intake and default flow, or the published version's)."""
    found: dict[str, Execution] = {}
    for step in sorted(steps, key=lambda s: (s.started_at, s.finished_at)):
        if not step.execution:
            continue
        current = found.get(step.execution)
        if current is None:
            found[step.execution] = Execution(
                name=step.execution,
                flow_id=step.flow_id,
                flow_name=step.flow_name,
                flow_version=step.flow_version,
                started_at=step.started_at,
                steps=1,
                last_status=str(step.status),
            )
        else:
            current.steps += 1
            current.last_status = str(step.status)
    machine_arns: dict[tuple[str, int], str | None] = {}
    for entry in found.values():
        ref = (entry.flow_id, entry.flow_version)
        if ref not in machine_arns:
            machine_arns[ref] = _machine_arn(entry.flow_id, entry.flow_version, flows, machines)
        machine = machine_arns[ref]
        entry.execution_arn = execution_arn(machine, entry.name) if machine else None
        entry.console_url = console_url(entry.execution_arn) if entry.execution_arn else None
    return list(found.values())


def _machine_arn(flow_id: str, version: int, flows: FlowRepository, machines: StackMachines) -> str | None:
    if flow_id == INTAKE.id:
        return machines.intake_arn
    if machines.default_flow_arn and (flow_id, version) == (
        machines.default_flow_id,
        machines.default_flow_version,
    ):
        return machines.default_flow_arn
    try:
        return flows.version(flow_id, version).state_machine_arn
    except NotFound:  # a version no longer stored (a table restored from elsewhere): no link
        return None
