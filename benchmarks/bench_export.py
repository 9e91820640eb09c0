"""Benchmark of ``isrcdb export``: wall time and peak memory of a real process over a large synthetic cache.

The cache (1,000,000 codes in full mode, 10,000 with ``--quick``) is :func:`common.build_cache`'s: 80 % of the
codes found (one in eight of those on three releases), 15 % not found, 5 % pending, with a realistic ``raw_json``.

Each export runs as ``isrcdb export ... --output FILE`` in a process of its own, probed for its own peak resident
set (see :data:`common.PEAK_PROBE`). The target is a peak under 200 MB whatever the size of the cache: the export
streams. Baselines: for memory, the peak of ``isrcdb --version`` (the interpreter and isrcdb's imports); for time,
a bare ``sqlite3`` scan of the same view with no formatting, in this process.

Run alone with ``python benchmarks/bench_export.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Size, build_cache, child_env, peak_result, run_isrcdb, suite_main

TARGET_MB = 200.0

SIZES: dict[Size, int] = {"full": 1_000_000, "quick": 10_000, "tiny": 200}  # codes in the cache

EXPORTS = [
    ("csv", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("json", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("jsonl --all-matches", ["--all-matches"], "SELECT * FROM lookups l LEFT JOIN matches m ON m.isrc = l.isrc"),
]


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
        built = time.perf_counter() - started
        size_mb = database.stat().st_size / 1024 / 1024
        rows = [Result(f"build synthetic cache ({count:,} codes, {size_mb:,.0f} MB)", built, "s")]
        for label, extra, scan in EXPORTS:
            fmt = label.split()[0]
            output = work / f"export.{fmt}"
            args = ["export", "--format", fmt, *extra, "--output", str(output)]
            export = run_isrcdb(args, env=env, peak=True).check()
            lines = _count_lines(output)
            output.unlink()
            if lines < count:
                raise RuntimeError(f"export {label} wrote {lines} lines for {count} codes")
            name = f"export {label} ({count:,} codes)"
            rows += [
                peak_result(f"{name}: peak RSS", [export], TARGET_MB),
                Result(
                    f"{name}: wall time",
                    export.seconds,
                    "s",
                    baseline=scan_seconds(database, scan),
                    baseline_name="bare sqlite3 scan",
                    note=f"{count / export.seconds:,.0f} codes/s",
                ),
            ]
    return rows


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
