"""Operators' sign-in on AWS, in the real browser: the console's SigV4 signatures are botocore's (so API
Gateway's AWS_IAM authorizer takes them as it takes the CLI's), and the Cognito sign-in — hosted UI with
PKCE, the identity pool's credentials, their renewal, the sign-out — runs against Cognito's endpoints
answered at the network by this test (no AWS account here)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from playwright.sync_api import Page, Route, expect

from orderflow_local.demo_store import DemoStore
from orderflow_local.runtime import LocalRuntime
from tests.browser.conftest import accessible, shoot
from tests.conftest import ADMIN_TOKEN, local_runtime

REGION = "us-east-1"
USER_POOL = "us-east-1_Operators"
CLIENT = "console-client-id"
DOMAIN = "orderflow-123456789012-0a1b2c3d.auth.us-east-1.amazoncognito.com"
IDENTITY_POOL = "us-east-1:00000000-0000-0000-0000-000000000000"
KEYS = Credentials(
    "ASIAEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token-of-the-operator"
)
API = "https://abc123defg.execute-api.us-east-1.amazonaws.com"
WHEN = datetime.datetime(2025, 1, 2, 3, 4, 5)


def botocore_headers(
    method: str, url: str, body: bytes, credentials: Credentials, when: datetime.datetime
) -> dict[str, str]:
    """What botocore (the CLI's signer) sends for this request at that time."""
    parts = urlsplit(url)
    request = AWSRequest(
        method=method,
        url=f"{parts.scheme}://{parts.netloc}{parts.path}",
        params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        data=body,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", lambda: when)
        botocore.auth.SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}


def browser_sigv4(page: Page, method: str, url: str, body: str) -> dict[str, str]:
    signed: dict[str, str] = page.evaluate(
        """async ([method, url, body, keys, when]) => {
            const { sigv4 } = await import("/console/auth.js");
            return sigv4({ method, url, body, credentials: keys, region: "us-east-1", date: new Date(when) });
        }""",
        [
            method,
            url,
            body,
            {"accessKeyId": KEYS.access_key, "secretAccessKey": KEYS.secret_key, "sessionToken": KEYS.token},
            WHEN.isoformat() + "Z",
        ],
    )
    return signed


def test_the_console_signs_like_botocore(runtime: LocalRuntime, page: Page) -> None:
    # Given the console's own origin in the browser
    page.goto(f"{runtime.api_url}/console/index.html")

    # When a GET with a query (as the pages write one: URLSearchParams, "+" for a space, unsorted) and
    # a POST with a JSON body (not only ASCII) are signed there, and by botocore
    query = {"status": "on_hold", "flow": "Default order flow", "search": "BC-1/2 (copy)*", "limit": "20"}
    get_url = f"{API}/orders/BC%3A100/step-results?{urlencode(query)}"
    post_url = f"{API}/orders/BC-100/resubmit"
    body = json.dumps({"from_step": "Validate header", "note": "café ✓"}, ensure_ascii=False)
    signed_get = browser_sigv4(page, "GET", get_url, "")
    signed_post = browser_sigv4(page, "POST", post_url, body)
    expected_get = botocore_headers("GET", get_url, b"", KEYS, WHEN)
    expected_post = botocore_headers("POST", post_url, body.encode(), KEYS, WHEN)

    # Then the browser sends the same Authorization, date and session token as botocore
    for signed, expected in [(signed_get, expected_get), (signed_post, expected_post)]:
        assert signed["Authorization"] == expected["Authorization"]
        assert signed["X-Amz-Date"] == expected["X-Amz-Date"] == "20250102T030405Z"
        assert signed["X-Amz-Security-Token"] == expected["X-Amz-Security-Token"] == KEYS.token
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in signed_get["Authorization"]


# ---------------------------------------------------------------- the sign-in, with Cognito answering


@pytest.fixture
def cognito_runtime(store: DemoStore) -> Iterator[LocalRuntime]:
    """The local runtime with its console configured as the stack configures it on AWS."""
    with local_runtime(
        store,
        CONSOLE_USER_POOL_ID=USER_POOL,
        CONSOLE_USER_POOL_CLIENT_ID=CLIENT,
        CONSOLE_AUTH_DOMAIN=DOMAIN,
        CONSOLE_IDENTITY_POOL_ID=IDENTITY_POOL,
    ) as local:
        yield local


class Cognito:
    """The hosted UI, the token endpoint and the identity pool, answered in the browser's network: what
    they were asked is kept, and each answer is what Cognito answers."""

    def __init__(self, page: Page, refuse: bool = False) -> None:
        self.refuse = refuse
        self.authorize: list[dict[str, str]] = []
        self.tokens: list[dict[str, str]] = []
        self.identity: list[tuple[str, dict[str, Any]]] = []
        self.revoked: list[dict[str, str]] = []
        self.logout: list[dict[str, str]] = []
        self.issued: list[Credentials] = []
        page.route(f"https://{DOMAIN}/**", self._hosted_ui)
        page.route(f"https://cognito-identity.{REGION}.amazonaws.com/**", self._identity_pool)

    @staticmethod
    def _cors(route: Route, status: int = 200, body: Any = None) -> None:
        route.fulfill(
            status=status,
            headers={
                "access-control-allow-origin": "*",
                "access-control-allow-headers": "content-type, x-amz-target, x-amz-user-agent",
                "access-control-allow-methods": "POST, OPTIONS",
                "content-type": "application/json",
            },
            body=json.dumps(body) if body is not None else "",
        )

    def _hosted_ui(self, route: Route) -> None:
        request = route.request
        parts = urlsplit(request.url)
        if request.method == "OPTIONS":
            return self._cors(route, 204)
        if parts.path == "/oauth2/authorize":
            asked = dict(parse_qsl(parts.query))
            self.authorize.append(asked)
            answer = {"error": "access_denied", "error_description": "User is disabled."} if self.refuse else {
                "code": f"code-{len(self.authorize)}", "state": asked["state"]
            }  # fmt: skip
            return route.fulfill(
                status=302, headers={"location": f"{asked['redirect_uri']}?{urlencode(answer)}"}
            )
        if parts.path == "/oauth2/token":
            form = dict(parse_qsl(request.post_data or ""))
            self.tokens.append(form)
            n = len(self.tokens)
            return self._cors(route, 200, {"id_token": f"id-token-{n}", "access_token": f"access-{n}",
                                           "refresh_token": "refresh-1", "expires_in": 3600})  # fmt: skip
        if parts.path == "/oauth2/revoke":
            self.revoked.append(dict(parse_qsl(request.post_data or "")))
            return self._cors(route, 200, {})
        if parts.path == "/logout":
            self.logout.append(dict(parse_qsl(parts.query)))
            return route.fulfill(status=200, content_type="text/html", body="<title>Signed out</title>")
        return route.fulfill(status=404)

    def _identity_pool(self, route: Route) -> None:
        request = route.request
        if request.method == "OPTIONS":
            return self._cors(route, 204)
        action = request.headers["x-amz-target"].split(".")[-1]
        payload = json.loads(request.post_data or "{}")
        self.identity.append((action, payload))
        if action == "GetId":
            return self._cors(route, 200, {"IdentityId": "us-east-1:operator-identity"})
        # The first credentials are about to expire, so the console renews them at its first call.
        lifetime = 60 if not self.issued else 3600
        keys = Credentials(f"ASIAOPERATOR{len(self.issued) + 1}", f"secret-{len(self.issued) + 1}", "token")
        self.issued.append(keys)
        return self._cors(route, 200, {"IdentityId": payload["IdentityId"], "Credentials": {
            "AccessKeyId": keys.access_key, "SecretKey": keys.secret_key, "SessionToken": keys.token,
            "Expiration": int(time.time()) + lifetime}})  # fmt: skip


class SignedApi:
    """API Gateway's AWS_IAM check in front of the local runtime: each admin call must carry botocore's
    signature for the credentials the identity pool gave last; it then reaches the runtime with the
    admin token the local runtime takes."""

    def __init__(self, page: Page, runtime: LocalRuntime, cognito: Cognito) -> None:
        self.cognito = cognito
        self.calls: list[tuple[str, bool]] = []
        page.route(f"{runtime.api_url}/**", self._check)

    def _check(self, route: Route) -> None:
        request = route.request
        if urlsplit(request.url).path.startswith("/console"):
            return route.continue_()
        headers = request.headers
        when = datetime.datetime.strptime(headers.get("x-amz-date", "19700101T000000Z"), "%Y%m%dT%H%M%SZ")
        keys = self.cognito.issued[-1]
        expected = botocore_headers(request.method, request.url, request.post_data_buffer or b"", keys, when)
        ok = (
            headers.get("authorization") == expected["Authorization"]
            and headers.get("x-amz-security-token") == keys.token
        )
        self.calls.append((f"{request.method} {urlsplit(request.url).path}", ok))
        if not ok:
            return route.fulfill(status=403, content_type="application/json", body='{"message":"Forbidden"}')
        forwarded = {k: v for k, v in headers.items() if not k.startswith("x-amz-")}
        return route.continue_(headers={**forwarded, "authorization": f"Bearer {ADMIN_TOKEN}"})


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_an_operator_signs_in_with_cognito_and_every_call_is_signed(
    cognito_runtime: LocalRuntime, page: Page
) -> None:
    # Given the console configured for the stack's user pool, and Cognito answering
    cognito = Cognito(page)
    api = SignedApi(page, cognito_runtime, cognito)
    console = f"{cognito_runtime.api_url}/console/index.html"

    # When an operator opens a page of the console
    with page.expect_response(
        lambda r: "/console" not in r.url and r.url.startswith(cognito_runtime.api_url)
    ):
        page.goto(f"{console}#/health")

    # Then they went through the hosted UI with PKCE, came back to the page they asked for (the
    # code gone from the address), and the page shows
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page).to_have_url(f"{console}#/health")
    (asked,) = cognito.authorize
    assert asked["client_id"] == CLIENT and asked["redirect_uri"] == console
    assert asked["response_type"] == "code" and asked["scope"] == "openid email profile"
    assert asked["code_challenge_method"] == "S256"
    exchange, renewal = cognito.tokens[0], cognito.tokens[1]
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == "code-1"
    assert _challenge(exchange["code_verifier"]) == asked["code_challenge"]
    assert exchange["redirect_uri"] == console and "client_secret" not in exchange

    # And the identity pool gave credentials for the ID token; they were renewed with the refresh
    # token before they expired, and every admin call was signed with the renewed ones
    login = {f"cognito-idp.{REGION}.amazonaws.com/{USER_POOL}": "id-token-1"}
    assert cognito.identity[0] == ("GetId", {"IdentityPoolId": IDENTITY_POOL, "Logins": login})
    assert cognito.identity[1][0] == "GetCredentialsForIdentity"
    assert renewal == {"grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": "refresh-1"}
    assert cognito.identity[2][1]["Logins"] == {
        f"cognito-idp.{REGION}.amazonaws.com/{USER_POOL}": "id-token-2"
    }
    assert len(cognito.issued) == 2
    assert api.calls and all(ok for _, ok in api.calls), api.calls
    shoot(page, "signed-in-with-cognito")
    accessible(page)

    # When the operator signs out
    with page.expect_response(lambda r: r.url.startswith(f"https://{DOMAIN}/logout")):
        page.get_by_role("button", name="Sign out").click()

    # Then the refresh token is revoked and the hosted UI forgets the sign-in, coming back to the console
    assert cognito.revoked == [{"token": "refresh-1", "client_id": CLIENT}]
    assert cognito.logout[-1] == {"client_id": CLIENT, "logout_uri": console}


def test_a_refused_sign_in_is_said_and_can_be_tried_again(cognito_runtime: LocalRuntime, page: Page) -> None:
    # Given a hosted UI that refuses the operator
    cognito = Cognito(page, refuse=True)

    # When they open the console
    page.goto(f"{cognito_runtime.api_url}/console/index.html")

    # Then the console says why, with nothing signed in, and offers to try again
    expect(page.get_by_role("alert")).to_contain_text("User is disabled.")
    expect(page.get_by_role("button", name="Sign in again")).to_be_focused()
    assert cognito.tokens == [] and "code=" not in page.url and "error=" not in page.url
    shoot(page, "sign-in-refused")
    accessible(page)

    # When they try again, the hosted UI is asked once more
    with page.expect_response(lambda r: r.url.startswith(f"https://{DOMAIN}/oauth2/authorize")):
        page.get_by_role("button", name="Sign in again").click()
    assert len(cognito.authorize) == 2
