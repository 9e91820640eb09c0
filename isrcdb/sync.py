"""Sync: resolve pending codes and refresh stale ones, several requests at a time, as fast as Spotify allows.

How a run works:

- **Selection** streams from the database: codes are *claimed* a few at a time (:func:`isrcdb.store.claim_due`,
  one ``BEGIN IMMEDIATE`` transaction each), pending codes first, then not-found codes past their expiry, then
  found ones, stalest first. Nothing is ever loaded in full, so memory stays flat however many codes are stored.
- **Claims** (``isrcs.claimed_by`` / ``claimed_until``) let syncs on one database, from one machine or many,
  share the work: a code claimed by one is skipped by the others (on PostgreSQL, ``FOR UPDATE SKIP LOCKED``, with
  leases on the server's clock). A claim lasts ``ISRCDB_CLAIM_LEASE`` (5 minutes) and is renewed while the run
  lives; claims of a sync that died on this machine are released when the next one starts, other expired claims
  are taken over. A run with nothing left to claim waits for the codes others still hold, so that a dead run's
  codes are finished by the others once its lease runs out.
- **Threads**: ``concurrency`` workers search, and turn each answer into the rows that store it
  (:func:`isrcdb.store.rows_of`), over the client's pooled connections. The thread that calls :func:`sync` is the
  only one that touches the database: it claims, stores the answers that have arrived
  (:func:`isrcdb.store.save_answers`, which also records changes in ``isrc_changes``), renews claims and reports
  progress. The answers that arrived together and the next claims share one transaction (group commit: one commit
  for up to :data:`MAX_BATCH` codes; on PostgreSQL, each statement sent once for all of them, the writes in one
  pipeline, about six round trips a batch, and the rows they share locked in one order by every writer, so that
  writers on several machines never wait for each other in a circle).
  At most :data:`UNSTORED` x ``concurrency`` codes are claimed and not yet stored at any time (waiting for a worker,
  being searched, or searched and waiting for their commit): a worker goes on to its next code while its last answer
  waits to be committed, and a killed run loses at most those codes' answers; the next run searches them again (a
  request already sent when a process dies is answered to nobody).
- **Pacing**: one :class:`RateGovernor` shared by every worker (see there). A 429 pauses every worker, by the rule
  lookups follow too (:func:`isrcdb.spotify.pacing.after_429`): at least ``Retry-After``, at least a second, longer
  with each 429 in a row. A longer wait than ``max_wait``, a quota 429, or a storm of 429s beyond its bounds ends
  the run: what was done is kept and the time to come back is stored (:meth:`IsrcDB.note_rate_limit`), so that the
  next run says so instead of calling Spotify.
- **Stopping**: setting the ``stop`` event (Ctrl-C or SIGTERM through :func:`stop_signals`) stops claiming, lets
  requests in flight finish for up to :data:`GRACE` seconds, stores their results and releases the other claims.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from isrcdb import store
from isrcdb.cache import IsrcDB, RunState, holder_is_dead, owner_id
from isrcdb.canonical import canonical_order
from isrcdb.clock import to_text
from isrcdb.errors import RateLimited, SpotifyError, UsageError
from isrcdb.spotify.client import SearchResult, SpotifyClient
from isrcdb.spotify.pacing import MIN_PAUSE, Storm, Verdict, after_429
from isrcdb.spotify.transport import Response, when_sent

if TYPE_CHECKING:
    from isrcdb.spotify.parse import Track
    from isrcdb.store import DueRule

__all__ = [
    "GovernorStopped",
    "RateGovernor",
    "StopSignals",
    "SyncOptions",
    "SyncSummary",
    "stop_signals",
    "sync",
]

OTHERS_POLL = 1.0
"""Seconds between two looks, once nothing is left to claim, at codes other runs still hold."""
RENEW_EVERY = 60.0
"""Seconds between renewals of the claims a run holds."""
GRACE = 3.0
"""Seconds a stopping run waits for requests in flight before giving them up."""

INITIAL_RATE = 20.0
"""Requests per second before Spotify's limit is known; multiplied by :data:`GROWTH` at each answer that is no 429."""
GROWTH = 1.2
MAX_RATE = 100_000.0
"""Where the growth stops: far beyond what any worker sends, so that the concurrency, not a pace, is the bound."""
MARGIN = 0.95
"""Once a 429 reveals the limit, pace at this fraction of it."""
WINDOW_SLACK = 0.01
"""The fraction of a window a request waits beyond the window's end, when the window is full."""
MIN_WINDOW_SLACK = 0.05
"""...and at least this many seconds, with a configured ceiling: a request reaches Spotify a little after it is sent."""
MAX_BATCH = 64
"""The most answers stored in one transaction (group commit)."""
UNSTORED = 4
"""Codes claimed and not yet stored, at most, per worker: a worker goes on to its next code while its last answer
waits for its batch to be committed. Codes searched and not yet stored are fewer still: that is all a kill loses."""
PAUSE_POLL = 1.0
"""Seconds between two reads of the rate-limit pause other processes may have stored."""
MIN_LEARN = 10
"""A 429 after fewer requests than this in the window (the window was used by someone else) teaches no limit."""


