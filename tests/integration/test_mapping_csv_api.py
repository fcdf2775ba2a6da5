"""CSV import and export of mappings over HTTP (the local runtime: in-process handlers, moto)."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections import Counter
from typing import Any, cast

import pytest
import requests

from orderflow.mapping.csv_files import BOM
from orderflow.observability import logger
from orderflow.store.mappings import forget_kept_partitions
from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from orderflow_local.server import api_gateway_event
from tests.conftest import ADMIN_TOKEN, Api, local_runtime

HEADER = "mapping_group,account,product,external_field_name,external_field_value"
CSV = {"Content-Type": "text/csv"}
MIXED = "\r\n".join(
    [
        HEADER,
        ",,Accu Scale,sku,ABS",  # 2 good
        ",TestBCAccount,Accu Scale (trade),sku,ABS",  # 3 good: the account's own
        ",,,sku,SCW",  # 4 bad: no product
        "",  # 5 blank
        "Wholesale,,Scale Calibration Weights,sku,SCW",  # 6 good
        ",,Accu Scale again,sku,ABS",  # 7 bad: repeats row 2
        ",,Weights,,W-1",  # 8 bad: no field name
    ]
)


def _import(api: Api, text: str | bytes, kind: str = "products", **params: Any) -> requests.Response:
    data = text.encode() if isinstance(text, str) else text
    return api.post(f"/mappings/{kind}/import", data=data, headers=CSV, params=params)


@pytest.fixture(autouse=True)
def _no_mappings_kept() -> None:
    forget_kept_partitions()  # as a container that has read no mappings yet
    forget_kept_partitions()


def _listed(api: Api, kind: str = "products") -> dict[tuple[str, str | None, str], dict[str, Any]]:
    mappings = api.get(f"/mappings/{kind}", params={"limit": 500}).json()["mappings"]
    return {(m["mapping_group"], m["account"], m["external_field_value"]): m for m in mappings}


def test_good_rows_are_stored_and_bad_rows_reported_with_row_and_column(api: Api) -> None:
    # When a file mixing good and bad rows is imported
    answer = _import(api, MIXED)

    # Then the good rows are created and each bad one is named by its spreadsheet row and column
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert {k: report[k] for k in ("created", "updated", "unchanged", "rejected", "dry_run")} == {
        "created": 3, "updated": 0, "unchanged": 0, "rejected": 3, "dry_run": False,
    }  # fmt: skip
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (4, "product"),
        (7, "external_field_value"),
        (8, "external_field_name"),
    ]
    assert "duplicates row 2" in report["errors"][1]["message"]

    # And only the good rows are in the store
    stored = _listed(api)
    assert {key: m["product"] for key, m in stored.items()} == {
        ("Default Mapping Group", None, "ABS"): "Accu Scale",
        ("Default Mapping Group", "TestBCAccount", "ABS"): "Accu Scale (trade)",
        ("Wholesale", None, "SCW"): "Scale Calibration Weights",
    }


def test_the_import_answers_with_its_counts_when_every_log_line_is_written(store: DemoStore) -> None:
    # Given the runtime at DEBUG, whatever level the suite runs at, and its JSON log lines kept
    handler = cast(logging.StreamHandler, logger.registered_handler)
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        with local_runtime(store, LOG_LEVEL="DEBUG") as runtime:
            assert logger.log_level == logging.DEBUG

            # When a file mixing good and bad rows is imported
            answer = _import(Api(runtime.api_url), MIXED)
    finally:
        handler.setStream(previous)

    # Then the rows are saved and the answer has the counts (the line logging them cannot fail it)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], answer.json()["rejected"]) == (3, 3)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    (imported,) = [line for line in lines if line["message"] == "mappings imported"]
    assert (imported["kind"], imported["created_count"], imported["rejected_count"]) == ("products", 3, 3)
    assert imported["function_name"] == "AdminApiFunction"


def test_importing_the_same_file_again_changes_nothing(api: Api) -> None:
    first = _import(api, MIXED).json()
    ids = {key: m["id"] for key, m in _listed(api).items()}

    again = _import(api, MIXED).json()

    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, first["created"])
    assert again["rejected"] == first["rejected"]
    assert {key: m["id"] for key, m in _listed(api).items()} == ids  # no duplicates, same ids


def test_a_changed_value_is_refused_by_default_and_replaced_on_request(api: Api) -> None:
    _import(api, MIXED)
    original = _listed(api)[("Default Mapping Group", None, "ABS")]
    changed = "\n".join(
        [HEADER, ",,Accu Scale 2000,sku,ABS", ",TestBCAccount,Accu Scale (trade),sku,ABS", ",,New,sku,NEW"]
    )

    # When the default mapping's value changes in the file and the import refuses existing keys
    refused = _import(api, changed).json()

    # Then that row is an error naming the stored mapping, and the store keeps the old value
    counts = (refused["created"], refused["updated"], refused["unchanged"], refused["rejected"])
    assert counts == (1, 0, 1, 1)
    (error,) = refused["errors"]
    assert (error["row"], error["field"]) == (2, "product")
    assert f"already exists in group 'Default Mapping Group' for all accounts with product 'Accu Scale' " \
           f"(id {original['id']})" in error["message"]  # fmt: skip
    assert _listed(api)[("Default Mapping Group", None, "ABS")]["product"] == "Accu Scale"

    # When the import is told to update
    replaced = _import(api, changed, on_existing="update").json()

    # Then the mapping keeps its id and takes the new value; the rows that match are unchanged
    counts = (replaced["created"], replaced["updated"], replaced["unchanged"], replaced["rejected"])
    assert counts == (0, 1, 2, 0)
    after = _listed(api)[("Default Mapping Group", None, "ABS")]
    assert (after["id"], after["product"], after["created_at"]) == (
        original["id"],
        "Accu Scale 2000",
        original["created_at"],
    )


def test_a_big_file_is_compared_with_one_read_of_its_group_and_written_in_batches(
    api: Api, dynamodb_calls: Counter[str]
) -> None:
    rows = [f",,Product {n},sku,SKU-{n:05d}" for n in range(1, 2501)]
    text = "\r\n".join([HEADER, *rows])

    # When a file of 2,500 new mappings is imported
    first = _import(api, text).json()

    # Then the group's products were read once (its version, then one Query), written 25 a request,
    # and the group's version replaced once
    assert (first["created"], first["rejected"]) == (2500, 0)
    assert dynamodb_calls == Counter({"BatchGetItem": 1, "Query": 1, "BatchWriteItem": 100, "UpdateItem": 1})

    # When it is imported again, by the same container and then by one that keeps no mappings
    for cold, reads in (
        (False, Counter({"BatchGetItem": 1})),
        (True, Counter({"BatchGetItem": 1, "Query": 1})),
    ):
        if cold:
            forget_kept_partitions()
        dynamodb_calls.clear()
        again = _import(api, text).json()

        # Then nothing changes, and the comparison took one request (two with the Query)
        assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2500)
        assert dynamodb_calls == reads

    # When a changed row comes back, and then with on_existing=update
    [stored] = api.get("/mappings/products", params={"external_field_value": "SKU-00007"}).json()["mappings"]
    changed = "\r\n".join([HEADER, *rows[:6], ",,Renamed,sku,SKU-00007", *rows[7:]])
    refused = _import(api, changed).json()
    replaced = _import(api, changed, on_existing="update").json()

    # Then the row is refused naming the stored mapping, then replaced keeping its id
    assert (refused["rejected"], refused["unchanged"], refused["errors"][0]["row"]) == (1, 2499, 8)
    assert f"with product 'Product 7' (id {stored['id']})" in refused["errors"][0]["message"]
    assert (replaced["updated"], replaced["unchanged"]) == (1, 2499)
    [after] = api.get("/mappings/products", params={"external_field_value": "SKU-00007"}).json()["mappings"]
    assert (after["id"], after["product"]) == (stored["id"], "Renamed")

    # When the group is exported
    dynamodb_calls.clear()
    exported = api.get("/mappings/products/export", params={"mapping_group": "Default Mapping Group"})

    # Then every row is in it, and it took the group's version alone (the same container keeps it)
    assert exported.text.splitlines()[1:] == [
        f"Default Mapping Group,,{'Renamed' if n == 7 else f'Product {n}'},sku,SKU-{n:05d}"
        for n in range(1, 2501)
    ]
    assert dynamodb_calls == Counter({"BatchGetItem": 1})


def test_a_dry_run_counts_and_reports_but_writes_nothing(api: Api) -> None:
    answer = _import(api, MIXED, dry_run="true").json()

    assert (answer["created"], answer["rejected"], answer["dry_run"]) == (3, 3, True)
    assert _listed(api) == {}


def test_an_export_imports_back_as_the_same_mappings(api: Api) -> None:
    # Given mappings made one by one, some with values a spreadsheet would run as formulas
    for body in (
        {"product": "Accu Scale", "external_field_name": "sku", "external_field_value": "ABS"},
        {"product": "=cmd|' /C calc'!A0", "external_field_name": "sku", "external_field_value": "-EVIL"},
        {"product": 'Scale, "Pro"', "external_field_name": "sku", "external_field_value": "PRO",
         "account": "TestBCAccount"},
        {"product": "Weights", "external_field_name": "sku", "external_field_value": "SCW",
         "mapping_group": "Wholesale"},
    ):  # fmt: skip
        assert api.post("/mappings/products", body).status_code == 201
    before = {key: {k: v for k, v in m.items() if k not in {"id", "created_at", "updated_at"}}
              for key, m in _listed(api).items()}  # fmt: skip

    # When everything is exported
    exported = api.get("/mappings/products/export")

    # Then it is a CSV download, safe to open in a spreadsheet
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="products-mappings.csv"' in exported.headers["content-disposition"]
    text = exported.content.decode("utf-8")
    assert text.startswith(BOM + HEADER + "\r\n")
    assert "'=cmd" in text and ",'-EVIL" in text
    only_wholesale = api.get("/mappings/products/export", params={"mapping_group": "Wholesale"}).text
    assert only_wholesale.splitlines()[1:] == ["Wholesale,,Weights,sku,SCW"]

    # When every mapping is deleted and the export imported
    for mapping in _listed(api).values():
        assert api.delete(f"/mappings/products/{mapping['id']}").status_code == 200
    imported = _import(api, exported.content).json()

    # Then the same mappings are back, and exporting again gives the same file
    assert (imported["created"], imported["rejected"]) == (4, 0)
    after = {key: {k: v for k, v in m.items() if k not in {"id", "created_at", "updated_at"}}
             for key, m in _listed(api).items()}  # fmt: skip
    assert after == before
    assert api.get("/mappings/products/export").content == exported.content


def test_export_is_not_taken_for_a_mapping_id(api: Api) -> None:
    created = api.post(
        "/mappings/units", {"unit": "ea", "external_field_name": "unit", "external_field_value": "each"}
    ).json()

    export = api.get("/mappings/units/export")
    one = api.get(f"/mappings/units/{created['id']}")

    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.text.splitlines()[1] == "Default Mapping Group,,ea,unit,each"
    assert one.status_code == 200 and one.json()["id"] == created["id"]
    assert api.get("/mappings/widgets/export").json()["error"]["field"] == "kind"


def test_a_base64_encoded_body_is_decoded(runtime: LocalRuntime) -> None:
    # Given the event API Gateway sends when it base64-encodes the body
    text = f"{BOM}unit,external_field_name,external_field_value\r\nea,unit,each\r\n"
    assert runtime.server is not None
    route = runtime.server.find_route("POST", "/mappings/units/import")
    assert route is not None
    headers = {"content-type": "text/csv", "authorization": f"Bearer {ADMIN_TOKEN}"}
    event = api_gateway_event("POST", route, "/mappings/units/import", "", headers, b"x", "127.0.0.1")
    event.update(body=base64.b64encode(text.encode()).decode(), isBase64Encoded=True)

    # When the function is invoked with it
    answer = runtime.invoke(route.function, event)

    # Then the CSV inside is imported
    assert answer["statusCode"] == 200, answer
    assert '"created":1' in answer["body"].replace(" ", "")


def test_a_body_that_is_not_utf8_arrives_base64_encoded_and_is_refused_naming_the_row(api: Api) -> None:
    answer = _import(api, (HEADER + "\n,,Café,sku,CAFE\n").encode("cp1252"))

    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "body"
    assert "not UTF-8 text (row 2" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "params", "headers", "field", "words"),
    [
        (b"", {}, CSV, "body", "the body is empty"),
        (b"product,sku\n", {}, CSV, "sku", "unknown column 'sku'"),
        (b"\xef\xbb\xbf\r\n\r\n", {}, CSV, "body", "no header row"),
        (HEADER.encode(), {"on_existing": "overwrite"}, CSV, "on_existing", "on_existing"),
        (HEADER.encode(), {"dry_run": "perhaps"}, CSV, "dry_run", "dry_run"),
        (HEADER.encode(), {}, {"Content-Type": "multipart/form-data; boundary=x"}, "body", "not as a form upload"),
    ],
)  # fmt: skip
def test_an_import_that_cannot_be_read_is_a_400_and_writes_nothing(
    api: Api, body: bytes, params: dict[str, str], headers: dict[str, str], field: str, words: str
) -> None:
    answer = api.post("/mappings/products/import", data=body, headers=headers, params=params)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field
    assert words in answer.json()["error"]["message"]
    assert _listed(api) == {}


def test_a_file_over_5_mb_is_refused_before_anything_is_read(api: Api) -> None:
    row = ",,Accu Scale,sku,ABS\n"
    body = (HEADER + "\n" + row * (5 * 1024 * 1024 // len(row) + 1)).encode()

    answer = _import(api, body)

    assert answer.status_code == 400
    assert "larger than 5 MB" in answer.json()["error"]["message"]
    assert _listed(api) == {}
