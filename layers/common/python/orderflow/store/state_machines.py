"""Flow state machines in Step Functions: created or updated with ``publish=True``, one immutable
version per published flow version."""

from __future__ import annotations

from typing import Any

from orderflow import config
from orderflow.store.clients import stepfunctions


class StateMachineRepository:
    def __init__(self, name_prefix: str, role_arn: str) -> None:
        self.name_prefix = name_prefix
        self.role_arn = role_arn

    def name_for(self, flow_id: str) -> str:
        return f"{self.name_prefix}-{flow_id}"[:80]

    def publish(self, flow_id: str, definition: str, description: str) -> tuple[str, str]:
        """Create the flow's state machine, or update it, and publish the definition as a new
        version; (state machine ARN, version ARN). Executions started on a version keep it."""
        client = stepfunctions()
        name = self.name_for(flow_id)
        existing = self._arn_of(name)
        log_config = _logging_configuration()
        if existing is None:
            answer = client.create_state_machine(
                name=name,
                definition=definition,
                roleArn=self.role_arn,
                type="STANDARD",
                publish=True,
                versionDescription=description[:256],
                # the stack's TracingMode (X-Ray), as its own machines
                tracingConfiguration={"enabled": config.settings().flow_tracing},
                **log_config,
            )
            return answer["stateMachineArn"], answer["stateMachineVersionArn"]
        answer = client.update_state_machine(
            stateMachineArn=existing,
            definition=definition,
            publish=True,
            versionDescription=description[:256],
            # a flow first published before its stack had the log group gets it now
            **log_config,
        )
        return existing, answer["stateMachineVersionArn"]

    def _arn_of(self, name: str) -> str | None:
        for page in stepfunctions().get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    return str(machine["stateMachineArn"])
        return None


def _logging_configuration() -> dict[str, Any]:
    """As the stack's own machines log: errors only, without execution data (orders, customers),
    to the stack's log group for flows (FLOW_LOG_GROUP_ARN); nothing when it is not set."""
    log_group_arn = config.settings().flow_log_group_arn
    if not log_group_arn:
        return {}
    return {
        "loggingConfiguration": {
            "level": "ERROR",
            "includeExecutionData": False,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group_arn}}],
        }
    }
