"""Reading and writing a test's cache directly, whichever database holds it: an SQLite file or PostgreSQL.

Tests check what isrcdb stored with plain SQL on its tables, the same on both databases (the tables are the same;
timestamps are stored as text on both). Statements use ``?`` placeholders, as ``sqlite3`` does.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

Location = Path | str


def is_postgresql(location: Location) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def rows(location: Location, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the cache at ``location``."""
    if is_postgresql(location):
        import psycopg

        with contextlib.closing(psycopg.connect(str(location), autocommit=True)) as conn:
            return [tuple(row) for row in conn.execute(_pg(sql), params).fetchall()]  # type: ignore[arg-type]
    with contextlib.closing(sqlite3.connect(location)) as conn:
        return conn.execute(sql, params).fetchall()


def execute(location: Location, sql: str, *params: Any) -> None:
    """Run one statement on the cache at ``location`` and commit it."""
    if is_postgresql(location):
        import psycopg

        with contextlib.closing(psycopg.connect(str(location), autocommit=True)) as conn:
            conn.execute(_pg(sql), params)  # type: ignore[arg-type]
        return
    with contextlib.closing(sqlite3.connect(location)) as conn, conn:
        conn.execute(sql, params)


def exists(location: Location) -> bool:
    """Whether isrcdb has made its cache at ``location`` (a PostgreSQL database exists before isrcdb's schema)."""
    if is_postgresql(location):
        return bool(rows(location, "SELECT to_regclass('isrcs') IS NOT NULL")[0][0])
    return Path(location).exists()


def copy_cache(source: Path, target: Location) -> None:
    """Make ``target`` (a new SQLite file, or a migrated, empty PostgreSQL database) hold what the SQLite cache
    ``source`` holds: a test module fills one cache through the real CLI, and each test gets a private copy."""
    if not is_postgresql(target):
        with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return
    import psycopg
    from sqlalchemy import Boolean

    from isrcdb.models import Base

    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(psycopg.connect(str(target))) as dst:
        for table in Base.metadata.sorted_tables:
            names = [column.name for column in table.columns]
            flags = [isinstance(column.type, Boolean) for column in table.columns]
            found = src.execute(f"SELECT {', '.join(names)} FROM {table.name}").fetchall()
            if not found:
                continue
            values = [
                tuple(
                    bool(value) if flag and value is not None else value for value, flag in zip(row, flags, strict=True)
                )
                for row in found
            ]
            marks = ", ".join(["%s"] * len(names))
            with dst.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", values)
            if any(column.autoincrement is True for column in table.columns):
                dst.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"
                )
        dst.commit()
