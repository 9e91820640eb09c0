"""PostgreSQL for the tests: one fresh database per test, made from a migrated template.

Tests reach the server through ``ISRCDB_TEST_POSTGRESQL_URL`` (for example
``postgresql://postgres@127.0.0.1:5432/test``). Without it the PostgreSQL tests are skipped, and the run's header
says how to run them; CI sets it and fails when the server cannot be reached.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_VARIABLE = "ISRCDB_TEST_POSTGRESQL_URL"
HOW_TO_RUN = (
    f"PostgreSQL tests skipped: set {URL_VARIABLE}=postgresql://USER@HOST:5432/DBNAME "
    "(a server where USER may create databases) and install the extra: pip install -e '.[test,postgresql]'"
)


def server_url() -> str | None:
    return os.environ.get(URL_VARIABLE) or None


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


class Server:
    """Makes and drops test databases on the server named by ``ISRCDB_TEST_POSTGRESQL_URL``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"isrcdb_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.template: str | None = None
        self.made: list[str] = []

    def _template(self) -> str:
        """A database migrated once to the current schema; every test's database is a copy of it."""
        if self.template is None:
            from isrcdb.database import open_database

            name = f"{self.prefix}_template"
            with contextlib.closing(_admin(self.url)) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            self.made.append(name)
            open_database(with_database(self.url, name)).close()
            self.template = name
        return self.template

    def new_database(self, *, migrated: bool = True) -> str:
        name = f"{self.prefix}_{len(self.made)}"
        template = f' TEMPLATE "{self._template()}"' if migrated else ""
        with contextlib.closing(_admin(self.url)) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{template}')
        self.made.append(name)
        return with_database(self.url, name)

    def drop_all(self) -> None:
        with contextlib.closing(_admin(self.url)) as admin:
            for name in reversed(self.made):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()
        self.template = None


_server: Server | None = None


def server() -> Server:
    """The session's server, or a skip with the line saying how to run these tests."""
    global _server
    url = server_url()
    if url is None:
        pytest.skip(HOW_TO_RUN)
    if _server is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            pytest.fail(f"{URL_VARIABLE} is set but psycopg is not installed: pip install -e '.[test,postgresql]'")
        try:
            with contextlib.closing(_admin(url)):
                pass
        except Exception as exc:
            # Set but unreachable: a failure, never a silent skip (CI sets the variable).
            pytest.fail(f"{URL_VARIABLE} is set but the server cannot be reached: {exc}")
        _server = Server(url)
    return _server


def finish() -> None:
    if _server is not None:
        _server.drop_all()


@contextlib.contextmanager
def fresh_database(*, migrated: bool = True) -> Iterator[str]:
    yield server().new_database(migrated=migrated)


def with_user(url: str, user: str) -> str:
    """``url`` connecting as ``user`` (no password: the test server trusts local connections)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def drop_role(url: str, role: str) -> None:
    """Drop ``role`` and what it was granted in the database at ``url``."""
    with contextlib.closing(_admin(url)) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')
