"""Pull sync and reconciliation: list the store's orders and start the intake of those that webhooks
did not bring, or whose status was reset to the new-order status after import (a re-import).

The store's quota (150 requests / 30 s, shared by every app) goes to list pages only: each listed
order carries its status and date_modified, and what we already imported is read from the Orders
table in batches, so no order is fetched here (the import step fetches the ones it imports).

Listing pages are keyed by order id (``min_id`` = the last id seen + 1, sorted by id) rather than
by page number: an order leaving the listed status while we page (our own status push, a
merchant's change) would otherwise shift the later pages and hide an order from the sync.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Protocol

from orderflow import clock
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError, BigCommerceNotFound
from orderflow.bigcommerce.orders import listed_order
from orderflow.errors import InvalidInput
from orderflow.models.order import OrderStatus, order_key_for
from orderflow.observability import logger
from orderflow.orders.executions import intake_execution_name, start_intake
from orderflow.store.executions import ExecutionStarter
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import ReconcileProgress, ReconcileState, SettingsRepository

SYNC_TRIGGER = "sync"
# Also what a re-import the listing shows is due starts with, from a sync as well: the import step
# reads the store again for an order it already has only on status triggers (importing.STATUS_TRIGGERS).
RECONCILE_TRIGGER = "reconcile"
ORDERS_PATH = "/v2/orders"
PAGE_LIMIT = 250  # BigCommerce's maximum for v2 lists
# Another page is started only with this much time left: a slow answer (10 s read timeout, or a
# 429 wait) plus a page of starts must finish before API Gateway gives up at 30 s.
PAGE_RESERVE_SECONDS = 12.0
# Reconciliation runs on a schedule with a longer timeout; its reserve covers one throttled page.
RECONCILE_RESERVE_SECONDS = 40.0
DEFAULT_LOOKBACK = timedelta(hours=24)
# Re-read this far behind the checkpoint: the checkpoint mixes the store's clock (date_modified)
# and ours (the run's start), and an order may be changed while a run lists past it.
DEFAULT_OVERLAP = timedelta(minutes=5)
START_WORKERS = 8  # StartExecution calls in flight per page: 250 one after another take seconds
SAMPLE_LIMIT = 100  # lists of order ids in a report are samples; the counts are exact
MAX_SELECTED = 1000
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_UNIMPORTED_STATUSES = {OrderStatus.PENDING_IMPORT.value, OrderStatus.IMPORT_FAILED.value}


class IntakeStarter(Protocol):
    def __call__(self, order_id: int, trigger: str, attempt: str) -> tuple[str, bool]:
        """Start the order's intake; (execution name, False) when that execution already exists."""
        ...


def intake_starter(
    store_hash: str,
    state_machine_arn: str,
    starter: ExecutionStarter | None = None,
    orders: OrderRepository | None = None,
) -> IntakeStarter:
    """Starts intakes, recording each order as pending_import first when ``orders`` is given."""
    executions = starter or ExecutionStarter()

    def start(order_id: int, trigger: str, attempt: str) -> tuple[str, bool]:
        return start_intake(
            store_hash,
            order_id,
            trigger,
            attempt,
            starter=executions,
            state_machine_arn=state_machine_arn,
            orders=orders,
        )

    return start


# -- what a page holds and what is done with it ------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One order of a list page: all the sync needs, no customer data."""

    order_id: int
    status_id: int | None
    date_modified: datetime | None


@dataclass
class Counts:
    listed: int = 0
    not_new_status: int = 0  # listed at a status the import step does not import
    already_imported: int = 0
    reimports: int = 0  # imported, but the store shows the new-order status again (part of started)
    started: int = 0
    already_started: int = 0  # this run had started it before (a repeated call)

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class PageResult:
    page: int
    first_id: int | None
    last_id: int | None
    counts: Counts
    started_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.page, "first_id": self.first_id, "last_id": self.last_id, **asdict(self.counts)}


