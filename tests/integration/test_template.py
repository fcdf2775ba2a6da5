"""template.yaml as the one source of truth: SAM accepts it, and the local runtime reads it faithfully."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml
from moto import mock_aws

from orderflow.flows.asl import ACTION_FUNCTIONS, substitute
from orderflow.store import clients
from orderflow.store.state_machines import StateMachineRepository
from orderflow_local.runtime import LocalRuntime
from orderflow_local.template import TemplateError, _CfnLoader, load_template
from tests.conftest import EVENTS, ROOT, load_event

PARAMETERS = {"BigCommerceStoreHash": "abc", "BigCommerceAccessToken": "t", "WebhookSecret": "s" * 16}
# Tables holding a merchant's data outlive the stack; the webhook ledger only de-duplicates (72 h TTL).
MERCHANT_DATA = {
    "OrdersTable",
    "MappingsTable",
    "CustomersTable",
    "ItemsTable",
    "SettingsTable",
    "FlowsTable",
    "FulfillmentTable",
    "WebhookSecretValue",
    "ProviderSecretValue",
    "BigCommerceAccessTokenValue",
}


def _sam() -> str | None:
    local = Path(sys.executable).parent / "sam"
    return str(local) if local.exists() else shutil.which("sam")


def _tool_or_skip(name: str, why: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is a dev dependency: `make test` installs it, so CI must have it")
        pytest.skip(f"{name} is not installed here ({why})")
    return found


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    return document


def _of_type(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in document["Resources"].items() if res["Type"] == kind}


def _sam_policy_templates() -> dict[str, Any]:
    """SAM's policy templates (DynamoDBCrudPolicy…) as the SAM translator expands them."""
    try:
        import samtranslator
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("aws-sam-cli (and its translator) is a dev dependency, so CI must have it")
        pytest.skip("the SAM translator is not installed here (run through `make test` to get it)")
    path = Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
    templates: dict[str, Any] = json.loads(path.read_text())["Templates"]
    return templates


