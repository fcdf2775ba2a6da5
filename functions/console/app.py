"""The operator console: its static files at ``/console/`` (index.html, scripts, styles, the diagram
library), and ``/console/config.json`` saying how operators sign in (the admin token locally, the
stack's Cognito user pool on AWS). Public like any web page: the files hold no data, and every call
they make to the admin API is signed."""

from __future__ import annotations

import base64
import gzip
import json
import mimetypes
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from orderflow.observability import logger

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/console"
# What the pages may load and call: only this origin, and on AWS the stack's hosted UI domain (its
# token endpoint) and the region's identity pool endpoint. Mermaid writes its diagrams' styles inline,
# hence 'unsafe-inline' for styles (never for scripts).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json",
          ".txt": "text/plain", ".svg": "image/svg+xml"}  # fmt: skip
_COMPRESS_ABOVE = 16 * 1024


def sign_in_config() -> dict[str, Any]:
    """How the console signs operators in: Cognito when the stack made a user pool (its parameter, or
    the CONSOLE_* variables), else the admin token."""
    client = os.environ.get("CONSOLE_USER_POOL_CLIENT_ID", "")
    if client:
        return {
            "mode": "cognito",
            "region": os.environ.get("AWS_REGION", ""),
            "user_pool_id": os.environ.get("CONSOLE_USER_POOL_ID", ""),
            "client_id": client,
            "domain": os.environ.get("CONSOLE_AUTH_DOMAIN", ""),
            "identity_pool_id": os.environ.get("CONSOLE_IDENTITY_POOL_ID", ""),
        }
    parameter = os.environ.get("CONSOLE_SIGN_IN_PARAMETER", "")
    stored = _stored_sign_in(parameter) if parameter else None
    return stored or {"mode": "token"}


def _stored_sign_in(name: str) -> dict[str, Any] | None:
    # Imported here: only config.json and the page pay for it, not every script and style.
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_parameter(name, transform="json", max_age=300)
    except parameters.exceptions.GetParameterError as exc:
        # The local runtime names the parameter (from the template) but has no user pool to store.
        if "ParameterNotFound" in str(exc):
            return None
        raise
    return dict(value) if isinstance(value, dict) else None


def content_security_policy(sign_in: dict[str, Any]) -> str:
    """The page's policy: it decides what the console's scripts may call, so Cognito's hosts only when
    operators sign in there."""
    connect = ["'self'"]
    if sign_in.get("mode") == "cognito":
        connect += [
            f"https://{sign_in['domain']}",
            f"https://cognito-identity.{sign_in['region']}.amazonaws.com",
        ]
    return CSP.format(connect=" ".join(connect))


@lru_cache(maxsize=64)
def _file(relative: str) -> tuple[bytes, str] | None:
    path = (STATIC / relative).resolve()
    if STATIC not in path.parents or not path.is_file():
        return None
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), content_type


def _answer(
    status: int, body: bytes, content_type: str, headers: dict[str, str], gzip_ok: bool
) -> dict[str, Any]:
    # Only a page's own policy governs what it may load and call: other files get the strictest.
    sign_in = sign_in_config() if content_type == "text/html" else {"mode": "token"}
    base = {
        "content-type": f"{content_type}; charset=utf-8"
        if content_type.startswith("text/")
        else content_type,
        "content-security-policy": content_security_policy(sign_in),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        **headers,
    }
    if gzip_ok and len(body) > _COMPRESS_ABOVE:
        body = gzip.compress(body, 6, mtime=0)
        base["content-encoding"] = "gzip"
        base["vary"] = "accept-encoding"
    return {
        "statusCode": status,
        "headers": base,
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = str(event.get("rawPath") or PREFIX)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    gzip_ok = "gzip" in headers.get("accept-encoding", "")
    if path == PREFIX:
        return {"statusCode": 301, "headers": {"location": f"{PREFIX}/index.html"}, "body": ""}
    relative = path[len(PREFIX) + 1 :] if path.startswith(f"{PREFIX}/") else ""
    if relative in ("", "index.html"):
        relative = "index.html"
    if relative == "config.json":
        body = json.dumps(sign_in_config()).encode()
        return _answer(200, body, "application/json", {"cache-control": "no-store"}, False)
    found = _file(relative) if ".." not in relative.split("/") else None
    logger.debug("console file", extra={"path": relative[:200], "found": found is not None})
    if found is None:
        return _answer(404, b"Not found", "text/plain", {"cache-control": "no-store"}, False)
    body, content_type = found
    # Versioned vendor files never change; the console's own files are checked on each load.
    cache = "public, max-age=31536000, immutable" if relative.startswith("vendor/") else "no-cache"
    return _answer(200, body, content_type, {"cache-control": cache}, gzip_ok)
