"""REST client for one BigCommerce store: a timeout on every call, requests paced on the store's API
quota, bounded retries that honour the rate-limit headers (never a blind retry of a POST),
BigCommerce's own error messages, and whole orders in one request."""

from __future__ import annotations

import http
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from orderflow.bigcommerce.quota import QuotaLimiter, QuotaReading, limiter_for, read_quota

logger = logging.getLogger(__name__)

# A server-given wait beyond this is more likely a broken header than advice worth a Lambda's time.
_MAX_SERVER_WAIT = 60.0
_MAX_MESSAGE = 300
# BigCommerce sometimes echoes submitted values in validation messages; emails must not reach logs.
_EMAIL = re.compile(r"[^\s@\"'<>,;:()\[\]]+@[^\s@\"'<>,;:()\[\]]+\.[A-Za-z]{2,}")
_CONSIGNMENT_KINDS = ("shipping", "pickups", "downloads")
# BigCommerce has no idempotency keys: only these methods can be sent twice without doing twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class BigCommerceError(Exception):
    """BigCommerce refused a request; ``message`` is the store's own explanation, free of customer data."""

    def __init__(self, status: int | None, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.path}".strip() or "a request"
        if self.status is None:
            return f"BigCommerce did not answer {where}: {self.message}"
        return f"BigCommerce answered {self.status} on {where}: {self.message}"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        # The default would call cls(rendered_text) and fail when the error crosses a process boundary.
        return (self.__class__, (self.status, self.message), {"method": self.method, "path": self.path})


class BigCommerceAuthError(BigCommerceError):
    """401/403: the access token is wrong, revoked or lacks a scope; retrying cannot help."""


class BigCommerceNotFound(BigCommerceError):
    """404: the order (or other resource) does not exist in this store."""


class BigCommerceUnavailable(BigCommerceError):
    """The store stayed unreachable, slow, failing (5xx) or throttling (429) through every attempt
    (or through the client's time budget)."""


class BigCommerceOutcomeUnknown(BigCommerceUnavailable):
    """A POST reached the store, which then failed (5xx) or went silent (read timeout, dropped
    connection): it may have been carried out. It is not retried, since a second POST could create a
    second shipment; look first (e.g. list the order's shipments), then send it again if it is missing."""

    def _render(self) -> str:
        return f"{super()._render()}; the request may have been carried out: check before sending it again"


