"""Feedback on long work, on stderr: a progress bar in a terminal, a short line now and then in a log.

In a terminal, rich draws a bar (done, total, rate, time left) that ends showing the final count, also after
Ctrl-C. Elsewhere (a cron job's log, a pipe), a bar would be noise: one line is written every
:data:`LOG_INTERVAL` seconds instead, so that a long run shows it is alive and how far it got. ``-q`` silences both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from isrcdb.cli import common

LOG_INTERVAL = 60.0
"""Seconds between two progress lines when stderr is not a terminal."""


class Feedback:
    """Progress of ``label`` (``sync``, ``lookup``) on stderr; ``update`` it as work is done.

    ``terminal`` chooses the bar (stderr is a terminal) or the lines; ``interval`` and ``clock`` pace the lines
    (tests give an interval of 0, so that every update writes one).
    """

    def __init__(
        self,
        label: str,
        *,
        terminal: bool,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.enabled = enabled and not common.QUIET
        self.terminal = terminal
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.done = 0
        self.total: int | None = None
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Feedback:
        return self

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s, ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=None, rate="?")

    def update(self, done: int, total: int | None = None, *, show: bool = True) -> None:
        """``done`` items of ``total`` (``None``: not known) are finished. The bar starts at the first update
        with ``show`` (a lookup answered from the cache alone never loads rich, nor draws a bar)."""
        self.done, self.total = done, total
        if not self.enabled:
            return
        if self._bar is None and self.terminal and show:
            self._start_bar()
        if self._bar is not None:
            speed = self._bar.tasks[0].speed  # rich's estimate over the last seconds
            self._bar.update(self._task, total=total, completed=done, rate=f"{speed:.1f}" if speed else "?")
            return
        if self.terminal:
            return
        now = self.clock()
        if now - self.last_line >= self.interval:
            self.last_line = now
            common.err(self.line(now))

    def line(self, now: float) -> str:
        """The progress line for a log: ``sync: 1,200 of 5,000 codes done, 40.0 codes/s, 1m 35s elapsed``."""
        elapsed = now - self.started
        of = f" of {self.total:,}" if self.total is not None else ""
        rate = f", {self.done / elapsed:.1f} codes/s" if elapsed > 0 else ""
        minutes, seconds = divmod(int(elapsed), 60)
        return f"{self.label}: {self.done:,}{of} codes done{rate}, {minutes}m {seconds:02d}s elapsed"

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            # Drawn once more with the last count before the bar stops, so that it never ends on a stale figure
            # (rich redraws only a few times a second, and Ctrl-C may come between two redraws).
            self._bar.update(self._task, total=self.total, completed=self.done)
            self._bar.refresh()
            self._bar.stop()
            self._bar = None
