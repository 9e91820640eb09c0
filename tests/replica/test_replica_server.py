"""Life cycle, URLs, keep-alive, concurrency and latency of the replica's HTTP server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.sample import RESULT_COUNTS

if TYPE_CHECKING:
    from conftest import Get

TRACK = "/tracks/0toNj4nh5bw8tYkvdEFZj2"


def test_urls_follow_spotify_layout(replica: SpotifyReplica) -> None:
    assert replica.root_url == f"http://127.0.0.1:{replica.port}"
    assert replica.token_url == f"{replica.root_url}/api/token"
    assert replica.api_url == f"{replica.root_url}/v1"
    assert replica.port > 0


def test_env_points_isrcdb_at_the_replica(spotify_replica: SpotifyReplica) -> None:
    expected = {
        "SPOTIFY_CLIENT_ID": "test-client-id",
        "SPOTIFY_CLIENT_SECRET": "test-client-secret",
        "ISRCDB_SPOTIFY_API_URL": spotify_replica.api_url,
        "ISRCDB_SPOTIFY_TOKEN_URL": spotify_replica.token_url,
    }
    assert spotify_replica.env() == expected
    assert {name: os.environ[name] for name in expected} == expected  # the fixture set them for this test


def test_two_replicas_get_different_free_ports(make_replica: Callable[..., SpotifyReplica]) -> None:
    assert make_replica().port != make_replica().port


def test_start_and_stop_without_a_context_manager(session: requests.Session) -> None:
    replica = SpotifyReplica()
    assert not replica.running
    with pytest.raises(RuntimeError, match="not been started"):
        replica.root_url  # noqa: B018

    replica.start()
    url = f"{replica.root_url}/_replica/stats"
    assert session.get(url, timeout=5).status_code == 200
    replica.stop()
    replica.stop()  # stopping twice is harmless

    assert not replica.running
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


def test_starting_twice_is_refused(replica: SpotifyReplica) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        replica.start()


def test_a_fixed_port_can_be_reused_after_stop() -> None:
    with SpotifyReplica() as first:
        port = first.port
    with SpotifyReplica(port=port) as second:
        assert second.port == port


def test_stop_closes_kept_alive_connections(replica: SpotifyReplica, get: Get, session: requests.Session) -> None:
    assert get(TRACK).status_code == 200  # the session now holds an open connection

    replica.stop()

    with pytest.raises(requests.ConnectionError):
        get(TRACK)


def raw_request(path: str, host: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def read_response(stream: BinaryIO) -> tuple[bytes, dict[str, str], bytes]:
    status = stream.readline()
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    body = stream.read(int(headers["content-length"]))
    return status, headers, body


def test_connections_are_kept_alive_across_requests(replica: SpotifyReplica, token: str) -> None:
    host = f"127.0.0.1:{replica.port}"
    with socket.create_connection(("127.0.0.1", replica.port), timeout=5) as connection:
        stream = connection.makefile("rb")
        answers = []
        for path in ["/v1/tracks/0toNj4nh5bw8tYkvdEFZj2", "/v1/search?q=isrc:USRC17607839&type=track", "/nope"]:
            connection.sendall(raw_request(path, host, f"Authorization: Bearer {token}\r\n"))
            answers.append(read_response(stream))

    assert [status for status, _, _ in answers] == [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 404 Not Found\r\n",
    ]
    assert all("connection" not in headers for _, headers, _ in answers)


def test_connection_close_is_honoured(replica: SpotifyReplica) -> None:
    with socket.create_connection(("127.0.0.1", replica.port), timeout=5) as connection:
        connection.sendall(raw_request("/_replica/stats", f"127.0.0.1:{replica.port}", "Connection: close\r\n"))
        stream = connection.makefile("rb")
        _, headers, _ = read_response(stream)

        assert headers["connection"] == "close"
        assert stream.read() == b""


def test_many_concurrent_clients_get_correct_answers(replica: SpotifyReplica, token: str) -> None:
    codes = sorted(RESULT_COUNTS) * 10
    local = threading.local()

    def search(code: str) -> tuple[str, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.get(
            f"{replica.api_url}/search",
            params={"q": f"isrc:{code}", "type": "track", "limit": 10},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        return code, response.json()["tracks"]["total"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(search, codes))

    assert results == [(code, RESULT_COUNTS[code]) for code in codes]
    assert replica.stats()["requests"]["search"] == len(codes)
    assert replica.stats()["statuses"] == {"200": len(codes) + 1}  # and the token


@pytest.mark.parametrize("latency", [0.2])
def test_latency_is_added_to_every_request(
    make_replica: Callable[..., SpotifyReplica], session: requests.Session, latency: float
) -> None:
    replica = make_replica(latency=latency)

    started = time.perf_counter()
    session.post(
        replica.token_url, data={"grant_type": "client_credentials"}, auth=("test-client-id", "test-client-secret")
    )
    elapsed = time.perf_counter() - started
    replica.set_latency(0)
    started = time.perf_counter()
    session.get(f"{replica.root_url}/_replica/stats")
    session.get(f"{replica.api_url}{TRACK}")

    assert elapsed >= latency
    assert time.perf_counter() - started < latency


def test_negative_latency_is_refused(replica: SpotifyReplica) -> None:
    with pytest.raises(ValueError, match="latency"):
        replica.set_latency(-0.1)


@pytest.mark.parametrize("path", ["/", "/v2/search", "/v1"])
def test_paths_outside_the_api_are_404_json(session: requests.Session, replica: SpotifyReplica, path: str) -> None:
    response = session.get(f"{replica.root_url}{path}")

    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "message": "Service not found"}}
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_the_server_names_itself(session: requests.Session, replica: SpotifyReplica) -> None:
    response = session.get(f"{replica.root_url}/_replica/stats")

    assert response.headers["Server"] == "isrcdb-spotify-replica"
    assert response.raw.version == 11


def test_links_use_the_host_the_client_called(replica: SpotifyReplica, token: str, session: requests.Session) -> None:
    url = f"http://localhost:{replica.port}/v1/search"

    page = session.get(
        url, params={"q": "isrc:FRZ039800212", "type": "track"}, headers={"Authorization": f"Bearer {token}"}
    ).json()["tracks"]

    assert page["next"].startswith(f"http://localhost:{replica.port}/v1/search?")


def test_import_needs_nothing_else_from_isrcdb() -> None:
    import subprocess
    import sys

    code = (
        "import sys, isrcdb.testing.spotify, isrcdb.testing.spotify.__main__;"
        "bad = sorted(m for m in sys.modules if m.startswith('isrcdb') and not m.startswith('isrcdb.testing')"
        " and m != 'isrcdb');"
        "heavy = sorted(m for m in ('requests', 'sqlalchemy', 'typer') if m in sys.modules);"
        "print(bad, heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert output.strip() == "[] []"
