"""Numbers: integer, numeric and float text forms, range checks and the
scale rules of PostgreSQL's numeric arithmetic.

Everything here is shared by the I/O factories (types/text_io.py), the casts
and the arithmetic operators/functions, so the error texts and rounding rules
live in one place. Numeric values are `decimal.Decimal`; all arithmetic goes
through the explicit context `DEC` (never the thread's default context, whose
28-digit precision would silently round), and the result scale of each
operation is chosen as numeric.c chooses it (select_div_scale and friends).
"""

from __future__ import annotations

import math
import re
import struct
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation

from qp.errors import SqlError

# Exact arithmetic: precision large enough for any PG numeric (131072 digits
# before the point, 16383 after); libmpdec only spends what the operands need.
DEC = Context(prec=200_000, rounding=ROUND_HALF_UP, Emax=999_999_999, Emin=-999_999_999,
              traps=[InvalidOperation])
DEC_TRUNC = Context(prec=200_000, rounding=ROUND_DOWN, Emax=999_999_999, Emin=-999_999_999,
                    traps=[InvalidOperation])

NUMERIC_MIN_SIG_DIGITS = 16
NUMERIC_MAX_DISPLAY_SCALE = 1000
NUMERIC_MAX_RESULT_SCALE = 2000
NUMERIC_MAX_WEIGHT_DIGITS = 131072  # decimal digits before the point
NUMERIC_DSCALE_MAX = 16383  # decimal digits after the point a numeric can hold

D_ZERO = Decimal(0)
D_ONE = Decimal(1)
D_NAN = Decimal("NaN")
D_INF = Decimal("Infinity")
D_NINF = Decimal("-Infinity")

INT2_MIN, INT2_MAX = -(2**15), 2**15 - 1
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1

_WS = " \t\n\r\v\f"

# --- integers -------------------------------------------------------------------

_INT_RE = re.compile(
    r"[ \t\n\r\v\f]*([+-]?)(?:0[xX]((?:_?[0-9a-fA-F])+)|0[oO]((?:_?[0-7])+)|0[bB]((?:_?[01])+)"
    r"|([0-9](?:_?[0-9])*))[ \t\n\r\v\f]*\Z")  # ASCII digits only, as PostgreSQL ("٣" is not one)

INT_RANGES = {"smallint": (INT2_MIN, INT2_MAX), "integer": (INT4_MIN, INT4_MAX),
              "bigint": (INT8_MIN, INT8_MAX)}


def make_int_parser(typename: str):
    """int2in/int4in/int8in with PG 16's syntax (underscores, 0x/0o/0b)."""
    lo, hi = INT_RANGES[typename]

    def parse(s: str) -> int:
        try:
            if not s.isascii():
                raise ValueError
            v = int(s)
        except ValueError:
            v = _int_slow(s, typename)
        if v < lo or v > hi:
            raise SqlError("22003", f'value "{s}" is out of range for type {typename}')
        return v

    def parse_column(values: tuple[str, ...]) -> list[int]:
        """Many values at once (COPY): ValueError unless every one is a plain ASCII int in range."""
        if not "".join(values).isascii():
            raise ValueError("not ASCII")
        out = list(map(int, values))
        if out and (min(out) < lo or max(out) > hi):
            raise ValueError("out of range")
        return out

    parse.column = parse_column  # type: ignore[attr-defined]
    return parse


def _int_slow(s: str, typename: str) -> int:
    m = _INT_RE.match(s)
    if m is None:
        raise SqlError("22P02", f'invalid input syntax for type {typename}: "{s}"')
    sign, hx, oc, bn, dec = m.groups()
    if hx is not None:
        v = int(hx.replace("_", ""), 16)
    elif oc is not None:
        v = int(oc.replace("_", ""), 8)
    elif bn is not None:
        v = int(bn.replace("_", ""), 2)
    else:
        v = int(dec.replace("_", ""))
    return -v if sign == "-" else v


