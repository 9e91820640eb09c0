"""Shared by the reliability tests and ``benchmarks/crash_trials.py``: database invariants and SIGKILL trials.

:func:`integrity_problems` lists everything wrong with a cache database (an empty list means it is sound):
SQLite's own ``integrity_check`` and ``foreign_key_check``, and isrcdb's invariants, the ones a half-written
lookup would break: a found code has ``match_count`` equal to its ``isrc_matches`` rows, numbered 0..n-1, its
canonical track present and ranked 0, every matched track carrying that ISRC; a pending or not-found code has no
match and no canonical track; no match points at a missing code or track.

:func:`crash_trials` runs ``isrcdb sync``, ``import`` or ``lookup`` as real processes against the local Spotify
replica and kills each with SIGKILL at a random moment (seeded), each run being the "next run" of the previous
one, then lets a last run finish. After every kill it checks the invariants, that every entry an independent
reader saw committed just before the kill is still there unchanged and is never searched again, and, at the end,
that the finished run left every code resolved exactly once (one ``found`` change per found code, one row per
code), and that the token cache file was never left half-written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isrcdb.sync import UNSTORED
from isrcdb.testing.spotify import SpotifyReplica

COMMANDS = ("sync", "import", "lookup", "create")
"""``create`` kills ``isrcdb db upgrade`` while it creates a new database (the migrations)."""

Resolved = tuple[str, tuple[str, ...]]
"""What a resolved code holds: its status and its match ids in rank order."""


def synthetic_codes(count: int, start: int = 1) -> list[str]:
    """Codes the replica's synthetic catalogue answers (``QZSYN26nnnnn``; with ``synthetic_not_found`` one in ten
    ends in 0 and is not found)."""
    return [f"QZSYN26{number:05d}" for number in range(start, start + count)]


def import_codes(count: int) -> list[str]:
    """Many distinct valid codes for import trials (``QZSYN3nnnnnnn``), in file order."""
    return [f"QZSYN3{number:06d}" for number in range(1, count + 1)]


# --- invariants ---------------------------------------------------------------------------------------------------


def _connect(db: Path) -> sqlite3.Connection:
    """A reading connection inside one read transaction, so that all its queries see one snapshot even while a
    writer commits; not ``mode=ro``, so that it can recover the WAL a killed writer left behind."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("PRAGMA query_only=ON")
    conn.execute("BEGIN")
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def integrity_problems(db: Path) -> list[str]:
    """Everything wrong with the database at ``db`` (see the module docstring); ``[]`` when it is sound."""
    if not db.exists():
        return []
    conn = _connect(db)
    try:
        problems: list[str] = []
        check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            problems.append(f"integrity_check: {check[:5]}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign_key_check: {fk[:5]}")
        tables = _tables(conn)
        if not tables:
            return problems
        if "isrcs" not in tables or "alembic_version" not in tables:
            return [*problems, f"half-created schema: tables {sorted(tables)}"]
        queries = {
            "found code whose match_count is not its number of matches": (
                "SELECT i.isrc, i.match_count, count(m.track_id) FROM isrcs i LEFT JOIN isrc_matches m "
                "ON m.isrc = i.isrc WHERE i.status = 'found' GROUP BY i.isrc "
                "HAVING count(m.track_id) != i.match_count OR i.match_count < 1"
            ),
            "found code whose ranks are not 0..n-1": (
                "SELECT isrc FROM isrc_matches GROUP BY isrc HAVING min(rank) != 0 OR max(rank) != count(*) - 1 "
                "OR count(DISTINCT rank) != count(*)"
            ),
            "found code without its canonical track ranked 0": (
                "SELECT i.isrc FROM isrcs i WHERE i.status = 'found' AND (i.canonical_track_id IS NULL "
                "OR NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = i.canonical_track_id) "
                "OR NOT EXISTS (SELECT 1 FROM isrc_matches m WHERE m.isrc = i.isrc AND m.rank = 0 "
                "AND m.track_id = i.canonical_track_id))"
            ),
            "found code without its timestamps": (
                "SELECT isrc FROM isrcs WHERE status = 'found' AND (fetched_at IS NULL OR expires_at IS NULL)"
            ),
            "pending or not-found code with matches or a canonical track": (
                "SELECT i.isrc FROM isrcs i WHERE i.status != 'found' AND (i.match_count != 0 "
                "OR i.canonical_track_id IS NOT NULL OR EXISTS (SELECT 1 FROM isrc_matches m WHERE m.isrc = i.isrc))"
            ),
            "orphan match": (
                "SELECT m.isrc, m.track_id FROM isrc_matches m WHERE NOT EXISTS (SELECT 1 FROM isrcs i "
                "WHERE i.isrc = m.isrc) OR NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = m.track_id)"
            ),
            "matched track carrying another ISRC": (
                "SELECT m.isrc, t.id FROM isrc_matches m JOIN tracks t ON t.id = m.track_id WHERE t.isrc != m.isrc"
            ),
            "code that is not 12 characters": "SELECT isrc FROM isrcs WHERE length(isrc) != 12",
        }
        for what, sql in queries.items():
            bad = conn.execute(sql).fetchmany(5)
            if bad:
                problems.append(f"{what}: {bad}")
        return problems
    finally:
        conn.close()


