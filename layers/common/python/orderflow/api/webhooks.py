"""``POST /webhooks/bigcommerce``: the store's callbacks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config, intake
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()


@router.post("/webhooks/bigcommerce", summary="BigCommerce webhook callback", tags=["webhooks"])
def receive_webhook() -> dict[str, Any]:
    event = router.current_event
    intake.authenticate(dict(event.headers), config.secret("WEBHOOK_SECRET"))
    payload = intake.parse_webhook(event.decoded_body)
    result = intake.accept(
        payload,
        store_hash=config.store_hash(),
        intake_state_machine_arn=config.env("ORDER_INTAKE_STATE_MACHINE_ARN"),
        ledger=tables.deliveries(),
        starter=ExecutionStarter(),
        orders=tables.orders(),
        settings=tables.settings(),
        flows=tables.flows(),
    )
    return result.to_body()
