"""The store over HTTP on loopback: lifecycle, routing, recorded requests, injected faults and quota."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orderflow_local.demo_store.base import (
    _WEBHOOK_TIMEOUT,
    NOT_FOUND,
    Fault,
    RecordedRequest,
    _ApiError,
    _error_body,
    _Reply,
)
from orderflow_local.demo_store.refunds import RefundResource
from orderflow_local.demo_store.shipments import ShipmentResource


@dataclass(frozen=True)
class QuotaWindow:
    """One window of the enforced quota: when it started (time.monotonic), the requests it served and
    those it answered 429."""

    started: float
    served: int
    throttled: int


@dataclass(frozen=True)
class _AfterWork(Fault):
    """A fault answered once the request was carried out: the answer is lost, not the request."""


class DemoStore(RefundResource, ShipmentResource):
    """One in-memory store; every piece of state sits behind one lock, so handler threads, the test
    thread and the webhook sender see consistent snapshots. Its resources (orders, shipments, refunds,
    hooks, customers, catalog) each come from their own module; this one serves them."""

    store_name = "Demo Store"
    # The enforced quota's windows since rate_limit(), each [started, served, throttled].
    _quota_windows: list[list[float]] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> DemoStore:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _handler_for(self))
        self.port = self._server.server_address[1]
        # A short poll keeps stop() quick; tests start and stop a store per test.
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="demo-store-http",
            daemon=True,
        )
        sender = threading.Thread(target=self._send_webhooks, name="demo-store-webhooks", daemon=True)
        self._threads = [serve, sender]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a delayed fault
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Keep-alive connections would otherwise keep answering from lingering handler threads.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=_WEBHOOK_TIMEOUT + 1)
        self._threads = []

    def __enter__(self) -> DemoStore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- fault injection and quota -------------------------------------------------------------------

    def inject(self, method: str, path_pattern: str, *responses: Fault, after_work: bool = False) -> None:
        """Queue canned answers for requests whose method matches (``*`` for any) and whose path below
        ``/stores/{hash}`` fully matches the regex; consumed first in, first out, one per request.
        ``after_work``: the store first carries the request out as usual, then waits the fault's delay
        and answers with the fault instead of its own answer (a 5xx or a hang after e.g. the refund was
        made), which is what a client that must never send a POST twice has to survive."""
        pattern = re.compile(path_pattern)
        if after_work:
            responses = tuple(_AfterWork(r.status, r.headers, r.body, r.delay) for r in responses)
        with self._lock:
            self._faults.extend((method.upper(), pattern, response) for response in responses)

    def outage(self, method: str, path_pattern: str, fault: Fault, seconds: float) -> None:
        """Answer every matching request with ``fault`` for ``seconds`` from now (a store that is down,
        hangs or throttles for a while), whatever the queued faults say."""
        with self._lock:
            self._outages.append(
                (method.upper(), re.compile(path_pattern), fault, time.monotonic() + seconds)
            )

    def end_outages(self) -> None:
        with self._lock:
            self._outages.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._outages.clear()

    def rate_limit(self, quota: int, window_ms: int) -> None:
        """Enforce a fixed-window quota (BigCommerce: 150 per 30000 ms); responses then carry the
        X-Rate-Limit-* headers and requests over quota answer 429. A window starts with the first
        request after the last one ended; each is counted (quota_windows, throttled)."""
        with self._lock:
            self._quota = quota
            self._window_ms = window_ms
            self._window_start = None
            self._window_used = 0
            self._quota_windows = []

    def clear_rate_limit(self) -> None:
        with self._lock:
            self._quota = None

    @property
    def quota_windows(self) -> list[QuotaWindow]:
        with self._lock:
            return [QuotaWindow(start, int(served), int(throttled)) for start, served, throttled in
                    self._quota_windows or []]  # fmt: skip

    @property
    def throttled(self) -> int:
        """Requests answered 429 for being over the quota since rate_limit() (not injected faults)."""
        return sum(window.throttled for window in self.quota_windows)

    # -- HTTP handling -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        body = _parse_body(raw)
        prefix = f"/stores/{self.store_hash}"
        full_path = split.path
        in_store = full_path == prefix or full_path.startswith(prefix + "/")
        path = (full_path[len(prefix) :] if in_store else full_path).rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {_title(name): value for name, value in handler.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, headers, body))
            fault = self._take_fault(method, path) if in_store else None
        after_work = isinstance(fault, _AfterWork)
        if fault is not None and not after_work:
            if fault.delay > 0 and self._stopping.wait(fault.delay):
                return
            if fault.status is not None:
                _send(handler, *_fault_reply(path, fault.status, fault))
                return
        try:
            reply = self._dispatch(method, path, in_store, query, body, headers)
        except _ApiError as exc:
            reply = exc.status, _error_body(path, exc.status, exc.message, exc.errors), {}
        except Exception as exc:  # a bug in the fake must look like a 500, not a hung connection
            message = f"demo store error: {type(exc).__name__}"
            reply = 500, _error_body(path, 500, message), {}
        if fault is not None and after_work:
            if fault.delay > 0 and self._stopping.wait(fault.delay):
                return
            if fault.status is not None:
                reply = _fault_reply(path, fault.status, fault)
        _send(handler, *reply)

    def _dispatch(
        self,
        method: str,
        path: str,
        in_store: bool,
        query: dict[str, list[str]],
        body: Any,
        headers: dict[str, str],
    ) -> _Reply:
        if not in_store:
            raise _ApiError(404, NOT_FOUND)
        if headers.get("X-Auth-Token") != self.access_token:
            raise _ApiError(401, "You are not authorized to access this resource. Check your X-Auth-Token.")
        limit_headers, over_quota = self._count_request()
        if over_quota:
            return 429, _error_body(path, 429, "Too many requests"), limit_headers
        allowed: list[str] = []
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            handler: Callable[..., tuple[int, Any]] = getattr(self, name)
            try:
                status, payload = handler(*[int(group) for group in match.groups()], query=query, body=body)
            except _ApiError as exc:
                status, payload = exc.status, _error_body(path, exc.status, exc.message, exc.errors)
            return status, payload, limit_headers
        if allowed:
            return 405, _error_body(path, 405, "Method Not Allowed"), {"Allow": ", ".join(allowed)}
        raise _ApiError(404, NOT_FOUND)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        now = time.monotonic()
        for fault_method, pattern, fault, until in self._outages:
            if now < until and fault_method in ("*", method) and pattern.fullmatch(path):
                return fault
        for index, (fault_method, pattern, fault) in enumerate(self._faults):
            if fault_method in ("*", method) and pattern.fullmatch(path):
                del self._faults[index]
                return fault
        return None

    def _count_request(self) -> tuple[dict[str, str], bool]:
        """The rate-limit headers for this request (none without a quota) and whether it is over quota."""
        with self._lock:
            if self._quota is None:
                return {}, False
            now = time.monotonic()
            window = self._window_ms / 1000.0
            windows = self._quota_windows
            assert windows is not None  # set by rate_limit() with the quota
            if self._window_start is None or now - self._window_start >= window:
                self._window_start, self._window_used = now, 0
                windows.append([now, 0, 0])
            reset_ms = max(1, int((self._window_start + window - now) * 1000))
            over = self._window_used >= self._quota
            if not over:
                self._window_used += 1
            windows[-1][2 if over else 1] += 1
            headers = {
                "X-Rate-Limit-Time-Window-Ms": str(self._window_ms),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Requests-Quota": str(self._quota),
                "X-Rate-Limit-Requests-Left": str(self._quota - self._window_used),
            }
            return headers, over

    # -- the store itself ---------------------------------------------------------------------------

    def _get_store(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        domain = f"{self.store_hash}.example.com"
        return 200, {
            "id": self.store_hash,
            "store_id": int(self.store_id),
            "domain": domain,
            "secure_url": f"https://{domain}",
            "control_panel_base_url": f"https://store-{self.store_hash}.mybigcommerce.com",
            "status": "live",
            "name": self.store_name,
            "first_name": "Demo",
            "last_name": "Merchant",
            "address": "",
            "country": "United States",
            "country_code": "US",
            "phone": "",
            "admin_email": "merchant@example.com",
            "order_email": "orders@example.com",
            "timezone": {"name": "America/Chicago", "raw_offset": -21600, "dst_offset": -18000},
            "language": "en",
            "currency": "USD",
            "currency_symbol": "$",
            "decimal_separator": ".",
            "thousands_separator": ",",
            "decimal_places": 2,
            "plan_name": "Standard",
            "plan_level": "Standard",
            "plan_is_trial": False,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DemoBigCommerce/1.0"
    store: DemoStore

    def setup(self) -> None:
        super().setup()
        with self.store._lock:
            self.store._connections.add(self.connection)

    def finish(self) -> None:
        with self.store._lock:
            self.store._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        self.store._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry query strings (emails); the recorded requests are the log


def _handler_for(store: DemoStore) -> type[_Handler]:
    return type("DemoStoreHandler", (_Handler,), {"store": store})


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/v2/orders", "_get_orders"),
        ("GET", r"/v2/orders/(\d+)", "_get_order"),
        ("PUT", r"/v2/orders/(\d+)", "_put_order"),
        ("GET", r"/v2/orders/(\d+)/products", "_get_order_products"),
        ("GET", r"/v2/orders/(\d+)/products/(\d+)", "_get_order_product"),
        ("GET", r"/v2/orders/(\d+)/shipping_addresses", "_get_order_addresses"),
        ("GET", r"/v2/orders/(\d+)/coupons", "_get_order_coupons"),
        ("GET", r"/v2/orders/(\d+)/shipments", "_get_shipments"),
        ("POST", r"/v2/orders/(\d+)/shipments", "_post_shipment"),
        ("GET", r"/v2/orders/(\d+)/shipments/(\d+)", "_get_shipment"),
        ("GET", r"/v2/order_statuses", "_get_order_statuses"),
        ("GET", r"/v2/store", "_get_store"),
        ("POST", r"/v3/orders/(\d+)/payment_actions/refund_quotes", "_post_refund_quote"),
        ("GET", r"/v3/orders/(\d+)/payment_actions/refunds", "_get_refunds"),
        ("POST", r"/v3/orders/(\d+)/payment_actions/refunds", "_post_refund"),
        ("GET", r"/v3/hooks", "_get_hooks"),
        ("POST", r"/v3/hooks", "_post_hook"),
        ("GET", r"/v3/hooks/(\d+)", "_get_hook"),
        ("PUT", r"/v3/hooks/(\d+)", "_put_hook"),
        ("DELETE", r"/v3/hooks/(\d+)", "_delete_hook"),
        ("GET", r"/v3/customers", "_get_customers"),
        ("GET", r"/v3/catalog/products", "_get_catalog_products"),
        ("GET", r"/v3/catalog/variants", "_get_catalog_variants"),
    ]
]


def _fault_reply(path: str, status: int, fault: Fault) -> _Reply:
    payload = fault.body
    if payload is None and status >= 400:
        payload = _error_body(path, status, _phrase(status))
    return status, payload, dict(fault.headers or {})


def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
    if payload is None or status in (204, 304):
        data = b""
    elif isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, str):
        data = payload.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    else:
        data = json.dumps(payload).encode()
    if data:
        headers.setdefault("Content-Type", "application/json")
    try:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, str(value))
        if status not in (204, 304):
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if data:
            handler.wfile.write(data)
    except OSError:
        pass  # the client gave up (e.g. its read timeout fired during a delayed fault)


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _phrase(status: int) -> str:
    return BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
