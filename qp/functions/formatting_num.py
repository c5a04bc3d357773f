"""to_char for numbers: PostgreSQL's NUM templates
(9 0 . , D G S MI PL SG PR FM V EEEE RN TH L). Digits are right-aligned in
the template's positions, the sign goes just before the first digit unless
placed explicitly, and too many digits print as '#'. Floats round like C's
%.*f (half-even on the exact binary value), numerics half away from zero.
to_number, which reads through the same templates, is in to_number.py.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from qp.errors import SqlError
from qp.functions.formatting import _ordinal
from qp.functions.registry import register_function
from qp.functions.to_number import parse_num_template
from qp.types.core import FLOAT4, FLOAT8, INT4, INT8, NUMERIC, TEXT
from qp.types.numeric import DEC

# --- numbers ---------------------------------------------------------------------------------

# B, C and SP are keywords that print nothing (formatting.c lists them for Oracle's sake)
_NUM_TOKENS = ["EEEE", "eeee", "FM", "fm", "PR", "pr", "MI", "mi", "PL", "pl", "SG", "sg", "SP", "sp", "RN", "rn",
               "TH", "th", "9", "0", ".", ",", "D", "d", "G", "g", "S", "s", "V", "v", "L", "l", "B", "b", "C", "c"]


class _NumFmt:
    def __init__(self, fmt: str) -> None:
        parse_num_template(fmt)  # PostgreSQL's checks on the template (42601 for "9.9.9", "S9S"...)
        self.tokens: list[str] = []
        i = 0
        while i < len(fmt):
            if fmt[i] == '"':
                # a quoted literal; a backslash takes the next character as is
                i += 1
                text = []
                while i < len(fmt) and fmt[i] != '"':
                    if fmt[i] == "\\" and i + 1 < len(fmt):
                        i += 1
                    text.append(fmt[i])
                    i += 1
                i += 1
                self.tokens.append("'" + "".join(text))
                continue
            if fmt.startswith('\\"', i):
                i += 1  # outside quotes a backslash only escapes a double quote
                self.tokens.append("'" + fmt[i])
                i += 1
                continue
            tok = next((t for t in _NUM_TOKENS if fmt.startswith(t, i)), None)
            if tok is None:
                self.tokens.append("'" + fmt[i])
                i += 1
            else:
                self.tokens.append(tok.upper())
                i += len(tok)
        t = self.tokens
        self.fm = "FM" in t
        self.eeee = "EEEE" in t
        self.rn = "RN" in t
        self.pr = "PR" in t
        self.th = "TH" in t
        point = next((k for k, x in enumerate(t) if x in (".", "D")), None)
        vpos = next((k for k, x in enumerate(t) if x == "V"), None)
        self.point = point
        digits_before = [k for k, x in enumerate(t) if x in ("9", "0") and (point is None or k < point)]
        digits_after = [k for k, x in enumerate(t) if x in ("9", "0") and point is not None and k > point]
        self.multiplier = 0
        if vpos is not None:
            self.multiplier = sum(1 for k, x in enumerate(t) if x in ("9", "0") and k > vpos)
        self.pre = len(digits_before)
        self.post = len(digits_after) if point is not None else 0
        self.explicit_sign = any(x in ("S", "MI", "PL", "SG", "PR") for x in t)


def _roman(n: int) -> str:
    vals = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
            (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for v, r in vals:
        while n >= v:
            out.append(r)
            n -= v
    return "".join(out)


def _num_to_char(value: Decimal, fmt: str, float_digits: int = 0, fval: float | None = None) -> str:
    """NUM_processor for to_char. `fval` is the float being printed (floats
    round like C's %.*f, i.e. half-even on the exact binary value)."""
    nf = _NumFmt(fmt)
    if nf.rn:
        n = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=DEC)) if value.is_finite() else 0
        if n < 1 or n > 3999:
            return "#" * 15
        r = _roman(n)
        if "rn" in fmt:
            r = r.lower()
        return r if nf.fm else r.rjust(15)
    if value.is_nan():
        width = nf.pre + nf.post + (1 if nf.post else 0) + 1
        return "NaN" if nf.fm else "NaN".rjust(width)
    neg = value.is_signed() and bool(value)
    if nf.eeee:
        if not value.is_finite():
            return "#" * (nf.pre + nf.post + 6)
        if fval is not None:
            mant, exp = f"{abs(fval):.{nf.post}e}".split("e")  # C's %e on the double
            e = int(exp)
        else:
            # numeric_out_sci: the exponent is taken before rounding, so
            # 0.9997 with two decimals prints as 10.00e-01, as in PG
            a = value.copy_abs()
            e = a.adjusted() if a else 0
            mant = format(a.scaleb(-e, context=DEC).quantize(Decimal(1).scaleb(-nf.post), rounding=ROUND_HALF_UP,
                                                              context=DEC), "f")
        return ("-" if neg else ("" if nf.fm else " ")) + f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if nf.multiplier:
        value = value.scaleb(nf.multiplier, context=DEC)
        if fval is not None:
            fval = fval * 10 ** nf.multiplier
    post = nf.post
    post_eff = post
    if float_digits and value.is_finite():
        int_len = len(f"{abs(fval) if fval is not None else value.copy_abs():.0f}")
        if int_len >= float_digits:
            post_eff = 0
        elif int_len + post > float_digits:
            post_eff = float_digits - int_len
    overflow = not value.is_finite()
    ip = fp = ""
    if not overflow:
        if fval is not None:
            txt = f"{abs(fval):.{post_eff}f}"
        else:
            rounded = value.copy_abs().quantize(Decimal(1).scaleb(-post_eff), rounding=ROUND_HALF_UP, context=DEC)
            txt = format(rounded, "f")
        ip, _, fp = txt.partition(".")
        fp = (fp + "0" * post)[:post]
        if ip == "0" and post > 0:
            ip = ""
        if len(ip) > nf.pre:
            overflow = True
        if not ip.strip("0") and not fp.strip("0"):
            neg = False
    t = nf.tokens
    out: list[str] = []
    anchor: int | None = None  # index in `out` where the number starts (sign goes before it)
    digit_slot = 0
    started = False
    zero_fill = False
    frac_i = 0
    last_zero_after = max((k for k, x in enumerate(t) if x == "0" and nf.point is not None and k > nf.point),
                          default=-1)
    last_nonzero_frac = len(fp.rstrip("0"))
    sign_at: int | None = None
    for k, tok in enumerate(t):
        if tok in ("9", "0") and (nf.point is None or k < nf.point):
            idx = digit_slot - (nf.pre - len(ip))
            digit_slot += 1
            if tok == "0":
                zero_fill = True
            if overflow:
                ch = "#"
            elif idx >= 0:
                ch = ip[idx]
            elif zero_fill:
                ch = "0"
            else:
                out.append("" if nf.fm else " ")
                continue
            if anchor is None:
                anchor = len(out)
            started = True
            out.append(ch)
        elif tok in (".", "D"):
            if post > 0:
                if anchor is None:
                    anchor = len(out)
                out.append(".")
                started = True
        elif tok in ("9", "0"):
            if overflow:
                out.append("#")
                continue
            d = fp[frac_i] if frac_i < len(fp) else "0"
            frac_i += 1
            if nf.fm and tok == "9" and frac_i > last_nonzero_frac and k > last_zero_after:
                out.append("")
            else:
                out.append(d)
        elif tok in (",", "G"):
            out.append("," if started else ("" if nf.fm else " "))
        elif tok == "S":
            if anchor is None:
                sign_at = -1  # before the number
            else:
                out.append("-" if neg else "+")
        elif tok == "MI":
            out.append("-" if neg else ("" if nf.fm else " "))
        elif tok == "PL":
            out.append("+" if not neg else ("" if nf.fm else " "))
        elif tok == "SG":
            out.append("-" if neg else "+")
        elif tok == "PR":
            out.append(">" if neg else ("" if nf.fm else " "))
        elif tok == "TH":
            if not neg and not overflow:
                out.append(_ordinal(int(ip or "0"), "th" not in fmt))
        elif tok == "L":
            out.append(" ")
        elif tok.startswith("'"):
            out.append(tok[1:])
    if anchor is None:
        anchor = len(out)
    if sign_at == -1:
        lead = "-" if neg else "+"
    elif nf.pr:
        lead = "<" if neg else ("" if nf.fm else " ")
    elif any(x in ("S", "MI", "SG") for x in t):
        lead = ""
    else:
        lead = "-" if neg else ("" if nf.fm else " ")
    out.insert(anchor, lead)
    return "".join(out)


