"""Fulfillment and invoice providers: where fulfillment orders and invoices are handed over.

Which provider a step uses is configuration in the flow (the step's ``params``):
``{"provider": "https", "url": "https://…", "timeout_seconds": 10, "attempts": 4}`` POSTs the
document with the shared secret in ``X-Provider-Secret``; ``{"provider": "sqs"}`` (the default) puts
one message per document on the deployment's queue (``FULFILLMENT_QUEUE_URL``); any other name is a
provider configured once (``/providers/configured``), whose settings the step's params override.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Protocol, Self
from urllib.parse import urlsplit

import boto3
import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, ReadTimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from orderflow import config
from orderflow.bigcommerce.hooks import LOOPBACK_HOSTS, is_loopback_url
from orderflow.errors import InvalidInput
from orderflow.models.provider import (
    BUILT_IN_KINDS,
    NAME_PATTERN,
    ConfiguredProvider,
    ProviderDirectory,
    ProviderSettings,
)
from orderflow.observability import logger
from orderflow.problems import loc_path

SECRET_HEADER = "X-Provider-Secret"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Retried within the step (the provider is busy or briefly down); any other status is its answer.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A provider's Retry-After is honoured up to this: the step's function has a minute in all, and a
# longer outage is waited for by the flow's own schedule (ProviderUnavailable), not in here.
RETRY_AFTER_MAX_SECONDS = 10
_MESSAGE_LIMIT = 500  # of a provider's answer quoted in a step result
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_ATTEMPTS = 4


class ProviderError(Exception):
    """A provider did not accept a document. ``permanent``: it refused it (sending it again as it is
    will not help); otherwise it could not be reached or kept failing within the step's attempts."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Document:
    """What is handed over: a fulfillment order or an invoice, with the key that makes it idempotent."""

    kind: Literal[
        "fulfillment_order",
        "fulfillment_order_cancellation",
        "invoice",
        "accounting_document",
        "return_authorisation",
    ]
    key: str  # the fulfillment order id or the invoice number
    order_key: str
    body: dict[str, Any]


class Provider(Protocol):
    name: str

    def send(self, document: Document) -> str:
        """Hand the document over; the provider's reference for it. Raises ProviderError."""
        ...


class StepProviderParams(BaseModel):
    """What a step's ``params`` say about its provider; other params are the action's own."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    provider: Annotated[str, Field(min_length=1, max_length=64)] = "sqs"
    url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = DEFAULT_TIMEOUT_SECONDS
    attempts: Annotated[int, Field(ge=1, le=8)] = DEFAULT_ATTEMPTS


@dataclass(frozen=True)
class ProviderConfig:
    """The provider a step uses: a built-in kind with the step's params, or a configured provider with
    the step's params over its own settings."""

    provider: str  # its name: https, sqs, or a configured provider's
    kind: Literal["https", "sqs"]
    url: str | None = None  # https
    queue_url: str | None = None  # sqs; None: the stack's queue
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    attempts: int = DEFAULT_ATTEMPTS
    secret_ref: str | None = None  # https; None: the stack's PROVIDER_SECRET


