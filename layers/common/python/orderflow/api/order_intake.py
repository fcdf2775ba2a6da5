"""``POST /orders``: an order from any source, posted by an operator or by the source itself.

An operator sends the admin credentials (IAM on AWS, the bearer token locally) and may enter manual
orders; a machine sender (an EDI translator, a marketplace connector) sends its source's secret in
``X-Source-Secret`` and posts only its own source's orders, never manual ones. A request carrying
``X-Source-Secret`` is a machine sender's, whatever else it carries: its secret is checked before
anything of it is read (:func:`source_refusal`), then it is served by a resolver of this route alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow import config
from orderflow.api import http
from orderflow.api.dependencies import Customers, Flows, Mappings, Orders, OrderSources, Settings
from orderflow.fulfillment.providers import secret_by_reference
from orderflow.orders import intake
from orderflow.orders.events import DefaultFlow, published_routes
from orderflow.store import tables
from orderflow.store.executions import ExecutionStarter

router = APIGatewayHttpRouter()
SOURCE_SECRET_HEADER = "x-source-secret"
ORDER_BODY = Body(
    description='e.g. {"source": "ORDERFUL", "external_id": "PO4500012345", "currency": "USD", "customer": '
    '{"email": "buyer@acme.example", "company": "Acme Scales"}, "ship_to": [{"first_name": "Jane", '
    '"street_1": "1 Main St", "city": "Austin", "state": "Texas", "zip": "78701", "country_iso2": "US"}], '
    '"lines": [{"sku": "ABS", "quantity": 2, "unit": "each", "unit_price": "45.00"}]}. Totals are computed '
    "from the lines when left out. An operator may set is_manual (default source MANUAL); a source's order "
    "is never manual. Send the admin credentials, or the source's secret in X-Source-Secret."
)


def sent_by_a_source(event: Mapping[str, Any]) -> bool:
    """A ``POST /orders`` carrying ``X-Source-Secret``: a machine sender's, checked by its secret."""
    context = event.get("requestContext") or {}
    method = ((context.get("http") or {}) if isinstance(context, dict) else {}).get("method")
    path = str(event.get("rawPath") or "").rstrip("/")
    return method == "POST" and path == "/orders" and _header(event, SOURCE_SECRET_HEADER) is not None


def source_refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """401 unless ``X-Source-Secret`` is the secret of a configured source; None to go on."""
    given = _header(event, SOURCE_SECRET_HEADER) or ""
    if given and intake.sources_for_secret(given, tables.order_sources().all(), secret_by_reference):
        return None
    body = {
        "error": {
            "code": "unauthorized",
            "message": "missing or wrong X-Source-Secret: it is not the secret of a configured source",
            "field": "X-Source-Secret",
        }
    }
    return {
        "statusCode": 401,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@router.post(
    "/orders",
    summary="Take an order from any source: validated, mapped, de-duplicated, routed to the flows",
    description="201 with the order, new; 200 with it when the same order (same source, external_id and "
    "contents) was posted before; 409 when another order was posted under that source and external_id. "
    "The order is keyed and imported as `<source code>-<external_id>` and mapped with the source's mapping "
    "group; values without a mapping keep it in `error` with `mapping_issues` (no flow starts; post it again "
    "once the mappings exist). A mapped order starts the published flows of `new_order` (`started`). "
    "Authenticated by the admin credentials (an operator) or by the source's secret in X-Source-Secret (401 "
    "when it is not the secret of the source, and nothing is stored). 400 names the field.",
    tags=["orders"],
)
def post_order(
    body: Annotated[dict[str, Any], ORDER_BODY],
    *,
    orders: Orders,
    mappings: Mappings,
    customers: Customers,
    settings: Settings,
    flows: Flows,
    sources: OrderSources,
) -> tuple[dict[str, Any], int]:
    event = router.current_event
    submission = intake.parse_submission(body)
    given = _header(event.raw_event, SOURCE_SECRET_HEADER)
    if given is None:
        sender = intake.Sender(operator=True, by=http.caller(event.raw_event))
    else:
        matched = intake.sources_for_secret(given, sources.all(), secret_by_reference)
        sender = intake.Sender(operator=False, sources=matched, by="its source")
    source = intake.source_of(submission, sender, intake.SourceDirectory(sources.find))
    taken = intake.take_order(
        submission,
        source,
        sender,
        store_hash=config.store_hash(),
        settings=settings.bigcommerce(),
        orders=orders,
        mappings=mappings,
        customers=customers,
        routes=lambda: published_routes(flows, DefaultFlow.from_env()),
        starter=ExecutionStarter(),
    )
    return render(taken), 201 if taken.created else 200


def render(taken: intake.Intake) -> dict[str, Any]:
    return {**taken.order.model_dump(mode="json"), "message": taken.message, "started": taken.started}


def _header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    found = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return found if isinstance(found, str) else None