parse_int2 = make_int_parser("smallint")
parse_int4 = make_int_parser("integer")
parse_int8 = make_int_parser("bigint")


def check_int2(v: int) -> int:
    if v < INT2_MIN or v > INT2_MAX:
        raise SqlError("22003", "smallint out of range")
    return v


def check_int4(v: int) -> int:
    if v < INT4_MIN or v > INT4_MAX:
        raise SqlError("22003", "integer out of range")
    return v


def check_int8(v: int) -> int:
    if v < INT8_MIN or v > INT8_MAX:
        raise SqlError("22003", "bigint out of range")
    return v


INT_CHECKS = {21: check_int2, 23: check_int4, 20: check_int8}

# --- numeric --------------------------------------------------------------------

_NUM_RE = re.compile(
    r"[ \t\n\r\v\f]*([+-]?)(?:((?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?)([eE][+-]?\d+)?"
    r"|0[xX]((?:_?[0-9a-fA-F])+)|0[oO]((?:_?[0-7])+)|0[bB]((?:_?[01])+)"
    r"|(nan|inf|infinity))[ \t\n\r\v\f]*\Z", re.IGNORECASE | re.ASCII)  # \d: ASCII digits only


_PLAIN_NUM = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_EXPONENT_MAX = (2**31 - 1) // 2  # set_var_from_str refuses exponents this large (INT_MAX / 2)


def parse_numeric(s: str) -> Decimal:
    """numeric_in: PG 16's syntax, returning a Decimal whose exponent is
    -dscale (never positive)."""
    # the common case: no exponent, no spaces, too short to be out of range
    if len(s) <= NUMERIC_DSCALE_MAX and _PLAIN_NUM.fullmatch(s):
        d = Decimal(s)
        return d if d or not d.is_signed() else d.copy_abs()
    m = _NUM_RE.match(s)
    if m is None or (m.group(2) is not None and m.group(2).strip(".") == ""):
        raise SqlError("22P02", f'invalid input syntax for type numeric: "{s}"')
    sign, mant, exp, hx, oc, bn, word = m.groups()
    if word is not None:
        w = word.lower()
        if w == "nan":
            if sign:
                raise SqlError("22P02", f'invalid input syntax for type numeric: "{s}"')
            return D_NAN
        return D_NINF if sign == "-" else D_INF
    if mant is None:
        v = int((hx or oc or bn).replace("_", ""), 16 if hx else 8 if oc else 2)
        return Decimal(-v if sign == "-" else v)
    d = Decimal(sign + mant.replace("_", ""))
    if exp is not None:
        # set_var_from_str: the exponent moves the weight and the display scale
        # (digits written after the point minus the exponent), then make_result
        # checks both; checked before scaling so that 1e999999999 costs nothing.
        e = int(exp[1:])
        if not -_EXPONENT_MAX < e < _EXPONENT_MAX:
            raise SqlError("22003", "value overflows numeric format")
        scale = max(0, -d.as_tuple().exponent - e)  # type: ignore[operator]
        if scale > NUMERIC_DSCALE_MAX or (d and d.adjusted() + e >= NUMERIC_MAX_WEIGHT_DIGITS):
            raise SqlError("22003", "value overflows numeric format")
        d = d.scaleb(e, context=DEC) if d else Decimal(0).scaleb(-scale)
    d = normalize_scale(d)
    if -d.as_tuple().exponent > NUMERIC_DSCALE_MAX:  # type: ignore[operator]
        raise SqlError("22003", "value overflows numeric format")
    return check_numeric_range(d)


def normalize_scale(d: Decimal) -> Decimal:
    """Drop a positive exponent (1E+3 -> 1000) and negative zero."""
    e = d.as_tuple().exponent
    if isinstance(e, int) and e > 0:
        d = d.quantize(D_ONE, context=DEC)
    if not d and d.is_signed():
        d = d.copy_abs()
    return d


