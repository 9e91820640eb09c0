"""Several isrcdb processes on one database at once: lookups, syncs, imports and readers.

No "database is locked" reaches the user, no update is lost (every code ends resolved once, the request counters
add up to what the replica received, the change history has one ``found`` per code), and no code is searched twice
where that is the promise: a code is searched by one lookup, or claimed by one sync.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isrcdb.testing.spotify import Fault, SpotifyReplica
from tests.conftest import Cli
from tests.reliability.crashkit import Setup, found_changes, parallel, synthetic_codes
from tests.reliability.helpers import assert_sound, statuses, table


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "isrcdb", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def code_file(path: Path, codes: list[str]) -> str:
    path.write_text("\n".join(codes) + "\n", encoding="utf-8")
    return str(path)


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """Wait for every process; none may print a traceback or meet a locked database."""
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        results.append((process.returncode, stdout, stderr))
        assert "Traceback" not in stderr and "locked" not in stderr, stderr
    return results


def requests_counted(db_path: Path) -> int:
    return int(table(db_path, "SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'spotify_requests'")[0][0])


def test_lookups_imports_syncs_and_readers_at_once_lose_nothing_and_search_each_code_once(
    replica: type[SpotifyReplica], workdir: Path, db_path: Path
) -> None:
    server = replica(latency=0.01)
    imported, during, looked_up = synthetic_codes(300), synthetic_codes(100, 1000), synthetic_codes(90, 2000)
    lookups = [looked_up[0:30], looked_up[30:60], looked_up[60:90]]

    # Round 1, on a database that does not exist yet: an import and two lookups all create it at once.
    first = finish(
        [
            start("import", code_file(workdir / "imported.txt", imported), "--format", "json"),
            start("lookup", *lookups[0], "--format", "json"),
            start("lookup", *lookups[1], "--format", "json"),
        ]
    )
    assert [code for code, _, _ in first] == [0, 0, 0]

    # Round 2, seven processes: three syncs share the imported codes while a lookup, an import of more codes,
    # an SQL reader and a stats reader run.
    second = finish(
        [
            *(start("sync", "--concurrency", "3", "--format", "json") for _ in range(3)),
            start("lookup", *lookups[2], "--format", "json"),
            start("import", code_file(workdir / "during.txt", during), "--format", "json"),
            start("query", "SELECT status, count(*) AS n FROM lookups GROUP BY status", "--format", "json"),
            start("stats", "--format", "json"),
        ]
    )
    assert [code for code, _, _ in second] == [0] * 7, [stderr for _, _, stderr in second]
    syncs = [json.loads(stdout) for _, stdout, _ in second[:3]]
    assert sum(summary["resolved"] for summary in syncs) + sum(s["errors"] for s in syncs) >= len(imported)

    # Round 3: a last sync resolves whatever the import of round 2 added after the syncs had looked.
    (last,) = finish([start("sync", "--format", "json")])
    assert last[0] == 0

    every = imported + during + looked_up
    assert statuses(db_path) == dict.fromkeys(every, "found")
    assert server.stats()["searches_by_isrc"] == dict.fromkeys(sorted(every), 1)
    assert requests_counted(db_path) == server.stats()["requests"]["search"] == len(every)
    assert found_changes(db_path) == dict.fromkeys(every, 1)
    assert_sound(db_path)


def test_refreshing_the_same_codes_from_several_processes_at_once_keeps_one_consistent_answer(
    spotify: SpotifyReplica, db_path: Path
) -> None:
    codes = ["USRC17607839", "FRZ039800212", "DEA621100512", *synthetic_codes(20)]
    results = finish([start("lookup", "--refresh", *codes, "--format", "json") for _ in range(4)])
    assert [code for code, _, _ in results] == [0] * 4
    answers = [
        {row["isrc"]: (row["match_count"], row["spotify_id"]) for row in json.loads(out)} for _, out, _ in results
    ]
    assert all(answer == answers[0] for answer in answers)
    assert_sound(db_path)
    assert found_changes(db_path) == dict.fromkeys(codes, 1)  # found once; later refreshes changed nothing
    assert table(db_path, "SELECT count(*) FROM isrc_changes WHERE kind != 'found'") == [(0,)]
    # Each process asks for its own search (--refresh), unless another is searching that code at that moment: then
    # it waits for that answer instead (one search where several would give the same answer). FRZ takes 2 pages.
    searched = spotify.stats()["requests"]["search"]
    assert requests_counted(db_path) == searched
    assert len(codes) + 1 <= searched <= 4 * (len(codes) + 1)


@pytest.mark.slow
def test_many_processes_at_once_resolve_every_code_exactly_once(tmp_path: Path) -> None:
    with SpotifyReplica(latency=0.01) as server:
        report = parallel(Setup.create(tmp_path, server), syncs=6, lookups=6, codes=2000)
    assert report.problems == [], report
    assert report.processes == 15


def test_a_lookup_of_a_code_a_running_sync_is_searching_waits_for_its_answer_and_searches_nothing(
    spotify: SpotifyReplica, cli: Cli, db_path: Path
) -> None:
    codes = synthetic_codes(3, 3000)
    held = codes[1]
    assert cli("import", "-", input="\n".join(codes)).exit_code == 0
    spotify.add_fault(Fault("slow", 1, route="search", isrc=held, delay=2.0))  # keeps the sync's request in flight
    sync = start("sync", "--format", "json")
    try:
        deadline = time.monotonic() + 20
        while spotify.search_count(held) == 0 and time.monotonic() < deadline and sync.poll() is None:
            time.sleep(0.02)
        assert spotify.search_count(held) == 1, "the sync never searched the code"
        assert table(db_path, "SELECT claimed_by IS NOT NULL FROM isrcs WHERE isrc = ?", held) == [(1,)]

        result = cli("lookup", held, "--format", "json")
    finally:
        ((code, stdout, stderr),) = finish([sync])
    (answer,) = json.loads(result.stdout)
    assert (result.exit_code, answer["status"], answer["source"]) == (0, "found", "cache"), result.stderr
    assert spotify.stats()["searches_by_isrc"] == {code: 1 for code in codes}
    assert (code, json.loads(stdout)["found"]) == (0, 3), stderr
    assert statuses(db_path) == {code: "found" for code in codes}
    assert_sound(db_path)
