"""Benchmark of ``isrcdb export``: wall time and peak memory of a real process over a large synthetic cache.

The cache (1,000,000 codes in full mode, 10,000 with ``--quick``) is made by isrcdb (``db.connect`` migrates) and
filled in bulk by SQLite itself, consistently across ``isrcs``, ``tracks`` (with a realistic ~1 KB ``raw_json``),
``albums``, ``artists``, ``track_artists``, ``album_artists`` and ``isrc_matches``: 80 % of the codes found (one in
ten of those on three releases), 15 % not found, 5 % pending.

Each export runs as ``python -m isrcdb export ... --output FILE`` in a process of its own, which reports its own
peak resident set (``VmHWM``; see :data:`PEAK_PROBE` for why not ``wait4``). The target is a peak under 200 MB
whatever the size of the cache: the export streams. Baselines: for memory, the peak of ``isrcdb --version`` (the
interpreter and isrcdb's imports); for time, a bare ``sqlite3`` scan of the same view with no formatting, in this
process.

``run(quick)`` returns measurement rows (name, value, unit, baseline, baseline_name, target, passed; ``passed`` is
None for a figure without a target); ``python benchmarks/bench_export.py [--quick] [--entries N]`` prints them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FULL_ENTRIES = 1_000_000
QUICK_ENTRIES = 10_000
TARGET_MB = 200.0

# A track object shaped like Spotify's (about 1 KB), so that the table's pages look like a real cache's.
TRACK_JSON = """json_object(
  'album', json_object('album_type', CASE WHEN n % 3 = 0 THEN 'single' ELSE 'album' END,
    'artists', json_array(json_object('id', 'ar' || n % 5000, 'name', 'Artist ' || n % 5000, 'type', 'artist',
      'uri', 'spotify:artist:ar' || n % 5000)),
    'external_urls', json_object('spotify', 'https://open.spotify.com/album/al' || n || '_' || k),
    'id', 'al' || n || '_' || k,
    'images', json_array(
      json_object('height', 640, 'width', 640,
        'url', 'https://i.scdn.co/image/ab67616d0000b273' || printf('%024x', n)),
      json_object('height', 300, 'width', 300,
        'url', 'https://i.scdn.co/image/ab67616d00001e02' || printf('%024x', n))),
    'name', 'Album ' || n || ' ' || k, 'release_date', printf('%04d-%02d-%02d', 1990 + n % 35, 1 + n % 12, 1 + n % 28),
    'release_date_precision', 'day', 'total_tracks', 1 + n % 14, 'type', 'album'),
  'artists', json_array(json_object('id', 'ar' || n % 5000, 'name', 'Artist ' || n % 5000, 'type', 'artist',
    'uri', 'spotify:artist:ar' || n % 5000)),
  'disc_number', 1, 'duration_ms', 120000 + n % 180000,
  'explicit', json(CASE WHEN n % 7 = 0 THEN 'true' ELSE 'false' END),
  'external_ids', json_object('isrc', 'QZSYN' || printf('%07d', n)),
  'external_urls', json_object('spotify', 'https://open.spotify.com/track/tr' || n || '_' || k),
  'id', 'tr' || n || '_' || k, 'is_local', json('false'), 'name', 'Song ' || n, 'popularity', n % 100,
  'track_number', 1 + n % 14, 'type', 'track', 'uri', 'spotify:track:tr' || n || '_' || k)"""


def build_cache(path: Path, entries: int, *, fetched_at: str = "2026-11-27T00:00:00Z") -> None:
    """A consistent synthetic cache of ``entries`` ISRCs (``QZSYN0000001``...), written in bulk by SQLite."""
    from isrcdb import db

    db.connect(path).close()
    expires_found, expires_not_found = "2026-12-27T00:00:00Z", "2026-12-04T00:00:00Z"
    codes = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {entries}) "
    # (n, k): every match k of every found code n. Found: n % 20 >= 4; three releases when n % 10 = 5.
    releases = (
        f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {entries}), "
        "m(n, k) AS (SELECT n, 0 FROM s WHERE n % 20 >= 4 UNION ALL "
        "SELECT n, k + 1 FROM m WHERE n % 10 = 5 AND k < 2) "
    )
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.execute(
            codes + "INSERT INTO artists (id, name, spotify_url) SELECT 'ar' || n, 'Artist ' || n, "
            "'https://open.spotify.com/artist/ar' || n FROM s WHERE n < 5000"
        )
        conn.execute(
            releases + "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, total_tracks, "
            "spotify_url) SELECT 'al' || n || '_' || k, 'Album ' || n || ' ' || k, "
            "CASE WHEN k = 2 THEN 'compilation' WHEN n % 3 = 0 THEN 'single' ELSE 'album' END, "
            "printf('%04d-%02d-%02d', 1990 + n % 35 + k, 1 + n % 12, 1 + n % 28), 'day', 1 + n % 14, "
            "'https://open.spotify.com/album/al' || n || '_' || k FROM m"
        )
        conn.execute(
            releases + "INSERT INTO album_artists (album_id, position, artist_id) "
            "SELECT 'al' || n || '_' || k, 0, 'ar' || (n % 5000) FROM m"
        )
        conn.execute(
            releases
            + "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, explicit, "
            "spotify_url, raw_json, fetched_at) SELECT 'tr' || n || '_' || k, 'QZSYN' || printf('%07d', n), "
            "'Song ' || n, 'al' || n || '_' || k, 1, 1 + n % 14, 120000 + n % 180000, n % 7 = 0, "
            f"'https://open.spotify.com/track/tr' || n || '_' || k, {TRACK_JSON}, '{fetched_at}' FROM m"
        )
        conn.execute(
            releases + "INSERT INTO track_artists (track_id, position, artist_id) "
            "SELECT 'tr' || n || '_' || k, 0, 'ar' || (n % 5000) FROM m UNION ALL "
            "SELECT 'tr' || n || '_' || k, 1, 'ar' || ((n + 1) % 5000) FROM m WHERE n % 4 = 0"
        )
        conn.execute(
            codes + "INSERT INTO isrcs (isrc, status, first_seen_at, fetched_at, expires_at, match_count, "
            "canonical_track_id, changed_at) SELECT 'QZSYN' || printf('%07d', n), "
            "CASE WHEN n % 20 = 0 THEN 'pending' WHEN n % 20 < 4 THEN 'not_found' ELSE 'found' END, "
            f"'{fetched_at}', "
            f"CASE WHEN n % 20 = 0 THEN NULL ELSE '{fetched_at}' END, "
            f"CASE WHEN n % 20 = 0 THEN NULL WHEN n % 20 < 4 THEN '{expires_not_found}' ELSE '{expires_found}' END, "
            "CASE WHEN n % 20 < 4 THEN 0 WHEN n % 10 = 5 THEN 3 ELSE 1 END, "
            "CASE WHEN n % 20 < 4 THEN NULL ELSE 'tr' || n || '_0' END, "
            f"CASE WHEN n % 20 < 4 THEN NULL ELSE '{fetched_at}' END FROM s"
        )
        conn.execute(
            releases + "INSERT INTO isrc_matches (isrc, track_id, rank) "
            "SELECT 'QZSYN' || printf('%07d', n), 'tr' || n || '_' || k, k FROM m"
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# Runs ``python -m isrcdb ARGS`` in the child itself and, at exit, writes the child's own peak resident set.
# Why not wait4's ru_maxrss: on Linux, exec records the previous memory map's high-water mark, and subprocess
# starts children with vfork, so a child's ru_maxrss is at least this (large) benchmark process's peak.
# /proc/self/status VmHWM is the high-water mark of the memory map after exec: the command's own.
PEAK_PROBE = """
import atexit, os, resource, runpy, sys