def numeric_out(d: Decimal) -> str:
    s = format(d, "f")
    if s[0] == "-" and not d:
        return s[1:]
    return s


def dscale(d: Decimal) -> int:
    """The display scale of a numeric (digits after the point)."""
    e = d.as_tuple().exponent
    return -e if isinstance(e, int) and e < 0 else 0


def numeric_typmod_parts(typmod: int) -> tuple[int, int]:
    t = typmod - 4
    return (t >> 16) & 0xFFFF, ((t & 0x7FF) ^ 1024) - 1024


def make_numeric_typmod_applier(typmod: int):
    """apply_typmod for numeric(p,s): round to s places, then range check."""
    precision, scale = numeric_typmod_parts(typmod)
    maxdigits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def apply(d: Decimal) -> Decimal:
        if not d.is_finite():
            if d.is_nan():
                return d
            raise SqlError("22003", "numeric field overflow",
                           detail=f"A field with precision {precision}, scale {scale} "
                           "cannot hold an infinite value.")
        r = d.quantize(quantum, context=DEC)
        if r and r.adjusted() >= maxdigits:
            raise SqlError("22003", "numeric field overflow",
                           detail=f"A field with precision {precision}, scale {scale} must round "
                           f"to an absolute value less than {'10^' if maxdigits else ''}"
                           f"{maxdigits if maxdigits else 1}.")
        if scale < 0:
            r = r.quantize(D_ONE, context=DEC)
        if not r and r.is_signed():
            r = r.copy_abs()
        return r

    return apply


def nbase_weight_first(d: Decimal) -> tuple[int, int]:
    """(weight, first digit) of |d| in PG's base-10000 representation."""
    if not d:
        return 0, 0
    a = d.copy_abs()
    w = a.adjusted() // 4
    first = int(a.scaleb(-4 * w, context=DEC)) % 10000
    return w, first


def select_div_scale(a: Decimal, b: Decimal) -> int:
    w1, f1 = nbase_weight_first(a)
    w2, f2 = nbase_weight_first(b)
    qweight = w1 - w2
    if f1 <= f2:
        qweight -= 1
    rscale = NUMERIC_MIN_SIG_DIGITS - qweight * 4
    rscale = max(rscale, dscale(a), dscale(b), 0)
    return min(rscale, NUMERIC_MAX_DISPLAY_SCALE)


def div_round(a: Decimal, b: Decimal, rscale: int) -> Decimal:
    """a / b correctly rounded (half away from zero) to rscale digits,
    exactly, in integer arithmetic (as PG's div_var)."""
    na, da = a.as_integer_ratio()
    nb, db = b.as_integer_ratio()
    num = abs(na) * db
    den = da * abs(nb)
    if rscale >= 0:
        num *= 10**rscale
    else:
        den *= 10**-rscale
    q, r = divmod(num, den)
    if 2 * r >= den:
        q += 1
    if (na < 0) != (nb < 0) and q:
        q = -q
    return Decimal(q).scaleb(-rscale, context=DEC)


def div_trunc_int(a: Decimal, b: Decimal) -> Decimal:
    """trunc(a / b) as an integer-valued numeric (numeric div())."""
    return DEC.divide_int(a, b).quantize(D_ONE, context=DEC)


# numeric_round/numeric_trunc clamp the scale to what a numeric can hold:
# 16383 digits after the point, and one digit more than the 131072 before it
# (-(NUMERIC_WEIGHT_MAX + 1) * DEC_DIGITS - 1), so that a carry can overflow.
ROUND_SCALE_MIN, ROUND_SCALE_MAX = -131073, 16383


def round_scale(d: Decimal, scale: int) -> Decimal:
    """round(d, scale): half away from zero; negative scales round left of the point."""
    return _to_scale(d, scale, DEC)


def trunc_scale(d: Decimal, scale: int) -> Decimal:
    return _to_scale(d, scale, DEC_TRUNC)


