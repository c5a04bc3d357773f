"""Arithmetic kernels for numeric and float8/float4 with PostgreSQL's
special-value rules, error codes and result scales.

numeric: exact add/sub/mul through the explicit DEC context; division
rounded to select_div_scale's scale; sqrt/exp/ln/log/power computed with
guard digits and rounded half away from zero to the scale numeric.c would
choose (numeric_sqrt, numeric_exp, numeric_ln, log_var, power_var[_int]).
float: IEEE arithmetic plus PG's overflow/underflow/zero-divide checks.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation

from qp.errors import SqlError
from qp.types.numeric import (
    D_INF,
    D_NAN,
    D_NINF,
    D_ONE,
    D_ZERO,
    DEC,
    NUMERIC_MAX_DISPLAY_SCALE,
    NUMERIC_MAX_RESULT_SCALE,
    NUMERIC_MIN_SIG_DIGITS,
    check_numeric_range,
    div_round,
    dscale,
    nbase_weight_first,
    round_scale,
    select_div_scale,
)

# --- numeric -----------------------------------------------------------------------------


def _overflow() -> SqlError:
    return SqlError("22003", "value overflows numeric format")


def num_add(a: Decimal, b: Decimal) -> Decimal:
    try:
        return check_numeric_range(DEC.add(a, b))
    except InvalidOperation:
        return D_NAN  # inf + -inf


def num_sub(a: Decimal, b: Decimal) -> Decimal:
    try:
        return check_numeric_range(DEC.subtract(a, b))
    except InvalidOperation:
        return D_NAN


def num_mul(a: Decimal, b: Decimal) -> Decimal:
    try:
        r = DEC.multiply(a, b)
    except InvalidOperation:
        return D_NAN  # inf * 0
    if r.is_finite() and r and r.adjusted() >= 131072:
        raise _overflow()
    if r.is_zero() and r.is_signed():
        r = -r  # 0 * -1: numeric has no negative zero (it would show as -0 once cast to float)
    if r.is_finite() and dscale(r) > 16383:
        r = r.quantize(Decimal(1).scaleb(-16383), context=DEC)
    return r


def num_div(a: Decimal, b: Decimal) -> Decimal:
    if a.is_finite() and b.is_finite():
        if not b:
            raise SqlError("22012", "division by zero")
        return div_round(a, b, select_div_scale(a, b))
    if a.is_nan() or b.is_nan():
        return D_NAN
    if a.is_infinite():
        if b.is_infinite():
            return D_NAN
        if not b:
            raise SqlError("22012", "division by zero")
        return a if not b.is_signed() else -a
    return D_ZERO


def num_div_trunc(a: Decimal, b: Decimal) -> Decimal:
    """div(): trunc(a / b)."""
    if a.is_finite() and b.is_finite():
        if not b:
            raise SqlError("22012", "division by zero")
        return DEC.divide_int(a, b).quantize(D_ONE, context=DEC)
    if a.is_nan() or b.is_nan():
        return D_NAN
    if a.is_infinite():
        if b.is_infinite():
            return D_NAN
        if not b:
            raise SqlError("22012", "division by zero")
        return a if not b.is_signed() else -a
    return D_ZERO


def num_mod(a: Decimal, b: Decimal) -> Decimal:
    if a.is_finite() and b.is_finite():
        if not b:
            raise SqlError("22012", "division by zero")
        r = DEC.remainder(a, b)
        return r.copy_abs() if not r else r
    if a.is_nan() or b.is_nan():
        return D_NAN
    if a.is_infinite():
        if b.is_finite() and not b:
            raise SqlError("22012", "division by zero")
        return D_NAN
    return a  # finite % inf


def num_neg(a: Decimal) -> Decimal:
    return DEC.minus(a) if a else a


def num_abs(a: Decimal) -> Decimal:
    return a.copy_abs()


def _round_to(v: Decimal, rscale: int) -> Decimal:
    r = v.quantize(Decimal(1).scaleb(-rscale), context=DEC)
    if not r and r.is_signed():
        r = r.copy_abs()
    return r


def _work_ctx(digits: int) -> Context:
    return Context(prec=max(digits, 30), rounding=ROUND_DOWN, Emax=999_999_999, Emin=-999_999_999)


def num_sqrt(a: Decimal) -> Decimal:
    if a.is_nan():
        return D_NAN
    if a.is_signed() and a:
        raise SqlError("2201F", "cannot take square root of a negative number")
    if a.is_infinite():
        return D_INF
    w, _ = nbase_weight_first(a) if a else (0, 0)
    sweight = (w + 1) * 4 // 2 - 1
    rscale = NUMERIC_MIN_SIG_DIGITS - sweight
    rscale = min(max(rscale, dscale(a), 0), NUMERIC_MAX_DISPLAY_SCALE)
    if not a:
        return Decimal(0).scaleb(-rscale)
    ctx = _work_ctx(max(a.adjusted() // 2 + 1, 1) + rscale + 10)
    return _round_to(ctx.sqrt(a), rscale)


def num_exp(a: Decimal) -> Decimal:
    if a.is_nan():
        return D_NAN
    if a.is_infinite():
        return D_ZERO if a.is_signed() else D_INF
    val = float(a)
    # numeric_exp picks the result scale first: exp(-1e6) is zero at scale 1000
    weight = max(min(val * 0.434294481903252, NUMERIC_MAX_RESULT_SCALE), -NUMERIC_MAX_RESULT_SCALE)
    rscale = NUMERIC_MIN_SIG_DIGITS - int(weight)
    rscale = min(max(rscale, dscale(a), 0), NUMERIC_MAX_DISPLAY_SCALE)
    if abs(val) >= NUMERIC_MAX_RESULT_SCALE * 3:
        if val > 0:
            raise _overflow()
        return Decimal(0).scaleb(-rscale)
    # every digit of the result is kept: size the precision by its true weight, not the clamped one
    ctx = _work_ctx(max(int(val * 0.434294481903252) + 1, 1) + rscale + 10)
    return _round_to(ctx.exp(a), rscale)


def estimate_ln_dweight(a: Decimal) -> int:
    if not a.is_finite() or a <= 0:
        return 0
    if Decimal("0.9") <= a <= Decimal("1.1"):
        x = DEC.subtract(a, D_ONE)
        return x.adjusted() if x else 0
    # ln(var) ~= ln(first two NBASE digits) + dweight * ln(10)
    w, _ = nbase_weight_first(a)
    digits = int(a.scaleb(-4 * (w - 1), context=DEC))  # up to 8 leading digits
    dweight = (w - 1) * 4
    if digits < 10000:
        # only one NBASE digit
        digits = int(a.scaleb(-4 * w, context=DEC))
        dweight = w * 4
    ln_var = math.log(digits) + dweight * 2.302585092994046
    return int(math.log10(abs(ln_var))) if ln_var else 0


def _ln_checks(a: Decimal) -> None:
    if not a:
        raise SqlError("2201E", "cannot take logarithm of zero")
    if a.is_signed():
        raise SqlError("2201E", "cannot take logarithm of a negative number")


def num_ln(a: Decimal) -> Decimal:
    if a.is_nan():
        return D_NAN
    if a.is_infinite():
        if a.is_signed():
            raise SqlError("2201E", "cannot take logarithm of a negative number")
        return D_INF
    _ln_checks(a)
    ln_dweight = estimate_ln_dweight(a)
    rscale = NUMERIC_MIN_SIG_DIGITS - ln_dweight
    rscale = min(max(rscale, dscale(a), 0), NUMERIC_MAX_DISPLAY_SCALE)
    ctx = _work_ctx(max(ln_dweight + 1, 1) + rscale + 10)
    return _round_to(ctx.ln(a), rscale)


def num_log(base: Decimal, x: Decimal) -> Decimal:
    """log(base, x) with log_var's scale."""
    if base.is_nan() or x.is_nan():
        return D_NAN
    if base.is_infinite() or x.is_infinite():
        if base.is_signed() or x.is_signed():
            raise SqlError("2201E", "cannot take logarithm of a negative number")
        if base.is_infinite() and x.is_infinite():
            return D_NAN
        if base.is_infinite():
            _ln_checks(x)
            return D_ZERO
        _ln_checks(base)
        return D_INF if base > 1 else D_NINF
    _ln_checks(base)
    _ln_checks(x)
    if base == D_ONE:
        raise SqlError("22012", "division by zero")
    bd = estimate_ln_dweight(base)
    xd = estimate_ln_dweight(x)
    result_dweight = xd - bd
    rscale = NUMERIC_MIN_SIG_DIGITS - result_dweight
    rscale = min(max(rscale, dscale(base), dscale(x), 0), NUMERIC_MAX_DISPLAY_SCALE)
    ctx = _work_ctx(abs(result_dweight) + rscale + abs(bd) + abs(xd) + 20)
    return _round_to(ctx.divide(ctx.ln(x), ctx.ln(base)), rscale)


