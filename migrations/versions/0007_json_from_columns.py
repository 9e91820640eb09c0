"""json from columns: a row stores only the part of Spotify's JSON that its columns do not rebuild

Most of a track object repeats its columns (the id in three URLs, the artists, the numbers), and the same holds
for albums. A row written from now on whose object its columns rebuild exactly stores only the rest in
``raw_json`` (usually ``{"is_local":false,"preview_url":null}`` for a track, ``{}`` for an album) and says so in
``json_from_columns``; any other object is stored whole, as in 0006. ``albums.artist_names`` keeps the names the
album's object gave its artists. The view ``track_json`` rebuilds the object (equal as JSON, keys in another
order). Rows stored before keep their JSON as it was (``json_from_columns`` ``NULL``): no data is converted.

The expressions below mirror ``isrcdb/spotify/compact.py`` key for key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "https://open.spotify.com/"
API = "https://api.spotify.com/v1/"
COVER, MEDIUM, SMALL = "ab67616d0000b273", "ab67616d00001e02", "ab67616d00004851"


# --- SQLite: json_set on the stored rest; a NULL value is written as JSON null ----------------------------------


def sqlite_artists(link: str, owner_key: str, owner: str) -> str:
    """The artist objects of a track (``track_artists``) or an album (``album_artists``), in order, named from
    the owner's ``artist_names``. (The ordered subquery keeps json_group_array's order; json() keeps each object
    JSON across it.)"""
    return f"""(SELECT json_group_array(json(a.object)) FROM (SELECT json_object(
            'external_urls', json_object('spotify', '{OPEN}artist/' || x.artist_id),
            'href', '{API}artists/' || x.artist_id,
            'id', x.artist_id,
            'name', json_extract({owner}.artist_names, '$[' || x.position || ']'),
            'type', 'artist',
            'uri', 'spotify:artist:' || x.artist_id) AS object
        FROM {link} x WHERE x.{owner_key} = {owner}.id ORDER BY x.position) a)"""


# The keys the view rebuilds, as json_set's path and value arguments.
SQLITE_TRACK_KEYS = f"""'$.artists', json({sqlite_artists("track_artists", "track_id", "t")}),
        '$.disc_number', t.disc_number,
        '$.duration_ms', t.duration_ms,
        '$.explicit', CASE t.explicit WHEN 1 THEN json('true') WHEN 0 THEN json('false') END,
        '$.external_ids', json_object('isrc', t.isrc),
        '$.external_urls', json_object('spotify', '{OPEN}track/' || t.id),
        '$.href', '{API}tracks/' || t.id,
        '$.id', t.id,
        '$.name', t.name,
        '$.track_number', t.track_number,
        '$.type', 'track',
        '$.uri', 'spotify:track:' || t.id"""

SQLITE_ALBUM_KEYS = f"""'$.album_type', al.album_type,
        '$.artists', json({sqlite_artists("album_artists", "album_id", "al")}),
        '$.external_urls', json_object('spotify', '{OPEN}album/' || al.id),
        '$.href', '{API}albums/' || al.id,
        '$.id', al.id,
        '$.name', al.name,
        '$.release_date', al.release_date,
        '$.release_date_precision', al.release_date_precision,
        '$.total_tracks', al.total_tracks,
        '$.type', 'album',
        '$.uri', 'spotify:album:' || al.id"""

# The three covers, from the largest one's URL, unless the stored rest has Spotify's own list of images.
SQLITE_COVERS = f"""json_type(al.raw_json, '$.images') IS NULL AND instr(al.image_url, '{COVER}') > 0"""

SQLITE_IMAGES = f"""'$.images', json_array(
            json_object('height', 640, 'url', al.image_url, 'width', 640),
            json_object('height', 300, 'url', replace(al.image_url, '{COVER}', '{MEDIUM}'), 'width', 300),
            json_object('height', 64, 'url', replace(al.image_url, '{COVER}', '{SMALL}'), 'width', 64))"""

# One branch of each CASE runs: every stored value is read, and every JSON parsed, once.
SQLITE_TRACK = f"""CASE WHEN t.json_from_columns THEN json_set(t.raw_json, {SQLITE_TRACK_KEYS}) ELSE t.raw_json END"""

SQLITE_ALBUM = f"""CASE WHEN al.json_from_columns AND {SQLITE_COVERS}
        THEN json_set(al.raw_json, {SQLITE_ALBUM_KEYS}, {SQLITE_IMAGES})
    WHEN al.json_from_columns THEN json_set(al.raw_json, {SQLITE_ALBUM_KEYS})
    ELSE al.raw_json END"""

# The album's object is added last; to a stored object (not rebuilt), by text as in 0006.
SQLITE_TRACK_JSON = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    CASE WHEN t.json_from_columns AND al.raw_json IS NOT NULL
            THEN json_set(t.raw_json, {SQLITE_TRACK_KEYS}, '$.album', json({SQLITE_ALBUM}))
        WHEN t.json_from_columns THEN json_set(t.raw_json, {SQLITE_TRACK_KEYS})
        WHEN al.raw_json IS NOT NULL
            THEN substr(t.raw_json, 1, length(t.raw_json) - 1) || ',"album":' || {SQLITE_ALBUM} || '}}'
        ELSE t.raw_json END AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""


# --- PostgreSQL: the rebuilt keys as a json object, joined to the stored rest by text -------------------------
# (json_build_object rather than jsonb's ||: half the cost, and nothing stored is parsed or re-encoded)


def pg_artists(link: str, owner_key: str, owner: str) -> str:
    """The artist objects of a track or an album, in order, named from the owner's ``artist_names``."""
    return f"""(SELECT coalesce(json_agg(json_build_object(
            'external_urls', json_build_object('spotify', '{OPEN}artist/' || x.artist_id),
            'href', '{API}artists/' || x.artist_id,
            'id', x.artist_id,
            'name', CAST({owner}.artist_names AS json) -> x.position,
            'type', 'artist',
            'uri', 'spotify:artist:' || x.artist_id) ORDER BY x.position), CAST('[]' AS json))
        FROM {link} x WHERE x.{owner_key} = {owner}.id)"""


