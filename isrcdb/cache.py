"""The read-through cache: answer from the database when fresh, otherwise ask Spotify and keep the answer.

:class:`IsrcDB` is the Python API; the CLI is a thin shell over it. One :class:`IsrcDB` may be shared by the threads
of a program: each thread uses its own database connection, and all share one Spotify client (one pool of
connections, one access token).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple

from isrcdb import store
from isrcdb.clock import Clock, format_duration, from_text, to_text, utcnow
from isrcdb.errors import (
    AuthError,
    BadResponse,
    DatabaseError,
    InvalidIsrc,
    RateLimited,
    SpotifyError,
    TransientError,
    UsageError,
    named,
)
from isrcdb.isrc import validate
from isrcdb.settings import MAX_DURATION, Settings
from isrcdb.spotify.pacing import MIN_PAUSE, Storm, after_429
from isrcdb.store import HELD, Entry, Match

if TYPE_CHECKING:
    from isrcdb.database.base import Database
    from isrcdb.importer import ImportReport
    from isrcdb.spotify.client import SpotifyClient
    from isrcdb.spotify.parse import Track
    from isrcdb.sync import SyncSummary

__all__ = ["IsrcDB", "LookupResult", "Match", "Source", "Status"]

Status = Literal["found", "not_found", "invalid", "error"]
"""What a lookup says about a code: found on Spotify, not found there, not a valid ISRC, or no answer (see
:attr:`LookupResult.error`)."""
Source = Literal["cache", "spotify", "none"]
"""Where an answer came from: the cache, Spotify just now, or nowhere (an invalid code, an error)."""

ANONYMOUS_APP = "-"
"""The app a pause is stored for when no client id is known (a pause met through a client given in code)."""
BATCH = 500
MAX_CONSECUTIVE_FAILURES = 3
CLAIM_WAIT = 10.0
"""Seconds, in all, that one lookup waits for the answers of codes a running sync is searching at that moment;
beyond them it searches itself (a sync stuck behind a long pause does not stall a lookup)."""
CLAIM_POLL = 0.05
"""Seconds between two looks at a code a sync is searching."""
LOOKUP_LEASE = 120.0
"""Seconds a lookup's claim on the code it searches lasts, at least: if the lookup dies, others take over then."""
PAUSE_CHECK = timedelta(seconds=2)
"""How often a long lookup reads the stored rate-limit pause, so that a pause met elsewhere stops it too."""


class LookupResult(NamedTuple):
    """The answer for one distinct input code (an immutable named tuple)."""

    isrc: str
    status: Status
    """``found``, ``not_found``, ``invalid`` or ``error``."""
    source: Source
    """``cache``, ``spotify`` or ``none``."""
    fetched: str | None = None
    """When Spotify was asked, as stored (ISO 8601 UTC text); :attr:`fetched_at` is the datetime."""
    expires: str | None = None
    """Until when the answer is fresh, as stored; :attr:`expires_at` is the datetime."""
    match_count: int = 0
    canonical: Match | None = None
    matches: tuple[Match, ...] = ()
    """Every match, canonical first (filled when asked for all matches)."""
    error: str | None = None
    stale: bool = False
    json: str | None = None
    """For a fresh cache hit asked with ``as_json``: :meth:`to_dict` already encoded as JSON (by SQLite)."""

    @property
    def fetched_at(self) -> datetime | None:
        """When Spotify was asked (an aware UTC datetime), ``None`` if never."""
        return from_text(self.fetched) if self.fetched else None

    @property
    def expires_at(self) -> datetime | None:
        """Until when the answer is fresh (an aware UTC datetime), ``None`` without an answer."""
        return from_text(self.expires) if self.expires else None

    def to_dict(self, *, all_matches: bool = False) -> dict[str, Any]:
        """The JSON shape of a result (see the README): flat keys, the canonical match's fields inline."""
        # One dict literal per branch: this runs once per code of a 100,000-code lookup.
        track = self.canonical
        if track is None:
            data: dict[str, Any] = {
                "isrc": self.isrc, "status": self.status, "source": self.source, "stale": self.stale,
                "fetched_at": self.fetched, "expires_at": self.expires, "match_count": self.match_count,
                "spotify_id": None, "name": None, "artists": None, "album": None, "album_type": None,
                "release_date": None, "duration_ms": None, "explicit": None, "spotify_url": None,
                "error": self.error,
            }  # fmt: skip
        else:
            data = {
                "isrc": self.isrc, "status": self.status, "source": self.source, "stale": self.stale,
                "fetched_at": self.fetched, "expires_at": self.expires, "match_count": self.match_count,
                "spotify_id": track.spotify_id, "name": track.name, "artists": list(track.artists),
                "album": track.album, "album_type": track.album_type, "release_date": track.release_date,
                "duration_ms": track.duration_ms, "explicit": track.explicit, "spotify_url": track.spotify_url,
                "error": self.error,
            }  # fmt: skip
        if all_matches:
            data["matches"] = [match.to_dict() for match in self.matches]
        return data


