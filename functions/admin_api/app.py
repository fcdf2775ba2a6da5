"""Admin API function: orders (and orders posted by their sources), their returns, order sources, mappings,
customers, settings, configured providers and the OpenAPI document."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import (
    configured_providers,
    customers,
    fulfillment_sources,
    http,
    mappings,
    openapi,
    order_intake,
    order_sources,
    orders,
    returns,
    settings,
)
from orderflow.observability import logger, tracer

app = http.resolver(
    order_intake.router,
    orders.router,
    returns.router,
    order_sources.router,
    mappings.router,
    customers.router,
    settings.router,
    fulfillment_sources.router,
    configured_providers.router,
    openapi.router,
    admin=True,
)
# POST /orders from a source's own sender: its X-Source-Secret, checked first, stands for the admin token.
from_sources = http.resolver(order_intake.router, admin=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    if order_intake.sent_by_a_source(event):
        return order_intake.source_refusal(event) or from_sources.resolve(event, context)
    return app.resolve(event, context)
