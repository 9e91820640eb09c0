"""compact tracks: each album's JSON stored once, artists' names kept on the track

A track's JSON repeated its whole album object (more than half its bytes), and the views joined every track to its
artists per row. Now ``albums.raw_json`` holds the album object once, ``tracks.raw_json`` the rest of the track's,
and ``tracks.artist_names`` the names as a JSON array; the new view ``track_json`` gives Spotify's full object again
(equal as JSON: the ``album`` key comes last). The views keep their columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_NAMES = """(SELECT json_group_array(name) FROM (
        SELECT ar.name AS name FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id
        WHERE ta.track_id = tracks.id ORDER BY ta.position))"""

PG_NAMES = """(SELECT coalesce(json_agg(ar.name ORDER BY ta.position), '[]')::text FROM track_artists ta
        JOIN artists ar ON ar.id = ta.artist_id WHERE ta.track_id = tracks.id)"""


def track_columns(artists: str) -> str:
    return f"""t.id AS spotify_id,
    t.name AS name,
    {artists} AS artists,
    al.name AS album,
    al.album_type AS album_type,
    al.release_date AS release_date,
    t.duration_ms AS duration_ms,
    t.explicit AS explicit,
    t.spotify_url AS spotify_url"""


SQLITE_LOOKUPS = f"""CREATE VIEW lookups AS
SELECT
    i.isrc AS isrc,
    i.status AS status,
    i.first_seen_at AS first_seen_at,
    i.fetched_at AS fetched_at,
    i.expires_at AS expires_at,
    CASE WHEN i.expires_at IS NULL OR i.expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now') THEN 1 ELSE 0 END AS stale,
    i.match_count AS match_count,
    {track_columns("CASE WHEN t.id IS NULL THEN NULL ELSE coalesce(t.artist_names, '[]') END")},
    i.changed_at AS changed_at,
    i.last_error AS last_error
FROM isrcs i
LEFT JOIN tracks t ON t.id = i.canonical_track_id
LEFT JOIN albums al ON al.id = t.album_id"""

SQLITE_MATCHES = f"""CREATE VIEW matches AS
SELECT
    m.isrc AS isrc,
    m.rank AS rank,
    CASE WHEN m.rank = 0 THEN 1 ELSE 0 END AS canonical,
    {track_columns("coalesce(t.artist_names, '[]')")},
    al.id AS album_id,
    al.release_date_precision AS release_date_precision,
    t.disc_number AS disc_number,
    t.track_number AS track_number,
    t.fetched_at AS fetched_at
FROM isrc_matches m
JOIN tracks t ON t.id = m.track_id
LEFT JOIN albums al ON al.id = t.album_id"""

# Spotify's track object again: the track's JSON (compact text, an object) with the album's added as its last key,
# by text, which both databases do alike and which keeps every value as Spotify sent it.
RECOMPOSED = """CASE WHEN al.raw_json IS NULL THEN t.raw_json
        ELSE substr(t.raw_json, 1, length(t.raw_json) - 1) || ',"album":' || al.raw_json || '}' END"""

SQLITE_TRACK_JSON = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    {RECOMPOSED} AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""

PG_LOOKUPS = f"""CREATE VIEW lookups AS
SELECT
    i.isrc AS isrc,
    i.status AS status,
    CAST(i.first_seen_at AS timestamptz) AS first_seen_at,
    CAST(i.fetched_at AS timestamptz) AS fetched_at,
    CAST(i.expires_at AS timestamptz) AS expires_at,
    (i.expires_at IS NULL OR CAST(i.expires_at AS timestamptz) <= now()) AS stale,
    i.match_count AS match_count,
    {track_columns("CASE WHEN t.id IS NULL THEN NULL ELSE CAST(coalesce(t.artist_names, '[]') AS json) END")},
    CAST(i.changed_at AS timestamptz) AS changed_at,
    i.last_error AS last_error
