"""``make bench``: figures for the walking skeleton, printed, never asserted.

- cold import of each function's module over the floor of the dependencies it cannot avoid (a fresh
  interpreter each time)
- BigCommerce API calls, DynamoDB requests and state transitions per imported order
- orders per second through the local runtime for 200 orders, as a share of the bare engine's (the
  same ASL in moto's engine with no-op Lambdas)
- flows: generation time and ASL size by flow size, where Step Functions' 1 MiB limit is reached,
  and state transitions per order for the documentation's sample flow (an order released, an
  order held) against its actions
- merge: the largest state payload after a 20-branch splitter-merge of a 2,000-line order
- outage: 50 orders through webhooks while the store answers 500: orders lost (must be 0), the time
  from the store's recovery to the last import, store requests per order
- mappings: the time to import, import again and export a 10,000-row mappings CSV through the admin
  API (moto's share apart), and the DynamoDB requests to map orders of 1 to 2,000 lines against it
- sync: orders per second pulled by ``POST /providers/bigcommerce/sync`` from a store holding
  BigCommerce's 150 requests / 30 s quota, the store requests each order costs, the share of the
  quota used and the 429s met
- flash-sale: 3,000 orders in a minute on one store, imported by as many containers as
  ImportConcurrency allows, each pacing on its own limiter: orders imported once, the 429 share and
  the time to drain against the quota's, and orders per hour per BigCommerce plan
- dom: Send to DOM's plan time for 100 lines x 50 sources and 1,000 lines x 200 sources, and
  reservations per second when many orders compete for the last units
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common" / "python"))
sys.path.insert(0, str(ROOT / "tools"))

from orderflow.flows.asl import generate_asl, limit_problems, to_json
from orderflow.mapping.csv_files import parse_csv
from orderflow.mapping.resolve import PROVIDER_FIELD, PROVIDER_VALUE, map_order
from orderflow.models.flow import Flow, parse_flow
from orderflow.models.order import MappingInput, MappingKind, Order, OrderLine
from orderflow.store import dynamo, tables
from orderflow.store.mappings import forget_kept_partitions
from orderflow_local.demo import DEMO_MAPPINGS
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime, RuntimeConfig

SECRET = "bench-webhook-secret-0123456789"
ADMIN = "bench-admin-token"
# Both probes print the CPU time of their imports: on a busy machine wall time mostly measures the
# other processes, and an import is all CPU (the files come from the page cache).
IMPORT_PROBE = """
import importlib.util, sys, time
start = time.process_time()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.process_time() - start)
"""
# What a function cannot help importing: boto3 with its DynamoDB conditions, pydantic with one model
# built, Powertools' Logger, Metrics and Tracer made as orderflow.observability makes them; requests
# for a function that calls over HTTP, Powertools' event handler with request validation for one
# that serves routes.
FLOOR_PROBE = """
import sys, time
start = time.process_time()
import boto3
from boto3.dynamodb.conditions import Key
from pydantic import BaseModel
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
class Floor(BaseModel):
    name: str
Logger(service="floor"); Metrics(namespace="Floor", service="floor"); Tracer(service="floor")
if "http" in sys.argv[1:]:
    import requests
