"""Throughput of the replica: N ISRC searches from T client threads, each with its own ``requests.Session``.

``python -m isrcdb.testing.spotify.bench`` runs 2,000 searches from 8 threads against an in-process replica with
no added latency, 5 times, and prints each run and the median. Half the searches ask for sample ISRCs, half for
synthetic ones. ``--url`` measures a replica already running elsewhere (e.g. ``isrcdb-spotify-replica --port
8765`` in another process, which then has a CPU core of its own). Needs ``requests`` (a dependency of isrcdb).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Sequence

import requests

from isrcdb.testing.spotify.replica import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SpotifyReplica
from isrcdb.testing.spotify.sample import RESULT_COUNTS


def codes(count: int) -> list[str]:
    """``count`` ISRCs to search for: sample codes and synthetic ``QZSYN`` codes, alternating."""
    sample = sorted(RESULT_COUNTS)
    return [sample[i % len(sample)] if i % 2 else f"QZSYN26{i:05d}" for i in range(count)]


def run_once(root_url: str, searches: int, threads: int) -> float:
    """Seconds taken to answer ``searches`` searches from ``threads`` threads; raises if any was not a 200."""
    token_response = requests.post(
        f"{root_url}/api/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    token_response.raise_for_status()
    headers = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
    work = codes(searches)
    shares = [work[index::threads] for index in range(threads)]
    failures: list[str] = []
    start = threading.Barrier(threads + 1)

    def client(share: list[str]) -> None:
        with requests.Session() as session:
            session.get(f"{root_url}/_replica/config", timeout=10)  # open the pooled connection before timing
            start.wait()
            for isrc in share:
                response = session.get(
                    f"{root_url}/v1/search",
                    params={"q": f"isrc:{isrc}", "type": "track", "limit": "10"},
                    headers=headers,
                    timeout=10,
                )
                if response.status_code != 200:
                    failures.append(f"{isrc}: {response.status_code}")

    workers = [threading.Thread(target=client, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} searches failed, e.g. {failures[:3]}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print each run and the median."""
    parser = argparse.ArgumentParser(prog="python -m isrcdb.testing.spotify.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=2000, help="searches per run (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5)")
    parser.add_argument("--url", help="root URL of a running replica (default: start one in this process)")
    args = parser.parse_args(argv)

    replica = None if args.url else SpotifyReplica().start()
    root_url = replica.root_url if replica is not None else str(args.url).rstrip("/")
    where = f"replica at {root_url}" + (" (in-process)" if replica is not None else "")
    print(f"{args.searches} searches from {args.threads} threads, {where}", flush=True)
    try:
        times = []
        for run in range(1, args.runs + 1):
            elapsed = run_once(root_url, args.searches, args.threads)
            times.append(elapsed)
            print(f"run {run}: {elapsed:.3f} s ({args.searches / elapsed:,.0f} searches/s)", flush=True)
    except (requests.RequestException, RuntimeError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    finally:
        if replica is not None:
            replica.stop()
    median = statistics.median(times)
    print(f"median of {len(times)}: {median:.3f} s ({args.searches / median:,.0f} searches/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
