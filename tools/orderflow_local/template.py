"""Read template.yaml for the local runtime: tables, functions, routes, state machines, secrets.

The template stays the one source of truth: the local runtime creates exactly the tables it
declares, serves exactly its routes, and gives each function the environment it declares, with
``!Ref``/``!GetAtt``/``!Sub`` resolved to the local equivalents.
"""

from __future__ import annotations

import re
import secrets as _random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"


class TemplateError(ValueError):
    pass


# libyaml's parser where PyYAML was built with it (its wheels are): the template is read at every start
# of the local runtime, and the pure-Python parser took half of a start.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsic tags."""


def _intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass
class Route:
    method: str
    path: str  # as in the template: /orders/{order_key}
    function: str
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.pattern = re.compile(f"^{regex}$")


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)


@dataclass
class StateMachineSpec:
    logical_id: str
    definition_file: Path
    substitutions: dict[str, str]

    @property
    def arn(self) -> str:
        return state_machine_arn(self.logical_id)


@dataclass
class LocalTemplate:
    root: Path
    parameters: dict[str, str]
    tables: dict[str, dict[str, Any]]  # logical id → CreateTable arguments
    functions: dict[str, FunctionSpec]
    routes: list[Route]
    state_machines: dict[str, StateMachineSpec]
    secrets: dict[str, str]  # logical id → secret string
    # logical id → a value made up for this run (GenerateSecretString: AWS makes one at deploy time)
    generated_secrets: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # logical id → queue name


def queue_url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def state_machine_arn(logical_id: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}"


def load_template(path: Path, parameters: dict[str, str]) -> LocalTemplate:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    resources: dict[str, Any] = document.get("Resources", {})
    values = _parameter_values(document.get("Parameters", {}), parameters)
    resolver = _Resolver(resources, values, document.get("Conditions", {}))
    root = path.parent

    tables = {
        logical: _create_table_args(logical, resolver.resolve(res.get("Properties", {})))
        for logical, res in resources.items()
        if res["Type"] == "AWS::DynamoDB::Table"
    }
    secrets = {
        logical: str(resolver.resolve(res["Properties"]["SecretString"]))
        for logical, res in resources.items()
        if res["Type"] == "AWS::SecretsManager::Secret" and "SecretString" in res.get("Properties", {})
    }
    generated_secrets = {
        logical: _generate_secret(res["Properties"]["GenerateSecretString"])
        for logical, res in resources.items()
        if res["Type"] == "AWS::SecretsManager::Secret"
        and "GenerateSecretString" in res.get("Properties", {})
    }
    queues = {
        logical: _queue_name(logical, res)
        for logical, res in resources.items()
        if res["Type"] == "AWS::SQS::Queue"
    }
    function_globals = document.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    routes: list[Route] = []
    for logical, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        env = {
            **function_globals.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        functions[logical] = FunctionSpec(
            logical_id=logical,
            code_dir=root / props["CodeUri"],
            handler=props.get("Handler", function_globals.get("Handler", "app.handler")),
            environment={k: str(resolver.resolve(v)) for k, v in env.items()},
            timeout=int(props.get("Timeout", function_globals.get("Timeout", 3))),
        )
        for event in props.get("Events", {}).values():
            if event.get("Type") in {"HttpApi", "Api"}:
                event_props = event["Properties"]
                routes.append(Route(event_props["Method"].upper(), event_props["Path"], logical))
    state_machines = {
        logical: StateMachineSpec(
            logical_id=logical,
            definition_file=root / res["Properties"]["DefinitionUri"],
            substitutions={
                k: str(resolver.resolve(v))
                for k, v in res["Properties"].get("DefinitionSubstitutions", {}).items()
            },
        )
        for logical, res in resources.items()
        if res["Type"] == "AWS::Serverless::StateMachine"
    }
    # Literal paths before templated ones, so /orders/x/step-results never falls to /orders/{order_key}.
    routes.sort(key=lambda r: (r.path.count("{"), -len(r.path)))
    return LocalTemplate(
        root, values, tables, functions, routes, state_machines, secrets, generated_secrets, queues
    )


def _generate_secret(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    length = int(spec.get("PasswordLength", 32))
    return "".join(_random.choice(alphabet) for _ in range(length))


def _queue_name(logical: str, resource: dict[str, Any]) -> str:
    return str(resource.get("Properties", {}).get("QueueName", logical))


def _parameter_values(declared: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    missing = []
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            missing.append(name)
    if missing:
        raise TemplateError(f"template parameters without a value: {', '.join(missing)}")
    return values


def _create_table_args(logical: str, props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": props.get("TableName", logical),
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    if props.get("TimeToLiveSpecification"):
        args["_ttl"] = props["TimeToLiveSpecification"]
    return args


class _Resolver:
    def __init__(
        self, resources: dict[str, Any], parameters: dict[str, str], conditions: dict[str, Any] | None = None
    ) -> None:
        self.resources = resources
        self.parameters = parameters
        self.conditions = conditions or {}

    def holds(self, condition: Any) -> bool:
        """A template condition (by name, or Fn::Equals / Fn::Not / Fn::And / Fn::Or) with the parameters given."""
        if isinstance(condition, str):
            if condition not in self.conditions:
                raise TemplateError(f"no condition named {condition}")
            return self.holds(self.conditions[condition])
        ((key, arg),) = condition.items()
        if key == "Fn::Equals":
            return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
        if key == "Fn::Not":
            return not self.holds(arg[0])
        if key == "Fn::And":
            return all(self.holds(c) for c in arg)
        if key == "Fn::Or":
            return any(self.holds(c) for c in arg)
        if key == "Condition":
            return self.holds(arg)
        raise TemplateError(f"the local runtime does not evaluate {key} in a condition")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.holds(arg[0]) else arg[2])
            if key.startswith("Fn::"):
                raise TemplateError(f"the local runtime does not resolve {key} (used with {arg!r})")
        return {k: self.resolve(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": "orderflow-local",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws"}  # fmt: skip
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::DynamoDB::Table":
            return str(self.resources[name].get("Properties", {}).get("TableName", name))
        if kind == "AWS::Serverless::StateMachine":
            return state_machine_arn(name)
        if kind == "AWS::SecretsManager::Secret":
            return name  # on AWS the ARN; locally the name, which GetSecretValue takes just the same
        if kind == "AWS::Serverless::Function":
            return name
        if kind == "AWS::SQS::Queue":
            return queue_url(_queue_name(name, self.resources[name]))
        if kind == "AWS::Logs::LogGroup":
            return self._log_group_name(name)
        if kind is not None:
            return name
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return function_arn(name)
        if kind == "AWS::Serverless::StateMachine" and attribute == "Name":
            return name
        if kind == "AWS::Serverless::StateMachine" and attribute == "Arn":
            return state_machine_arn(name)
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return _queue_name(name, self.resources[name])
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{_queue_name(name, self.resources[name])}"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.ref(name)}"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            # As CloudFormation gives it (with the trailing ":*" Step Functions' logging asks for);
            # nothing is logged there locally.
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self._log_group_name(name)}:*"
        raise TemplateError(f"!GetAtt {name}.{attribute}: not resolvable locally")

    def _log_group_name(self, name: str) -> str:
        return str(self.resolve(self.resources[name].get("Properties", {}).get("LogGroupName", name)))

    def sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name:
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)