@dataclass(frozen=True)
class Decision:
    order_id: int
    trigger: str | None  # None: nothing to start
    reason: str  # "not_new_status" | "already_imported" | "new" | "reimport"


def decide(
    listed: Listed, known_status: dict[int, int | None], new_order_status_id: int, trigger: str = SYNC_TRIGGER
) -> Decision:
    """Whether the listed order's intake starts (pure: the listing and what we imported decide).

    ``known_status`` holds the imported orders (by id) with the store status we last knew;
    ``trigger`` is what a new order's intake is started with.
    """
    if listed.status_id != new_order_status_id:
        return Decision(listed.order_id, None, "not_new_status")
    if listed.order_id not in known_status:
        return Decision(listed.order_id, trigger, "new")
    known = known_status[listed.order_id]
    if known is not None and known != new_order_status_id:
        # Imported, then moved on, and now at the new-order status again: the merchant reset it.
        return Decision(listed.order_id, RECONCILE_TRIGGER, "reimport")
    return Decision(listed.order_id, None, "already_imported")


def parse_listed(raw: Any) -> Listed | None:
    if not isinstance(raw, dict) or isinstance(raw.get("id"), bool) or not isinstance(raw.get("id"), int):
        return None
    status = raw.get("status_id")
    return Listed(
        order_id=raw["id"],
        status_id=status if isinstance(status, int) and not isinstance(status, bool) else None,
        date_modified=parse_store_date(raw.get("date_modified")),
    )


def parse_store_date(value: Any) -> datetime | None:
    """BigCommerce's RFC-2822 dates (``Tue, 05 Mar 2019 21:40:11 +0000``), as aware UTC datetimes."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def store_date(moment: datetime) -> str:
    """A ``min_date_modified`` value as BigCommerce documents it (RFC-2822, UTC), whole seconds
    rounded down: the bound is inclusive, so earlier is safe."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# -- reading -----------------------------------------------------------------------------------------


def known_store_statuses(
    orders: OrderRepository, store_hash: str, order_ids: Iterable[int]
) -> dict[int, int | None]:
    """The imported orders among ``order_ids``, with the store status we last knew of each."""
    by_key = {order_key_for(store_hash, order_id): order_id for order_id in order_ids}
    return {by_key[key]: status for key, status in orders.known_store_statuses(by_key).items()}


@dataclass
class _Listing:
    """Pages of ``GET /v2/orders`` keyed by id, from ``after_id`` (or from page ``start_page`` of
    the list as it is now, for a first call that skips ahead)."""

    client: BigCommerceClient
    params: dict[str, Any]
    start_page: int = 1
    after_id: int | None = None
    max_id: int | None = None

    def pages(self) -> Iterator[tuple[int, list[Listed], bool]]:
        """(page number, orders, last page) for each page."""
        number = self.start_page
        while True:
            query: dict[str, Any] = {**self.params, "sort": "id:asc", "limit": PAGE_LIMIT, "page": 1}
            if self.after_id is not None:
                query["min_id"] = max(self.after_id + 1, int(self.params.get("min_id", 0)))
            else:
                query["page"] = number
            if self.max_id is not None:
                query["max_id"] = self.max_id
            raw = self.client.get(ORDERS_PATH, query)
            if raw is None:  # 204: no (more) orders
                yield number, [], True
                return
            if not isinstance(raw, list):
                raise BigCommerceError(200, "expected a JSON list of orders", method="GET", path=ORDERS_PATH)
            batch = [listed for listed in map(parse_listed, raw) if listed is not None]
            ids = [listed.order_id for listed in batch]
            if ids != sorted(ids) or (self.after_id is not None and ids and ids[0] <= self.after_id):
                # Paging by id needs the store to honour sort=id:asc and min_id; never loop or skip.
                raise BigCommerceError(
                    200, "the orders list did not come sorted by id", method="GET", path=ORDERS_PATH
                )
            last = len(raw) < PAGE_LIMIT or not ids or (self.max_id is not None and ids[-1] >= self.max_id)
            if ids:
                self.after_id = ids[-1]
            yield number, batch, last
            if last:
                return
            number += 1


