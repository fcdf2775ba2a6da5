"""Flow state machines in Step Functions: created or updated with ``publish=True``, one immutable
version per published flow version."""

from __future__ import annotations

import os

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
        if existing is None:
            answer = client.create_state_machine(
                name=name,
                definition=definition,
                roleArn=self.role_arn,
                type="STANDARD",
                publish=True,
                versionDescription=description[:256],
                # the stack's TracingMode (X-Ray), as its own machines
                tracingConfiguration={"enabled": os.environ.get("FLOW_TRACING", "true") != "false"},
            )
            return answer["stateMachineArn"], answer["stateMachineVersionArn"]
        answer = client.update_state_machine(
            stateMachineArn=existing,
            definition=definition,
            publish=True,
            versionDescription=description[:256],
        )
        return existing, answer["stateMachineVersionArn"]

    def _arn_of(self, name: str) -> str | None:
        for page in stepfunctions().get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    return str(machine["stateMachineArn"])
        return None
