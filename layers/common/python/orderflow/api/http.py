"""The HTTP contract in one place: JSON errors ``{"error": {code, message, field}}``, admin auth."""

from __future__ import annotations

import hmac
import os
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.errors import DomainError, Unauthorized
from orderflow.observability import logger

API_TITLE = "Order orchestration for BigCommerce"
API_VERSION = "1.0.0"


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"error": {"code": code, "message": message, "field": field}},
    )


def resolver(*routers: APIGatewayHttpRouter, admin: bool) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)
    if admin:
        app.use(middlewares=[_require_admin_token])

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


def _require_admin_token(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    # On AWS the admin routes sit behind IAM auth (template.yaml); locally, and wherever
    # ADMIN_API_TOKEN is set, a bearer token is required too.
    expected = os.environ.get("ADMIN_API_TOKEN")
    if expected:
        header = app.current_event.headers.get("authorization") or ""
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            exc = Unauthorized(
                "missing or wrong bearer token (Authorization: Bearer …)", field="Authorization"
            )
            return error_response(exc.status, exc.code, exc.message, exc.field)
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
