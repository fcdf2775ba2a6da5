"""``python -m orderflow_cli bigcommerce ...``: operations on the BigCommerce store, run through the admin
API (``--api`` and ``--token`` locally, ``--sigv4 REGION`` on AWS), never against the store directly:
the deployment holds the store's access token, an operator's machine does not need it.

Each subcommand registers its own ``run`` function (``set_defaults``), so adding one is one parser
and one function, registered by one line in :func:`add_commands`: ``items import``,
``test-connection``, ``register-webhooks`` and ``list-webhooks`` are here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orderflow_cli.admin_client import AdminApi, ApiError, add_api_options
from orderflow_cli.sync import add_sync_command

IMPORT_ITEMS_PATH = "/providers/bigcommerce/items/import"
TEST_CONNECTION_PATH = "/providers/bigcommerce/test-connection"
WEBHOOKS_PATH = "/providers/bigcommerce/webhooks"
SKIPPED_SHOWN = 20


def add_commands(bigcommerce: argparse.ArgumentParser) -> None:
    commands = bigcommerce.add_subparsers(dest="bigcommerce_command", required=True, metavar="COMMAND")
    items = commands.add_parser("items", help="catalog items")
    item_commands = items.add_subparsers(dest="items_command", required=True, metavar="COMMAND")
    importing = item_commands.add_parser(
        "import",
        help="import catalog items and their sku → product mappings from the store, one page per request",
        description="Import the store's catalog (v3 products, variants included) as items, with a "
        "product mapping per SKU and the unit mapping each → ea; importing again updates what changed "
        "and never duplicates.",
    )
    add_api_options(importing)
    importing.add_argument(
        "--start-page", type=_positive_int, default=1, help="the catalog page to start at (to resume)"
    )
    importing.set_defaults(run=import_items)
    _add_test_connection(commands)
    _add_webhook_commands(commands)
    add_sync_command(commands)


def _add_test_connection(commands: Any) -> None:
    testing = commands.add_parser(
        "test-connection",
        help="check that the deployment reaches the store with its access token",
        description="Ask the deployment to read the store (GET /v2/store) with its own settings; "
        "prints TEST PASSED with the store's name, or TEST FAILED with the cause and what to check "
        "(exit status 1).",
    )
    add_api_options(testing)
    testing.set_defaults(run=check_connection)


def _add_webhook_commands(commands: Any) -> None:
    registering = commands.add_parser(
        "register-webhooks",
        help="create or fix the store's webhooks for this deployment (safe to run again)",
        description="Point the hooks for store/order/created, store/order/statusUpdated, "
        "store/order/updated and store/shipment/created at DESTINATION with the deployment's "
        "X-Webhook-Secret header: missing hooks are created, wrong ones updated, deactivated ones "
        "re-activated, correct ones left alone.",
    )
    add_api_options(registering)
    registering.add_argument(
        "--destination",
        required=True,
        metavar="URL",
        help="the deployment's webhook URL, e.g. https://…/webhooks/bigcommerce",
    )
    registering.set_defaults(run=register_webhooks)
    listing = commands.add_parser(
        "list-webhooks",
        help="list the store's webhooks and the scopes that have none working",
        description="List the store's hooks for this API account: scope, destination, active or not, "
        "and whether the secret header matches the deployment's (never the secret itself).",
    )
    add_api_options(listing)
    listing.set_defaults(run=list_webhooks)


def run(args: argparse.Namespace) -> int:
    return int(args.run(args))


def check_connection(args: argparse.Namespace) -> int:
    try:
        answer = AdminApi.from_args(args).call("POST", TEST_CONNECTION_PATH)
        passed = answer["passed"] is True
        result = str(answer["result"])
    except ApiError as exc:
        print(f"test-connection: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError) as exc:
        print(
            f"test-connection: unexpected answer from the API ({type(exc).__name__}: {exc})", file=sys.stderr
        )
        return 1
    if passed:
        store = answer.get("store") or {}
        print(result)
        print(f"store: {store.get('name')} ({store.get('domain')}, store hash {store.get('store_hash')})")
        return 0
    print(result, file=sys.stderr)
    print(f"cause: {answer.get('cause')}", file=sys.stderr)
    print(str(answer.get("message")), file=sys.stderr)
    return 1


def register_webhooks(args: argparse.Namespace) -> int:
    try:
        answer = AdminApi.from_args(args).call("POST", WEBHOOKS_PATH, {"destination": args.destination})
        lines = [_hook_line(hook) for hook in answer["hooks"]]
        counts = answer["counts"]
        summary = ", ".join(f"{counts[a]} {a}" for a in ("created", "updated", "reactivated", "unchanged"))
    except ApiError as exc:
        print(f"register-webhooks: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError) as exc:
        print(
            f"register-webhooks: unexpected answer from the API ({type(exc).__name__}: {exc})",
            file=sys.stderr,
        )
        return 1
    for line in lines:
        print(line)
    print(f"done: {summary} → {answer.get('destination')}")
    return 0


def list_webhooks(args: argparse.Namespace) -> int:
    try:
        answer = AdminApi.from_args(args).call("GET", WEBHOOKS_PATH)
        lines = [
            f"hook {h['id']}  {h['scope']}  {'active' if h['is_active'] else 'INACTIVE'}  "
            f"secret {h['secret']}  {h['destination']}"
            for h in answer["hooks"]
        ]
        missing = list(answer["scopes_missing"])
    except ApiError as exc:
        print(f"list-webhooks: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError) as exc:
        print(f"list-webhooks: unexpected answer from the API ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    for line in lines or ["no webhooks"]:
        print(line)
    if missing:
        print(f"no active hook with our secret for: {', '.join(missing)}")
        print("fix with: python -m orderflow_cli bigcommerce register-webhooks --destination URL")
    return 0


def _hook_line(hook: dict[str, Any]) -> str:
    line = f"{hook['scope']}: {hook['action']}"
    details = f"hook {hook['hook_id']}"
    if hook.get("changes"):
        details += f": {', '.join(hook['changes'])}"
    line += f" ({details})"
    if hook.get("other_hook_ids"):
        others = ", ".join(str(i) for i in hook["other_hook_ids"])
        line += f"; other hooks on this scope left alone: {others}"
    return line


def import_items(args: argparse.Namespace) -> int:
    """One request per page, so every page gets its progress line and a failure names the page to
    resume at; the API itself stays idempotent, so resuming (or starting over) is always safe."""
    api = AdminApi.from_args(args)
    page: int | None = args.start_page
    pages = 0
    items = {"created": 0, "updated": 0, "unchanged": 0}
    mappings = {"created": 0, "updated": 0, "unchanged": 0}
    unit_created = False
    skipped_count = 0
    skipped: list[dict[str, Any]] = []
    while page is not None:
        try:
            answer = api.call("POST", IMPORT_ITEMS_PATH, {"start_page": page, "max_pages": 1})
            next_page = _next_page(answer, page)
            for done in answer["pages"]:
                print(_progress(done, answer.get("total_pages")), flush=True)
                pages += 1
            for total, part in ((items, answer["items"]), (mappings, answer["mappings"])):
                for key in total:
                    total[key] += int(part[key])
        except ApiError as exc:
            print(f"page {page}: {exc}", file=sys.stderr)
            print(f"stopped at page {page}; resume with --start-page {page}", file=sys.stderr)
            return 1
        except (KeyError, TypeError, ValueError) as exc:
            print(
                f"page {page}: unexpected answer from the API ({type(exc).__name__}: {exc})", file=sys.stderr
            )
            return 1
        unit_created = unit_created or answer.get("unit_mapping") == "created"
        skipped_count += int(answer.get("skipped_count") or 0)
        skipped.extend(answer.get("skipped") or [])
        page = next_page
    print(
        f"done: {pages} page{'s' if pages != 1 else ''}, {_counts(items)} items, "
        f"{_counts(mappings)} product mappings, {skipped_count} skipped; "
        f"unit mapping each → ea {'created' if unit_created else 'already there'}"
    )
    for entry in skipped[:SKIPPED_SHOWN]:
        print(f"  skipped {_where(entry)}: {entry.get('reason')}")
    if skipped_count > min(len(skipped), SKIPPED_SHOWN):
        print(f"  … and {skipped_count - min(len(skipped), SKIPPED_SHOWN)} more skipped")
    return 0


def _next_page(answer: dict[str, Any], page: int) -> int | None:
    next_page = answer["next_page"]
    if next_page is None:
        return None
    if not isinstance(next_page, int) or next_page <= page:
        # A page that does not move forward would loop for ever.
        raise ValueError(f"next_page {next_page!r} does not follow page {page}")
    return next_page


def _progress(done: dict[str, Any], total_pages: Any) -> str:
    counts = done["items"]
    of = f"/{total_pages}" if total_pages else ""
    return (
        f"page {done['page']}{of}: {done['item_count']} items "
        f"({counts['created']} new, {counts['updated']} changed), {done['skipped']} skipped"
    )


def _counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"{total} ({counts['created']} new, {counts['updated']} changed, {counts['unchanged']} unchanged)"


def _where(entry: dict[str, Any]) -> str:
    where = f"product {entry.get('product_id') or '?'}"
    return f"{where} variant {entry['variant_id']}" if entry.get("variant_id") else where


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number
