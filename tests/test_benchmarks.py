"""The benchmarks cannot rot: every suite runs at its tiny size and returns well-formed rows.

Only the shape of the rows is checked (a name, a finite number, a unit), never the figures: at the tiny size they
mean nothing, and timings depend on the machine. The full and quick runs are ``python benchmarks/run.py``.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # as benchmarks/run.py imports its suites

import run as runner  # noqa: E402
from common import (  # noqa: E402
    FAR_FUTURE,
    Result,
    answered_codes,
    build_cache,
    code_of,
    entries_for_answered,
    run_isrcdb,
    status_of,
)

ROWS_PER_SUITE = {"lookup": 6, "import": 2, "sync": 3, "export": 7}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_every_suite_is_covered() -> None:
    assert set(ROWS_PER_SUITE) == set(runner.SUITES)


@pytest.mark.parametrize("suite", sorted(ROWS_PER_SUITE))
def test_a_suite_runs_at_the_tiny_size_and_returns_well_formed_rows(suite: str) -> None:
    rows = runner.run_suites([suite], "tiny")
    assert len(rows) == ROWS_PER_SUITE[suite]
    for row in rows:
        assert isinstance(row, Result)
        assert row.name.strip() and row.unit.strip(), row
        assert _is_number(row.value), row
        assert all(_is_number(sample) for sample in row.samples), row
        assert row.baseline is None or _is_number(row.baseline), row
        assert row.passed in (True, False, None), row
        json.dumps(row.as_dict())
    assert len({row.name for row in rows}) == len(rows)


def test_the_runner_prints_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "RESULTS.md"
    assert runner.main(["--tiny", "--only", "import", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "| measurement | median (min-max) | baseline (same run) | ratio | target | met |"
    assert len(lines) == 2 + ROWS_PER_SUITE["import"]
    assert lines[2].startswith("| import of 200 codes (CSV, hyphenated)")
    assert captured.err.endswith(f"written to {output}\n")
    report = output.read_text()
    assert "- mode: tiny (`python benchmarks/run.py --tiny`)" in report
    assert report.endswith(captured.out)


def test_the_runner_refuses_an_unknown_suite(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--tiny", "--only", "lookup,nope"])
    assert exit_info.value.code == 2
    assert "unknown suites: nope" in capsys.readouterr().err


def test_a_failed_command_raises_with_its_error_message() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)^exit status 2: .*No such command 'no-such-command'"):
        run_isrcdb(["no-such-command"]).check()


def test_the_synthetic_cache_answers_the_codes_said_to_be_answered(tmp_path: Path) -> None:
    database = tmp_path / "cache.sqlite3"
    build_cache(database, entries_for_answered(400))
    conn = sqlite3.connect(database)
    stored = {
        isrc: (status, expires) for isrc, status, expires in conn.execute("SELECT isrc, status, expires_at FROM isrcs")
    }
    conn.close()
    assert stored == {
        code_of(n): (status_of(n), None if status_of(n) == "pending" else FAR_FUTURE) for n in range(1, len(stored) + 1)
    }
    for count in (1, 19, 20, 38, 39, 400):
        codes = answered_codes(count)
        assert len(codes) == len(set(codes)) == count
        assert all(stored[code][0] in ("found", "not_found") for code in codes)
    assert answered_codes(400)[-1] == code_of(len(stored))  # no more entries built than needed
