"""The admin API over HTTP: mappings, settings, orders' errors and the OpenAPI document."""

from __future__ import annotations

import pytest
import yaml

from orderflow_local.template import _CfnLoader
from tests.conftest import ROOT, Api

SCALE = {"mapping_group": "Default Mapping Group", "product": "Accu Scale", "external_field_name": "sku",
         "external_field_value": "ABS"}  # fmt: skip


def test_a_mapping_can_be_created_read_listed_changed_and_deleted(api: Api) -> None:
    created = api.post("/mappings/products", SCALE)
    assert created.status_code == 201
    mapping = created.json()
    assert mapping["product"] == "Accu Scale" and mapping["kind"] == "products" and mapping["account"] is None

    assert api.get(f"/mappings/products/{mapping['id']}").json() == mapping
    listed = api.get("/mappings/products", params={"mapping_group": "Default Mapping Group"}).json()
    assert [m["id"] for m in listed["mappings"]] == [mapping["id"]]
    assert api.get("/mappings/products", params={"external_field_value": "NOPE"}).json()["mappings"] == []

    changed = api.put(f"/mappings/products/{mapping['id']}", {**SCALE, "product": "Accu Scale 2000"})
    assert changed.status_code == 200 and changed.json()["product"] == "Accu Scale 2000"

    assert api.delete(f"/mappings/products/{mapping['id']}").status_code == 200
    gone = api.get(f"/mappings/products/{mapping['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_a_duplicate_mapping_is_a_409(api: Api) -> None:
    api.post("/mappings/products", SCALE)
    again = api.post("/mappings/products", {**SCALE, "product": "Something else"})
    assert again.status_code == 409
    assert "sku='ABS' already exists" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/mappings/products", {k: v for k, v in SCALE.items() if k != "product"}, "product"),
        ("/mappings/units", {"unit": "ea", "external_field_name": "unit"}, "external_field_value"),
        ("/mappings/products", {**SCALE, "colour": "red"}, "colour"),
        ("/mappings/products", {**SCALE, "external_field_value": ""}, "external_field_value"),
        ("/mappings/widgets", SCALE, "kind"),
        ("/mappings/products", ["not", "an", "object"], "body"),
        ("/mappings/products", {**SCALE, "unit": "ea"}, "unit"),
        (
            "/mappings/accounts",
            {"external_field_name": "ProviderName", "external_field_value": "BC"},
            "account",
        ),
        (
            "/mappings/accounts",
            {"account": " ", "external_field_name": "x", "external_field_value": "y"},
            "account",
        ),
    ],
)
def test_bad_mapping_input_is_a_400_naming_the_field(api: Api, path: str, body: object, field: str) -> None:
    answer = api.post(path, body)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field


def test_settings_have_defaults_and_refuse_unknown_status_ids(api: Api) -> None:
    defaults = api.get("/settings/bigcommerce").json()
    assert defaults["new_order_status_id"] == 11 and defaults["import_error_status_id"] == 12
    assert defaults["status_mapping"]["validated"] == 9 and defaults["status_mapping"]["new"] is None

    refused = api.put("/settings/bigcommerce", {"import_error_status_id": 15})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "import_error_status_id"
    assert (
        "0 Incomplete" in refused.json()["error"]["message"]
        and "14 Partially Refunded" in refused.json()["error"]["message"]
    )

    saved = api.put("/settings/bigcommerce", {"push_enabled": False, "status_mapping": {"validated": 9}})
    assert saved.status_code == 200
    current = api.get("/settings/bigcommerce").json()
    assert current["push_enabled"] is False
    assert current["status_mapping"]["validated"] == 9 and current["status_mapping"]["on_hold"] == 12
    unknown = api.put("/settings/bigcommerce", {"pushing": True})
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "pushing"


