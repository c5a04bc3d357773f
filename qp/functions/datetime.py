"""Date/time functions: the current time (now() and the SQL value
functions, all reading the EvalContext so a transaction sees one instant),
date_trunc, age, make_*, to_timestamp(float), justify_*, isfinite,
date_bin and AT TIME ZONE (timezone()). extract/date_part are in
dt_extract.py, to_char and friends in formatting*.py.

Functions on timestamptz that need wall-clock fields (date_trunc, age)
work in the session zone and convert back with PG's DST rules.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from qp.errors import SqlError
from qp.functions.dt_extract import _unit, isoweek_monday
from qp.functions.registry import register_function
from qp.functions.util import ascii_lower
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import (
    DATE,
    FLOAT8,
    INT4,
    INTERVAL,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    USECS_PER_DAY,
    USECS_PER_HOUR,
    USECS_PER_MINUTE,
    Interval,
)
from qp.types.datetime import (
    POSTGRES_EPOCH_JDATE,
    UNIX_EPOCH_US,
    _trunc_div,
    check_interval,
    check_ts,
    date2j,
    days_in_month,
    fields_to_ts,
    interval_justify_hours,
    interval_out,
    interval_parts,
    is_finite_date,
    is_finite_ts,
    j2date,
    local_offset,
    local_to_utc,
    round_to_precision,
    ts_to_fields,
    utc_offset,
    utc_to_local,
)
from qp.types.dt_parse import (
    TZDISP_OVERFLOW,
    _DtErr,
    abbrev_offset_at_local,
    abbrev_offset_at_utc,
    decode_timezone,
    lookup_abbrev,
)
from qp.types.timezones import Zone, pg_tzset, pg_tzset_offset

INF = math.inf


def _reg(name: str, args: list, ret: C.SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    register_function(name, args, ret, impl, **kw)


# --- current time ------------------------------------------------------------------------


def clock_now_us() -> int:
    """The wall clock as microseconds since 2000-01-01 UTC."""
    return _time.time_ns() // 1000 + UNIX_EPOCH_US


def _now(ctx: EvalContext) -> int:
    return ctx.transaction_timestamp_us


def _local_now(ctx: EvalContext) -> int:
    return utc_to_local(ctx.tzinfo, ctx.transaction_timestamp_us)


for _n in ("now", "transaction_timestamp", "current_timestamp"):
    _reg(_n, [], TIMESTAMPTZ, _now, ctx=True, volatility="s")
_reg("current_timestamp", [INT4], TIMESTAMPTZ, lambda ctx, p: round_to_precision(_now(ctx), p),
     ctx=True, volatility="s")
_reg("statement_timestamp", [], TIMESTAMPTZ, lambda ctx: ctx.statement_timestamp_us or ctx.transaction_timestamp_us,
     ctx=True, volatility="s")
_reg("clock_timestamp", [], TIMESTAMPTZ, lambda ctx: clock_now_us(), ctx=True, volatility="v")
_reg("current_date", [], DATE, lambda ctx: _local_now(ctx) // USECS_PER_DAY, ctx=True, volatility="s")
_reg("localtimestamp", [], TIMESTAMP, _local_now, ctx=True, volatility="s")
_reg("localtimestamp", [INT4], TIMESTAMP, lambda ctx, p: round_to_precision(_local_now(ctx), p), ctx=True,
     volatility="s")
_reg("localtime", [], TIME, lambda ctx: _local_now(ctx) % USECS_PER_DAY, ctx=True, volatility="s")
_reg("localtime", [INT4], TIME, lambda ctx, p: round_to_precision(_local_now(ctx) % USECS_PER_DAY, p) %
     USECS_PER_DAY, ctx=True, volatility="s")

# --- date_trunc ----------------------------------------------------------------------------


def _trunc_fields(unit: str, us: int, typename: str) -> tuple[int, bool]:
    """Truncate local microseconds to `unit`; returns (us, redo_tz?)."""
    y, mo, d, h, mi, s, f = ts_to_fields(us)
    redo = True
    if unit == "week":
        jd = isoweek_monday(y, mo, d)
        y, mo, d = j2date(jd)
        h = mi = s = f = 0
    elif unit in ("millennium", "century", "decade", "year", "quarter", "month", "day"):
        if unit == "millennium":
            y = ((y + 999) // 1000) * 1000 - 999 if y > 0 else -((999 - (y - 1)) // 1000) * 1000 + 1
        elif unit == "century":
            y = ((y + 99) // 100) * 100 - 99 if y > 0 else -((99 - (y - 1)) // 100) * 100 + 1
        elif unit == "decade":
            y = (y // 10) * 10 if y > 0 else -((8 - (y - 1)) // 10) * 10
        if unit in ("millennium", "century", "decade", "year"):
            mo = 1
        if unit == "quarter":
            mo = 3 * ((mo - 1) // 3) + 1
        if unit != "day":
            d = 1
        h = mi = s = f = 0
    else:
        redo = False
        if unit == "hour":
            mi = s = f = 0
        elif unit == "minute":
            s = f = 0
        elif unit == "second":
            f = 0
        elif unit == "milliseconds":
            f = (f // 1000) * 1000
        elif unit == "microseconds":
            pass
        else:
            raise SqlError("0A000", f'unit "{unit}" not supported for type {typename}')
    return fields_to_ts(y, mo, d, h, mi, s, f), redo


def date_trunc_timestamp(field: str, ts: int) -> int:
    tn = "timestamp without time zone"
    if not is_finite_ts(ts):
        return ts  # before the unit is checked, as PostgreSQL does
    unit = _unit(field, tn)
    return check_ts(_trunc_fields(unit, ts, tn)[0])


def _trunc_tz(field: str, ts: int, tz: Any) -> int:
    tn = "timestamp with time zone"
    if not is_finite_ts(ts):
        return ts  # before the unit is checked, as PostgreSQL does
    unit = _unit(field, tn)
    off = utc_offset(tz, ts)
    local, redo = _trunc_fields(unit, ts + off * 1000000, tn)
    if redo:
        return check_ts(local_to_utc(tz, local))
    return check_ts(local - off * 1000000)


def date_trunc_interval(field: str, iv: Interval) -> Interval:
    unit = _unit(field, "interval")
    years, mons, days, hours, mins, secs, us = interval_parts(iv)
    if unit == "week":
        raise SqlError("0A000", f'unit "{unit}" not supported for type interval',
                       detail="Months usually have fractional weeks.")
    order = ["millennium", "century", "decade", "year", "quarter", "month", "day", "hour", "minute", "second",
             "milliseconds", "microseconds"]
    if unit not in order:
        raise SqlError("0A000", f'unit "{unit}" not supported for type interval')
    k = order.index(unit)
    if k <= 0:
        years = _trunc_div(years, 1000) * 1000
    elif k == 1:
        years = _trunc_div(years, 100) * 100
    elif k == 2:
        years = _trunc_div(years, 10) * 10
    if k <= 3:
        mons = 0
    if k == 4:
        mons = 3 * _trunc_div(mons, 3)
    if k <= 5:
        days = 0
    if k <= 6:
        hours = 0
    if k <= 7:
        mins = 0
    if k <= 8:
        secs = 0
    if k <= 9:
        us = 0
    if k == 10:
        us = _trunc_div(us, 1000) * 1000
    return Interval(years * 12 + mons, days, ((hours * 60 + mins) * 60 + secs) * 1000000 + us)


_reg("date_trunc", [TEXT, TIMESTAMP], TIMESTAMP, date_trunc_timestamp)
_reg("date_trunc", [TEXT, TIMESTAMPTZ], TIMESTAMPTZ, lambda ctx, f, ts: _trunc_tz(f, ts, ctx.tzinfo), ctx=True,
     volatility="s")
_reg("date_trunc", [TEXT, TIMESTAMPTZ, TEXT], TIMESTAMPTZ, lambda f, ts, z: _trunc_tz(f, ts, zone_for_trunc(z)),
     volatility="s")
_reg("date_trunc", [TEXT, INTERVAL], INTERVAL, date_trunc_interval)

# --- age -----------------------------------------------------------------------------------


def _age(t1: int, t2: int) -> Interval:
    # PostgreSQL 15 breaks 'infinity' down like any value (294277-01-09
    # 04:00:54.775807) and so answers; '-infinity' falls outside the calendar.
    if t1 == C.TS_NEG_INF or t2 == C.TS_NEG_INF:
        raise SqlError("22008", "timestamp out of range")
    a = ts_to_fields(t1)
    b = ts_to_fields(t2)
    usec = a[6] - b[6]
    sec = a[5] - b[5]
    mi = a[4] - b[4]
    hour = a[3] - b[3]
    mday = a[2] - b[2]
    mon = a[1] - b[1]
    year = a[0] - b[0]
    neg = t1 < t2
    if neg:
        usec, sec, mi, hour, mday, mon, year = -usec, -sec, -mi, -hour, -mday, -mon, -year
    while usec < 0:
        usec += 1000000
        sec -= 1
    while sec < 0:
        sec += 60
        mi -= 1
    while mi < 0:
        mi += 60
        hour -= 1
    while hour < 0:
        hour += 24
        mday -= 1
    while mday < 0:
        ref = a if neg else b
        mday += days_in_month(ref[0], ref[1])
        mon -= 1
    while mon < 0:
        mon += 12
        year -= 1
    if neg:
        usec, sec, mi, hour, mday, mon, year = -usec, -sec, -mi, -hour, -mday, -mon, -year
    return check_interval(year * 12 + mon, mday, ((hour * 60 + mi) * 60 + sec) * 1000000 + usec)


def _local_raw(tz: Zone, t: int) -> int:
    """The wall clock of any instant, 'infinity' too (timestamp2tm's view of it)."""
    return t if t == C.TS_NEG_INF else t + utc_offset(tz, t) * 1000000


def _age_tz(ctx: EvalContext, t1: int, t2: int) -> Interval:
    return _age(_local_raw(ctx.tzinfo, t1), _local_raw(ctx.tzinfo, t2))


def _midnight(ctx: EvalContext) -> int:
    return (_local_now(ctx) // USECS_PER_DAY) * USECS_PER_DAY


_reg("age", [TIMESTAMP, TIMESTAMP], INTERVAL, _age)
_reg("age", [TIMESTAMPTZ, TIMESTAMPTZ], INTERVAL, _age_tz, ctx=True)
_reg("age", [TIMESTAMP], INTERVAL, lambda ctx, t: _age(_midnight(ctx), t), ctx=True, volatility="s")
_reg("age", [TIMESTAMPTZ], INTERVAL, lambda ctx, t: _age(_midnight(ctx), _local_raw(ctx.tzinfo, t)),
     ctx=True, volatility="s")

# --- make_* ----------------------------------------------------------------------------------


def _make_date_jd(y: int, m: int, d: int) -> int:
    yy = y + 1 if y < 0 else y
    if y == 0 or not 1 <= m <= 12 or not 1 <= d <= days_in_month(yy, m):
        raise SqlError("22008", f"date field value out of range: {y}-{m:02d}-{d:02d}")
    return date2j(yy, m, d)


def make_date(y: int, m: int, d: int) -> int:
    jd = _make_date_jd(y, m, d)
    if not (0 <= jd < 2147483494):
        raise SqlError("22008", f"date out of range: {y}-{m:02d}-{d:02d}")
    return jd - POSTGRES_EPOCH_JDATE


def _fmt_g(x: float) -> str:
    return f"{x:g}"


def _time_us(h: int, mi: int, sec: float) -> int:
    if (h < 0 or mi < 0 or mi > 59 or sec < 0 or sec > 60 or h > 24 or (h == 24 and (mi > 0 or sec > 0))
            or sec != sec):
        raise SqlError("22008", f"time field value out of range: {h}:{mi:02d}:{_fmt_g(sec).rjust(2, '0')}")
    return ((h * 60 + mi) * 60) * 1000000 + int(round(sec * 1000000))


def make_time(h: int, mi: int, sec: float) -> int:
    return _time_us(h, mi, sec)


def make_timestamp(y: int, m: int, d: int, h: int, mi: int, sec: float) -> int:
    jd = _make_date_jd(y, m, d)
    us = (jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY + _time_us(h, mi, sec)
    if not (-211813488000000000 <= us < 9223371331200000000):
        raise SqlError("22008", f"timestamp out of range: {y}-{m:02d}-{d:02d} {h}:{mi:02d}:{_fmt_g(sec)}")
    return us


def make_timestamptz(ctx: EvalContext, y: int, m: int, d: int, h: int, mi: int, sec: float,
                     zone: str | None = None) -> int:
    local = make_timestamp(y, m, d, h, mi, sec)
    if zone is None:
        return check_ts(local_to_utc(ctx.tzinfo, local))
    return check_ts(local - _sane_zone_offset(zone, local) * 1000000)


def _sane_zone_offset(name: str, local: int) -> int:
    """parse_sane_timezone: seconds east for make_timestamptz's zone argument.
    A numeric zone takes the SQL sign ('+2' is east of Greenwich, unlike the
    POSIX '+2' a zone name means); then abbreviations, then zone names."""
    if name[:1].isdigit():
        raise SqlError("22023", f'invalid input syntax for type numeric time zone: "{name}"',
                       hint='Numeric time zones must have "-" or "+" as first character.')
    try:
        return decode_timezone(name)
    except _DtErr as e:
        if e.kind == TZDISP_OVERFLOW:
            raise SqlError("22023", f'numeric time zone "{name}" out of range') from None
    return _NamedZone.lookup(name).local_offset(local)


class _NamedZone:
    """A zone named in AT TIME ZONE, timezone(), make_timestamptz: a fixed
    abbreviation (EST), a dynamic one (MSK, read in its zone's history) or a
    zone name (America/New_York, 'UTC+5', '+05', where POSIX signs apply)."""

    __slots__ = ("fixed", "zone", "abbrev")

    def __init__(self, fixed: int | None, zone: Zone | None, abbrev: str) -> None:
        self.fixed, self.zone, self.abbrev = fixed, zone, abbrev

    @staticmethod
    def lookup(name: str) -> _NamedZone:
        return _named_zone(name)

    def utc_offset(self, us: int) -> int:
        """Seconds east at the UTC instant `us`."""
        if self.fixed is not None:
            return self.fixed
        assert self.zone is not None
        if self.abbrev:
            return abbrev_offset_at_utc(self.zone, self.abbrev, us // 1000000 + _UNIX_SECS_2000)
        return utc_offset(self.zone, us)

    def local_offset(self, local: int) -> int:
        """Seconds east for the wall-clock time `local`."""
        if self.fixed is not None:
            return self.fixed
        assert self.zone is not None
        if self.abbrev:
            return abbrev_offset_at_local(self.zone, self.abbrev, local // 1000000 + _UNIX_SECS_2000)
        return local_offset(self.zone, local)


_UNIX_SECS_2000 = 946684800
_NAMEDATALEN = 64


@lru_cache(maxsize=256)
def _named_zone(name: str) -> _NamedZone:
    abbrev = lookup_abbrev(_downcase_identifier(name))
    if isinstance(abbrev, tuple):
        return _NamedZone(abbrev[0], None, "")
    if abbrev is not None:
        return _NamedZone(None, abbrev, name)
    zone = pg_tzset(name)
    if zone is None:
        raise SqlError("22023", f'time zone "{name}" not recognized')
    return _NamedZone(None, zone, "")


def _downcase_identifier(name: str) -> str:
    """downcase_truncate_identifier: ASCII lower case, cut to NAMEDATALEN-1 bytes."""
    low = ascii_lower(name)
    raw = low.encode()
    if len(raw) >= _NAMEDATALEN:
        low = raw[:_NAMEDATALEN - 1].decode("utf-8", "ignore")
    return low


def make_interval(years: int = 0, months: int = 0, weeks: int = 0, days: int = 0, hours: int = 0,
                  mins: int = 0, secs: float = 0.0) -> Interval:
    if secs != secs or secs in (INF, -INF):
        raise SqlError("22008", "interval out of range")
    return check_interval(years * 12 + months, weeks * 7 + days,
                          hours * USECS_PER_HOUR + mins * USECS_PER_MINUTE + int(round(secs * 1000000)))


_reg("make_date", [INT4, INT4, INT4], DATE, make_date)
_reg("make_time", [INT4, INT4, FLOAT8], TIME, make_time)
_reg("make_timestamp", [INT4, INT4, INT4, INT4, INT4, FLOAT8], TIMESTAMP, make_timestamp)
_reg("make_timestamptz", [INT4, INT4, INT4, INT4, INT4, FLOAT8], TIMESTAMPTZ, make_timestamptz, ctx=True,
     volatility="s")
_reg("make_timestamptz", [INT4, INT4, INT4, INT4, INT4, FLOAT8, TEXT], TIMESTAMPTZ, make_timestamptz,
     ctx=True, volatility="s")
_MI_ARGS = [INT4, INT4, INT4, INT4, INT4, INT4, FLOAT8]
for _k in range(8):  # make_interval's parameters all have defaults
    _reg("make_interval", _MI_ARGS[:_k], INTERVAL, make_interval)
MAKE_INTERVAL_ARG_NAMES = ("years", "months", "weeks", "days", "hours", "mins", "secs")


def to_timestamp_float(x: float) -> int:
    if x != x:
        raise SqlError("22008", "timestamp cannot be NaN")
    if x == INF:
        return C.TS_POS_INF
    if x == -INF:
        return C.TS_NEG_INF
    if x < -210866803200.0 or x >= 9224318016000.0:
        raise SqlError("22008", f'timestamp out of range: "{_fmt_g(x)}"')
    return int(round(x * 1000000)) + UNIX_EPOCH_US


_reg("to_timestamp", [FLOAT8], TIMESTAMPTZ, to_timestamp_float)

# --- justify, isfinite, date_bin --------------------------------------------------------------


def justify_days(iv: Interval) -> Interval:
    months, days, t = iv
    wm = _trunc_div(days, 30)
    days -= wm * 30
    months += wm
    if months > 0 and days < 0:
        days += 30
        months -= 1
    elif months < 0 and days > 0:
        days -= 30
        months += 1
    return check_interval(months, days, t)


def justify_interval(iv: Interval) -> Interval:
    months, days, t = iv
    wd = _trunc_div(t, USECS_PER_DAY)
    t -= wd * USECS_PER_DAY
    days += wd
    wm = _trunc_div(days, 30)
    days -= wm * 30
    months += wm
    if months > 0 and (days < 0 or (days == 0 and t < 0)):
        days += 30
        months -= 1
    elif months < 0 and (days > 0 or (days == 0 and t > 0)):
        days -= 30
        months += 1
    if days > 0 and t < 0:
        t += USECS_PER_DAY
        days -= 1
    elif days < 0 and t > 0:
        t -= USECS_PER_DAY
        days += 1
    return check_interval(months, days, t)


_reg("justify_days", [INTERVAL], INTERVAL, justify_days)
_reg("justify_hours", [INTERVAL], INTERVAL, lambda iv: check_interval(*interval_justify_hours(*iv)))
_reg("justify_interval", [INTERVAL], INTERVAL, justify_interval)
_reg("isfinite", [DATE], C.BOOL, is_finite_date)
_reg("isfinite", [TIMESTAMP], C.BOOL, is_finite_ts)
_reg("isfinite", [TIMESTAMPTZ], C.BOOL, is_finite_ts)
_reg("isfinite", [INTERVAL], C.BOOL, lambda iv: True)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def date_bin(stride: Interval, ts: int, origin: int) -> int:
    if not is_finite_ts(ts):
        return ts
    if not is_finite_ts(origin):
        raise SqlError("22008", "origin out of range")
    if stride[0] != 0:
        raise SqlError("0A000", "timestamps cannot be binned into intervals containing months or years")
    step = stride[1] * USECS_PER_DAY + stride[2]
    if not _INT64_MIN <= step <= _INT64_MAX:
        raise SqlError("22008", "interval out of range")
    if step <= 0:
        raise SqlError("22008", "stride must be greater than zero")
    diff = ts - origin
    if not _INT64_MIN <= diff <= _INT64_MAX:
        raise SqlError("22008", "interval out of range")
    delta = (diff // step) * step  # the bin's start, also when the origin is later
    result = origin + delta
    if not _INT64_MIN <= delta <= _INT64_MAX or not _INT64_MIN <= result <= _INT64_MAX:
        raise SqlError("22008", "timestamp out of range")
    return check_ts(result)


_reg("date_bin", [INTERVAL, TIMESTAMP, TIMESTAMP], TIMESTAMP, date_bin)
_reg("date_bin", [INTERVAL, TIMESTAMPTZ, TIMESTAMPTZ], TIMESTAMPTZ, date_bin)

# --- AT TIME ZONE -----------------------------------------------------------------------------


def zone_for_trunc(name: str) -> Zone:
    """date_trunc(unit, ts, zone)'s zone: a fixed abbreviation becomes a fixed
    zone, a dynamic one its zone, else a zone name."""
    abbrev = lookup_abbrev(_downcase_identifier(name))
    if isinstance(abbrev, tuple):
        zone = pg_tzset_offset(-abbrev[0])
        assert zone is not None
        return zone
    if abbrev is not None:
        return abbrev
    zone = pg_tzset(name)
    if zone is None:
        raise SqlError("22023", f'time zone "{name}" not recognized')
    return zone


def _interval_offset(iv: Interval) -> int:
    """timezone(interval, ...): seconds east, whole seconds (PG truncates the rest)."""
    if iv[0] or iv[1]:
        raise SqlError("22023", f'interval time zone "{interval_out(iv)}" must not include months or days')
    return _trunc_div(iv[2], 1000000)


def _ts_at_zone(ts: int, z: _NamedZone) -> int:
    """timestamp AT TIME ZONE z -> timestamptz (the wall clock read in z)."""
    if not is_finite_ts(ts):
        return ts
    return check_ts(ts - z.local_offset(ts) * 1000000)


def _tstz_at_zone(ts: int, z: _NamedZone) -> int:
    """timestamptz AT TIME ZONE z -> timestamp (the wall clock in z)."""
    if not is_finite_ts(ts):
        return ts
    return check_ts(ts + z.utc_offset(ts) * 1000000)


def _ts_at_offset(ts: int, off: int) -> int:
    return ts if not is_finite_ts(ts) else check_ts(ts - off * 1000000)


def _tstz_at_offset(ts: int, off: int) -> int:
    return ts if not is_finite_ts(ts) else check_ts(ts + off * 1000000)


_reg("timezone", [TEXT, TIMESTAMP], TIMESTAMPTZ, lambda z, ts: _ts_at_zone(ts, _named_zone(z)))
_reg("timezone", [TEXT, TIMESTAMPTZ], TIMESTAMP, lambda z, ts: _tstz_at_zone(ts, _named_zone(z)))
_reg("timezone", [INTERVAL, TIMESTAMP], TIMESTAMPTZ, lambda z, ts: _ts_at_offset(ts, _interval_offset(z)))
_reg("timezone", [INTERVAL, TIMESTAMPTZ], TIMESTAMP, lambda z, ts: _tstz_at_offset(ts, _interval_offset(z)))
