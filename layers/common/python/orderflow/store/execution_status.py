"""Reading Step Functions: a state machine's definition, and an execution's status and input."""

from __future__ import annotations

import json
from typing import Any

from orderflow.store.clients import stepfunctions


class ExecutionReader:
    def definition(self, state_machine_arn: str) -> dict[str, Any]:
        answer = stepfunctions().describe_state_machine(stateMachineArn=state_machine_arn)
        return dict(json.loads(answer["definition"]))

    def status(self, state_machine_arn: str, name: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED…; None when Step Functions no longer knows the execution (it
        keeps finished ones for 90 days)."""
        client = stepfunctions()
        try:
            answer = client.describe_execution(executionArn=execution_arn(state_machine_arn, name))
        except client.exceptions.ExecutionDoesNotExist:
            return None
        return str(answer["status"])

    def input(self, state_machine_arn: str, name: str) -> dict[str, Any] | None:
        """What an execution was started with; None when Step Functions no longer knows it."""
        client = stepfunctions()
        try:
            answer = client.describe_execution(executionArn=execution_arn(state_machine_arn, name))
        except client.exceptions.ExecutionDoesNotExist:
            return None
        value = json.loads(answer.get("input") or "{}")
        return value if isinstance(value, dict) else None


def execution_arn(state_machine_arn: str, name: str) -> str:
    # An execution started on a version ARN (…:stateMachine:Name:3) is named under its machine.
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine.split(':')[0]}:{name}"
