"""Fulfillment and invoice providers: where fulfillment orders and invoices are handed over.

Which provider a step uses is configuration in the flow (the step's ``params``):
``{"provider": "https", "url": "https://…", "timeout_seconds": 10, "attempts": 4}`` POSTs the
document with the shared secret in ``X-Provider-Secret``; ``{"provider": "sqs"}`` (the default) puts
one message per document on the deployment's queue (``FULFILLMENT_QUEUE_URL``).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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

    kind: Literal["fulfillment_order", "fulfillment_order_cancellation", "invoice"]
    key: str  # the fulfillment order id or the invoice number
    order_key: str
    body: dict[str, Any]


class Provider(Protocol):
    name: str

    def send(self, document: Document) -> str:
        """Hand the document over; the provider's reference for it. Raises ProviderError."""
        ...


class ProviderConfig(BaseModel):
    """A step's provider configuration (its ``params``); other params are the action's own."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    provider: Literal["https", "sqs"] = "sqs"
    url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 10.0
    attempts: Annotated[int, Field(ge=1, le=8)] = 4


def parse_config(params: dict[str, Any]) -> ProviderConfig:
    try:
        parsed = ProviderConfig.model_validate(params)
    except ValidationError as exc:
        problems = [f"params.{loc_path(e['loc'], set())}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput.listing(problems) from None
    if parsed.provider == "https":
        parsed.url = validate_url(parsed.url, field="params.url")
    return parsed


def validate_url(url: str | None, *, field: str) -> str:
    """An https URL; plain http only to loopback, and only where the store itself is loopback (local
    runs), so a deployed stack never sends the shared secret in the clear."""
    if not url:
        raise InvalidInput(f"{field}: required for the https provider, e.g. https://…", field=field)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"{field}: not a URL", field=field) from None
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host in LOOPBACK_HOSTS and is_loopback_url(config.bigcommerce_api_url()):
        return url
    raise InvalidInput(
        f"{field}: must be an https:// URL (http only to 127.0.0.1/localhost in local runs)", field=field
    )


def provider_for(
    settings: ProviderConfig, secret: Callable[[], str], queue_url: Callable[[], str]
) -> Provider:
    if settings.provider == "https":
        assert settings.url is not None  # parse_config checked it
        backoff = config.settings().provider_backoff_seconds
        return HttpsProvider(settings.url, secret(), settings.timeout_seconds, settings.attempts, backoff)
    return SqsProvider(queue_url())


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
    ) -> None:
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

    def __init__(self, queue_url: str, client: Any = None) -> None:
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
