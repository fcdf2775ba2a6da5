"""What a step reads from DynamoDB: the order once, the settings once per process and 30 s."""

from __future__ import annotations

from collections import Counter

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import Api, step_event


def test_the_status_step_reads_the_order_once_and_the_kept_settings_not_again(
    runtime: LocalRuntime, store: DemoStore, api: Api, dynamodb_calls: Counter[str]
) -> None:
    # Given an imported order (its import read the settings in this process)
    api.seed_demo_mappings()
    order_id = store.sample_order()
    key = f"BC-{store.store_hash}-{order_id}"
    imported = runtime.invoke(
        "ImportOrderFunction",
        step_event(
            "step_import_order.json",
            order_key=key,
            order_ref={"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id},
        ),
    )
    assert imported["succeeded"], imported
    dynamodb_calls.clear()

    # When the flow's status step releases it
    released = runtime.invoke(
        "StatusPushbackFunction", step_event("step_update_order_status.json", order_key=key)
    )

    # Then it was set and pushed, having read the order's header once (under the status change's lock)
    # and the settings not at all: the status change with the push's record in one write, the push's
    # confirmation, the step result
    assert released["succeeded"] and "BigCommerce status set to 9" in released["message"], released
    assert dynamodb_calls == Counter({"GetItem": 1, "UpdateItem": 2, "PutItem": 1})
    order = api.get(f"/orders/{key}").json()
    assert [(p["seq"], p["to_status_id"]) for p in order["pushes"]] == [(len(order["history"]), 9)]
    assert order["external_status_id"] == 9 and order["status"] == "validated"
