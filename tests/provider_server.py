"""A loopback fulfillment/invoice provider for tests: records what it receives, and can fail the next
N requests (or all of them) with a status and message, or answer with a body of the test's choosing."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ProviderServer:
    requests: list[Received] = field(default_factory=list)
    failures: int = 0  # the next N requests fail
    always_fail: bool = False
    fail_status: int = 503
    fail_message: str = "warehouse system is down for maintenance"
    answer: Any = None  # the body of a 2xx answer; default {"reference": "PRV-<n>"}
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ProviderServer:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body = provider._take(self.path, dict(self.headers.items()), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _take(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Received(path, headers, json.loads(raw) if raw else None))
            if self.always_fail or self.failures > 0:
                self.failures = max(0, self.failures - 1)
                return self.fail_status, {"message": self.fail_message}
            if self.answer is not None:
                return 200, self.answer
            return 202, {"reference": f"PRV-{len(self.requests)}"}
