"""``POST /fulfillment/{fulfillment_order_id}/events``: fulfillment provider callbacks (shipped,
cancelled). Authenticated by the providers' shared secret, not the admin token."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config, inbound
from orderflow.api.dependencies import ConfiguredProviders, Flows, FulfillmentOrders, Orders, Settings
from orderflow.bigcommerce import connection
from orderflow.fulfillment import events
from orderflow.fulfillment.providers import secret_by_reference
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
EVENT_BODY = Body(
    description='e.g. {"event_id": "evt-0001", "type": "shipped", "lines": [{"line_number": 1, "quantity": 1}], '
    '"tracking_number": "1Z999AA10123456784", "carrier": "ups"} or {"type": "cancelled"}. Without lines, '
    "every line left to ship ships. carrier is a BigCommerce shipping_provider (ups, fedex, usps, … or "
    "carrier_{id}). Send the X-Provider-Secret header."
)


@router.post(
    "/fulfillment/<fulfillment_order_id>/events",
    summary="Fulfillment provider callback: a fulfillment order shipped (with tracking) or was cancelled",
    description="200 with what changed: the fulfillment order, the shipment created in BigCommerce, the "
    "order's status. The same event again (same event_id, or the same body without one) answers the same "
    "and changes nothing twice. 401 without the right X-Provider-Secret (the configured provider's own, "
    "when it has one; else the stack's); 404 for an unknown fulfillment "
    "order; 400 naming the field; 409 when it is already shipped or cancelled; 502/503 when BigCommerce "
    "refused or did not take the shipment (503: send the same event again after Retry-After).",
    tags=["fulfillment"],
    # The event handler's validation would read the body, before the secret is checked and in its own
    # way (a text/plain or multipart body raised there); the body is read here, after the secret.
    enable_validation=False,
)
def receive_event(
    fulfillment_order_id: str,
    body: Annotated[dict[str, Any] | None, EVENT_BODY] = None,  # documents the body; never filled
    *,
    fulfillment_orders: FulfillmentOrders,
    orders: Orders,
    settings: Settings,
    flows: Flows,
    providers: ConfiguredProviders,
) -> dict[str, Any]:
    event = router.current_event
    expected = events.callback_secret(
        fulfillment_order_id,
        orders_table=orders.table_name,
        providers=providers,
        stack_secret=lambda: config.secret("PROVIDER_SECRET"),
        secret_of=secret_by_reference,
    )
    events.authenticate(dict(event.headers or {}), expected)
    return events.handle(
        fulfillment_order_id,
        # Not event.decoded_body: it decodes as UTF-8 whatever came, and fails on what is not.
        inbound.request_body(event.body, event.is_base64_encoded),
        fulfillment_orders=fulfillment_orders,
        orders=orders,
        config=settings.bigcommerce(),
        bigcommerce=connection.client(time_budget=connection.API_TIME_BUDGET),
        flows=flows,
        starter=ExecutionStarter(),
    )