if "api" in sys.argv[1:]:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    APIGatewayHttpResolver(enable_validation=True)
print(time.process_time() - start)
"""
# The functions that never call over HTTP (neither BigCommerce nor a provider): no requests in their floor.
WITHOUT_HTTP = {"admin_api", "route_order", "validate_order"}


def cold_imports(repeats: int = 7) -> None:
    # The best of several runs: what a busy machine adds to an import is never negative.
    print(f"Cold import of each function's module over its dependency floor (CPU time, best of {repeats})")
    print("  floor: boto3 + DynamoDB conditions, pydantic + one model, Powertools Logger/Metrics/Tracer as")
    print("  observability makes them; + requests where the function calls over HTTP (all but")
    print(f"  {', '.join(sorted(WITHOUT_HTTP))}); + Powertools' event handler with validation for the API")
    print("  functions. Target: at most +10 % over the floor.")
    print("  (this venv also has awscrt, which botocore loads when present: ~60 ms more than on Lambda)")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "common" / "python"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }

    def seconds(command: list[str]) -> float:
        return float(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)

    apps = sorted(ROOT.glob("functions/*/app.py"))
    floors = {
        app.parent.name: tuple(
            kind
            for kind, needed in (
                ("http", app.parent.name not in WITHOUT_HTTP),
                ("api", "http.resolver(" in app.read_text(encoding="utf-8")),
            )
            if needed
        )
        for app in apps
    }
    measured: dict[str, list[float]] = {app.parent.name: [] for app in apps}
    floor_times: dict[tuple[str, ...], list[float]] = {kinds: [] for kinds in set(floors.values())}
    for _ in range(repeats):  # interleaved, so that a busy moment of the machine weighs on both alike
        for kinds, times in floor_times.items():
            times.append(seconds([sys.executable, "-c", FLOOR_PROBE, *kinds]))
        for app in apps:
            measured[app.parent.name].append(seconds([sys.executable, "-c", IMPORT_PROBE, str(app)]))
    for name, times in measured.items():
        ms = min(times) * 1000
        floor = min(floor_times[floors[name]]) * 1000
        label = "+".join(("base", *floors[name]))
        print(
            f"  {name:<22} {ms:6.0f} ms / floor {floor:5.0f} ms / {(ms / floor - 1) * 100:+5.0f} %  ({label})"
        )


def _runtime(store: DemoStore, env: dict[str, str] | None = None) -> LocalRuntime:
    return LocalRuntime(
        RuntimeConfig(
            bigcommerce_api_url=store.url,
            store_hash=store.store_hash,
            access_token=store.access_token,
            webhook_secret=SECRET,
            admin_token=ADMIN,
            extra_env=env or {},
        )
    )


def _seed(runtime: LocalRuntime) -> None:
    for kind, body in DEMO_MAPPINGS:
        answer = requests.post(f"{runtime.api_url}/mappings/{kind}", json=body,
                               headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)  # fmt: skip
        answer.raise_for_status()


def _deliver(runtime: LocalRuntime, store: DemoStore, order_id: int) -> None:
    body = store.build_webhook("store/order/created", {"type": "order", "id": order_id})
    answer = requests.post(f"{runtime.api_url}/webhooks/bigcommerce", data=json.dumps(body),
                           headers={"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}, timeout=30)  # fmt: skip
    answer.raise_for_status()


# Prices (us-east-1): Step Functions Standard per transition; Lambda per request and per GB-second
# (arm64); DynamoDB on demand per write and read request unit; HTTP API per request.
PRICE_TRANSITION = 0.000025
PRICE_LAMBDA_REQUEST = 0.0000002
PRICE_LAMBDA_GB_SECOND = 0.0000133334
PRICE_WRITE_UNIT = 1.25 / 1_000_000
PRICE_READ_UNIT = 0.25 / 1_000_000
PRICE_API_REQUEST = 1.00 / 1_000_000
LAMBDA_GB = 0.5  # the template's MemorySize
LAMBDA_SECONDS = 0.1  # a warm step's duration on Lambda (assumed: the local runtime is not Lambda)
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _kilobytes(document: object) -> float:
    """A DynamoDB document's size in KB, as its JSON (close to DynamoDB's own item sizes)."""
    return len(json.dumps(document, default=str).encode()) / 1024


def per_order() -> None:
    print("One order through the default flow (webhook → import → validate → status push)")
    _one_order("2 lines", None, floor_requests=12, target_cost=0.20)
    # Step Functions' part of the cost if it ran on Express: each execution, and ~3 s at 64 MB.
    express = 2 * 1.00 / 1_000 + 3 * 0.0625 * 0.00001667 * 1_000
    print(f"  Step Functions / 1,000 orders on Express instead: ${express:.3f} (see README: why Standard)")


def per_large_order() -> None:
    print("One order of 2,000 lines (two SKUs) through the default flow")
    _one_order("2,000 lines", 2_000, floor_requests=30, target_cost=0.60)


def _one_order(label: str, lines: int | None, *, floor_requests: int, target_cost: float) -> None:
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        if lines:
            order_id = store.add_order(lines=[
                {"sku": "ABS" if n % 2 else "SCW", "name": f"Line {n}", "quantity": 1, "price": "1.00"}
                for n in range(lines)
            ])  # fmt: skip
        else:
            order_id = store.sample_order()
        calls: Counter[str] = Counter()
        units = {"write": 0.0, "read": 0.0}

        def count(event_name: str, params: dict[str, object], **_: object) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            calls[operation] += 1
            if operation in _WRITES:  # a write unit per KB written (a transaction's items: two)
                factor = 2.0 if operation == "TransactWriteItems" else 1.0
                units["write"] += factor * max(1.0, _kilobytes(params))

        def read(event_name: str, parsed: dict[str, object], **_: object) -> None:
            if event_name.rsplit(".", 1)[-1] not in _WRITES:  # a read unit per 4 KB read (strongly)
                found = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
                units["read"] += max(1.0, _kilobytes(found) / 4)

        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-call.dynamodb", count)
        events.register("after-call.dynamodb", read)
        try:
            dynamo.reset()
            store.clear_requests()
            _deliver(runtime, store, order_id)
            executions = runtime.wait_for_all(timeout=600)
        finally:
            events.unregister("before-call.dynamodb", count)
            events.unregister("after-call.dynamodb", read)
        transitions = {
            e["name"]: sum(
                1 for h in runtime.history(e["executionArn"]) if h["type"].endswith("StateEntered")
            )
            for e in executions
        }
        tasks = sum(
            1
            for e in executions
            for h in runtime.history(e["executionArn"])
            if h["type"] == "TaskStateEntered"
        )
        bigcommerce = Counter(f"{r.method} {r.path.split('?')[0]}" for r in store.requests)
        requests_made = sum(calls.values())
        total, floor = sum(transitions.values()), tasks + 2
        print(f"  {label}: BigCommerce API calls {sum(bigcommerce.values())}"
              f"  ({', '.join(f'{k} x{v}' for k, v in bigcommerce.items())})")  # fmt: skip
        print(f"    DynamoDB requests      {requests_made} / floor {floor_requests} / ratio "
              f"{requests_made / floor_requests:.2f}  ({', '.join(f'{k} x{v}' for k, v in sorted(calls.items()))})")  # fmt: skip
        print(f"    transitions per order  {total} / floor {floor} ({tasks} tasks + 2) / ratio {total / floor:.2f}"
              f"  ({', '.join(sorted({e['status'] for e in executions}))})")  # fmt: skip
        invocations = tasks + 1  # the steps and the webhook
        parts = {
            "Step Functions": total * PRICE_TRANSITION,
            "Lambda": invocations
            * (PRICE_LAMBDA_REQUEST + LAMBDA_SECONDS * LAMBDA_GB * PRICE_LAMBDA_GB_SECOND),
            "DynamoDB": units["write"] * PRICE_WRITE_UNIT + units["read"] * PRICE_READ_UNIT,
            "API": PRICE_API_REQUEST,
        }
        cost = sum(parts.values()) * 1_000
        print(f"    cost per 1,000 orders  ${cost:.3f} / target ${target_cost:.2f} / ratio {cost / target_cost:.2f}"
              f"  ({', '.join(f'{k} ${v * 1_000:.3f}' for k, v in parts.items())}; Standard, on demand)")  # fmt: skip


def throughput(orders: int = 200, senders: int = 8) -> None:
    print(f"{orders} orders through the local runtime ({senders} concurrent webhook senders), and the bare")
    print("engine: the same ASL (the intake, whose route step starts the default flow) run by moto's engine")
    print("as the runtime sets it up (moto_patches), each Lambda a no-op answering what its Task's")
    print(f"ResultSelector reads, {orders} intakes started by {senders} concurrent senders")
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        ids = [store.sample_order() for _ in range(orders)]
        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(lambda order_id: _deliver(runtime, store, order_id), ids))
        accepted = time.perf_counter() - started
        executions = runtime.wait_for_all(timeout=600)
        finished = time.perf_counter() - started
        statuses = Counter(e["status"] for e in executions)
        pushed = sum(1 for order_id in ids if store.status_updates(order_id) == [9])
    bare = _bare_engine(orders, senders)
    measured = orders / finished
    print(f"  webhooks accepted       {orders / accepted:7.1f} /s  ({accepted:.1f} s)")
    print(f"  orders completed        {measured:7.1f} /s  ({finished:.1f} s; {dict(statuses)}, "
          f"{pushed} pushed status 9)")  # fmt: skip
    print(f"  bare engine             {bare:7.1f} /s")
    print(
        f"  share of the bare engine {measured / bare * 100:5.0f} % / target 50 % / ratio {measured / bare / 0.5:.2f}"
    )
    print("  (one process on this machine: moto serialises DynamoDB; on AWS each part scales out)")


def _bare_engine(orders: int, senders: int) -> float:
    """Orders per second through the intake and the default flow run by moto's engine alone: what the
    local runtime's pipeline is measured against (its own share is the handlers, DynamoDB, the API)."""
    import io

    from botocore.awsrequest import AWSResponse, HTTPHeaders
    from botocore.response import StreamingBody
    from moto import mock_aws

    from orderflow.flows.asl import substitute
    from orderflow.models.order import FlowRef
    from orderflow.orders.executions import INTAKE, execution_input, execution_name, intake_execution_name
    from orderflow_local import moto_patches
    from orderflow_local.template import REGION, load_template

    store_hash = "bench"
    default_flow = FlowRef(id="default-order-flow", version=1, name="Default order flow")
    parameters = RuntimeConfig("http://127.0.0.1:9", store_hash, "token", SECRET).template_parameters()
    machines = load_template(ROOT / "template.yaml", parameters).state_machines
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_patches.apply()
        boto3.setup_default_session(region_name=REGION)
        assert boto3.DEFAULT_SESSION is not None
        client = boto3.client("stepfunctions", region_name=REGION)
        arns = {
            logical: client.create_state_machine(
                name=logical, type="STANDARD", roleArn=f"arn:aws:iam::123456789012:role/{logical}Role",
                definition=substitute(machines[logical].definition_file.read_text(encoding="utf-8"),
                                      machines[logical].substitutions),
            )["stateMachineArn"]
            for logical in ("OrderIntakeStateMachine", "DefaultFlowStateMachine")
        }  # fmt: skip
        started_flows: list[str] = []

        def no_op(event: dict[str, Any]) -> dict[str, Any]:
            if event.get("action") == "route_order":  # routing starts the default flow, as the real one does
                order_id = event["order_ref"]["order_id"]
                started_flows.append(client.start_execution(
                    stateMachineArn=arns["DefaultFlowStateMachine"],
                    name=execution_name(event["order_key"], default_flow),
                    input=json.dumps(execution_input(store_hash, order_id, default_flow, "new order"), sort_keys=True),
                )["executionArn"])  # fmt: skip
            return {"step": event.get("step"), "status": "succeeded", "succeeded": True}

        def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            body = json.dumps(no_op(json.loads(params.get("body") or b"{}"))).encode()
            parsed = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                      "Payload": StreamingBody(io.BytesIO(body), len(body)),
                      "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RequestId": "bench"}}  # fmt: skip
            return AWSResponse(params.get("url", ""), 200, HTTPHeaders(), None), parsed

        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", invoke)  # type: ignore[arg-type]

        def intake(order_id: int) -> str:
            key = f"BC-{store_hash}-{order_id}"
            return str(client.start_execution(
                stateMachineArn=arns["OrderIntakeStateMachine"], name=intake_execution_name(key, "bench"),
                input=json.dumps(execution_input(store_hash, order_id, INTAKE, "webhook"), sort_keys=True),
            )["executionArn"])  # fmt: skip

        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            intakes = list(pool.map(intake, range(1, orders + 1)))
        for running in (intakes, started_flows):  # every flow is started once the intakes are done
            for arn in running:
                pause = 0.02
                while client.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    time.sleep(pause)
                    pause = min(pause * 1.5, 0.1)
        finished = time.perf_counter() - started
        statuses = Counter(
            client.describe_execution(executionArn=a)["status"] for a in [*intakes, *started_flows]
        )
        assert statuses == {"SUCCEEDED": 2 * orders}, statuses
    return orders / finished


