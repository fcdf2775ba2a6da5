"""The access-token secret: a plain token or Salesorder's ``ClientID:AccessToken``, and messages that
name the wrong part and why without ever showing the value."""

from __future__ import annotations

import pytest

from orderflow.bigcommerce.connection import Credentials, parse_credentials
from orderflow.errors import ConfigurationError

TOKEN = "k7q2m9x4w1z8c3v6b5n0p1l2j3h4g5f"
CLIENT_ID = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"
EXPECTED = "expected the API account's access token, or ClientID:AccessToken"


def test_a_plain_token_is_the_access_token() -> None:
    assert parse_credentials(TOKEN) == Credentials(access_token=TOKEN, client_id=None)


def test_the_api_key_form_splits_into_client_id_and_access_token() -> None:
    assert parse_credentials(f"{CLIENT_ID}:{TOKEN}") == Credentials(access_token=TOKEN, client_id=CLIENT_ID)


@pytest.mark.parametrize("padded", [f"{TOKEN}\n", f"  {TOKEN}\r\n", f"\t{CLIENT_ID}:{TOKEN} \n"])
def test_whitespace_around_the_whole_secret_is_dropped(padded: str) -> None:
    # `echo token > file` and copy-paste leave a newline; it is never part of a token.
    assert parse_credentials(padded).access_token == TOKEN


def test_tokens_with_dashes_dots_and_underscores_are_accepted() -> None:
    assert parse_credentials("demo-token").access_token == "demo-token"
    assert parse_credentials("my_client.v2:test-token") == Credentials("test-token", "my_client.v2")


def test_the_token_stays_out_of_repr() -> None:
    shown = repr(parse_credentials(f"{CLIENT_ID}:{TOKEN}"))

    assert TOKEN not in shown
    assert CLIENT_ID in shown  # not a secret, and it helps tell API accounts apart


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", f"BIGCOMMERCE_ACCESS_TOKEN is empty; {EXPECTED}"),
        ("  \n", f"BIGCOMMERCE_ACCESS_TOKEN is empty; {EXPECTED}"),
        (
            f":{TOKEN}",
            f"BIGCOMMERCE_ACCESS_TOKEN is malformed: the client id (before ':') is empty; {EXPECTED}",
        ),
        (
            f"{CLIENT_ID}:",
            f"BIGCOMMERCE_ACCESS_TOKEN is malformed: the access token (after ':') is empty; {EXPECTED}",
        ),
        (
            f"{CLIENT_ID} :{TOKEN}",
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the client id (before ':') ends with whitespace; "
            f"{EXPECTED}",
        ),
        (
            f"{CLIENT_ID}: {TOKEN}",
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the access token (after ':') starts with whitespace; "
            f"{EXPECTED}",
        ),
        (
            f"{CLIENT_ID}:{TOKEN}:{TOKEN}",
            f"BIGCOMMERCE_ACCESS_TOKEN is malformed: it has 2 ':' separators; {EXPECTED} (one ':')",
        ),
        (
            f"{TOKEN[:4]} {TOKEN[4:]}",
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the access token contains whitespace at character 5 "
            f"of 32 (only letters, digits, '-', '_' and '.' are possible); {EXPECTED}",
        ),
        (
            f'{CLIENT_ID}:"{TOKEN}"',
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the access token (after ':') contains '\"' at character "
            f"1 of 33 (only letters, digits, '-', '_' and '.' are possible); {EXPECTED}",
        ),
        (
            f"{CLIENT_ID[:3]}é{CLIENT_ID[3:]}:{TOKEN}",
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the client id (before ':') contains a non-ASCII "
            f"character at character 4 of 32 (only letters, digits, '-', '_' and '.' are possible); {EXPECTED}",
        ),
        (
            f"{TOKEN}\x00{TOKEN}",
            "BIGCOMMERCE_ACCESS_TOKEN is malformed: the access token contains a control character at "
            f"character 32 of 63 (only letters, digits, '-', '_' and '.' are possible); {EXPECTED}",
        ),
        (
            f'{{"access_token": "{TOKEN}"}}',
            "BIGCOMMERCE_ACCESS_TOKEN looks like JSON; store the token itself (or ClientID:AccessToken) "
            "as the secret string",
        ),
    ],
)
def test_a_malformed_secret_names_the_part_and_the_reason(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_credentials(value)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "value",
    [
        f"{TOKEN}!",
        f"{CLIENT_ID}:{TOKEN} x",
        f"{CLIENT_ID}:{TOKEN}:{TOKEN}",
        f"{CLIENT_ID}\t:{TOKEN}",
        f"'{TOKEN}'",
        f'{{"token": "{TOKEN}"}}',
    ],
)
def test_no_message_shows_the_token(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_credentials(value)

    shown = str(caught.value)
    for fragment in (TOKEN, TOKEN[:8], TOKEN[-8:]):
        assert fragment not in shown


def test_the_setting_named_is_the_one_read() -> None:
    with pytest.raises(ConfigurationError, match=r"^MY_TOKEN is empty"):
        parse_credentials("", setting="MY_TOKEN")