def _out_of_time(
    done_pages: int, max_pages: int | None, remaining_seconds: Callable[[], float] | None, reserve: float
) -> bool:
    return (max_pages is not None and done_pages >= max_pages) or (
        remaining_seconds is not None and remaining_seconds() < reserve
    )


def _start_all(start: IntakeStarter, decisions: list[Decision], attempt: str) -> list[tuple[Decision, bool]]:
    if not decisions:
        return []

    def one(decision: Decision) -> tuple[Decision, bool]:
        assert decision.trigger is not None
        _, started = start(decision.order_id, decision.trigger, attempt)
        return decision, started

    if len(decisions) == 1:
        return [one(decisions[0])]
    with ThreadPoolExecutor(min(START_WORKERS, len(decisions))) as pool:
        return list(pool.map(one, decisions))


def _process_page(
    batch: list[Listed],
    *,
    orders: OrderRepository,
    store_hash: str,
    new_order_status_id: int,
    start: IntakeStarter,
    trigger: str,
    attempt: str,
) -> tuple[Counts, list[int]]:
    counts = Counts(listed=len(batch))
    candidates = [listed.order_id for listed in batch if listed.status_id == new_order_status_id]
    known = known_store_statuses(orders, store_hash, candidates) if candidates else {}
    to_start: list[Decision] = []
    for listed in batch:
        decision = decide(listed, known, new_order_status_id, trigger)
        if decision.reason == "not_new_status":
            counts.not_new_status += 1
        elif decision.reason == "already_imported":
            counts.already_imported += 1
        else:
            to_start.append(decision)
    started_ids: list[int] = []
    for decision, started in _start_all(start, to_start, attempt):
        if decision.reason == "reimport":
            counts.reimports += 1
        if started:
            counts.started += 1
            started_ids.append(decision.order_id)
        else:
            counts.already_started += 1
    return counts, started_ids


