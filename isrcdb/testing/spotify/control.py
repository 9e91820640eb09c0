"""Control over HTTP, so a test can script a replica running in another process. No token is needed.

================================ =====================================================================================
``GET /_replica/stats``          the counters (same as ``replica.stats()``)
``POST /_replica/reset``         zero the counters, drop pending faults, empty the rate window; answers the counters
``POST /_replica/revoke``        revoke every token: ``{"revoked": n}``
``GET /_replica/faults``         pending faults: ``{"faults": [{"kind": "429", "count": 2, ...}, ...]}``
``POST /_replica/faults``        queue faults: body ``{"kind": "429", "count": 3, "retry_after": 5}``, a list
                                 of those, or ``{"faults": [...]}`` (fields as ``replica.inject``); answers the
                                 pending list
``DELETE /_replica/faults``      drop every pending fault
``GET /_replica/config``         the current settings
``POST /_replica/config``        change ``latency``, ``rate_limit`` (``null`` for none), ``rate_window`` and
                                 ``rate_penalty``; answers the settings
================================ =====================================================================================

Mistakes get 400 (bad JSON or values), 404 (unknown path) or 405 (wrong method), with a Web API error body.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from isrcdb.testing.spotify.faults import fault_from_json
from isrcdb.testing.spotify.responses import Response, api_error, json_response

if TYPE_CHECKING:
    from isrcdb.testing.spotify.replica import SpotifyReplica
    from isrcdb.testing.spotify.server import Exchange

_NO_STORE = "no-store"


def handle_control(replica: SpotifyReplica, exchange: Exchange) -> Response:
    """Answer one ``/_replica/...`` request."""
    path, method = exchange.path.rstrip("/"), exchange.method
    routes = {
        "/_replica/stats": {"GET": _stats},
        "/_replica/reset": {"POST": _reset},
        "/_replica/revoke": {"POST": _revoke},
        "/_replica/faults": {"GET": _faults, "POST": _add_faults, "DELETE": _clear_faults},
        "/_replica/config": {"GET": _config, "POST": _set_config},
    }
    methods = routes.get(path)
    if methods is None:
        return api_error(404, "Service not found")
    handler = methods.get(method)
    if handler is None:
        return api_error(405, "Method not allowed")
    try:
        return handler(replica, exchange)
    except ValueError as error:
        return api_error(400, str(error))


def _ok(payload: Any) -> Response:
    return json_response(200, payload, cache_control=_NO_STORE)


def _stats(replica: SpotifyReplica, exchange: Exchange) -> Response:
    return _ok(replica.stats())


def _reset(replica: SpotifyReplica, exchange: Exchange) -> Response:
    replica.reset()
    return _ok(replica.stats())


def _revoke(replica: SpotifyReplica, exchange: Exchange) -> Response:
    return _ok({"revoked": replica.revoke_tokens()})


def _faults(replica: SpotifyReplica, exchange: Exchange) -> Response:
    return _ok({"faults": [fault.as_dict() for fault in replica.pending_faults()]})


def _add_faults(replica: SpotifyReplica, exchange: Exchange) -> Response:
    data = _json_body(exchange)
    items = data.get("faults") if isinstance(data, dict) and "faults" in data else data
    faults = [fault_from_json(item) for item in (items if isinstance(items, list) else [items])]
    for fault in faults:  # all validated before any is queued
        replica.add_fault(fault)
    return _faults(replica, exchange)


def _clear_faults(replica: SpotifyReplica, exchange: Exchange) -> Response:
    replica.clear_faults()
    return _faults(replica, exchange)


def _config(replica: SpotifyReplica, exchange: Exchange) -> Response:
    return _ok(replica.config())


def _set_config(replica: SpotifyReplica, exchange: Exchange) -> Response:
    data = _json_body(exchange)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    unknown = set(data) - {"latency", "rate_limit", "rate_window", "rate_penalty"}
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    current = replica.config()
    try:
        latency = float(data.get("latency", current["latency"]))
        limit = data.get("rate_limit", current["rate_limit"])
        limit = None if limit is None else int(limit)
        window = float(data.get("rate_window", current["rate_window"]))
        penalty = bool(data.get("rate_penalty", current["rate_penalty"]))
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid settings: {error}") from None
    replica.set_latency(latency)
    if {"rate_limit", "rate_window", "rate_penalty"} & set(data):
        replica.set_rate_limit(limit, window, penalty=penalty)
    return _ok(replica.config())


def _json_body(exchange: Exchange) -> Any:
    try:
        return json.loads(exchange.body or b"null")
    except ValueError:
        raise ValueError("the request body is not JSON") from None
