"""Dates, times, timestamps and intervals: calendar arithmetic, time zones
and PostgreSQL's output formats (DateStyle ISO, IntervalStyle postgres).

Values are integers counted from PostgreSQL's epoch 2000-01-01 (days for
date, microseconds for time/timestamp), so ordering and hashing are plain
int operations. The calendar code is PG's own Julian-day arithmetic
(date2j/j2date), which covers 4714 BC .. 5874897 AD, far outside what
Python's datetime can hold; time zones are PostgreSQL's reading of the
tz database (timezones.py), valid over the same range.
"""

from __future__ import annotations

from datetime import date as _pydate
from functools import lru_cache

from qp.errors import SqlError
from qp.types.core import (
    DATE_NEG_INF,
    DATE_POS_INF,
    IV_DAY,
    IV_HOUR,
    IV_MINUTE,
    IV_MONTH,
    IV_YEAR,
    TS_NEG_INF,
    TS_POS_INF,
    USECS_PER_DAY,
    USECS_PER_HOUR,
    USECS_PER_MINUTE,
    USECS_PER_SEC,
    Interval,
    interval_typmod_parts,
)
from qp.types.timezones import Zone

POSTGRES_EPOCH_JDATE = 2451545
UNIX_EPOCH_JDATE = 2440588
UNIX_EPOCH_US = (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY  # -946684800000000
# Valid ranges (datetime.h): dates from 4714-11-24 BC (julian 0) to
# 5874897-12-31, timestamps to 294276-12-31 23:59:59.999999.
DATE_MIN = -POSTGRES_EPOCH_JDATE
DATE_END = 2147483494 - POSTGRES_EPOCH_JDATE
TS_MIN = -211813488000000000
TS_END = 9223371331200000000

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def date2j(y: int, m: int, d: int) -> int:
    """Julian day number of a proleptic Gregorian date (year 0 = 1 BC)."""
    if m > 2:
        m += 1
        y += 4800
    else:
        m += 13
        y += 4799
    century = y // 100
    julian = y * 365 - 32167
    julian += y // 4 - century + century // 4
    julian += 7834 * m // 256 + d
    return julian


def j2date(jd: int) -> tuple[int, int, int]:
    julian = jd + 32044
    quad = julian // 146097
    extra = (julian - quad * 146097) * 4 + 3
    julian += 60 + quad * 3 + extra // 146097
    quad = julian // 1461
    julian -= quad * 1461
    y = julian * 4 // 1461
    julian = ((julian + 305) % 365 if y != 0 else (julian + 306) % 366) + 123
    y += quad * 4
    quad = julian * 2141 // 65536
    day = julian - 7834 * quad // 256
    month = (quad + 10) % 12 + 1
    return y - 4800, month, day


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(y: int, m: int) -> int:
    if m == 2 and is_leap(y):
        return 29
    return _MDAYS[m - 1]


def date_to_ymd(d: int) -> tuple[int, int, int]:
    return j2date(d + POSTGRES_EPOCH_JDATE)


def ymd_to_date(y: int, m: int, d: int) -> int:
    return date2j(y, m, d) - POSTGRES_EPOCH_JDATE


def ts_to_fields(us: int) -> tuple[int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second, microsecond) of a timestamp."""
    days, t = divmod(us, USECS_PER_DAY)
    y, m, d = j2date(days + POSTGRES_EPOCH_JDATE)
    h, t = divmod(t, USECS_PER_HOUR)
    mi, t = divmod(t, USECS_PER_MINUTE)
    s, f = divmod(t, USECS_PER_SEC)
    return y, m, d, h, mi, s, f


def fields_to_ts(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> int:
    return ((date2j(y, m, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY
            + h * USECS_PER_HOUR + mi * USECS_PER_MINUTE + s * USECS_PER_SEC + us)


def check_date(d: int) -> int:
    if d < DATE_MIN or d >= DATE_END:
        raise SqlError("22008", "date out of range")
    return d


def check_ts(us: int) -> int:
    if us < TS_MIN or us >= TS_END:
        raise SqlError("22008", "timestamp out of range")
    return us


def is_finite_ts(us: int) -> bool:
    return us != TS_POS_INF and us != TS_NEG_INF


def is_finite_date(d: int) -> bool:
    return d != DATE_POS_INF and d != DATE_NEG_INF


# --- time zones ------------------------------------------------------------------
# Zones (qp.types.timezones.Zone) work on whole seconds since 1970, as
# PostgreSQL's do: an instant's fractional second never changes its offset.

_UNIX_SECS_2000 = -UNIX_EPOCH_US // USECS_PER_SEC  # 946684800: 2000-01-01 in Unix seconds


def _unix_secs(us: int) -> int:
    return us // USECS_PER_SEC + _UNIX_SECS_2000


def is_utc(tz: Zone) -> bool:
    """True for a zone that is UTC+0 at all times (UTC, GMT, Etc/UCT...)."""
    return tz.is_utc


def utc_offset(tz: Zone, us: int) -> int:
    """Seconds east of UTC in `tz` at the UTC instant `us`."""
    fixed = tz.fixed
    if fixed is not None:
        return fixed.utoff
    return tz.utc_offset(_unix_secs(us))


def local_to_utc(tz: Zone, local_us: int) -> int:
    """The UTC instant of a local wall-clock time in `tz` (DetermineTimeZoneOffset:
    in a DST gap the offset from before the transition, in an overlap the one after)."""
    if local_us in (TS_POS_INF, TS_NEG_INF):
        return local_us
    return local_us - local_offset(tz, local_us) * USECS_PER_SEC


def local_offset(tz: Zone, local_us: int) -> int:
    """Seconds east of UTC that `tz` gives the wall-clock time `local_us`."""
    fixed = tz.fixed
    if fixed is not None:
        return fixed.utoff
    return tz.local_offset(_unix_secs(local_us))


def tz_abbrev(tz: Zone, us: int) -> str:
    """The zone abbreviation in effect at a UTC instant (to_char's TZ)."""
    fixed = tz.fixed
    if fixed is not None:
        return fixed.abbr
    return tz.type_at(_unix_secs(us)).abbr


def utc_to_local(tz: Zone, us: int) -> int:
    if us in (TS_POS_INF, TS_NEG_INF):
        return us
    return us + utc_offset(tz, us) * USECS_PER_SEC


# --- output ------------------------------------------------------------------------


def _frac(us: int) -> str:
    """'.5' for 500000 microseconds; '' for 0 (PG trims trailing zeros)."""
    if not us:
        return ""
    return f".{us:06d}".rstrip("0")


def _year_str(y: int) -> tuple[str, str]:
    if y > 0:
        return f"{y:04d}", ""
    return f"{1 - y:04d}", " BC"


_ORDINAL_2000 = 730120  # date(2000, 1, 1).toordinal()
_PY_DAYS_MIN, _PY_DAYS_MAX = 1 - _ORDINAL_2000, 3652059 - _ORDINAL_2000  # years 1..9999


@lru_cache(maxsize=8192)
def _date_str(d: int) -> str:
    """ISO text of a date (days from 2000-01-01), cached: result sets repeat dates."""
    if _PY_DAYS_MIN <= d <= _PY_DAYS_MAX:
        return _pydate.fromordinal(d + _ORDINAL_2000).isoformat()
    y, m, dd = j2date(d + POSTGRES_EPOCH_JDATE)
    ys, bc = _year_str(y)
    return f"{ys}-{m:02d}-{dd:02d}{bc}"


def date_out(d: int) -> str:
    if d == DATE_POS_INF:
        return "infinity"
    if d == DATE_NEG_INF:
        return "-infinity"
    return _date_str(d)


def time_out(us: int) -> str:
    h, t = divmod(us, USECS_PER_HOUR)
    mi, t = divmod(t, USECS_PER_MINUTE)
    s, f = divmod(t, USECS_PER_SEC)
    return f"{h:02d}:{mi:02d}:{s:02d}{_frac(f)}"


def timestamp_out(us: int, suffix: str = "") -> str:
    """ISO timestamp text; `suffix` (a zone offset) goes before a BC marker."""
    if us == TS_POS_INF:
        return "infinity"
    if us == TS_NEG_INF:
        return "-infinity"
    days, t = divmod(us, USECS_PER_DAY)
    s, f = divmod(t, USECS_PER_SEC)
    h, s = divmod(s, 3600)
    mi, s = divmod(s, 60)
    ds = _date_str(days)
    if ds[-3:] == " BC":
        ds, suffix = ds[:-3], suffix + " BC"
    if f:
        return f"{ds} {h:02d}:{mi:02d}:{s:02d}.{f:06d}".rstrip("0") + suffix
    return f"{ds} {h:02d}:{mi:02d}:{s:02d}{suffix}"


def format_offset(off: int) -> str:
    """'+00', '+05:30', '-03:30', '+00:53:28' (ISO style: minutes and seconds only when needed)."""
    sign = "-" if off < 0 else "+"
    off = abs(off)
    h, r = divmod(off, 3600)
    m, s = divmod(r, 60)
    if s:
        return f"{sign}{h:02d}:{m:02d}:{s:02d}"
    if m:
        return f"{sign}{h:02d}:{m:02d}"
    return f"{sign}{h:02d}"


def timestamptz_out(us: int, tz: Zone) -> str:
    if us == TS_POS_INF:
        return "infinity"
    if us == TS_NEG_INF:
        return "-infinity"
    off = utc_offset(tz, us)
    return timestamp_out(us + off * USECS_PER_SEC, format_offset(off))


def make_timestamptz_out(tz: Zone):
    """timestamptz output specialised for one session zone (UTC is the common case)."""
    if is_utc(tz):
        return lambda us: timestamp_out(us, "+00")
    return lambda us: timestamptz_out(us, tz)


def _trunc_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def interval_parts(iv: Interval) -> tuple[int, int, int, int, int, int, int]:
    """(years, months, days, hours, minutes, seconds, microseconds), each
    with the sign of its source field, as PG's interval2itm splits it."""
    months, days, t = iv
    years = _trunc_div(months, 12)
    mons = months - years * 12
    hours = _trunc_div(t, USECS_PER_HOUR)
    t -= hours * USECS_PER_HOUR
    mins = _trunc_div(t, USECS_PER_MINUTE)
    t -= mins * USECS_PER_MINUTE
    secs = _trunc_div(t, USECS_PER_SEC)
    us = t - secs * USECS_PER_SEC
    return years, mons, days, hours, mins, secs, us


def interval_out(iv: Interval) -> str:
    """EncodeInterval, IntervalStyle postgres."""
    years, mons, days, hours, mins, secs, us = interval_parts(iv)
    parts: list[str] = []
    is_before = False
    is_zero = True
    for value, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if value == 0:
            continue
        parts.append(f"{'+' if is_before and value > 0 else ''}{value} {unit}{'' if value == 1 else 's'}")
        is_before = value < 0
        is_zero = False
    if is_zero or hours or mins or secs or us:
        minus = hours < 0 or mins < 0 or secs < 0 or us < 0
        sign = "-" if minus else ("+" if is_before else "")
        parts.append(f"{sign}{abs(hours):02d}:{abs(mins):02d}:{abs(secs):02d}{_frac(abs(us))}")
    return " ".join(parts)


# --- typmods ---------------------------------------------------------------------

_SCALES = [1000000, 100000, 10000, 1000, 100, 10, 1]


def round_to_precision(us: int, precision: int) -> int:
    """AdjustTimestampForTypmod: round fractional seconds half away from zero."""
    if precision < 0 or precision >= 6:
        return us
    scale = _SCALES[precision]
    off = scale // 2
    if us >= 0:
        return (us + off) // scale * scale
    return -((-us + off) // scale * scale)


def make_timestamp_typmod(typmod: int):
    def adjust(us: int) -> int:
        if us == TS_POS_INF or us == TS_NEG_INF:
            return us
        return check_ts(round_to_precision(us, typmod))
    return adjust


def make_time_typmod(typmod: int):
    return lambda us: round_to_precision(us, typmod)


def make_interval_typmod(typmod: int):
    """AdjustIntervalForTypmod: drop fields below the range, round seconds."""
    rng, prec = interval_typmod_parts(typmod)

    def adjust(iv: Interval) -> Interval:
        months, days, t = iv
        if rng == IV_YEAR:
            months, days, t = _trunc_div(months, 12) * 12, 0, 0
        elif rng in (IV_MONTH, IV_YEAR | IV_MONTH):
            days, t = 0, 0
        elif rng == IV_DAY:
            t = 0
        elif rng in (IV_HOUR, IV_DAY | IV_HOUR):
            t = _trunc_div(t, USECS_PER_HOUR) * USECS_PER_HOUR
        elif rng in (IV_MINUTE, IV_DAY | IV_HOUR | IV_MINUTE, IV_HOUR | IV_MINUTE):
            t = _trunc_div(t, USECS_PER_MINUTE) * USECS_PER_MINUTE
        if prec >= 0:
            t = round_to_precision(t, prec)
        return Interval(months, days, t)

    return adjust


def check_interval(months: int, days: int, micros: int) -> Interval:
    if not (INT32_MIN <= months <= INT32_MAX and INT32_MIN <= days <= INT32_MAX
            and INT64_MIN <= micros <= INT64_MAX):
        raise SqlError("22008", "interval out of range")
    return Interval(months, days, micros)


# --- conversions -------------------------------------------------------------------


def date_to_timestamp(d: int) -> int:
    if d == DATE_POS_INF:
        return TS_POS_INF
    if d == DATE_NEG_INF:
        return TS_NEG_INF
    us = d * USECS_PER_DAY
    if us >= TS_END:
        raise SqlError("22008", "date out of range for timestamp")
    return us


def date_to_timestamptz(d: int, tz: Zone) -> int:
    if d == DATE_POS_INF:
        return TS_POS_INF
    if d == DATE_NEG_INF:
        return TS_NEG_INF
    if d * USECS_PER_DAY >= TS_END:
        raise SqlError("22008", "date out of range for timestamp")
    return check_ts(local_to_utc(tz, d * USECS_PER_DAY))


def timestamp_to_date(us: int) -> int:
    if us == TS_POS_INF:
        return DATE_POS_INF
    if us == TS_NEG_INF:
        return DATE_NEG_INF
    return us // USECS_PER_DAY


def timestamptz_to_date(us: int, tz: Zone) -> int:
    if us == TS_POS_INF:
        return DATE_POS_INF
    if us == TS_NEG_INF:
        return DATE_NEG_INF
    return utc_to_local(tz, us) // USECS_PER_DAY


def timestamp_to_timestamptz(us: int, tz: Zone) -> int:
    if us in (TS_POS_INF, TS_NEG_INF):
        return us
    return check_ts(local_to_utc(tz, us))


def timestamptz_to_timestamp(us: int, tz: Zone) -> int:
    if us in (TS_POS_INF, TS_NEG_INF):
        return us
    return check_ts(utc_to_local(tz, us))


def timestamp_to_time(us: int) -> int:
    return us % USECS_PER_DAY


def add_months(y: int, m: int, d: int, months: int) -> tuple[int, int, int]:
    """Add months to a date, clamping the day to the month's length (PG)."""
    total = y * 12 + (m - 1) + months
    y2, m2 = divmod(total, 12)
    m2 += 1
    return y2, m2, min(d, days_in_month(y2, m2))


def timestamp_pl_interval(us: int, iv: Interval) -> int:
    """timestamp + interval: months on the calendar, then days, then time."""
    if us in (TS_POS_INF, TS_NEG_INF):
        return us
    months, days, t = iv
    if months:
        y, m, d, h, mi, s, f = ts_to_fields(us)
        y, m, d = add_months(y, m, d, months)
        if not (-4713 <= y <= 294277):
            raise SqlError("22008", "timestamp out of range")
        us = fields_to_ts(y, m, d, h, mi, s, f)
    if days:
        us += days * USECS_PER_DAY
    return check_ts(us + t)


def timestamptz_pl_interval(us: int, iv: Interval, tz: Zone) -> int:
    """timestamptz + interval: months and days move the local wall clock
    (so a day across a DST change is 23 or 25 hours), time moves the instant."""
    if us in (TS_POS_INF, TS_NEG_INF):
        return us
    months, days, t = iv
    # PG converts to local time and back separately for the months and the
    # days step, so a result landing in a DST gap is normalised in between.
    if months:
        y, m, d, h, mi, s, f = ts_to_fields(utc_to_local(tz, us))
        y, m, d = add_months(y, m, d, months)
        if not (-4713 <= y <= 294277):
            raise SqlError("22008", "timestamp out of range")
        us = local_to_utc(tz, fields_to_ts(y, m, d, h, mi, s, f))
    if days:
        us = local_to_utc(tz, utc_to_local(tz, us) + days * USECS_PER_DAY)
    return check_ts(us + t)


def interval_justify_hours(months: int, days: int, t: int) -> tuple[int, int, int]:
    wd = _trunc_div(t, USECS_PER_DAY)
    t -= wd * USECS_PER_DAY
    days += wd
    if days > 0 and t < 0:
        t += USECS_PER_DAY
        days -= 1
    elif days < 0 and t > 0:
        t -= USECS_PER_DAY
        days += 1
    return months, days, t


def timestamp_mi(a: int, b: int) -> Interval:
    """timestamp - timestamp: a days+time interval (justify_hours applied)."""
    if not (is_finite_ts(a) and is_finite_ts(b)):
        raise SqlError("22008", "cannot subtract infinite timestamps")
    # PostgreSQL 15 subtracts in int64 without an overflow check: a span past
    # 292 thousand years wraps around (and that is what it prints).
    diff = (a - b + 2**63) % 2**64 - 2**63
    return check_interval(*interval_justify_hours(0, 0, diff))
