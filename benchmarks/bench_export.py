"""Benchmark of ``isrcdb export``: wall time and peak memory of a real process over a large synthetic cache.

The cache (1,000,000 codes in full mode, 100,000 with ``--quick``) is :func:`common.build_cache`'s: 80 % of the
codes found (one in eight of those on three releases), 15 % not found, 5 % pending, with a realistic ``raw_json``;
its names are then made as varied as a real catalogue's (:data:`VARIED_NAMES`): commas, quotes, text that is not
ASCII, artists' names with a comma or a quote, so that writing them as CSV is measured too.

Each export runs as ``isrcdb export ... --output FILE`` in a process of its own, probed for its own peak resident
set (see :data:`common.PEAK_PROBE`). The target is a peak under 200 MB whatever the size of the cache: the export
streams. Baselines: for memory, the peak of ``isrcdb --version`` (the interpreter and isrcdb's imports); for the
time of CSV, the ``sqlite3`` command-line shell writing ``sqlite3 -csv`` of the same view to a file, run interleaved
with the export (target: at most 1.5x it; the row says skipped without the shell: ``apt-get install sqlite3``),
selecting the export's columns of the same view in the same order; the first pair of files is compared row by row
(the values are the same; the form differs, as the row says) and every later file with the first of its kind, so
that each timed run wrote every row; for the other formats, a bare scan of the same view with no formatting, in
this process.

Run alone with ``python benchmarks/bench_export.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Result,
    Run,
    Size,
    build_cache,
    child_env,
    median_of,
    peak_result,
    run_isrcdb,
    run_process,
    suite_main,
)

from isrcdb.export import LOOKUP_COLUMNS

TARGET_MB = 200.0
CSV_RATIO = 1.5  # export --format csv, at most this many times ``sqlite3 -csv`` of the same view

SIZES: dict[Size, int] = {"full": 1_000_000, "quick": 100_000, "tiny": 200}  # codes in the cache
CSV_RUNS: dict[Size, int] = {"full": 3, "quick": 3, "tiny": 1}  # interleaved pairs of CSV export and sqlite3 -csv

EXPORTS = [
    ("csv", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("json", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("jsonl --all-matches", ["--all-matches"], "SELECT * FROM lookups l LEFT JOIN matches m ON m.isrc = l.isrc"),
]


# As a catalogue of popular music has them: one track name in 25 with a comma, one in 200 quoted, one in four not
# ASCII; one album name in 33 with a comma; one track in 100 with an artist whose name holds a comma, one in 1,000
# with one whose name holds a quote (escaped in the JSON of the names).
VARIED_NAMES = [
    "UPDATE tracks SET name = name || ', Pt. 2' WHERE rowid % 25 = 0",
    "UPDATE tracks SET name = '\"' || name || '\" (Live)' WHERE rowid % 200 = 1",
    "UPDATE tracks SET name = name || ' — Don’t Stop' WHERE rowid % 4 = 2",
    "UPDATE albums SET name = name || ', Vol. 1' WHERE rowid % 33 = 3",
    "UPDATE tracks SET artist_names = json_insert(artist_names, '$[#]', 'Tyler, The Creator') WHERE rowid % 100 = 4",
    "UPDATE tracks SET artist_names = json_insert(artist_names, '$[#]', 'The \"Band\"') WHERE rowid % 1000 = 5",
]


def vary_names(database: Path) -> None:
    """Make the names of the synthetic cache at ``database`` as varied as :data:`VARIED_NAMES` says."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        with conn:
            for statement in VARIED_NAMES:
                conn.execute(statement)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def scan_seconds(database: Path, sql: str) -> float:
    """Seconds to read every row of ``sql`` with the standard library and do nothing with it (the floor)."""
    started = time.perf_counter()
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        for _ in conn.execute(sql):
            pass
    return time.perf_counter() - started


def run(size: Size = "full") -> list[Result]:
    """Every export measurement, at ``size``."""
    count = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-export-") as tmp:
        work = Path(tmp)
        database = work / "cache.sqlite3"
        env = child_env(work, database)
        started = time.perf_counter()
        build_cache(database, count)
        vary_names(database)
        built = time.perf_counter() - started
        size_mb = database.stat().st_size / 1024 / 1024
        with contextlib.closing(sqlite3.connect(database)) as conn:
            matches, found = conn.execute(
                "SELECT (SELECT count(*) FROM isrc_matches), (SELECT count(*) FROM isrcs WHERE status = 'found')"
            ).fetchone()
        rows = [
            Result(
                f"build synthetic cache ({count:,} codes, {size_mb:,.0f} MB, {matches / found:.2f} tracks per found "
                "code)",
                built,
                "s",
            )
        ]
        for label, extra, scan in EXPORTS:
            fmt = label.split()[0]
            output = work / f"export.{fmt}"
            args = ["export", "--format", fmt, *extra, "--output", str(output)]
            name = f"export {label} ({count:,} codes)"
            if fmt == "csv":
                exports, timed = csv_against_sqlite3(database, env, args, output, CSV_RUNS[size], name)
                if size != "full":  # isrcdb's start-up (~0.1 s against sqlite3's few ms) weighs on a small export
                    timed.passed = None
                    timed.target += f" (judged at {SIZES['full']:,} codes)"
            else:
                exports = [run_isrcdb(args, env=env, peak=True).check()]
                _check_lines(output, count)
                output.unlink()
                timed = Result(
                    f"{name}: wall time",
                    exports[0].seconds,
                    "s",
                    baseline=scan_seconds(database, scan),
                    baseline_name="bare sqlite3 scan",
                    note=f"{count / exports[0].seconds:,.0f} codes/s",
                )
            rows += [peak_result(f"{name}: peak RSS", exports, TARGET_MB), timed]
    return rows


