"""extract() and date_part(): the fields of dates, times, timestamps and
intervals. extract() returns numeric with PG 14+'s scales (seconds to 6
places, milliseconds to 3, a timestamp's epoch to 6), date_part() the same
as float8; infinite inputs give +/-Infinity for monotonic fields and NULL
for the others. Also the ISO week helpers to_char and date_trunc share.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.numeric_math import num_div
from qp.functions.registry import register_function
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import (
    DATE,
    FLOAT8,
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
    date2j,
    interval_parts,
    is_finite_date,
    is_finite_ts,
    j2date,
    ts_to_fields,
    utc_offset,
)
from qp.types.dt_interval import lookup_unit
from qp.types.numeric import DEC


def _reg(name: str, args: list, ret: C.SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    register_function(name, args, ret, impl, **kw)


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
    return Decimal(v).scaleb(-scale, context=DEC)


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

