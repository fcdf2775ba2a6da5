"""Events that start flows, emitted where they happen and once per occurrence: a merchant's status
change or cancellation in the store (told by the webhook, or found by reading the order), never our
own pushes coming back."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import action, flow, publish

AWAITING_PAYMENT, AWAITING_PICKUP, CANCELLED, SHIPPED = 7, 8, 5, 2


def _status_webhook(store: DemoStore, order_id: int, previous: int | None, new: int) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "order", "id": order_id}
    if previous is not None:
        data["status"] = {"previous_status_id": previous, "new_status_id": new}
    return webhook_body(store, order_id, scope="store/order/statusUpdated", data=data)


def _runs(api: Api, key: str) -> Counter[str]:
    """How many executions of each flow ran for the order."""
    results = api.get(f"/orders/{key}/step-results").json()["step_results"]
    return Counter(flow_id for flow_id, _ in {(r["flow_id"], r["execution"]) for r in results})


@pytest.fixture
def watched(runtime: LocalRuntime, store: DemoStore, api: Api) -> tuple[int, str]:
    """An imported order, and three published flows: one for new orders (it pushes nothing), one for
    status changes, one for cancellations."""
    api.seed_demo_mappings()
    publish(api, flow("Intake check", action("Check the header")))
    publish(api, flow("Status watcher", action("Note the change"), input_events=["order_status_changed"]))
    publish(api, flow("Cancellations", action("Note the cancellation"), input_events=["order_cancelled"]))
    order_id = store.sample_order()
    answer = post_webhook(runtime, webhook_body(store, order_id))
    runtime.wait_for_all()
    return order_id, answer.json()["order_key"]


def test_a_merchants_status_change_starts_its_flow_once_however_often_it_is_delivered(
    runtime: LocalRuntime, store: DemoStore, api: Api, watched: tuple[int, str]
) -> None:
    order_id, key = watched

    # When the merchant sets Awaiting Payment in the control panel, and the webhook comes three times
    # (a redelivery with the same hash, and the same change under another hash)
    body = _status_webhook(store, order_id, 11, AWAITING_PAYMENT)
    first = post_webhook(runtime, body)
    again = post_webhook(runtime, body)
    other_hash = post_webhook(runtime, {**body, "hash": "f" * 40})
    runtime.wait_for_all()

    # Then the status-change flow ran once, the cancellation flow not at all
    assert first.json()["status"] == "accepted" and len(first.json()["executions"]) == 1
    assert "-status-" in first.json()["executions"][0]
    assert again.json()["status"] == "duplicate" and other_hash.json()["status"] == "duplicate"
    assert _runs(api, key) == Counter({"order-intake": 1, "intake-check": 1, "status-watcher": 1})
    assert api.get(f"/orders/{key}").json()["external_status_id"] == AWAITING_PAYMENT


def test_a_cancellation_starts_the_cancellation_flows_not_the_status_change_ones(
    runtime: LocalRuntime, store: DemoStore, api: Api, watched: tuple[int, str]
) -> None:
    order_id, key = watched

    answer = post_webhook(runtime, _status_webhook(store, order_id, 11, CANCELLED))
    runtime.wait_for_all()

    assert answer.json()["status"] == "accepted" and "-cancelled-" in answer.json()["executions"][0]
    assert _runs(api, key) == Counter({"order-intake": 1, "intake-check": 1, "cancellations": 1})


def test_a_change_the_webhook_does_not_describe_is_found_by_reading_the_order(
    runtime: LocalRuntime, store: DemoStore, api: Api, watched: tuple[int, str]
) -> None:
    order_id, key = watched

    # When the merchant sets Awaiting Pickup and the webhook does not say the status
    store.set_status(order_id, AWAITING_PICKUP)
    answer = post_webhook(runtime, _status_webhook(store, order_id, None, AWAITING_PICKUP))
    runtime.wait_for_all()

    # Then an intake reads the order, learns the change and starts the status-change flow
    assert answer.json()["status"] == "accepted"
    assert _runs(api, key) == Counter({"order-intake": 2, "intake-check": 1, "status-watcher": 1})
    assert api.get(f"/orders/{key}").json()["external_status_id"] == AWAITING_PICKUP


def test_our_own_status_push_coming_back_starts_nothing(
    runtime: LocalRuntime, store: DemoStore, api: Api, watched: tuple[int, str]
) -> None:
    order_id, key = watched

    # Given we ship the order (which pushes Shipped to the store)
    lines = [{"line_number": 1, "quantity": 1}, {"line_number": 2, "quantity": 2}]
    assert api.post(f"/orders/{key}/shipments", {"shipment_id": "S-1", "items": lines}).status_code == 201
    assert store.status_updates(order_id)[-1] == SHIPPED

    # When the store's statusUpdated webhook for that push arrives
    echo = post_webhook(runtime, _status_webhook(store, order_id, 11, SHIPPED))
    runtime.wait_for_all()

    # Then it is recognised as ours: no status-change flow runs
    assert echo.json()["status"] == "ignored" and "set by us" in echo.json()["reason"]
    assert _runs(api, key) == Counter({"order-intake": 1, "intake-check": 1})
