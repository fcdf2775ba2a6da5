"""Every environment variable the deployment reads (DESIGN.md §5): one typed settings model, the same on AWS and locally."""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, SecretStr, ValidationError

from orderflow.errors import ConfigurationError

# The secrets, read by :func:`secret` and never part of the settings (so never in their repr or a log).
SECRETS: dict[str, str] = {
    "BIGCOMMERCE_ACCESS_TOKEN": "The store API account's access token, or ClientID:AccessToken.",
    "WEBHOOK_SECRET": "The value BigCommerce sends in X-Webhook-Secret with every webhook.",
    "PROVIDER_SECRET": "The value sent to, and expected from, fulfillment providers in X-Provider-Secret.",
}

# The settings a caller may :meth:`Settings.need` (mypy checks the names).
Needed = Literal[
    "bigcommerce_store_hash",
    "orders_table",
    "settings_table",
    "mappings_table",
    "customers_table",
    "items_table",
    "flows_table",
    "fulfillment_table",
    "webhook_deliveries_table",
    "order_intake_state_machine_arn",
    "flow_state_machine_prefix",
    "flow_execution_role_arn",
    "fulfillment_queue_url",
]


def _var(default: Any, name: str, meaning: str, **limits: Any) -> Any:
    return Field(default, validation_alias=name, description=meaning, **limits)


