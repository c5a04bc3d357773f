"""Aggregates: count, sum, avg, min, max, string_agg, array_agg,
bool_and/bool_or/every, bit_and/bit_or/bit_xor, the stddev/variance family,
the two-variable statistics (regr_*, covar_*, corr) and json[b]_agg /
json[b]_object_agg, with pg_aggregate's result types
(sum(int4) is int8, sum(int8) and avg(int*) are numeric, sum(float4) is
float4, avg(float*) is float8).

Each overload's factory returns `make(ctx=None)`, which builds a fresh
accumulator object (step/final) per group. Integer sums are exact Python
ints; numeric variance follows numeric_stddev_internal's scales; float
variance uses the Youngs-Cramer update PG uses (float8_accum).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.dt_ops import interval_div, interval_pl
from qp.functions.json import to_json_text, to_json_value
from qp.functions.numeric_math import _round_to, _work_ctx, num_add, num_div, num_mul, num_sub
from qp.functions.registry import register_aggregate
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import (
    BOOL,
    BYTEA,
    FLOAT4,
    FLOAT8,
    INT2,
    INT4,
    INT8,
    INTERVAL,
    JSON,
    JSONB,
    NUMERIC,
    TEXT,
    Interval,
    SqlType,
)
from qp.types.json import Jsonb, encode_json_string, make_object
from qp.types.keys import sort_key
from qp.types.numeric import D_NAN, D_ZERO, DEC, div_round, dscale, select_div_scale, to_float4
from qp.types.text_io import text_out

_DEFAULT_CTX = EvalContext()


def _reg(name: str, args: list[SqlType], ret: SqlType, acc_cls: Callable[..., Any], strict: bool = True,
         **params: Any) -> None:
    def factory(argtypes: list[SqlType], rettype: SqlType) -> Callable[..., Any]:
        def make(ctx: EvalContext | None = None) -> Any:
            return acc_cls(argtypes, rettype, ctx or _DEFAULT_CTX, **params)
        return make
    register_aggregate(name, args, ret, factory, strict=strict)


class _Acc:
    __slots__ = ()

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        pass


class Count(_Acc):
    __slots__ = ("n",)

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.n = 0

    def step(self, *args: Any) -> None:
        self.n += 1

    def final(self) -> int:
        return self.n


_reg("count", [], INT8, Count, strict=False)
_reg("count", [C.ANY], INT8, Count)

# --- sum / avg ---------------------------------------------------------------------------------


class IntSum(_Acc):
    """sum(int2/int4) -> int8, sum(int8) -> numeric (exact)."""

    __slots__ = ("s", "seen", "to_numeric")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.s = 0
        self.seen = False
        self.to_numeric = rettype.oid == NUMERIC.oid

    def step(self, v: int) -> None:
        self.s += v
        self.seen = True

    def final(self) -> Any:
        if not self.seen:
            return None
        if self.to_numeric:
            return Decimal(self.s)
        if not -(2**63) <= self.s < 2**63:
            raise SqlError("22003", "bigint out of range")
        return self.s


class IntAvg(_Acc):
    __slots__ = ("s", "n")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.s = 0
        self.n = 0

    def step(self, v: int) -> None:
        self.s += v
        self.n += 1

    def final(self) -> Decimal | None:
        if not self.n:
            return None
        return num_div(Decimal(self.s), Decimal(self.n))


class NumSum(_Acc):
    __slots__ = ("s", "n")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.s = D_ZERO
        self.n = 0

    def step(self, v: Decimal) -> None:
        self.s = num_add(self.s, v) if self.n else v
        self.n += 1

    def final(self) -> Decimal | None:
        return self.s if self.n else None


class NumAvg(NumSum):
    __slots__ = ()

    def final(self) -> Decimal | None:
        if not self.n:
            return None
        return num_div(self.s, Decimal(self.n))


class FloatSum(_Acc):
    __slots__ = ("s", "n", "f4")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.s = 0.0
        self.n = 0
        self.f4 = rettype.oid == FLOAT4.oid

    def step(self, v: float) -> None:
        r = self.s + v
        if math.isinf(r) and not math.isinf(self.s) and not math.isinf(v):
            raise SqlError("22003", "value out of range: overflow")
        if self.f4:
            r = to_float4(r) if math.isfinite(r) else r
        self.s = r
        self.n += 1

    def final(self) -> float | None:
        return self.s if self.n else None


class FloatStats(_Acc):
    """float8_accum: N, Sx, Sxx (Youngs-Cramer); mode picks the final function."""

    __slots__ = ("n", "sx", "sxx", "mode")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, mode: str = "avg") -> None:
        self.n = 0.0
        self.sx = 0.0
        self.sxx = 0.0
        self.mode = mode

    def step(self, v: float) -> None:
        n_old = self.n
        self.n += 1.0
        old_sx = self.sx
        self.sx += v
        if n_old > 0.0:
            tmp = v * self.n - self.sx
            self.sxx += tmp * tmp / (self.n * n_old)
            if math.isinf(self.sx) or math.isinf(self.sxx):
                if not math.isinf(old_sx) and not math.isinf(v):
                    raise SqlError("22003", "value out of range: overflow")
                self.sxx = math.nan
        elif v != v or math.isinf(v):
            self.sxx = math.nan

    def final(self) -> float | None:
        n, mode = self.n, self.mode
        if mode == "avg":
            return self.sx / n if n else None
        sample = mode in ("var_samp", "stddev_samp")
        if n == 0.0 or (sample and n == 1.0):
            return None
        var = self.sxx / (n - 1.0 if sample else n)
        return math.sqrt(var) if mode.startswith("stddev") else var


class NumStats(_Acc):
    """numeric_stddev_internal over exact sums (int and numeric inputs)."""

    __slots__ = ("n", "sx", "sx2", "mode", "special")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, mode: str = "var_samp") -> None:
        self.n = 0
        self.sx = D_ZERO
        self.sx2 = D_ZERO
        self.mode = mode
        self.special: Decimal | None = None

    def step(self, v: Any) -> None:
        d = v if isinstance(v, Decimal) else Decimal(v)
        self.n += 1
        if not d.is_finite():
            self.special = D_NAN
            return
        self.sx = DEC.add(self.sx, d)
        self.sx2 = DEC.add(self.sx2, DEC.multiply(d, d))

    def final(self) -> Decimal | None:
        sample = self.mode in ("var_samp", "stddev_samp")
        n = self.n
        if n <= (1 if sample else 0):
            return None
        if self.special is not None:
            return D_NAN
        rscale = dscale(self.sx) * 2
        vn = Decimal(n)
        sumx2 = num_mul(self.sx, self.sx).quantize(Decimal(1).scaleb(-rscale), context=DEC)
        num = num_sub(num_mul(vn, self.sx2).quantize(Decimal(1).scaleb(-rscale), context=DEC), sumx2)
        if num <= 0:
            return Decimal(0)
        den = Decimal(n * (n - 1) if sample else n * n)
        rs = select_div_scale(num, den)
        var = div_round(num, den, rs)
        if self.mode.startswith("stddev"):
            ctx = _work_ctx(max(var.adjusted() // 2 + 1, 1) + rs + 10)
            return _round_to(ctx.sqrt(var), rs)
        return var


class IntervalAcc(_Acc):
    __slots__ = ("s", "n", "avg")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, avg: bool = False) -> None:
        self.s = Interval(0, 0, 0)
        self.n = 0
        self.avg = avg

    def step(self, v: Interval) -> None:
        self.s = interval_pl(self.s, v)
        self.n += 1

    def final(self) -> Interval | None:
        if not self.n:
            return None
        return interval_div(self.s, float(self.n)) if self.avg else self.s


for _t in (INT2, INT4):
    _reg("sum", [_t], INT8, IntSum)
    _reg("avg", [_t], NUMERIC, IntAvg)
_reg("sum", [INT8], NUMERIC, IntSum)
_reg("avg", [INT8], NUMERIC, IntAvg)
_reg("sum", [NUMERIC], NUMERIC, NumSum)
_reg("avg", [NUMERIC], NUMERIC, NumAvg)
_reg("sum", [FLOAT4], FLOAT4, FloatSum)
_reg("sum", [FLOAT8], FLOAT8, FloatSum)
_reg("avg", [FLOAT4], FLOAT8, FloatStats, mode="avg")
_reg("avg", [FLOAT8], FLOAT8, FloatStats, mode="avg")
_reg("sum", [INTERVAL], INTERVAL, IntervalAcc)
_reg("avg", [INTERVAL], INTERVAL, IntervalAcc, avg=True)

for _name, _mode in (("stddev", "stddev_samp"), ("stddev_samp", "stddev_samp"), ("stddev_pop", "stddev_pop"),
                     ("variance", "var_samp"), ("var_samp", "var_samp"), ("var_pop", "var_pop")):
    for _t in (INT2, INT4, INT8, NUMERIC):
        _reg(_name, [_t], NUMERIC, NumStats, mode=_mode)
    _reg(_name, [FLOAT4], FLOAT8, FloatStats, mode=_mode)
    _reg(_name, [FLOAT8], FLOAT8, FloatStats, mode=_mode)

# --- two-variable statistics ------------------------------------------------------------------


def _fdiv(a: float, b: float) -> float:
    """C's double division: by zero it is an infinity (or NaN), not an exception."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