def track_to_match(track: Track) -> Match:
    album = track.album
    return Match(
        spotify_id=track.id,
        name=track.name,
        artists=tuple(artist.name for artist in track.artists),
        album=album.name if album else None,
        album_type=album.album_type if album else None,
        release_date=album.release_date if album else None,
        duration_ms=track.duration_ms,
        explicit=track.explicit,
        spotify_url=track.spotify_url,
    )


@dataclass
class Outcome:
    """What fetching one code from Spotify did (used by lookup and sync)."""

    result: LookupResult
    requests: int = 0
    changed: bool = False
    newly_not_found: bool = False


@dataclass
class RunState:
    """Per-run bookkeeping: counts, and the reason Spotify is no longer asked in this run."""

    halted: str | None = None
    consecutive_failures: int = 0
    cache_hits: int = 0
    requests: int = 0
    rate_limited: int = 0
    waits: list[float] = field(default_factory=list)
    storm: Storm = field(default_factory=Storm)
    """The 429s met in a row (see :mod:`isrcdb.spotify.pacing`); any other answer ends the storm."""
    claim_wait: float = CLAIM_WAIT
    """Seconds still allowed for waiting on codes a sync or another lookup is searching."""
    claimed: bool = False
    """Whether this run holds the claim of the code it is searching."""
    pause_checked: datetime | None = None
    """When the stored rate-limit pause was last read."""


