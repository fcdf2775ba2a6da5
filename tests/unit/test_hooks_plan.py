"""Webhook registration as a plan: from the hooks a store has to what each of our scopes needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow.bigcommerce.hooks import (
    SCOPES,
    SECRET_HEADER,
    HookPlan,
    describe,
    plan,
    validate_destination,
)
from orderflow.errors import InvalidInput

DESTINATION = "https://orders.example.com/webhooks/bigcommerce"
SECRET = "s3cret-value-0123456789"


def hook(hook_id: int, scope: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": hook_id,
        "client_id": "client",
        "store_hash": "abc123",
        "scope": scope,
        "destination": DESTINATION,
        "headers": {SECRET_HEADER: SECRET},
        "is_active": True,
        "created_at": 1561479335,
        "updated_at": 1561479335,
        **fields,
    }


def registered() -> list[dict[str, Any]]:
    return [hook(n, scope) for n, scope in enumerate(SCOPES, start=1)]


def by_scope(plans: list[HookPlan]) -> dict[str, HookPlan]:
    assert [p.scope for p in plans] == list(SCOPES)
    return {p.scope: p for p in plans}


def as_store_would_hold(plans: list[HookPlan], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hooks after carrying the plans out, as BigCommerce would keep them."""
    hooks = {h["id"]: dict(h) for h in current}
    next_id = max(hooks, default=0) + 1
    for step in plans:
        if step.body is None:
            continue
        if step.hook_id is None:
            hooks[next_id] = {"id": next_id, **step.body}
            next_id += 1
        else:
            hooks[step.hook_id].update(step.body)
    return list(hooks.values())


def test_a_store_without_hooks_gets_one_per_scope_with_the_secret_header() -> None:
    plans = plan([], DESTINATION, SECRET)

    assert [(p.scope, p.action, p.hook_id) for p in plans] == [(s, "created", None) for s in SCOPES]
    for step in plans:
        assert step.body == {
            "scope": step.scope,
            "destination": DESTINATION,
            "is_active": True,
            "headers": {"X-Webhook-Secret": SECRET},
        }


def test_correct_hooks_are_left_alone() -> None:
    plans = plan(registered(), DESTINATION, SECRET)

    assert [(p.action, p.hook_id, p.body) for p in plans] == [
        ("unchanged", n, None) for n in range(1, len(SCOPES) + 1)
    ]


@pytest.mark.parametrize(
    "current",
    [
        [],
        registered(),
        [hook(1, SCOPES[0], is_active=False), hook(2, SCOPES[1], destination="https://old.example.com/x")],
        [hook(7, SCOPES[2], headers=None), hook(9, "store/cart/created")],
    ],
)
def test_planning_again_after_applying_a_plan_changes_nothing(current: list[dict[str, Any]]) -> None:
    after = as_store_would_hold(plan(current, DESTINATION, SECRET), current)

    assert {p.action for p in plan(after, DESTINATION, SECRET)} == {"unchanged"}


def test_a_deactivated_hook_is_reactivated() -> None:
    current = registered()
    current[1]["is_active"] = False

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[1]]

    assert (step.action, step.hook_id, step.changes) == ("reactivated", 2, ("is_active",))
    assert step.body == {"destination": DESTINATION, "is_active": True, "headers": {SECRET_HEADER: SECRET}}


def test_a_hook_at_another_destination_is_moved_here_with_the_secret() -> None:
    current = registered()
    current[0].update(destination="https://old.example.com/hooks", headers={"X-Webhook-Secret": "old"})

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[0]]

    assert (step.action, step.hook_id, step.changes) == ("updated", 1, ("destination", "headers"))
    assert step.body is not None and step.body["destination"] == DESTINATION


def test_a_deactivated_hook_elsewhere_is_both_moved_and_reactivated() -> None:
    current = registered()
    current[3].update(destination="https://old.example.com/hooks", is_active=False)

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[3]]

    assert (step.action, step.changes) == ("reactivated", ("destination", "is_active"))


@pytest.mark.parametrize(
    ("headers", "changes"),
    [
        ({SECRET_HEADER: "wrong"}, ("headers",)),
        (None, ("headers",)),
        ({}, ("headers",)),
        ({"x-webhook-secret": SECRET}, ()),  # header names are case-insensitive
    ],
)
def test_the_secret_header_is_checked(headers: Any, changes: tuple[str, ...]) -> None:
    current = registered()
    current[2]["headers"] = headers

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[2]]

    assert step.changes == changes
    assert step.action == ("updated" if changes else "unchanged")


