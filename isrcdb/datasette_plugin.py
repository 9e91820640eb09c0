"""The Datasette plugin (``pip install 'isrcdb[datasette]'``): an isrcdb cache opened in Datasette shows the product.

For every database that is an isrcdb cache (it has the view ``lookups`` and the table ``alembic_version``), and for
no other database of the same Datasette:

* the tables are hidden, so the database page shows the public views ``lookups`` and ``matches``; the tables stay
  reachable by their address and under "hidden tables";
* each view and each of its columns is described (from :mod:`isrcdb.schema_doc`, as in docs/schema.md);
* the saved queries of ``isrcdb query --saved`` (:data:`isrcdb.query.SAVED_QUERIES`) are canned queries, with their
  parameters: an empty parameter takes its default, as on the command line;
* every connection Datasette opens to it is ``PRAGMA query_only``, so nothing (not even another plugin) writes.

Caches are recognised once, when Datasette starts. Metadata given to Datasette (``-m metadata.json``) wins over
this plugin's. The plugin imports nothing from Datasette: its hooks are marked with pluggy, which Datasette uses.
"""

from __future__ import annotations

import re
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pluggy

from isrcdb.schema_doc import VIEWS

hookimpl = pluggy.HookimplMarker("datasette")

PARAM_FUNCTION = "isrcdb_param"
"""The SQL function that turns a canned query's parameter as typed into the value the query compares with."""

_IS_CACHE = (
    "SELECT count(*) FROM sqlite_master "
    "WHERE (type = 'view' AND name = 'lookups') OR (type = 'table' AND name = 'alembic_version')"
)

# Per running Datasette: the name of each database that is an isrcdb cache, with its tables (to hide).
_caches: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, ...]]] = weakref.WeakKeyDictionary()


def is_cache(conn: sqlite3.Connection) -> bool:
    """Whether ``conn`` is a connection to an isrcdb cache."""
    try:
        (count,) = conn.execute(_IS_CACHE).fetchone()
    except sqlite3.Error:
        return False
    return bool(count == 2)


def cache_tables(conn: sqlite3.Connection) -> tuple[str, ...] | None:
    """The tables of an isrcdb cache, or ``None`` when ``conn`` is not one."""
    if not is_cache(conn):
        return None
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return tuple(name for (name,) in rows)


def database_metadata(tables: tuple[str, ...]) -> dict[str, Any]:
    """Datasette metadata for one cache: a description, its views described column by column, its tables hidden."""
    described: dict[str, Any] = {
        view.name: {"description": view.plain(), "columns": {column.name: column.plain() for column in view.columns}}
        for view in VIEWS
    }
    hidden = {table: {"hidden": True} for table in tables if table not in described}
    return {
        "description": "An isrcdb cache of Spotify track metadata by ISRC. The views lookups (one row per ISRC) and "
        "matches (one row per ISRC and Spotify track) are the stable surface; the tables under them are hidden.",
        "tables": {**described, **hidden},
    }


def canned_query_definitions() -> dict[str, dict[str, Any]]:
    """The saved queries of ``isrcdb query --saved`` as Datasette canned queries."""
    from isrcdb.query import SAVED_QUERIES

    queries: dict[str, dict[str, Any]] = {}
    for saved in SAVED_QUERIES:
        sql, description = saved.sql, saved.description
        for parameter in saved.parameters:
            # A parameter is typed as on the command line (`7d`); the function turns it into what the SQL compares.
            call = f"{PARAM_FUNCTION}('{saved.name}', '{parameter.name}', :{parameter.name})"
            sql = re.sub(rf":{parameter.name}\b", call, sql)
            description += f" {parameter.name}: {parameter.description} (empty: {parameter.default})."
        queries[saved.name] = {
            "sql": sql,
            "title": saved.name.replace("_", " ").capitalize(),
            "description": description,
            "params": [parameter.name for parameter in saved.parameters],
        }
    return queries


def param_value(query: str, name: str, value: object) -> str | int | float | None:
    """The value of parameter ``name`` of the saved query ``query`` as typed in Datasette (empty: the default)."""
    from isrcdb.clock import utcnow
    from isrcdb.query import saved_query

    given = {} if value is None or str(value).strip() == "" else {name: value}
    bound = saved_query(query).bind(given, utcnow())[name]
    return bound if bound is None or isinstance(bound, str | int | float) else str(bound)


@hookimpl
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Any) -> None:
    if is_cache(conn):
        conn.execute("PRAGMA query_only = 1")
        conn.create_function(PARAM_FUNCTION, 3, param_value)


@hookimpl
def startup(datasette: Any) -> Callable[[], Awaitable[None]]:
    async def find_caches() -> None:
        found: dict[str, tuple[str, ...]] = {}
        for name, database in list(datasette.databases.items()):
            try:
                tables = await database.execute_fn(cache_tables)
            except sqlite3.Error:
                continue  # not readable as SQLite: not a cache, and Datasette will say why
            if tables is not None:
                found[name] = tables
        _caches[datasette] = found

    return find_caches


@hookimpl
def get_metadata(datasette: Any, key: str, database: str | None, table: str | None) -> dict[str, Any]:
    # Built afresh each time: Datasette merges the other metadata sources into what the hooks return.
    caches = _caches.get(datasette, {})
    return {"databases": {name: database_metadata(tables) for name, tables in caches.items()}}


@hookimpl
def canned_queries(datasette: Any, database: str, actor: Any) -> dict[str, dict[str, Any]] | None:
    return canned_query_definitions() if database in _caches.get(datasette, {}) else None
