"""Casts and coercion: pg_cast for the built-in types, I/O conversion casts,
array casts, typmod (length) coercion, and select_common_type.

`find_cast(src, dst, context)` answers what PostgreSQL's
find_coercion_pathway would: the cast is allowed when its castcontext is at
most the requested one (implicit < assignment < explicit). The returned
`Cast.fn(value, ctx)` converts one value and then applies dst's typmod
(varchar(n): 22001 on implicit/assignment, truncation on explicit casts;
char(n) padding; numeric(p,s) rounding and overflow; timestamp(p) rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from qp.errors import SqlError
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import SqlType, format_type
from qp.types.datetime import (
    USECS_PER_DAY,
    date_to_timestamp,
    date_to_timestamptz,
    make_interval_typmod,
    make_time_typmod,
    make_timestamp_typmod,
    timestamp_to_date,
    timestamp_to_time,
    timestamp_to_timestamptz,
    timestamptz_to_date,
    timestamptz_to_timestamp,
    utc_to_local,
)
from qp.types.json import jsonb_out, jsonb_typeof, parse_jsonb
from qp.types.numeric import (
    INT2_MAX,
    INT2_MIN,
    INT4_MAX,
    INT4_MIN,
    INT8_MAX,
    INT8_MIN,
    check_int2,
    float4_to_numeric,
    float_to_int,
    float_to_numeric,
    make_numeric_typmod_applier,
    numeric_out,
    numeric_to_float,
    numeric_to_int,
    parse_float4,
    to_float4,
    to_float4_cast,
)
from qp.types.text_io import char_out, make_varchar_in, text_decoder, text_out, truncate_name

LEVEL = {"implicit": 0, "assignment": 1, "explicit": 2, "i": 0, "a": 1, "e": 2}


@dataclass(frozen=True, slots=True)
class Cast:
    """A coercion from `src` to `dst`. `fn(value, ctx)` maps a non-NULL
    value (None passes through); `context` is pg_cast.castcontext ('i',
    'a' or 'e'); `method` 'f' (function), 'b' (binary/identity), 'i' (I/O)."""

    src: SqlType
    dst: SqlType
    context: str
    fn: Callable[[Any, EvalContext], Any]
    method: str = "f"


def _identity(v: Any, ctx: EvalContext) -> Any:
    return v


def _range(lo: int, hi: int, name: str) -> Callable[[Any, EvalContext], Any]:
    def f(v: int, ctx: EvalContext) -> int:
        if v < lo or v > hi:
            raise SqlError("22003", f"{name} out of range")
        return v
    return f


def _int_to_char(v: int, ctx: EvalContext) -> str:
    if v < -128 or v > 127:
        raise SqlError("22003", '"char" out of range')
    return chr(v & 0xFF) if v else ""


def _char_to_int(v: str, ctx: EvalContext) -> int:
    if not v:
        return 0
    o = ord(v)
    return o - 256 if o >= 128 else o


def _int8_to_oid(v: int, ctx: EvalContext) -> int:
    if v < 0 or v > 0xFFFFFFFF:
        raise SqlError("22003", "OID out of range")
    return v


def _oid_to_int4(v: int, ctx: EvalContext) -> int:
    return v - 2**32 if v >= 2**31 else v


def _jsonb_cast(target: str, conv: Callable[[Any], Any]) -> Callable[[Any, EvalContext], Any]:
    want = "boolean" if target == "boolean" else "number"

    def f(j: C.Jsonb, ctx: EvalContext) -> Any:
        v = j.value
        kind = jsonb_typeof(v)
        if kind != want:
            shown = {"number": "numeric"}.get(kind, kind)
            raise SqlError("22023", f"cannot cast jsonb {shown} to type {target}")
        return conv(v)
    return f


def _f(fn: Callable[[Any], Any]) -> Callable[[Any, EvalContext], Any]:
    return lambda v, ctx: fn(v)


_F2I = {21: (INT2_MIN, INT2_MAX, "smallint"), 23: (INT4_MIN, INT4_MAX, "integer"),
        20: (INT8_MIN, INT8_MAX, "bigint")}


def _float_to(oid: int) -> Callable[[Any, EvalContext], Any]:
    lo, hi, name = _F2I[oid]
    return lambda v, ctx: float_to_int(v, lo, hi, name)


def _numeric_to(oid: int) -> Callable[[Any, EvalContext], Any]:
    lo, hi, name = _F2I[oid]
    return lambda v, ctx: numeric_to_int(v, lo, hi, name)


def _int_to_float4(v: int, ctx: EvalContext) -> float:
    return to_float4(float(v))


def _numeric_to_float4(v: Decimal, ctx: EvalContext) -> float:
    # numeric_float4 reads the numeric's text with float4in (so its range error)
    return parse_float4(numeric_out(v))


def _numeric_to_float8(v: Decimal, ctx: EvalContext) -> float:
    return numeric_to_float(v) if v.is_finite() else float(v)


# (src oid, dst oid) -> (castcontext, fn) : the built-in rows of pg_cast.
_CASTS: dict[tuple[int, int], tuple[str, Callable[[Any, EvalContext], Any]]] = {}


def _reg(src: int | tuple, dst: int | tuple, ctxc: str, fn: Callable[[Any, EvalContext], Any]) -> None:
    for s in (src if isinstance(src, tuple) else (src,)):
        for d in (dst if isinstance(dst, tuple) else (dst,)):
            _CASTS[(s, d)] = (ctxc, fn)


_REGS = (24, 2202, 2205, 2206, 4089, 4096)
_reg(16, 23, "e", _f(int))
_reg(16, (25, 1042, 1043), "a", lambda v, ctx: "true" if v else "false")
_reg(18, 23, "e", _char_to_int)
_reg(18, 25, "i", _f(char_out))
_reg(18, (1042, 1043), "a", _f(char_out))
_reg(19, 25, "i", _identity)
_reg(19, (1042, 1043), "a", _identity)
_reg(20, 21, "a", _range(INT2_MIN, INT2_MAX, "smallint"))
_reg(20, 23, "a", _range(INT4_MIN, INT4_MAX, "integer"))
_reg(20, (26,) + _REGS, "i", _int8_to_oid)
_reg(20, 700, "i", _int_to_float4)
_reg(20, 701, "i", _f(float))
_reg(20, 1700, "i", _f(Decimal))
_reg(21, (20, 23), "i", _identity)
_reg(21, (26,) + _REGS, "i", _f(lambda v: v & 0xFFFFFFFF))
_reg(21, 700, "i", _f(float))
_reg(21, 701, "i", _f(float))
_reg(21, 1700, "i", _f(Decimal))
_reg(23, 16, "e", _f(bool))
_reg(23, 18, "e", _int_to_char)
_reg(23, 20, "i", _identity)
_reg(23, 21, "a", _f(check_int2))
_reg(23, (26,) + _REGS, "i", _f(lambda v: v & 0xFFFFFFFF))
_reg(23, 700, "i", _int_to_float4)
_reg(23, 701, "i", _f(float))
_reg(23, 1700, "i", _f(Decimal))
for _r in (24, 26, 2202, 2205, 2206, 4089, 4096):
    _reg(_r, 20, "a", _identity)
    _reg(_r, 23, "a", _oid_to_int4)
    _reg(_r, tuple(x for x in (26,) + _REGS if x != _r), "i", _identity)
_reg(25, 18, "a", _f(lambda v: v.encode()[:1].decode("latin-1") if v else ""))
_reg(25, 19, "i", _f(truncate_name))
_reg(194, 25, "i", _identity)  # pg_node_tree is binary coercible to text
_reg((25, 1043), (1042, 1043, 25), "i", _identity)
_reg(1042, (25, 1043), "i", _f(lambda v: v.rstrip(" ")))
_reg(1042, 1042, "i", _identity)
_reg((1042, 1043), 18, "a", _f(lambda v: v.encode()[:1].decode("latin-1") if v else ""))
_reg((1042, 1043), 19, "i", _f(truncate_name))
_reg(114, 3802, "a", _f(parse_jsonb))
_reg(700, 20, "a", _float_to(20))
_reg(700, 21, "a", _float_to(21))
_reg(700, 23, "a", _float_to(23))
_reg(700, 701, "i", _identity)
_reg(700, 1700, "a", _f(float4_to_numeric))
_reg(701, 20, "a", _float_to(20))
_reg(701, 21, "a", _float_to(21))
_reg(701, 23, "a", _float_to(23))
_reg(701, 700, "a", _f(to_float4_cast))
_reg(701, 1700, "a", _f(float_to_numeric))
_reg(1082, 1114, "i", _f(date_to_timestamp))
_reg(1082, 1184, "i", lambda v, ctx: date_to_timestamptz(v, ctx.tzinfo))
_reg(1083, 1186, "i", _f(lambda v: C.Interval(0, 0, v)))
_reg(1114, 1082, "a", _f(timestamp_to_date))
_reg(1114, 1083, "a", lambda v, ctx: _ts_time(v))
_reg(1114, 1184, "i", lambda v, ctx: timestamp_to_timestamptz(v, ctx.tzinfo))
_reg(1184, 1082, "a", lambda v, ctx: timestamptz_to_date(v, ctx.tzinfo))
_reg(1184, 1083, "a", lambda v, ctx: _ts_time(utc_to_local(ctx.tzinfo, v)))
_reg(1184, 1114, "a", lambda v, ctx: timestamptz_to_timestamp(v, ctx.tzinfo))
_reg(1186, 1083, "a", _f(lambda v: v[2] % USECS_PER_DAY))
_reg(1700, 20, "a", _numeric_to(20))
_reg(1700, 21, "a", _numeric_to(21))
_reg(1700, 23, "a", _numeric_to(23))
_reg(1700, 700, "i", _numeric_to_float4)
_reg(1700, 701, "i", _numeric_to_float8)
_reg(3802, 16, "e", _jsonb_cast("boolean", bool))
_reg(3802, 20, "e", _jsonb_cast("bigint", lambda d: numeric_to_int(d, INT8_MIN, INT8_MAX, "bigint")))
_reg(3802, 21, "e", _jsonb_cast("smallint", lambda d: numeric_to_int(d, INT2_MIN, INT2_MAX, "smallint")))
_reg(3802, 23, "e", _jsonb_cast("integer", lambda d: numeric_to_int(d, INT4_MIN, INT4_MAX, "integer")))
_reg(3802, 700, "e", _jsonb_cast("real", lambda d: to_float4_cast(numeric_to_float(d))))
_reg(3802, 701, "e", _jsonb_cast("double precision", numeric_to_float))
_reg(3802, 1700, "e", _jsonb_cast("numeric", lambda d: d))
_reg(3802, 114, "a", _f(lambda j: jsonb_out(j.value)))
_reg(22, 1005, "i", _identity)
_reg(30, 1028, "i", _identity)


def _ts_time(us: int) -> int:
    if us in (C.TS_POS_INF, C.TS_NEG_INF):
        raise SqlError("22008", "timestamp out of range")
    return timestamp_to_time(us)


_STRING_OIDS = frozenset({25, 1043, 1042, 19})


def typmod_coercion(dst: SqlType, explicit: bool) -> Callable[[Any], Any] | None:
    """The length-coercion function for dst's typmod (None when there is none)."""
    mod = dst.typmod
    if mod < 0:
        return None
    oid = dst.oid
    if dst.is_array and oid not in (22, 30):
        assert dst.elem is not None
        inner = typmod_coercion(dst.elem, explicit)
        if inner is None:
            return None

        def each(v: list) -> list:
            return [None if x is None else each(x) if type(x) is list else inner(x) for x in v]
        return each
    if oid in (1043, 1042):
        return make_varchar_in(mod, oid == 1042, explicit)
    if oid == 1700:
        return make_numeric_typmod_applier(mod)
    if oid in (1114, 1184):
        return make_timestamp_typmod(mod)
    if oid == 1083:
        return make_time_typmod(mod)
    if oid == 1186:
        return make_interval_typmod(mod)
    return None


