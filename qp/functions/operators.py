"""Comparison operators for every type and the arithmetic operators of the
numeric types (int2/int4/int8, float4/float8, numeric), registered with
pg_operator's signatures so resolution picks what PostgreSQL picks (int4 +
int8 is int48pl returning bigint, int4 + numeric goes through numeric, ...).

Integer arithmetic checks the result against the result type's range (22003
"integer out of range"), divides truncating toward zero and takes the sign
of the dividend for %; float arithmetic raises on overflow/underflow and on
division by zero; numeric follows numeric.c (see numeric_math.py).
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions import numeric_math as NM
from qp.functions.registry import register_operator
from qp.types import core as C
from qp.types.core import BOOL, FLOAT4, FLOAT8, INT2, INT4, INT8, NUMERIC, SqlType
from qp.types.datetime import date_to_timestamp, date_to_timestamptz, timestamp_to_timestamptz
from qp.types.json import jsonb_cmp
from qp.types.keys import sort_key
from qp.types.numeric import to_float4

CMP_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": op.eq, "<>": op.ne, "<": op.lt, ">": op.gt, "<=": op.le, ">=": op.ge,
}
_FROM_CMP: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0, "<>": lambda c: c != 0, "<": lambda c: c < 0, ">": lambda c: c > 0,
    "<=": lambda c: c <= 0, ">=": lambda c: c >= 0,
}


def _reg_cmp(left: SqlType, right: SqlType, key: Callable[[Any], Any] | None = None) -> None:
    for name, f in CMP_OPS.items():
        if key is None:
            register_operator(name, left, right, BOOL, f)
        else:
            register_operator(name, left, right, BOOL,
                              (lambda k, g: lambda a, b: g(k(a), k(b)))(key, f))


def _reg_cmp_fn(left: SqlType, right: SqlType, cmp: Callable[[Any, Any], int], ctx: bool = False,
                volatility: str = "i") -> None:
    for name, test in _FROM_CMP.items():
        if ctx:
            impl = (lambda t: lambda c, a, b: t(cmp(c, a, b)))(test)
        else:
            impl = (lambda t: lambda a, b: t(cmp(a, b)))(test)
        register_operator(name, left, right, BOOL, impl, ctx=ctx, volatility=volatility)


# --- comparisons ---------------------------------------------------------------------

for _t in (C.BOOL, C.BYTEA, C.CHAR, C.NAME, C.TEXT, C.OID, C.DATE, C.TIME, C.TIMESTAMP, C.TIMESTAMPTZ,
           C.INTERVAL, C.UUID):
    _reg_cmp(_t, _t)
_reg_cmp(C.NAME, C.TEXT)
_reg_cmp(C.TEXT, C.NAME)
for _a in (INT2, INT4, INT8):
    for _b in (INT2, INT4, INT8):
        _reg_cmp(_a, _b)


def _float_cmp(a: float, b: float) -> int:
    if a != a:
        return 0 if b != b else 1
    if b != b:
        return -1
    return (a > b) - (a < b)


def _float_eq(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _float_ne(a: float, b: float) -> bool:
    return not (a == b or (a != a and b != b))


def _float_lt(a: float, b: float) -> bool:
    return a < b or (b != b and a == a)


def _float_gt(a: float, b: float) -> bool:
    return a > b or (a != a and b == b)


def _float_le(a: float, b: float) -> bool:
    return a <= b or b != b


def _float_ge(a: float, b: float) -> bool:
    return a >= b or a != a


_FLOAT_CMP = {"=": _float_eq, "<>": _float_ne, "<": _float_lt, ">": _float_gt, "<=": _float_le,
              ">=": _float_ge}
for _a in (FLOAT4, FLOAT8):
    for _b in (FLOAT4, FLOAT8):
        for _n, _f in _FLOAT_CMP.items():
            register_operator(_n, _a, _b, BOOL, _f)


def _num_cmp(a: Decimal, b: Decimal) -> int:
    an, bn = a.is_nan(), b.is_nan()
    if an or bn:
        return 0 if an and bn else (1 if an else -1)
    return (a > b) - (a < b)


def _num_eq(a: Decimal, b: Decimal) -> bool:
    return a == b or (a.is_nan() and b.is_nan())


register_operator("=", NUMERIC, NUMERIC, BOOL, _num_eq)
register_operator("<>", NUMERIC, NUMERIC, BOOL, lambda a, b: not _num_eq(a, b))
for _n in ("<", ">", "<=", ">="):
    register_operator(_n, NUMERIC, NUMERIC, BOOL, (lambda t: lambda a, b: t(_num_cmp(a, b)))(_FROM_CMP[_n]))

_reg_cmp(C.BPCHAR, C.BPCHAR, lambda s: s.rstrip(" "))
_reg_cmp(C.OIDVECTOR, C.OIDVECTOR, lambda v: (len(v), v))
_reg_cmp_fn(C.JSONB, C.JSONB, lambda a, b: jsonb_cmp(a.value, b.value))


def _dt_cmp(conv_a: Callable[..., int] | None, conv_b: Callable[..., int] | None, ctx: bool) -> Callable:
    def cmp(*args: Any) -> int:
        if ctx:
            c, a, b = args
            a = conv_a(a, c.tzinfo) if conv_a else a
            b = conv_b(b, c.tzinfo) if conv_b else b
        else:
            a, b = args
            a = conv_a(a) if conv_a else a
            b = conv_b(b) if conv_b else b
        return (a > b) - (a < b)
    return cmp


_reg_cmp_fn(C.DATE, C.TIMESTAMP, _dt_cmp(date_to_timestamp, None, False))
_reg_cmp_fn(C.TIMESTAMP, C.DATE, _dt_cmp(None, date_to_timestamp, False))
_reg_cmp_fn(C.DATE, C.TIMESTAMPTZ, _dt_cmp(date_to_timestamptz, None, True), True, "s")
_reg_cmp_fn(C.TIMESTAMPTZ, C.DATE, _dt_cmp(None, date_to_timestamptz, True), True, "s")
_reg_cmp_fn(C.TIMESTAMP, C.TIMESTAMPTZ, _dt_cmp(timestamp_to_timestamptz, None, True), True, "s")
_reg_cmp_fn(C.TIMESTAMPTZ, C.TIMESTAMP, _dt_cmp(None, timestamp_to_timestamptz, True), True, "s")


def _array_cmp_factory(name: str) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    test = CMP_OPS[name]

    def factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        key = sort_key(args[0])
        assert key is not None
        return lambda a, b: test(key(a), key(b))
    return factory


for _n in CMP_OPS:
    register_operator(_n, C.ANYARRAY, C.ANYARRAY, BOOL, factory=_array_cmp_factory(_n))


def _record_key(v: tuple) -> tuple:
    return tuple((1,) if x is None else (0, x) for x in v)


_reg_cmp(C.RECORD, C.RECORD, _record_key)


# --- integer arithmetic --------------------------------------------------------------

_RANGES = {21: (-(2**15), 2**15 - 1, "smallint"), 23: (-(2**31), 2**31 - 1, "integer"),
           20: (-(2**63), 2**63 - 1, "bigint")}


def _int_ops(res: SqlType) -> dict[str, Callable[[int, int], int]]:
    lo, hi, name = _RANGES[res.oid]
    msg = f"{name} out of range"

    def pl(a: int, b: int) -> int:
        r = a + b
        if lo <= r <= hi:
            return r
        raise SqlError("22003", msg)

    def mi(a: int, b: int) -> int:
        r = a - b
        if lo <= r <= hi:
            return r
        raise SqlError("22003", msg)

    def mul(a: int, b: int) -> int:
        r = a * b
        if lo <= r <= hi:
            return r
        raise SqlError("22003", msg)

    def div(a: int, b: int) -> int:
        if b == 0:
            raise SqlError("22012", "division by zero")
        q = abs(a) // abs(b)
        if (a < 0) != (b < 0):
            q = -q
        if lo <= q <= hi:
            return q
        raise SqlError("22003", msg)

    def mod(a: int, b: int) -> int:
        if b == 0:
            raise SqlError("22012", "division by zero")
        r = abs(a) % abs(b)
        return -r if a < 0 else r

    return {"+": pl, "-": mi, "*": mul, "/": div, "%": mod}


_INT_OPS = {t.oid: _int_ops(t) for t in (INT2, INT4, INT8)}
_WIDER = {(21, 21): INT2, (21, 23): INT4, (21, 20): INT8, (23, 21): INT4, (23, 23): INT4, (23, 20): INT8,
          (20, 21): INT8, (20, 23): INT8, (20, 20): INT8}
for (_lo, _ro), _res in _WIDER.items():
    _lt, _rt = C.type_by_oid(_lo), C.type_by_oid(_ro)
    for _n in ("+", "-", "*", "/"):
        register_operator(_n, _lt, _rt, _res, _INT_OPS[_res.oid][_n])
for _t in (INT2, INT4, INT8):
    _lo_, _hi_, _nm = _RANGES[_t.oid]
    register_operator("%", _t, _t, _t, _INT_OPS[_t.oid]["%"])
    register_operator("&", _t, _t, _t, op.and_)
    register_operator("|", _t, _t, _t, op.or_)
    register_operator("#", _t, _t, _t, op.xor)
    register_operator("~", None, _t, _t, op.invert)
    register_operator("+", None, _t, _t, op.pos)

    def _neg(a: int, lo: int = _lo_, hi: int = _hi_, nm: str = _nm) -> int:
        r = -a
        if r > hi:
            raise SqlError("22003", f"{nm} out of range")
        return r

    def _abs(a: int, hi: int = _hi_, nm: str = _nm) -> int:
        if a >= 0:
            return a
        if -a > hi:
            raise SqlError("22003", f"{nm} out of range")
        return -a

    register_operator("-", None, _t, _t, _neg)
    register_operator("@", None, _t, _t, _abs)
    bits = {21: 16, 23: 32, 20: 64}[_t.oid]
    cnt_mask = 63 if bits == 64 else 31

    def _shl(a: int, b: int, bits: int = bits, cm: int = cnt_mask) -> int:
        r = (a << (b & cm)) & ((1 << bits) - 1)
        return r - (1 << bits) if r >> (bits - 1) else r

    def _shr(a: int, b: int, cm: int = cnt_mask) -> int:
        return a >> (b & cm)

    register_operator("<<", _t, INT4, _t, _shl)
    register_operator(">>", _t, INT4, _t, _shr)


# --- float arithmetic ----------------------------------------------------------------


def _f4(fn: Callable[[float, float], float]) -> Callable[[float, float], float]:
    """float4 arithmetic: the double result rounded to single precision
    (exact for + - * /), with float4's own overflow/underflow checks."""
    def g(a: float, b: float) -> float:
        r = fn(a, b)
        if r != r or r in (NM.INF, -NM.INF):
            return r
        return to_float4(r)
    return g