def _to_scale(d: Decimal, scale: int, ctx: Context) -> Decimal:
    if not d.is_finite():
        return d
    scale = max(min(scale, ROUND_SCALE_MAX), ROUND_SCALE_MIN)
    r = d.quantize(Decimal(1).scaleb(-scale, context=DEC), context=ctx)
    if scale < 0:
        r = r.quantize(D_ONE, context=DEC)  # a negative scale still shows as scale 0
    if not r and r.is_signed():
        r = r.copy_abs()
    return check_numeric_range(r)


def check_numeric_range(d: Decimal) -> Decimal:
    if d.is_finite() and d and d.adjusted() >= NUMERIC_MAX_WEIGHT_DIGITS:
        raise SqlError("22003", "value overflows numeric format")
    return d


# --- floats ---------------------------------------------------------------------

_FLOAT_RE = re.compile(
    r"[ \t\n\r\v\f]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)[ \t\n\r\v\f]*\Z",
    re.IGNORECASE | re.ASCII)
_NONZERO_MANTISSA = re.compile(r"[1-9]")
_F4 = struct.Struct("f")
_U4 = struct.Struct("I")
FLT_MAX = 3.4028234663852886e38


def _strtod(s: str, typename: str) -> float:
    if _FLOAT_RE.match(s) is None:
        raise SqlError("22P02", f'invalid input syntax for type {typename}: "{s}"')
    t = s.strip(_WS)
    low = t.lower()
    if "x" in low:
        neg = low.startswith("-")
        v = float.fromhex(low.lstrip("+-"))
        return -v if neg else v
    v = float(t)
    if v in (math.inf, -math.inf) and "inf" not in low:
        raise SqlError("22003", f'"{s}" is out of range for type {typename}')
    if v == 0.0 and _NONZERO_MANTISSA.search(low.split("e")[0]):
        raise SqlError("22003", f'"{s}" is out of range for type {typename}')
    return v


def parse_float8(s: str) -> float:
    # Fast path for ordinary finite non-zero numbers; float() alone would
    # also accept '1_0' and non-ASCII digits, which PG does not.
    if s.isascii() and "_" not in s:
        try:
            v = float(s)
        except ValueError:
            v = 0.0
        if v != 0.0 and -math.inf < v < math.inf:
            return v
    return _strtod(s, "double precision")


def parse_float4(s: str) -> float:
    v = _strtod(s, "real")
    if math.isinf(v) or math.isnan(v):
        return v
    # (the native struct format rounds out-of-range values to inf silently)
    r = _F4.unpack(_F4.pack(v))[0]
    if math.isinf(r) or (r == 0.0 and v != 0.0):
        raise SqlError("22003", f'"{s}" is out of range for type real')
    return r


def to_float4(v: float) -> float:
    """Round a double to single precision, raising PG's overflow/underflow errors."""
    r = _F4.unpack(_F4.pack(v))[0]
    if math.isinf(r) and not math.isinf(v):
        raise SqlError("22003", "value out of range: overflow")
    if r == 0.0 and v != 0.0:
        raise SqlError("22003", "value out of range: underflow")
    return r


def to_float4_cast(v: float) -> float:
    """float8 -> float4 cast (float84 checks both ways, like float4_pl)."""
    if math.isinf(v) or math.isnan(v):
        return v
    return to_float4(v)


def _expform(digits: str, exp: int, neg: bool) -> str:
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if neg else ''}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fixedform(digits: str, exp: int, neg: bool) -> str:
    n = len(digits)
    if exp < 0:
        s = "0." + "0" * (-exp - 1) + digits
    elif exp + 1 >= n:
        s = digits + "0" * (exp + 1 - n)
    else:
        s = digits[:exp + 1] + "." + digits[exp + 1:]
    return "-" + s if neg else s


