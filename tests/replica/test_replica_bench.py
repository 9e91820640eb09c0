"""The throughput measurement of ``python -m isrcdb.testing.spotify.bench``."""

from __future__ import annotations

import pytest

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.bench import codes, main, run_once


def test_bench_codes_mix_sample_and_synthetic_isrcs() -> None:
    sample = codes(6)

    assert [code.startswith("QZSYN") for code in sample] == [True, False] * 3
    assert len(set(codes(2000))) > 1000


def test_a_small_bench_run_completes(replica: SpotifyReplica) -> None:
    assert run_once(replica.root_url, searches=80, threads=4) > 0
    assert replica.stats()["requests"]["search"] == 80


def test_bench_command_prints_each_run_and_the_median(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--searches", "40", "--threads", "2", "--runs", "3"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("40 searches from 2 threads, replica at http://127.0.0.1:")
    assert [line.split(":")[0] for line in lines[1:4]] == ["run 1", "run 2", "run 3"]
    assert lines[4].startswith("median of 3: ")


@pytest.mark.slow
def test_two_thousand_searches_from_eight_threads_take_under_five_seconds(replica: SpotifyReplica) -> None:
    assert run_once(replica.root_url, searches=2000, threads=8) < 5.0
