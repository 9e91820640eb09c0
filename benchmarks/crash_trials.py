"""Crash, fault and concurrency trials: nothing committed is ever lost, nothing ends in a traceback or a hang.

Three parts, each against the local Spotify replica (which adds latency to every request, so that a kill lands
mid-run), with every random choice drawn from ``--seed``:

1. **Crash trials** (``tests/reliability/crashkit.py``): ``isrcdb sync``, ``import``, ``lookup`` and the creation of
   a new database (``db upgrade``) are killed with SIGKILL at random moments, ``--trials`` times each, every run
   being the next run of the one before, and a last run is let finish. After each kill: ``PRAGMA integrity_check``
   and isrcdb's invariants hold, every entry an independent reader saw committed just before the kill is intact and
   never searched again; at the end every code is resolved exactly once.
2. **Fault storm**: ``isrcdb sync`` round after round while random faults of every kind are queued (429, 5xx,
   dropped, truncated, malformed and wrongly shaped answers, slow and hanging ones, on searches and on the token
   endpoint); then one clean round. Same checks after every round.
3. **Many processes at once**: syncs, lookups, an import and two readers on one database at the same time; no
   "database is locked", every code resolved and searched exactly once.

    python benchmarks/crash_trials.py                    # 50 trials per command
    python benchmarks/crash_trials.py --trials 10 --seed 7 --json report.json

Exit status 0 when nothing was lost and no problem was found, 1 otherwise (the problems are printed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from isrcdb.testing.spotify import SpotifyReplica  # noqa: E402
from tests.reliability.crashkit import COMMANDS, Setup, crash_trials, fault_storm, parallel  # noqa: E402

CODES = {"sync": 600, "import": 300_000, "lookup": 600, "create": 0}
"""Work per command: several kills per cycle (a cycle ends when the work is done; then a new database)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="kills per command (default 50)")
    parser.add_argument("--seed", type=int, default=20261127, help="seed of every random choice")
    parser.add_argument("--commands", default=",".join(COMMANDS), help=f"among {', '.join(COMMANDS)} ('': none)")
    parser.add_argument("--storm-rounds", type=int, default=30, help="fault storm rounds (0: none)")
    parser.add_argument("--parallel", type=int, default=4, help="syncs (and as many lookups) at once (0: none)")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="isrcdb-crash-trials-"))
    report: dict[str, Any] = {"seed": args.seed, "trials_per_command": args.trials, "crash": [], "problems": []}
    started = time.monotonic()
    try:
        for command in filter(None, args.commands.split(",")):
            with SpotifyReplica(latency=0.02, synthetic_not_found=True) as replica:
                setup = Setup.create(work / command, replica)
                began = time.monotonic()
                result = crash_trials(command, setup, trials=args.trials, seed=args.seed, codes=CODES[command])
            row = result.as_dict()
            row["seconds"] = round(time.monotonic() - began, 1)
            report["crash"].append(row)
            report["problems"] += [f"{command}: {problem}" for problem in result.problems]
            print(
                f"{command:7} {result.trials} trials: {result.killed} killed mid-run, {result.finished_first} had "
                f"finished; {result.committed_before_kills} entries seen committed before kills; "
                f"{result.repeated_searches} searches repeated (in flight at a kill); "
                f"{len(result.problems)} problems ({row['seconds']} s)",
                flush=True,
            )
        if args.storm_rounds:
            with SpotifyReplica(latency=0.005, synthetic_not_found=True) as replica:
                setup = Setup.create(work / "storm", replica, ISRCDB_READ_TIMEOUT="0.5", ISRCDB_CONNECT_TIMEOUT="0.5")
                began = time.monotonic()
                storm = fault_storm(setup, codes_per_round=20, seed=args.seed, rounds=args.storm_rounds)
            report["storm"] = {**storm.__dict__, "seconds": round(time.monotonic() - began, 1)}
            report["problems"] += [f"storm: {problem}" for problem in storm.problems]
            print(
                f"storm   {storm.runs} sync runs, {storm.faults_injected} faults queued, {storm.faults_served} served; "
                f"{storm.codes} codes all resolved: {not storm.problems}; exits {storm.exits}; "
                f"{len(storm.problems)} problems ({report['storm']['seconds']} s)",
                flush=True,
            )
        if args.parallel:
            with SpotifyReplica(latency=0.01, synthetic_not_found=True) as replica:
                setup = Setup.create(work / "parallel", replica)
                began = time.monotonic()
                together = parallel(setup, syncs=args.parallel, lookups=args.parallel, codes=1000)
            report["parallel"] = {**together.__dict__, "seconds": round(time.monotonic() - began, 1)}
            report["problems"] += [f"parallel: {problem}" for problem in together.problems]
            print(
                f"at once {together.processes} processes on one database, {together.codes} codes, "
                f"{together.searches} searches; {len(together.problems)} problems ({report['parallel']['seconds']} s)",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print(f"{'nothing lost, no problem' if not report['problems'] else 'PROBLEMS FOUND'} ({report['seconds']} s)")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
