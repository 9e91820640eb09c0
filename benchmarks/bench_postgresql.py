"""PostgreSQL benchmarks: each measurement next to its SQLite counterpart, measured in the same run.

1. A cached lookup's whole process (``isrcdb lookup CODE --format json``, warm cache), interleaved with the same on
   SQLite.
2. ``isrcdb import`` of N codes (1,000,000 at full size) into a new, migrated, empty cache: codes per second and
   the import's own peak memory, interleaved with the same import into SQLite.
3. ``isrcdb export --format csv`` of an N-code synthetic cache (:func:`common.build_cache`, copied into PostgreSQL):
   wall time and peak memory, which must stay flat whatever N (the rows are read through a server-side cursor).
   Each export is checked to be byte for byte the SQLite export of the same rows.
4. Sync under a rate limit of R requests per W seconds (the replica enforces it; every sync is given
   ``--rate R --rate-window W``): one process, then three processes (each its own ``ISRCDB_HOST_ID``) sharing the
   limit through the database, against one process on SQLite (which cannot share a limit between processes).
   Reported: searches admitted per second as a share of R/W, as the replica saw them (from the first admitted to
   the last; the share over the syncs' own time, start-up of their work included, is in the note), the share of
   requests answered 429, and whether every code was searched exactly once (the replica's ``searches_by_isrc``).
5. Sync's own overhead, as ``bench_sync.py`` measures it on SQLite: the replica in a process of its own with no
   latency, ``isrcdb sync`` at concurrency 8 into a new PostgreSQL cache and into a new SQLite cache, interleaved
   with the tight client that stores nothing; searches per second as the replica timed them, as a share of the
   tight client's. The PostgreSQL server shares the machine's cores with the sync, the replica and the client.

The server is ``ISRCDB_BENCH_POSTGRESQL_URL`` (default: ``ISRCDB_TEST_POSTGRESQL_URL``), for example
``postgresql://postgres@127.0.0.1:5432/postgres``: a server where that user may create databases. Each measurement
makes its own throwaway databases on it and drops them when it ends, even on failure. Without a server (or
without psycopg) the suite gives one row saying it was skipped, and why.

Run alone with ``python benchmarks/bench_postgresql.py [--quick | --tiny]``, or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import Overhead, replica_process, searches_per_second, tight_client
from common import (
    Result,
    Run,
    Size,
    build_cache,
    child_env,
    median_of,
    run_isrcdb,
    skipped_result,
    startup_peak_mb,
    suite_main,
    synthetic_codes,
)

from isrcdb.testing.spotify import SpotifyReplica

URL_VARIABLE = "ISRCDB_BENCH_POSTGRESQL_URL"
TEST_URL_VARIABLE = "ISRCDB_TEST_POSTGRESQL_URL"
SUITE = "PostgreSQL benchmarks"
SAMPLE = "USRC17607839"
SYNTHETIC = 2_600_000  # the replica's synthetic catalogue: QZSYN2600000 and on
PEAK_LIMIT_MB = 200.0
# The tables build_cache fills, parents before children (the foreign keys' order).
CACHE_TABLES = ("artists", "albums", "album_artists", "tracks", "track_artists", "isrcs", "isrc_matches")


@dataclass(frozen=True)
class Sizes:
    lookup_runs: int  # samples of each store's single lookup
    import_codes: int  # codes in the imported file
    import_runs: int  # imports into each store, each into a new cache
    export_codes: int  # codes in the exported cache
    export_runs: int  # exports from each store
    limit: int  # R, requests per rate-limit window, for the sync runs
    window: float  # W, the window's seconds
    windows: int  # each sync run has R codes per window for this many windows
    latency: float  # seconds the replica adds to every request
    concurrency: int  # requests in flight per sync process
    overhead: Overhead  # sync's own overhead: codes a run, interleaved rounds


SIZES: dict[Size, Sizes] = {
    "full": Sizes(
        15, 1_000_000, 3, 1_000_000, 3, limit=300, window=10.0, windows=5, latency=0.05, concurrency=8,
        overhead=Overhead(codes=3000, rounds=3),
    ),
    # Quick: the full size's pace (30 requests/s, one every 33 ms) in windows of 2 s instead of 10.
    "quick": Sizes(
        5, 50_000, 2, 10_000, 3, limit=60, window=2.0, windows=5, latency=0.05, concurrency=8,
        overhead=Overhead(codes=1000, rounds=2),
    ),
    "tiny": Sizes(
        1, 200, 1, 200, 1, limit=20, window=1.0, windows=2, latency=0.0, concurrency=2,
        overhead=Overhead(codes=40, rounds=1),
    ),
}  # fmt: skip
OVERHEAD_CONCURRENCY = 8

SYNC_PROCESSES = 3


# --- throwaway databases ----------------------------------------------------------------------------------------


def server_url() -> str | None:
    """The server the suite uses: ``ISRCDB_BENCH_POSTGRESQL_URL``, else ``ISRCDB_TEST_POSTGRESQL_URL``, else none."""
    return os.environ.get(URL_VARIABLE) or os.environ.get(TEST_URL_VARIABLE) or None


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class Server:
    """Makes throwaway databases on the server at ``url`` (migrated ones copied from a template migrated once)."""

    def __init__(self, url: str) -> None:
        from isrcdb.database.postgresql import libpq_url

        self.url = libpq_url(url)
        self.prefix = f"isrcdb_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.made: list[str] = []
        self.template: str | None = None

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def _create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{len(self.made)}"
        with contextlib.closing(self.admin()) as admin:
            admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return name

    def new_database(self) -> str:
        """The URL of a new database holding an empty isrcdb cache, migrated to the current schema."""
        from isrcdb.database import open_database

        if self.template is None:
            template = self._create()
            open_database(_with_database(self.url, template)).close()
            self.template = template
        return _with_database(self.url, self._create(self.template))

    def drop(self, url: str) -> None:
        """Drop the database at ``url`` (one this object made) now, rather than at the end."""
        name = urlsplit(url).path.lstrip("/")
        with contextlib.closing(self.admin()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.remove(name)

    def drop_all(self) -> None:
        with contextlib.closing(self.admin()) as admin:
            for name in reversed(self.made):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()
        self.template = None


@contextlib.contextmanager
def throwaway(url: str) -> Iterator[Server]:
    """A :class:`Server` whose databases are all dropped when the block ends, however it ends."""
    server = Server(url)
    try:
        yield server
    finally:
        server.drop_all()


def _count(url: str, sql: str) -> int:
    import psycopg

    with contextlib.closing(psycopg.connect(url, connect_timeout=10)) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def copy_cache(source: Path, url: str) -> None:
    """Copy the rows of the SQLite cache ``source`` into the empty, migrated PostgreSQL cache at ``url``.

    Copied rather than generated on the server: generating the same rows with SQL on PostgreSQL (generate_series
    and json_build_object) measured 1.4 to 1.8 times slower here than copying them from the SQLite cache that the
    SQLite export needs anyway, and a copy holds exactly the same rows, so the two exports can be compared byte for
    byte. Rows go in with COPY, in one transaction; the foreign keys' triggers are skipped when the user may (a
    superuser: ``session_replication_role``), the rows coming from a consistent cache. Then ``VACUUM ANALYZE``, so
    that the planner knows the tables as it would a cache filled over time.
    """
    import psycopg

    with contextlib.closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src:
        with contextlib.closing(psycopg.connect(url, connect_timeout=10)) as conn:
            try:
                conn.execute("SET session_replication_role = replica")
            except psycopg.errors.InsufficientPrivilege:
                conn.rollback()
            for table in CACHE_TABLES:
                names = ", ".join(row[1] for row in src.execute(f"PRAGMA table_info({table})"))
                with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in src.execute(f"SELECT {names} FROM {table}"):
                        copy.write_row(row)
            conn.commit()
        with contextlib.closing(psycopg.connect(url, autocommit=True, connect_timeout=10)) as conn:
            conn.execute("VACUUM ANALYZE")


# --- lookup -----------------------------------------------------------------------------------------------------


def _hit_seconds(env: dict[str, str], code: str) -> float:
    return run_isrcdb(["lookup", code, "--format", "json"], env=env).check().seconds


def lookup(url: str, replica: SpotifyReplica, work: Path, runs: int) -> Result:
    """``isrcdb lookup CODE --format json`` on a warm cache in PostgreSQL, against the same in SQLite."""
    with throwaway(url) as server:
        stores = {
            "sqlite": child_env(work, work / "hit.sqlite3", **replica.env()),
            "postgresql": child_env(work, server.new_database(), **replica.env()),
        }
        for env in stores.values():
            _hit_seconds(env, SAMPLE)  # fill the cache through the replica
            for _ in range(2):  # warm the OS file cache and the server's buffers
                _hit_seconds(env, SAMPLE)
        timings: dict[str, list[float]] = {store: [] for store in stores}
        for _ in range(runs):  # interleaved, so that both see the same machine
            for store, env in stores.items():
                timings[store].append(_hit_seconds(env, SAMPLE))
    pg, lite = median_of(timings["postgresql"]), median_of(timings["sqlite"])
    return Result(
        "PostgreSQL: lookup CODE --format json, warm cache (whole process)",
        pg * 1000,
        "ms",
        [s * 1000 for s in timings["postgresql"]],
        baseline=lite * 1000,
        baseline_name="the same on SQLite",
        target="reported",
    )


# --- import -----------------------------------------------------------------------------------------------------


def _peaks(runs: list[Run]) -> list[float]:
    peaks = [run.peak_mb for run in runs if run.peak_mb is not None]
    if len(peaks) != len(runs):
        raise RuntimeError("a run was not probed for its peak memory")
    return peaks


def import_codes(url: str, work: Path, count: int, runs: int) -> list[Result]:
    """``isrcdb import`` of ``count`` codes into a new, empty, migrated cache: PostgreSQL against SQLite."""
    from isrcdb.database import open_database

    codes_file = work / "import-codes.csv"
    with codes_file.open("w") as handle:
        handle.write("title,isrc\n")
        for n, code in enumerate(synthetic_codes(count)):
            handle.write(f"Song {n},{code[:2]}-{code[2:5]}-{code[5:7]}-{code[7:]}\n")
    args = ["import", str(codes_file), "--format", "json"]
    runs_by_store: dict[str, list[Run]] = {"sqlite": [], "postgresql": []}
    with throwaway(url) as server:
        for attempt in range(runs):  # interleaved, each import into a new cache
            path = work / f"import-{attempt}.sqlite3"
            open_database(path).close()  # migrated beforehand, as the PostgreSQL cache is
            done = run_isrcdb(args, env=child_env(work, path), capture=True, peak=True).check()
            runs_by_store["sqlite"].append(done)
            with contextlib.closing(sqlite3.connect(path)) as conn:
                stored = conn.execute("SELECT count(*) FROM isrcs WHERE status = 'pending'").fetchone()[0]
            path.unlink()
            if stored != count:
                raise RuntimeError(f"import into SQLite stored {stored} pending codes of {count}")
            database = server.new_database()
            done = run_isrcdb(args, env=child_env(work, database), capture=True, peak=True).check()
            runs_by_store["postgresql"].append(done)
            stored = _count(database, "SELECT count(*) FROM isrcs WHERE status = 'pending'")
            server.drop(database)
            if stored != count:
                raise RuntimeError(f"import into PostgreSQL stored {stored} pending codes of {count}")
    rates = {store: [count / run.seconds for run in done] for store, done in runs_by_store.items()}
    seconds = median_of([run.seconds for run in runs_by_store["postgresql"]])
    pg_peaks, lite_peaks = _peaks(runs_by_store["postgresql"]), _peaks(runs_by_store["sqlite"])
    return [
        Result(
            f"PostgreSQL: import of {count:,} codes (CSV, hyphenated)",
            median_of(rates["postgresql"]),
            "codes/s",
            rates["postgresql"],
            baseline=median_of(rates["sqlite"]),
            baseline_name="the same into SQLite",
            target="reported",
            note=f"{seconds:,.2f} s; into a new cache, migrated beforehand",
        ),
        Result(
            "PostgreSQL: the same, peak memory",
            max(pg_peaks),
            "MB",
            pg_peaks,
            baseline=max(lite_peaks),
            baseline_name="the same into SQLite",
            target=f"< {PEAK_LIMIT_MB:g} MB",
            passed=max(pg_peaks) < PEAK_LIMIT_MB,
        ),
    ]


# --- export -----------------------------------------------------------------------------------------------------


def _digest(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its number of lines."""
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def export(url: str, work: Path, count: int, runs: int) -> list[Result]:
    """``isrcdb export --format csv`` of a ``count``-code cache from PostgreSQL, against the same from SQLite."""
    source = work / "export.sqlite3"
    started = time.perf_counter()
    build_cache(source, count)
    built = time.perf_counter() - started
    stores: dict[str, str | Path] = {"sqlite": source}
    wall: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    peaks: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    with throwaway(url) as server:
        database = server.new_database()
        started = time.perf_counter()
        copy_cache(source, database)
        copied = time.perf_counter() - started
        size_mb = _count(database, "SELECT pg_database_size(current_database())") / 1024 / 1024
        stores["postgresql"] = database
        for _ in range(runs):  # interleaved, so that both see the same machine
            digests = {}
            for store, location in stores.items():
                output = work / f"export-{store}.csv"
                args = ["export", "--format", "csv", "--output", str(output)]
                done = run_isrcdb(args, env=child_env(work, location), peak=True).check()
                if done.peak_mb is None:
                    raise RuntimeError(f"the export from {store} was not probed for its peak memory")
                wall[store].append(done.seconds)
                peaks[store].append(done.peak_mb)
                digests[store] = _digest(output)
                output.unlink()
            if digests["sqlite"][1] != count + 1:
                raise RuntimeError(f"the SQLite export wrote {digests['sqlite'][1]} lines for {count} codes")
            if digests["postgresql"] != digests["sqlite"]:
                raise RuntimeError(
                    f"the PostgreSQL export ({digests['postgresql'][1]} lines) differs from the SQLite export of "
                    f"the same rows ({digests['sqlite'][1]} lines)"
                )
    name = f"PostgreSQL: export csv ({count:,} codes)"
    return [
        Result(
            f"PostgreSQL: synthetic cache of {count:,} codes copied from SQLite ({size_mb:,.0f} MB on the server)",
            copied,
            "s",
            baseline=built,
            baseline_name="build_cache into SQLite",
        ),
        Result(
            f"{name}: peak RSS",
            max(peaks["postgresql"]),
            "MB",
            peaks["postgresql"],
            baseline=max(peaks["sqlite"]),
            baseline_name="the same from SQLite",
            target=f"< {PEAK_LIMIT_MB:g} MB",
            passed=max(peaks["postgresql"]) < PEAK_LIMIT_MB,
            note=f"isrcdb --version: {startup_peak_mb():.1f} MB",
        ),
        Result(
            f"{name}: wall time",
            median_of(wall["postgresql"]),
            "s",
            wall["postgresql"],
            baseline=median_of(wall["sqlite"]),
            baseline_name="the same from SQLite",
            target="same bytes as SQLite's",
            passed=True,  # a difference raised above
            note=f"{count / median_of(wall['postgresql']):,.0f} codes/s",
        ),
    ]


