"""Command line: ``python -m orderflow demo | serve | flows validate|generate FILE...``."""

from __future__ import annotations

import argparse
import sys

from orderflow.flows.model import FlowError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run one BigCommerce order end to end on this machine")
    serve = commands.add_parser("serve", help="serve the API on 127.0.0.1 (like sam local start-api)")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    flows = commands.add_parser("flows", help="flows as code")
    flow_commands = flows.add_subparsers(dest="flow_command", required=True)
    validate = flow_commands.add_parser("validate", help="check flow files")
    validate.add_argument("files", nargs="+")
    generate = flow_commands.add_parser("generate", help="write each flow's state machine (ASL)")
    generate.add_argument("files", nargs="+")
    generate.add_argument("--out", default="statemachines")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from orderflow.local.demo import run_demo

        return run_demo()
    if args.command == "serve":
        from orderflow.local.serve import serve_forever

        return serve_forever(args.port)
    return _flows(args)


def _flows(args: argparse.Namespace) -> int:
    from orderflow.flows.files import generate_file, generate_intake, load_flow

    failed = False
    for path in args.files:
        try:
            if args.flow_command == "validate":
                flow = load_flow(path)
                print(f"{path}: ok ({flow.name} v{flow.version}, {len(flow.steps)} top-level steps)")
            else:
                print(f"{path} → {generate_file(path, args.out)}")
        except FlowError as exc:
            failed = True
            print(f"{path}: invalid", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
    if args.flow_command == "generate" and not failed:
        print(f"order intake → {generate_intake(args.out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
