"""Scripted failures: "answer the next N matching requests with this fault".

Kinds (``count`` requests each, optionally only for one ``route`` and/or one ``isrc``):

=============== ===========================================================================================
kind            what the client gets
=============== ===========================================================================================
``429``         429 ``{"error":{"status":429,"message":"API rate limit exceeded"}}``, ``Retry-After``
                (``retry_after``, default 1 s; or ``retry_after_raw``, sent exactly as written)
``429_bare``    the same 429 without any ``Retry-After`` header
``quota``       429 with ``"reason":"QUOTA_EXCEEDED"`` and ``Retry-After`` (default 3600 s)
``500`` ...     ``500``, ``502``, ``503``, ``504``: that status with a JSON error body (``Retry-After`` when
                ``retry_after`` is given)
``status``      any status given as ``status`` (400-599), JSON error body
``premium``     403 ``Active premium subscription required for the owner of the app.`` (not retryable)
``drop``        the connection is closed without any response
``malformed``   200 whose body is the real answer cut in half (invalid JSON, correct ``Content-Length``)
``truncated``   200 announcing the full ``Content-Length`` but sending half the body, then closing
``wrong_shape`` 200 with valid JSON of the wrong shape, e.g. ``{"tracks": "oops"}`` for a search
``slow``        the normal answer, after ``delay`` seconds
``hang``        nothing until the replica stops (or for ``delay`` seconds, if given), then the connection closes
=============== ===========================================================================================

A fault targeted at an ``isrc`` matches searches for that code and lookups of tracks carrying it. Routes are
``token``, ``search``, ``track`` (one id) and ``tracks`` (several ids). Faults are served before the rate limit
and the token check, in the order they were added; each matching request uses up one.

On the command line and in :func:`parse_fault_spec` a fault is written ``KIND[:COUNT][:key=value]...`` with keys
``route``, ``isrc``, ``retry_after``, ``retry_after_raw``, ``delay`` and ``status``: ``429:3``,
``quota:1:retry_after=7200``, ``503:2:route=search``, ``slow:1:delay=2.5``, ``status:1:status=418:route=token``,
``drop:1:isrc=USRC17607839``, ``429:5:retry_after_raw=soon``. ``retry_after_raw`` takes the rest of the spec, so
that it can hold an HTTP date's colons: ``429:3:route=search:retry_after_raw=Wed, 21 Oct 2015 07:28:00 GMT``.

``retry_after_raw`` is any header text a server might send (``0``, ``-5``, ``soon``, a date in the past, nothing):
it lets a test check that a client stays bounded whatever ``Retry-After`` says.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from typing import Any

from isrcdb.testing.spotify.ids import normalise_isrc
from isrcdb.testing.spotify.responses import Headers, Response, api_error, encode_json, json_response, rate_limited

STATUS_KINDS = ("500", "502", "503", "504")
KINDS = ("429", "429_bare", "quota", *STATUS_KINDS, "status", "premium", "drop", "malformed", "truncated",
         "wrong_shape", "slow", "hang")  # fmt: skip
FAULT_ROUTES = ("token", "search", "track", "tracks")

_MESSAGES = {
    500: "Server error.",
    502: "Bad gateway.",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_WRONG_SHAPES: dict[str | None, Any] = {
    "search": {"tracks": "oops"},
    "track": {"id": 42, "name": None, "external_ids": "oops"},
    "tracks": {"tracks": "oops"},
    "token": {"token_type": "bearer", "expires_in": "soon"},
    None: ["oops"],
}


@dataclass(frozen=True)
class Fault:
    """One scripted failure and how many more requests it applies to."""

    kind: str
    count: int = 1
    route: str | None = None
    isrc: str | None = None
    retry_after: int | None = None
    delay: float | None = None
    status: int | None = None
    retry_after_raw: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (choose from {', '.join(KINDS)})")
        if self.count < 1:
            raise ValueError("a fault needs a count of at least 1")
        if self.route is not None and self.route not in FAULT_ROUTES:
            raise ValueError(f"unknown route {self.route!r} (choose from {', '.join(FAULT_ROUTES)})")
        if self.isrc is not None:
            object.__setattr__(self, "isrc", normalise_isrc(self.isrc))
        if self.kind == "status" and (self.status is None or not 400 <= self.status <= 599):
            raise ValueError("a 'status' fault needs status=400..599")
        if self.kind == "slow" and (self.delay is None or self.delay < 0):
            raise ValueError("a 'slow' fault needs delay=SECONDS")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after cannot be negative")
        if self.retry_after_raw is not None:
            if self.kind not in ("429", "quota", *STATUS_KINDS, "status"):
                raise ValueError(f"a {self.kind!r} fault sends no Retry-After, so retry_after_raw does not apply")
            # A line break would start another header (or end them): the replica must stay a well-formed server.
            if any(ord(char) < 32 or ord(char) == 127 for char in self.retry_after_raw):
                raise ValueError("retry_after_raw cannot hold control characters")

    def matches(self, route: str, isrc: str | None) -> bool:
        """Whether this fault applies to a request on ``route`` concerning ``isrc``."""
        return (self.route is None or self.route == route) and (self.isrc is None or self.isrc == isrc)

    def as_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data (the form ``POST /_replica/faults`` accepts)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def response(self, route: str | None, normal: Response | None = None) -> Response:
        """The HTTP response of a fault that answers (everything but drop, truncated, slow and hang).

        ``normal`` is the answer the request would have had; ``malformed`` cuts it in half.
        """
        if self.kind == "429_bare":
            return api_error(429, "API rate limit exceeded")
        if self.retry_after_raw is not None and self.kind in ("429", "quota"):
            headers: Headers = (("Retry-After", self.retry_after_raw),)
            if self.kind == "quota":
                return api_error(429, "API quota exceeded", reason="QUOTA_EXCEEDED", headers=headers)
            return api_error(429, "API rate limit exceeded", headers=headers)
        if self.kind in ("429", "quota"):
            default = 1 if self.kind == "429" else 3600
            return rate_limited(default if self.retry_after is None else self.retry_after, quota=self.kind == "quota")
        if self.kind == "premium":
            return api_error(403, "Active premium subscription required for the owner of the app.")
        if self.kind in (*STATUS_KINDS, "status"):
            status = int(self.kind) if self.kind in STATUS_KINDS else int(self.status or 500)
            if self.retry_after_raw is not None:
                headers = (("Retry-After", self.retry_after_raw),)
            else:
                headers = () if self.retry_after is None else (("Retry-After", str(self.retry_after)),)
            return api_error(status, _message(status), headers=headers)
        if self.kind == "wrong_shape":
            return json_response(200, _WRONG_SHAPES.get(route, _WRONG_SHAPES[None]))
        if self.kind == "malformed":
            body = normal.body if normal is not None and normal.status == 200 else encode_json({"tracks": {}})
            cut = body[: max(1, len(body) // 2)]
            return Response(200, cut, json_response(200, None).headers)
        raise ValueError(f"a {self.kind!r} fault has no response of its own")


class FaultQueue:
    """Pending faults, consumed by matching requests in the order they were added (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def take(self, route: str, isrc: str | None) -> Fault | None:
        """Use up one application of the first fault matching this request, if any."""
        if not self._faults:  # the common case, without taking the lock
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(route, isrc):
                    if fault.count > 1:
                        self._faults[index] = replace(fault, count=fault.count - 1)
                    else:
                        del self._faults[index]
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """The faults still queued, with their remaining counts."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()


def parse_fault_spec(spec: str) -> Fault:
    """Read ``KIND[:COUNT][:key=value]...`` (see the module docstring) into a :class:`Fault`."""
    kind, *parts = spec.strip().split(":")
    fields: dict[str, Any] = {}
    for position, part in enumerate(parts):
        key, equals, value = part.partition("=")
        if equals and key.strip().replace("-", "_") == "retry_after_raw":
            # The rest of the spec, colons and spaces included: an HTTP date has both.
            fields["retry_after_raw"] = ":".join([value, *parts[position + 1 :]])
            break
        try:
            if not equals:
                if position != 0:
                    raise ValueError(f"expected key=value, got {part!r}")
                fields["count"] = int(part)
                continue
            key = key.strip().replace("-", "_")
            if key in ("count", "retry_after", "status"):
                fields[key] = int(value)
            elif key == "delay":
                fields[key] = float(value)
            elif key in ("route", "isrc"):
                fields[key] = value.strip()
            else:
                raise ValueError(f"unknown key {key!r}")
        except ValueError as error:
            raise ValueError(f"invalid fault {spec!r}: {error}") from None
    try:
        return Fault(kind.strip().lower(), **fields)
    except ValueError as error:
        raise ValueError(f"invalid fault {spec!r}: {error}") from None


def fault_from_json(data: Any) -> Fault:
    """A :class:`Fault` from the JSON form (``{"kind": "429", "count": 3, ...}``); ``ValueError`` when invalid."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str | int):
        raise ValueError("a fault is an object with a 'kind'")
    allowed = {"kind", "count", "route", "isrc", "retry_after", "retry_after_raw", "delay", "status"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    try:
        return Fault(
            kind=str(data["kind"]).lower(),
            count=int(data.get("count", 1)),
            route=data.get("route"),
            isrc=data.get("isrc"),
            retry_after=None if data.get("retry_after") is None else int(data["retry_after"]),
            delay=None if data.get("delay") is None else float(data["delay"]),
            status=None if data.get("status") is None else int(data["status"]),
            retry_after_raw=None if data.get("retry_after_raw") is None else str(data["retry_after_raw"]),
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid fault {data!r}: {error}") from None


def _message(status: int) -> str:
    if status in _MESSAGES:
        return _MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