class IsrcDB:
    """A cache of ISRC lookups in a database (SQLite, or PostgreSQL for a team), filled from Spotify on demand.

    >>> with IsrcDB("catalogue.sqlite3") as cache:            # doctest: +SKIP
    ...     for result in cache.lookup(["USRC17607839"]):
    ...         print(result.status, result.canonical and result.canonical.name)

    ``database`` is a file path, an ``sqlite:///`` URL or a ``postgresql://`` URL; it overrides the settings'
    database. ``settings`` default to the environment variables (``SPOTIFY_CLIENT_ID``, ``ISRCDB_*``); a ``.env``
    file is read only by :meth:`from_env`, as the CLI does. ``clock`` and ``sleep`` are seams for tests; ``on_wait``
    is called with the seconds and the code before each wait for Spotify's rate limit.

    One object may be shared by the threads of a program: the database and the Spotify client are made once, on
    first use, each thread gets its own database connection, and all threads share one pool of HTTP connections and
    one access token. Each thread's lookups claim the codes they search, so two threads asking for the same code
    search it once.
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        client: SpotifyClient | None = None,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        base = settings if settings is not None else Settings.from_mapping(os.environ)
        self.settings: Settings = base.with_options(database=database) if database is not None else base
        """The resolved settings (read-only: a frozen dataclass)."""
        self.clock = clock
        self.sleep = sleep
        self.on_wait = on_wait
        self._client = client
        self._db: Database | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @classmethod
    def from_env(
        cls,
        database: str | os.PathLike[str] | None = None,
        *,
        dotenv: str | os.PathLike[str] | None = ".env",
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> IsrcDB:
        """An :class:`IsrcDB` configured as the ``isrcdb`` command is: the environment variables, then the ``dotenv``
        file (``.env`` in the working directory by default; real environment variables win; ``None``: no file)."""
        env: dict[str, str] = {}
        if dotenv is not None and os.path.isfile(dotenv):
            from isrcdb.settings import read_dotenv

            env = read_dotenv(Path(dotenv))
        settings = Settings.from_mapping({**env, **os.environ})
        return cls(database, settings=settings, clock=clock, sleep=sleep, on_wait=on_wait)

    # --- resources --------------------------------------------------------------------------------------------

    @property
    def path(self) -> Path | str:
        """Where the cache is: a file path, or a ``postgresql://`` URL."""
        return self.settings.database

    @property
    def _owner(self) -> str:
        """Who this thread's claims belong to: ``host:pid:random`` (see :func:`holder_is_dead`).

        One per thread, so that the threads sharing this object claim codes from each other as separate lookups
        would: a code one thread is searching is waited for by the others, not searched twice.
        """
        owner: str | None = getattr(self._local, "owner", None)
        if owner is None:
            owner = self._local.owner = owner_id()
        return owner

    @property
    def db(self) -> Database:
        """The cache database, opened (created and migrated if needed) on first use; one connection per thread."""
        if self._db is None:
            with self._lock:  # two threads asking first at once must not open (and migrate) it twice
                if self._db is None:
                    from isrcdb.database import open_database

                    self._db = open_database(self.settings.database)
        return self._db

    @property
    def client(self) -> SpotifyClient:
        """The Spotify client, made on first use and shared by every thread (one connection pool, one token)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from isrcdb.spotify.client import client_from_settings

                    self._client = client_from_settings(self.settings)
        return self._client

    def close(self) -> None:
        """Close the database connections and the Spotify client; the object may be used again afterwards."""
        with self._lock:
            db, self._db = self._db, None
            client = self._client
        if db is not None:
            db.close()
        if client is not None:
            client.close()

    def __enter__(self) -> IsrcDB:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- lookup -----------------------------------------------------------------------------------------------

    def lookup(
        self,
        codes: Iterable[str],
        *,
        refresh: bool = False,
        offline: bool = False,
        ttl: timedelta | None = None,
        all_matches: bool = False,
        as_json: bool = False,
    ) -> list[LookupResult]:
        """Look ``codes`` up and return one result per distinct code, in input order; see :meth:`iter_lookup`."""
        return list(
            self._iter_lookup(
                codes, refresh=refresh, offline=offline, ttl=ttl, all_matches=all_matches, as_json=as_json
            )
        )

    def iter_lookup(
        self,
        codes: Iterable[str],
        *,
        refresh: bool = False,
        offline: bool = False,
        ttl: timedelta | None = None,
        all_matches: bool = False,
        as_json: bool = False,
    ) -> Iterator[LookupResult]:
        """One result per distinct code, in input order, streamed in batches (``codes`` may be a generator of any
        length: memory stays bounded).

        A fresh cached entry is answered from the database. A stale or missing one is searched on Spotify (unless
        ``offline``); if Spotify fails, a stale entry is still answered (``stale=True``, ``error`` says why).
        ``refresh`` ignores freshness; ``ttl`` overrides how long found results stay fresh, for judging and storing.
        ``all_matches`` fills :attr:`LookupResult.matches`. ``as_json`` fills :attr:`LookupResult.json` of fresh
        cache hits (without ``all_matches``), for writers that stream JSON.
        """
        return self._iter_lookup(
            codes, refresh=refresh, offline=offline, ttl=ttl, all_matches=all_matches, as_json=as_json
        )

    def _iter_lookup(
        self,
        codes: Iterable[str],
        *,
        refresh: bool = False,
        offline: bool = False,
        ttl: timedelta | None = None,
        all_matches: bool = False,
        as_json: bool = False,
        state: RunState | None = None,
    ) -> Iterator[LookupResult]:
        """:meth:`iter_lookup`, keeping the run's counts and halt reason in ``state`` (the CLI reports them)."""
        if refresh and offline:
            raise UsageError("refresh and offline cannot be used together")
        if ttl is not None and ttl > MAX_DURATION:
            raise UsageError(f"the TTL {format_duration(ttl)} is too long (at most {MAX_DURATION.days} days)")
        return self._lookup_codes(codes, refresh, offline, ttl, all_matches, as_json, state or RunState())

    def _lookup_codes(
        self,
        codes: Iterable[str],
        refresh: bool,
        offline: bool,
        ttl: timedelta | None,
        all_matches: bool,
        as_json: bool,
        run: RunState,
    ) -> Iterator[LookupResult]:
        seen: set[str] = set()
        batch: list[tuple[str, str | None]] = []  # (code or raw input, reason if invalid)
        try:
            # Corrupt pages, a full disk, a lock held beyond the busy timeout: one DatabaseError naming the cache.
            with self.db.guard():
                for raw in codes:
                    text = raw.strip()
                    if not text:
                        continue
                    try:
                        code, reason = validate(text), None
                    except InvalidIsrc as exc:
                        # An invalid line is echoed back to name it, but not a megabyte of it.
                        code, reason = (text if len(text) <= 100 else f"{text[:97]}..."), exc.reason
                    if code in seen:
                        continue
                    seen.add(code)
                    batch.append((code, reason))
                    if len(batch) >= BATCH:
                        yield from self._lookup_batch(batch, refresh, offline, ttl, all_matches, run, as_json)
                        batch = []
                if batch:
                    yield from self._lookup_batch(batch, refresh, offline, ttl, all_matches, run, as_json)
        finally:
            counts = {"cache_hits": run.cache_hits, "spotify_requests": run.requests, "rate_limited": run.rate_limited}
            if any(counts.values()):
                try:
                    with self.db.guard():
                        store.add_counts(self.db, counts)
                except DatabaseError:
                    # Counting hits is bookkeeping: a cache that cannot be written (a read-only file or mount)
                    # still answers from what it holds. A run that asked Spotify had to write, and says so.
                    if run.requests or run.rate_limited:
                        raise

    # --- import and sync --------------------------------------------------------------------------------------

    def import_codes(
        self,
        source: str | os.PathLike[str] | Iterable[str],
        *,
        column: str | None = None,
        delimiter: str | None = None,
        stdin: BinaryIO | None = None,
    ) -> ImportReport:
        """Store codes as pending, without asking Spotify (:meth:`sync` resolves them later); returns the report.

        ``source`` is a file (a path; ``"-"`` reads ``stdin``, standard input by default) read as ``isrcdb import``
        reads it (one code a line, or a CSV column found from its header or named by ``column``, its separator
        recognised or given as ``delimiter``), or an iterable of codes. Invalid codes are counted and listed in the
        report, never stored. Raises :class:`~isrcdb.errors.UsageError` for a file that cannot be read.
        """
        from isrcdb.importer import ImportReport, import_file, import_values

        if isinstance(source, str | os.PathLike):
            return import_file(
                self.db, os.fspath(source), column=column, delimiter=delimiter, clock=self.clock, stdin=stdin
            )
        report = ImportReport(source="<values>")
        with self.db.guard():
            return import_values(
                self.db, ((number, code) for number, code in enumerate(source, 1)), report, clock=self.clock
            )

    def sync(
        self,
        *,
        limit: int | None = None,
        older_than: timedelta | None = None,
        concurrency: int | None = None,
        max_wait: float | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        dry_run: bool = False,
        stop: threading.Event | None = None,
        on_progress: Callable[[SyncSummary], None] | None = None,
    ) -> SyncSummary:
        """Resolve the pending codes and refresh the expired ones, many requests in flight at once; returns what
        was done (or, with ``dry_run``, what would be).

        ``limit`` caps the codes handled in this run; ``older_than`` also refreshes answers fetched at least that
        long ago (``timedelta(0)``: every code). ``concurrency``, ``max_wait`` (seconds), ``rate_limit`` and
        ``rate_window`` (seconds) default to the settings. Setting the event ``stop`` ends the run cleanly;
        ``on_progress`` is called with the summary so far after each code is stored. A run that meets Spotify's
        rate limit stops and says when to come back (:attr:`SyncSummary.come_back_at`) rather than raise.
        """
        from isrcdb.settings import check_concurrency, check_rate_limit
        from isrcdb.sync import SyncOptions, sync

        options = SyncOptions(
            limit=limit,
            older_than=older_than,
            concurrency=check_concurrency(concurrency) if concurrency is not None else self.settings.concurrency,
            max_wait=max_wait if max_wait is not None else self.settings.max_wait,
            rate_limit=check_rate_limit(rate_limit) if rate_limit is not None else self.settings.rate_limit,
            rate_window=rate_window if rate_window is not None else self.settings.rate_window,
            dry_run=dry_run,
        )
        if limit is not None and limit < 0:
            raise UsageError(f"the limit must be 0 or more, not {limit}")
        if options.rate_window <= 0:
            raise UsageError("the rate window must be more than 0 seconds")
        return sync(self, options, stop=stop, on_progress=on_progress)

    def _lookup_batch(
        self,
        batch: list[tuple[str, str | None]],
        refresh: bool,
        offline: bool,
        ttl: timedelta | None,
        all_matches: bool,
        run: RunState,
        as_json: bool = False,
    ) -> Iterator[LookupResult]:
        valid = [code for code, reason in batch if reason is None]
        entries = store.get_entries(self.db, valid, as_json=as_json and not all_matches) if valid else {}
        matches = store.get_matches(self.db, valid) if all_matches and entries else {}
        is_fresh = freshness(self.clock(), ttl)
        for code, reason in batch:
            if reason is not None:
                yield LookupResult(isrc=code, status="invalid", source="none", error=reason)
                continue
            entry = entries.get(code)
            if entry is not None and not refresh and is_fresh(entry):
                run.cache_hits += 1
                yield cached_result(entry, matches.get(code, ()), stale=False)
            elif offline:
                message = f"not in the cache, and {named('offline')} does not ask Spotify"
                yield fallback(code, entry, matches.get(code, ()), message)
            else:
                yield self._fetch(
                    code,
                    entry,
                    run,
                    ttl=ttl,
                    all_matches=all_matches,
                    stored_matches=matches.get(code, ()),
                    refresh=refresh,
                ).result

    # --- fetching ---------------------------------------------------------------------------------------------

    def rate_limited_until(self) -> datetime | None:
        """When Spotify's rate limit, as last met by this Spotify app (client id), allows calling again
        (``None``: no pause in force). Every process using the app and this cache sees the same pause."""
        pause = store.get_pause(self.db, self.settings.app or ANONYMOUS_APP)
        if pause is None:
            return None
        until = from_text(pause[0])
        return until if until > self.clock() else None

    def note_rate_limit(self, seconds: float | RateLimited, reason: str | None = None) -> datetime:
        """Remember that this Spotify app may call again in ``seconds`` (or a 429's ``Retry-After``); returns when.

        The pause belongs to the app (client id) that earned it: other credentials sharing the cache are not held.
        """
        if isinstance(seconds, RateLimited):
            reason = reason or ("quota exceeded" if seconds.quota else "rate limited")
            seconds = seconds.retry_after
        until = self.clock() + timedelta(seconds=max(MIN_PAUSE, seconds))
        store.set_pause(self.db, self.settings.app or ANONYMOUS_APP, until, reason, self.clock())
        return until

    def clear_rate_limit(self) -> int:
        """Forget this app's stored pause (all apps' without a client id); returns how many were cleared."""
        return store.clear_pause(self.db, self.settings.app or ANONYMOUS_APP)

    def _fetch(
        self,
        code: str,
        entry: Entry | None,
        run: RunState,
        *,
        ttl: timedelta | None = None,
        all_matches: bool = False,
        stored_matches: Iterable[Match] = (),
        refresh: bool = False,
    ) -> Outcome:
        """Search ``code`` on Spotify and store the answer; on failure fall back to what is stored.

        A code that a running sync is searching at this moment is not searched twice: the lookup waits briefly for
        the sync's answer (:meth:`_await_claim`) and gives that.
        """
        now = self.clock()
        if run.halted is None and (run.pause_checked is None or now - run.pause_checked >= PAUSE_CHECK):
            # At the start of a run and every few seconds: a pause another process stored (a sync on another
            # machine met a quota) stops this lookup too.
            run.pause_checked = now
            until = self.rate_limited_until()
            if until is not None:
                run.halted = f"Spotify's rate limit is in force until {to_text(until)}; try again after that"
        if run.halted is None:
            stored = self._claim_or_wait(code, entry, run, refresh=refresh)
            if stored is not None:
                matches = store.get_matches(self.db, [code]).get(code, ()) if all_matches else ()
                return Outcome(cached_result(stored, matches, stale=False))
        try:
            return self._search(code, entry, run, ttl=ttl, all_matches=all_matches, stored_matches=stored_matches)
        finally:
            if run.claimed:
                # Stored answers and errors drop the claim with them; anything else (a halt, refused credentials)
                # gives the code back here, so that nobody waits for an answer that will not come.
                run.claimed = False
                store.release_claims(self.db, self._owner, [code])

    def _claim_or_wait(self, code: str, entry: Entry | None, run: RunState, *, refresh: bool) -> Entry | None:
        """Claim ``code`` for this lookup, or wait for the answer of whoever holds it (a sync, another lookup).

        Returns that answer, or ``None`` when this lookup should search the code itself (it then holds the claim,
        unless the holder could neither be waited for nor displaced).
        """
        for _ in range(3):
            stored = self._await_claim(code, entry, run, refresh=refresh)
            if stored is not None:
                return stored
            now = self.clock()
            lease = timedelta(seconds=max(LOOKUP_LEASE, 2 * self.settings.max_wait + self.settings.request_deadline))
            if store.claim_code(self.db, code, self._owner, now, now + lease):
                run.claimed = True
                # An answer stored between the look above and this claim (another thread's, or another process's
                # search that ended just then) is given, not searched again.
                claim = store.get_claim(self.db, code)
                before = entry.fetched_at if entry is not None else None
                if not refresh and claim is not None and claim[2] is not None and claim[2] != before:
                    stored = store.get_entries(self.db, [code]).get(code)
                    if stored is not None and stored.status in ("found", "not_found"):
                        run.claimed = False
                        store.release_claims(self.db, self._owner, [code])
                        return stored
                return None
            if run.claim_wait <= 0:
                return None
        return None

    def _search(
        self,
        code: str,
        entry: Entry | None,
        run: RunState,
        *,
        ttl: timedelta | None,
        all_matches: bool,
        stored_matches: Iterable[Match],
    ) -> Outcome:
        while run.halted is None:
            try:
                result = self.client.search_isrc(code)
            except RateLimited as exc:
                run.rate_limited += 1
                verdict = after_429(exc.retry_after, quota=exc.quota, storm=run.storm, max_wait=self.settings.max_wait)
                run.storm = verdict.storm
                if not verdict.stop:
                    run.waits.append(verdict.seconds)
                    if self.on_wait is not None:
                        self.on_wait(verdict.seconds, code)
                    self.sleep(verdict.seconds)
                    continue
                until = self.note_rate_limit(verdict.seconds)
                run.halted = f"{verdict.reason()}; stopped, come back after {to_text(until)}"
            except (AuthError, SpotifyError) as exc:
                run.storm = Storm()
                return self._failed(code, entry, stored_matches, exc, run)
            else:
                run.storm = Storm()
                run.requests += result.requests
                run.consecutive_failures = 0
                run.claimed = False  # storing the answer drops the claim
                return self._store_result(
                    code, result.tracks, ttl=ttl, all_matches=all_matches, requests=result.requests
                )
        return Outcome(fallback(code, entry, stored_matches, run.halted))

    def _await_claim(self, code: str, entry: Entry | None, run: RunState, *, refresh: bool = False) -> Entry | None:
        """If a running sync is searching ``code``, wait for its answer (within ``run.claim_wait``) and return it.

        ``None`` means: search it yourself (nobody holds it, the holder gave up on it or died, or the wait ran out).
        A sync stores each answer as it arrives and drops the claim in the same transaction, so an answer stored
        while this waited is the sync's. An answer stored by anyone since ``entry`` was read (at the start of its
        batch) is given too, unless ``refresh`` asks for a search of this lookup's own. The wait is counted in
        sleeps, not read from a clock, so that an injected sleep bounds it too.
        """
        before = entry.fetched_at if entry is not None else None
        waited = False
        while True:
            claim = store.get_claim(self.db, code)
            if claim is None:
                return None
            owner, until, fetched_at = claim
            if fetched_at != before and (waited or not refresh):
                stored = store.get_entries(self.db, [code]).get(code)
                return stored if stored is not None and stored.status in ("found", "not_found") else None
            if owner is None or until is None or until < to_text(self.clock()) or owner.endswith(HELD):
                return None
            if run.claim_wait <= 0 or holder_is_dead(owner):
                return None
            self.sleep(CLAIM_POLL)
            run.claim_wait -= CLAIM_POLL
            waited = True

    def _note_failure(self, code: str, exc: SpotifyError, run: RunState) -> Outcome:
        """Record that searching ``code`` failed, as :meth:`_fetch` does: store the error, or halt ``run``."""
        return self._failed(code, None, (), exc, run)

    def _failed(
        self, code: str, entry: Entry | None, stored: Iterable[Match], exc: SpotifyError, run: RunState
    ) -> Outcome:
        message = str(exc)
        per_code = isinstance(exc, BadResponse) or (isinstance(exc, TransientError) and exc.status is not None)
        if per_code:
            run.consecutive_failures += 1
            if run.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                run.halted = f"Spotify failed {run.consecutive_failures} times in a row; last: {message}"
        elif isinstance(exc, AuthError | TransientError) or exc.status in (None, 403):
            run.halted = message
        with_store = not isinstance(exc, AuthError) and exc.status != 403
        if with_store:
            store.save_error(self.db, code, message, self.clock())
        return Outcome(fallback(code, entry, stored, message))

    def _store_result(
        self,
        code: str,
        tracks: Iterable[Track],
        *,
        ttl: timedelta | None = None,
        all_matches: bool = False,
        requests: int = 0,
    ) -> Outcome:
        """Store Spotify's answer for ``code`` (every match, canonical first) and describe it."""
        return self._store_results([(code, tracks, requests)], ttl=ttl, all_matches=all_matches)[0]

    def _store_results(
        self,
        answers: Sequence[tuple[str, Iterable[Track], int]],
        *,
        ttl: timedelta | None = None,
        all_matches: bool = False,
    ) -> list[Outcome]:
        """Store Spotify's answers (code, tracks, requests it took) in one transaction, and describe each."""
        from isrcdb.canonical import canonical_order

        stored = self._answers([(code, canonical_order(tracks), None) for code, tracks, _ in answers], ttl=ttl)
        saved = store.save_answers(self.db, stored)
        outcomes = []
        for answer, (_, _, requests), changed in zip(stored, answers, saved, strict=True):
            fetched, expires = to_text(answer.fetched_at), to_text(answer.expires_at)
            if answer.tracks:
                found = [track_to_match(track) for track in answer.tracks]
                result = LookupResult(
                    isrc=answer.isrc,
                    status="found",
                    source="spotify",
                    fetched=fetched,
                    expires=expires,
                    match_count=len(found),
                    canonical=found[0],
                    matches=tuple(found) if all_matches else (),
                )
                outcomes.append(Outcome(result, requests=requests, changed=changed))
            else:
                result = LookupResult(
                    isrc=answer.isrc, status="not_found", source="spotify", fetched=fetched, expires=expires
                )
                outcomes.append(Outcome(result, requests=requests, changed=changed, newly_not_found=changed))
        return outcomes

    def _answers(
        self,
        answers: Iterable[tuple[str, Sequence[Track], store.Rows | None]],
        *,
        ttl: timedelta | None = None,
    ) -> list[store.Answer]:
        """Spotify's answers (code, tracks in canonical order, their rows if built) as they are stored now, each
        with its expiry (a code found: ``ttl`` or the setting; not found: the setting for not-found codes)."""
        now = self.clock()
        found_until = now + (ttl if ttl is not None else self.settings.ttl)
        not_found_until = now + self.settings.not_found_ttl
        return [
            store.Answer(code, tracks, now, found_until if tracks else not_found_until, rows)
            for code, tracks, rows in answers
        ]


