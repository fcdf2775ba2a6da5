"""The sweep: what heals once the store is back, on a schedule (every 15 minutes, one run at a time).

1. status pushes the store did not take are pushed (each order's latest status, never an older one);
2. orders accepted but not imported whose intake is no longer waiting (it gave up after the retry
   window, or its execution failed) have their intake started again;
3. orders that webhooks never announced are imported (the reconciliation: the store's orders modified
   since the checkpoint).
While auto-sync is stopped (settings) it does only the first: the pending imports wait, and the checkpoint
with them, so the first run once auto-sync runs again starts the orders accepted meanwhile and imports
those the store took while it was stopped.
It also reports what needs attention, as metrics an alarm watches (and ``GET /health`` shows).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orderflow import clock, config
from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError
from orderflow.connector.sync import IntakeStarter, reconcile
from orderflow.models.order import OrderStatus
from orderflow.observability import logger, metrics
from orderflow.orders.status_push import push_pending
from orderflow.store.orders import PUSH_PENDING, OrderRepository
from orderflow.store.settings import SettingsRepository

LEASE = "sweep"
LEASE_SECONDS = 15 * 60  # the function's own timeout bounds a run; a dead run frees the lease then
BATCH = 200  # orders of each kind a run takes on; the next run takes the rest
SWEEP_TRIGGER = "sweep"
ATTENTION = (
    OrderStatus.PENDING_IMPORT.value,
    OrderStatus.IMPORT_FAILED.value,
    OrderStatus.ERROR.value,
    OrderStatus.ON_HOLD.value,
    PUSH_PENDING,
)


@dataclass
class SweepReport:
    ran: bool = True
    auto_sync: str = "running"
    pushes: dict[str, str] = field(default_factory=dict)  # order key → what was done
    restarted: list[str] = field(default_factory=list)  # intakes started again
    waiting: int = 0  # pending orders whose intake still waits for the store
    reconcile: dict[str, Any] | None = None
    attention: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "auto_sync": self.auto_sync,
            "pushes": self.pushes,
            "restarted": self.restarted,
            "waiting": self.waiting,
            "reconcile": self.reconcile,
            "attention": self.attention,
            "errors": self.errors,
        }


def grace() -> timedelta:
    """The settings' sweep grace (tests that stop a store for good make it short)."""
    return timedelta(seconds=config.settings().sweep_grace_seconds)


def health(orders: OrderRepository, now: datetime | None = None) -> dict[str, Any]:
    """What needs attention: for each kind, how many orders and how long the oldest has waited."""
    moment = now or clock.now()
    summary = orders.attention_summary(ATTENTION)
    for entry in summary.values():
        since = entry.get("oldest_since")
        entry["oldest_age_seconds"] = _age(since, moment) if since else None
    return summary


def run(
    orders: OrderRepository,
    settings: SettingsRepository,
    client: BigCommerceClient,
    start: IntakeStarter,
    *,
    reconcile_orders: bool = True,
    remaining_seconds: Callable[[], float] | None = None,
    now: Callable[[], datetime] = clock.now,
) -> SweepReport:
    holder = uuid.uuid4().hex
    if not settings.take_lease(LEASE, holder, LEASE_SECONDS):
        logger.info("another sweep is running; this one stops")
        return SweepReport(ran=False)
    report = SweepReport(auto_sync=settings.bigcommerce(fresh=True).auto_sync)
    importing = report.auto_sync == "running"
    try:
        _push_pending(orders, client, report)
        if importing:
            _restart_stuck_imports(orders, start, report, now())
        else:
            logger.info("auto-sync is stopped: no import started, the reconciliation waits")
        if reconcile_orders and importing:
            try:
                report.reconcile = reconcile(
                    client, orders, settings, start, remaining_seconds=remaining_seconds, now=now
                ).to_dict()
            except BigCommerceError as exc:
                report.errors.append(f"reconciliation: {exc}")
                logger.warning("reconciliation failed; the checkpoint stays", extra={"error": str(exc)})
        report.attention = health(orders, now())
        _metrics(report)
    finally:
        settings.release_lease(LEASE, holder)
    return report


def _push_pending(orders: OrderRepository, client: BigCommerceClient, report: SweepReport) -> None:
    for order_key, _since in orders.needing_attention(PUSH_PENDING, limit=BATCH):
        try:
            report.pushes[order_key] = push_pending(order_key, orders, client)
        except BigCommerceError as exc:  # refused for good (401, 404, 422): an operator must look
            report.pushes[order_key] = f"refused: {exc}"
            report.errors.append(f"{order_key}: status push refused: {exc}")


def _restart_stuck_imports(
    orders: OrderRepository, start: IntakeStarter, report: SweepReport, moment: datetime
) -> None:
    settled = clock.iso(moment - grace())
    run_name = f"{SWEEP_TRIGGER}-{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"  # each run its own intakes
    for order_key, since in orders.needing_attention(OrderStatus.PENDING_IMPORT.value, limit=BATCH):
        order = orders.find_header(order_key)
        if order is None or order.is_imported:
            continue
        if (order.next_attempt_at and order.next_attempt_at > settled) or (since and since > settled):
            report.waiting += 1  # its intake waits for the store, or has only just started
            continue
        name, started = start(order.external_id, SWEEP_TRIGGER, run_name)
        if started:
            report.restarted.append(name)
    if report.restarted:
        logger.info("intakes started again", extra={"count": len(report.restarted)})


def _metrics(report: SweepReport) -> None:
    names = {
        OrderStatus.PENDING_IMPORT.value: "PendingImports",
        OrderStatus.IMPORT_FAILED.value: "ImportsFailed",
        OrderStatus.ON_HOLD.value: "OrdersOnHold",
        OrderStatus.ERROR.value: "OrdersInError",
        PUSH_PENDING: "StatusPushesPending",
    }
    for kind, entry in report.attention.items():
        metrics.add_metric(name=f"{names[kind]}Now", unit="Count", value=entry["count"])
        if entry.get("oldest_age_seconds") is not None:
            metrics.add_metric(
                name=f"{names[kind]}OldestAge", unit="Seconds", value=entry["oldest_age_seconds"]
            )
    metrics.add_metric(name="IntakesRestarted", unit="Count", value=len(report.restarted))


def _age(since: str, moment: datetime) -> int:
    try:
        return max(0, int((moment - datetime.fromisoformat(since)).total_seconds()))
    except ValueError:
        return 0
