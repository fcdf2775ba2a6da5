"""The HTTP contract in one place: JSON errors ``{"error": {code, message, field}}``, admin auth."""

from __future__ import annotations

import hmac
import json
import math
import os
import types
import typing
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from orderflow.errors import DomainError
from orderflow.observability import logger

API_TITLE = "Order orchestration for BigCommerce"
API_VERSION = "1.0.0"


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"error": {"code": code, "message": message, "field": field}},
    )


class Resolver(APIGatewayHttpResolver):
    """The event handler, with the admin token checked before anything else is read: a request
    without it gets 401 whatever its query or body (validation would otherwise answer first)."""

    def __init__(self, *, admin: bool) -> None:
        super().__init__(enable_validation=True)
        self.admin = admin
        # Powertools' request validation, reading typed bodies strictly (see JsonBodyValidation).
        self._request_validation_middleware = JsonBodyValidation()

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if self.admin:
            refused = _admin_refusal(event)
            if refused is not None:
                return refused
        return super().resolve(event, context)


def resolver(*routers: APIGatewayHttpRouter, admin: bool) -> Resolver:
    app = Resolver(admin=admin)
    for router in routers:
        app.include_router(router)
    app.use(middlewares=[_decoded_path_parameters])

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response:
        # An error that passes (a store that did not answer) says when to ask again.
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response(
            status_code=exc.status, content_type="application/json", body=exc.to_body(), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ())]
        # ("body", "product") → "product"; ("query", "limit") → "limit"
        field = ".".join(loc[1:]) or (loc[0] if loc else None)
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return error_response(400, "invalid_input", message, field)

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        event = app.current_event
        return error_response(404, "not_found", f"no route for {event.http_method} {event.path}")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side; it was logged")

    return app


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with JSON bodies read strictly. Left to Powertools, a JSON list
    stands for its first element (``[null, null]`` for no body at all, ``[{...}]`` for the object), a
    body that is not UTF-8 raises (a 500), a form or multipart body is parsed as form fields, and a
    number DynamoDB cannot hold (``1e-320``, 39 digits, ``NaN``) reaches the store, which raises. Here
    each of those is a 400 naming the body, its Content-Type or the number's field."""

    def _get_body(self, app: Any) -> Any:
        event = app.current_event
        if not event.body:
            return None  # no body: the route's default, or "field required"
        content_type = (event.headers.get("content-type") or "").strip().lower()
        if content_type and not content_type.startswith("application/json"):
            raise _body_error("send the body as JSON (Content-Type: application/json)", "Content-Type")
        try:
            body = super()._get_body(app)
        except UnicodeDecodeError:
            raise _body_error("the body is not UTF-8 text") from None
        except ValueError:  # marked base64 but not base64; an integer of more than 4300 digits
            raise _body_error("the body is not valid JSON") from None
        except RecursionError:
            raise _body_error("the body is nested too deeply") from None
        if not isinstance(body, dict) and _takes_an_object(app.context.get("_route")):
            raise _body_error("must be a JSON object")
        unstorable = _unstorable_number(body)
        if unstorable is not None:
            where, number = unstorable
            if isinstance(number, float) and not math.isfinite(number):
                message = f"{number} is not a number JSON allows"
            else:
                shown = (
                    repr(number) if len(repr(number)) <= 40 else f"a number of {len(str(abs(number)))} digits"
                )
                message = (
                    f"{shown} is out of range: numbers have at most 38 digits and, unless 0, a magnitude "
                    "from 1e-130 to below 1e126"
                )
            raise _body_error(message, where, ("body", where))
        return body


def _body_error(
    message: str, field: str = "body", loc: tuple[str, ...] | None = None
) -> RequestValidationError:
    where = loc or (("body",) if field == "body" else ("header", field))
    return RequestValidationError([{"type": "invalid_body", "loc": where, "msg": message, "input": None}])


def _unstorable_number(body: Any) -> tuple[str, Any] | None:
    """The first number in the body DynamoDB cannot store (38 digits, magnitudes from 1e-130 to below
    1e126; no NaN or Infinity, which Python's JSON reads), with its path (``rules[0].value``)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif not _storable(value):
            return path or "body", value
    return None


def _storable(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    if isinstance(value, int):
        return len(str(abs(value))) <= 38
    return value == 0 or (math.isfinite(value) and 1e-130 <= abs(value) < 1e126)


def _takes_an_object(route: Any) -> bool:
    """Whether the route's JSON body is an object: several body parameters (each a field of it), or one
    typed as a model or a dict (optional or not)."""
    params = getattr(getattr(route, "dependant", None), "body_params", None) or []
    if len(params) != 1 or getattr(params[0].field_info, "embed", False):
        return bool(params)
    annotation = params[0].field_info.annotation
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = [a for a in (typing.get_args(annotation) if union else (annotation,)) if a is not type(None)]
    return bool(members) and all(_is_object_type(a) for a in members)


def _is_object_type(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return not getattr(annotation, "__pydantic_root_model__", False)
    return annotation is dict or typing.get_origin(annotation) is dict


def _admin_refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """401 unless the request carries ``Authorization: Bearer <ADMIN_API_TOKEN>`` exactly (no other
    spacing), where that token is set: locally. On AWS the admin routes sit behind IAM auth
    (template.yaml), which API Gateway checks before the function runs."""
    expected = os.environ.get("ADMIN_API_TOKEN")
    if not expected:
        return None
    headers = event.get("headers") or {}
    given = next((v for k, v in headers.items() if str(k).lower() == "authorization"), None)
    if isinstance(given, str) and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return None
    body = {
        "error": {
            "code": "unauthorized",
            "message": "missing or wrong bearer token (Authorization: Bearer …)",
            "field": "Authorization",
        }
    }
    return {
        "statusCode": 401,
        "headers": {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _decoded_path_parameters(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    # API Gateway hands path parameters over percent-encoded ("Accu%20Scale"): every route gets them
    # decoded, here, once.
    arguments = app.context.get("_route_args") or {}
    app.append_context(_route_args={k: unquote(v) if isinstance(v, str) else v for k, v in arguments.items()})
    return next_middleware(app)


def caller(raw_event: dict[str, Any]) -> str:
    """Who is calling an admin route, for the order's history: the IAM principal on AWS, else the
    admin token's holder."""
    context = raw_event.get("requestContext") or {}
    iam = ((context.get("authorizer") or {}).get("iam") or {}) if isinstance(context, dict) else {}
    principal = iam.get("userArn") or iam.get("userId") if isinstance(iam, dict) else None
    if principal:
        return str(principal)
    return "an operator (admin API token)" if os.environ.get("ADMIN_API_TOKEN") else "an operator (admin API)"


def created(body: Any) -> tuple[Any, int]:
    return body, 201