class Settings(BaseModel):
    """The deployment's settings, by the names of its environment variables (template.yaml sets them:
    ``Globals.Function.Environment`` and each function's own ``Environment``).

    Each function sets only the variables it needs, so what one function needs and another lacks is
    optional here; :meth:`need` reads it and says which variable is missing. An empty value counts as
    unset (the template declares a secret's variable empty on AWS). Powertools reads its own
    (``POWERTOOLS_*``, ``LOG_LEVEL``); the secrets are in :data:`SECRETS`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    # -- the store -------------------------------------------------------------------------------
    bigcommerce_store_hash: str | None = _var(
        None, "BIGCOMMERCE_STORE_HASH", "The store's hash: the part after /stores/ in its API path."
    )
    bigcommerce_api_url: str = _var(
        "https://api.bigcommerce.com",
        "BIGCOMMERCE_API_URL",
        "BigCommerce's API; a loopback URL makes the run local (then http:// providers are allowed).",
    )
    bigcommerce_read_timeout_seconds: float = _var(
        10.0,
        "BIGCOMMERCE_READ_TIMEOUT_SECONDS",
        "How long one call to the store's API waits for its answer.",
        gt=0,
    )
    bigcommerce_max_attempts: int = _var(
        4, "BIGCOMMERCE_MAX_ATTEMPTS", "Tries of one call to the store's API before it fails.", ge=1
    )
    # -- tables ----------------------------------------------------------------------------------
    orders_table: str | None = _var(
        None, "ORDERS_TABLE", "DynamoDB table: orders, their step results, shipments and invoices."
    )
    settings_table: str | None = _var(
        None, "SETTINGS_TABLE", "DynamoDB table: the merchant's settings (statuses, status mapping)."
    )
    mappings_table: str | None = _var(
        None, "MAPPINGS_TABLE", "DynamoDB table: account, price list, unit and product mappings."
    )
    customers_table: str | None = _var(None, "CUSTOMERS_TABLE", "DynamoDB table: the store's customers.")
    items_table: str | None = _var(None, "ITEMS_TABLE", "DynamoDB table: the store's catalog items.")
    flows_table: str | None = _var(
        None, "FLOWS_TABLE", "DynamoDB table: flows, their versions, routes and policies."
    )
    fulfillment_table: str | None = _var(
        None, "FULFILLMENT_TABLE", "DynamoDB table: fulfillment sources, stock and fulfillment orders."
    )
    webhook_deliveries_table: str | None = _var(
        None, "WEBHOOK_DELIVERIES_TABLE", "DynamoDB table: the webhooks received, to de-duplicate them."
    )
    idempotency_window_seconds: int = _var(
        600,
        "IDEMPOTENCY_WINDOW_SECONDS",
        "How long a webhook with the same scope and order counts as a repeat.",
        ge=0,
    )
    # -- state machines and flows ----------------------------------------------------------------
    order_intake_state_machine_arn: str | None = _var(
        None, "ORDER_INTAKE_STATE_MACHINE_ARN", "The state machine every order starts in (import, route)."
    )
    default_flow_state_machine_arn: str | None = _var(
        None,
        "DEFAULT_FLOW_STATE_MACHINE_ARN",
        "The flow deployed with the stack, run while no flow is published; unset: none.",
    )
    default_flow_id: str = _var("default-order-flow", "DEFAULT_FLOW_ID", "The default flow's id.")
    default_flow_name: str = _var("Default order flow", "DEFAULT_FLOW_NAME", "The default flow's name.")
    default_flow_version: int = _var(1, "DEFAULT_FLOW_VERSION", "The default flow's version.", ge=1)
    flow_state_machine_prefix: str | None = _var(
        None, "FLOW_STATE_MACHINE_PREFIX", "The name prefix of published flows' state machines."
    )
    flow_execution_role_arn: str | None = _var(
        None, "FLOW_EXECUTION_ROLE_ARN", "The role published flows' state machines run as."
    )
    flow_function_arns: Json[dict[str, str]] = _var(
        {},
        "FLOW_FUNCTION_ARNS",
        "JSON object: the Lambda ARNs published flows invoke, by their ASL substitution name.",
    )
    flow_tracing: bool = _var(True, "FLOW_TRACING", "Whether published flows are traced with X-Ray.")
    flow_log_group_arn: str | None = _var(
        None, "FLOW_LOG_GROUP_ARN", "Where published flows log their errors; unset: they do not log."
    )
    # -- waiting for the store and providers ------------------------------------------------------
    store_retry_first_seconds: float = _var(
        30.0,
        "STORE_RETRY_FIRST_SECONDS",
        "The first wait for a store or provider that does not answer; doubled after each try.",
        gt=0,
    )
    store_retry_max_seconds: float = _var(
        1800.0, "STORE_RETRY_MAX_SECONDS", "The longest of those waits.", gt=0
    )
    store_retry_window_seconds: float = _var(
        86400.0,
        "STORE_RETRY_WINDOW_SECONDS",
        "How long a store or provider is waited for in all before the order goes on hold.",
        gt=0,
    )
    sweep_grace_seconds: float = _var(
        300.0,
        "SWEEP_GRACE_SECONDS",
        "The sweep leaves an intake younger than this alone: it may still be importing, or about to wait.",
        ge=0,
    )
    # -- the operator console --------------------------------------------------------------------
    console_sign_in_parameter: str | None = _var(
        None,
        "CONSOLE_SIGN_IN_PARAMETER",
        "The SSM parameter holding how operators sign in to the console (Cognito ids), read by "
        "functions/console; unset: the admin token.",
    )
    # -- fulfillment providers --------------------------------------------------------------------
    fulfillment_queue_url: str | None = _var(
        None, "FULFILLMENT_QUEUE_URL", "The SQS queue of the sqs provider (one message per document)."
    )
    allow_loopback_targets: bool | None = _var(
        None,
        "ALLOW_LOOPBACK_TARGETS",
        "Whether providers and custom actions may be at 127.0.0.1/localhost (plain http too): true in the "
        "local runtime's tests and demo, never on AWS; false refuses them even with a loopback store; "
        "unset: only where the store itself is loopback (a local run). Other private addresses never.",
    )
    mapping_write_threads: int = _var(
        8,
        "MAPPING_WRITE_THREADS",
        "BatchWriteItems a large mappings file keeps in flight at once (each a round trip on AWS); the local "
        "runtime sets 1: its in-process DynamoDB answers one request at a time.",
        ge=1,
        le=32,
    )
    provider_backoff_seconds: float = _var(
        0.5,
        "PROVIDER_BACKOFF_SECONDS",
        "The https provider's pause before its first retry within a step; doubled for each one after.",
        ge=0,
    )
    # -- the API -----------------------------------------------------------------------------------
    admin_api_token: SecretStr | None = _var(
        None,
        "ADMIN_API_TOKEN",
        "Locally: the bearer token the admin routes require; unset: they are open (on AWS, IAM guards them).",
    )
    shipment_settle_seconds: float = _var(
        60.0,
        "SHIPMENT_SETTLE_SECONDS",
        "How long a shipment made in the store is left to settle before it is recorded.",
        ge=0,
    )

    def need(self, field: Needed) -> str:
        """The value of a variable this caller cannot do without; ConfigurationError naming it if unset."""
        value = getattr(self, field)
        if value is None:
            raise ConfigurationError(f"the environment variable {variable(field)} is not set")
        return str(value)


_VARIABLES: dict[str, str] = {
    name: str(info.validation_alias) for name, info in Settings.model_fields.items()
}
_FIELDS: dict[str, str] = {variable: name for name, variable in _VARIABLES.items()}


def variable(field: str) -> str:
    """The environment variable behind a settings field."""
    return _VARIABLES[field]


def settings() -> Settings:
    """The settings of the environment as it is now.

    Built once per distinct environment and cached: the key is the values of the variables the model
    reads, so the local runtime and tests that change the environment between runs get fresh settings
    without anyone having to remember to reload them, and a warm Lambda reads its own once.
    """
    return _load(tuple((name, os.environ.get(name) or None) for name in _FIELDS))


@functools.lru_cache(maxsize=8)
def _load(values: tuple[tuple[str, str | None], ...]) -> Settings:
    given = {name: value for name, value in values if value is not None}
    try:
        return Settings.model_validate(given)
    except ValidationError as exc:
        problems = [_problem(error, given) for error in exc.errors()]
        raise ConfigurationError("; ".join(problems)) from None


def _problem(error: Any, given: dict[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else "?"
    shown = "" if _FIELDS.get(name) == "admin_api_token" else f" (it is {given.get(name, '')[:80]!r})"
    return f"the environment variable {name} is not valid: {error['msg']}{shown}"


def env(name: str, default: str | None = None) -> str:
    """A variable by name, for callers that still read it so (kept for compatibility; new code reads
    :func:`settings`). A variable the model knows comes from it; ConfigurationError when it is unset
    and there is no default."""
    field = _FIELDS.get(name)
    if field is None:
        value: Any = os.environ.get(name) or None
    else:
        value = getattr(settings(), field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps(value)  # as it was given: JSON
    if value is None or value == "":
        value = default
    if value is None or value == "":
        raise ConfigurationError(f"the environment variable {name} is not set")
    return str(value)


def secret(name: str) -> str:
    """A secret given directly (``NAME``, local runs) or by Secrets Manager ARN/name (``NAME_SECRET_ARN``).

    The value is cached per warm container for five minutes, so a rotated secret is picked up
    without a deploy and a webhook storm costs no Secrets Manager calls.
    """
    direct = os.environ.get(name)
    if direct:
        return direct
    reference = os.environ.get(f"{name}_SECRET_ARN")
    if not reference:
        raise ConfigurationError(f"neither {name} nor {name}_SECRET_ARN is set")
    from aws_lambda_powertools.utilities import parameters  # import cost only where secrets are read

    return str(parameters.get_secret(reference, max_age=300))


def bigcommerce_api_url() -> str:
    return settings().bigcommerce_api_url


def store_hash() -> str:
    return settings().need("bigcommerce_store_hash")
