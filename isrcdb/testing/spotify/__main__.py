"""``isrcdb-spotify-replica`` / ``python -m isrcdb.testing.spotify``: run the Spotify replica from a shell.

Two modes:

- serve: start, print ``Spotify replica ready: token URL ..., API URL ...`` on stdout, serve until SIGINT/SIGTERM;
- wrap: ``isrcdb-spotify-replica [options] -- COMMAND [ARGS...]`` starts the replica on a free port (unless
  ``--port`` is given), runs COMMAND with ``SPOTIFY_CLIENT_ID``, ``SPOTIFY_CLIENT_SECRET``,
  ``ISRCDB_SPOTIFY_API_URL`` and ``ISRCDB_SPOTIFY_TOKEN_URL`` added to the environment (everything else, such as
  ``ISRCDB_DATABASE``, stays as it is), stops the replica and exits with COMMAND's exit status. The ready line then
  goes to stderr, so COMMAND's stdout stays clean.

Exit status: 0 after serving, COMMAND's status when wrapping (128+N if it died of signal N, 127 if it could not be
found), 1 when the replica cannot start (e.g. the port is taken), 2 for invalid options.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from isrcdb.testing.spotify.catalogue import Catalogue, CatalogueError
from isrcdb.testing.spotify.faults import parse_fault_spec
from isrcdb.testing.spotify.profiles import PROFILES
from isrcdb.testing.spotify.replica import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SpotifyReplica
from isrcdb.testing.spotify.synthetic import DEFAULT_PREFIXES

PROG = "isrcdb-spotify-replica"
EPILOG = """\
faults (--fail, repeatable): KIND[:COUNT][:key=value]...
  kinds: 429, 429_bare (429 without Retry-After), quota (429 with reason QUOTA_EXCEEDED), 500, 502, 503, 504,
         status (with status=N),
         premium (403, premium required), drop (close without answering), malformed (200, half a body),
         truncated (200, connection closed mid-body), wrong_shape (200, valid JSON of the wrong shape),
         slow (answer after delay=SECONDS), hang (never answer until the replica stops)
  keys:  route=token|search|track|tracks, isrc=CODE, retry_after=SECONDS, delay=SECONDS, status=N,
         retry_after_raw=TEXT (the Retry-After header as written, e.g. soon or -5; last, as it takes the rest)
  e.g.   --fail 429:3  --fail quota:1:retry_after=7200  --fail 503:2:route=search  --fail slow:1:delay=2.5

control over HTTP while it runs: GET <root>/_replica/stats, POST <root>/_replica/faults (JSON fault),
POST <root>/_replica/reset, POST <root>/_replica/revoke, GET|POST <root>/_replica/config

examples:
  isrcdb-spotify-replica --port 8765
  isrcdb-spotify-replica --profile extended --rate-limit 100 --rate-window 30 --fail 429:2
  isrcdb-spotify-replica -- isrcdb lookup USRC17607839
