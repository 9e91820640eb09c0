"""The whole cache as CSV, TSV, JSON or JSON lines, streamed in bounded memory, written atomically to a file.

Rows come from the public views (``lookups``, and ``matches`` with ``all_matches``), read in one read transaction
so that the export is one consistent snapshot even while another isrcdb writes. Unlike ``isrcdb query``, the
export knows its columns, so ``stale`` and ``explicit`` are written as booleans (``true``/``false``) and
``artists`` as a list (in CSV/TSV: names joined with ``"; "``).

With ``all_matches``, JSON and JSON lines give each code a ``matches`` list (every Spotify track it matched,
canonical first), as ``isrcdb lookup --all-matches`` does; CSV and TSV give one row per code and match, with the
match's columns prefixed ``match_`` (a code without matches keeps one row, its match columns empty).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from isrcdb.errors import OutputError, UsageError, named
from isrcdb.output import ExportFormat
from isrcdb.store import TRACK_FIELDS

if TYPE_CHECKING:
    from isrcdb.database.base import Database

LOOKUP_COLUMNS = (
    "isrc",
    "status",
    "first_seen_at",
    "fetched_at",
    "expires_at",
    "stale",
    "match_count",
    *TRACK_FIELDS,
    "changed_at",
    "last_error",
)
"""The columns of an export: every column of the ``lookups`` view, in its order."""

MATCH_COLUMNS = TRACK_FIELDS
"""The fields of each match (from the ``matches`` view), canonical first."""

FLAT_MATCH_COLUMNS = ("match_rank", *(f"match_{column}" for column in MATCH_COLUMNS))
"""The extra columns of a CSV/TSV export with all matches."""

BOOLEAN_COLUMNS = frozenset({"stale", "explicit"})

_LOOKUPS_SQL = f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM lookups ORDER BY isrc"
_MATCHES_SQL = f"SELECT isrc, rank, {', '.join(MATCH_COLUMNS)} FROM matches ORDER BY isrc, rank"


def iter_lookups(db: Database) -> Iterator[dict[str, Any]]:
    """One dict per stored code (the ``lookups`` view), ordered by ISRC."""
    from isrcdb.query import row_converter  # imported here: the CLI imports this module for every command

    convert = row_converter(LOOKUP_COLUMNS, booleans=BOOLEAN_COLUMNS, blobs=False)
    for row in db.stream(_LOOKUPS_SQL):
        yield convert(row)


def iter_lookups_with_matches(db: Database) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each stored code with its matches (rank order), by merging two ISRC-ordered scans of the views."""
    from isrcdb.query import row_converter

    convert = row_converter(("rank", *MATCH_COLUMNS), booleans=BOOLEAN_COLUMNS, blobs=False)
    matches = db.stream(_MATCHES_SQL)
    pending = next(matches, None)
    for record in iter_lookups(db):
        isrc = record["isrc"]
        # Python orders str by code point, as SQLite's BINARY collation orders UTF-8: the two scans stay in step.
        while pending is not None and pending[0] < isrc:  # a match without its code: not possible, but harmless
            pending = next(matches, None)
        found: list[dict[str, Any]] = []
        while pending is not None and pending[0] == isrc:
            found.append(convert(pending[1:]))
            pending = next(matches, None)
        yield record, found


def nested_rows(db: Database) -> Iterator[dict[str, Any]]:
    """One row per code with a ``matches`` list (JSON shapes)."""
    for record, found in iter_lookups_with_matches(db):
        for match in found:
            del match["rank"]
        yield {**record, "matches": found}


def flat_rows(db: Database) -> Iterator[dict[str, Any]]:
    """One row per code and match, match columns prefixed ``match_`` (CSV/TSV shape)."""
    empty = dict.fromkeys(FLAT_MATCH_COLUMNS)
    for record, found in iter_lookups_with_matches(db):
        if not found:
            yield {**record, **empty}
        for match in found:
            yield {**record, **{f"match_{key}": value for key, value in match.items()}}


def columns(fmt: ExportFormat, *, all_matches: bool) -> list[str]:
    """The columns (CSV/TSV header) of an export."""
    if all_matches and fmt in (ExportFormat.csv, ExportFormat.tsv):
        return [*LOOKUP_COLUMNS, *FLAT_MATCH_COLUMNS]
    return [*LOOKUP_COLUMNS, "matches"] if all_matches else list(LOOKUP_COLUMNS)


@dataclass
class Summary:
    """What an export wrote."""

    rows: int = 0
    path: Path | None = None


def _counted(rows: Iterable[dict[str, Any]], summary: Summary) -> Iterator[dict[str, Any]]:
    for row in rows:
        summary.rows += 1
        yield row


