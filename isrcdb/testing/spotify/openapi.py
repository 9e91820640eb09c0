"""The Spotify Web API's published schemas, as plain JSON Schema for validating replica (or client) responses.

``data/openapi-schemas.json`` is an unmodified extract of sonallux/spotify-web-api's ``fixed-spotify-open-api.yml``
(MIT, version 2026.5.31; see ``data/openapi-schemas.NOTICE.md``). Its schemas are OpenAPI 3.0 schema objects; this
module inlines their ``$ref``s and turns ``nullable: true`` into a ``"null"`` type, so that any JSON Schema validator
(``jsonschema`` in the tests) can use them. Only the standard library is needed here.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from isrcdb.testing.spotify.catalogue import DATA_DIR

Json = dict[str, Any]

SCHEMAS_FILE = DATA_DIR / "openapi-schemas.json"


@functools.cache
def definition() -> Json:
    """The stored OpenAPI extract, as loaded from JSON (treat as read-only)."""
    data: Json = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    return data


def component_schema(name: str) -> Json:
    """``#/components/schemas/<name>`` as a self-contained JSON Schema."""
    schema: Json = _resolve({"$ref": f"#/components/schemas/{name}"}, ())
    return schema


def response_schema(name: str) -> Json:
    """The ``application/json`` body schema of ``#/components/responses/<name>``, self-contained."""
    response = definition()["components"]["responses"][name]
    schema: Json = _resolve(response["content"]["application/json"]["schema"], ())
    return schema


def operation(path: str, method: str = "get") -> Json:
    """The stored operation object of ``path`` (e.g. ``/search``), ``$ref``s left as they are."""
    found: Json = definition()["paths"][path][method]
    return found


def query_parameter(path: str, name: str) -> Json:
    """The resolved parameter ``name`` of ``GET path`` (e.g. ``limit`` of ``/search``)."""
    for parameter in operation(path)["parameters"]:
        resolved: Json = _resolve(parameter, ())
        if resolved.get("name") == name:
            return resolved
    raise KeyError(f"GET {path} has no parameter {name!r}")


def _resolve(node: Any, seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise ValueError(f"recursive $ref {ref} cannot be inlined")
        return _resolve(_lookup(ref), (*seen, ref))
    resolved = {key: _resolve(value, seen) for key, value in node.items()}
    if resolved.pop("nullable", False) is True and isinstance(resolved.get("type"), str):
        resolved["type"] = [resolved["type"], "null"]
    return resolved


def _lookup(ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref}")
    node: Any = definition()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return copy.deepcopy(node)
