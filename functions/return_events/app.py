"""Returns provider callbacks: ``POST /returns/{return_id}/events``."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import http, return_events
from orderflow.observability import logger, tracer

# Not an admin route: the provider's secret (X-Provider-Secret) authenticates it.
app = http.resolver(return_events.router, admin=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
