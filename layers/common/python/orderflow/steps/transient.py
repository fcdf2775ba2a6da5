"""Which errors may pass on their own (worth a Step Functions retry) and which will not."""

from __future__ import annotations

import sys

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}


def _loaded_error_types() -> tuple[type[BaseException], ...]:
    """The HTTP errors that pass, from the modules this function has loaded: an error of a module that
    was never imported cannot have been raised, so a function that makes no HTTP call never pays
    for importing ``requests`` (tens of milliseconds of cold start)."""
    found: list[type[BaseException]] = [BotocoreConnectionError]
    requests = sys.modules.get("requests")
    if requests is not None:
        found += [requests.ConnectionError, requests.Timeout]
    client = sys.modules.get("orderflow.bigcommerce.client")
    if client is not None:
        found.append(client.BigCommerceUnavailable)
    return tuple(found)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _loaded_error_types()):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _THROTTLING
    return False
