"""The whole cache as CSV, TSV, JSON or JSON lines, streamed in bounded memory, written atomically to a file.

Rows come from the public views (``lookups``, and ``matches`` with ``all_matches``), read in one read transaction
so that the export is one consistent snapshot even while another isrcdb writes. Unlike ``isrcdb query``, the
export knows its columns, so ``stale`` and ``explicit`` are written as booleans (``true``/``false``) and
``artists`` as a list (in CSV/TSV: names joined with ``"; "``).

With ``all_matches``, JSON and JSON lines give each code a ``matches`` list (every Spotify track it matched,
canonical first), as ``isrcdb lookup --all-matches`` does; CSV and TSV give one row per code and match, with the
match's columns prefixed ``match_`` (a code without matches keeps one row, its match columns empty).

CSV and TSV of the lookups from SQLite are built by SQLite itself, one line per row (see :func:`line_batches`):
a row made into a dict, converted and written by the csv module costs several times what SQLite's own CSV output
does. The bytes are the same either way.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import json
import operator
import os
import stat
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from isrcdb.errors import OutputError, UsageError, named
from isrcdb.output import ExportFormat, delimited
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

_LOOKUPS_FROM = f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM lookups"
_LOOKUPS_SQL = f"{_LOOKUPS_FROM} ORDER BY isrc"
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


# --- CSV and TSV lines built by SQLite -----------------------------------------------------------------------------
#
# SQLite builds every line (printf), its values separated by _SEPARATOR and ended by _LINE_END, and gives it as
# bytes, the UTF-8 it holds: never decoded into str nor encoded again. _SEPARATOR, _LINE_END and _MARK are bytes
# that UTF-8 text never holds, so no value can be taken for them. In a batch of lines, only those holding a byte
# that needs a look (_looked_for) are looked at (_batch_text); the others are written as they are, separators made
# delimiters and line ends line feeds.
#
# The lines are what the csv module writes for every value isrcdb stores. A cache edited by hand could hold values
# SQLite writes otherwise, which are not looked for: a BLOB, a real number in an integer column, artists' text that
# starts like a JSON array without being JSON.

_SEPARATOR = b"\xff"
"""Between the values of a line SQLite builds."""

_MARK = b"\xfe"
"""What a value becomes in a line that cannot carry it as the csv module would write it: its row is read again and
converted in Python."""

_LINE_END = b"\xfd"
"""What ends a line SQLite builds."""

_ARTISTS = LOOKUP_COLUMNS.index("artists")
_QUOTE, _LINE_FEED, _RETURN, _BACKSLASH, _MARKED = b'"\n\r\\' + _MARK

# Text from Spotify (and the reasons of failures, which may quote a server) may hold U+0000, where printf's %s would
# stop: such a value is marked. isrcdb writes the other columns itself: codes, statuses and timestamps (text without
# U+0000), counts and durations (integers), the artists' JSON (escaped).
_FOREIGN_TEXT = frozenset({"spotify_id", "name", "album", "album_type", "release_date", "spotify_url", "last_error"})

_MARK_SQL = f"CAST(X'{_MARK.hex()}' AS TEXT)"


def _line_value(column: str) -> str:
    """SQL for ``column`` in a line: the text :func:`isrcdb.output.delimited` would be given for it, or
    :data:`_MARK`. printf writes ``NULL`` as nothing, an integer in decimal, text as it is."""
    if column in BOOLEAN_COLUMNS:
        return (
            f"CASE {column} WHEN 0 THEN 'false' WHEN 1 THEN 'true' "
            f"ELSE CASE WHEN {column} IS NULL THEN NULL ELSE {_MARK_SQL} END END"
        )
    if column == "artists":
        # isrcdb writes the names as a compact JSON array (["A","B"]): without a backslash (an escaped quote, a
        # control character...) they are the text between the first '["' and the last '"]', joined by '","'. A
        # backslash or a quote left in the field, as other JSON leaves, has the row read again (_batch_text);
        # only text that starts with '["' without being JSON would pass.
        return (
            "CASE WHEN artists >= '[\"' AND artists < '[#' "
            "THEN replace(substr(artists, 3, length(artists) - 4), '\",\"', '; ') "
            f"WHEN artists IS NULL OR artists = '[]' THEN NULL ELSE {_MARK_SQL} END"
        )
    if column in _FOREIGN_TEXT:
        return f"CASE WHEN instr({column}, char(0)) THEN {_MARK_SQL} ELSE {column} END"
    return column


def _printf(columns: Sequence[str | None]) -> str:
    """SQL for the line of ``columns`` (``None``: a value left empty), ended by :data:`_LINE_END`."""
    template = _SEPARATOR.join(b"" if column is None else b"%s" for column in columns) + _LINE_END
    values = ", ".join(_line_value(column) for column in columns if column is not None)
    return f"printf(CAST(X'{template.hex()}' AS TEXT), {values})"


# A code without a match has NULL in every track column (see docs/schema.md): its line leaves them empty unread.
_LINE = (
    "CASE WHEN spotify_id IS NULL "
    f"THEN {_printf([None if column in TRACK_FIELDS else column for column in LOOKUP_COLUMNS])} "
    f"ELSE {_printf(LOOKUP_COLUMNS)} END"
)

_LINES_SQL = f"SELECT CAST({_LINE} AS BLOB) FROM lookups ORDER BY isrc"

LINE_BATCH = 2000
"""Rows read and checked at a time: about half a megabyte of text."""

_FIRST = operator.itemgetter(0)


def _header(delimiter: str) -> str:
    return delimiter.join(LOOKUP_COLUMNS) + "\n"


def _builds_lines(db: Database) -> bool:
    """Whether SQLite can build the lines of ``db``: its text is UTF-8 (the encoding isrcdb creates databases in)."""
    if db.dialect != "sqlite":
        return False
    row = db.one("PRAGMA encoding")
    return row is not None and row[0] == "UTF-8"


def line_batches(db: Database, delimiter: str) -> Generator[tuple[bytes, int], None, None]:
    """The lines of the lookups in CSV (``delimiter`` ``","``) or TSV (``"\\t"``) without the header, in UTF-8, as
    batches with how many rows each holds: the text :func:`isrcdb.output.delimited` writes for
    :func:`iter_lookups`' rows. SQLite only (see :func:`_builds_lines`)."""
    looked_for = _looked_for(delimiter)
    cursor = db.execute(_LINES_SQL)
    try:
        while batch := cursor.fetchmany(LINE_BATCH):
            yield _batch_text(db, b"".join(map(_FIRST, batch)), delimiter, looked_for), len(batch)
    finally:
        cursor.close()