def parse_config(params: dict[str, Any], directory: ProviderDirectory | None = None) -> ProviderConfig:
    """The step's provider. A name other than https or sqs is looked up in ``directory``; one that is
    not configured is the step's configuration error (InvalidInput naming params.provider)."""
    try:
        parsed = StepProviderParams.model_validate(params)
    except ValidationError as exc:
        problems = [f"params.{loc_path(e['loc'], set())}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput.listing(problems) from None
    name = parsed.provider
    if name in BUILT_IN_KINDS:
        url = validate_url(parsed.url, field="params.url") if name == "https" else None
        return ProviderConfig(
            name, "https" if name == "https" else "sqs", url, None, parsed.timeout_seconds, parsed.attempts
        )
    configured = directory.find(name) if directory is not None else None
    if configured is None:
        raise InvalidInput(
            f"params.provider: no provider named '{name}' is configured (PUT /providers/configured/{name}); "
            "the built-in ones are https and sqs",
            field="params.provider",
        )
    given = parsed.model_fields_set
    timeout = parsed.timeout_seconds if "timeout_seconds" in given else configured.timeout_seconds
    attempts = parsed.attempts if "attempts" in given else configured.attempts
    resolved = ProviderConfig(
        name,
        configured.kind,
        timeout_seconds=timeout or DEFAULT_TIMEOUT_SECONDS,
        attempts=attempts or DEFAULT_ATTEMPTS,
        secret_ref=configured.secret_ref,
    )
    if configured.kind == "sqs":
        return replace(resolved, queue_url=configured.target)
    if "url" in given:
        return replace(resolved, url=validate_url(parsed.url, field="params.url"))
    # Checked again: what was allowed where it was configured (a loopback URL) may not be where it runs.
    try:
        return replace(resolved, url=validate_url(configured.target, field="target"))
    except InvalidInput as exc:
        raise InvalidInput(
            f"params.provider: provider '{name}': {exc.message}", field="params.provider"
        ) from None


def check_configured(name: str, settings: ProviderSettings) -> ConfiguredProvider:
    """A provider as an operator configures it, with every field checked; InvalidInput names the field."""
    if name in BUILT_IN_KINDS:
        raise InvalidInput(f"name: '{name}' is a built-in provider kind; choose another name", field="name")
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidInput(
            "name: 1 to 64 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit",
            field="name",
        )
    if settings.kind == "https":
        validate_url(settings.target, field="target")
        if urlsplit(str(settings.target)).username is not None:
            raise InvalidInput(
                "target: credentials in the URL are not kept; name where the secret is in secret_ref",
                field="target",
            )
    else:
        if settings.secret_ref:
            raise InvalidInput(
                "secret_ref: an sqs provider is sent no secret (the queue's own policy guards it)",
                field="secret_ref",
            )
        if settings.target is not None and not _SQS_QUEUE_URL.fullmatch(settings.target):
            raise InvalidInput(
                "target: an SQS queue URL, https://sqs.<region>.amazonaws.com/<account>/<queue> (or leave it "
                "out for the stack's fulfillment queue)",
                field="target",
            )
    return ConfiguredProvider.model_validate({**settings.model_dump(), "name": name})


_SQS_QUEUE_URL = re.compile(
    r"https://(sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?|[a-z0-9-]+\.queue\.amazonaws\.com)/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?"
)


def validate_url(url: str | None, *, field: str) -> str:
    """An https URL on a public host. 127.0.0.1/localhost (plain http too) only where loopback targets are
    allowed (local runs, :func:`loopback_targets_allowed`): a deployed stack never sends the shared
    secret in the clear, nor to an address of its own (the Lambda runtime API listens on loopback) or
    of a private network. Only literal addresses are checked; a public name is taken as public."""
    if not url:
        raise InvalidInput(f"{field}: required for the https provider, e.g. https://…", field=field)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"{field}: not a URL", field=field) from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput(f"{field}: must be an https:// URL", field=field)
    address = _literal_address(host)
    if host in LOOPBACK_HOSTS or host.endswith(".localhost") or (address is not None and address.is_loopback):
        if loopback_targets_allowed():
            return url
        raise InvalidInput(
            f"{field}: must be an https:// URL on a public host (127.0.0.1/localhost only in local runs, "
            "with ALLOW_LOOPBACK_TARGETS)",
            field=field,
        )
    if address is not None and not address.is_global:
        raise InvalidInput(
            f"{field}: a private, link-local or reserved address is not reachable from the stack; use the "
            "provider's public https:// URL",
            field=field,
        )
    if parts.scheme == "https":
        return url
    raise InvalidInput(
        f"{field}: must be an https:// URL (http only to 127.0.0.1/localhost in local runs)", field=field
    )


