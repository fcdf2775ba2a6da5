"""template.yaml as the one source of truth: SAM accepts it, and the local runtime reads it faithfully."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow.flows.asl import substitute
from orderflow.local.template import TemplateError, load_template
from tests.conftest import ROOT

PARAMETERS = {"BigCommerceStoreHash": "abc", "BigCommerceAccessToken": "t", "WebhookSecret": "s" * 16}


def _sam() -> str | None:
    local = Path(sys.executable).parent / "sam"
    return str(local) if local.exists() else shutil.which("sam")


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
    assert ("POST", "/webhooks/bigcommerce", "WebhookFunction") in {
        (r.method, r.path, r.function) for r in template.routes
    }
    # literal paths are tried before templated ones
    paths = [r.path for r in template.routes]
    assert paths.index("/orders") < paths.index("/orders/{order_key}")
    assert template.secrets == {"WebhookSecretValue": "s" * 16, "BigCommerceAccessTokenValue": "t"}


def test_a_missing_parameter_and_an_unknown_substitution_are_named() -> None:
    with pytest.raises(TemplateError, match="BigCommerceAccessToken, WebhookSecret"):
        load_template(ROOT / "template.yaml", {"BigCommerceStoreHash": "abc"})
    with pytest.raises(ValueError, match=r"\$\{MissingFunctionArn\}"):
        substitute('{"Resource": "${MissingFunctionArn}"}', {"Other": "x"})


def test_the_layer_build_leaves_the_local_runtime_out(tmp_path: Path) -> None:
    # What `sam build` runs for the layer, minus the dependency download: the package is copied
    # and orderflow/local (moto, the demo store) is removed.
    makefile = (ROOT / "layers" / "common" / "Makefile").read_text()
    assert "--platform $(PLATFORM)" in makefile and "--python-version 3.12" in makefile
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT / "layers" / "common"), "build-CommonLayer", f"ARTIFACTS_DIR={tmp_path}",
         "PYTHON=true"],  # `true` stands in for pip: no download in the test
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    package = tmp_path / "python" / "orderflow"
    assert (package / "intake.py").is_file() and not (package / "local").exists()
