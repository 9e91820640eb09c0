"""Client-credentials access tokens, cached between runs in a private file.

The token file lives in the user cache directory, one per token endpoint and client id, mode 0600, written
atomically (a private temporary file renamed over the old one). A token is used until a minute before it expires;
on a 401 the caller invalidates it and asks once more. Neither the secret nor a token is ever logged.

Nothing is taken on trust. A token that is not plain visible ASCII is refused (it would go into a header, where a
line break starts another header) and never shown; an ``expires_in`` is held to a sane range; the client id and
secret must be printable ASCII. The cache directory is made the user's own (0700) or not used; a token file is read
only if it is a small regular file of the user's that no one else may read or write, and it is looked at with
``lstat`` before it is opened, without following a link and without blocking, so that a FIFO or a device put in
its place is never opened.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from isrcdb.errors import AuthError, MissingCredentials, SpotifyError, named
from isrcdb.settings import app_key
from isrcdb.spotify.transport import Transport, error_message

log = logging.getLogger("isrcdb.spotify")

REFRESH_MARGIN = 60.0
DEFAULT_TOKEN_LIFETIME = 3600.0
"""What a token without a usable ``expires_in`` is taken to last (Spotify's tokens last an hour)."""
MIN_TOKEN_LIFETIME = 300.0
"""The shortest lifetime believed: any shorter (0, negative, under the refresh margin) would mean a new token for
every search. A token that really has expired is answered 401, renewed once, and the run stops if that fails too."""
MAX_TOKEN_LIFETIME = 86400.0
"""The longest lifetime believed (10^400, Infinity): a day, so that a token is asked for again at least daily."""
MAX_TOKEN_LENGTH = 4096
MAX_TOKEN_FILE = 64 * 1024
"""The largest token cache file read: the one isrcdb writes is a few hundred bytes."""

_PLAIN = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: what a bearer token may hold (a header carries nothing else, and a token has no spaces)."""
_PRINTABLE = re.compile(r"[\x20-\x7e]+")
"""Printable ASCII: what a client id and a secret may hold (requests would raise on anything else in Basic auth)."""


def token_lifetime(expires_in: object) -> float:
    """Seconds to use a new token for: ``expires_in`` held within the range above; not a number means an hour."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in != expires_in:  # NaN
        return DEFAULT_TOKEN_LIFETIME
    # Compared before any conversion: float(10**400) would raise OverflowError.
    return float(min(max(expires_in, MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME))


def is_plain_token(value: object) -> bool:
    """Whether ``value`` can be sent as a bearer token: visible ASCII, no spaces, not empty, not absurdly long."""
    return isinstance(value, str) and len(value) <= MAX_TOKEN_LENGTH and _PLAIN.fullmatch(value) is not None


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
            # surrogatepass: an id read from undecodable bytes in the environment must not crash here
            key = app_key(token_url, client_id)
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
            private_directory(self.cache_file.parent, create=False)
        except OSError:
            return False
        text = read_private(self.cache_file)
        if text is None:
            return False
        try:
            data = json.loads(text)
            token, expires_at = data["access_token"], float(data["expires_at"])
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
            return False
        now = self._now()
        if not is_plain_token(token) or not math.isfinite(expires_at):
            return False
        if not now + REFRESH_MARGIN < expires_at <= now + MAX_TOKEN_LIFETIME:
            return False
        self._token, self._expires_at = token, expires_at
        return True

    def _fetch(self) -> str:
        if not (self._client_id and self._client_secret):
            raise MissingCredentials(
                f"no Spotify credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET {named('credentials')} "
                f"(or use {named('offline')} to answer from the cache only)"
            )
        for name, value in (("SPOTIFY_CLIENT_ID", self._client_id), ("SPOTIFY_CLIENT_SECRET", self._client_secret)):
            if not _PRINTABLE.fullmatch(value):
                # Never shown: it may be the secret.
                raise AuthError(
                    f"{name} holds a character that is not printable ASCII (a control character or a non-ASCII "
                    f"letter); Spotify's client ids and secrets are letters and digits: check {name}"
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
        if not token or not isinstance(token, str) or not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthError("the token endpoint's answer has no bearer access_token")
        if not is_plain_token(token):
            # Its text is never shown: a token is a secret, and this one may hold line breaks or terminal controls.
            what = (
                f"{len(token)} characters long (at most {MAX_TOKEN_LENGTH})"
                if len(token) > MAX_TOKEN_LENGTH
                else "holding characters a header cannot carry (a space, a line break, a control character or "
                "non-ASCII)"
            )
            raise AuthError(f"the token endpoint sent a bad answer: an access token {what}; it was not used")
        lifetime = token_lifetime(expires_in)
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


def private_directory(path: Path, *, create: bool) -> None:
    """Make sure ``path`` is a directory of this user's that only they can use: made 0700 if ``create`` and it is
    missing, an existing one tightened to 0700. One of another user's, one shared by design (the sticky bit, as on
    ``/tmp``: tightening it would lock others out), or something else raises :class:`OSError`."""
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.stat(path)  # follows a symbolic link: a cache directory may well be one
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "it is not a directory", str(path))
    if info.st_uid != os.geteuid():
        raise PermissionError(errno.EPERM, "it belongs to another user", str(path))
    if info.st_mode & stat.S_ISVTX:
        raise PermissionError(errno.EPERM, "it is a shared directory (sticky bit); name a private one", str(path))
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)


def read_private(path: Path, limit: int = MAX_TOKEN_FILE) -> str | None:
    """The text of ``path`` if it is a regular file of this user's, 0600 or stricter, at most ``limit`` bytes;
    otherwise (missing, anything else, unreadable, not UTF-8) ``None``."""
    try:
        seen = os.lstat(path)
        if not _private_file(seen, limit):
            return None  # a FIFO, a device, a link, a directory, another user's file: never opened
        # O_NOFOLLOW and O_NONBLOCK in case something else was put there since: opening a FIFO never waits.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        opened = os.fstat(fd)
        if not _private_file(opened, limit) or (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
            return None
        data = b""
        while len(data) <= limit:  # the size seen may grow while it is read
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _private_file(info: os.stat_result, limit: int) -> bool:
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == os.geteuid()
        and not stat.S_IMODE(info.st_mode) & 0o077
        and info.st_size <= limit
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (0600, directory 0700).

    Whatever was at ``path`` (another user's file, a FIFO, a link) is replaced, never written through."""
    private_directory(path.parent, create=True)
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
