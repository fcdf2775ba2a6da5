"""The import step: fetch the order from BigCommerce, match its customer, map it, store it.

The import rules merchants rely on:
- an order is imported when its BigCommerce status is the new-order status (11 Awaiting
  Fulfillment by default), once: its import id is unique, whatever brought it (webhook, duplicate,
  sync, reconciliation);
- after import the store shows the downloaded status (when one is set); an order that cannot be
  mapped is kept with its problems for an operator and the store shows the import-error status;
- changes made in BigCommerce afterwards are ignored, unless the status is reset to the new-order
  status: then the order is imported again as its next revision (the replaced one is kept).

The step answers ``succeeded`` when the order was imported (now or again) and should go on to its
flows, ``skipped`` when there was nothing to import, ``failed`` when values could not be mapped.

An accepted order is stored as ``pending_import`` before its intake starts (intake.start_intake), so
it is never lost while the store is down: a store that does not answer (connection errors, timeouts,
429, 5xx) makes the step answer ``retrying`` with when to try again, and the intake waits (a Wait
state costs nothing) on a capped exponential schedule for up to 24 h (retries.RetrySchedule); past
that the order stays pending for the sweep. A store that refuses the order (401, 403, 404) marks it
``import_failed`` with the cause, at once, for an operator to fix and resubmit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from requests import ConnectionError as RequestsConnectionError
from requests import Timeout

from orderflow import clock
from orderflow.bigcommerce.client import (
    BigCommerceAuthError,
    BigCommerceClient,
    BigCommerceError,
    BigCommerceNotFound,
    BigCommerceUnavailable,
)
from orderflow.bigcommerce.hooks import ORDER_STATUS_UPDATED, ORDER_UPDATED
from orderflow.bigcommerce.orders import to_order
from orderflow.bigcommerce.statuses import status_name
from orderflow.errors import InvalidInput
from orderflow.mapping.resolve import map_order
from orderflow.models.event import store_status_event
from orderflow.models.order import (
    BigCommerceSettings,
    Order,
    OrderStatus,
    StatusChange,
    import_id_for,
    order_key_for,
)
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.observability import metrics
from orderflow.orders.customers import match_customer
from orderflow.orders.status_push import push_store_status
from orderflow.retries import RetrySchedule
from orderflow.store.customers import CustomerRepository
from orderflow.store.mappings import MappingRepository
from orderflow.store.orders import OrderRepository
from orderflow.store.settings import SettingsRepository

# What may mean the store's status was reset after import (the others cannot: no store read).
STATUS_TRIGGERS = {ORDER_STATUS_UPDATED, ORDER_UPDATED, "reconcile"}


def import_order(
    request: StepRequest,
    orders: OrderRepository,
    mappings: MappingRepository,
    settings: SettingsRepository,
    bigcommerce: BigCommerceClient,
    customers: CustomerRepository,
    emit: Callable[[str, str], list[str]] | None = None,
) -> StepOutcome:
    """``emit`` starts the flows of a merchant's status change found in the store (a statusUpdated
    webhook that did not say the status): (event, occurrence) → executions (orders/events.py emitter)."""
    ref = request.order_ref
    if ref is None:
        raise InvalidInput("the import step needs order_ref (store_hash, order_id)", field="order_ref")
    if order_key_for(ref.store_hash, ref.order_id) != request.order_key:
        raise InvalidInput(f"order_ref does not match order key {request.order_key}", field="order_ref")
    config = settings.bigcommerce()
    new_status = config.new_order_status_id

    existing = orders.find(request.order_key)
    accepted_at = existing.received_at if existing is not None else ""  # kept through the import
    if existing is not None and not existing.is_imported:
        existing = None  # only accepted so far (or refused before): this is its first import
    if existing is not None and request.trigger not in STATUS_TRIGGERS:
        if existing.all_mapping_issues or existing.status == OrderStatus.ERROR:
            return _remap(existing, orders, mappings, config, bigcommerce)
        return StepOutcome(
            succeeded=True,
            skipped=True,
            message=f"{existing.import_id} was already imported; nothing fetched",
            details=_summary(existing),
        )

    try:
        raw = bigcommerce.get_order(ref.order_id)
    except (BigCommerceUnavailable, RequestsConnectionError, Timeout) as exc:
        if existing is not None:
            raise  # an imported order checked for a status reset: the step's own retries will do
        return _store_unavailable(request, orders, exc)
    except (BigCommerceAuthError, BigCommerceNotFound) as exc:
        if existing is not None:
            raise
        return _store_refused(request, orders, exc)
    status = _int(raw.get("status_id"))
    if existing is not None:
        if status != new_status or existing.external_status_id == new_status:
            started: list[str] = []
            if status is not None and status != existing.external_status_id:
                orders.note_store_status(existing.order_key, status)
                if emit is not None and not orders.recognise_echo(existing.order_key, None, status):
                    occurrence = f"{status}@{raw.get('date_modified') or request.execution}"
                    started = emit(store_status_event(status).value, occurrence)
            return StepOutcome(
                succeeded=True,
                skipped=True,
                message=f"{existing.import_id} was already imported; BigCommerce shows {_label(status)}: "
                "changes after import are ignored unless the status is reset to "
                f"{_label(new_status)}" + (f"; started {', '.join(started)}" if started else ""),
                details={**_summary(existing), "started": started},
            )
    elif status != new_status:
        orders.forget_pending(request.order_key)  # not an order we import (yet): not listed either
        return StepOutcome(
            succeeded=True,
            skipped=True,
            message=f"not imported: BigCommerce shows {_label(status)}; orders are imported at "
            f"{_label(new_status)}",
            details={"import_id": None, "bigcommerce_status_id": status},
        )

    order = to_order(raw, ref.store_hash, config.mapping_group).model_copy(
        update={"import_as": config.import_as, "received_at": accepted_at}
    )
    match = match_customer(order, customers, bigcommerce.find_customers)
    if match.record is not None:
        customer = order.customer.model_copy(
            update={"record_id": match.record.id, "record_created": match.created}
        )
        order = order.model_copy(update={"customer": customer})
        if match.created:
            metrics.add_metric(name="CustomersCreated", unit="Count", value=1)
    order = map_order(order, mappings.lookup)

    if existing is not None:
        order = _next_revision(existing, order)
        orders.replace_revision(existing, order)
        metrics.add_metric(name="OrdersReimported", unit="Count", value=1)
        verb = f"re-imported {order.import_id} as revision {order.revision} (the status was reset to {_label(new_status)})"
    else:
        if not orders.create(order):
            stored = orders.get(request.order_key)
            return StepOutcome(
                succeeded=True,
                skipped=True,
                message=f"{order.import_id} was imported concurrently by another run; kept that one",
                details=_summary(stored),
            )
        metrics.add_metric(name="OrdersImported", unit="Count", value=1)
        verb = f"imported {order.import_id}"
    return _after_import(order, verb, match.describe(), orders, config, bigcommerce)


def _after_import(
    order: Order,
    verb: str,
    customer: str,
    orders: OrderRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    """Tell the store: the downloaded status, or the import-error status for an order we cannot map."""
    issues = order.all_mapping_issues
    mapped = sum(1 for line in order.lines if not line.mapping_issues)
    if not issues:
        message = f"{verb}: {len(order.lines)} lines, {mapped} mapped; {customer}"
        outcome = StepOutcome(succeeded=True, message=message, details=_summary(order))
        target, reason = config.downloaded_status_id, "imported"
    else:
        metrics.add_metric(name="OrdersWithUnmappedValues", unit="Count", value=1)
        unmapped = _unique(i.message for i in issues)
        message = f"{verb} but {len(unmapped)} value(s) have no mapping: " + "; ".join(unmapped)
        order = orders.transition(
            order.order_key, OrderStatus.ERROR, reason="import: values without a mapping"
        ).model_copy(update={"lines": order.lines})
        outcome = StepOutcome(succeeded=False, message=message, details=_summary(order))
        target, reason = config.import_error_status_id, "import error"
    if target is None or not config.push_enabled:
        return outcome
    pushed = push_store_status(order, len(order.history), target, reason, orders, bigcommerce)
    return outcome.model_copy(
        update={
            "message": f"{outcome.message}; {pushed.message.split('; ', 1)[-1]}",
            "details": {**outcome.details, "bigcommerce_status_id": target},
        }
    )


def _keep(request: StepRequest, orders: OrderRepository) -> None:
    """The order stays on record while it cannot be imported (its intake normally recorded it)."""
    ref = request.order_ref
    assert ref is not None  # import_order checked it
    orders.record_pending(
        Order(
            order_key=request.order_key,
            store_hash=ref.store_hash,
            external_id=ref.order_id,
            import_id=import_id_for(ref.order_id),
        )
    )


def _store_unavailable(request: StepRequest, orders: OrderRepository, exc: Exception) -> StepOutcome:
    """Try again later, on the schedule; past its window, leave the order pending for the sweep."""
    _keep(request, orders)
    schedule = RetrySchedule.from_env()
    previous = request.previous or {}
    previous = previous.get("wait", previous)  # after the machine's wait: what the last try said
    attempt = (int(previous.get("attempt") or 0) if previous.get("status") == "retrying" else 0) + 1
    error = str(exc)
    metrics.add_metric(name="ImportsWaitingForStore", unit="Count", value=1)
    if schedule.gives_up(attempt):
        orders.note_import_attempt(request.order_key, error=error, next_attempt_at=None, failed=False)
        return StepOutcome(
            succeeded=False,
            attempt=attempt,
            message=f"the store did not answer in {attempt} tries over {schedule.waited(attempt - 1) // 60} minutes: "
            f"{error}; the order stays pending_import, and the sweep (or a resubmit) imports it once the store is back",
            details={"attempts": attempt, "last_error": error, "next_attempt_at": None},
        )
    wait = schedule.wait(attempt)
    next_at = RetrySchedule.at(wait)
    orders.note_import_attempt(request.order_key, error=error, next_attempt_at=next_at, failed=False)
    return StepOutcome(
        succeeded=False,
        retry_in=wait,
        attempt=attempt,
        message=f"the store did not answer (try {attempt}): {error}; next try at {next_at} (in {wait} s)",
        details={"attempts": attempt, "last_error": error, "next_attempt_at": next_at},
    )


def _store_refused(request: StepRequest, orders: OrderRepository, exc: BigCommerceError) -> StepOutcome:
    """401/403 (our token) or 404 (no such order): retrying cannot help; an operator must act."""
    _keep(request, orders)
    cause = (
        "the store refused our access token"
        if isinstance(exc, BigCommerceAuthError)
        else "the store has no such order"
    )
    orders.note_import_attempt(request.order_key, error=f"{cause}: {exc}", next_attempt_at=None, failed=True)
    metrics.add_metric(name="ImportsFailed", unit="Count", value=1)
    return StepOutcome(
        succeeded=False,
        message=f"import_failed: {cause} ({exc}); fix it, then resubmit the order",
        details={
            "cause": "unauthorized" if isinstance(exc, BigCommerceAuthError) else "not_found",
            "error": str(exc),
        },
    )


def _next_revision(current: Order, fresh: Order) -> Order:
    at = clock.iso()
    history = [
        *current.history,
        StatusChange(status=fresh.status, at=at, reason=f"re-imported as revision {current.revision + 1}"),
    ]
    return fresh.model_copy(
        update={
            "revision": current.revision + 1,
            "history": history,
            "pushes": current.pushes,
            "last_push_seq": current.last_push_seq,
            "record_version": current.record_version + 1,
        }
    )


def _label(status_id: int | None) -> str:
    return "no status" if status_id is None else f"{status_id} {status_name(status_id)}"


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _remap(
    order: Order,
    orders: OrderRepository,
    mappings: MappingRepository,
    config: BigCommerceSettings,
    bigcommerce: BigCommerceClient,
) -> StepOutcome:
    """Run again after an operator added the missing mappings (a resubmit): map the stored order
    anew (the store is not asked again; the order as imported is what gets mapped). Mapped now, the
    order leaves ``error`` and the store the import-error status (for the downloaded status, else
    the new-order status); still unmapped, it stays in error."""
    before = len(order.all_mapping_issues)
    remapped = map_order(order, mappings.lookup)
    issues = remapped.all_mapping_issues
    if len(issues) != before or remapped.account != order.account or remapped.price_list != order.price_list:
        orders.save_mapping(remapped)
    if issues:
        if order.status != OrderStatus.ERROR:
            orders.transition(
                order.order_key, OrderStatus.ERROR, reason="import: values still without a mapping"
            )
        unmapped = _unique(i.message for i in issues)
        return StepOutcome(
            succeeded=False,
            message=f"{order.import_id} was already imported; re-mapped, {len(unmapped)} value(s) still have no "
            "mapping: " + "; ".join(unmapped),
            details=_summary(remapped),
        )
    message = f"{order.import_id} was already imported; re-mapped: every value is mapped now"
    if order.status == OrderStatus.ERROR:
        orders.transition(order.order_key, OrderStatus.NEW, reason="import: every value is mapped now")
    target = config.downloaded_status_id or config.new_order_status_id
    healed = orders.find_header(order.order_key) or order
    if config.push_enabled and healed.external_status_id != target:
        pushed = push_store_status(healed, len(healed.history), target, "import healed", orders, bigcommerce)
        message = f"{message}; {pushed.message.split('; ', 1)[-1]}"
    return StepOutcome(succeeded=True, message=message, details=_summary(remapped))


def _summary(order: Order) -> dict[str, object]:
    return {
        "import_id": order.import_id,
        "lines": len(order.lines),
        "unmapped": len(order.all_mapping_issues),
        "account": order.account,
        "price_list": order.price_list,
        "customer_id": order.customer.record_id,
        "customer_created": order.customer.record_created,
    }


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))
