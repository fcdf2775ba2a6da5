"""Fulfillment sources and inventory through the admin API (the local runtime over HTTP)."""

from __future__ import annotations

import boto3

from orderflow.store import tables
from tests.conftest import Api

AUSTIN = {
    "id": "WH-TX",
    "name": "Austin warehouse",
    "priority": 10,
    "max_lines_per_day": 5000,
    "address": {
        "city": "Austin",
        "zip": "78701",
        "country_iso2": "US",
        "location": {"latitude": 30.27, "longitude": -97.74},
    },
}


def test_sources_are_created_read_replaced_listed_and_deleted(api: Api) -> None:
    created = api.post("/fulfillment-sources", AUSTIN)
    assert created.status_code == 201, created.text
    assert created.json()["address"]["location"] == {"latitude": 30.27, "longitude": -97.74}

    duplicate = api.post("/fulfillment-sources", AUSTIN)
    replaced = api.put("/fulfillment-sources/WH-TX", {**AUSTIN, "active": False, "priority": 5})
    listed = api.get("/fulfillment-sources")

    assert duplicate.status_code == 409 and duplicate.json()["error"]["field"] == "id"
    assert replaced.status_code == 200 and replaced.json()["active"] is False
    assert replaced.json()["created_at"] == created.json()["created_at"]
    assert [(s["id"], s["priority"]) for s in listed.json()["sources"]] == [("WH-TX", 5)]
    assert api.delete("/fulfillment-sources/WH-TX").json() == {"deleted": "WH-TX"}
    missing = api.get("/fulfillment-sources/WH-TX")
    assert missing.status_code == 404 and "WH-TX" in missing.json()["error"]["message"]
    assert missing.json()["error"]["field"] == "source_id"


def test_invalid_sources_are_refused_naming_the_field(api: Api) -> None:
    cases = [
        ({**AUSTIN, "id": "bad id!"}, "id"),
        ({**AUSTIN, "name": ""}, "name"),
        ({**AUSTIN, "max_lines_per_day": 0}, "max_lines_per_day"),
        ({**AUSTIN, "address": {"location": {"latitude": 91, "longitude": 0}}}, "address.location.latitude"),
    ]
    for body, field in cases:
        answer = api.post("/fulfillment-sources", body)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["error"]["field"] == field
    mismatch = api.put("/fulfillment-sources/WH-TX", {**AUSTIN, "id": "OTHER"})
    assert mismatch.status_code == 400 and mismatch.json()["error"]["field"] == "id"
    assert api.put("/fulfillment-sources/NOPE", {**AUSTIN, "id": "NOPE"}).status_code == 404


def test_a_replacement_may_leave_out_the_id_its_path_names(api: Api) -> None:
    created = api.post("/fulfillment-sources", AUSTIN).json()

    replaced = api.put(
        "/fulfillment-sources/WH-TX", {k: v for k, v in AUSTIN.items() if k != "id"} | {"priority": 3}
    )

    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["id"], replaced.json()["priority"]) == ("WH-TX", 3)
    assert replaced.json()["created_at"] == created["created_at"]
    assert api.get("/fulfillment-sources/WH-TX").json()["priority"] == 3