def resolved(db: Path) -> dict[str, Resolved]:
    """Every code whose answer is committed (found or not found), with its status and match ids in rank order."""
    if not db.exists():
        return {}
    conn = _connect(db)
    try:
        if "isrcs" not in _tables(conn) or "isrc_matches" not in _tables(conn):
            return {}
        matches: dict[str, list[str]] = {}
        for isrc, track_id in conn.execute("SELECT isrc, track_id FROM isrc_matches ORDER BY isrc, rank"):
            matches.setdefault(isrc, []).append(track_id)
        return {
            isrc: (status, tuple(matches.get(isrc, ())))
            for isrc, status in conn.execute("SELECT isrc, status FROM isrcs WHERE status != 'pending'")
        }
    finally:
        conn.close()


def stored_codes(db: Path) -> set[str]:
    """Every code with a row, whatever its status."""
    if not db.exists():
        return set()
    conn = _connect(db)
    try:
        if "isrcs" not in _tables(conn):
            return set()
        return {row[0] for row in conn.execute("SELECT isrc FROM isrcs")}
    finally:
        conn.close()


def found_changes(db: Path) -> dict[str, int]:
    """How many ``found`` history rows each code has (a code found once and never lost has exactly one)."""
    conn = _connect(db)
    try:
        return dict(conn.execute("SELECT isrc, count(*) FROM isrc_changes WHERE kind = 'found' GROUP BY isrc"))
    finally:
        conn.close()


def token_file_problems(cache_dir: Path) -> list[str]:
    """A token cache file must always be whole JSON with a string token, mode 0600, in a 0700 directory."""
    problems: list[str] = []
    folder = cache_dir / "isrcdb"
    if not folder.exists():
        return problems
    if stat.S_IMODE(folder.stat().st_mode) != 0o700:
        problems.append(f"token directory mode {oct(stat.S_IMODE(folder.stat().st_mode))}")
    for path in folder.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != 0o600:
            problems.append(f"{path.name} has mode {oct(mode)}")
        if path.name.startswith("token-") and path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                problems.append(f"{path.name} is not whole JSON: {exc}")
                continue
            if not isinstance(data.get("access_token"), str):
                problems.append(f"{path.name} has no access_token")
    return problems


# --- the trials ---------------------------------------------------------------------------------------------------


