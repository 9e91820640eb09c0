"""The database schema, defined once as SQLAlchemy 2.0 models.

These models are the source of truth for the tables: Alembic's migrations are written to match them, and a test
(``alembic.command.check``) fails when the two drift apart. At run time isrcdb reads and writes the same tables
through the standard library's ``sqlite3`` (see :mod:`isrcdb.store`), so that a cached lookup does not pay
SQLAlchemy's import cost.

Timestamps are ISO 8601 UTC text, second precision, ``Z`` suffix (see :mod:`isrcdb.clock`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Isrc(Base):
    """One row per ISRC isrcdb knows of: imported, looked up, found or not."""

    __tablename__ = "isrcs"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'found', 'not_found')", name="status"),
        CheckConstraint("length(isrc) = 12", name="isrc_length"),
        Index("ix_isrcs_status_expires_at", "status", "expires_at"),
        Index("ix_isrcs_status_fetched_at", "status", "fetched_at"),
    )

    isrc: Mapped[str] = mapped_column(String(12), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    first_seen_at: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[str | None] = mapped_column(String(20))
    expires_at: Mapped[str | None] = mapped_column(String(20))
    match_count: Mapped[int] = mapped_column(Integer, server_default="0")
    canonical_track_id: Mapped[str | None] = mapped_column(ForeignKey("tracks.id"))
    changed_at: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[str | None] = mapped_column(String(20))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[str | None] = mapped_column(String(20))


class Artist(Base):
    __tablename__ = "artists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    spotify_url: Mapped[str | None] = mapped_column(Text)


class Album(Base):
    __tablename__ = "albums"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    album_type: Mapped[str | None] = mapped_column(String(32))
    release_date: Mapped[str | None] = mapped_column(String(10))
    release_date_precision: Mapped[str | None] = mapped_column(String(8))
    total_tracks: Mapped[int | None] = mapped_column(Integer)
    spotify_url: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    raw_json: Mapped[str | None] = mapped_column(Text)
    """The album object as Spotify last sent it, stored once for all its tracks (see ``tracks.raw_json``): with
    ``json_from_columns``, only the keys the other columns do not rebuild."""
    artist_names: Mapped[str | None] = mapped_column(Text)
    """The album's artists' names as a JSON array, as this album's object gave them (``artists.name`` is the name
    of the latest fetch of any track)."""
    json_from_columns: Mapped[bool | None] = mapped_column(Boolean)
    """Whether ``raw_json`` holds only what the columns do not rebuild (see :mod:`isrcdb.spotify.compact`);
    ``NULL`` or false: the whole object."""


class AlbumArtist(Base):
    __tablename__ = "album_artists"

    album_id: Mapped[str] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    artist_id: Mapped[str] = mapped_column(ForeignKey("artists.id"), index=True)


class Track(Base):
    """A Spotify track, with Spotify's JSON object: ``raw_json`` without its ``album`` object, which is stored once
    in ``albums.raw_json``, and, with ``json_from_columns``, without the keys the columns rebuild; the view
    ``track_json`` puts Spotify's object together again."""

    __tablename__ = "tracks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    isrc: Mapped[str | None] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(Text)
    album_id: Mapped[str | None] = mapped_column(ForeignKey("albums.id"), index=True)
    disc_number: Mapped[int | None] = mapped_column(Integer)
    track_number: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    spotify_url: Mapped[str | None] = mapped_column(Text)
    raw_json: Mapped[str] = mapped_column(Text)
    artist_names: Mapped[str | None] = mapped_column(Text)
    """The artists' names as a JSON array, in Spotify's order: what the views show, without a join per row."""
    json_from_columns: Mapped[bool | None] = mapped_column(Boolean)
    """Whether ``raw_json`` holds only what the columns do not rebuild; ``NULL`` or false: the whole object."""
    fetched_at: Mapped[str] = mapped_column(String(20))


class TrackArtist(Base):
    __tablename__ = "track_artists"

    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    artist_id: Mapped[str] = mapped_column(ForeignKey("artists.id"), index=True)


class IsrcMatch(Base):
    """Each Spotify track an ISRC matched; rank 0 is the canonical match."""

    __tablename__ = "isrc_matches"

    isrc: Mapped[str] = mapped_column(ForeignKey("isrcs.isrc", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id"), primary_key=True, index=True)
    rank: Mapped[int] = mapped_column(Integer)


class IsrcChange(Base):
    """The history of what a refresh changed: first found, canonical match changed, track gone, not found."""

    __tablename__ = "isrc_changes"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('found', 'not_found', 'canonical_changed', 'track_added', 'track_removed')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    isrc: Mapped[str] = mapped_column(ForeignKey("isrcs.isrc", ondelete="CASCADE"), index=True)
    changed_at: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    old_track_id: Mapped[str | None] = mapped_column(String(64))
    new_track_id: Mapped[str | None] = mapped_column(String(64))


class Counter(Base):
    """Running totals: Spotify requests made, lookups answered from the cache, 429s met."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, server_default="0")


class Meta(Base):
    """Small key/value state, e.g. when Spotify's rate limit allows calling again."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[str] = mapped_column(String(20))


class RateBudget(Base):
    """Spotify's rate limit as every process using one Spotify app sees it, shared through the database.

    One row per app: ``app`` is a digest of the token endpoint and the client id (never the id itself).
    ``paused_until`` is when a long ``Retry-After`` or an exceeded quota allows calling again; ``next_slot`` paces
    the requests of every process together (the theoretical arrival time of a generic cell rate algorithm, in
    seconds of the database server's clock).
    """

    __tablename__ = "rate_budgets"

    app: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_until: Mapped[str | None] = mapped_column(String(20))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    next_slot: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[str] = mapped_column(String(20))
