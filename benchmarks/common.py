"""What every benchmark shares: child processes timed with their own peak memory, result rows, synthetic caches.

Every suite (``bench_<name>.py``) has ``run(size) -> list[Result]``, ``size`` being ``full``, ``quick`` or
``tiny`` (the smallest sizes, for tests/test_benchmarks.py: its figures mean nothing).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from isrcdb.settings import ENV_VARS

Size = Literal["full", "quick", "tiny"]

# --- child processes --------------------------------------------------------------------------------------------

BIN = Path(sys.executable).parent

# Children run as a user's would: with Python's bytecode cache (some sandboxes set PYTHONDONTWRITEBYTECODE, which
# makes every run of an editable install recompile isrcdb's sources and would measure that instead), and with none
# of this machine's isrcdb or Spotify settings (each benchmark sets its own).
_NOT_INHERITED = {"PYTHONDONTWRITEBYTECODE", "CLIENT_ID", "CLIENT_SECRET", *ENV_VARS}
CHILD_ENV = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}

PEAK_FILE_VARIABLE = "ISRCDB_BENCH_PEAK_FILE"

# Runs ``python -m isrcdb ARGS`` in the child itself and, at exit, writes the child's own peak resident set (KiB).
# Why not wait4's ru_maxrss: on Linux, exec keeps the previous memory map's high-water mark, and subprocess starts
# children with vfork, so a child's ru_maxrss is at least this (large) benchmark process's peak.
# /proc/self/status VmHWM is the high-water mark of the memory map after exec: the command's own.
PEAK_PROBE = f"""
import atexit, os, resource, runpy, sys

def _peak():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kib = rss // 1024 if sys.platform == "darwin" else rss
    with open(os.environ["{PEAK_FILE_VARIABLE}"], "w") as out:
        out.write(str(kib))

atexit.register(_peak)
sys.argv = ["isrcdb", *sys.argv[1:]]
runpy.run_module("isrcdb", run_name="__main__", alter_sys=True)
"""


def isrcdb_command() -> list[str]:
    """The installed ``isrcdb`` console script (not a shell shim), as a user would run it."""
    script = BIN / "isrcdb"
    if script.exists():
        return [str(script)]
    found = shutil.which("isrcdb")
    return [found] if found else [sys.executable, "-m", "isrcdb"]


@dataclass(frozen=True)
class Run:
    """One finished child process: wall seconds, exit status, output, and its own peak memory if it was probed."""

    seconds: float
    returncode: int
    peak_mb: float | None = None
    stdout: bytes = b""
    stderr: bytes = b""

    def check(self, *accepted: int) -> Run:
        """This run, or a RuntimeError with its stderr when it exited otherwise than ``accepted`` (default 0)."""
        if self.returncode not in (accepted or (0,)):
            raise RuntimeError(f"exit status {self.returncode}: {self.stderr.decode(errors='replace').strip()}")
        return self


def run_process(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    capture: bool = False,
    timeout: float = 3600.0,
) -> Run:
    """Run ``cmd`` in an empty working directory (no ``.env`` applies; give paths absolute) with :data:`CHILD_ENV`
    and ``env``; return its wall time, exit status and stderr (and stdout with ``capture``), and its own peak
    resident MB if it runs :data:`PEAK_PROBE` (see :func:`run_isrcdb`).
    """
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-child-") as tmp:
        peak_file = Path(tmp) / "peak"
        feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        started = time.perf_counter()
        done = subprocess.run(
            list(cmd),
            cwd=tmp,
            env={**CHILD_ENV, **(env or {}), PEAK_FILE_VARIABLE: str(peak_file)},
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
            **feed,
        )
        seconds = time.perf_counter() - started
        kib = peak_file.read_text().strip() if peak_file.exists() else ""
    return Run(seconds, done.returncode, int(kib) / 1024 if kib else None, done.stdout or b"", done.stderr)


def run_isrcdb(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    capture: bool = False,
    peak: bool = False,
) -> Run:
    """Run ``isrcdb ARGS`` in a process of its own.

    Without ``peak``: the installed console script, exactly as a user runs it; use these runs for whole-process
    latency. With ``peak``: the interpreter running :data:`PEAK_PROBE`, which reports the command's own peak memory
    (``Run.peak_mb``) and costs a few milliseconds more to start.
    """
    cmd = [sys.executable, "-c", PEAK_PROBE, *args] if peak else [*isrcdb_command(), *args]
    return run_process(cmd, env=env, stdin=stdin, capture=capture)


def child_env(work: Path, database: Path | str, **extra: str) -> dict[str, str]:
    """The variables of a benchmark's isrcdb: its database (a file, or a ``postgresql://`` URL), and token cache and
    data directories under ``work``."""
    return {
        "ISRCDB_DATABASE": str(database),
        "ISRCDB_CACHE_DIR": str(work / "token-cache"),
        "XDG_CACHE_HOME": str(work / "xdg-cache"),
        "XDG_DATA_HOME": str(work / "xdg-data"),
        **extra,
    }


@functools.cache
def startup_peak_mb() -> float:
    """The peak memory of ``isrcdb --version``: the interpreter and isrcdb's imports, the floor of every command."""
    peak = run_isrcdb(["--version"], peak=True).check().peak_mb
    if peak is None:
        raise RuntimeError("the peak-memory probe reported nothing")
    return peak


