"""``make serve``: the API on 127.0.0.1 until Ctrl-C, like ``sam local start-api``.

With BIGCOMMERCE_API_URL set it talks to that store (BIGCOMMERCE_STORE_HASH and
BIGCOMMERCE_ACCESS_TOKEN required); without it, it starts the loopback demo store and says where.
Its state is kept in a state directory (default ``.local/state``) and restored on the next start.
PROVIDER_SECRET chooses the providers' shared secret (else the state's is used, and shown);
providers and custom actions may be on loopback (ALLOW_LOOPBACK_TARGETS, true unless set otherwise);
LOCAL_FUNCTIONS names the custom actions' Lambda targets served here (orderflow_local.functions).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from orderflow_local.demo_store import DemoStore
from orderflow_local.functions import EXAMPLES, LocalFunctionError, parse_spec
from orderflow_local.runtime import PROVIDER_SECRET_ID, LocalRuntime, RuntimeConfig, project_root
from orderflow_local.state import StateError

LOCAL_WEBHOOK_SECRET = "local-webhook-secret"  # only for 127.0.0.1; set WEBHOOK_SECRET to choose


def default_state_dir() -> Path:
    """``.local/state`` in the project (git ignores ``.local/``), wherever the command runs from."""
    return project_root() / ".local" / "state"


def serve_forever(
    port: int | None = None,
    stop: threading.Event | None = None,
    state_dir: Path | None = None,
    functions: dict[str, str] | None = None,
) -> int:
    """Serve until Ctrl-C, SIGTERM or ``stop``; ``state_dir`` None keeps nothing after the stop;
    ``functions`` (name → module:function) are served as Lambda targets, with LOCAL_FUNCTIONS'."""
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
    provider_secret = os.environ.get("PROVIDER_SECRET") or None
    try:
        served = {**parse_spec(os.environ.get("LOCAL_FUNCTIONS", "")), **(functions or {})}
    except LocalFunctionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    config = RuntimeConfig(
        bigcommerce_api_url=api_url,
        store_hash=store_hash,
        access_token=token,
        webhook_secret=secret,
        admin_token=admin,
        log_level=os.environ.get("LOG_LEVEL", "INFO"),
        port=port,
        state_dir=state_dir,
        provider_secret=provider_secret,
        # Everything runs on this machine here: a provider or custom action on loopback is the point.
        allow_loopback_targets=_flag(os.environ.get("ALLOW_LOOPBACK_TARGETS"), default=True),
        functions=served,
    )
    stop = stop or threading.Event()
    try:
        with LocalRuntime(config) as runtime, _stop_on_sigterm(stop):
            print(
                f"Local API on {runtime.api_url} (admin routes {'need a bearer token' if admin else 'open'}):"
            )
            for route in runtime.template.routes:
                print(f"  {route.method:<6} {route.path:<40} → {route.function}")
            sign_in = "with the admin token" if admin else "(any token: the admin routes are open)"
            print(f"Operator console: {runtime.api_url}/console — sign in {sign_in}")
            _say_providers(runtime, provider_secret is not None, served)
            _say_state(runtime, demo_store=store is not None)
            interval = float(os.environ.get("SWEEP_INTERVAL_SECONDS") or 60)
            threading.Thread(target=_sweep_every, args=(runtime, interval, stop), daemon=True).start()
            print(
                f"The sweep runs every {interval:g} s (SWEEP_INTERVAL_SECONDS). Ctrl-C stops it.", flush=True
            )
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            if state_dir is not None:
                print(f"Stopping: the state is saved in {state_dir} once running executions end.", flush=True)
    except StateError as exc:
        print(f"local state: {exc}", file=sys.stderr)
        return 2
    except LocalFunctionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        if store:
            store.stop()
    return 0


def _flag(value: str | None, *, default: bool) -> bool:
    return default if not value else value.strip().lower() in ("1", "true", "yes", "on")


def _say_providers(runtime: LocalRuntime, chosen: bool, served: dict[str, str]) -> None:
    """The secret providers are sent and must call back with, and the custom actions' Lambdas served here."""
    if chosen:
        print(
            "Providers get, and call back POST /fulfillment/{id}/events with, X-Provider-Secret: $PROVIDER_SECRET"
        )
    else:
        secret = runtime.secret_value(PROVIDER_SECRET_ID)
        print(f"PROVIDER_SECRET is not set: providers get, and call back with, X-Provider-Secret: {secret}")
    names = [*EXAMPLES, *served]
    print(f"Custom action Lambdas served here (LOCAL_FUNCTIONS adds yours): {', '.join(names)}")


def _say_state(runtime: LocalRuntime, *, demo_store: bool) -> None:
    state = runtime.state
    if state is None:
        print("State: in memory only (--ephemeral): nothing is kept after the stop.")
        return
    if state.saved_at is None:
        print(f"State: kept in {state.directory} (new; --ephemeral keeps nothing).")
        return
    items = sum(state.restored_items.values())
    print(f"State: restored from {state.directory} (saved {state.saved_at}, {items} items).")
    if demo_store and items:
        print(
            "  The demo store starts empty on every start, its order ids over again: orders imported from "
            "an earlier\n  demo store are kept here under the same ids. Use --ephemeral to try the demo "
            "store afresh."
        )
    if runtime.interrupted:
        print(f"Running at the last stop, now interrupted ({len(runtime.interrupted)}); what to do for each:")
        for run in runtime.interrupted:
            where = f", step '{run.step}'" if run.step else ""
            print(f"  {run.order_key or run.execution}  {run.flow}{where}  → {run.hint()}")


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (``kill``, a process manager) stops like Ctrl-C, with the final save."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sweep_every(runtime: LocalRuntime, interval: float, stop: threading.Event) -> None:
    """What the stack's schedule does on AWS: pending pushes, stopped imports, missed orders."""
    while not stop.wait(interval):
        try:
            report = runtime.invoke("ReconcileOrdersFunction", {"source": "local schedule"})
        except Exception as exc:  # the next run tries again; the serve goes on
            print(f"sweep: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            continue
        done = len(report.get("pushes") or {}) + len(report.get("restarted") or [])
        started = (report.get("reconcile") or {}).get("started") or 0
        if done or started:
            print(
                f"sweep: {len(report.get('pushes') or {})} status push(es), "
                f"{len(report.get('restarted') or [])} import(s) started again, {started} missed order(s) imported",
                flush=True,
            )
