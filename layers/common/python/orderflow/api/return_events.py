"""``POST /returns/{return_id}/events``: the returns provider's callbacks (in transit, received,
rejected). Authenticated by the provider's secret, not the admin token."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config, inbound
from orderflow.api.dependencies import ConfiguredProviders, Flows, Orders, Returns
from orderflow.fulfillment.providers import secret_by_reference
from orderflow.returns import receiving
from orderflow.returns.flows import return_flow_starter
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
EVENT_BODY = Body(
    description='e.g. {"event_id": "rcv-0001", "type": "received", "lines": [{"line_number": 1, "quantity": 1, '
    '"condition": "sellable"}], "source_id": "WH-EAST"}, {"event_id": "it-1", "type": "in_transit", '
    '"tracking_number": "1Z..."} or {"event_id": "rej-1", "type": "rejected", "message": "not ours"}. '
    "Send the X-Provider-Secret header."
)


@router.post(
    "/returns/<return_id>/events",
    summary="Returns provider callback: a return is in transit, received (per line: sellable or damaged), or rejected",
    description="200 with the return after the event and what was restocked. Each event applies once: the same "
    "event_id again answers the return as it is (applied: false). Sellable units go back into the receiving "
    "source's inventory; damaged ones are recorded, not restocked. A received event starts the return flows "
    "of return_received. 401 without the right X-Provider-Secret; 404 for an unknown return; 400 naming the "
    "field; 409 when the return cannot take the event (more received than asked back, a closed return).",
    tags=["returns"],
    enable_validation=False,  # the body is read after the secret is checked (see fulfillment_events)
)
def receive_return_event(
    return_id: str,
    body: Annotated[dict[str, Any] | None, EVENT_BODY] = None,  # documents the body; never filled
    *,
    returns: Returns,
    orders: Orders,
    flows: Flows,
    providers: ConfiguredProviders,
) -> dict[str, Any]:
    event = router.current_event
    expected = receiving.callback_secret(
        return_id,
        returns,
        providers,
        stack_secret=lambda: config.secret("PROVIDER_SECRET"),
        secret_of=secret_by_reference,
    )
    receiving.authenticate(dict(event.headers or {}), expected)
    return receiving.handle(
        return_id,
        inbound.request_body(event.body, event.is_base64_encoded),
        returns=returns,
        orders=orders,
        inventory_table=config.settings().need("fulfillment_table"),
        start_flows=return_flow_starter(orders, flows, ExecutionStarter(), trigger="return event"),
    )
