"""Text input of interval: PostgreSQL's DecodeInterval and
DecodeISO8601Interval ('1 day 2 hours', '1-2', '1 2:03:04', '@ 1 hour ago',
'P1Y2M3DT4H5M6S', 'P0001-02-03T04:05:06'), including the way fractional
units spill into smaller ones ('1.5 months' = 1 mon 15 days) and the typmod
range deciding the unit of a bare number (interval '1' year).

Also the unit-name table (DecodeUnits/DecodeSpecial), which date_part,
extract and date_trunc share.
"""

from __future__ import annotations

import re

from qp.errors import SqlError
from qp.types.core import (
    INTERVAL_FULL_RANGE,
    IV_DAY,
    IV_HOUR,
    IV_MINUTE,
    IV_MONTH,
    IV_SECOND,
    IV_YEAR,
    USECS_PER_DAY,
    USECS_PER_HOUR,
    USECS_PER_MINUTE,
    USECS_PER_SEC,
    Interval,
    interval_typmod_parts,
)
from qp.types.dt_parse import DATE, NUMBER, SPECIAL, STRING, TIME, TZ, _DtErr, parse_tokens

# unit codes
U_MICROSEC, U_MILLISEC, U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR, \
    U_DECADE, U_CENTURY, U_MILLENNIUM = ("microseconds", "milliseconds", "second", "minute", "hour", "day",
                                         "week", "month", "quarter", "year", "decade", "century",
                                         "millennium")

# deltatktbl: unit spellings (PG compares the first 10 characters only)
UNITS: dict[str, str] = {}
for _unit, _names in {
    U_CENTURY: "c cent centuries century",
    U_DAY: "d day days",
    U_DECADE: "dec decade decades decs",
    U_HOUR: "h hour hours hr hrs",
    U_MINUTE: "m min mins minute minutes",
    U_MICROSEC: "microsecon us usec usecs useconds microsecond",
    U_MILLENNIUM: "mil millennia millennium mils",
    U_MILLISEC: "millisecon ms msec msecs mseconds millisecond",
    U_MONTH: "mon mons month months",
    U_QUARTER: "qtr quarter",
    U_SECOND: "s sec second seconds secs",
    U_WEEK: "w week weeks",
    U_YEAR: "y year years yr yrs",
}.items():
    for _n in _names.split():
        UNITS[_n] = _unit

# extra field names date_part/extract/date_trunc accept
EXTRA_FIELDS = {"epoch": "epoch", "dow": "dow", "doy": "doy", "isodow": "isodow", "isoyear": "isoyear",
                "timezone": "timezone", "timezone_h": "timezone_hour", "timezone_m": "timezone_minute",
                "julian": "julian", "j": "julian"}


def lookup_unit(name: str) -> str | None:
    """DecodeUnits then DecodeSpecial on a field name (case-insensitive)."""
    key = name.lower()[:10]
    return UNITS.get(key) or EXTRA_FIELDS.get(key)


def _iv_error(kind: str, s: str) -> SqlError:
    if kind == "overflow":
        return SqlError("22015", f'interval field value out of range: "{s}"')
    return SqlError("22007", f'invalid input syntax for type interval: "{s}"')


class _Acc:
    """pg_itm_in: the three interval fields being accumulated."""

    __slots__ = ("months", "days", "us")

    def __init__(self) -> None:
        self.months = 0
        self.days = 0
        self.us = 0

    def add_us(self, val: int, fval: float, scale: int) -> None:
        self.us += val * scale + round(fval * scale)

    def add_fract_us(self, frac: float, scale: int) -> None:
        self.us += round(frac * scale)

    def add_fract_days(self, frac: float, scale: int) -> None:
        extra = frac * scale
        whole = int(extra)
        self.days += whole
        self.add_fract_us(extra - whole, USECS_PER_DAY)

    def add_years(self, val: int, fval: float, scale: int) -> None:
        self.months += val * scale * 12 + round(fval * scale * 12)


def _range_unit(rng: int) -> str:
    if rng == IV_YEAR:
        return U_YEAR
    if rng in (IV_MONTH, IV_YEAR | IV_MONTH):
        return U_MONTH
    if rng == IV_DAY:
        return U_DAY
    if rng in (IV_HOUR, IV_DAY | IV_HOUR):
        return U_HOUR
    if rng in (IV_MINUTE, IV_HOUR | IV_MINUTE, IV_DAY | IV_HOUR | IV_MINUTE):
        return U_MINUTE
    return U_SECOND


