"""Migrations are tested like code: from empty, down and up again, no drift from the models, inside the wheel."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from isrcdb import db, migrate
from isrcdb.errors import SchemaTooNew

ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "albums",
    "album_artists",
    "artists",
    "counters",
    "isrc_changes",
    "isrc_matches",
    "isrcs",
    "meta",
    "track_artists",
    "tracks",
    "alembic_version",
}


def objects(path: Path, kind: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
            if not row[0].startswith("sqlite_")
        }


def test_known_revisions_match_the_migration_scripts(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(tmp_path / "x.sqlite3"))
    chain = [rev.revision for rev in script.walk_revisions()][::-1]
    assert tuple(chain) == migrate.REVISIONS
    assert script.get_current_head() == migrate.HEAD


def test_upgrade_from_empty_creates_every_table_and_view(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db.connect(path).close()
    assert objects(path, "table") == TABLES
    assert objects(path, "view") == {"lookups", "matches"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert migrate.current_revision(conn) == migrate.HEAD


def test_downgrade_to_empty_and_upgrade_again(tmp_path: Path) -> None:
    path = tmp_path / "cycle.sqlite3"
    migrate.upgrade(path)
    for revision in reversed(("base", *migrate.REVISIONS[:-1])):
        migrate.downgrade(path, revision)
    assert objects(path, "table") == {"alembic_version"}
    migrate.upgrade(path)
    assert objects(path, "table") == TABLES


def test_models_and_migrations_do_not_drift(tmp_path: Path) -> None:
    path = tmp_path / "check.sqlite3"
    migrate.upgrade(path)
    command.check(migrate.alembic_config(path))  # raises if autogenerate would write a migration


def test_a_database_from_a_newer_isrcdb_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    db.connect(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match="made by a newer version of isrcdb"):
        db.connect(path)
    assert path.read_bytes() == before


def test_an_old_database_is_upgraded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    migrate.upgrade(path, migrate.REVISIONS[0])
    conn = db.connect(path)
    assert migrate.current_revision(conn) == migrate.HEAD
    conn.close()


def test_migrations_travel_inside_the_wheel_and_run_from_a_plain_install(tmp_path: Path) -> None:
    """A non-editable install has no checkout beside it: the wheel must carry the migration scripts."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("isrcdb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "isrcdb/_migrations/env.py" in names
    assert any(name.startswith("isrcdb/_migrations/versions/0001") for name in names)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import isrcdb, pathlib, sys; from isrcdb import db, migrate;"
        "assert isrcdb.__file__.startswith(sys.argv[1]), isrcdb.__file__;"
        "assert migrate.migrations_dir().name == '_migrations';"
        "c = db.connect(pathlib.Path(sys.argv[2])); print(migrate.current_revision(c))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target), str(tmp_path / "w.sqlite3")],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migrate.HEAD
