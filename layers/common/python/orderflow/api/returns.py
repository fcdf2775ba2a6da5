"""Returns: ``POST /orders/{order_key}/returns`` requests a return of shipped quantities (an RMA) and
starts the return flows; ``GET /orders/{order_key}/returns`` and ``GET /returns/{return_id}`` show them."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import Flows, Orders, Returns, Shipments
from orderflow.errors import NotFound
from orderflow.returns.flows import return_flow_starter
from orderflow.returns.receiving import plausible_return_id, render
from orderflow.returns.requests import request_return
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
RETURN_BODY = Body(
    description='e.g. {"return_id": "RMA-1001", "lines": [{"line_number": 1, "quantity": 1, "reason": "damaged", '
    '"condition": "opened"}, {"sku": "SCW", "quantity": 2, "reason": "wrong size"}], "resolution": "refund", '
    '"note": "customer called"}. Each line names an order line by line_number or by sku (when one line has '
    "it). resolution: refund (default), exchange or store_credit. Without return_id one is made: "
    "<Import ID>-R<n>; send your own to make retries safe."
)


@router.post(
    "/orders/<order_key>/returns",
    summary="Request a return (RMA) of shipped order lines; starts the return flows",
    description="201 with the return (status requested) and the return flows it started. A line returns at most "
    "what shipped less what earlier returns took (checked in one transaction with the lines). The same "
    "return_id and body again answers the same return (200); the same return_id with other contents is a 409 "
    "naming return_id. 400 names the field (an unknown line or SKU); 404 for an unknown order; 409 naming "
    "lines[i].quantity when a line cannot return that many.",
    tags=["returns"],
)
def create_return(
    order_key: str,
    body: Annotated[dict[str, Any], RETURN_BODY],
    orders: Orders,
    shipments: Shipments,
    returns: Returns,
    flows: Flows,
) -> tuple[Any, int]:
    start = return_flow_starter(orders, flows, ExecutionStarter(), trigger="return requested")
    answer = request_return(order_key, body, orders=shipments, returns=returns, start_flows=start)
    rendered = render(answer.ret)
    rendered["executions"] = answer.executions
    return rendered, 201 if answer.created else 200


@router.get(
    "/orders/<order_key>/returns",
    summary="An order's returns, oldest first, with their statuses and quantities",
    description="404 for an unknown order.",
    tags=["returns"],
)
def list_returns(order_key: str, returns: Returns, orders: Orders) -> dict[str, Any]:
    found = returns.for_order(order_key)
    if not found and orders.find_header(order_key) is None:
        raise NotFound(f"order {order_key} does not exist", field="order_key")
    return {"returns": [render(ret) for ret in found]}


@router.get(
    "/returns/<return_id>",
    summary="One return: lines (asked, received, restocked, damaged, refunded), status, history, hold, refund",
    description="404 for an unknown return.",
    tags=["returns"],
)
def get_return(return_id: str, returns: Returns) -> dict[str, Any]:
    if not plausible_return_id(return_id):
        raise NotFound(f"return {return_id[:80]} does not exist", field="return_id")
    return render(returns.get(return_id))