@dataclass
class CrashReport:
    """What a series of crash trials did and found."""

    command: str
    seed: int
    trials: int = 0
    killed: int = 0
    """Processes that were still running when SIGKILL arrived."""
    finished_first: int = 0
    """Processes that had already exited when their kill was due."""
    committed_before_kills: int = 0
    """Entries an independent reader saw committed just before a kill (summed over the kills)."""
    cycles: int = 0
    """Times the work was completed (by a run let finish) and started over on a new database."""
    codes: int = 0
    searches: int = 0
    repeated_searches: int = 0
    """Searches beyond one per code: requests in flight when a process died, answered to nobody."""
    final_exit: int | None = None
    problems: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["delays"] = [round(delay, 3) for delay in self.delays]
        return data


@dataclass
class Setup:
    """Where the trials run: a directory (database, code file, XDG dirs), the replica, the environment."""

    root: Path
    replica: SpotifyReplica
    env: dict[str, str]
    db: Path
    cache_dir: Path

    @classmethod
    def create(cls, root: Path, replica: SpotifyReplica, **extra: str) -> Setup:
        root.mkdir(parents=True, exist_ok=True)
        db = root / "crash.sqlite3"
        cache_dir = root / "xdg-cache"
        env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("ISRCDB_", "SPOTIFY_"))},
            **replica.env(),
            "XDG_CACHE_HOME": str(cache_dir),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "ISRCDB_DATABASE": str(db),
            **extra,
        }
        return cls(root, replica, env, db, cache_dir)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``isrcdb ARGS``; its stderr goes to a file (a pipe nobody reads could block it)."""
        with open(self.root / "stderr.txt", "wb") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "isrcdb", *args],
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "isrcdb", *args],
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def searches(self) -> dict[str, int]:
        return dict(self.replica.stats()["searches_by_isrc"])

    def total_searches(self) -> int:
        return int(self.replica.stats()["requests"]["search"])


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def _row_count(db: Path) -> int:
    try:
        conn = _connect(db)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM isrcs").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _kill(process: subprocess.Popen[bytes], setup: Setup, report: CrashReport) -> list[str]:
    """SIGKILL ``process`` if it still runs, and count it; whatever it printed must not be a traceback."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        report.killed += 1
    else:
        report.finished_first += 1
    process.wait(timeout=30)
    text = (setup.root / "stderr.txt").read_text(encoding="utf-8", errors="replace")
    if "Traceback" in text or "locked" in text:
        return [f"before the kill, isrcdb printed: {text[-2000:]}"]
    return []


