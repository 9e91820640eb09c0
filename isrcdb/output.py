"""Rows (dicts) to text: table, json, jsonl, csv, tsv. Every format but ``table`` is streamed line by line."""

from __future__ import annotations

import csv
import io
import json
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
    """An aligned table for people (rich), with the given columns or every key of the first row."""
    from rich.console import Console
    from rich.table import Table

    materialised = list(rows)
    header = list(columns) if columns is not None else (list(materialised[0]) if materialised else [])
    grid = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in header:
        grid.add_column(column, overflow="fold")
    for row in materialised:
        grid.add_row(*(_cell(row.get(column)) for column in header))
    # On a terminal, fit its width (cells wrap, nothing is cut); piped, never wrap a row.
    width = None if stream.isatty() else 100_000
    Console(file=stream, width=width, highlight=False).print(grid)


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
