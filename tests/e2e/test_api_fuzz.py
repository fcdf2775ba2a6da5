"""Schemathesis over the API's own OpenAPI document (``GET /openapi.json``), against the local API.

Every operation, with the admin token and without it: whatever schemathesis generates answers no 5xx,
only status codes the document declares for the operation, with bodies that match the declared schemas
(every error in the contract's shape); and without the token every admin operation answers 401.

With the token each operation is fuzzed with generated ids (mostly 404s: the routes' lookups and input
validation), with the ids of things that exist (a flow, a policy, a mapping, a fulfillment source with
stock, an imported order, its fulfillment order: generated bodies reach the code behind the lookups),
and with input against its schema (answered by a documented 4xx, never accepted). The webhook and the
provider callback get their secret header in those runs. Every typed JSON body of another shape than
an object (``[null, null]`` to the sync) is a 400.

Bounded and deterministic: a few derandomized examples per operation (no example database, no
shrinking), against the demo store's small data set, so the sync and the catalog import stay short:
every operation is run, none dominates (the sweep and the openapi document are the slowest, ~0.1 s a
call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
import schemathesis.checks
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode

from orderflow.api import openapi
from orderflow.models.fulfillment import FulfillmentOrder, FulfillmentOrderLine
from orderflow.store import tables
from orderflow.store.fulfillment_index import FulfillmentEventStore
from orderflow_local.demo import DEMO_MAPPINGS
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET, Api, local_runtime

# Examples per operation: with generated ids, with existing ids, without the token; and negative
# (schema-violating) examples with the token.
GENERATED_IDS = 5
EXISTING_IDS = 10
NEGATIVE = 5
WITHOUT_TOKEN = 2
TIMEOUT = 30
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SOURCE = "WH-FUZZ"
PRODUCT = "Accu Scale"

# The operations, as the code of this checkout documents them (the served document must list the same).
# DELETEs last: the resources they remove are the ones the other operations are fuzzed on.
DOCUMENT = openapi.openapi()
OPERATIONS = sorted(
    ((method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item),
    key=lambda operation: (operation[0] == "DELETE", operation[1], operation[0]),
)
IDS = [f"{method} {path}" for method, path in OPERATIONS]
NOT_ADMIN = set(openapi.OWN_SECURITY)
WEBHOOK = ("POST", "/webhooks/bigcommerce")
CALLBACK = ("POST", "/fulfillment/{fulfillment_order_id}/events")
CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
# The operations that take input schemathesis can send against its schema: a query or a body (a path
# parameter is a string, and the only string it could send against one, "", does not reach the route).
NEGATABLE = [
    (method, path)
    for method, path in OPERATIONS
    if "requestBody" in DOCUMENT["paths"][path][method.lower()]
    or any(p["in"] == "query" for p in DOCUMENT["paths"][path][method.lower()].get("parameters", []))
]
# The operations whose body is a JSON object, but the two whose secret comes first (their own tests).
OBJECT_BODIES = [
    (method, path)
    for method, path in OPERATIONS
    if (method, path) not in NOT_ADMIN
    and "application/json"
    in DOCUMENT["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
]
WRONG_SHAPES = {
    "a list of nulls": [None, None],
    "a list of the object": [{}],
    "a string": "x",
    "null": None,
    "a number": 5,
}


@pytest.fixture(scope="module")
def store() -> Iterator[DemoStore]:
    with DemoStore(store_hash="test-store", access_token="test-token") as demo_store:
        yield demo_store


@pytest.fixture(scope="module")
def runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    with local_runtime(store) as local:
        yield local


@pytest.fixture(scope="module")
def schema(runtime: LocalRuntime) -> BaseSchema:
    answer = requests.get(f"{runtime.api_url}/openapi.json", headers=BEARER, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return schemathesis.openapi.from_dict(answer.json())


@pytest.fixture(scope="module")
def existing(runtime: LocalRuntime, store: DemoStore) -> dict[str, str]:
    """Things that exist, by the path parameter that names them: an imported order (through the sync),
    its fulfillment order, a mapping, a fulfillment source with stock, a draft flow and a policy."""
    api = Api(runtime.api_url)
    mapping_ids = []
    for kind, body in DEMO_MAPPINGS:
        created = api.post(f"/mappings/{kind}", body)
        assert created.status_code == 201, created.text
        mapping_ids.append(created.json()["id"])
    source = api.post("/fulfillment-sources", {"id": SOURCE, "name": "Fuzz warehouse", "priority": 10})
    assert source.status_code == 201, source.text
    assert api.put(f"/inventory/{SOURCE}/{PRODUCT}", {"on_hand": 40}).status_code == 200
    rule = {"field": "provider", "operator": "equals", "value": "BigCommerce"}
    policy = api.post("/policies", {"name": "Fuzz filter", "kind": "filter", "rules": [rule]})
    assert policy.status_code == 201, policy.text
    step = {"name": "Validate", "action": "validate_order_header"}
    flow = api.post("/flows", {"name": "Fuzz flow", "type": "order_orchestration", "steps": [step]})
    assert flow.status_code == 201, flow.text

    order_id = store.sample_order()
    synced = api.post("/providers/bigcommerce/sync", {"order_ids": [order_id]})
    assert synced.status_code == 200, synced.text
    runtime.wait_for_all()
    order_key = f"BC-{store.store_hash}-{order_id}"
    assert api.get(f"/orders/{order_key}").status_code == 200
    fulfillment_order = FulfillmentOrder(
        id=f"{order_key}-FO1",
        order_key=order_key,
        source_id=SOURCE,
        lines=[FulfillmentOrderLine(line_number=1, sku="ABS", quantity=1)],
    )
    FulfillmentEventStore(tables.orders().table_name).add_fulfillment_order(fulfillment_order)
    customers = api.get("/customers").json()["customers"]
    return {
        "order_key": order_key,
        "fulfillment_order_id": fulfillment_order.id,
        "kind": DEMO_MAPPINGS[0][0],
        "mapping_id": mapping_ids[0],
        "source_id": SOURCE,
        "product": PRODUCT,
        "flow_id": flow.json()["id"],
        "policy_id": policy.json()["id"],
        **({"customer_id": customers[0]["id"]} if customers else {}),
    }


def fuzz(
    operation: APIOperation,
    examples: int,
    check: Callable[[Case], None],
    mode: GenerationMode = GenerationMode.POSITIVE,
    path_parameters: dict[str, str] | None = None,
) -> None:
    """``examples`` derandomized cases of the operation, each through ``check``."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Case) -> None:
        check(case)

    run()