def _time_for_interval(s: str, rng: int) -> int:
    """DecodeTimeForInterval: hh:mm[:ss[.f]], mm:ss.f -> microseconds."""
    m = re.fullmatch(r"(\d+):(\d+)(?:(:(\d+))?(\.\d*)?)?", s)
    if m is None:
        raise _DtErr(0)
    hour, mins = int(m.group(1)), int(m.group(2))
    sec, fsec = 0, 0
    if m.group(3):
        sec = int(m.group(4))
        if m.group(5):
            fsec = round(float("0" + m.group(5)) * 1000000)
    elif m.group(5) is not None:
        hour, mins, sec = 0, hour, mins
        fsec = round(float("0" + m.group(5)) * 1000000)
    elif rng == IV_MINUTE | IV_SECOND:
        hour, mins, sec = 0, hour, mins
    if mins > 59 or sec > 60 or fsec > 1000000:
        raise _DtErr(1)
    return ((hour * 60 + mins) * 60 + sec) * USECS_PER_SEC + fsec


def parse_interval(s: str, typmod: int = -1) -> Interval:
    """interval_in (IntervalStyle postgres), before the typmod is applied."""
    rng, _ = interval_typmod_parts(typmod) if typmod >= 0 else (INTERVAL_FULL_RANGE, -1)
    stripped = s.strip(" \t\n\r\v\f")
    try:
        if stripped[:1] in ("P", "p") or stripped[:2] in ("-P", "-p"):
            acc = _decode_iso8601(stripped)
        else:
            acc = _decode_interval(s, rng)
    except _DtErr as e:
        raise _iv_error("overflow" if e.kind == 1 else "format", s) from None
    except (ValueError, OverflowError):
        raise _iv_error("format", s) from None
    if not (-(2**31) <= acc.months < 2**31 and -(2**31) <= acc.days < 2**31 and -(2**63) <= acc.us < 2**63):
        raise SqlError("22008", "interval out of range")
    return Interval(acc.months, acc.days, acc.us)


def _split_number(field: str) -> tuple[int, float, str]:
    """strtoi64 then the rest: '-1.5' -> (-1, -0.5, '')."""
    m = re.match(r"[+-]?\d+", field)
    if m is None:
        if re.match(r"[+-]?\.\d", field):
            neg = field[0] == "-"
            frac = float("0" + field.lstrip("+-"))
            return 0, -frac if neg else frac, ""
        raise _DtErr(0)
    val = int(m.group(0))
    rest = field[m.end():]
    if rest.startswith("."):
        fm = re.match(r"\.\d*", rest)
        assert fm is not None
        frac = float("0" + fm.group(0)) if fm.group(0) != "." else 0.0
        if field[0] == "-":
            frac = -frac
        return val, frac, rest[fm.end():]
    return val, 0.0, rest


def _decode_interval(s: str, rng: int) -> _Acc:
    tokens = parse_tokens(s)
    acc = _Acc()
    fmask = 0
    unit: str | None = None  # unit for the number to the left (we read right to left)
    parsing_unit = False
    is_before = False
    nf = len(tokens)
    for i in range(nf - 1, -1, -1):
        ftype, field = tokens[i]
        tmask = 0
        if ftype == TIME or (ftype == TZ and ":" in field[1:]):
            body = field[1:] if ftype == TZ else field
            us = _time_for_interval(body, rng)
            if ftype == TZ and field[0] == "-":
                us = -us
            acc.us = us
            tmask = 0b11111  # DTK_TIME_M: clashes with hour..microsecond units
            unit = U_DAY
        elif ftype in (TZ, DATE, NUMBER):
            parsing_unit = False
            if unit is None:
                unit = _range_unit(rng)
            val, fval, rest = _split_number(field)
            if rest.startswith("-"):
                m2 = re.fullmatch(r"-(\d+)", rest)
                if m2 is None:
                    raise _DtErr(0)
                val2 = int(m2.group(1))
                if val2 >= 12:
                    raise _DtErr(1)
                if field[0] == "-":
                    val2 = -val2
                val = val * 12 + val2
                fval = 0.0
                unit = U_MONTH
            elif rest:
                raise _DtErr(0)
            if unit == U_MICROSEC:
                acc.add_us(val, fval, 1)
                tmask = 1 << 0
            elif unit == U_MILLISEC:
                acc.add_us(val, fval, 1000)
                tmask = 1 << 1
            elif unit == U_SECOND:
                acc.add_us(val, fval, USECS_PER_SEC)
                tmask = (1 << 2) if fval == 0 else 0b111
            elif unit == U_MINUTE:
                acc.add_us(val, fval, USECS_PER_MINUTE)
                tmask = 1 << 3
            elif unit == U_HOUR:
                acc.add_us(val, fval, USECS_PER_HOUR)
                tmask = 1 << 4
                unit = U_DAY
            elif unit == U_DAY:
                acc.days += val
                acc.add_fract_us(fval, USECS_PER_DAY)
                tmask = 1 << 5
            elif unit == U_WEEK:
                acc.days += val * 7
                acc.add_fract_days(fval, 7)
                tmask = 1 << 6
            elif unit == U_MONTH:
                acc.months += val
                acc.add_fract_days(fval, 30)
                tmask = 1 << 7
            elif unit == U_YEAR:
                acc.add_years(val, fval, 1)
                tmask = 1 << 8
            elif unit == U_DECADE:
                acc.add_years(val, fval, 10)
                tmask = 1 << 9
            elif unit == U_CENTURY:
                acc.add_years(val, fval, 100)
                tmask = 1 << 10
            elif unit == U_MILLENNIUM:
                acc.add_years(val, fval, 1000)
                tmask = 1 << 11
            else:
                raise _DtErr(0)
        elif ftype in (STRING, SPECIAL):
            if parsing_unit:
                raise _DtErr(0)
            word = field
            if word == "@":
                continue
            if word == "ago":
                if i != nf - 1:
                    raise _DtErr(0)
                is_before = True
                continue
            u = UNITS.get(word[:10])
            if u is None or u == U_QUARTER:
                raise _DtErr(0)
            unit = u
            parsing_unit = True
        else:
            raise _DtErr(0)
        if tmask & fmask:
            raise _DtErr(0)
        fmask |= tmask
    if fmask == 0 or parsing_unit:
        raise _DtErr(0)
    if is_before:
        acc.months, acc.days, acc.us = -acc.months, -acc.days, -acc.us
    return acc