def _shortest(r: str) -> tuple[str, int]:
    """(significant digits, decimal exponent of the first digit) from a repr."""
    r = r.lstrip("-")
    if "e" in r:
        m, e = r.split("e")
        exp = int(e)
    else:
        m, exp = r, 0
    ip, _, fp = m.partition(".")
    digits = (ip + fp).lstrip("0")
    lead = len(ip.lstrip("0"))
    if lead:
        exp += lead - 1
    else:
        exp -= len(fp) - len(fp.lstrip("0")) + 1
    return digits.rstrip("0") or "0", exp


def float8_out(v: float) -> str:
    """float8out with extra_float_digits > 0: shortest exact digits (Ryu),
    fixed notation for decimal exponents -4..14, else d.ddde+XX."""
    if v != v:
        return "NaN"
    r = repr(v)
    if r == "inf":
        return "Infinity"
    if r == "-inf":
        return "-Infinity"
    if -9007199254740992.0 < v < 9007199254740992.0:
        if "e" not in r:
            if r[-2:] == ".0":
                r = r[:-2]
            if -1e15 < v < 1e15:
                return r
        else:
            return r  # Python and Ryu agree on exponent form for |exp| >= 16 or < -4
        digits, exp = _shortest(r)
        return _expform(digits, exp, v < 0)
    digits, exp = _f8_large_shortest(v, r)
    if -4 <= exp < 15:
        return _fixedform(digits, exp, v < 0)
    return _expform(digits, exp, v < 0)


