"""Benchmark of piped output: ``isrcdb query`` of every row of the lookups view into a pipe, in the default format
(tab-separated lines, since a pipe is no terminal), as an explicit ``--format table``, and as ``--format csv``.

The cache (50,000 codes in full mode, 10,000 with ``--quick``, 200 with ``--tiny``) is :func:`common.build_cache`'s.
Each run is a process of its own writing into a pipe that this process drains, probed for its own peak resident set.
The target: the default and the table cost about what CSV costs, in time (within 1.5 times) and in memory (a flat
peak, well under 100 MB: neither holds the rows, the table sizes its columns from the first 1,000).

Run alone with ``python benchmarks/bench_output.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Size, build_cache, child_env, peak_result, run_isrcdb, suite_main

TARGET_MB = 100.0
TIME_RATIO = 1.5

SIZES: dict[Size, int] = {"full": 50_000, "quick": 10_000, "tiny": 200}  # codes in the cache
REPEATS: dict[Size, int] = {"full": 3, "quick": 3, "tiny": 1}

SQL = "SELECT * FROM lookups ORDER BY isrc"
FORMATS = [("default (piped: tab-separated lines)", []), ("--format table", ["--format", "table"])]


def run(size: Size = "full") -> list[Result]:
    """The piped-output measurements, at ``size``: CSV first, the baseline of the others."""
    count = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-output-") as tmp:
        work = Path(tmp)
        database = work / "cache.sqlite3"
        env = child_env(work, database)
        build_cache(database, count)
        rows: list[Result] = []
        csv_seconds = 0.0
        for label, extra in [("--format csv", ["--format", "csv"]), *FORMATS]:
            runs = []
            for _ in range(REPEATS[size]):
                started = time.perf_counter()
                done = run_isrcdb(["query", SQL, "--timeout", "0", *extra], env=env, capture=True, peak=True)
                done.check()
                runs.append((time.perf_counter() - started, done))
                lines = done.stdout.count(b"\n")
                if lines < count + 1:
                    raise RuntimeError(f"query {label} wrote {lines} lines for {count} codes")
            seconds = statistics.median(elapsed for elapsed, _ in runs)
            name = f"piped query, {label} ({count:,} rows)"
            rows.append(peak_result(f"{name}: peak RSS", [done for _, done in runs], TARGET_MB))
            if not csv_seconds:
                csv_seconds = seconds
                rows.append(
                    Result(
                        f"{name}: wall time", seconds, "s", [e for e, _ in runs], note=f"{count / seconds:,.0f} rows/s"
                    )
                )
                continue
            rows.append(
                Result(
                    f"{name}: wall time",
                    seconds,
                    "s",
                    [elapsed for elapsed, _ in runs],
                    baseline=csv_seconds,
                    baseline_name="--format csv",
                    target=f"< {TIME_RATIO:g}x csv",
                    passed=seconds < csv_seconds * TIME_RATIO if size == "full" else None,
                    kind="ratio",
                    note=f"{count / seconds:,.0f} rows/s",
                )
            )
    return rows


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
