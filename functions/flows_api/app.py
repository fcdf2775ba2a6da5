"""Flows API function: flows (create, edit, publish, diagram, dry-run), policies, and resubmitting
failed orders (it starts executions of the flows it publishes)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow.api import flows, http, policies, resubmit
from orderflow.observability import logger, tracer

app = http.resolver(flows.router, policies.router, resubmit.router, admin=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
