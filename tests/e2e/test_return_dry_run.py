"""A return flow's dry run over the admin API: the sample return flow, a return request of a store's
order, where its paths stop, and the 400s naming what a return flow's dry run lacks."""

from __future__ import annotations

from typing import Any

from orderflow.flows.files import load_flow
from orderflow_local.demo_store import DemoStore
from tests.conftest import ROOT, Api
from tests.e2e.test_flows_end_to_end import LINES, action, flow, policy

WINDOW = {"name": "Return window", "kind": "execution", "criticality": "critical", "applies_to": "return",
          "rules": [{"field": "days_since_shipment", "operator": "<=", "value": 30}]}  # fmt: skip


def _sample_return_flow(api: Api) -> str:
    policy(api, WINDOW)
    definition = load_flow(ROOT / "flows" / "default_return.yaml").model_dump(mode="json")
    created = api.post("/flows", definition)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _store_order(store: DemoStore) -> dict[str, Any]:
    order_id = store.add_order(lines=LINES)
    return {**store.order(order_id), "products": store.order_products(order_id), "shipping_addresses": []}


def test_a_return_flow_dry_runs_a_return_of_the_order_and_holds_one_outside_the_window(
    api: Api, store: DemoStore
) -> None:
    # Given the sample return flow, its window policy, and a store's order
    api.seed_demo_mappings()
    flow_id = _sample_return_flow(api)
    order = _store_order(store)

    # When a return of its scale is dry-run 10 days, then 45 days, after the shipment
    def returning(days: int) -> Any:
        request = {"lines": [{"sku": "ABS", "quantity": 1, "reason": "damaged"}], "days_since_shipment": days}
        answer = api.post(f"/flows/{flow_id}/dry-run", {"order": order, "return": request})
        assert answer.status_code == 200, answer.text
        return answer.json()

    inside, outside = returning(10), returning(45)

    # Then inside the window it is authorised and sent, and waits for its goods
    assert inside["outcome"] == "completed" and inside["event"] == "return_requested"
    assert [s["outcome"] for s in inside["steps"]] == ["succeeded"] * 3 + ["skipped"] * 2
    assert inside["return"]["days_since_shipment"] == 10 and inside["return"]["value"] == "45.0000"
    # And outside it, the window's critical policy stops the flow at the validation, holding the return
    assert outside["outcome"] == "on_hold" and outside["failed_steps"] == ["Validate return"]
    assert [(s["step"], s["outcome"]) for s in outside["steps"]] == [
        ("Validate return", "failed"), ("On hold", "on_hold")]  # fmt: skip
    assert "days_since_shipment <= 30 does not hold" in outside["steps"][0]["message"]


def test_a_return_flow_dry_run_without_a_return_or_on_an_order_event_is_a_400_naming_it(
    api: Api, store: DemoStore
) -> None:
    # Given the sample return flow, an order flow, and a store's order
    api.seed_demo_mappings()
    return_flow = _sample_return_flow(api)
    assert api.post("/flows", flow("Order checks", action("Check header"))).status_code == 201
    order = _store_order(store)
    request = {"lines": [{"line_number": 1, "quantity": 1, "reason": "damaged"}]}

    # When each is dry-run with what it cannot take
    cases = {
        "return": api.post(f"/flows/{return_flow}/dry-run", {"order": order}),
        "event": api.post(f"/flows/{return_flow}/dry-run", {"order": order, "return": request, "event": "new_order"}),
        "return.lines[0].line_number": api.post(
            f"/flows/{return_flow}/dry-run",
            {"order": order, "return": {"lines": [{"line_number": 7, "quantity": 1, "reason": "x"}]}}),
        "order events": api.post("/flows/order-checks/dry-run", {"order": order, "event": "return_received"}),
    }  # fmt: skip
    unknown = api.post(f"/flows/{return_flow}/dry-run", {"return": {"return_id": "RMA-404"}})

    # Then each is refused naming the field, and nothing a client sends is a 5xx
    for field, answer in cases.items():
        assert answer.status_code == 400, (field, answer.text)
        error = answer.json()["error"]
        assert error["field"] == ("event" if field == "order events" else field), error
    assert "an order flow runs on order events" in cases["order events"].json()["error"]["message"]
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "return.return_id"
