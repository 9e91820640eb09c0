"""The tracks a replica knows: loaded from JSON files, the built-in sample, or the bundled real responses.

A catalogue maps each normalised ISRC to an ordered list of track ids (the order is the relevance order a search
returns) and each id to a stored track object, kept in its fullest (extended-quota) shape; the profile strips fields
when serving. Catalogues are immutable once built: ``merged`` returns a new one.

Files may hold (the format is recognised from the content):
- a track object (``GET /v1/tracks/{id}``);
- a search response ``{"tracks": {"href": ..., "items": [...]}}``: when its ``href`` shows the query was ``isrc:CODE``,
  every item, in the recorded order, is a result for ``CODE`` (even an item whose own ISRC differs, as Spotify
  sometimes returns), besides being found under its own ISRC;
- a several-tracks response ``{"tracks": [...]}`` (``null`` elements are skipped);
- a JSON list of track objects.
When two sources hold the same track id, the later one wins (files are read in the order given).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from isrcdb.testing.spotify.ids import isrc_from_query, normalise_isrc

Json = dict[str, Any]

DATA_DIR = Path(__file__).resolve().parent / "data"
REAL_DIR = DATA_DIR / "real"
"""Folder of the bundled real responses (licensed for copying; see ``SOURCES.md`` there)."""


class CatalogueError(ValueError):
    """A catalogue file that cannot be read or is not one of the recognised shapes."""


class Catalogue:
    """Track objects indexed by id and by normalised ISRC."""

    __slots__ = ("_results", "_tracks")

    def __init__(self) -> None:
        self._tracks: dict[str, Json] = {}
        self._results: dict[str, list[str]] = {}

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def from_tracks(cls, tracks: Iterable[Json]) -> Catalogue:
        """A catalogue of these track objects, each found under its own ``external_ids.isrc``."""
        catalogue = cls()
        for track in tracks:
            catalogue._add(track)
        return catalogue

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> Catalogue:
        """A catalogue of the tracks in these JSON files (a folder stands for its ``*.json`` files, sorted)."""
        catalogue = cls()
        for path in _expand(paths):
            for track, query_isrc in _read_file(path):
                catalogue._add(track, also_under=query_isrc)
        return catalogue

    @classmethod
    def sample(cls) -> Catalogue:
        """The built-in sample catalogue (see :mod:`isrcdb.testing.spotify.sample` for what it holds)."""
        return _sample()

    @classmethod
    def real(cls) -> Catalogue:
        """The real Spotify responses bundled with the package (MIT and Apache-2.0 sources, see ``SOURCES.md``)."""
        return _real()

    def merged(self, other: Catalogue) -> Catalogue:
        """A new catalogue holding both; on a shared track id, ``other``'s object wins."""
        combined = Catalogue()
        for source in (self, other):
            combined._tracks.update(source._tracks)
            for isrc, ids in source._results.items():
                known = combined._results.setdefault(isrc, [])
                known.extend(track_id for track_id in ids if track_id not in known)
        return combined

    def _add(self, track: Any, also_under: str | None = None) -> None:
        if not isinstance(track, dict) or not isinstance(track.get("id"), str):
            return  # null entries of several-tracks responses, local files without ids
        track_id: str = track["id"]
        self._tracks[track_id] = track
        keys = [also_under] if also_under else []
        own = track_isrc(track)
        if own:
            keys.append(own)
        for key in keys:
            ids = self._results.setdefault(key, [])
            if track_id not in ids:
                ids.append(track_id)

    # -- reading ----------------------------------------------------------------------------------------------

    def search(self, isrc: str) -> list[Json]:
        """Every stored track found by a search for ``isrc`` (any spelling), in relevance order."""
        ids = self._results.get(normalise_isrc(isrc), [])
        return [self._tracks[track_id] for track_id in ids]

    def track(self, track_id: str) -> Json | None:
        """The stored track object with this id, if any."""
        return self._tracks.get(track_id)

    def isrcs(self) -> list[str]:
        """The normalised ISRCs a search finds something for, sorted."""
        return sorted(self._results)

    def track_ids(self) -> list[str]:
        """Every stored track id, in insertion order."""
        return list(self._tracks)

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[Json]:
        return iter(self._tracks.values())

    def __repr__(self) -> str:
        return f"<Catalogue tracks={len(self._tracks)} isrcs={len(self._results)}>"


def track_isrc(track: Json) -> str | None:
    """The normalised ``external_ids.isrc`` of a track object, or ``None`` when it has none."""
    external = track.get("external_ids")
    if isinstance(external, dict):
        value = external.get("isrc")
        if isinstance(value, str) and value.strip():
            return normalise_isrc(value)
    return None


def _expand(paths: Iterable[Path | str]) -> Iterator[Path]:
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(path.glob("*.json"))
        else:
            yield path


def _read_file(path: Path) -> list[tuple[Any, str | None]]:
    """The (track, query ISRC) pairs a catalogue file holds."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogueError(f"cannot read catalogue file {path}: {error}") from error
    if isinstance(data, list):
        return [(item, None) for item in data]
    if isinstance(data, dict):
        tracks = data.get("tracks")
        if isinstance(tracks, dict) and isinstance(tracks.get("items"), list):
            query_isrc = _query_isrc(tracks.get("href"))
            return [(item, query_isrc) for item in tracks["items"]]
        if isinstance(tracks, list):
            return [(item, None) for item in tracks]
        if data.get("type") == "track" or ("id" in data and "album" in data):
            return [(data, None)]
    raise CatalogueError(f"{path} is not a track object, a search response or a several-tracks response")


def _query_isrc(href: Any) -> str | None:
    """The ISRC a recorded search asked for, read from the ``query=isrc:...`` in its ``href``."""
    if not isinstance(href, str):
        return None
    params = parse_qs(urlsplit(href).query)
    for name in ("query", "q"):
        for value in params.get(name, []):
            isrc = isrc_from_query(value)
            if isrc:
                return isrc
    return None


@functools.cache
def _sample() -> Catalogue:
    from isrcdb.testing.spotify.sample import sample_entries

    catalogue = Catalogue()
    for track, also_under in sample_entries():
        catalogue._add(track, also_under=also_under)
    return catalogue


@functools.cache
def _real() -> Catalogue:
    return Catalogue.from_files([REAL_DIR])
