"""Small helpers shared by the reliability tests."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from tests.reliability.crashkit import integrity_problems

SEED = int(os.environ.get("ISRCDB_TEST_SEED", "20261127"))
"""The seed of every random choice in these tests (set ``ISRCDB_TEST_SEED`` to replay another)."""

FEW, MANY, NONE = "USRC17607839", "FRZ039800212", "GBAAA0000001"
"""Sample codes: 3 releases, 13 releases (two search pages), none."""


def assert_sound(db_path: Path) -> None:
    """The database passes ``integrity_check``, ``foreign_key_check`` and isrcdb's invariants (nothing half-written)."""
    assert integrity_problems(db_path) == []


def table(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


def statuses(db_path: Path) -> dict[str, str]:
    """Each stored code's status."""
    if not db_path.exists():
        return {}
    return dict(table(db_path, "SELECT isrc, status FROM isrcs"))  # type: ignore[arg-type]


def without_created_note(stderr: str) -> str:
    """``stderr`` without the line saying a command created the cache (each test's cache starts absent)."""
    lines = stderr.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("Created a new database at "))
