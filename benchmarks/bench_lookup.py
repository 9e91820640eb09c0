"""Lookup benchmarks: a cached answer's whole-process time, a miss, 100,000 cached codes, scale, size per ISRC.

Floors, each measured in the same run, interleaved with isrcdb: ``python -c "import sqlite3"`` for a cached lookup's
whole process (target: at most 3x it); for ``lookup --file``, a plain Python loop over the same codes (one SELECT on
the ``lookups`` view per code, each row encoded to JSON) whose output is checked to be byte-identical to isrcdb's.
The caches hold 2 tracks per found code where a target names it (``lookup --file``, the size per ISRC).

Run alone with ``python benchmarks/bench_lookup.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    Run,
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
from isrcdb.testing.spotify.synthetic import SyntheticCatalogue

SAMPLE = "USRC17607839"
HIT_RATIO = 3.0  # a cached lookup's whole process, at most this many times ``python -c "import sqlite3"``
CACHED_RATE = 60_000  # codes/s after start-up through ``lookup --file``, jsonl, every code cached
TRACKS_PER_CODE = 2  # in the caches of the two targets that name it
SIZE_TARGET_KIB = 3.0  # database bytes per found ISRC


@dataclass(frozen=True)
class Sizes:
    runs: int  # samples of each single lookup's whole-process time
    cached: int  # codes in one ``lookup --file``, every one answered from the cache
    file_runs: int  # samples of that
    stored_large: int  # entries stored, for the scale comparison...
    stored_small: int  # ...against these
    resolved: int  # codes looked up through the replica, for the size per ISRC


SIZES: dict[Size, Sizes] = {
    "full": Sizes(runs=15, cached=100_000, file_runs=5, stored_large=1_000_000, stored_small=1_000, resolved=2_000),
    "quick": Sizes(runs=5, cached=30_000, file_runs=3, stored_large=20_000, stored_small=1_000, resolved=1_000),
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
    floor = median_of(baseline)
    with contextlib.closing(sqlite3.connect(work / "hit.sqlite3")) as conn:
        [tracks] = conn.execute("SELECT match_count FROM isrcs WHERE isrc = ?", (SAMPLE,)).fetchone()
    hit = Result(
        "lookup CODE --format json, warm cache (whole process)",
        median_of(samples) * 1000,
        "ms",
        [s * 1000 for s in samples],
        baseline=floor * 1000,
        baseline_name="python -c 'import sqlite3'",
        target=f"<= {HIT_RATIO:g}x python -c 'import sqlite3'",
        passed=median_of(samples) <= HIT_RATIO * floor,
        note=f"{runs} interleaved pairs; the floor {min(baseline) * 1000:.0f}-{max(baseline) * 1000:.0f} ms; "
        f"{tracks} tracks stored for the code",
        kind="ratio",
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
    """``isrcdb lookup --file N.txt --format jsonl`` with every code cached, against a plain sqlite3 loop whose
    output is byte-identical (checked), interleaved."""
    database = work / f"cached-{count}.sqlite3"
    build_cache(database, entries_for_answered(count), tracks_per_code=TRACKS_PER_CODE)
    codes = answered_codes(count)
    codes_file = work / f"{count}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    # No Spotify is configured: a code not answered from the cache would end in exit status 3, not 0 or 1.
    env = child_env(work, database)
    args = ["lookup", "--file", str(codes_file), "--format", "jsonl"]
    rates, loop_rates = [], []
    for attempt in range(runs):
        run = run_isrcdb(args, env=env, capture=attempt == 0).check(0, 1)  # 1: some are (cached as) not found
        rates.append(count / max(run.seconds - startup, 1e-6))
        loop_rate, output = plain_loop(database, codes_file)
        loop_rates.append(loop_rate)
        if attempt == 0:
            _check_same_output(run, output)
    found = sum(status_of(n) == "found" for n in range(1, entries_for_answered(count) + 1))
    rate = Result(
        f"lookup --file {count:,} codes --format jsonl, all cached",
        median_of(rates),
        "codes/s",
        rates,
        baseline=median_of(loop_rates),
        baseline_name="plain sqlite3 loop, byte-identical output",
        target=f">= {CACHED_RATE:,} codes/s after start-up",
        passed=median_of(rates) >= CACHED_RATE,
        note=f"start-up of {startup * 1000:.0f} ms subtracted; {found / count:.0%} found, with "
        f"{TRACKS_PER_CODE} tracks each, the rest not found; output bytes equal to the floor's (compared)",
    )
    peak = peak_result("the same, peak memory", [run_isrcdb(args, env=env, peak=True).check(0, 1)], 150)
    return rate, peak


# The floor of ``lookup --file --format jsonl`` on a cache: the plainest loop that writes the same bytes.
_LOOP_SQL = (
    "SELECT isrc, status, fetched_at, expires_at, match_count, spotify_id, name, artists, album, album_type, "
    "release_date, duration_ms, explicit, spotify_url FROM lookups WHERE isrc = ?"
)


def plain_loop(database: Path, codes_file: Path) -> tuple[float, bytes]:
    """Codes per second of the plain Python loop that writes what ``lookup --file`` writes for cached codes, and
    its output: the codes read from the file, one SELECT on the ``lookups`` view per code, one JSON line each."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines: list[str] = []
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        codes = codes_file.read_text().split()
        for code in codes:
            (isrc, status, fetched, expires, matches, track, name, artists, album, album_type, released, duration,
             explicit, url) = conn.execute(_LOOP_SQL, (code,)).fetchone()  # fmt: skip
            record = {
                "isrc": isrc,
                "status": status,
                "source": "cache",
                "stale": expires is None or expires <= now,
                "fetched_at": fetched,
                "expires_at": expires,
                "match_count": matches,
                "spotify_id": track,
                "name": name,
                "artists": None if artists is None else json.loads(artists),
                "album": album,
                "album_type": album_type,
                "release_date": released,
                "duration_ms": duration,
                "explicit": None if explicit is None else bool(explicit),
                "spotify_url": url,
                "error": None,
            }
            lines.append(encode(record))
        output = ("\n".join(lines) + "\n").encode()
        elapsed = time.perf_counter() - started
    return len(codes) / elapsed, output


