"""isrcdb: a local caching lookup database that turns ISRCs into Spotify track metadata.

The public API is re-exported here lazily, so that ``import isrcdb`` stays cheap for the CLI. Everything named in
``__all__`` is public and documented in docs/api.md; anything else (modules and names not listed here, and names
with a leading underscore) may change without notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "IsrcDB": "isrcdb.cache",
    "LookupResult": "isrcdb.cache",
    "Status": "isrcdb.cache",
    "Source": "isrcdb.cache",
    "Match": "isrcdb.store",
    "Settings": "isrcdb.settings",
    "ImportReport": "isrcdb.importer",
    "InvalidLine": "isrcdb.importer",
    "SyncSummary": "isrcdb.sync",
    "IsrcdbError": "isrcdb.errors",
    "UsageError": "isrcdb.errors",
    "ConfigError": "isrcdb.errors",
    "InvalidIsrc": "isrcdb.errors",
    "DatabaseError": "isrcdb.errors",
    "SchemaTooNew": "isrcdb.errors",
    "OutputError": "isrcdb.errors",
    "SpotifyError": "isrcdb.errors",
    "MissingCredentials": "isrcdb.errors",
    "AuthError": "isrcdb.errors",
    "RateLimited": "isrcdb.errors",
    "TransientError": "isrcdb.errors",
    "BadResponse": "isrcdb.errors",
    "QueryError": "isrcdb.errors",
    "WriteRefused": "isrcdb.errors",
    "QueryTimeout": "isrcdb.errors",
    "ValueTooLarge": "isrcdb.errors",
}

__all__ = [
    "AuthError",
    "BadResponse",
    "ConfigError",
    "DatabaseError",
    "ImportReport",
    "InvalidIsrc",
    "InvalidLine",
    "IsrcDB",
    "IsrcdbError",
    "LookupResult",
    "Match",
    "MissingCredentials",
    "OutputError",
    "QueryError",
    "QueryTimeout",
    "RateLimited",
    "SchemaTooNew",
    "Settings",
    "Source",
    "SpotifyError",
    "Status",
    "SyncSummary",
    "TransientError",
    "UsageError",
    "ValueTooLarge",
    "WriteRefused",
    "__version__",
]

if TYPE_CHECKING:
    from isrcdb.cache import IsrcDB, LookupResult, Source, Status
    from isrcdb.errors import (
        AuthError,
        BadResponse,
        ConfigError,
        DatabaseError,
        InvalidIsrc,
        IsrcdbError,
        MissingCredentials,
        OutputError,
        QueryError,
        QueryTimeout,
        RateLimited,
        SchemaTooNew,
        SpotifyError,
        TransientError,
        UsageError,
        ValueTooLarge,
        WriteRefused,
    )
    from isrcdb.importer import ImportReport, InvalidLine
    from isrcdb.settings import Settings
    from isrcdb.store import Match
    from isrcdb.sync import SyncSummary


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'isrcdb' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
