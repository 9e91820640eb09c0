"""Lookup benchmarks: a cached answer's whole-process time, a miss, 100,000 cached codes, scale, size per ISRC.

Run alone with ``python benchmarks/bench_lookup.py [--quick]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Result,
    build_cache,
    isrcdb_command,
    median_of,
    run_process,
    synthetic_codes,
)

from isrcdb.testing.spotify import SpotifyReplica

SAMPLE = "USRC17607839"


def _env(replica: SpotifyReplica, database: Path, cache_dir: Path) -> dict[str, str]:
    return {**replica.env(), "ISRCDB_DATABASE": str(database), "ISRCDB_CACHE_DIR": str(cache_dir)}


def _hit_seconds(env: dict[str, str], code: str) -> float:
    run = run_process([*isrcdb_command(), "lookup", code, "--format", "json"], env=env)
    assert run.returncode == 0, run
    return run.seconds


def warm_hit(replica: SpotifyReplica, work: Path, runs: int) -> tuple[Result, Result]:
    """``isrcdb lookup CODE --format json`` on a warm cache, against ``python -c 'import sqlite3'``."""
    env = _env(replica, work / "hit.sqlite3", work / "cache")
    assert run_process([*isrcdb_command(), "lookup", SAMPLE], env=env).returncode == 0  # fill the cache
    for _ in range(2):  # warm the OS file cache
        _hit_seconds(env, SAMPLE)
    baseline, samples = [], []
    for _ in range(runs):  # interleaved, so both see the same machine
        baseline.append(run_process([sys.executable, "-c", "import sqlite3"]).seconds)
        samples.append(_hit_seconds(env, SAMPLE))
    hit = Result(
        "lookup CODE --format json, warm cache (whole process)",
        median_of(samples) * 1000,
        "ms",
        [s * 1000 for s in samples],
        median_of(baseline) * 1000,
        "python -c 'import sqlite3'",
        "< 150 ms",
        median_of(samples) < 0.150,
    )
    misses = []
    for code in synthetic_codes(runs, start=9_000_000):
        run = run_process([*isrcdb_command(), "lookup", code, "--format", "json"], env=env)
        assert run.returncode == 0, run
        misses.append(run.seconds)
    miss = Result(
        "the same, cache miss through the replica (no latency)",
        median_of(misses) * 1000,
        "ms",
        [s * 1000 for s in misses],
        hit.value,
        "the hit above",
        "reported",
    )
    return hit, miss


def many_cached(work: Path, count: int, startup: float, runs: int) -> tuple[Result, Result]:
    """``isrcdb lookup --file N.txt --format jsonl`` with every code cached, against a plain sqlite3 loop."""
    database = work / f"cached-{count}.sqlite3"
    build_cache(database, count)
    codes = synthetic_codes(count)
    codes_file = work / f"{count}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    env = {"ISRCDB_DATABASE": str(database), "ISRCDB_CACHE_DIR": str(work / "cache")}
    rates, peaks, loop_rates = [], [], []
    for _ in range(runs):
        run = run_process([*isrcdb_command(), "lookup", "--file", str(codes_file), "--format", "jsonl"], env=env)
        assert run.returncode == 0, run
        rates.append(count / max(run.seconds - startup, 1e-6))
        peaks.append(run.peak_mb)
        loop_rates.append(_plain_loop(database, codes))
    rate = Result(
        f"lookup --file {count:,} codes --format jsonl, all cached",
        median_of(rates),
        "codes/s",
        rates,
        median_of(loop_rates),
        "plain sqlite3 loop, same table",
        ">= 50,000 codes/s after start-up",
        median_of(rates) >= 50_000,
        f"start-up of {startup * 1000:.0f} ms subtracted",
    )
    peak = Result("the same, peak memory", max(peaks), "MB", peaks, None, "", "< 150 MB", max(peaks) < 150)
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
    timings = {}
    for count in (small, large):
        database = work / f"scale-{count}.sqlite3"
        build_cache(database, count)
        env = {"ISRCDB_DATABASE": str(database), "ISRCDB_CACHE_DIR": str(work / "cache")}
        code = synthetic_codes(1, start=count // 2)[0]
        _hit_seconds(env, code)
        timings[count] = [_hit_seconds(env, code) for _ in range(runs)]
    ratio = median_of(timings[large]) / median_of(timings[small])
    return Result(
        f"single lookup with {large:,} entries stored",
        median_of(timings[large]) * 1000,
        "ms",
        [t * 1000 for t in timings[large]],
        median_of(timings[small]) * 1000,
        f"the same with {small:,} stored",
        "within 20 %",
        ratio <= 1.20,
        f"ratio {ratio:.2f}",
    )


def size_per_isrc(replica: SpotifyReplica, work: Path, count: int) -> Result:
    """Database bytes per found ISRC after real lookups through the replica, and what dominates them."""
    database = work / "size.sqlite3"
    env = _env(replica, database, work / "cache")
    codes_file = work / "size-codes.txt"
    codes_file.write_text("\n".join(synthetic_codes(count, start=5_000_000)) + "\n")
    run = run_process([*isrcdb_command(), "lookup", "--file", str(codes_file), "--format", "jsonl"], env=env)
    assert run.returncode == 0, run
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
        [],
        None,
        "",
        "reported",
        None,
        f"{matches / found:.2f} tracks per ISRC; track JSON is {raw / size:.0%} of the file",
    )


def run(quick: bool = False) -> list[Result]:
    runs = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-") as tmp, SpotifyReplica() as replica:
        work = Path(tmp)
        hit, miss = warm_hit(replica, work, runs)
        rate, peak = many_cached(work, 10_000 if quick else 100_000, hit.value / 1000, 3 if quick else 5)
        big = scale(work, 20_000 if quick else 1_000_000, 1_000, runs)
        size = size_per_isrc(replica, work, 200 if quick else 1_000)
    return [hit, miss, rate, peak, big, size]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(json.dumps(result.as_dict()))