def loopback_targets_allowed() -> bool:
    """ALLOW_LOOPBACK_TARGETS when it is set; else whether the store itself is loopback (a local run)."""
    allowed = config.settings().allow_loopback_targets
    return is_loopback_url(config.bigcommerce_api_url()) if allowed is None else allowed


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, in any form the resolver takes (``2130706433`` and
    ``0x7f.1`` are 127.0.0.1 to it); None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def secret_by_reference(reference: str) -> str:
    """A configured provider's secret: a Secrets Manager ARN is read (kept five minutes per warm
    container); a name is an environment variable, given directly or as NAME_SECRET_ARN."""
    if reference.startswith("arn:"):
        from aws_lambda_powertools.utilities import parameters  # import cost only where it is read

        return str(parameters.get_secret(reference, max_age=300))
    return config.secret(reference)


def provider_for(
    settings: ProviderConfig,
    secret: Callable[[], str],
    queue_url: Callable[[], str],
    secret_of: Callable[[str], str] = secret_by_reference,
) -> Provider:
    if settings.kind == "https":
        assert settings.url is not None  # parse_config checked it
        backoff = config.settings().provider_backoff_seconds
        value = secret_of(settings.secret_ref) if settings.secret_ref else secret()
        return HttpsProvider(
            settings.url, value, settings.timeout_seconds, settings.attempts, backoff, name=settings.provider
        )
    return SqsProvider(settings.queue_url or queue_url(), name=settings.provider)


# -- HTTPS ---------------------------------------------------------------------------------------------


class _ProviderRetry(Retry):
    """urllib3's Retry on the provider's schedule: ``backoff_factor`` before the first retry and twice
    the pause before each one after (urllib3's own first retry does not wait), a Retry-After the
    provider sends instead when it has one; each pause is taken through ``pause``."""

    # Not 413: a document too large for the provider stays too large, whatever it says about waiting.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, *args: Any, pause: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause

    def new(self, **kw: Any) -> Self:
        return super().new(**{"pause": self.pause, **kw})

    def get_backoff_time(self) -> float:
        tries = len(self.history)
        return min(self.backoff_max, self.backoff_factor * 2 ** (tries - 1)) if tries else 0.0

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = self._retry_after(response) or self.get_backoff_time()
        if wait > 0:
            self.pause(wait)

    def _retry_after(self, response: BaseHTTPResponse | None) -> float | None:
        if response is None or not self.respect_retry_after_header:
            return None
        try:
            return self.get_retry_after(response)
        except InvalidHeader:
            return None  # a malformed Retry-After: the schedule's own pause

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        answer = kwargs.get("response")
        if answer is not None and answer.status:
            logger.info(
                "provider answered with a retryable status",
                extra={"status": answer.status, "attempt": len(self.history) + 1},
            )
        return super().increment(*args, **kwargs)


_sessions = threading.local()
_SESSIONS_KEPT = 8


def _session(attempts: int, backoff_seconds: float, pause: Callable[[float], None]) -> requests.Session:
    """A session that makes up to ``attempts`` tries of a POST: again after a connection error, a
    timeout or a retryable status, with the provider's schedule between tries.

    One connection pool per container (per thread locally) and retry schedule: a warm Lambda reuses
    its TLS connections, and steps with other ``attempts`` get their own adapter.
    """
    kept: dict[tuple[int, float, Callable[[float], None]], requests.Session] = getattr(
        _sessions, "by_schedule", {}
    )
    key = (attempts, backoff_seconds, pause)
    session = kept.get(key)
    if session is None:
        if len(kept) >= _SESSIONS_KEPT:  # only tests make many schedules; drop theirs
            for stale in kept.values():
                stale.close()
            kept = {}
        retry = _ProviderRetry(
            total=attempts - 1,
            # POST is retried only because every document carries its Idempotency-Key: a provider that
            # got a try whose answer was lost takes the next one as the same document, not a second.
            allowed_methods=frozenset({"POST"}),
            status_forcelist=_RETRY_STATUSES,
            backoff_factor=backoff_seconds,
            retry_after_max=RETRY_AFTER_MAX_SECONDS,
            raise_on_status=False,  # the last answer comes back: its words go into the step result
            pause=pause,
        )
        session = requests.Session()
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.mount("http://", HTTPAdapter(max_retries=retry))
        kept[key] = session
        _sessions.by_schedule = kept
    return session


