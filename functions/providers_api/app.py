"""Providers API function: operations against the BigCommerce store (connection, webhooks, sync,
catalog items, shipments) and operations (health, the sweep on demand)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import health, http, providers, shipments, sync
from orderflow.observability import logger, tracer

app = http.resolver(providers.router, sync.router, shipments.router, health.router, admin=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
