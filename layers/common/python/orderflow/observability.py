"""Logger and metrics shared by every function (Powertools): JSON logs, EMF metrics.

Logs carry the order key as correlation id and never customer PII: log keys, counts and statuses,
not order payloads.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="orderflow")
metrics = Metrics(namespace="OrderFlow", service="orderflow")
