"""``make serve``: the API on 127.0.0.1 until Ctrl-C, like ``sam local start-api``.

With BIGCOMMERCE_API_URL set it talks to that store (BIGCOMMERCE_STORE_HASH and
BIGCOMMERCE_ACCESS_TOKEN required); without it, it starts the loopback demo store and says where.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from orderflow.local.demo_store import DemoStore
from orderflow.local.runtime import LocalRuntime, RuntimeConfig

LOCAL_WEBHOOK_SECRET = "local-webhook-secret"  # only for 127.0.0.1; set WEBHOOK_SECRET to choose


def serve_forever(port: int | None = None, stop: threading.Event | None = None) -> int:
    port = port if port is not None else int(os.environ.get("PORT", "3000"))
    store: DemoStore | None = None
    api_url = os.environ.get("BIGCOMMERCE_API_URL")
    if api_url:
        missing = [n for n in ("BIGCOMMERCE_STORE_HASH", "BIGCOMMERCE_ACCESS_TOKEN") if not os.environ.get(n)]
        if missing:
            print(f"BIGCOMMERCE_API_URL is set, so {' and '.join(missing)} must be too", file=sys.stderr)
            return 2
        store_hash, token = os.environ["BIGCOMMERCE_STORE_HASH"], os.environ["BIGCOMMERCE_ACCESS_TOKEN"]
    else:
        store = DemoStore(store_hash=os.environ.get("BIGCOMMERCE_STORE_HASH", "demo-store")).start()
        order_id = store.sample_order()
        api_url, store_hash, token = store.url, store.store_hash, store.access_token
        print(f"BIGCOMMERCE_API_URL is not set: demo store at {store.url}/stores/{store_hash} "
              f"(access token {token!r}, order {order_id} waiting)")  # fmt: skip
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        secret = LOCAL_WEBHOOK_SECRET
        print(f"WEBHOOK_SECRET is not set: webhooks must carry X-Webhook-Secret: {secret}")
    admin = os.environ.get("ADMIN_API_TOKEN")
    config = RuntimeConfig(
        bigcommerce_api_url=api_url,
        store_hash=store_hash,
        access_token=token,
        webhook_secret=secret,
        admin_token=admin,
        log_level=os.environ.get("LOG_LEVEL", "INFO"),
        port=port,
    )
    try:
        with LocalRuntime(config) as runtime:
            print(
                f"Local API on {runtime.api_url} (admin routes {'need a bearer token' if admin else 'open'}):"
            )
            for route in runtime.template.routes:
                print(f"  {route.method:<6} {route.path:<40} → {route.function}")
            print("Ctrl-C stops it.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                (stop or threading.Event()).wait()
    finally:
        if store:
            store.stop()
    return 0
