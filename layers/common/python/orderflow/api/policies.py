"""Policies: CRUD, ``publish`` / ``unpublish``. Flows name them; a published flow keeps a copy."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import Flows
from orderflow.api.http import created
from orderflow.errors import Conflict, InvalidInput
from orderflow.flows import publishing
from orderflow.models.flow import policy_references
from orderflow.models.policy import Policy, PolicyError, parse_policy
from orderflow.store.flows import FlowRepository, PolicyRecord

router = APIGatewayHttpRouter()
# A policy is a document the domain validates whole (parse_policy): every problem is listed with its path
# (rules[1].rules[0].field), which a typed body would cut to Powertools' first error. The body is taken
# as an object here; the document shows Policy's schema (openapi.BODY_MODELS).
POLICY_BODY = Body(
    description='e.g. {"name": "Filter Policy - BigCommerce", "kind": "filter", "applies_to": "order", '
    '"rules": [{"field": "provider", "operator": "equals", "value": "BigCommerce"}]}'
)


def _parse(body: Any) -> Policy:
    try:
        return parse_policy({**body, "status": "draft"} if isinstance(body, dict) else body)
    except PolicyError as exc:
        raise InvalidInput.listing(exc.problems) from None


def _definition(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(mode="json", exclude={"status"})


def render(record: PolicyRecord) -> dict[str, Any]:
    policy = publishing.to_policy(record)
    return {
        "id": record.id,
        **policy.model_dump(mode="json"),
        "summary": policy.describe(),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _refuse_while_used(repo: FlowRepository, policy: PolicyRecord) -> None:
    """A policy a published flow names stays (the flow keeps a copy, but republishing needs it)."""
    name = policy.definition["name"]
    users = [
        f"{record.id} v{record.published_version}"
        for record in repo.all_flows()
        if record.status == "published" and any(n == name for _, _, n in policy_references(record.flow()))
    ]
    if users:
        raise Conflict(f"published flows use policy '{name}': {', '.join(users)}", field="policy_id")


@router.get("/policies", summary="Filter and execution policies", tags=["policies"])
def list_policies(repo: Flows) -> dict[str, Any]:
    return {"policies": [render(r) for r in repo.policies()]}


@router.post("/policies", summary="Create a policy (a draft until published)", tags=["policies"])
def create_policy(body: Annotated[dict[str, Any], POLICY_BODY], repo: Flows) -> tuple[Any, int]:
    policy = _parse(body)
    return created(render(repo.create_policy(policy.id, _definition(policy))))


@router.get("/policies/<policy_id>", summary="One policy", tags=["policies"])
def get_policy(policy_id: str, repo: Flows) -> dict[str, Any]:
    return render(repo.policy(policy_id))


@router.put(
    "/policies/<policy_id>",
    summary="Change a policy; published flows keep the copy they were published with",
    tags=["policies"],
)
def put_policy(policy_id: str, body: Annotated[dict[str, Any], POLICY_BODY], repo: Flows) -> dict[str, Any]:
    current = repo.policy(policy_id)
    policy = _parse(body)
    if policy.id != policy_id:
        raise InvalidInput(
            f"the name '{policy.name}' would make this policy '{policy.id}', not '{policy_id}': create a new "
            "policy to rename it",
            field="name",
        )
    return render(repo.save_policy(current.model_copy(update={"definition": _definition(policy)})))


@router.delete("/policies/<policy_id>", summary="Delete a policy no published flow uses", tags=["policies"])
def delete_policy(policy_id: str, repo: Flows) -> dict[str, Any]:
    record = repo.policy(policy_id)
    _refuse_while_used(repo, record)
    repo.delete_policy(policy_id)
    return {"deleted": policy_id}


@router.post(
    "/policies/<policy_id>/publish", summary="Make a policy usable by published flows", tags=["policies"]
)
def publish_policy(policy_id: str, repo: Flows) -> dict[str, Any]:
    return render(repo.save_policy(repo.policy(policy_id).model_copy(update={"status": "published"})))


@router.post(
    "/policies/<policy_id>/unpublish", summary="Keep new flow versions from using a policy", tags=["policies"]
)
def unpublish_policy(policy_id: str, repo: Flows) -> dict[str, Any]:
    record = repo.policy(policy_id)
    _refuse_while_used(repo, record)
    return render(repo.save_policy(record.model_copy(update={"status": "draft"})))
