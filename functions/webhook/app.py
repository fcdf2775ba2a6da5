"""Webhook function: BigCommerce callbacks in, flow executions out (POST /webhooks/bigcommerce)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import http, webhooks
from orderflow.observability import logger, tracer

app = http.resolver(webhooks.router, admin=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
