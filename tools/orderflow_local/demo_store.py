"""A BigCommerce-shaped store over real HTTP on 127.0.0.1 for the demo, `make serve` and the tests: the
documented v2/v3 shapes, recorded requests, injectable faults, an optional rate-limit quota, webhooks."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orderflow.bigcommerce.statuses import ORDER_STATUSES, status_name

__all__ = ["DemoStore", "Fault", "RecordedRequest", "WebhookDelivery"]

FIRST_ORDER_ID = 250
V2_PAGE_DEFAULT = 50
PAGE_MAX = 250
NOT_FOUND = "The requested resource was not found."
STATUS_CODES_DOC = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
SHIPPING_PROVIDERS = {
    "",
    "auspost",
    "canadapost",
    "endicia",
    "usps",
    "fedex",
    "royalmail",
    "ups",
    "upsready",
    "shipperhq",
}
SAMPLE_CUSTOMER = {
    "customer_id": 11,
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "",
    "street_1": "555 East Street",
    "street_2": "",
    "city": "Austin",
    "state": "Texas",
    "zip": "78108",
    "country": "United States",
    "country_iso2": "US",
    "phone": "1234567890",
    "email": "janedoe@example.com",
}
SAMPLE_LINES = [
    {"sku": "ABS", "name": "Accu Scale", "quantity": 1, "price": "45.00"},
    {"sku": "SCW", "name": "Scale Calibration Weights", "quantity": 2, "price": "12.50"},
]
_GUEST = {
    "customer_id": 0,
    "first_name": "Alex",
    "last_name": "Guest",
    "company": "",
    "street_1": "1 Market Street",
    "street_2": "",
    "city": "San Francisco",
    "state": "California",
    "zip": "94105",
    "country": "United States",
    "country_iso2": "US",
    "phone": "",
    "email": "guest@example.com",
}
_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "street_1",
    "street_2",
    "city",
    "state",
    "zip",
    "country",
    "country_iso2",
    "phone",
    "email",
)
# Generous: under a webhook storm the local runtime (one CPU-bound process) answers in seconds, not
# the milliseconds a deployed endpoint takes; a timed-out callback here would only be noise.
_WEBHOOK_TIMEOUT = 60.0
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the store received it; ``path`` is relative to ``/stores/{hash}`` when it is
    under it (e.g. ``/v2/orders/250``), header names are Title-Cased, ``body`` is parsed JSON."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Fault:
    """A canned answer; ``body`` None gives BigCommerce's error shape for statuses >= 400.
    ``status`` None with a ``delay`` is a slow store: wait, then answer normally."""

    status: int | None
    headers: dict[str, str] | None = None
    body: Any = None
    delay: float = 0.0


@dataclass(frozen=True)
class WebhookDelivery:
    destination: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


_Reply = tuple[int, Any, dict[str, str]]


class DemoStore:
    """One in-memory store; every piece of state sits behind one lock, so handler threads, the test
    thread and the webhook sender see consistent snapshots."""

    store_name = "Demo Store"

    def __init__(
        self,
        store_hash: str = "demo-store",
        access_token: str = "demo-token",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store_hash = store_hash
        self.access_token = access_token
        self.host = host
        self.port = port
        # BigCommerce callbacks carry a numeric store id (as a string); derive a stable one from the hash.
        digest = int(hashlib.sha1(store_hash.encode()).hexdigest()[:8], 16)
        self.store_id = str(1_000_000 + digest % 9_000_000)
        self._lock = threading.RLock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._products: dict[int, list[dict[str, Any]]] = {}
        self._addresses: dict[int, list[dict[str, Any]]] = {}
        self._shipments: dict[int, list[dict[str, Any]]] = {}
        self._status_updates: dict[int, list[int]] = {}
        self._hooks: dict[int, dict[str, Any]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self._catalog: dict[int, dict[str, Any]] = {}
        self._sku_ids: dict[str, tuple[int, int]] = {}
        self._next = {
            "order": FIRST_ORDER_ID,
            "order_product": 1,
            "address": 1,
            "shipment": 1,
            "hook": 1,
            "customer": 1,
            "product": 77,
            "variant": 150,
            "event": 1,
        }
        self._requests: list[RecordedRequest] = []
        self._faults: list[tuple[str, re.Pattern[str], Fault]] = []
        self._outages: list[tuple[str, re.Pattern[str], Fault, float]] = []
        self._quota: int | None = None
        self._window_ms = 0
        self._window_start: float | None = None
        self._window_used = 0
        self._deliveries: list[WebhookDelivery] = []
        self._delivered = threading.Condition(self._lock)
        self._outbox: queue.Queue[tuple[str, dict[str, Any], dict[str, str]] | None] = queue.Queue()
        self._callbacks_pending = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> DemoStore:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _handler_for(self))
        self.port = self._server.server_address[1]
        # A short poll keeps stop() quick; tests start and stop a store per test.
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="demo-store-http",
            daemon=True,
        )
        sender = threading.Thread(target=self._send_webhooks, name="demo-store-webhooks", daemon=True)
        self._threads = [serve, sender]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a delayed fault
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Keep-alive connections would otherwise keep answering from lingering handler threads.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=_WEBHOOK_TIMEOUT + 1)
        self._threads = []

    def __enter__(self) -> DemoStore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The value for ``BIGCOMMERCE_API_URL`` (the client appends ``/stores/{hash}``)."""
        if self._server is None:
            raise RuntimeError("DemoStore is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/stores/{self.store_hash}"

    # -- seeding -------------------------------------------------------------------------------------

    def add_order(
        self,
        *,
        status_id: int = 11,
        customer: dict[str, Any] | None = None,
        lines: list[dict[str, Any]] | None = None,
        shipping_address: dict[str, Any] | None = None,
        currency_code: str = "USD",
        payment_method: str = "Credit Card",
        shipping_cost: str = "0.00",
        shipping_method: str = "Flat Rate",
        tax_rate: str = "0",
        channel_id: int = 1,
        order_source: str = "www",
        customer_message: str = "",
        staff_notes: str = "",
        date_created: datetime | None = None,
    ) -> int:
        """Add a v2 order and return its id (250, 251, ...). ``customer`` gives ``customer_id`` (0 = guest)
        and the billing address fields; each line is ``{"sku", "name", "quantity", "price"}`` (optionally
        ``product_id``, 0 for a custom product, and ``variant_id``). Totals follow from the lines."""
        if status_id not in ORDER_STATUSES:
            raise ValueError(f"unknown status_id {status_id}")
        person = {**_GUEST, **(customer or {})}
        lines = lines if lines is not None else SAMPLE_LINES[:1]
        if not lines:
            raise ValueError("an order needs at least one line")
        rate = _decimal(tax_rate)
        shipping = _decimal(shipping_cost)
        created = (date_created or _now()).astimezone(UTC).replace(microsecond=0)
        with self._lock:
            order_id = self._take("order")
            address_id = self._take("address")
            billing = {field: str(person.get(field) or "") for field in _ADDRESS_FIELDS}
            products: list[dict[str, Any]] = []
            subtotal_ex = subtotal_inc = Decimal(0)
            items = 0
            for line in lines:
                product = self._order_line(order_id, address_id, line, rate)
                products.append(product)
                subtotal_ex += Decimal(product["total_ex_tax"])
                subtotal_inc += Decimal(product["total_inc_tax"])
                items += product["quantity"]
            address = {
                "id": address_id,
                "order_id": order_id,
                **billing,
                **{field: str(value) for field, value in (shipping_address or {}).items()},
                "form_fields": [],
                "shipping_method": shipping_method,
                "base_cost": _money(shipping),
                "cost_ex_tax": _money(shipping),
                "cost_inc_tax": _money(shipping),
                "cost_tax": _money(0),
                "cost_tax_class_id": 2,
                "base_handling_cost": _money(0),
                "handling_cost_ex_tax": _money(0),
                "handling_cost_inc_tax": _money(0),
                "handling_cost_tax": _money(0),
                "handling_cost_tax_class_id": 2,
                "shipping_zone_id": 1,
                "shipping_zone_name": billing["country"] or "United States",
                "items_total": items,
                "items_shipped": 0,
            }
            stamp = _rfc2822(created)
            self._orders[order_id] = {
                "id": order_id,
                "customer_id": int(person.get("customer_id") or 0),
                "date_created": stamp,
                "date_modified": stamp,
                "date_shipped": "",
                "status_id": status_id,
                "status": status_name(status_id),
                "custom_status": status_name(status_id),
                "subtotal_ex_tax": _money(subtotal_ex),
                "subtotal_inc_tax": _money(subtotal_inc),
                "subtotal_tax": _money(subtotal_inc - subtotal_ex),
                "base_shipping_cost": _money(shipping),
                "shipping_cost_ex_tax": _money(shipping),
                "shipping_cost_inc_tax": _money(shipping),
                "shipping_cost_tax": _money(0),
                "shipping_cost_tax_class_id": 2,
                "base_handling_cost": _money(0),
                "handling_cost_ex_tax": _money(0),
                "handling_cost_inc_tax": _money(0),
                "handling_cost_tax": _money(0),
                "handling_cost_tax_class_id": 2,
                "base_wrapping_cost": _money(0),
                "wrapping_cost_ex_tax": _money(0),
                "wrapping_cost_inc_tax": _money(0),
                "wrapping_cost_tax": _money(0),
                "wrapping_cost_tax_class_id": 3,
                "total_ex_tax": _money(subtotal_ex + shipping),
                "total_inc_tax": _money(subtotal_inc + shipping),
                "total_tax": _money(subtotal_inc - subtotal_ex),
                "items_total": items,
                "items_shipped": 0,
                "payment_method": payment_method,
                "payment_provider_id": None,
                "payment_status": "captured",
                "refunded_amount": _money(0),
                "order_is_digital": False,
                "store_credit_amount": _money(0),
                "gift_certificate_amount": _money(0),
                "ip_address": "",
                "geoip_country": "",
                "geoip_country_iso2": "",
                "currency_id": 1,
                "currency_code": currency_code,
                "currency_exchange_rate": "1.0000000000",
                "default_currency_id": 1,
                "default_currency_code": currency_code,
                "store_default_currency_code": currency_code,
                "store_default_to_transactional_exchange_rate": "1.0000000000",
                "staff_notes": staff_notes,
                "customer_message": customer_message,
                "discount_amount": _money(0),
                "coupon_discount": _money(0),
                "shipping_address_count": 1,
                "is_deleted": False,
                "ebay_order_id": "0",
                "cart_id": "",
                "billing_address": {**billing, "form_fields": []},
                "is_email_opt_in": False,
                "credit_card_type": None,
                "order_source": order_source,
                "channel_id": channel_id,
                "external_source": None,
                "external_id": None,
                "external_merchant_id": None,
                "tax_provider_id": "BasicTaxProvider",
                "customer_locale": "en",
                "is_tax_inclusive_pricing": False,
            }
            self._products[order_id] = products
            self._addresses[order_id] = [address]
            self._shipments[order_id] = []
            self._status_updates[order_id] = []
            return order_id

    def sample_order(self) -> int:
        """The standard demo order: Jane Doe (customer 11, Austin, Texas), Awaiting Fulfillment (paid,
        the store's usual new-order status), USD, two lines."""
        with self._lock:
            if 11 not in self._customers:
                self.add_customer(
                    customer_id=11,
                    email="janedoe@example.com",
                    first_name="Jane",
                    last_name="Doe",
                    phone="1234567890",
                )
            lines = copy.deepcopy(SAMPLE_LINES)
            return self.add_order(status_id=11, customer=dict(SAMPLE_CUSTOMER), lines=lines)

    def add_customer(
        self,
        *,
        email: str,
        first_name: str,
        last_name: str,
        company: str = "",
        phone: str = "",
        customer_id: int | None = None,
    ) -> int:
        with self._lock:
            if customer_id is None:
                customer_id = max([self._next["customer"] - 1, *self._customers]) + 1
            if customer_id in self._customers:
                raise ValueError(f"customer {customer_id} already exists")
            self._next["customer"] = max(self._next["customer"], customer_id + 1)
            stamp = _iso(_now())
            self._customers[customer_id] = {
                "id": customer_id,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "company": company,
                "phone": phone,
                "notes": "",
                "tax_exempt_category": "",
                "customer_group_id": 0,
                "registration_ip_address": "",
                "date_created": stamp,
                "date_modified": stamp,
                "address_count": 0,
                "attribute_count": 0,
                "authentication": {"force_password_reset": False},
                "store_credit_amounts": [{"amount": 0}],
                "accepts_product_review_abandoned_cart_emails": False,
                "origin_channel_id": 1,
                "channel_ids": None,
            }
            return customer_id

    def add_catalog_product(
        self,
        *,
        name: str,
        sku: str,
        price: str | float = "0",
        description: str = "",
        inventory_level: int = 0,
        weight: float = 1.0,
        product_id: int | None = None,
        variants: list[dict[str, Any]] | None = None,
    ) -> int:
        """Add a v3 catalog product; ``sku`` may be empty (BigCommerce allows products without one).
        Each of ``variants`` is ``{"sku", "options": {"Size": "L"}}`` and optionally ``"price"`` (None:
        the product's price); without variants the product has its base variant only, as in BigCommerce."""
        with self._lock:
            skus = [sku, *(str(v.get("sku") or "") for v in variants or [])]
            for candidate in filter(None, skus):
                if candidate in self._catalog_skus():
                    raise ValueError(f"a catalog product or variant with sku {candidate!r} exists")
            if len(set(filter(None, skus))) != len(list(filter(None, skus))):
                raise ValueError("variant skus must be unique")
            known_id, variant_id = self._sku_ids.get(sku, (None, None)) if sku else (None, None)
            product_id = product_id or known_id or self._take("product")
            if product_id in self._catalog:
                raise ValueError(f"catalog product {product_id} exists")
            stamp = _iso(_now())
            rendered_variants: list[dict[str, Any]] = []
            if variants:
                variant_id = None  # a product with variant options has no base variant of its own
                for variant in variants:
                    options = dict(variant.get("options") or {})
                    if not options:
                        raise ValueError("a variant needs options, e.g. {'Size': 'L'}")
                    variant_sku = str(variant.get("sku") or "")
                    raw_price = variant.get("price")
                    rendered_variants.append(
                        self._variant(product_id, variant_sku, raw_price, price, options, inventory_level)
                    )
            else:
                variant_id = variant_id or self._take("variant")
                rendered_variants.append(
                    {
                        **self._variant(product_id, sku, None, price, {}, inventory_level),
                        "id": variant_id,
                    }
                )
            if sku:
                self._sku_ids[sku] = (product_id, variant_id or rendered_variants[0]["id"])
            # v3 catalog prices are JSON numbers, unlike v2 order money strings.
            self._catalog[product_id] = {
                "id": product_id,
                "name": name,
                "type": "physical",
                "sku": sku,
                "description": description,
                "weight": weight,
                "width": 0,
                "depth": 0,
                "height": 0,
                "price": float(_decimal(price)),
                "cost_price": 0,
                "retail_price": 0,
                "sale_price": 0,
                "map_price": 0,
                "tax_class_id": 0,
                "categories": [],
                "brand_id": 0,
                "inventory_level": inventory_level,
                "inventory_tracking": "variant" if variants else "none",
                "is_visible": True,
                "availability": "available",
                "base_variant_id": variant_id,
                "date_created": stamp,
                "date_modified": stamp,
                "variants": rendered_variants,
            }
            return product_id

    def update_catalog_product(self, product_id: int, **changes: Any) -> None:
        """Change product fields (``name``, ``price``, ``description``...) as the control panel would."""
        with self._lock:
            product = self._catalog[product_id]
            if "price" in changes:
                changes["price"] = float(_decimal(changes["price"]))
            product.update(changes)
            product["date_modified"] = _iso(_now())
            for variant in product["variants"]:
                if not variant["option_values"]:
                    variant.update(sku=product["sku"], price=product["price"])
                variant["calculated_price"] = (
                    variant["price"] if variant["price"] is not None else product["price"]
                )

    def _catalog_skus(self) -> set[str]:
        skus = {p["sku"] for p in self._catalog.values() if p["sku"]}
        skus.update(v["sku"] for p in self._catalog.values() for v in p["variants"] if v["sku"])
        return skus

    def _variant(
        self,
        product_id: int,
        sku: str,
        price: Any,
        product_price: Any,
        options: dict[str, Any],
        inventory_level: int,
    ) -> dict[str, Any]:
        variant_id = self._take("variant")
        if sku:
            self._sku_ids.setdefault(sku, (product_id, variant_id))
        own = None if price is None else float(_decimal(price))
        return {
            "id": variant_id,
            "product_id": product_id,
            "sku": sku,
            "sku_id": variant_id if options else None,
            # None means "the product's price", as BigCommerce documents for variants.
            "price": own,
            "calculated_price": own if own is not None else float(_decimal(product_price)),
            "sale_price": None,
            "retail_price": None,
            "map_price": None,
            "weight": None,
            "calculated_weight": 1.0,
            "cost_price": 0,
            "upc": "",
            "mpn": "",
            "gtin": "",
            "inventory_level": inventory_level,
            "purchasing_disabled": False,
            "purchasing_disabled_message": "",
            "image_url": "",
            "option_values": [
                {
                    "id": 100 + index,
                    "label": str(label),
                    "option_id": 10 + index,
                    "option_display_name": str(option),
                }
                for index, (option, label) in enumerate(options.items())
            ],
        }

    # -- inspection ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def status_updates(self, order_id: int) -> list[int]:
        """The status_id of every accepted PUT on that order, oldest first (repeats included)."""
        with self._lock:
            return list(self._status_updates.get(order_id, []))

    def order(self, order_id: int) -> dict[str, Any]:
        """The order as ``GET /v2/orders/{id}`` returns it now (sub-resources as links)."""
        with self._lock:
            if order_id not in self._orders:
                raise KeyError(order_id)
            return self._render_order(order_id, set(), structure_object=False)

    def order_products(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._products[order_id])

    def shipments(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._shipments.get(order_id, []))

    def hooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(h) for h in self._hooks.values()]

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_for_deliveries(self, count: int, timeout: float = 2.0) -> list[WebhookDelivery]:
        """Block until at least ``count`` webhook deliveries were attempted (or the timeout passed)."""
        with self._delivered:
            self._delivered.wait_for(lambda: len(self._deliveries) >= count, timeout=timeout)
            return list(self._deliveries)

    # -- fault injection and quota -------------------------------------------------------------------

    def inject(self, method: str, path_pattern: str, *responses: Fault) -> None:
        """Queue canned answers for requests whose method matches (``*`` for any) and whose path below
        ``/stores/{hash}`` fully matches the regex; consumed first in, first out, one per request."""
        pattern = re.compile(path_pattern)
        with self._lock:
            self._faults.extend((method.upper(), pattern, response) for response in responses)

    def outage(self, method: str, path_pattern: str, fault: Fault, seconds: float) -> None:
        """Answer every matching request with ``fault`` for ``seconds`` from now (a store that is down,
        hangs or throttles for a while), whatever the queued faults say."""
        with self._lock:
            self._outages.append(
                (method.upper(), re.compile(path_pattern), fault, time.monotonic() + seconds)
            )

    def end_outages(self) -> None:
        with self._lock:
            self._outages.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._outages.clear()

    def rate_limit(self, quota: int, window_ms: int) -> None:
        """Enforce a fixed-window quota (BigCommerce: 150 per 30000 ms); responses then carry the
        X-Rate-Limit-* headers and requests over quota answer 429."""
        with self._lock:
            self._quota = quota
            self._window_ms = window_ms
            self._window_start = None
            self._window_used = 0

    def clear_rate_limit(self) -> None:
        with self._lock:
            self._quota = None

    # -- webhooks ------------------------------------------------------------------------------------

    def build_webhook(self, scope: str, data: dict[str, Any]) -> dict[str, Any]:
        """A callback body as BigCommerce sends it, e.g. ``build_webhook("store/order/created",
        {"type": "order", "id": 250})``; each call is a new event with its own hash."""
        created_at = int(time.time())
        with self._lock:
            sequence = self._take("event")
        seed = json.dumps([self.store_hash, scope, data, created_at, sequence], sort_keys=True)
        return {
            "scope": scope,
            "store_id": self.store_id,
            "data": copy.deepcopy(data),
            "hash": hashlib.sha1(seed.encode()).hexdigest(),
            "created_at": created_at,
            "producer": f"stores/{self.store_hash}",
        }

    def deliver_webhook(
        self, destination: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> WebhookDelivery:
        """POST one callback now and record the attempt; BigCommerce's hour-scale retries are not modelled."""
        payload = json.dumps(body).encode()
        request = urllib.request.Request(destination, data=payload, method="POST")
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        host = urlsplit(destination).hostname or ""
        # Loopback receivers must not be sent through a proxy configured in the environment.
        opener = (
            urllib.request.build_opener(urllib.request.ProxyHandler({}))
            if host in _LOOPBACK_HOSTS
            else urllib.request.build_opener()
        )
        status: int | None = None
        error: str | None = None
        try:
            with opener.open(request, timeout=_WEBHOOK_TIMEOUT) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = type(exc).__name__
        delivery = WebhookDelivery(destination, copy.deepcopy(body), dict(headers or {}), status, error)
        with self._delivered:
            self._deliveries.append(delivery)
            self._delivered.notify_all()
        return delivery

    def _emit(self, scope: str, data: dict[str, Any]) -> None:
        """Queue callbacks for active hooks on ``scope``; sent from the sender thread, never the handler."""
        with self._lock:
            targets = [
                (hook["destination"], dict(hook["headers"] or {}))
                for hook in self._hooks.values()
                if hook["scope"] == scope and hook["is_active"]
            ]
        if not targets:
            return
        body = self.build_webhook(scope, data)
        for destination, headers in targets:
            with self._delivered:
                self._callbacks_pending += 1
            self._outbox.put((destination, body, headers))

    def _send_webhooks(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            try:
                self.deliver_webhook(*item)
            finally:
                with self._delivered:
                    self._callbacks_pending -= 1
                    self._delivered.notify_all()

    def wait_for_callbacks(self, timeout: float = 30.0) -> bool:
        """Block until every queued callback has been delivered (answered or failed); False on timeout."""
        with self._delivered:
            return self._delivered.wait_for(lambda: self._callbacks_pending == 0, timeout=timeout)

    # -- HTTP handling -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        body = _parse_body(raw)
        prefix = f"/stores/{self.store_hash}"
        full_path = split.path
        in_store = full_path == prefix or full_path.startswith(prefix + "/")
        path = (full_path[len(prefix) :] if in_store else full_path).rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {_title(name): value for name, value in handler.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, headers, body))
            fault = self._take_fault(method, path) if in_store else None
        if fault is not None and fault.delay > 0 and self._stopping.wait(fault.delay):
            return
        if fault is not None and fault.status is not None:
            payload = fault.body
            if payload is None and fault.status >= 400:
                payload = _error_body(path, fault.status, _phrase(fault.status))
            _send(handler, fault.status, payload, dict(fault.headers or {}))
            return
        try:
            status, payload, extra = self._dispatch(method, path, in_store, query, body, headers)
        except _ApiError as exc:
            status, payload, extra = exc.status, _error_body(path, exc.status, exc.message, exc.errors), {}
        except Exception as exc:  # a bug in the fake must look like a 500, not a hung connection
            message = f"demo store error: {type(exc).__name__}"
            status, payload, extra = 500, _error_body(path, 500, message), {}
        _send(handler, status, payload, extra)

    def _dispatch(
        self,
        method: str,
        path: str,
        in_store: bool,
        query: dict[str, list[str]],
        body: Any,
        headers: dict[str, str],
    ) -> _Reply:
        if not in_store:
            raise _ApiError(404, NOT_FOUND)
        if headers.get("X-Auth-Token") != self.access_token:
            raise _ApiError(401, "You are not authorized to access this resource. Check your X-Auth-Token.")
        limit_headers, over_quota = self._count_request()
        if over_quota:
            return 429, _error_body(path, 429, "Too many requests"), limit_headers
        allowed: list[str] = []
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            handler: Callable[..., tuple[int, Any]] = getattr(self, name)
            try:
                status, payload = handler(*[int(group) for group in match.groups()], query=query, body=body)
            except _ApiError as exc:
                status, payload = exc.status, _error_body(path, exc.status, exc.message, exc.errors)
            return status, payload, limit_headers
        if allowed:
            return 405, _error_body(path, 405, "Method Not Allowed"), {"Allow": ", ".join(allowed)}
        raise _ApiError(404, NOT_FOUND)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        now = time.monotonic()
        for fault_method, pattern, fault, until in self._outages:
            if now < until and fault_method in ("*", method) and pattern.fullmatch(path):
                return fault
        for index, (fault_method, pattern, fault) in enumerate(self._faults):
            if fault_method in ("*", method) and pattern.fullmatch(path):
                del self._faults[index]
                return fault
        return None

    def _count_request(self) -> tuple[dict[str, str], bool]:
        """The rate-limit headers for this request (none without a quota) and whether it is over quota."""
        with self._lock:
            if self._quota is None:
                return {}, False
            now = time.monotonic()
            window = self._window_ms / 1000.0
            if self._window_start is None or now - self._window_start >= window:
                self._window_start, self._window_used = now, 0
            reset_ms = max(1, int((self._window_start + window - now) * 1000))
            over = self._window_used >= self._quota
            if not over:
                self._window_used += 1
            headers = {
                "X-Rate-Limit-Time-Window-Ms": str(self._window_ms),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Requests-Quota": str(self._quota),
                "X-Rate-Limit-Requests-Left": str(self._quota - self._window_used),
            }
            return headers, over

    # -- v2 orders -----------------------------------------------------------------------------------

    def _get_orders(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        status_id = _int_param(query, "status_id")
        customer_id = _int_param(query, "customer_id")
        min_id = _int_param(query, "min_id")
        max_id = _int_param(query, "max_id")
        min_modified = _date_param(query, "min_date_modified")
        max_modified = _date_param(query, "max_date_modified")
        min_created = _date_param(query, "min_date_created")
        max_created = _date_param(query, "max_date_created")
        with self._lock:
            selected = []
            for order_id in sorted(self._orders):
                order = self._orders[order_id]
                modified = parsedate_to_datetime(order["date_modified"])
                created = parsedate_to_datetime(order["date_created"])
                if (
                    (status_id is not None and order["status_id"] != status_id)
                    or (customer_id is not None and order["customer_id"] != customer_id)
                    or (min_id is not None and order_id < min_id)
                    or (max_id is not None and order_id > max_id)
                    or (min_modified is not None and modified < min_modified)
                    or (max_modified is not None and modified > max_modified)
                    or (min_created is not None and created < min_created)
                    or (max_created is not None and created > max_created)
                ):
                    continue
                selected.append(order_id)
            page = _page(selected, query)
            return (200, [self._render_order(i, set(), False) for i in page]) if page else (204, None)

    def _get_order(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        include = {part.strip() for value in query.get("include", []) for part in value.split(",")}
        structure_object = "object" in query.get("consignment_structure", [])
        with self._lock:
            self._require_order(order_id)
            return 200, self._render_order(order_id, include, structure_object)

    def _put_order(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        new = body.get("status_id")
        if "status_id" in body and (
            isinstance(new, bool) or not isinstance(new, int) or new not in ORDER_STATUSES
        ):
            raise _ApiError(400, "The field 'status_id' is invalid.")
        return 200, self._set_status(order_id, new, recorded=True)

    def set_status(self, order_id: int, status_id: int) -> None:
        """A merchant changes the status in the control panel: same webhooks as an API change, but
        not one of ``status_updates`` (those are what the API was asked to do)."""
        if status_id not in ORDER_STATUSES:
            raise ValueError(f"unknown status_id {status_id}")
        self._set_status(order_id, status_id, recorded=False)

    def _set_status(self, order_id: int, new: int | None, *, recorded: bool) -> dict[str, Any]:
        with self._lock:
            order = self._require_order(order_id)
            previous = order["status_id"]
            if new is not None:
                if recorded:
                    self._status_updates[order_id].append(new)
                if new != previous:
                    order["status_id"] = new
                    order["status"] = order["custom_status"] = status_name(new)
                    order["date_modified"] = _rfc2822(_now())
            rendered = self._render_order(order_id, set(), False)
            changed = order["status_id"] != previous
        if changed:
            status = {"previous_status_id": previous, "new_status_id": rendered["status_id"]}
            self._emit("store/order/updated", {"type": "order", "id": order_id})
            self._emit("store/order/statusUpdated", {"type": "order", "id": order_id, "status": status})
        return rendered

    def _get_order_products(
        self, order_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._products[order_id], query)
            return (200, copy.deepcopy(page)) if page else (204, None)

    def _get_order_product(
        self, order_id: int, product_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            for product in self._products[order_id]:
                if product["id"] == product_id:
                    return 200, copy.deepcopy(product)
        raise _ApiError(404, NOT_FOUND)

    def _get_order_addresses(
        self, order_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._addresses[order_id], query)
            return (200, [self._render_address(a) for a in page]) if page else (204, None)

    def _get_order_coupons(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
        return 204, None

    def _get_shipments(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            page = _page(self._shipments[order_id], query)
            return (200, copy.deepcopy(page)) if page else (204, None)

    def _get_shipment(
        self, order_id: int, shipment_id: int, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            self._require_order(order_id)
            for shipment in self._shipments[order_id]:
                if shipment["id"] == shipment_id:
                    return 200, copy.deepcopy(shipment)
        raise _ApiError(404, NOT_FOUND)

    def _post_shipment(self, order_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        shipment = self._create_shipment(order_id, body)
        self._emit("store/shipment/created", {"type": "shipment", "id": shipment["id"], "orderId": order_id})
        return 201, shipment

    def create_shipment_by_hand(
        self,
        order_id: int,
        items: list[dict[str, int]],
        *,
        order_address_id: int | None = None,
        tracking_number: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> dict[str, Any]:
        """A merchant ships in the control panel: the shipment is stored as a POST would store it, the
        order moves to Partially Shipped (3) or Shipped (2) as BigCommerce does by itself (not one of
        ``status_updates``, which are what the API was asked to do), and ``store/shipment/created``
        then the status webhooks call back. ``items`` are ``{"order_product_id", "quantity"}``; the
        address defaults to the first item's. ValueError for what the control panel would refuse."""
        with self._lock:
            products = {p["id"]: p for p in self._products.get(order_id, [])}
            first = items[0].get("order_product_id") if items and isinstance(items[0], dict) else None
            if order_address_id is None and isinstance(first, int) and first in products:
                order_address_id = products[first]["order_address_id"]
            body = {
                "order_address_id": order_address_id,
                "items": items,
                "tracking_number": tracking_number,
                "shipping_provider": shipping_provider,
                "comments": comments,
            }
            try:
                shipment = self._create_shipment(order_id, body)
            except _ApiError as exc:
                raise ValueError(exc.message) from None
            every_unit_shipped = all(p["quantity_shipped"] >= p["quantity"] for p in self._products[order_id])
        self._emit("store/shipment/created", {"type": "shipment", "id": shipment["id"], "orderId": order_id})
        self._set_status(order_id, 2 if every_unit_shipped else 3, recorded=False)
        return shipment

    def _create_shipment(self, order_id: int, body: Any) -> dict[str, Any]:
        """Validate and store a shipment as ``POST /v2/orders/{id}/shipments`` does; _ApiError when refused."""
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        with self._lock:
            order = self._require_order(order_id)
            addresses = {a["id"]: a for a in self._addresses[order_id]}
            address_id = body.get("order_address_id")
            if isinstance(address_id, bool) or not isinstance(address_id, int) or address_id not in addresses:
                raise _ApiError(400, "The field 'order_address_id' is invalid.")
            items = body.get("items")
            if not isinstance(items, list) or not items:
                raise _ApiError(400, "The field 'items' is invalid.")
            products = {p["id"]: p for p in self._products[order_id]}
            wanted: dict[int, int] = {}
            for item in items:
                product_id = item.get("order_product_id") if isinstance(item, dict) else None
                quantity = item.get("quantity") if isinstance(item, dict) else None
                if (
                    not isinstance(product_id, int)
                    or isinstance(product_id, bool)
                    or product_id not in products
                ):
                    raise _ApiError(400, "The field 'order_product_id' is invalid.")
                if products[product_id]["order_address_id"] != address_id:
                    raise _ApiError(400, f"Order product {product_id} is not shipped to that address.")
                if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                    raise _ApiError(400, "The field 'quantity' is invalid.")
                wanted[product_id] = wanted.get(product_id, 0) + quantity
            for product_id, quantity in wanted.items():
                product = products[product_id]
                if quantity > product["quantity"] - product["quantity_shipped"]:
                    raise _ApiError(
                        400,
                        f"The quantity specified for order product {product_id} is greater than the "
                        "quantity that is available to ship.",
                    )
            tracking_number = str(body.get("tracking_number") or "")
            if len(tracking_number) > 50:
                raise _ApiError(400, "The field 'tracking_number' is longer than 50 characters.")
            provider = body.get("shipping_provider", "")
            if not isinstance(provider, str) or (
                provider not in SHIPPING_PROVIDERS and not re.fullmatch(r"carrier_\d+", provider)
            ):
                raise _ApiError(400, "The field 'shipping_provider' is invalid.")
            address = addresses[address_id]
            for product_id, quantity in wanted.items():
                products[product_id]["quantity_shipped"] += quantity
                address["items_shipped"] += quantity
                order["items_shipped"] += quantity
            now = _now()
            order["date_modified"] = _rfc2822(now)
            shipment = {
                "id": self._take("shipment"),
                "order_id": order_id,
                "customer_id": order["customer_id"],
                "order_address_id": address_id,
                "date_created": _rfc2822(now),
                "tracking_number": tracking_number,
                "merchant_shipping_cost": _money(0),
                "shipping_method": address["shipping_method"],
                "comments": str(body.get("comments") or ""),
                "shipping_provider": provider,
                "shipping_provider_display_name": provider.upper() if provider else "",
                "tracking_carrier": str(body.get("tracking_carrier") or ""),
                "tracking_link": str(body.get("tracking_link") or ""),
                "billing_address": copy.deepcopy(order["billing_address"]),
                "shipping_address": self._render_address(address),
                "items": [
                    {"order_product_id": pid, "product_id": products[pid]["product_id"], "quantity": qty}
                    for pid, qty in wanted.items()
                ],
            }
            self._shipments[order_id].append(shipment)
            return copy.deepcopy(shipment)

    def _get_order_statuses(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        return 200, [
            {"id": sid, "name": name, "system_label": name, "custom_label": name, "order": sid}
            for sid, name in ORDER_STATUSES.items()
        ]

    def _get_store(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        domain = f"{self.store_hash}.example.com"
        return 200, {
            "id": self.store_hash,
            "store_id": int(self.store_id),
            "domain": domain,
            "secure_url": f"https://{domain}",
            "control_panel_base_url": f"https://store-{self.store_hash}.mybigcommerce.com",
            "status": "live",
            "name": self.store_name,
            "first_name": "Demo",
            "last_name": "Merchant",
            "address": "",
            "country": "United States",
            "country_code": "US",
            "phone": "",
            "admin_email": "merchant@example.com",
            "order_email": "orders@example.com",
            "timezone": {"name": "America/Chicago", "raw_offset": -21600, "dst_offset": -18000},
            "language": "en",
            "currency": "USD",
            "currency_symbol": "$",
            "decimal_separator": ".",
            "thousands_separator": ",",
            "decimal_places": 2,
            "plan_name": "Standard",
            "plan_level": "Standard",
            "plan_is_trial": False,
        }

    def _require_order(self, order_id: int) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None:
            raise _ApiError(404, NOT_FOUND)
        return order

    def _render_order(self, order_id: int, include: set[str], structure_object: bool) -> dict[str, Any]:
        rendered = copy.deepcopy(self._orders[order_id])
        rendered["products"] = self._link(f"/orders/{order_id}/products")
        rendered["shipping_addresses"] = self._link(f"/orders/{order_id}/shipping_addresses")
        rendered["coupons"] = self._link(f"/orders/{order_id}/coupons")
        if include & {"consignments", "consignments.line_items"}:
            full = "consignments.line_items" in include
            shipping = []
            for address in self._addresses[order_id]:
                consignment = self._render_address(address)
                consignment.pop("shipping_quotes")
                lines = [p for p in self._products[order_id] if p["order_address_id"] == address["id"]]
                consignment["line_items"] = (
                    copy.deepcopy(lines)
                    if full
                    else [self._link(f"/orders/{order_id}/products/{p['id']}") for p in lines]
                )
                consignment["shipping_quotes"] = self._link(
                    f"/orders/{order_id}/consignments/shipping/{address['id']}/shipping_quotes"
                )
                shipping.append(consignment)
            consignments = {
                "pickups": [],
                "shipping": shipping,
                "downloads": [],
                "email": {"gift_certificates": []},
            }
            # Without consignment_structure=object BigCommerce answers an older array form.
            rendered["consignments"] = consignments if structure_object else [consignments]
        return rendered

    def _render_address(self, address: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(address)
        rendered["shipping_quotes"] = self._link(
            f"/orders/{address['order_id']}/shipping_addresses/{address['id']}/shipping_quotes"
        )
        return rendered

    def _link(self, resource: str) -> dict[str, str]:
        return {"url": f"{self.api_base}/v2{resource}", "resource": resource}

    # -- v3 hooks, customers, catalog ----------------------------------------------------------------

    def _get_hooks(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            hooks = [copy.deepcopy(h) for h in self._hooks.values()]
        for name in ("scope", "destination"):
            if name in query:
                hooks = [h for h in hooks if h[name] == query[name][0]]
        if "is_active" in query:
            hooks = [h for h in hooks if h["is_active"] == (query["is_active"][0].lower() == "true")]
        return _v3_page(hooks, query)

    def _post_hook(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        fields = _hook_fields(body, creating=True)
        with self._lock:
            for hook in self._hooks.values():
                if hook["scope"] == fields["scope"] and hook["destination"] == fields["destination"]:
                    raise _ApiError(422, "A hook for this scope and destination already exists.")
            now = int(time.time())
            hook_id = self._take("hook")
            self._hooks[hook_id] = {
                "id": hook_id,
                "client_id": "demo-client",
                "store_hash": self.store_hash,
                "scope": fields["scope"],
                "destination": fields["destination"],
                "headers": fields.get("headers"),
                "is_active": fields.get("is_active", True),
                "created_at": now,
                "updated_at": now,
            }
            return 200, {"data": copy.deepcopy(self._hooks[hook_id]), "meta": {}}

    def _get_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            return 200, {"data": copy.deepcopy(self._require_hook(hook_id)), "meta": {}}

    def _put_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        fields = _hook_fields(body, creating=False)
        with self._lock:
            hook = self._require_hook(hook_id)
            hook.update(fields)
            hook["updated_at"] = int(time.time())
            return 200, {"data": copy.deepcopy(hook), "meta": {}}

    def _delete_hook(self, hook_id: int, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            hook = self._require_hook(hook_id)
            del self._hooks[hook_id]
            return 200, {"data": hook, "meta": {}}

    def _require_hook(self, hook_id: int) -> dict[str, Any]:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise _ApiError(404, "Hook not found.")
        return hook

    def _get_customers(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        emails = {e.strip().lower() for v in query.get("email:in", []) for e in v.split(",") if e.strip()}
        ids = {_to_int(i, "id:in") for v in query.get("id:in", []) for i in v.split(",") if i.strip()}
        with self._lock:
            customers = [copy.deepcopy(self._customers[i]) for i in sorted(self._customers)]
        if emails:
            customers = [c for c in customers if c["email"].lower() in emails]
        if ids:
            customers = [c for c in customers if c["id"] in ids]
        return _v3_page(customers, query)

    def _get_catalog_products(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            products = [copy.deepcopy(self._catalog[i]) for i in sorted(self._catalog)]
        if "sku" in query:
            products = [p for p in products if p["sku"] == query["sku"][0]]
        ids = {_to_int(i, "id:in") for v in query.get("id:in", []) for i in v.split(",") if i.strip()}
        if ids:
            products = [p for p in products if p["id"] in ids]
        include = {part.strip() for value in query.get("include", []) for part in value.split(",")}
        if "variants" not in include:
            for product in products:
                del product["variants"]
        return _v3_page(products, query)

    # -- helpers needing state -----------------------------------------------------------------------

    def _take(self, counter: str) -> int:
        with self._lock:
            value = self._next[counter]
            self._next[counter] = value + 1
            return value

    def _order_line(
        self, order_id: int, address_id: int, line: dict[str, Any], rate: Decimal
    ) -> dict[str, Any]:
        sku = str(line.get("sku") or "")
        name = str(line.get("name") or sku or "Custom product")
        quantity = int(line.get("quantity", 1))
        if quantity < 1:
            raise ValueError("line quantity must be at least 1")
        price = _decimal(line.get("price", "0"))
        if "product_id" in line:
            product_id = int(line["product_id"])
            variant_id = int(line.get("variant_id") or 0) or None
        else:
            product_id, variant_id = self._ids_for_sku(sku)
            variant_id = int(line.get("variant_id") or variant_id)
        price_inc = _round(price * (1 + rate))
        return {
            "id": self._take("order_product"),
            "order_id": order_id,
            "product_id": product_id,
            "variant_id": variant_id,
            "order_address_id": address_id,
            "name": name,
            "name_customer": name,
            "name_merchant": name,
            "sku": sku,
            "upc": "",
            "type": "physical",
            "base_price": _money(price),
            "price_ex_tax": _money(price),
            "price_inc_tax": _money(price_inc),
            "price_tax": _money(price_inc - price),
            "base_total": _money(price * quantity),
            "total_ex_tax": _money(price * quantity),
            "total_inc_tax": _money(price_inc * quantity),
            "total_tax": _money((price_inc - price) * quantity),
            "weight": "1.0000",
            "quantity": quantity,
            "base_cost_price": _money(0),
            "is_refunded": False,
            "quantity_refunded": 0,
            "refund_amount": _money(0),
            "return_id": 0,
            "quantity_shipped": 0,
            "fixed_shipping_cost": _money(0),
            "option_set_id": None,
            "parent_order_product_id": None,
            "is_bundled_product": False,
            "bin_picking_number": "",
            "external_id": None,
            "applied_discounts": [],
            "product_options": [],
            "configurable_fields": [],
        }

    def _ids_for_sku(self, sku: str) -> tuple[int, int]:
        """The same sku maps to the same catalog product and variant across orders."""
        with self._lock:
            if not sku:
                return 0, 0
            if sku not in self._sku_ids:
                self._sku_ids[sku] = (self._take("product"), self._take("variant"))
            return self._sku_ids[sku]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DemoBigCommerce/1.0"
    store: DemoStore

    def setup(self) -> None:
        super().setup()
        with self.store._lock:
            self.store._connections.add(self.connection)

    def finish(self) -> None:
        with self.store._lock:
            self.store._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        self.store._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry query strings (emails); the recorded requests are the log


def _handler_for(store: DemoStore) -> type[_Handler]:
    return type("DemoStoreHandler", (_Handler,), {"store": store})


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/v2/orders", "_get_orders"),
        ("GET", r"/v2/orders/(\d+)", "_get_order"),
        ("PUT", r"/v2/orders/(\d+)", "_put_order"),
        ("GET", r"/v2/orders/(\d+)/products", "_get_order_products"),
        ("GET", r"/v2/orders/(\d+)/products/(\d+)", "_get_order_product"),
        ("GET", r"/v2/orders/(\d+)/shipping_addresses", "_get_order_addresses"),
        ("GET", r"/v2/orders/(\d+)/coupons", "_get_order_coupons"),
        ("GET", r"/v2/orders/(\d+)/shipments", "_get_shipments"),
        ("POST", r"/v2/orders/(\d+)/shipments", "_post_shipment"),
        ("GET", r"/v2/orders/(\d+)/shipments/(\d+)", "_get_shipment"),
        ("GET", r"/v2/order_statuses", "_get_order_statuses"),
        ("GET", r"/v2/store", "_get_store"),
        ("GET", r"/v3/hooks", "_get_hooks"),
        ("POST", r"/v3/hooks", "_post_hook"),
        ("GET", r"/v3/hooks/(\d+)", "_get_hook"),
        ("PUT", r"/v3/hooks/(\d+)", "_put_hook"),
        ("DELETE", r"/v3/hooks/(\d+)", "_delete_hook"),
        ("GET", r"/v3/customers", "_get_customers"),
        ("GET", r"/v3/catalog/products", "_get_catalog_products"),
    ]
]


def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
    if payload is None or status in (204, 304):
        data = b""
    elif isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, str):
        data = payload.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    else:
        data = json.dumps(payload).encode()
    if data:
        headers.setdefault("Content-Type", "application/json")
    try:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, str(value))
        if status not in (204, 304):
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if data:
            handler.wfile.write(data)
    except OSError:
        pass  # the client gave up (e.g. its read timeout fired during a delayed fault)


def _error_body(path: str, status: int, message: str, errors: dict[str, str] | None = None) -> Any:
    """v2 errors are a list of {status, message}; v3 errors one object with a title."""
    if path.startswith("/v3"):
        return {"status": status, "title": message, "type": STATUS_CODES_DOC, "errors": errors or {}}
    return [{"status": status, "message": message}]


def _hook_fields(body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _ApiError(400, "The request body must be a JSON object.")
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("scope", "destination"):
        if name in body or creating:
            value = body.get(name)
            if not isinstance(value, str) or not value:
                errors[name] = f"{name} is required and must be a string"
            else:
                fields[name] = value
    if "scope" in fields and not fields["scope"].startswith("store/"):
        errors["scope"] = "scope must start with store/"
    # BigCommerce insists on https:443; loopback http is accepted so tests can receive callbacks.
    if "destination" in fields and not re.match(r"https?://", fields["destination"]):
        errors["destination"] = "destination must be an http(s) URL"
    if "is_active" in body:
        if not isinstance(body["is_active"], bool):
            errors["is_active"] = "is_active must be a boolean"
        else:
            fields["is_active"] = body["is_active"]
    if "headers" in body:
        headers = body["headers"]
        if headers is not None and (
            not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
        ):
            errors["headers"] = "headers must map names to strings"
        else:
            fields["headers"] = headers
    if errors:
        raise _ApiError(422, "Input is invalid", errors)
    return fields


def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
    page = _int_param(query, "page") or 1
    limit = min(_int_param(query, "limit") or V2_PAGE_DEFAULT, PAGE_MAX)
    if page < 1 or limit < 1:
        raise _ApiError(400, "The field 'page' or 'limit' is invalid.")
    return items[(page - 1) * limit : page * limit]


def _v3_page(items: list[Any], query: dict[str, list[str]]) -> tuple[int, Any]:
    page = _int_param(query, "page") or 1
    limit = min(_int_param(query, "limit") or V2_PAGE_DEFAULT, PAGE_MAX)
    if page < 1 or limit < 1:
        raise _ApiError(422, "Input is invalid", {"page": "page and limit must be positive"})
    chunk = items[(page - 1) * limit : page * limit]
    total_pages = max(1, -(-len(items) // limit))
    links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    pagination = {
        "total": len(items),
        "count": len(chunk),
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    }
    return 200, {"data": chunk, "meta": {"pagination": pagination}}


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    return _to_int(values[0], name)


def _to_int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise _ApiError(400, f"The field '{name}' is invalid.") from None


def _date_param(query: dict[str, list[str]], name: str) -> datetime | None:
    """BigCommerce accepts RFC-2822 or ISO-8601 here; naive values are taken as UTC."""
    values = query.get(name)
    if not values or not values[0].strip():
        return None
    value = values[0].strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
    if parsed is None:
        raise _ApiError(400, f"The field '{name}' is invalid.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _phrase(status: int) -> str:
    return BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))


def _money(value: Decimal | int) -> str:
    return str(_round(Decimal(value)))
