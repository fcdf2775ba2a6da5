"""Which errors may pass on their own (worth a Step Functions retry) and which will not."""

from __future__ import annotations

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from requests import ConnectionError as RequestsConnectionError
from requests import Timeout

from orderflow.bigcommerce.client import BigCommerceUnavailable

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


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BigCommerceUnavailable | RequestsConnectionError | Timeout | BotocoreConnectionError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _THROTTLING
    return False
