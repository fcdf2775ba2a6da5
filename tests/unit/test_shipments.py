"""Shipment rules without AWS or a store: the request, its check against the order's lines, the
status the order moves to, and what is sent to BigCommerce."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow.errors import Conflict, InvalidInput
from orderflow.models.order import Order, OrderLine, OrderStatus
from orderflow.models.shipment import BigCommerceShipment, GroupState, Shipment, ShipmentLine
from orderflow.shipments.shipping import (
    MAX_LINES_PER_SHIPMENT,
    bigcommerce_payload,
    derived_shipment_id,
    find_ours,
    parse_request,
    plan,
    status_after,
)

ADDRESS = 7
OTHER_ADDRESS = 8


def _order(*lines: OrderLine, status: OrderStatus = OrderStatus.VALIDATED) -> Order:
    return Order(
        order_key="BC-store-250",
        store_hash="store",
        external_id=250,
        import_id="BC-250",
        status=status,
        lines=list(lines),
    )


def _line(number: int, sku: str, quantity: int, shipped: int = 0, address: int | None = ADDRESS) -> OrderLine:
    return OrderLine(
        line_number=number,
        external_id=100 + number,
        sku=sku,
        quantity=quantity,
        quantity_shipped=shipped,
        ship_to_external_id=address,
    )


def _problems(body: Any, order: Order | None = None) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        request = parse_request(body)
        plan(order or _order(_line(1, "ABS", 1)), request, "s1")
    assert caught.value.status == 400
    return caught.value.problems


# -- the request ---------------------------------------------------------------------------------------


def test_a_full_request_is_read_with_its_defaults_and_the_carrier_in_bigcommerce_spelling() -> None:
    request = parse_request(
        {
            "shipment_id": "WH1-000123",
            "items": [{"line_number": 1, "quantity": 1}, {"sku": "SCW", "quantity": 2}],
            "tracking_number": "1Z999AA10123456784",
            "carrier": "UPS",
            "tracking_link": None,
        }
    )

    assert request.shipment_id == "WH1-000123"
    assert request.carrier == "ups"
    assert request.tracking_link == ""
    assert [(i.line_number, i.sku, i.quantity) for i in request.items] == [(1, None, 1), (None, "SCW", 2)]
    assert (
        parse_request({"items": [{"sku": "A", "quantity": 1}], "carrier": "carrier_42"}).carrier
        == "carrier_42"
    )


def test_every_form_problem_is_named_with_its_path() -> None:
    problems = _problems(
        {
            "shipment_id": "no spaces please",
            "items": [
                {"line_number": 1, "quantity": 0},
                {"quantity": 1},
                {"line_number": 1, "sku": "ABS", "quantity": 1},
                {"sku": "ABS", "quantity": "2"},
            ],
            "tracking_number": "X" * 51,
            "carrier": "dhl",
            "colour": "blue",
        }
    )

    assert problems == [
        "shipment_id: 1 to 64 letters, digits and . _ : - (starting with a letter or digit)",
        "items[0].quantity: Input should be greater than or equal to 1",
        "items[1]: give line_number or sku (one of them) to name the order line",
        "items[2]: give line_number or sku (one of them) to name the order line",
        "items[3].quantity: Input should be a valid integer",
        "tracking_number: String should have at most 50 characters",
        "carrier: unknown carrier 'dhl'; BigCommerce knows '', 'auspost', 'canadapost', 'endicia', 'usps', "
        "'fedex', 'royalmail', 'ups', 'upsready', 'shipperhq' and carrier_{id}",
        "colour: Extra inputs are not permitted",
    ]


def test_a_shipment_needs_items_and_fits_in_one_transaction() -> None:
    assert _problems({"items": []}) == ["items: give at least one item to ship"]
    too_many = [{"line_number": n, "quantity": 1} for n in range(1, MAX_LINES_PER_SHIPMENT + 2)]
    assert _problems({"items": too_many}) == [
        f"items: at most {MAX_LINES_PER_SHIPMENT} lines per shipment; send the others as another shipment"
    ]
    assert _problems([1, 2]) == ["Input should be a valid dictionary or instance of ShipmentRequest"]


# -- against the order ---------------------------------------------------------------------------------


def test_lines_are_found_by_number_or_by_an_unambiguous_sku() -> None:
    order = _order(_line(1, "ABS", 1), _line(2, "SCW", 3, shipped=1))
    request = parse_request({"items": [{"sku": "SCW", "quantity": 2}, {"line_number": 1, "quantity": 1}]})

    shipment = plan(order, request, "s1")

    assert [
        (s.line_number, s.sku, s.quantity, s.order_product_id, s.order_address_id) for s in shipment.lines
    ] == [
        (2, "SCW", 2, 102, ADDRESS),
        (1, "ABS", 1, 101, ADDRESS),
    ]
    assert [(g.order_address_id, g.state) for g in shipment.bigcommerce] == [(ADDRESS, "pending")]
    assert (shipment.id, shipment.order_key, shipment.status) == ("s1", "BC-store-250", "pending")


def test_over_shipping_and_every_other_line_problem_are_named_together() -> None:
    order = _order(
        _line(1, "SCW", 2),
        _line(2, "ABS", 3, shipped=1),
        _line(3, "DUP", 1),
        _line(4, "DUP", 1),
        _line(5, "GIFT", 1, address=None),
        _line(6, "DONE", 2, shipped=2),
    )

    problems = _problems(
        {
            "items": [
                {"line_number": 1, "quantity": 1},
                {"line_number": 2, "quantity": 5},
                {"line_number": 9, "quantity": 1},
                {"sku": "NOPE", "quantity": 1},
                {"sku": "DUP", "quantity": 1},
                {"sku": "GIFT", "quantity": 1},
                {"sku": "SCW", "quantity": 1},
                {"line_number": 6, "quantity": 1},
            ]
        },
        order,
    )

    assert problems == [
        "items[1].quantity: 5 exceeds the 2 still to ship on line 2 (SKU ABS)",
        "items[2].line_number: order BC-store-250 has no line 9; its lines are 1 to 6",
        "items[3].sku: no line of order BC-store-250 has SKU 'NOPE'",
        "items[4].sku: SKU 'DUP' is on lines 3, 4; give line_number instead",
        "items[5]: line 5 (SKU GIFT) has no shipping address in BigCommerce; it is not shipped",
        "items[6]: line 1 (SKU SCW) is already in items[0]; give each line once",
        "items[7].quantity: line 6 (SKU DONE) is fully shipped (2 of 2)",
    ]


def test_the_error_names_its_first_problem_as_the_field() -> None:
    order = _order(_line(1, "ABS", 1))
    with pytest.raises(InvalidInput) as caught:
        plan(order, parse_request({"items": [{"line_number": 1, "quantity": 2}]}), "s1")

    assert caught.value.field == "items[0].quantity"
    assert caught.value.message == "items[0].quantity: 2 exceeds the 1 still to ship on line 1 (SKU ABS)"


def test_a_cancelled_order_is_not_shipped() -> None:
    order = _order(_line(1, "ABS", 1), status=OrderStatus.CANCELLED)
    with pytest.raises(Conflict) as caught:
        plan(order, parse_request({"items": [{"line_number": 1, "quantity": 1}]}), "s1")
    assert caught.value.status == 409 and caught.value.field == "order_key"


def test_lines_to_several_addresses_make_one_bigcommerce_shipment_per_address() -> None:
    order = _order(_line(1, "A", 1), _line(2, "B", 1, address=OTHER_ADDRESS), _line(3, "C", 1))

    shipment = plan(
        order, parse_request({"items": [{"line_number": n, "quantity": 1} for n in (1, 2, 3)]}), "s1"
    )

    assert [g.order_address_id for g in shipment.bigcommerce] == [ADDRESS, OTHER_ADDRESS]
    assert [line.line_number for line in shipment.lines_to(ADDRESS)] == [1, 3]
    assert [line.line_number for line in shipment.lines_to(OTHER_ADDRESS)] == [2]


# -- the order's status --------------------------------------------------------------------------------


def _shipment(*lines: tuple[int, int], state: GroupState = "created") -> Shipment:
    return Shipment(
        id="s",
        order_key="BC-store-250",
        lines=[
            ShipmentLine(line_number=n, quantity=q, order_product_id=100 + n, order_address_id=ADDRESS)
            for n, q in lines
        ],
        bigcommerce=[BigCommerceShipment(order_address_id=ADDRESS, state=state)],
    )


def test_the_status_follows_what_bigcommerce_has() -> None:
    nothing = _order(_line(1, "A", 1), _line(2, "B", 2))
    part = _order(_line(1, "A", 1, shipped=1), _line(2, "B", 2, shipped=1))
    whole = _order(_line(1, "A", 1, shipped=1), _line(2, "B", 2, shipped=2))

    assert status_after(nothing, []) is None
    assert status_after(part, [_shipment((1, 1), (2, 1))]) == OrderStatus.PARTIALLY_SHIPPED
    assert status_after(whole, [_shipment((1, 1), (2, 2))]) == OrderStatus.SHIPPED
    # Units of a shipment BigCommerce has not confirmed are held on the lines but do not count yet.
    assert status_after(whole, [_shipment((1, 1)), _shipment((2, 1), state="sent")]) == (
        OrderStatus.PARTIALLY_SHIPPED
    )
    assert status_after(part, [_shipment((1, 1), (2, 1), state="pending")]) is None


def test_lines_without_a_shipping_address_do_not_hold_the_order_back() -> None:
    order = _order(_line(1, "A", 1, shipped=1), _line(2, "GIFT", 1, address=None))
    assert status_after(order, [_shipment((1, 1))]) == OrderStatus.SHIPPED


# -- what BigCommerce receives -------------------------------------------------------------------------


def test_the_bigcommerce_payload_carries_the_address_the_products_and_only_the_merchants_comments() -> None:
    order = _order(_line(1, "A", 2), _line(2, "B", 1))
    request = parse_request(
        {
            "shipment_id": "s-1",
            "items": [{"line_number": 1, "quantity": 2}, {"line_number": 2, "quantity": 1}],
            "tracking_number": "TN1",
            "carrier": "usps",
            "comments": "fragile",
        }
    )
    shipment = plan(order, request, "s-1")

    payload = bigcommerce_payload(shipment, shipment.bigcommerce[0])

    # nothing of ours in the comments: they can reach the customer's e-mail
    assert payload == {
        "order_address_id": ADDRESS,
        "items": [{"order_product_id": 101, "quantity": 2}, {"order_product_id": 102, "quantity": 1}],
        "shipping_provider": "usps",
        "tracking_number": "TN1",
        "comments": "fragile",
    }
    bare = plan(order, parse_request({"items": [{"line_number": 1, "quantity": 1}]}), "s-2")
    assert "comments" not in bigcommerce_payload(bare, bare.bigcommerce[0])


def test_our_shipment_is_recognised_in_the_store_by_address_items_and_tracking_number() -> None:
    # Given our shipment of 2 A + 1 B with tracking TN1, whose POST's answer was lost
    order = _order(_line(1, "A", 2), _line(2, "B", 1))
    items = [{"line_number": 1, "quantity": 2}, {"line_number": 2, "quantity": 1}]
    ours = plan(order, parse_request({"items": items, "tracking_number": "TN1"}), "s-1")
    group = ours.bigcommerce[0]
    same_items = [{"order_product_id": 101, "quantity": 2}, {"order_product_id": 102, "quantity": 1}]
    listed = [
        {"id": 1, "order_address_id": ADDRESS, "items": same_items[:1], "tracking_number": "TN1"},
        {"id": 2, "order_address_id": OTHER_ADDRESS, "items": same_items, "tracking_number": "TN1"},
        {"id": 3, "order_address_id": ADDRESS, "items": same_items, "tracking_number": "TN9"},
        {"id": 4, "order_address_id": ADDRESS, "items": same_items, "tracking_number": "TN1"},
        {"id": 5, "order_address_id": ADDRESS, "items": same_items, "tracking_number": "TN1"},
    ]

    # Then the first store shipment with the same address, items and tracking is ours, unless it is
    # recorded as another of our shipments already
    assert find_ours(listed, ours, group, known_ids=set()) == 4
    assert find_ours(listed, ours, group, known_ids={4}) == 5
    assert find_ours(listed[:3], ours, group, known_ids=set()) is None
    assert find_ours([], ours, group, known_ids=set()) is None
    # without a tracking number of ours, address and items decide
    bare = plan(order, parse_request({"items": items}), "s-2")
    assert find_ours(listed, bare, bare.bigcommerce[0], known_ids={4, 5}) == 3


def test_a_shipment_sent_without_an_id_gets_one_from_its_contents() -> None:
    first = parse_request({"items": [{"line_number": 1, "quantity": 1}], "tracking_number": "TN1"})
    same = parse_request({"tracking_number": "TN1", "items": [{"line_number": 1, "quantity": 1}]})
    other = parse_request({"items": [{"line_number": 1, "quantity": 1}], "tracking_number": "TN2"})

    assert derived_shipment_id("BC-s-1", first) == derived_shipment_id("BC-s-1", same)
    assert derived_shipment_id("BC-s-1", first) != derived_shipment_id("BC-s-1", other)
    assert derived_shipment_id("BC-s-1", first) != derived_shipment_id("BC-s-2", first)
    assert derived_shipment_id("BC-s-1", first).startswith("auto-")
