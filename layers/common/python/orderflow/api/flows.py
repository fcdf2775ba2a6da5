"""Flows: CRUD, ``publish`` / ``unpublish``, ``asl``, ``diagram`` and ``dry-run``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import Flows, Mappings, Orders, Returns, Settings, StateMachines
from orderflow.api.http import created
from orderflow.errors import InvalidInput
from orderflow.flows import diagram, dry_run, executions, publishing, resubmit
from orderflow.flows.asl import generate_asl, to_json
from orderflow.models.flow import FlowError
from orderflow.store.flows import FlowRecord

router = APIGatewayHttpRouter()
# A flow is a document the domain validates whole, structure and semantics (publishing.validate): every
# problem is listed with its path (steps[2].branches[1].steps[0].action), which a typed body would cut to
# Powertools' first error, with the tagged unions' tags in its path. The body is taken as an object here.
FLOW_BODY = Body(
    description="A flow definition: name, type (order_orchestration or return_orchestration), description, "
    "input_events, filter_policies, steps (actions and elements)"
)


def _validated(call: Any, *args: Any) -> FlowRecord:
    try:
        record: FlowRecord = call(*args)
    except FlowError as exc:
        raise InvalidInput.listing(exc.problems) from None
    return record


def render(record: FlowRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        **record.flow().model_dump(mode="json"),
        "created_on": record.created_on,
        "published_version": record.published_version,
        "versions": record.versions,
        "state_machine_arn": record.state_machine_arn,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


LISTED = ("id", "name", "type", "status", "version", "published_version", "created_on", "updated_at")


@router.get(
    "/flows", summary="Flows with their type, status, version, day created and last change", tags=["flows"]
)
def list_flows(repo: Flows) -> dict[str, Any]:
    flows = repo.all_flows()
    return {"flows": [{k: render(r)[k] for k in LISTED} for r in flows]}


@router.post("/flows", summary="Create a flow (validated whole; nothing stored when invalid)", tags=["flows"])
def create_flow(body: Annotated[dict[str, Any], FLOW_BODY], repo: Flows) -> tuple[Any, int]:
    return created(render(_validated(publishing.create_flow, body, repo)))


@router.get("/flows/<flow_id>", summary="A flow's definition, status and versions", tags=["flows"])
def get_flow(flow_id: str, repo: Flows) -> dict[str, Any]:
    return render(repo.get(flow_id))


@router.put(
    "/flows/<flow_id>",
    summary="Replace an unpublished flow's definition (409 when published)",
    tags=["flows"],
)
def put_flow(flow_id: str, body: Annotated[dict[str, Any], FLOW_BODY], repo: Flows) -> dict[str, Any]:
    return render(_validated(publishing.replace_flow, flow_id, body, repo))


@router.delete("/flows/<flow_id>", summary="Delete an unpublished flow (409 when published)", tags=["flows"])
def delete_flow(flow_id: str, repo: Flows) -> dict[str, Any]:
    repo.delete(flow_id)
    return {"deleted": flow_id}


@router.post("/flows/<flow_id>/publish", summary="Publish as a new immutable version", tags=["flows"])
def publish_flow(flow_id: str, repo: Flows, machines: StateMachines) -> dict[str, Any]:
    record = _validated(publishing.publish_flow, flow_id, repo, machines, publishing.function_substitutions())
    return render(record)


@router.post("/flows/<flow_id>/unpublish", summary="Stop new orders reaching the flow", tags=["flows"])
def unpublish_flow(flow_id: str, repo: Flows) -> dict[str, Any]:
    return render(repo.unpublish(flow_id))


@router.get(
    "/flows/<flow_id>/asl",
    summary="The generated state machine (ASL)",
    tags=["flows"],
    responses={
        200: {
            "description": "The Amazon States Language document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def get_asl(
    flow_id: str,
    version: Annotated[int | None, Query(ge=1, description="a published version")] = None,
    *,
    repo: Flows,
) -> Response[str]:
    if version is not None:
        text = repo.version(flow_id, version).asl
    else:
        flow = repo.get(flow_id).flow()
        text = to_json(generate_asl(flow, publishing.used_policies(flow, publishing.policies_by_name(repo))))
    return Response(status_code=200, content_type="application/json", body=text)


@router.get(
    "/flows/<flow_id>/diagram",
    summary="A Mermaid flowchart of the flow",
    tags=["flows"],
    responses={
        200: {
            "description": "The flowchart: Mermaid, or Markdown around it",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def get_diagram(
    flow_id: str,
    format: Annotated[
        str, Query(pattern="^(mermaid|markdown)$", description="mermaid (default) or markdown")
    ] = "mermaid",
    *,
    repo: Flows,
) -> Response[str]:
    flow = repo.get(flow_id).flow()
    text = diagram.to_markdown(flow) if format == "markdown" else diagram.to_mermaid(flow)
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=text)


@router.post(
    "/flows/<flow_id>/dry-run",
    summary="Run a sample order (a return flow: a sample return) through the flow's logic: where each path "
    "stops, and why; nothing is written",
    description="A return flow dry-runs a return of the order: a return request (its lines, reasons, resolution, "
    "and days_since_shipment for the return policies) or a stored return by return_id, whose stored order is "
    "used when the body gives none. 400 naming return when a return flow is given none, and naming event when "
    "the event is of the other kind of flow; 404 for an unknown stored return.",
    tags=["flows"],
)
def dry_run_flow(
    flow_id: str,
    # Two shapes of order (a BigCommerce v2 order, or one as GET /orders/{key} answers it), which the
    # dry run tells apart and reads itself: the body is taken as an object.
    body: Annotated[
        dict[str, Any],
        Body(
            description='{"order": <a BigCommerce v2 order with its products and shipping_addresses>, '
            '"event": <the event it runs on, default new_order (a return flow: return_requested)>, '
            '"return": <a return flow\'s return: {"lines": [{"line_number" or "sku", "quantity", "reason", '
            '"condition"?}], "resolution"?, "days_since_shipment"?} or {"return_id": <a stored return>}>}'
        ),
    ],
    repo: Flows,
    settings_repo: Settings,
    mappings: Mappings,
    orders: Orders,
    returns: Returns,
) -> dict[str, Any]:
    flow = repo.get(flow_id).flow()
    settings = settings_repo.bigcommerce()
    event = dry_run.sample_event(body, flow)
    if flow.is_return_flow:
        order, ret = dry_run.sample_return(body, event, settings, mappings.resolve, orders, returns)
    else:
        order, ret = dry_run.sample_order(body, settings, mappings.resolve), None
    result = dry_run.dry_run(flow, publishing.policies_by_name(repo), order, settings, event, ret)
    answer: dict[str, Any] = {"flow_id": flow.id, "version": flow.version, "order_key": order.order_key}
    if result.ret is not None:
        answer["return"] = dry_run.return_fields(result.ret)
    return {**answer, **result.summary(), "steps": result.steps}


@router.get(
    "/orders/<order_key>/executions",
    summary="The order's executions: flow, version, and where to see each in the Step Functions console",
    description="One entry per execution that recorded a step result, in the order they started: its "
    "`name`, `flow_id`, `flow_name`, `flow_version`, `execution_arn` (from the state machine the flow "
    "version is published as; the local runtime's ARNs locally), `console_url` (the AWS console's page "
    "of that execution), and its steps' count and last status. 404 for an unknown order.",
    tags=["orders"],
)
def list_order_executions(order_key: str, orders: Orders, repo: Flows) -> dict[str, Any]:
    steps = orders.step_results(order_key)
    if not steps:
        orders.get(order_key)  # 404 when the order does not exist at all
    found = executions.of_order(steps, repo, resubmit.StackMachines.from_env())
    return {"order_key": order_key, "executions": [e.to_dict() for e in found]}
