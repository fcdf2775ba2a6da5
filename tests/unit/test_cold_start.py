"""A function's cold start loads what the function runs, not the whole package: no HTTP client where no
HTTP call is made, no repository (nor its models) the function never reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "python"

# Imports a function's module the way Lambda does, in a fresh interpreter, and names what got loaded.
IMPORT_HANDLER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""

# Each factory of orderflow.store.tables, the repository it builds, and that repository's module.
FACTORIES = {
    "orders": ("orderflow.store.orders", "OrderRepository"),
    "mappings": ("orderflow.store.mappings", "MappingRepository"),
    "settings": ("orderflow.store.settings", "SettingsRepository"),
    "customers": ("orderflow.store.customers", "CustomerRepository"),
    "items": ("orderflow.store.items", "ItemRepository"),
    "flows": ("orderflow.store.flows", "FlowRepository"),
    "sources": ("orderflow.store.fulfillment", "SourceRepository"),
    "inventory": ("orderflow.store.fulfillment", "InventoryRepository"),
    "fulfillment_orders": ("orderflow.store.fulfillment", "FulfillmentOrderRepository"),
    "sourcing": ("orderflow.store.fulfillment", "SourcingStore"),
    "state_machines": ("orderflow.store.state_machines", "StateMachineRepository"),
    "deliveries": ("orderflow.store.deliveries", "DeliveryLedger"),
}

# What building any one repository needs from the deployment's environment (template.yaml sets these).
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "ORDERS_TABLE": "orders",
    "MAPPINGS_TABLE": "mappings",
    "SETTINGS_TABLE": "settings",
    "CUSTOMERS_TABLE": "customers",
    "ITEMS_TABLE": "items",
    "FLOWS_TABLE": "flows",
    "FULFILLMENT_TABLE": "fulfillment",
    "WEBHOOK_DELIVERIES_TABLE": "deliveries",
    "FLOW_STATE_MACHINE_PREFIX": "orderflow-flow-",
    "FLOW_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/flows",
}

# The repositories (and the models only they bring) that neither step function reads.
NOT_READ_BY_STEPS = {
    "orderflow.store.mappings",
    "orderflow.store.customers",
    "orderflow.store.items",
    "orderflow.store.settings",
    "orderflow.store.fulfillment",
    "orderflow.store.deliveries",
    "orderflow.store.state_machines",
    "orderflow.models.fulfillment",
}


def _python(code: str, *args: str) -> str:
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(LAYER)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def loaded_by_import(function: str) -> set[str]:
    return set(json.loads(_python(IMPORT_HANDLER, str(ROOT / "functions" / function / "app.py"))))


@pytest.mark.parametrize(
    ("function", "not_read"),
    [
        # validation reads the order and nothing else
        ("validate_order", NOT_READ_BY_STEPS | {"orderflow.store.flows", "orderflow.models.flow"}),
        # routing reads the order and the published flows
        ("route_order", NOT_READ_BY_STEPS),
    ],
)
def test_a_step_that_makes_no_http_call_starts_without_the_http_client_or_unread_repositories(
    function: str, not_read: set[str]
) -> None:
    # Given a fresh interpreter, as a new Lambda container has
    # When the function's module is imported, as Lambda does before the first invocation
    loaded = loaded_by_import(function)

    # Then neither requests nor the BigCommerce client was loaded: this function never calls the store
    assert "requests" not in loaded
    assert "orderflow.bigcommerce.client" not in loaded
    # And no repository it never reads, nor the models only those bring
    assert sorted(not_read & loaded) == []
    # And it did load its handler's own code (the probe sees the package at all)
    assert "orderflow.steps.runner" in loaded


def test_each_repository_factory_builds_its_repository_and_loads_only_then() -> None:
    # Given the tables module imported in a fresh interpreter
    # When each factory is called in turn
    answer = json.loads(
        _python(
            """
import json, sys
from orderflow.store import tables
at_import = sorted(m for m in sys.modules if m.startswith("orderflow.store."))
built = {}
for factory in sys.argv[1:]:
    repository = getattr(tables, factory)()
    built[factory] = [type(repository).__module__, type(repository).__name__]
print(json.dumps({"at_import": at_import, "built": built, "same": tables.orders() is tables.orders()}))
""",
            *FACTORIES,
        )
    )

    # Then importing the module loaded no repository
    assert answer["at_import"] == ["orderflow.store.tables"]
    # And each factory built the repository it names, from that repository's module
    assert answer["built"] == {factory: [module, cls] for factory, (module, cls) in FACTORIES.items()}
    # And a warm container keeps reusing one orders repository
    assert answer["same"] is True
