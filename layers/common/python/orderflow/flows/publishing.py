"""The flow lifecycle: create and edit definitions, publish them as immutable versions, unpublish.

A flow is validated whole (structure, policies, Step Functions' limits) before anything is written.
Publishing snapshots the policies it uses into the version, so a published version behaves the same
until it is replaced, whatever later happens to the policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orderflow import clock, config
from orderflow.errors import Conflict, InvalidInput
from orderflow.flows.asl import (
    generate_asl,
    limit_problems,
    structural_problems,
    substitute,
    to_deployable_json,
    to_json,
)
from orderflow.models.flow import (
    ActionStep,
    ConditionStep,
    Flow,
    FlowError,
    SplitterStep,
    check_policies,
    parse_flow,
    policy_references,
    step_count,
)
from orderflow.models.policy import Policy, parse_policy
from orderflow.models.provider import BUILT_IN_KINDS, ConfiguredProvider, ProviderDirectory
from orderflow.retries import RetrySchedule
from orderflow.store import tables
from orderflow.store.flows import (
    FlowRecord,
    FlowRepository,
    FlowVersion,
    PolicyRecord,
    Route,
    published_conflict,
)
from orderflow.store.state_machines import StateMachineRepository


def policies_by_name(repo: FlowRepository) -> dict[str, Policy]:
    return {policy.name: policy for policy in (to_policy(record) for record in repo.policies())}


def to_policy(record: PolicyRecord) -> Policy:
    return parse_policy({**record.definition, "status": record.status})


def validate(data: Any, policies: Mapping[str, Policy], *, to_publish: bool = False) -> Flow:
    """The whole flow, or FlowError listing every problem with its path."""
    flow = parse_flow(data)
    problems = check_policies(flow, policies, require_published=to_publish)
    if not problems:
        problems = limit_problems(generate_asl(flow, used_policies(flow, policies)), step_count(flow.steps))
    if problems:
        raise FlowError(problems)
    return flow


def used_policies(flow: Flow, policies: Mapping[str, Policy]) -> dict[str, dict[str, Any]]:
    """The definitions of the policies a flow names, as they are embedded in its state machine."""
    return {
        name: policies[name].model_dump(mode="json", exclude={"status"})
        for _, _, name in policy_references(flow)
        if name in policies
    }


def definition_of(flow: Flow) -> dict[str, Any]:
    # status and version are the record's to keep, not the definition's
    return flow.model_dump(mode="json", exclude={"status", "version"}, exclude_defaults=False)


def create_flow(data: Any, repo: FlowRepository) -> FlowRecord:
    flow = validate(data, policies_by_name(repo))
    return repo.create(flow.id, definition_of(flow))


def replace_flow(flow_id: str, data: Any, repo: FlowRepository) -> FlowRecord:
    current = repo.get(flow_id)
    if current.status == "published":
        # the lifecycle problem comes first, whatever the new definition's own problems
        raise published_conflict(current)
    flow = validate(data, policies_by_name(repo))
    if flow.id != flow_id:
        raise InvalidInput(
            f"the name '{flow.name}' would make this flow '{flow.id}', not '{flow_id}': create a new flow to "
            "rename it",
            field="name",
        )
    return repo.replace(flow_id, definition_of(flow))


def publish_flow(
    flow_id: str,
    repo: FlowRepository,
    machines: StateMachineRepository,
    substitutions: Mapping[str, str],
    providers: ProviderDirectory | None = None,
) -> FlowRecord:
    """Publish the flow as a new version; refused (FlowError) while a step names a provider that is not
    configured (``providers``: the configured providers, by default the deployment's)."""
    record = repo.get(flow_id)
    if record.status == "published":
        raise Conflict(
            f"flow {flow_id} is already published as version {record.published_version}", field="flow_id"
        )
    policies = policies_by_name(repo)
    flow = validate(record.flow().model_dump(mode="json"), policies, to_publish=True)
    unknown = unknown_providers(flow, providers if providers is not None else _DeploymentProviders())
    if unknown:
        raise FlowError(unknown)
    used = used_policies(flow, policies)
    asl = generate_asl(flow, used, RetrySchedule.from_env())
    problems = structural_problems(asl)
    if problems:  # the generator's promise; a failure here is our bug, not the merchant's
        raise RuntimeError(f"generated state machine for {flow_id} is unsound: {problems}")
    text = to_json(asl)
    arn, version_arn = machines.publish(
        flow.id, substitute(to_deployable_json(asl), substitutions), f"{flow.name} v{flow.version}"
    )
    version = FlowVersion(
        flow_id=flow.id,
        version=flow.version,
        definition=definition_of(flow),
        policies=used,
        asl=text,
        state_machine_arn=arn,
        version_arn=version_arn,
        published_at=clock.iso(),
    )
    route = Route(
        flow_id=flow.id,
        name=flow.name,
        version=flow.version,
        version_arn=version_arn,
        input_events=list(flow.input_events),
        filter_policies=[used[name] for name in flow.filter_policies],
    )
    return repo.publish(record, version, route)


def steps_naming_provider(name: str, flows: FlowRepository) -> list[str]:
    """Where the published flows name the provider ``name`` (``<flow id> steps[1]``): what forgetting it
    would break. A published flow's definition cannot change while it is published."""

    class _AllBut:
        def find(self, other: str) -> ConfiguredProvider | None:
            known = ConfiguredProvider.model_construct(name=other, role="fulfillment", kind="https")
            return None if other == name else known  # any other name counts as configured

    found: list[str] = []
    for record in flows.all_flows():
        if record.status != "published":
            continue
        for problem in unknown_providers(record.flow(), _AllBut()):
            found.append(f"{record.id} {problem.split('.params.provider', 1)[0]}")
    return found


def unknown_providers(flow: Flow, providers: ProviderDirectory) -> list[str]:
    """Each action step whose ``params.provider`` names neither a built-in kind nor a configured provider,
    with its path. A custom step's params are its function's own, whatever they call a provider."""
    problems: list[str] = []
    known: dict[str, bool] = {}

    def walk(steps: list[Any], path: str) -> None:
        for index, step in enumerate(steps):
            here = f"{path}[{index}]"
            if isinstance(step, ActionStep):
                name = step.params.get("provider")
                if step.action == "custom" or not isinstance(name, str) or name in BUILT_IN_KINDS:
                    continue
                if name not in known:
                    known[name] = providers.find(name) is not None
                if not known[name]:
                    problems.append(
                        f"{here}.params.provider: no provider named '{name[:64]}' is configured "
                        f"(PUT /providers/configured/{name[:64]}); the built-in ones are https and sqs"
                    )
            elif isinstance(step, ConditionStep):
                walk(list(step.yes), f"{here}.yes")
                walk(list(step.no), f"{here}.no")
            elif isinstance(step, SplitterStep):
                for b_index, branch in enumerate(step.branches):
                    walk(list(branch.steps), f"{here}.branches[{b_index}].steps")

    walk(list(flow.steps), "steps")
    return problems


class _DeploymentProviders:
    """The deployment's configured providers, read only when a step names one."""

    def find(self, name: str) -> ConfiguredProvider | None:
        return tables.configured_providers().find(name)


def function_substitutions() -> dict[str, str]:
    """The Lambda ARNs published machines invoke, from the template (``FLOW_FUNCTION_ARNS``, JSON)."""
    return dict(config.settings().flow_function_arns)