def write_export(
    db: Database, stream: TextIO, fmt: ExportFormat = ExportFormat.csv, *, all_matches: bool = False
) -> Summary:
    """Write the whole cache to ``stream``, in one read transaction; returns how many rows were written."""
    from isrcdb.output import Format, write_rows

    summary = Summary()
    with db.snapshot():  # one snapshot for both scans, even while another process writes
        if not all_matches:
            rows: Iterator[dict[str, Any]] = iter_lookups(db)
        elif fmt in (ExportFormat.csv, ExportFormat.tsv):
            rows = flat_rows(db)
        else:
            rows = nested_rows(db)
        write_rows(_counted(rows, summary), Format(fmt.value), stream, columns(fmt, all_matches=all_matches))
    return summary


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A text file that appears at ``path`` only once complete: written to a temporary file beside it, then
    renamed over ``path``. On any failure (or interruption) the temporary file is removed and ``path`` untouched.
    A file replaced keeps its permissions: a private export stays private.
    """
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name{named('output')}")
    directory = path.parent
    temporary = directory / f".{path.name}.{os.urandom(6).hex()}.tmp"
    try:
        # 0o666 and the umask: the file gets the permissions any new file would, unlike mkstemp's 0o600.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


@contextlib.contextmanager
def _in_place(path: Path) -> Iterator[TextIO]:
    """``path`` opened for writing as the shell's ``>`` opens it (no new file, nothing renamed)."""
    try:
        # O_NONBLOCK is not set: a FIFO without a reader waits for one, as `isrcdb export > fifo` would.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        yield handle


def _database_files(database: Path) -> list[Path]:
    return [database, *(Path(f"{database}{suffix}") for suffix in ("-wal", "-shm", "-journal"))]


def _refuse_database(output: Path, status: os.stat_result | None, database: Path) -> None:
    """Refuse an ``output`` that is the database or one of its companion files, by name or by inode (a hard link
    or a symlink to it): replacing them would destroy the cache being read."""
    real = os.path.realpath(output)
    for candidate in _database_files(database):
        same_name = real == os.path.realpath(candidate)
        try:
            other = os.stat(candidate)
        except OSError:
            same_file = False
        else:
            same_file = status is not None and (status.st_dev, status.st_ino) == (other.st_dev, other.st_ino)
        if same_name or same_file:
            raise UsageError(
                f"{output} is the database being exported, or one of its files ({candidate}); "
                f"give another file name{named('output')}"
            )


@contextlib.contextmanager
def output_file(path: Path, database: Path | None = None) -> Iterator[TextIO]:
    """Where an export goes, chosen as the shell's ``>`` would, except that a file is never left half-written:

    * a new or existing regular file is written beside it and renamed over it (:func:`atomic_file`);
    * a symbolic link is followed: the file it points to is replaced atomically and the link kept;
    * anything else (a FIFO, a terminal, ``/dev/null``, ``/proc/self/fd/1``) is opened and written in place: it
      cannot be renamed over, and replacing it would leave its reader waiting on a file nobody writes;
    * the database being read (``database``), its ``-wal``, ``-shm`` or ``-journal`` file are refused.

    A write that fails part way (a full disk, a device that refuses) raises :class:`OutputError`.
    """
    try:
        status: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        status = None  # a new file, or a symbolic link to one
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    if database is not None:
        _refuse_database(path, status, database)
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise UsageError(f"{path} is a directory; give a file name{named('output')}")
    if status is None or stat.S_ISREG(status.st_mode):
        target = Path(os.path.realpath(path)) if os.path.islink(path) else path
        opened = atomic_file(target)
    else:
        opened = _in_place(path)
    try:
        with opened as handle:
            yield handle
    except BrokenPipeError:
        raise  # the reader of a FIFO went away: the same as `isrcdb export | head`
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; the export is incomplete") from None


def export(
    database: Path | str,
    output: Path | None,
    fmt: ExportFormat = ExportFormat.csv,
    *,
    all_matches: bool = False,
    stdout: TextIO | None = None,
) -> Summary:
    """Export ``database`` (a file path or a ``postgresql://`` URL, opened read-only) to ``output`` (see
    :func:`output_file`), or to ``stdout`` when ``output`` is None."""
    import sys

    from isrcdb.database import open_readonly

    with open_readonly(database) as db, db.guard():
        if output is None:
            return write_export(db, stdout or sys.stdout, fmt, all_matches=all_matches)
        with output_file(output, database if isinstance(database, Path) else None) as handle:
            summary = write_export(db, handle, fmt, all_matches=all_matches)
        summary.path = output
        return summary
