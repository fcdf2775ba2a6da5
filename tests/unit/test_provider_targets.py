"""Where providers and custom actions may be: public https hosts; loopback only where it is allowed."""

from __future__ import annotations

import pytest

from orderflow.errors import InvalidInput
from orderflow.fulfillment.providers import parse_config, validate_url

AWS_STORE = "https://api.bigcommerce.com"
LOCAL_STORE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/check",
        "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
        "https://localhost/check",
        "https://shop.localhost/check",
        "https://2130706433/check",  # 127.0.0.1 as the resolver reads it
        "https://0x7f.1/check",
        "https://[::1]/check",
        "https://[::ffff:127.0.0.1]/check",
    ],
)
def test_loopback_is_refused_on_aws_whatever_its_spelling(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BIGCOMMERCE_API_URL", AWS_STORE)
    monkeypatch.delenv("ALLOW_LOOPBACK_TARGETS", raising=False)

    with pytest.raises(InvalidInput, match=r"127\.0\.0\.1/localhost only in local runs") as raised:
        validate_url(url, field="target")
    assert raised.value.field == "target"


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.7/x",
        "https://192.168.1.20/x",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/x",
    ],
)
def test_private_and_link_local_addresses_are_refused_even_where_loopback_is_allowed(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ALLOW_LOOPBACK_TARGETS", "true")

    with pytest.raises(InvalidInput, match="private, link-local or reserved address"):
        validate_url(url, field="params.url")


@pytest.mark.parametrize(
    ("store", "allowed", "accepted"),
    [
        (AWS_STORE, None, False),
        (LOCAL_STORE, None, True),  # unset: a loopback store makes the run local, as before
        (AWS_STORE, "true", True),  # make serve against a real store, providers on this machine
        (LOCAL_STORE, "false", False),
    ],
)
def test_loopback_targets_follow_the_setting_else_the_store(
    monkeypatch: pytest.MonkeyPatch, store: str, allowed: str | None, accepted: bool
) -> None:
    monkeypatch.setenv("BIGCOMMERCE_API_URL", store)
    if allowed is None:
        monkeypatch.delenv("ALLOW_LOOPBACK_TARGETS", raising=False)
    else:
        monkeypatch.setenv("ALLOW_LOOPBACK_TARGETS", allowed)
    params = {"provider": "https", "url": "http://127.0.0.1:8080/orders"}

    if accepted:
        assert parse_config(params).url == "http://127.0.0.1:8080/orders"
    else:
        with pytest.raises(InvalidInput):
            parse_config(params)


def test_a_public_https_host_is_taken_and_a_provider_name_is_looked_up_only_when_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIGCOMMERCE_API_URL", AWS_STORE)

    assert validate_url("https://3pl.example.com/orders", field="target") == "https://3pl.example.com/orders"
    assert parse_config({"provider": "sqs"}).kind == "sqs"
    # No configured providers to look in: a name is the step's configuration error, naming it
    with pytest.raises(InvalidInput, match="no provider named 'acme-3pl' is configured") as raised:
        parse_config({"provider": "acme-3pl"})
    assert raised.value.field == "params.provider"
