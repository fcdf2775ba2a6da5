"""The local API: HTTP on 127.0.0.1, each request turned into an API Gateway (HTTP API, payload 2.0)
event for the function the template routes it to, like ``sam local start-api``."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orderflow.local.template import ACCOUNT, Route

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


class LocalApiServer:
    def __init__(self, routes: list[Route], invoke: Invoke, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = routes
        self.invoke = invoke
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
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
                    result = server.invoke(route.function, event)
                except Exception as exc:  # the function raised: API Gateway answers 500
                    message = json.dumps({"message": "Internal Server Error", "error": type(exc).__name__})
                    self._reply(500, {"content-type": "application/json"}, message.encode())
                    return
                self._reply(*_http_response(result))

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in {"content-length", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

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
