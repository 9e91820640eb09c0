"""The cache in PostgreSQL, through psycopg 3: a team's shared cache.

Imported only for a ``postgresql://`` URL. Tables are the same as on SQLite (timestamps stored as ISO 8601 UTC
text, so that statements are written once); the public views ``lookups`` and ``matches`` give PostgreSQL types
(``timestamptz``, ``boolean``, ``json``). Migrations run through Alembic under an advisory lock, so several
machines starting at once each wait for the first. Claims use ``FOR UPDATE SKIP LOCKED`` and the server's clock.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as dt_time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from isrcdb.database.base import Database
from isrcdb.errors import ConfigError, DatabaseError

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]

EXTRA_HINT = "PostgreSQL support is an optional extra: install it with pip install 'isrcdb[postgresql]'"
MIGRATION_LOCK = 0x15_2C_DB_01
"""The advisory lock key that serialises schema migrations between machines."""

NOW_TEXT = """to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
"""The server's clock as isrcdb's stored timestamp text (see :mod:`isrcdb.clock`)."""

LEASE_END_TEXT = """to_char((clock_timestamp() + make_interval(secs => :lease)) AT TIME ZONE 'UTC',
    'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
"""The end of a lease of ``:lease`` seconds from now, on the server's clock, as stored timestamp text."""

