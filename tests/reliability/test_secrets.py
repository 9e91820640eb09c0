"""Secrets: the client secret and the access tokens never leave the places they belong.

One module-wide fixture runs every kind of scenario as a real process with ``-vv`` (every request logged):
lookups, faults of every kind, a token revoked and renewed, refused credentials, import, sync with a 401, query,
stats, credentials from ``.env``. It keeps everything they printed and every token the replica issued (read from the
token cache file after each run). No output and no file but the token cache holds a token; nothing at all holds the
secret. The token cache file is private (0600 in a 0700 directory) and written atomically.

The token cache trusts nothing it finds: a directory open to others is made private, a token file that is not a
small private file of the user's is ignored and replaced, and nothing but a regular file is ever opened.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from isrcdb.spotify import auth
from isrcdb.spotify.transport import Transport
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.reliability.crashkit import synthetic_codes
from tests.reliability.helpers import FEW, MANY, NONE, without_created_note
from tests.reliability.hostile_server import HostileServer, measured_run

SECRET = "s3cret-V4lue-that-must-never-be-printed"
WRONG = "wr0ng-s3cret-that-must-never-be-printed-either"
TOKEN_SHAPE = re.compile(r"BQ[A-Za-z0-9_-]{40,}")
"""The replica's tokens (``BQ`` and 112 URL-safe characters), so that one issued but never cached is caught too."""


@dataclass
class Transcript:
    """What the scenarios printed, the files they left, and every token seen."""

    root: Path
    outputs: dict[str, str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def token_dir(self) -> Path:
        return self.root / "xdg-cache" / "isrcdb"


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Transcript]:
    root = tmp_path_factory.mktemp("secrets")
    record = Transcript(root)
    codes = root / "codes.txt"
    codes.write_text("\n".join(synthetic_codes(12)) + "\n")
    with SpotifyReplica(client_secret=SECRET) as replica:
        env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("ISRCDB_", "SPOTIFY_"))},
            **replica.env(),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "ISRCDB_DATABASE": str(root / "cache.sqlite3"),
            "ISRCDB_READ_TIMEOUT": "1",
        }

        def run(name: str, *args: str, base: dict[str, str] = env, **extra: str) -> None:
            result = subprocess.run(
                [sys.executable, "-m", "isrcdb", "-vv", *args],
                env={**base, **extra},
                cwd=root,
                capture_output=True,
                text=True,
                timeout=120,
            )
            record.outputs[f"{name}: stdout"] = result.stdout
            record.outputs[f"{name}: stderr"] = result.stderr
            record.exit_codes[name] = result.returncode
            for path in record.token_dir.glob("token-*.json"):
                record.tokens.add(json.loads(path.read_text())["access_token"])

        run("lookup", "lookup", FEW, MANY, NONE, "--format", "json")
        replica.inject("503", route="search")
        replica.inject("truncated", route="search")
        replica.inject("malformed", route="search", isrc=MANY)
        replica.inject("429", route="search", retry_after=0)
        run("faults", "lookup", FEW, MANY, NONE, "--refresh", "--format", "json")
        replica.revoke_tokens()
        replica.inject("503", route="token")
        replica.inject("drop", route="token")
        run("revoked", "lookup", FEW, "--refresh", "--format", "csv")
        replica.revoke_tokens()
        replica.inject("malformed", route="token")  # half a token in the body: unreadable, never printed
        run("malformed-token", "lookup", "GBUM71029604")
        run("wrong-secret", "lookup", "AUUM71900817", SPOTIFY_CLIENT_SECRET=WRONG, XDG_CACHE_HOME=str(root / "x2"))
        run("import", "import", str(codes))
        replica.inject("status", route="search", status=401)
        run("sync", "sync", "--format", "json")
        run("query", "query", "SELECT * FROM lookups", "--format", "json")
        run("stats", "stats")
        (root / ".env").write_text(f"SPOTIFY_CLIENT_ID={replica.client_id}\nSPOTIFY_CLIENT_SECRET='{SECRET}'\n")
        from_dotenv = {name: value for name, value in env.items() if not name.startswith("SPOTIFY_")}
        run("dotenv", "lookup", "JPK651500123", base=from_dotenv)
        record.exit_codes["tokens issued"] = replica.stats()["tokens_issued"]
    yield record