def _check_same_output(run: Run, floor: bytes) -> None:
    """Raise unless isrcdb wrote exactly the floor's bytes (then the floor does the same work, or the floor is
    out of date with isrcdb's output and must be brought back in line before any figure is reported)."""
    if run.stdout == floor:
        return
    ours, theirs = run.stdout.splitlines(), floor.splitlines()
    line = next((n for n, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    raise RuntimeError(
        f"lookup --file output differs from the plain loop's at line {line + 1} "
        f"({len(ours)} and {len(theirs)} lines): {ours[line : line + 1]!r} against {theirs[line : line + 1]!r}"
    )


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
        kind="ratio",
    )


def codes_with_tracks(count: int, tracks: int, start: int = 5_000_000) -> list[str]:
    """``count`` synthetic codes from ``start`` on for which the replica finds exactly ``tracks`` tracks."""
    catalogue = SyntheticCatalogue()
    chosen = (code_of(n) for n in itertools.count(start))
    return list(itertools.islice((code for code in chosen if catalogue.release_count(code) == tracks), count))


def size_per_isrc(replica: SpotifyReplica, work: Path, count: int) -> Result:
    """Database bytes per found ISRC after real lookups through the replica (2 tracks per code), split into
    tables, indexes, and the JSON columns' share of the tables. What a new, empty cache already holds (a page or
    more for each of its tables and indexes, about 140 KB) is measured the same way and taken off: the figure is
    what each found code adds."""
    codes_file = work / "size-codes.txt"
    codes_file.write_text("\n".join(codes_with_tracks(count, TRACKS_PER_CODE)) + "\n")
    empty = _sizes(replica, work, work / "size-empty.sqlite3", ["db", "upgrade"])
    full = _sizes(replica, work, work / "size.sqlite3", ["lookup", "--file", str(codes_file), "--format", "jsonl"])
    found, matches = full["found"], full["matches"]
    per_found = (full["file"] - empty["file"]) / found / 1024
    kib = {kind: (full[kind] - empty[kind]) / found / 1024 for kind in ("table", "index")}
    return Result(
        f"database size per found ISRC ({TRACKS_PER_CODE} tracks per code, full JSON kept)",
        per_found,
        "KiB",
        target=f"<= {SIZE_TARGET_KIB:g} KiB",
        passed=per_found <= SIZE_TARGET_KIB and matches == TRACKS_PER_CODE * found,
        note=f"{found:,} found, {matches / found:.2f} tracks per ISRC; per found ISRC: tables {kib['table']:.2f} KiB "
        f"(of which JSON columns {full['json'] / found / 1024:.2f} KiB), indexes {kib['index']:.2f} KiB; "
        f"an empty cache's {empty['file'] / 1024:.0f} KiB taken off ({full['file'] / found / 1024:.2f} KiB "
        "per found ISRC with it)",
        kind="size",
    )


def _sizes(replica: SpotifyReplica, work: Path, database: Path, args: list[str]) -> dict[str, int]:
    """Bytes of a new cache after ``isrcdb ARGS``, VACUUMed: the file, its tables, indexes and JSON columns; and
    its found codes and matches."""
    run_isrcdb(args, env=child_env(work, database, **replica.env())).check()
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("VACUUM")
        split = dict(
            conn.execute(
                "SELECT CASE WHEN s.type = 'index' THEN 'index' ELSE 'table' END, sum(d.pgsize) "
                "FROM dbstat d LEFT JOIN sqlite_schema s ON s.name = d.name GROUP BY 1"
            ).fetchall()
        )
        return {
            "found": conn.execute("SELECT count(*) FROM isrcs WHERE status = 'found'").fetchone()[0],
            "matches": conn.execute("SELECT count(*) FROM isrc_matches").fetchone()[0],
            "table": split.get("table", 0),
            "index": split.get("index", 0),
            "json": _json_bytes(conn),
            "file": database.stat().st_size,
        }


def _json_bytes(conn: sqlite3.Connection) -> int:
    """Bytes stored in every column whose name says it holds JSON (``raw_json``...), in every table."""
    total = 0
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    for table in tables:
        for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
            if "json" in column[1].lower():
                sql = f'SELECT coalesce(sum(length(CAST("{column[1]}" AS BLOB))), 0) FROM "{table}"'
                total += conn.execute(sql).fetchone()[0]
    return total


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
