"""Import benchmark: ``isrcdb import`` of a file of 1,000,000 codes (time and peak memory).

Each import runs in a process of its own, probed for its own peak memory (a few milliseconds of the probe's
start-up are in the wall time, against seconds of import). Run alone with ``python benchmarks/bench_import.py
[--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Size, child_env, median_of, peak_result, run_isrcdb, suite_main, synthetic_codes

TARGET_SECONDS = 20.0


@dataclass(frozen=True)
class Sizes:
    codes: int  # codes in the file
    runs: int  # imports, each into a new database


SIZES: dict[Size, Sizes] = {
    "full": Sizes(codes=1_000_000, runs=3),
    "quick": Sizes(codes=50_000, runs=2),
    "tiny": Sizes(codes=200, runs=1),
}


def run(size: Size = "full") -> list[Result]:
    """Every import measurement, at ``size``; the time target applies to the full size only."""
    count, runs = SIZES[size].codes, SIZES[size].runs
    full = size == "full"
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-import-") as tmp:
        work = Path(tmp)
        codes_file = work / "codes.csv"
        with codes_file.open("w") as handle:
            handle.write("title,isrc\n")
            for n, code in enumerate(synthetic_codes(count)):
                handle.write(f"Song {n},{code[:2]}-{code[2:5]}-{code[5:7]}-{code[7:]}\n")
        imports = []
        for attempt in range(runs):
            database = work / f"import-{attempt}.sqlite3"
            args = ["import", str(codes_file), "--format", "json"]
            imports.append(run_isrcdb(args, env=child_env(work, database), capture=True, peak=True).check())
            with contextlib.closing(sqlite3.connect(database)) as conn:
                stored = conn.execute("SELECT count(*) FROM isrcs WHERE status = 'pending'").fetchone()[0]
            if stored != count:
                raise RuntimeError(f"import stored {stored} pending codes of {count}")
    seconds = [run.seconds for run in imports]
    return [
        Result(
            f"import of {count:,} codes (CSV, hyphenated)",
            median_of(seconds),
            "s",
            seconds,
            target=f"< {TARGET_SECONDS:g} s" if full else "reported",
            passed=median_of(seconds) < TARGET_SECONDS if full else None,
            note=f"{count / median_of(seconds):,.0f} codes/s",
        ),
        peak_result("the same, peak memory", imports, 200),
    ]


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
