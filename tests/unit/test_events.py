"""The samples in events/ are what the code really produces and accepts (users invoke with them)."""

from __future__ import annotations

import json

import pytest

from orderflow.connector.webhooks import parse_webhook
from orderflow.models.event import is_known
from orderflow.models.order import FlowRef
from orderflow.models.policy import parse_policy
from orderflow.models.step import StepRequest
from orderflow.orders.executions import INTAKE, execution_input
from tests.conftest import EVENTS, load_event

STEP_EVENTS = sorted(p.name for p in EVENTS.glob("step_*.json"))


@pytest.mark.parametrize("name", STEP_EVENTS)
def test_every_step_sample_is_a_valid_step_request(name: str) -> None:
    request = StepRequest.model_validate(load_event(name))
    for policy in [*request.filter_policies, *request.execution_policies]:
        parse_policy(policy)  # embedded policies are full definitions, as publishing embeds them
    # events come from the catalogue, and a step listing them gets the execution's event with them
    assert all(is_known(event) for event in request.input_events)
    assert (request.event is not None) == bool(request.input_events)


def test_the_execution_inputs_are_what_the_webhook_and_router_start_with() -> None:
    assert load_event("intake_execution_input.json") == execution_input(
        "abc123xyz", 250, INTAKE, "store/order/created"
    )
    flow = FlowRef(id="default-order-flow", version=1, name="Default order flow")
    assert load_event("flow_execution_input.json") == execution_input(
        "abc123xyz", 250, flow, "store/order/created"
    )


def test_the_webhook_sample_is_an_api_gateway_event_carrying_a_bigcommerce_webhook() -> None:
    event = load_event("webhook_order_created.json")
    assert event["version"] == "2.0" and event["routeKey"] == "POST /webhooks/bigcommerce"
    assert parse_webhook(event["body"]).scope == "store/order/created"
    assert "x-webhook-secret" in event["headers"]


def test_no_sample_carries_a_real_looking_secret() -> None:
    for path in EVENTS.glob("*.json"):
        text = path.read_text()
        for value in (
            json.loads(text).get("Parameters", {}).values() if path.name == "env.example.json" else []
        ):
            assert not any(word in value.lower() for word in ("secret", "token")) or value.startswith(
                "replace-with-"
            )
        assert "replace-with-your-webhook-secret" in text or "x-webhook-secret" not in text