# --- sync under a shared rate limit -----------------------------------------------------------------------------


class Admissions:
    """The replica's access log, keeping the times searches were admitted (answered 200): the pace the limit saw."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, line: str) -> None:
        # '127.0.0.1 - "GET /v1/search?q=... HTTP/1.1" 200 -', logged as the response is sent
        request, _, outcome = line.rpartition('" ')
        if '"GET /v1/search?' in request and outcome.split()[:1] == ["200"]:
            self.times.append(time.monotonic())

    def per_second(self) -> float:
        """Searches admitted per second, from the first admitted to the last."""
        times = self.times
        if len(times) < 2 or times[-1] <= times[0]:
            raise RuntimeError(f"the replica admitted {len(times)} searches: too few to measure a pace")
        return (len(times) - 1) / (times[-1] - times[0])


@dataclass(frozen=True)
class Paced:
    """One paced sync run (of one or several processes) as the replica saw it."""

    share: float  # searches admitted per second, as the replica saw them, as a share of R/W
    wall_share: float  # the same over the syncs' own time, from the first one's start to the last one's end
    share_429: float  # % of search requests answered 429
    searches: int
    refused: int
    once: bool  # every code searched exactly once
    detail: str


def _paced_run(
    replica: SpotifyReplica, admissions: Admissions, sizes: Sizes, envs: list[dict[str, str]], codes: list[str]
) -> Paced:
    """Run one ``isrcdb sync`` per environment in ``envs``, all at once, and read the replica's counters."""
    limit, window = sizes.limit, sizes.window
    args = ["sync", "--format", "json", "--concurrency", str(sizes.concurrency)]
    args += ["--rate", str(limit), "--rate-window", f"{window:g}s"]
    replica.set_rate_limit(limit, window)  # forget the previous run's requests
    replica.reset_stats()
    admissions.times.clear()

    def one(env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
        done = run_isrcdb(args, env=env, capture=True)
        ended = time.perf_counter()
        summary = json.loads(done.check(0, 3).stdout)  # 3: stopped by the rate limit, shown in the summary
        return summary, ended - summary["elapsed_s"], ended

    with ThreadPoolExecutor(len(envs)) as pool:
        finished = list(pool.map(one, envs))
    stats = replica.stats()
    # From the first process's start of work to the last one's end (each process's own interpreter start-up,
    # before its sync begins, is not sync's pace).
    span = max(end for _, _, end in finished) - min(start for _, start, _ in finished)
    searches = stats["requests"].get("search", 0)
    refused = stats["statuses"].get("429", 0)
    searched = stats["searches_by_isrc"]
    twice = sum(1 for n in searched.values() if n > 1)
    never = sum(1 for code in codes if code not in searched)
    resolved = [summary["resolved"] for summary, _, _ in finished]
    statuses = sorted({summary["status"] for summary, _, _ in finished})
    once = twice == 0 and never == 0 and sum(resolved) == len(codes) and set(searched) == set(codes)
    detail = (
        f"{len(codes):,} codes, resolved {'+'.join(str(n) for n in resolved)}, "
        + ("each searched once" if once else f"{twice} searched more than once, {never} never")
        + (f", status {'/'.join(statuses)}" if statuses != ["complete"] else "")
    )
    return Paced(
        share=admissions.per_second() / (limit / window),
        wall_share=(searches - refused) / span / (limit / window),
        share_429=100.0 * refused / max(searches, 1),
        searches=searches,
        refused=refused,
        once=once,
        detail=detail,
    )


def sync(url: str, work: Path, sizes: Sizes) -> list[Result]:
    """Paced sync: one process on SQLite, one on PostgreSQL, three on PostgreSQL sharing the limit."""
    limit, window = sizes.limit, sizes.window
    codes = synthetic_codes(limit * sizes.windows, start=SYNTHETIC)
    feed = ("\n".join(codes) + "\n").encode()
    admissions = Admissions()
    with (
        throwaway(url) as server,
        SpotifyReplica(latency=sizes.latency, rate_limit=limit, rate_window=window, access_log=admissions) as replica,
    ):
        locations: dict[str, str | Path] = {
            "sqlite": work / "sync.sqlite3",
            "postgresql": server.new_database(),
            "shared": server.new_database(),
        }
        for location in locations.values():
            run_isrcdb(["import", "-"], env=child_env(work, location), stdin=feed).check()
        runs = {}
        for store, location in locations.items():
            processes = SYNC_PROCESSES if store == "shared" else 1
            envs = [
                child_env(work, location, **replica.env(), ISRCDB_HOST_ID=f"bench-{store}-{n}")
                for n in range(processes)
            ]
            runs[store] = _paced_run(replica, admissions, sizes, envs, codes)
    lite = runs["sqlite"]
    setting = f"--rate {limit} --rate-window {window:g}s, {sizes.latency * 1000:g} ms latency"
    rows = []
    for store, label in (("postgresql", "1 process"), ("shared", f"{SYNC_PROCESSES} processes sharing the limit")):
        paced = runs[store]
        rows += [
            Result(
                f"PostgreSQL: sync, {label}, {setting}, concurrency {sizes.concurrency} each: searches/s as a share "
                "of R/W",
                paced.share,
                "of R/W",
                baseline=lite.share,
                baseline_name="1 process on SQLite",
                target=">= 0.90, each code searched once",
                passed=paced.share >= 0.9 and paced.once,
                note=f"{paced.wall_share:.2f} over the syncs' own time; {paced.detail}",
            ),
            Result(
                f"PostgreSQL: the same ({label}), requests answered 429",
                paced.share_429,
                "%",
                baseline=lite.share_429,
                baseline_name="1 process on SQLite",
                target="< 1 %",
                passed=paced.share_429 < 1.0,
                note=f"{paced.refused} of {paced.searches:,} requests; SQLite: {lite.refused} of {lite.searches:,}, "
                f"{lite.detail}",
            ),
        ]
    return rows


# --- sync's own overhead ----------------------------------------------------------------------------------------


def overhead(url: str, work: Path, sizes: Overhead) -> Result:
    """Sync at concurrency 8 into PostgreSQL and into SQLite, and the tight client, interleaved, against a replica
    process with no latency (see ``bench_sync.overhead``)."""
    codes = synthetic_codes(sizes.codes, start=SYNTHETIC)
    feed = ("\n".join(codes) + "\n").encode()
    tight: list[float] = []
    rates: dict[str, list[float]] = {"postgresql": [], "sqlite": []}
    unresolved = 0
    with throwaway(url) as server, replica_process() as replica:
        tight_client(replica, codes[: min(len(codes), 200)])  # warm: the replica's imports and first code paths
        for round_number in range(sizes.rounds):
            replica.reset()
            tight_client(replica, codes)
            tight.append(searches_per_second(replica.stats()))
            for store, location in (
                ("postgresql", server.new_database()),
                ("sqlite", work / f"overhead-{round_number}.sqlite3"),
            ):
                env = child_env(work, location, **replica.env())
                run_isrcdb(["import", "-"], env=env, stdin=feed).check()
                replica.reset()
                args = ["sync", "--format", "json", "--concurrency", str(OVERHEAD_CONCURRENCY)]
                summary = json.loads(run_isrcdb(args, env=env, capture=True).check().stdout)
                unresolved += len(codes) - summary["resolved"]
                rates[store].append(searches_per_second(replica.stats()))
    capacity, lite = median_of(tight), median_of(rates["sqlite"])
    return Result(
        f"PostgreSQL: sync's own overhead, concurrency {OVERHEAD_CONCURRENCY}, no latency, Nagle off",
        median_of(rates["postgresql"]),
        "req/s",
        rates["postgresql"],
        baseline=capacity,
        baseline_name="tight client (8 threads, keep-alive, stores nothing)",
        target="reported",
        note=f"{len(codes):,} codes a run, {sizes.rounds} interleaved rounds, timed by the replica; SQLite in the "
        f"same rounds {lite:,.0f} req/s ({lite / capacity:.2f}x); {unresolved} unresolved in all runs",
        kind="ratio",
    )


# --- the suite --------------------------------------------------------------------------------------------------


def unavailable() -> str | None:
    """Why the suite cannot run here (no server set, no driver, the server unreachable), or ``None``."""
    url = server_url()
    if url is None:
        return (
            f"no PostgreSQL server: set {URL_VARIABLE} (or {TEST_URL_VARIABLE}) to postgresql://USER@HOST:5432/DBNAME, "
            "a server where USER may create databases"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'isrcdb[postgresql]'"
    from isrcdb.database.postgresql import redact

    try:
        with contextlib.closing(Server(url).admin()):
            pass
    except Exception as exc:
        return f"the server at {redact(url)} cannot be reached: {' '.join(str(exc).split())}"
    return None


def run(size: Size = "full") -> list[Result]:
    """Every PostgreSQL measurement, at ``size``; one row saying why when there is no server to run them on."""
    why = unavailable()
    if why is not None:
        return [skipped_result(SUITE, why)]
    url = server_url()
    assert url is not None
    sizes = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="isrcdb-bench-postgresql-") as tmp:
        work = Path(tmp)
        with SpotifyReplica() as replica:
            rows = [lookup(url, replica, work, sizes.lookup_runs)]
        rows += import_codes(url, work, sizes.import_codes, sizes.import_runs)
        rows += export(url, work, sizes.export_codes, sizes.export_runs)
        rows += sync(url, work, sizes)
        rows.append(overhead(url, work, sizes.overhead))
    return rows


if __name__ == "__main__":
    raise SystemExit(suite_main(run, __doc__))
