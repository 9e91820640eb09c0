"""``python -m isrcdb.testing.spotify`` (the ``isrcdb-spotify-replica`` command), run as a real process."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from isrcdb.testing.spotify.__main__ import build_parser, main
from isrcdb.testing.spotify.faults import KINDS

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(
    r"^Spotify replica ready: token URL (?P<token>http://\S+/api/token), API URL (?P<api>http://\S+/v1)$"
)
CLIENT = ("test-client-id", "test-client-secret")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "isrcdb.testing.spotify", *args]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


class Server:
    """A replica process in serve mode, with its announced URLs."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=ROOT
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        self.ready_line = lines.get(timeout=15).rstrip("\n")
        match = READY.match(self.ready_line)
        assert match, f"unexpected ready line {self.ready_line!r}"
        self.token_url, self.api_url = match["token"], match["api"]
        self.root_url = self.api_url.removesuffix("/v1")

    def token(self) -> str:
        response = requests.post(self.token_url, data={"grant_type": "client_credentials"}, auth=CLIENT, timeout=5)
        token: str = response.json()["access_token"]
        return token

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=15)
        return self.process.returncode, stderr


@pytest.fixture
def server_factory() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


def start(started: list[Server], *args: str) -> Server:
    server = Server(*args)
    started.append(server)
    return server


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_mode_announces_urls_serves_and_stops_on_signal(server_factory: list[Server], signum: int) -> None:
    server = start(server_factory)

    search = requests.get(
        f"{server.api_url}/search",
        params={"q": "isrc:USRC17607839", "type": "track"},
        headers={"Authorization": f"Bearer {server.token()}"},
        timeout=5,
    )
    status, stderr = server.stop(signum)

    assert search.json()["tracks"]["total"] == 3
    assert server.token_url.startswith("http://127.0.0.1:")
    assert status == 0
    assert "Spotify replica stopped" in stderr


def test_options_configure_the_replica(server_factory: list[Server], tmp_path: Path) -> None:
    server = start(
        server_factory,
        "--profile", "extended",
        "--client-id", "cli-id",
        "--client-secret", "cli-secret",
        "--token-expires-in", "77",
        "--latency", "0.01",
        "--rate-limit", "50",
        "--rate-window", "2",
        "--rate-penalty",
        "--synthetic-prefix", "ZZTST",
        "--synthetic-prefix", "QZABC",
        "--synthetic-not-found",
    )  # fmt: skip

    config = requests.get(f"{server.root_url}/_replica/config", timeout=5).json()
    token = requests.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=("cli-id", "cli-secret"), timeout=5
    ).json()

    assert config == {
        "profile": "extended",
        "client_id": "cli-id",
        "token_expires_in": 77,
        "synthetic_prefixes": ["ZZTST", "QZABC"],
        "synthetic_not_found": 0.1,
        "latency": 0.01,
        "rate_limit": 50,
        "rate_window": 2.0,
        "rate_penalty": True,
        "catalogue_tracks": 26,
    }
    assert token["expires_in"] == 77


def test_fail_flags_script_faults(server_factory: list[Server]) -> None:
    server = start(server_factory, "--fail", "429:2:retry_after=7:route=search", "--fail", "503:1:route=search")
    headers = {"Authorization": f"Bearer {server.token()}"}

    def status() -> tuple[int, str | None]:
        response = requests.get(
            f"{server.api_url}/search", params={"q": "isrc:GBAAA0000001", "type": "track"}, headers=headers, timeout=5
        )
        return response.status_code, response.headers.get("Retry-After")

    assert [status() for _ in range(4)] == [(429, "7"), (429, "7"), (503, None), (200, None)]