class RegrStats(_Acc):
    """float8_regr_accum: N, Sx, Sxx, Sy, Syy, Sxy kept with the Youngs-Cramer
    update, so results have PostgreSQL's exact digits; `mode` picks the final
    function (float8_regr_sxx, float8_covar_pop, float8_corr...). Arguments
    are (Y, X), as the SQL standard orders them."""

    __slots__ = ("n", "sx", "sxx", "sy", "syy", "sxy", "mode")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, mode: str = "") -> None:
        self.n = self.sx = self.sxx = self.sy = self.syy = self.sxy = 0.0
        self.mode = mode

    def step(self, y: float, x: float) -> None:
        n_old, sx_old, sy_old = self.n, self.sx, self.sy
        n = n_old + 1.0
        sx = sx_old + x
        sy = sy_old + y
        sxx, syy, sxy = self.sxx, self.syy, self.sxy
        if n_old > 0.0:
            tmp_x = x * n - sx
            tmp_y = y * n - sy
            scale = 1.0 / (n * n_old)
            sxx += tmp_x * tmp_x * scale
            syy += tmp_y * tmp_y * scale
            sxy += tmp_x * tmp_y * scale
            # Only finite inputs giving infinite sums are an overflow; sums of
            # squares that reach infinity from an infinite input become NaN.
            if math.isinf(sx) or math.isinf(sxx) or math.isinf(sy) or math.isinf(syy) or math.isinf(sxy):
                if (((math.isinf(sx) or math.isinf(sxx)) and not math.isinf(sx_old) and not math.isinf(x))
                        or ((math.isinf(sy) or math.isinf(syy)) and not math.isinf(sy_old) and not math.isinf(y))
                        or (math.isinf(sxy) and not math.isinf(sx_old) and not math.isinf(x)
                            and not math.isinf(sy_old) and not math.isinf(y))):
                    raise SqlError("22003", "value out of range: overflow")
                if math.isinf(sxx):
                    sxx = math.nan
                if math.isinf(syy):
                    syy = math.nan
                if math.isinf(sxy):
                    sxy = math.nan
        else:
            # a first input that is infinite or NaN makes the dependent sums NaN,
            # or a single row would report a variance of zero
            if math.isnan(x) or math.isinf(x):
                sxx = sxy = math.nan
            if math.isnan(y) or math.isinf(y):
                syy = sxy = math.nan
        self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy = n, sx, sy, sxx, syy, sxy

    def final(self) -> float | None:
        n, mode = self.n, self.mode
        if n < (2.0 if mode == "covar_samp" else 1.0):
            return None
        sxx, syy, sxy = self.sxx, self.syy, self.sxy
        if mode == "sxx":
            return sxx
        if mode == "syy":
            return syy
        if mode == "sxy":
            return sxy
        if mode == "avgx":
            return self.sx / n
        if mode == "avgy":
            return self.sy / n
        if mode == "covar_pop":
            return sxy / n
        if mode == "covar_samp":
            return sxy / (n - 1.0)
        if mode == "corr":
            if sxx == 0 or syy == 0:
                return None  # per the standard: a horizontal or vertical line
            return _fdiv(sxy, math.sqrt(sxx * syy))
        if sxx == 0:
            return None  # a vertical line
        if mode == "r2":
            return 1.0 if syy == 0 else _fdiv(sxy * sxy, sxx * syy)
        if mode == "slope":
            return sxy / sxx
        assert mode == "intercept", mode
        return (self.sy - self.sx * sxy / sxx) / n