def _linear_flow(steps: int) -> Flow:
    # a realistic mix: validations with a condition every ten steps, the shape merchants build
    body: list[dict[str, object]] = []
    for n in range(1, steps + 1):
        if n % 10 == 0:
            body.append({"name": f"Check {n:04d} passed?", "element": "condition_merge",
                         "yes": [], "no": [{"name": f"Note failure {n:04d}", "action": "validate_order_line"}]})  # fmt: skip
        else:
            kind = "validate_order_header" if n % 2 else "validate_order_line"
            body.append({"name": f"Validate order part {n:04d}", "action": kind})
    return parse_flow({"name": f"Benchmark flow {steps}", "steps": body})


def flow_generation() -> None:
    print("Flow → ASL generation (pure function; median of 5)")
    for steps in (10, 100, 500):
        flow = _linear_flow(steps)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            text = to_json(generate_asl(flow))
            times.append(time.perf_counter() - started)
        print(
            f"  {steps:>4} steps   {statistics.median(times) * 1000:7.1f} ms   {len(text.encode()) / 1024:8.1f} KiB"
        )
    low, high = 500, 4000
    while high - low > 10:  # the largest flow of this shape that Step Functions accepts
        middle = (low + high) // 2
        low, high = (
            (middle, high) if not limit_problems(generate_asl(_linear_flow(middle))) else (low, middle)
        )
    floor = 1_500
    print(
        f"  largest flow of this shape under Step Functions' 1 MiB limit: {low} steps / floor {floor:,}"
        f" / ratio {low / floor:.2f}"
    )
    print("  (deployed as compact JSON; a larger flow is refused when saved, its size and what fits named)")


