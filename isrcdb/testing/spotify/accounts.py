"""The accounts service: ``POST /api/token`` with the client-credentials grant.

Credentials come from ``Authorization: Basic base64(id:secret)`` or, failing that, from the form fields
``client_id``/``client_secret``. Checks run in this order, each failing with a flat 400 body:

1. no ``grant_type``: ``{"error":"unsupported_grant_type","error_description":"grant_type parameter is missing"}``
   (another grant type: ``... "grant_type must be client_credentials, authorization_code or refresh_token"``);
2. no credentials (or an undecodable Basic header): ``{"error":"invalid_client"}``;
3. unknown client id: ``{"error":"invalid_client","error_description":"Invalid client"}``;
4. wrong secret: ``{"error":"invalid_client","error_description":"Invalid client secret"}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import parse_qs

from isrcdb.testing.spotify.responses import Response, accounts_error, json_response
from isrcdb.testing.spotify.tokens import TokenStore


class Accounts:
    """Issues tokens to the one configured client."""

    def __init__(self, client_id: str, client_secret: str, tokens: TokenStore, expires_in: int) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens = tokens
        self.expires_in = expires_in

    def token(self, body: bytes, authorization: str | None) -> tuple[Response, bool]:
        """Answer a token request; the flag says whether a token was issued."""
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        grant_type = _first(form, "grant_type")
        if not grant_type:
            return accounts_error("unsupported_grant_type", "grant_type parameter is missing"), False
        if grant_type != "client_credentials":
            description = "grant_type must be client_credentials, authorization_code or refresh_token"
            return accounts_error("unsupported_grant_type", description), False
        credentials = _credentials(form, authorization)
        if credentials is None:
            return accounts_error("invalid_client"), False
        client_id, client_secret = credentials
        if client_id != self.client_id:
            return accounts_error("invalid_client", "Invalid client"), False
        if client_secret != self.client_secret:
            return accounts_error("invalid_client", "Invalid client secret"), False
        token = self.tokens.issue(self.expires_in)
        payload = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        return json_response(200, payload), True


def _credentials(form: Mapping[str, list[str]], authorization: str | None) -> tuple[str, str] | None:
    if authorization:
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, client_secret = decoded.partition(":")
        return (client_id, client_secret) if colon and client_id else None
    form_id = _first(form, "client_id")
    if not form_id:
        return None
    return form_id, _first(form, "client_secret") or ""


def _first(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None
