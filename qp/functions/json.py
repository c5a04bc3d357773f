"""jsonb operators and functions, and the conversion of SQL values to
JSON (to_json[b], the builders, the json aggregates use it).

jsonb values are Python JSON (see types/json.py); functions on the json
type itself (text) are in json_text.py.

SQL values become JSON as datum_to_json does: numbers stay numbers
(NaN/Infinity become strings), timestamps use ISO 8601 with a 'T', arrays
become arrays, records objects; json output of SQL arrays/records has no
spaces after commas, jsonb output always has them.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.registry import register_function, register_operator
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import BOOL, INT4, JSON, JSONB, TEXT, SqlType, array_of, record_type
from qp.types.datetime import (
    date_out,
    format_offset,
    timestamp_out,
    utc_offset,
)
from qp.types.json import (
    Jsonb,
    encode_json_string,
    json_to_python,
    jsonb_cmp,
    jsonb_out,
    jsonb_pretty,
    jsonb_typeof,
    make_object,
)
from qp.types.numeric import float8_out, numeric_out
from qp.types.text_io import text_out

TEXT_ARRAY = array_of(TEXT)
_DEC = _json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_WS = " \t\n\r"


# --- SQL value -> JSON ---------------------------------------------------------------------


def _iso_ts(us: int) -> str:
    s = timestamp_out(us)
    if s in ("infinity", "-infinity"):
        return s
    return s.replace(" ", "T", 1)


def _iso_tstz(us: int, tz: Any) -> str:
    if us in (C.TS_POS_INF, C.TS_NEG_INF):
        return "infinity" if us > 0 else "-infinity"
    off = utc_offset(tz, us)
    body = timestamp_out(us + off * 1000000).replace(" ", "T", 1)
    bc = ""
    if body.endswith(" BC"):
        body, bc = body[:-3], " BC"
    o = format_offset(off)
    if len(o) == 3:
        o += ":00"
    return body + o + bc


def to_json_value(t: SqlType) -> Callable[[EvalContext, Any], Any]:
    """(ctx, value) -> jsonb-form Python value for a SQL value of type t."""
    oid = t.oid
    if t.is_array and oid not in (22, 30):
        assert t.elem is not None
        ef = to_json_value(t.elem)

        def arr(ctx: EvalContext, v: list) -> list:
            return [None if x is None else arr(ctx, x) if type(x) is list else ef(ctx, x) for x in v]
        return arr
    if oid in (20, 21, 23, 26):
        return lambda ctx, v: Decimal(v)
    if oid == 1700:
        return lambda ctx, v: v if v.is_finite() else numeric_out(v)
    if oid in (700, 701):
        def fl(ctx: EvalContext, v: float) -> Any:
            if v != v or v in (float("inf"), float("-inf")):
                return float8_out(v)
            return Decimal(text_out(t, ctx)(v))
        return fl
    if oid == 16:
        return lambda ctx, v: v
    if oid == 3802:
        return lambda ctx, v: v.value
    if oid == 114:
        return lambda ctx, v: _json_to_jsonb(v)
    if oid == 1114:
        return lambda ctx, v: _iso_ts(v)
    if oid == 1184:
        return lambda ctx, v: _iso_tstz(v, ctx.tzinfo)
    if oid == 1082:
        return lambda ctx, v: date_out(v)
    if oid == 2249:
        if t.fields is None:
            def rec_any(ctx: EvalContext, v: tuple) -> dict:
                return make_object((f"f{i + 1}", _guess_json(ctx, x)) for i, x in enumerate(v))
            return rec_any
        names = [n for n, _ in t.fields]
        convs = [to_json_value(ft) for _, ft in t.fields]
        return lambda ctx, v: make_object((n, None if x is None else f(ctx, x))
                                          for n, f, x in zip(names, convs, v, strict=False))
    if oid in (25, 1043, 19, 705):
        return lambda ctx, v: v
    out = text_out(t) if oid not in (17, 700, 701, 1184) else None
    if out is not None:
        return lambda ctx, v: out(v)
    return lambda ctx, v: text_out(t, ctx)(v)


def _guess_json(ctx: EvalContext, x: Any) -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return Decimal(x)
    if isinstance(x, Decimal):
        return x if x.is_finite() else numeric_out(x)
    if isinstance(x, Jsonb):
        return x.value
    if isinstance(x, list):
        return [_guess_json(ctx, y) for y in x]
    return str(x)


def _json_to_jsonb(s: str) -> Any:
    return json_to_python(s)


def to_json_text(t: SqlType) -> Callable[[EvalContext, Any], str]:
    """(ctx, value) -> json text as datum_to_json writes it (no spaces in
    arrays and records)."""
    oid = t.oid
    if t.is_array and oid not in (22, 30):
        assert t.elem is not None
        ef = to_json_text(t.elem)

        def arr(ctx: EvalContext, v: list) -> str:
            return "[" + ",".join("null" if x is None else arr(ctx, x) if type(x) is list else ef(ctx, x)
                                  for x in v) + "]"
        return arr
    if oid == 114:
        return lambda ctx, v: v
    if oid == 3802:
        return lambda ctx, v: jsonb_out(v.value)
    if oid == 2249:
        if t.fields is None:
            def rec_any(ctx: EvalContext, v: tuple) -> str:
                return "{" + ",".join(f'"f{i + 1}":' + _json_text_guess(ctx, x) for i, x in enumerate(v)) + "}"
            return rec_any
        names = [encode_json_string(n) for n, _ in t.fields]
        convs = [to_json_text(ft) for _, ft in t.fields]
        return lambda ctx, v: "{" + ",".join(n + ":" + ("null" if x is None else f(ctx, x))
                                             for n, f, x in zip(names, convs, v, strict=False)) + "}"
    if oid in (700, 701):
        # json keeps the float's own text (1e+20); only NaN/Infinity are quoted
        def fl(ctx: EvalContext, v: float) -> str:
            s = text_out(t, ctx)(v)
            return '"' + s + '"' if s in ("NaN", "Infinity", "-Infinity") else s
        return fl
    conv = to_json_value(t)

    def scalar(ctx: EvalContext, v: Any) -> str:
        return jsonb_out(conv(ctx, v))
    return scalar


def _json_text_guess(ctx: EvalContext, x: Any) -> str:
    return "null" if x is None else jsonb_out(_guess_json(ctx, x))


def _to_jsonb_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    conv = to_json_value(args[0])
    return lambda ctx, v: Jsonb(conv(ctx, v))


def _to_json_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    return to_json_text(args[0])


register_function("to_jsonb", [C.ANYELEMENT], JSONB, factory=_to_jsonb_factory, ctx=True, volatility="s")
register_function("to_json", [C.ANYELEMENT], JSON, factory=_to_json_factory, ctx=True, volatility="s")
register_function("row_to_json", [C.RECORD], JSON, factory=_to_json_factory, ctx=True, volatility="s")


def _row_to_json_pretty_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    plain = to_json_text(args[0])

    def row_to_json(ctx: EvalContext, v: tuple, pretty: bool) -> str:
        text = plain(ctx, v)
        if not pretty or args[0].fields is None:
            return text
        # composite_to_json's pretty form: each field after the first on its own line.
        convs = [to_json_text(ft) for _, ft in args[0].fields]
        parts = [encode_json_string(n) + ":" + ("null" if x is None else f(ctx, x))
                 for (n, _), f, x in zip(args[0].fields, convs, v, strict=False)]
        return "{" + ",\n ".join(parts) + "}"

    return row_to_json


register_function("row_to_json", [C.RECORD, BOOL], JSON, factory=_row_to_json_pretty_factory, ctx=True,
                  volatility="s")
register_function("array_to_json", [C.ANYARRAY], JSON, factory=_to_json_factory, ctx=True, volatility="s")


def _key_text(t: SqlType, i: int) -> Callable[[EvalContext, Any], str]:
    if t.is_array or t.oid in (114, 3802, 2249):
        def bad(ctx: EvalContext, v: Any) -> str:
            raise SqlError("22023", "key value must be scalar, not array, composite, or json")
        return bad
    out = text_out(t) if t.oid not in (17, 700, 701, 1184) else None
    if t.oid in (25, 1043, 705, 19):
        return lambda ctx, v: v
    if out is not None:
        return lambda ctx, v: out(v)
    return lambda ctx, v: text_out(t, ctx)(v)


def _build_object_factory(jsonb: bool) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    def factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        if len(args) % 2:
            def odd(ctx: EvalContext, *vals: Any) -> Any:
                raise SqlError("22023", "argument list must have even number of elements",
                               hint=f"The arguments of {'jsonb' if jsonb else 'json'}_build_object() must "
                                    "consist of alternating keys and values.")
            return odd
        keys = [_key_text(args[i], i) for i in range(0, len(args), 2)]
        vals_j = [to_json_value(args[i]) for i in range(1, len(args), 2)]
        vals_t = [to_json_text(args[i]) for i in range(1, len(args), 2)]

        def build(ctx: EvalContext, *vals: Any) -> Any:
            pairs = []
            for k in range(0, len(vals), 2):
                if vals[k] is None:
                    raise SqlError("22023", f"argument {k + 1} cannot be null", hint="Object keys should be text.")
                key = keys[k // 2](ctx, vals[k])
                v = vals[k + 1]
                if jsonb:
                    pairs.append((key, None if v is None else vals_j[k // 2](ctx, v)))
                else:
                    pairs.append((key, "null" if v is None else vals_t[k // 2](ctx, v)))
            if jsonb:
                return Jsonb(make_object(pairs))
            return "{" + ", ".join(encode_json_string(k) + " : " + v for k, v in pairs) + "}"
        return build
    return factory


def _build_array_factory(jsonb: bool) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    def factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        convs_j = [to_json_value(t) for t in args]
        convs_t = [to_json_text(t) for t in args]

        def build(ctx: EvalContext, *vals: Any) -> Any:
            if jsonb:
                return Jsonb([None if v is None else f(ctx, v) for f, v in zip(convs_j, vals, strict=False)])
            return "[" + ", ".join("null" if v is None else f(ctx, v) for f, v in zip(convs_t, vals, strict=False)) + "]"
        return build
    return factory


for _jb, _rt in ((False, JSON), (True, JSONB)):
    _pfx = "jsonb" if _jb else "json"
    register_function(f"{_pfx}_build_object", [C.ANY], _rt, factory=_build_object_factory(_jb), strict=False,
                      ctx=True, volatility="s", variadic=True)
    register_function(f"{_pfx}_build_object", [], _rt,
                      (lambda jb: (lambda: Jsonb({})) if jb else (lambda: "{}"))(_jb), volatility="s")
    register_function(f"{_pfx}_build_array", [C.ANY], _rt, factory=_build_array_factory(_jb), strict=False,
                      ctx=True, volatility="s", variadic=True)
    register_function(f"{_pfx}_build_array", [], _rt,
                      (lambda jb: (lambda: Jsonb([])) if jb else (lambda: "[]"))(_jb), volatility="s")

# --- jsonb accessors -----------------------------------------------------------------------


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is str:
        return v
    return jsonb_out(v)


def jb_field(j: Jsonb, key: str) -> Jsonb | None:
    v = j.value
    if type(v) is dict and key in v:
        return Jsonb(v[key])
    return None


def jb_elem(j: Jsonb, i: int) -> Jsonb | None:
    v = j.value
    if type(v) is list:
        if i < 0:
            i += len(v)
        if 0 <= i < len(v):
            return Jsonb(v[i])
    return None


def _path_get(v: Any, path: list[str | None]) -> tuple[bool, Any]:
    for p in path:
        if p is None:
            return False, None
        if type(v) is dict:
            if p not in v:
                return False, None
            v = v[p]
        elif type(v) is list:
            try:
                i = int(p)
            except ValueError:
                return False, None
            if i < 0:
                i += len(v)
            if not 0 <= i < len(v):
                return False, None
            v = v[i]
        else:
            return False, None
    return True, v


def jb_path(j: Jsonb, path: list) -> Jsonb | None:
    ok, v = _path_get(j.value, path)
    return Jsonb(v) if ok else None


def jb_path_text(j: Jsonb, path: list) -> str | None:
    ok, v = _path_get(j.value, path)
    return _as_text(v) if ok else None


register_operator("->", JSONB, TEXT, JSONB, jb_field)
register_operator("->", JSONB, INT4, JSONB, jb_elem)
register_operator("->>", JSONB, TEXT, TEXT, lambda j, k: _as_text(v.value) if (v := jb_field(j, k)) else None)
register_operator("->>", JSONB, INT4, TEXT, lambda j, i: _as_text(v.value) if (v := jb_elem(j, i)) else None)
register_operator("#>", JSONB, TEXT_ARRAY, JSONB, jb_path)
register_operator("#>>", JSONB, TEXT_ARRAY, TEXT, jb_path_text)
register_function("jsonb_extract_path", [JSONB, TEXT_ARRAY], JSONB, lambda j, *p: jb_path(j, list(p)),
                  variadic=True)
register_function("jsonb_extract_path_text", [JSONB, TEXT_ARRAY], TEXT,
                  lambda j, *p: jb_path_text(j, list(p)), variadic=True)


def jb_contains(a: Any, b: Any, top: bool = True) -> bool:
    """a @> b (JsonbDeepContains)."""
    ta, tb = type(a), type(b)
    if ta is dict:
        if tb is not dict:
            return False
        for k, bv in b.items():
            if k not in a:
                return False
            av = a[k]
            if type(bv) in (dict, list):
                if type(av) is not type(bv) or not jb_contains(av, bv, False):
                    return False
            elif type(av) in (dict, list) or jsonb_cmp(av, bv) != 0 or _rank_differs(av, bv):
                return False
        return True
    if ta is list:
        if tb is not list:
            # a top-level array contains a raw scalar
            return top and any(type(x) not in (dict, list) and not _rank_differs(x, b) and jsonb_cmp(x, b) == 0
                               for x in a)
        for bv in b:
            if type(bv) in (dict, list):
                if not any(type(x) is type(bv) and jb_contains(x, bv, False) for x in a):
                    return False
            elif not any(type(x) not in (dict, list) and not _rank_differs(x, bv) and jsonb_cmp(x, bv) == 0
                         for x in a):
                return False
        return True
    if tb in (dict, list):
        return False
    return not _rank_differs(a, b) and jsonb_cmp(a, b) == 0


def _rank_differs(a: Any, b: Any) -> bool:
    return jsonb_typeof(a) != jsonb_typeof(b)


def jb_exists(j: Jsonb, key: str) -> bool:
    v = j.value
    if type(v) is dict:
        return key in v
    if type(v) is list:
        return any(type(x) is str and x == key for x in v)
    return type(v) is str and v == key


register_operator("@>", JSONB, JSONB, BOOL, lambda a, b: jb_contains(a.value, b.value))
register_operator("<@", JSONB, JSONB, BOOL, lambda a, b: jb_contains(b.value, a.value))
register_operator("?", JSONB, TEXT, BOOL, jb_exists)
register_operator("?|", JSONB, TEXT_ARRAY, BOOL, lambda j, ks: any(k is not None and jb_exists(j, k) for k in ks))
register_operator("?&", JSONB, TEXT_ARRAY, BOOL, lambda j, ks: all(k is not None and jb_exists(j, k) for k in ks))
register_function("jsonb_contains", [JSONB, JSONB], BOOL, lambda a, b: jb_contains(a.value, b.value))
register_function("jsonb_contained", [JSONB, JSONB], BOOL, lambda a, b: jb_contains(b.value, a.value))
register_function("jsonb_exists", [JSONB, TEXT], BOOL, jb_exists)


def jb_concat(a: Jsonb, b: Jsonb) -> Jsonb:
    x, y = a.value, b.value
    if type(x) is dict and type(y) is dict:
        d = dict(x)
        d.update(y)
        return Jsonb(make_object(d.items()))
    lx = x if type(x) is list else [x]
    ly = y if type(y) is list else [y]
    return Jsonb(lx + ly)


def jb_delete_key(j: Jsonb, key: str) -> Jsonb:
    v = j.value
    if type(v) is dict:
        return Jsonb({k: x for k, x in v.items() if k != key})
    if type(v) is list:
        return Jsonb([x for x in v if not (type(x) is str and x == key)])
    raise SqlError("22023", "cannot delete from scalar")


def jb_delete_index(j: Jsonb, i: int) -> Jsonb:
    v = j.value
    if type(v) is list:
        n = len(v)
        if i < 0:
            i += n
        if not 0 <= i < n:
            return j
        return Jsonb(v[:i] + v[i + 1:])
    if type(v) is dict:
        raise SqlError("22023", "cannot delete from object using integer index")
    raise SqlError("22023", "cannot delete from scalar")


def jb_delete_keys(j: Jsonb, keys: list) -> Jsonb:
    v = j.value
    drop = {k for k in keys if k is not None}
    if type(v) is dict:
        return Jsonb({k: x for k, x in v.items() if k not in drop})
    if type(v) is list:
        return Jsonb([x for x in v if not (type(x) is str and x in drop)])
    raise SqlError("22023", "cannot delete from scalar")


register_operator("||", JSONB, JSONB, JSONB, jb_concat)
register_operator("-", JSONB, TEXT, JSONB, jb_delete_key)
register_operator("-", JSONB, INT4, JSONB, jb_delete_index)
register_operator("-", JSONB, TEXT_ARRAY, JSONB, jb_delete_keys)

# --- jsonb_set / jsonb_insert / #- ------------------------------------------------------------


def _path_index(p: str, n: int, where: int) -> int:
    try:
        return int(p)
    except ValueError:
        raise SqlError("22P02", f'path element at position {where} is not an integer: "{p}"') from None


def _set_path(v: Any, path: list, newval: Any, create: bool, mode: str, level: int = 0) -> Any:
    """setPath: mode 'set', 'insert_before', 'insert_after' or 'delete'."""
    p = path[level]
    if p is None:
        raise SqlError("22004", f"path element at position {level + 1} is null")
    last = level == len(path) - 1
    if type(v) is dict:
        d = dict(v)
        if p in d:
            if last:
                if mode == "delete":
                    del d[p]
                elif mode.startswith("insert"):
                    raise SqlError("22023", "cannot replace existing key",
                                   hint="Try using the function jsonb_set to replace key value.")
                else:
                    d[p] = newval
            else:
                d[p] = _set_path(d[p], path, newval, create, mode, level + 1)
            return make_object(d.items())
        if last and mode != "delete" and (create or mode.startswith("insert")):
            d[p] = newval
            return make_object(d.items())
        return v
    if type(v) is list:
        n = len(v)
        i = _path_index(p, n, level + 1)
        if i < 0:
            i += n
            if i < 0:
                if last and mode != "delete" and (create or mode.startswith("insert")):
                    return [newval] + v
                return v
        out = list(v)
        if i >= n:
            if last and mode != "delete" and (create or mode.startswith("insert")):
                return out + [newval]
            return v
        if last:
            if mode == "delete":
                del out[i]
            elif mode == "insert_before":
                out.insert(i, newval)
            elif mode == "insert_after":
                out.insert(i + 1, newval)
            else:
                out[i] = newval
            return out
        out[i] = _set_path(out[i], path, newval, create, mode, level + 1)
        return out
    if level == 0:
        raise SqlError("22023", "cannot set path in scalar")
    return v


def jsonb_set(j: Jsonb, path: list, newval: Jsonb, create: bool = True) -> Jsonb:
    if type(j.value) not in (dict, list):
        raise SqlError("22023", "cannot set path in scalar")
    if not path:
        return j
    return Jsonb(_set_path(j.value, path, newval.value, create, "set"))


def jsonb_insert(j: Jsonb, path: list, newval: Jsonb, after: bool = False) -> Jsonb:
    if type(j.value) not in (dict, list):
        raise SqlError("22023", "cannot set path in scalar")
    if not path:
        return j
    return Jsonb(_set_path(j.value, path, newval.value, True, "insert_after" if after else "insert_before"))


def jsonb_delete_path(j: Jsonb, path: list) -> Jsonb:
    if type(j.value) not in (dict, list):
        raise SqlError("22023", "cannot delete path in scalar")
    if not path:
        return j
    return Jsonb(_set_path(j.value, path, None, False, "delete"))


register_function("jsonb_set", [JSONB, TEXT_ARRAY, JSONB], JSONB, jsonb_set)
register_function("jsonb_set", [JSONB, TEXT_ARRAY, JSONB, BOOL], JSONB, jsonb_set)
register_function("jsonb_insert", [JSONB, TEXT_ARRAY, JSONB], JSONB, jsonb_insert)
register_function("jsonb_insert", [JSONB, TEXT_ARRAY, JSONB, BOOL], JSONB, jsonb_insert)
register_operator("#-", JSONB, TEXT_ARRAY, JSONB, jsonb_delete_path)


def _strip_nulls(v: Any) -> Any:
    if type(v) is dict:
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    if type(v) is list:
        return [_strip_nulls(x) for x in v]
    return v


register_function("jsonb_strip_nulls", [JSONB], JSONB, lambda j: Jsonb(_strip_nulls(j.value)))
register_function("jsonb_pretty", [JSONB], TEXT, lambda j: jsonb_pretty(j.value))
register_function("jsonb_typeof", [JSONB], TEXT, lambda j: jsonb_typeof(j.value))


def _kind(v: Any) -> str:
    return {"object": "an object", "array": "an array"}.get(jsonb_typeof(v), "a scalar")


def jsonb_array_length(j: Jsonb) -> int:
    v = j.value
    if type(v) is list:
        return len(v)
    if type(v) is dict:
        raise SqlError("22023", "cannot get array length of a non-array")
    raise SqlError("22023", "cannot get array length of a scalar")


def jsonb_object_keys(j: Jsonb) -> Iterator[str]:
    v = j.value
    if type(v) is not dict:
        raise SqlError("22023", f"cannot call jsonb_object_keys on {_kind(v)}")
    return iter(list(v))


def jsonb_array_elements(j: Jsonb) -> Iterator[Jsonb]:
    v = j.value
    if type(v) is not list:
        raise SqlError("22023", f"cannot extract elements from {'an object' if type(v) is dict else 'a scalar'}")
    return (Jsonb(x) for x in v)


def jsonb_array_elements_text(j: Jsonb) -> Iterator[str | None]:
    v = j.value
    if type(v) is not list:
        raise SqlError("22023", f"cannot extract elements from {'an object' if type(v) is dict else 'a scalar'}")
    return (_as_text(x) for x in v)


def jsonb_each(j: Jsonb) -> Iterator[tuple]:
    v = j.value
    if type(v) is not dict:
        raise SqlError("22023", "cannot call jsonb_each on a non-object")
    return ((k, Jsonb(x)) for k, x in v.items())


def jsonb_each_text(j: Jsonb) -> Iterator[tuple]:
    v = j.value
    if type(v) is not dict:
        raise SqlError("22023", "cannot call jsonb_each_text on a non-object")
    return ((k, _as_text(x)) for k, x in v.items())


EACH_JSONB = record_type([("key", TEXT), ("value", JSONB)])
EACH_TEXT = record_type([("key", TEXT), ("value", TEXT)])
EACH_JSON = record_type([("key", TEXT), ("value", JSON)])
register_function("jsonb_array_length", [JSONB], INT4, jsonb_array_length)
register_function("jsonb_object_keys", [JSONB], TEXT, jsonb_object_keys, srf=True)
register_function("jsonb_array_elements", [JSONB], JSONB, jsonb_array_elements, srf=True)
register_function("jsonb_array_elements_text", [JSONB], TEXT, jsonb_array_elements_text, srf=True)
register_function("jsonb_each", [JSONB], EACH_JSONB, jsonb_each, srf=True)
register_function("jsonb_each_text", [JSONB], EACH_TEXT, jsonb_each_text, srf=True)

