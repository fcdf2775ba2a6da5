"""Configured providers: ``GET /providers/configured`` and ``GET|PUT|DELETE /providers/configured/{name}``.

A provider is set up once and steps name it (``params.provider``). Its secret is never sent here nor
shown: ``secret_ref`` says where the providers function reads it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderflow.api.dependencies import ConfiguredProviders, Flows
from orderflow.api.http import created
from orderflow.errors import Conflict, NotFound
from orderflow.flows.publishing import steps_naming_provider
from orderflow.fulfillment.providers import check_configured
from orderflow.models.provider import ConfiguredProvider, ProviderRole, ProviderSettings
from orderflow.observability import logger

router = APIGatewayHttpRouter()
PROVIDER_BODY = Body(
    description='e.g. {"role": "fulfillment", "kind": "https", "target": "https://3pl.example.com/orders", '
    '"secret_ref": "ACME_3PL_SECRET", "timeout_seconds": 10, "attempts": 4}; or {"role": "accounting", '
    '"kind": "sqs", "target": "https://sqs.us-east-1.amazonaws.com/123456789012/accounting"}'
)


def render(provider: ConfiguredProvider) -> dict[str, Any]:
    return provider.model_dump(mode="json")


@router.get(
    "/providers/configured",
    summary="The configured providers (fulfillment, invoice, accounting, returns), by name",
    tags=["providers"],
)
def list_configured(
    role: Annotated[ProviderRole | None, Query(description="only the providers of this role")] = None,
    *,
    providers: ConfiguredProviders,
) -> dict[str, Any]:
    return {"providers": [render(p) for p in providers.all() if role is None or p.role == role]}


@router.get("/providers/configured/<name>", summary="One configured provider", tags=["providers"])
def get_configured(name: str, providers: ConfiguredProviders) -> dict[str, Any]:
    return render(_existing(providers, name))


@router.put(
    "/providers/configured/<name>",
    summary="Configure a provider under a name steps use as params.provider (creates or replaces it)",
    description="201 when the name is new, 200 when it replaced the provider of that name. A step naming "
    "it may still override `url`, `timeout_seconds` and `attempts` in its params. The secret stays where "
    "`secret_ref` names it: only the reference is kept and shown.",
    tags=["providers"],
)
def put_configured(
    name: str, body: Annotated[ProviderSettings, PROVIDER_BODY], providers: ConfiguredProviders
) -> Any:
    saved, is_new = providers.save(check_configured(name, body))
    # The target may carry a provider's own path or query: name, kind and role say enough here.
    logger.info(
        "provider configured",
        extra={"provider": saved.name, "kind": saved.kind, "role": saved.role, "new": is_new},
    )
    return created(render(saved)) if is_new else render(saved)


@router.delete("/providers/configured/<name>", summary="Forget a configured provider", tags=["providers"])
def delete_configured(name: str, providers: ConfiguredProviders, flows: Flows) -> dict[str, Any]:
    named = steps_naming_provider(name, flows)
    if named:
        raise Conflict(
            f"provider '{name[:64]}' is named by published flows ({', '.join(named[:10])}); unpublish them "
            "or change their steps first",
            field="name",
        )
    if not providers.delete(name):
        raise _not_found(name)
    logger.info("provider removed", extra={"provider": name})
    return {"deleted": name}


def _existing(providers: ConfiguredProviders, name: str) -> ConfiguredProvider:
    found = providers.find(name)
    if found is None:
        raise _not_found(name)
    return found


def _not_found(name: str) -> NotFound:
    return NotFound(f"no provider named '{name[:64]}' is configured", field="name")
