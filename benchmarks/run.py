"""Run every isrcdb benchmark and print one table; write it to benchmarks/RESULTS.md.

    python benchmarks/run.py            # full sizes (several minutes; run it on an idle machine)
    python benchmarks/run.py --quick    # small sizes (about a minute)
    python benchmarks/run.py --only lookup,sync
    python benchmarks/run.py --tiny --output /tmp/smoke.md   # smallest sizes: checks that it all runs

The ``postgresql`` suite needs a PostgreSQL server where it may create databases: ISRCDB_BENCH_POSTGRESQL_URL
(default: ISRCDB_TEST_POSTGRESQL_URL), e.g. postgresql://postgres@127.0.0.1:5432/postgres; without one, its row says
it was skipped.

Each measurement runs several times against its own temporary databases and an in-process local Spotify replica;
the table gives the median (min-max), the baseline measured in the same run, the ratio, the target, whether it
is met, and the kind of figure: a ratio to a same-run floor (comparable across machines), an absolute figure (valid
on the measuring machine only), or a size on disk.
Not part of the test suite (tests/test_benchmarks.py only checks that every suite runs at the tiny size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import KINDS, SKIPPED, Result, Size, add_size_options  # noqa: E402

SUITES = ("lookup", "import", "sync", "export", "output", "postgresql")


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == SKIPPED:
        return "skipped"
    if unit in ("codes/s", "rows/s") or value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}" if value >= 10 else f"{value:,.2f} {unit}"


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| measurement | median (min-max) | baseline (same run) | ratio | target | met | kind |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        spread = ""
        if r.samples and len(r.samples) > 1:
            spread = f" ({_format_value(min(r.samples), '').strip()}-{_format_value(max(r.samples), '').strip()})"
        baseline = f"{_format_value(r.baseline, r.unit)} {r.baseline_name}".strip() if r.baseline is not None else ""
        ratio = f"{r.value / r.baseline:.2f}x" if r.baseline else ""
        met = {True: "yes", False: "**no**", None: ""}[r.passed]
        name = f"{r.name} ({r.note})" if r.note else r.name
        lines.append(
            f"| {name} | {_format_value(r.value, r.unit)}{spread} | {baseline} | {ratio} | {r.target} | {met} "
            f"| {r.kind} |"
        )
    return "\n".join(lines)


def legend() -> str:
    """What the table's kinds mean: which figures carry to another machine."""
    return "\n".join(f"- {kind}: {meaning}" for kind, meaning in KINDS.items())


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {__import__('sqlite3').sqlite_version}, {platform.system()} {platform.machine()}"
    )


def run_suites(names: list[str], size: Size) -> list[Result]:
    """The rows of the named suites (``lookup``, ``import``, ...), run one after the other at ``size``."""
    results: list[Result] = []
    for name in names:
        rows = importlib.import_module(f"bench_{name}").run(size)
        wrong = [row for row in rows if not isinstance(row, Result)]
        if wrong:
            raise TypeError(f"bench_{name}.run returned rows that are not Result: {wrong!r}")
        results.extend(rows)
    return results


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 1 if a suite failed to run (a target not met is in the table, not the status)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_options(parser)
    parser.add_argument("--only", default=",".join(SUITES), help=f"comma-separated suites of {', '.join(SUITES)}")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="where to write the Markdown table")
    args = parser.parse_args(argv)
    size: Size = args.size or "full"
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SUITES)
    if unknown:
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")
    results: list[Result] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in chosen:
        print(f"running {name} benchmarks...", file=sys.stderr, flush=True)
        try:
            results.extend(run_suites([name], size))
        except Exception:  # one broken suite must not lose the others' figures
            traceback.print_exc()
            failed.append(name)
    text = table(results)
    print(text)
    flag = "" if size == "full" else f" --{size}"
    report = (
        f"# isrcdb benchmark results\n\n"
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- machine: {machine()}\n"
        f"- mode: {size} (`python benchmarks/run.py{flag}`), {time.monotonic() - started:.0f} s in all\n"
        + (f"- failed to run: {', '.join(failed)}\n" if failed else "")
        + "- medians of interleaved runs, (min-max) their range; a baseline is measured in the same run\n"
        + f"\nKinds of figure:\n{legend()}\n"
        + f"\n{text}\n"
    )
    args.output.write_text(report)
    print(f"\nwritten to {args.output}", file=sys.stderr)
    if failed:
        print(f"failed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
