"""Functions and operators on the json type (text): PG returns slices of
the original text (whitespace and duplicate keys kept), so these walk the
text with JSONDecoder.raw_decode to find each member's span instead of
re-serialising through jsonb.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.json import EACH_JSON, EACH_TEXT, TEXT_ARRAY
from qp.functions.registry import register_function, register_operator
from qp.types.core import INT4, JSON, TEXT
from qp.types.json import (
    encode_json_string,
    json_ordered_pairs,
    json_to_python,
    jsonb_out,
    jsonb_typeof,
    validate_json,
)

_DEC = _json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_WS = " \t\n\r"


# --- json (text) variants -----------------------------------------------------------------------


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def json_members(s: str) -> tuple[str, list[tuple[str | None, str]]]:
    """The top-level value's kind and its members as (key, raw text) spans."""
    i = _skip_ws(s, 0)
    if i >= len(s):
        raise SqlError("22P02", "invalid input syntax for type json")
    c = s[i]
    if c not in "[{":
        return "scalar", []
    out: list[tuple[str | None, str]] = []
    i = _skip_ws(s, i + 1)
    close = "]" if c == "[" else "}"
    if i < len(s) and s[i] == close:
        return ("array" if c == "[" else "object"), out
    while True:
        key = None
        if c == "{":
            key, i = _json.decoder.scanstring(s, i + 1)  # type: ignore[attr-defined]
            i = _skip_ws(s, i)
            i = _skip_ws(s, i + 1)  # ':'
        _, end = _DEC.raw_decode(s, i)
        out.append((key, s[i:end]))
        i = _skip_ws(s, end)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        break
    return ("array" if c == "[" else "object"), out


def _json_scalar_text(raw: str) -> str | None:
    """->> on json: strings unescaped, null is NULL, the rest as written."""
    if raw.startswith('"'):
        return _json.loads(raw)
    if raw == "null":
        return None
    return raw


def json_field(s: str, key: str) -> str | None:
    kind, members = json_members(s)
    if kind != "object":
        return None
    found = None
    for k, raw in members:
        if k == key:
            found = raw
    return found


def json_elem(s: str, i: int) -> str | None:
    kind, members = json_members(s)
    if kind != "array":
        return None
    if i < 0:
        i += len(members)
    return members[i][1] if 0 <= i < len(members) else None


def json_path(s: str, path: list) -> str | None:
    cur: str | None = s
    for p in path:
        if cur is None or p is None:
            return None
        kind, _ = json_members(cur)
        if kind == "object":
            cur = json_field(cur, p)
        elif kind == "array":
            try:
                cur = json_elem(cur, int(p))
            except ValueError:
                return None
        else:
            return None
    return cur


def _nn(f: Callable[..., str | None]) -> Callable[..., str | None]:
    def g(*a: Any) -> str | None:
        r = f(*a)
        return None if r is None else _json_scalar_text(r)
    return g


register_operator("->", JSON, TEXT, JSON, json_field)
register_operator("->", JSON, INT4, JSON, json_elem)
register_operator("->>", JSON, TEXT, TEXT, _nn(json_field))
register_operator("->>", JSON, INT4, TEXT, _nn(json_elem))
register_operator("#>", JSON, TEXT_ARRAY, JSON, json_path)
register_operator("#>>", JSON, TEXT_ARRAY, TEXT, _nn(json_path))
register_function("json_extract_path", [JSON, TEXT_ARRAY], JSON, lambda s, *p: json_path(s, list(p)),
                  variadic=True)
register_function("json_extract_path_text", [JSON, TEXT_ARRAY], TEXT, lambda s, *p: _nn(json_path)(s, list(p)),
                  variadic=True)


def json_typeof(s: str) -> str:
    return jsonb_typeof(json_to_python(s))


def json_array_length(s: str) -> int:
    kind, members = json_members(s)
    if kind != "array":
        raise SqlError("22023", "cannot get array length of a non-array" if kind == "object" else
                       "cannot get array length of a scalar")
    return len(members)


def json_object_keys(s: str) -> Iterator[str]:
    kind, members = json_members(s)
    if kind != "object":
        raise SqlError("22023", f"cannot call json_object_keys on {'an array' if kind == 'array' else 'a scalar'}")
    return (k for k, _ in members if k is not None)


def json_array_elements(s: str) -> Iterator[str]:
    kind, members = json_members(s)
    if kind != "array":
        raise SqlError("22023", "cannot extract elements from an object" if kind == "object" else
                       "cannot extract elements from a scalar")
    return (raw for _, raw in members)


def json_each(s: str) -> Iterator[tuple]:
    kind, members = json_members(s)
    if kind != "object":
        raise SqlError("22023", "cannot deconstruct an array as an object" if kind == "array" else
                       "cannot deconstruct a scalar")
    return ((k, raw) for k, raw in members)


register_function("json_typeof", [JSON], TEXT, json_typeof)
register_function("json_array_length", [JSON], INT4, json_array_length)
register_function("json_object_keys", [JSON], TEXT, json_object_keys, srf=True)
register_function("json_array_elements", [JSON], JSON, json_array_elements, srf=True)
register_function("json_array_elements_text", [JSON], TEXT, lambda s: (_json_scalar_text(r) for r in
                                                                        json_array_elements(s)), srf=True)
register_function("json_each", [JSON], EACH_JSON, json_each, srf=True)
register_function("json_each_text", [JSON], EACH_TEXT, lambda s: ((k, _json_scalar_text(r)) for k, r in
                                                                  json_each(s)), srf=True)
register_function("json_strip_nulls", [JSON], JSON, lambda s: _json_strip(s))


def _json_strip(s: str) -> str:
    def walk(v: Any) -> str:
        if isinstance(v, list) and type(v).__name__ == "_Pairs":
            return "{" + ",".join(encode_json_string(k) + ":" + walk(x) for k, x in v if x is not None) + "}"
        if isinstance(v, list):
            return "[" + ",".join(walk(x) for x in v) + "]"
        return jsonb_out(v)
    return walk(json_ordered_pairs(validate_json(s)))
