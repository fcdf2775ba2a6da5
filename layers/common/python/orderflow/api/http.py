"""The HTTP contract in one place: JSON errors ``{"error": {code, message, field}}``, admin auth."""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

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
