"""A hostile Spotify on 127.0.0.1: a small threaded HTTP server that answers as a broken or malicious one would.

It serves the token endpoint (``POST /api/token``) and search (``GET /v1/search``). What each answers is set on
:attr:`HostileServer.plan` by the test:

- search: a page with no track (``empty``, what a code not found gets), a body sent a byte at a time
  (``drip-body``), headers sent a byte at a time (``drip-headers``), an endless chunked body (``endless``), a gzip
  bomb of 1 MB expanding to 1 GB (``gzip-bomb``), or a redirect to another address (``redirect``);
- token: a token answer holding any text as the access token and any JSON text as ``expires_in`` (``json``), the
  answer sent a byte at a time (``drip-body``), or a redirect (``redirect``).

Every body that could be taken for an answer is valid JSON, padded with whitespace: a client without limits would
store the code as not found. The server counts the requests on each route and keeps the bearer tokens it is sent.
Its loops end when the client goes away or the server stops, and after :data:`MAX_SECONDS` in any case.

:func:`measured_run` runs isrcdb against it as a real process and measures it: wall time, and peak resident memory
as the process saw it (tests/reliability/measure.py); an address-space limit keeps a client without limits from
taking the machine down with it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.reliability.measure import measured_command, peak_environment, read_peak_mib

EMPTY_PAGE = json.dumps(
    {"tracks": {"href": "", "items": [], "limit": 10, "next": None, "offset": 0, "previous": None, "total": 0}}
).encode()
"""A search page with no track."""

MAX_SECONDS = 60.0
"""The longest any one answer is kept going, whatever the client does."""

MIB = 1024 * 1024
ADDRESS_SPACE = 2 * 1024**3
"""The address space a measured run may take: a limit only a regression reaches (a normal run maps about 0.5 GB)."""


@dataclass
class Plan:
    """What the server answers; change it between runs."""

    search: str = "empty"
    token: str = "plain-token-for-the-hostile-server"
    """The access token the token endpoint hands out, any text."""
    expires_in: str = "3600"
    """``expires_in`` as raw JSON text (``1e400``, ``NaN``, ``"3600"``...)."""
    token_mode: str = "json"
    redirect_to: str = ""
    drip_interval: float = 0.1


class HostileServer:
    """Run with ``with HostileServer() as server:``; :meth:`env` points isrcdb at it."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.requests: Counter[str] = Counter()
        self.bearer_tokens: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hostile = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hostile-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def env(self) -> dict[str, str]:
        return {
            "SPOTIFY_CLIENT_ID": "hostile-client-id",
            "SPOTIFY_CLIENT_SECRET": "hostile-client-secret",
            "ISRCDB_SPOTIFY_API_URL": f"{self.url}/v1",
            "ISRCDB_SPOTIFY_TOKEN_URL": f"{self.url}/api/token",
        }

    def record(self, route: str, authorization: str | None) -> None:
        with self._lock:
            self.requests[route] += 1
            if authorization is not None and authorization.startswith("Bearer "):
                self.bearer_tokens.append(authorization.removeprefix("Bearer "))

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms wait for a delayed ACK
    server: Any

    @property
    def hostile(self) -> HostileServer:
        return self.server.hostile  # type: ignore[no-any-return]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(length, 65536))
        if self.path.split("?")[0] != "/api/token":
            self._send(404, b'{"error": "not_found"}')
            return
        plan = self.hostile.plan
        self.hostile.record("token", None)
        body = f'{{"access_token": {json.dumps(plan.token)}, "token_type": "Bearer", "expires_in": {plan.expires_in}}}'
        if plan.token_mode == "redirect":
            self._redirect(plan.redirect_to)
        elif plan.token_mode == "drip-body":
            self._drip_body(body.encode() + b" " * 100_000)
        else:
            self._send(200, body.encode())

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path != "/v1/search":
            self._send(404, b'{"error": {"status": 404, "message": "not found"}}')
            return
        plan = self.hostile.plan
        self.hostile.record("search", self.headers.get("Authorization"))
        if plan.search == "drip-body":
            self._drip_body(EMPTY_PAGE + b" " * 100_000)
        elif plan.search == "drip-headers":
            self._drip_headers()
        elif plan.search == "endless":
            self._chunked(self._endless())
        elif plan.search == "gzip-bomb":
            self._chunked(_gzip_bomb(), encoding="gzip")
        elif plan.search == "redirect":
            self._redirect(f"{plan.redirect_to}?{query}")
        else:
            self._send(200, EMPTY_PAGE)

    # --- ways to answer -------------------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip_body(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._drip(body)

    def _drip_headers(self) -> None:
        self.close_connection = True
        self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slowly: " + b"a" * 60_000)

    def _drip(self, data: bytes) -> None:
        """``data`` a byte at a time, each sooner than any read timeout, until the client leaves."""
        self.close_connection = True
        started = time.monotonic()
        for byte in data:
            if self.hostile.stopping.is_set() or time.monotonic() - started > MAX_SECONDS:
                return
            if not self._write(bytes([byte])):
                return
            time.sleep(self.hostile.plan.drip_interval)

    def _endless(self) -> Iterator[bytes]:
        yield EMPTY_PAGE
        spaces = b" " * (64 * 1024)
        while True:
            yield spaces

    def _chunked(self, parts: Iterator[bytes], encoding: str | None = None) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        started = time.monotonic()
        for part in parts:
            if self.hostile.stopping.is_set() or time.monotonic() - started > MAX_SECONDS:
                return
            if part and not self._write(b"%x\r\n%s\r\n" % (len(part), part)):
                return
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client went away, as it should
            return False
        return True

    def log_message(self, *args: Any) -> None:
        pass


def _gzip_bomb(expanded: int = 1024 * MIB) -> Iterator[bytes]:
    """A gzip stream of an empty search page and ``expanded`` bytes of spaces: about 1 MB on the wire for 1 GB.

    Made as it is sent, a megabyte of input at a time, so that the server spends little on a client that stops."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    yield compressor.compress(EMPTY_PAGE)
    spaces = b" " * MIB
    for _ in range(expanded // MIB):
        yield compressor.compress(spaces)
    yield compressor.flush()


# --- running isrcdb, measured --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def measured_run(*args: str, timeout: float = 60.0, **env: str) -> Run:
    """``python -m isrcdb ARGS`` as a real process: its exit code, output, wall time and peak resident memory
    (as the process saw it: see tests/reliability/measure.py)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as scratch:
        base, peak_file = peak_environment(Path(scratch))
        started = time.monotonic()
        process = subprocess.Popen(measured_command(*args), env={**base, **env}, stdout=out, stderr=err)
        resource.prlimit(process.pid, resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(process.returncode, out.read().decode(), err.read().decode(), seconds, read_peak_mib(peak_file))
