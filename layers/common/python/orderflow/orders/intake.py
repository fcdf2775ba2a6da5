"""Orders from any source (``POST /orders``) and clones: validated, mapped, de-duplicated, routed to the flows.

An order from a source other than the store is keyed (and imported, its Import ID) as
``<source code>-<its id at the source>``: the same order posted again is the same order, and a different
order under the same key is refused. It is mapped with the source's mapping group exactly as a
BigCommerce order is; values without a mapping keep it in ``error`` with its problems listed, and no
flow starts (posting it again once the mappings exist maps it anew and routes it). A mapped order starts
the published flows of ``new_order``, like the intake's route step does for the store's orders; it never
goes through the BigCommerce import.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from orderflow import clock
from orderflow.errors import Conflict, InvalidInput, NotFound, Unauthorized
from orderflow.mapping.resolve import map_order
from orderflow.models.event import OrderEvent
from orderflow.models.intake import OrderSubmission, SubmittedAddress, SubmittedCustomer, SubmittedLine
from orderflow.models.order import (
    IMPORT_SOURCE_CODE,
    Address,
    BigCommerceSettings,
    Customer,
    MappingKind,
    Order,
    OrderLine,
    OrderStatus,
    StepResult,
    StepStatus,
    source_order_key,
)
from orderflow.models.source import MANUAL_SOURCE, MANUAL_SOURCE_CODE, OrderSource
from orderflow.observability import logger, metrics
from orderflow.orders.customers import match_customer
from orderflow.orders.events import RouteLike, start_flows
from orderflow.orders.executions import INTAKE, Starter
from orderflow.problems import loc_path
from orderflow.store.customers import CustomerRepository
from orderflow.store.mappings import MappingRepository
from orderflow.store.orders import OrderRepository

IMPORT_STEP = "Import order"
ROUTE_STEP = "Route to flows"
POST_TRIGGER = "post"
CLONE_TRIGGER = "clone"


@dataclass(frozen=True)
class Sender:
    """Who posts: an operator (the admin credentials), or a machine sender whose X-Source-Secret is
    the secret of ``sources`` (usually one)."""

    operator: bool
    sources: tuple[OrderSource, ...] = ()
    by: str = ""


@dataclass
class Intake:
    """What a post did: the order (as stored), whether it is new, and the flows it started."""

    order: Order
    created: bool
    message: str
    started: list[str] = field(default_factory=list)


class SourceDirectory:
    """The configured sources by code (store/sources.py), with the built-in MANUAL one."""

    def __init__(self, find: Callable[[str], OrderSource | None]) -> None:
        self._find = find

    def find(self, code: str) -> OrderSource | None:
        return MANUAL_SOURCE if code == MANUAL_SOURCE_CODE else self._find(code)


def sources_for_secret(
    given: str, sources: Iterable[OrderSource], secret_of: Callable[[str], str]
) -> tuple[OrderSource, ...]:
    """The sources whose secret is ``given`` (compared in constant time); a source whose secret cannot
    be read is skipped (and logged), so that it never lets anyone in."""
    matched = []
    for source in sources:
        if not source.secret_ref:
            continue
        try:
            expected = secret_of(source.secret_ref)
        except Exception:  # a reference to a secret that is not there: nobody can post as that source
            logger.warning("a source's secret cannot be read", extra={"source": source.code})
            continue
        if expected and hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
        ):
            matched.append(source)
    return tuple(matched)


def parse_submission(body: Any) -> OrderSubmission:
    """The posted order, or InvalidInput naming every problem with its path (``lines[1].quantity: ...``)."""
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object", field="body")
    try:
        return OrderSubmission.model_validate(body)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            path = loc_path(err["loc"], set())
            if path == "external_id" and err["type"] == "string_pattern_mismatch":
                message = "1 to 64 letters, digits and . _ - (starting with a letter or digit)"
            elif path == "source" and err["type"] == "string_pattern_mismatch":
                message = "a source code: 1 to 12 capital letters and digits, starting with a letter"
            elif err["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{path}: {message}" if path else message)
        raise InvalidInput.listing(problems) from None


def source_of(submission: OrderSubmission, sender: Sender, directory: SourceDirectory) -> OrderSource:
    """The source the order is taken for: a machine sender's own, an operator's choice (MANUAL by default)."""
    if not sender.operator:
        codes = [s.code for s in sender.sources]
        if submission.source is None:
            if len(sender.sources) == 1:
                return sender.sources[0]
            raise InvalidInput("source: this secret belongs to several sources; name yours", field="source")
        chosen = next((s for s in sender.sources if s.code == submission.source), None)
        if chosen is None:
            raise Unauthorized(
                f"X-Source-Secret is not the secret of source '{submission.source}' (it is {', '.join(codes)}'s)",
                field="x-source-secret",
            )
        return chosen
    code = submission.source or MANUAL_SOURCE_CODE
    if code == IMPORT_SOURCE_CODE:
        raise InvalidInput(
            "source: BigCommerce orders come from the store (its webhooks, the sync), not from POST /orders",
            field="source",
        )
    found = directory.find(code)
    if found is None:
        raise InvalidInput(f"source: no order source '{code}' (GET /sources lists them)", field="source")
    return found


def fingerprint(submission: OrderSubmission) -> str:
    """What tells the same order posted again from another order posted under the same key."""
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def take_order(
    submission: OrderSubmission,
    source: OrderSource,
    sender: Sender,
    *,
    store_hash: str,
    settings: BigCommerceSettings,
    orders: OrderRepository,
    mappings: MappingRepository,
    customers: CustomerRepository,
    routes: Callable[[], list[RouteLike]],
    starter: Starter,
    cloned_from: str | None = None,
) -> Intake:
    """Store the order once, mapped, and start its flows; the same order again answers the stored one."""
    # A machine sender's orders are never manual: only an operator enters one.
    submission = submission.model_copy(update={"is_manual": sender.operator and submission.is_manual})
    key = source_order_key(source.code, submission.external_id)
    printed = fingerprint(submission)
    existing = orders.find(key)
    if existing is not None:
        return _again(existing, printed, orders, mappings, routes, starter)

    started_at = clock.iso()
    # An operator's own orders are mapped as the store's are; a clone keeps its original's group.
    manual = source.code == MANUAL_SOURCE_CODE and cloned_from is None
    group = settings.mapping_group if manual else source.mapping_group
    order = _order(submission, source, key, store_hash, group, settings, printed, cloned_from)
    order = _with_customer(order, submission.customer, customers)
    order = _mapped(order, submission.lines, mappings)
    if not orders.create(order):  # posted twice at once: the other post stored it
        return _again(orders.get(key), printed, orders, mappings, routes, starter)
    metrics.add_metric(name="OrdersImported", unit="Count", value=1)
    issues = _unique(i.message for i in order.all_mapping_issues)
    verb = f"imported {order.import_id} from {source.name} ({source.code})" + (
        f", posted by {sender.by}" if sender.by else ""
    )
    if issues:
        metrics.add_metric(name="OrdersWithUnmappedValues", unit="Count", value=1)
        orders.transition(key, OrderStatus.ERROR, reason="import: values without a mapping")
        message = f"{verb} but {len(issues)} value(s) have no mapping: " + "; ".join(issues)
        _record(
            orders, key, IMPORT_STEP, "import_order", StepStatus.FAILED, message, _summary(order), started_at
        )
        return Intake(order=orders.get(key), created=True, message=message)
    message = f"{verb}: {len(order.lines)} lines, all mapped"
    _record(
        orders, key, IMPORT_STEP, "import_order", StepStatus.SUCCEEDED, message, _summary(order), started_at
    )
    started = _route(key, orders, routes, starter, CLONE_TRIGGER if cloned_from else POST_TRIGGER)
    logger.info("order taken", extra={"order_key": key, "source": source.code, "started": started})
    return Intake(order=orders.get(key), created=True, message=message, started=started)


def clone_order(
    order_key: str,
    *,
    by: str,
    store_hash: str,
    settings: BigCommerceSettings,
    orders: OrderRepository,
    mappings: MappingRepository,
    customers: CustomerRepository,
    routes: Callable[[], list[RouteLike]],
    starter: Starter,
) -> Intake:
    """A reorder an operator makes of an order: the same customer, addresses and lines, as a new manual
    order (source MANUAL, a new id, ``cloned_from`` the original), mapped with the original's mapping
    group and routed like any new order."""
    original = orders.get(order_key)  # 404 for an unknown order
    if not original.is_imported:
        raise Conflict(f"order {order_key} is not imported yet: there is nothing to clone", field="order_key")
    # Built as they are, not validated again: the original's values were taken when it came in, and a
    # store's order may carry longer texts than a post allows.
    submission = OrderSubmission.model_construct(
        source=MANUAL_SOURCE_CODE,
        external_id=_clone_id(original),
        is_manual=True,
        currency=original.currency or "USD",
        customer=SubmittedCustomer.model_construct(
            record_id=original.customer.record_id,
            email=original.customer.email,
            first_name=original.customer.first_name,
            last_name=original.customer.last_name,
            company=original.customer.company,
        ),
        billing_address=_submitted_address(original.billing_address),
        ship_to=[_submitted_address(a) for a in original.ship_to],
        lines=[
            SubmittedLine.model_construct(
                sku=line.sku or None,
                product=None if line.sku else line.product,
                name=line.name,
                quantity=line.quantity,
                unit=line.external_unit or "each",
                unit_price=line.unit_price,
            )
            for line in original.lines
        ],
        subtotal_ex_tax=original.subtotal_ex_tax,
        total_tax=original.total_tax,
        total_inc_tax=original.total_inc_tax,
        payment_method=original.payment_method,
        placed_at=None,
    )
    source = MANUAL_SOURCE.model_copy(update={"mapping_group": original.mapping_group})
    return take_order(
        submission,
        source,
        Sender(operator=True, by=by),
        store_hash=store_hash,
        settings=settings,
        orders=orders,
        mappings=mappings,
        customers=customers,
        routes=routes,
        starter=starter,
        cloned_from=order_key,
    )


# -- the pieces ----------------------------------------------------------------------------------------


def _order(
    submission: OrderSubmission,
    source: OrderSource,
    key: str,
    store_hash: str,
    group: str,
    settings: BigCommerceSettings,
    printed: str,
    cloned_from: str | None,
) -> Order:
    now = clock.iso()
    lines = [
        OrderLine(
            line_number=number,
            external_id=number,
            sku=line.sku or "",
            name=line.name or line.product or line.sku or "",
            quantity=line.quantity,
            external_unit=line.unit,
            unit_price=line.unit_price,
            total_ex_tax=line.unit_price * line.quantity,
            total_inc_tax=line.unit_price * line.quantity,
            # Every line goes to the first ship-to address (numbered from 1, as the order's addresses
            # are): what a shipment groups its lines by.
            ship_to_external_id=1 if submission.ship_to else None,
        )
        for number, line in enumerate(submission.lines, start=1)
    ]
    subtotal = (
        submission.subtotal_ex_tax
        if submission.subtotal_ex_tax is not None
        else sum((line.total_ex_tax for line in lines), Decimal("0"))
    )
    tax = submission.total_tax if submission.total_tax is not None else Decimal("0")
    total = submission.total_inc_tax if submission.total_inc_tax is not None else subtotal + tax
    billing = Address.model_validate(submission.billing_address.model_dump())
    buyer = submission.customer
    return Order(
        order_key=key,
        source=source.provider,
        source_code=source.code,
        store_hash=store_hash,
        external_id=0,
        source_order_id=submission.external_id,
        import_id=key,
        is_manual=submission.is_manual,
        cloned_from=cloned_from,
        intake_fingerprint=printed,
        currency=submission.currency,
        subtotal_ex_tax=subtotal,
        total_tax=tax,
        total_inc_tax=total,
        payment_method=submission.payment_method,
        order_source="manual" if submission.is_manual else source.provider,
        customer=Customer(
            email=buyer.email or billing.email,
            first_name=buyer.first_name or billing.first_name,
            last_name=buyer.last_name or billing.last_name,
            company=buyer.company or billing.company,
        ),
        billing_address=billing.model_copy(update={"phone": billing.phone or buyer.phone}),
        ship_to=[
            Address.model_validate({**a.model_dump(), "external_id": n})
            for n, a in enumerate(submission.ship_to, 1)
        ],
        mapping_group=group,
        placed_at=clock.iso(submission.placed_at) if submission.placed_at else now,
        imported_at=now,
        updated_at=now,
        received_at=now,
        import_as=settings.import_as,
        lines=lines,
    )


def _with_customer(order: Order, buyer: SubmittedCustomer, customers: CustomerRepository) -> Order:
    """The customer record named, else matched by e-mail (a contact's too), else created."""
    if buyer.record_id is not None:
        try:
            record = customers.get(buyer.record_id)
        except NotFound:
            raise InvalidInput(
                f"customer.record_id: no customer {buyer.record_id} (GET /customers)",
                field="customer.record_id",
            ) from None
        customer = order.customer.model_copy(
            update={
                "email": order.customer.email or record.email,
                "first_name": order.customer.first_name or record.first_name,
                "last_name": order.customer.last_name or record.last_name,
                "company": order.customer.company or record.company,
                "record_id": record.id,
            }
        )
        return order.model_copy(update={"customer": customer})
    match = match_customer(order, customers, _no_store)
    if match.record is None:
        return order
    if match.created:
        metrics.add_metric(name="CustomersCreated", unit="Count", value=1)
    customer = order.customer.model_copy(
        update={"record_id": match.record.id, "record_created": match.created}
    )
    return order.model_copy(update={"customer": customer})


def _no_store(**_: Any) -> list[dict[str, Any]]:
    # These orders have no store behind them to ask about a customer.
    return []


def _mapped(order: Order, submitted: list[SubmittedLine], mappings: MappingRepository) -> Order:
    """The order through the source's mappings; a line that names our product needs no product mapping."""
    mapped = map_order(order, mappings.lookup)
    lines = []
    for line, given in zip(mapped.lines, submitted, strict=True):
        if given.product is not None and given.sku is None:
            kept = [i for i in line.mapping_issues if i.kind is not MappingKind.PRODUCTS]
            line = line.model_copy(update={"product": given.product, "mapping_issues": kept})
        lines.append(line)
    return mapped.model_copy(update={"lines": lines})


def _again(
    existing: Order,
    printed: str,
    orders: OrderRepository,
    mappings: MappingRepository,
    routes: Callable[[], list[RouteLike]],
    starter: Starter,
) -> Intake:
    """The order posted before: the same contents answer it (mapped anew when it is in error for
    values without a mapping, and then routed); other contents are another order under its key."""
    if existing.intake_fingerprint != printed:
        raise Conflict(
            f"order {existing.order_key} was posted before with other contents; a changed order needs "
            "another external_id (or cancel this one)",
            field="external_id",
        )
    if not needs_mapping(existing):
        return Intake(order=existing, created=False, message=f"{existing.import_id} was posted before")
    return remap_and_route(existing, orders, mappings, routes, starter)


def needs_mapping(order: Order) -> bool:
    """A posted order held in error for values without a mapping (its import, not a flow, failed)."""
    return order.status == OrderStatus.ERROR and bool(order.all_mapping_issues)


def remap_and_route(
    existing: Order,
    orders: OrderRepository,
    mappings: MappingRepository,
    routes: Callable[[], list[RouteLike]],
    starter: Starter,
) -> Intake:
    """Map a posted order again (a POST of the same order, or a resubmit); routed once every value is
    mapped, else answered with what still is not."""
    started_at = clock.iso()
    submitted = [
        SubmittedLine.model_construct(
            sku=line.sku or None,
            product=None if line.sku else line.product,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in existing.lines
    ]
    remapped = _mapped(existing, submitted, mappings)
    orders.save_mapping(remapped)
    issues = _unique(i.message for i in remapped.all_mapping_issues)
    if issues:
        message = (
            f"{existing.import_id} re-mapped, {len(issues)} value(s) still have no mapping: "
            + "; ".join(issues)
        )
        return Intake(order=orders.get(existing.order_key), created=False, message=message)
    orders.transition(existing.order_key, OrderStatus.NEW, reason="import: every value is mapped now")
    message = f"{existing.import_id} re-mapped: every value is mapped now"
    _record(
        orders,
        existing.order_key,
        IMPORT_STEP,
        "import_order",
        StepStatus.SUCCEEDED,
        message,
        _summary(remapped),
        started_at,
    )
    started = _route(existing.order_key, orders, routes, starter, POST_TRIGGER)
    return Intake(order=orders.get(existing.order_key), created=False, message=message, started=started)


def _route(
    key: str, orders: OrderRepository, routes: Callable[[], list[RouteLike]], starter: Starter, trigger: str
) -> list[str]:
    started_at = clock.iso()
    emission = start_flows(
        OrderEvent.NEW_ORDER, key, lambda: orders.get(key), routes(), starter, trigger=trigger
    )
    message = emission.describe().removeprefix(f"{OrderEvent.NEW_ORDER.value}: ")
    details = {"started": emission.started, "not_started": emission.not_started}
    _record(orders, key, ROUTE_STEP, "route_order", StepStatus.SUCCEEDED, message, details, started_at)
    return emission.started


def _record(
    orders: OrderRepository,
    key: str,
    step: str,
    action: str,
    status: StepStatus,
    message: str,
    details: dict[str, Any],
    started_at: str,
) -> None:
    # Recorded as the intake's steps are for the store's orders, so the order's history reads the same.
    orders.record_step(
        StepResult(
            order_key=key,
            flow_id=INTAKE.id,
            flow_version=INTAKE.version,
            flow_name=INTAKE.name,
            step=step,
            action=action,
            status=status,
            message=message,
            details=details,
            started_at=started_at,
            finished_at=clock.iso(),
        )
    )


def _summary(order: Order) -> dict[str, Any]:
    return {
        "import_id": order.import_id,
        "lines": len(order.lines),
        "unmapped": len(order.all_mapping_issues),
        "account": order.account,
        "price_list": order.price_list,
        "customer_id": order.customer.record_id,
        "customer_created": order.customer.record_created,
    }


def _clone_id(original: Order) -> str:
    # A reorder is a new order each time: its id says where it came from and is unique.
    base = (original.import_id or original.order_key)[:48]
    return f"{base}-R{uuid.uuid4().hex[:8].upper()}"


def _submitted_address(address: Address) -> SubmittedAddress:
    fields = set(SubmittedAddress.model_fields)
    return SubmittedAddress.model_construct(**{k: v for k, v in address.model_dump().items() if k in fields})


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))
