"""What the public views ``lookups`` and ``matches`` hold, written once.

docs/schema.md shows these descriptions as its column tables (a test keeps the two equal) and the Datasette plugin
shows them beside each column, so a description is corrected here and nowhere else. Descriptions are Markdown:
code is written between backticks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A column of a public view: its name, its type as stored in SQLite, and what it means."""

    name: str
    type: str
    meaning: str

    def plain(self) -> str:
        """The type and meaning as plain text, without Markdown's backticks (for Datasette)."""
        return f"{self.type}: {self.meaning}".replace("`", "")


@dataclass(frozen=True)
class View:
    """A public view: what one row is, and its columns in order."""

    name: str
    description: str
    columns: tuple[Column, ...]

    def plain(self) -> str:
        """The description as plain text, without Markdown's backticks (for Datasette)."""
        return self.description.replace("`", "")

    def markdown_table(self) -> str:
        """The column table of docs/schema.md for this view."""
        lines = ["| column | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{column.name}` | {column.type} | {column.meaning} |" for column in self.columns]
        return "\n".join(lines)


LOOKUPS = View(
    "lookups",
    "One row per ISRC stored in the cache, found or not, with its canonical (best) Spotify match. This is what "
    "`isrcdb lookup` answers from.",
    (
        Column("isrc", "text", "the ISRC, normalised"),
        Column(
            "status",
            "text",
            "`found` (Spotify has at least one track), `not_found` (Spotify has none, as last asked) or `pending` "
            "(known, e.g. imported, never answered yet)",
        ),
        Column("first_seen_at", "timestamp", "when isrcdb first stored this code"),
        Column("fetched_at", "timestamp", "when Spotify was last asked successfully; `NULL` while pending"),
        Column(
            "expires_at",
            "timestamp",
            "when the answer stops being fresh (`fetched_at` plus the TTL: 30 days for found, 7 for not found by "
            "default); `NULL` while pending",
        ),
        Column(
            "stale",
            "integer 0/1",
            "1 when the answer has expired (`expires_at` at or before now) or there is none yet (pending); computed "
            "when you read the view",
        ),
        Column(
            "match_count",
            "integer",
            "how many Spotify tracks carry this ISRC (the single, the album, editions, compilations...); 0 when not "
            "found or pending",
        ),
        Column("spotify_id", "text", "the canonical match's Spotify track id; `NULL` when there is no match"),
        Column("name", "text", "the canonical match's track name"),
        Column(
            "artists",
            "JSON array text",
            'the canonical match\'s artists, e.g. `["Élodie Marchand"]`; `NULL` when there is no match',
        ),
        Column("album", "text", "the canonical match's album (release) name"),
        Column("album_type", "text", "`album`, `single` or `compilation`"),
        Column("release_date", "text", "the album's release date: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`"),
        Column("duration_ms", "integer", "the track's duration in milliseconds"),
        Column("explicit", "integer 0/1", "1 if Spotify marks the track explicit; `NULL` if unknown"),
        Column("spotify_url", "text", "`https://open.spotify.com/track/<id>`"),
        Column(
            "changed_at",
            "timestamp",
            "the last time a refresh changed the answer (first found, canonical match changed, no longer found); "
            "`NULL` if never",
        ),
        Column(
            "last_error",
            "text",
            "why the last attempt to ask Spotify failed, if it did; what was stored before is kept",
        ),
    ),
)

MATCHES = View(
    "matches",
    "One row per ISRC and Spotify track it matched, for found codes (`rank` 0 is the canonical match, the one in "
    "`lookups`). Codes that are not found or pending have no rows here.",
    (
        Column("isrc", "text", "the ISRC"),
        Column("rank", "integer", "0 for the canonical match, then 1, 2... in canonical order"),
        Column("canonical", "integer 0/1", "1 for the canonical match (`rank = 0`), else 0"),
        Column("spotify_id", "text", "the track's Spotify id"),
        Column("name", "text", "the track name"),
        Column("artists", "JSON array text", "the track's artists, in Spotify's order"),
        Column("album", "text", "the album (release) name"),
        Column("album_type", "text", "`album`, `single` or `compilation`"),
        Column("release_date", "text", "`YYYY-MM-DD`, `YYYY-MM` or `YYYY`"),
        Column("duration_ms", "integer", "duration in milliseconds"),
        Column("explicit", "integer 0/1", "explicit or not; `NULL` if unknown"),
        Column("spotify_url", "text", "`https://open.spotify.com/track/<id>`"),
        Column("album_id", "text", "the album's Spotify id"),
        Column("release_date_precision", "text", "`day`, `month` or `year`: how precise `release_date` is"),
        Column("disc_number", "integer", "the disc of the album the track is on"),
        Column("track_number", "integer", "the track's position on that disc"),
        Column("fetched_at", "timestamp", "when this track's data was last fetched"),
    ),
)

TRACK_JSON = View(
    "track_json",
    "Spotify's full track object for every stored track, as one JSON value (put together again from the rows of "
    "the track and its album, which store only what their columns do not hold).",
    (
        Column("spotify_id", "text", "the track's Spotify id"),
        Column("isrc", "text", "the track's ISRC as Spotify gives it"),
        Column(
            "json",
            "JSON text",
            "the track object as Spotify sent it: equal as JSON, its keys in another order, its `album` object last",
        ),
    ),
)

VIEWS: tuple[View, ...] = (LOOKUPS, MATCHES, TRACK_JSON)
"""The public views, the stable contract of the database (docs/schema.md)."""
