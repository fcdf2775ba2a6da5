"""Shipments: ``POST /orders/{order_key}/shipments`` records a shipment, creates it in BigCommerce and
moves the order to Partially Shipped or Shipped (see orderflow/shipments/shipping.py)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import Flows, Orders, Settings, Shipments
from orderflow.bigcommerce import connection
from orderflow.orders.events import emitter
from orderflow.shipments import shipping as shipments
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
# shipments.ship reads the body itself, so that a refusal lists every problem at once, those of the
# request's shape (ShipmentRequest) with those only the order can tell (over-shipping, unknown lines).
# The body is taken as an object here; the document shows ShipmentRequest's schema (openapi.BODY_MODELS).
SHIPMENT_BODY = Body(
    description='e.g. {"shipment_id": "WH1-000123", "items": [{"line_number": 1, "quantity": 1}, '
    '{"sku": "SCW", "quantity": 2}], "tracking_number": "1Z999AA10123456784", "carrier": "ups", '
    '"tracking_link": "https://example.com/track/1Z999AA10123456784", "comments": "left dock 3"}. '
    "Each item names an order line by line_number or by sku (when one line has it). carrier is a "
    "BigCommerce shipping_provider: '', auspost, canadapost, endicia, usps, fedex, royalmail, ups, "
    "upsready, shipperhq or carrier_{id}. tracking_number is at most 50 characters."
)


@router.post(
    "/orders/<order_key>/shipments",
    summary="Ship order lines: record the shipment, create it in BigCommerce, move the order's status",
    description="201 with the shipment (its BigCommerce shipment ids, one per order address, and the "
    "order's status after it). Send your own `shipment_id` to make retries safe: the same request again "
    "answers the same shipment (200) and never ships twice. 400 names every item that cannot ship "
    "(over-shipping included); 409 when another shipment took the units meanwhile or the shipment_id "
    "was used for other contents; 502 when BigCommerce refused it (kept as `failed`, its quantities "
    "released); 503 with Retry-After when BigCommerce's answer was lost: repeat the same request.",
    tags=["orders"],
)
def create_shipment(
    order_key: str,
    body: Annotated[dict[str, Any], SHIPMENT_BODY],
    orders: Orders,
    recorded: Shipments,
    settings: Settings,
    flows: Flows,
) -> tuple[Any, int]:
    result = shipments.ship(
        order_key,
        body,
        orders=orders,
        shipments=recorded,
        config=settings.bigcommerce(),
        bigcommerce=connection.client(time_budget=connection.API_TIME_BUDGET),
        settle_seconds=_settle_seconds(),
        emit=emitter(order_key, orders=orders, flows=flows, starter=ExecutionStarter(), trigger="shipment"),
    )
    return shipments.render(result.shipment), 201 if result.created else 200


def _settle_seconds() -> float:
    # How long a POST whose answer was lost is given before the store is checked for it; tests shorten it.
    return float(os.environ.get("SHIPMENT_SETTLE_SECONDS") or shipments.DEFAULT_SETTLE_SECONDS)
