"""Proxies, CA bundles and ``~/.netrc``: the environment's network settings are honoured, and nothing else is.

A small forwarding proxy on 127.0.0.1 stands in front of the replica and logs every request it forwards, so the tests
see exactly what a corporate proxy would see.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from isrcdb import IsrcDB
from isrcdb.errors import ConfigError
from isrcdb.spotify.transport import environment_ca_bundle, environment_proxies
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli

FEW = "USRC17607839"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


class ForwardingProxy(ThreadingHTTPServer):
    """A plain-HTTP forwarding proxy: takes absolute-URI requests, forwards them, and logs what it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.log: list[dict[str, object]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def seen(self) -> str:
        """Everything the proxy was sent, as one text: request lines, headers and bodies."""
        with self.lock:
            return json.dumps(self.log)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ForwardingProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.log.append(
                {
                    "method": self.command,
                    "target": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("latin-1"),
                }
            )
        target = urlsplit(self.path)
        if target.scheme != "http" or target.hostname is None:
            self.send_error(400, "this proxy forwards absolute http:// URIs only")
            return
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body or None, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:  # the log above is the record; stderr stays quiet
        pass


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def network_env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No proxy or CA variable from the machine, and a HOME whose ~/.netrc holds a password for 127.0.0.1."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    home = workdir / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\ndefault login any password any\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    return home


def test_requests_go_through_the_proxy_and_carry_no_secret_beyond_http_auth(
    cli: Cli, spotify: SpotifyReplica, proxy: ForwardingProxy, network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")  # 127.0.0.1 is not exempt: every request must reach the proxy
    (result,) = cli.json("lookup", FEW)
    assert (result["status"], result["source"]) == ("found", "spotify")

    secret = spotify.env()["SPOTIFY_CLIENT_SECRET"]
    client_id = spotify.env()["SPOTIFY_CLIENT_ID"]
    [token_request, search] = proxy.log
    assert (token_request["method"], token_request["target"]) == ("POST", spotify.env()["ISRCDB_SPOTIFY_TOKEN_URL"])
    assert (search["method"], str(search["target"]).split("?")[0]) == (
        "GET",
        spotify.env()["ISRCDB_SPOTIFY_API_URL"] + "/search",
    )
    assert spotify.search_count(FEW) == 1

    # The secret travels only base64-encoded in the Basic header, as HTTP carries it; never in a URL or a body.
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    assert token_request["headers"]["Authorization"] == basic  # type: ignore[index]
    assert token_request["body"] == "grant_type=client_credentials"
    assert secret not in proxy.seen()
    # The token travels only in the bearer header of the search, never in its URL.
    token = str(search["headers"]["Authorization"]).removeprefix("Bearer ")  # type: ignore[index]
    assert len(token) > 10
    assert proxy.seen().count(token) == 1
    assert token not in str(search["target"])
    # ~/.netrc added nothing: no other credentials, no Proxy-Authorization.
    assert "netrc" not in proxy.seen() and base64.b64encode(b"netrc-user:netrc-password").decode() not in proxy.seen()
    assert all("Proxy-Authorization" not in entry["headers"] for entry in proxy.log)  # type: ignore[operator]


def test_the_python_api_goes_through_the_proxy_too(
    spotify: SpotifyReplica, proxy: ForwardingProxy, network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with IsrcDB("api.sqlite3") as cache:
        assert [result.status for result in cache.lookup([FEW, "GBAAA0000001"])] == ["found", "not_found"]
    assert [entry["method"] for entry in proxy.log] == ["POST", "GET", "GET"]


def test_no_proxy_exempts_its_hosts(
    cli: Cli, spotify: SpotifyReplica, proxy: ForwardingProxy, network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    (result,) = cli.json("lookup", FEW)
    assert result["status"] == "found"
    assert proxy.log == []
    assert spotify.search_count(FEW) == 1


def test_without_proxy_variables_nothing_goes_through_a_proxy(
    cli: Cli, spotify: SpotifyReplica, proxy: ForwardingProxy, network_env: Path
) -> None:
    assert cli.json("lookup", FEW)[0]["status"] == "found"
    assert proxy.log == []


def test_an_unreachable_proxy_is_named_without_its_password(
    cli: Cli, spotify: SpotifyReplica, network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://proxy-user:proxy-password@127.0.0.1:{port}")
    monkeypatch.setenv("ISRCDB_CONNECT_TIMEOUT", "2")
    result = cli("lookup", FEW)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(
        f"Error: cannot reach Spotify at {spotify.env()['ISRCDB_SPOTIFY_TOKEN_URL']} through "
        f"the proxy http://127.0.0.1:{port}: "
    )
    assert "proxy-password" not in result.stderr and "proxy-password" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, True),
        ({"SSL_CERT_FILE": "{ca}"}, "{ca}"),
        ({"REQUESTS_CA_BUNDLE": "{ca}"}, "{ca}"),
        ({"REQUESTS_CA_BUNDLE": "{ca}", "SSL_CERT_FILE": "/nowhere"}, "{ca}"),  # the first one set wins
        ({"REQUESTS_CA_BUNDLE": "  ", "SSL_CERT_FILE": "{ca}"}, "{ca}"),
    ],
)
def test_the_ca_bundle_comes_from_the_environment(
    tmp_path: Path, variables: dict[str, str], expected: str | bool
) -> None:
    ca = tmp_path / "corporate-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {name: value.format(ca=ca) for name, value in variables.items()}
    assert environment_ca_bundle(env) == (expected.format(ca=ca) if isinstance(expected, str) else expected)


def test_a_ca_bundle_that_does_not_exist_is_one_clear_error(
    cli: Cli, spotify: SpotifyReplica, network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nowhere/ca.pem")
    result = cli("lookup", FEW)
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: REQUESTS_CA_BUNDLE names /nowhere/ca.pem, which does not exist: name a file of CA certificates\n",
    )
    with pytest.raises(ConfigError):
        environment_ca_bundle({"SSL_CERT_FILE": "/nowhere/ca.pem"})


def test_https_proxy_is_chosen_for_https_urls_and_no_proxy_is_honoured(
    network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corporate:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert environment_proxies("https://api.spotify.com/v1/search")["https"] == "http://corporate:3128"
    assert environment_proxies("https://internal.example/v1/search") == {}
