"""`make demo` is the first thing a new user runs: it must finish, say what happened, and exit 0."""

from __future__ import annotations

import io

from orderflow_local.demo import run_demo


def test_the_demo_runs_one_order_end_to_end_and_says_so() -> None:
    out = io.StringIO()

    code = run_demo(out)

    trace = out.getvalue()
    assert code == 0, trace
    assert 'order 250 "Awaiting Fulfillment", 2 lines (ABS, SCW)' in trace
    assert "HTTP 200" in trace and "'status': 'accepted'" in trace
    for line in (
        "✓ Import order",
        "✓ Validate order header",
        "? Header valid?",
        "✓ Validate order lines",
        "yes → Release to fulfillment",
        "BigCommerce status set to 9 Awaiting Shipment",
        'BigCommerce order 250 status now "Awaiting Shipment" (9)',
    ):
        assert line in trace
    assert trace.rstrip().endswith('Done: the order went through and BigCommerce shows "Awaiting Shipment".')


def test_the_demo_can_run_twice_in_one_process() -> None:
    assert run_demo(io.StringIO()) == 0
    assert run_demo(io.StringIO()) == 0
