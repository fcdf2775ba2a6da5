"""A BigCommerce-shaped store over real HTTP on 127.0.0.1 for the demo, `make serve` and the tests."""

from orderflow_local.demo_store.base import Fault, RecordedRequest, WebhookDelivery
from orderflow_local.demo_store.server import DemoStore

__all__ = ["DemoStore", "Fault", "RecordedRequest", "WebhookDelivery"]
