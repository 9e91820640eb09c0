"""isrcdb: a local caching lookup database that turns ISRCs into Spotify track metadata.

The public API is re-exported here lazily, so that ``import isrcdb`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["IsrcDB", "LookupResult", "Match", "__version__"]

if TYPE_CHECKING:
    from isrcdb.cache import IsrcDB, LookupResult, Match


def __getattr__(name: str) -> Any:
    if name in {"IsrcDB", "LookupResult", "Match"}:
        from isrcdb import cache

        return getattr(cache, name)
    raise AttributeError(f"module 'isrcdb' has no attribute {name!r}")