class BigCommerceClient:
    """One store, one ``requests.Session``; cache the client per warm container to reuse connections."""

    def __init__(
        self,
        api_url: str,
        store_hash: str,
        access_token: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        time_budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limiter: QuotaLimiter | None = None,
    ) -> None:
        """``time_budget`` (seconds) bounds one call, its attempts and waits together, so a call gives
        up before the Lambda making it times out; None leaves only the per-attempt timeouts.
        ``limiter`` paces the requests; by default the process's limiter of this store, which every
        client of the store shares (quota.limiter_for)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if time_budget is not None and time_budget <= 0:
            raise ValueError("time_budget must be positive")
        self.base_url = f"{api_url.rstrip('/')}/stores/{store_hash}"
        self.store_hash = store_hash
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.time_budget = time_budget
        self._sleep = sleep
        self._limiter = limiter
        # Sent per request rather than set on the session, so a caller's shared session is not altered.
        self._headers = {
            "X-Auth-Token": access_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._count_lock = threading.Lock()
        self.request_count = 0

    def __repr__(self) -> str:
        return f"BigCommerceClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- transport -----------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        """Send, paced on the store's quota, with retries; the parsed JSON body, or None for 204 / an
        empty body.

        A POST is retried only when the store cannot have acted on it (no connection was made, or a
        429); otherwise :class:`BigCommerceOutcomeUnknown` lets the caller reconcile.
        """
        url = self.base_url + path
        # Query strings can hold customer data (``email:in=``), so logs and errors name the path only.
        where = path.split("?", 1)[0]
        idempotent = method.upper() in _IDEMPOTENT
        started = time.monotonic()
        limiter = self.limiter
        last_status: int | None = None
        last_message = ""
        for attempt in range(self.max_attempts):
            if self._attempt_timeout(started) is None:
                raise BigCommerceUnavailable(
                    last_status, self._out_of_time(last_message), method=method, path=where
                )
            ticket = self._admit(limiter, started, method, where)
            timeout = self._attempt_timeout(started)
            if timeout is None:  # the wait for the quota fitted in the budget, only just
                limiter.settle(ticket, None)
                raise BigCommerceUnavailable(
                    429, self._out_of_time("waited for the store's API quota"), method=method, path=where
                )
            with self._count_lock:
                self.request_count += 1
            try:
                response = self._send(limiter, ticket, method, url, params, json, timeout)
            except requests.Timeout as exc:
                connect = isinstance(exc, requests.ConnectTimeout)
                last_status, last_message = None, f"{'connect' if connect else 'read'} timeout"
                logger.debug("BigCommerce %s %s -> %s", method, where, last_message)
                if not (idempotent or connect):
                    raise BigCommerceOutcomeUnknown(None, last_message, method=method, path=where) from None
                wait = self._backoff(attempt)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # The exception text carries the full URL (query included), so only its type is kept.
                last_status, last_message = None, f"connection failed ({type(exc).__name__})"
                logger.debug("BigCommerce %s %s -> %s", method, where, type(exc).__name__)
                if not (idempotent or _never_sent(exc)):
                    raise BigCommerceOutcomeUnknown(None, last_message, method=method, path=where) from None
                wait = self._backoff(attempt)
            except requests.RequestException as exc:
                raise BigCommerceError(None, type(exc).__name__, method=method, path=where) from None
            else:
                status = response.status_code
                logger.debug("BigCommerce %s %s -> %s", method, where, status)
                if 200 <= status < 300:
                    return _parse(response, method, where)
                message = _error_message(response)
                if status == 429:
                    # Throttled requests are refused before any work, so even a POST may go again.
                    wait = self._rate_limit_wait(response, attempt)
                elif status >= 500:
                    if not idempotent:
                        raise BigCommerceOutcomeUnknown(status, message, method=method, path=where)
                    wait = self._backoff(attempt)
                elif status in (401, 403):
                    raise BigCommerceAuthError(status, message, method=method, path=where)
                elif status == 404:
                    raise BigCommerceNotFound(status, message, method=method, path=where)
                else:
                    raise BigCommerceError(status, message, method=method, path=where)
                last_status, last_message = status, message
            if attempt + 1 < self.max_attempts:
                if not self._can_wait(started, wait):
                    raise BigCommerceUnavailable(
                        last_status, self._out_of_time(last_message), method=method, path=where
                    )
                logger.debug(
                    "BigCommerce %s %s: attempt %d of %d failed, waiting %.3f s",
                    method,
                    where,
                    attempt + 1,
                    self.max_attempts,
                    wait,
                )
                until = limiter.clock() + wait
                self._sleep(wait)
                limiter.passed(until)
        raise BigCommerceUnavailable(last_status, last_message, method=method, path=where)

    @property
    def limiter(self) -> QuotaLimiter:
        return self._limiter or limiter_for(self.base_url)

    def _admit(self, limiter: QuotaLimiter, started: float, method: str, where: str) -> int:
        """A ticket to send now: while the store's quota is spent down to the reserve, wait for the
        window to reset, or give up when the time budget would not cover the wait."""
        while True:
            admission = limiter.admit()
            if admission.ticket is not None:
                return admission.ticket
            if not self._can_wait(started, admission.wait):
                spent = f"the store's API quota is spent until its window resets in {admission.wait:.1f} s"
                raise BigCommerceUnavailable(429, self._out_of_time(spent), method=method, path=where)
            logger.debug(
                "BigCommerce %s %s: pacing on the store's quota, waiting %.3f s",
                method,
                where,
                admission.wait,
            )
            self._sleep(admission.wait)
            limiter.passed(admission.until)

    def _send(
        self,
        limiter: QuotaLimiter,
        ticket: int,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        json: Any,
        timeout: tuple[float, float],
    ) -> requests.Response:
        reading: QuotaReading | None = None
        try:
            response = self.session.request(
                method, url, params=params, json=json, headers=self._headers, timeout=timeout
            )
            reading = read_quota(response.headers, response.status_code)
            return response
        finally:
            limiter.settle(ticket, reading)

    def _remaining(self, started: float) -> float | None:
        if self.time_budget is None:
            return None
        return self.time_budget - (time.monotonic() - started)

    def _attempt_timeout(self, started: float) -> tuple[float, float] | None:
        """This attempt's (connect, read) timeouts, shortened to what is left of the budget; None when
        nothing is left."""
        remaining = self._remaining(started)
        if remaining is None:
            return self.timeout
        if remaining <= 0:
            return None
        connect, read = self.timeout
        return min(connect, remaining), min(read, remaining)

    def _can_wait(self, started: float, wait: float) -> bool:
        # Sleeping into the end of the budget would leave no time for the attempt it waits for.
        remaining = self._remaining(started)
        return remaining is None or wait < remaining

    def _out_of_time(self, last_message: str) -> str:
        gave_up = f"gave up within the client's {self.time_budget:g} s time budget"
        return f"{last_message}; {gave_up}" if last_message else gave_up

    def _ceiling(self, attempt: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _backoff(self, attempt: int) -> float:
        # Full jitter: many Lambdas failing together must not come back together.
        return random.uniform(0.0, self._ceiling(attempt))

    def _rate_limit_wait(self, response: requests.Response, attempt: int) -> float:
        reset_ms = _header_number(response, "X-Rate-Limit-Time-Reset-Ms")
        if reset_ms is not None and reset_ms > 0:
            return min(reset_ms / 1000.0, _MAX_SERVER_WAIT)
        for name in ("X-Retry-After", "Retry-After"):
            seconds = _header_number(response, name)
            if seconds is not None and seconds > 0:
                return min(seconds, _MAX_SERVER_WAIT)
        # No usable hint means platform load: back off, with a floor so the retry is never instant.
        ceiling = self._ceiling(attempt)
        return random.uniform(ceiling / 2, ceiling)

    # -- thin wrappers -------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def put(self, path: str, json: Any) -> Any:
        return self._request("PUT", path, json=json)

    def post(self, path: str, json: Any) -> Any:
        return self._request("POST", path, json=json)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def iter_pages(self, path: str, params: dict[str, Any] | None = None, limit: int = 250) -> Iterator[Any]:
        """Items of a v2 list, page by page; a 204, an empty page or a short page ends it."""
        page = 1
        while True:
            batch = self.get(path, {**(params or {}), "page": page, "limit": limit})
            if not batch:
                return
            if not isinstance(batch, list):
                raise BigCommerceError(200, "expected a JSON list", method="GET", path=path.split("?", 1)[0])
            yield from batch
            if len(batch) < limit:
                return
            page += 1

    def iter_v3_pages(
        self, path: str, params: dict[str, Any] | None = None, limit: int = 250
    ) -> Iterator[Any]:
        """Items of a v3 list (``{"data": [...], "meta": {"pagination": ...}}``), page by page; the
        last page by ``total_pages``, or a 204, an empty page or (without pagination) a short page."""
        where = path.split("?", 1)[0]
        page = 1
        while True:
            body = self.get(path, {**(params or {}), "page": page, "limit": limit})
            if body is None:
                return
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise BigCommerceError(200, "expected {data: [...], meta}", method="GET", path=where)
            yield from data
            meta = body.get("meta")
            pagination = meta.get("pagination") if isinstance(meta, dict) else None
            total_pages = pagination.get("total_pages") if isinstance(pagination, dict) else None
            if not data or (total_pages is None and len(data) < limit):
                return
            if isinstance(total_pages, int) and page >= total_pages:
                return
            page += 1

    # -- orders --------------------------------------------------------------------------------------

    def get_order(self, order_id: int) -> dict[str, Any]:
        """The v2 order with ``products`` and ``shipping_addresses`` as lists: one request when the
        store returns line items inside the consignments, three when it does not."""
        order = self.get(
            f"/v2/orders/{order_id}",
            {"include": "consignments.line_items", "consignment_structure": "object"},
        )
        if not isinstance(order, dict):
            raise BigCommerceError(
                200, "expected an order object", method="GET", path=f"/v2/orders/{order_id}"
            )
        unpacked = _unpack_consignments(order.pop("consignments", None), order)
        if unpacked is None:
            products = list(self.iter_pages(f"/v2/orders/{order_id}/products"))
            addresses = list(self.iter_pages(f"/v2/orders/{order_id}/shipping_addresses"))
        else:
            products, addresses = unpacked
        order["products"] = products
        order["shipping_addresses"] = addresses
        return order

    def update_order_status(self, order_id: int, status_id: int) -> dict[str, Any]:
        order = self.put(f"/v2/orders/{order_id}", {"status_id": status_id})
        return order if isinstance(order, dict) else {}

    def get_shipment(self, order_id: int, shipment_id: int) -> dict[str, Any]:
        """One shipment of an order: ``order_address_id``, ``items[{order_product_id, quantity}]``,
        tracking and the addresses. BigCommerceNotFound when the store has no such shipment."""
        path = f"/v2/orders/{order_id}/shipments/{shipment_id}"
        shipment = self.get(path)
        if not isinstance(shipment, dict):
            raise BigCommerceError(200, "expected a shipment object", method="GET", path=path)
        return shipment

    # -- customers -----------------------------------------------------------------------------------

    def find_customers(
        self, *, emails: list[str] | None = None, ids: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """v3 customers by email or id (one request; a handful of values, never a whole list)."""
        params: dict[str, Any] = {}
        if emails:
            params["email:in"] = ",".join(emails)
        if ids:
            params["id:in"] = ",".join(str(i) for i in ids)
        answer = self.get("/v3/customers", params)
        data = answer.get("data") if isinstance(answer, dict) else None
        return [c for c in data or [] if isinstance(c, dict)]

    def list_order_statuses(self) -> list[dict[str, Any]]:
        return self.get("/v2/order_statuses") or []

    def get_store_info(self) -> dict[str, Any]:
        return self.get("/v2/store") or {}

    # -- webhooks ------------------------------------------------------------------------------------

    def list_hooks(self) -> list[dict[str, Any]]:
        """The hooks of this API account (BigCommerce lists only the token's own client's hooks)."""
        return [h for h in self.iter_v3_pages("/v3/hooks") if isinstance(h, dict)]

    def create_hook(self, hook: dict[str, Any]) -> dict[str, Any]:
        return _data(self.post("/v3/hooks", hook))

    def update_hook(self, hook_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        return _data(self.put(f"/v3/hooks/{hook_id}", changes))


def _unpack_consignments(
    consignments: Any, order: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """(products, shipping addresses) from the object-form consignments, or None when anything is
    missing or only linked, in which case the caller reads the sub-resources instead."""
    if not isinstance(consignments, dict) or not any(kind in consignments for kind in _CONSIGNMENT_KINDS):
        return None  # absent, the older array form, or a {url, resource} link
    products: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    for kind in _CONSIGNMENT_KINDS:
        group = consignments.get(kind) or []
        if not isinstance(group, list):
            return None
        for consignment in group:
            if not isinstance(consignment, dict):
                return None
            items = consignment.get("line_items")
            # Link form is a {url, resource} object or a list of them; real lines carry a quantity.
            if not isinstance(items, list) or not all(isinstance(i, dict) and "quantity" in i for i in items):
                return None
            products.extend(items)
            if kind == "shipping":
                address = {key: value for key, value in consignment.items() if key != "line_items"}
                address.setdefault("order_id", order.get("id"))
                addresses.append(address)
    if not products and order.get("items_total"):
        return None  # items the consignments did not show (e.g. a kind we do not read): ask directly
    return products, addresses


def _data(answer: Any) -> dict[str, Any]:
    data = answer.get("data") if isinstance(answer, dict) else None
    return data if isinstance(data, dict) else {}


def _parse(response: requests.Response, method: str, path: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise BigCommerceError(
            response.status_code, "response body is not JSON", method=method, path=path
        ) from None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection itself failed (refused, unresolvable host, connect timeout), so the
    store never saw the request; a connection dropped later may have carried it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    # urllib3's NewConnectionError (refused, unresolvable) is a ConnectTimeoutError too.
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


def _error_message(response: requests.Response) -> str:
    """BigCommerce's message: v2 sends ``[{"status", "message"}]``, v3 ``{"status", "title", "errors"}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        message = str(body[0].get("message") or body[0].get("title") or "")
    elif isinstance(body, dict):
        message = str(body.get("title") or body.get("message") or body.get("error") or "")
        errors = body.get("errors")
        if message and isinstance(errors, dict) and errors:
            # Field names help whoever fixes the request; the values may be customer data.
            message = f"{message} ({', '.join(sorted(str(key) for key in errors))})"
    if not message:
        message = response.reason or _phrase(response.status_code)
    message = _EMAIL.sub("<email>", " ".join(message.split()))
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _header_number(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
