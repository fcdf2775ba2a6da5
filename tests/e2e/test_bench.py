"""`make bench` keeps working: its per-order section runs and reports what one order costs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_per_order_benchmark_runs_and_counts_calls() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common" / "python")}
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "order"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    # One GET of the order and one status PUT: the store's shared quota is spent sparingly
    assert re.search(r"BigCommerce API calls\s+2\b", done.stdout), done.stdout
    assert re.search(r"DynamoDB requests\s+\d+", done.stdout), done.stdout
    assert "SUCCEEDED" in done.stdout and "FAILED" not in done.stdout
