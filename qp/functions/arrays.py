"""Array functions and operators (array_length, array_position,
array_append/prepend/cat and ||, array_remove/replace, @> <@ &&, unnest)
plus the other set-returning functions (generate_series) and small
catalog-free utilities (pg_typeof, num_nulls, current_setting, version...).

Arrays are Python lists, nested for more dimensions, always with lower
bound 1. Element equality for searching and containment is the element
type's equality (via its group key: NaN = NaN, 1.0 = 1.00), and NULL
elements never match in containment, as in PG.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.dt_ops import interval_um
from qp.functions.numeric_math import num_add
from qp.functions.registry import register_function, register_operator
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import BOOL, INT4, INT8, INTERVAL, NUMERIC, TEXT, TIMESTAMP, TIMESTAMPTZ, SqlType, array_of
from qp.types.datetime import timestamp_pl_interval, timestamptz_pl_interval
from qp.types.keys import group_key

INT4_ARRAY = array_of(INT4)
A, AE = C.ANYARRAY, C.ANYELEMENT
CA, CE = C.ANYCOMPATIBLEARRAY, C.ANYCOMPATIBLE


def dims(v: list) -> list[int]:
    out = []
    cur: Any = v
    while type(cur) is list:
        out.append(len(cur))
        if not cur:
            break
        cur = cur[0]
    if out and out[-1] == 0 and len(out) > 1:
        return [0]
    return out if out != [0] else []


def flatten(v: list) -> Iterator[Any]:
    for x in v:
        if type(x) is list:
            yield from flatten(x)
        else:
            yield x


def _array_length(v: list, d: int) -> int | None:
    ds = dims(v)
    return ds[d - 1] if 1 <= d <= len(ds) else None


def _array_lower(v: list, d: int) -> int | None:
    return 1 if 1 <= d <= len(dims(v)) else None


def _array_dims(v: list) -> str | None:
    ds = dims(v)
    return "".join(f"[1:{n}]" for n in ds) if ds else None


register_function("array_length", [A, INT4], INT4, _array_length)
register_function("array_upper", [A, INT4], INT4, _array_length)
register_function("array_lower", [A, INT4], INT4, _array_lower)
register_function("array_ndims", [A], INT4, lambda v: len(dims(v)) or None)
register_function("array_dims", [A], TEXT, _array_dims)
register_function("cardinality", [A], INT4, lambda v: sum(1 for _ in flatten(v)))


def _eq_key(t: SqlType) -> Callable[[Any], Any]:
    assert t.elem is not None
    k = group_key(t.elem)
    return k if k is not None else (lambda x: x)


def _position_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def pos(arr: list | None, elem: Any, start: int | None = 1) -> int | None:
        if arr is None:
            return None
        if arr and type(arr[0]) is list:
            raise SqlError("0A000", "searching for elements in multidimensional arrays is not supported")
        if start is None:
            raise SqlError("22004", "initial position must not be null")
        kv = None if elem is None else key(elem)
        for i in range(max(start, 1) - 1, len(arr)):
            x = arr[i]
            if (x is None and elem is None) or (x is not None and elem is not None and key(x) == kv):
                return i + 1
        return None
    return pos


def _positions_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def positions(arr: list | None, elem: Any) -> list | None:
        if arr is None:
            return None
        if arr and type(arr[0]) is list:
            raise SqlError("0A000", "searching for elements in multidimensional arrays is not supported")
        kv = None if elem is None else key(elem)
        return [i + 1 for i, x in enumerate(arr)
                if (x is None and elem is None) or (x is not None and elem is not None and key(x) == kv)]
    return positions


register_function("array_position", [CA, CE], INT4, factory=_position_factory, strict=False)
register_function("array_position", [CA, CE, INT4], INT4, factory=_position_factory, strict=False)
register_function("array_positions", [CA, CE], INT4_ARRAY, factory=_positions_factory, strict=False)


def array_append(arr: list | None, elem: Any) -> list:
    if arr is None:
        return [elem]
    if arr and type(arr[0]) is list:
        raise SqlError("22000", "argument must be empty or one-dimensional array")
    return arr + [elem]


def array_prepend(elem: Any, arr: list | None) -> list:
    if arr is None:
        return [elem]
    if arr and type(arr[0]) is list:
        raise SqlError("22000", "argument must be empty or one-dimensional array")
    return [elem] + arr


def array_cat(a: list | None, b: list | None) -> list | None:
    if a is None:
        return b
    if b is None:
        return a
    if not a:
        return b
    if not b:
        return a
    da, db = len(dims(a)), len(dims(b))
    if da == db:
        if da > 1 and dims(a)[1:] != dims(b)[1:]:
            raise SqlError("2202E", "cannot concatenate incompatible arrays",
                           detail="Arrays with differing element dimensions are not compatible for "
                                  "concatenation.")
        return a + b
    if da == db + 1:
        if dims(a)[1:] != dims(b):
            raise SqlError("2202E", "cannot concatenate incompatible arrays",
                           detail="Arrays with differing element dimensions are not compatible for "
                                  "concatenation.")
        return a + [b]
    if db == da + 1:
        if dims(b)[1:] != dims(a):
            raise SqlError("2202E", "cannot concatenate incompatible arrays",
                           detail="Arrays with differing element dimensions are not compatible for "
                                  "concatenation.")
        return [a] + b
    raise SqlError("2202E", "cannot concatenate incompatible arrays",
                   detail=f"Arrays of {da} and {db} dimensions are not compatible for concatenation.")


register_function("array_append", [CA, CE], CA, array_append, strict=False)
register_function("array_prepend", [CE, CA], CA, array_prepend, strict=False)
register_function("array_cat", [CA, CA], CA, array_cat, strict=False)
register_operator("||", CA, CE, CA, array_append, strict=False)
register_operator("||", CE, CA, CA, array_prepend, strict=False)
register_operator("||", CA, CA, CA, array_cat, strict=False)


def _remove_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def remove(arr: list | None, elem: Any) -> list | None:
        if arr is None:
            return None
        if arr and type(arr[0]) is list:
            raise SqlError("0A000", "removing elements from multidimensional arrays is not supported")
        if elem is None:
            return [x for x in arr if x is not None]
        kv = key(elem)
        return [x for x in arr if x is None or key(x) != kv]
    return remove


def _replace_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def replace(arr: list | None, old: Any, new: Any) -> list | None:
        if arr is None:
            return None
        kv = None if old is None else key(old)

        def walk(v: list) -> list:
            out = []
            for x in v:
                if type(x) is list:
                    out.append(walk(x))
                elif (x is None and old is None) or (x is not None and old is not None and key(x) == kv):
                    out.append(new)
                else:
                    out.append(x)
            return out
        return walk(arr)
    return replace


register_function("array_remove", [CA, CE], CA, factory=_remove_factory, strict=False)
register_function("array_replace", [CA, CE, CE], CA, factory=_replace_factory, strict=False)


def _trim_array(arr: list, n: int) -> list:
    if n < 0 or n > len(arr):
        raise SqlError("2202E", "number of elements to trim must be between 0 and " + str(len(arr)))
    return arr[:len(arr) - n]


register_function("trim_array", [A, INT4], A, _trim_array)


def _contains_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def contains(a: list, b: list) -> bool:
        have = {key(x) for x in flatten(a) if x is not None}
        return all(x is not None and key(x) in have for x in flatten(b))
    return contains


def _contained_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    c = _contains_factory(args, ret)
    return lambda a, b: c(b, a)


def _overlap_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = _eq_key(args[0])

    def overlap(a: list, b: list) -> bool:
        have = {key(x) for x in flatten(a) if x is not None}
        return any(x is not None and key(x) in have for x in flatten(b))
    return overlap


register_operator("@>", A, A, BOOL, factory=_contains_factory)
register_operator("<@", A, A, BOOL, factory=_contained_factory)
register_operator("&&", A, A, BOOL, factory=_overlap_factory)
register_function("unnest", [A], AE, lambda arr: flatten(arr), srf=True)


MAX_ARRAY_SIZE = 134217727  # MaxArraySize: MaxAllocSize / sizeof(Datum) elements


def _array_fill(value: Any, dims_: list, lbs: list | None = None) -> list:
    if dims_ is None:
        raise SqlError("22004", "dimension array or low bound array cannot be null")
    if lbs is not None and any(lb != 1 for lb in lbs):
        raise SqlError("0A000", "arrays with lower bounds other than 1 are not supported")
    total = 1
    for n in dims_:
        total *= max(n or 0, 0)
    if total > MAX_ARRAY_SIZE:
        raise SqlError("54000", f"array size exceeds the maximum allowed ({MAX_ARRAY_SIZE})")

    def build(level: int) -> list:
        n = dims_[level]
        if level == len(dims_) - 1:
            return [value] * max(n, 0)
        return [build(level + 1) for _ in range(max(n, 0))]
    return build(0) if dims_ else []


register_function("array_fill", [AE, INT4_ARRAY], A, _array_fill, strict=False)
register_function("array_fill", [AE, INT4_ARRAY, INT4_ARRAY], A, _array_fill, strict=False)

# --- generate_series -----------------------------------------------------------------------


def _series_int(start: int, stop: int, step: int = 1) -> Iterator[int]:
    if step == 0:
        raise SqlError("22023", "step size cannot equal zero")
    return iter(range(start, stop + (1 if step > 0 else -1), step))


def _series_numeric(start: Decimal, stop: Decimal, step: Decimal = Decimal(1)) -> Iterator[Decimal]:
    for v, what in ((start, "start"), (stop, "stop"), (step, "step size")):
        if v.is_nan():
            raise SqlError("22023", f"{what} value cannot be NaN" if what != "step size" else
                           "step size cannot be NaN")
        if v.is_infinite():
            raise SqlError("22023", f"{what} value cannot be infinity" if what != "step size" else
                           "step size cannot be infinity")
    if not step:
        raise SqlError("22023", "step size cannot equal zero")

    def gen() -> Iterator[Decimal]:
        # The first value keeps the start's own scale (generate_series(1, 3, 0.5)
        # begins with 1, then 1.5, 2.0); the sums take the larger scale.
        cur = start
        if step > 0:
            while cur <= stop:
                yield cur
                cur = num_add(cur, step)
        else:
            while cur >= stop:
                yield cur
                cur = num_add(cur, step)
    return gen()


def _series_ts(start: int, stop: int, step: C.Interval,
               add: Callable[[int, C.Interval], int]) -> Iterator[int]:
    """generate_series_timestamp(tz): PostgreSQL 15 takes infinite bounds (an
    'infinity' stop makes an unbounded series, which a LIMIT or a cancel
    ends; 'infinity' plus a step stays 'infinity'). Like PostgreSQL it
    computes the next value before it returns the current one, so the step
    past the last representable timestamp fails (22008) with the value
    before it, not one row later."""
    if step.span() == 0:
        raise SqlError("22023", "step size cannot equal zero")
    positive = step.span() > 0

    def gen() -> Iterator[int]:
        cur = start
        while (cur <= stop) if positive else (cur >= stop):
            value = cur
            cur = add(cur, step)
            yield value
    return gen()


for _t in (INT4, INT8):
    register_function("generate_series", [_t, _t], _t, _series_int, srf=True)
    register_function("generate_series", [_t, _t, _t], _t, _series_int, srf=True)
register_function("generate_series", [NUMERIC, NUMERIC], NUMERIC, _series_numeric, srf=True)
register_function("generate_series", [NUMERIC, NUMERIC, NUMERIC], NUMERIC, _series_numeric, srf=True)
register_function("generate_series", [TIMESTAMP, TIMESTAMP, INTERVAL], TIMESTAMP,
                  lambda a, b, s: _series_ts(a, b, s, timestamp_pl_interval), srf=True)
register_function("generate_series", [TIMESTAMPTZ, TIMESTAMPTZ, INTERVAL], TIMESTAMPTZ,
                  lambda ctx, a, b, s: _series_ts(a, b, s, lambda t, iv: timestamptz_pl_interval(t, iv, ctx.tzinfo)),
                  srf=True, ctx=True, volatility="s")
register_function("generate_subscripts", [A, INT4], INT4,
                  lambda arr, d: iter(range(1, (_array_length(arr, d) or 0) + 1)), srf=True)

# --- utilities without catalog access -------------------------------------------------------


def _pg_typeof_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    oid = args[0].oid
    return lambda v: oid


register_function("pg_typeof", [C.ANY], C.REGTYPE, factory=_pg_typeof_factory, strict=False, volatility="s")
register_function("num_nulls", [C.ANY], INT4, lambda *a: sum(1 for x in a if x is None), strict=False,
                  variadic=True)
register_function("num_nonnulls", [C.ANY], INT4, lambda *a: sum(1 for x in a if x is not None), strict=False,
                  variadic=True)
register_function("gen_random_uuid", [], C.UUID, lambda: uuid.uuid4(), volatility="v")


def _current_setting(ctx: EvalContext, name: str, missing_ok: bool = False) -> str | None:
    v = ctx.get_setting(name)
    if v is None:
        low = name.lower()
        if low == "timezone":
            return ctx.timezone
        if low == "extra_float_digits":
            return str(ctx.extra_float_digits)
        if low == "search_path":
            return ", ".join(ctx.search_path)
        if missing_ok:
            return None
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
    return v


register_function("current_setting", [TEXT], TEXT, _current_setting, ctx=True, volatility="s")
register_function("current_setting", [TEXT, BOOL], TEXT, _current_setting, ctx=True, volatility="s")
register_function("current_database", [], C.NAME, lambda ctx: ctx.database, ctx=True, volatility="s")
register_function("current_user", [], C.NAME, lambda ctx: ctx.user, ctx=True, volatility="s")
register_function("session_user", [], C.NAME, lambda ctx: ctx.session_user, ctx=True, volatility="s")
register_function("version", [], TEXT, lambda ctx: ctx.get_setting("server_version_full") or
                  "PostgreSQL 16.0 on x86_64-pc-linux-gnu", ctx=True, volatility="s")
register_function("interval_um", [INTERVAL], INTERVAL, interval_um)
