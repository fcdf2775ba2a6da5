"""The BigCommerce client for this deployment's store, one per warm container; the access-token
secret's two accepted forms; and the connection test behind ``POST /providers/bigcommerce/test-connection``."""

from __future__ import annotations

import functools
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from orderflow import config
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
)
from orderflow.errors import ConfigurationError

TOKEN_SETTING = "BIGCOMMERCE_ACCESS_TOKEN"
PASSED = "TEST PASSED: SUCCESSFULLY CONNECTED TO CART"
# For calls made while an API Gateway request waits (30 s at most): give up in time to say why.
API_TIME_BUDGET = 20.0
# BigCommerce issues both as lower-case letters and digits; the rest allows for test and proxy tokens.
_ALLOWED = frozenset(string.ascii_letters + string.digits + "-_.")
_EXPECTED = "expected the API account's access token, or ClientID:AccessToken"


@dataclass(frozen=True)
class Credentials:
    """The parsed access-token secret; ``client_id`` only when it came as ``ClientID:AccessToken``
    (BigCommerce authenticates by the token alone, so the client id is checked, not sent)."""

    access_token: str = field(repr=False)
    client_id: str | None = None


def parse_credentials(value: str, setting: str = TOKEN_SETTING) -> Credentials:
    """A plain access token or Salesorder's ``ClientID:AccessToken`` API-key form.

    Whitespace around the whole value is dropped (a trailing newline is what ``echo`` and copy-paste
    leave in secrets); anything else odd raises ConfigurationError naming the part and the reason,
    never the value, since the message reaches logs and API answers.
    """
    text = value.strip()
    if not text:
        raise ConfigurationError(f"{setting} is empty; {_EXPECTED}")
    if text.startswith("{"):
        raise ConfigurationError(
            f"{setting} looks like JSON; store the token itself (or ClientID:AccessToken) as the secret string"
        )
    separators = text.count(":")
    if separators > 1:
        raise ConfigurationError(
            f"{setting} is malformed: it has {separators} ':' separators; {_EXPECTED} (one ':')"
        )
    if separators == 0:
        _check_part(text, "the access token", setting)
        return Credentials(access_token=text)
    client_id, access_token = text.split(":")
    _check_part(client_id, "the client id (before ':')", setting)
    _check_part(access_token, "the access token (after ':')", setting)
    return Credentials(access_token=access_token, client_id=client_id)


def _check_part(part: str, name: str, setting: str) -> None:
    problem = _problem(part)
    if problem:
        raise ConfigurationError(f"{setting} is malformed: {name} {problem}; {_EXPECTED}")


def _problem(part: str) -> str | None:
    if not part:
        return "is empty"
    if part[0].isspace():
        return "starts with whitespace"
    if part[-1].isspace():
        return "ends with whitespace"
    for position, char in enumerate(part, start=1):
        if char in _ALLOWED:
            continue
        # A character a token cannot hold is named when it is printable ASCII (it tells nothing about
        # the token and often everything about the mistake, e.g. a quote pasted with it).
        if char.isspace():
            what = "whitespace"
        elif char.isascii() and char.isprintable():
            what = f"'{char}'"
        elif unicodedata.category(char).startswith("C"):
            what = "a control character"
        else:
            what = "a non-ASCII character"
        return (
            f"contains {what} at character {position} of {len(part)} "
            "(only letters, digits, '-', '_' and '.' are possible)"
        )
    return None


def credentials() -> Credentials:
    return parse_credentials(config.secret(TOKEN_SETTING))


def client(*, time_budget: float | None = None) -> BigCommerceClient:
    """``time_budget`` bounds each call (attempts and waits together) for callers that must answer
    within a limit of their own, e.g. an API Gateway request. The settings' read timeout and attempts
    tune a call (tests that simulate outages shorten them)."""
    settings = config.settings()
    return _client(
        settings.bigcommerce_api_url,
        settings.need("bigcommerce_store_hash"),
        credentials().access_token,
        time_budget,
        settings.bigcommerce_read_timeout_seconds,
        settings.bigcommerce_max_attempts,
    )


