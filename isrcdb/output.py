"""Rows (dicts) to text: table, json, jsonl, csv, tsv. Every format but ``table`` is streamed line by line."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TextIO


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


class ExportFormat(StrEnum):
    """The formats of ``isrcdb export`` (no table: an export is for machines)."""

    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


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


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None, stream: TextIO) -> None:
    """An aligned table for people (rich), with the given columns or every key of the first row.

    Names and values are data, never markup: each cell is a rich ``Text`` (so ``[feat. MC Lyte]`` or ``[/bold]``
    is printed as it is) made :func:`visible` (so no escape sequence hidden in data reaches the terminal).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    materialised = list(rows)
    header = list(columns) if columns is not None else (list(materialised[0]) if materialised else [])
    grid = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in header:
        grid.add_column(Text(visible(str(column))), overflow="fold")
    for row in materialised:
        grid.add_row(*(Text(visible(_cell(row.get(column)))) for column in header))
    # On a terminal, fit its width (cells wrap, nothing is cut); piped, never wrap a row.
    width = None if stream.isatty() else 100_000
    Console(file=stream, width=width, highlight=False, markup=False, emoji=False).print(grid)


def write_rows(
    rows: Iterable[dict[str, Any]], fmt: Format, stream: TextIO, columns: Sequence[str] | None = None
) -> None:
    """Write ``rows`` to ``stream`` in ``fmt``; ``columns`` picks and orders the columns of csv/tsv/table."""
    if fmt is Format.table:
        table(rows, columns, stream)
        return
    if fmt is Format.json:
        lines = json_array(rows)
    elif fmt is Format.jsonl:
        lines = json_lines(rows)
    else:
        lines = delimited(rows, "," if fmt is Format.csv else "\t", columns)
    for line in lines:
        stream.write(line)
    stream.flush()