# --- result rows ------------------------------------------------------------------------------------------------

Kind = Literal["ratio", "absolute", "size"]
"""What a row's figure can be compared with. ``ratio``: its target is a ratio to a floor measured in the same run,
or a share of a rate limit, so it carries to other machines. ``absolute``: times, rates and memory, valid on the
machine that measured them only. ``size``: bytes on disk, the same on any machine with the same SQLite."""

KINDS: dict[Kind, str] = {
    "ratio": "a ratio to a floor measured in the same run (interleaved), or a share of a configured rate limit or "
    "of its optimum: comparable across machines",
    "absolute": "an absolute time, rate or memory figure: valid on the machine that measured it only",
    "size": "bytes on disk: the same on any machine with the same SQLite and the same data",
}


@dataclass
class Result:
    """One row of the results table."""

    name: str
    value: float
    unit: str
    samples: list[float] = field(default_factory=list)
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""
    kind: Kind = "absolute"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "min": min(self.samples) if self.samples else self.value,
            "max": max(self.samples) if self.samples else self.value,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "target": self.target,
            "passed": self.passed,
            "note": self.note,
            "kind": self.kind,
        }


SKIPPED = "skipped"
"""The unit of a suite's one row when it could not run here (why: in the row's note); the table says "skipped"."""


def skipped_result(name: str, why: str) -> Result:
    """The row of a suite that did not run on this machine, saying why."""
    return Result(name, 0.0, SKIPPED, note=why)


