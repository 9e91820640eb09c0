"""``POST /api/token``: the client-credentials grant and its exact error bodies."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica

FORM = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        pytest.param(FORM, basic("test-client-id", "test-client-secret"), id="basic-auth"),
        pytest.param({**FORM, "client_id": "test-client-id", "client_secret": "test-client-secret"}, {}, id="form"),
    ],
)
def test_valid_credentials_get_a_bearer_token(
    session: requests.Session, replica: SpotifyReplica, data: dict[str, str], headers: dict[str, str]
) -> None:
    response = session.post(replica.token_url, data=data, headers=headers, timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) > 50


@pytest.mark.parametrize(
    ("data", "headers", "expected"),
    [
        pytest.param(
            FORM,
            basic("someone-else", "test-client-secret"),
            {"error": "invalid_client", "error_description": "Invalid client"},
            id="unknown-client",
        ),
        pytest.param(
            FORM,
            basic("test-client-id", "wrong"),
            {"error": "invalid_client", "error_description": "Invalid client secret"},
            id="wrong-secret",
        ),
        pytest.param(
            {**FORM, "client_id": "test-client-id", "client_secret": "wrong"},
            {},
            {"error": "invalid_client", "error_description": "Invalid client secret"},
            id="wrong-secret-in-form",
        ),
        pytest.param(FORM, {}, {"error": "invalid_client"}, id="no-credentials"),
        pytest.param(FORM, {"Authorization": "Basic %%%not-base64"}, {"error": "invalid_client"}, id="bad-basic"),
        pytest.param(
            {},
            basic("test-client-id", "test-client-secret"),
            {"error": "unsupported_grant_type", "error_description": "grant_type parameter is missing"},
            id="no-grant-type",
        ),
        pytest.param(
            {"grant_type": "password"},
            basic("test-client-id", "test-client-secret"),
            {
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be client_credentials, authorization_code or refresh_token",
            },
            id="other-grant-type",
        ),
    ],
)
def test_token_errors_are_400_with_spotify_flat_bodies(
    session: requests.Session,
    replica: SpotifyReplica,
    data: dict[str, str],
    headers: dict[str, str],
    expected: dict[str, str],
) -> None:
    response = session.post(replica.token_url, data=data, headers=headers, timeout=5)

    assert response.status_code == 400
    assert response.json() == expected
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_configured_credentials_replace_the_defaults(
    session: requests.Session, make_replica: Callable[..., SpotifyReplica]
) -> None:
    replica = make_replica(client_id="my-app", client_secret="s3cret")

    accepted = session.post(replica.token_url, data=FORM, auth=("my-app", "s3cret"), timeout=5)
    refused = session.post(replica.token_url, data=FORM, auth=("test-client-id", "test-client-secret"), timeout=5)

    assert accepted.status_code == 200
    assert refused.json() == {"error": "invalid_client", "error_description": "Invalid client"}
    assert replica.env()["SPOTIFY_CLIENT_ID"] == "my-app"
    assert replica.env()["SPOTIFY_CLIENT_SECRET"] == "s3cret"


@pytest.mark.parametrize("expires_in", [0, 2, 3600])
def test_expires_in_is_configurable(
    session: requests.Session, make_replica: Callable[..., SpotifyReplica], expires_in: int
) -> None:
    replica = make_replica(token_expires_in=expires_in)

    body: dict[str, Any] = session.post(
        replica.token_url, data=FORM, auth=("test-client-id", "test-client-secret"), timeout=5
    ).json()

    assert body["expires_in"] == expires_in


def test_each_request_issues_a_new_token_and_counts_it(session: requests.Session, replica: SpotifyReplica) -> None:
    tokens = {
        session.post(replica.token_url, data=FORM, auth=("test-client-id", "test-client-secret"), timeout=5).json()[
            "access_token"
        ]
        for _ in range(3)
    }

    assert len(tokens) == 3
    assert replica.stats()["tokens_issued"] == 3
    assert replica.stats()["requests"]["token"] == 3


def test_token_endpoint_only_takes_post(session: requests.Session, replica: SpotifyReplica) -> None:
    response = session.get(replica.token_url, timeout=5)

    assert response.status_code == 405
    assert response.json() == {"error": {"status": 405, "message": "Method not allowed"}}