def test_headers_someone_else_added_are_kept() -> None:
    current = registered()
    current[0]["headers"] = {"x-webhook-secret": "old", "X-Tenant": "north"}

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[0]]

    assert step.body is not None
    assert step.body["headers"] == {"X-Tenant": "north", SECRET_HEADER: SECRET}


def test_the_hook_already_here_wins_and_further_hooks_on_the_scope_are_named_not_touched() -> None:
    current = [
        hook(3, SCOPES[0], destination="https://old.example.com/hooks"),
        hook(5, SCOPES[0]),
        hook(8, SCOPES[0], destination="https://other.example.com/hooks"),
    ]

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[0]]

    assert (step.action, step.hook_id, step.others) == ("unchanged", 5, (3, 8))


def test_without_a_hook_here_the_oldest_of_the_scope_is_moved() -> None:
    current = [
        hook(8, SCOPES[0], destination="https://other.example.com/hooks"),
        hook(3, SCOPES[0], destination="https://old.example.com/hooks"),
    ]

    step = by_scope(plan(current, DESTINATION, SECRET))[SCOPES[0]]

    assert (step.action, step.hook_id, step.others) == ("updated", 3, (8,))


def test_hooks_for_other_scopes_and_without_ids_are_ignored() -> None:
    current = [hook(1, "store/cart/created"), {**hook(2, SCOPES[0]), "id": None}]

    plans = plan(current, DESTINATION, SECRET)

    assert [p.action for p in plans] == ["created"] * len(SCOPES)


def test_the_secret_stays_out_of_repr_and_answers() -> None:
    current = registered()
    current[0]["is_active"] = False
    plans = plan(current[:2], DESTINATION, SECRET)

    shown = repr(plans) + json.dumps([p.to_dict() for p in plans])

    assert SECRET not in shown
    assert plans[0].to_dict() == {
        "scope": SCOPES[0],
        "action": "reactivated",
        "hook_id": 1,
        "changes": ["is_active"],
        "other_hook_ids": [],
    }


def test_describe_says_whether_the_secret_matches_without_showing_it() -> None:
    current = [
        hook(1, SCOPES[0]),
        hook(2, SCOPES[1], headers={SECRET_HEADER: "other"}),
        hook(3, SCOPES[2], headers=None, is_active=False),
        hook(4, SCOPES[3], is_active=False),
        hook(5, "store/cart/created"),
    ]

    described = describe(current, SECRET)

    assert [(h["id"], h["secret"], h["is_active"], h["ours"]) for h in described["hooks"]] == [
        (1, "matches", True, True),
        (2, "differs", True, True),
        (3, "missing", False, True),
        (4, "matches", False, True),
        (5, "matches", True, False),
    ]
    assert described["scopes_missing"] == list(SCOPES[1:])
    assert SECRET not in json.dumps(described)


def test_describe_a_store_without_hooks() -> None:
    assert describe([], SECRET) == {"hooks": [], "scopes_missing": list(SCOPES)}


@pytest.mark.parametrize(
    "url",
    [
        DESTINATION,
        "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/bigcommerce",
        "https://orders.example.com:443/webhooks/bigcommerce",
    ],
)
def test_https_destinations_are_accepted(url: str) -> None:
    assert validate_destination(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "destination: required"),
        ("orders.example.com/webhooks", "destination: must be an https:// URL with a host"),
        ("ftp://orders.example.com/webhooks", "destination: must be an https:// URL with a host"),
        ("https:///webhooks", "destination: must be an https:// URL with a host"),
        ("http://orders.example.com/webhooks", "destination: must be https"),
        ("http://127.0.0.1:3000/webhooks/bigcommerce", "destination: must be https"),
        ("https://orders.example.com:8443/webhooks", "destination: BigCommerce delivers to port 443 only"),
        ("https://user:pw@orders.example.com/webhooks", "destination: must not carry credentials"),
        ("https://orders.example.com:99999/webhooks", "destination: not a URL"),
    ],
)
def test_bad_destinations_name_the_field_and_the_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_destination(url)

    assert caught.value.field == "destination"
    assert caught.value.message.startswith(reason)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3000/webhooks/bigcommerce", "http://localhost:3000/webhooks/bigcommerce"]
)
def test_loopback_http_is_accepted_for_a_loopback_store(url: str) -> None:
    assert validate_destination(url, allow_loopback_http=True) == url


def test_only_loopback_http_is_accepted_for_a_loopback_store() -> None:
    with pytest.raises(InvalidInput, match="must be https"):
        validate_destination("http://orders.example.com/webhooks", allow_loopback_http=True)