def crash_trials(
    command: str,
    setup: Setup,
    *,
    trials: int,
    seed: int,
    codes: int,
    concurrency: int = 4,
    kill_window: float = 1.5,
    early_share: float = 0.2,
) -> CrashReport:
    """Kill ``isrcdb COMMAND`` ``trials`` times at random moments, then let it finish; see the module docstring.

    When the kills themselves have completed the work (every code resolved or imported), a run is let finish, the
    final checks run, and the trials go on with a new database (a new *cycle*).

    A kill lands ``early_share`` of the time within the first second of the process (start-up, opening or
    creating the database, the token), otherwise once the work has begun (the first search reached the replica,
    or the first import chunk is stored), within ``kill_window`` seconds after that.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r} (choose from {', '.join(COMMANDS)})")
    rng = random.Random(f"{seed}:{command}")
    report = CrashReport(command=command, seed=seed, trials=trials)
    if command == "create":
        _create_trials(setup, report, rng)
        return report
    file_codes = import_codes(codes) if command == "import" else synthetic_codes(codes)
    code_file = setup.root / f"{command}-codes.txt"
    code_file.write_text("\n".join(file_codes) + "\n", encoding="utf-8")
    report.codes = len(file_codes)
    args: dict[str, list[str]] = {
        "sync": ["sync", "--concurrency", str(concurrency), "--format", "json"],
        "import": ["import", str(code_file), "--format", "json"],
        "lookup": ["lookup", "--file", str(code_file), "--format", "jsonl"],
    }
    seen: dict[str, Resolved] = {}  # every entry seen committed before a kill (in this cycle)
    searched: dict[str, int] = {}  # how often each of those had been searched when it was seen committed
    kills = report.killed

    def new_cycle() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{setup.db}{suffix}").unlink(missing_ok=True)
        setup.replica.reset_stats()
        seen.clear()
        searched.clear()
        if command == "sync":
            prepared = setup.run("import", str(code_file))
            if prepared.returncode != 0:
                raise AssertionError(f"cannot prepare the sync trials: {prepared.stderr}")

    new_cycle()
    for _ in range(trials):
        done = _row_count(setup.db) if command == "import" else len(resolved(setup.db))
        if done == len(file_codes):
            _finish(command, setup, args[command], file_codes, seen, searched, report, concurrency, kills)
            kills = report.killed
            new_cycle()
        before_searches = setup.total_searches()
        before_rows = _row_count(setup.db)
        process = setup.start(*args[command])
        early = rng.random() < early_share
        if early:
            delay = rng.uniform(0.0, 1.0)
            time.sleep(delay)
        else:
            if command == "import":
                _wait_for(lambda rows=before_rows: _row_count(setup.db) > rows, process, 60)  # type: ignore[misc]
            else:
                _wait_for(lambda n=before_searches: setup.total_searches() > n, process, 60)  # type: ignore[misc]
            delay = rng.uniform(0.0, kill_window)
            time.sleep(delay)
        report.delays.append(delay)
        committed = stored_codes(setup.db) if command == "import" else resolved(setup.db)
        counts = setup.searches()
        problems = _kill(process, setup, report)
        report.committed_before_kills += len(committed)
        problems += integrity_problems(setup.db) + token_file_problems(setup.cache_dir)
        after = stored_codes(setup.db) if command == "import" else resolved(setup.db)
        if command == "import":
            lost = set(committed) - set(after)
            problems += _chunk_problems(after, file_codes)
        else:
            lost = {code for code, entry in committed.items() if after.get(code) != entry}
            for code, entry in committed.items():
                seen.setdefault(code, entry)  # type: ignore[arg-type]
                searched.setdefault(code, counts.get(code, 0))
        if lost:
            examples = {code: (committed[code], after.get(code)) for code in sorted(lost)[:3]}  # type: ignore[index]
            problems.append(f"{len(lost)} committed entries lost or changed by the kill, e.g. {examples}")
        report.problems += [f"trial {len(report.delays)} (delay {delay:.3f} s): {problem}" for problem in problems]
    _finish(command, setup, args[command], file_codes, seen, searched, report, concurrency, kills)
    return report


def _chunk_problems(stored: set[str], file_codes: list[str]) -> list[str]:
    """An import commits whole chunks of the file, in order: what is stored is the file's first k chunks."""
    from isrcdb.importer import CHUNK

    count = len(stored)
    if count % CHUNK and count != len(file_codes):
        return [f"{count} codes stored: not a whole number of {CHUNK}-code chunks"]
    if stored != set(file_codes[:count]):
        return [f"the {count} codes stored are not the file's first {count}"]
    return []