def test_the_scenarios_ran_and_logged_every_request(transcript: Transcript) -> None:
    assert transcript.exit_codes == {
        "lookup": 1,
        "faults": 1,  # MANY's answer was unreadable: the cached one is given, marked stale
        "revoked": 0,
        "malformed-token": 3,
        "wrong-secret": 3,
        "import": 0,
        "sync": 0,
        "query": 0,
        "stats": 0,
        "dotenv": 0,
        "tokens issued": 5,  # the first; after each revocation (one sent malformed); for the sync; after its 401
    }
    assert "GET http://127.0.0.1" in transcript.outputs["lookup: stderr"]  # -vv does log every request
    # Read from the cache file after each run: all but the malformed one and the one the sync replaced after its
    # 401 in the same run. TOKEN_SHAPE catches those two in the outputs.
    assert len(transcript.tokens) == 3


def test_no_output_holds_the_secret_or_a_token(transcript: Transcript) -> None:
    for name, output in transcript.outputs.items():
        assert SECRET not in output, name
        assert WRONG not in output, name
        assert not TOKEN_SHAPE.search(output), name
        assert not any(token in output for token in transcript.tokens), name


def test_no_file_but_the_token_cache_holds_a_token_and_none_holds_the_secret(transcript: Transcript) -> None:
    files = [path for path in transcript.root.rglob("*") if path.is_file() and path.name != ".env"]
    assert any(path.name == "cache.sqlite3" for path in files)
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data and WRONG.encode() not in data, path
        if path.parent != transcript.token_dir:
            assert not TOKEN_SHAPE.search(data.decode("latin-1")), path


def test_the_token_cache_is_private(transcript: Transcript) -> None:
    (token_file,) = transcript.token_dir.glob("token-*.json")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(transcript.token_dir.stat().st_mode) == 0o700
    assert sorted(json.loads(token_file.read_text())) == ["access_token", "expires_at", "token_url"]
    assert [path.name for path in transcript.token_dir.iterdir()] == [token_file.name]  # no temporary file left


# --- the token file is written atomically -------------------------------------------------------------------------


def test_a_reader_never_sees_a_half_written_token_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "token-x.json"
    versions = [json.dumps({"access_token": "T" * length, "expires_at": 1.0}) for length in (10, 5000, 200_000, 1)]
    auth.write_private(path, versions[0])
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for round_ in range(200):
        auth.write_private(path, versions[round_ % len(versions)])
    done.set()
    reader.join()
    assert seen <= set(versions)
    assert [p.name for p in path.parent.iterdir()] == ["token-x.json"]


def test_a_failed_write_leaves_the_old_token_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token-x.json"
    auth.write_private(path, '{"access_token": "old"}')

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(auth.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        auth.write_private(path, '{"access_token": "new"}')
    assert path.read_text() == '{"access_token": "old"}'
    assert [p.name for p in tmp_path.iterdir()] == ["token-x.json"]


def test_the_token_file_is_private_whatever_the_umask_or_the_old_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "token-x.json"
    path.parent.mkdir(mode=0o755)
    path.write_text("{}")
    path.chmod(0o644)
    previous = os.umask(0)
    try:
        auth.write_private(path, '{"access_token": "t"}')
        auth.write_private(tmp_path / "new" / "token-y.json", '{"access_token": "t"}')
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # the directory it found open is made private
    assert stat.S_IMODE((tmp_path / "new" / "token-y.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_settings_and_clients_do_not_show_the_secret_in_their_repr() -> None:
    from isrcdb.settings import Settings
    from isrcdb.spotify.client import client_from_settings

    settings = Settings(client_id="id", client_secret=SECRET)
    client = client_from_settings(settings)
    try:
        for shown in (repr(settings), repr(client.auth), str(vars(client.auth).get("_token"))):
            assert SECRET not in shown
    finally:
        client.close()


# --- the token cache trusts nothing it finds ----------------------------------------------------------------------

PLANTED = "PLANTED-token-that-must-never-be-sent"


def token_path(workdir: Path, server: HostileServer) -> Path:
    """Where isrcdb keeps the token of ``server``'s client id."""
    env = server.env()
    transport = Transport()
    provider = auth.TokenProvider(
        transport,
        env["ISRCDB_SPOTIFY_TOKEN_URL"],
        env["SPOTIFY_CLIENT_ID"],
        None,
        cache_dir=workdir / "xdg-cache" / "isrcdb",
    )
    transport.close()
    assert provider.cache_file is not None
    return provider.cache_file


def planted_record(server: HostileServer, padding: int = 0) -> str:
    """A token record that a trusting reader would use: valid for another 50 minutes."""
    record = {
        "access_token": PLANTED,
        "expires_at": time.time() + 3000,
        "token_url": server.env()["ISRCDB_SPOTIFY_TOKEN_URL"],
    }
    return json.dumps(record) + " " * padding


def assert_replaced_by_a_private_token_file(path: Path, server: HostileServer) -> None:
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert json.loads(path.read_text())["access_token"] == server.plan.token


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750, 0o701], ids=["0755", "0777", "0750", "0701"])
def test_a_cache_directory_open_to_others_is_made_private_before_it_is_used(
    cli: Cli, hostile: HostileServer, workdir: Path, mode: int
) -> None:
    path = token_path(workdir, hostile)
    path.parent.mkdir(parents=True)
    path.parent.chmod(mode)
    assert cli("lookup", NONE).exit_code == 1
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert_replaced_by_a_private_token_file(path, hostile)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        pytest.param(
            "another-user",
            "it belongs to another user",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user takes root"),
        ),
        ("sticky", "it is a shared directory (sticky bit); name a private one"),  # as /tmp: never tightened
    ],
)
def test_a_cache_directory_of_another_user_or_shared_by_design_is_not_used(
    hostile: HostileServer, workdir: Path, kind: str, reason: str
) -> None:
    path = token_path(workdir, hostile)
    path.parent.mkdir(parents=True, mode=0o700)
    planted = planted_record(hostile)
    path.write_text(planted)
    path.chmod(0o600)
    if kind == "another-user":
        os.chown(path.parent, 65534, 65534)
    else:
        path.parent.chmod(0o1777)
    result = run_isrcdb("lookup", NONE, timeout=60)
    assert result.returncode == 1, result.stderr
    assert without_created_note(result.stderr) == f"cannot cache the access token in {path.parent}: {reason}\n"
    assert PLANTED not in hostile.bearer_tokens
    assert hostile.requests["token"] == 1
    assert path.read_text() == planted  # left alone
    if kind == "sticky":
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o1777


