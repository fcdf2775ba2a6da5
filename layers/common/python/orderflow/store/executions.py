"""Starting flow executions (Step Functions), idempotent by execution name."""

from __future__ import annotations

import json
from typing import Any

from orderflow.store.clients import stepfunctions


class ExecutionStarter:
    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Start ``name``; (execution ARN, False) when an execution of that name already exists.

        Step Functions answers the same running execution for the same name and input, and
        ExecutionAlreadyExists once it has finished: either way the order does not run twice.
        """
        client = stepfunctions()
        arn = _execution_arn(state_machine_arn, name)
        try:
            answer = client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
            )
        except client.exceptions.ExecutionAlreadyExists:
            return arn, False
        return answer["executionArn"], True


def _execution_arn(state_machine_arn: str, name: str) -> str:
    # arn:aws:states:region:account:stateMachine:Name → arn:aws:states:region:account:execution:Name:exec
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine.split(':')[0]}:{name}"