class HttpsProvider:
    """POSTs the document as JSON. 2xx accepted; connection errors, timeouts, 429, 500, 502, 503 and
    504 retried with backoff within the step, up to ``attempts`` tries in all; any other answer is a
    refusal for good, with the provider's message."""

    name = "https"

    def __init__(
        self,
        url: str,
        secret: str,
        timeout_seconds: float = 10.0,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "https",
    ) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = (min(3.05, timeout_seconds), timeout_seconds)
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def send(self, document: Document) -> str:
        headers = {SECRET_HEADER: self.secret, IDEMPOTENCY_HEADER: document.key}
        session = _session(self.attempts, self.backoff_seconds, self.sleep)
        try:
            answer = session.post(self.url, json=document.body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._gave_up(document, f"unreachable ({_failure_name(exc)})") from None
        if 200 <= answer.status_code < 300:
            return _reference(answer, document.key)
        message = _message(answer)
        if answer.status_code not in _RETRY_STATUSES:
            raise ProviderError(f"the provider refused {document.key}: {message}", permanent=True)
        raise self._gave_up(document, message)

    def _gave_up(self, document: Document, last: str) -> ProviderError:
        return ProviderError(
            f"the provider did not accept {document.key} in {self.attempts} attempts: {last}", permanent=False
        )


def _failure_name(exc: requests.RequestException) -> str:
    """What kept the provider from answering; a read timeout by its name, though requests reports the
    retries running out on one as a ConnectionError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return "ReadTimeout" if isinstance(reason, ReadTimeoutError) else type(exc).__name__


def _message(answer: requests.Response) -> str:
    """The provider's own words: ``message``/``error`` of a JSON body, else the body text."""
    text = answer.text.strip()
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        found = body.get("message") or body.get("error")
        if isinstance(found, dict):
            found = found.get("message")
        if found:
            text = str(found)
    return f"HTTP {answer.status_code}: {text[:_MESSAGE_LIMIT] or answer.reason}"


def _reference(answer: requests.Response, default: str) -> str:
    try:
        body = answer.json()
    except ValueError:
        return default
    if isinstance(body, dict):
        for key in ("reference", "id"):
            if body.get(key) not in (None, ""):
                return str(body[key])
    return default


# -- SQS -----------------------------------------------------------------------------------------------


@functools.cache
def _sqs() -> Any:
    return boto3.client("sqs")


def reset() -> None:
    """Forget cached clients (the local runtime starts a fresh embedded AWS per run)."""
    _sqs.cache_clear()
    _lambda.cache_clear()


class SqsProvider:
    """One message per document on a standard queue: it has no deduplication, so the document's key
    travels in the body and as a message attribute for the consumer to de-duplicate on."""

    name = "sqs"

    def __init__(self, queue_url: str, client: Any = None, name: str = "sqs") -> None:
        self.name = name
        self.queue_url = queue_url
        self.client = client

    def send(self, document: Document) -> str:
        client = self.client or _sqs()
        body = {"kind": document.kind, "id": document.key, "order_key": document.order_key, **document.body}
        try:
            answer = client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body, default=str),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": document.kind},
                    "id": {"DataType": "String", "StringValue": document.key},
                },
            )
        except client.exceptions.QueueDoesNotExist:
            raise ProviderError(f"the queue {self.queue_url} does not exist", permanent=True) from None
        return str(answer["MessageId"])


# -- Lambda (custom actions) ---------------------------------------------------------------------------


@functools.cache
def _lambda() -> Any:
    return boto3.client("lambda")


def invoke_lambda(function: str, payload: dict[str, Any]) -> tuple[Any, str | None]:
    """Invoke a function synchronously: its answer (parsed JSON when it is JSON) and FunctionError."""
    answer = _lambda().invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    raw = answer["Payload"].read()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return parsed, answer.get("FunctionError")
