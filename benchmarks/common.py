"""What every benchmark shares: timing whole processes with their peak memory, medians, and synthetic caches."""

from __future__ import annotations

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
from typing import Any

BIN = Path(sys.executable).parent

# Children run as a user's would: with Python's bytecode cache. (Some sandboxes set PYTHONDONTWRITEBYTECODE, which
# makes every run of an editable install recompile isrcdb's sources and would measure that instead.)
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def isrcdb_command() -> list[str]:
    """The installed ``isrcdb`` console script (not a shell shim), as a user would run it."""
    script = BIN / "isrcdb"
    if script.exists():
        return [str(script)]
    found = shutil.which("isrcdb")
    return [found] if found else [sys.executable, "-m", "isrcdb"]


@dataclass
class Run:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: bytes = b""
    stderr: bytes = b""


def run_process(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    capture: bool = False,
    cwd: Path | None = None,
) -> Run:
    """Run ``cmd`` and measure its wall time and its own peak resident memory (``wait4``'s ru_maxrss).

    Output goes to temporary files rather than pipes, so the child is reaped by ``wait4`` itself.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdin=inp if stdin is not None else subprocess.DEVNULL,
            stdout=out if capture else subprocess.DEVNULL,
            stderr=err if capture else subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(elapsed, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())


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
        }


def median_of(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def repeat(times: int, func: Callable[[], float]) -> list[float]:
    return [func() for _ in range(times)]


# --- synthetic caches ------------------------------------------------------------------------------------------

_ARTIST = """json_object('external_urls', json_object('spotify', 'https://open.spotify.com/artist/ar' || n % 5000),
      'href', 'https://api.spotify.com/v1/artists/ar' || n % 5000, 'id', 'ar' || n % 5000,
      'name', 'Artist ' || n % 5000, 'type', 'artist', 'uri', 'spotify:artist:ar' || n % 5000)"""
_IMAGE = (
    "json_object('height', {size}, 'url', 'https://i.scdn.co/image/ab67616d{kind}' || printf('%024x', n), "
    "'width', {size})"
)
TRACK_JSON = f"""json_object(
  'album', json_object('album_type', CASE WHEN n % 3 = 0 THEN 'single' ELSE 'album' END,
    'artists', json_array({_ARTIST}),
    'external_urls', json_object('spotify', 'https://open.spotify.com/album/al' || n),
    'href', 'https://api.spotify.com/v1/albums/al' || n, 'id', 'al' || n,
    'images', json_array({_IMAGE.format(size=640, kind="0000b273")}, {_IMAGE.format(size=300, kind="00001e02")},
      {_IMAGE.format(size=64, kind="00004851")}),
    'name', 'Album ' || n, 'release_date', printf('%04d-%02d-%02d', 1990 + n % 35, 1 + n % 12, 1 + n % 28),
    'release_date_precision', 'day', 'total_tracks', 1 + n % 14, 'type', 'album', 'uri', 'spotify:album:al' || n),
  'artists', json_array({_ARTIST}),
  'disc_number', 1, 'duration_ms', 120000 + n % 180000,
  'explicit', json(CASE WHEN n % 7 = 0 THEN 'true' ELSE 'false' END),
  'external_ids', json_object('isrc', 'QZSYN' || printf('%07d', n)),
  'external_urls', json_object('spotify', 'https://open.spotify.com/track/tr' || n),
  'href', 'https://api.spotify.com/v1/tracks/tr' || n, 'id', 'tr' || n, 'is_local', json('false'),
  'name', 'Song ' || n, 'preview_url', NULL, 'track_number', 1 + n % 14, 'type', 'track',
  'uri', 'spotify:track:tr' || n)"""


def synthetic_codes(count: int, start: int = 1) -> list[str]:
    """``count`` distinct valid ISRCs: ``QZSYN0000001``, ``QZSYN0000002``, ..."""
    return [f"QZSYN{n:07d}" for n in range(start, start + count)]


def build_cache(
    path: Path, count: int, *, fetched_at: str = "2026-11-27T00:00:00Z", expires_at: str = "2099-01-01T00:00:00Z"
) -> None:
    """A cache of ``count`` found ISRCs (one match each, realistic track JSON), written in bulk by SQLite itself.

    The schema is made by isrcdb (``db.connect`` migrates); rows are generated with a recursive CTE, so a million
    entries take seconds rather than the hours a million searches would.
    """
    from isrcdb import db

    db.connect(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    series = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) "
    with conn:
        conn.execute(
            series + "INSERT OR IGNORE INTO artists (id, name, spotify_url) SELECT 'ar' || (n % 5000), "
            "'Artist ' || (n % 5000), 'https://open.spotify.com/artist/ar' || (n % 5000) FROM s WHERE n <= 5000"
        )
        conn.execute(
            series + "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, "
            "total_tracks, spotify_url) SELECT 'al' || n, 'Album ' || n, CASE WHEN n % 3 = 0 THEN 'single' "
            "ELSE 'album' END, printf('%04d-%02d-%02d', 1990 + n % 35, 1 + n % 12, 1 + n % 28), 'day', "
            "1 + n % 14, 'https://open.spotify.com/album/al' || n FROM s"
        )
        conn.execute(
            series + "INSERT INTO album_artists (album_id, position, artist_id) SELECT 'al' || n, 0, "
            "'ar' || (n % 5000) FROM s"
        )
        conn.execute(
            series + "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, "
            "explicit, spotify_url, raw_json, fetched_at) SELECT 'tr' || n, 'QZSYN' || printf('%07d', n), "
            "'Song ' || n, 'al' || n, 1, 1 + n % 14, 120000 + n % 180000, n % 7 = 0, "
            f"'https://open.spotify.com/track/tr' || n, {TRACK_JSON}, '{fetched_at}' FROM s"
        )
        conn.execute(
            series + "INSERT INTO track_artists (track_id, position, artist_id) SELECT 'tr' || n, 0, "
            "'ar' || (n % 5000) FROM s"
        )
        conn.execute(
            series + "INSERT INTO isrcs (isrc, status, first_seen_at, fetched_at, expires_at, match_count, "
            f"canonical_track_id) SELECT 'QZSYN' || printf('%07d', n), 'found', '{fetched_at}', "
            f"'{fetched_at}', '{expires_at}', 1, 'tr' || n FROM s"
        )
        conn.execute(
            series + "INSERT INTO isrc_matches (isrc, track_id, rank) SELECT 'QZSYN' || printf('%07d', n), "
            "'tr' || n, 0 FROM s"
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
