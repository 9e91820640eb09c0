"""Configuration from the environment, a .env file in the working directory, and options."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from isrcdb.errors import ConfigError
from isrcdb.settings import Settings, database_path


def test_defaults_follow_the_documented_table(workdir: Path) -> None:
    settings = Settings.load({})
    assert settings.ttl == timedelta(days=30)
    assert settings.not_found_ttl == timedelta(days=7)
    assert settings.api_url == "https://api.spotify.com/v1"
    assert settings.token_url == "https://accounts.spotify.com/api/token"
    assert settings.market is None
    assert settings.client_id is None and not settings.has_credentials
    assert settings.database.name == "isrcdb.sqlite3" and settings.database.parent.name == "isrcdb"


def test_environment_is_read(workdir: Path) -> None:
    settings = Settings.load(
        {
            "SPOTIFY_CLIENT_ID": "id",
            "SPOTIFY_CLIENT_SECRET": "secret",
            "ISRCDB_DATABASE": "sqlite:///cache.db",
            "ISRCDB_TTL": "12h",
            "ISRCDB_NOT_FOUND_TTL": "90s",
            "ISRCDB_SPOTIFY_API_URL": "http://127.0.0.1:9/v1/",
            "ISRCDB_SPOTIFY_TOKEN_URL": "http://127.0.0.1:9/api/token",
            "ISRCDB_MARKET": "gb",
        }
    )
    assert (settings.client_id, settings.client_secret) == ("id", "secret")
    assert settings.database == Path("cache.db")
    assert settings.ttl == timedelta(hours=12) and settings.not_found_ttl == timedelta(seconds=90)
    assert settings.api_url == "http://127.0.0.1:9/v1"
    assert settings.market == "GB"


def test_short_credential_names_are_accepted(workdir: Path) -> None:
    settings = Settings.load({"CLIENT_ID": "a", "CLIENT_SECRET": "b"})
    assert settings.has_credentials


def test_dotenv_in_the_working_directory_is_read_and_real_variables_win(workdir: Path) -> None:
    (workdir / ".env").write_text(
        "SPOTIFY_CLIENT_ID='from-dotenv'\nexport SPOTIFY_CLIENT_SECRET=\"quoted # not a comment\"\n"
        "ISRCDB_TTL=1d # a comment\nISRCDB_MARKET=\n"
    )
    settings = Settings.load({"SPOTIFY_CLIENT_ID": "from-env"})
    assert settings.client_id == "from-env"
    assert settings.client_secret == "quoted # not a comment"
    assert settings.ttl == timedelta(days=1)
    assert settings.market is None


def test_secret_is_not_in_the_repr(workdir: Path) -> None:
    settings = Settings.load({"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ISRCDB_TTL": "forever"}, "ISRCDB_TTL: 'forever' is not a duration"),
        ({"ISRCDB_MARKET": "USA"}, "ISRCDB_MARKET must be a two-letter country code"),
        ({"ISRCDB_DATABASE": "mysql://host/db"}, "the database must be an SQLite file or a postgresql:// URL"),
        ({"ISRCDB_DATABASE": "postgresql://"}, "a PostgreSQL URL must name a server and a database"),
        ({"ISRCDB_CONCURRENCY": "many"}, "ISRCDB_CONCURRENCY must be a whole number"),
        ({"ISRCDB_CONCURRENCY": "0"}, "the concurrency must be between 1 and 32"),
        ({"ISRCDB_READ_TIMEOUT": "0s"}, "ISRCDB_READ_TIMEOUT must be more than 0 seconds"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(workdir: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(env)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("cache.sqlite3", "cache.sqlite3"),
        ("sqlite:///rel/cache.db", "rel/cache.db"),
        ("sqlite:////abs/cache.db", "/abs/cache.db"),
        ("sqlite+pysqlite:///x.db?timeout=3", "x.db"),
    ],
)
def test_database_may_be_a_path_or_an_sqlite_url(value: str, path: str) -> None:
    assert database_path(value) == Path(path)


def test_settings_are_changed_by_named_typed_options_only() -> None:
    base = Settings.from_mapping({"ISRCDB_DATABASE": "base.sqlite3"})
    changed = base.with_options(database="other.sqlite3", concurrency=3, ttl=timedelta(days=1))
    assert (changed.database, changed.concurrency, changed.ttl) == (Path("other.sqlite3"), 3, timedelta(days=1))
    assert base.with_options(concurrency=None) == base  # None means not given
    with pytest.raises(TypeError):
        base.with_options(concurency=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="there is no setting 'concurency'"):
        Settings.from_mapping({}, overrides={"concurency": 3})