# -- sync --------------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    run_id: str
    status_id: int
    new_order_status_id: int
    start_page: int
    next_page: int | None = None
    after_id: int | None = None  # with next_page: where the next call resumes
    pages: list[PageResult] = field(default_factory=list)
    totals: Counts = field(default_factory=Counts)
    selected: list[int] | None = None
    not_found: list[int] = field(default_factory=list)
    started_ids: list[int] = field(default_factory=list)

    def add(self, page: PageResult) -> None:
        self.pages.append(page)
        self.totals.add(page.counts)
        self.started_ids.extend(page.started_ids[: SAMPLE_LIMIT - len(self.started_ids)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status_id": self.status_id,
            "new_order_status_id": self.new_order_status_id,
            "start_page": self.start_page,
            "next_page": self.next_page,
            "after_id": self.after_id,
            "pages": [page.to_dict() for page in self.pages],
            **asdict(self.totals),
            "selected": self.selected,
            "not_found": self.not_found,
            "started_ids": self.started_ids,
        }


def new_run_id() -> str:
    return f"{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def sync_orders(
    client: BigCommerceClient,
    orders: OrderRepository,
    new_order_status_id: int,
    start: IntakeStarter,
    *,
    status_id: int | None = None,
    order_ids: list[int] | None = None,
    start_page: int = 1,
    after_id: int | None = None,
    max_pages: int | None = None,
    run_id: str | None = None,
    remaining_seconds: Callable[[], float] | None = None,
) -> SyncReport:
    """List the store's orders at ``status_id`` (the new-order status by default), from page
    ``start_page`` or above ``after_id``, and start the intake of ``order_ids`` (all when None)
    unless already imported. Stops after ``max_pages`` pages or when time runs short, answering
    ``next_page`` and ``after_id`` to resume with (and the same ``run_id``: a resumed or repeated
    call finds the executions it started and does not start them twice). At least one page is done.
    """
    if start_page < 1:
        raise InvalidInput("start_page must be 1 or more", field="start_page")
    if max_pages is not None and max_pages < 1:
        raise InvalidInput("max_pages must be 1 or more", field="max_pages")
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        raise InvalidInput("run_id: 1 to 32 letters, digits, '-' or '_'", field="run_id")
    if order_ids is not None and not order_ids:
        raise InvalidInput(
            "order_ids: give at least one order id, or leave it out for all", field="order_ids"
        )
    status = new_order_status_id if status_id is None else status_id
    selected = sorted(set(order_ids)) if order_ids is not None else None
    report = SyncReport(
        run_id=run_id or new_run_id(),
        status_id=status,
        new_order_status_id=new_order_status_id,
        start_page=start_page,
        selected=selected,
    )
    params: dict[str, Any] = {"status_id": status}
    if selected:
        params["min_id"] = selected[0]
    listing = _Listing(
        client,
        params,
        start_page=start_page,
        after_id=after_id,
        max_id=selected[-1] if selected else None,
    )
    wanted = set(selected) if selected is not None else None
    seen: set[int] = set()
    attempt = f"{SYNC_TRIGGER}-{report.run_id}"
    for number, batch, last in listing.pages():
        chosen = batch if wanted is None else [listed for listed in batch if listed.order_id in wanted]
        seen.update(listed.order_id for listed in chosen)
        counts, started_ids = _process_page(
            chosen,
            orders=orders,
            store_hash=client.store_hash,
            new_order_status_id=new_order_status_id,
            start=start,
            trigger=SYNC_TRIGGER,
            attempt=attempt,
        )
        page = PageResult(
            number,
            batch[0].order_id if batch else None,
            batch[-1].order_id if batch else None,
            counts,
            started_ids,
        )
        report.add(page)
        logger.info("sync page done", extra={"run_id": report.run_id, **page.to_dict()})
        if last or (wanted is not None and wanted <= seen):
            break
        if _out_of_time(len(report.pages), max_pages, remaining_seconds, PAGE_RESERVE_SECONDS):
            report.next_page, report.after_id = number + 1, listing.after_id
            break
    if selected is not None and report.next_page is None:
        report.not_found = sorted(set(selected) - seen)
    return report


# -- reconciliation ----------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    since: str  # ISO-8601 UTC: orders modified from then on were listed
    checkpoint_before: str | None
    checkpoint: str | None
    complete: bool  # False: out of time; the next run carries on after ``after_id``
    attempt: str
    after_id: int | None = None
    pages: int = 0
    totals: Counts = field(default_factory=Counts)
    started_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "checkpoint_before": self.checkpoint_before,
            "checkpoint": self.checkpoint,
            "complete": self.complete,
            "attempt": self.attempt,
            "after_id": self.after_id,
            "pages": self.pages,
            **asdict(self.totals),
            "started_ids": self.started_ids,
        }


