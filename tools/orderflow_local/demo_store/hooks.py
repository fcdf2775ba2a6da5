"""Webhooks: the v3 hooks a merchant's app registers, and the callbacks the store sends to them."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from orderflow_local.demo_store.base import (
    _WEBHOOK_TIMEOUT,
    StoreState,
    WebhookDelivery,
    _ApiError,
    _v3_page,
)

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class HookResource(StoreState):
    """Hooks are registered over the v3 API; callbacks are sent from a thread of their own."""

    # -- inspection ----------------------------------------------------------------------------------

    def hooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(h) for h in self._hooks.values()]

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_for_deliveries(self, count: int, timeout: float = 2.0) -> list[WebhookDelivery]:
        """Block until at least ``count`` webhook deliveries were attempted (or the timeout passed)."""
        with self._delivered:
            self._delivered.wait_for(lambda: len(self._deliveries) >= count, timeout=timeout)
            return list(self._deliveries)

    # -- webhooks ------------------------------------------------------------------------------------

    def build_webhook(self, scope: str, data: dict[str, Any]) -> dict[str, Any]:
        """A callback body as BigCommerce sends it, e.g. ``build_webhook("store/order/created",
        {"type": "order", "id": 250})``; each call is a new event with its own hash."""
        created_at = int(time.time())
        with self._lock:
            sequence = self._take("event")
        seed = json.dumps([self.store_hash, scope, data, created_at, sequence], sort_keys=True)
        return {
            "scope": scope,
            "store_id": self.store_id,
            "data": copy.deepcopy(data),
            "hash": hashlib.sha1(seed.encode()).hexdigest(),
            "created_at": created_at,
            "producer": f"stores/{self.store_hash}",
        }

    def deliver_webhook(
        self, destination: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> WebhookDelivery:
        """POST one callback now and record the attempt; BigCommerce's hour-scale retries are not modelled."""
        payload = json.dumps(body).encode()
        request = urllib.request.Request(destination, data=payload, method="POST")
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        host = urlsplit(destination).hostname or ""
        # Loopback receivers must not be sent through a proxy configured in the environment.
        opener = (
            urllib.request.build_opener(urllib.request.ProxyHandler({}))
            if host in _LOOPBACK_HOSTS
            else urllib.request.build_opener()
        )
        status: int | None = None
        error: str | None = None
        try:
            with opener.open(request, timeout=_WEBHOOK_TIMEOUT) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = type(exc).__name__
        delivery = WebhookDelivery(destination, copy.deepcopy(body), dict(headers or {}), status, error)
        with self._delivered:
            self._deliveries.append(delivery)
            self._delivered.notify_all()
        return delivery

    def _emit(self, scope: str, data: dict[str, Any]) -> None:
        """Queue callbacks for active hooks on ``scope``; sent from the sender thread, never the handler."""
        with self._lock:
            targets = [
                (hook["destination"], dict(hook["headers"] or {}))
                for hook in self._hooks.values()
                if hook["scope"] == scope and hook["is_active"]
            ]
        if not targets:
            return
        body = self.build_webhook(scope, data)
        for destination, headers in targets:
            with self._delivered:
                self._callbacks_pending += 1
            self._outbox.put((destination, body, headers))

    def _send_webhooks(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            try:
                self.deliver_webhook(*item)
            finally:
                with self._delivered:
                    self._callbacks_pending -= 1
                    self._delivered.notify_all()

    def wait_for_callbacks(self, timeout: float = 30.0) -> bool:
        """Block until every queued callback has been delivered (answered or failed); False on timeout."""
        with self._delivered:
            return self._delivered.wait_for(lambda: self._callbacks_pending == 0, timeout=timeout)

    # -- v3 hooks ------------------------------------------------------------------------------------

    def _get_hooks(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            hooks = [copy.deepcopy(h) for h in self._hooks.values()]
        for name in ("scope", "destination"):
            if name in query:
                hooks = [h for h in hooks if h[name] == query[name][0]]
        if "is_active" in query:
            hooks = [h for h in hooks if h["is_active"] == (query["is_active"][0].lower() == "true")]
        return _v3_page(hooks, query)

    def _post_hook(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        fields = _hook_fields(body, creating=True)
        with self._lock:
            for hook in self._hooks.values():
                if hook["scope"] == fields["scope"] and hook["destination"] == fields["destination"]:
                    raise _ApiError(422, "A hook for this scope and destination already exists.")
            now = int(time.time())
            hook_id = self._take("hook")
            self._hooks[hook_id] = {
                "id": hook_id,
                "client_id": "demo-client",
                "store_hash": self.store_hash,
                "scope": fields["scope"],
                "destination": fields["destination"],
                "headers": fields.get("headers"),
                "is_active": fields.get("is_active", True),
                "created_at": now,
                "updated_at": now,
            }
            return 200, {"data": copy.deepcopy(self._hooks[hook_id]), "meta": {}}

    def _get_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            return 200, {"data": copy.deepcopy(self._require_hook(hook_id)), "meta": {}}

    def _put_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        fields = _hook_fields(body, creating=False)
        with self._lock:
            hook = self._require_hook(hook_id)
            hook.update(fields)
            hook["updated_at"] = int(time.time())
            return 200, {"data": copy.deepcopy(hook), "meta": {}}

    def _delete_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            hook = self._require_hook(hook_id)
            del self._hooks[hook_id]
            return 200, {"data": hook, "meta": {}}

    def _require_hook(self, hook_id: int) -> dict[str, Any]:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise _ApiError(404, "Hook not found.")
        return hook


def _hook_fields(body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _ApiError(400, "The request body must be a JSON object.")
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("scope", "destination"):
        if name in body or creating:
            value = body.get(name)
            if not isinstance(value, str) or not value:
                errors[name] = f"{name} is required and must be a string"
            else:
                fields[name] = value
    if "scope" in fields and not fields["scope"].startswith("store/"):
        errors["scope"] = "scope must start with store/"
    # BigCommerce insists on https:443; loopback http is accepted so tests can receive callbacks.
    if "destination" in fields and not re.match(r"https?://", fields["destination"]):
        errors["destination"] = "destination must be an http(s) URL"
    if "is_active" in body:
        if not isinstance(body["is_active"], bool):
            errors["is_active"] = "is_active must be a boolean"
        else:
            fields["is_active"] = body["is_active"]
    if "headers" in body:
        headers = body["headers"]
        if headers is not None and (
            not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
        ):
            errors["headers"] = "headers must map names to strings"
        else:
            fields["headers"] = headers
    if errors:
        raise _ApiError(422, "Input is invalid", errors)
    return fields
