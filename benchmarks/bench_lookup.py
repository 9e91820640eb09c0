"""Lookup benchmarks: a cached answer's whole-process time, a miss, 100,000 cached codes, scale, size per ISRC.

Run alone with ``python benchmarks/bench_lookup.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Result,
    Size,
    answered_codes,
    build_cache,
    child_env,
    code_of,
    entries_for_answered,
    median_of,
    peak_result,
    run_isrcdb,
    run_process,
    status_of,
    suite_main,
    synthetic_codes,
)

from isrcdb.testing.spotify import SpotifyReplica

SAMPLE = "USRC17607839"


@dataclass(frozen=True)
class Sizes:
    runs: int  # samples of each single lookup's whole-process time
    cached: int  # codes in one ``lookup --file``, every one answered from the cache
    file_runs: int  # samples of that
    stored_large: int  # entries stored, for the scale comparison...
    stored_small: int  # ...against these
    resolved: int  # codes looked up through the replica, for the size per ISRC


SIZES: dict[Size, Sizes] = {
    "full": Sizes(runs=15, cached=100_000, file_runs=5, stored_large=1_000_000, stored_small=1_000, resolved=1_000),
    "quick": Sizes(runs=5, cached=10_000, file_runs=3, stored_large=20_000, stored_small=1_000, resolved=200),
    "tiny": Sizes(runs=1, cached=100, file_runs=1, stored_large=300, stored_small=100, resolved=5),
}


def _hit_seconds(env: dict[str, str], code: str) -> float:
    return run_isrcdb(["lookup", code, "--format", "json"], env=env).check().seconds


def warm_hit(replica: SpotifyReplica, work: Path, runs: int) -> tuple[Result, Result]:
    """``isrcdb lookup CODE --format json`` on a warm cache, against ``python -c 'import sqlite3'``."""
    env = child_env(work, work / "hit.sqlite3", **replica.env())
    _hit_seconds(env, SAMPLE)  # fill the cache
    for _ in range(2):  # warm the OS file cache
        _hit_seconds(env, SAMPLE)
    baseline, samples = [], []
    for _ in range(runs):  # interleaved, so both see the same machine
        baseline.append(run_process([sys.executable, "-c", "import sqlite3"]).check().seconds)
        samples.append(_hit_seconds(env, SAMPLE))
    hit = Result(
        "lookup CODE --format json, warm cache (whole process)",
        median_of(samples) * 1000,
        "ms",
        [s * 1000 for s in samples],
        baseline=median_of(baseline) * 1000,
        baseline_name="python -c 'import sqlite3'",
        target="< 150 ms",
        passed=median_of(samples) < 0.150,
    )
    misses = [_hit_seconds(env, code) for code in synthetic_codes(runs, start=9_000_000)]
    miss = Result(
        "the same, cache miss through the replica (no latency)",
        median_of(misses) * 1000,
        "ms",
        [s * 1000 for s in misses],
        baseline=hit.value,
        baseline_name="the hit above",
        target="reported",
    )
    return hit, miss


def many_cached(work: Path, count: int, startup: float, runs: int) -> tuple[Result, Result]:
    """``isrcdb lookup --file N.txt --format jsonl`` with every code cached, against a plain sqlite3 loop."""
    database = work / f"cached-{count}.sqlite3"
    build_cache(database, entries_for_answered(count))
    codes = answered_codes(count)
    codes_file = work / f"{count}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    # No Spotify is configured: a code not answered from the cache would end in exit status 3, not 0 or 1.
    env = child_env(work, database)
    args = ["lookup", "--file", str(codes_file), "--format", "jsonl"]
    rates, loop_rates = [], []
    for _ in range(runs):
        run = run_isrcdb(args, env=env).check(0, 1)  # 1: some codes are (cached as) not found
        rates.append(count / max(run.seconds - startup, 1e-6))
        loop_rates.append(_plain_loop(database, codes))
    rate = Result(
        f"lookup --file {count:,} codes --format jsonl, all cached",
        median_of(rates),
        "codes/s",
        rates,
        baseline=median_of(loop_rates),
        baseline_name="plain sqlite3 loop, same table",
        target=">= 50,000 codes/s after start-up",
        passed=median_of(rates) >= 50_000,
        note=f"start-up of {startup * 1000:.0f} ms subtracted; 84 % found, 16 % not found",
    )
    peak = peak_result("the same, peak memory", [run_isrcdb(args, env=env, peak=True).check(0, 1)], 150)
    return rate, peak


def _plain_loop(database: Path, codes: list[str]) -> float:
    """Codes per second of the simplest Python loop: one SELECT per code, each row to JSON."""
    conn = sqlite3.connect(database)
    started = time.perf_counter()
    for code in codes:
        row = conn.execute("SELECT * FROM isrcs WHERE isrc = ?", (code,)).fetchone()
        json.dumps(row)
    elapsed = time.perf_counter() - started
    conn.close()
    return len(codes) / elapsed


def scale(work: Path, large: int, small: int, runs: int) -> Result:
    """One cached lookup's whole-process time with ``large`` entries stored against ``small`` entries."""
    targets = {}
    for count in (small, large):
        database = work / f"scale-{count}.sqlite3"
        build_cache(database, count)
        # The same kind of entry in both: the first found code from the middle of the cache on.
        code = code_of(next(n for n in itertools.count(count // 2) if status_of(n) == "found"))
        targets[count] = (child_env(work, database), code)
    for env, code in targets.values():  # warm both, after the writes of building them
        _hit_seconds(env, code)
        _hit_seconds(env, code)
    timings: dict[int, list[float]] = {small: [], large: []}
    for _ in range(runs):  # interleaved, so that both sizes see the same machine
        for count, (env, code) in targets.items():
            timings[count].append(_hit_seconds(env, code))
    for count in targets:
        (work / f"scale-{count}.sqlite3").unlink()
    ratio = median_of(timings[large]) / median_of(timings[small])
    return Result(
        f"single lookup with {large:,} entries stored",
        median_of(timings[large]) * 1000,
        "ms",
        [t * 1000 for t in timings[large]],
        baseline=median_of(timings[small]) * 1000,
        baseline_name=f"the same with {small:,} stored",
        target="within 20 %",
        passed=ratio <= 1.20,
        note=f"ratio {ratio:.2f}",
    )


def size_per_isrc(replica: SpotifyReplica, work: Path, count: int) -> Result:
    """Database bytes per found ISRC after real lookups through the replica, and what dominates them."""
    database = work / "size.sqlite3"
    codes_file = work / "size-codes.txt"
    codes_file.write_text("\n".join(synthetic_codes(count, start=5_000_000)) + "\n")
    args = ["lookup", "--file", str(codes_file), "--format", "jsonl"]
    run_isrcdb(args, env=child_env(work, database, **replica.env())).check()
    conn = sqlite3.connect(database)
    conn.execute("VACUUM")
    found = conn.execute("SELECT count(*) FROM isrcs WHERE status = 'found'").fetchone()[0]
    matches = conn.execute("SELECT count(*) FROM isrc_matches").fetchone()[0]
    raw = conn.execute("SELECT sum(length(raw_json)) FROM tracks").fetchone()[0]
    conn.close()
    size = database.stat().st_size
    return Result(
        "database size per found ISRC (full JSON kept)",
        size / found / 1024,
        "KiB",
        target="reported",
        note=f"{matches / found:.2f} tracks per ISRC; track JSON is {raw / size:.0%} of the file",
    )


def run(size: Size = "full") -> list[Result]:
    """Every lookup measurement, at ``size``."""
    sizes = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-lookup-") as tmp, SpotifyReplica() as replica:
        work = Path(tmp)
        hit, miss = warm_hit(replica, work, sizes.runs)
        rate, peak = many_cached(work, sizes.cached, hit.value / 1000, sizes.file_runs)
        big = scale(work, sizes.stored_large, sizes.stored_small, sizes.runs)
        per_isrc = size_per_isrc(replica, work, sizes.resolved)
    return [hit, miss, rate, peak, big, per_isrc]


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