def median_of(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def peak_result(name: str, runs: Sequence[Run], limit_mb: float) -> Result:
    """A peak-memory row: the highest peak of probed ``runs``, next to ``isrcdb --version``'s, under ``limit_mb``."""
    peaks = [run.peak_mb for run in runs if run.peak_mb is not None]
    if len(peaks) != len(runs) or not peaks:
        raise RuntimeError(f"{name}: a run was not probed for its peak memory")
    return Result(
        name,
        max(peaks),
        "MB",
        peaks,
        baseline=startup_peak_mb(),
        baseline_name="isrcdb --version",
        target=f"< {limit_mb:g} MB",
        passed=max(peaks) < limit_mb,
    )


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """``--quick`` and ``--tiny``, read back as ``args.size`` (None for the full size)."""
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_const", dest="size", const="quick", help="small sizes, fewer runs")
    sizes.add_argument("--tiny", action="store_const", dest="size", const="tiny", help="smallest sizes (a smoke test)")


def suite_main(run: Callable[[Size], list[Result]], description: str | None) -> int:
    """``python benchmarks/bench_<name>.py [--quick | --tiny]``: the suite's rows as JSON lines on stdout."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_options(parser)
    results = run(parser.parse_args().size or "full")
    for result in results:
        print(json.dumps(result.as_dict()))
    return 1 if any(result.passed is False for result in results) else 0


# --- synthetic caches -------------------------------------------------------------------------------------------

FETCHED_AT = "2026-01-01T00:00:00Z"
# Far in the future, so that a synthetic cache is fresh whatever the date it is used on.
FAR_FUTURE = "2099-01-01T00:00:00Z"
ARTISTS = 5000


def code_of(n: int) -> str:
    """Entry ``n``'s ISRC in a synthetic cache: ``QZSYN0000001``, ``QZSYN0000002``, ..."""
    return f"QZSYN{n:07d}"


def synthetic_codes(count: int, start: int = 1) -> list[str]:
    """``count`` distinct valid ISRCs from ``start`` on (the replica's synthetic catalogue has those >= 2,600,000)."""
    return [code_of(n) for n in range(start, start + count)]


def status_of(n: int) -> str:
    """Entry ``n``'s status in a synthetic cache, as :func:`build_cache` writes it (the SQL says the same)."""
    if n % 20 == 0:
        return "pending"
    return "not_found" if n % 20 < 4 else "found"


def answered_codes(count: int) -> list[str]:
    """The first ``count`` codes a synthetic cache answers by itself (found or not found, not pending)."""
    return [code_of(n) for n in range(1, entries_for_answered(count) + 1) if status_of(n) != "pending"]


def entries_for_answered(count: int) -> int:
    """How many entries :func:`build_cache` must write for the cache to answer ``count`` codes by itself."""
    return count + max(count - 1, 0) // 19  # one entry in twenty is pending


def _artist_json(number: str) -> str:
    return (
        f"json_object('id', 'ar' || {number}, 'name', 'Artist ' || {number}, 'type', 'artist', "
        f"'uri', 'spotify:artist:ar' || {number})"
    )


def _image_json(size: int, kind: str) -> str:
    return (
        f"json_object('height', {size}, 'url', 'https://i.scdn.co/image/ab67616d{kind}' || printf('%024x', n), "
        f"'width', {size})"
    )


_FIRST_ARTIST, _SECOND_ARTIST = _artist_json(f"(n % {ARTISTS})"), _artist_json(f"((n + 1) % {ARTISTS})")
# A track object shaped like Spotify's (about 1.2 KB), so that the table's pages look like a real cache's: release k
# of code n, by one artist, or by two for one code in four.
# The album object of release k of code n, as Spotify sends it inside each track: isrcdb stores it once, in
# albums.raw_json, and the track's JSON without it (the view track_json joins them again).
ALBUM_JSON = f"""json_object('album_type', CASE WHEN n % 3 = 0 THEN 'single' ELSE 'album' END,
    'artists', json_array({_FIRST_ARTIST}),
    'external_urls', json_object('spotify', 'https://open.spotify.com/album/al' || n || '_' || k),
    'href', 'https://api.spotify.com/v1/albums/al' || n || '_' || k, 'id', 'al' || n || '_' || k,
    'images', json_array({_image_json(640, "0000b273")}, {_image_json(300, "00001e02")},
      {_image_json(64, "00004851")}),
    'name', 'Album ' || n || ' ' || k,
    'release_date', printf('%04d-%02d-%02d', 1990 + n % 35 + k, 1 + n % 12, 1 + n % 28),
    'release_date_precision', 'day', 'total_tracks', 1 + n % 14, 'type', 'album',
    'uri', 'spotify:album:al' || n || '_' || k)"""
TRACK_JSON = f"""json_object(
  'artists', json(CASE WHEN n % 4 = 0 THEN json_array({_FIRST_ARTIST}, {_SECOND_ARTIST})
    ELSE json_array({_FIRST_ARTIST}) END),
  'disc_number', 1, 'duration_ms', 120000 + n % 180000,
  'explicit', json(CASE WHEN n % 7 = 0 THEN 'true' ELSE 'false' END),
  'external_ids', json_object('isrc', 'QZSYN' || printf('%07d', n)),
  'external_urls', json_object('spotify', 'https://open.spotify.com/track/tr' || n || '_' || k),
  'href', 'https://api.spotify.com/v1/tracks/tr' || n || '_' || k, 'id', 'tr' || n || '_' || k,
  'is_local', json('false'), 'name', 'Song ' || n, 'popularity', n % 100, 'preview_url', NULL,
  'track_number', 1 + n % 14, 'type', 'track', 'uri', 'spotify:track:tr' || n || '_' || k)"""

_ENTRIES = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :entries) "
# (n, k): release k of every found code n. Found: n % 20 >= 4; on three releases when n % 10 = 5, or on :tracks
# releases each when that is given.
_RELEASES = (
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :entries), "
    "m(n, k) AS (SELECT n, 0 FROM s WHERE n % 20 >= 4 UNION ALL SELECT n, k + 1 FROM m "
    "WHERE CASE WHEN :tracks IS NULL THEN n % 10 = 5 AND k < 2 ELSE k < :tracks - 1 END) "
)
_BUILD = [
    f"WITH RECURSIVE a(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM a WHERE n < {ARTISTS - 1}) "
    "INSERT INTO artists (id, name, spotify_url) SELECT 'ar' || n, 'Artist ' || n, "
    "'https://open.spotify.com/artist/ar' || n FROM a",
    _RELEASES + "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, total_tracks, "
    "spotify_url, image_url, raw_json) SELECT 'al' || n || '_' || k, 'Album ' || n || ' ' || k, "
    "CASE WHEN k = 2 THEN 'compilation' WHEN n % 3 = 0 THEN 'single' ELSE 'album' END, "
    "printf('%04d-%02d-%02d', 1990 + n % 35 + k, 1 + n % 12, 1 + n % 28), 'day', 1 + n % 14, "
    "'https://open.spotify.com/album/al' || n || '_' || k, "
    "'https://i.scdn.co/image/ab67616d0000b273' || printf('%024x', n), "
    f"{ALBUM_JSON} FROM m",
    _RELEASES + "INSERT INTO album_artists (album_id, position, artist_id) "
    f"SELECT 'al' || n || '_' || k, 0, 'ar' || (n % {ARTISTS}) FROM m",
    _RELEASES + "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, explicit, "
    "spotify_url, raw_json, artist_names, fetched_at) SELECT 'tr' || n || '_' || k, 'QZSYN' || printf('%07d', n), "
    "'Song ' || n, 'al' || n || '_' || k, 1, 1 + n % 14, 120000 + n % 180000, n % 7 = 0, "
    f"'https://open.spotify.com/track/tr' || n || '_' || k, {TRACK_JSON}, "
    f"CASE WHEN n % 4 = 0 THEN json_array('Artist ' || (n % {ARTISTS}), 'Artist ' || ((n + 1) % {ARTISTS})) "
    f"ELSE json_array('Artist ' || (n % {ARTISTS})) END, :fetched_at FROM m",
    _RELEASES + "INSERT INTO track_artists (track_id, position, artist_id) "
    f"SELECT 'tr' || n || '_' || k, 0, 'ar' || (n % {ARTISTS}) FROM m UNION ALL "
    f"SELECT 'tr' || n || '_' || k, 1, 'ar' || ((n + 1) % {ARTISTS}) FROM m WHERE n % 4 = 0",
    _ENTRIES + "INSERT INTO isrcs (isrc, status, first_seen_at, fetched_at, expires_at, match_count, "
    "canonical_track_id, changed_at) SELECT 'QZSYN' || printf('%07d', n), "
    "CASE WHEN n % 20 = 0 THEN 'pending' WHEN n % 20 < 4 THEN 'not_found' ELSE 'found' END, :fetched_at, "
    "CASE WHEN n % 20 = 0 THEN NULL ELSE :fetched_at END, "
    "CASE WHEN n % 20 = 0 THEN NULL WHEN n % 20 < 4 THEN :expires_not_found ELSE :expires_found END, "
    "CASE WHEN n % 20 < 4 THEN 0 WHEN :tracks IS NOT NULL THEN :tracks WHEN n % 10 = 5 THEN 3 ELSE 1 END, "
    "CASE WHEN n % 20 < 4 THEN NULL ELSE 'tr' || n || '_0' END, "
    "CASE WHEN n % 20 < 4 THEN NULL ELSE :fetched_at END FROM s",
    _RELEASES + "INSERT INTO isrc_matches (isrc, track_id, rank) "
    "SELECT 'QZSYN' || printf('%07d', n), 'tr' || n || '_' || k, k FROM m",
]


