"""Logger, metrics and tracer shared by every function (Powertools): JSON logs, EMF metrics, X-Ray.

Logs carry the order key as correlation id and never customer PII: log keys, counts and statuses,
not order payloads.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="orderflow")
metrics = Metrics(namespace="OrderFlow", service="orderflow")
# Off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is set (the local runtime, tests); on AWS
# it follows the stack's Tracing parameter. Traces carry the order key as an annotation, so an
# operator finds one order's path across API Gateway, the functions and Step Functions.
tracer = Tracer(service="orderflow")


def trace_order(order_key: str) -> None:
    """Annotate the current trace with the order it is about (searchable in X-Ray)."""
    tracer.put_annotation(key="order_key", value=order_key)
