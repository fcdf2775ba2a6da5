"""``make demo``: one BigCommerce order end to end on this machine, printed as a short trace.

A demo store on 127.0.0.1 holds an order; its ``store/order/created`` webhook goes to the local API;
the order is imported, mapped and run through the default flow's generated state machine (executed
by the embedded Step Functions engine); its status is pushed back to the store.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from typing import Any, TextIO

import requests

from orderflow.bigcommerce.statuses import status_name
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime, RuntimeConfig

DEMO_MAPPINGS = [
    ("products", {"product": "Accu Scale", "external_field_name": "sku", "external_field_value": "ABS"}),
    (
        "products",
        {"product": "Scale Calibration Weights", "external_field_name": "sku", "external_field_value": "SCW"},
    ),
    ("units", {"unit": "ea", "external_field_name": "unit", "external_field_value": "each"}),
]
EXPECTED_STATUS = 9  # Awaiting Shipment


def run_demo(out: TextIO = sys.stdout) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say("Order orchestration for BigCommerce: local run (no AWS account, no Docker)")
    say()
    with DemoStore() as store:
        order_id = store.sample_order()
        order = store.order(order_id)
        skus = [p["sku"] for p in store.order_products(order_id)]
        admin_token = secrets.token_urlsafe(16)
        config = RuntimeConfig(
            bigcommerce_api_url=store.url,
            store_hash=store.store_hash,
            access_token=store.access_token,
            webhook_secret=secrets.token_urlsafe(24),
            admin_token=admin_token,
            port=int(os.environ.get("DEMO_PORT", "0")),
        )
        with LocalRuntime(config) as runtime:
            api = _Api(runtime.api_url, admin_token)
            say(f"  BigCommerce demo store  {store.url}/stores/{store.store_hash}")
            say(
                f'                          order {order_id} "{order["status"]}", {len(skus)} lines ({", ".join(skus)})'
            )
            say(f"  Local API               {runtime.api_url}")
            for kind, body in DEMO_MAPPINGS:
                api.post(f"/mappings/{kind}", body, expect=201)
            mapped = " · ".join(
                f"{b['external_field_name']} {b['external_field_value']} → {b.get('product') or b.get('unit')}"
                for _, b in DEMO_MAPPINGS
            )
            say(f"  Mappings (admin API)    {mapped}")
            say()

            webhook = store.build_webhook("store/order/created", {"type": "order", "id": order_id})
            answer = requests.post(
                f"{runtime.api_url}/webhooks/bigcommerce",
                data=json.dumps(webhook),
                headers={"Content-Type": "application/json", "X-Webhook-Secret": config.webhook_secret},
                timeout=10,
            )
            say(
                f"→ webhook store/order/created for order {order_id}: HTTP {answer.status_code} {answer.json()}"
            )
            if answer.status_code != 200:
                return 1

            started = time.perf_counter()
            executions = runtime.wait_for_all(timeout=60)
            elapsed = time.perf_counter() - started
            order_key = answer.json()["order_key"]
            results = api.get(f"/orders/{order_key}/step-results")["step_results"]
            ok = True
            for execution in executions:
                say(f"→ execution {execution['name']}")
                history = runtime.history(execution["executionArn"])
                definition = runtime.definition(execution["stateMachineArn"])
                steps = {r["step"]: r for r in results if r["execution"] == execution["name"]}
                for line, step_ok in _trace(history, steps, definition):
                    say(f"    {line}")
                    ok = ok and step_ok
                transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
                say(f"  {execution['status']}, {transitions} state transitions")
                ok = ok and execution["status"] == "SUCCEEDED"
            say(f"  all done in {elapsed:.1f} s")

            final = store.order(order_id)
            pushes = store.status_updates(order_id)
            say(
                f'→ BigCommerce order {order_id} status now "{final["status"]}" ({final["status_id"]})'
                f"   [store received PUT /v2/orders/{order_id} status_id {pushes}]"
            )
            stored = api.get(f"/orders/{order_key}")
            say(f"→ GET /orders/{order_key}: status {stored['status']}, {len(stored['lines'])} lines, "
                f"{len(stored['step_results'])} step results")  # fmt: skip
            ok = ok and final["status_id"] == EXPECTED_STATUS and pushes == [EXPECTED_STATUS]
    say()
    if ok:
        say(f'Done: the order went through and BigCommerce shows "{status_name(EXPECTED_STATUS)}".')
        return 0
    say("The demo did not end as expected: see the trace above.")
    return 1


def _trace(
    history: list[dict[str, Any]], steps: dict[str, dict[str, Any]], definition: dict[str, Any]
) -> list[tuple[str, bool]]:
    """One line per state the execution went through: tasks with their step result, choices with
    the path they took."""
    lines: list[tuple[str, bool]] = []
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    kinds = {
        e["stateEnteredEventDetails"]["name"]: e["type"] for e in history if "stateEnteredEventDetails" in e
    }
    width = max((len(n) for n in entered), default=10) + 2
    for index, name in enumerate(entered):
        if kinds[name] == "ChoiceStateEntered":
            taken = entered[index + 1] if index + 1 < len(entered) else "(end)"
            path = "no" if definition["States"].get(name, {}).get("Default") == taken else "yes"
            lines.append((f"? {name:<{width}}{path} → {taken}", True))
        elif name in steps:
            result = steps[name]
            mark = {"succeeded": "✓", "skipped": "-"}.get(result["status"], "✗")
            lines.append((f"{mark} {name:<{width}}{result['message']}", result["status"] != "failed"))
        else:
            lines.append((f"· {name}", True))
    return lines


class _Api:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> Any:
        answer = self.session.get(self.base + path, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: Any, expect: int) -> Any:
        answer = self.session.post(self.base + path, json=body, timeout=10)
        if answer.status_code != expect:
            raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
        return answer.json()