def num_log10(x: Decimal) -> Decimal:
    return num_log(Decimal(10), x)


def num_power(a: Decimal, b: Decimal) -> Decimal:
    """numeric_power with power_var's result scale."""
    if a.is_nan():
        return D_ONE if b.is_finite() and not b else D_NAN
    if b.is_nan():
        return D_ONE if a.is_finite() and a == D_ONE else D_NAN
    if not a.is_finite() or not b.is_finite():
        return _power_special(a, b)
    if not a and b.is_signed():
        raise SqlError("2201F", "zero raised to a negative power is undefined")
    if a.is_signed() and b != b.to_integral_value():
        raise SqlError("2201F", "a negative number raised to a non-integer power yields a complex result")
    if b == b.to_integral_value() and -(2**31) <= b <= 2**31 - 1:
        return _power_int(a, int(b), dscale(b))
    if not a:
        return Decimal(0).scaleb(-NUMERIC_MIN_SIG_DIGITS)
    # non-integer exponent, positive base: the result's decimal weight from a
    # low-precision exp * ln(base), as power_var estimates it
    ln_base = math.log(float(a)) if float(a) not in (0.0, math.inf) else float(DEC.ln(a))
    val = ln_base * float(b)
    if abs(val) > NUMERIC_MAX_RESULT_SCALE * 3.01:
        if val > 0:
            raise _overflow()
        return Decimal(0).scaleb(-NUMERIC_MAX_DISPLAY_SCALE)
    val *= 0.434294481903252
    rscale = NUMERIC_MIN_SIG_DIGITS - int(val)
    rscale = min(max(rscale, dscale(a), dscale(b), 0), NUMERIC_MAX_DISPLAY_SCALE)
    ctx = _work_ctx(max(int(val) + 1, 1) + rscale + 15)
    return _round_to(ctx.power(a, b), rscale)


