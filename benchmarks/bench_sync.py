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
3. Sync's own overhead: the replica in a process of its own, with no latency (it answers with Nagle's algorithm
   off: its handler sets TCP_NODELAY, and so does urllib3 on the client side), ``isrcdb sync`` at concurrency 1,
   4, 8 and 16 next to a tight client run interleaved with them: 8 threads, each with its own keep-alive
   ``requests.Session``, doing the same searches (the same codes and parameters, the JSON parsed) and storing
   nothing. Its requests per second are the replica's measured capacity. Target at concurrency 8: >= 0.8x it.
   Both are timed alike, by the replica: searches per second from the first search's arrival to the last's, so
   neither the tight client's set-up (its token, its connections) nor the sync's (its imports, its token) counts;
   all the sync's storing does, except that of the last few answers.
4. Sync's opening: with the ceiling configured (``--rate R --rate-window W``, as the replica's) on an empty
   window, the share of the optimum reached: N codes in (ceil(N/R) - 1) windows, R allowed at once at the start
   of each window (serving time not counted, so 1.0 cannot quite be reached). The sync is timed by the replica,
   from its first search to its last, as in 3. Target: >= 0.95.

Run alone with ``python benchmarks/bench_sync.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CHILD_ENV, Result, Run, Size, child_env, median_of, run_isrcdb, suite_main, synthetic_codes

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.replica import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

SYNTHETIC = 2_600_000  # the replica's synthetic catalogue: QZSYN2600000 and on
SYNTHETIC_TRACKS = "1-3 tracks a code (1.5 on average)"  # what the replica finds for a synthetic code


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
    overhead: Overhead
    opening: Opening


@dataclass(frozen=True)
class Overhead:
    codes: int  # codes per run, for the sync and for the tight client
    rounds: int  # interleaved rounds: the tight client, then the sync at each concurrency


@dataclass(frozen=True)
class Opening:
    codes: int  # N
    limit: int  # R, the ceiling configured, and the replica's limit
    window: float  # W, seconds
    runs: int


CONCURRENCIES = (8, 1, 4, 16)  # 8 first: the one with a target, next to the tight client it is compared with
TIGHT_THREADS = 8
OVERHEAD_TARGET = 0.8
OPENING_TARGET = 0.95

SIZES: dict[Size, Sizes] = {
    "full": Sizes(
        2000, 200, 0.05, 16, limit=300, window=10.0, windows=5, paced_latency=0.05, paced_concurrency=8,
        overhead=Overhead(codes=3000, rounds=3), opening=Opening(codes=1500, limit=300, window=10.0, runs=2),
    ),
    # Quick: a 2 s window and 20 ms latency, so that enough requests (the first 429s are about one per worker in
    # flight when the limit is first met) fit in a few seconds.
    "quick": Sizes(
        400, 40, 0.05, 16, limit=200, window=2.0, windows=5, paced_latency=0.02, paced_concurrency=4,
        overhead=Overhead(codes=1000, rounds=2), opening=Opening(codes=500, limit=100, window=3.0, runs=1),
    ),
    "tiny": Sizes(
        20, 4, 0.05, 16, limit=20, window=1.0, windows=2, paced_latency=0.0, paced_concurrency=2,
        overhead=Overhead(codes=40, rounds=1), opening=Opening(codes=30, limit=10, window=0.5, runs=1),
    ),
}  # fmt: skip


def _import(codes: list[str], env: dict[str, str]) -> None:
    run_isrcdb(["import", "-"], env=env, stdin=("\n".join(codes) + "\n").encode()).check()