def _finish(
    command: str,
    setup: Setup,
    args: list[str],
    file_codes: list[str],
    seen: dict[str, Resolved],
    searched: dict[str, int],
    report: CrashReport,
    concurrency: int,
    kills_before: int,
) -> None:
    """The run after the last kill finishes, resolves everything once, and repeats nothing committed."""
    final = setup.run(*args)
    report.final_exit = final.returncode
    problems = integrity_problems(setup.db) + token_file_problems(setup.cache_dir)
    if "Traceback" in final.stderr or "locked" in final.stderr:
        problems.append(f"final run stderr: {final.stderr[-2000:]}")
    if command == "import":
        summary = json.loads(final.stdout)
        if final.returncode != 0 or summary["added"] + summary["already_known"] != len(file_codes):
            problems.append(f"final import: exit {final.returncode}, {summary}")
        if stored_codes(setup.db) != set(file_codes):
            problems.append("after the final import the database does not hold exactly the file's codes")
    else:
        expected_exit = 0 if command == "sync" else _lookup_exit(setup.replica, file_codes)
        if final.returncode != expected_exit:
            problems.append(f"final {command}: exit {final.returncode}, expected {expected_exit}: {final.stderr}")
        entries = resolved(setup.db)
        missing = set(file_codes) - set(entries)
        if missing:
            problems.append(f"{len(missing)} codes unresolved after the final run, e.g. {sorted(missing)[:5]}")
        if command == "lookup":
            problems += _lookup_output_problems(final.stdout, file_codes, seen)
        changed = {code for code, entry in seen.items() if entries.get(code) != entry}
        if changed:
            problems.append(f"{len(changed)} entries committed before a kill changed later, e.g. {sorted(changed)[:5]}")
        counts = setup.searches()
        again = {code for code, count in searched.items() if counts.get(code, 0) != count}
        if again:
            problems.append(f"{len(again)} codes committed before a kill were searched again: {sorted(again)[:5]}")
        found = {code for code, (status, _) in entries.items() if status == "found"}
        history = found_changes(setup.db)
        twice = {code for code in found if history.get(code) != 1}
        if twice:
            problems.append(f"{len(twice)} found codes without exactly one 'found' history row: {sorted(twice)[:5]}")
        before = setup.total_searches()
        rerun = setup.run(*args)
        if setup.total_searches() != before or rerun.returncode != final.returncode:
            problems.append(f"a run after the final one searched again or ended differently: {rerun.stderr}")
        searches = sum(counts.get(code, 0) for code in file_codes)
        report.searches += searches
        report.repeated_searches += searches - len(file_codes)
        # At most what was in flight when each process died: one code for a lookup; for a sync, what its workers
        # had searched and not yet committed (at most UNSTORED per worker).
        kills = report.killed - kills_before
        if searches - len(file_codes) > kills * (UNSTORED * concurrency if command == "sync" else 1):
            problems.append(f"{searches - len(file_codes)} repeated searches for {kills} kills")
    report.cycles += 1
    report.problems += [f"cycle {report.cycles}, final run: {problem}" for problem in problems]


def _lookup_exit(replica: SpotifyReplica, codes: Iterable[str]) -> int:
    return 1 if replica.synthetic.not_found and any(code.endswith("0") for code in codes) else 0


def _lookup_output_problems(stdout: str, file_codes: list[str], seen: dict[str, Resolved]) -> list[str]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    problems = []
    if [row["isrc"] for row in rows] != file_codes:
        problems.append("the final lookup does not answer every code once, in input order")
    from_spotify = sorted(row["isrc"] for row in rows if row["isrc"] in seen and row["source"] != "cache")
    if from_spotify:
        problems.append(f"codes committed before a kill were not answered from the cache: {from_spotify[:5]}")
    return problems


def _schema_begun(db: Path) -> bool:
    """Whether a table exists yet in the database or in any SQLite file beside it (a copy being built)."""
    for path in db.parent.glob(f"*{db.name}*"):
        if path.name.endswith(("-wal", "-shm", "-journal", "-lock")):
            continue
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.1)
        except sqlite3.Error:
            continue
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                return True
        except sqlite3.Error:
            continue
        finally:
            conn.close()
    return False


