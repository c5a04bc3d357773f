"""Mathematical functions (abs, round, trunc, sqrt, exp, ln, log, power,
trigonometry, gcd/lcm, factorial, width_bucket, scale functions, random)
with pg_proc's overloads: float8 versions use IEEE doubles with PG's
overflow/underflow/domain errors, numeric versions keep numeric's scales.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions import numeric_math as NM
from qp.functions.registry import register_function
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import FLOAT4, FLOAT8, INT2, INT4, INT8, NUMERIC, SqlType
from qp.types.keys import sort_key
from qp.types.numeric import (
    D_NAN,
    D_ZERO,
    DEC,
    dscale,
    round_scale,
    trunc_scale,
)

INF = math.inf


def _reg(name: str, args: list[SqlType], ret: SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    register_function(name, args, ret, impl, **kw)


# --- abs, sign, rounding ----------------------------------------------------------------

_RANGE = {21: (2**15 - 1, "smallint"), 23: (2**31 - 1, "integer"), 20: (2**63 - 1, "bigint")}
for _t in (INT2, INT4, INT8):
    def _iabs(a: int, hi: int = _RANGE[_t.oid][0], nm: str = _RANGE[_t.oid][1]) -> int:
        if a < 0:
            if -a > hi:
                raise SqlError("22003", f"{nm} out of range")
            return -a
        return a
    _reg("abs", [_t], _t, _iabs)
_reg("abs", [FLOAT4], FLOAT4, abs)
_reg("abs", [FLOAT8], FLOAT8, abs)
_reg("abs", [NUMERIC], NUMERIC, NM.num_abs)


def _fsign(a: float) -> float:
    if a != a:
        return a
    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0


def _nsign(a: Decimal) -> Decimal:
    if a.is_nan():
        return D_NAN
    return Decimal(1) if a > 0 else Decimal(-1) if a < 0 else D_ZERO


_reg("sign", [FLOAT8], FLOAT8, _fsign)
_reg("sign", [NUMERIC], NUMERIC, _nsign)


def _fround(a: float) -> float:
    if not math.isfinite(a):
        return a
    r = float(round(a))
    return math.copysign(r, a) if r == 0 else r


def _ftrunc(a: float) -> float:
    if not math.isfinite(a):
        return a
    return math.copysign(float(math.trunc(a)), a)


def _fceil(a: float) -> float:
    if not math.isfinite(a):
        return a
    r = float(math.ceil(a))
    return math.copysign(r, a) if r == 0 else r


def _ffloor(a: float) -> float:
    if not math.isfinite(a):
        return a
    return float(math.floor(a))


_reg("round", [FLOAT8], FLOAT8, _fround)
_reg("round", [NUMERIC], NUMERIC, lambda a: round_scale(a, 0))
_reg("round", [NUMERIC, INT4], NUMERIC, round_scale)
_reg("trunc", [FLOAT8], FLOAT8, _ftrunc)
_reg("trunc", [NUMERIC], NUMERIC, lambda a: trunc_scale(a, 0))
_reg("trunc", [NUMERIC, INT4], NUMERIC, trunc_scale)
for _n in ("ceil", "ceiling"):
    _reg(_n, [FLOAT8], FLOAT8, _fceil)
    _reg(_n, [NUMERIC], NUMERIC, NM.num_ceil)
_reg("floor", [FLOAT8], FLOAT8, _ffloor)
_reg("floor", [NUMERIC], NUMERIC, NM.num_floor)


def _scale(a: Decimal) -> int | None:
    return dscale(a) if a.is_finite() else None


def _min_scale(a: Decimal) -> int | None:
    if not a.is_finite():
        return None
    if not a:
        return 0
    e = a.normalize(DEC).as_tuple().exponent
    assert isinstance(e, int)
    return max(0, -e)


def _trim_scale(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a
    ms = _min_scale(a)
    assert ms is not None
    return a.quantize(Decimal(1).scaleb(-ms), context=DEC)


_reg("scale", [NUMERIC], INT4, _scale)
_reg("min_scale", [NUMERIC], INT4, _min_scale)
_reg("trim_scale", [NUMERIC], NUMERIC, _trim_scale)

# --- powers, roots, logarithms ----------------------------------------------------------


def _log_checks(a: float) -> None:
    if a == 0.0:
        raise SqlError("2201E", "cannot take logarithm of zero")
    if a < 0.0:
        raise SqlError("2201E", "cannot take logarithm of a negative number")


def _fln(a: float) -> float:
    _log_checks(a)
    return math.log(a) if a != INF and a == a else a


def _flog10(a: float) -> float:
    _log_checks(a)
    return math.log10(a) if a != INF and a == a else a


def _fexp(a: float) -> float:
    if a != a:
        return a
    if a in (INF, -INF):
        return a if a > 0 else 0.0
    try:
        r = math.exp(a)
    except OverflowError:
        raise SqlError("22003", "value out of range: overflow") from None
    if r == 0.0:
        raise SqlError("22003", "value out of range: underflow")
    return r


_reg("sqrt", [FLOAT8], FLOAT8, NM.f8_sqrt)
_reg("sqrt", [NUMERIC], NUMERIC, NM.num_sqrt)
_reg("cbrt", [FLOAT8], FLOAT8, NM.f8_cbrt)
for _n in ("power", "pow"):
    _reg(_n, [FLOAT8, FLOAT8], FLOAT8, NM.f8_pow)
    _reg(_n, [NUMERIC, NUMERIC], NUMERIC, NM.num_power)
_reg("exp", [FLOAT8], FLOAT8, _fexp)
_reg("exp", [NUMERIC], NUMERIC, NM.num_exp)
_reg("ln", [FLOAT8], FLOAT8, _fln)
_reg("ln", [NUMERIC], NUMERIC, NM.num_ln)
_reg("log", [FLOAT8], FLOAT8, _flog10)
_reg("log", [NUMERIC], NUMERIC, NM.num_log10)
_reg("log", [NUMERIC, NUMERIC], NUMERIC, NM.num_log)
_reg("log10", [FLOAT8], FLOAT8, _flog10)
_reg("log10", [NUMERIC], NUMERIC, NM.num_log10)

# --- mod, div, gcd, lcm, factorial ---------------------------------------------------------


def _imod(a: int, b: int) -> int:
    if b == 0:
        raise SqlError("22012", "division by zero")
    r = abs(a) % abs(b)
    return -r if a < 0 else r


for _t in (INT2, INT4, INT8):
    _reg("mod", [_t, _t], _t, _imod)
_reg("mod", [NUMERIC, NUMERIC], NUMERIC, NM.num_mod)
_reg("div", [NUMERIC, NUMERIC], NUMERIC, NM.num_div_trunc)


def _int_gcd(hi: int, name: str) -> Callable[[int, int], int]:
    def gcd(a: int, b: int) -> int:
        r = math.gcd(a, b)
        if r > hi:
            raise SqlError("22003", f"{name} out of range")
        return r
    return gcd


def _int_lcm(hi: int, name: str) -> Callable[[int, int], int]:
    def lcm(a: int, b: int) -> int:
        if a == 0 or b == 0:
            return 0
        r = abs(a * b) // math.gcd(a, b)
        if r > hi:
            raise SqlError("22003", f"{name} out of range")
        return r
    return lcm


_reg("gcd", [INT4, INT4], INT4, _int_gcd(2**31 - 1, "integer"))
_reg("gcd", [INT8, INT8], INT8, _int_gcd(2**63 - 1, "bigint"))
_reg("lcm", [INT4, INT4], INT4, _int_lcm(2**31 - 1, "integer"))
_reg("lcm", [INT8, INT8], INT8, _int_lcm(2**63 - 1, "bigint"))


def _num_gcd(a: Decimal, b: Decimal) -> Decimal:
    if not (a.is_finite() and b.is_finite()):
        return D_NAN
    s = max(dscale(a), dscale(b))
    ia, ib = int(a.scaleb(s, context=DEC)), int(b.scaleb(s, context=DEC))
    return Decimal(math.gcd(ia, ib)).scaleb(-s, context=DEC)


def _num_lcm(a: Decimal, b: Decimal) -> Decimal:
    if not (a.is_finite() and b.is_finite()):
        return D_NAN
    s = max(dscale(a), dscale(b))
    ia, ib = int(a.scaleb(s, context=DEC)), int(b.scaleb(s, context=DEC))
    if ia == 0 or ib == 0:
        return Decimal(0).scaleb(-s, context=DEC)
    return Decimal(abs(ia * ib) // math.gcd(ia, ib)).scaleb(-s, context=DEC)


_reg("gcd", [NUMERIC, NUMERIC], NUMERIC, _num_gcd)
_reg("lcm", [NUMERIC, NUMERIC], NUMERIC, _num_lcm)


def _factorial(n: int) -> Decimal:
    if n < 0:
        raise SqlError("22003", "factorial of a negative number is undefined")
    if n > 32177:
        raise SqlError("22003", "value overflows numeric format")
    return Decimal(math.factorial(n))


_reg("factorial", [INT8], NUMERIC, _factorial)

# --- trigonometry ---------------------------------------------------------------------------


def _trig(fn: Callable[[float], float], domain: Callable[[float], bool] | None = None
          ) -> Callable[[float], float]:
    def f(a: float) -> float:
        if a != a:
            return a
        if (domain is not None and not domain(a)) or a in (INF, -INF) and domain is None:
            raise SqlError("22003", "input is out of range")
        try:
            return fn(a)
        except (ValueError, OverflowError):
            raise SqlError("22003", "input is out of range") from None
    return f


def _cot(a: float) -> float:
    t = math.tan(a)
    return INF if t == 0 else 1.0 / t


_reg("sin", [FLOAT8], FLOAT8, _trig(math.sin))
_reg("cos", [FLOAT8], FLOAT8, _trig(math.cos))
_reg("tan", [FLOAT8], FLOAT8, _trig(math.tan))
_reg("cot", [FLOAT8], FLOAT8, _trig(_cot))
_reg("asin", [FLOAT8], FLOAT8, _trig(math.asin, lambda a: -1.0 <= a <= 1.0))
_reg("acos", [FLOAT8], FLOAT8, _trig(math.acos, lambda a: -1.0 <= a <= 1.0))
_reg("atan", [FLOAT8], FLOAT8, lambda a: math.atan(a) if a == a else a)
_reg("atan2", [FLOAT8, FLOAT8], FLOAT8, lambda a, b: math.atan2(a, b) if a == a and b == b else math.nan)
RADIANS_PER_DEGREE = 0.0174532925199432957692
_reg("degrees", [FLOAT8], FLOAT8, lambda a: a / RADIANS_PER_DEGREE)
_reg("radians", [FLOAT8], FLOAT8, lambda a: a * RADIANS_PER_DEGREE)
_reg("pi", [], FLOAT8, lambda: math.pi)
for _n, _f in (("sinh", math.sinh), ("cosh", math.cosh), ("tanh", math.tanh), ("asinh", math.asinh)):
    _reg(_n, [FLOAT8], FLOAT8, _trig(_f, lambda a: True))

# --- random ---------------------------------------------------------------------------------


def _setseed(ctx: EvalContext, seed: float) -> None:
    if not -1.0 <= seed <= 1.0:
        raise SqlError("22023", f"setseed parameter {seed:g} is out of allowed range [-1,1]")
    ctx.rng.seed(seed)
    return None


_reg("random", [], FLOAT8, lambda ctx: ctx.rng.random(), ctx=True, volatility="v")
_reg("random_normal", [], FLOAT8, lambda ctx: ctx.rng.gauss(0.0, 1.0), ctx=True, volatility="v")
_reg("random_normal", [FLOAT8], FLOAT8, lambda ctx, m: ctx.rng.gauss(m, 1.0), ctx=True, volatility="v")
_reg("random_normal", [FLOAT8, FLOAT8], FLOAT8, lambda ctx, m, s: ctx.rng.gauss(m, s), ctx=True,
     volatility="v")
_reg("setseed", [FLOAT8], C.VOID, _setseed, ctx=True, volatility="v")

# --- width_bucket ---------------------------------------------------------------------------


def _wb_checks(count: int, lo: Any, hi: Any) -> None:
    if count <= 0:
        raise SqlError("2201G", "count must be greater than zero")
    if lo == hi:
        raise SqlError("2201G", "lower bound cannot equal upper bound")


def _wb_float(op: float, lo: float, hi: float, count: int) -> int:
    _wb_checks(count, lo, hi)
    if op != op or lo != lo or hi != hi:
        raise SqlError("2201G", "operand, lower bound, and upper bound cannot be NaN")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SqlError("2201G", "lower and upper bounds must be finite")
    if lo < hi:
        if op < lo:
            return 0
        if op >= hi:
            return _wb_overflow(count)
        span = hi - lo
        q = count * ((op - lo) / span) if math.isfinite(span) else count * ((op / 2 - lo / 2) / (hi / 2 - lo / 2))
        r = int(q) + 1
    else:
        if op > lo:
            return 0
        if op <= hi:
            return _wb_overflow(count)
        span = lo - hi
        q = count * ((lo - op) / span) if math.isfinite(span) else count * ((lo / 2 - op / 2) / (lo / 2 - hi / 2))
        r = int(q) + 1
    return min(r, count)


def _wb_overflow(count: int) -> int:
    if count + 1 > 2**31 - 1:
        raise SqlError("22003", "integer out of range")
    return count + 1


def _wb_numeric(op: Decimal, lo: Decimal, hi: Decimal, count: int) -> int:
    _wb_checks(count, lo, hi)
    if op.is_nan() or lo.is_nan() or hi.is_nan():
        raise SqlError("2201G", "operand, lower bound, and upper bound cannot be NaN")
    if lo.is_infinite() or hi.is_infinite():
        raise SqlError("2201G", "lower and upper bounds must be finite")
    if lo < hi:
        if op < lo:
            return 0
        if op >= hi:
            return _wb_overflow(count)
        q = DEC.divide(DEC.multiply(DEC.subtract(op, lo), Decimal(count)), DEC.subtract(hi, lo))
    else:
        if op > lo:
            return 0
        if op <= hi:
            return _wb_overflow(count)
        q = DEC.divide(DEC.multiply(DEC.subtract(lo, op), Decimal(count)), DEC.subtract(lo, hi))
    return int(q.to_integral_value(rounding=ROUND_FLOOR)) + 1


def _wb_array(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    key = sort_key(args[0]) or (lambda v: v)

    def wb(op: Any, thresholds: list) -> int:
        if thresholds and isinstance(thresholds[0], list):
            raise SqlError("2202E", "thresholds must be one-dimensional array")
        if any(t is None for t in thresholds):
            raise SqlError("22004", "thresholds array must not contain NULLs")
        k = key(op)
        lo, hi = 0, len(thresholds)
        while lo < hi:
            mid = (lo + hi) // 2
            if key(thresholds[mid]) <= k:
                lo = mid + 1
            else:
                hi = mid
        return lo
    return wb


_reg("width_bucket", [FLOAT8, FLOAT8, FLOAT8, INT4], INT4, _wb_float)
_reg("width_bucket", [NUMERIC, NUMERIC, NUMERIC, INT4], INT4, _wb_numeric)
register_function("width_bucket", [C.ANYCOMPATIBLE, C.ANYCOMPATIBLEARRAY], INT4, factory=_wb_array)
