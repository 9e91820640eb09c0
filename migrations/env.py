"""Alembic environment for isrcdb.

isrcdb migrates from code (isrcdb/migrate.py): it passes an open connection in ``config.attributes["connection"]``.
A developer running the ``alembic`` command gives the database with ``-x db=PATH``. ``fileConfig()`` is
deliberately not called: it would disable the application's loggers.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from isrcdb.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    db = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
    if not db:
        raise SystemExit("give the database with: alembic -x db=path/to/isrcdb.sqlite3 ...")
    # A path is made a URL from its parts: as text, a "?" or "%" in it would be read as URL syntax.
    engine = create_engine(db if "://" in db else URL.create("sqlite", database=db))
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; give a database with -x db=PATH")
run_migrations_online()
