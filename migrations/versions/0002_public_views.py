"""public views: lookups and matches

The views are isrcdb's stable public contract for SQL users (documented in docs/schema.md); the tables under them
may change between versions, the views keep their columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The artists of a track as a JSON array of names, in Spotify's order.
ARTISTS = """(SELECT json_group_array(name) FROM (
        SELECT ar.name AS name FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id
        WHERE ta.track_id = t.id ORDER BY ta.position))"""

TRACK_COLUMNS = f"""t.id AS spotify_id,
    t.name AS name,
    {ARTISTS} AS artists,
    al.name AS album,
    al.album_type AS album_type,
    al.release_date AS release_date,
    t.duration_ms AS duration_ms,
    t.explicit AS explicit,
    t.spotify_url AS spotify_url"""

LOOKUPS = f"""CREATE VIEW lookups AS
SELECT
    i.isrc AS isrc,
    i.status AS status,
    i.first_seen_at AS first_seen_at,
    i.fetched_at AS fetched_at,
    i.expires_at AS expires_at,
    CASE WHEN i.expires_at IS NULL OR i.expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now') THEN 1 ELSE 0 END AS stale,
    i.match_count AS match_count,
    {TRACK_COLUMNS},
    i.changed_at AS changed_at,
    i.last_error AS last_error
FROM isrcs i
LEFT JOIN tracks t ON t.id = i.canonical_track_id
LEFT JOIN albums al ON al.id = t.album_id"""

MATCHES = f"""CREATE VIEW matches AS
SELECT
    m.isrc AS isrc,
    m.rank AS rank,
    CASE WHEN m.rank = 0 THEN 1 ELSE 0 END AS canonical,
    {TRACK_COLUMNS},
    al.id AS album_id,
    al.release_date_precision AS release_date_precision,
    t.disc_number AS disc_number,
    t.track_number AS track_number,
    t.fetched_at AS fetched_at
FROM isrc_matches m
JOIN tracks t ON t.id = m.track_id
LEFT JOIN albums al ON al.id = t.album_id"""


# PostgreSQL: the same columns, with the types a PostgreSQL user expects (timestamps comparable with now(),
# booleans, JSON). The tables keep isrcdb's ISO 8601 text, so that statements are written once for both databases.
PG_ARTISTS = """CASE WHEN t.id IS NULL THEN NULL ELSE (SELECT coalesce(json_agg(ar.name ORDER BY ta.position), '[]')
        FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id WHERE ta.track_id = t.id) END"""

PG_TRACK_COLUMNS = f"""t.id AS spotify_id,
    t.name AS name,
    {PG_ARTISTS} AS artists,
    al.name AS album,
    al.album_type AS album_type,
    al.release_date AS release_date,
    t.duration_ms AS duration_ms,
    t.explicit AS explicit,
    t.spotify_url AS spotify_url"""

PG_LOOKUPS = f"""CREATE VIEW lookups AS
SELECT
    i.isrc AS isrc,
    i.status AS status,
    CAST(i.first_seen_at AS timestamptz) AS first_seen_at,
    CAST(i.fetched_at AS timestamptz) AS fetched_at,
    CAST(i.expires_at AS timestamptz) AS expires_at,
    (i.expires_at IS NULL OR CAST(i.expires_at AS timestamptz) <= now()) AS stale,
    i.match_count AS match_count,
    {PG_TRACK_COLUMNS},
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
    {PG_TRACK_COLUMNS},
    al.id AS album_id,
    al.release_date_precision AS release_date_precision,
    t.disc_number AS disc_number,
    t.track_number AS track_number,
    CAST(t.fetched_at AS timestamptz) AS fetched_at
FROM isrc_matches m
JOIN tracks t ON t.id = m.track_id
LEFT JOIN albums al ON al.id = t.album_id"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_LOOKUPS)
        op.execute(PG_MATCHES)
        return
    op.execute(LOOKUPS)
    op.execute(MATCHES)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS matches")
    op.execute("DROP VIEW IF EXISTS lookups")