def build_cache(
    path: Path,
    entries: int,
    *,
    fetched_at: str = FETCHED_AT,
    expires_found: str = FAR_FUTURE,
    expires_not_found: str = FAR_FUTURE,
    tracks_per_code: int | None = None,
) -> None:
    """A consistent synthetic cache of ``entries`` ISRCs (:func:`code_of` 1 to ``entries``), written by SQLite.

    80 % of the codes found (one in eight of those on three releases, the others on one: 1.25 tracks per found code;
    or ``tracks_per_code`` releases each), 15 % not found, 5 % pending (:func:`status_of`); tracks by one artist,
    or two for one code in four, with a realistic ~1.2 KB
    ``raw_json``; ``isrcs``, ``tracks``, ``albums``, ``artists``, ``track_artists``, ``album_artists`` and
    ``isrc_matches`` all filled. The schema is made by isrcdb (``open_database`` migrates); rows are generated with
    recursive CTEs, so a million entries take a minute rather than the days a million searches would.
    Timestamps are isrcdb's UTC text; the expiry dates default to 2099, so the cache stays fresh.
    """
    from isrcdb.database import open_database

    open_database(path).close()
    values = {
        "entries": entries,
        "fetched_at": fetched_at,
        "expires_found": expires_found,
        "expires_not_found": expires_not_found,
        "tracks": tracks_per_code,
    }
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        for statement in _BUILD:
            conn.execute(statement, values)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
