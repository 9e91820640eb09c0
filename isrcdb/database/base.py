"""What every cache database offers: statements with named parameters, write transactions, errors translated.

Statements are written once, with ``:name`` placeholders, in the SQL both SQLite and PostgreSQL accept
(``ON CONFLICT``, ``RETURNING``, ``count(*) FILTER (WHERE ...)``); each dialect translates the placeholders for
its driver. What must differ between the two (claiming work, the JSON of a cached answer, the rate budget, bulk
import and export, read-only queries) is a method of the dialect's class.

Connections are per thread: one :class:`Database` may be shared by the threads of a program, each using its own
connection, opened on its first statement.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from isrcdb.errors import DatabaseError

Params = Mapping[str, Any] | Sequence[Any] | None


class Database(ABC):
    """An open cache database: SQLite (:mod:`isrcdb.database.sqlite`) or PostgreSQL
    (:mod:`isrcdb.database.postgresql`)."""

    dialect: ClassVar[str]
    readonly: bool = False
    now_sql: ClassVar[str] = ":now"
    """SQL for the time claims are measured against: the caller's ``:now``, or the server's clock."""
    lease_end_sql: ClassVar[str] = ":until"
    """SQL for the end of a claim's lease: the caller's ``:until``, or ``:lease`` seconds from the server's now."""

    def __init__(self, location: str) -> None:
        self.location = location
        """Where the database is, for messages: a file path, or a URL without its password."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # --- connections -----------------------------------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection in autocommit mode, configured."""

    def connection(self) -> Any:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise DatabaseError(f"the database {self.location} is closed")
            with self.guard():
                conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def adopt(self, conn: Any) -> None:
        """Use ``conn`` (already open and checked) as this thread's connection."""
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)

    def close(self) -> None:
        """Close every connection this object opened (from any thread)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._closed = True
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- statements ------------------------------------------------------------------------------------------

    def sql(self, statement: str) -> str:
        """``statement`` (written with ``:name`` placeholders) in the driver's own placeholder style."""
        return statement

    def execute(self, statement: str, params: Params = None) -> Any:
        """Run one statement on this thread's connection; returns the driver's cursor (iterable rows)."""
        cursor = self.connection().cursor()
        cursor.execute(self.sql(statement), params if params is not None else ())
        return cursor

    def executemany(self, statement: str, rows: Iterable[Params]) -> int:
        """Run one statement once per parameter set; returns the rows it changed, where the driver says."""
        cursor = self.connection().cursor()
        cursor.executemany(self.sql(statement), list(rows))
        return int(max(cursor.rowcount, 0))

    def one(self, statement: str, params: Params = None) -> tuple[Any, ...] | None:
        """The first row of a query, or ``None``."""
        row = self.execute(statement, params).fetchone()
        return None if row is None else tuple(row)

    def all(self, statement: str, params: Params = None) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.execute(statement, params).fetchall()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction on this thread's connection: committed on success, rolled back on any exception.

        Inside another transaction of the same thread it joins that one (so that several writes, each written as a
        transaction of its own, can be committed together): the outermost commits or rolls back the whole.
        """
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self
            finally:
                self._local.depth = depth
            return
        conn = self.connection()
        with self.guard():
            self._begin(conn)
        self._local.depth = 1
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self._rollback(conn)
            raise
        finally:
            self._local.depth = 0
        with self.guard():
            self._commit(conn)

    @abstractmethod
    def _begin(self, conn: Any) -> None: ...

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Database]:
        """A read transaction: every read inside sees the database as of its first read, even while others write."""
        conn = self.connection()
        with self.guard():
            conn.execute(self._snapshot_begin)
        try:
            yield self
        finally:
            with contextlib.suppress(Exception):  # ends the read transaction; never hides the error being raised
                self._rollback(conn)

    _snapshot_begin: ClassVar[str] = "BEGIN"

    def stream(self, statement: str, params: Params = None) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, fetched a batch at a time (in flat memory however many there are)."""
        cursor = self.execute(statement, params)
        try:
            while batch := cursor.fetchmany(512):
                yield from batch
        finally:
            # A stream abandoned part way (its reader failed) may be closed after its connection: nothing to free.
            with contextlib.suppress(Exception):
                cursor.close()

    def _commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        conn.execute("ROLLBACK")

    # --- errors ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn the driver's errors raised inside into :class:`DatabaseError`, worded for a person."""
        try:
            yield
        except DatabaseError:
            raise
        except Exception as exc:
            if not self.is_driver_error(exc):
                raise
            raise self.describe(exc) from None

    @abstractmethod
    def is_driver_error(self, exc: BaseException) -> bool: ...

    def is_conflict(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the transaction lost a conflict with another writer and may simply be run again."""
        return False

    @contextlib.contextmanager
    def pipelined(self) -> Iterator[None]:
        """Around statements whose results are not read: where each is a round trip to a server, they are sent
        together and the server's answers read at the end (errors raised there). Nothing here."""
        yield

    @contextlib.contextmanager
    def retryable(self) -> Iterator[None]:
        """Around one attempt of work that may lose a conflict with another writer (:meth:`is_conflict`): where
        conflicts happen and a caller's transaction is open, a savepoint, so that losing undoes only this work,
        which may then be run again. Nothing here (one writer at a time never conflicts)."""
        yield

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Around many write transactions in a row on this thread's connection (a sync): whatever makes them
        cheaper, undone after. Nothing by default."""
        yield

    @abstractmethod
    def describe(self, exc: BaseException) -> DatabaseError:
        """A :class:`DatabaseError` describing a driver error in words a person can act on."""

    # --- what differs between databases ------------------------------------------------------------------------

    @abstractmethod
    def revision(self) -> str | None:
        """The schema revision the database is at (``None``: not an isrcdb database yet)."""

    def insert_new(self, codes: Sequence[str], insert: str, params: dict[str, Any] | None = None) -> int:
        """Bulk-insert ``codes`` through ``insert`` (where the database has a bulk path: PostgreSQL's COPY)."""
        raise NotImplementedError

    shares_rate_budget: ClassVar[bool] = False
    """Whether processes pace their requests together through this database (:meth:`take_slot`)."""

    def take_slot(self, app: str, interval: float) -> float:
        """Take the next request slot of ``app``'s shared budget (slots ``interval`` seconds apart): 0 when taken,
        else the seconds to wait before asking again."""
        raise NotImplementedError

    def size_on_disk(self) -> int:
        """How many bytes the cache takes (the file and its WAL, or the server's database)."""
        return 0

    @abstractmethod
    def readonly_query(
        self,
        sql: str,
        params: dict[str, object],
        *,
        timeout: float | None,
        monotonic: Callable[[], float] = time.monotonic,
        overdue: Callable[[], None] | None = None,
    ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Run one statement that may only read, as the database itself enforces it (see :mod:`isrcdb.query`);
        returns the column names and the rows."""

    @abstractmethod
    def add_pending(self, codes: Sequence[str], now: str) -> int:
        """Add ``codes`` as pending (first seen ``now``) in one transaction, leaving stored ones as they are;
        returns how many were added."""

    @abstractmethod
    def claim_due(
        self,
        tiers: Sequence[tuple[str, str, str, dict[str, Any]]],
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
    ) -> list[tuple[str, str]]:
        """Claim up to ``limit`` codes for ``owner`` until ``until``, in due order, in one write transaction.

        ``tiers`` are ``(tier, condition, ORDER BY, params)``, the most urgent first.

        Returns ``(code, tier)`` pairs; a code claimed by another owner whose claim has not expired is skipped.
        """
