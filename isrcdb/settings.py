"""Resolved configuration: environment variables, a ``.env`` file in the working directory, then options.

Real environment variables win over the ``.env`` file; explicit overrides (command-line options) win over both.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from isrcdb.clock import parse_duration
from isrcdb.errors import ConfigError

DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_TOKEN_URL = "https://accounts.spotify.com/api/token"  # noqa: S105 - a URL, not a secret

ENV_VARS = {
    "SPOTIFY_CLIENT_ID": "the Spotify app's client id (CLIENT_ID is accepted too)",
    "SPOTIFY_CLIENT_SECRET": "the Spotify app's client secret (CLIENT_SECRET is accepted too)",
    "ISRCDB_DATABASE": "the cache database: a file path, an sqlite:/// URL or a postgresql:// URL",
    "ISRCDB_QUERY_DATABASE": "for isrcdb query only: the database URL of a read-only role (default: ISRCDB_DATABASE)",
    "ISRCDB_TTL": "how long a found result stays fresh (default 30d)",
    "ISRCDB_NOT_FOUND_TTL": "how long a not-found result stays fresh (default 7d)",
    "ISRCDB_SPOTIFY_API_URL": f"the Web API base (default {DEFAULT_API_URL})",
    "ISRCDB_SPOTIFY_TOKEN_URL": f"the token endpoint (default {DEFAULT_TOKEN_URL})",
    "ISRCDB_MARKET": "optional market (ISO 3166-1 alpha-2) for searches",
    "ISRCDB_MAX_WAIT": "the longest wait for Spotify's rate limit before stopping (default 60s)",
    "ISRCDB_CONNECT_TIMEOUT": "seconds to wait for a connection to Spotify (default 5s)",
    "ISRCDB_READ_TIMEOUT": "seconds to wait for Spotify's answer (default 30s)",
    "ISRCDB_REQUEST_DEADLINE": "the longest one request to Spotify may take, whole answer included (default 60s)",
    "ISRCDB_CONCURRENCY": "requests in flight at once during sync (default 8)",
    "ISRCDB_RATE_LIMIT": "a ceiling on requests per ISRCDB_RATE_WINDOW, if you know your app's limit (default: learnt)",
    "ISRCDB_RATE_WINDOW": "the length of Spotify's rolling rate-limit window (default 30s)",
    "ISRCDB_CACHE_DIR": "where the access token is cached (default: the user cache directory)",
    "ISRCDB_CLAIM_LEASE": "how long a sync's claim on a code lasts before another may take it over (default 5m)",
    "ISRCDB_HOST_ID": "the name a machine's claims carry in a shared cache (default: the host name)",
}


def default_database_path() -> Path:
    """``<user data dir>/isrcdb/isrcdb.sqlite3``."""
    from platformdirs import user_data_path

    return user_data_path("isrcdb", appauthor=False) / "isrcdb.sqlite3"


def default_cache_dir() -> Path:
    """The user cache directory of isrcdb, where the token file lives."""
    from platformdirs import user_cache_path

    return user_cache_path("isrcdb", appauthor=False)


def app_key(token_url: str, client_id: str) -> str:
    """The name of a Spotify app in isrcdb's files and tables: a digest of its token endpoint and client id, so
    that the id itself is written nowhere."""
    return hashlib.sha256(f"{token_url}\n{client_id}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def database_path(value: str | os.PathLike[str]) -> Path | str:
    """A database given as a path or an SQLAlchemy SQLite URL, as a file path; a ``postgresql://`` URL as it is."""
    text = os.fspath(value)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() in ("postgresql", "postgres", "postgresql+psycopg"):
            if not rest.strip("/"):
                raise ConfigError("a PostgreSQL URL must name a server and a database: postgresql://USER@HOST/DBNAME")
            return text
        if scheme.split("+")[0] != "sqlite":
            raise ConfigError(
                f"the database must be an SQLite file or a postgresql:// URL: {scheme}:// URLs are not supported"
            )
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ConfigError(
                "an SQLite URL must name a file: write sqlite:///relative/path or sqlite:////absolute/path"
            )
        # A URL's path is percent-encoded (as SQLAlchemy writes it): sqlite:///a%3Fb.db names the file a?b.db.
        text = unquote(rest[1:].split("?", 1)[0])
    if not text.strip():
        raise ConfigError("the database path is empty")
    return Path(text).expanduser()