def host_id() -> str:
    """The name of this machine in claims: ``ISRCDB_HOST_ID``, or the host name (at most 40 characters)."""
    import socket  # here: a lookup answered from the cache claims nothing

    return (os.environ.get("ISRCDB_HOST_ID", "").strip() or socket.gethostname())[:40].replace(":", "_")


def owner_id() -> str:
    """``host:pid:random``: who holds a claim (the pid lets the next run on this host see a dead holder)."""
    return f"{host_id()}:{os.getpid()}:{os.urandom(4).hex()}"


def holder_is_dead(owner: str) -> bool:
    """Whether the process holding a claim (``host:pid:...``, see :func:`isrcdb.sync.owner_id`) is gone.

    Only a process on this machine can be known dead; one elsewhere is trusted until its claim expires.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if os.name != "posix" or host != host_id() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by someone else
    return False


def freshness(now: datetime, ttl: timedelta | None = None) -> Callable[[Entry], bool]:
    """A test of whether an entry is fresh at ``now``; ``ttl`` overrides the stored expiry of found entries.

    Stored timestamps are fixed-width UTC text, so comparing the text compares the times.
    """
    expiry_cutoff = to_text(now)
    fetched_cutoff = to_text(now - ttl) if ttl is not None else None

    def is_fresh(entry: Entry) -> bool:
        if entry.status not in ("found", "not_found") or entry.fetched_at is None:
            return False
        if fetched_cutoff is not None and entry.status == "found":
            return entry.fetched_at > fetched_cutoff
        return entry.expires_at is not None and entry.expires_at > expiry_cutoff

    return is_fresh


def cached_result(entry: Entry, matches: Iterable[Match], *, stale: bool, error: str | None = None) -> LookupResult:
    status: Status = "found" if entry.status == "found" else "not_found" if entry.status == "not_found" else "error"
    answer = entry.json if not stale and error is None and status == entry.status else None
    return LookupResult(
        entry.isrc, status, "cache", entry.fetched_at, entry.expires_at, entry.match_count, entry.canonical,
        tuple(matches), error, stale, answer,
    )  # fmt: skip


def fallback(code: str, entry: Entry | None, matches: Iterable[Match], message: str) -> LookupResult:
    """What to answer when Spotify was not asked or failed: the stored entry marked stale, or an error."""
    if entry is not None and entry.status in ("found", "not_found"):
        return cached_result(entry, matches, stale=True, error=message)
    return LookupResult(isrc=code, status="error", source="none", error=message)