def _create_trials(setup: Setup, report: CrashReport, rng: random.Random) -> None:
    """Kill ``isrcdb db upgrade`` while it creates a new database; the next run must still open it.

    Half the kills land as soon as the first table exists (in the middle of the migrations), the others at a
    random moment once the database file exists.
    """
    for trial in range(report.trials):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{setup.db}{suffix}").unlink(missing_ok=True)
        process = setup.start("db", "upgrade")
        _wait_for(setup.db.exists, process, 60)
        if rng.random() < 0.5:
            delay = -1.0  # as soon as the schema has begun
            _wait_for(lambda: _schema_begun(setup.db), process, 60)
        else:
            delay = rng.uniform(0.0, 1.0)
            time.sleep(delay)
        report.delays.append(delay)
        problems = _kill(process, setup, report)
        opened = setup.run("db", "upgrade")
        problems += integrity_problems(setup.db)
        if opened.returncode != 0:
            problems.append(f"the next run failed ({opened.returncode}): {opened.stderr.strip()[-300:]}")
        report.problems += [f"trial {trial + 1} (delay {delay:.3f} s): {problem}" for problem in problems]
        report.final_exit = opened.returncode


# --- a storm of faults, and many processes at once ----------------------------------------------------------------

STORM_KINDS = ("429", "500", "502", "503", "504", "drop", "truncated", "malformed", "wrong_shape", "slow", "hang")
STORM_WEIGHTS = (1, 2, 2, 3, 2, 3, 3, 2, 2, 2, 1)
"""429s are rare: each teaches the sync's pace a lower limit, and the storm is about faults, not about pacing."""


@dataclass
class StormReport:
    """What a fault storm did: syncs run while random faults were injected, until every code was resolved."""

    seed: int
    codes: int = 0
    runs: int = 0
    faults_injected: int = 0
    faults_served: int = 0
    exits: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def fault_storm(
    setup: Setup, *, codes_per_round: int, seed: int, rounds: int = 12, faults_per_round: int = 6
) -> StormReport:
    """Round after round, import new codes and run ``isrcdb sync`` with random faults queued (any kind, on searches,
    scattered among the codes, or on the token endpoint); then one round without. Check after every run that the
    database is sound and nothing resolved was lost or searched again, and at the end that every code is resolved."""
    rng = random.Random(f"{seed}:storm")
    report = StormReport(seed=seed)
    every: list[str] = []
    done: dict[str, Resolved] = {}
    searched: dict[str, int] = {}
    for round_ in range(rounds + 1):
        batch = synthetic_codes(codes_per_round, start=50_000 + round_ * codes_per_round)
        every += batch
        code_file = setup.root / "storm-codes.txt"
        code_file.write_text("\n".join(batch) + "\n", encoding="utf-8")
        prepared = setup.run("import", str(code_file))
        if prepared.returncode != 0:
            raise AssertionError(prepared.stderr)
        if round_ < rounds:
            for _ in range(faults_per_round):
                (kind,) = rng.choices(STORM_KINDS, STORM_WEIGHTS)
                options: dict[str, Any] = {"route": "token" if rng.random() < 0.15 else "search"}
                if kind == "429":
                    options["retry_after"] = rng.choice([0, 1, 3600]) if rng.random() < 0.1 else rng.choice([0, 1])
                if kind in ("slow", "hang"):
                    options["delay"] = rng.uniform(0.05, 1.0)
                if options["route"] == "search" and rng.random() < 0.85:  # scattered among the codes
                    options["isrc"] = rng.choice(batch)
                count = rng.randint(1, 3)
                setup.replica.inject(kind, count, **options)
                report.faults_injected += count
        else:
            setup.replica.clear_faults()
        started = time.monotonic()
        result = setup.run("sync", "--concurrency", "4", "--max-wait", "2s", "--format", "json")
        if os.environ.get("ISRCDB_STORM_DEBUG"):
            print(
                f"run {report.runs + 1}: exit {result.returncode} in {time.monotonic() - started:.1f} s: "
                f"{result.stderr.strip()[-1500:]} {result.stdout}",
                file=sys.stderr,
            )
        report.runs += 1
        report.exits[result.returncode] = report.exits.get(result.returncode, 0) + 1
        problems = integrity_problems(setup.db)
        if result.returncode not in (0, 3) or "Traceback" in result.stderr or "locked" in result.stderr:
            problems.append(f"exit {result.returncode}: {result.stderr[-1500:]}")
        now = resolved(setup.db)
        counts = setup.searches()
        lost = {code for code, entry in done.items() if now.get(code) != entry}
        again = {code for code, count in searched.items() if counts.get(code, 0) != count}
        if lost:
            problems.append(f"{len(lost)} resolved codes lost or changed, e.g. {sorted(lost)[:5]}")
        if again:
            problems.append(f"{len(again)} resolved codes searched again, e.g. {sorted(again)[:5]}")
        for code, entry in now.items():
            done.setdefault(code, entry)
            searched.setdefault(code, counts.get(code, 0))
        if result.returncode == 3:
            _clear_rate_limit(setup.db)  # a long 429 stored a time to come back: the storm does not wait for it
        report.problems += [f"run {report.runs}: {problem}" for problem in problems]
    report.codes = len(every)
    missing = set(every) - set(resolved(setup.db))
    if missing:
        report.problems.append(f"{len(missing)} codes unresolved after the storm, e.g. {sorted(missing)[:5]}")
    report.faults_served = int(setup.replica.stats()["faults_served"])
    return report


