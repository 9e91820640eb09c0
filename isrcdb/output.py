"""Rows (dicts) to text: table, json, jsonl, csv, tsv, and the plain lines piped output gets by default.

Every format is streamed line by line; the table sizes its columns from the first rows, so it streams too.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TextIO


class Format(StrEnum):
    """Every output format of every command, defined once; each command offers the ones that fit it."""

    table = "table"
    """Aligned columns for people: whole codes, ids and dates; long names cut with an ellipsis."""
    tsv = "tsv"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    text = "text"
    """A summary for people on stderr (``import``, ``sync``)."""
    lines = "lines"
    """Not offered by name: the default when stdout is not a terminal. TSV with a header, one line per row, every
    value made :func:`visible` (a tab or newline inside a value is written ``\\t``, ``\\n``), so that ``cut``,
    ``awk`` and ``sort`` see one row per line and a pipe into ``head`` shows no control sequence."""


DATA_FORMATS = (Format.table, Format.tsv, Format.csv, Format.json, Format.jsonl)
"""The formats of commands that print rows (``lookup``, ``query``, ``stats``)."""
EXPORT_FORMATS = (Format.csv, Format.tsv, Format.json, Format.jsonl)
"""The formats of ``isrcdb export``: no table, an export is for machines."""
REPORT_FORMATS = (Format.text, Format.json, Format.jsonl)
"""The formats of a command's summary (``import``, ``sync``): text on stderr, or one JSON object on stdout."""

ExportFormat = Format
"""The formats of :func:`isrcdb.export.export` (one of :data:`EXPORT_FORMATS`)."""


def default_format(stream: TextIO) -> Format:
    """The format when none is asked for: the table on a terminal, plain tab-separated lines anywhere else."""
    try:
        return Format.table if stream.isatty() else Format.lines
    except (OSError, ValueError):
        return Format.lines


def number(value: int) -> str:
    """A count as isrcdb writes it everywhere people read: ``1,234,567``."""
    return f"{value:,}"


def plural(value: int, word: str, plural_word: str | None = None) -> str:
    """``1 code``, ``2,000 codes``: the count and the word that agrees with it."""
    return f"{value:,} {word if value == 1 else (plural_word or word + 's')}"


def _cell(value: Any) -> str:
    """A value for a CSV/TSV/table cell: lists joined with '; ', booleans as true/false, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# What must never reach a terminal raw from data: C0 and C1 control characters and DEL (ESC starts ANSI CSI and OSC
# sequences, and 0x9b is a CSI of its own on 8-bit terminals), the bidirectional overrides and isolates that reorder
# what is shown, the line and paragraph separators, and lone surrogates (which no UTF-8 terminal can be sent).
# Joiners and other format characters stay: scripts and emoji need them, and they move nothing.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str) -> str:
    """``text`` made safe to show on a terminal: every character that could move the cursor, recolour, retitle or
    reorder the screen is written as its Python escape (``\\x1b``, ``\\n``, ``\\u202e``); the rest is unchanged.

    For what people read (the table format, messages on stderr); the machine formats keep the data exact.
    """
    return _INVISIBLE.sub(_escape, text)


class RawJSON(str):
    """A row already encoded as JSON (by SQLite, for cached answers), written as it is by the JSON formats."""

    __slots__ = ()


# Compact separators: the same text SQLite's json_object() writes, so pre-encoded and encoded rows look alike.
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(row: dict[str, Any]) -> str:
    return row if isinstance(row, RawJSON) else _encoder(row)


def json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield _encode(row) + "\n"


def json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array, one element per line, written as the rows come."""
    first = True
    for row in rows:
        yield ("[\n  " if first else ",\n  ") + _encode(row)
        first = False
    yield "[]\n" if first else "\n]\n"