def test_settings_show_the_store_and_take_not_assigned_statuses(api: Api) -> None:
    assert api.get("/settings/bigcommerce").json()["store_hash"] == "test-store"

    saved = api.put("/settings/bigcommerce", {"status_mapping": {"shipped": "not assigned", "sourced": 9}})
    assert saved.status_code == 200
    assert (
        saved.json()["status_mapping"]["shipped"] is None and saved.json()["status_mapping"]["sourced"] == 9
    )
    assert api.put("/settings/bigcommerce", {"store_hash": "test-store"}).status_code == 200

    typo = api.put("/settings/bigcommerce", {"status_mapping": {"shiped": 2}})
    moved = api.put("/settings/bigcommerce", {"store_hash": "another-store"})
    bad_value = api.put("/settings/bigcommerce", {"status_mapping": {"shipped": "done"}})

    assert typo.status_code == 400 and typo.json()["error"]["field"] == "status_mapping.shiped"
    assert "'shiped' is not an order status" in typo.json()["error"]["message"]
    assert "partially_shipped" in typo.json()["error"]["message"]
    assert moved.status_code == 400 and moved.json()["error"]["field"] == "store_hash"
    assert bad_value.status_code == 400 and bad_value.json()["error"]["field"] == "status_mapping.shipped"
    assert "not a BigCommerce status id" in bad_value.json()["error"]["message"]
    # nothing refused was stored
    assert api.get("/settings/bigcommerce").json()["status_mapping"]["shipped"] is None


def test_unknown_orders_routes_and_cursors_answer_in_the_error_shape(api: Api) -> None:
    missing = api.get("/orders/BC-test-store-1")
    bad_limit = api.get("/orders", params={"limit": 0})
    bad_cursor = api.get("/orders", params={"cursor": "not-ours"})

    assert missing.status_code == 404 and missing.json()["error"]["field"] == "order_key"
    assert bad_limit.status_code == 400 and bad_limit.json()["error"]["field"] == "limit"
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["field"] == "cursor"
    assert api.get("/nothing-here").status_code == 404


def test_the_openapi_document_covers_exactly_the_routes_the_template_deploys(api: Api) -> None:
    document = api.get("/openapi.json").json()
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    # (the console's static files are web pages, not API operations)
    deployed = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and name != "ConsoleFunction"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    assert document["openapi"].startswith("3.")
    assert documented == deployed


