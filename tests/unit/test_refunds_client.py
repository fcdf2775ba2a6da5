"""Refunds through BigCommerce's v3 payment actions, against the loopback store over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orderflow.bigcommerce.client import BigCommerceClient, BigCommerceError, BigCommerceOutcomeUnknown
from orderflow.bigcommerce.refunds import (
    RefundQuote,
    create_refund,
    find_refund,
    list_refunds,
    product_item,
    refund_items_of,
    refund_quote,
    shipping_item,
)
from orderflow_local.demo_store import DemoStore, Fault

REFUNDS_PATH = r"/v3/orders/\d+/payment_actions/refunds"
SCOPES = ("store/order/refund/created", "store/order/statusUpdated")


@pytest.fixture
def store() -> Iterator[DemoStore]:
    with DemoStore() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(store: DemoStore, sleeps: list[float], **options: Any) -> BigCommerceClient:
    options.setdefault("timeout", (1.0, 2.0))
    return BigCommerceClient(store.url, store.store_hash, store.access_token, sleep=sleeps.append, **options)


@pytest.fixture
def client(store: DemoStore, sleeps: list[float]) -> Iterator[BigCommerceClient]:
    made = make_client(store, sleeps)
    yield made
    made.close()


class Receiver:
    """A loopback webhook destination recording each callback body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks(store: DemoStore, client: BigCommerceClient) -> Iterator[Receiver]:
    """Hooks on refunds and status changes, delivered to a loopback receiver."""
    receiver = Receiver()
    for scope in SCOPES:
        client.create_hook({"scope": scope, "destination": f"{receiver.url}/{scope}", "is_active": True})
    yield receiver
    receiver.close()


