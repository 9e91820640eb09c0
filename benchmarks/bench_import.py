"""Import benchmark: ``isrcdb import`` of a file of 1,000,000 codes (time and peak memory).

Run alone with ``python benchmarks/bench_import.py [--quick]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, isrcdb_command, median_of, run_process, synthetic_codes


def run(quick: bool = False) -> list[Result]:
    count = 50_000 if quick else 1_000_000
    runs = 2 if quick else 3
    seconds, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-import-") as tmp:
        work = Path(tmp)
        codes_file = work / "codes.csv"
        with codes_file.open("w") as handle:
            handle.write("title,isrc\n")
            for n, code in enumerate(synthetic_codes(count)):
                handle.write(f"Song {n},{code[:2]}-{code[2:5]}-{code[5:7]}-{code[7:]}\n")
        for attempt in range(runs):
            database = work / f"import-{attempt}.sqlite3"
            run = run_process(
                [*isrcdb_command(), "import", str(codes_file), "--format", "json"],
                env={"ISRCDB_DATABASE": str(database)},
                capture=True,
            )
            assert run.returncode == 0, run.stderr.decode()
            seconds.append(run.seconds)
            peaks.append(run.peak_mb)
            with sqlite3.connect(database) as conn:
                stored = conn.execute("SELECT count(*) FROM isrcs WHERE status = 'pending'").fetchone()[0]
            assert stored == count, (stored, count)
    return [
        Result(
            f"import of {count:,} codes (CSV, hyphenated)",
            median_of(seconds),
            "s",
            seconds,
            None,
            "",
            "< 20 s" if not quick else "reported",
            (median_of(seconds) < 20) if not quick else None,
            f"{count / median_of(seconds):,.0f} codes/s",
        ),
        Result("the same, peak memory", max(peaks), "MB", peaks, None, "", "< 200 MB", max(peaks) < 200),
    ]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(json.dumps(result.as_dict()))