_reg("regr_count", [FLOAT8, FLOAT8], INT8, Count)
for _name, _mode in (("regr_sxx", "sxx"), ("regr_syy", "syy"), ("regr_sxy", "sxy"), ("regr_avgx", "avgx"),
                     ("regr_avgy", "avgy"), ("regr_r2", "r2"), ("regr_slope", "slope"),
                     ("regr_intercept", "intercept"), ("covar_pop", "covar_pop"), ("covar_samp", "covar_samp"),
                     ("corr", "corr")):
    _reg(_name, [FLOAT8, FLOAT8], FLOAT8, RegrStats, mode=_mode)

# --- min / max ---------------------------------------------------------------------------------


class MinMax(_Acc):
    __slots__ = ("v", "k", "key", "is_max")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, is_max: bool = False) -> None:
        self.v: Any = None
        self.k: Any = None
        self.key = sort_key(argtypes[0])
        self.is_max = is_max

    def step(self, v: Any) -> None:
        k = self.key(v) if self.key is not None else v
        if self.v is None or (k > self.k if self.is_max else k < self.k):
            self.v, self.k = v, k

    def final(self) -> Any:
        return self.v


_ORDERED = (INT2, INT4, INT8, C.OID, FLOAT4, FLOAT8, NUMERIC, TEXT, C.BPCHAR, C.DATE, C.TIME, C.TIMESTAMP,
            C.TIMESTAMPTZ, INTERVAL, C.ANYARRAY)