@functools.cache
def _looked_for(delimiter: str) -> tuple[int, ...]:
    """The bytes that make a line more than its values joined by delimiters: the characters this Python's csv
    module quotes, written as :func:`isrcdb.output.delimited` writes (the delimiter, the quote, the line feed, and
    the carriage return from Python 3.12 on, not in 3.11); the backslash (SQLite leaves one in an artist's name
    that its JSON escaped); :data:`_MARK`."""
    lines: list[str] = []
    csv.writer(SimpleNamespace(write=lines.append), lineterminator="\n").writerow(["a\rb", ""])
    returns = (_RETURN,) if lines[0].startswith('"') else ()
    return (ord(delimiter), _QUOTE, _LINE_FEED, *returns, _BACKSLASH, _MARKED)


def _batch_text(db: Database, text: bytes, delimiter: str, looked_for: tuple[int, ...]) -> bytes:
    """A batch of lines (``text``) as :func:`line_batches` gives it: separators made delimiters, line ends line
    feeds, after a look at the lines holding a byte ``looked_for``:

    * a line with a marked value, or artists that SQLite could not write (a quote or backslash left in them), is
      read again and converted as :func:`iter_lookups` converts;
    * another has its values quoted as the csv module quotes them (a backslash elsewhere is a value's own).
    """
    if any(byte in text for byte in looked_for):
        quoted = looked_for[:-2]  # not the backslash nor the mark
        pieces: list[bytes] = []
        again: list[int] = []  # where the lines to read again are in pieces
        written = 0  # how much of text is in pieces
        for start, end in _parts_holding(text, looked_for, _LINE_END):
            pieces.append(text[written:start])
            line = text[start:end]
            if _MARKED in line or not _artists_written(line):
                again.append(len(pieces))
                pieces.append(line)
                end += 1  # the row read again is ended by a line feed of its own
            else:
                pieces.append(_quoted(line, quoted))
            written = end
        pieces.append(text[written:])
        if again:
            rows = _read_again(db, [_isrc_of(pieces[index]) for index in again], delimiter)
            for index, row in zip(again, rows, strict=True):
                pieces[index] = row
        text = b"".join(pieces)
    # The rows read again, in UTF-8, hold neither a separator nor a line end.
    return text.replace(_SEPARATOR, delimiter.encode()).replace(_LINE_END, b"\n")


def _parts_holding(text: bytes, looked_for: tuple[int, ...], boundary: bytes) -> list[tuple[int, int]]:
    """Where the parts of ``text`` between ``boundary`` bytes that hold a byte ``looked_for`` start and end, in
    order: a search per byte in the whole of ``text``, and a few more per part found."""
    found: set[tuple[int, int]] = set()
    for byte in looked_for:
        position = text.find(byte)
        while position >= 0:
            end = text.find(boundary, position)
            end = len(text) if end < 0 else end
            found.add((text.rfind(boundary, 0, position) + 1, end))
            position = text.find(byte, end)
    return sorted(found)