_TOKEN = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(::)|(?<![:\w]):([A-Za-z_]\w*)|(%)""")


@functools.lru_cache(maxsize=512)
def to_pyformat(statement: str) -> str:
    """``:name`` placeholders as psycopg's ``%(name)s``; ``:`` in literals, identifiers and ``::`` casts untouched."""

    def replace(match: re.Match[str]) -> str:
        if match.group(4):
            return f"%({match.group(4)})s"
        # psycopg reads every % of the statement, inside string literals too, as the start of a placeholder.
        return match.group(0).replace("%", "%%")

    return _TOKEN.sub(replace, statement)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def libpq_url(url: str) -> str:
    """The URL libpq understands (``postgresql+psycopg://`` is SQLAlchemy's spelling)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.lower() in ("postgres", "postgresql+psycopg") else url


def sqlalchemy_url(url: str) -> str:
    _, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}"


def _require_driver() -> Any:
    if psycopg is None:
        raise ConfigError(f"{EXTRA_HINT} (the psycopg driver is not installed)")
    return psycopg


class PostgresDatabase(Database):
    dialect = "postgresql"
    now_sql = NOW_TEXT
    lease_end_sql = LEASE_END_TEXT

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        super().__init__(redact(url))
        self._url = libpq_url(url)
        self.readonly = readonly

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> PostgresDatabase:
        _require_driver()
        database = cls(url)
        conn = database.connection()
        revision = database.revision()
        from isrcdb import migrate

        if revision != migrate.HEAD:
            migrate.check_revision(revision, database.location)
            if revision is None and not create:
                database.close()
                raise DatabaseError(
                    f"there is no isrcdb cache in {database.location}; run 'isrcdb db upgrade' to create one"
                )
            database.upgrade()
        del conn
        return database

    @classmethod
    def open_readonly(cls, url: str) -> PostgresDatabase:
        _require_driver()
        database = cls(url, readonly=True)
        from isrcdb import migrate

        revision = database.revision()
        if revision is None:
            database.close()
            raise DatabaseError(f"there is no isrcdb cache in {database.location}")
        migrate.check_revision(revision, database.location)
        return database

    # --- connections -----------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        driver = _require_driver()
        options = "-c default_transaction_read_only=on" if self.readonly else None
        conn = driver.connect(self._url, autocommit=True, application_name="isrcdb", options=options)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def sql(self, statement: str) -> str:
        return to_pyformat(statement)

    # --- statements sent with the next one ----------------------------------------------------------------------
    #
    # BEGIN, SAVEPOINT and RELEASE SAVEPOINT return nothing to read: each is held back and sent in one pipeline with
    # the next statement, so that they cost no round trip of their own (a sync's batch: about 6 round trips instead
    # of 9). Whoever takes the connection itself (connection()) after them sends them first: code using the
    # connection inside a transaction takes it there, not before. A transaction that ran nothing sends nothing.

    def _defer(self, statement: str) -> None:
        self._held().append(statement)

    def _held(self) -> list[str]:
        held: list[str] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = []
        return held

    @contextlib.contextmanager
    def _with_held(self) -> Iterator[Any]:
        """This thread's connection; what is held back is sent first, in one pipeline with what runs inside."""
        conn = super().connection()
        held = self._held()
        if not held:
            yield conn
            return
        statements = held[:]
        held.clear()
        with conn.pipeline():
            for statement in statements:
                conn.execute(statement)
            yield conn

    def connection(self) -> Any:
        with self._with_held() as conn:
            return conn

    def execute(self, statement: str, params: Any = None) -> Any:
        with self._with_held():
            return super().execute(statement, params)

    def executemany(self, statement: str, rows: Iterable[Any]) -> int:
        with self._with_held() as conn:
            cursor = conn.cursor()
            cursor.executemany(self.sql(statement), list(rows))
        return int(max(cursor.rowcount, 0))  # read once a pipeline, if any, has given the results

    def _begin(self, conn: Any) -> None:
        self._defer("BEGIN")

    def _commit(self, conn: Any) -> None:
        held = self._held()
        if held[:1] == ["BEGIN"]:
            held.clear()  # the transaction ran nothing: there is nothing to commit
            return
        with self._with_held():
            conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        held = self._held()
        began = held[:1] != ["BEGIN"]
        held.clear()  # what was held back is moot: the transaction ends here
        if began:
            conn.execute("ROLLBACK")

    _snapshot_begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def stream(self, statement: str, params: Any = None) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor (inside the snapshot's transaction): the server holds the rows, not this process.
        self._streams = getattr(self, "_streams", 0) + 1
        cursor = self.connection().cursor(name=f"isrcdb_stream_{self._streams}")
        try:
            cursor.execute(self.sql(statement), params)
            while batch := cursor.fetchmany(2000):
                for row in batch:
                    yield tuple(_plain(value) for value in row)
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    # --- errors ----------------------------------------------------------------------------------------------

    def is_driver_error(self, exc: BaseException) -> bool:
        return psycopg is not None and isinstance(exc, psycopg.Error)

    def is_conflict(self, exc: BaseException) -> bool:
        return psycopg is not None and isinstance(
            exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
        )

    @contextlib.contextmanager
    def pipelined(self) -> Iterator[None]:
        with self.connection().pipeline():
            yield

    @contextlib.contextmanager
    def retryable(self) -> Iterator[None]:
        if not getattr(self._local, "depth", 0):
            yield  # the work is a transaction of its own: losing rolls it back whole
            return
        self._defer(_SAVEPOINT)
        try:
            yield
        except BaseException:
            held = self._held()
            if held[-1:] == [_SAVEPOINT]:
                held.pop()  # the work sent nothing: nothing to undo
            else:
                with contextlib.suppress(Exception):
                    self.execute(f"ROLLBACK TO {_SAVEPOINT}")
            raise
        held = self._held()
        if held[-1:] == [_SAVEPOINT]:
            held.pop()
        else:
            self._defer(f"RELEASE {_SAVEPOINT}")

    def describe(self, exc: BaseException) -> DatabaseError:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if psycopg is not None and isinstance(exc, psycopg.OperationalError):
            return DatabaseError(f"cannot use the PostgreSQL database {self.location}: {text}")
        return DatabaseError(f"database error in {self.location}: {text}")

    # --- schema ----------------------------------------------------------------------------------------------

    def revision(self) -> str | None:
        with self.guard():
            exists = self.one("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not exists or not exists[0]:
                return None
            row = self.one("SELECT version_num FROM alembic_version")
        return None if row is None else str(row[0])

    def upgrade(self, revision: str = "head") -> None:
        """Run the migrations up to ``revision``, one machine at a time (an advisory lock held meanwhile)."""
        from isrcdb import migrate

        with self.guard():
            self.execute("SELECT pg_advisory_lock(:key)", {"key": MIGRATION_LOCK})
        try:
            current = self.revision()
            if current != migrate.HEAD or revision != "head":
                migrate.check_revision(current, self.location)
                _run_alembic(sqlalchemy_url(self._url), "upgrade", revision)
        finally:
            with self.guard():
                self.execute("SELECT pg_advisory_unlock(:key)", {"key": MIGRATION_LOCK})

    def size_on_disk(self) -> int:
        with self.guard():
            row = self.one("SELECT pg_database_size(current_database())")
        return int(row[0]) if row else 0

    def readonly_query(
        self,
        sql: str,
        params: dict[str, object],
        *,
        timeout: float | None,
        monotonic: Callable[[], float] = time.monotonic,
        overdue: Callable[[], None] | None = None,
    ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        return run_readonly_query(self, sql, params, timeout)

    shares_rate_budget = True

    def take_slot(self, app: str, interval: float) -> float:
        return take_slot(self, app, interval)

    def add_pending(self, codes: Sequence[str], now: str) -> int:
        return self.insert_new(
            codes,
            "INSERT INTO isrcs (isrc, status, first_seen_at) SELECT DISTINCT isrc, 'pending', %(now)s FROM {}",
            {"now": now},
        )

    def insert_new(self, codes: Sequence[str], insert: str, params: dict[str, Any] | None = None) -> int:
        """Run ``insert`` (an ``INSERT ... SELECT ... FROM {}``, in psycopg's placeholders) over ``codes``, given
        as a temporary table filled by COPY: a chunk of codes costs a few round trips, not one per code. Rows that
        conflict are skipped; returns how many were inserted."""
        with self.transaction():
            conn = self.connection()  # inside: what the transaction holds back is sent first
            conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS isrcdb_codes (isrc text) ON COMMIT DELETE ROWS")
            with conn.cursor().copy("COPY isrcdb_codes (isrc) FROM STDIN") as copy:
                for code in codes:
                    copy.write_row((code,))
            cursor = conn.execute(insert.format("isrcdb_codes") + " ON CONFLICT DO NOTHING", params or {})
            return max(int(cursor.rowcount), 0)

    # --- claims ----------------------------------------------------------------------------------------------

    def claim_due(
        self,
        tiers: Sequence[tuple[str, str, str, dict[str, Any]]],
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
    ) -> list[tuple[str, str]]:
        # Candidates are locked with SKIP LOCKED, so concurrent claimers pass over each other's rows instead of
        # queueing; the lease is measured on the server's clock, so machines whose clocks disagree agree on it.
        lease = max((until - now).total_seconds(), 1.0)
        claimed: list[tuple[str, str]] = []
        with self.transaction():
            for tier, condition, order, params in tiers:
                rows = self.all(
                    f"""WITH due AS (
                        SELECT isrc FROM isrcs
                        WHERE {condition} AND (claimed_until IS NULL OR claimed_until < {NOW_TEXT})
                        {order} LIMIT :want FOR UPDATE SKIP LOCKED)
                    UPDATE isrcs SET claimed_by = :owner, claimed_until = {self.lease_end_sql}
                    FROM due WHERE isrcs.isrc = due.isrc RETURNING isrcs.isrc""",
                    {**params, "want": limit - len(claimed), "owner": owner, "lease": lease},
                )
                claimed.extend((row[0], tier) for row in rows)
                if len(claimed) >= limit:
                    break
        return claimed


def run_migrations(url: str, direction: str, revision: str) -> None:
    """Alembic's ``upgrade`` or ``downgrade`` to ``revision`` on the database at ``url``, under the advisory lock."""
    database = PostgresDatabase(url)
    try:
        if direction == "upgrade":
            database.upgrade(revision)
        else:
            with database.guard():
                database.execute("SELECT pg_advisory_lock(:key)", {"key": MIGRATION_LOCK})
            try:
                _run_alembic(sqlalchemy_url(database._url), direction, revision)
            finally:
                with database.guard():
                    database.execute("SELECT pg_advisory_unlock(:key)", {"key": MIGRATION_LOCK})
    finally:
        database.close()


def _run_alembic(url: str, direction: str, revision: str) -> None:
    """Alembic's ``upgrade``/``downgrade`` on ``url``, all revisions in one transaction (PostgreSQL's DDL is
    transactional, so a machine killed mid-upgrade leaves the schema where it was)."""
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from isrcdb import migrate

    config = migrate.alembic_config(url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            getattr(command, direction)(config, revision)
            conn.commit()
    except Exception as exc:
        if not type(exc).__module__.startswith(("sqlalchemy", "alembic")):
            raise
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseError(f"cannot upgrade the database {redact(url)}: {detail}") from None
    finally:
        engine.dispose()


# --- read-only queries -------------------------------------------------------------------------------------------

QUERY_CURSOR = "isrcdb_query"


def _plain(value: Any) -> Any:
    """A value as isrcdb writes values: timestamps as stored text (UTC, ``Z``), exact numbers as ``int``/``float``."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return (
            value.strftime("%Y-%m-%dT%H:%M:%SZ") if not value.microsecond else value.isoformat().replace("+00:00", "Z")
        )
    if isinstance(value, date | dt_time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


_READING = ("SELECT", "WITH", "VALUES", "TABLE", "(")


def run_readonly_query(
    database: PostgresDatabase, statement: str, params: dict[str, Any], timeout: float | None
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Run one statement read-only, as the server enforces it: a ``READ ONLY`` transaction, a server-side cursor
    (``DECLARE ... CURSOR FOR`` accepts exactly one query: ``COMMIT; INSERT ...`` or ``DO $$ ... $$`` cannot run),
    and ``statement_timeout``. Returns the column names and the rows, fetched a batch at a time."""
    from isrcdb.errors import QueryError, WriteRefused, timeout_error
    from isrcdb.query import FETCH, leading_keyword, statement_kind

    driver = _require_driver()
    errors = driver.errors
    conn = database.connection()
    milliseconds = int(timeout * 1000) if timeout else 0
    refused = "is not allowed: isrcdb query only reads, the database was not changed"

    def translate(exc: BaseException) -> BaseException:
        text = " ".join(str(exc).split())
        if isinstance(exc, errors.QueryCanceled):
            return timeout_error(timeout or 0)
        if isinstance(
            exc, errors.ReadOnlySqlTransaction | errors.InsufficientPrivilege | errors.ActiveSqlTransaction
        ) or (isinstance(exc, errors.FeatureNotSupported) and "data-modifying" in text):
            return WriteRefused(f"{statement_kind(statement) or 'this statement'} {refused} (PostgreSQL: {text})")
        if isinstance(exc, errors.SyntaxError) and not statement.lstrip().upper().startswith(_READING):
            # DECLARE takes one query: anything else is refused by the server before it runs.
            return WriteRefused(f"{leading_keyword(statement) or 'this statement'} {refused} (PostgreSQL: {text})")
        if isinstance(exc, errors.SyntaxError) and ";" in statement.strip().rstrip(";"):
            return QueryError(
                "only one SQL statement can run at a time: remove everything after the first ';' "
                f"(nothing was run; PostgreSQL: {text})"
            )
        if isinstance(exc, driver.OperationalError):
            return database.describe(exc)
        return QueryError(f"SQL error: {text}")

    try:
        conn.execute("BEGIN READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        cursor = conn.cursor(name=QUERY_CURSOR)
        cursor.execute(to_pyformat(statement), params or None)
        columns = [column.name for column in cursor.description or ()]
        # The server runs the statement on the first FETCH: fetched here, its errors come before any output.
        first = cursor.fetchmany(FETCH)
    except driver.Error as exc:
        with contextlib.suppress(driver.Error):
            conn.execute("ROLLBACK")
        raise translate(exc) from None
    except (KeyError, TypeError, IndexError) as exc:  # a :name without a value, or a stray %
        with contextlib.suppress(driver.Error):
            conn.execute("ROLLBACK")
        raise QueryError(f"query parameters: {exc} (give named parameters with -p NAME VALUE)") from None

    def rows() -> Iterator[tuple[Any, ...]]:
        batch = first
        try:
            while batch:
                for row in batch:
                    yield tuple(_plain(value) for value in row)
                try:
                    batch = cursor.fetchmany(FETCH)
                except driver.Error as exc:
                    raise translate(exc) from None
        finally:
            with contextlib.suppress(driver.Error):
                cursor.close()
            with contextlib.suppress(driver.Error):
                conn.execute("ROLLBACK")

    return columns, rows()


# --- the shared rate budget ----------------------------------------------------------------------------------------


def take_slot(database: PostgresDatabase, app: str, interval: float) -> float:
    """Take the next request slot of ``app``'s budget: 0 when taken, else the seconds to wait before asking again.

    The slots of every process using the app are spaced ``interval`` seconds apart on the server's clock (a cell
    rate algorithm with no burst, so that no rolling window of the limit's length holds more than the limit). A slot
    taken late starts the next interval from when it was taken: lateness is never made up by a burst, which a
    rolling window would count against the limit (at a few milliseconds between slots, that costs a few percent of
    the pace).
    A pause in force (a long ``Retry-After``, an exceeded quota) refuses every slot until it ends.
    """
    with database.guard():
        row = database.one(
            f"""INSERT INTO rate_budgets AS b (app, next_slot, updated_at)
            VALUES (:app, extract(epoch FROM clock_timestamp()) + :interval, {NOW_TEXT})
            ON CONFLICT (app) DO UPDATE
            SET next_slot = greatest(coalesce(b.next_slot, 0), extract(epoch FROM clock_timestamp())) + :interval,
                updated_at = {NOW_TEXT}
            WHERE coalesce(b.next_slot, 0) <= extract(epoch FROM clock_timestamp())
              AND (b.paused_until IS NULL OR b.paused_until <= {NOW_TEXT})
            RETURNING 0""",
            {"app": app, "interval": interval},
        )
        if row is not None:
            return 0.0
        row = database.one(
            f"""SELECT greatest(coalesce(next_slot, 0) - extract(epoch FROM clock_timestamp()), 0),
                CASE WHEN paused_until > {NOW_TEXT}
                THEN extract(epoch FROM CAST(paused_until AS timestamptz) - clock_timestamp()) END
            FROM rate_budgets WHERE app = :app""",
            {"app": app},
        )
    if row is None:
        return interval
    return max(float(row[0] or 0.0), float(row[1] or 0.0), 0.001)


# --- a role that may only read ----------------------------------------------------------------------------------

_SAVEPOINT = "SAVEPOINT isrcdb_attempt"


_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
READER_TABLES = ("lookups", "matches", "isrcs", "isrc_changes", "alembic_version")
"""What a reader may select: the public views, the tables the saved queries read, and the schema revision (which
isrcdb checks before it queries)."""


def reader_statements(role: str, database: str, *, create: bool) -> list[str]:
    """The SQL that makes ``role`` a reader of the cache in ``database``: SELECT on the views (and the tables the
    saved queries read), every transaction read-only, statements limited in time; nothing else."""
    if not _ROLE.match(role):
        raise ConfigError(f"{role!r} is not a role name isrcdb writes: use letters, digits and _ (at most 63)")
    statements = [f"CREATE ROLE {role} LOGIN"] if create else []
    return [
        *statements,
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON {', '.join(READER_TABLES[:2])} TO {role}",
        f"GRANT SELECT ON {', '.join(READER_TABLES[2:])} TO {role}",
        f'ALTER ROLE {role} IN DATABASE "{database}" SET default_transaction_read_only = on',
        f"ALTER ROLE {role} IN DATABASE \"{database}\" SET statement_timeout = '60s'",
    ]


def grant_reader(database: PostgresDatabase, role: str, *, create: bool) -> list[str]:
    """Run :func:`reader_statements` (creating ``role`` first when ``create`` and it does not exist yet);
    returns the statements run."""
    with database.guard():
        name = database.one("SELECT current_database()")
        assert name is not None
        exists = database.one("SELECT 1 FROM pg_roles WHERE rolname = :role", {"role": role}) is not None
        statements = reader_statements(role, str(name[0]), create=create and not exists)
        with database.transaction():
            for statement in statements:
                database.execute(statement)
    return statements