for _t in _ORDERED:
    _reg("min", [_t], _t, MinMax)
    _reg("max", [_t], _t, MinMax, is_max=True)

# --- booleans and bits ---------------------------------------------------------------------------


class BoolAgg(_Acc):
    __slots__ = ("v", "is_and")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, is_and: bool = True) -> None:
        self.v: bool | None = None
        self.is_and = is_and

    def step(self, v: bool) -> None:
        if self.v is None:
            self.v = v
        elif self.is_and:
            self.v = self.v and v
        else:
            self.v = self.v or v

    def final(self) -> bool | None:
        return self.v


_reg("bool_and", [BOOL], BOOL, BoolAgg, is_and=True)
_reg("every", [BOOL], BOOL, BoolAgg, is_and=True)
_reg("bool_or", [BOOL], BOOL, BoolAgg, is_and=False)


class BitAgg(_Acc):
    __slots__ = ("v", "op")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext, op: str = "and") -> None:
        self.v: int | None = None
        self.op = op

    def step(self, v: int) -> None:
        if self.v is None:
            self.v = v
        elif self.op == "and":
            self.v &= v
        elif self.op == "or":
            self.v |= v
        else:
            self.v ^= v

    def final(self) -> int | None:
        return self.v


for _t in (INT2, INT4, INT8):
    _reg("bit_and", [_t], _t, BitAgg, op="and")
    _reg("bit_or", [_t], _t, BitAgg, op="or")
    _reg("bit_xor", [_t], _t, BitAgg, op="xor")

# --- string_agg / array_agg ---------------------------------------------------------------------