def test_the_openapi_document_declares_security_and_every_answer_in_the_error_shape(api: Api) -> None:
    document = api.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    error = document["components"]["schemas"]["Error"]
    operations = {(m, path): op for path, item in document["paths"].items() for m, op in item.items()}
    own = {
        ("post", "/webhooks/bigcommerce"): "webhookSecret",
        ("post", "/fulfillment/{fulfillment_order_id}/events"): "providerSecret",
        ("post", "/returns/{return_id}/events"): "providerSecret",
    }

    def codes(method: str, path: str) -> set[str]:
        return set(operations[(method, path)]["responses"])

    # SigV4 on AWS, the bearer token locally; each secret header on its own route
    expected = {
        "sigv4": {"type": "apiKey", "in": "header", "name": "Authorization"},
        "bearer": {"type": "http", "scheme": "bearer"},
        "webhookSecret": {"type": "apiKey", "in": "header", "name": "X-Webhook-Secret"},
        "providerSecret": {"type": "apiKey", "in": "header", "name": "X-Provider-Secret"},
    }
    for scheme, fields in expected.items():
        assert fields.items() <= schemes[scheme].items(), scheme
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    # the contract's error shape, and no trace of Powertools' 422
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["properties"]) == {"code", "message", "field", "problems"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for (method, path), operation in operations.items():
        name, responses = f"{method.upper()} {path}", operation["responses"]
        if (method, path) in own:
            assert operation["security"] == [{own[(method, path)]: []}], name
        else:
            assert operation["security"] == [{"sigv4": []}, {"bearer": []}], name
            assert "401" in responses, name
        assert "422" not in responses and "500" in responses, name
        where = {parameter["in"] for parameter in operation.get("parameters", [])}
        if "query" in where or operation.get("requestBody"):
            assert "400" in responses, name
        if "path" in where:
            assert "404" in responses or path.startswith("/mappings/{kind}"), name  # 400 for a kind
        if operation.get("requestBody"):
            assert "413" in responses, name
        for code, answer in responses.items():
            assert answer["content"], f"{name} {code}"
            if int(code) >= 400:
                assert answer["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }

    # the success codes the routes really answer
    for path in ("/flows", "/policies", "/mappings/{kind}", "/fulfillment-sources"):
        assert "201" in codes("post", path) and "200" not in codes("post", path), path
    assert {"200", "201", "400", "404", "409", "502", "503"} <= codes("post", "/orders/{order_key}/shipments")
    assert {"202", "404", "409"} <= codes("post", "/orders/{order_key}/resubmit")
    assert codes("post", "/webhooks/bigcommerce") == {"200", "400", "401", "413", "500", "503"}
    for path in ("/providers/bigcommerce/sync", "/providers/bigcommerce/items/import"):
        body = operations[("post", path)]["requestBody"]
        assert not body.get("required") and "anyOf" not in body["content"]["application/json"]["schema"]
        assert {"400", "502", "503"} <= codes("post", path)
    asl = operations[("get", "/flows/{flow_id}/asl")]["responses"]["200"]["content"]
    diagram = operations[("get", "/flows/{flow_id}/diagram")]["responses"]["200"]["content"]
    assert asl == {"application/json": {"schema": {"type": "object"}}} and list(diagram) == ["text/plain"]


def test_the_openapi_document_shows_the_bodies_the_routes_validate_and_no_injected_parameter(
    api: Api,
) -> None:
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    operations = {(m.upper(), path): op for path, item in document["paths"].items() for m, op in item.items()}

    def body(method: str, path: str) -> dict:
        schema = operations[(method, path)]["requestBody"]["content"]["application/json"]["schema"]
        return schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema

    def parameters(method: str, path: str) -> list[tuple[str, str]]:
        return [(p["in"], p["name"]) for p in operations[(method, path)].get("parameters", [])]

    # The typed bodies, as their models validate them
    mapping = body("POST", "/mappings/{kind}")
    assert mapping["required"] == ["external_field_name", "external_field_value"]
    assert {"account", "price_list", "unit", "product"} <= set(mapping["properties"])
    assert mapping["additionalProperties"] is False and mapping["properties"]["product"]["anyOf"][0] == {
        "type": "string", "minLength": 1, "maxLength": 200}  # fmt: skip
    source, replacement = (
        body("POST", "/fulfillment-sources"),
        body("PUT", "/fulfillment-sources/{source_id}"),
    )
    assert source["required"] == ["id", "name"] and replacement["required"] == ["name"]
    assert "created_at" not in source["properties"] and "created_at" not in replacement["properties"]
    stock = body("PUT", "/inventory/{source_id}/{product}")
    assert stock["required"] == ["on_hand"]
    assert (
        stock["properties"]["on_hand"] | {"type": "integer", "minimum": 0} == stock["properties"]["on_hand"]
    )
    settings = body("PUT", "/settings/bigcommerce")
    assert "required" not in settings and settings["additionalProperties"] is False
    assert {"store_hash", "status_mapping", "push_enabled"} <= set(settings["properties"])
    # The repositories the routes are given are no parameters of theirs
    assert parameters("GET", "/orders") == [
        ("query", name)
        for name in (
            "external_id", "status", "on_hold", "pending_import", "import_failed", "flow", "limit", "cursor",
        )
    ]  # fmt: skip
    assert parameters("GET", "/settings/bigcommerce") == []
    assert parameters("PUT", "/inventory/{source_id}/{product}") == [
        ("path", "source_id"),
        ("path", "product"),
    ]
    assert parameters("DELETE", "/fulfillment-sources/{source_id}") == [("path", "source_id")]
