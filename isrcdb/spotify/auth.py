"""Client-credentials access tokens, cached between runs in a private file.

The token file lives in the user cache directory, one per token endpoint and client id, mode 0600, written
atomically (a private temporary file renamed over the old one). A token is used until a minute before it expires;
on a 401 the caller invalidates it and asks once more. Neither the secret nor a token is ever logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from isrcdb.errors import AuthError, MissingCredentials, SpotifyError
from isrcdb.spotify.transport import Transport, error_message

log = logging.getLogger("isrcdb.spotify")

REFRESH_MARGIN = 60.0


class TokenProvider:
    """Hands out a valid bearer token, fetching a new one only when needed."""

    def __init__(
        self,
        transport: Transport,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        *,
        cache_dir: Path | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._now = now
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.cache_file: Path | None = None
        if cache_dir is not None and client_id:
            key = hashlib.sha256(f"{token_url}\n{client_id}".encode()).hexdigest()[:16]
            self.cache_file = cache_dir / f"token-{key}.json"
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def token(self) -> str:
        """A token valid for at least another minute."""
        with self._lock:
            if self._token and self._now() < self._expires_at - REFRESH_MARGIN:
                return self._token
            if self._read_cache():
                assert self._token is not None
                return self._token
            return self._fetch()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (after Spotify answered 401 to it), here and in the cache file."""
        with self._lock:
            if self._token == token:
                self._token = None
                self._expires_at = 0.0
                if self.cache_file is not None:
                    with contextlib.suppress(OSError):
                        self.cache_file.unlink()

    def _read_cache(self) -> bool:
        if self.cache_file is None:
            return False
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
            token, expires_at = data["access_token"], float(data["expires_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not isinstance(token, str) or self._now() >= expires_at - REFRESH_MARGIN:
            return False
        self._token, self._expires_at = token, expires_at
        return True

    def _fetch(self) -> str:
        if not (self._client_id and self._client_secret):
            raise MissingCredentials(
                "no Spotify credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the environment or in a "
                ".env file in the working directory (or use --offline to answer from the cache only)"
            )
        response = self._transport.request(
            "POST",
            self._token_url,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id, self._client_secret),
        )
        payload = response.payload if isinstance(response.payload, dict) else {}
        if response.status != 200:
            message, _ = error_message(payload)
            if response.status in (400, 401):
                raise AuthError(
                    f"Spotify refused the client credentials ({message or response.status}); check "
                    "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET",
                    status=response.status,
                )
            raise SpotifyError(
                f"the token endpoint answered {response.status} ({message or 'no detail'})", status=response.status
            )
        token = payload.get("access_token")
        token_type = payload.get("token_type")
        expires_in = payload.get("expires_in")
        if not isinstance(token, str) or not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthError("the token endpoint's answer has no bearer access_token")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token, self._expires_at = token, self._now() + lifetime
        self.tokens_fetched += 1
        log.debug("new access token, valid for %.0f s", lifetime)
        self._write_cache()
        return token

    def _write_cache(self) -> None:
        if self.cache_file is None or self._token is None:
            return
        try:
            write_private(
                self.cache_file,
                json.dumps({"access_token": self._token, "expires_at": self._expires_at, "token_url": self._token_url}),
            )
        except OSError as exc:
            # Caching is an optimisation: a read-only cache directory costs a token request per run, no more.
            log.warning("cannot cache the access token in %s: %s", self.cache_file.parent, exc.strerror)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (0600, directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
