"""The exception hierarchy of isrcdb.

Every foreseeable failure is one of these, with a message a person can act on; the library never prints. The
CLI turns them into ``Error: ...`` on stderr and its exit codes (:func:`isrcdb.cli.common.exit_code_for`): exit
codes belong to the command line, not to these classes.

A message that tells its reader which setting to change names it as the reader knows it: ``offline=True`` to a
caller of the Python API, ``--offline`` to a user of the command line. :func:`named` gives that wording; the CLI
installs its own with :func:`wording` for the time a command runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime

__all__ = [
    "AuthError",
    "BadResponse",
    "ConfigError",
    "DatabaseError",
    "InvalidIsrc",
    "IsrcdbError",
    "MissingCredentials",
    "OutputError",
    "QueryError",
    "QueryTimeout",
    "RateLimited",
    "SchemaTooNew",
    "SpotifyError",
    "TransientError",
    "UsageError",
    "ValueTooLarge",
    "WriteRefused",
]

LIBRARY_WORDING: Mapping[str, str] = {
    "choose database": "choose another database",
    "offline": "offline=True",
    "max_wait": "the max_wait",
    "timeout": "timeout=SECONDS",
    "output": "",
    "column": "column=",
    "credentials": "in the environment, or pass Settings(client_id=..., client_secret=...)",
}
"""How messages name settings to a caller of the Python API."""

_wording: ContextVar[Mapping[str, str]] = ContextVar("isrcdb_wording", default=LIBRARY_WORDING)


def named(key: str) -> str:
    """The words for the setting ``key`` in a message, as the current caller knows it (see :func:`wording`)."""
    return _wording.get().get(key, LIBRARY_WORDING[key])


@contextlib.contextmanager
def wording(words: Mapping[str, str]) -> Iterator[None]:
    """Name settings with ``words`` in the messages made inside the block (in this thread and context)."""
    token = _wording.set(words)
    try:
        yield
    finally:
        _wording.reset(token)


class IsrcdbError(Exception):
    """Base class of every isrcdb error."""


class UsageError(IsrcdbError):
    """Bad input or a bad combination of options."""


class ConfigError(UsageError):
    """A configuration value (environment, ``.env`` or option) is not valid."""


class InvalidIsrc(UsageError):
    """A code is not a valid ISRC; the message says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code!r} is not a valid ISRC: {reason}")
        self.code = code
        self.reason = reason


class DatabaseError(IsrcdbError):
    """The cache database cannot be opened, read or written."""


class SchemaTooNew(DatabaseError):
    """The database was made by a newer isrcdb; it is refused, never downgraded."""


class OutputError(IsrcdbError):
    """A file being written (an export) failed part way: a full disk, a device that refuses writes."""


class SpotifyError(IsrcdbError):
    """Spotify could not be reached, or refused, or answered something unusable."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MissingCredentials(SpotifyError):
    """No Spotify client id/secret is configured, yet Spotify must be asked."""


class AuthError(SpotifyError):
    """Spotify refused the client credentials or the access token."""


class RateLimited(SpotifyError):
    """Spotify answered 429; ``retry_after`` is the wait it asked for, in seconds."""

    def __init__(self, retry_after: float, *, quota: bool = False, resume_at: datetime | None = None) -> None:
        kind = "quota exceeded" if quota else "rate limited"
        super().__init__(f"Spotify {kind}: it asks to wait {retry_after:g} s", status=429)
        self.retry_after = retry_after
        self.quota = quota
        self.resume_at = resume_at


class TransientError(SpotifyError):
    """A 5xx answer, a dropped connection or a timeout: worth retrying a few times."""


class BadResponse(SpotifyError):
    """Spotify's answer could not be parsed (malformed, truncated or wrongly shaped JSON)."""


class QueryError(UsageError):
    """The SQL is wrong, or asks for something a read-only query cannot do."""


class WriteRefused(QueryError):
    """The statement would write (to the database or to any other file); it was refused before running."""


class QueryTimeout(QueryError):
    """The statement ran longer than its time limit and was stopped."""


def timeout_error(limit: float) -> QueryTimeout:
    """The error of a statement stopped at its time limit of ``limit`` seconds."""
    return QueryTimeout(
        f"the query ran for more than {limit:g} s and was stopped; give it longer with {named('timeout')} (0: no limit)"
    )


class ValueTooLarge(QueryError):
    """The statement would produce a value larger than the largest value a query may produce; it was stopped."""
