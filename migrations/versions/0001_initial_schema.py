"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 19:06:10.491501
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "albums",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("album_type", sa.String(length=32), nullable=True),
        sa.Column("release_date", sa.String(length=10), nullable=True),
        sa.Column("release_date_precision", sa.String(length=8), nullable=True),
        sa.Column("total_tracks", sa.Integer(), nullable=True),
        sa.Column("spotify_url", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_albums")),
    )
    op.create_table(
        "artists",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("spotify_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artists")),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "album_artists",
        sa.Column("album_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name=op.f("fk_album_artists_album_id_albums"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_album_artists_artist_id_artists")),
        sa.PrimaryKeyConstraint("album_id", "position", name=op.f("pk_album_artists")),
    )
    with op.batch_alter_table("album_artists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_album_artists_artist_id"), ["artist_id"], unique=False)

    op.create_table(
        "tracks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("isrc", sa.String(length=12), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("album_id", sa.String(length=64), nullable=True),
        sa.Column("disc_number", sa.Integer(), nullable=True),
        sa.Column("track_number", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("spotify_url", sa.Text(), nullable=True),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name=op.f("fk_tracks_album_id_albums")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracks_album_id"), ["album_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_isrc"), ["isrc"], unique=False)

    op.create_table(
        "isrcs",
        sa.Column("isrc", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("first_seen_at", sa.String(length=20), nullable=False),
        sa.Column("fetched_at", sa.String(length=20), nullable=True),
        sa.Column("expires_at", sa.String(length=20), nullable=True),
        sa.Column("match_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("canonical_track_id", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.String(length=20), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.String(length=20), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'found', 'not_found')", name=op.f("ck_isrcs_status")),
        sa.CheckConstraint("length(isrc) = 12", name=op.f("ck_isrcs_isrc_length")),
        sa.ForeignKeyConstraint(["canonical_track_id"], ["tracks.id"], name=op.f("fk_isrcs_canonical_track_id_tracks")),
        sa.PrimaryKeyConstraint("isrc", name=op.f("pk_isrcs")),
    )
    with op.batch_alter_table("isrcs", schema=None) as batch_op:
        batch_op.create_index("ix_isrcs_status_expires_at", ["status", "expires_at"], unique=False)

    op.create_table(
        "track_artists",
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_track_artists_artist_id_artists")),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_track_artists_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", "position", name=op.f("pk_track_artists")),
    )
    with op.batch_alter_table("track_artists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_artists_artist_id"), ["artist_id"], unique=False)

    op.create_table(
        "isrc_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("isrc", sa.String(length=12), nullable=False),
        sa.Column("changed_at", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("old_track_id", sa.String(length=64), nullable=True),
        sa.Column("new_track_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('found', 'not_found', 'canonical_changed', 'track_added', 'track_removed')",
            name=op.f("ck_isrc_changes_kind"),
        ),
        sa.ForeignKeyConstraint(["isrc"], ["isrcs.isrc"], name=op.f("fk_isrc_changes_isrc_isrcs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_isrc_changes")),
    )
    with op.batch_alter_table("isrc_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_isrc_changes_changed_at"), ["changed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_isrc_changes_isrc"), ["isrc"], unique=False)

    op.create_table(
        "isrc_matches",
        sa.Column("isrc", sa.String(length=12), nullable=False),
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["isrc"], ["isrcs.isrc"], name=op.f("fk_isrc_matches_isrc_isrcs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], name=op.f("fk_isrc_matches_track_id_tracks")),
        sa.PrimaryKeyConstraint("isrc", "track_id", name=op.f("pk_isrc_matches")),
    )
    with op.batch_alter_table("isrc_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_isrc_matches_track_id"), ["track_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("isrc_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_isrc_matches_track_id"))

    op.drop_table("isrc_matches")
    with op.batch_alter_table("isrc_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_isrc_changes_isrc"))
        batch_op.drop_index(batch_op.f("ix_isrc_changes_changed_at"))

    op.drop_table("isrc_changes")
    with op.batch_alter_table("track_artists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_artists_artist_id"))

    op.drop_table("track_artists")
    with op.batch_alter_table("isrcs", schema=None) as batch_op:
        batch_op.drop_index("ix_isrcs_status_expires_at")

    op.drop_table("isrcs")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_isrc"))
        batch_op.drop_index(batch_op.f("ix_tracks_album_id"))

    op.drop_table("tracks")
    with op.batch_alter_table("album_artists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_album_artists_artist_id"))

    op.drop_table("album_artists")
    op.drop_table("meta")
    op.drop_table("counters")
    op.drop_table("artists")
    op.drop_table("albums")