def _sync(env: dict[str, str], concurrency: int, *extra: str) -> tuple[dict[str, Any], Run]:
    """The sync's JSON summary and its run; exit status 3 (stopped by the rate limit) shows in the summary."""
    args = ["sync", "--format", "json", "--concurrency", str(concurrency), *extra]
    run = run_isrcdb(args, env=env, capture=True)
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
        kind="ratio",
        note=f"{summary['resolved'] / run.seconds:.1f}/s counting the process start-up; "
        f"{summary['resolved']:,} resolved, {duplicates} searched twice; {SYNTHETIC_TRACKS}",
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
            kind="ratio",
            note=f"{summary['resolved']:,} resolved; {SYNTHETIC_TRACKS}",
        ),
        Result(
            "rate-limited sync: requests answered 429",
            share_429,
            "%",
            target="< 1 %",
            passed=share_429 < 1.0,
            kind="ratio",
            note=f"{refused} of {searches:,} requests",
        ),
    ]


@dataclass(frozen=True)
class ReplicaProcess:
    """A replica serving from a process of its own, so that neither a sync nor the tight client shares its GIL."""

    root_url: str

    @property
    def api_url(self) -> str:
        return f"{self.root_url}/v1"

    def env(self) -> dict[str, str]:
        return {
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "ISRCDB_SPOTIFY_API_URL": self.api_url,
            "ISRCDB_SPOTIFY_TOKEN_URL": f"{self.root_url}/api/token",
        }

    def reset(self) -> None:
        requests.post(f"{self.root_url}/_replica/reset", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.root_url}/_replica/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


@contextlib.contextmanager
def replica_process() -> Iterator[ReplicaProcess]:
    """``python -m isrcdb.testing.spotify`` on a free port, with no latency and no rate limit; stopped on exit."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "isrcdb.testing.spotify", "--port", "0"],
            env=CHILD_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert process.stdout is not None
            ready = re.search(r"token URL (http://\S+)/api/token,", process.stdout.readline())
            if ready is None:
                process.kill()
                process.wait()
                errors.seek(0)
                raise RuntimeError(f"the replica did not start: {errors.read().decode(errors='replace').strip()}")
            yield ReplicaProcess(ready.group(1))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def tight_client(replica: ReplicaProcess, codes: list[str], threads: int = TIGHT_THREADS) -> float:
    """Requests per second of the tightest sensible client: ``threads`` threads, each with its own keep-alive
    ``requests.Session``, sending sync's search for each of ``codes`` (its parameters, the JSON parsed), storing
    nothing. The token and the connections are made before the clock starts."""
    token = requests.post(
        f"{replica.root_url}/api/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    ).json()["access_token"]
    shares = [codes[index::threads] for index in range(threads)]
    start = threading.Barrier(threads + 1)
    failures: list[str] = []

    def client(share: list[str]) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            session.get(f"{replica.root_url}/_replica/config", timeout=10)  # the pooled connection, opened
            start.wait()
            for code in share:
                params: dict[str, str | int] = {"q": f"isrc:{code}", "type": "track", "limit": 10, "offset": 0}
                response = session.get(f"{replica.api_url}/search", params=params, timeout=10)
                if response.status_code != 200 or not response.json()["tracks"]["items"]:
                    failures.append(f"{code}: {response.status_code}")

    workers = [threading.Thread(target=client, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"the tight client failed {len(failures)} searches, e.g. {failures[0]}")
    return len(codes) / elapsed


def searches_per_second(stats: dict[str, Any]) -> float:
    """A client's pace as the replica saw it: searches per second from the first one's arrival to the last's."""
    return float((stats["requests"]["search"] - 1) / stats["search_span_s"])


