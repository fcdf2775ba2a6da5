"""The store's webhooks for this deployment: which hooks the four scopes need (a pure plan from the
hooks the store has now), then the few ``POST``/``PUT /v3/hooks`` calls that carry it out."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.errors import InvalidInput
from orderflow.observability import logger

SCOPES = (
    "store/order/created",
    "store/order/statusUpdated",
    "store/order/updated",
    "store/shipment/created",
    "store/order/refund/created",
)
SECRET_HEADER = "X-Webhook-Secret"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Action = Literal["created", "updated", "reactivated", "unchanged"]


def is_loopback_url(url: str) -> bool:
    try:
        return urlsplit(url).hostname in LOOPBACK_HOSTS
    except ValueError:
        return False


def validate_destination(destination: str, *, allow_loopback_http: bool = False) -> str:
    """The callback URL BigCommerce will POST to: https on port 443 (all BigCommerce delivers to).
    ``allow_loopback_http`` is for a loopback store, which can reach ``http://127.0.0.1`` as nothing
    else can."""
    url = destination.strip()
    if not url:
        raise InvalidInput("destination: required, e.g. https://…/webhooks/bigcommerce", field="destination")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise InvalidInput("destination: not a URL", field="destination") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidInput("destination: must be an https:// URL with a host", field="destination")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "destination: must not carry credentials; the X-Webhook-Secret header authenticates callbacks",
            field="destination",
        )
    if scheme == "http":
        if host in LOOPBACK_HOSTS and allow_loopback_http:
            return url
        raise InvalidInput(
            "destination: must be https (http is accepted only for 127.0.0.1/localhost with a local store)",
            field="destination",
        )
    if port not in (None, 443):
        raise InvalidInput("destination: BigCommerce delivers to port 443 only", field="destination")
    return url


@dataclass(frozen=True)
class HookPlan:
    """What one scope needs: ``body`` is what to send (None when nothing), and holds the secret, so it
    stays out of ``repr`` and of :meth:`to_dict`."""

    scope: str
    action: Action
    hook_id: int | None
    changes: tuple[str, ...] = ()
    body: dict[str, Any] | None = field(default=None, repr=False)
    others: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "action": self.action,
            "hook_id": self.hook_id,
            "changes": list(self.changes),
            "other_hook_ids": list(self.others),
        }


def plan(current: list[dict[str, Any]], destination: str, secret: str) -> list[HookPlan]:
    """Per scope: keep the hook already at ``destination`` (reactivated and given the secret when it
    needs them), else move the scope's oldest hook there, else create one. Further hooks on a scope are
    left alone and named in ``others``; a plan made from the result of applying one is all unchanged."""
    # A hook without an id could not be updated; BigCommerce always gives one.
    known = sorted((h for h in current if _optional_id(h) is not None), key=_hook_id)
    plans: list[HookPlan] = []
    for scope in SCOPES:
        same_scope = [h for h in known if h.get("scope") == scope]
        at_destination = [h for h in same_scope if h.get("destination") == destination]
        # BigCommerce allows one hook per scope and destination, so at most one is ours already.
        target = (at_destination or same_scope)[0] if same_scope else None
        others = tuple(_hook_id(h) for h in same_scope if h is not target)
        if target is None:
            body = {
                "scope": scope,
                "destination": destination,
                "is_active": True,
                "headers": {SECRET_HEADER: secret},
            }
            plans.append(HookPlan(scope, "created", None, ("destination", "headers", "is_active"), body))
            continue
        changes: list[str] = []
        if target.get("destination") != destination:
            changes.append("destination")
        if not _has_secret(target.get("headers"), secret):
            changes.append("headers")
        # A hook BigCommerce deactivated after failed deliveries says is_active false; absent is active.
        if target.get("is_active") is False:
            changes.append("is_active")
        if not changes:
            plans.append(HookPlan(scope, "unchanged", _hook_id(target), others=others))
            continue
        body = {"destination": destination, "is_active": True, "headers": _with_secret(target, secret)}
        action: Action = "reactivated" if "is_active" in changes else "updated"
        plans.append(HookPlan(scope, action, _hook_id(target), tuple(changes), body, others))
    return plans


def apply(client: BigCommerceClient, plans: list[HookPlan]) -> list[HookPlan]:
    """Carry out each plan in turn; the created hooks get their ids. A failure part-way leaves the
    rest for the next run, which plans from what the store then has."""
    done: list[HookPlan] = []
    for step in plans:
        body = step.body
        if body is None:
            done.append(step)
            continue
        if step.hook_id is None:
            step = replace(step, hook_id=_optional_id(client.create_hook(body)))
        else:
            client.update_hook(step.hook_id, body)
        logger.info(
            "webhook %s",
            step.action,
            extra={"scope": step.scope, "hook_id": step.hook_id, "changes": step.changes},
        )
        done.append(step)
    return done


def register(client: BigCommerceClient, destination: str, secret: str) -> dict[str, Any]:
    """Make the four scopes' hooks point at ``destination`` with the secret header, active; idempotent."""
    done = apply(client, plan(client.list_hooks(), destination, secret))
    counts = {action: 0 for action in ("created", "updated", "reactivated", "unchanged")}
    for step in done:
        counts[step.action] += 1
    return {"destination": destination, "hooks": [step.to_dict() for step in done], "counts": counts}