def _publish(runtime: LocalRuntime, flow: dict[str, object], policies: list[dict[str, object]]) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for body in policies:
        created = requests.post(f"{runtime.api_url}/policies", json=body, headers=admin, timeout=10)
        created.raise_for_status()
        policy_id = created.json()["id"]
        requests.post(
            f"{runtime.api_url}/policies/{policy_id}/publish", headers=admin, timeout=10
        ).raise_for_status()
    created = requests.post(f"{runtime.api_url}/flows", json=flow, headers=admin, timeout=10)
    created.raise_for_status()
    flow_id = created.json()["id"]
    requests.post(f"{runtime.api_url}/flows/{flow_id}/publish", headers=admin, timeout=30).raise_for_status()


def sample_flow_transitions() -> None:
    print("State transitions per order: the documentation's Validation split sample")
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        _publish(runtime, SAMPLE_FLOW, SAMPLE_POLICIES)
        for label, lines in (
            ("passes (released)", None),
            ("total 0 (held)", [{"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "0"}]),
        ):
            seen = {e["executionArn"] for e in runtime.executions()}
            order_id = store.add_order(lines=lines) if lines else store.sample_order()
            _deliver(runtime, store, order_id)
            for execution in runtime.wait_for_all():
                if execution["executionArn"] in seen:
                    continue
                history = runtime.history(execution["executionArn"])
                entered = [e for e in history if e["type"].endswith("StateEntered")]
                tasks = [e for e in entered if e["type"] == "TaskStateEntered"]
                name = execution["name"].split("-", 3)[-1]
                print(f"  {label:<18} {name:<32} {len(entered):>3} transitions, {len(tasks)} actions invoked")
        print(
            "  (on AWS Standard workflows bill per state transition; the intake adds 2 per order: import, route; "
            "the merge is a step of its own: +1 per splitter-merge; a failed path adds 2: "
            "'<step> (failed)' and 'On hold'; a resubmit 2: its hand-over and 'Resume at')"
        )


def outage(orders: int = 50, down_seconds: float = 20.0) -> None:
    print(
        f"Store outage: {orders} orders through webhooks while the store answers 500 for {down_seconds:.0f} s"
    )
    print("  (retry schedule scaled to seconds: first wait 1 s, at most 4 s; on AWS 30 s … 30 min for 24 h)")
    env = {"STORE_RETRY_FIRST_SECONDS": "1", "STORE_RETRY_MAX_SECONDS": "4", "BIGCOMMERCE_MAX_ATTEMPTS": "2"}
    with DemoStore() as store, _runtime(store, env) as runtime:
        _seed(runtime)
        ids = [store.add_order() for _ in range(orders)]
        store.outage("GET", r"/v2/orders/\d+", Fault(500), seconds=3600)
        started = time.perf_counter()
        for order_id in ids:
            _deliver(runtime, store, order_id)
        time.sleep(max(0.0, down_seconds - (time.perf_counter() - started)))
        recovered_at, before = time.perf_counter(), len(store.requests)
        store.end_outages()
        executions = runtime.wait_for_all(timeout=600)
        done = time.perf_counter()
        admin = {"Authorization": f"Bearer {ADMIN}"}
        statuses = Counter(
            requests.get(f"{runtime.api_url}/orders/{key}", headers=admin, timeout=10).json().get("status")
            for key in (f"BC-{store.store_hash}-{order_id}" for order_id in ids)
        )
        gets = [r for r in store.requests if r.method == "GET" and r.path.startswith("/v2/orders/")]
        after = [r for r in store.requests[before:] if r.method == "GET" and r.path.startswith("/v2/orders/")]
        lost = orders - statuses.get("validated", 0)
        print(f"  Orders lost             {lost}  (statuses: {dict(statuses)})")
        print(
            f"  Recovery → last import  {done - recovered_at:.1f} s  (waits of at most 4 s, then the local engine's pace)"
        )
        print(
            f"  Store GETs per order    {len(gets) / orders:.1f} in all, {len(after) / orders:.1f} after the recovery"
        )
        print(f"  Status pushes per order {sum(len(store.status_updates(i)) for i in ids) / orders:.1f}")
        print(
            f"  Executions              {len(executions)}, {dict(Counter(e['status'] for e in executions))}"
        )


def merge_payload(branches: int = 20, lines: int = 2_000) -> None:
    print(f"Largest state payload: a {branches}-branch splitter-merge over a {lines:,}-line order")
    flow = {
        "name": "Wide merge",
        "steps": [
            {"name": "Wide split", "element": "splitter_merge", "branches": [
                {"name": f"Branch {n:02d}", "steps": [{"name": f"Check {n:02d}", "action": "validate_order_header"}]}
                for n in range(branches)]},
            {"name": "Release", "action": "update_order_status", "params": {"status": "validated"}},
        ],
    }  # fmt: skip
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        _publish(runtime, flow, [])
        started = time.perf_counter()
        order_id = store.add_order(
            lines=[
                {"sku": "ABS", "name": f"Accu Scale {n}", "quantity": 1, "price": "45.00"}
                for n in range(lines)
            ]
        )
        _deliver(runtime, store, order_id)
        executions = runtime.wait_for_all(timeout=600)
        elapsed = time.perf_counter() - started
        for execution in executions:
            largest, where = 0, ""
            for event in runtime.history(execution["executionArn"]):
                for key, details in event.items():
                    if not key.endswith("EventDetails") or not isinstance(details, dict):
                        continue
                    for field in ("input", "output"):
                        size = len(str(details.get(field) or "").encode())
                        if size > largest:
                            largest, where = size, f"{event['type']} {details.get('name', '')}".strip()
            print(
                f"  {execution['name'].split('-', 3)[-1]:<30} {execution['status']:<9} largest payload "
                f"{largest:,} bytes ({where}); Step Functions' limit is 262,144"
            )
        print(f"  ({elapsed:.1f} s end to end; only references and each branch's last result travel)")


SAMPLE_POLICIES = [
    {"name": "Filter Policy - BigCommerce", "kind": "filter",
     "rules": [{"field": "provider", "operator": "equals", "value": "BigCommerce"}]},
    {"name": "Filter Policy - Orderful", "kind": "filter",
     "rules": [{"field": "provider", "operator": "equals", "value": "Orderful"}]},
    {"name": "Order header Validation Policy", "kind": "execution", "criticality": "critical",
     "rules": [{"field": "total", "operator": ">", "value": 0}]},
]  # fmt: skip
SAMPLE_FLOW = {
    "name": "Validation flow",
    "steps": [
        {"name": "Validation split", "element": "splitter_merge", "branches": [
            {"name": "Order Source 1", "steps": [{"name": "Test validation 1", "action": "validate_order_header",
             "filter_policies": ["Filter Policy - BigCommerce"], "execution_policies": ["Order header Validation Policy"]}]},
            {"name": "Order Source 2", "steps": [{"name": "Test validation 2", "action": "validate_order_header",
             "filter_policies": ["Filter Policy - Orderful"], "execution_policies": ["Order header Validation Policy"]}]},
        ]},
        {"name": "Release", "action": "update_order_status", "params": {"status": "validated"}},
    ],
}  # fmt: skip


def _ops(calls: Counter[str]) -> str:
    return f"{sum(calls.values()):>4}  ({', '.join(f'{k} x{v}' for k, v in sorted(calls.items()))})"


def _bench_order(lines: int) -> Order:
    return Order(
        order_key=f"BC-bench-{lines}", store_hash="bench", external_id=lines, import_id=f"BC-{lines}",
        lines=[OrderLine(line_number=n, external_id=n, sku=f"SKU-{n:05d}", quantity=1) for n in range(1, lines + 1)],
    )  # fmt: skip


class _DynamoDbMeter:
    """DynamoDB requests by operation, seen through botocore's events, and where their time goes: moto
    answering (from botocore handing it the request to botocore starting to parse the answer), and the
    client's own work around that (boto3's conversion of items, botocore's validation, serialising and
    parsing), which runs as much on Lambda as here. Both are the calling thread's CPU time: requests
    made on several threads at once (a file's batches) add up to what they cost, not to their overlap."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.moto_seconds = 0.0
        self.client_seconds = 0.0
        self._lock = threading.Lock()
        self._at = threading.local()

    def install(self) -> None:
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register_first("provide-client-params.dynamodb", self._started)
        events.register("before-call.dynamodb", self._call)
        # More specific than moto's own "before-send" handler, so botocore runs it first.
        events.register("before-send.dynamodb", self._send)
        events.register("before-parse.dynamodb", self._answered)
        events.register_last("after-call.dynamodb", self._finished)  # after boto3's conversion of items
        dynamo.reset()  # clients made from now on carry the handlers

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.moto_seconds = self.client_seconds = 0.0

    def split(self, elapsed: float) -> str:
        ours = elapsed - self.moto_seconds - self.client_seconds
        return f"moto {self.moto_seconds:5.2f} s, boto {self.client_seconds:4.2f} s, ours {ours:4.2f} s"

    def _started(self, **_: object) -> None:
        self._at.started = time.thread_time()

    def _call(self, event_name: str, **_: object) -> None:
        with self._lock:
            self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def _send(self, **_: object) -> None:
        self._at.sent = time.thread_time()

    def _answered(self, **_: object) -> None:
        self._at.moto = time.thread_time() - self._at.sent

    def _finished(self, **_: object) -> None:
        whole = time.thread_time() - self._at.started
        with self._lock:
            self.moto_seconds += self._at.moto
            self.client_seconds += whole - self._at.moto


def mappings(rows: int = 10_000, target_seconds: float = 2.0, target_requests: int = 3) -> None:
    print(f"Mappings (moto, in-process): a {rows:,}-row CSV through the admin API, then orders mapped")
    print("by size against its group. Times are split into moto's (answering DynamoDB requests, which AWS")
    print("does in milliseconds: what carries over is their count), boto's (boto3 and botocore converting,")
    print("validating, serialising and parsing items: Lambda pays it too) and ours (our code, local HTTP)")
    header = "mapping_group,account,product,external_field_name,external_field_value"
    text = "\r\n".join([header, *(f",,Product {n},sku,SKU-{n:05d}" for n in range(1, rows + 1))]) + "\r\n"
    group = "Default Mapping Group"
    with DemoStore() as store, _runtime(store) as runtime:
        meter = _DynamoDbMeter()
        meter.install()
        started = time.perf_counter()
        parse_csv(MappingKind.PRODUCTS, text)
        print(f"  parse only ({len(text) / 1024:.0f} KiB)   {(time.perf_counter() - started) * 1000:7.0f} ms")
        admin = {"Authorization": f"Bearer {ADMIN}"}

        def timed(label: str, call: Callable[[], requests.Response], cold: bool = False) -> requests.Response:
            if cold:
                forget_kept_partitions()  # as a container that has not read the group yet
            meter.clear()
            started = time.perf_counter()
            answer = call()
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            print(f"  {label:<30} {elapsed:5.2f} s / target {target_seconds:.0f} s / {elapsed / target_seconds:5.2f}"
                  f"  ({meter.split(elapsed)})  DynamoDB {_ops(meter.calls)}")  # fmt: skip
            return answer

        def upload(params: dict[str, str]) -> Callable[[], requests.Response]:
            return lambda: requests.post(f"{runtime.api_url}/mappings/products/import", data=text.encode(), params=params,
                                         headers={**admin, "Content-Type": "text/csv"}, timeout=600)  # fmt: skip

        def download(params: dict[str, str]) -> Callable[[], requests.Response]:
            return lambda: requests.get(f"{runtime.api_url}/mappings/products/export", params=params, headers=admin,
                                        timeout=600)  # fmt: skip

        print(f"  {'CSV':<30} measured / target / ratio")
        for label, call, cold in (
            ("import, all new", upload({}), True),
            ("import again", upload({}), False),
            ("import again, cold container", upload({}), True),
            ("dry run", upload({"dry_run": "true"}), False),
            ("export the group", download({"mapping_group": group}), False),
            ("export the group, cold", download({"mapping_group": group}), True),
            ("export every group (a Scan)", download({}), False),
        ):
            answer = timed(label, call, cold)
            if answer.headers.get("Content-Type", "").startswith("application/json"):
                report = answer.json()
                print(f"  {'':<30} created {report['created']}, unchanged {report['unchanged']}")

        repo = tables.mappings()
        account = MappingInput(
            value="BenchAccount", external_field_name=PROVIDER_FIELD, external_field_value=PROVIDER_VALUE
        )
        repo.upsert_many(MappingKind.ACCOUNTS, [account])
        repo.upsert_many(
            MappingKind.UNITS,
            [MappingInput(value="ea", external_field_name="unit", external_field_value="each")],
        )
        print(f"  Requests to map an order (account-specific and general variants of every key; {rows:,}")
        print("  products in the group), measured / floor / ratio; median of 5 (moto's share in brackets)")
        for lines in (1, 100, 500, 2000):
            order = _bench_order(lines)
            figures = []
            for state in ("cold", "warm"):
                times, moto = [], []
                for _ in range(5):
                    if state == "cold":
                        forget_kept_partitions()
                    meter.clear()
                    started = time.perf_counter()
                    mapped = map_order(order, repo.lookup)
                    times.append(time.perf_counter() - started)
                    moto.append(meter.moto_seconds)
                count = sum(meter.calls.values())
                figures.append(
                    f"{state} {count:>2} / floor {target_requests} / {count / target_requests:4.2f}"
                    f" {statistics.median(times) * 1000:6.0f} ms ({statistics.median(moto) * 1000:4.0f})"
                    f"  [{', '.join(f'{k} x{v}' for k, v in sorted(meter.calls.items()))}]"
                )
            unmapped = len(mapped.all_mapping_issues)
            print(f"  {lines:>5} lines  {figures[0]}")
            print(f"  {'':>5}        {figures[1]}  {unmapped} unmapped")
        print("  (cold: a container that has not read the group's products yet, whose Query pages DynamoDB")
        print("   caps at 1 MB; warm: one that has, within a minute and at the version it reads first)")


def sync_throughput(orders: int = 150) -> None:
    print(f"Pull sync: {orders} orders at the new-order status through POST /providers/bigcommerce/sync,")
    print("the store holding BigCommerce's quota of 150 requests / 30 s (shared with the imports)")
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        for _ in range(orders):
            store.sample_order()
        store.rate_limit(150, 30_000)
        store.clear_requests()
        started = time.perf_counter()
        answer = requests.post(f"{runtime.api_url}/providers/bigcommerce/sync", json={},
                               headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)  # fmt: skip
        answer.raise_for_status()
        answered = time.perf_counter() - started
        executions = runtime.wait_for_all(timeout=900)
        finished = time.perf_counter() - started
        report = answer.json()
        asked = Counter(
            f"{r.method} /v2/orders" + ("" if r.path == "/v2/orders" else "/{id}")
            if r.path.startswith("/v2/orders") else f"{r.method} {r.path}"
            for r in store.requests
        )  # fmt: skip
        statuses = Counter(e["status"] for e in executions)
        windows = store.quota_windows
        served = sum(window.served for window in windows)
        print(f"  sync answered           {answered:7.2f} s   ({report['listed']} listed on "
              f"{len(report['pages'])} page, {report['started']} intakes started)")  # fmt: skip
        print(
            f"  orders imported         {orders / finished:7.1f} /s  ({finished:.1f} s to the last flow; {dict(statuses)})"
        )
        print(f"  BigCommerce requests    {served / orders:7.2f} per order  "
              f"({', '.join(f'{k} x{v}' for k, v in sorted(asked.items()))}; 429s included)")  # fmt: skip
        ceiling = 150 / 30 / (served / orders)
        use = orders / finished / ceiling
        print(f"  quota ceiling           {ceiling:7.1f} /s  (150 / 30 s over the requests per order:")
        print("   the limit on AWS however far Lambda scales; the listing costs 1 request per 250")
        print("   orders, the rest is the import step's and the flow's)")
        print(f"  quota use               {use:7.1%} / floor 90 % / ratio {use / 0.9:.2f}  (orders per second "
              "over the ceiling)")  # fmt: skip
        print(f"  HTTP 429                {store.throttled:7d}    (floor 0; each window served "
              f"{', '.join(str(window.served) for window in windows)} of 150, 8 kept for the merchant's "
              "other apps)")  # fmt: skip
        if not any(window.served >= 150 - 8 for window in windows[:-1]):
            print("   no window was filled: this machine's local runtime, not the quota, set the pace")


def flash_sale(orders: int = 3_000, arrival_seconds: float = 60.0, scale: int = 20, workers: int = 8) -> None:
    """A flash sale on one store, as on AWS: each import in a Lambda container of its own, at most
    ``workers`` at once (ImportConcurrency), each container pacing on its own limiter."""
    import queue
    import threading

    from orderflow.bigcommerce import quota
    from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceUnavailable

    limit, window_ms = 150, 30_000 // scale
    window = window_ms / 1000
    print(f"Flash sale: {orders:,} orders in {arrival_seconds:.0f} s on one store holding BigCommerce's "
          f"150 requests / 30 s,")  # fmt: skip
    print(f"  time scaled down {scale}x: orders arrive over {arrival_seconds / scale:.0f} s, the quota is "
          f"150 requests / {window_ms} ms")  # fmt: skip
    print(f"  {workers} import containers (ImportConcurrency) and {workers} status-push containers, a limiter "
          "each; an import reads the order (1 request), its flow pushes the released status (1 request);")  # fmt: skip
    print("  the DynamoDB work is left out: moto slows as its tables grow, which would measure moto")
    with DemoStore() as store:
        ids = [store.sample_order() for _ in range(orders)]
        store.rate_limit(limit, window_ms)
        store.clear_requests()
        intake: queue.Queue[int | None] = queue.Queue()
        pushes: queue.Queue[int | None] = queue.Queue()
        lock = threading.Lock()
        imported: Counter[int] = Counter()
        pushed: Counter[int] = Counter()
        all_pushed = threading.Event()
        waits = [0]

        def later(line: queue.Queue[int | None], order_id: int) -> None:
            # The intake's Wait state (30 s on AWS, scaled) before the step runs again.
            with lock:
                waits[0] += 1
            threading.Timer(window, line.put, (order_id,)).start()

        def importer() -> None:
            with quota.own_limiters():
                client = BigCommerceClient(store.url, store.store_hash, store.access_token)
                while (order_id := intake.get()) is not None:
                    try:
                        client.get_order(order_id)
                    except BigCommerceUnavailable:
                        later(intake, order_id)
                        continue
                    with lock:
                        imported[order_id] += 1
                    pushes.put(order_id)

        def pusher() -> None:
            with quota.own_limiters():
                client = BigCommerceClient(store.url, store.store_hash, store.access_token)
                while (order_id := pushes.get()) is not None:
                    try:
                        client.update_order_status(order_id, 9)
                    except BigCommerceUnavailable:
                        later(pushes, order_id)
                        continue
                    with lock:
                        pushed[order_id] += 1
                        if len(pushed) == orders:
                            all_pushed.set()

        threads = [threading.Thread(target=target, daemon=True) for target in [importer, pusher] * workers]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        gap = arrival_seconds / scale / orders
        for index, order_id in enumerate(ids):
            time.sleep(max(0.0, started + index * gap - time.perf_counter()))
            intake.put(order_id)
        drained = all_pushed.wait(timeout=600)
        drain = time.perf_counter() - started
        for _ in range(workers):
            intake.put(None)
            pushes.put(None)
        windows = store.quota_windows
        served = sum(w.served for w in windows)
        throttled = store.throttled
        once = sum(1 for order_id in ids if imported[order_id] == 1 and store.status_updates(order_id) == [9])
        per_order = served / orders
        quota_time = orders * per_order / (limit / window)
        share = throttled / (served + throttled)
        full = [w.served for w in windows[:-1]]
        print(f"  orders imported once    {once:,} / {orders:,}"
              f"{'' if drained else '  (not drained in 600 s)'}")  # fmt: skip
        print(f"  HTTP 429 share          {share:7.2%} / floor 1 % / ratio {share / 0.01:.2f}  "
              f"({throttled} of {served + throttled:,} store requests; {waits[0]} steps waited to run again)")  # fmt: skip
        print(f"  drain time              {drain:7.1f} s / ceiling 1.2 x {quota_time:.1f} s = "
              f"{1.2 * quota_time:.1f} s / ratio {drain / (1.2 * quota_time):.2f}  (the quota's time: "
              f"{orders:,} x {per_order:.2f} requests / {limit / window:.0f} per s)")  # fmt: skip
        if full:
            print(f"  each window served      {min(full)} to {max(full)} of {limit}  "
                  f"(mean {statistics.mean(full):.1f}; {quota.reserve_for(limit)} kept for the merchant's other apps)")  # fmt: skip
        print(f"  orders per hour at {per_order:.2f} requests per order, the reserve left to other apps:")
        for plan, plan_quota in (("Standard", 150), ("Plus", 150), ("Pro", 450)):
            usable = plan_quota - quota.reserve_for(plan_quota)
            print(f"    {plan:<9} {plan_quota} / 30 s   {usable * 3600 / 30 / per_order:9,.0f}")


def dom_bench(orders: int = 100, units: int = 50, threads: int = 16) -> None:
    import math
    import random

    from orderflow.fulfillment.dom import DomLine, DomSource, plan
    from orderflow.fulfillment.geo import locate
    from orderflow.models.fulfillment import DomSettings, FulfillmentSource, GeoPoint, SourceAddress
    from orderflow.models.order import Address

    print(
        "DOM (pure): plan time by order size, sources stocking a random quarter of the catalogue (median of 5)"
    )
    ship_to = locate("78701", "US")
    for lines, sources in ((100, 50), (1_000, 200)):
        rng = random.Random(lines)
        products = [f"P{i}" for i in range(lines // 2)]
        stock = [
            DomSource(
                f"S{i}", {p: rng.randint(1, 20) for p in rng.sample(products, len(products) // 4)},
                priority=rng.randint(1, 9),
                location=GeoPoint(latitude=rng.uniform(25, 48), longitude=rng.uniform(-122, -70)),
            )
            for i in range(sources)
        ]  # fmt: skip
        order = [DomLine(n, rng.choice(products), rng.randint(1, 5)) for n in range(1, lines + 1)]
        for label, settings in (
            ("default strategy", DomSettings()),
            ("ship complete, max 5 sources", DomSettings(ship_complete=True, max_sources=5)),
        ):
            times, result = [], None
            for _ in range(5):
                started = time.perf_counter()
                result = plan(order, stock, ship_to, settings)
                times.append(time.perf_counter() - started)
            assert result is not None
            print(f"  {lines:>5} lines x {sources:>3} sources, {label:<29} {statistics.median(times) * 1000:7.1f} ms"
                  f"  ({len(result.shipments)} shipments, {len(result.backordered)} backordered,"
                  f" relaxed: {', '.join(result.relaxed) or '-'})")  # fmt: skip

    # Where the old all-or-nothing exact search fell off its cliff: 31 near sources and max 2 sources
    # make 496 source sets for 9 lines; a 10th line's product adds a 32nd near source, 528 sets.
    print("DOM: 290 sources, max 2 sources within 250 km (the exact search's old cliff; median of 9)")
    target = 20.0
    for lines in (9, 10):
        rng = random.Random(290)
        catalogue = [f"P{i}" for i in range(1, 11)]
        near = []
        for i in range(290):
            if i < 31:
                km, held = 10 + 7 * i, (rng.sample(catalogue[:9], 5) if i % 6 else catalogue[:9])
            elif i == 31:
                km, held = 240, ["P10"]
            else:
                km, held = 300 + 10 * i, catalogue
            bearing = rng.uniform(0, 2 * math.pi)
            point = GeoPoint(
                latitude=30.27 + km / 111.2 * math.cos(bearing),
                longitude=-97.74 + km / (111.2 * math.cos(math.radians(30.27))) * math.sin(bearing),
            )
            stock = {p: rng.randint(2, 9) for p in held}
            near.append(DomSource(f"S{i:03d}", stock, priority=rng.randint(1, 9), location=point))
        order = [DomLine(n, catalogue[n - 1], rng.randint(1, 2)) for n in range(1, lines + 1)]
        settings = DomSettings(max_sources=2, max_distance_km=250)
        times, result = [], None
        for _ in range(9):
            started = time.perf_counter()
            result = plan(order, near, ship_to, settings)
            times.append(time.perf_counter() - started)
        assert result is not None
        measured = statistics.median(times) * 1000
        print(f"  290 sources x {lines:>2} lines   {measured:6.1f} ms / target {target:.0f} ms / ratio "
              f"{measured / target:.2f}  ({len(result.shipments)} shipments, exact: {result.exact})")  # fmt: skip

    print(f"Reservations under contention (moto, in-process): {orders} one-unit orders, {threads} threads,")
    print(f"after {units} units over 4 sources, through SourcingFunction (send_to_dom)")
    with DemoStore() as store, _runtime(store) as runtime:
        places = ((30.27, -97.74), (32.78, -96.80), (41.88, -87.63), (47.61, -122.33))
        for n, (lat, lon) in enumerate(places):
            tables.sources().create(FulfillmentSource(
                id=f"WH-{n}", name=f"Warehouse {n}",
                address=SourceAddress(country_iso2="US", location=GeoPoint(latitude=lat, longitude=lon)),
            ))  # fmt: skip
            tables.inventory().set_on_hand(f"WH-{n}", "Widget", units // 4 + (1 if n < units % 4 else 0))
        keys = []
        for n in range(orders):
            order = _bench_order(1).model_copy(update={
                "order_key": f"BC-bench-res-{n}", "external_id": n,
                "ship_to": [Address(zip="78701", country_iso2="US")],
            })  # fmt: skip
            order.lines[0].product = "Widget"
            tables.orders().create(order)
            keys.append(order.order_key)
        template = json.loads((ROOT / "events" / "step_send_to_dom.json").read_text())

        def source(key: str) -> bool:
            for _ in range(5):
                try:
                    return bool(
                        runtime.invoke("SourcingFunction", {**template, "order_key": key})["succeeded"]
                    )
                except Exception as exc:  # TransientStepError: what the state machine would retry
                    if type(exc).__name__ != "TransientStepError":
                        raise
            return False

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            won = sum(pool.map(source, keys))
        elapsed = time.perf_counter() - started
        reserved = sum(level.reserved for level in tables.inventory().for_product("Widget"))
        print(f"  {orders / elapsed:7.1f} orders/s sourced, {won / elapsed:6.1f} reservations/s "
              f"({won} orders got a unit, {reserved} units reserved of {units})")  # fmt: skip
        print("  (moto copies a whole table per transaction item; DynamoDB's cost per transaction is flat)")


if __name__ == "__main__":
    sections = {
        "imports": cold_imports,
        "order": per_order,
        "order2000": per_large_order,
        "throughput": throughput,
        "flows": flow_generation,
        "transitions": sample_flow_transitions,
        "merge": merge_payload,
        "outage": outage,
        "mappings": mappings,
        "sync": sync_throughput,
        "flash-sale": flash_sale,
        "dom": dom_bench,
    }
    chosen = sys.argv[1:] or list(sections)
    for index, name in enumerate(chosen):
        if index:
            print()
        sections[name]()