FROM isrcs i
LEFT JOIN tracks t ON t.id = i.canonical_track_id
LEFT JOIN albums al ON al.id = t.album_id"""

PG_MATCHES = f"""CREATE VIEW matches AS
SELECT
    m.isrc AS isrc,
    m.rank AS rank,
    (m.rank = 0) AS canonical,
    {track_columns("CAST(coalesce(t.artist_names, '[]') AS json)")},
    al.id AS album_id,
    al.release_date_precision AS release_date_precision,
    t.disc_number AS disc_number,
    t.track_number AS track_number,
    CAST(t.fetched_at AS timestamptz) AS fetched_at
FROM isrc_matches m
JOIN tracks t ON t.id = m.track_id
LEFT JOIN albums al ON al.id = t.album_id"""

PG_TRACK_JSON = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    CAST({RECOMPOSED} AS json) AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_json", sa.Text(), nullable=True))
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artist_names", sa.Text(), nullable=True))
    op.execute("DROP VIEW matches")
    op.execute("DROP VIEW lookups")
    if postgresql:
        op.execute(f"UPDATE tracks SET artist_names = {PG_NAMES}")
        op.execute(
            "UPDATE albums SET raw_json = (SELECT CAST(CAST(t.raw_json AS json) -> 'album' AS text) FROM tracks t "
            "WHERE t.album_id = albums.id AND CAST(t.raw_json AS json) -> 'album' ->> 'id' = albums.id "
            "ORDER BY t.fetched_at DESC LIMIT 1)"
        )
        op.execute(
            "UPDATE tracks SET raw_json = CAST(CAST(tracks.raw_json AS jsonb) - 'album' AS text) FROM albums al "
            "WHERE al.id = tracks.album_id AND al.raw_json IS NOT NULL"
        )
        op.execute(PG_LOOKUPS)
        op.execute(PG_MATCHES)
        op.execute(PG_TRACK_JSON)
        return
    op.execute(f"UPDATE tracks SET artist_names = {SQLITE_NAMES}")
    op.execute(
        "UPDATE albums SET raw_json = (SELECT json_extract(t.raw_json, '$.album') FROM tracks t "
        "WHERE t.album_id = albums.id AND json_extract(t.raw_json, '$.album.id') = albums.id "
        "ORDER BY t.fetched_at DESC LIMIT 1)"
    )
    op.execute(
        "UPDATE tracks SET raw_json = json_remove(raw_json, '$.album') "
        "WHERE album_id IN (SELECT id FROM albums WHERE raw_json IS NOT NULL)"
    )
    op.execute(SQLITE_LOOKUPS)
    op.execute(SQLITE_MATCHES)
    op.execute(SQLITE_TRACK_JSON)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP VIEW track_json")
    op.execute("DROP VIEW matches")
    op.execute("DROP VIEW lookups")
    if postgresql:
        op.execute(
            "UPDATE tracks SET raw_json = CAST(CAST(t2.raw_json AS jsonb) || jsonb_build_object('album', "
            "CAST(al.raw_json AS jsonb)) AS text) FROM tracks t2 JOIN albums al ON al.id = t2.album_id "
            "WHERE t2.id = tracks.id AND al.raw_json IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE tracks SET raw_json = json_set(raw_json, '$.album', json((SELECT raw_json FROM albums "
            "WHERE albums.id = tracks.album_id))) WHERE album_id IN (SELECT id FROM albums WHERE raw_json IS NOT NULL)"
        )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("artist_names")
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.drop_column("raw_json")
    # The views of 0004 (0002's on PostgreSQL), restated: migrations are snapshots.
    artists_sqlite = SQLITE_NAMES.replace("tracks.id", "t.id")
    if postgresql:
        artists = PG_NAMES.replace("tracks.id", "t.id")
        op.execute(PG_LOOKUPS.replace("CAST(coalesce(t.artist_names, '[]') AS json)", f"CAST({artists} AS json)"))
        op.execute(PG_MATCHES.replace("CAST(coalesce(t.artist_names, '[]') AS json)", f"CAST({artists} AS json)"))
        return
    op.execute(SQLITE_LOOKUPS.replace("coalesce(t.artist_names, '[]')", artists_sqlite))
    op.execute(SQLITE_MATCHES.replace("coalesce(t.artist_names, '[]')", artists_sqlite))
