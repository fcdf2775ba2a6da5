"""``POST /webhooks/bigcommerce``: the store's callbacks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config, inbound
from orderflow.api.dependencies import Deliveries, Flows, Orders, Settings, Shipments
from orderflow.bigcommerce import connection
from orderflow.bigcommerce.client import BigCommerceClient
from orderflow.connector import webhooks
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
# Each call to the store made while a webhook waits (a shipment's read, a status push) gives up in
# time for the function (10 s) to answer 503, so BigCommerce retries rather than counting a timeout.
STORE_TIME_BUDGET = 4.0


@router.post("/webhooks/bigcommerce", summary="BigCommerce webhook callback", tags=["webhooks"])
def receive_webhook(
    orders: Orders, ledger: Deliveries, settings: Settings, flows: Flows, shipments: Shipments
) -> dict[str, Any]:
    event = router.current_event
    # The secret first: nothing of the body is read (decoded, parsed) for a caller without it.
    inbound.authenticate(dict(event.headers or {}), config.secret("WEBHOOK_SECRET"))
    # Not event.decoded_body: it decodes as UTF-8 whatever came, and fails on what is not.
    payload = webhooks.parse_webhook(inbound.request_body(event.body, event.is_base64_encoded))
    result = webhooks.accept(
        payload,
        store_hash=config.store_hash(),
        intake_state_machine_arn=config.env("ORDER_INTAKE_STATE_MACHINE_ARN"),
        ledger=ledger,
        starter=ExecutionStarter(),
        orders=orders,
        settings=settings,
        flows=flows,
        shipments=shipments,
        bigcommerce=_store_client,
    )
    return result.to_body()


def _store_client() -> BigCommerceClient:
    # Only shipment webhooks read the store: order webhooks never fetch the access token.
    return connection.client(time_budget=STORE_TIME_BUDGET)
