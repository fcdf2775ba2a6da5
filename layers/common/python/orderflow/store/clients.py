"""AWS clients other than DynamoDB's, one per warm container (clients are thread-safe)."""

from __future__ import annotations

import functools
from typing import Any

import boto3


@functools.cache
def stepfunctions() -> Any:
    return boto3.client("stepfunctions")


def reset() -> None:
    """Forget cached clients (the local runtime calls this when it starts a fresh embedded AWS)."""
    stepfunctions.cache_clear()