def _with_typmod(fn: Callable[[Any, EvalContext], Any], dst: SqlType, explicit: bool
                 ) -> Callable[[Any, EvalContext], Any]:
    tm = typmod_coercion(dst, explicit)
    if tm is None:
        if fn is _identity:
            return fn
        return lambda v, ctx: None if v is None else fn(v, ctx)
    if fn is _identity:
        return lambda v, ctx: None if v is None else tm(v)
    return lambda v, ctx: None if v is None else tm(fn(v, ctx))


def _io_cast(src: SqlType, dst: SqlType) -> Callable[[Any, EvalContext], Any]:
    """Cast through text: src's output function, then dst's input function."""
    def fn(v: Any, ctx: EvalContext) -> Any:
        s = text_out(src, ctx)(v)
        if dst.oid in _STRING_OIDS:
            return truncate_name(s) if dst.oid == 19 else s
        return text_decoder(dst.base, ctx)(s)
    return fn


def _array_cast(elem_fn: Callable[[Any, EvalContext], Any]) -> Callable[[Any, EvalContext], Any]:
    def fn(v: list, ctx: EvalContext) -> list:
        return [None if x is None else fn(x, ctx) if type(x) is list else elem_fn(x, ctx) for x in v]
    return fn


def find_cast(src: SqlType, dst: SqlType, context: str = "implicit") -> Cast | None:
    """The coercion PG would use from src to dst in `context`, or None."""
    return _find_cast(src, dst, LEVEL[context])


