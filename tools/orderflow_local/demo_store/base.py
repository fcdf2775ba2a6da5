"""The demo store's state, its records and the BigCommerce response shapes every resource shares."""

from __future__ import annotations

import hashlib
import queue
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from http.server import ThreadingHTTPServer
from typing import Any

FIRST_ORDER_ID = 250
V2_PAGE_DEFAULT = 50
PAGE_MAX = 250
NOT_FOUND = "The requested resource was not found."
STATUS_CODES_DOC = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
# Generous: under a webhook storm the local runtime (one CPU-bound process) answers in seconds, not
# the milliseconds a deployed endpoint takes; a timed-out callback here would only be noise.
_WEBHOOK_TIMEOUT = 60.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the store received it; ``path`` is relative to ``/stores/{hash}`` when it is
    under it (e.g. ``/v2/orders/250``), header names are Title-Cased, ``body`` is parsed JSON."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Fault:
    """A canned answer; ``body`` None gives BigCommerce's error shape for statuses >= 400.
    ``status`` None with a ``delay`` is a slow store: wait, then answer normally."""

    status: int | None
    headers: dict[str, str] | None = None
    body: Any = None
    delay: float = 0.0


@dataclass(frozen=True)
class WebhookDelivery:
    destination: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


_Reply = tuple[int, Any, dict[str, str]]


class StoreState:
    """The store's state and identity, which every resource class reads and writes under ``_lock``."""

    def __init__(
        self,
        store_hash: str = "demo-store",
        access_token: str = "demo-token",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store_hash = store_hash
        self.access_token = access_token
        self.host = host
        self.port = port
        # BigCommerce callbacks carry a numeric store id (as a string); derive a stable one from the hash.
        digest = int(hashlib.sha1(store_hash.encode()).hexdigest()[:8], 16)
        self.store_id = str(1_000_000 + digest % 9_000_000)
        self._lock = threading.RLock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._products: dict[int, list[dict[str, Any]]] = {}
        self._addresses: dict[int, list[dict[str, Any]]] = {}
        self._shipments: dict[int, list[dict[str, Any]]] = {}
        self._status_updates: dict[int, list[int]] = {}
        self._hooks: dict[int, dict[str, Any]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self._catalog: dict[int, dict[str, Any]] = {}
        self._sku_ids: dict[str, tuple[int, int]] = {}
        self._next = {
            "order": FIRST_ORDER_ID,
            "order_product": 1,
            "address": 1,
            "shipment": 1,
            "hook": 1,
            "customer": 1,
            "product": 77,
            "variant": 150,
            "event": 1,
        }
        self._requests: list[RecordedRequest] = []
        self._faults: list[tuple[str, re.Pattern[str], Fault]] = []
        self._outages: list[tuple[str, re.Pattern[str], Fault, float]] = []
        self._quota: int | None = None
        self._window_ms = 0
        self._window_start: float | None = None
        self._window_used = 0
        self._deliveries: list[WebhookDelivery] = []
        self._delivered = threading.Condition(self._lock)
        self._outbox: queue.Queue[tuple[str, dict[str, Any], dict[str, str]] | None] = queue.Queue()
        self._callbacks_pending = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The value for ``BIGCOMMERCE_API_URL`` (the client appends ``/stores/{hash}``)."""
        if self._server is None:
            raise RuntimeError("DemoStore is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/stores/{self.store_hash}"

    def _take(self, counter: str) -> int:
        with self._lock:
            value = self._next[counter]
            self._next[counter] = value + 1
            return value


def _error_body(path: str, status: int, message: str, errors: dict[str, str] | None = None) -> Any:
    """v2 errors are a list of {status, message}; v3 errors one object with a title."""
    if path.startswith("/v3"):
        return {"status": status, "title": message, "type": STATUS_CODES_DOC, "errors": errors or {}}
    return [{"status": status, "message": message}]


def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
    page = _int_param(query, "page") or 1
    limit = min(_int_param(query, "limit") or V2_PAGE_DEFAULT, PAGE_MAX)
    if page < 1 or limit < 1:
        raise _ApiError(400, "The field 'page' or 'limit' is invalid.")
    return items[(page - 1) * limit : page * limit]


def _v3_page(items: list[Any], query: dict[str, list[str]]) -> tuple[int, Any]:
    page = _int_param(query, "page") or 1
    limit = min(_int_param(query, "limit") or V2_PAGE_DEFAULT, PAGE_MAX)
    if page < 1 or limit < 1:
        raise _ApiError(422, "Input is invalid", {"page": "page and limit must be positive"})
    chunk = items[(page - 1) * limit : page * limit]
    total_pages = max(1, -(-len(items) // limit))
    links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    pagination = {
        "total": len(items),
        "count": len(chunk),
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    }
    return 200, {"data": chunk, "meta": {"pagination": pagination}}


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    return _to_int(values[0], name)


def _to_int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise _ApiError(400, f"The field '{name}' is invalid.") from None


def _date_param(query: dict[str, list[str]], name: str) -> datetime | None:
    """BigCommerce accepts RFC-2822 or ISO-8601 here; naive values are taken as UTC."""
    values = query.get(name)
    if not values or not values[0].strip():
        return None
    value = values[0].strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
    if parsed is None:
        raise _ApiError(400, f"The field '{name}' is invalid.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))


def _money(value: Decimal | int) -> str:
    return str(_round(Decimal(value)))
