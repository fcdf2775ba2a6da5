"""The BigCommerce client for this deployment's store, one per warm container."""

from __future__ import annotations

import functools

from orderflow import config
from orderflow.bigcommerce.client import BigCommerceClient


def client() -> BigCommerceClient:
    return _client(
        config.bigcommerce_api_url(), config.store_hash(), config.secret("BIGCOMMERCE_ACCESS_TOKEN")
    )


@functools.lru_cache(maxsize=8)
def _client(api_url: str, store_hash: str, access_token: str) -> BigCommerceClient:
    # Keyed by its settings: a rotated token or another store gets a fresh session.
    return BigCommerceClient(api_url, store_hash, access_token)