# PostgreSQL 16 (commit 40c7fcb) picks the scale of numeric power() with an
# integer exponent from the result's estimated weight: power(2.0, 10) is
# 1024.0000000000000. PostgreSQL 15 used max(16, scale of the base):
# 1024.0000000000000000. True reproduces 15's results, which the reference server is.
POWER_INT_SCALE_PG15 = True


def _power_int(a: Decimal, e: int, exp_dscale: int) -> Decimal:
    if a:
        w, _ = nbase_weight_first(a)
        # f ~ first NBASE digits (up to 4) and p their decimal exponent
        coeff = a.copy_abs()
        ndig = min(4, max(1, (len(coeff.as_tuple().digits) + 7) // 4))
        f = int(coeff.scaleb(-4 * (w - ndig + 1), context=DEC))
        p = (w - ndig + 1) * 4
        f_est = e * (math.log10(f) + p) if f > 0 else 0.0
    else:
        f_est = 0.0
    if f_est > 131072 * 4 + 4 * 1:
        raise _overflow()
    if f_est + 1 < -NUMERIC_MAX_DISPLAY_SCALE:
        return Decimal(0).scaleb(-NUMERIC_MAX_DISPLAY_SCALE)
    if POWER_INT_SCALE_PG15:
        rscale = min(max(NUMERIC_MIN_SIG_DIGITS, dscale(a), 0), NUMERIC_MAX_DISPLAY_SCALE)
    else:
        rscale = NUMERIC_MIN_SIG_DIGITS - int(f_est)
        rscale = min(max(rscale, dscale(a), exp_dscale, 0), NUMERIC_MAX_DISPLAY_SCALE)
    if e == 0:
        return Decimal(1).quantize(Decimal(1).scaleb(-rscale), context=DEC)
    if not a:
        if e < 0:
            raise SqlError("22012", "division by zero")
        return Decimal(0).scaleb(-rscale)
    if e > 0:
        exact_digits = len(a.as_tuple().digits) * e
        if exact_digits <= 20000:
            r = DEC.power(a, e)
            return _round_to(r, rscale)
    ctx = _work_ctx(max(int(abs(f_est)) + 1, 1) + rscale + 20)
    r = ctx.power(a, e)
    if r.is_infinite():
        raise _overflow()
    return _round_to(r, rscale)


def _power_special(a: Decimal, b: Decimal) -> Decimal:
    """Infinite operands, following float pow() as numeric_power does."""
    if not a.is_finite() and a.is_signed() is False and b.is_finite() and not b:
        return D_ONE
    fa, fb = float(a), float(b)
    if fa == 0.0 and fb < 0:
        raise SqlError("2201F", "zero raised to a negative power is undefined")
    if fa < 0 and math.isfinite(fb) and fb != math.floor(fb):
        raise SqlError("2201F", "a negative number raised to a non-integer power yields a complex result")
    try:
        r = math.pow(fa, fb)
    except OverflowError:
        r = math.inf
    if math.isinf(r):
        return D_NINF if r < 0 else D_INF
    if r == 0:
        return D_ZERO
    return D_ONE if r == 1 else Decimal(r)


def num_round(a: Decimal, scale: int = 0) -> Decimal:
    return round_scale(a, scale)


def num_ceil(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a
    r = a.to_integral_value(rounding="ROUND_CEILING")
    r = r.quantize(D_ONE, context=DEC)
    return r.copy_abs() if not r else r


def num_floor(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a
    r = a.to_integral_value(rounding="ROUND_FLOOR").quantize(D_ONE, context=DEC)
    return r.copy_abs() if not r else r


# --- float -------------------------------------------------------------------------------

INF = math.inf


def f8_pl(a: float, b: float) -> float:
    r = a + b
    if r in (INF, -INF) and a not in (INF, -INF) and b not in (INF, -INF):
        raise SqlError("22003", "value out of range: overflow")
    return r


def f8_mi(a: float, b: float) -> float:
    r = a - b
    if r in (INF, -INF) and a not in (INF, -INF) and b not in (INF, -INF):
        raise SqlError("22003", "value out of range: overflow")
    return r


def f8_mul(a: float, b: float) -> float:
    r = a * b
    if r in (INF, -INF):
        if a not in (INF, -INF) and b not in (INF, -INF):
            raise SqlError("22003", "value out of range: overflow")
    elif r == 0.0 and a != 0.0 and b != 0.0:
        raise SqlError("22003", "value out of range: underflow")
    return r


def f8_div(a: float, b: float) -> float:
    if b == 0.0:
        if a != a:
            return a
        raise SqlError("22012", "division by zero")
    r = a / b
    if r in (INF, -INF):
        if a not in (INF, -INF):
            raise SqlError("22003", "value out of range: overflow")
    elif r == 0.0 and a != 0.0 and b not in (INF, -INF):
        raise SqlError("22003", "value out of range: underflow")
    return r


def f8_pow(a: float, b: float) -> float:
    """dpow: POSIX pow() with PG's explicit infinity handling and errors."""
    if a != a:
        return 1.0 if b == 0.0 else a
    if b != b:
        return 1.0 if a == 1.0 else b
    if a == 0.0 and b < 0.0:
        raise SqlError("2201F", "zero raised to a negative power is undefined")
    if a < 0.0 and b not in (INF, -INF) and math.floor(b) != b:
        raise SqlError("2201F", "a negative number raised to a non-integer power yields a complex result")
    if b in (INF, -INF):
        absx = abs(a)
        if absx == 1.0:
            return 1.0
        if b > 0:
            return b if absx > 1.0 else 0.0
        return 0.0 if absx > 1.0 else -b
    if a in (INF, -INF):
        if b == 0.0:
            return 1.0
        if a > 0:
            return a if b > 0 else 0.0
        odd = math.floor(b / 2) != b / 2
        if b > 0:
            return a if odd else -a
        return -0.0 if odd else 0.0
    try:
        r = math.pow(a, b)
    except OverflowError:
        raise SqlError("22003", "value out of range: overflow") from None
    if r in (INF, -INF):
        raise SqlError("22003", "value out of range: overflow")
    if r == 0.0 and a != 0.0:
        raise SqlError("22003", "value out of range: underflow")
    return r


def f8_sqrt(a: float) -> float:
    if a < 0.0:
        raise SqlError("2201F", "cannot take square root of a negative number")
    return math.sqrt(a)


def f8_cbrt(a: float) -> float:
    return math.cbrt(a)  # libm's cbrt, as PG uses (cbrt(27) is 3.0000000000000004)