def _statements(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, statement) for every policy statement the template writes or asks SAM for: the
    functions' and state machines' Policies, the roles' inline policies, the resource policies."""
    sam_templates = _sam_policy_templates()
    for name, resource in document["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}:
            for index, policy in enumerate(props.get("Policies", [])):
                where = f"{name}.Policies[{index}]"
                assert isinstance(policy, dict), f"{where}: a managed policy's actions cannot be checked here"
                if "Statement" in policy:
                    for statement in policy["Statement"]:
                        yield where, statement
                    continue
                ((template_name, _),) = policy.items()
                assert not template_name.startswith("DynamoDB"), (
                    f"{where}: {template_name} grants more than a function uses; write the actions out"
                )
                for statement in sam_templates[template_name]["Definition"]["Statement"]:
                    yield f"{where} ({template_name})", statement
        elif resource["Type"] == "AWS::IAM::Role":
            assert "ManagedPolicyArns" not in props, (
                f"{name}: a managed policy's actions cannot be checked here"
            )
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield f"{name}.{policy['PolicyName']}", statement
        elif "PolicyDocument" in props:  # queue and topic policies
            for statement in props["PolicyDocument"]["Statement"]:
                yield name, statement


def test_sam_validate_lint_passes() -> None:
    sam = _sam()
    if sam is None:
        if os.environ.get("CI"):
            pytest.fail("aws-sam-cli is a dev dependency: `make test` installs it, so CI must have it")
        pytest.skip("aws-sam-cli is not installed here (run through `make test` to get it)")
    result = subprocess.run(
        [sam, "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_local_runtime_reads_tables_routes_and_environment_from_the_template() -> None:
    template = load_template(ROOT / "template.yaml", PARAMETERS)

    assert set(template.tables) == {
        "OrdersTable",
        "MappingsTable",
        "SettingsTable",
        "WebhookDeliveriesTable",
        "FlowsTable",
        "CustomersTable",
        "ItemsTable",
        "FulfillmentTable",
    }
    assert template.tables["WebhookDeliveriesTable"]["_ttl"]["AttributeName"] == "expires_at"
    webhook = template.functions["WebhookFunction"]
    assert webhook.environment["WEBHOOK_DELIVERIES_TABLE"] == "WebhookDeliveriesTable"
    assert webhook.environment["BIGCOMMERCE_STORE_HASH"] == "abc"  # a Globals variable, resolved
    assert webhook.environment["ORDER_INTAKE_STATE_MACHINE_ARN"].endswith(
        ":stateMachine:OrderIntakeStateMachine"
    )
    flows_api = template.functions["FlowsApiFunction"].environment
    assert flows_api["FLOW_STATE_MACHINE_PREFIX"] == "orderflow-local-flow"
    assert flows_api["FLOW_EXECUTION_ROLE_ARN"] == "arn:aws:iam::123456789012:role/FlowExecutionRole"
    assert json.loads(flows_api["FLOW_FUNCTION_ARNS"])["ValidateOrderFunctionArn"].endswith(
        ":function:ValidateOrderFunction"
    )
    assert json.loads(flows_api["FLOW_FUNCTION_ARNS"])["ReturnsFunctionArn"].endswith(
        ":function:ReturnsFunction"
    )
    served = {(r.method, r.path, r.function) for r in template.routes}
    assert {
        ("POST", "/webhooks/bigcommerce", "WebhookFunction"),
        ("POST", "/orders/{order_key}/returns", "AdminApiFunction"),
        ("GET", "/orders/{order_key}/returns", "AdminApiFunction"),
        ("GET", "/returns/{return_id}", "AdminApiFunction"),
        ("POST", "/returns/{return_id}/events", "ReturnEventsFunction"),
    } <= served
    # literal paths are tried before templated ones
    paths = [r.path for r in template.routes]
    assert paths.index("/orders") < paths.index("/orders/{order_key}")
    assert template.secrets == {"WebhookSecretValue": "s" * 16, "BigCommerceAccessTokenValue": "t"}


def test_a_missing_parameter_and_an_unknown_substitution_are_named() -> None:
    with pytest.raises(TemplateError, match="BigCommerceAccessToken, WebhookSecret"):
        load_template(ROOT / "template.yaml", {"BigCommerceStoreHash": "abc"})
    with pytest.raises(ValueError, match=r"\$\{MissingFunctionArn\}"):
        substitute('{"Resource": "${MissingFunctionArn}"}', {"Other": "x"})


def test_the_layer_build_ships_the_domain_package_and_no_tooling(tmp_path: Path) -> None:
    # What `sam build` runs for the layer, minus the dependency download: the domain package is
    # copied; the tooling (the local runtime with moto and the demo store, the CLI) lives outside it.
    makefile = (ROOT / "layers" / "common" / "Makefile").read_text()
    assert "--platform $(PLATFORM)" in makefile and "--python-version 3.12" in makefile
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT / "layers" / "common"), "build-CommonLayer", f"ARTIFACTS_DIR={tmp_path}",
         "PYTHON=true"],  # `true` stands in for pip: no download in the test
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    package = tmp_path / "python" / "orderflow"
    assert (package / "connector" / "webhooks.py").is_file() and (package / "models" / "order.py").is_file()
    shipped = {p.name for p in (tmp_path / "python").iterdir()}
    assert shipped == {"orderflow"}, shipped


def test_cfn_lint_with_aws_serverless_rules_reports_nothing() -> None:
    cfn_lint = _tool_or_skip("cfn-lint", "run through `make test` to get it")
    try:
        import cfn_lint_serverless  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(
                "cfn-lint-serverless is a dev dependency: `make test` installs it, so CI must have it"
            )
        pytest.skip("cfn-lint-serverless is not installed here (run through `make test` to get it)")
    result = subprocess.run(
        [cfn_lint, str(ROOT / "template.yaml"), "-a", "cfn_lint_serverless.rules"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_the_only_lint_checks_silenced_are_the_two_the_rules_cannot_see_through() -> None:
    # Given the template
    document = _document()

    # When its cfn-lint directives are collected
    silenced = {"template": document["Metadata"]["cfn-lint"]["config"]["ignore_checks"]}
    for name, resource in document["Resources"].items():
        checks = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks")
        if checks:
            silenced[name] = checks

    # Then only these: tracing follows TracingMode (WS1000 reads no parameter), and the queue that is
    # the dead-letter queue of the scheduler, EventBridge and SNS (ES6000 only sees SQS redrives)
    assert silenced == {"template": ["WS1000"], "UndeliveredEventsQueue": ["ES6000"]}
    functions = _of_type(document, "AWS::Serverless::Function")
    assert document["Globals"]["Function"]["Tracing"] == {"Ref": "TracingMode"}
    assert document["Parameters"]["TracingMode"]["Default"] == "Active"
    assert not [name for name, fn in functions.items() if "Tracing" in fn["Properties"]]
    assert "RedrivePolicy" not in document["Resources"]["UndeliveredEventsQueue"]["Properties"]


def test_no_policy_grants_a_wildcard_action() -> None:
    # Given every policy statement of the functions, state machines and roles (SAM's policy templates
    # expanded as SAM expands them), and the queue and topic policies
    statements = list(_statements(_document()))
    assert len(statements) > 20

    # Then each names its actions: no "*", no "service:*", no "service:Prefix*", no NotAction
    # (a Resource of "*" stays allowed where AWS takes no other: X-Ray, log delivery, listing)
    wildcards = []
    for where, statement in statements:
        assert "NotAction" not in statement, f"{where}: NotAction grants everything else"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert isinstance(action, str), (
                f"{where}: an action must be written out, not computed: {action!r}"
            )
            if "*" in action:
                wildcards.append((where, statement.get("Sid"), action))
    assert wildcards == []


def test_every_function_and_state_machine_logs_to_a_group_kept_log_retention_days() -> None:
    document = _document()
    resources = document["Resources"]
    log_groups = _of_type(document, "AWS::Logs::LogGroup")
    assert document["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in log_groups.values())
    by_name = {str(g["Properties"]["LogGroupName"]): name for name, g in log_groups.items()}

    # Every function: the group Lambda writes to, /aws/lambda/<function>
    for function in _of_type(document, "AWS::Serverless::Function"):
        assert str({"Fn::Sub": f"/aws/lambda/${{{function}}}"}) in by_name, function

    # Every state machine: errors only, without execution data (orders, customers), to its own group
    for name, machine in _of_type(document, "AWS::Serverless::StateMachine").items():
        logging = machine["Properties"]["Logging"]
        assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False, name
        ((destination,),) = [logging["Destinations"]]
        group, attribute = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]
        assert attribute == "Arn" and group in log_groups, name

    # The flows published through the API: the flow log group, and their role may deliver to it
    flows_api = resources["FlowsApiFunction"]["Properties"]["Environment"]["Variables"]
    assert flows_api["FLOW_LOG_GROUP_ARN"] == {"Fn::GetAtt": ["FlowLogGroup", "Arn"]}
    role = resources["FlowExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any("logs:CreateLogDelivery" in statement["Action"] for statement in role)

    # The API's access log
    access = resources["Api"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in json.loads(access["Format"])["requestId"]


def test_the_api_is_throttled_and_undelivered_messages_are_kept() -> None:
    document = _document()
    resources = document["Resources"]

    throttling = resources["Api"]["Properties"]["DefaultRouteSettings"]
    assert throttling == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    # The fulfillment queue's dead-letter queue, the sweep's schedule, the execution failures' rule and
    # the alarm e-mails all keep what they could not deliver.
    redrive = resources["FulfillmentQueue"]["Properties"]["RedrivePolicy"]["Fn::Sub"]
    assert json.loads(redrive[0])["maxReceiveCount"] == 5
    assert redrive[1]["DeadLetterQueueArn"] == {"Fn::GetAtt": ["FulfillmentDeadLetterQueue", "Arn"]}
    undelivered = {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]}
    schedule = resources["ReconcileOrdersFunction"]["Properties"]["Events"]["AutoSync"]["Properties"]
    assert schedule["DeadLetterConfig"] == {"Arn": undelivered}
    assert all(
        t["DeadLetterConfig"] == {"Arn": undelivered}
        for t in resources["ExecutionFailuresRule"]["Properties"]["Targets"]
    )
    assert resources["AlarmEmailSubscription"]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": undelivered
    }


def test_merchant_data_outlives_the_stack() -> None:
    resources = _document()["Resources"]
    kept = {
        name
        for name, resource in resources.items()
        if resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"
    }
    stateful = {
        name
        for name, resource in resources.items()
        if resource["Type"] in {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"}
    }

    assert kept == MERCHANT_DATA
    assert stateful - kept == {"WebhookDeliveriesTable"}
    assert resources["WebhookDeliveriesTable"]["DeletionPolicy"] == "Delete"


def test_the_local_runtime_resolves_log_groups_and_declares_the_dead_letter_queues() -> None:
    template = load_template(ROOT / "template.yaml", PARAMETERS)

    assert template.functions["FlowsApiFunction"].environment["FLOW_LOG_GROUP_ARN"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/orderflow-local-flows:*"
    )
    assert set(template.queues) == {
        "FulfillmentQueue",
        "FulfillmentDeadLetterQueue",
        "UndeliveredEventsQueue",
    }


def test_published_flows_log_their_errors_like_the_stack_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the flow log group the template hands the flows API
    log_group = (
        load_template(ROOT / "template.yaml", PARAMETERS)
        .functions["FlowsApiFunction"]
        .environment["FLOW_LOG_GROUP_ARN"]
    )
    monkeypatch.setenv("FLOW_LOG_GROUP_ARN", log_group)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    expected = {
        "level": "ERROR",
        "includeExecutionData": False,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group}}],
    }
    with mock_aws():
        clients.reset()
        try:
            repository = StateMachineRepository(
                "stack-flow", "arn:aws:iam::123456789012:role/FlowExecutionRole"
            )

            # When a flow is published, then published again (an update)
            created, _ = repository.publish("f1", definition, "v1")
            boto3.client("stepfunctions").update_state_machine(
                stateMachineArn=created, loggingConfiguration={"level": "OFF"}
            )
            repository.publish("f1", definition, "v2")

            # Then its machine logs errors only, without execution data, to that group
            described = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=created)
            assert described["loggingConfiguration"] == expected
        finally:
            clients.reset()


