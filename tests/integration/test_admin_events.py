"""The admin samples in events/ reach the route their routeKey names (what `sam local invoke` sends)."""

from __future__ import annotations

import json

import pytest

from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, EVENTS, load_event

ADMIN_EVENTS = sorted(p.name for p in EVENTS.glob("admin_*.json"))


@pytest.mark.parametrize("name", ADMIN_EVENTS)
def test_every_admin_sample_is_answered_by_the_function_serving_its_route(
    runtime: LocalRuntime, name: str
) -> None:
    event = load_event(name)
    method, path = event["routeKey"].split(" ", 1)
    [function] = [r.function for r in runtime.template.routes if (r.method, r.path) == (method, path)]
    event["headers"]["authorization"] = f"Bearer {ADMIN_TOKEN}"

    answer = runtime.invoke(function, event)

    body = json.loads(answer["body"]) if answer.get("body") else {}
    error = body.get("error") if isinstance(body, dict) else None
    # Answered by the route itself: success, or a domain answer about missing data, never "no route"
    assert answer["statusCode"] < 500, body
    assert not (error and error["message"].startswith("no route")), body
    if error:
        assert error["field"], body


def test_the_schedule_sample_runs_a_sweep_with_its_reconciliation(runtime: LocalRuntime) -> None:
    report = runtime.invoke("ReconcileOrdersFunction", load_event("schedule_reconcile_orders.json"))

    assert report["ran"] is True and report["errors"] == []
    assert report["reconcile"]["complete"] is True and report["reconcile"]["checkpoint"]
    assert report["reconcile"]["started"] == 0  # an empty store: nothing missed
    assert report["attention"]["pending_import"]["count"] == 0