PG_TRACK_KEYS = f"""'artists', {pg_artists("track_artists", "track_id", "t")},
        'disc_number', t.disc_number,
        'duration_ms', t.duration_ms,
        'explicit', t.explicit,
        'external_ids', json_build_object('isrc', t.isrc),
        'external_urls', json_build_object('spotify', '{OPEN}track/' || t.id),
        'href', '{API}tracks/' || t.id,
        'id', t.id,
        'name', t.name,
        'track_number', t.track_number,
        'type', 'track',
        'uri', 'spotify:track:' || t.id"""

PG_ALBUM_KEYS = f"""'album_type', al.album_type,
        'artists', {pg_artists("album_artists", "album_id", "al")},
        'external_urls', json_build_object('spotify', '{OPEN}album/' || al.id),
        'href', '{API}albums/' || al.id,
        'id', al.id,
        'name', al.name,
        'release_date', al.release_date,
        'release_date_precision', al.release_date_precision,
        'total_tracks', al.total_tracks,
        'type', 'album',
        'uri', 'spotify:album:' || al.id"""

PG_COVERS = f"""CAST(al.raw_json AS json) -> 'images' IS NULL AND strpos(al.image_url, '{COVER}') > 0"""

PG_IMAGES = f"""'images', json_build_array(
            json_build_object('height', 640, 'url', al.image_url, 'width', 640),
            json_build_object('height', 300, 'url', replace(al.image_url, '{COVER}', '{MEDIUM}'), 'width', 300),
            json_build_object('height', 64, 'url', replace(al.image_url, '{COVER}', '{SMALL}'), 'width', 64))"""


def pg_joined(rest: str, keys: str) -> str:
    """The stored rest (compact JSON text of an object) with the keys built from the columns added."""
    return f"""CASE WHEN {rest} = '{{}}' THEN CAST(json_build_object({keys}) AS text)
        ELSE left({rest}, -1) || ',' || substr(CAST(json_build_object({keys}) AS text), 2) END"""


PG_TRACK = f"""CASE WHEN t.json_from_columns THEN {pg_joined("t.raw_json", PG_TRACK_KEYS)} ELSE t.raw_json END"""

PG_ALBUM = f"""CASE WHEN al.json_from_columns AND {PG_COVERS} THEN {pg_joined("al.raw_json", f"{PG_ALBUM_KEYS}, {PG_IMAGES}")}
    WHEN al.json_from_columns THEN {pg_joined("al.raw_json", PG_ALBUM_KEYS)}
    ELSE al.raw_json END"""

# As 0006: the album's JSON added as the last key, by text.
PG_TRACK_JSON = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    CAST(CASE WHEN al.raw_json IS NULL THEN {PG_TRACK}
        ELSE left({PG_TRACK}, -1) || ',"album":' || {PG_ALBUM} || '}}' END AS json) AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""


# --- 0006's view, restated for downgrade(): migrations are snapshots ------------------------------------------

RECOMPOSED_0006 = """CASE WHEN al.raw_json IS NULL THEN t.raw_json
        ELSE substr(t.raw_json, 1, length(t.raw_json) - 1) || ',"album":' || al.raw_json || '}' END"""

SQLITE_TRACK_JSON_0006 = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    {RECOMPOSED_0006} AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""

PG_TRACK_JSON_0006 = f"""CREATE VIEW track_json AS
SELECT
    t.id AS spotify_id,
    t.isrc AS isrc,
    CAST({RECOMPOSED_0006} AS json) AS json
FROM tracks t
LEFT JOIN albums al ON al.id = t.album_id"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artist_names", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("json_from_columns", sa.Boolean(), nullable=True))
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("json_from_columns", sa.Boolean(), nullable=True))
    op.execute("DROP VIEW track_json")
    op.execute(PG_TRACK_JSON if postgresql else SQLITE_TRACK_JSON)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP VIEW track_json")
    # Every row back to 0006's form (the whole object), by the expressions of the view.
    op.execute(
        f"UPDATE tracks AS t SET raw_json = {PG_TRACK if postgresql else SQLITE_TRACK} WHERE t.json_from_columns"
    )
    op.execute(
        f"UPDATE albums AS al SET raw_json = {PG_ALBUM if postgresql else SQLITE_ALBUM} WHERE al.json_from_columns"
    )
    # SQLite rebuilds a table to drop a column, which a view reading that table would stop: the views unchanged
    # since 0006 are dropped and made again from their own definitions.
    views = (
        []
        if postgresql
        else op.get_bind()
        .execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view' AND name IN ('lookups', 'matches')"))
        .all()
    )
    for name, _ in views:
        op.execute(f"DROP VIEW {name}")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("json_from_columns")
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.drop_column("json_from_columns")
        batch_op.drop_column("artist_names")
    for _, sql in views:
        op.execute(sql)
    op.execute(PG_TRACK_JSON_0006 if postgresql else SQLITE_TRACK_JSON_0006)