_F8OPS = {"+": NM.f8_pl, "-": NM.f8_mi, "*": NM.f8_mul, "/": NM.f8_div}
for _n, _f in _F8OPS.items():
    register_operator(_n, FLOAT4, FLOAT4, FLOAT4, _f4(_f))
    register_operator(_n, FLOAT4, FLOAT8, FLOAT8, _f)
    register_operator(_n, FLOAT8, FLOAT4, FLOAT8, _f)
    register_operator(_n, FLOAT8, FLOAT8, FLOAT8, _f)
for _t in (FLOAT4, FLOAT8):
    register_operator("-", None, _t, _t, op.neg)
    register_operator("+", None, _t, _t, op.pos)
    register_operator("@", None, _t, _t, abs)
register_operator("^", FLOAT8, FLOAT8, FLOAT8, NM.f8_pow)
register_operator("|/", None, FLOAT8, FLOAT8, NM.f8_sqrt)
register_operator("||/", None, FLOAT8, FLOAT8, NM.f8_cbrt)

# --- numeric arithmetic --------------------------------------------------------------

register_operator("+", NUMERIC, NUMERIC, NUMERIC, NM.num_add)
register_operator("-", NUMERIC, NUMERIC, NUMERIC, NM.num_sub)
register_operator("*", NUMERIC, NUMERIC, NUMERIC, NM.num_mul)
register_operator("/", NUMERIC, NUMERIC, NUMERIC, NM.num_div)
register_operator("%", NUMERIC, NUMERIC, NUMERIC, NM.num_mod)
register_operator("^", NUMERIC, NUMERIC, NUMERIC, NM.num_power)
register_operator("-", None, NUMERIC, NUMERIC, NM.num_neg)
register_operator("+", None, NUMERIC, NUMERIC, lambda a: a)  # not op.pos: that rounds to 28 digits
register_operator("@", None, NUMERIC, NUMERIC, NM.num_abs)