def test_catalogue_files_real_and_no_sample(server_factory: list[Server], tmp_path: Path) -> None:
    extra = tmp_path / "extra.json"
    extra.write_text(
        json.dumps({"id": "a" * 22, "type": "track", "name": "Extra", "external_ids": {"isrc": "GBXYZ2000001"}}),
        encoding="utf-8",
    )
    server = start(server_factory, "--no-sample", "--real", "--catalogue", str(extra), "--no-synthetic")
    headers = {"Authorization": f"Bearer {server.token()}"}

    def total(isrc: str) -> int:
        body = requests.get(
            f"{server.api_url}/search", params={"q": f"isrc:{isrc}", "type": "track"}, headers=headers, timeout=5
        ).json()
        result: int = body["tracks"]["total"]
        return result

    assert [total(code) for code in ("GBXYZ2000001", "USRC11301695", "USRC17607839", "QZSYN2600001")] == [1, 1, 0, 0]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), capture_output=True, text=True, env=environment(**env), cwd=ROOT, timeout=60, check=False
    )


CHILD = """
import json, os, sys, urllib.parse, urllib.request
request = urllib.request.Request(
    os.environ["ISRCDB_SPOTIFY_TOKEN_URL"],
    data=urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": os.environ["SPOTIFY_CLIENT_ID"],
                                 "client_secret": os.environ["SPOTIFY_CLIENT_SECRET"]}).encode(),
)
token = json.load(urllib.request.urlopen(request))["access_token"]
search = urllib.request.Request(
    os.environ["ISRCDB_SPOTIFY_API_URL"] + "/search?q=isrc:USRC17607839&type=track",
    headers={"Authorization": "Bearer " + token},
)
print(json.load(urllib.request.urlopen(search))["tracks"]["total"], os.environ.get("ISRCDB_DATABASE"))
sys.exit(int(sys.argv[1]))
"""


@pytest.mark.parametrize("code", [0, 3])
def test_wrap_mode_runs_the_command_against_the_replica_and_returns_its_status(code: int) -> None:
    result = run("--", sys.executable, "-c", CHILD, str(code), ISRCDB_DATABASE="/tmp/mine.sqlite3")

    assert result.returncode == code
    assert result.stdout == "3 /tmp/mine.sqlite3\n"  # only the command's output: the ready line went to stderr
    assert READY.match(result.stderr.splitlines()[0])


def test_wrap_mode_applies_options_to_the_replica() -> None:
    result = run("--fail", "503:5", "--", sys.executable, "-c", CHILD, "0")

    assert result.returncode == 1
    assert "HTTP Error 503" in result.stderr


def test_wrap_mode_reports_a_missing_command() -> None:
    result = run("--", "isrcdb-no-such-command-here")

    assert result.returncode == 127
    assert "Error: command not found: isrcdb-no-such-command-here" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail", "teapot:1"], "Error: invalid fault 'teapot:1'"),
        (["--profile", "premium"], "invalid choice: 'premium'"),
        (["--rate-limit", "0"], "Error: rate limit must be at least 1"),
        (["--catalogue", "/nonexistent/x.json"], "Error: cannot read catalogue file"),
        (["--latency", "-1"], "Error: latency cannot be negative"),
        (["--"], "'--' must be followed by a command"),
    ],
)
def test_invalid_options_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = run(*args)

    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_a_taken_port_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("--port", str(taken.getsockname()[1]))

    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot listen on 127.0.0.1:")


def test_help_documents_every_option_and_fault_kind() -> None:
    text = build_parser().format_help()

    for option in [
        "--host", "--port", "--client-id", "--client-secret", "--profile", "--latency", "--rate-limit",
        "--rate-window", "--rate-penalty", "--token-expires-in", "--synthetic-prefix", "--synthetic-not-found",
        "--catalogue", "--real", "--no-sample", "--no-synthetic", "--fail", "--access-log", "-- COMMAND",
    ]:  # fmt: skip
        assert option in text, option
    for kind in KINDS:
        assert kind in text, kind
    assert all(action.help for action in build_parser()._actions)


def test_console_script_entry_point_is_main() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

    assert 'isrcdb-spotify-replica = "isrcdb.testing.spotify.__main__:main"' in pyproject
    assert callable(main)
