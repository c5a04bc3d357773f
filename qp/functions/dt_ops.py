"""Date/time arithmetic operators (pg_operator's +, -, *, / on date, time,
timestamp, timestamptz and interval).

timestamptz +/- interval depends on the session time zone (a day across a
DST change is 23 or 25 hours) and so takes the EvalContext; everything else
is pure. Interval * float and / float cascade fractional months into days
and fractional days into microseconds exactly as interval_mul/interval_div.
"""

from __future__ import annotations

import math

from qp.errors import SqlError
from qp.functions.registry import register_operator
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import DATE, FLOAT8, INT4, INTERVAL, TIME, TIMESTAMP, TIMESTAMPTZ, USECS_PER_DAY, Interval
from qp.types.datetime import (
    DATE_END,
    DATE_MIN,
    check_interval,
    date_to_timestamp,
    is_finite_date,
    timestamp_mi,
    timestamp_pl_interval,
    timestamptz_pl_interval,
)

DAYS_PER_MONTH = 30
SECS_PER_DAY = 86400


def date_pli(d: int, n: int) -> int:
    if not is_finite_date(d):
        return d
    r = d + n
    if r < DATE_MIN or r >= DATE_END:
        raise SqlError("22008", "date out of range")
    return r


def date_mii(d: int, n: int) -> int:
    return date_pli(d, -n)


def date_mi(a: int, b: int) -> int:
    if not (is_finite_date(a) and is_finite_date(b)):
        raise SqlError("22008", "cannot subtract infinite dates")
    return a - b


def datetime_pl(d: int, t: int) -> int:
    ts = date_to_timestamp(d)
    if ts in (C.TS_POS_INF, C.TS_NEG_INF):
        return ts
    return ts + t


def date_pl_interval(d: int, iv: Interval) -> int:
    return timestamp_pl_interval(date_to_timestamp(d), iv)


def date_mi_interval(d: int, iv: Interval) -> int:
    return timestamp_pl_interval(date_to_timestamp(d), interval_um(iv))


def time_pl_interval(t: int, iv: Interval) -> int:
    return (t + iv[2]) % USECS_PER_DAY


def time_mi_interval(t: int, iv: Interval) -> int:
    return (t - iv[2]) % USECS_PER_DAY


def time_mi_time(a: int, b: int) -> Interval:
    return Interval(0, 0, a - b)


def interval_pl(a: Interval, b: Interval) -> Interval:
    return check_interval(a[0] + b[0], a[1] + b[1], a[2] + b[2])


def interval_mi(a: Interval, b: Interval) -> Interval:
    return check_interval(a[0] - b[0], a[1] - b[1], a[2] - b[2])


def interval_um(a: Interval) -> Interval:
    return check_interval(-a[0], -a[1], -a[2])


def _tsround(x: float) -> float:
    return round(x * 1000000.0) / 1000000.0


def _fits32(x: float) -> bool:
    return not math.isnan(x) and -2147483648.0 <= x < 2147483648.0


def interval_mul(iv: Interval, factor: float) -> Interval:
    """interval_mul: whole months/days scale; fractions cascade downwards."""
    months, days, t = iv
    rm = months * factor
    if not _fits32(rm):
        raise SqlError("22008", "interval out of range")
    res_month = int(rm)
    rd = days * factor
    if not _fits32(rd):
        raise SqlError("22008", "interval out of range")
    res_day = int(rd)
    month_remainder_days = _tsround((months * factor - res_month) * DAYS_PER_MONTH)
    sec_remainder = _tsround((days * factor - res_day + month_remainder_days - int(month_remainder_days))
                             * SECS_PER_DAY)
    if abs(sec_remainder) >= SECS_PER_DAY:
        res_day += int(sec_remainder / SECS_PER_DAY)
        sec_remainder -= int(sec_remainder / SECS_PER_DAY) * SECS_PER_DAY
    res_day += int(month_remainder_days)
    rt = t * factor + sec_remainder * 1000000
    if math.isnan(rt) or not (-9.223372036854775808e18 <= rt < 9.223372036854775808e18):
        raise SqlError("22008", "interval out of range")
    return check_interval(res_month, res_day, int(round(rt)))


