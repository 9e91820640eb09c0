"""Catalogues: the built-in sample, JSON files of the three recorded shapes, merging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from isrcdb.testing.spotify import Catalogue, CatalogueError
from isrcdb.testing.spotify.ids import is_valid_id
from isrcdb.testing.spotify.sample import (
    FEW_RELEASES,
    MANY_RELEASES,
    NO_ISRC_TRACK_ID,
    RESULT_COUNTS,
    UNNORMALISED_IN_DATA,
)


def track(track_id: str, isrc: str | None, name: str = "Song") -> dict[str, Any]:
    return {
        "album": {"id": "1" * 22, "name": "Album"},
        "external_ids": {} if isrc is None else {"isrc": isrc},
        "id": track_id,
        "name": name,
        "type": "track",
    }


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("isrc", "count"), sorted(RESULT_COUNTS.items()))
def test_sample_holds_the_documented_shapes(isrc: str, count: int) -> None:
    assert len(Catalogue.sample().search(isrc)) == count


def test_sample_has_the_reference_isrc_with_a_few_releases() -> None:
    releases = Catalogue.sample().search(FEW_RELEASES)

    assert FEW_RELEASES == "USRC17607839"
    assert [t["album"]["album_type"] for t in releases] == ["album", "single", "album"]


def test_sample_has_an_isrc_with_more_than_ten_releases() -> None:
    assert len(Catalogue.sample().search(MANY_RELEASES)) == 13


def test_sample_ids_are_22_character_base62() -> None:
    sample = Catalogue.sample()
    ids = [t["id"] for t in sample] + [t["album"]["id"] for t in sample]
    ids += [artist["id"] for t in sample for artist in t["artists"]]

    assert all(is_valid_id(value) for value in ids)
    assert len({t["id"] for t in sample}) == len(sample)


def test_sample_varies_release_date_precision_and_images() -> None:
    sample = list(Catalogue.sample())

    assert {t["album"]["release_date_precision"] for t in sample} == {"year", "month", "day"}
    assert all([image["width"] for image in t["album"]["images"]] == [640, 300, 64] for t in sample)


def test_sample_has_a_track_with_empty_external_ids_found_only_by_id() -> None:
    sample = Catalogue.sample()

    found = sample.track(NO_ISRC_TRACK_ID)
    assert found is not None and found["external_ids"] == {}
    assert all(NO_ISRC_TRACK_ID not in [t["id"] for t in sample.search(isrc)] for isrc in sample.isrcs())


def test_search_accepts_any_spelling_of_the_isrc() -> None:
    sample = Catalogue.sample()

    assert sample.search("de-a62-11-00512") == sample.search(UNNORMALISED_IN_DATA)
    assert len(sample.search(UNNORMALISED_IN_DATA)) == 2


def test_from_files_reads_track_objects_search_responses_and_several_tracks(tmp_path: Path) -> None:
    single = write(tmp_path / "track.json", track("a" * 22, "GBAAA2000001"))
    search = write(
        tmp_path / "search.json",
        {
            "tracks": {
                "href": "https://api.spotify.com/v1/search?query=isrc%3AGBBBB2000002&type=track&offset=0&limit=20",
                "items": [track("b" * 22, "GBBBB2000002"), track("c" * 22, "GBBBB2000003")],
                "total": 2,
            }
        },
    )
    several = write(tmp_path / "several.json", {"tracks": [track("d" * 22, "gb-ccc-20-00004"), None]})
    listed = write(tmp_path / "list.json", [track("e" * 22, None)])

    catalogue = Catalogue.from_files([single, search, several, listed])

    assert len(catalogue) == 5
    assert [t["id"] for t in catalogue.search("GBAAA2000001")] == ["a" * 22]
    # every item of a recorded ISRC search is a result for that ISRC, in the recorded order
    assert [t["id"] for t in catalogue.search("GBBBB2000002")] == ["b" * 22, "c" * 22]
    assert [t["id"] for t in catalogue.search("GBBBB2000003")] == ["c" * 22]
    assert [t["id"] for t in catalogue.search("GBCCC2000004")] == ["d" * 22]
    assert catalogue.track("e" * 22) is not None


def test_from_files_reads_a_folder_in_name_order(tmp_path: Path) -> None:
    write(tmp_path / "1.json", track("a" * 22, "GBAAA2000001", name="first"))
    write(tmp_path / "2.json", track("a" * 22, "GBAAA2000001", name="second"))

    catalogue = Catalogue.from_files([tmp_path])

    assert (catalogue.track("a" * 22) or {}).get("name") == "second"
    assert len(catalogue.search("GBAAA2000001")) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "cannot read"), ('{"hello": "world"}', "is not a track object"), ("42", "is not a track object")],
)
def test_unreadable_catalogue_files_raise_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_files([path])


def test_missing_catalogue_file_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        Catalogue.from_files([tmp_path / "missing.json"])


def test_merged_combines_and_the_other_wins_on_shared_ids() -> None:
    first = Catalogue.from_tracks([track("a" * 22, "GBAAA2000001", name="old"), track("b" * 22, "GBAAA2000001")])
    second = Catalogue.from_tracks([track("a" * 22, "GBAAA2000001", name="new"), track("c" * 22, "GBAAA2000001")])

    merged = first.merged(second)

    assert [t["id"] for t in merged.search("GBAAA2000001")] == ["a" * 22, "b" * 22, "c" * 22]
    assert (merged.track("a" * 22) or {}).get("name") == "new"
    assert len(first) == 2 and len(second) == 2


def test_sample_merged_with_real_keeps_both() -> None:
    merged = Catalogue.sample().merged(Catalogue.real())

    assert len(merged.search(FEW_RELEASES)) == 3
    assert len(merged.search("USRC11301695")) == 1
    assert len(merged) == len(Catalogue.sample()) + len(Catalogue.real())
