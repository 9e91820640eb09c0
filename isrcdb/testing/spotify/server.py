"""HTTP plumbing: a threaded HTTP/1.1 server (stdlib ``http.server``) that hands each request to an application.

Nothing here knows about Spotify. The application (the replica) turns an :class:`Exchange` into an action:
a :class:`~isrcdb.testing.spotify.responses.Response` to send, or one of the transport faults :class:`Drop`,
:class:`Truncate` and :class:`Hang`. Connections are kept alive between requests (HTTP/1.1); each response goes
out in a single write, with Nagle's algorithm off, so keep-alive clients see no delayed-ACK stalls. Stopping the
server closes every open connection, so no pooled client connection outlives it.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from isrcdb.testing.spotify.responses import Response, api_error

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Exchange:
    """An incoming request: method, path, parsed query, headers (lower-case names) and body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Truncate:
    """Announce ``response`` in full, send half of its body, then close the connection."""

    response: Response


@dataclass(frozen=True)
class Hang:
    """Answer nothing until the server stops (or ``timeout`` seconds pass), then close the connection."""

    timeout: float | None = None


Action = Response | Drop | Truncate | Hang


class Application(Protocol):
    """What the server needs from the application it serves."""

    stopping: threading.Event
    access_log: Callable[[str], None] | None

    def begin(self, exchange: Exchange) -> Any:
        """Note the arrival of a request; the result is passed back to ``respond`` and ``end``."""

    def respond(self, exchange: Exchange, tag: Any) -> Action:
        """Decide what to do with a request (may sleep)."""

    def end(self, tag: Any, outcome: str) -> None:
        """Note how the request ended: the status sent, as a string, or ``"dropped"``."""


class ReplicaHTTPServer(ThreadingHTTPServer):
    """A thread per connection; remembers open connections so that stopping can close them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Application) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can be slow and leave the machine.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then finish)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away, or the server is stopping
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "isrcdb-spotify-replica"
    sys_version = ""
    wbufsize = 1 << 16  # buffer the headers and the body: one send per response
    disable_nagle_algorithm = True
    server: ReplicaHTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        app = self.server.app
        exchange = self._exchange()
        if exchange is None:
            return
        tag = app.begin(exchange)
        ended = False

        def end(outcome: str) -> None:
            # Counted before the last byte leaves, so a client that reads the stats right after its
            # response always finds the request there.
            nonlocal ended
            if not ended:
                ended = True
                app.end(tag, outcome)

        try:
            try:
                action = app.respond(exchange, tag)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                action = api_error(500, "Replica error: see its standard error")
            self._perform(action, app, end)
        finally:
            end("dropped")

    def _exchange(self) -> Exchange | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._write(api_error(400, "Invalid Content-Length"))
            return None
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        return Exchange(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )

    def _perform(self, action: Action, app: Application, end: Callable[[str], None]) -> None:
        if isinstance(action, Response):
            end(str(action.status))
            self._write(action)
            return
        self.close_connection = True
        if isinstance(action, Truncate):
            end(str(action.response.status))
            self._write(action.response, cut=True)
            return
        if isinstance(action, Hang):
            app.stopping.wait(action.timeout)
        end("dropped")

    def _write(self, response: Response, *, cut: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection and not cut:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2] if cut else response.body)
        self.wfile.flush()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        access_log = self.server.app.access_log
        if access_log is not None:
            access_log(f"{self.address_string()} - {format % args}")