"""


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [options] [-- COMMAND [ARGS...]]",
        description="Serve a local replica of Spotify's token endpoint and Web API (search, tracks). "
        "With '-- COMMAND', run COMMAND against it and exit with COMMAND's status.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    where.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    app = parser.add_argument_group("the app")
    app.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help=f"accepted client id (default {DEFAULT_CLIENT_ID})")
    app.add_argument(
        "--client-secret", default=DEFAULT_CLIENT_SECRET, help=f"accepted secret (default {DEFAULT_CLIENT_SECRET})"
    )
    app.add_argument(
        "--profile", choices=sorted(PROFILES), default="development",
        help="development: 2026 rules (limit 5/10, no batch endpoint, fields removed; default); extended: old rules",
    )  # fmt: skip
    app.add_argument("--token-expires-in", type=int, default=3600, metavar="SECONDS", help="token lifetime (3600)")
    data = parser.add_argument_group("catalogue")
    data.add_argument(
        "--catalogue", action="append", type=Path, default=[], metavar="FILE",
        help="JSON file (or folder of them) of track objects, search or several-tracks responses (repeatable)",
    )  # fmt: skip
    data.add_argument("--real", action="store_true", help="add the bundled real Spotify responses")
    data.add_argument("--no-sample", action="store_true", help="leave out the built-in sample catalogue")
    data.add_argument(
        "--synthetic-prefix", action="append", metavar="PREFIX",
        help=f"ISRC prefix answered synthetically (repeatable; default {', '.join(DEFAULT_PREFIXES)})",
    )  # fmt: skip
    data.add_argument("--no-synthetic", action="store_true", help="answer no code synthetically")
    data.add_argument(
        "--synthetic-not-found", nargs="?", type=float, const=0.1, default=0.0, metavar="FRACTION",
        help="synthetic codes without releases: alone, those whose last digit is 0 (0.1); or another fraction",
    )  # fmt: skip
    trouble = parser.add_argument_group("trouble")
    trouble.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="added to every request")
    trouble.add_argument("--rate-limit", type=int, metavar="R", help="allow R Web API requests per window, then 429")
    trouble.add_argument("--rate-window", type=float, default=30.0, metavar="SECONDS", help="window length (30)")
    trouble.add_argument("--rate-penalty", action="store_true", help="calls while limited lengthen the wait")
    trouble.add_argument("--fail", action="append", default=[], metavar="SPEC", help="scripted fault (see below)")
    parser.add_argument("--access-log", action="store_true", help="log every request on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``isrcdb-spotify-replica``; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command: list[str] | None = None
    if "--" in arguments:
        split = arguments.index("--")
        arguments, command = arguments[:split], arguments[split + 1 :]
    parser = build_parser()
    args = parser.parse_args(arguments)
    if command is not None and not command:
        parser.error("'--' must be followed by a command to run")
    try:
        replica = _replica(args)
        faults = [parse_fault_spec(spec) for spec in args.fail]
    except (ValueError, CatalogueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    try:
        replica.start()
    except OSError as error:
        print(f"Error: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    try:
        for fault in faults:
            replica.add_fault(fault)
        _announce(replica, sys.stderr if command is not None else sys.stdout, serving=command is None)
        return _serve() if command is None else _run(command, replica)
    finally:
        replica.stop()


def _replica(args: argparse.Namespace) -> SpotifyReplica:
    catalogue = Catalogue() if args.no_sample else Catalogue.sample()
    if args.real:
        catalogue = catalogue.merged(Catalogue.real())
    if args.catalogue:
        catalogue = catalogue.merged(Catalogue.from_files(args.catalogue))
    prefixes: tuple[str, ...] = () if args.no_synthetic else tuple(args.synthetic_prefix or DEFAULT_PREFIXES)
    return SpotifyReplica(
        catalogue,
        client_id=args.client_id,
        client_secret=args.client_secret,
        profile=args.profile,
        synthetic_prefixes=prefixes,
        synthetic_not_found=args.synthetic_not_found,
        token_expires_in=args.token_expires_in,
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_penalty=args.rate_penalty,
        host=args.host,
        port=args.port,
        access_log=_log_to_stderr if args.access_log else None,
    )


def _announce(replica: SpotifyReplica, stream: TextIO, *, serving: bool) -> None:
    """The ready line; when serving, also the ``export`` lines that point isrcdb at it, to paste into another
    shell. Running one command needs neither the lines nor Ctrl-C: the replica stops when the command ends."""
    print(f"Spotify replica ready: token URL {replica.token_url}, API URL {replica.api_url}", file=stream, flush=True)
    stop = "; stop with Ctrl-C" if serving else ""
    print(
        f"({replica.profile.name} profile, {len(replica.catalogue)} catalogue tracks; control at"
        f" {replica.root_url}/_replica/stats{stop})",
        file=sys.stderr,
        flush=True,
    )
    if serving:
        print("# Point isrcdb at it: paste these lines into another shell", file=stream)
        for name, value in replica.env().items():
            print(f"export {name}={shlex.quote(value)}", file=stream)
        stream.flush()


def _serve() -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        pass
    print("Spotify replica stopped", file=sys.stderr, flush=True)
    return 0


def _run(command: list[str], replica: SpotifyReplica) -> int:
    try:
        child = subprocess.Popen(command, env={**os.environ, **replica.env()})
    except FileNotFoundError:
        print(f"Error: command not found: {command[0]}", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"Error: cannot run {command[0]}: permission denied", file=sys.stderr)
        return 126

    def forward(signum: int, frame: FrameType | None) -> None:
        # Ctrl-C reaches the child from the terminal too; SIGTERM is passed on. The replica outlives the child.
        if signum != signal.SIGINT:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = child.wait()
    return 128 - status if status < 0 else status


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
