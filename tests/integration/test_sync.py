"""Pull sync and reconciliation against the loopback store: ``POST /providers/bigcommerce/sync``,
``python -m orderflow_cli bigcommerce sync`` and the scheduled ``ReconcileOrdersFunction``."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderflow import clock, config
from orderflow.bigcommerce import connection, quota
from orderflow.connector import sync
from orderflow.models.order import Order, order_key_for
from orderflow.store import tables
from orderflow_cli.__main__ import main
from orderflow_local.demo_store import DemoStore, Fault
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, Api, post_webhook, step_event, webhook_body

SYNC = "/providers/bigcommerce/sync"
RECONCILE = "ReconcileOrdersFunction"
SCHEDULED_EVENT: dict[str, Any] = {}  # EventBridge Scheduler sends no input unless one is configured
STORE = "test-store"


def imported() -> dict[int, Order]:
    orders, cursor = tables.orders().recent(limit=1000)
    assert cursor is None
    return {order.external_id: order for order in orders}


def intakes(runtime: LocalRuntime, kind: str) -> dict[int, dict[str, Any]]:
    """Finished intake executions whose name says ``kind`` (sync / reconcile / webhook hash), by order id."""
    found: dict[int, dict[str, Any]] = {}
    for execution in runtime.wait_for_all():
        if f"-intake-{kind}" not in execution["name"]:
            continue
        payload = json.loads(execution["input"])
        order_id = payload["order_ref"]["order_id"]
        assert order_id not in found, f"two {kind} intakes for order {order_id}"
        found[order_id] = {**payload, "name": execution["name"], "status": execution["status"]}
    return found


def list_requests(store: DemoStore) -> list[dict[str, list[str]]]:
    return [r.query for r in store.requests if r.method == "GET" and r.path == "/v2/orders"]


def order_reads(store: DemoStore) -> set[int]:
    return {
        int(r.path.rsplit("/", 1)[1])
        for r in store.requests
        if r.method == "GET" and r.path.startswith("/v2/orders/") and r.path.count("/") == 3
    }


def deliver(runtime: LocalRuntime, store: DemoStore, order_ids: list[int]) -> None:
    for order_id in order_ids:
        answer = post_webhook(runtime, webhook_body(store, order_id))
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text


def modified(store: DemoStore, order_id: int) -> datetime:
    found = sync.parse_store_date(store.order(order_id)["date_modified"])
    assert found is not None
    return found


def keep_store_statuses(api: Api) -> None:
    """Imported orders stay at the new-order status in the store (no downloaded status, no push on
    validation), so a listing by that status shows them as already imported."""
    answer = api.put(
        "/settings/bigcommerce", {"downloaded_status_id": None, "status_mapping": {"validated": None}}
    )
    assert answer.status_code == 200, answer.text


def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client's retry back-off is real time; these tests only need its outcome.
    monkeypatch.setattr(connection.client(), "_sleep", lambda _seconds: None)


# -- reconciliation ----------------------------------------------------------------------------------


def test_reconciliation_imports_exactly_the_orders_whose_webhooks_never_arrived(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given 20 paid orders placed over the last hours, and webhooks that arrived for 15 of them only
    api.seed_demo_mappings()
    placed = datetime.now(UTC) - timedelta(hours=3)
    ids = [store.add_order(status_id=11, date_created=placed + timedelta(minutes=n)) for n in range(20)]
    missed = ids[3::4]
    deliver(runtime, store, [i for i in ids if i not in missed])
    runtime.wait_for_all()
    assert set(imported()) == set(ids) - set(missed)
    newest = max(modified(store, i) for i in ids)
    store.clear_requests()

    # When the scheduled reconciliation runs
    report = runtime.invoke(RECONCILE, SCHEDULED_EVENT)["reconcile"]

    # Then it started the intake of exactly the 5 missed orders, and they are imported (the others
    # are at the new-order status still, or at the status their flow has set since)
    assert (report["listed"], report["started"]) == (20, 5)
    assert report["already_imported"] + report["not_new_status"] == 15
    assert report["complete"] is True and sorted(report["started_ids"]) == missed
    started = intakes(runtime, "reconcile")
    assert sorted(started) == missed
    assert {s["trigger"] for s in started.values()} == {"reconcile"}
    assert {s["status"] for s in started.values()} == {"SUCCEEDED"}
    assert set(imported()) == set(ids)
    # And the store was asked for one list page, then only for the orders imported
    [listing] = list_requests(store)
    assert "status_id" not in listing and listing["sort"] == ["id:asc"] and listing["limit"] == ["250"]
    since = datetime.fromisoformat(report["since"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < datetime.now(UTC) - since < timedelta(hours=24, minutes=1)
    assert listing["min_date_modified"][0].endswith("+0000")  # RFC-2822, as BigCommerce documents
    assert order_reads(store) == set(missed)

    # And the checkpoint is the newest change it saw
    first = tables.settings().reconcile_state()
    assert first.checkpoint == report["checkpoint"] == clock.iso(newest)

    # When a new order comes (a second later: the store's dates have whole seconds) with its
    # webhook, and the reconciliation runs again
    time.sleep(1.0)
    latest = store.add_order(status_id=11)
    deliver(runtime, store, [latest])
    runtime.wait_for_all()
    again = runtime.invoke(RECONCILE, SCHEDULED_EVENT)["reconcile"]

    # Then it starts nothing, and the checkpoint moved on to the newest change
    assert (again["started"], again["already_started"], again["started_ids"]) == (0, 0, [])
    assert again["already_imported"] + again["not_new_status"] == again["listed"] >= 2
    assert again["checkpoint_before"] == first.checkpoint
    assert (
        again["checkpoint"] == clock.iso(max(modified(store, i) for i in [*ids, latest])) > first.checkpoint
    )
    assert tables.settings().reconcile_state().checkpoint == again["checkpoint"]
    assert sorted(intakes(runtime, "reconcile")) == missed


def test_reconciliation_imports_only_orders_at_the_new_order_status(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    # Given an incomplete order (failed payment), a pending one, and one awaiting fulfillment
    incomplete = store.add_order(status_id=0)
    pending = store.add_order(status_id=1)
    paid = store.add_order(status_id=11)

    report = runtime.invoke(RECONCILE, SCHEDULED_EVENT)["reconcile"]

    assert (report["listed"], report["not_new_status"], report["started"]) == (3, 2, 1)
    assert sorted(intakes(runtime, "reconcile")) == [paid]
    assert set(imported()) == {paid}
    assert {incomplete, pending}.isdisjoint(order_reads(store))


def test_a_store_failure_mid_listing_leaves_the_checkpoint_and_the_next_run_starts_nothing_twice(
    runtime: LocalRuntime, store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a reconciled store
    store.add_order(status_id=2, date_created=datetime.now(UTC) - timedelta(hours=1))
    checkpoint = runtime.invoke(RECONCILE, SCHEDULED_EVENT)["reconcile"]["checkpoint"]
    # and then two pages of changes: 3 paid orders on the first page, incomplete carts after them
    paid = [store.add_order(status_id=11) for _ in range(3)]
    for _ in range(260):
        store.add_order(status_id=0)
    no_waiting(monkeypatch)
    store.inject("GET", r"/v2/orders", Fault(None), *[Fault(500)] * 4)  # page 1 answers, page 2 never

    # When the reconciliation runs and the store fails on the second page
    failed = runtime.invoke(RECONCILE, SCHEDULED_EVENT)

    # Then the sweep says so, the checkpoint stays where it was, with the first page's orders started
    assert failed["reconcile"] is None and failed["errors"][0].startswith("reconciliation: ")
    assert tables.settings().reconcile_state().checkpoint == checkpoint
    assert sorted(intakes(runtime, "reconcile")) == paid

    # When the next run lists the same changes again
    report = runtime.invoke(RECONCILE, SCHEDULED_EVENT)["reconcile"]

    # Then it starts none of them twice, and now the checkpoint moves on
    assert report["complete"] is True and report["pages"] == 2
    assert (report["listed"], report["started"], report["started_ids"]) == (264, 0, [])
    assert report["checkpoint"] > checkpoint
    assert sorted(intakes(runtime, "reconcile")) == paid
    assert set(imported()) == set(paid)


def test_a_run_out_of_time_stores_where_it_got_to_and_the_next_run_carries_on(
    runtime: LocalRuntime, store: DemoStore
) -> None:
    for _ in range(255):
        store.add_order(status_id=0)
    late = store.add_order(status_id=11)
    client = connection.client()
    settings = tables.settings()
    start = sync.intake_starter(STORE, config.env("ORDER_INTAKE_STATE_MACHINE_ARN"))

    first = sync.reconcile(client, tables.orders(), settings, start, remaining_seconds=lambda: 1.0)

    assert (first.complete, first.pages, first.totals.started, first.checkpoint) == (False, 1, 0, None)
    saved = settings.reconcile_state()
    assert (
        saved.checkpoint is None and saved.progress is not None and saved.progress.after_id == first.after_id
    )

    second = sync.reconcile(client, tables.orders(), settings, start)

    assert (second.complete, second.pages, second.totals.listed, second.started_ids) == (True, 1, 6, [late])
    assert second.since == first.since and second.attempt == first.attempt
    state = settings.reconcile_state()
    assert state.progress is None and state.checkpoint == second.checkpoint is not None
    [listing] = list_requests(store)[-1:]
    assert listing["min_id"] == [str(first.after_id + 1)]


# -- sync through the API ----------------------------------------------------------------------------


def test_sync_imports_the_orders_at_the_new_order_status_that_are_not_imported(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given paid orders, one already imported by its webhook (and left at its status), and orders
    # at other statuses
    api.seed_demo_mappings()
    keep_store_statuses(api)
    paid = [store.add_order(status_id=11) for _ in range(4)]
    incomplete = [store.add_order(status_id=0) for _ in range(2)]
    store.add_order(status_id=1)
    deliver(runtime, store, paid[:1])
    runtime.wait_for_all()
    store.clear_requests()

    # When the merchant syncs
    answer = api.post(SYNC, {})

    # Then the others are started and imported; nothing at another status is touched
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["status_id"], report["new_order_status_id"], report["next_page"]) == (11, 11, None)
    assert [(p["page"], p["listed"], p["already_imported"], p["started"]) for p in report["pages"]] == [
        (1, 4, 1, 3)
    ]
    assert (report["listed"], report["already_imported"], report["started"]) == (4, 1, 3)
    started = intakes(runtime, "sync")
    assert sorted(started) == paid[1:]
    assert {s["name"] for s in started.values()} == {
        f"{order_key_for(STORE, i)}-intake-sync-{report['run_id']}" for i in paid[1:]
    }
    assert set(imported()) == set(paid)
    [listing] = list_requests(store)
    assert (listing["status_id"], listing["sort"], listing["limit"]) == (["11"], ["id:asc"], ["250"])
    assert order_reads(store) == set(paid[1:])

    # When the same run is sent again, and when the merchant lists an unimported status
    assert api.post(SYNC, {"run_id": report["run_id"]}).json()["started"] == 0
    other = api.post(SYNC, {"status_id": 0}).json()

    # Then nothing more is started: incomplete orders are never imported
    assert (other["listed"], other["not_new_status"], other["started"]) == (2, 2, 0)
    assert set(imported()) == set(paid) and set(incomplete).isdisjoint(order_reads(store))


def test_sync_of_selected_orders_lists_only_their_range_and_names_those_not_found(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    ids = [store.add_order(status_id=11) for _ in range(6)]
    unpaid = store.add_order(status_id=7)
    store.clear_requests()

    report = api.post(SYNC, {"order_ids": [ids[3], ids[1], unpaid, 999_999]}).json()

    assert (report["listed"], report["started"]) == (2, 2)
    assert report["selected"] == sorted([ids[1], ids[3], unpaid, 999_999])
    assert report["not_found"] == [unpaid, 999_999]
    assert sorted(intakes(runtime, "sync")) == [ids[1], ids[3]]
    [listing] = list_requests(store)
    assert (listing["min_id"], listing["max_id"]) == ([str(ids[1])], ["999999"])


def test_sync_while_the_same_orders_webhooks_arrive_imports_each_order_once(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given orders whose webhooks arrive while the merchant syncs
    api.seed_demo_mappings()
    keep_store_statuses(api)
    ids = [store.sample_order() for _ in range(12)]
    answers: list[dict[str, Any]] = []

    def send(order_ids: list[int]) -> None:
        for order_id in order_ids:
            answers.append(post_webhook(runtime, webhook_body(store, order_id)).json())

    senders = [threading.Thread(target=send, args=(ids[n::3],)) for n in range(3)]

    for sender in senders:
        sender.start()
    answer = api.post(SYNC)
    for sender in senders:
        sender.join()

    # Then every order is imported once, whichever side started it first
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["listed"] == 12 and report["started"] + report["already_imported"] == 12
    assert len(answers) == 12 and {a["status"] for a in answers} <= {"accepted", "ignored"}
    runtime.wait_for_all()
    stored = imported()
    assert sorted(stored) == ids
    assert {(order.revision, order.import_id) for order in stored.values()} == {(1, f"BC-{i}") for i in ids}
    assert all(tables.orders().revisions(order.order_key) == [] for order in stored.values())
    flows = [e for e in runtime.executions() if "-default-order-flow-" in e["name"]]
    assert len(flows) == len({e["name"] for e in flows}) <= 12


def test_an_order_reset_to_the_new_order_status_after_import_is_imported_again(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given an order imported and marked downloaded (Awaiting Shipment) in the store
    api.seed_demo_mappings()
    assert (
        api.put(
            "/settings/bigcommerce", {"downloaded_status_id": 9, "status_mapping": {"validated": None}}
        ).status_code
        == 200
    )
    order_id = store.sample_order()
    deliver(runtime, store, [order_id])
    runtime.wait_for_all()
    assert store.order(order_id)["status_id"] == 9 and imported()[order_id].external_status_id == 9

    # When the merchant sets it back to Awaiting Fulfillment (its webhook lost) and syncs
    store.set_status(order_id, 11)
    report = api.post(SYNC).json()

    # Then a re-import is started, on a status trigger so that the import step reads the store
    assert (report["started"], report["reimports"]) == (1, 1)
    [(started_id, started)] = intakes(runtime, "sync").items()
    assert started_id == order_id and started["trigger"] == "reconcile"
    assert imported()[order_id].revision == 2


def test_a_page_budget_answers_where_to_resume_and_orders_leaving_the_status_are_not_skipped(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given two pages of incomplete orders
    ids = [store.add_order(status_id=0) for _ in range(262)]

    first = api.post(SYNC, {"status_id": 0, "max_pages": 1}).json()

    assert (first["next_page"], first["after_id"], first["listed"]) == (2, ids[249], 250)
    # When ten orders of the first page leave the status before the next call
    for order_id in ids[:10]:
        store.set_status(order_id, 5)
    rest = api.post(
        SYNC, {"status_id": 0, "start_page": 2, "after_id": first["after_id"], "run_id": first["run_id"]}
    ).json()

    # Then the next page still holds every order after the first one's (page 2 by number would be empty)
    assert (rest["next_page"], rest["listed"], [p["page"] for p in rest["pages"]]) == (None, 12, [2])
    assert (rest["pages"][0]["first_id"], rest["pages"][0]["last_id"]) == (ids[250], ids[-1])


def importing_in_process(runtime: LocalRuntime, store: DemoStore) -> sync.IntakeStarter:
    """An intake starter that runs the intake's import step at once, in-process, on the sync's own
    start workers: the imports of a whole sync then compete for the store's quota within seconds,
    which 300 Step Functions executions under moto would take minutes to do."""

    def start(order_id: int, trigger: str, attempt: str) -> tuple[str, bool]:
        order_key = order_key_for(store.store_hash, order_id)
        execution = f"{order_key}-intake-{attempt}"
        ref = {"source": "bigcommerce", "store_hash": store.store_hash, "order_id": order_id}
        event = step_event(
            "step_import_order.json", order_key=order_key, order_ref=ref, trigger=trigger, execution=execution
        )
        outcome = runtime.invoke("ImportOrderFunction", event)
        assert outcome["status"] == "succeeded", outcome
        return execution, True

    return start


def test_a_sync_of_300_orders_against_the_stores_quota_meets_no_429_and_imports_each_order_once(
    runtime: LocalRuntime, api: Api, store: DemoStore
) -> None:
    # Given 300 paid orders, and a store enforcing a quota our imports outrun: 24 requests per 2 s
    # (BigCommerce's 150 per 30 s, scaled so that the sync takes seconds, not minutes; windows long
    # enough that a busy machine's pauses are small beside them)
    api.seed_demo_mappings()
    ids = [store.sample_order() for _ in range(300)]
    store.rate_limit(24, 2_000)
    store.clear_requests()

    # When they are synced, their imports running 8 at a time in this one process (one limiter)
    report = sync.sync_orders(connection.client(), tables.orders(), 11, importing_in_process(runtime, store))

    # Then the store never answered 429, and each order was read once and imported once
    assert report.totals.started == 300
    assert store.throttled == 0
    reads = [r.path for r in store.requests if r.method == "GET" and r.path.count("/") == 3]
    assert sorted(reads) == [f"/v2/orders/{i}" for i in ids]
    stored = imported()
    assert sorted(stored) == ids
    assert {(order.revision, order.import_id) for order in stored.values()} == {(1, f"BC-{i}") for i in ids}
    # And no window served more than the quota less the request left to the merchant's other apps
    windows = store.quota_windows
    assert len(windows) > 1 and max(w.served for w in windows) <= 24 - quota.reserve_for(24)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status_id": 15}, "status_id"),
        ({"status_id": "11"}, "status_id"),
        ({"order_ids": []}, "order_ids"),
        ({"order_ids": [250, "x"]}, "order_ids.1"),
        ({"order_ids": [0]}, "order_ids.0"),
        ({"max_pages": 0}, "max_pages"),
        ({"start_page": "2"}, "start_page"),
        ({"run_id": "not a run"}, "run_id"),
        ({"pages": 1}, "pages"),
    ],
)
def test_the_body_is_validated_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    answer = api.post(SYNC, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_token_the_store_refuses_names_the_orders_scope(api: Api, store: DemoStore) -> None:
    store.access_token = "revoked"

    answer = api.post(SYNC)

    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "bigcommerce_unauthorized" and "Orders scope" in error["message"]


# -- CLI ---------------------------------------------------------------------------------------------


def test_the_cli_prints_a_line_per_page_and_a_summary(
    runtime: LocalRuntime, store: DemoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [store.add_order(status_id=0) for _ in range(251)]
    paid = [store.add_order(status_id=11) for _ in range(2)]
    command = ["bigcommerce", "sync", "--api", runtime.api_url, "--token", ADMIN_TOKEN]

    assert main([*command, "--status-id", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"page 1 (orders {ids[0]}-{ids[249]}): 250 listed, 0 started, 0 already imported, "
        "250 not at the new-order status",
        f"page 2 (orders {ids[250]}-{ids[250]}): 1 listed, 0 started, 0 already imported, "
        "1 not at the new-order status",
    ]
    assert out[2].startswith("done: 2 pages of orders at status 0, 251 listed: 0 imports started")
    assert (
        out[3]
        == "  251 not imported: status 0 is not the new-order status (11); orders are imported at that status"
    )

    assert main([*command, "--order-id", str(paid[1]), "--order-id", "999999"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"page 1 (orders {paid[1]}-{paid[1]}): 1 listed, 1 started, 0 already imported"
    assert out[1].startswith("done: 1 page of orders at status 11, 1 listed: 1 import started (0 re-imports)")
    assert out[2] == "  not found at status 11: 999999"
    assert sorted(intakes(runtime, "sync")) == [paid[1]]

    store.access_token = "revoked"
    assert main([*command, "--run-id", "again"]) == 1
    err = capsys.readouterr().err
    assert f"page 1: POST {SYNC} answered 502: BigCommerce answered 401" in err
    assert "resume with --start-page 1 --run-id again" in err