def credentials(runtime: LocalRuntime, method: str, path: str) -> dict[str, str]:
    if (method, path) == WEBHOOK:
        return {"X-Webhook-Secret": WEBHOOK_SECRET}
    if (method, path) == CALLBACK:
        return {"X-Provider-Secret": runtime.secret_value("ProviderSecretValue")}
    return BEARER


def conforms(
    runtime: LocalRuntime, headers: dict[str, str], more: list[Any] | None = None
) -> Callable[[Case], None]:
    def check(case: Case) -> None:
        response = case.call(base_url=runtime.api_url, headers=headers, timeout=TIMEOUT)
        case.validate_response(response, checks=CONFORMANCE + (more or []), headers=headers)

    return check


def test_the_served_document_lists_every_operation(schema: BaseSchema) -> None:
    served = {(method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item}
    assert served == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_with_the_token_every_answer_is_documented_and_none_is_a_5xx(
    schema: BaseSchema, runtime: LocalRuntime, existing: dict[str, str], method: str, path: str
) -> None:
    operation: APIOperation = schema[path][method]
    check = conforms(runtime, credentials(runtime, method, path))

    fuzz(operation, GENERATED_IDS, check)
    names = [name for name in existing if f"{{{name}}}" in path]
    if names:
        fuzz(operation, EXISTING_IDS, check, path_parameters={name: existing[name] for name in names})


@pytest.mark.parametrize(("method", "path"), NEGATABLE, ids=[f"{m} {p}" for m, p in NEGATABLE])
def test_with_the_token_input_against_the_schema_is_a_documented_4xx(
    schema: BaseSchema, runtime: LocalRuntime, method: str, path: str
) -> None:
    operation: APIOperation = schema[path][method]
    check = conforms(
        runtime, credentials(runtime, method, path), [schemathesis.checks.negative_data_rejection]
    )
    try:
        fuzz(operation, NEGATIVE, check, GenerationMode.NEGATIVE)
    except Unsatisfiable:
        pytest.skip("the operation takes nothing that can be sent against its schema")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_without_the_token_every_admin_operation_answers_401(
    schema: BaseSchema, runtime: LocalRuntime, method: str, path: str
) -> None:
    operation: APIOperation = schema[path][method]
    admin = (method, path) not in NOT_ADMIN

    def check(case: Case) -> None:
        response = case.call(base_url=runtime.api_url, timeout=TIMEOUT)
        case.validate_response(response, checks=CONFORMANCE)
        if admin:
            assert response.status_code == 401, f"{case.method} {case.formatted_path}: {response.status_code}"
            assert response.json()["error"]["code"] == "unauthorized"

    fuzz(operation, WITHOUT_TOKEN, check)


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=list(WRONG_SHAPES))
@pytest.mark.parametrize(("method", "path"), OBJECT_BODIES, ids=[f"{m} {p}" for m, p in OBJECT_BODIES])
def test_a_json_body_that_is_not_an_object_is_400(
    schema: BaseSchema, runtime: LocalRuntime, existing: dict[str, str], method: str, path: str, shape: str
) -> None:
    # Given an operation whose body is an object (optional for the sync and the catalog import), on
    # things that exist
    operation: APIOperation = schema[path][method]
    url = runtime.api_url + operation.path.format(**{**dict.fromkeys(_names(path), "x"), **existing})

    # When the body is JSON of another shape
    answer = requests.request(
        method,
        url,
        data=json.dumps(WRONG_SHAPES[shape]),
        headers={**BEARER, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    # Then it is refused for its body, not taken for no body (or for its first element)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_input",
        "message": "body: must be a JSON object",
        "field": "body",
    }


def _names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


# What the fuzzer found (each answered 500 before), kept as cases of their own: numbers DynamoDB cannot
# store, a body that is not UTF-8, an empty inventory filter, a CSV count in digits int() refuses.
RULE = {"field": "total_inc_tax", "operator": "greater than"}
FOUND = [
    pytest.param(
        "POST", "/fulfillment-sources", None,
        {"id": "WH-TINY", "name": "x", "address": {"location": {"latitude": 1, "longitude": -2.2e-311}}},
        400, id="a coordinate too small to store",
    ),
    pytest.param("PUT", "/inventory/{source_id}/{product}", None, {"on_hand": 10**40}, 400, id="41 digits"),
    pytest.param("PUT", "/inventory/{source_id}/{product}", None, b'{"on_hand": NaN}', 400, id="NaN"),
    pytest.param(
        "POST", "/policies", None, {"name": "Tiny", "kind": "filter", "rules": [{**RULE, "value": 1e-320}]},
        400, id="a rule value too small to store",
    ),
    pytest.param("PUT", "/settings/bigcommerce", None, b'{"push_enabled": "\xff"}', 400, id="not UTF-8"),
    pytest.param("GET", "/inventory", {"source_id": "", "product": PRODUCT}, None, 200, id="an empty filter"),
    pytest.param(
        "POST", "/inventory/import", None, f"source_id,product,on_hand\n{SOURCE},{PRODUCT},\u00b2",
        200, id="a superscript count",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "body", "status"), FOUND)
def test_what_the_fuzzer_found_is_answered_as_documented(
    schema: BaseSchema,
    runtime: LocalRuntime,
    existing: dict[str, str],
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: Any,
    status: int,
) -> None:
    operation: APIOperation = schema[path][method]
    if isinstance(body, str):
        data, content_type = body.encode(), "text/csv"
    else:
        data, content_type = (
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            "application/json",
        )

    answer = requests.request(
        method,
        runtime.api_url + path.format(**existing),
        params=query,
        data=data if body is not None else None,
        headers={**BEARER, "Content-Type": content_type},
        timeout=TIMEOUT,
    )

    case = operation.Case(path_parameters={name: existing[name] for name in _names(path)}, query=query)
    case.validate_response(answer, checks=CONFORMANCE)
    assert answer.status_code == status, answer.text
