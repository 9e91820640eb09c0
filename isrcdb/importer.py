"""Reading ISRCs from a text or CSV file and storing the valid ones as pending, without asking Spotify.

A *text* file holds one code per line (blank lines and lines starting with ``#`` are skipped; a first line that
names an ISRC column, such as ``ISRC``, is taken as a header). A *CSV* file is comma, tab, semicolon or ``|``
separated: the separator is named with ``delimiter``, or recognised from the first lines (see
:func:`detect_delimiter`). Its codes are in the column named by ``column``, or else in the column whose header
looks like an ISRC column (``isrc``, ``ISRC code``...), or else, with no header, in the only column whose first
value is a valid ISRC. UTF-8 with or without a byte-order mark, UTF-16 with one, and any line ending
are read; a line longer than :data:`MAX_LINE` characters is reported as invalid without being held in memory;
undecodable bytes become U+FFFD, so the code on that line is reported as invalid.

Memory stays bounded whatever the size of the file: codes are validated and stored in chunks of :data:`CHUNK`,
each chunk in its own short write transaction (so a sync or lookup running meanwhile waits milliseconds, never the
whole import). An import that stops half way (Ctrl-C, a CSV syntax error, power loss) keeps the chunks it
committed; that is harmless because importing is idempotent: codes already stored are left as they are and
counted as already known, so running the same import again completes it. A code repeated in the file is counted as
a duplicate; the codes read so far are remembered in a temporary table of the database, not in memory.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from isrcdb import store
from isrcdb.clock import Clock, utcnow
from isrcdb.errors import InvalidIsrc, UsageError, named
from isrcdb.isrc import validate

if TYPE_CHECKING:
    from isrcdb.database.base import Database

__all__ = ["CHUNK", "MAX_LINE", "ImportReport", "InvalidLine", "import_file", "import_values", "read_values"]

CHUNK = 10_000
"""Codes stored per write transaction."""
MAX_LINE = 65_536
"""The longest line read, in characters; a longer one is reported as invalid."""
MAX_REPORTED = 100
"""Invalid lines described one by one in the report; beyond that they are only counted."""
SNIFF_BYTES = 8192
SNIFF_LINES = 20
"""Lines read ahead to recognise a CSV file's separator."""
DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {"comma": ",", "tab": "\t", "\\t": "\t", "semicolon": ";", "pipe": "|"}
_ISRC_HEADER = re.compile(r"isrc", re.IGNORECASE)


