"""What every caller's request goes through before we read it: the shared secret, the body's size
and encoding, strict JSON."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from orderflow.errors import ConfigurationError, DomainError, InvalidInput, Unauthorized

SECRET_HEADER = "x-webhook-secret"

# Lambda refuses a larger request (6 MB) before it reaches us; the local API does the same.
MAX_BODY_BYTES = 6 * 1024 * 1024

# A webhook and a fulfillment event are three levels deep: a deeper document is neither, and each
# level costs the parser and the validators a stack frame.
MAX_JSON_DEPTH = 32

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class PayloadTooLarge(DomainError):
    """A body larger than a function can be given (Lambda's limit), refused unread."""

    status = 413
    code = "payload_too_large"


def authenticate(headers: Mapping[str, str], expected_secret: str, header: str = SECRET_HEADER) -> None:
    """The shared secret of a callback (``X-Webhook-Secret``; the providers' ``X-Provider-Secret``),
    checked before anything of the request is read."""
    if not expected_secret:
        # compare_digest("", "") holds: an empty secret would let every caller in.
        raise ConfigurationError(f"the secret for {header} is empty")
    given = next((v for k, v in headers.items() if k.lower() == header), None)
    # compare_digest takes the same time wherever the strings differ: no guessing by timing.
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected_secret.encode("utf-8", "surrogatepass")
    ):
        raise Unauthorized(f"missing or wrong {header} header", field=header)


def request_body(body: str | None, is_base64_encoded: bool | None) -> bytes:
    """The request's bytes as API Gateway passes them (base64 for binary content types); a base64
    body above Lambda's limit is refused before it is decoded (json_document checks the others)."""
    if not body:
        return b""
    if not is_base64_encoded:
        # API Gateway passes text as UTF-8; "surrogatepass" keeps what is not for json_document to refuse
        return body.encode("utf-8", "surrogatepass")
    if len(body) // 4 * 3 > MAX_BODY_BYTES:  # 4 characters of base64 for 3 bytes
        raise _too_large()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the request body is not valid base64", field="body") from None


def json_document(body: str | bytes | None, expected: str) -> Any:
    """The body parsed as JSON, or InvalidInput (field ``body``) for what is not JSON we can read:
    empty, larger than Lambda takes, not UTF-8, not JSON (NaN and Infinity are not), nested deeper
    than ``MAX_JSON_DEPTH``, or with a lone UTF-16 surrogate (nothing can store or send one)."""
    if body is not None and len(body) > MAX_BODY_BYTES:
        raise _too_large()
    if body is None or not body.strip():
        raise InvalidInput(f"the request body is empty; expected {expected} (JSON)", field="body")
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"the request body is not UTF-8 text (byte {exc.start}); expected {expected} (JSON)",
                field="body",
            ) from None
    try:
        document = json.loads(body, parse_constant=_not_json)
    except RecursionError:
        # the parser recurses once per level: a deep document ends here before the depth check
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of more than 4300 digits
        raise InvalidInput(f"the request body is not valid JSON: {exc}", field="body") from None
    _check_values(document)
    return document


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB", field="body"
    )


def _too_deep() -> InvalidInput:
    return InvalidInput(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels", field="body")


def _check_values(document: Any) -> None:
    # Iterative, so that the check itself cannot run out of stack.
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
            continue
        if isinstance(value, dict):
            for key in value:
                _check_text(key)
            value = list(value.values())
        if isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            pending.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if _LONE_SURROGATE.search(text):
        raise InvalidInput(
            "the request body has a lone UTF-16 surrogate (\\ud800-\\udfff) in a string", field="body"
        )