# --- the rate governor ------------------------------------------------------------------------------------------


class GovernorStopped(Exception):
    """Raised by :meth:`RateGovernor.acquire` once the run is stopping: no request may be sent."""


class RateGovernor:
    """Paces the requests of every worker of a run: one schedule and one pause, shared.

    Spotify allows an unpublished number of requests in a rolling ``window`` (30 s). The governor:

    - before it knows the limit, sends at most ``initial_rate`` requests per second, growing by :data:`GROWTH`
      with each answer that is not a 429, the next request going at the new pace counted from that answer (a slow
      start, clocked by the answers like TCP's, so it takes as few requests and as little time as the latency
      allows; the concurrency soon becomes the real bound);
    - with a configured ``ceiling``, never sends more than that many in any ``window``: the first window (known to
      be empty) at once, as fast as the workers go, then as requests leave the rolling window;
    - on a 429, pauses every worker for as long as :func:`~isrcdb.spotify.pacing.after_429` says (at least
      ``Retry-After`` and a second, doubling with each 429 in a row), and learns the limit: the requests it sent
      in the ``window`` before the refused one. It then paces at :data:`MARGIN` of that, spread evenly (a
      multiplicative decrease on each new 429), adding 1% after each ``window`` without one (additive increase).
      429s of requests already in flight when it cut neither cut again nor count as one more 429 in a row; an
      answer to a request sent after the last 429 ends the storm;
    - on a quota 429, one asking to wait more than ``max_wait`` seconds, or a storm beyond its bounds, halts:
      :meth:`acquire` raises :class:`GovernorStopped` in every worker, :attr:`halted` holds the 429 and
      :attr:`verdict` says why and when to come back.

    Time comes from ``clock`` (monotonic seconds) and ``wait`` (sleep); by default the wait is cut short by
    :meth:`stop`. Both are injectable, so the policy is tested without sleeping.
    """

    def __init__(
        self,
        *,
        window: float = 30.0,
        ceiling: int | None = None,
        max_wait: float = 60.0,
        initial_rate: float = INITIAL_RATE,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
        shared: Callable[[], float] | None = None,
    ) -> None:
        if window <= 0:
            raise UsageError("the rate window must be more than 0 seconds")
        if ceiling is not None and ceiling < 1:
            raise UsageError("the rate limit must be at least 1 request per window")
        self.window = float(window)
        self.ceiling = ceiling
        self.max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wait = wait if wait is not None else self._stopping.wait
        self._shared = shared
        """The budget shared with other processes (see :func:`shared_budget`): seconds until a slot is free, 0
        once one was taken."""
        self._sent: list[float] = []  # send times (sorted), the last two windows' worth
        self._first = 0  # index of the oldest kept entry of _sent
        self._next = -math.inf  # earliest time for the next send
        self._rate = initial_rate
        self._learned: int | None = None
        self._cut_at = -math.inf
        self._clean_since = -math.inf
        self._epoch = 0  # bumped by every 429, so that reservations made before it are redone
        self.pause_until = -math.inf
        self.storm = Storm()
        """The 429s in a row so far (see :mod:`isrcdb.spotify.pacing`)."""
        self.halted: RateLimited | None = None
        self.verdict: Verdict | None = None
        """Why the run halted on a 429, and how long until Spotify may be asked again."""
        self.requests = 0
        """Requests let through (each one a request sent to Spotify)."""
        self.rate_limited = 0
        """429 answers met."""

    # -- state ----------------------------------------------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        """Requests allowed per window: the configured ceiling or the learned limit, whichever is lower."""
        known = [value for value in (self.ceiling, self._learned) if value is not None]
        return min(known) if known else None

    @property
    def learned(self) -> int | None:
        """The pace learned from 429s (requests per window), if any."""
        return self._learned

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Make every :meth:`acquire`, waiting or to come, raise :class:`GovernorStopped`."""
        self._stopping.set()

    # -- pacing ---------------------------------------------------------------------------------------------------

    def _count_since(self, start: float, end: float) -> int:
        """Sends in the open interval (start, end)."""
        lo = bisect.bisect_right(self._sent, start, self._first)
        hi = bisect.bisect_left(self._sent, end, self._first)
        return max(0, hi - lo)

    def _forget_before(self, moment: float) -> None:
        self._first = bisect.bisect_right(self._sent, moment, self._first)
        if self._first > 1024 and self._first * 2 > len(self._sent):
            del self._sent[: self._first]
            self._first = 0

    def reserve(self) -> float:
        """Book the next send slot (a time on ``clock``) under the current rules, and return it."""
        with self._lock:
            return self._reserve()

    def _reserve(self) -> float:
        now = self._clock()
        limit = self.limit
        if limit is None:
            spacing = 1.0 / self._rate
        else:
            if self._learned is not None and now - self._clean_since >= self.window:
                self._learned += max(1, self._learned // 100)
                self._clean_since = now
                limit = self.limit or limit
            # A configured ceiling on a window known to be empty allows the whole window at once (the rolling window
            # below keeps any span of ``window`` to the ceiling); a limit learnt from a 429 is paced evenly.
            spacing = 0.0 if self.ceiling is not None and self._learned is None else self.window / limit
        slot = max(now, self._next, self.pause_until)
        self._forget_before(now - 2 * self.window)
        if limit is not None:
            in_window = len(self._sent) - bisect.bisect_right(self._sent, slot - self.window, self._first)
            if in_window >= limit:
                # A little past the window's end: a request is booked before it is sent, and the one that left the
                # window must really have left it on Spotify's clock too.
                slack = self.window * WINDOW_SLACK
                if self.ceiling is not None:  # whole windows sent at once: the last of a burst leaves a worker late
                    slack = max(slack, MIN_WINDOW_SLACK)
                slot = max(slot, self._sent[len(self._sent) - limit] + self.window + slack)
        self._next = slot + spacing
        bisect.insort(self._sent, slot, self._first)
        return slot

    def sent(self, slot: float) -> None:
        """The request booked at ``slot`` has just been written to its socket: the window counts it from now (a busy
        thread may send it a little after its turn), so that the next window opens when Spotify's does."""
        with self._lock:
            now = self._clock()
            index = bisect.bisect_left(self._sent, slot, self._first)
            if now > slot and index < len(self._sent) and self._sent[index] == slot:
                del self._sent[index]
                bisect.insort(self._sent, now, self._first)

    def sent_once(self, slot: float) -> Callable[[], None]:
        """:meth:`sent` for the request booked at ``slot``, the first time it is called only (the transport may send
        the request again after a failed attempt: that is not another request taken from the budget)."""
        pending = [slot]

        def sent() -> None:
            if pending:
                self.sent(pending.pop())

        return sent

    def _unreserve(self, slot: float) -> None:
        index = bisect.bisect_left(self._sent, slot, self._first)
        if index < len(self._sent) and self._sent[index] == slot:
            del self._sent[index]

    def acquire(self) -> float:
        """Wait for this worker's turn to send a request; returns the send time (to pass to :meth:`on_429`)."""
        while True:
            with self._lock:
                if self._stopping.is_set():
                    raise GovernorStopped
                epoch = self._epoch
                slot = self._reserve()
            delay = slot - self._clock()
            if delay > 0:
                self._wait(delay)
            with self._lock:
                if self._stopping.is_set():
                    self._unreserve(slot)
                    raise GovernorStopped
                if self._epoch != epoch:
                    self._unreserve(slot)  # a 429 arrived while this worker waited: book again under the new rules
                    continue
            if self._shared is not None and not self._take_shared():
                with self._lock:
                    self._unreserve(slot)
                raise GovernorStopped
            with self._lock:
                self.requests += 1
                now = self._clock()
                if now > slot:
                    # Sent later than booked (a worker was busy): the window must count it from when it goes out.
                    self._unreserve(slot)
                    bisect.insort(self._sent, now, self._first)
                    slot = now
                return slot

    def _take_shared(self) -> bool:
        """Wait for a slot of the shared budget; ``False`` if the run stopped meanwhile."""
        assert self._shared is not None
        while not self._stopping.is_set():
            delay = self._shared()
            if delay <= 0:
                return True
            self._wait(min(delay, 1.0))  # short waits: a stop, or a pause stored by another process, is seen soon
        return False

    def on_success(self, sent_at: float | None = None) -> None:
        """A request (sent at ``sent_at``) was answered, not 429: before the limit is known, speed up.

        An answer to a request sent after the last 429 ends a storm; one sent before it was only slower.
        """
        with self._lock:
            if self.limit is None:
                self._rate = min(self._rate * GROWTH, MAX_RATE)
                # The next request goes after the new spacing, counted from this answer: answers clock requests out.
                self._next = min(self._next, self._clock() + 1.0 / self._rate)
            if sent_at is None or sent_at > self._cut_at:
                self.storm = Storm()

    def on_429(self, exc: RateLimited, sent_at: float) -> None:
        """A request sent at ``sent_at`` was answered 429: pause everyone, learn, or halt the run."""
        with self._lock:
            self.rate_limited += 1
            now = self._clock()
            self._epoch += 1
            new_episode = sent_at > self._cut_at
            # A 429 of a request in flight when the last one came is the same refusal, not one more in a row: it
            # is judged alone (a quota, or a Retry-After too long, still halts).
            storm = self.storm if new_episode else Storm()
            verdict = after_429(exc.retry_after, quota=exc.quota, storm=storm, max_wait=self.max_wait)
            if verdict.stop and (new_episode or verdict.action != "storm"):
                if self.halted is None:
                    self.halted, self.verdict = exc, verdict
                self._stopping.set()
                return
            if new_episode:
                self.storm = verdict.storm
                self.pause_until = max(self.pause_until, now + verdict.seconds)
            else:  # it may still ask for longer than the pause in force
                self.pause_until = max(self.pause_until, now + max(verdict.retry_after, MIN_PAUSE))
            self._clean_since = now
            in_window = self._count_since(sent_at - self.window, sent_at)
            if new_episode:  # sent after the last cut: cut once
                if in_window >= MIN_LEARN:
                    base = in_window if self._learned is None else min(self._learned, in_window)
                    self._learned = max(1, math.floor(base * MARGIN))
                elif self._learned is not None:
                    self._learned = max(1, math.floor(self._learned * MARGIN))
                else:
                    self._rate = max(self._rate / 2, 1.0)  # someone else filled the window: slow down, learn later
                self._cut_at = now
            elif in_window >= MIN_LEARN and self._learned is not None:
                # In flight when the cut happened: no second cut, but an earlier-sent refusal refines the estimate.
                self._learned = min(self._learned, max(1, math.floor(in_window * MARGIN)))


