"""Customers: the v3 customers the store knows, as the import matches an order's buyer to one."""

from __future__ import annotations

import copy
from typing import Any

from orderflow_local.demo_store.base import StoreState, _iso, _now, _to_int, _v3_page


class CustomerResource(StoreState):
    """Customers are seeded by hand and read over the v3 API."""

    # -- seeding -------------------------------------------------------------------------------------

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

    # -- v3 customers --------------------------------------------------------------------------------

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
