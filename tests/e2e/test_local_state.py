"""The local runtime's state across a restart (``make serve`` keeps it in ``.local/state``): tables,
generated secrets, published flows' state machines and executions come back; an execution that was
running comes back interrupted, and its order can be resubmitted."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import threading
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orderflow.store import tables
from orderflow_cli import __main__ as cli
from orderflow_local import serve
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from orderflow_local.state import INTERRUPTED, LocalState
from orderflow_local.template import REGION
from tests.conftest import WEBHOOK_SECRET, Api, local_runtime, post_webhook, webhook_body
from tests.e2e.test_flows_end_to_end import LINES, action, flow, policy, publish, release

WAREHOUSE = "orderflow-local-custom-warehouse"


def runtime_on(store: DemoStore, state_dir: Path) -> LocalRuntime:
    """The test runtime (tests.conftest.local_runtime), keeping its state in ``state_dir``."""
    return LocalRuntime(dataclasses.replace(local_runtime(store).config, state_dir=state_dir))


def flow_runs(runtime: LocalRuntime, order_key: str, flow_id: str) -> list[dict[str, Any]]:
    return [e for e in runtime.executions() if e["name"].startswith(f"{order_key}-{flow_id}-")]


def test_a_restart_keeps_what_was_configured_and_imported_and_runs_no_flow_twice(
    store: DemoStore, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    # Given a runtime keeping its state: mappings, settings, a policy, a published flow, an imported order
    with runtime_on(store, state) as first:
        api = Api(first.api_url)
        api.seed_demo_mappings()
        assert api.put("/settings/bigcommerce", {"status_mapping": {"on_hold": 13}}).status_code == 200
        policy(api, {"name": "Needs an email", "kind": "execution", "criticality": "critical",
                     "rules": [{"field": "customer_email", "operator": "contains data"}]})  # fmt: skip
        published = publish(
            api,
            flow("Restart flow", action("Check header", execution_policies=["Needs an email"]), release()),
        )
        version_arn = tables.flows().version(published["id"], 1).version_arn
        order_id = store.add_order(lines=LINES)
        body = webhook_body(store, order_id)
        accepted = post_webhook(first, body)
        assert accepted.json()["status"] == "accepted", accepted.text
        first.wait_for_all()
        key = accepted.json()["order_key"]
        paths = [f"/orders/{key}", f"/orders/{key}/step-results", "/mappings/products", "/mappings/units",
                 "/settings/bigcommerce", "/policies", f"/flows/{published['id']}", "/flows"]  # fmt: skip
        before = {path: api.get(path).json() for path in paths}
        provider_secret = first.secret_value("ProviderSecretValue")
        executions = {e["name"]: e["status"] for e in first.executions()}
        assert len(flow_runs(first, key, published["id"])) == 1

    # When it stops and a new runtime starts on the same state directory
    with runtime_on(store, state) as second:
        api = Api(second.api_url)

        # Then everything answers as before: the order and its step results, mappings, settings, policy, flow
        for path, answer in before.items():
            assert api.get(path).json() == answer, path
        assert before[f"/flows/{published['id']}"]["status"] == "published"
        # the flow's state machine is back with the same version ARN, and so are the secret and the runs
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        assert stepfunctions.describe_state_machine(stateMachineArn=version_arn)["name"].endswith(
            published["id"]
        )
        assert tables.flows().version(published["id"], 1).version_arn == version_arn
        assert second.secret_value("ProviderSecretValue") == provider_secret
        assert {e["name"]: e["status"] for e in second.executions()} == executions
        assert second.interrupted == []

        # And a replayed webhook is recognised as a duplicate and starts nothing
        replay = post_webhook(second, body)
        assert replay.status_code == 200 and replay.json()["status"] == "duplicate", replay.text
        second.wait_for_all()
        assert len(second.executions()) == len(executions)
        assert len(flow_runs(second, key, published["id"])) == 1

        # And a new order runs the re-created flow version exactly once
        new_id = store.add_order(lines=LINES)
        fresh = post_webhook(second, webhook_body(store, new_id))
        assert fresh.json()["status"] == "accepted", fresh.text
        second.wait_for_all()
        [run] = flow_runs(second, fresh.json()["order_key"], published["id"])
        described = stepfunctions.describe_execution(executionArn=run["executionArn"])
        assert described["status"] == "SUCCEEDED" and described["stateMachineArn"] == version_arn
        steps = api.get(f"/orders/{fresh.json()['order_key']}/step-results").json()["step_results"]
        assert [(r["step"], r["status"]) for r in steps if r["flow_id"] == published["id"]] == [
            ("Check header", "succeeded"), ("Release", "succeeded")]  # fmt: skip
        assert store.status_updates(order_id) == [9] and store.status_updates(new_id) == [9]


def test_an_execution_running_at_the_last_save_comes_back_interrupted_and_resubmittable(
    store: DemoStore, tmp_path: Path
) -> None:
    state, killed = tmp_path / "state", tmp_path / "killed"
    entered, answer = threading.Event(), threading.Event()

    def warehouse(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        entered.set()
        answer.wait(30)
        return {"succeeded": True, "message": "the warehouse took the order"}

    # Given an order whose flow waits in a step when the state is saved, and what a kill -9 then leaves
    with runtime_on(store, state) as first:
        api = Api(first.api_url)
        api.seed_demo_mappings()
        first.register_function(WAREHOUSE, warehouse)
        published = publish(
            api, flow("Warehouse flow", action("Ask the warehouse", "custom", target=WAREHOUSE), release())
        )
        accepted = post_webhook(first, webhook_body(store, store.add_order(lines=LINES)))
        key = accepted.json()["order_key"]
        assert entered.wait(30)
        # the intake, whose route step started the flow, finishes its own last transitions first
        for execution in first.executions():
            if "-intake-" in execution["name"]:
                first.wait_for_execution(execution["executionArn"], 30)
        first.save_state()
        shutil.copytree(state, killed)
        answer.set()

    # When a runtime starts on that state
    with runtime_on(store, killed) as second:
        api = Api(second.api_url)
        second.register_function(WAREHOUSE, lambda _event, _context: {"succeeded": True, "message": "ok"})

        # Then the execution is listed as interrupted in the step it was in, and shows as aborted
        [interrupted] = second.interrupted
        [run] = flow_runs(second, key, published["id"])
        assert (interrupted.order_key, interrupted.execution) == (key, run["name"])
        assert interrupted.step == "Ask the warehouse" and interrupted.resubmittable
        assert interrupted.hint() == f"POST /orders/{key}/resubmit"
        assert run["status"] == "ABORTED"
        results = api.get(f"/orders/{key}/step-results").json()["step_results"]
        [failed] = [r for r in results if r["status"] == "failed"]
        assert (failed["step"], failed["message"], failed["execution"]) == (
            "Ask the warehouse", INTERRUPTED, run["name"])  # fmt: skip

        # And resubmitting the order runs that step again, and what follows it, once
        resubmitted = api.post(f"/orders/{key}/resubmit")
        assert resubmitted.status_code == 202, resubmitted.text
        assert resubmitted.json()["resume_at"] == "Ask the warehouse"
        second.wait_for_all()
        results = api.get(f"/orders/{key}/step-results").json()["step_results"]
        latest = {r["step"]: r["status"] for r in results}
        assert latest["Ask the warehouse"] == "succeeded" and latest["Release"] == "succeeded"
        assert [e["status"] for e in flow_runs(second, key, published["id"])] == ["SUCCEEDED", "ABORTED"]


def test_a_table_comes_back_with_every_type_the_repositories_store(tmp_path: Path) -> None:
    revision = zlib.compress(json.dumps({"order": "BC-1", "lines": list(range(50))}).encode())
    item = {
        "pk": {"S": "BC-test-store-250"},
        "sk": {"S": "REVISION#0001"},
        "body": {"B": revision},
        "total": {"N": "45.10"},
        "lines": {"L": [{"M": {"sku": {"S": "ABS"}, "quantity": {"N": "2"}, "raw": {"B": b"\x00\xff"}}}]},
        "pushed": {"BOOL": True},
        "company": {"NULL": True},
        "empty": {"S": ""},
        "tags": {"SS": ["a", "b"]},
        "ids": {"NS": ["1", "2"]},
        "blobs": {"BS": [b"\x01", b"\x02"]},
        "nested": {"M": {"deeper": {"M": {"list": {"L": [{"NULL": True}, {"BOOL": False}, {"N": "-1e3"}]}}}}},
    }
    table = {"TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
             "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
             "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}]}  # fmt: skip

    # Given a state directory holding a table with an item of every type
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**table)
        saving = _state(tmp_path)
        saving.restore(dynamodb, boto3.client("stepfunctions", region_name=REGION))
        dynamodb.put_item(TableName="orders", Item=item)
        saving.observe("dynamodb", "PutItem", {"TableName": "orders"})
        saving.close()

    # When a new moto starts, with the table created empty, and the state is restored
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**table)
        restoring = _state(tmp_path)
        restoring.restore(dynamodb, boto3.client("stepfunctions", region_name=REGION))
        restoring.close()

        # Then the item is the same, type for type; binary is base64 in the file, as DynamoDB exports it
        stored = dynamodb.get_item(TableName="orders", Key={"pk": item["pk"], "sk": item["sk"]})["Item"]
        assert stored == item and restoring.restored_items == {"orders": 1}
    saved = json.loads((tmp_path / "tables" / "orders.json").read_text())
    assert saved["items"][0]["body"]["B"] == base64.b64encode(revision).decode()


def test_a_second_runtime_cannot_take_a_state_directory_in_use(tmp_path: Path) -> None:
    # Given a state directory taken by one runtime
    first = _state(tmp_path)
    try:
        # When another one tries to take it
        # Then it is refused, naming the process that has it
        with pytest.raises(RuntimeError, match="in use by another local runtime"):
            _state(tmp_path)
    finally:
        first.close()
    _state(tmp_path).close()  # and once released, it can be taken


def test_serve_keeps_its_state_in_a_directory_unless_ephemeral(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Path | None] = []
    real = serve.serve_forever

    def serve_once(
        port: int | None = None, stop: threading.Event | None = None, state_dir: Path | None = None
    ) -> int:
        seen.append(state_dir)
        stopped = threading.Event()
        stopped.set()  # start, say what it serves, and stop at once
        return real(port, stop=stopped, state_dir=state_dir)

    monkeypatch.setattr(serve, "serve_forever", serve_once)
    monkeypatch.delenv("BIGCOMMERCE_API_URL", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    # When serve runs with --state-dir, then with --ephemeral
    assert cli.main(["serve", "--port", "0", "--state-dir", str(tmp_path / "kept")]) == 0
    assert cli.main(["serve", "--port", "0", "--ephemeral"]) == 0

    # Then the first kept its state in that directory, the second kept none
    assert seen == [tmp_path / "kept", None]
    assert {p.name for p in (tmp_path / "kept").iterdir()} >= {"tables", "secrets.json", "saved.json"}
    assert (tmp_path / "kept" / "secrets.json").stat().st_mode & 0o077 == 0

    # And without either it keeps .local/state in the project; both at once are refused
    monkeypatch.setattr(
        serve, "serve_forever", lambda port=None, stop=None, state_dir=None: seen.append(state_dir) or 0
    )
    assert cli.main(["serve"]) == 0 and seen[-1] == serve.default_state_dir()
    assert serve.default_state_dir().parts[-2:] == (".local", "state")
    with pytest.raises(SystemExit):
        cli.main(["serve", "--ephemeral", "--state-dir", str(tmp_path)])


def _state(directory: Path) -> LocalState:
    state = LocalState(directory, {"OrdersTable": "orders"}, set(), threading.RLock())
    state.open()
    return state