def _clear_rate_limit(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("UPDATE rate_budgets SET paused_until = NULL")
    finally:
        conn.close()


@dataclass
class ParallelReport:
    """What a run of many processes at once did."""

    processes: int = 0
    codes: int = 0
    searches: int = 0
    problems: list[str] = field(default_factory=list)


def parallel(setup: Setup, *, syncs: int, lookups: int, codes: int) -> ParallelReport:
    """``syncs`` syncs share ``codes`` imported codes while ``lookups`` lookups (each its own codes), an import of
    more codes and two readers run, all at once; then a last sync. Every code must end resolved and searched once."""
    report = ParallelReport()
    imported = synthetic_codes(codes, start=60_000)
    during = synthetic_codes(codes // 4, start=70_000)
    looked_up = [synthetic_codes(20, start=80_000 + 100 * n) for n in range(lookups)]
    files = {}
    for name, listed in (("imported", imported), ("during", during)):
        files[name] = setup.root / f"parallel-{name}.txt"
        files[name].write_text("\n".join(listed) + "\n", encoding="utf-8")
    before = setup.searches()
    prepared = setup.run("import", str(files["imported"]))
    if prepared.returncode != 0:
        raise AssertionError(prepared.stderr)
    commands = [
        *(["sync", "--concurrency", "3"] for _ in range(syncs)),
        *(["lookup", *listed, "--format", "json"] for listed in looked_up),
        ["import", str(files["during"])],
        ["query", "SELECT status, count(*) FROM lookups GROUP BY status"],
        ["stats"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "isrcdb", *args],
            env=setup.env,
            cwd=setup.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    report.processes = len(processes)
    for args, process in zip(commands, processes, strict=True):
        _, stderr = process.communicate(timeout=600)
        if process.returncode not in (0, 1) or "Traceback" in stderr or "locked" in stderr:
            report.problems.append(f"{args[0]}: exit {process.returncode}: {stderr[-1500:]}")
    last = setup.run("sync")
    if last.returncode != 0:
        report.problems.append(f"last sync: exit {last.returncode}: {last.stderr[-1500:]}")
    every = imported + during + [code for listed in looked_up for code in listed]
    report.codes = len(every)
    entries = resolved(setup.db)
    missing = [code for code in every if code not in entries]
    if missing:
        report.problems.append(f"{len(missing)} codes unresolved, e.g. {missing[:5]}")
    after = setup.searches()
    twice = [code for code in every if after.get(code, 0) - before.get(code, 0) != 1]
    if twice:
        report.problems.append(f"{len(twice)} codes not searched exactly once, e.g. {twice[:5]}")
    report.searches = sum(after.get(code, 0) - before.get(code, 0) for code in every)
    report.problems += integrity_problems(setup.db)
    return report