@lru_cache(maxsize=4096)
def _find_cast(src: SqlType, dst: SqlType, level: int) -> Cast | None:
    explicit = level == 2
    if src == dst:
        return Cast(src, dst, "i", _identity, "b")
    soid, doid = src.oid, dst.oid
    if doid in (C.ANY.oid,) or dst.category == "P" and doid not in (C.RECORD.oid, C.VOID.oid):
        return None
    if soid == C.UNKNOWN.oid:
        # An untyped literal: dst's input function, then its typmod.
        if dst.oid == C.UNKNOWN.oid:
            return Cast(src, dst, "i", _identity, "b")
        if dst.oid == C.INTERVAL.oid and dst.typmod >= 0:
            # interval_in reads a bare number by the typmod's range ('1' year)
            def lit_iv(v: Any, ctx: EvalContext) -> Any:
                return None if v is None else text_decoder(dst, ctx)(v)
            return Cast(src, dst, "i", lit_iv, "i")

        def lit(v: Any, ctx: EvalContext) -> Any:
            return None if v is None else text_decoder(dst.base, ctx)(v)
        return Cast(src, dst, "i", _with_typmod(lit, dst, explicit), "i")
    if soid == doid and not (src.is_array and src.elem != dst.elem and src.elem is not None
                             and dst.elem is not None and src.elem.base != dst.elem.base):
        # Same type, different typmod: a length coercion (always implicit).
        return Cast(src, dst, "i", _with_typmod(_identity, dst, explicit), "f")
    row = _CASTS.get((soid, doid))
    if row is not None:
        ctxc, fn = row
        if LEVEL[ctxc] <= level:
            return Cast(src, dst, ctxc, _with_typmod(fn, dst, explicit))
        return None
    if src.is_array and dst.is_array and soid not in (22, 30) and doid not in (22, 30):
        assert src.elem is not None and dst.elem is not None
        ec = _find_cast(src.elem, dst.elem, level)
        if ec is not None:
            return Cast(src, dst, ec.context, _with_typmod(_array_cast(ec.fn), dst, explicit), ec.method)
    # Automatic I/O conversion casts: to a string type in assignment
    # context, from a string type only explicitly.
    if doid in _STRING_OIDS and level >= 1 and (src.category != "P" or soid == C.RECORD.oid):
        return Cast(src, dst, "a", _with_typmod(_io_cast(src, dst), dst, explicit), "i")
    if soid in _STRING_OIDS and level >= 2 and dst.category != "P":
        return Cast(src, dst, "e", _with_typmod(_io_cast(src, dst), dst, explicit), "i")
    return None


