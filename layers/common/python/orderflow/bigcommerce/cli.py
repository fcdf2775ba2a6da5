"""``python -m orderflow bigcommerce ...``: operations on the BigCommerce store, run through the admin
API (``--api`` and ``--token`` locally, ``--sigv4 REGION`` on AWS), never against the store directly:
the deployment holds the store's access token, an operator's machine does not need it.

Each subcommand registers its own ``run`` function (``set_defaults``), so adding one is one parser
and one function: ``bigcommerce items import`` is the first.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orderflow.admin_client import AdminApi, ApiError, add_api_options

IMPORT_ITEMS_PATH = "/providers/bigcommerce/items/import"
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


def run(args: argparse.Namespace) -> int:
    return int(args.run(args))


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