def _roman_int4(v: Decimal) -> None:
    """numeric and int8 to_char RN go through int4: past it, PostgreSQL's error."""
    if v.is_finite() and not -(2**31) <= int(v.to_integral_value(rounding=ROUND_HALF_UP)) < 2**31:
        raise SqlError("22003", "integer out of range")


def to_char_numeric(v: Decimal, fmt: str) -> str:
    if _NumFmt(fmt).rn:
        _roman_int4(v)
    return _num_to_char(v, fmt)


def to_char_int4(v: int, fmt: str) -> str:
    # int4_to_char prints EEEE through float8 (%e rounding), which holds any int4 exactly
    return _num_to_char(Decimal(v), fmt, 0, float(v) if "EEEE" in fmt.upper() else None)


def to_char_int8(v: int, fmt: str) -> str:
    # int8_to_char: RN through int4, EEEE through numeric (a double would lose digits)
    if _NumFmt(fmt).rn:
        _roman_int4(Decimal(v))
    return _num_to_char(Decimal(v), fmt)


def to_char_float8(v: float, fmt: str) -> str:
    if v != v:
        return _num_to_char(Decimal("NaN"), fmt)
    if v in (float("inf"), float("-inf")):
        return _num_to_char(Decimal("Infinity"), fmt)
    return _num_to_char(Decimal(repr(v)), fmt, 15, v)


def to_char_float4(v: float, fmt: str) -> str:
    if v != v:
        return _num_to_char(Decimal("NaN"), fmt)
    if v in (float("inf"), float("-inf")):
        return _num_to_char(Decimal("Infinity"), fmt)
    return _num_to_char(Decimal(f"{v:.6g}"), fmt, 6, v)


register_function("to_char", [NUMERIC, TEXT], TEXT, to_char_numeric, volatility="s")
register_function("to_char", [INT4, TEXT], TEXT, to_char_int4, volatility="s")
register_function("to_char", [INT8, TEXT], TEXT, to_char_int8, volatility="s")
register_function("to_char", [FLOAT8, TEXT], TEXT, to_char_float8, volatility="s")
register_function("to_char", [FLOAT4, TEXT], TEXT, to_char_float4, volatility="s")