def describe(current: list[dict[str, Any]], secret: str) -> dict[str, Any]:
    """The hooks as an operator needs them: ``secret`` says whether the header matches ours
    (``matches``, ``differs``, ``missing``) without showing it."""
    hooks = [
        {
            "id": _optional_id(hook),
            "scope": hook.get("scope"),
            "destination": hook.get("destination"),
            "is_active": hook.get("is_active") is not False,
            "secret": _secret_state(hook.get("headers"), secret),
            "ours": hook.get("scope") in SCOPES,
            "created_at": hook.get("created_at"),
            "updated_at": hook.get("updated_at"),
        }
        for hook in sorted(current, key=_hook_id)
    ]
    covered = {h["scope"] for h in hooks if h["is_active"] and h["secret"] == "matches"}
    # A scope without an active hook carrying our secret is one whose orders would not reach us.
    return {"hooks": hooks, "scopes_missing": [scope for scope in SCOPES if scope not in covered]}


def _secret_value(headers: Any) -> str | None:
    if not isinstance(headers, dict):
        return None
    # Header names are case-insensitive on the wire, so a lower-cased name set by hand still works.
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == SECRET_HEADER.lower() and isinstance(value, str):
            return value
    return None


def _has_secret(headers: Any, secret: str) -> bool:
    value = _secret_value(headers)
    return value is not None and hmac.compare_digest(value.encode(), secret.encode())


def _secret_state(headers: Any, secret: str) -> str:
    if _secret_value(headers) is None:
        return "missing"
    return "matches" if _has_secret(headers, secret) else "differs"


def _with_secret(hook: dict[str, Any], secret: str) -> dict[str, str]:
    """The hook's headers with ours set; headers someone else added stay."""
    headers = hook.get("headers") if isinstance(hook.get("headers"), dict) else {}
    kept = {
        str(name): str(value)
        for name, value in (headers or {}).items()
        if str(name).lower() != SECRET_HEADER.lower()
    }
    return {**kept, SECRET_HEADER: secret}


def _optional_id(hook: dict[str, Any]) -> int | None:
    value = hook.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hook_id(hook: dict[str, Any]) -> int:
    # Hooks without an id sort last and can still be compared.
    value = _optional_id(hook)
    return value if value is not None else 2**63


ORDER_CREATED = "store/order/created"

ORDER_UPDATED = "store/order/updated"

ORDER_STATUS_UPDATED = "store/order/statusUpdated"

SHIPMENT_CREATED = "store/shipment/created"

REFUND_CREATED = "store/order/refund/created"