@functools.lru_cache(maxsize=8)
def _client(
    api_url: str,
    store_hash: str,
    access_token: str,
    time_budget: float | None = None,
    read_timeout: float = 10.0,
    max_attempts: int = 4,
) -> BigCommerceClient:
    # Keyed by its settings: a rotated token or another store gets a fresh session.
    return BigCommerceClient(
        api_url,
        store_hash,
        access_token,
        time_budget=time_budget,
        timeout=(3.05, read_timeout),
        max_attempts=max_attempts,
    )


# -- connection test -------------------------------------------------------------------------------

_STORE_FIELDS = ("name", "domain", "secure_url", "status", "plan_name", "currency")


@dataclass(frozen=True)
class ConnectionTest:
    """A connection test's outcome; ``cause`` names a failure for programs, ``message`` for people."""

    passed: bool
    result: str
    cause: str | None = None
    message: str | None = None
    store: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.passed:
            return {"passed": True, "result": self.result, "store": self.store}
        return {"passed": False, "result": self.result, "cause": self.cause, "message": self.message}


def check_connection() -> ConnectionTest:
    """Read ``GET /v2/store`` with this deployment's settings; every way that fails becomes a
    reported cause rather than an exception."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        store_hash = config.store_hash()
        info = client(time_budget=API_TIME_BUDGET).get_store_info()
    except ConfigurationError as exc:
        return _failed("not_configured", "THE CONNECTION IS NOT CONFIGURED", str(exc))
    except GetParameterError as exc:
        # Secrets Manager's refusal names the secret and the permission, never the value.
        return _failed("not_configured", "THE ACCESS TOKEN'S SECRET COULD NOT BE READ", str(exc))
    except BigCommerceError as exc:
        return _failure(exc)
    if not isinstance(info, dict) or not info.get("name"):
        return _failed(
            "unexpected_answer",
            "UNEXPECTED ANSWER FROM THE STORE",
            "GET /v2/store answered without a store name: is BIGCOMMERCE_API_URL BigCommerce's API?",
        )
    store = {name: info[name] for name in _STORE_FIELDS if info.get(name) not in (None, "")}
    # Only what identifies the store: /v2/store also holds the merchant's name, e-mail and phone.
    store["store_hash"] = store_hash
    return ConnectionTest(passed=True, result=PASSED, store=store)


def _failure(exc: BigCommerceError) -> ConnectionTest:
    if isinstance(exc, BigCommerceAuthError) and exc.status == 403:
        return _failed(
            "forbidden",
            "THE ACCESS TOKEN LACKS A SCOPE (403)",
            f"{exc}. Give the store's API account the Information & Settings (read-only) scope, "
            "and the Orders scope (modify) the integration needs.",
        )
    if isinstance(exc, BigCommerceAuthError):
        return _failed(
            "unauthorized",
            f"THE STORE REFUSED THE ACCESS TOKEN ({exc.status})",
            f"{exc}. Check {TOKEN_SETTING} (its secret on AWS): the token may be mistyped or revoked.",
        )
    if isinstance(exc, BigCommerceNotFound):
        return _failed(
            "store_not_found",
            "STORE NOT FOUND (404)",
            f"{exc}. Check BIGCOMMERCE_STORE_HASH (the part after /stores/ in the API path) and "
            "BIGCOMMERCE_API_URL.",
        )
    if exc.status is None:
        return _failed(
            "unreachable",
            "THE STORE'S API IS UNREACHABLE",
            f"{exc}. Check BIGCOMMERCE_API_URL and the network path to it.",
        )
    if exc.status == 429 or exc.status >= 500:
        return _failed(
            "unavailable", f"THE STORE'S API IS UNAVAILABLE ({exc.status})", f"{exc}. Try again later."
        )
    return _failed("unexpected_answer", f"UNEXPECTED ANSWER FROM THE STORE ({exc.status})", str(exc))


def _failed(cause: str, reason: str, message: str) -> ConnectionTest:
    return ConnectionTest(passed=False, result=f"TEST FAILED: {reason}", cause=cause, message=message)
