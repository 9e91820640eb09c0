"""Benchmark of ``isrcdb sync`` against the local Spotify replica (in this process), with added latency.

1. Throughput without a rate limit: ``isrcdb sync`` (a real process) over N pending synthetic codes, the replica
   adding 50 ms to every request, next to a serial loop measured in the same run the way a notebook would do it
   (a token once, then one ``requests.get`` to ``/v1/search`` per code, one at a time). Target: >= 8x the loop.
   The sync's speed is its own elapsed time (token, claims and the slow start included, the interpreter's
   start-up not); the figure with start-up is given beside it.
2. Pacing under a rate limit of R requests per rolling window: the share of R the sync achieves over several
   windows, and how many of its requests were answered 429. Targets: >= 90 % of R, < 1 % 429s. The replica's
   window is shortened (10 s instead of 30 s) and the sync is told the same (``ISRCDB_RATE_WINDOW``), so a run of
   several windows fits in a minute; the pacing logic only sees the ratio.

``run(quick)`` returns measurement rows (name, value, unit, baseline, target, passed); ``python
benchmarks/bench_sync.py [--quick]`` prints them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from isrcdb.testing.spotify import SpotifyReplica

LATENCY = 0.05
CONCURRENCY = 16
RATE_LIMIT = 300
RATE_WINDOW = 10.0


def _codes(start: int, count: int) -> list[str]:
    return [f"QZSYN26{number:05d}" for number in range(start, start + count)]


def _isrcdb(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isrcdb", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _environment(replica: SpotifyReplica, workdir: Path, **extra: str) -> dict[str, str]:
    return {
        **replica.env(),
        "ISRCDB_DATABASE": str(workdir / "bench.sqlite3"),
        "XDG_CACHE_HOME": str(workdir / "cache"),
        "ISRCDB_CACHE_DIR": str(workdir / "cache"),
        **extra,
    }


def _import(codes: list[str], env: dict[str, str]) -> None:
    result = _isrcdb("import", "-", env=env, stdin="\n".join(codes) + "\n")
    if result.returncode != 0:
        raise RuntimeError(f"import failed: {result.stderr}")


def _sync(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = _isrcdb("sync", "--format", "json", *args, env=env)
    wall = time.perf_counter() - started
    if not result.stdout.strip():
        raise RuntimeError(f"sync failed ({result.returncode}): {result.stderr}")
    return json.loads(result.stdout), wall


def serial_loop(replica: SpotifyReplica, codes: list[str]) -> float:
    """Codes per second of a one-request-at-a-time loop: a token once, then ``requests.get`` per code."""
    token = requests.post(
        replica.token_url,
        data={"grant_type": "client_credentials"},
        auth=(replica.client_id, replica.client_secret),
        timeout=10,
    ).json()["access_token"]
    started = time.perf_counter()
    for code in codes:
        response = requests.get(
            f"{replica.api_url}/search",
            params={"q": f"isrc:{code}", "type": "track", "limit": 10},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
    return len(codes) / (time.perf_counter() - started)


def throughput(quick: bool) -> list[dict[str, Any]]:
    """Sync without a rate limit versus the serial loop, both against a replica adding 50 ms per request."""
    count, serial_count = (400, 40) if quick else (2000, 200)
    with tempfile.TemporaryDirectory() as tmp, SpotifyReplica(latency=LATENCY) as replica:
        env = _environment(replica, Path(tmp))
        _import(_codes(0, count), env)
        serial = serial_loop(replica, _codes(50000, serial_count))
        replica.reset_stats()
        summary, wall = _sync(env, "--concurrency", str(CONCURRENCY))
        stats = replica.stats()
    rate = summary["resolved"] / summary["elapsed_s"]  # the run itself: interpreter start-up is not sync's speed
    duplicates = sum(n - 1 for n in stats["searches_by_isrc"].values() if n > 1)
    return [
        {
            "name": f"sync {count} codes, 50 ms latency, concurrency {CONCURRENCY}",
            "value": round(rate, 1),
            "unit": f"codes/s ({summary['resolved'] / wall:.1f}/s counting the process start-up)",
            "baseline": round(serial, 1),
            "target": ">= 8x the serial requests.get loop",
            "passed": rate >= 8 * serial and summary["resolved"] == count and duplicates == 0,
        },
        {
            "name": "speed-up over the serial loop",
            "value": round(rate / serial, 2),
            "unit": "x",
            "baseline": 1.0,
            "target": ">= 8",
            "passed": rate / serial >= 8,
        },
    ]


def pacing(quick: bool) -> list[dict[str, Any]]:
    """Sync under a rolling-window limit of R requests: share of R achieved and 429s met."""
    # Quick: a 2 s window and 20 ms latency, so that enough requests (the first 429s are about one per worker in
    # flight when the limit is first met) fit in a few seconds.
    limit, window, latency, concurrency = (200, 2.0, 0.02, 4) if quick else (RATE_LIMIT, RATE_WINDOW, LATENCY, 8)
    windows = 5
    count = limit * windows
    with (
        tempfile.TemporaryDirectory() as tmp,
        SpotifyReplica(latency=latency, rate_limit=limit, rate_window=window) as replica,
    ):
        env = _environment(replica, Path(tmp), ISRCDB_RATE_WINDOW=f"{window:g}s")
        _import(_codes(0, count), env)
        replica.reset_stats()
        summary, _ = _sync(env, "--concurrency", str(concurrency))
        stats = replica.stats()
    admitted = stats["statuses"].get("200", 0)
    refused = stats["statuses"].get("429", 0)
    searches = stats["requests"].get("search", 0)
    per_window = admitted / (summary["elapsed_s"] / window)
    fraction = per_window / limit
    share_429 = 100.0 * refused / max(searches, 1)
    return [
        {
            "name": f"rate-limited sync: R={limit} per {window:g} s, {count} codes, {latency * 1000:g} ms latency, "
            f"concurrency {concurrency}",
            "value": round(fraction, 3),
            "unit": "fraction of R achieved",
            "baseline": limit,
            "target": ">= 0.90",
            "passed": fraction >= 0.9 and summary["resolved"] == count,
        },
        {
            "name": "rate-limited sync: requests answered 429",
            "value": round(share_429, 2),
            "unit": f"% of {searches} requests ({refused} answered 429)",
            "baseline": 0,
            "target": "< 1 %",
            "passed": share_429 < 1.0,
        },
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    """Every measurement of this benchmark, as rows (name, value, unit, baseline, target, passed)."""
    return throughput(quick) + pacing(quick)


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        mark = "PASS" if row["passed"] else "FAIL"
        print(f"{mark}  {row['name']}: {row['value']} {row['unit']}")
        print(f"      baseline {row['baseline']}, target {row['target']}")
