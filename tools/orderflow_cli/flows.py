"""Flows as code from the command line: validate, generate, diagram, and publish through the admin API.

``publish`` is idempotent: a flow already published with the same definition is left alone; a
changed one is refused unless ``--replace`` (unpublish, edit, publish a new version).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from orderflow.flows.diagram import to_markdown, to_mermaid
from orderflow.flows.files import generate_file, generate_intake, load_flow
from orderflow.models.flow import Flow, FlowError
from orderflow_cli.admin_client import AdminApi, ApiError, add_api_options


def add_commands(flows: argparse.ArgumentParser) -> None:
    commands = flows.add_subparsers(dest="flow_command", required=True)
    validate = commands.add_parser(
        "validate", help="check flow files (structure; policies are checked on publish)"
    )
    validate.add_argument("files", nargs="+")
    generate = commands.add_parser(
        "generate", help="write each flow's state machine (ASL) and the order intake"
    )
    generate.add_argument("files", nargs="+")
    generate.add_argument("--out", default="statemachines")
    diagram = commands.add_parser("diagram", help="print a Mermaid flowchart of a flow")
    diagram.add_argument("file")
    diagram.add_argument("--markdown", action="store_true", help="wrap it in a ```mermaid block")
    publish = commands.add_parser(
        "publish", help="create or update flows through the admin API and publish them"
    )
    publish.add_argument("files", nargs="+")
    add_api_options(publish)
    publish.add_argument(
        "--replace", action="store_true", help="replace a published flow whose definition changed"
    )


def run(args: argparse.Namespace) -> int:
    failed = False
    if args.flow_command == "diagram":
        try:
            flow = load_flow(args.file)
        except FlowError as exc:
            return _invalid(args.file, exc)
        print((to_markdown if args.markdown else to_mermaid)(flow), end="")
        return 0
    api = AdminApi.from_args(args) if args.flow_command == "publish" else None
    for path in args.files:
        try:
            flow = load_flow(path)
            if args.flow_command == "validate":
                print(f"{path}: ok ({flow.name} v{flow.version}, {len(flow.steps)} top-level steps)")
            elif args.flow_command == "generate":
                print(f"{path} → {generate_file(path, args.out)}")
            elif api is not None:
                print(f"{path}: {publish(api, flow, replace=args.replace)}")
        except FlowError as exc:
            failed = True
            _invalid(path, exc)
        except ApiError as exc:
            failed = True
            print(f"{path}: {exc}", file=sys.stderr)
    if args.flow_command == "generate" and not failed:
        print(f"order intake → {generate_intake(args.out)}")
    return 1 if failed else 0


class PublishError(ApiError):
    pass


def publish(api: AdminApi, flow: Flow, replace: bool = False) -> str:
    definition = flow.model_dump(mode="json", exclude={"status", "version"})
    current = api.call("GET", f"/flows/{flow.id}", allow=(404,))
    if current is None:
        api.call("POST", "/flows", definition)
    elif current["status"] == "published":
        if _same(current, definition):
            return f"already published as {flow.id} v{current['published_version']}"
        if not replace:
            raise PublishError(
                f"{flow.id} v{current['published_version']} is published with another definition; "
                "pass --replace to publish this one as a new version"
            )
        api.call("POST", f"/flows/{flow.id}/unpublish")
        api.call("PUT", f"/flows/{flow.id}", definition)
    else:
        api.call("PUT", f"/flows/{flow.id}", definition)
    published = api.call("POST", f"/flows/{flow.id}/publish")
    return f"published {flow.id} v{published['published_version']}"


def _same(current: dict[str, Any], definition: dict[str, Any]) -> bool:
    # A file without created_on leaves the day to the API (the day the flow was created there).
    given = definition.get("created_on")
    same_day = given is None or str(current.get("created_on")) == str(given)
    return same_day and all(
        current.get(key) == value for key, value in definition.items() if key != "created_on"
    )


def _invalid(path: str | Path, exc: FlowError) -> int:
    print(f"{path}: invalid", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1