def delimited(rows: Iterable[dict[str, Any]], delimiter: str, columns: Sequence[str] | None = None) -> Iterator[str]:
    """CSV or TSV with a header; the columns are ``columns`` or the first row's keys."""
    buffer = io.StringIO()
    writer: Any = None
    for row in rows:
        if writer is None:
            header = list(columns) if columns is not None else list(row)
            writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
            writer.writerow(header)
        writer.writerow([_cell(row.get(column)) for column in header])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if writer is None and columns is not None:
        yield delimiter.join(columns) + "\n"


def plain_lines(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> Iterator[str]:
    """:attr:`Format.lines`: a header, then one line per row, tab-separated, every value made :func:`visible`."""
    # The header goes out with the first row, as in csv: a query that fails before its first row writes nothing.
    header: list[str] | None = None
    for row in rows:
        if header is None:
            header = list(columns) if columns is not None else list(row)
            yield "\t".join(visible(column) for column in header) + "\n"
        yield "\t".join([visible(_cell(row.get(column))) for column in header]) + "\n"
    if header is None and columns is not None:
        yield "\t".join(visible(column) for column in columns) + "\n"


SAMPLE_ROWS = 1000
"""How many rows the table reads before it sizes its columns; the rest are streamed into those widths."""
GAP = "  "
MIN_CUT_WIDTH = 12
"""Below this many cells, a name column is too cut to read: a column the command marks optional goes instead."""
_WHOLE_LIMIT = 40
"""A column whose values are single words no longer than this (codes, ids, dates, numbers) is never cut."""


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def cell_width(text: str) -> int:
    """How many terminal cells ``text`` takes (a CJK character or an emoji takes two)."""
    return _width(text)


def cut(text: str, width: int, ellipsis: str = "\u2026") -> str:
    """``text`` in at most ``width`` cells, cut with an ellipsis when it is longer."""
    return text if _width(text) <= width else _fit(text, width, ellipsis)


def _fit(text: str, width: int, ellipsis: str) -> str:
    """``text`` in exactly ``width`` cells: padded, or cut with an ellipsis."""
    size = _width(text)
    if size <= width:
        return text + " " * (width - size)
    if text.isascii():
        return text[: max(width - 1, 0)] + ellipsis
    from rich.cells import set_cell_size

    return set_cell_size(text, max(width - 1, 0)) + ellipsis


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` cells, never cut (a code or an id wider than its column pushes the row)."""
    return text + " " * (width - _width(text))


def _spread(naturals: list[int], available: int) -> list[int]:
    """Widths for the cuttable columns sharing ``available`` cells: the narrow keep their width, the rest share."""
    widths = list(naturals)
    order = sorted(range(len(naturals)), key=naturals.__getitem__)
    left = available
    for done, index in enumerate(order):
        share = max(left // (len(order) - done), 1)
        widths[index] = min(naturals[index], share)
        left -= widths[index]
    return widths


def table_lines(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    width: int | None = None,
    optional: Sequence[str] = (),
    header: bool = True,
    indent: str = "",
    ellipsis: str = "\u2026",
    bold: bool = False,
) -> Iterator[str]:
    """An aligned table for people, streamed: its columns are sized from the first :data:`SAMPLE_ROWS` rows.

    Codes, ids, dates and numbers (single-word values) are never cut; within ``width`` cells (a terminal's, or
    ``None`` for no limit), long names are cut with an ellipsis and the ``optional`` columns, least needed first,
    are left out when the names would have fewer than :data:`MIN_CUT_WIDTH` cells. A column empty in every row is
    left out. Names and values are data: every cell is made :func:`visible`, so no escape sequence hidden in data
    reaches the terminal; the only one written is the table's own, with ``bold``: a bold header.
    """
    source = iter(rows)
    sample = list(itertools.islice(source, SAMPLE_ROWS + 1))
    complete = len(sample) <= SAMPLE_ROWS
    rest = itertools.chain(sample[SAMPLE_ROWS:], source)
    sample = sample[:SAMPLE_ROWS]
    names = list(columns) if columns is not None else (list(sample[0]) if sample else [])
    cells = [[visible(_cell(row.get(column))) for column in names] for row in sample]
    shown = list(range(len(names)))
    if complete and cells:  # only when every row is known can a column be known to be empty in all of them
        shown = [index for index in shown if any(line[index] for line in cells)] or shown
    titles = [_width(visible(name)) if header else 0 for name in names]
    natural = [max([titles[i]] + [_width(line[i]) for line in cells]) for i in range(len(names))]
    cuttable = [any(" " in line[i] or _width(line[i]) > _WHOLE_LIMIT for line in cells) for i in range(len(names))]
    widths = list(natural)
    if width is not None:
        droppable = [names.index(column) for column in optional if column in names]
        while True:
            whole = sum(natural[i] for i in shown if not cuttable[i])
            cut = [i for i in shown if cuttable[i]]
            available = width - len(indent) - whole - len(GAP) * (len(shown) - 1)
            if sum(natural[i] for i in cut) <= available:
                break
            dropping = next((i for i in droppable if i in shown), None)
            if cut and (available >= MIN_CUT_WIDTH * len(cut) or dropping is None):
                for i, fitted in zip(cut, _spread([natural[i] for i in cut], available), strict=True):
                    widths[i] = fitted
                break
            if dropping is None:
                break  # only codes and ids, wider than the screen: shown whole, the terminal wraps them
            shown.remove(dropping)
    last = shown[-1] if shown else None

    def line(values: list[str]) -> str:
        parts = [
            (_fit(values[i], widths[i], ellipsis) if cuttable[i] else _pad(values[i], widths[i]))
            if i != last
            else (_fit(values[i], widths[i], ellipsis).rstrip() if cuttable[i] else values[i])
            for i in shown
        ]
        return indent + GAP.join(parts).rstrip() + "\n"

    if header and names:
        text = line([visible(name) for name in names])
        yield f"{indent}\x1b[1m{text[len(indent) : -1]}\x1b[0m\n" if bold else text
    for values in cells:
        yield line(values)
    for row in rest:
        yield line([visible(_cell(row.get(column))) for column in names])


def terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to (``COLUMNS`` wins), or ``None`` when it is no terminal."""
    try:
        if not stream.isatty():
            return None
    except (OSError, ValueError):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, io.UnsupportedOperation):
        return 80


def ellipsis_for(stream: TextIO) -> str:
    """The ellipsis ``stream``'s encoding can carry: ``…``, or ``...`` under a Latin-1 or ASCII locale."""
    try:
        "\u2026".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "\u2026"


def write_rows(
    rows: Iterable[dict[str, Any]],
    fmt: Format,
    stream: TextIO,
    columns: Sequence[str] | None = None,
    *,
    optional: Sequence[str] = (),
) -> None:
    """Write ``rows`` to ``stream`` in ``fmt``; ``columns`` picks and orders the columns of csv/tsv/table/lines.

    ``optional`` names the table's columns that may be left out, least needed first, when a terminal is too narrow.
    """
    if fmt is Format.table:
        width = terminal_width(stream)
        lines = table_lines(
            rows,
            columns,
            width=width,
            optional=optional,
            ellipsis=ellipsis_for(stream),
            bold=width is not None and os.environ.get("TERM") != "dumb",
        )
    elif fmt is Format.lines:
        lines = plain_lines(rows, columns)
    elif fmt is Format.json:
        lines = json_array(rows)
    elif fmt is Format.jsonl:
        lines = json_lines(rows)
    else:
        lines = delimited(rows, "," if fmt is Format.csv else "\t", columns)
    try:
        for line in lines:
            stream.write(line)
        stream.flush()
    finally:
        # When the output fails half-way, the rows' own generator (a database cursor) is closed now, while its
        # database is still open, and not later by the garbage collector.
        close = getattr(rows, "close", None)
        if close is not None:
            close()
