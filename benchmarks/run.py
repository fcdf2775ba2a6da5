"""``make bench``: figures for the walking skeleton, printed, never asserted.

- cold import time of each function's module (a fresh interpreter each time)
- BigCommerce API calls, DynamoDB requests and state transitions per imported order
- orders per second through the local runtime for 200 orders
- flows: generation time and ASL size by flow size, where Step Functions' 1 MiB limit is reached,
  and state transitions per order for the documentation's sample flow (an order released, an
  order held) against its actions
- merge: the largest state payload after a 20-branch splitter-merge of a 2,000-line order
- outage: 50 orders through webhooks while the store answers 500: orders lost (must be 0), the time
  from the store's recovery to the last import, store requests per order
- mappings: DynamoDB requests and time to map orders of 1, 100 and 1,000 lines, and to import
  (and export) a 10,000-row mappings CSV through the admin API
- sync: orders per second pulled by ``POST /providers/bigcommerce/sync`` from a store holding
  BigCommerce's 150 requests / 30 s quota, and the store requests each order costs
- dom: Send to DOM's plan time for 100 lines x 50 sources and 1,000 lines x 200 sources, and
  reservations per second when many orders compete for the last units
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
from orderflow_local.demo import DEMO_MAPPINGS
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime, RuntimeConfig

SECRET = "bench-webhook-secret-0123456789"
ADMIN = "bench-admin-token"
IMPORT_PROBE = """
import importlib.util, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - start)
"""


def cold_imports(repeats: int = 5) -> None:
    print("Cold import of each function's module (fresh interpreter, median of 5)")
    print("  (this venv also has awscrt, which botocore loads when present: ~60 ms more than on Lambda)")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "common" / "python"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for app in sorted(ROOT.glob("functions/*/app.py")):
        probe = [sys.executable, "-c", IMPORT_PROBE, str(app)]
        times = [
            float(subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout)
            for _ in range(repeats)
        ]
        print(f"  {app.parent.name:<18} {statistics.median(times) * 1000:7.0f} ms")


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


def per_order() -> None:
    print("One order through the default flow (webhook → import → validate → status push)")
    with DemoStore() as store, _runtime(store) as runtime:
        _seed(runtime)
        order_id = store.sample_order()
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: object) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1

        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)  # type: ignore[union-attr]
        dynamo.reset()
        store.clear_requests()
        _deliver(runtime, store, order_id)
        executions = runtime.wait_for_all()
        transitions = {
            e["name"]: sum(
                1 for h in runtime.history(e["executionArn"]) if h["type"].endswith("StateEntered")
            )
            for e in executions
        }
        bigcommerce = Counter(f"{r.method} {r.path.split('?')[0]}" for r in store.requests)
        print(
            f"  BigCommerce API calls   {sum(bigcommerce.values())}  ({', '.join(f'{k} x{v}' for k, v in bigcommerce.items())})"
        )
        print(
            f"  DynamoDB requests       {sum(calls.values())}  ({', '.join(f'{k} x{v}' for k, v in sorted(calls.items()))})"
        )
        print(
            f"  State transitions       {sum(transitions.values())}  "
            f"({', '.join(f'{name} {n}' for name, n in transitions.items())}; "
            f"{', '.join(sorted({e['status'] for e in executions}))})"
        )
        tasks = sum(
            1
            for e in executions
            for h in runtime.history(e["executionArn"])
            if h["type"] == "TaskStateEntered"
        )
        total, floor = sum(transitions.values()), tasks + 2
        print(
            f"  transitions per order   {total} / floor {floor} ({tasks} tasks + 2) / ratio {total / floor:.2f}"
        )
        # Step Functions' part of the cost (us-east-1): Standard bills each state transition; Express
        # bills each execution and its duration (an order's two executions, ~3 s at 64 MB between them).
        standard = total * 0.025
        express = len(executions) * 1.00 / 1_000 + 3 * 0.0625 * 0.00001667 * 1_000
        print(
            f"  Step Functions / 1,000  ${standard:.3f} Standard (what runs), ${express:.3f} if it were Express"
        )


def throughput(orders: int = 200, senders: int = 8) -> None:
    print(f"{orders} orders through the local runtime ({senders} concurrent webhook senders)")
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
        print(f"  webhooks accepted       {orders / accepted:7.1f} /s  ({accepted:.1f} s)")
        print(f"  orders completed        {orders / finished:7.1f} /s  ({finished:.1f} s; {dict(statuses)}, "
              f"{pushed} pushed status 9)")  # fmt: skip
        print("  (one process on this machine: moto serialises DynamoDB; on AWS each part scales out)")


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


def mappings(rows: int = 10_000) -> None:
    print(f"Mappings (moto, in-process): a {rows:,}-row CSV through POST /mappings/products/import, then")
    print("mapping orders by size (account-specific and general variants of every key, median of 5)")
    header = "mapping_group,account,product,external_field_name,external_field_value"
    text = "\r\n".join([header, *(f",,Product {n},sku,SKU-{n:05d}" for n in range(1, rows + 1))]) + "\r\n"
    with DemoStore() as store, _runtime(store) as runtime:
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: object) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1

        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)  # type: ignore[union-attr]
        dynamo.reset()
        started = time.perf_counter()
        parse_csv(MappingKind.PRODUCTS, text)
        print(f"  parse only ({len(text) / 1024:.0f} KiB)   {(time.perf_counter() - started) * 1000:7.0f} ms")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for label, params in (
            ("import, all new", {}),
            ("import again", {}),
            ("dry run", {"dry_run": "true"}),
        ):
            calls.clear()
            started = time.perf_counter()
            answer = requests.post(f"{runtime.api_url}/mappings/products/import", data=text.encode(), params=params,
                                   headers={**admin, "Content-Type": "text/csv"}, timeout=600)  # fmt: skip
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            report = answer.json()
            counts = f"created {report['created']}, unchanged {report['unchanged']}"
            print(f"  {label:<22} {elapsed * 1000:7.0f} ms   DynamoDB {_ops(calls)}  {counts}")
        calls.clear()
        started = time.perf_counter()
        exported = requests.get(f"{runtime.api_url}/mappings/products/export", headers=admin, timeout=600)
        exported.raise_for_status()
        print(f"  {'export':<22} {(time.perf_counter() - started) * 1000:7.0f} ms   DynamoDB {_ops(calls)}  "
              f"{len(exported.content) / 1024:.0f} KiB")  # fmt: skip

        repo = tables.mappings()
        repo.upsert_many(
            MappingKind.ACCOUNTS,
            [MappingInput(value="BenchAccount", external_field_name=PROVIDER_FIELD, external_field_value=PROVIDER_VALUE)],
        )  # fmt: skip
        repo.upsert_many(
            MappingKind.UNITS,
            [MappingInput(value="ea", external_field_name="unit", external_field_value="each")],
        )
        for lines in (1, 100, 1000):
            order = _bench_order(lines)
            times = []
            for _ in range(5):
                calls.clear()
                started = time.perf_counter()
                mapped = map_order(order, repo.resolve)
                times.append(time.perf_counter() - started)
            unmapped = len(mapped.all_mapping_issues)
            print(f"  map a {lines:>4}-line order  {statistics.median(times) * 1000:7.1f} ms   DynamoDB {_ops(calls)}"
                  f"  {unmapped} unmapped")  # fmt: skip
        print("  (moto spends ~2 ms serialising each item it returns; DynamoDB answers a batch in a few ms:")
        print("   the request counts, not these times, are what carries over to AWS)")


def sync_throughput(orders: int = 60) -> None:
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
        executions = runtime.wait_for_all(timeout=600)
        finished = time.perf_counter() - started
        report = answer.json()
        asked = Counter(
            f"{r.method} /v2/orders" + ("" if r.path == "/v2/orders" else "/{id}")
            if r.path.startswith("/v2/orders") else f"{r.method} {r.path}"
            for r in store.requests
        )  # fmt: skip
        statuses = Counter(e["status"] for e in executions)
        print(f"  sync answered           {answered:7.2f} s   ({report['listed']} listed on "
              f"{len(report['pages'])} page, {report['started']} intakes started)")  # fmt: skip
        print(
            f"  orders imported         {orders / finished:7.1f} /s  ({finished:.1f} s to the last flow; {dict(statuses)})"
        )
        print(f"  BigCommerce requests    {sum(asked.values()) / orders:7.2f} per order  "
              f"({', '.join(f'{k} x{v}' for k, v in sorted(asked.items()))}; 429s included)")  # fmt: skip
        ceiling = 150 / 30 / (sum(asked.values()) / orders)
        print(f"  quota ceiling           {ceiling:7.1f} /s  (150 / 30 s over the requests per order:")
        print("   the limit on AWS however far Lambda scales; the listing costs 1 request per 250")
        print("   orders, the rest is the import step's and the flow's)")


def dom_bench(orders: int = 100, units: int = 50, threads: int = 16) -> None:
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
        "throughput": throughput,
        "flows": flow_generation,
        "transitions": sample_flow_transitions,
        "merge": merge_payload,
        "outage": outage,
        "mappings": mappings,
        "sync": sync_throughput,
        "dom": dom_bench,
    }
    chosen = sys.argv[1:] or list(sections)
    for index, name in enumerate(chosen):
        if index:
            print()
        sections[name]()
