"""Run every isrcdb benchmark and print one table; write it to benchmarks/RESULTS.md.

    python benchmarks/run.py            # full sizes (a few minutes)
    python benchmarks/run.py --quick    # small sizes (under a minute)
    python benchmarks/run.py --only lookup,sync

Each measurement runs several times against its own temporary databases and an in-process local Spotify replica;
the table gives the median (min-max), the baseline measured in the same run, the ratio, and the target.
Not part of the test suite (tests/test_benchmarks.py only checks that the quick mode runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Result  # noqa: E402

SUITES = ("lookup", "import", "sync", "export")


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit in ("codes/s", "rows/s") or value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}" if value >= 10 else f"{value:,.2f} {unit}"


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| measurement | median (min-max) | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
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
            f"| {name} | {_format_value(r.value, r.unit)}{spread} | {baseline} | {ratio} | {r.target} | {met} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {__import__('sqlite3').sqlite_version}, {platform.system()} {platform.machine()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer runs (under a minute)")
    parser.add_argument("--only", default=",".join(SUITES), help=f"comma-separated suites of {', '.join(SUITES)}")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="where to write the Markdown table")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SUITES)
    if unknown:
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")
    results: list[Result] = []
    started = time.monotonic()
    for name in chosen:
        print(f"running {name} benchmarks...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench_{name}")
        results.extend(Result(**row) if isinstance(row, dict) else row for row in module.run(quick=args.quick))
    text = table(results)
    print(text)
    mode = "quick" if args.quick else "full"
    report = (
        f"# isrcdb benchmark results\n\n"
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- machine: {machine()}\n"
        f"- mode: {mode} (`python benchmarks/run.py{' --quick' if args.quick else ''}`), "
        f"{time.monotonic() - started:.0f} s in all\n\n{text}\n"
    )
    args.output.write_text(report)
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
