"""Fulfillment and invoice providers: where fulfillment orders and invoices are handed over.

Which provider a step uses is configuration in the flow (the step's ``params``):
``{"provider": "https", "url": "https://…", "timeout_seconds": 10, "attempts": 4}`` POSTs the
document with the shared secret in ``X-Provider-Secret``; ``{"provider": "sqs"}`` (the default) puts
one message per document on the deployment's queue (``FULFILLMENT_QUEUE_URL``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

import boto3
import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderflow import config
from orderflow.bigcommerce.hooks import LOOPBACK_HOSTS, is_loopback_url
from orderflow.errors import InvalidInput
from orderflow.observability import logger
from orderflow.problems import loc_path

SECRET_HEADER = "X-Provider-Secret"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRY_STATUSES = {429, 500, 502, 503, 504}
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

    model_config = ConfigDict(extra="ignore")

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
        # The pause before the first retry; doubled for each one after (tests shorten it).
        backoff = float(os.environ.get("PROVIDER_BACKOFF_SECONDS") or 0.5)
        return HttpsProvider(settings.url, secret(), settings.timeout_seconds, settings.attempts, backoff)
    return SqsProvider(queue_url())


# -- HTTPS ---------------------------------------------------------------------------------------------

_sessions = threading.local()


def _session() -> requests.Session:
    # One connection pool per container (per thread locally): a warm Lambda reuses its TLS connections.
    session: requests.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        _sessions.session = session
    return session


class HttpsProvider:
    """POSTs the document as JSON. 2xx accepted; 4xx (but 429) refused for good with the provider's
    message; connection errors, timeouts, 429 and 5xx are retried with backoff within the step."""

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
        last = ""
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 2))
            try:
                answer = _session().post(self.url, json=document.body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"unreachable ({type(exc).__name__})"
                continue
            if 200 <= answer.status_code < 300:
                return _reference(answer, document.key)
            message = _message(answer)
            if answer.status_code not in _RETRY_STATUSES:
                raise ProviderError(f"the provider refused {document.key}: {message}", permanent=True)
            last = message
            logger.info(
                "provider answered with a retryable status",
                extra={"status": answer.status_code, "attempt": attempt, "document": document.key},
            )
        raise ProviderError(
            f"the provider did not accept {document.key} in {self.attempts} attempts: {last}", permanent=False
        )


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