def _artists_written(line: bytes) -> bool:
    """Whether SQLite wrote the artists of ``line``: no quote or backslash left in them."""
    if _QUOTE not in line and _BACKSLASH not in line:
        return True
    artists = line.split(_SEPARATOR)[_ARTISTS]
    return _QUOTE not in artists and _BACKSLASH not in artists


def _quoted(line: bytes, quoted: tuple[int, ...]) -> bytes:
    """``line`` with each value that holds one of the ``quoted`` bytes in quotes, its own quotes doubled: the csv
    module's minimal quoting."""
    pieces: list[bytes] = []
    written = 0
    for start, end in _parts_holding(line, quoted, _SEPARATOR):
        pieces += (line[written:start], b'"', line[start:end].replace(b'"', b'""'), b'"')
        written = end
    pieces.append(line[written:])
    return b"".join(pieces)


def _isrc_of(line: bytes) -> str:
    """The ISRC of a line SQLite built: its first value, which isrcdb writes (twelve letters and digits)."""
    return line.partition(_SEPARATOR)[0].decode()


def _read_again(db: Database, isrcs: list[str], delimiter: str) -> list[bytes]:
    """The rows of ``isrcs`` (in order), each written by :func:`isrcdb.output.delimited` as the export of
    :func:`iter_lookups`' rows writes it."""
    from isrcdb.query import row_converter

    convert = row_converter(LOOKUP_COLUMNS, booleans=BOOLEAN_COLUMNS, blobs=False)
    rows = db.all(
        f"{_LOOKUPS_FROM} WHERE isrc IN (SELECT value FROM json_each(:isrcs)) ORDER BY isrc",
        {"isrcs": json.dumps(isrcs)},
    )
    texts = list(delimited(map(convert, rows), delimiter, LOOKUP_COLUMNS))
    texts[0] = texts[0].removeprefix(_header(delimiter))  # delimited writes the header with the first row
    return [text.encode() for text in texts]


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
    db: Database,
    stream: TextIO,
    fmt: ExportFormat = ExportFormat.csv,
    *,
    all_matches: bool = False,
    binary: BinaryIO | None = None,
) -> Summary:
    """Write the whole cache to ``stream``, in one read transaction; returns how many rows were written.

    ``binary``: the byte stream under ``stream``, when text written to ``stream`` reaches it as UTF-8 with its line
    feeds unchanged; CSV and TSV from SQLite are then written to it as SQLite gives them (see :func:`line_batches`).
    """
    from isrcdb.output import Format, write_rows

    summary = Summary()
    with db.snapshot():  # one snapshot for both scans, even while another process writes
        if not all_matches and fmt in (ExportFormat.csv, ExportFormat.tsv) and _builds_lines(db):
            summary.rows = _write_lines(db, stream, binary, "," if fmt is ExportFormat.csv else "\t")
            return summary
        if not all_matches:
            rows: Iterator[dict[str, Any]] = iter_lookups(db)
        elif fmt in (ExportFormat.csv, ExportFormat.tsv):
            rows = flat_rows(db)
        else:
            rows = nested_rows(db)
        write_rows(_counted(rows, summary), Format(fmt.value), stream, columns(fmt, all_matches=all_matches))
    return summary


def _write_lines(db: Database, stream: TextIO, binary: BinaryIO | None, delimiter: str) -> int:
    """Write the header and :func:`line_batches` to ``binary`` (after what was written to ``stream``), or decoded to
    ``stream``; returns how many rows were written."""
    stream.flush()
    write: Callable[[bytes], object] = binary.write if binary is not None else lambda text: stream.write(text.decode())
    header = _header(delimiter).encode()
    rows = 0
    batches = line_batches(db, delimiter)
    try:
        for text, count in batches:
            # The header goes out with the first rows, as the csv module writes it: a read that fails first writes
            # nothing.
            write(text if rows else header + text)
            rows += count
    finally:
        batches.close()  # when the output fails half-way: the cursor is closed now, while its database is open
    if not rows:
        write(header)
    if binary is not None:
        binary.flush()
    stream.flush()
    return rows


def _utf8_bytes(stream: TextIO) -> BinaryIO | None:
    """The byte stream under ``stream`` (standard output) when text written to it reaches it as UTF-8 with its line
    feeds unchanged (a text stream Python opened translates them only to the system's line ending)."""
    if not isinstance(stream, io.TextIOWrapper) or os.linesep != "\n":
        return None
    return stream.buffer if codecs.lookup(stream.encoding).name == "utf-8" else None


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
            stream = stdout or sys.stdout
            return write_export(db, stream, fmt, all_matches=all_matches, binary=_utf8_bytes(stream))
        with output_file(output, database if isinstance(database, Path) else None) as handle:
            # Opened by output_file: UTF-8, no line ending translated.
            summary = write_export(db, handle, fmt, all_matches=all_matches, binary=handle.buffer)
        summary.path = output
        return summary