def reconcile(
    client: BigCommerceClient,
    orders: OrderRepository,
    settings: SettingsRepository,
    start: IntakeStarter,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    overlap: timedelta = DEFAULT_OVERLAP,
    remaining_seconds: Callable[[], float] | None = None,
    now: Callable[[], datetime] = clock.now,
) -> ReconcileReport:
    """List every order modified since the checkpoint (less ``overlap``; ``lookback`` on the first
    run), whatever its status, and start the intake of those at the new-order status that are not
    imported or are due a re-import. The checkpoint moves only once the whole listing is done: a
    failure leaves it (the next run lists the same orders again), a run out of time stores where
    it got to and the next one carries on from there.
    """
    state = settings.reconcile_state()
    new_order_status_id = settings.bigcommerce().new_order_status_id
    progress = state.progress
    if progress is None:
        started_at = now()
        since = parse_iso(state.checkpoint) - overlap if state.checkpoint else started_at - lookback
        since = since.replace(microsecond=0)
        progress = ReconcileProgress(
            since=clock.iso(since),
            after_id=0,
            started_at=clock.iso(started_at),
            attempt=f"{RECONCILE_TRIGGER}-{since:%Y%m%dT%H%M%SZ}",
        )
    report = ReconcileReport(
        since=progress.since,
        checkpoint_before=state.checkpoint,
        checkpoint=state.checkpoint,
        complete=False,
        attempt=progress.attempt,
    )
    listing = _Listing(
        client,
        {"min_date_modified": store_date(parse_iso(progress.since))},
        after_id=progress.after_id or None,
    )
    newest = parse_iso(progress.newest) if progress.newest else None
    for _, batch, last in listing.pages():
        counts, started_ids = _process_page(
            batch,
            orders=orders,
            store_hash=client.store_hash,
            new_order_status_id=new_order_status_id,
            start=start,
            trigger=RECONCILE_TRIGGER,
            attempt=progress.attempt,
        )
        report.pages += 1
        report.totals.add(counts)
        report.started_ids.extend(started_ids[: SAMPLE_LIMIT - len(report.started_ids)])
        for listed in batch:
            if listed.date_modified is not None and (newest is None or listed.date_modified > newest):
                newest = listed.date_modified
        if last:
            report.complete = True
            break
        if _out_of_time(report.pages, None, remaining_seconds, RECONCILE_RESERVE_SECONDS):
            break
    report.after_id = listing.after_id
    if report.complete:
        report.checkpoint = _next_checkpoint(
            state.checkpoint, newest, parse_iso(progress.started_at), progress.since
        )
        saved = settings.save_reconcile_state(
            ReconcileState(checkpoint=report.checkpoint, last_run=report.to_dict())
        )
    else:
        saved = settings.save_reconcile_state(
            ReconcileState(
                checkpoint=state.checkpoint,
                progress=progress.model_copy(
                    update={
                        "after_id": listing.after_id or 0,
                        "newest": clock.iso(newest) if newest else None,
                    }
                ),
                last_run=state.last_run,
            )
        )
    if not saved:
        logger.warning("a newer reconciliation moved the checkpoint meanwhile; kept theirs")
    logger.info("reconciliation done", extra=report.to_dict() | {"started_ids": len(report.started_ids)})
    return report


def _next_checkpoint(previous: str | None, newest: datetime | None, started_at: datetime, since: str) -> str:
    """The newest change seen, but never later than the run's start: an order changed while the
    run listed past it has a newer date_modified than the start and must be listed again. Never
    earlier than the previous checkpoint (a run that saw only the overlap)."""
    if newest is None:
        # Nothing changed; on a first run keep the window's start, so the next run does not slide it.
        return previous or since
    candidate = clock.iso(min(newest, started_at))
    return max(candidate, previous) if previous else candidate


# -- the console: the store's orders without importing them, and selected ones imported ------------

CONSOLE_TRIGGER = "console"
CONSOLE_MAX_SELECTED = 50
CONSOLE_LIST_PAGES = 2  # list pages read to find the selected orders; the rest are read one by one


def list_store_orders(
    client: BigCommerceClient, orders: OrderRepository, *, status_id: int, page: int, limit: int
) -> dict[str, Any]:
    """A page of the store's orders at ``status_id`` (v2 orders list, by id), each marked ``imported``
    when we hold it imported, with its ``order_key`` and our ``status`` whenever we hold it (a pending
    import too). Reads the store and one BatchGetItem; writes nothing."""
    raw = client.get(ORDERS_PATH, {"status_id": status_id, "sort": "id:asc", "page": page, "limit": limit})
    if raw is not None and not isinstance(raw, list):
        raise BigCommerceError(200, "expected a JSON list of orders", method="GET", path=ORDERS_PATH)
    listed = [row for row in map(listed_order, raw or []) if row is not None]
    keys = {row["id"]: order_key_for(client.store_hash, row["id"]) for row in listed}
    held = orders.statuses_of(keys.values())
    for row in listed:
        ours = held.get(keys[row["id"]])
        row["order_key"] = keys[row["id"]] if ours is not None else None
        row["our_status"] = ours
        row["imported"] = ours is not None and ours not in _UNIMPORTED_STATUSES
    return {
        "status_id": status_id,
        "page": page,
        "limit": limit,
        # A full page may be followed by an empty one: the v2 list does not say how many there are.
        "has_more": len(raw or []) >= limit,
        "orders": listed,
    }


