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

Run alone with ``python benchmarks/bench_sync.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Run, Size, child_env, run_isrcdb, suite_main, synthetic_codes

from isrcdb.testing.spotify import SpotifyReplica

SYNTHETIC = 2_600_000  # the replica's synthetic catalogue: QZSYN2600000 and on


@dataclass(frozen=True)
class Sizes:
    codes: int  # codes synced without a rate limit
    serial_codes: int  # codes of the serial loop it is compared with
    latency: float  # seconds the replica adds to every request, for both
    concurrency: int
    limit: int  # R, requests per rate-limit window, for the pacing run
    window: float  # the window's seconds
    windows: int  # the pacing run syncs R codes a window for this many windows
    paced_latency: float
    paced_concurrency: int


SIZES: dict[Size, Sizes] = {
    "full": Sizes(2000, 200, 0.05, 16, limit=300, window=10.0, windows=5, paced_latency=0.05, paced_concurrency=8),
    # Quick: a 2 s window and 20 ms latency, so that enough requests (the first 429s are about one per worker in
    # flight when the limit is first met) fit in a few seconds.
    "quick": Sizes(400, 40, 0.05, 16, limit=200, window=2.0, windows=5, paced_latency=0.02, paced_concurrency=4),
    "tiny": Sizes(20, 4, 0.05, 16, limit=20, window=1.0, windows=2, paced_latency=0.0, paced_concurrency=2),
}


def _import(codes: list[str], env: dict[str, str]) -> None:
    run_isrcdb(["import", "-"], env=env, stdin=("\n".join(codes) + "\n").encode()).check()


def _sync(env: dict[str, str], concurrency: int) -> tuple[dict[str, Any], Run]:
    """The sync's JSON summary and its run; exit status 3 (stopped by the rate limit) shows in the summary."""
    run = run_isrcdb(["sync", "--format", "json", "--concurrency", str(concurrency)], env=env, capture=True)
    return json.loads(run.check(0, 3).stdout), run


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
        params: dict[str, str | int] = {"q": f"isrc:{code}", "type": "track", "limit": 10}
        response = requests.get(
            f"{replica.api_url}/search",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
    return len(codes) / (time.perf_counter() - started)


def throughput(sizes: Sizes) -> Result:
    """Sync without a rate limit versus the serial loop, both against a replica adding latency to each request."""
    count, latency_ms = sizes.codes, sizes.latency * 1000
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-sync-") as tmp, SpotifyReplica(latency=sizes.latency) as r:
        work = Path(tmp)
        env = child_env(work, work / "sync.sqlite3", **r.env())
        _import(synthetic_codes(count, start=SYNTHETIC), env)
        serial = serial_loop(r, synthetic_codes(sizes.serial_codes, start=SYNTHETIC + 50_000))
        r.reset_stats()
        summary, run = _sync(env, sizes.concurrency)
        stats = r.stats()
    rate = summary["resolved"] / summary["elapsed_s"]  # the run itself: interpreter start-up is not sync's speed
    duplicates = sum(n - 1 for n in stats["searches_by_isrc"].values() if n > 1)
    return Result(
        f"sync {count:,} codes, {latency_ms:g} ms latency, concurrency {sizes.concurrency}",
        rate,
        "codes/s",
        baseline=serial,
        baseline_name="serial requests.get loop",
        target=">= 8x the serial loop",
        passed=rate >= 8 * serial and summary["resolved"] == count and duplicates == 0,
        note=f"{summary['resolved'] / run.seconds:.1f}/s counting the process start-up; "
        f"{summary['resolved']:,} resolved, {duplicates} searched twice",
    )


def pacing(sizes: Sizes) -> list[Result]:
    """Sync under a rolling-window limit of R requests: share of R achieved and 429s met."""
    limit, window, latency = sizes.limit, sizes.window, sizes.paced_latency
    count = limit * sizes.windows
    with (
        tempfile.TemporaryDirectory(prefix="isrcdb-bench-sync-") as tmp,
        SpotifyReplica(latency=latency, rate_limit=limit, rate_window=window) as replica,
    ):
        work = Path(tmp)
        env = child_env(work, work / "paced.sqlite3", **replica.env(), ISRCDB_RATE_WINDOW=f"{window:g}s")
        _import(synthetic_codes(count, start=SYNTHETIC), env)
        replica.reset_stats()
        summary, _ = _sync(env, sizes.paced_concurrency)
        stats = replica.stats()
    admitted = stats["statuses"].get("200", 0)
    refused = stats["statuses"].get("429", 0)
    searches = stats["requests"].get("search", 0)
    fraction = admitted / (summary["elapsed_s"] / window) / limit
    share_429 = 100.0 * refused / max(searches, 1)
    return [
        Result(
            f"rate-limited sync: R={limit} per {window:g} s, {count:,} codes, {latency * 1000:g} ms latency, "
            f"concurrency {sizes.paced_concurrency}",
            fraction,
            "of R",
            target=">= 0.90",
            passed=fraction >= 0.9 and summary["resolved"] == count,
            note=f"{summary['resolved']:,} resolved",
        ),
        Result(
            "rate-limited sync: requests answered 429",
            share_429,
            "%",
            target="< 1 %",
            passed=share_429 < 1.0,
            note=f"{refused} of {searches:,} requests",
        ),
    ]


def run(size: Size = "full") -> list[Result]:
    """Every sync measurement, at ``size``."""
    return [throughput(SIZES[size]), *pacing(SIZES[size])]


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
