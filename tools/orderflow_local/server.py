"""The local API: HTTP on 127.0.0.1, each request turned into an API Gateway (HTTP API, payload 2.0)
event for the function the template routes it to, like ``sam local start-api``."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orderflow_local.template import ACCOUNT, Route

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def api_gateway_event(
    method: str, route: Route, path: str, query: str, headers: dict[str, str], body: bytes, host: str
) -> dict[str, Any]:
    match = route.pattern.match(path)
    path_parameters = match.groupdict() if match else {}
    text_body: str | None
    is_base64 = False
    if not body:
        text_body = None
    else:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route.path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }
    if query:
        event["queryStringParameters"] = {
            k: ",".join(v) for k, v in parse_qs(query, keep_blank_values=True).items()
        }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
    return event


# Lambda takes at most 6 MB per synchronous invocation: API Gateway cannot hand a function more.
MAX_BODY_BYTES = 6 * 1024 * 1024
# A larger body is read and dropped up to here, so that the client, still sending, reads the 413;
# beyond it the connection is closed (what it reads then is up to its TCP stack).
_DRAIN_LIMIT = 64 * 1024 * 1024


class _Refused(Exception):
    """A request refused before any function sees it, as API Gateway would, in the contract's error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> bytes:
        return json.dumps(
            {"error": {"code": self.code, "message": self.message, "field": self.field}}
        ).encode()


class _HttpServer(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a burst of connections beyond it is reset by the kernel
    # before any thread sees it. The kernel caps this at net.core.somaxconn (4096 on current Linux).
    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a timeout under load) is not this server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class LocalApiServer:
    """One thread per connection reads the request; one invocation at a time runs the function.

    On Lambda each container handles one event at a time, and Powertools' event handler relies on it:
    the current event and its route arguments are process-wide (``BaseRouter.current_event`` is a
    class attribute, shared by every function's resolver here). Concurrent requests would read each
    other's headers and bodies, so the functions are invoked one after the other, while the threads
    keep accepting and reading: a burst waits for its turn instead of being refused."""

    def __init__(self, routes: list[Route], invoke: Invoke, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = routes
        self.invoke = invoke
        self._invoking = threading.Lock()
        handler = self._handler_class()
        self.httpd = _HttpServer((host, port), handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def find_route(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.method in {method, "ANY"} and route.pattern.match(path):
                return route
        return None

    def call(self, function: str, event: dict[str, Any]) -> Any:
        with self._invoking:
            return self.invoke(function, event)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A client that stops sending (or an idle keep-alive connection) gives its thread back.
            timeout = 60
            # The headers and the body go out in two writes: with Nagle's algorithm the body waits for
            # the client's delayed ACK of the headers, 40 ms per answer on Linux.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                try:
                    body = self._read_body()
                except _Refused as refused:
                    self.close_connection = True  # what is left of the request is not read
                    self._reply(refused.status, {"content-type": "application/json"}, refused.body())
                    return
                route = server.find_route(self.command, parts.path)
                if route is None:
                    self._reply(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                    return
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    key = str(name).lower()
                    headers[key] = f"{headers[key]},{value!s}" if key in headers else str(value)
                event = api_gateway_event(
                    self.command, route, parts.path, parts.query, headers, body, self.headers.get("Host", "")
                )
                try:
                    result = server.call(route.function, event)
                except Exception as exc:  # the function raised: API Gateway answers 500
                    message = json.dumps({"message": "Internal Server Error", "error": type(exc).__name__})
                    self._reply(500, {"content-type": "application/json"}, message.encode())
                    return
                self._reply(*_http_response(result))

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding"):
                    # BigCommerce and the providers send a Content-Length; a chunked body is not read
                    raise _Refused(
                        411, "length_required", "send the body with a Content-Length", "Content-Length"
                    )
                given = self.headers.get_all("Content-Length") or []
                if not given:
                    return b""
                if len(set(given)) > 1 or not given[0].strip().isdigit():
                    raise _Refused(
                        400, "invalid_input", "Content-Length is not one number of bytes", "Content-Length"
                    )
                length = int(given[0])
                if length > MAX_BODY_BYTES:
                    if length <= _DRAIN_LIMIT:
                        self._discard(length)
                    raise _Refused(
                        413,
                        "payload_too_large",
                        f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB",
                        "body",
                    )
                return self.rfile.read(length)

            def _discard(self, length: int) -> None:
                while length > 0:
                    read = self.rfile.read(min(length, 1024 * 1024))
                    if not read:
                        return
                    length -= len(read)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in {"content-length", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def __getattr__(self, name: str) -> Any:
                # Any other method is routed too (to a 404, like API Gateway), not answered 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the functions log
                pass

        return Handler


def _http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    # Payload 2.0: a dict with statusCode is a full response; anything else is a 200 JSON body.
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, raw
