"""Command line: ``python -m orderflow_cli demo | serve | sweep | health | flows validate|generate|diagram|
publish FILE... | bigcommerce test-connection|register-webhooks|list-webhooks|sync|items import``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orderflow_cli import bigcommerce as bigcommerce_cli
from orderflow_cli import flows as cli
from orderflow_cli.admin_client import AdminApi, ApiError, add_api_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow_cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run one BigCommerce order end to end on this machine")
    serve = commands.add_parser("serve", help="serve the API on 127.0.0.1 (like sam local start-api)")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    keep = serve.add_mutually_exclusive_group()
    keep.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the state is kept across restarts (default: .local/state)",
    )
    keep.add_argument(
        "--ephemeral", action="store_true", help="keep nothing: start empty, forget all at the stop"
    )
    serve.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=module:function",
        help="serve a custom action's Lambda target NAME with a Python handler (repeatable; "
        "as LOCAL_FUNCTIONS does)",
    )
    for name, help_text in (
        ("sweep", "run the sweep once (pending pushes, stopped imports, orders webhooks missed)"),
        ("health", "what needs attention: pending imports, failed imports, holds, pending pushes"),
    ):
        add_api_options(commands.add_parser(name, help=f"{help_text}, through the admin API"))
    cli.add_commands(commands.add_parser("flows", help="flows as code"))
    bigcommerce_cli.add_commands(
        commands.add_parser("bigcommerce", help="operations on the BigCommerce store (through the admin API)")
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        from orderflow_local.demo import run_demo

        return run_demo()
    if args.command == "serve":
        from orderflow_local.functions import LocalFunctionError, parse_spec
        from orderflow_local.serve import default_state_dir, serve_forever

        try:
            functions = parse_spec(" ".join(args.function))
        except LocalFunctionError as exc:
            print(str(exc).replace("LOCAL_FUNCTIONS", "--function"), file=sys.stderr)
            return 2
        state_dir = None if args.ephemeral else args.state_dir or default_state_dir()
        if functions:
            return serve_forever(args.port, state_dir=state_dir, functions=functions)
        return serve_forever(args.port, state_dir=state_dir)
    if args.command in ("sweep", "health"):
        return _operations(args)
    if args.command == "bigcommerce":
        return bigcommerce_cli.run(args)
    return cli.run(args)


def _operations(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    try:
        answer = api.call("POST", "/sweep") if args.command == "sweep" else api.call("GET", "/health")
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0 if args.command == "sweep" or answer.get("status") == "ok" else 3


if __name__ == "__main__":
    sys.exit(main())