def import_selected_orders(
    client: BigCommerceClient,
    orders: OrderRepository,
    new_order_status_id: int,
    start: IntakeStarter,
    order_ids: list[int],
) -> dict[str, Any]:
    """Start the intake of each selected order, as a webhook would (trigger ``console``), answering
    per id: ``accepted`` (with its execution), ``already_imported``, ``not_new_status`` (the store has
    it at a status the import rules do not import) or ``not_found`` in the store."""
    if not order_ids:
        raise InvalidInput("order_ids: give at least one order id", field="order_ids")
    if len(order_ids) > CONSOLE_MAX_SELECTED:
        raise InvalidInput(f"order_ids: {CONSOLE_MAX_SELECTED} orders at most per call", field="order_ids")
    wanted = list(dict.fromkeys(order_ids))
    keys = {order_id: order_key_for(client.store_hash, order_id) for order_id in wanted}
    held = orders.statuses_of(keys.values())
    results: dict[int, dict[str, Any]] = {}
    for order_id in wanted:
        ours = held.get(keys[order_id])
        if ours is not None and ours not in _UNIMPORTED_STATUSES:
            results[order_id] = _result(order_id, keys[order_id], "already_imported", f"imported ({ours})")
    remaining = sorted(set(wanted) - set(results))
    at_new_status = _listed_at(client, new_order_status_id, remaining) if remaining else set()
    attempt = f"{CONSOLE_TRIGGER}-{new_run_id()}"
    to_start = [
        Decision(order_id, CONSOLE_TRIGGER, "new") for order_id in remaining if order_id in at_new_status
    ]
    for decision, started in _start_all(start, to_start, attempt):
        key = keys[decision.order_id]
        name = intake_execution_name(key, attempt)
        message = "its intake started" if started else "its intake was started already"
        results[decision.order_id] = {
            **_result(decision.order_id, key, "accepted", message),
            "execution": name,
        }
    for order_id in remaining:
        if order_id in results:
            continue
        try:
            raw = client.get(f"{ORDERS_PATH}/{order_id}")
        except BigCommerceNotFound:
            results[order_id] = _result(order_id, None, "not_found", "the store has no order with this id")
            continue
        status = raw.get("status_id") if isinstance(raw, dict) else None
        if status == new_order_status_id:  # reached the new-order status since the listing
            name, started = start(order_id, CONSOLE_TRIGGER, attempt)
            results[order_id] = {
                **_result(order_id, keys[order_id], "accepted", "its intake started"),
                "execution": name,
            }
            continue
        results[order_id] = {
            **_result(
                order_id,
                None,
                "not_new_status",
                f"the store has it at status {status}; only orders at the new-order status "
                f"{new_order_status_id} are imported (settings)",
            ),
            "status_id": status,
        }
    answer = [results[order_id] for order_id in wanted]
    logger.info(
        "selected orders imported",
        extra={"accepted": sum(r["result"] == "accepted" for r in answer), "selected": len(answer)},
    )
    return {"new_order_status_id": new_order_status_id, "results": answer}


def _listed_at(client: BigCommerceClient, status_id: int, order_ids: list[int]) -> set[int]:
    """Which of these orders the store lists at ``status_id`` (list pages over their id range, a few)."""
    wanted = set(order_ids)
    listing = _Listing(client, {"status_id": status_id, "min_id": order_ids[0]}, max_id=order_ids[-1])
    seen: set[int] = set()
    for number, batch, last in listing.pages():
        seen.update(listed.order_id for listed in batch if listed.order_id in wanted)
        if last or seen == wanted or number >= CONSOLE_LIST_PAGES:
            break
    return seen


def _result(order_id: int, order_key: str | None, result: str, message: str) -> dict[str, Any]:
    return {"order_id": order_id, "order_key": order_key, "result": result, "message": message}
