"""lookups.artists is NULL, not an empty array, for a code without a match

Like every other track column of ``lookups``; the columns of both views are unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ARTISTS = """(SELECT json_group_array(name) FROM (
        SELECT ar.name AS name FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id
        WHERE ta.track_id = t.id ORDER BY ta.position))"""


def lookups(artists: str) -> str:
    return f"""CREATE VIEW lookups AS
SELECT
    i.isrc AS isrc,
    i.status AS status,
    i.first_seen_at AS first_seen_at,
    i.fetched_at AS fetched_at,
    i.expires_at AS expires_at,
    CASE WHEN i.expires_at IS NULL OR i.expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now') THEN 1 ELSE 0 END AS stale,
    i.match_count AS match_count,
    t.id AS spotify_id,
    t.name AS name,
    {artists} AS artists,
    al.name AS album,
    al.album_type AS album_type,
    al.release_date AS release_date,
    t.duration_ms AS duration_ms,
    t.explicit AS explicit,
    t.spotify_url AS spotify_url,
    i.changed_at AS changed_at,
    i.last_error AS last_error
FROM isrcs i
LEFT JOIN tracks t ON t.id = i.canonical_track_id
LEFT JOIN albums al ON al.id = t.album_id"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return  # PostgreSQL's views were made with the NULL (0002)
    op.execute("DROP VIEW lookups")
    op.execute(lookups(f"CASE WHEN t.id IS NULL THEN NULL ELSE {ARTISTS} END"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    op.execute("DROP VIEW lookups")
    op.execute(lookups(ARTISTS))
