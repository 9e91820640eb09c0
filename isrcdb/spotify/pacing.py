"""What to do after a 429: wait (how long), or stop the run and store when to come back. Used by lookup and sync.

Spotify's ``Retry-After`` is taken at its word only where its word bounds the run. The transport reads a missing
or unreadable header as 1 s and one that is 0, negative or in the past as 0 s; taken at its word, a 429 repeating
with such a header would have a run ask again at once, forever (hundreds of requests a second, each lengthening
the penalty). So, for 429s *in a row* (a storm: no other answer in between):

- every pause is at least :data:`MIN_PAUSE`, doubled with each further 429 of the storm (1 s, 2 s, 4 s ...), or
  ``Retry-After`` when that is longer;
- a storm may cost at most ``max_wait`` seconds of pauses in all, and at most :data:`MAX_IN_A_ROW` 429s;
- the 429 that would go beyond either bound stops the run, like a quota 429 or a single ``Retry-After`` longer than
  ``max_wait``: what was done is kept and the time to come back is stored, at least :data:`STORM_REST` away.

The rule is :func:`after_429`, a pure function of the 429 and the storm so far; callers own the clock and the sleep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isrcdb.errors import named

MIN_PAUSE = 1.0
"""The shortest pause after a 429, even when ``Retry-After`` says 0: asking again at once lengthens the penalty."""
MAX_IN_A_ROW = 8
"""The most 429s in a row a run meets before it stops, whatever it has waited."""
STORM_REST = 30.0
"""After a storm that stopped the run, come back no sooner than this: one whole window of Spotify's rolling limit."""


@dataclass(frozen=True)
class Storm:
    """The 429s met in a row so far: how many, and the seconds of pause they cost."""

    count: int = 0
    waited: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """What to do after one 429."""

    action: str
    """``wait``, or why the run stops: ``quota``, ``long`` (``Retry-After`` beyond ``max_wait``) or ``storm``."""
    seconds: float
    """For ``wait``, the pause before asking again; for a stop, how long from now to come back."""
    storm: Storm
    """The storm including this 429."""
    retry_after: float = 0.0
    """``Retry-After`` as read, in seconds."""

    @property
    def stop(self) -> bool:
        return self.action != "wait"

    def reason(self, max_wait: float | None = None) -> str:
        """Why the run stopped, in words (``max_wait`` given: a long ``Retry-After`` names the option it exceeds)."""
        if self.action == "quota":
            return "Spotify's quota is exceeded"
        if self.action == "long":
            beyond = "" if max_wait is None else f", more than {named('max_wait')} of {max_wait:g} s"
            return f"Spotify's rate limit asks to wait {self.retry_after:g} s{beyond}"
        if self.action == "storm":
            return (
                f"Spotify's rate limit went on after {self.storm.count} answers 429 in a row "
                f"({self.storm.waited:g} s waited)"
            )
        return f"Spotify's rate limit: waiting {self.seconds:g} s"


def backoff(count: int) -> float:
    """The least pause after the ``count``-th 429 in a row (1-based): :data:`MIN_PAUSE`, doubled each time."""
    return MIN_PAUSE * 2.0 ** min(max(count - 1, 0), 60)


def after_429(retry_after: float, *, quota: bool = False, storm: Storm = Storm(), max_wait: float) -> Verdict:
    """The verdict on a 429 asking to wait ``retry_after`` seconds, met after ``storm``; see the module docstring."""
    asked = retry_after if math.isfinite(retry_after) and retry_after > 0 else 0.0
    count = storm.count + 1
    pause = max(asked, backoff(count))
    if quota:
        return Verdict("quota", max(asked, MIN_PAUSE), Storm(count, storm.waited), asked)
    if asked > max_wait:
        return Verdict("long", max(asked, MIN_PAUSE), Storm(count, storm.waited), asked)
    if count > MAX_IN_A_ROW or storm.waited + pause > max_wait:
        return Verdict("storm", max(pause, STORM_REST), Storm(count, storm.waited), asked)
    return Verdict("wait", pause, Storm(count, storm.waited + pause), asked)
