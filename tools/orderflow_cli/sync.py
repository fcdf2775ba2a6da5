"""``python -m orderflow_cli bigcommerce sync``: pull the store's orders with a status and import those
not imported yet, through the admin API (``POST /providers/bigcommerce/sync``), a page per request."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from orderflow_cli.admin_client import AdminApi, ApiError, add_api_options

SYNC_PATH = "/providers/bigcommerce/sync"
COUNTS = ("listed", "started", "reimports", "already_imported", "already_started", "not_new_status")
NOT_FOUND_SHOWN = 20


def add_sync_command(commands: Any) -> None:
    """Register ``sync`` on the ``bigcommerce`` subcommands (``commands`` is their subparsers)."""
    syncing = commands.add_parser(
        "sync",
        help="import the store's orders with a status (default: the new-order status), one page per request",
        description="List the store's orders with a status and start the import of those not imported "
        "yet (or due a re-import); orders already imported are left alone, so running it again, or "
        "while webhooks arrive, imports nothing twice.",
    )
    add_api_options(syncing)
    syncing.add_argument(
        "--status-id",
        type=_status_id,
        help="the BigCommerce status to list (0-14); default: the new-order status",
    )
    syncing.add_argument(
        "--order-id",
        dest="order_ids",
        type=_positive_int,
        nargs="+",
        action="extend",
        metavar="ID",
        help="import only these orders (repeatable); default: all listed",
    )
    syncing.add_argument(
        "--start-page", type=_positive_int, default=1, help="the page to start at (to resume)"
    )
    syncing.add_argument("--after-id", type=_positive_int, help="resume above this order id")
    syncing.add_argument("--run-id", help="the run to resume: its orders are not started twice")
    syncing.set_defaults(run=sync_orders)


def sync_orders(args: argparse.Namespace) -> int:
    """One request per page, so every page gets its progress line and a failure says how to resume."""
    api = AdminApi.from_args(args)
    # Named here, not by the API: a first request that fails can then be resumed as the same run.
    run_id = args.run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {"start_page": args.start_page, "max_pages": 1, "run_id": run_id}
    for name in ("status_id", "order_ids", "after_id"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    totals = dict.fromkeys(COUNTS, 0)
    pages = 0
    answer: dict[str, Any] = {}
    while True:
        page = body["start_page"]
        try:
            answer = api.call("POST", SYNC_PATH, body)
            for done in answer["pages"]:
                print(_progress(done), flush=True)
                pages += 1
                for name in COUNTS:
                    totals[name] += int(done[name])
            next_page = answer["next_page"]
        except ApiError as exc:
            print(f"page {page}: {exc}", file=sys.stderr)
            print(f"stopped at page {page}; resume with {_resume(body)}", file=sys.stderr)
            return 1
        except (KeyError, TypeError, ValueError) as exc:
            print(
                f"page {page}: unexpected answer from the API ({type(exc).__name__}: {exc})", file=sys.stderr
            )
            return 1
        if next_page is None:
            break
        if not isinstance(next_page, int) or next_page <= page:
            print(f"page {page}: the API answered next_page {next_page!r}; stopping", file=sys.stderr)
            return 1
        body.update(start_page=next_page, after_id=answer["after_id"])
    status = answer.get("status_id")
    print(
        f"done: {pages} page{'s' if pages != 1 else ''} of orders at status {status}, {totals['listed']} listed: "
        f"{totals['started']} import{'s' if totals['started'] != 1 else ''} started "
        f"({totals['reimports']} re-imports), {totals['already_imported']} already imported, "
        f"{totals['already_started']} already started by this run; run {answer.get('run_id')}"
    )
    if totals["not_new_status"]:
        print(
            f"  {totals['not_new_status']} not imported: status {status} is not the new-order status "
            f"({answer.get('new_order_status_id')}); orders are imported at that status"
        )
    not_found = answer.get("not_found") or []
    if not_found:
        shown = ", ".join(str(i) for i in not_found[:NOT_FOUND_SHOWN])
        more = f" and {len(not_found) - NOT_FOUND_SHOWN} more" if len(not_found) > NOT_FOUND_SHOWN else ""
        print(f"  not found at status {status}: {shown}{more}")
    return 0


def _progress(done: dict[str, Any]) -> str:
    ids = f" (orders {done['first_id']}-{done['last_id']})" if done.get("first_id") is not None else ""
    line = f"page {done['page']}{ids}: {done['listed']} listed, {done['started']} started"
    if done["reimports"]:
        line += f" ({done['reimports']} re-imports)"
    line += f", {done['already_imported']} already imported"
    if done["already_started"]:
        line += f", {done['already_started']} already started"
    if done["not_new_status"]:
        line += f", {done['not_new_status']} not at the new-order status"
    return line


def _resume(body: dict[str, Any]) -> str:
    parts = [f"--start-page {body['start_page']}"]
    if body.get("after_id") is not None:
        parts.append(f"--after-id {body['after_id']}")
    if body.get("run_id"):
        parts.append(f"--run-id {body['run_id']}")
    return " ".join(parts)


def _status_id(value: str) -> int:
    number = _whole(value)
    if not 0 <= number <= 14:
        raise argparse.ArgumentTypeError("must be a BigCommerce status id, 0 to 14")
    return number


def _positive_int(value: str) -> int:
    number = _whole(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