@dataclass(frozen=True)
class InvalidLine:
    """A line whose value is not a valid ISRC."""

    line: int
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass
class ImportReport:
    """What an import read and stored."""

    source: str
    kind: str = "text"
    """``text`` (one code per line) or ``csv``."""
    column: str | None = None
    """The CSV column read (its header, or ``#N`` for a file without a header)."""
    read: int = 0
    """Values read (blank lines and empty CSV cells are not counted)."""
    added: int = 0
    already_known: int = 0
    """Valid codes that were stored before this import."""
    duplicates: int = 0
    """Valid codes repeated in the file (each repeat after the first)."""
    invalid: int = 0
    empty: int = 0
    """CSV rows whose ISRC cell is empty (skipped)."""
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    """The first :data:`MAX_REPORTED` invalid lines."""

    def note_invalid(self, line: int, text: str, reason: str) -> None:
        self.invalid += 1
        if len(self.invalid_lines) < MAX_REPORTED:
            shown = text if len(text) <= 60 else text[:57] + "..."
            self.invalid_lines.append(InvalidLine(line, shown, reason))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the report (``isrcdb import --format json``)."""
        return {
            "source": self.source,
            "format": self.kind,
            "column": self.column,
            "read": self.read,
            "added": self.added,
            "already_known": self.already_known,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "empty": self.empty,
            "invalid_lines": [item.to_dict() for item in self.invalid_lines],
            "invalid_lines_omitted": self.invalid - len(self.invalid_lines),
        }


# --- reading ----------------------------------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """A binary stream that yields ``head`` and then the rest of ``rest`` (what was read to sniff, put back)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open_text(raw: IO[bytes], name: str) -> io.TextIOWrapper:
    head = raw.read(SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # the only encoding read whose text holds NUL bytes
    elif b"\x00" in head:
        # Also after a UTF-8 byte-order mark: the mark does not make a block of NULs (or /dev/zero) text.
        raise UsageError(f"{name} is not a text or CSV file (it contains NUL bytes); give a file of ISRCs")
    elif head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    stream = io.BufferedReader(_Prefixed(head, raw))
    # newline="" keeps line endings for the CSV reader; readline() still splits at \n, \r\n and \r.
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")


class _Lines:
    """Numbered lines of a text stream, each at most :data:`MAX_LINE` characters (``None`` for a longer one)."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self.number = 0

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        readline = self._text.readline
        while True:
            line = readline(MAX_LINE)
            if not line:
                return
            self.number += 1
            if len(line) >= MAX_LINE and not line.endswith(("\n", "\r")):
                while True:  # skip the rest of the line without keeping it
                    rest = readline(MAX_LINE)
                    if not rest or rest.endswith(("\n", "\r")):
                        break
                yield self.number, None
            else:
                yield self.number, line


def _too_long(report: ImportReport, number: int) -> None:
    report.note_invalid(number, "", f"the line is longer than {MAX_LINE} characters")


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _looks_like_isrc_header(name: str) -> bool:
    return bool(_ISRC_HEADER.search(name)) and not _is_valid(name)


def _is_valid(value: str) -> bool:
    try:
        validate(value)
    except InvalidIsrc:
        return False
    return True


def delimiter_option(value: str | None) -> str | None:
    """The separator a ``--delimiter`` option names: one character, or ``tab``, ``comma``, ``semicolon``,
    ``pipe`` (``\\t`` too); ``None`` for none given. Raises :class:`UsageError` for anything else."""
    if value is None:
        return None
    named = DELIMITER_NAMES.get(value.casefold(), value)
    if len(named) != 1 or named in '\r\n"':
        raise UsageError(
            f"--delimiter: {value!r} is not a separator; give one character, or tab, comma, semicolon or pipe"
        )
    return named


def detect_delimiter(lines: list[str]) -> str | None:
    """The CSV separator of a file whose first lines (header first) are ``lines``; ``None``: not CSV.

    Each candidate splits the lines as the CSV reader will (a quoted cell may hold any separator); the one that
    gives the first line two cells or more and most lines that many cells wins, then the one with more cells. So
    a header such as ``"Title, full";ISRC`` is two cells split by ``;``: the comma is inside quotes.
    """
    best: tuple[float, int] | None = None
    chosen: str | None = None
    for delimiter in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        score = (sum(1 for width in widths if width == widths[0]) / len(widths), widths[0])
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _values(
    text: IO[str], name: str, column: str | None, report: ImportReport, delimiter: str | None = None
) -> Iterator[tuple[int, str]]:
    """``(line number, value)`` of every non-empty value in the file; invalid-length lines go to ``report``."""
    lines = _Lines(text)
    numbered: Iterator[tuple[int, str | None]] = iter(lines)
    first: tuple[int, str] | None = None
    for number, line in numbered:
        if line is None:
            _too_long(report, number)
        elif line.strip() and not line.lstrip().startswith("#"):
            first = (number, line)
            break
    if first is None:
        if column is not None:
            raise UsageError(f"{name} has no header line, so it has no column {column!r}")
        return
    if delimiter is None:
        # Read a few lines ahead to judge the separator, then give them back in order.
        ahead = list(itertools.islice(numbered, SNIFF_LINES))
        sample = [first[1], *(text for _, text in ahead if text is not None and not text.lstrip().startswith("#"))]
        delimiter = detect_delimiter(sample)
        numbered = itertools.chain(ahead, numbered)
    if delimiter is None:
        if column is None:
            yield from _text_values(first, numbered, report)
            return
        delimiter = ","  # one column, named by its header
    yield from _csv_values(first, lines, numbered, delimiter, name, column, report)


def _text_values(
    first: tuple[int, str], numbered: Iterator[tuple[int, str | None]], report: ImportReport
) -> Iterator[tuple[int, str]]:
    value = first[1].strip()
    if not _looks_like_isrc_header(value):
        yield first[0], value
    for number, line in numbered:
        if line is None:
            _too_long(report, number)
            continue
        value = line.strip()
        if value and not value.startswith("#"):
            yield number, value


def _csv_values(
    first: tuple[int, str],
    lines: _Lines,
    numbered: Iterator[tuple[int, str | None]],
    delimiter: str,
    name: str,
    column: str | None,
    report: ImportReport,
) -> Iterator[tuple[int, str]]:
    _, line = first
    header = [cell.strip().lstrip("\ufeff") for cell in _split(line, delimiter)]
    index, has_header = _pick_column(header, column, name)
    report.kind = "csv"
    report.column = header[index] if has_header else f"#{index + 1}"

    position = [first[0]]  # the number of the line the reader took last (lines may have been read ahead)

    def rest() -> Iterator[str]:
        if not has_header:
            yield line
        for number, text in numbered:
            position[0] = number
            if text is None:
                _too_long(report, number)
                yield "\n"  # an empty row in place of the overlong line
            else:
                yield text

    reader = csv.reader(rest(), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UsageError(
                f"{name}, line {position[0]}: not valid CSV ({exc}); the codes before it were stored (importing "
                "again after fixing the file is safe)"
            ) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        current = position[0]  # the line the row ends on
        if index >= len(row):
            report.note_invalid(current, delimiter.join(row), f"the row has no column {report.column}")
            continue
        value = row[index].strip()
        if not value:
            report.empty += 1
            continue
        yield current, value


def _pick_column(header: list[str], column: str | None, name: str) -> tuple[int, bool]:
    """(index of the ISRC column, whether the first line is a header)."""
    listed = ", ".join(repr(cell) for cell in header)
    if column is not None:
        wanted = column.strip().casefold()
        for index, cell in enumerate(header):
            if cell.casefold() == wanted:
                return index, True
        raise UsageError(f"{name} has no column {column!r}; its first line has: {listed}")
    candidates = [index for index, cell in enumerate(header) if _looks_like_isrc_header(cell)]
    if candidates:
        exact = [index for index in candidates if header[index].casefold() == "isrc"]
        return (exact or candidates)[0], True
    valid = [index for index, cell in enumerate(header) if _is_valid(cell)]
    if len(valid) == 1:
        return valid[0], False
    raise UsageError(
        f"cannot tell which column of {name} holds the ISRCs (first line: {listed}); name it with {named('column')}"
    )


# --- storing ----------------------------------------------------------------------------------------------------


def import_values(
    db: Database, values: Iterable[tuple[int, str]], report: ImportReport, *, clock: Clock = utcnow
) -> ImportReport:
    """Validate ``(line number, value)`` pairs and store the valid codes as pending, :data:`CHUNK` at a time."""
    batch: list[str] = []
    valid = 0

    def flush() -> None:
        report.duplicates += len(batch) - store.note_seen(db, batch)
        report.added += store.ensure_pending(db, batch, clock())
        batch.clear()

    store.forget_seen(db)  # what an earlier import on this connection left, if it failed part way
    for number, value in values:
        report.read += 1
        try:
            code = validate(value)
        except InvalidIsrc as exc:
            report.note_invalid(number, value, exc.reason)
            continue
        valid += 1
        batch.append(code)
        if len(batch) >= CHUNK:
            flush()
    if batch:
        flush()
    store.forget_seen(db)
    report.already_known = valid - report.added - report.duplicates
    return report


def import_file(
    db: Database,
    source: str,
    *,
    column: str | None = None,
    delimiter: str | None = None,
    clock: Clock = utcnow,
    stdin: BinaryIO | None = None,
) -> ImportReport:
    """Import the codes of ``source`` (a path, or ``-`` for standard input) into ``db``.

    Raises :class:`~isrcdb.errors.UsageError` for a file that cannot be read, a binary file, a ``column`` the
    file does not have, or a file whose ISRC column cannot be told; nothing is stored in those cases.
    """
    report = ImportReport(source=source)
    values = read_values(source, report, column=column, delimiter=delimiter, stdin=stdin)
    with db.guard():
        return import_values(db, values, report, clock=clock)


def read_values(
    source: str,
    report: ImportReport,
    *,
    column: str | None = None,
    delimiter: str | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[tuple[int, str]]:
    """``(line number, value)`` of every value of ``source`` (a path, or ``-`` for standard input), read as the
    module docstring describes; ``isrcdb import`` and ``isrcdb lookup --file`` both read files through it.

    Values are not validated. Lines that yield no value (too long, a CSV row without the column) are noted in
    ``report``, which also learns the file's kind and column. ``delimiter`` reads the file as CSV with that
    separator instead of recognising it. Raises :class:`~isrcdb.errors.UsageError` for a file
    that cannot be read, a binary file, a ``column`` the file does not have, or one whose ISRC column cannot be
    told; it is raised before the first value for all but a read error or a CSV syntax error part way.
    """
    name = "standard input" if source == "-" else source
    if source == "-":
        raw = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if raw is None:
            raise UsageError("standard input is closed; give a FILE of ISRCs")
        yield from _values(_open_text(raw, name), name, column, report, delimiter)
        return
    try:
        handle = open(source, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    with handle:
        try:
            yield from _values(_open_text(handle, name), name, column, report, delimiter)
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