class GovernedClient(SpotifyClient):
    """A :class:`SpotifyClient` whose every Web API request waits for the governor, and whose 429s it handles."""

    def __init__(self, base: SpotifyClient, governor: RateGovernor) -> None:
        super().__init__(base.transport, base.auth, base.api_url, market=base.market)
        self.governor = governor

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Response:
        while True:
            sent_at = self.governor.acquire()
            try:
                with when_sent(self.governor.sent_once(sent_at)):
                    response = super().get(path, params)
            except RateLimited as exc:
                self.governor.on_429(exc, sent_at)  # then acquire() waits, or raises when halted
            except SpotifyError:
                self.governor.on_success(sent_at)  # an answer, if a failed one: not a 429 in a row
                raise
            else:
                self.governor.on_success(sent_at)
                return response


# --- options and summary ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncOptions:
    """What a sync does; ``None`` means the setting's value (``concurrency``, ``max_wait``)."""

    limit: int | None = None
    """At most this many codes in this run."""
    older_than: timedelta | None = None
    """Refresh found and not-found codes fetched at least this long ago (``0``: all); ``None``: when expired."""
    concurrency: int | None = None
    max_wait: float | None = None
    """The longest ``Retry-After`` waited for, in seconds; a longer one ends the run."""
    rate_limit: int | None = None
    """A ceiling on requests per ``rate_window`` (for users who know their app's limit)."""
    rate_window: float = 30.0
    dry_run: bool = False


