"""Migrations are tested like code, on both stores: from empty, down and up again, no drift from the models, several
processes at once, inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from isrcdb import migrate
from isrcdb.database import open_database
from isrcdb.database.postgresql import sqlalchemy_url
from isrcdb.database.sqlite import sqlite_url
from isrcdb.errors import SchemaTooNew
from tests import postgresql
from tests.dbtools import execute, is_postgresql, rows

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
    "rate_budgets",
    "track_artists",
    "tracks",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new, empty database is: an SQLite file not yet made, or an empty PostgreSQL database."""
    if request.param == "postgresql":
        return postgresql.server().new_database(migrated=False)
    return tmp_path / "new.sqlite3"


def objects(location: Path | str, kind: str) -> set[str]:
    if is_postgresql(location):
        kinds = {"table": "BASE TABLE", "view": "VIEW"}
        found = rows(
            location,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = ?",
            kinds[kind],
        )
        return {row[0] for row in found}
    found = rows(location, "SELECT name FROM sqlite_master WHERE type = ?", kind)
    return {row[0] for row in found if not row[0].startswith("sqlite_")}


def test_known_revisions_match_the_migration_scripts(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    chain = [rev.revision for rev in script.walk_revisions()][::-1]
    assert tuple(chain) == migrate.REVISIONS
    assert script.get_current_head() == migrate.HEAD


def test_upgrade_from_empty_creates_every_table_and_view(location: Path | str) -> None:
    with open_database(location) as database:
        assert database.revision() == migrate.HEAD
    assert objects(location, "table") == TABLES
    assert objects(location, "view") == {"lookups", "matches", "track_json"}
    if not is_postgresql(location):
        assert rows(location, "PRAGMA journal_mode") == [("wal",)]
        assert sorted(path.name for path in Path(location).parent.iterdir()) == ["new.sqlite3"]  # nothing stray


def test_downgrade_to_empty_and_upgrade_again(location: Path | str) -> None:
    migrate.upgrade(location)
    for revision in reversed(("base", *migrate.REVISIONS[:-1])):
        migrate.downgrade(location, revision)
    assert objects(location, "table") == {"alembic_version"}
    assert objects(location, "view") == set()
    migrate.upgrade(location)
    assert objects(location, "table") == TABLES


def test_models_and_migrations_do_not_drift(location: Path | str) -> None:
    migrate.upgrade(location)
    url = sqlalchemy_url(location) if isinstance(location, str) else sqlite_url(location).render_as_string()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config = migrate.alembic_config(url)
            config.attributes["connection"] = conn
            command.check(config)  # raises if autogenerate would write a migration
    finally:
        engine.dispose()


def test_a_database_from_a_newer_isrcdb_is_refused_and_left_unchanged(location: Path | str) -> None:
    open_database(location).close()
    execute(location, "UPDATE alembic_version SET version_num = '9999'")
    before = rows(location, "SELECT count(*) FROM isrcs"), objects(location, "table")
    with pytest.raises(SchemaTooNew, match="made by a newer version of isrcdb"):
        open_database(location)
    assert (rows(location, "SELECT count(*) FROM isrcs"), objects(location, "table")) == before
    assert rows(location, "SELECT version_num FROM alembic_version") == [("9999",)]


def test_an_old_database_is_upgraded_when_opened(location: Path | str) -> None:
    migrate.upgrade(location, migrate.REVISIONS[0])
    with open_database(location) as database:
        assert database.revision() == migrate.HEAD


OPEN = "import sys; from isrcdb.database import open_database; print(open_database(sys.argv[1]).revision())"


def test_several_processes_creating_one_database_at_once_all_succeed(location: Path | str) -> None:
    """Several machines (or cron jobs) starting at once on a new cache: one migrates, the others wait for it."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, str(location)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(process.wait(120), *process.communicate()) for process in processes]
    assert [(code, out.strip(), err) for code, out, err in results] == [(0, migrate.HEAD, "")] * 4
    assert objects(location, "table") == TABLES


def test_a_postgresql_url_without_the_driver_names_the_extra(tmp_path: Path) -> None:
    probe = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from isrcdb.database import open_database\n"
        "from isrcdb.errors import IsrcdbError\n"
        "try:\n    open_database('postgresql://nobody@127.0.0.1:1/none')\n"
        "except IsrcdbError as exc:\n    print(exc)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == (
        "PostgreSQL support is an optional extra: install it with pip install 'isrcdb[postgresql]' "
        "(the psycopg driver is not installed)"
    )


def test_a_cached_lookup_on_sqlite_imports_neither_sqlalchemy_nor_a_postgresql_driver(tmp_path: Path) -> None:
    open_database(tmp_path / "c.sqlite3").close()
    probe = (
        "import sys; from isrcdb.cli import main; sys.argv = ['isrcdb', 'lookup', '--offline', 'USRC17607839'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ISRCDB_DATABASE": str(tmp_path / "c.sqlite3"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


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
        "import isrcdb, pathlib, sys; from isrcdb import migrate; from isrcdb.database import open_database;"
        "assert isrcdb.__file__.startswith(sys.argv[1]), isrcdb.__file__;"
        "assert migrate.migrations_dir().name == '_migrations';"
        "print(open_database(pathlib.Path(sys.argv[2])).revision())"
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