class StringAgg(_Acc):
    __slots__ = ("parts", "empty")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.parts: list[Any] = []
        self.empty = b"" if argtypes[0].oid == BYTEA.oid else ""

    def step(self, v: Any, delim: Any = None) -> None:
        if v is None:
            return
        if self.parts:
            self.parts.append(self.empty if delim is None else delim)
        self.parts.append(v)

    def final(self) -> Any:
        if not self.parts:
            return None
        return self.empty.join(self.parts)


_reg("string_agg", [TEXT, TEXT], TEXT, StringAgg, strict=False)
_reg("string_agg", [BYTEA, BYTEA], BYTEA, StringAgg, strict=False)


class ArrayAgg(_Acc):
    __slots__ = ("items", "of_arrays")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.items: list[Any] = []
        self.of_arrays = argtypes[0].is_array

    def step(self, v: Any) -> None:
        if self.of_arrays:
            if v is None:
                raise SqlError("22004", "cannot accumulate null arrays")
            if not v:
                raise SqlError("2202E", "cannot accumulate empty arrays")
            if self.items and len(v) != len(self.items[0]):
                raise SqlError("2202E", "cannot accumulate arrays of different dimensionality")
        self.items.append(v)

    def final(self) -> list | None:
        return self.items if self.items else None


_reg("array_agg", [C.ANYNONARRAY], C.ANYARRAY, ArrayAgg, strict=False)
_reg("array_agg", [C.ANYARRAY], C.ANYARRAY, ArrayAgg, strict=False)

# --- json aggregates ------------------------------------------------------------------------------


class JsonAgg(_Acc):
    __slots__ = ("items", "conv", "ctx", "binary", "structured")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.items: list[Any] = []
        self.binary = rettype.oid == JSONB.oid
        self.conv = to_json_value(argtypes[0]) if self.binary else to_json_text(argtypes[0])
        self.ctx = ctx
        # json_agg_transfn starts each array or row value after the first on a new line.
        self.structured = argtypes[0].is_array or argtypes[0].oid == C.RECORD.oid

    def step(self, v: Any) -> None:
        if v is None:
            self.items.append(None if self.binary else "null")
        elif self.structured and self.items and not self.binary:
            self.items.append("\n " + self.conv(self.ctx, v))
        else:
            self.items.append(self.conv(self.ctx, v))

    def final(self) -> Any:
        if not self.items:
            return None
        if self.binary:
            return Jsonb(self.items)
        return "[" + ", ".join(self.items) + "]"


class JsonObjectAgg(_Acc):
    __slots__ = ("pairs", "kout", "conv", "ctx", "binary")

    def __init__(self, argtypes: list[SqlType], rettype: SqlType, ctx: EvalContext) -> None:
        self.pairs: list[tuple[str, Any]] = []
        self.binary = rettype.oid == JSONB.oid
        kt = argtypes[0]
        self.kout = (lambda v: v) if kt.oid in (25, 1043, 705, 19) else (lambda v: text_out(kt, ctx)(v))
        self.conv = to_json_value(argtypes[1]) if self.binary else to_json_text(argtypes[1])
        self.ctx = ctx

    def step(self, k: Any, v: Any) -> None:
        if k is None:
            raise SqlError("22004", "field name must not be null")
        key = self.kout(k)
        if v is None:
            self.pairs.append((key, None if self.binary else "null"))
        else:
            self.pairs.append((key, self.conv(self.ctx, v)))

    def final(self) -> Any:
        if not self.pairs:
            return None
        if self.binary:
            return Jsonb(make_object(self.pairs))
        return "{ " + ", ".join(encode_json_string(k) + " : " + v for k, v in self.pairs) + " }"


_reg("json_agg", [C.ANYELEMENT], JSON, JsonAgg, strict=False)
_reg("jsonb_agg", [C.ANYELEMENT], JSONB, JsonAgg, strict=False)
_reg("json_object_agg", [C.ANY, C.ANY], JSON, JsonObjectAgg, strict=False)
_reg("jsonb_object_agg", [C.ANY, C.ANY], JSONB, JsonObjectAgg, strict=False)
