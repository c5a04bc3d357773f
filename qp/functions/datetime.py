"""Date/time functions: current time, date_part/extract, date_trunc, age,
make_*, to_timestamp(float), justify_*, isfinite, date_bin and AT TIME
ZONE (timezone()).

extract() returns numeric with the scales PG 14+ gives (seconds to 6
places, milliseconds to 3, epoch of a timestamp to 6), date_part() the same
as float8. Infinite inputs give +/-Infinity for monotonic fields and NULL
for the others, as PG does.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from datetime import timezone
from decimal import Decimal
from typing import Any

from qp.context import EvalContext
from qp.errors import SqlError
from qp.functions.numeric_math import num_div
from qp.functions.registry import register_function
from qp.types import core as C
from qp.types.core import (
    DATE,
    FLOAT8,
    INT4,
    INTERVAL,
    NUMERIC,
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
    interval_parts,
    is_finite_date,
    is_finite_ts,
    j2date,
    local_to_utc,
    round_to_precision,
    ts_to_fields,
    utc_offset,
    utc_to_local,
)
from qp.types.dt_interval import lookup_unit
from qp.types.dt_parse import TZ_ABBREVS, find_zone
from qp.types.numeric import DEC

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

# --- extract / date_part -----------------------------------------------------------------

_MONOTONIC = {"year", "decade", "century", "millennium", "julian", "isoyear", "epoch"}
_OSCILLATING = {"microseconds", "milliseconds", "second", "minute", "hour", "day", "month", "quarter",
                "week", "dow", "isodow", "doy", "timezone", "timezone_hour", "timezone_minute"}


def j2day(jd: int) -> int:
    return (jd + 1) % 7


def isoweek(y: int, m: int, d: int) -> int:
    dayn = date2j(y, m, d)
    day4 = date2j(y, 1, 4)
    day0 = j2day(day4 - 1)
    if dayn < day4 - day0:
        day4 = date2j(y - 1, 1, 4)
        day0 = j2day(day4 - 1)
    result = (dayn - (day4 - day0)) // 7 + 1
    if result >= 52:
        day4 = date2j(y + 1, 1, 4)
        day0 = j2day(day4 - 1)
        if dayn >= day4 - day0:
            result = (dayn - (day4 - day0)) // 7 + 1
    return result


def isoyear(y: int, m: int, d: int) -> int:
    dayn = date2j(y, m, d)
    day4 = date2j(y, 1, 4)
    day0 = j2day(day4 - 1)
    if dayn < day4 - day0:
        day4 = date2j(y - 1, 1, 4)
        day0 = j2day(day4 - 1)
        y -= 1
    result = (dayn - (day4 - day0)) // 7 + 1
    if result >= 52:
        day4 = date2j(y + 1, 1, 4)
        day0 = j2day(day4 - 1)
        if dayn >= day4 - day0:
            y += 1
    return y


def isoweek_monday(y: int, m: int, d: int) -> int:
    """Julian day of the Monday starting the ISO week containing the date."""
    jd = date2j(y, m, d)
    return jd - (j2day(jd) + 6) % 7


def _scaled(v: int, scale: int) -> Decimal:
    """int64_div_fast_to_numeric(v, scale): v / 10^scale with that scale."""
    return Decimal(v).scaleb(-scale)


def _ts_field(unit: str, us: int, tz_off: int | None, typename: str) -> Decimal | None:
    """extract(unit from timestamp[tz]); us is local time, tz_off seconds east (tz only)."""
    y, mo, d, h, mi, s, f = ts_to_fields(us)
    if unit == "microseconds":
        return Decimal(s * 1000000 + f)
    if unit == "milliseconds":
        return _scaled(s * 1000000 + f, 3)
    if unit == "second":
        return _scaled(s * 1000000 + f, 6)
    if unit == "minute":
        return Decimal(mi)
    if unit == "hour":
        return Decimal(h)
    return _date_field(unit, y, mo, d, us, tz_off, typename)


def _date_field(unit: str, y: int, mo: int, d: int, us: int | None, tz_off: int | None, typename: str
                ) -> Decimal | None:
    if unit == "day":
        return Decimal(d)
    if unit == "month":
        return Decimal(mo)
    if unit == "quarter":
        return Decimal((mo - 1) // 3 + 1)
    if unit == "week":
        return Decimal(isoweek(y, mo, d))
    if unit == "year":
        return Decimal(y if y > 0 else y - 1)
    if unit == "decade":
        return Decimal(y // 10 if y >= 0 else -((8 - (y - 1)) // 10))
    if unit == "century":
        return Decimal((y + 99) // 100 if y > 0 else -((99 - (y - 1)) // 100))
    if unit == "millennium":
        return Decimal((y + 999) // 1000 if y > 0 else -((999 - (y - 1)) // 1000))
    if unit == "dow":
        return Decimal(j2day(date2j(y, mo, d)))
    if unit == "isodow":
        dw = j2day(date2j(y, mo, d))
        return Decimal(7 if dw == 0 else dw)
    if unit == "doy":
        return Decimal(date2j(y, mo, d) - date2j(y, 1, 1) + 1)
    if unit == "isoyear":
        iy = isoyear(y, mo, d)
        return Decimal(iy if iy > 0 else iy - 1)
    if unit == "julian":
        jd = date2j(y, mo, d)
        if us is None:
            return Decimal(jd)
        return DEC.add(Decimal(jd), num_div(Decimal(us % USECS_PER_DAY), Decimal(USECS_PER_DAY)))
    if unit in ("timezone", "timezone_hour", "timezone_minute") and tz_off is not None:
        if unit == "timezone":
            return Decimal(tz_off)
        if unit == "timezone_hour":
            return Decimal(_trunc_div(tz_off, 3600))
        return Decimal(_trunc_div(tz_off, 60) - _trunc_div(tz_off, 3600) * 60)
    raise SqlError("0A000", f'unit "{unit_name(unit)}" not supported for type {typename}')


def unit_name(u: str) -> str:
    return {"microseconds": "microseconds", "milliseconds": "milliseconds"}.get(u, u)


def _unit(field: str, typename: str) -> str:
    u = lookup_unit(field)
    if u is None:
        raise SqlError("22023", f'unit "{field.lower()}" not recognized for type {typename}')
    return u


def _nonfinite(unit: str, neg: bool, typename: str) -> Decimal | None:
    if unit in _MONOTONIC:
        return Decimal("-Infinity") if neg else Decimal("Infinity")
    if unit in _OSCILLATING:
        return None
    raise SqlError("0A000", f'unit "{unit}" not supported for type {typename}')


def extract_timestamp(field: str, ts: int) -> Decimal | None:
    tn = "timestamp without time zone"
    unit = _unit(field, tn)
    if not is_finite_ts(ts):
        if unit in ("timezone", "timezone_hour", "timezone_minute"):
            raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')
        return _nonfinite(unit, ts < 0, tn)
    if unit == "epoch":
        return _scaled(ts - UNIX_EPOCH_US, 6)
    if unit in ("timezone", "timezone_hour", "timezone_minute"):
        raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')
    return _ts_field(unit, ts, None, tn)


def extract_timestamptz(ctx: EvalContext, field: str, ts: int) -> Decimal | None:
    tn = "timestamp with time zone"
    unit = _unit(field, tn)
    if not is_finite_ts(ts):
        return _nonfinite(unit, ts < 0, tn)
    if unit == "epoch":
        return _scaled(ts - UNIX_EPOCH_US, 6)
    off = utc_offset(ctx.tzinfo, ts)
    return _ts_field(unit, ts + off * 1000000, off, tn)


def extract_date(field: str, d: int) -> Decimal | None:
    tn = "date"
    unit = _unit(field, tn)
    if not is_finite_date(d):
        if unit in _MONOTONIC:
            return Decimal("-Infinity") if d < 0 else Decimal("Infinity")
        if unit in ("day", "month", "quarter", "week", "dow", "isodow", "doy"):
            return None
        raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')
    if unit == "epoch":
        return Decimal((d * USECS_PER_DAY - UNIX_EPOCH_US) // 1000000)
    if unit in ("microseconds", "milliseconds", "second", "minute", "hour", "timezone", "timezone_hour",
                "timezone_minute"):
        raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')
    y, mo, dd = j2date(d + POSTGRES_EPOCH_JDATE)
    return _date_field(unit, y, mo, dd, None, None, tn)


def extract_time(field: str, t: int) -> Decimal:
    tn = "time without time zone"
    unit = _unit(field, tn)
    h, r = divmod(t, USECS_PER_HOUR)
    mi, r = divmod(r, USECS_PER_MINUTE)
    if unit == "microseconds":
        return Decimal(r)
    if unit == "milliseconds":
        return _scaled(r, 3)
    if unit == "second":
        return _scaled(r, 6)
    if unit == "minute":
        return Decimal(mi)
    if unit == "hour":
        return Decimal(h)
    if unit == "epoch":
        return _scaled(t, 6)
    raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')


def extract_interval(field: str, iv: Interval) -> Decimal:
    tn = "interval"
    unit = _unit(field, tn)
    years, mons, days, hours, mins, secs, us = interval_parts(iv)
    if unit == "microseconds":
        return Decimal(secs * 1000000 + us)
    if unit == "milliseconds":
        return _scaled(secs * 1000000 + us, 3)
    if unit == "second":
        return _scaled(secs * 1000000 + us, 6)
    if unit == "minute":
        return Decimal(mins)
    if unit == "hour":
        return Decimal(hours)
    if unit == "day":
        return Decimal(days)
    if unit == "month":
        return Decimal(mons)
    if unit == "quarter":
        return Decimal(_trunc_div(mons, 3) + 1)
    if unit == "year":
        return Decimal(years)
    if unit == "decade":
        return Decimal(_trunc_div(years, 10))
    if unit == "century":
        return Decimal(_trunc_div(years, 100))
    if unit == "millennium":
        return Decimal(_trunc_div(years, 1000))
    if unit == "epoch":
        months = iv[0]
        secs_dm = (1461 * _trunc_div(months, 12) + 120 * (months - _trunc_div(months, 12) * 12)
                   + 4 * iv[1]) * (86400 // 4)
        return _scaled(secs_dm * 1000000 + iv[2], 6)
    raise SqlError("0A000", f'unit "{unit}" not supported for type {tn}')


def _as_float(f: Callable[..., Decimal | None]) -> Callable[..., float | None]:
    def g(*a: Any) -> float | None:
        r = f(*a)
        return None if r is None else float(r)
    return g


_reg("extract", [TEXT, TIMESTAMP], NUMERIC, extract_timestamp)
_reg("extract", [TEXT, TIMESTAMPTZ], NUMERIC, extract_timestamptz, ctx=True, volatility="s")
_reg("extract", [TEXT, DATE], NUMERIC, extract_date)
_reg("extract", [TEXT, TIME], NUMERIC, extract_time)
_reg("extract", [TEXT, INTERVAL], NUMERIC, extract_interval)
_reg("date_part", [TEXT, TIMESTAMP], FLOAT8, _as_float(extract_timestamp))
_reg("date_part", [TEXT, TIMESTAMPTZ], FLOAT8, _as_float(extract_timestamptz), ctx=True, volatility="s")
_reg("date_part", [TEXT, DATE], FLOAT8, lambda f, d: _as_float(extract_timestamp)(
    f, d * USECS_PER_DAY if is_finite_date(d) else (C.TS_POS_INF if d > 0 else C.TS_NEG_INF)))
_reg("date_part", [TEXT, TIME], FLOAT8, _as_float(extract_time))
_reg("date_part", [TEXT, INTERVAL], FLOAT8, _as_float(extract_interval))

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
    unit = _unit(field, tn)
    if not is_finite_ts(ts):
        return ts
    return check_ts(_trunc_fields(unit, ts, tn)[0])


def _trunc_tz(field: str, ts: int, tz: Any) -> int:
    tn = "timestamp with time zone"
    unit = _unit(field, tn)
    if not is_finite_ts(ts):
        return ts
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
_reg("date_trunc", [TEXT, TIMESTAMPTZ, TEXT], TIMESTAMPTZ, lambda f, ts, z: _trunc_tz(f, ts, zone_by_name(z)),
     volatility="s")
_reg("date_trunc", [TEXT, INTERVAL], INTERVAL, date_trunc_interval)

# --- age -----------------------------------------------------------------------------------


def _age(t1: int, t2: int) -> Interval:
    if not (is_finite_ts(t1) and is_finite_ts(t2)):
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


def _age_tz(ctx: EvalContext, t1: int, t2: int) -> Interval:
    return _age(utc_to_local(ctx.tzinfo, t1), utc_to_local(ctx.tzinfo, t2))


def _midnight(ctx: EvalContext) -> int:
    return (_local_now(ctx) // USECS_PER_DAY) * USECS_PER_DAY


_reg("age", [TIMESTAMP, TIMESTAMP], INTERVAL, _age)
_reg("age", [TIMESTAMPTZ, TIMESTAMPTZ], INTERVAL, _age_tz, ctx=True)
_reg("age", [TIMESTAMP], INTERVAL, lambda ctx, t: _age(_midnight(ctx), t), ctx=True, volatility="s")
_reg("age", [TIMESTAMPTZ], INTERVAL, lambda ctx, t: _age(_midnight(ctx), utc_to_local(ctx.tzinfo, t)),
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
    tz = zone_by_name(zone) if zone is not None else ctx.tzinfo
    return check_ts(local_to_utc(tz, local))


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


def date_bin(stride: Interval, ts: int, origin: int) -> int:
    if not is_finite_ts(ts):
        return ts
    if not is_finite_ts(origin):
        raise SqlError("22008", "origin out of range")
    if stride[0] != 0:
        raise SqlError("0A000", "timestamps cannot be binned into intervals containing months or years")
    step = stride[1] * USECS_PER_DAY + stride[2]
    if step <= 0:
        raise SqlError("22008", "stride must be greater than zero")
    return check_ts(origin + ((ts - origin) // step) * step)


_reg("date_bin", [INTERVAL, TIMESTAMP, TIMESTAMP], TIMESTAMP, date_bin)
_reg("date_bin", [INTERVAL, TIMESTAMPTZ, TIMESTAMPTZ], TIMESTAMPTZ, date_bin)

# --- AT TIME ZONE -----------------------------------------------------------------------------


def zone_by_name(name: str) -> Any:
    """A time zone given as text: an abbreviation, a full name, or a POSIX
    offset ('+08' and 'UTC+8' are 8 hours *west*, as in POSIX)."""
    from datetime import timedelta
    low = name.lower()
    if low in TZ_ABBREVS:
        return timezone(timedelta(seconds=TZ_ABBREVS[low]))
    z = find_zone(name)
    if z is not None:
        return z
    import re
    m = re.fullmatch(r"(?:([a-z]{3,})\s*)?([+-]?)(\d{1,2})(?::(\d\d)(?::(\d\d))?)?", low)
    if m is not None:
        secs = int(m.group(3)) * 3600 + int(m.group(4) or 0) * 60 + int(m.group(5) or 0)
        west = m.group(2) != "-"
        if secs < 24 * 3600:
            return timezone(timedelta(seconds=-secs if west else secs))
    raise SqlError("22023", f'time zone "{name}" not recognized')


def _interval_zone(iv: Interval) -> Any:
    from datetime import timedelta
    if iv[0] or iv[1]:
        from qp.types.datetime import interval_out
        raise SqlError("22023", f'interval time zone "{interval_out(iv)}" must not include months or days')
    return timezone(timedelta(microseconds=iv[2]))


def _ts_at_zone(ts: int, tz: Any) -> int:
    """timestamp AT TIME ZONE z -> timestamptz (local time in z)."""
    if not is_finite_ts(ts):
        return ts
    return check_ts(local_to_utc(tz, ts))


def _tstz_at_zone(ts: int, tz: Any) -> int:
    """timestamptz AT TIME ZONE z -> timestamp (wall clock in z)."""
    if not is_finite_ts(ts):
        return ts
    return check_ts(utc_to_local(tz, ts))


_reg("timezone", [TEXT, TIMESTAMP], TIMESTAMPTZ, lambda z, ts: _ts_at_zone(ts, zone_by_name(z)))
_reg("timezone", [TEXT, TIMESTAMPTZ], TIMESTAMP, lambda z, ts: _tstz_at_zone(ts, zone_by_name(z)))
_reg("timezone", [INTERVAL, TIMESTAMP], TIMESTAMPTZ, lambda z, ts: _ts_at_zone(ts, _interval_zone(z)))
_reg("timezone", [INTERVAL, TIMESTAMPTZ], TIMESTAMP, lambda z, ts: _tstz_at_zone(ts, _interval_zone(z)))
