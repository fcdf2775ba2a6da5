"""The deployment's settings: defaults, a missing or bad variable named, secrets kept out, and the
names agreeing with template.yaml."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import yaml

from orderflow import config
from orderflow.errors import ConfigurationError
from orderflow.orders.events import DefaultFlow
from orderflow.retries import RetrySchedule
from orderflow.store import tables
from orderflow_local.template import _CfnLoader
from tests.conftest import ROOT

VARIABLES = {config.variable(field) for field in config.Settings.model_fields}
# Read by Powertools itself, not by our code.
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given none of the deployment's variables set (whatever the shell running the tests has)
    for name in (*VARIABLES, *config.SECRETS, *(f"{s}_SECRET_ARN" for s in config.SECRETS)):
        monkeypatch.delenv(name, raising=False)


def test_unset_variables_take_their_documented_defaults() -> None:
    settings = config.settings()

    assert settings.bigcommerce_api_url == "https://api.bigcommerce.com"
    assert (settings.bigcommerce_read_timeout_seconds, settings.bigcommerce_max_attempts) == (10.0, 4)
    assert settings.idempotency_window_seconds == 600
    assert settings.provider_backoff_seconds == 0.5
    assert settings.flow_tracing is True and settings.flow_function_arns == {}
    assert RetrySchedule.from_env() == RetrySchedule(30.0, 1800.0, 86400.0)
    # every variable says what it is for
    assert all(info.description for info in config.Settings.model_fields.values())


def test_a_missing_required_variable_is_named_where_it_is_needed_and_nowhere_else() -> None:
    # When the orders table is not configured, only what needs it fails, and says what is missing
    with pytest.raises(ConfigurationError, match="the environment variable ORDERS_TABLE is not set"):
        tables.orders()
    with pytest.raises(ConfigurationError, match="BIGCOMMERCE_STORE_HASH is not set"):
        config.store_hash()

    # Then what does not need it still works
    assert RetrySchedule.from_env().first_seconds == 30.0
    assert DefaultFlow.from_env() is None


def test_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_RETRY_FIRST_SECONDS", "5")
    monkeypatch.setenv("DEFAULT_FLOW_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:d")
    monkeypatch.setenv("DEFAULT_FLOW_VERSION", "3")
    monkeypatch.setenv("FLOW_FUNCTION_ARNS", '{"ValidateOrderFunctionArn": "arn:v"}')
    monkeypatch.setenv("FLOW_TRACING", "false")

    settings = config.settings()

    assert RetrySchedule.from_env().first_seconds == 5.0
    default = DefaultFlow.from_env()
    assert default is not None and (default.flow_id, default.version) == ("default-order-flow", 3)
    assert settings.flow_function_arns == {"ValidateOrderFunctionArn": "arn:v"}
    assert settings.flow_tracing is False


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("STORE_RETRY_FIRST_SECONDS", "thirty", "valid number"),
        ("STORE_RETRY_WINDOW_SECONDS", "0", "greater than 0"),
        ("BIGCOMMERCE_MAX_ATTEMPTS", "2.5", "valid integer"),
        ("IDEMPOTENCY_WINDOW_SECONDS", "-1", "greater than or equal to 0"),
        ("FLOW_FUNCTION_ARNS", '["not", "an", "object"]', "valid dictionary"),
        ("FLOW_TRACING", "sometimes", "valid boolean"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as raised:
        config.settings()

    message = str(raised.value)
    assert message.startswith(f"the environment variable {name} is not valid: ") and says in message
    assert repr(value) in message


def test_a_changed_environment_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given settings read once (a warm container's)
    monkeypatch.setenv("ORDERS_TABLE", "orders-a")
    assert config.settings().need("orders_table") == "orders-a"
    assert config.settings() is config.settings()

    # When the environment changes (the local runtime's next run, another test)
    monkeypatch.setenv("ORDERS_TABLE", "orders-b")
    monkeypatch.setenv("STORE_RETRY_MAX_SECONDS", "60")

    # Then nobody has to remember to reload them
    assert tables.orders().table_name == "orders-b"
    assert RetrySchedule.from_env().max_seconds == 60.0


def test_an_empty_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # template.yaml declares some variables empty on AWS (for `sam local invoke --env-vars`)
    monkeypatch.setenv("BIGCOMMERCE_API_URL", "")
    monkeypatch.setenv("FULFILLMENT_QUEUE_URL", "")

    assert config.bigcommerce_api_url() == "https://api.bigcommerce.com"
    with pytest.raises(ConfigurationError, match="FULFILLMENT_QUEUE_URL is not set"):
        config.settings().need("fulfillment_queue_url")


def test_secrets_stay_out_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_API_TOKEN", "admin-token-value")
    monkeypatch.setenv("WEBHOOK_SECRET", "webhook-secret-value")

    shown = repr(config.settings()) + str(config.settings().model_dump())

    assert "admin-token-value" not in shown and "webhook-secret-value" not in shown
    assert config.secret("WEBHOOK_SECRET") == "webhook-secret-value"
    with pytest.raises(ConfigurationError, match="neither PROVIDER_SECRET nor PROVIDER_SECRET_SECRET_ARN"):
        config.secret("PROVIDER_SECRET")


def test_reading_a_variable_by_name_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_INTAKE_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:i")
    monkeypatch.setenv("ADMIN_API_TOKEN", "admin-token-value")

    assert config.env("ORDER_INTAKE_STATE_MACHINE_ARN") == "arn:aws:states:us-east-1:1:stateMachine:i"
    assert config.env("IDEMPOTENCY_WINDOW_SECONDS") == "600"
    assert config.env("ADMIN_API_TOKEN") == "admin-token-value"
    assert config.env("FLOW_LOG_GROUP_ARN", "none") == "none"
    with pytest.raises(ConfigurationError, match="the environment variable FLOWS_TABLE is not set"):
        config.env("FLOWS_TABLE")


def _template_variables() -> set[str]:
    document: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    names = set(document["Globals"]["Function"]["Environment"]["Variables"])
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    return names


def test_the_template_sets_only_variables_the_settings_know_and_every_one_they_need() -> None:
    secrets = {*config.SECRETS, *(f"{name}_SECRET_ARN" for name in config.SECRETS)}
    known = VARIABLES | secrets | POWERTOOLS
    set_by_template = _template_variables()

    assert set_by_template - known == set()
    needed = {config.variable(field) for field in get_args(config.Needed)}
    assert needed - set_by_template == set()