def test_every_flow_action_runs_a_function_the_published_flows_may_invoke() -> None:
    # Given the functions the flows API hands published machines, and the role those machines run with
    resources = _document()["Resources"]
    variables = resources["FlowsApiFunction"]["Properties"]["Environment"]["Variables"]
    given = {
        key: re.fullmatch(r"\$\{(\w+)\.Arn\}", value).group(1)  # type: ignore[union-attr]
        for key, value in json.loads(variables["FLOW_FUNCTION_ARNS"]["Fn::Sub"]).items()
    }
    intake = set(resources["OrderIntakeStateMachine"]["Properties"]["DefinitionSubstitutions"])
    role = resources["FlowExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [invoke] = [statement for statement in role if statement["Action"] == "lambda:InvokeFunction"]

    # Then every action a flow may name (the intake's two aside) has its function, return flows'
    # actions the returns function, and the role may invoke each of them, any version
    assert set(ACTION_FUNCTIONS.values()) - intake <= set(given)
    assert given["ReturnsFunctionArn"] == "ReturnsFunction"
    for function in set(given.values()):
        assert {"Fn::GetAtt": [function, "Arn"]} in invoke["Resource"], function
        assert {"Fn::Sub": f"${{{function}.Arn}}:*"} in invoke["Resource"], function


def test_only_the_callbacks_skip_iam_and_the_returns_routes_are_deployed() -> None:
    # Given every HTTP route the template deploys, with the function serving it and its authorizer
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): (
            name,
            event["Properties"].get("Auth", {}).get("Authorizer"),
        )
        for name, function in _of_type(_document(), "AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }

    # Then the store's and the providers' callbacks go without IAM (each checks its own secret
    # header), as do the console's static files (they hold no data: what they call is signed); every
    # other route is signed, the returns' admin routes included
    unsigned = {route: name for route, (name, authorizer) in routes.items() if authorizer is None}
    assert unsigned == {
        ("POST", "/webhooks/bigcommerce"): "WebhookFunction",
        ("POST", "/fulfillment/{fulfillment_order_id}/events"): "FulfillmentEventsFunction",
        ("POST", "/returns/{return_id}/events"): "ReturnEventsFunction",
        ("GET", "/console"): "ConsoleFunction",
        ("GET", "/console/{proxy+}"): "ConsoleFunction",
    }
    assert {authorizer for route, (_, authorizer) in routes.items() if route not in unsigned} == {"AWS_IAM"}
    for route in [("POST", "/orders/{order_key}/returns"), ("GET", "/orders/{order_key}/returns"),
                  ("GET", "/returns/{return_id}")]:  # fmt: skip
        assert routes[route] == ("AdminApiFunction", "AWS_IAM"), route


def test_every_function_has_a_sample_event_it_serves() -> None:
    # Given the template as the local runtime reads it, and the samples in events/
    template = load_template(ROOT / "template.yaml", PARAMETERS)
    arns = json.loads(template.functions["FlowsApiFunction"].environment["FLOW_FUNCTION_ARNS"])
    for machine in template.state_machines.values():
        arns.update(machine.substitutions)
    scheduled = {
        name
        for name, function in _of_type(_document(), "AWS::Serverless::Function").items()
        if any(e["Type"] == "ScheduleV2" for e in function["Properties"].get("Events", {}).values())
    }

    # When each sample is matched with the function it is for: an API event by its route, a step by
    # the function its action runs in, a schedule's event by the scheduled function
    served: dict[str, list[str]] = {}
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            method, route = event["routeKey"].split(" ", 1)
            [function] = [r.function for r in template.routes if (r.method, r.path) == (method, route)]
        elif "action" in event:
            function = arns[ACTION_FUNCTIONS[event["action"]]].rsplit(":function:", 1)[1]
        elif event.get("detail-type") == "Scheduled Event":
            [function] = scheduled
        else:
            continue  # an execution's input, the environment for `sam local invoke`
        served.setdefault(function, []).append(path.name)

    # Then every function has one to try it with (`sam local invoke -e`), the returns' too
    assert set(served) == set(template.functions)
    assert "step_validate_return.json" in served["ReturnsFunction"]
    assert "step_refund_return.json" in served["ReturnsFunction"]
    assert served["ReturnEventsFunction"] == ["return_event_received.json"]
    assert "admin_request_return.json" in served["AdminApiFunction"]
    assert "webhook_refund_created.json" in served["WebhookFunction"]


def test_the_local_runtime_serves_the_returns_functions(runtime: LocalRuntime) -> None:
    # Given the local runtime, with no return recorded yet
    callback = load_event("return_event_received.json")
    url = runtime.api_url + callback["rawPath"]
    step_function = json.loads(
        runtime.template.functions["FlowsApiFunction"].environment["FLOW_FUNCTION_ARNS"]
    )["ReturnsFunctionArn"]

    # When the returns provider's sample callback is posted without and with the stack's secret, and a
    # return flow's step is invoked as a published machine invokes it
    refused = requests.post(url, data=callback["body"], timeout=10)
    unknown = requests.post(
        url,
        data=callback["body"],
        headers={"X-Provider-Secret": runtime.secret_value("ProviderSecretValue")},
        timeout=10,
    )
    step = boto3.client("lambda").invoke(
        FunctionName=step_function, Payload=json.dumps(load_event("step_validate_return.json"))
    )

    # Then the callback route checks the secret, then names the return it does not know; the step
    # runs in the returns function and fails naming the order it does not know
    assert refused.status_code == 401 and refused.json()["error"]["field"] == "x-provider-secret"
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "return_id"
    failure = json.loads(step["Payload"].read())
    assert step["FunctionError"] == "Unhandled" and failure["errorType"] == "StepFailed"
    assert "Validate return: order BC-abc123xyz-250 does not exist" in failure["errorMessage"]
    assert [name for name, _ in runtime.invocations] == [
        "ReturnEventsFunction",
        "ReturnEventsFunction",
        "ReturnsFunction",
    ]


# ---------------------------------------------------------------- operators' sign-in and the console


def _translated(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The template as CloudFormation gets it: SAM's transform applied (code locations stand in for
    the uploads `sam deploy` makes)."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("aws-sam-cli (and its translator) is a dev dependency, so CI must have it")
        pytest.skip("the SAM translator is not installed here (run through `make test` to get it)")

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    document = _document()
    for resource in document["Resources"].values():
        for key in ("CodeUri", "DefinitionUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    translated: dict[str, Any] = transform(document, {}, NoManagedPolicies())
    return translated


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            elif key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                yield from _references(extra)
            else:
                yield from _references(arg)


def _cycle(resources: dict[str, Any]) -> list[str] | None:
    needs = {
        name: {r for r in _references(res) if r in resources and r != name}
        | set([res["DependsOn"]] if isinstance(res.get("DependsOn"), str) else res.get("DependsOn", []))
        for name, res in resources.items()
    }
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for other in sorted(needs[name]):
            if state.get(other) == "open":
                return [*path[path.index(other) :], other]
            if other not in state and (found := visit(other, [*path, other])):
                return found
        state[name] = "done"
        return None

    for name in resources:
        if name not in state and (found := visit(name, [name])):
            return found
    return None


def test_cloudformation_gets_a_template_it_can_create(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the template after SAM's transform (which `sam validate --lint` does not run in full)
    resources = _translated(monkeypatch)["Resources"]

    # Then the admin routes have their IAM authorizer, and no resource waits for itself: the console's
    # sign-in settings reach it through a parameter, since its app client names the API that names it
    assert resources["Api"]["Type"] == "AWS::ApiGatewayV2::Api"
    assert _cycle(resources) is None
    body = resources["Api"]["Properties"]["Body"]
    assert body["paths"]["/orders"]["get"]["security"] == [{"AWS_IAM": []}]
    assert "security" not in body["paths"]["/console/{proxy+}"]["get"]


def test_operators_sign_in_with_the_stacks_user_pool() -> None:
    # Given the template's Cognito resources
    document = _document()
    resources = document["Resources"]
    pool = resources["ConsoleUserPool"]["Properties"]
    client = resources["ConsoleUserPoolClient"]["Properties"]
    identity = resources["ConsoleIdentityPool"]["Properties"]
    console_url = {
        "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/console/index.html"
    }

    # Then operators are e-mail users the stack or an admin creates (no self sign-up), with a strong
    # password and optional MFA
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    password = pool["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(password[f"Require{kind}"] for kind in ["Lowercase", "Uppercase", "Numbers", "Symbols"])
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert resources["ConsoleUserPoolDomain"]["Properties"]["UserPoolId"] == {"Ref": "ConsoleUserPool"}

    # And the console is a public client of the hosted UI: code flow (PKCE), no secret, coming back to
    # the console's page
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert client["CallbackURLs"] == [console_url] and client["LogoutURLs"] == [console_url]

    # And the first operator is created only when ConsoleAdminEmail is given
    assert document["Parameters"]["ConsoleAdminEmail"]["Default"] == ""
    admin = resources["ConsoleAdminUser"]
    assert admin["Type"] == "AWS::Cognito::UserPoolUser" and admin["Condition"] == "HasConsoleAdmin"
    assert document["Conditions"]["HasConsoleAdmin"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ConsoleAdminEmail"}, ""]}]
    }
    assert admin["Properties"]["Username"] == {"Ref": "ConsoleAdminEmail"}

    # And the identity pool trades only that client's ID tokens for credentials, never anonymously
    assert identity["AllowUnauthenticatedIdentities"] is False
    assert identity["CognitoIdentityProviders"] == [
        {
            "ProviderName": {"Fn::GetAtt": ["ConsoleUserPool", "ProviderName"]},
            "ClientId": {"Ref": "ConsoleUserPoolClient"},
            "ServerSideTokenCheck": True,
        }
    ]


def test_the_identity_pools_role_may_only_invoke_this_api() -> None:
    # Given the role signed-in operators get
    resources = _document()["Resources"]
    role = resources["ConsoleOperatorRole"]["Properties"]
    attached = resources["ConsoleIdentityPoolRoles"]["Properties"]

    # Then only this identity pool's authenticated identities may take it
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {
        "StringEquals": {"cognito-identity.amazonaws.com:aud": {"Ref": "ConsoleIdentityPool"}},
        "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
    }
    assert attached == {
        "IdentityPoolId": {"Ref": "ConsoleIdentityPool"},
        "Roles": {"authenticated": {"Fn::GetAtt": ["ConsoleOperatorRole", "Arn"]}},
    }

    # And all it may do is call this stack's API (whose admin routes check the signature)
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        (
            "Allow",
            "execute-api:Invoke",
            {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"},
        )
    ]
    assert "ManagedPolicyArns" not in role


def test_the_console_reads_its_sign_in_from_the_stacks_parameter_and_its_url_is_an_output() -> None:
    # Given the console function, the parameter the stack writes and the outputs
    document = _document()
    resources = document["Resources"]
    console = resources["ConsoleFunction"]["Properties"]
    parameter = resources["ConsoleSignInParameter"]["Properties"]
    name = "/${AWS::StackName}/console/sign-in"

    # Then the function is told the parameter's name and may read that parameter only
    assert console["Environment"]["Variables"]["CONSOLE_SIGN_IN_PARAMETER"] == {"Fn::Sub": name}
    assert parameter["Name"] == {"Fn::Sub": name}
    (statement,) = console["Policies"][0]["Statement"]
    assert statement["Action"] == "ssm:GetParameter"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + name
    }

    # And the parameter says what config.json says in the cognito mode, from the stack's resources
    text = parameter["Value"]["Fn::Sub"]
    said = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
    assert set(said) == {"mode", "region", "user_pool_id", "client_id", "domain", "identity_pool_id"}
    assert said["mode"] == "cognito"
    for reference in ["${ConsoleUserPool}", "${ConsoleUserPoolClient}", "${ConsoleIdentityPool}",
                      "${ConsoleUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"]:  # fmt: skip
        assert reference in text

    # And the outputs give the console's address and the pool to add operators to
    outputs = document["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == {
        "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/console/index.html"
    }
    assert outputs["ConsoleUserPoolId"]["Value"] == {"Ref": "ConsoleUserPool"}


def test_the_local_console_asks_for_the_admin_token(runtime: LocalRuntime) -> None:
    # Given the local runtime, which reads the console's environment from the template but makes no
    # user pool
    config = requests.get(f"{runtime.api_url}/console/config.json", timeout=10)

    # Then the console signs in with the admin token, and its page calls only its own origin
    page = requests.get(f"{runtime.api_url}/console/index.html", timeout=10)
    assert config.json() == {"mode": "token"}
    assert "connect-src 'self';" in page.headers["content-security-policy"]
