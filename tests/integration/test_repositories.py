"""Repositories against the embedded DynamoDB, with the tables template.yaml declares."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.order import (
    Address,
    Customer,
    MappingInput,
    MappingKey,
    MappingKind,
    Order,
    OrderLine,
    OrderStatus,
    StepResult,
    StepStatus,
)
from orderflow.models.shipment import BigCommerceShipment, Shipment, ShipmentLine
from orderflow.store import tables
from orderflow.store.deliveries import DeliveryLedger
from orderflow.store.shipments import LinesTaken, ShipmentRepository
from orderflow_local.runtime import LocalRuntime

GROUP = "Default Mapping Group"


def _order(order_id: int = 250, lines: int = 2) -> Order:
    return Order(
        order_key=f"BC-test-store-{order_id}",
        store_hash="test-store",
        external_id=order_id,
        import_id=f"BC-{order_id}",
        currency="USD",
        total_inc_tax=Decimal("70.0000"),
        customer=Customer(external_id=11, email="janedoe@example.com"),
        ship_to=[Address(external_id=1)],
        imported_at=clock.iso(),
        lines=[
            OrderLine(line_number=n, external_id=n, sku=f"SKU-{n}", quantity=n, unit_price=Decimal("1.5"))
            for n in range(1, lines + 1)
        ],
    )


def _step(order_key: str, step: str, started: str) -> StepResult:
    return StepResult(
        order_key=order_key, flow_id="default-order-flow", flow_version=1, step=step, action="validate_order_header",
        status=StepStatus.SUCCEEDED, started_at=started, finished_at=started,
    )  # fmt: skip


def test_an_order_is_stored_once_and_read_back_with_its_steps_in_one_query(
    runtime: LocalRuntime, dynamodb_calls: Counter[str]
) -> None:
    orders = tables.orders()
    order = _order()

    assert orders.create(order) is True
    assert (
        orders.create(order.model_copy(update={"currency": "EUR"})) is False
    )  # a second import changes nothing
    orders.record_step(_step(order.order_key, "Second", "2026-01-01T00:00:02.000Z"))
    orders.record_step(_step(order.order_key, "First", "2026-01-01T00:00:01.000Z"))
    dynamodb_calls.clear()

    stored, steps = orders.get_with_steps(order.order_key)

    assert dynamodb_calls == Counter({"Query": 1})
    assert stored.currency == "USD" and stored.lines == order.lines
    assert [s.step for s in steps] == ["First", "Second"]


def test_a_2000_line_order_is_stored_in_items_of_100_lines_written_once_and_read_in_one_query(
    runtime: LocalRuntime, dynamodb_calls: Counter[str]
) -> None:
    orders = tables.orders()
    order = _order(lines=2000)
    orders.record_pending(order.model_copy(update={"lines": []}))  # as its webhook did
    dynamodb_calls.clear()

    orders.create(order)
    writes = dict(dynamodb_calls)
    dynamodb_calls.clear()
    stored = orders.get(order.order_key)

    assert stored.lines == order.lines and stored.lines[-1].quantity == 2000
    assert dynamodb_calls == Counter({"Query": 1})
    # the header (under the condition that no other import has it) and its 21 items of lines, at once
    assert writes == {"TransactWriteItems": 1}
    items = orders.query_all(Key("pk").eq(order.order_key) & Key("sk").begins_with("LINES#"))
    assert [i["sk"] for i in items] == [f"LINES#{n:04d}" for n in range(21)]  # lines 1…2000: 0…20
    packed = [len(bytes(i["lines"])) for i in items]
    assert max(packed) < 10_000  # 100 lines compressed: far from the 400 KB item limit, cheap to write


def test_an_order_too_large_for_one_transaction_is_claimed_then_written_and_a_second_import_writes_nothing(
    runtime: LocalRuntime, dynamodb_calls: Counter[str]
) -> None:
    orders = tables.orders()
    order = _order(lines=10_000)  # 101 items of lines: more than a transaction holds
    orders.record_pending(order.model_copy(update={"lines": []}))
    dynamodb_calls.clear()

    assert orders.create(order) is True
    writes = dict(dynamodb_calls)
    assert orders.create(order.model_copy(update={"currency": "EUR"})) is False

    # the claim, 101 items of lines 25 a batch, the header under the claim
    assert writes == {"UpdateItem": 1, "BatchWriteItem": 5, "PutItem": 1}
    stored = orders.get(order.order_key)
    assert stored.currency == "USD" and len(stored.lines) == 10_000 and stored.lines == order.lines


def test_concurrent_first_imports_of_one_order_store_it_once(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    order = _order(lines=3)
    orders.record_pending(order.model_copy(update={"lines": []}))
    won: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda c=c: won.append(orders.create(order.model_copy(update={"currency": c})))
        )
        for c in ("USD", "EUR", "GBP", "CAD")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(won) == [False, False, False, True]
    stored = orders.get(order.order_key)
    assert stored.status == OrderStatus.NEW and stored.lines == order.lines


def test_an_accepted_order_is_recorded_pending_or_its_stored_header_read_in_one_request(
    runtime: LocalRuntime, dynamodb_calls: Counter[str]
) -> None:
    orders = tables.orders()
    order = _order()
    pending = order.model_copy(update={"lines": []})

    assert orders.record_pending_or_read(pending) is None  # made
    assert orders.create(order) is True
    dynamodb_calls.clear()
    stored = orders.record_pending_or_read(pending)  # a second webhook: nothing written, header read

    assert dynamodb_calls == Counter({"PutItem": 1})
    assert stored is not None and stored.status == OrderStatus.NEW and stored.currency == "USD"
    assert orders.get(order.order_key).lines == order.lines


def _shipment(order_key: str, shipment_id: str, quantities: dict[int, int]) -> Shipment:
    return Shipment(
        id=shipment_id,
        order_key=order_key,
        lines=[
            ShipmentLine(line_number=n, quantity=q, order_product_id=n, order_address_id=1)
            for n, q in quantities.items()
        ],
        bigcommerce=[BigCommerceShipment(order_address_id=1)],
    )


def test_shipments_across_items_of_lines_count_line_by_line_and_a_remapping_keeps_them(
    runtime: LocalRuntime,
) -> None:
    orders, shipments = tables.orders(), ShipmentRepository("OrdersTable")
    order = _order(lines=250)  # line n orders n units; lines 1…250 sit in three items
    orders.create(order)
    ordered = {line.line_number: line.quantity for line in order.lines}

    # A shipment taking from three items, and a second one competing for line 150's last unit
    shipments.record(_shipment(order.order_key, "a", {1: 1, 150: 149, 250: 10}), ordered, order.revision)
    with pytest.raises(LinesTaken):
        shipments.record(_shipment(order.order_key, "b", {99: 1, 150: 2}), ordered, order.revision)
    shipments.record(_shipment(order.order_key, "c", {99: 1, 150: 1}), ordered, order.revision)

    # A re-mapping meanwhile rewrites what the lines map to, never what shipped
    remapped = orders.get(order.order_key)
    for line in remapped.lines:
        line.product, line.unit = f"P-{line.line_number}", "EA"
        line.quantity_shipped = 0  # what a stale copy would say: not written by a re-mapping
    orders.save_mapping(remapped)
    stored = orders.get(order.order_key)
    shipped = {line.line_number: line.quantity_shipped for line in stored.lines if line.quantity_shipped}
    assert shipped == {1: 1, 99: 1, 150: 150, 250: 10}  # "b" took nothing, not even line 99
    assert {line.product for line in stored.lines} == {f"P-{n}" for n in range(1, 251)}

    # Giving a shipment's units back releases them from each item, once
    def refused(current: Shipment) -> Shipment:
        return current.model_copy(
            update={"bigcommerce": [BigCommerceShipment(order_address_id=1, state="refused")]}
        )

    shipments.update(order.order_key, "a", refused)
    shipments.update(order.order_key, "a", refused)
    shipped = {
        line.line_number: line.quantity_shipped
        for line in orders.get(order.order_key).lines
        if line.quantity_shipped
    }
    assert shipped == {99: 1, 150: 1}


def test_a_reimport_during_a_remapping_or_a_shipment_fails_them_rather_than_mixing_revisions(
    runtime: LocalRuntime,
) -> None:
    orders, shipments = tables.orders(), ShipmentRepository("OrdersTable")
    order = _order(lines=3)
    orders.create(order)
    read = orders.get(order.order_key)

    # The store changed the order: line 3 is gone and line 2 now orders 1
    changed = read.model_copy(
        update={"revision": 2, "lines": [read.lines[0], read.lines[1].model_copy(update={"quantity": 1})]}
    )
    orders.replace_revision(read, changed)

    with pytest.raises(Conflict):
        orders.save_mapping(read)  # mapped from revision 1: would bring line 3 back
    with pytest.raises(LinesTaken):  # counted on line 2 ordering 2
        shipments.record(_shipment(order.order_key, "late", {2: 2}), {2: 2}, read.revision)
    stored = orders.get(order.order_key)
    assert [(line.line_number, line.quantity, line.quantity_shipped) for line in stored.lines] == [
        (1, 1, 0),
        (2, 1, 0),
    ]
    assert shipments.for_order(order.order_key) == []


def test_status_changes_are_kept_in_order_even_when_concurrent(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    order = _order()
    orders.create(order)

    threads = [
        threading.Thread(target=orders.transition, args=(order.order_key, status, "test"))
        # statuses that may follow each other in any order (models/transitions.py), so none is refused
        for status in (OrderStatus.VALIDATED, OrderStatus.ON_HOLD, OrderStatus.ERROR)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = orders.get(order.order_key)

    assert len(stored.history) == 3  # optimistic locking: no change overwrote another
    assert stored.status == stored.history[-1].status
    assert stored.record_version == 4
    with pytest.raises(NotFound):
        orders.transition("BC-test-store-999", OrderStatus.VALIDATED)


def test_orders_are_listed_newest_first_in_pages(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    for order_id in (1, 2, 3):
        orders.create(
            _order(order_id).model_copy(update={"imported_at": f"2026-11-0{order_id}T00:00:00.000Z"})
        )

    first, cursor = orders.recent(limit=2)
    second, last = orders.recent(limit=2, cursor=cursor)

    assert [o.external_id for o in first] == [3, 2]
    assert [o.external_id for o in second] == [1]
    assert last is None
    assert first[0].lines == []  # the listing does not read lines


def _mapping(value: str, external: str, account: str | None = None) -> MappingInput:
    return MappingInput(
        value=value, external_field_name="sku", external_field_value=external, account=account
    )


def test_mapping_duplicates_are_refused_and_account_variants_are_not_duplicates(
    runtime: LocalRuntime,
) -> None:
    mappings = tables.mappings()
    general = mappings.create(MappingKind.PRODUCTS, _mapping("Accu Scale", "ABS"))
    mappings.create(MappingKind.PRODUCTS, _mapping("Accu Scale (trade)", "ABS", account="TestBCAccount"))

    with pytest.raises(
        Conflict, match="sku='ABS' already exists in group 'Default Mapping Group' for all accounts"
    ):
        mappings.create(MappingKind.PRODUCTS, _mapping("Other", "ABS"))
    other = mappings.create(MappingKind.PRODUCTS, _mapping("Weights", "SCW"))
    with pytest.raises(Conflict):  # moving a mapping onto another's key
        mappings.update(MappingKind.PRODUCTS, other.id, _mapping("Weights", "ABS"))
    moved = mappings.update(MappingKind.PRODUCTS, other.id, _mapping("Weights", "SCW-2"))

    assert mappings.get(MappingKind.PRODUCTS, general.id).value == "Accu Scale"
    assert mappings.get(MappingKind.PRODUCTS, moved.id).external_field_value == "SCW-2"
    with pytest.raises(NotFound):
        mappings.get(MappingKind.UNITS, general.id)  # the id is of another kind
    assert len(mappings.search(MappingKind.PRODUCTS, group=GROUP)[0]) == 3


def test_resolving_many_keys_takes_a_few_batched_reads(
    runtime: LocalRuntime, dynamodb_calls: Counter[str]
) -> None:
    mappings = tables.mappings()
    for n in range(0, 250, 2):  # every other SKU is mapped
        mappings.create(MappingKind.PRODUCTS, _mapping(f"Product {n}", f"SKU-{n}"))
    dynamodb_calls.clear()

    keys = [MappingKey(MappingKind.PRODUCTS, GROUP, "sku", f"SKU-{n}") for n in range(250)]
    found = mappings.resolve(keys + keys[:50])  # repeated keys are asked once

    assert len(found) == 125 and found[keys[10]].value == "Product 10"
    assert dynamodb_calls == Counter({"BatchGetItem": 3})  # 250 keys, 100 a call


def test_the_delivery_ledger_accepts_an_event_once(runtime: LocalRuntime) -> None:
    ledger = tables.deliveries()

    assert ledger.claim("hash-1", "store/order/created|s|1", {"scope": "store/order/created"}) is True
    assert ledger.claim("hash-1", "store/order/created|s|1", {}) is False  # a redelivery
    assert (
        ledger.claim("hash-2", "store/order/created|s|1", {}) is False
    )  # same event, new hash, in the window
    assert ledger.claim("hash-3", "store/order/created|s|2", {}) is True

    ledger.release("hash-3", "store/order/created|s|2")
    assert ledger.claim("hash-3", "store/order/created|s|2", {}) is True  # released: the retry is new work


def test_an_event_outside_the_window_is_new_but_its_hash_still_is_not(runtime: LocalRuntime) -> None:
    ledger = DeliveryLedger(tables.deliveries().table_name, window_seconds=-1)  # every window already over

    assert ledger.claim("hash-1", "event-1", {}) is True
    assert ledger.claim("hash-2", "event-1", {}) is True
    assert ledger.claim("hash-1", "event-1", {}) is False


def test_a_filtered_mapping_listing_fills_its_pages_and_resumes_after_the_last_one(
    runtime: LocalRuntime,
) -> None:
    mappings = tables.mappings()
    counts = mappings.upsert_many(
        MappingKind.PRODUCTS,
        [_mapping(f"Part {n}", f"SKU-{n:03d}", account="Trade" if n % 10 == 0 else None) for n in range(60)]
        + [_mapping("Shared", "SHARED", account=f"A{n}") for n in range(7)],
    )
    assert counts.created == 67
    mappings.create(
        MappingKind.UNITS, MappingInput(value="ea", external_field_name="unit", external_field_value="SHARED")
    )

    def every_page(**filters: object) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            found, cursor = mappings.search(MappingKind.PRODUCTS, limit=3, cursor=cursor, **filters)  # type: ignore[arg-type]
            pages.append([f"{m.external_field_value}/{m.account}" for m in found])
            if cursor is None:
                return pages

    # A rare value among many: full pages of exactly the matches, never an empty page with a cursor
    pages = every_page(external_value="SHARED")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(v for p in pages for v in p) == sorted(f"SHARED/A{n}" for n in range(7))
    # The same within a group (a Query), and without a filter every product once
    in_group = every_page(group="Default Mapping Group", external_value="SHARED")
    assert sum(len(p) for p in in_group) == 7 and all(p for p in in_group)
    everything = [v for p in every_page() for v in p]
    assert len(everything) == len(set(everything)) == 67


def test_a_step_result_with_fractional_details_is_stored_and_read_back(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    result = StepResult(
        order_key="BC-test-store-77", flow_id="f", flow_version=1, step="Source", action="send_to_dom",
        status=StepStatus.SUCCEEDED, details={"distance_km": 12.75, "share": [0.5, 0.25]},
        started_at="2026-11-25T10:00:00Z", finished_at="2026-11-25T10:00:01Z", execution="run-1",
    )  # fmt: skip

    orders.record_step(result)

    [stored] = orders.step_results("BC-test-store-77")
    assert stored.details == {"distance_km": 12.75, "share": [0.5, 0.25]}


def test_a_first_import_claims_the_order_so_a_racing_one_writes_nothing(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    # Given an accepted order, whose import another run has claimed (and is writing)
    accepted = _order(lines=0)
    assert orders.record_pending(accepted)
    orders.table.update_item(
        Key={"pk": accepted.order_key, "sk": "ORDER"},
        UpdateExpression="SET import_claim = :other, import_claimed_at = :now",
        ExpressionAttributeValues={":other": "another-run", ":now": Decimal(str(time.time()))},
    )

    # When a second import of it comes along
    raced = orders.create(_order(lines=3))

    # Then it writes nothing: not a line, not the header
    assert raced is False
    stored = orders.find(accepted.order_key)
    assert stored is not None and stored.status == OrderStatus.PENDING_IMPORT and stored.lines == []

    # And once that claim is stale (the other run died), an import takes it over and completes
    orders.table.update_item(
        Key={"pk": accepted.order_key, "sk": "ORDER"},
        UpdateExpression="SET import_claimed_at = :long_ago",
        ExpressionAttributeValues={":long_ago": Decimal(str(time.time() - 3600))},
    )
    assert orders.create(_order(lines=3).model_copy(update={"received_at": stored.received_at})) is True
    imported = orders.get(accepted.order_key)
    assert imported.status == OrderStatus.NEW and len(imported.lines) == 3
    assert imported.received_at == stored.received_at  # when we accepted it, passed on by the import
    assert imported.import_attempts == 0 and imported.next_attempt_at is None  # the pending record's go
    # and an imported order is never recorded as pending again
    assert orders.record_pending(_order(lines=0)) is False


def test_orders_needing_attention_are_counted_with_the_oldest_first(runtime: LocalRuntime) -> None:
    orders = tables.orders()
    for order_id in (301, 302):
        assert orders.record_pending(_order(order_id, lines=0))
    orders.create(_order(303))
    orders.transition("BC-test-store-303", OrderStatus.ON_HOLD, reason="test: held")

    summary = orders.attention_summary(["pending_import", "on_hold", "import_failed"])

    assert summary["pending_import"]["count"] == 2
    assert summary["pending_import"]["oldest_order_key"] == "BC-test-store-301"
    assert summary["on_hold"]["count"] == 1 and summary["import_failed"]["count"] == 0
    # leaving the hold leaves the index
    orders.transition("BC-test-store-303", OrderStatus.VALIDATED, reason="test: released")
    assert orders.attention_summary(["on_hold"])["on_hold"]["count"] == 0