def interval_div(iv: Interval, factor: float) -> Interval:
    if factor == 0.0:
        raise SqlError("22012", "division by zero")
    months, days, t = iv
    rm = months / factor
    rd = days / factor
    if not (_fits32(rm) and _fits32(rd)):
        raise SqlError("22008", "interval out of range")
    res_month = int(rm)
    res_day = int(rd)
    month_remainder_days = _tsround((months / factor - res_month) * DAYS_PER_MONTH)
    sec_remainder = _tsround((days / factor - res_day + month_remainder_days - int(month_remainder_days))
                             * SECS_PER_DAY)
    if abs(sec_remainder) >= SECS_PER_DAY:
        res_day += int(sec_remainder / SECS_PER_DAY)
        sec_remainder -= int(sec_remainder / SECS_PER_DAY) * SECS_PER_DAY
    res_day += int(month_remainder_days)
    rt = t / factor + sec_remainder * 1000000
    if math.isnan(rt) or not (-9.223372036854775808e18 <= rt < 9.223372036854775808e18):
        raise SqlError("22008", "interval out of range")
    return check_interval(res_month, res_day, int(round(rt)))


def _tstz_pl(ctx: EvalContext, ts: int, iv: Interval) -> int:
    return timestamptz_pl_interval(ts, iv, ctx.tzinfo)


def _tstz_mi(ctx: EvalContext, ts: int, iv: Interval) -> int:
    return timestamptz_pl_interval(ts, interval_um(iv), ctx.tzinfo)


register_operator("+", INT4, DATE, DATE, lambda n, d: date_pli(d, n))
register_operator("+", DATE, INT4, DATE, date_pli)
register_operator("-", DATE, INT4, DATE, date_mii)
register_operator("-", DATE, DATE, INT4, date_mi)
register_operator("+", DATE, TIME, TIMESTAMP, datetime_pl)
register_operator("+", TIME, DATE, TIMESTAMP, lambda t, d: datetime_pl(d, t))
register_operator("+", DATE, INTERVAL, TIMESTAMP, date_pl_interval)
register_operator("+", INTERVAL, DATE, TIMESTAMP, lambda iv, d: date_pl_interval(d, iv))
register_operator("-", DATE, INTERVAL, TIMESTAMP, date_mi_interval)
register_operator("+", TIME, INTERVAL, TIME, time_pl_interval)
register_operator("+", INTERVAL, TIME, TIME, lambda iv, t: time_pl_interval(t, iv))
register_operator("-", TIME, INTERVAL, TIME, time_mi_interval)
register_operator("-", TIME, TIME, INTERVAL, time_mi_time)
register_operator("+", TIMESTAMP, INTERVAL, TIMESTAMP, timestamp_pl_interval)
register_operator("+", INTERVAL, TIMESTAMP, TIMESTAMP, lambda iv, ts: timestamp_pl_interval(ts, iv))
register_operator("-", TIMESTAMP, INTERVAL, TIMESTAMP, lambda ts, iv: timestamp_pl_interval(ts, interval_um(iv)))
register_operator("-", TIMESTAMP, TIMESTAMP, INTERVAL, timestamp_mi)
register_operator("+", TIMESTAMPTZ, INTERVAL, TIMESTAMPTZ, _tstz_pl, ctx=True, volatility="s")
register_operator("+", INTERVAL, TIMESTAMPTZ, TIMESTAMPTZ, lambda c, iv, ts: _tstz_pl(c, ts, iv),
                  ctx=True, volatility="s")
register_operator("-", TIMESTAMPTZ, INTERVAL, TIMESTAMPTZ, _tstz_mi, ctx=True, volatility="s")
register_operator("-", TIMESTAMPTZ, TIMESTAMPTZ, INTERVAL, timestamp_mi)
register_operator("+", INTERVAL, INTERVAL, INTERVAL, interval_pl)
register_operator("-", INTERVAL, INTERVAL, INTERVAL, interval_mi)
register_operator("-", None, INTERVAL, INTERVAL, interval_um)
register_operator("*", INTERVAL, FLOAT8, INTERVAL, interval_mul)
register_operator("*", FLOAT8, INTERVAL, INTERVAL, lambda f, iv: interval_mul(iv, f))
register_operator("/", INTERVAL, FLOAT8, INTERVAL, interval_div)