@dataclass
class SyncSummary:
    """What a sync did (or, with ``dry_run``, would do)."""

    status: str = "complete"
    """``complete``, ``limit`` (stopped at the limit), ``rate_limited``, ``failed``, ``interrupted`` or ``dry_run``."""
    message: str | None = None
    """Why the run stopped early, in words."""
    due: int = 0
    """Codes due when the run started (capped by the limit)."""
    handled: int = 0
    found: int = 0
    not_found: int = 0
    first_found: int = 0
    """Pending codes found for the first time (``isrc_changes`` records them as ``found``)."""
    changed: int = 0
    """Codes already answered whose answer changed: a new canonical match, or a not-found code now found."""
    newly_not_found: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    requests: int = 0
    rate_limited: int = 0
    elapsed: float = 0.0
    remaining: int = 0
    """Codes still due when the run ended."""
    come_back_at: datetime | None = None
    plan: dict[str, int] = field(default_factory=dict)
    """Due codes by kind (``pending``, ``not_found``, ``found``), and ``requests`` estimated (dry run)."""

    @property
    def resolved(self) -> int:
        return self.found + self.not_found

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the summary (``isrcdb sync --format json``)."""
        return {
            "status": self.status,
            "message": self.message,
            "due": self.due,
            "resolved": self.resolved,
            "found": self.found,
            "not_found": self.not_found,
            "first_found": self.first_found,
            "changed": self.changed,
            "newly_not_found": self.newly_not_found,
            "errors": self.errors,
            "error_samples": list(self.error_samples),
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "elapsed_s": round(self.elapsed, 3),
            "codes_per_s": round(self.resolved / self.elapsed, 2) if self.elapsed > 0 else None,
            "remaining": self.remaining,
            "come_back_at": to_text(self.come_back_at) if self.come_back_at else None,
            "plan": dict(self.plan),
        }


# --- stopping on signals ----------------------------------------------------------------------------------------


@dataclass
class StopSignals:
    """The stop event a sync watches, and the signal that set it (``None``: none yet)."""

    event: threading.Event = field(default_factory=threading.Event)
    signal: int | None = None


@contextlib.contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """While inside, the first SIGINT (Ctrl-C) or SIGTERM asks a sync to stop cleanly; a second SIGINT interrupts.

    Outside the main thread signals cannot be caught: the event is then only set by whoever holds it.
    """
    stop = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.signal = stop.signal or signum
        stop.event.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class _Done:
    """A worker's answer for one code."""

    code: str
    result: SearchResult | None = None
    tracks: Sequence[Track] = ()
    """The result's tracks in canonical order."""
    rows: store.Rows | None = None
    """The rows that store them, built by the worker (the database thread only writes)."""
    error: BaseException | None = None
    stopped: bool = False


