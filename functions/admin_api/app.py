"""Admin API function: orders, mappings, customers, settings, configured providers and the OpenAPI
document."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import (
    configured_providers,
    customers,
    fulfillment_sources,
    http,
    mappings,
    openapi,
    orders,
    settings,
)
from orderflow.observability import logger, tracer

app = http.resolver(
    orders.router,
    mappings.router,
    customers.router,
    settings.router,
    fulfillment_sources.router,
    configured_providers.router,
    openapi.router,
    admin=True,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