def _decode_iso8601(s: str) -> _Acc:
    """DecodeISO8601Interval: designator format and alternative format."""
    acc = _Acc()
    if s[0] != "P" and s[0] != "p":
        raise _DtErr(0)
    body = s[1:]
    if not body:
        raise _DtErr(0)
    datepart = True
    havefield = False
    i = 0
    num_re = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
    while i < len(body):
        c = body[i]
        if c in "Tt":
            datepart = False
            havefield = False
            i += 1
            continue
        m = num_re.match(body, i)
        if m is None:
            raise _DtErr(0)
        text = m.group(0)
        i = m.end()
        if "." in text:
            ip, _, fp = text.partition(".")
            val = int(ip) if ip not in ("", "+", "-") else 0
            fval = float("0." + (fp or "0"))
            if text.startswith("-"):
                fval = -fval
        else:
            val, fval = int(text), 0.0
        unit = body[i] if i < len(body) else "\0"
        i += 1
        if datepart:
            if unit in "Yy":
                acc.add_years(val, fval, 1)
            elif unit in "Mm":
                acc.months += val
                acc.add_fract_days(fval, 30)
            elif unit in "Ww":
                acc.days += val * 7
                acc.add_fract_days(fval, 7)
            elif unit in "Dd":
                acc.days += val
                acc.add_fract_us(fval, USECS_PER_DAY)
            elif unit in "Tt\0" or unit == "-":
                # alternative format: PYYYY-MM-DDTHH:MM:SS
                if havefield:
                    raise _DtErr(0)
                acc.add_years(val, fval, 1)
                if unit in "Tt":
                    datepart = False
                    havefield = False
                    continue
                if unit == "\0":
                    return acc
                m2 = re.match(r"(\d+)(?:-(\d+))?", body[i:])
                if m2 is None:
                    raise _DtErr(0)
                acc.months += int(m2.group(1))
                if m2.group(2):
                    acc.days += int(m2.group(2))
                i += m2.end()
                if i < len(body) and body[i] in "Tt":
                    datepart = False
                    i += 1
                    rest = body[i:]
                    acc.us += _iso_alt_time(rest)
                    return acc
                if i != len(body):
                    raise _DtErr(0)
                return acc
            else:
                raise _DtErr(0)
        else:
            if unit in "Hh":
                acc.add_us(val, fval, USECS_PER_HOUR)
            elif unit in "Mm":
                acc.add_us(val, fval, USECS_PER_MINUTE)
            elif unit in "Ss":
                acc.add_us(val, fval, USECS_PER_SEC)
            elif unit in "\0:":
                if havefield:
                    raise _DtErr(0)
                i -= 1
                acc.us += _iso_alt_time(body[m.start():])
                return acc
            else:
                raise _DtErr(0)
        havefield = True
    return acc


def _iso_alt_time(s: str) -> int:
    m = re.fullmatch(r"(\d+)(?::(\d+)(?::(\d+(?:\.\d*)?))?)?", s)
    if m is None:
        raise _DtErr(0)
    h = int(m.group(1))
    mi = int(m.group(2) or 0)
    sec = float(m.group(3) or 0)
    return h * USECS_PER_HOUR + mi * USECS_PER_MINUTE + round(sec * USECS_PER_SEC)
