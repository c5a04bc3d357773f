"""DynamoDB's numbers: exact decimals of at most 38 significant digits.

A Number travels as a string and is stored exactly (no binary floating
point). The rules, from the Developer Guide's quotas page:
- at most 38 significant digits (leading and trailing zeros do not count);
- positive magnitudes from 1E-130 to 9.9999999999999999999999999999999999999E+125,
  the same negated, and zero;
- the string must be a decimal literal: no NaN, Infinity or spaces.

Values are kept in canonical form, the shortest plain decimal (`"1.50"` and
`"15E-1"` both become `"1.5"`, `"1E+2"` becomes `"100"`), which is what
DynamoDB returns, so equal numbers are equal strings and key encodings agree.
Arithmetic (SET a = a + :n, ADD) runs in a context wide enough to be exact
for any two valid operands, and its result is checked like an input.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from kv.dynamodb.errors import validation

SIGNIFICANT_DIGITS_MAX = 38
# Adjusted exponent (of the first significant digit) bounds: 1E-130 .. 9.99..E+125.
EXPONENT_MAX = 125
EXPONENT_MIN = -130

# Wide enough that the sum or difference of two valid numbers is exact
# (their digits span at most 125 + 130 + 38 places).
_ARITHMETIC = decimal.Context(prec=400, Emax=999_999, Emin=-999_999, traps=[decimal.InvalidOperation])

_LITERAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# An integer already in canonical form (no sign but a minus, no leading zeros, at most 38 digits,
# so within every limit): most numbers in requests are, and need no Decimal to check.
_CANONICAL_INTEGER = re.compile(r"-?[1-9][0-9]{0,37}|0")


def parse(text: str) -> Decimal:
    """The value of a Number string, checked against DynamoDB's limits."""
    if not isinstance(text, str) or _LITERAL.fullmatch(text) is None:
        raise validation(f"The parameter cannot be converted to a numeric value: {text}")
    value = Decimal(text)
    check(value)
    return value


def check(value: Decimal) -> None:
    """Raise DynamoDB's error if `value` cannot be stored."""
    if value.is_zero():
        return
    sign, digits, exponent = value.as_tuple()
    # Trim leading zeros (Decimal has none but for 0) and trailing zeros.
    significant = len(digits)
    trailing = 0
    for d in reversed(digits):
        if d != 0:
            break
        trailing += 1
    significant -= trailing
    adjusted = value.adjusted()
    if significant > SIGNIFICANT_DIGITS_MAX:
        raise validation("Attempting to store more than 38 significant digits in a Number")
    if adjusted > EXPONENT_MAX:
        raise validation("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if adjusted < EXPONENT_MIN:
        raise validation("Number underflow. Attempting to store a number with magnitude smaller than supported range")


def canonical(value: Decimal) -> str:
    """The shortest plain decimal string of `value` (DynamoDB's output form)."""
    if value.is_zero():
        return "0"
    return format(value.normalize(_ARITHMETIC), "f")


def normalize(text: str) -> str:
    """Parse and canonicalise a Number string from a request."""
    if isinstance(text, str) and _CANONICAL_INTEGER.fullmatch(text):
        return text
    return canonical(parse(text))


def add(a: str, b: str) -> str:
    result = _ARITHMETIC.add(Decimal(a), Decimal(b))
    check(result)
    return canonical(result)


def subtract(a: str, b: str) -> str:
    result = _ARITHMETIC.subtract(Decimal(a), Decimal(b))
    check(result)
    return canonical(result)


def size_bytes(text: str) -> int:
    """Stored size: about one byte per two significant digits, plus one."""
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1
