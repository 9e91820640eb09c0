"""HTTP responses as values, and the JSON bodies and headers Spotify uses for them.

Every JSON response carries ``Content-Type: application/json; charset=utf-8``. Web API errors have the shape
``{"error": {"status": N, "message": "...", "reason"?: "..."}}`` and ``Cache-Control: private, max-age=0``; the
accounts service (token endpoint) answers errors with a flat ``{"error": "...", "error_description"?: "..."}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
SEARCH_CACHE_CONTROL = "public, max-age=7200"
TRACK_CACHE_CONTROL = "public, max-age=0"
ERROR_CACHE_CONTROL = "private, max-age=0"
WWW_AUTHENTICATE = 'Bearer realm="spotify", error="invalid_token"'

Headers = tuple[tuple[str, str], ...]

API_BASE = "https://api.spotify.com/v1"
"""The Web API base that stored objects' ``href`` fields name (Spotify's own, whatever the replica's address)."""


def artist_object(artist_id: str, name: str) -> dict[str, Any]:
    """A simplified artist object, as Spotify nests it in tracks and albums."""
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"{API_BASE}/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


@dataclass(frozen=True)
class Response:
    """A complete HTTP response: status, headers (without ``Content-Length``) and body bytes."""

    status: int
    body: bytes = b""
    headers: Headers = ()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if present."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII characters written as themselves (as Spotify does)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, payload: Any, *, cache_control: str | None = None, headers: Headers = ()) -> Response:
    """A JSON response with the given ``Cache-Control`` and extra headers."""
    all_headers: list[tuple[str, str]] = [("Content-Type", JSON_CONTENT_TYPE)]
    if cache_control is not None:
        all_headers.append(("Cache-Control", cache_control))
    all_headers.extend(headers)
    return Response(status, encode_json(payload), tuple(all_headers))


def api_error(status: int, message: str, *, reason: str | None = None, headers: Headers = ()) -> Response:
    """A Web API error: ``{"error": {"status": status, "message": message[, "reason": reason]}}``."""
    error: dict[str, Any] = {"status": status, "message": message}
    if reason is not None:
        error["reason"] = reason
    return json_response(status, {"error": error}, cache_control=ERROR_CACHE_CONTROL, headers=headers)


def accounts_error(error: str, description: str | None = None) -> Response:
    """A 400 from the accounts service: ``{"error": error[, "error_description": description]}``."""
    payload = {"error": error} if description is None else {"error": error, "error_description": description}
    return json_response(400, payload, cache_control=ERROR_CACHE_CONTROL)


def unauthorised() -> Response:
    """401 for a missing, unknown, revoked or expired bearer token."""
    return api_error(401, "Missing/invalid/expired access token", headers=(("WWW-Authenticate", WWW_AUTHENTICATE),))


def rate_limited(retry_after: int, *, quota: bool = False) -> Response:
    """429 with ``Retry-After``; the quota variant carries ``"reason": "QUOTA_EXCEEDED"``."""
    headers = (("Retry-After", str(retry_after)),)
    if quota:
        return api_error(429, "API quota exceeded", reason="QUOTA_EXCEEDED", headers=headers)
    return api_error(429, "API rate limit exceeded", headers=headers)