def _f8_large_shortest(v: float, r: str) -> tuple[str, int]:
    """Shortest digits for |v| >= 2**53, where doubles are integers.

    PG builds Ryu without STRICTLY_SHORTEST: a decimal lying exactly halfway
    between two doubles is never chosen (Python's repr may choose it: 1e23
    prints as 1e+23 there but 9.999999999999999e+22 in PG). Above 2**53 the
    midpoints are integers, so the check is exact integer arithmetic; below,
    a midpoint needs more than 17 digits and can never be the shortest."""
    a = abs(v)
    m, e = math.frexp(a)
    ulp = 1 << (e - 53)
    ai = int(a)
    lo_mid = ai - (ulp // 4 if m == 0.5 else ulp // 2)
    hi_mid = ai + ulp // 2
    digits, exp = _shortest(r)
    if lo_mid < int(digits) * 10 ** (exp - len(digits) + 1) < hi_mid:
        return digits, exp
    for p in range(1, 18):
        found = _inside(a, p, lo_mid, hi_mid)
        if found is not None:
            return found
    return _shortest(f"{a:.16e}")


def _inside(a: float, p: int, lo: int, hi: int) -> tuple[str, int] | None:
    """The p-digit decimal Ryu would pick strictly inside (lo, hi), if any."""
    mant, e = f"{a:.{p - 1}e}".split("e")
    digits = mant.replace(".", "")
    exp = int(e)
    scale = exp - p + 1
    n = int(digits)
    for cand in (n, n + 1 if n * 10**scale < a else n - 1):
        value = cand * 10**scale if scale >= 0 else None
        if value is not None and lo < value < hi:
            d = str(cand)
            return d.rstrip("0") or "0", exp + (len(d) - p)
    return None


def float4_out(v: float) -> str:
    """float4out: shortest digits strictly inside float4's rounding interval
    (PG's Ryu excludes the interval bounds), fixed notation for decimal
    exponents -4..5."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "Infinity"
    if v == -math.inf:
        return "-Infinity"
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    pack = _F4.pack
    target = pack(v)
    bits = _U4.unpack(target)[0]
    # the neighbouring float4s and the midpoints to them (exact as doubles)
    up = _F4.unpack(_U4.pack(bits + 1))[0]
    down = _F4.unpack(_U4.pack(bits - 1))[0] if bits & 0x7FFFFFFF else -up
    mid_a, mid_b = (v + up) / 2, (v + down) / 2

    def ok(s: str) -> bool:
        d = float(s)
        return d != mid_a and d != mid_b and pack(d) == target

    # fewest digits that read back as the same float4; this is monotonic in
    # the digit count, so bisect over 1..9 significant digits
    lo, hi = 0, 8
    while lo < hi:
        mid = (lo + hi) // 2
        if ok("%.*e" % (mid, v)):  # noqa: UP031 (fastest form here)
            hi = mid
        else:
            lo = mid + 1
    s = "%.*e" % (lo, v)  # noqa: UP031
    if lo > 0:
        # the rounded candidate one digit shorter may sit exactly on a bound
        # while its neighbour towards v is inside (Ryu takes that one)
        shorter = "%.*e" % (lo - 1, v)  # noqa: UP031
        mant, e = shorter.split("e")
        unit = 10.0 ** (int(e) - (lo - 1))
        d = float(shorter)
        if d == mid_a or d == mid_b:
            alt = d + unit if d < v else d - unit
            alt_s = "%.*e" % (lo - 1, alt)  # noqa: UP031
            if ok(alt_s):
                s = alt_s
    m, e = s.split("e")
    digits = m.lstrip("-").replace(".", "").rstrip("0") or "0"
    exp = int(e)
    if -4 <= exp < 6:
        return _fixedform(digits, exp, v < 0)
    return _expform(digits, exp, v < 0)


def make_float_out(is_float4: bool, extra_float_digits: int):
    """The output function for the session's extra_float_digits."""
    if extra_float_digits > 0:
        return float4_out if is_float4 else float8_out
    prec = (6 if is_float4 else 15) + extra_float_digits
    prec = max(prec, 1)

    def out(v: float) -> str:
        if v != v:
            return "NaN"
        if v in (math.inf, -math.inf):
            return "Infinity" if v > 0 else "-Infinity"
        return f"{v:.{prec}g}"

    return out


def float_overflow() -> SqlError:
    return SqlError("22003", "value out of range: overflow")


def float_underflow() -> SqlError:
    return SqlError("22003", "value out of range: underflow")


def numeric_to_float(d: Decimal) -> float:
    v = float(d)
    if d.is_finite() and math.isinf(v):
        raise SqlError("22003", f'"{numeric_out(d)}" is out of range for type double precision')
    if v == 0.0 and d.is_finite() and d:
        raise SqlError("22003", f'"{numeric_out(d)}" is out of range for type double precision')
    return v


def float_to_numeric(v: float) -> Decimal:
    """float8 -> numeric: PG prints the float with DBL_DIG (15) significant
    digits and reads that back (float4: FLT_DIG = 6)."""
    if v != v:
        return D_NAN
    if math.isinf(v):
        return D_INF if v > 0 else D_NINF
    return normalize_scale(Decimal(f"{v:.15g}"))


def float4_to_numeric(v: float) -> Decimal:
    if v != v:
        return D_NAN
    if math.isinf(v):
        return D_INF if v > 0 else D_NINF
    return normalize_scale(Decimal(f"{v:.6g}"))


def float_to_int(v: float, lo: int, hi: int, name: str) -> int:
    """float -> int2/4/8: round half to even (rint), then range check."""
    if v != v or math.isinf(v):
        raise SqlError("22003", f"{name} out of range")
    r = round(v)
    if r < lo or r > hi:
        raise SqlError("22003", f"{name} out of range")
    return r


def numeric_to_int(d: Decimal, lo: int, hi: int, name: str) -> int:
    """numeric -> int: round half away from zero, then range check."""
    if d.is_nan():
        raise SqlError("0A000", f"cannot convert NaN to {name}")
    if d.is_infinite():
        raise SqlError("0A000", f"cannot convert infinity to {name}")
    r = int(d.quantize(D_ONE, context=DEC))
    if r < lo or r > hi:
        raise SqlError("22003", f"{name} out of range")
    return r
