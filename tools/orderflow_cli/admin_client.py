"""The admin API from the command line: a bearer token locally, SigV4-signed requests on AWS.

Used by every CLI command that changes the deployment (flows publish, bigcommerce items import, ...).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import requests

# The API answers within API Gateway's 30 s; a little more covers the network.
REQUEST_TIMEOUT = 35.0


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=os.environ.get("ORDERFLOW_API_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--token", default=os.environ.get("ADMIN_API_TOKEN"), help="bearer token (local API)")
    parser.add_argument(
        "--sigv4", metavar="REGION", help="sign requests with your AWS credentials (the API on AWS)"
    )


class ApiError(RuntimeError):
    pass


class AdminApi:
    """The admin API over HTTP: a bearer token locally, SigV4-signed requests on AWS."""

    def __init__(self, base: str, token: str | None = None, sigv4_region: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.region = sigv4_region
        self.session = requests.Session()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AdminApi:
        return cls(args.api, args.token, args.sigv4)

    def call(self, method: str, path: str, body: Any = None, allow: tuple[int, ...] = ()) -> Any:
        """The answer's JSON; None for a status in ``allow``; ApiError naming the API's message otherwise."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.region:
            headers.update(self._signed(method, self.base + path, data, headers))
        try:
            answer = self.session.request(
                method, self.base + path, data=data, headers=headers, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            raise ApiError(
                f"{method} {path}: the API at {self.base} did not answer ({type(exc).__name__})"
            ) from None
        if answer.status_code in allow:
            return None
        if answer.status_code >= 400:
            try:
                error = answer.json()["error"]
                detail = "; ".join(error.get("problems") or [error["message"]])
            except (ValueError, KeyError, TypeError):
                detail = answer.text[:300] or answer.reason
            raise ApiError(f"{method} {path} answered {answer.status_code}: {detail}")
        try:
            return answer.json()
        except ValueError:
            raise ApiError(f"{method} {path} answered {answer.status_code} without JSON") from None

    def _signed(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ApiError("--sigv4 needs AWS credentials (environment, profile or SSO)")
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", str(self.region)).add_auth(request)
        return dict(request.headers.items())
