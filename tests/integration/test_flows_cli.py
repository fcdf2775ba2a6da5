"""Flows as code: the CLI validates, draws and publishes flow files through the admin API."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderflow_cli.__main__ import main
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, ROOT, Api

FLOW_FILE = """
name: Cli flow
type: order_orchestration
description: published from a file
steps:
  - {name: Check header, action: validate_order_header}
  - name: Header ok?
    element: condition
    yes: [{name: Release, action: update_order_status, params: {status: validated}}]
    no: [{name: Hold, action: update_order_status, params: {status: on_hold}}]
"""


def test_validate_names_every_problem_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: Broken\nsteps:\n  - {name: A, action: send_to_xyz}\n  - {name: A, action: custom}\n"
    )

    assert main(["flows", "validate", str(ROOT / "flows" / "default.yaml")]) == 0
    assert main(["flows", "validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "steps[0].action: unknown action 'send_to_xyz'" in err
    assert "steps[1]: a custom action needs a target" in err


def test_diagram_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "diagram", str(ROOT / "flows" / "default.yaml"), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Default order flow v1") and "```mermaid\nflowchart TD" in out


def test_publish_creates_publishes_and_is_idempotent_until_the_file_changes(
    runtime: LocalRuntime, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.yaml"
    path.write_text(FLOW_FILE)
    publish = ["flows", "publish", str(path), "--api", runtime.api_url, "--token", ADMIN_TOKEN]

    assert main(publish) == 0
    assert main(publish) == 0  # same file again: nothing changes
    path.write_text(FLOW_FILE.replace("published from a file", "published again, changed"))
    assert main(publish) == 1  # changed and published: refused without --replace
    assert main([*publish, "--replace"]) == 0

    out, err = capsys.readouterr()
    assert "published cli-flow v1" in out and "already published as cli-flow v1" in out
    assert "pass --replace" in err and "published cli-flow v2" in out
    record = api.get("/flows/cli-flow").json()
    assert (record["status"], record["version"], record["versions"]) == ("published", 2, [1, 2])
    assert record["description"] == "published again, changed"