def test_a_quote_prices_products_tax_included_and_shipping_as_asked_and_changes_nothing(store, client):
    # Given an order with 10% tax and 8.00 shipping: a scale at 45.00 and two weights at 12.50
    order_id = store.add_order(
        lines=[
            {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
            {"sku": "SCW", "name": "Weights", "quantity": 2, "price": "12.50"},
        ],
        tax_rate="0.10",
        shipping_cost="8.00",
    )
    _, weights = store.order_products(order_id)
    address_id = weights["order_address_id"]

    # When one weight and 5.00 of the shipping are quoted
    quote = refund_quote(client, order_id, [product_item(weights["id"], 1), shipping_item(address_id, "5")])

    # Then the amount is the weight's price with tax plus the shipping, through either method
    assert quote.order_id == order_id
    assert quote.total_refund_amount == Decimal("18.75")
    assert quote.total_refund_tax_amount == Decimal("1.25")
    assert [[p["provider_id"] for p in method] for method in quote.refund_methods] == [
        ["testgateway"],
        ["storecredit"],
    ]
    assert all(p["amount"] == 18.75 for method in quote.refund_methods for p in method)
    [sent] = store.requests[-1:]
    assert sent.body == {
        "items": [
            {"item_type": "PRODUCT", "item_id": weights["id"], "quantity": 1},
            {"item_type": "SHIPPING", "item_id": address_id, "amount": 5.0},
        ]
    }
    # and a quote refunds nothing
    assert list_refunds(client, order_id) == []
    assert store.order(order_id)["status_id"] == 11


def test_payments_for_picks_the_gateway_for_a_refund_and_store_credit_for_credit(store, client):
    order_id = store.sample_order()
    accu_scale, _ = store.order_products(order_id)

    quote = refund_quote(client, order_id, [product_item(accu_scale["id"], 1)])

    assert quote.payments_for("refund") == [{"provider_id": "testgateway", "amount": 45.0, "offline": False}]
    assert quote.payments_for("store_credit") == [
        {"provider_id": "storecredit", "amount": 45.0, "offline": False}
    ]
    with pytest.raises(ValueError, match="'exchange' has no refund"):
        quote.payments_for("exchange")
    # A store that offers only store credit cannot refund to the card, and says what it offers
    only_credit = RefundQuote(order_id, Decimal(45), Decimal(0), [quote.refund_methods[1]])
    with pytest.raises(
        ValueError, match=r"no refund method through a payment provider .*offers: storecredit"
    ):
        only_credit.payments_for("refund")


def test_refunds_move_the_order_to_partially_refunded_then_refunded_and_call_back(store, client, callbacks):
    # Given an order of a scale and two weights, with hooks on refunds and status changes
    order_id = store.sample_order()
    accu_scale, weights = store.order_products(order_id)
    items = [product_item(weights["id"], 1)]
    quote = refund_quote(client, order_id, items)

    # When one weight is refunded to the card
    first = create_refund(client, order_id, items, quote.payments_for("refund"), "orderflow return R-1")
    store.wait_for_callbacks(timeout=5)

    # Then the store has the refund, shows Partially Refunded, and called back with the refund's id
    assert first["reason"] == "orderflow return R-1"
    assert first["total_amount"] == 12.5
    assert [(p["provider_id"], p["amount"]) for p in first["payments"]] == [("testgateway", 12.5)]
    assert refund_items_of(first) == {weights["id"]: 1}
    assert list_refunds(client, order_id) == [first]
    order = client.get_order(order_id)
    assert (order["status_id"], order["refunded_amount"]) == (14, "12.5000")
    assert store.status_updates(order_id) == []  # the store's own doing, not a status PUT
    assert [(b["scope"], b["data"]) for b in callbacks.bodies] == [
        (
            "store/order/refund/created",
            {"type": "order", "id": order_id, "refund": {"refund_id": first["id"]}},
        ),
        (
            "store/order/statusUpdated",
            {"type": "order", "id": order_id, "status": {"previous_status_id": 11, "new_status_id": 14}},
        ),
    ]

    # When the rest is refunded as store credit: Refunded
    rest = [product_item(accu_scale["id"], 1), product_item(weights["id"], 1)]
    second = create_refund(
        client, order_id, rest, refund_quote(client, order_id, rest).payments_for("store_credit"), "R-2"
    )
    store.wait_for_callbacks(timeout=5)
    assert second["total_amount"] == 57.5
    assert [p["provider_id"] for p in second["payments"]] == ["storecredit"]
    assert client.get_order(order_id)["status_id"] == 4
    assert [p["quantity_refunded"] for p in store.order_products(order_id)] == [1, 2]
    assert callbacks.bodies[-2]["data"]["refund"] == {"refund_id": second["id"]}
    assert callbacks.bodies[-1]["data"]["status"] == {"previous_status_id": 14, "new_status_id": 4}
    assert [r["id"] for r in list_refunds(client, order_id)] == [first["id"], second["id"]]


def test_an_over_refund_is_refused_with_the_stores_reason_and_changes_nothing(store, client):
    order_id = store.sample_order()
    _, weights = store.order_products(order_id)
    create_refund(client, order_id, [product_item(weights["id"], 2)], [_card(25.0)], "R-1")

    with pytest.raises(BigCommerceError) as quoted:
        refund_quote(client, order_id, [product_item(weights["id"], 1)])
    with pytest.raises(BigCommerceError) as refunded:
        create_refund(client, order_id, [product_item(weights["id"], 1)], [_card(12.5)], "R-2")

    for caught in (quoted.value, refunded.value):
        assert caught.status == 422
        assert caught.message == (
            f"The quantity to refund for order product {weights['id']} is greater than the quantity "
            "available to refund (0). (items.0.quantity)"
        )
    assert not isinstance(refunded.value, BigCommerceOutcomeUnknown)  # refused: nothing to reconcile
    assert len(list_refunds(client, order_id)) == 1


def test_shipping_cannot_be_refunded_beyond_its_cost(store, client):
    order_id = store.add_order(shipping_cost="8.00")
    address_id = store.order_products(order_id)[0]["order_address_id"]
    create_refund(client, order_id, [shipping_item(address_id, 5)], [_card(5.0)], "R-1")

    with pytest.raises(BigCommerceError) as caught:
        refund_quote(client, order_id, [shipping_item(address_id, "3.01")])

    assert caught.value.status == 422
    assert "shipping amount to refund for order address" in caught.value.message
    assert "available to refund (3.00)" in caught.value.message
    # Shipping alone leaves the order's products, so it is only partly refunded; what is left can go
    assert store.order(order_id)["status_id"] == 14
    assert refund_quote(client, order_id, [shipping_item(address_id, 3)]).total_refund_amount == Decimal(
        "3.00"
    )


def test_payments_that_do_not_add_up_to_the_refund_are_refused(store, client):
    order_id = store.sample_order()
    accu_scale, _ = store.order_products(order_id)

    with pytest.raises(BigCommerceError) as caught:
        create_refund(client, order_id, [product_item(accu_scale["id"], 1)], [_card(40.0)], "R-1")

    assert caught.value.status == 422
    assert caught.value.message.startswith("The refund amount does not match")
    assert "40.00 given, 45.00 due" in caught.value.message
    assert list_refunds(client, order_id) == []
    assert store.order(order_id)["status_id"] == 11


def test_a_refund_whose_answer_is_lost_is_sent_once_and_found_by_its_reason(store, client, sleeps):
    # Given a store that makes the refund and then answers 500
    order_id = store.sample_order()
    _, weights = store.order_products(order_id)
    store.inject("POST", REFUNDS_PATH, Fault(500), after_work=True)
    items = [product_item(weights["id"], 2)]

    # When the refund is sent
    with pytest.raises(BigCommerceOutcomeUnknown) as caught:
        create_refund(client, order_id, items, [_card(25.0)], "orderflow return R-7 (order 250)")

    # Then it went once, and the caller finds it by the reason instead of sending it again
    assert caught.value.status == 500
    assert client.request_count == 1 and sleeps == []
    refunds = list_refunds(client, order_id)
    found = find_refund(refunds, "orderflow return R-7")
    assert found is not None and refund_items_of(found) == {weights["id"]: 2}
    assert find_refund(refunds, "orderflow return R-8") is None
    assert store.order(order_id)["status_id"] == 14


def test_a_refund_answered_after_the_read_timeout_is_not_sent_again(store, sleeps):
    order_id = store.sample_order()
    accu_scale, _ = store.order_products(order_id)
    store.inject("POST", REFUNDS_PATH, Fault(None, delay=1.0), after_work=True)
    impatient = make_client(store, sleeps, timeout=(1.0, 0.2))

    with pytest.raises(BigCommerceOutcomeUnknown) as caught:
        create_refund(impatient, order_id, [product_item(accu_scale["id"], 1)], [_card(45.0)], "R-9")

    assert caught.value.message == "read timeout"
    assert impatient.request_count == 1
    # The store made it before going silent: it is already there to be found
    [made] = store.refunds(order_id)
    assert made["reason"] == "R-9"


def test_a_refund_made_in_the_control_panel_is_listed_like_any_other(store, client, callbacks):
    order_id = store.sample_order()
    accu_scale, _ = store.order_products(order_id)

    by_hand = store.refund_by_hand(order_id, [product_item(accu_scale["id"], 1)])
    store.wait_for_callbacks(timeout=5)

    [listed] = list_refunds(client, order_id)
    assert listed == by_hand
    assert listed["reason"] == "Refunded in the control panel"
    assert [(p["provider_id"], p["amount"]) for p in listed["payments"]] == [("testgateway", 45.0)]
    assert refund_items_of(listed) == {accu_scale["id"]: 1}
    assert not [r for r in store.requests if r.method == "POST" and "payment_actions" in r.path]
    assert callbacks.bodies[0]["data"]["refund"] == {"refund_id": by_hand["id"]}
    assert store.order(order_id)["status_id"] == 14
    # and the control panel refuses what the API would
    with pytest.raises(ValueError, match="greater than the quantity available to refund"):
        store.refund_by_hand(order_id, [product_item(accu_scale["id"], 1)])


def _card(amount: float) -> dict[str, Any]:
    return {"provider_id": "testgateway", "amount": amount, "offline": False}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [{"item_type": "PRODUCT", "item_id": 1, "quantity": True}]}, "items.0.quantity"),
        ({"items": [{"item_type": "SHIPPING", "item_id": 1, "amount": "NaN"}]}, "items.0.amount"),
        ({"items": [{"item_type": "SHIPPING", "item_id": 1, "amount": "1e999999999"}]}, "items.0.amount"),
        ({"items": [{"item_type": "SHIPPING", "item_id": 1, "amount": -5}]}, "items.0.amount"),
        ({"items": [{"item_type": "WRAPPING", "item_id": 1}]}, "items.0.item_type"),
        ({"items": [{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}], "payments": "card"}, "payments"),
        (
            {
                "items": [{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}],
                "payments": [_card(45.0)],
                "reason": 7,
            },
            "reason",
        ),
    ],
)
def test_malformed_refunds_are_refused_naming_the_field_and_refund_nothing(store, client, body, field):
    order_id = store.add_order(shipping_cost="8.00")  # its product and its address are both id 1

    with pytest.raises(BigCommerceError) as caught:
        client.post(f"/v3/orders/{order_id}/payment_actions/refunds", body)

    assert caught.value.status == 422
    assert caught.value.message == f"Input is invalid ({field})"
    assert list_refunds(client, order_id) == []
