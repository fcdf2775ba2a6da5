"""Configuration from the environment (the names of DESIGN.md §5), the same on AWS and locally."""

from __future__ import annotations

import os

from orderflow.errors import ConfigurationError


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigurationError(f"the environment variable {name} is not set")
    return value


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
    return env("BIGCOMMERCE_API_URL", "https://api.bigcommerce.com")


def store_hash() -> str:
    return env("BIGCOMMERCE_STORE_HASH")