def can_coerce(src: SqlType, dst: SqlType, context: str = "implicit") -> bool:
    """PG's can_coerce_type for one argument (pseudo-type targets included)."""
    if src == dst or src.oid == C.UNKNOWN.oid and dst.category != "P":
        return True
    doid = dst.oid
    if doid == C.ANY.oid:
        return True
    if doid in (C.ANYELEMENT.oid, C.ANYCOMPATIBLE.oid):
        return True
    if doid in (C.ANYARRAY.oid, C.ANYCOMPATIBLEARRAY.oid):
        return src.is_array or src.oid == C.UNKNOWN.oid
    if doid in (C.ANYNONARRAY.oid, C.ANYCOMPATIBLENONARRAY.oid):
        return not src.is_array
    if doid == C.RECORD.oid:
        return src.oid == C.RECORD.oid
    return find_cast(src, dst, context) is not None


def common_type(types: list[SqlType], what: str = "UNION") -> SqlType:
    """PG's select_common_type (with select_common_typmod): unknown
    literals resolve to text; otherwise the preferred type of the shared
    category, or the type the others coerce to implicitly."""
    if not types:
        return C.TEXT
    first = types[0]
    if first.oid != C.UNKNOWN.oid and all(t == first for t in types):
        return first
    ptype = first.base if first.oid != C.UNKNOWN.oid else first
    for t in types[1:]:
        nt = t.base
        if nt.oid == C.UNKNOWN.oid or nt.oid == ptype.oid:
            continue
        if ptype.oid == C.UNKNOWN.oid:
            ptype = nt
        elif nt.category != ptype.category:
            raise SqlError("42804", f"{what} types {format_type(ptype)} and {format_type(nt)} cannot be matched")
        elif not ptype.preferred and can_coerce(ptype, nt) and not can_coerce(nt, ptype):
            ptype = nt
    if ptype.oid == C.UNKNOWN.oid:
        return C.TEXT
    # select_common_typmod: keep a typmod all inputs of that type agree on
    mods = {t.typmod for t in types if t.oid != C.UNKNOWN.oid}
    if len(mods) == 1 and all(t.oid == ptype.oid for t in types if t.oid != C.UNKNOWN.oid):
        m = mods.pop()
        if m != -1:
            return ptype.with_typmod(m)
    return ptype


def coerce_to_common(types: list[SqlType], target: SqlType, what: str) -> None:
    """Raise PG's error when an input cannot be coerced to the chosen type."""
    for t in types:
        if not can_coerce(t, target):
            raise SqlError("42846",
                           f"{what} could not convert type {format_type(t)} to {format_type(target)}")


__all__ = ["Cast", "find_cast", "can_coerce", "common_type", "typmod_coercion", "coerce_to_common"]
