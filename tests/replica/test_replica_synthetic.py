"""The synthetic catalogue: deterministic tracks computed from the code, reversible ids, the not-found rule."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isrcdb.testing.spotify import SpotifyReplica, SyntheticCatalogue
from isrcdb.testing.spotify.ids import is_valid_id
from isrcdb.testing.spotify.synthetic import decode_track_id, encode_track_id, synthetic_track

if TYPE_CHECKING:
    from conftest import Get

codes = st.from_regex(r"QZSYN[0-9]{7}", fullmatch=True)


def test_the_same_code_always_gives_the_same_tracks() -> None:
    first = SyntheticCatalogue().search("QZSYN2600013")
    again = SyntheticCatalogue().search("qz-syn-26-00013")

    assert first == again
    assert 1 <= len(first) <= 3


def test_release_counts_are_one_to_three_mostly_one() -> None:
    synthetic = SyntheticCatalogue()

    counts = Counter(synthetic.release_count(f"QZSYN25{n:05d}") for n in range(2000))

    assert set(counts) == {1, 2, 3}
    assert counts[1] > counts[2] > counts[3]


def test_releases_of_a_code_share_the_isrc_and_differ_like_real_ones() -> None:
    synthetic = SyntheticCatalogue()
    code = next(f"QZSYN25{n:05d}" for n in range(1000) if synthetic.release_count(f"QZSYN25{n:05d}") == 3)

    tracks = synthetic.search(code)

    assert {t["external_ids"]["isrc"] for t in tracks} == {code}
    assert len({t["id"] for t in tracks}) == 3
    assert tracks[1]["album"]["album_type"] == "compilation"
    assert tracks[1]["album"]["artists"][0]["name"] == "Various Artists"
    assert {t["album"]["album_type"] for t in (tracks[0], tracks[2])} == {"album", "single"}
    assert max(t["duration_ms"] for t in tracks) - min(t["duration_ms"] for t in tracks) <= 5500


@pytest.mark.parametrize(
    ("code", "found"),
    [("QZSYN2600010", False), ("QZSYN2600011", True), ("QZSYN2699990", False), ("QZSYN2699999", True)],
)
def test_not_found_rule_is_codes_ending_in_zero(code: str, found: bool) -> None:
    assert bool(SyntheticCatalogue(not_found=True).search(code)) is found
    assert SyntheticCatalogue(not_found=False).search(code) != []


@pytest.mark.parametrize(("not_found", "missing"), [(True, 100), (0.1, 100), (0.25, 250), (1, 1000), (0.0, 0)])
def test_not_found_fraction_is_exact_over_a_run_of_codes(not_found: bool | float, missing: int) -> None:
    synthetic = SyntheticCatalogue(not_found=not_found)

    assert sum(1 for n in range(1000) if not synthetic.search(f"QZSYN24{n:05d}")) == missing


@pytest.mark.parametrize(
    ("code", "found"),
    [("QZSYN2400011", False), ("QZSYN2400042", False), ("QZSYN2400052", True), ("QZSYN2400003", True)],
)
def test_not_found_fraction_reads_the_last_two_digits_reversed(code: str, found: bool) -> None:
    assert bool(SyntheticCatalogue(not_found=0.25).search(code)) is found


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_not_found_fraction_must_be_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        SyntheticCatalogue(not_found=fraction)


@pytest.mark.parametrize(
    ("prefixes", "code", "covered"),
    [
        (("QZSYN",), "QZSYN2600001", True),
        (("QZSYN",), "QZSYM2600001", False),
        (("QZSYN",), "QZSYN26000", False),
        (("QZSYN", "ZZTST"), "ZZTST9900001", True),
        (("qz-syn-26",), "QZSYN2600001", True),
        (("qz-syn-26",), "QZSYN2500001", False),
        ((), "QZSYN2600001", False),
    ],
)
def test_prefixes_decide_which_codes_are_synthetic(prefixes: tuple[str, ...], code: str, covered: bool) -> None:
    assert SyntheticCatalogue(prefixes).covers(code) is covered


@settings(max_examples=50)
@given(code=codes, release=st.integers(min_value=0, max_value=2))
def test_track_ids_encode_the_code_and_release_reversibly(code: str, release: int) -> None:
    track_id = encode_track_id(code, release)

    assert is_valid_id(track_id)
    assert decode_track_id(track_id) == (code, release)


@pytest.mark.parametrize("track_id", ["0toNj4nh5bw8tYkvdEFZj2", "0000000000000000000000", "zzzzzzzzzzzzzzzzzzzzzz"])
def test_other_ids_do_not_decode(track_id: str) -> None:
    assert decode_track_id(track_id) is None


def test_ids_of_releases_a_code_does_not_have_are_unknown() -> None:
    synthetic = SyntheticCatalogue()
    code = next(f"QZSYN25{n:05d}" for n in range(100) if synthetic.release_count(f"QZSYN25{n:05d}") == 1)

    assert synthetic.track(encode_track_id(code, 0)) == synthetic_track(code, 0)
    assert synthetic.track(encode_track_id(code, 1)) is None


def test_searching_many_codes_keeps_nothing_in_memory() -> None:
    synthetic = SyntheticCatalogue()
    synthetic.search("QZSYN2600001")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(500):
            synthetic.search(f"QZSYN27{n:05d}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert grown < 50_000  # bytes: nothing is stored per code, so a million codes cost no more than ten


def test_replica_serves_synthetic_searches_and_ids(search: Get, get: Get) -> None:
    items = search("QZSYN2612345").json()["tracks"]["items"]

    assert items
    for item in items:
        assert get(f"/tracks/{item['id']}").json() == item


def test_synthetic_prefixes_and_not_found_are_replica_options(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(synthetic_prefixes=("ZZTST",), synthetic_not_found=True))

    def total(code: str) -> int:
        result: int = get("/search", {"q": f"isrc:{code}", "type": "track"}).json()["tracks"]["total"]
        return result

    assert total("ZZTST2600001") >= 1
    assert total("ZZTST2600010") == 0
    assert total("QZSYN2600001") == 0


def test_catalogue_tracks_win_over_synthetic_ones(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(synthetic_prefixes=("USRC1",)))

    items = get("/search", {"q": "isrc:USRC17607839", "type": "track"}).json()["tracks"]["items"]

    assert items[0]["name"] == "Paper Lanterns"