def due_rule(cache: IsrcDB, older_than: timedelta | None) -> DueRule:
    """The selection for a run starting now (see :class:`~isrcdb.store.DueRule`).

    Timestamps have one-second precision. For ``older_than`` under a second (``--all``), this waits for the clock's
    next second, so that codes fetched during the current second count as older while every code the run itself
    stores (from the next second on) does not, and none is searched twice in one run.
    """
    now = cache.clock()
    if older_than is None:
        return store.DueRule(started=now)
    if older_than < timedelta(seconds=1):
        tick = now + timedelta(seconds=1)
        while now < tick:
            cache.sleep(0.02)
            now = cache.clock()
        return store.DueRule(started=now, fetched_before=now)
    return store.DueRule(started=now, fetched_before=now - older_than + timedelta(seconds=1))


class _Run:
    def __init__(
        self,
        cache: IsrcDB,
        options: SyncOptions,
        stop: threading.Event,
        on_progress: Callable[[SyncSummary], None] | None,
        governor: RateGovernor | None,
        monotonic: Callable[[], float],
    ) -> None:
        self.cache = cache
        self.options = options
        self.stop = stop
        self.on_progress = on_progress
        self.monotonic = monotonic
        self.concurrency = options.concurrency or cache.settings.concurrency
        max_wait = options.max_wait if options.max_wait is not None else cache.settings.max_wait
        self.governor = governor or RateGovernor(
            window=options.rate_window,
            ceiling=None if self._shares_budget() else options.rate_limit,
            max_wait=max_wait,
            shared=self._shared_slot if self._shares_budget() else None,
        )
        self.summary = SyncSummary()
        self.owner = owner_id()
        self.state = RunState()
        self.work: queue.Queue[str | None] = queue.Queue()
        self.results: queue.Queue[_Done] = queue.Queue()
        self.outstanding: dict[str, str] = {}  # claimed and not yet stored: code -> status before
        self.release: set[str] = set()
        self.held = False  # whether failed codes are held (released at the end by a scan for the owner)
        self.stopping: float | None = None  # monotonic time the stop began
        self.closed = threading.Event()
        self.pause_checked = -math.inf

    def _shares_budget(self) -> bool:
        """Whether the ceiling is paced through the database, for every process using this app (PostgreSQL)."""
        app = self.cache.settings.app
        return bool(self.options.rate_limit) and self.cache.db.shares_rate_budget and app is not None

    def _shared_slot(self) -> float:
        assert self.options.rate_limit is not None and self.cache.settings.app is not None
        return self.cache.db.take_slot(self.cache.settings.app, self.options.rate_window / self.options.rate_limit)

    # -- the main thread ------------------------------------------------------------------------------------------

    def run(self) -> SyncSummary:
        started = self.monotonic()
        try:
            return self._run()
        finally:
            self.summary.elapsed = self.monotonic() - started

    def _run(self) -> SyncSummary:
        cache, summary, options = self.cache, self.summary, self.options
        until = cache.rate_limited_until()
        if until is not None and not options.dry_run:
            summary.status, summary.come_back_at = "rate_limited", until
            summary.message = f"Spotify's rate limit is in force until {to_text(until)}; not calling Spotify before"
            return summary
        rule = due_rule(cache, options.older_than)
        counts = store.count_due(cache.db, rule, requests=options.dry_run)
        total = sum(codes for codes, _ in counts.values())
        summary.due = min(total, options.limit) if options.limit is not None else total
        if options.dry_run:
            self._plan(counts, until)
            return summary
        if summary.due == 0:
            return summary
        self._release_dead_claims()
        client = cache.client
        client.auth.token()  # bad credentials fail here, before anything is claimed
        governed = GovernedClient(client, self.governor)
        workers = [
            # Each worker in a copy of this context: its messages name settings as the caller knows them.
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._worker, governed),
                name=f"isrcdb-sync-{n}",
                daemon=True,
            )
            for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        try:
            with cache.db.bulk_writes():
                self._loop(rule)
        finally:
            self._finish(workers, rule)
        return summary

    def _plan(self, counts: dict[str, tuple[int, int]], until: datetime | None) -> None:
        summary = self.summary
        summary.status = "dry_run"
        left = summary.due
        requests = 0
        for tier, (codes, pages) in counts.items():
            summary.plan[tier] = codes
            taken = min(left, codes)
            requests += round(pages * taken / codes) if codes else 0
            left -= taken
        summary.plan["requests"] = requests
        summary.remaining = summary.due
        if until is not None:
            summary.come_back_at = until
            summary.message = f"Spotify's rate limit is in force until {to_text(until)}"

    def _release_dead_claims(self) -> None:
        conn = self.cache.db
        for owner in store.claim_owners(conn, self.cache.clock()):
            if holder_is_dead(owner):
                store.release_claims(conn, owner)

    def _loop(self, rule: DueRule) -> None:
        exhausted = False
        claimed = 0
        renewed = self.monotonic()
        limit = self.options.limit
        # Claimed and not yet stored, at most: codes waiting for a worker, being searched, or searched and waiting
        # for their batch to be committed. The last kind is all a kill can lose. Claims come with the answers'
        # transaction.
        most = UNSTORED * self.concurrency
        while True:
            self._check_stop()
            room = most - len(self.outstanding)
            if limit is not None:
                room = min(room, limit - claimed)
                if room <= 0 and claimed >= limit:
                    exhausted = True
                    if self.summary.status == "complete":
                        self.summary.status = "limit"
            claiming = self.stopping is None and (not exhausted or not self.outstanding) and room > 0
            batch = self._arrived(wait=not claiming)
            if batch or claiming:
                with self.cache.db.transaction():
                    if batch:
                        self._handle_batch(batch)
                    if claiming:
                        codes = self._claim(rule, room)
                        if codes:
                            exhausted = False
                            claimed += len(codes)
                        else:
                            exhausted = True
                if batch and self.on_progress is not None:
                    self.on_progress(self.summary)
            if (
                exhausted
                and not self.outstanding
                and self.stopping is None
                and (limit is None or claimed < limit)
                and self._others_hold_due(rule)
            ):
                # Codes another run holds: wait for its answers, or, if it died, for its lease to run out.
                self.stop.wait(OTHERS_POLL)
                exhausted = False
                continue
            if not self.outstanding and (exhausted or self.stopping is not None):
                self._check_stop()  # the last answers may have halted the run: its summary must say so
                return
            if self.stopping is not None and self.monotonic() - self.stopping > GRACE:
                return  # requests still in flight are given up; their claims are released
            if self.monotonic() - renewed > self._renew_every() and self.outstanding:
                store.renew_claims(self.cache.db, self.owner, list(self.outstanding), self._lease_end())
                renewed = self.monotonic()

    def _arrived(self, *, wait: bool) -> list[_Done]:
        """The answers that have arrived (waiting up to a tenth of a second for one, if ``wait``), as many as one
        transaction stores."""
        batch: list[_Done] = []
        try:
            batch.append(self.results.get(timeout=0.1) if wait else self.results.get_nowait())
        except queue.Empty:
            return batch
        while len(batch) < MAX_BATCH:  # whatever else has arrived meanwhile is stored with it
            try:
                batch.append(self.results.get_nowait())
            except queue.Empty:
                break
        return batch

    def _lease(self) -> timedelta:
        """How long a claim lasts: the setting, and at least twice the longest wait for Spotify's rate limit."""
        return max(self.cache.settings.claim_lease, timedelta(seconds=2 * self.governor.max_wait))

    def _lease_end(self) -> datetime:
        return self.cache.clock() + self._lease()

    def _renew_every(self) -> float:
        return min(RENEW_EVERY, self._lease().total_seconds() / 3)

    def _others_hold_due(self, rule: DueRule) -> bool:
        now = self.cache.clock()
        return store.held_by_others(self.cache.db, rule, self.owner, now, now + self._lease()) > 0

    def _claim(self, rule: DueRule, want: int) -> list[tuple[str, str]]:
        codes = store.claim_due(self.cache.db, rule, self.owner, self.cache.clock(), self._lease_end(), want)
        for code, status in codes:
            self.outstanding[code] = status
            self.work.put(code)
        return codes

    def _check_stop(self) -> None:
        if self.stopping is not None:
            return
        summary = self.summary
        if self.governor.halted is not None:
            exc, verdict = self.governor.halted, self.governor.verdict
            if verdict is None:  # a governor given its halting 429 from outside: judge that 429 alone
                verdict = after_429(exc.retry_after, quota=exc.quota, max_wait=self.governor.max_wait)
            until = self.cache.note_rate_limit(verdict.seconds)
            summary.status, summary.come_back_at = "rate_limited", until
            summary.message = f"{verdict.reason(self.governor.max_wait)}; come back after {to_text(until)}"
        elif (elsewhere := self._paused_elsewhere()) is not None:
            summary.status, summary.come_back_at = "rate_limited", elsewhere
            summary.message = (
                f"Spotify's rate limit is in force until {to_text(elsewhere)}, as another process using this Spotify "
                "app met it; stopped, come back after that"
            )
        elif self.state.halted is not None:
            summary.status, summary.message = "failed", self.state.halted
        elif self.stop.is_set():
            summary.status, summary.message = "interrupted", "interrupted"
        else:
            return
        self.stopping = self.monotonic()
        self.governor.stop()
        while True:  # codes not yet started are given back at once
            try:
                code = self.work.get_nowait()
            except queue.Empty:
                break
            if code is not None:
                self.outstanding.pop(code, None)
                self.release.add(code)

    def _paused_elsewhere(self) -> datetime | None:
        """A rate-limit pause another process stored for this app (read every :data:`PAUSE_POLL` seconds), so that
        syncs on several machines stop together."""
        now = self.monotonic()
        if now - self.pause_checked < PAUSE_POLL:
            return None
        self.pause_checked = now
        return self.cache.rate_limited_until()

    def _handle_batch(self, batch: list[_Done]) -> None:
        """Store the answers that have arrived, in one transaction (one commit for many codes: group commit)."""
        summary = self.summary
        with self.cache.db.transaction() if len(batch) > 1 else contextlib.nullcontext():
            before: list[str] = []
            answers = []
            for done in batch:
                status = self.outstanding.pop(done.code, "pending")
                if done.stopped:
                    self.release.add(done.code)
                elif done.error is not None:
                    self._failed(done)
                else:
                    before.append(status)
                    answers.append((done.code, done.tracks, done.rows))
            if answers:
                stored = self.cache._answers(answers)
                for was, answer, changed in zip(before, stored, store.save_answers(self.cache.db, stored), strict=True):
                    found = bool(answer.tracks)
                    summary.found += found
                    summary.not_found += not found
                    # A first answer for a pending code is no change; a new canonical match or a code found
                    # before and not found now is.
                    summary.changed += int(changed and was != "pending")
                    summary.first_found += int(changed and was == "pending")
                    summary.newly_not_found += int(changed and not found)
            summary.handled += len(batch) - sum(done.stopped for done in batch)
        summary.requests, summary.rate_limited = self.governor.requests, self.governor.rate_limited

    def _failed(self, done: _Done) -> None:
        summary = self.summary
        if not isinstance(done.error, SpotifyError):
            raise done.error  # type: ignore[misc]
        self.cache._note_failure(done.code, done.error, self.state)
        # Storing the error dropped the claim: hold it again, so that this run does not retry the code (the next
        # run does). The run's claims are all released at its end.
        store.hold_claims(self.cache.db, self.owner, [done.code], self._lease_end())
        self.held = True
        summary.errors += 1
        if len(summary.error_samples) < 5:
            summary.error_samples.append(f"{done.code}: {done.error}")

    def _finish(self, workers: list[threading.Thread], rule: DueRule) -> None:
        summary = self.summary
        self.governor.stop()
        self.closed.set()
        for _ in workers:
            self.work.put(None)
        while True:  # results that arrived while stopping are still stored
            try:
                self._handle_batch([self.results.get_nowait()])
            except queue.Empty:
                break
            if self.on_progress is not None:
                self.on_progress(summary)
        for worker in workers:
            worker.join(timeout=0.5)
        conn = self.cache.db
        leftover = self.release | set(self.outstanding)
        if self.held:
            store.release_claims(conn, self.owner)
        elif leftover:
            store.release_claims(conn, self.owner, sorted(leftover))
        summary.remaining = sum(codes for codes, _ in store.count_due(conn, rule).values())
        if summary.status == "limit" and not summary.remaining:
            summary.status = "complete"
        summary.requests, summary.rate_limited = self.governor.requests, self.governor.rate_limited
        store.add_counts(conn, {"spotify_requests": summary.requests, "rate_limited": summary.rate_limited})

    # -- worker threads -------------------------------------------------------------------------------------------

    def _worker(self, client: SpotifyClient) -> None:
        while True:
            code = self.work.get()
            if code is None:
                return
            done = _Done(code)
            if self.governor.stopping:
                done.stopped = True
            else:
                try:
                    done.result = client.search_isrc(code)
                    done.tracks = canonical_order(done.result.tracks)
                    done.rows = store.rows_of(done.tracks)
                except GovernorStopped:
                    done.stopped = True
                except BaseException as exc:  # handed to the main thread, which decides
                    done.error = exc
            self.results.put(done)


def sync(
    cache: IsrcDB,
    options: SyncOptions | None = None,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[SyncSummary], None] | None = None,
    governor: RateGovernor | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> SyncSummary:
    """Resolve pending codes and refresh due ones in ``cache``'s database; see the module docstring.

    ``stop`` (an event) asks the run to stop cleanly; ``on_progress`` is called after each code is stored.
    Raises :class:`~isrcdb.errors.SpotifyError` when the credentials are missing or refused (before any claim),
    :class:`~isrcdb.errors.DatabaseError` when the database fails; every other failure of Spotify ends the run
    with a summary saying so.
    """
    run = _Run(cache, options or SyncOptions(), stop or threading.Event(), on_progress, governor, monotonic)
    with cache.db.guard():
        return run.run()