def test_stock_is_set_listed_and_a_source_holding_reserved_stock_cannot_be_deleted(api: Api) -> None:
    api.post("/fulfillment-sources", AUSTIN)
    api.post("/fulfillment-sources", {**AUSTIN, "id": "WH-2", "name": "Second"})

    put = api.put("/inventory/WH-TX/Accu Scale", {"on_hand": 12})
    api.put("/inventory/WH-2/Accu Scale", {"on_hand": 3})
    api.put("/inventory/WH-TX/Bench Press", {"on_hand": 1})

    assert put.status_code == 200
    assert {k: put.json()[k] for k in ("source_id", "product", "on_hand", "reserved", "available")} == {
        "source_id": "WH-TX", "product": "Accu Scale", "on_hand": 12, "reserved": 0, "available": 12}  # fmt: skip
    by_product = api.get("/inventory", params={"product": "Accu Scale"}).json()["inventory"]
    assert sorted((i["source_id"], i["on_hand"]) for i in by_product) == [("WH-2", 3), ("WH-TX", 12)]
    by_source = api.get("/inventory", params={"source_id": "WH-TX"}).json()["inventory"]
    assert sorted(i["product"] for i in by_source) == ["Accu Scale", "Bench Press"]
    page = api.get("/inventory", params={"limit": 2}).json()
    rest = api.get("/inventory", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(page["inventory"]) == 2 and len(rest["inventory"]) == 1 and rest["next_cursor"] is None

    assert api.put("/inventory/NOPE/Accu Scale", {"on_hand": 1}).json()["error"]["field"] == "source_id"
    for count in (-1, True, "4", 4.0, None):
        refused = api.put("/inventory/WH-TX/Accu Scale", {"on_hand": count})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "on_hand", count
    assert (
        api.get("/inventory", params={"source_id": "WH-TX", "product": "Accu Scale"}).json()["inventory"][0][
            "on_hand"
        ]
        == 12
    )

    # Given some of WH-TX's stock is reserved by an order's fulfillment order
    tables.inventory().table.update_item(
        Key={"pk": "INV#Accu Scale", "sk": "WH-TX"},
        UpdateExpression="SET reserved = :r, available = :a",
        ExpressionAttributeValues={":r": 2, ":a": 10},
    )
    refused = api.delete("/fulfillment-sources/WH-TX")
    assert refused.status_code == 409 and "2 unit(s) reserved" in refused.json()["error"]["message"]
    # A new count keeps what is reserved
    recount = api.put("/inventory/WH-TX/Accu Scale", {"on_hand": 5}).json()
    assert (recount["on_hand"], recount["reserved"], recount["available"]) == (5, 2, 3)
    # The other source can go, and its stock with it
    assert api.delete("/fulfillment-sources/WH-2").status_code == 200
    assert api.get("/inventory", params={"source_id": "WH-2"}).json()["inventory"] == []


def test_inventory_csv_sets_good_rows_and_reports_each_bad_one(api: Api) -> None:
    api.post("/fulfillment-sources", AUSTIN)
    csv_text = (
        "source_id,product,on_hand\n"
        "WH-TX,Accu Scale,40\n"
        "NOPE,Accu Scale,1\n"
        "WH-TX,,3\n"
        "WH-TX,Bench Press,-2\n"
        "\n"
        "WH-TX,Accu Scale,41\n"
        "WH-TX,Bench Press,7\n"
    )

    dry = api.post("/inventory/import?dry_run=true", data=csv_text, headers={"Content-Type": "text/csv"})
    answer = api.post("/inventory/import", data=csv_text.encode(), headers={"Content-Type": "text/csv"})

    assert dry.status_code == 200 and dry.json()["updated"] == 0 and dry.json()["valid"] == 2
    body = answer.json()
    assert (body["updated"], body["rejected"]) == (2, 4)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (3, "source_id"), (4, "product"), (5, "on_hand"), (7, "product")]  # fmt: skip
    assert body["errors"][0]["message"] == "no fulfillment source with id NOPE"
    assert "repeats row 2" in body["errors"][3]["message"]
    stock = {
        i["product"]: i["on_hand"]
        for i in api.get("/inventory", params={"source_id": "WH-TX"}).json()["inventory"]
    }
    assert stock == {"Accu Scale": 40, "Bench Press": 7}

    bad_header = api.post(
        "/inventory/import", data="source,product,qty\n", headers={"Content-Type": "text/csv"}
    )
    assert bad_header.status_code == 400 and bad_header.json()["error"]["field"] == "source_id"


def test_the_routes_are_in_the_openapi_document(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/fulfillment-sources",
        "/fulfillment-sources/{source_id}",
        "/inventory",
        "/inventory/import",
    ):
        assert path in paths, path


def test_a_sources_stock_is_listed_and_deleted_without_reading_every_sources(api: Api) -> None:
    # Given two sources with stock of several products
    api.post("/fulfillment-sources", AUSTIN)
    api.post("/fulfillment-sources", {**AUSTIN, "id": "WH-2", "name": "Second"})
    for product in ("Accu Scale", "Bench Press", "Cable"):
        api.put(f"/inventory/WH-TX/{product}", {"on_hand": 4})
        api.put(f"/inventory/WH-2/{product}", {"on_hand": 9})
    by_product = api.get("/inventory", params={"product": "Accu Scale", "limit": 1}).json()
    scans: list[str] = []
    boto3.DEFAULT_SESSION.events.register(  # type: ignore[union-attr]
        "before-call.dynamodb.Scan", lambda event_name, **_: scans.append(event_name)
    )

    # When one source's stock is read a page at a time, and the other source is deleted
    first = api.get("/inventory", params={"source_id": "WH-TX", "limit": 2}).json()
    rest = api.get(
        "/inventory", params={"source_id": "WH-TX", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    deleted = api.delete("/fulfillment-sources/WH-2")

    # Then each read only that source's stock rows (a Query), never a Scan of every source's
    listed = first["inventory"] + rest["inventory"]
    assert [(i["source_id"], i["product"]) for i in listed] == [
        ("WH-TX", "Accu Scale"), ("WH-TX", "Bench Press"), ("WH-TX", "Cable")]  # fmt: skip
    assert rest["next_cursor"] is None
    assert deleted.status_code == 200 and scans == []
    assert [level.source_id for level in tables.inventory().for_product("Cable")] == ["WH-TX"]
    # and a cursor another listing gave out is refused naming it, not answered with a 5xx
    foreign = api.get("/inventory", params={"source_id": "WH-TX", "cursor": by_product["next_cursor"]})
    assert foreign.status_code == 400 and foreign.json()["error"]["field"] == "cursor"
