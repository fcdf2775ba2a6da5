"""Configured providers: a fulfillment, invoice, accounting or returns provider set up once and named by steps."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The built-in kinds a step may still name directly; a configured provider cannot take their names.
BUILT_IN_KINDS = frozenset({"https", "sqs"})
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# The name of an environment variable (its value, or NAME_SECRET_ARN's secret, is read where the step runs)
# or the ARN of a Secrets Manager secret: a reference, so the secret itself is never stored or shown.
# Variables only by names ending in _SECRET: a reference cannot point a provider at the deployment's
# own variables (its AWS credentials, the store's token); the webhook secret is the store's, not theirs.
SECRET_REF_PATTERN = r"^([A-Z][A-Z0-9_]{0,120}_SECRET|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512})$"
NOT_PROVIDER_SECRETS = frozenset({"WEBHOOK_SECRET"})
ProviderRole = Literal["fulfillment", "invoice", "accounting", "returns"]


class ProviderSettings(BaseModel):
    """What an operator sets for a provider (``PUT /providers/configured/{name}``); its name is the path's."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True)

    role: Annotated[
        ProviderRole, Field(description="what it is for: fulfillment, invoice, accounting or returns")
    ]
    kind: Annotated[
        Literal["https", "sqs"],
        Field(description="https: POST each document to `target`; sqs: one message per document on `target`"),
    ]
    target: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=2048,
            description="https: the provider's https:// URL (required); sqs: the queue URL (default: the "
            "stack's fulfillment queue)",
        ),
    ] = None
    secret_ref: Annotated[
        str | None,
        Field(
            pattern=SECRET_REF_PATTERN,
            description="https only: where the X-Provider-Secret value is kept, never the value: the "
            "name of an environment variable ending in _SECRET (set NAME, or NAME_SECRET_ARN naming a Secrets "
            "Manager secret, on the providers function) or a Secrets Manager secret ARN; default: the stack's "
            "PROVIDER_SECRET",
        ),
    ] = None
    timeout_seconds: Annotated[
        float | None, Field(gt=0, le=30, description="how long one request waits (default 10)")
    ] = None
    attempts: Annotated[
        int | None, Field(strict=True, ge=1, le=8, description="tries of one document in a step (default 4)")
    ] = None
    description: Annotated[str, Field(max_length=500)] = ""

    @field_validator("secret_ref")
    @classmethod
    def _not_the_stores(cls, value: str | None) -> str | None:
        if value in NOT_PROVIDER_SECRETS:
            raise ValueError(f"{value} is the store's secret, not a provider's")
        return value


class ConfiguredProvider(ProviderSettings):
    """A provider as it is stored and shown: its settings, its name and when it was written."""

    model_config = ConfigDict(defer_build=True, extra="ignore", str_strip_whitespace=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    created_at: str = ""
    updated_at: str = ""


class ProviderDirectory(Protocol):
    """Where configured providers are looked up by name (store/providers.py)."""

    def find(self, name: str) -> ConfiguredProvider | None: ...