MAX_DURATION = timedelta(days=36500)
"""The longest duration a setting may have (a hundred years): any longer would put expiry dates past year 9999."""


def _duration(name: str, text: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except OverflowError:  # a number too large for a timedelta
        value = MAX_DURATION * 2
    if value > MAX_DURATION:
        raise ConfigError(f"{name}: {text!r} is too long (at most {MAX_DURATION.days} days)")
    return value


def _seconds(name: str, text: str) -> float:
    value = _duration(name, text).total_seconds()
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything isrcdb needs to know to run, resolved once."""

    database: Path | str = field(default_factory=default_database_path, repr=False)
    """The cache: a file path, or a ``postgresql://`` URL (left out of the ``repr``: it may hold a password)."""
    query_database: str | None = field(default=None, repr=False)
    """For ``isrcdb query``: another URL of the same PostgreSQL database, for a role that may only read."""
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    ttl: timedelta = timedelta(days=30)
    not_found_ttl: timedelta = timedelta(days=7)
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    market: str | None = None
    max_wait: float = 60.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    request_deadline: float = 60.0
    concurrency: int = 8
    rate_limit: int | None = None
    rate_window: float = 30.0
    claim_lease: timedelta = timedelta(minutes=5)
    """How long a sync's claim on a code lasts unless renewed: a dead sync's codes are taken over after it."""
    cache_dir: Path | None = None
    """Where the token is cached; ``None`` means the user cache directory (see :attr:`token_dir`)."""

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def app(self) -> str | None:
        """The Spotify app in use (:func:`app_key`), ``None`` without a client id."""
        return app_key(self.token_url, self.client_id) if self.client_id else None

    @property
    def token_dir(self) -> Path:
        """The directory of the token cache file (the user cache directory unless ``cache_dir`` is set)."""
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    def with_options(
        self,
        *,
        database: str | os.PathLike[str] | None = None,
        query_database: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        ttl: timedelta | None = None,
        not_found_ttl: timedelta | None = None,
        api_url: str | None = None,
        token_url: str | None = None,
        market: str | None = None,
        max_wait: float | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        request_deadline: float | None = None,
        concurrency: int | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        claim_lease: timedelta | None = None,
        cache_dir: Path | None = None,
    ) -> Settings:
        """A copy with the settings that were given (``None`` means not given); ``database`` may be a path or a
        URL, as ``ISRCDB_DATABASE``."""
        given = _given(locals())
        return replace(self, **given)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        overrides: Mapping[str, object] | None = None,
    ) -> Settings:
        """Read the environment (``os.environ`` by default) and ``.env`` in the working directory, as the command
        line does; ``overrides`` (values of :meth:`with_options`' names, ``None`` meaning not given) win over both."""
        env = dict(os.environ if environ is None else environ)
        dotenv_file = (cwd or Path.cwd()) / ".env"
        if dotenv_file.is_file():
            env = {**read_dotenv(dotenv_file), **env}
        return cls.from_mapping(env, overrides=overrides)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str], *, overrides: Mapping[str, object] | None = None) -> Settings:
        """Settings from a mapping of variable names to values (unknown names are ignored), then ``overrides``.

        Defaults that cost something to compute (the platform's data directory) are computed only when needed.
        """

        def get(*names: str) -> str | None:
            for name in names:
                value = env.get(name)
                if value is not None and value.strip() != "":
                    return value.strip()
            return None

        values: dict[str, Any] = {
            "client_id": get("SPOTIFY_CLIENT_ID", "CLIENT_ID"),
            "client_secret": get("SPOTIFY_CLIENT_SECRET", "CLIENT_SECRET"),
        }
        if (db := get("ISRCDB_DATABASE")) is not None:
            values["database"] = database_path(db)
        if (query_db := get("ISRCDB_QUERY_DATABASE")) is not None:
            values["query_database"] = str(database_path(query_db))
        if (ttl := get("ISRCDB_TTL")) is not None:
            values["ttl"] = _duration("ISRCDB_TTL", ttl)
        if (nf := get("ISRCDB_NOT_FOUND_TTL")) is not None:
            values["not_found_ttl"] = _duration("ISRCDB_NOT_FOUND_TTL", nf)
        if (api := get("ISRCDB_SPOTIFY_API_URL")) is not None:
            values["api_url"] = api.rstrip("/")
        if (token := get("ISRCDB_SPOTIFY_TOKEN_URL")) is not None:
            values["token_url"] = token
        if (market := get("ISRCDB_MARKET")) is not None:
            values["market"] = check_market(market)
        if (wait := get("ISRCDB_MAX_WAIT")) is not None:
            values["max_wait"] = _duration("ISRCDB_MAX_WAIT", wait).total_seconds()
        if (ct := get("ISRCDB_CONNECT_TIMEOUT")) is not None:
            values["connect_timeout"] = _seconds("ISRCDB_CONNECT_TIMEOUT", ct)
        if (rt := get("ISRCDB_READ_TIMEOUT")) is not None:
            values["read_timeout"] = _seconds("ISRCDB_READ_TIMEOUT", rt)
        if (deadline := get("ISRCDB_REQUEST_DEADLINE")) is not None:
            values["request_deadline"] = _seconds("ISRCDB_REQUEST_DEADLINE", deadline)
        if (conc := get("ISRCDB_CONCURRENCY")) is not None:
            values["concurrency"] = check_concurrency(conc)
        if (rate := get("ISRCDB_RATE_LIMIT")) is not None:
            values["rate_limit"] = check_rate_limit(rate)
        if (window := get("ISRCDB_RATE_WINDOW")) is not None:
            values["rate_window"] = _seconds("ISRCDB_RATE_WINDOW", window)
        if (lease := get("ISRCDB_CLAIM_LEASE")) is not None:
            values["claim_lease"] = timedelta(seconds=_seconds("ISRCDB_CLAIM_LEASE", lease))
        if (cache := get("ISRCDB_CACHE_DIR")) is not None:
            values["cache_dir"] = Path(cache).expanduser()
        return cls(**{**values, **_given(overrides or {})})


