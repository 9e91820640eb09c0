"""The benchmarks cannot rot: every suite runs at its tiny size and returns well-formed rows.

Only the shape of the rows is checked (a name, a finite number, a unit), never the figures: at the tiny size they
mean nothing, and timings depend on the machine. The full and quick runs are ``python benchmarks/run.py``.
The PostgreSQL suite runs on the server of the PostgreSQL tests (``ISRCDB_TEST_POSTGRESQL_URL``), skipped without it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest

from tests import postgresql

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # as benchmarks/run.py imports its suites

import bench_export  # noqa: E402
import bench_lookup  # noqa: E402
import bench_postgresql  # noqa: E402
import run as runner  # noqa: E402
from common import (  # noqa: E402
    FAR_FUTURE,
    KINDS,
    SKIPPED,
    Result,
    Run,
    answered_codes,
    build_cache,
    code_of,
    entries_for_answered,
    run_isrcdb,
    status_of,
)

ROWS_PER_SUITE = {"lookup": 6, "import": 2, "sync": 8, "export": 7, "output": 6, "postgresql": 11}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_every_suite_is_covered() -> None:
    assert set(ROWS_PER_SUITE) == set(runner.SUITES)


@pytest.mark.parametrize("suite", sorted(ROWS_PER_SUITE))
def test_a_suite_runs_at_the_tiny_size_and_returns_well_formed_rows(
    suite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if suite == "postgresql":  # on the PostgreSQL tests' server, or skipped saying how to run it
        monkeypatch.setenv(bench_postgresql.URL_VARIABLE, postgresql.server().url)
    rows = runner.run_suites([suite], "tiny")
    assert len(rows) == ROWS_PER_SUITE[suite], rows
    for row in rows:
        assert isinstance(row, Result)
        assert row.unit != SKIPPED, row
        assert row.name.strip() and row.unit.strip(), row
        assert _is_number(row.value), row
        assert all(_is_number(sample) for sample in row.samples), row
        assert row.baseline is None or _is_number(row.baseline), row
        assert row.passed in (True, False, None), row
        assert row.kind in KINDS, row
        json.dumps(row.as_dict())
    assert len({row.name for row in rows}) == len(rows)


def test_the_runner_prints_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "RESULTS.md"
    assert runner.main(["--tiny", "--only", "import", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "| measurement | median (min-max) | baseline (same run) | ratio | target | met | kind |"
    assert len(lines) == 2 + ROWS_PER_SUITE["import"]
    assert lines[2].startswith("| import of 200 codes (CSV, hyphenated)")
    assert captured.err.endswith(f"written to {output}\n")
    report = output.read_text()
    assert "- mode: tiny (`python benchmarks/run.py --tiny`)" in report
    assert "- ratio: a ratio to a floor measured in the same run (interleaved), or a share of" in report
    assert "- absolute: an absolute time, rate or memory figure: valid on the machine that measured it only" in report
    assert report.endswith(captured.out)


def test_the_postgresql_suite_says_it_was_skipped_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bench_postgresql.URL_VARIABLE, raising=False)
    monkeypatch.delenv(bench_postgresql.TEST_URL_VARIABLE, raising=False)
    [row] = runner.run_suites(["postgresql"], "tiny")
    assert (row.unit, row.passed) == (SKIPPED, None)
    assert "ISRCDB_BENCH_POSTGRESQL_URL" in row.note
    assert runner.table([row]).splitlines()[2].startswith(f"| PostgreSQL benchmarks ({row.note}) | skipped |")


def test_the_postgresql_suite_says_it_was_skipped_when_the_server_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv(bench_postgresql.URL_VARIABLE, "postgresql://nobody:secret@127.0.0.1:1/nothing")
    [row] = runner.run_suites(["postgresql"], "tiny")
    assert row.unit == SKIPPED
    assert row.note.startswith("the server at postgresql://nobody:***@127.0.0.1:1/nothing cannot be reached: ")


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


@pytest.mark.parametrize("tracks", [1, 2, 3])
def test_the_synthetic_cache_can_hold_the_same_number_of_tracks_for_every_found_code(
    tmp_path: Path, tracks: int
) -> None:
    database = tmp_path / "cache.sqlite3"
    build_cache(database, 40, tracks_per_code=tracks)
    conn = sqlite3.connect(database)
    per_code = dict(conn.execute("SELECT isrc, count(*) FROM isrc_matches GROUP BY isrc").fetchall())
    counted = dict(conn.execute("SELECT isrc, match_count FROM isrcs WHERE status = 'found'").fetchall())
    conn.close()
    found = {code_of(n) for n in range(1, 41) if status_of(n) == "found"}
    assert per_code == counted == dict.fromkeys(found, tracks)


def test_the_plain_lookup_loop_writes_what_isrcdb_writes_for_cached_codes(tmp_path: Path) -> None:
    database, codes_file = tmp_path / "cache.sqlite3", tmp_path / "codes.txt"
    build_cache(database, entries_for_answered(60), tracks_per_code=2)
    codes_file.write_text("\n".join(reversed(answered_codes(60))) + "\n")
    env = {"ISRCDB_DATABASE": str(database), "XDG_CACHE_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    ours = run_isrcdb(["lookup", "--file", str(codes_file), "--format", "jsonl"], env=env, capture=True).check(1)
    rate, floor = bench_lookup.plain_loop(database, codes_file)
    assert rate > 0
    assert floor == ours.stdout
    assert floor.count(b"\n") == 60 and b'"match_count":2' in floor and b'"status":"not_found"' in floor


def test_a_floor_whose_output_differs_from_isrcdb_stops_the_benchmark() -> None:
    ours = Run(0.1, 0, stdout=b'{"isrc":"A"}\n{"isrc":"B"}\n')
    bench_lookup._check_same_output(ours, b'{"isrc":"A"}\n{"isrc":"B"}\n')
    with pytest.raises(RuntimeError, match=r"differs from the plain loop's at line 2 \(2 and 2 lines\)"):
        bench_lookup._check_same_output(ours, b'{"isrc":"A"}\n{"isrc":"C"}\n')
    with pytest.raises(RuntimeError, match=r"at line 3 \(2 and 3 lines\)"):
        bench_lookup._check_same_output(ours, b'{"isrc":"A"}\n{"isrc":"B"}\n{"isrc":"C"}\n')


def test_the_sqlite3_csv_floor_is_compared_value_by_value(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "isrcdb.csv", tmp_path / "sqlite3.csv"
    ours.write_text('isrc,stale,artists,explicit\nA,false,"Ada; Kai",true\nB,false,,\n')
    theirs.write_text('isrc,stale,artists,explicit\nA,0,"[""Ada"",""Kai""]",1\nB,0,,\n')
    assert bench_export.compare_with_sqlite3_csv(ours, theirs).startswith("the same rows and values as sqlite3's")
    theirs.write_text('isrc,stale,artists,explicit\nA,0,"[""Ada"",""Kai""]",0\nB,0,,\n')
    with pytest.raises(RuntimeError, match="differ at line 2"):
        bench_export.compare_with_sqlite3_csv(ours, theirs)
    theirs.write_text('isrc,stale,artists,explicit\nA,0,"[""Ada"",""Kai""]",1\n')
    with pytest.raises(RuntimeError, match="differ at line 3"):
        bench_export.compare_with_sqlite3_csv(ours, theirs)
    theirs.write_bytes(ours.read_bytes())
    assert bench_export.compare_with_sqlite3_csv(ours, theirs) == "the same bytes as sqlite3's (compared)"