FLOOR_SQL = f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM lookups ORDER BY isrc"
"""What ``sqlite3 -csv`` writes: the columns the export writes, of the same view, in the same order."""


def csv_against_sqlite3(
    database: Path, env: dict[str, str], args: list[str], output: Path, runs: int, name: str
) -> tuple[list[Run], Result]:
    """The CSV export's runs, and its wall-time row against ``sqlite3 -csv -header`` of the same view into a file,
    run interleaved with it; the first pair of files is compared row by row, every later file with the first of its
    kind (so that every timed run wrote the same rows)."""
    shell = shutil.which("sqlite3")
    floor_file = output.with_name("sqlite3.csv")
    floor_cmd = [shell or "sqlite3", "-csv", "-header", "-readonly", "-cmd", f'.output "{floor_file}"']
    count = _count_rows(database)
    exports: list[Run] = []
    floors: list[float] = []
    compared = ""
    digests: dict[Path, str] = {}
    for attempt in range(runs):
        exports.append(run_isrcdb(args, env=env, peak=True).check())
        _check_lines(output, count)
        _same_as_first(output, digests)
        if shell is not None:
            floors.append(run_process([*floor_cmd, str(database), FLOOR_SQL]).check().seconds)
            _same_as_first(floor_file, digests)
            if attempt == 0:
                compared = compare_with_sqlite3_csv(output, floor_file)
            floor_file.unlink()
        output.unlink()
    seconds = [export.seconds for export in exports]
    value = median_of(seconds)
    rate = f"{count / value:,.0f} codes/s"
    target = f"<= {CSV_RATIO:g}x sqlite3 -csv"
    if shell is None:
        why = "no sqlite3 command-line shell here (apt-get install sqlite3)"
        return exports, Result(f"{name}: wall time", value, "s", seconds, target=target, note=f"{rate}; {why}")
    floor = median_of(floors)
    return exports, Result(
        f"{name}: wall time",
        value,
        "s",
        seconds,
        baseline=floor,
        baseline_name="sqlite3 -csv, same view, to a file",
        target=target,
        passed=value <= CSV_RATIO * floor,
        note=f"{rate}; {runs} interleaved pairs; {compared}",
        kind="ratio",
    )


def compare_with_sqlite3_csv(ours: Path, theirs: Path) -> str:
    """What the two CSV files have in common, checked row by row (raises when a value differs)."""
    if ours.read_bytes() == theirs.read_bytes():
        return "the same bytes as sqlite3's (compared)"
    with ours.open(newline="", encoding="utf-8") as mine, theirs.open(newline="", encoding="utf-8") as shell:
        mine_rows, shell_rows = csv.reader(mine), csv.reader(shell)
        header = next(mine_rows)
        if next(shell_rows) != header:
            raise RuntimeError("export --format csv and sqlite3 -csv wrote different headers")
        as_isrcdb = _isrcdb_form(header)
        for number, (row, other) in enumerate(itertools.zip_longest(mine_rows, shell_rows), start=2):
            if row is None or other is None or row != as_isrcdb(other):
                raise RuntimeError(f"export --format csv and sqlite3 -csv differ at line {number}: {row} {other}")
    return (
        "the same rows and values as sqlite3's (compared row by row); the form differs: sqlite3 writes booleans "
        "as 0/1, artists as a JSON array (isrcdb: false/true, names joined by '; ') and quotes text with spaces"
    )


def _isrcdb_form(header: list[str]) -> Callable[[list[str]], list[str]]:
    """Turns a row of ``sqlite3 -csv`` into what isrcdb writes for the same values."""
    booleans = [header.index(column) for column in ("stale", "explicit") if column in header]
    artists = header.index("artists") if "artists" in header else None

    def convert(row: list[str]) -> list[str]:
        row = list(row)
        for index in booleans:
            row[index] = {"0": "false", "1": "true"}.get(row[index], row[index])
        if artists is not None and row[artists].startswith("["):
            row[artists] = "; ".join(json.loads(row[artists]))
        return row

    return convert


def _same_as_first(path: Path, digests: dict[Path, str]) -> None:
    """Check that the file at ``path`` holds the bytes it held the first time (``digests``, by path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    first = digests.setdefault(path, digest.hexdigest())
    if digest.hexdigest() != first:
        raise RuntimeError(f"{path.name} differs from what the first run wrote")


def _count_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows: int = conn.execute("SELECT count(*) FROM isrcs").fetchone()[0]
    return rows


def _check_lines(output: Path, count: int) -> None:
    lines = _count_lines(output)
    if lines < count:
        raise RuntimeError(f"export {output.name} wrote {lines} lines for {count} codes")


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