_FIELDS = frozenset(
    (
        "database query_database client_id client_secret ttl not_found_ttl api_url token_url market max_wait "
        "connect_timeout read_timeout request_deadline concurrency rate_limit rate_window claim_lease cache_dir"
    ).split()
)


def _given(values: Mapping[str, object]) -> dict[str, Any]:
    """The settings among ``values`` that were given (not ``None``), the database made a path or URL."""
    unknown = sorted(set(values) - _FIELDS - {"self"})
    if unknown:
        raise ConfigError(f"there is no setting {unknown[0]!r}")
    given: dict[str, Any] = {key: value for key, value in values.items() if value is not None and key != "self"}
    if "database" in given:
        given["database"] = database_path(given["database"])
    return given


def check_market(value: str) -> str:
    """An ISO 3166-1 alpha-2 market code, upper-cased, or :class:`ConfigError`."""
    market = value.strip().upper()
    if len(market) != 2 or not market.isalpha() or not market.isascii():
        raise ConfigError(f"ISRCDB_MARKET must be a two-letter country code such as US or GB, not {value!r}")
    return market


def check_rate_limit(value: str | int) -> int:
    """A rate limit of at least 1 request per window, or :class:`ConfigError`."""
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"ISRCDB_RATE_LIMIT must be a whole number of requests, not {value!r}") from None
    if number < 1:
        raise ConfigError(f"ISRCDB_RATE_LIMIT must be at least 1, not {number}")
    return number


def check_concurrency(value: str | int) -> int:
    """A concurrency between 1 and 32, or :class:`ConfigError`."""
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"ISRCDB_CONCURRENCY must be a whole number, not {value!r}") from None
    if not 1 <= number <= 32:
        raise ConfigError(f"the concurrency must be between 1 and 32, not {number}")
    return number


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables a ``.env`` file sets (python-dotenv's parser; variables without a value are skipped)."""
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8-sig")  # a byte-order mark is not a name
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return {key: value for key, value in values.items() if value is not None}
