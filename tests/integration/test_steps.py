"""The step functions, invoked as the state machine invokes them (payloads from events/step_*.json)."""

from __future__ import annotations

import pytest
from orderflow.errors import TransientStepError
from orderflow.flows.model import parse_flow
from orderflow.local.demo_store import DemoStore, Fault
from orderflow.local.runtime import LocalRuntime
from orderflow.store import tables

from tests.conftest import Api, step_event
from tests.unit.test_flows import ELEMENT_FLOWS


def _import(runtime: LocalRuntime, store: DemoStore, order_id: int) -> dict:
    key = f"BC-{store.store_hash}-{order_id}"
    event = step_event(
        "step_import_order.json",
        order_key=key,
        order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
    )
    return runtime.invoke("ImportOrderFunction", event)


def test_importing_twice_asks_the_store_once(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    store.clear_requests()

    first = _import(runtime, store, order_id)
    second = _import(runtime, store, order_id)

    assert first == {"step": "Import order", "status": "succeeded", "succeeded": True,
                     "message": f"imported BC-{order_id}: 2 lines, 2 mapped"}  # fmt: skip
    assert second["succeeded"] and "already imported; nothing fetched" in second["message"]
    assert len(store.requests) == 1


def test_an_order_the_store_does_not_have_fails_the_import_and_says_why(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    with pytest.raises(Exception, match="BigCommerce answered 404") as caught:
        _import(runtime, store, 9999)
    assert type(caught.value).__name__ == "BigCommerceNotFound"  # not retried: it will not pass
    (result,) = tables.orders().step_results(f"BC-{store.store_hash}-9999")
    assert result.status == "failed" and "404" in result.message


def test_an_unreachable_store_is_a_transient_error_for_the_retrier(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    order_id = store.sample_order()
    store.inject("GET", rf"/v2/orders/{order_id}", *[Fault(503)] * 4)

    with pytest.raises(TransientStepError):
        _import(runtime, store, order_id)
    (result,) = tables.orders().step_results(f"BC-{store.store_hash}-{order_id}")
    assert result.status == "failed" and result.message.startswith("will retry:")


def test_validation_steps_answer_with_the_problems(runtime: LocalRuntime, store: DemoStore) -> None:
    order_id = store.add_order(lines=[{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"}])
    _import(runtime, store, order_id)  # no mappings at all
    key = f"BC-{store.store_hash}-{order_id}"

    header = runtime.invoke(
        "ValidateOrderFunction", step_event("step_validate_order_header.json", order_key=key)
    )
    lines = runtime.invoke(
        "ValidateOrderFunction", step_event("step_validate_order_line.json", order_key=key)
    )

    assert header["succeeded"] is True
    assert lines["succeeded"] is False and lines["status"] == "failed"
    assert "no product mapping for sku 'ABS'" in lines["message"] and "no unit mapping" in lines["message"]


def test_status_pushes_follow_the_settings(runtime: LocalRuntime, store: DemoStore, api: Api) -> None:
    api.seed_demo_mappings()
    order_id = store.sample_order()
    _import(runtime, store, order_id)
    key = f"BC-{store.store_hash}-{order_id}"

    # A status mapped to "not assigned" pushes nothing
    api.put("/settings/bigcommerce", {"status_mapping": {"validated": None}})
    unassigned = runtime.invoke(
        "StatusPushbackFunction", step_event("step_update_order_status.json", order_key=key)
    )
    # Pushing turned off pushes nothing either
    api.put("/settings/bigcommerce", {"status_mapping": {"on_hold": 12}, "push_enabled": False})
    held = runtime.invoke(
        "StatusPushbackFunction",
        step_event("step_update_order_status.json", order_key=key, params={"status": "on_hold"}, step="Hold"),
    )
    # A mapped status with pushing on is pushed
    api.put("/settings/bigcommerce", {"push_enabled": True, "status_mapping": {"validated": 9}})
    pushed = runtime.invoke(
        "StatusPushbackFunction", step_event("step_update_order_status.json", order_key=key)
    )

    assert "not assigned" in unassigned["message"] and "pushing to BigCommerce is off" in held["message"]
    assert "BigCommerce status set to 9 Awaiting Shipment" in pushed["message"]
    assert store.status_updates(order_id) == [9]
    history = [(h["status"]) for h in api.get(f"/orders/{key}").json()["history"]]
    assert history == ["validated", "on_hold", "validated"]


@pytest.mark.parametrize("name", list(ELEMENT_FLOWS))
def test_every_element_runs_on_the_step_functions_engine(
    runtime: LocalRuntime, store: DemoStore, api: Api, name: str
) -> None:
    # Given a flow using the element, deployed from its generated ASL, and an order with one unmapped SKU
    api.post("/mappings/units", {"unit": "ea", "external_field_name": "unit", "external_field_value": "each"})
    flow = parse_flow(ELEMENT_FLOWS[name])
    arn = runtime.deploy_flow(flow)
    order_id = store.add_order(lines=[{"sku": "NOPE", "name": "Unmapped", "quantity": 1, "price": "1.00"}])

    # When an order runs through it
    execution = runtime.wait_for_execution(runtime.start_order(arn, flow, store.store_hash, order_id))
    results = {
        r.step: r.status.value for r in tables.orders().step_results(f"BC-{store.store_hash}-{order_id}")
    }

    # Then it finished, and each step that ran left its result: header checks pass, line checks fail
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    expected = {
        "condition_merge": {"Import order": "succeeded", "Check header": "succeeded", "Check lines": "failed",
                            "Release": "succeeded"},
        "splitter": {"Import order": "succeeded", "Check header": "succeeded", "A1": "failed", "B1": "succeeded"},
        "splitter_merge nested two deep": {
            "Import order": "succeeded", "Test validation 1": "succeeded", "Lines 1": "failed",
            "Test validation 2": "succeeded", "After the split": "succeeded"},
    }[name]  # fmt: skip
    assert results == expected