def _peak():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kib = rss // 1024 if sys.platform == "darwin" else rss
    with open(os.environ["ISRCDB_BENCH_PEAK_FILE"], "w") as out:
        out.write(str(kib))

atexit.register(_peak)
sys.argv = ["isrcdb", *sys.argv[1:]]
runpy.run_module("isrcdb", run_name="__main__", alter_sys=True)
"""


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, the command's own peak resident MB, and the exit code of ``python -m isrcdb args``."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", PEAK_PROBE, *args],
            env={**os.environ, **env, "ISRCDB_BENCH_PEAK_FILE": peak.name},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        elapsed = time.perf_counter() - started
        kib = int(peak.read() or 0)
    return elapsed, kib / 1024, result.returncode


def scan_seconds(database: Path, sql: str) -> float:
    """Seconds to read every row of ``sql`` with the standard library and do nothing with it (the floor)."""
    started = time.perf_counter()
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        for _ in conn.execute(sql):
            pass
    return time.perf_counter() - started


EXPORTS = [
    ("csv", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("json", [], "SELECT * FROM lookups ORDER BY isrc"),
    ("jsonl --all-matches", ["--all-matches"], "SELECT * FROM lookups l LEFT JOIN matches m ON m.isrc = l.isrc"),
]


def run(quick: bool, entries: int | None = None) -> list[dict[str, Any]]:
    """Every measurement of this benchmark, as rows (name, value, unit, baseline, target, passed)."""
    count = entries or (QUICK_ENTRIES if quick else FULL_ENTRIES)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-export-") as tmp:
        root = Path(tmp)
        database = root / "cache.sqlite3"
        env = {"ISRCDB_DATABASE": str(database), "XDG_CACHE_HOME": str(root / "cache"), "XDG_DATA_HOME": str(root)}
        started = time.perf_counter()
        build_cache(database, count)
        built = time.perf_counter() - started
        size_mb = database.stat().st_size / 1024 / 1024
        rows.append(_row(f"build synthetic cache ({count:,} codes, {size_mb:,.0f} MB)", built, "s", None, "", None))
        _, floor_mb, _ = measure(["--version"], env)
        for label, extra, scan in EXPORTS:
            fmt = label.split()[0]
            output = root / f"export.{fmt}"
            wall, peak, code = measure(["export", "--format", fmt, *extra, "--output", str(output)], env)
            lines = _count_lines(output) if code == 0 else 0
            floor = scan_seconds(database, scan)
            name = f"export {label} ({count:,} codes)"
            ok = code == 0 and lines >= count  # every code exported
            rows += [
                _row(f"{name}: peak RSS", peak, "MB", floor_mb, f"< {TARGET_MB:g} MB", ok and peak < TARGET_MB),
                _row(f"{name}: wall time", wall, "s", floor, "", None if ok else False),
                _row(f"{name}: rate", count / wall, "codes/s", None, "", None if ok else False),
            ]
            rows[-3]["baseline_name"] = "isrcdb --version"
            rows[-2]["baseline_name"] = "bare sqlite3 scan"
            output.unlink(missing_ok=True)
    return rows


def _row(
    name: str, value: float, unit: str, baseline: float | None, target: str, passed: bool | None
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 2),
        "target": target,
        "passed": passed,
    }


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    entries = int(argv[argv.index("--entries") + 1]) if "--entries" in argv else None
    results = run(quick, entries)
    for row in results:
        mark = {True: "PASS", False: "FAIL", None: "    "}[row["passed"]]
        print(
            f"{mark}  {row['name']}: {row['value']} {row['unit']} (baseline {row['baseline']}, target {row['target']})"
        )
    return 0 if all(row["passed"] is not False for row in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