@pytest.mark.parametrize(
    ("mode", "padding", "owner", "used"),
    [
        (0o600, 0, None, True),  # the control: a private file of the user's is used
        (0o640, 0, None, False),
        (0o644, 0, None, False),
        (0o620, 0, None, False),
        (0o602, 0, None, False),
        (0o600, 1024 * 1024, None, False),  # valid JSON, but far larger than a token file
        pytest.param(
            0o600,
            0,
            65534,
            False,
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root"),
        ),
    ],
    ids=["private", "group-readable", "world-readable", "group-writable", "world-writable", "too-large", "not-ours"],
)
def test_a_token_file_others_can_read_or_write_or_too_large_is_ignored_and_replaced(
    cli: Cli, hostile: HostileServer, workdir: Path, mode: int, padding: int, owner: int | None, used: bool
) -> None:
    path = token_path(workdir, hostile)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(planted_record(hostile, padding))
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, owner)
    assert cli("lookup", NONE).exit_code == 1
    if used:
        assert (hostile.bearer_tokens, hostile.requests["token"]) == ([PLANTED], 0)
    else:
        assert PLANTED not in hostile.bearer_tokens
        assert hostile.requests["token"] == 1
        assert_replaced_by_a_private_token_file(path, hostile)


def make_device(path: Path) -> None:
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("making a device takes root")


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-dev-zero", "link-to-a-private-token", "directory"])
def test_a_fifo_device_or_link_in_place_of_the_token_file_is_never_opened(
    hostile: HostileServer, workdir: Path, kind: str
) -> None:
    path = token_path(workdir, hostile)
    path.parent.mkdir(parents=True, mode=0o700)
    if kind == "fifo":
        os.mkfifo(path, 0o600)  # opening it to read would wait for a writer forever
    elif kind == "device":
        make_device(path)
    elif kind == "link-to-dev-zero":
        path.symlink_to("/dev/zero")  # reading it whole would never end
    elif kind == "link-to-a-private-token":
        elsewhere = workdir / "elsewhere.json"
        elsewhere.write_text(planted_record(hostile))
        elsewhere.chmod(0o600)
        path.symlink_to(elsewhere)
    else:
        path.mkdir()
    result = measured_run("lookup", NONE, timeout=30)
    assert result.exit_code == 1, result.stderr
    assert result.seconds < 20
    assert PLANTED not in hostile.bearer_tokens
    assert hostile.requests["token"] == 1
    if kind == "directory":  # cannot be replaced: a warning, and the run goes on
        assert (
            without_created_note(result.stderr) == f"cannot cache the access token in {path.parent}: Is a directory\n"
        )
    else:
        assert without_created_note(result.stderr) == ""
        assert_replaced_by_a_private_token_file(path, hostile)