def overhead(sizes: Overhead) -> list[Result]:
    """Sync at each concurrency against the tight client, interleaved, both against a replica of their own."""
    count = sizes.codes
    codes = synthetic_codes(count, start=SYNTHETIC)
    tight: list[float] = []
    rates: dict[int, list[float]] = {concurrency: [] for concurrency in CONCURRENCIES}
    duplicates = resolved_short = 0
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-sync-") as tmp, replica_process() as replica:
        work = Path(tmp)
        tight_client(replica, codes[: min(count, 200)])  # warm: the replica's imports and first code paths
        for round_number in range(sizes.rounds):
            replica.reset()
            tight_client(replica, codes)
            tight.append(searches_per_second(replica.stats()))
            for concurrency in CONCURRENCIES:
                env = child_env(work, work / f"overhead-{round_number}-{concurrency}.sqlite3", **replica.env())
                _import(codes, env)
                replica.reset()
                summary, _ = _sync(env, concurrency)
                stats = replica.stats()
                rates[concurrency].append(searches_per_second(stats))
                duplicates += sum(n - 1 for n in stats["searches_by_isrc"].values() if n > 1)
                resolved_short += count - summary["resolved"]
    capacity = median_of(tight)
    data = (
        f"{count:,} codes a run, {SYNTHETIC_TRACKS}, {sizes.rounds} interleaved rounds, "
        "each timed by the replica from its first search to its last"
    )
    rows = []
    for concurrency in CONCURRENCIES:
        rate = median_of(rates[concurrency])
        measured = concurrency == 8
        checks = "" if not measured else f"; {duplicates} searched twice, {resolved_short} unresolved in all runs"
        rows.append(
            Result(
                f"sync's own overhead: concurrency {concurrency}, no latency, Nagle off"
                if measured
                else f"the same at concurrency {concurrency}",
                rate,
                "req/s",
                rates[concurrency],
                baseline=capacity,
                baseline_name=f"tight client ({TIGHT_THREADS} threads, keep-alive, stores nothing)"
                if measured
                else "replica capacity (the tight client)",
                target=f">= {OVERHEAD_TARGET:g}x the tight client" if measured else "reported",
                passed=rate >= OVERHEAD_TARGET * capacity and duplicates == 0 and resolved_short == 0
                if measured
                else None,
                note=f"{data}; tight client {min(tight):,.0f}-{max(tight):,.0f} req/s{checks}" if measured else "",
                kind="ratio",
            )
        )
    return rows


def opening(sizes: Opening) -> Result:
    """Sync with its ceiling configured on an empty window: the share of the optimum (R at once per window)."""
    count, limit, window = sizes.codes, sizes.limit, sizes.window
    optimum = (math.ceil(count / limit) - 1) * window
    shares: list[float] = []
    elapsed: list[float] = []
    refused = 0
    with (
        tempfile.TemporaryDirectory(prefix="isrcdb-bench-sync-") as tmp,
        SpotifyReplica(rate_limit=limit, rate_window=window) as replica,
    ):
        work = Path(tmp)
        for attempt in range(sizes.runs):
            env = child_env(work, work / f"opening-{attempt}.sqlite3", **replica.env())
            _import(synthetic_codes(count, start=SYNTHETIC + attempt * count), env)
            replica.reset()  # an empty window, as for a first sync of the day
            summary, _ = _sync(env, 8, "--rate", str(limit), "--rate-window", f"{window:g}s")
            if summary["resolved"] != count:
                raise RuntimeError(f"the opening sync resolved {summary['resolved']} codes of {count}")
            stats = replica.stats()
            # Timed by the replica, from the first search to the last, as the overhead above is.
            elapsed.append(stats["search_span_s"])
            shares.append(optimum / stats["search_span_s"])
            refused += stats["statuses"].get("429", 0)
    share = median_of(shares)
    return Result(
        f"sync's opening: R={limit} per {window:g} s configured (--rate, --rate-window), empty window, "
        f"{count:,} codes, concurrency 8, no latency",
        share,
        "of optimum",
        shares,
        target=f">= {OPENING_TARGET:g}",
        passed=share >= OPENING_TARGET and refused == 0,
        note=f"optimum {optimum:g} s, sync {median_of(elapsed):.1f} s; {refused} requests answered 429 in "
        f"{sizes.runs} run(s); {SYNTHETIC_TRACKS}",
        kind="ratio",
    )


def run(size: Size = "full") -> list[Result]:
    """Every sync measurement, at ``size``."""
    sizes = SIZES[size]
    return [throughput(sizes), *pacing(sizes), *overhead(sizes.overhead), opening(sizes.opening)]


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
