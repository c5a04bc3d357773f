"""The text input functions of date, time, timestamp and timestamptz:
a regex fast path for ISO 8601 (what drivers send), else the full
DecodeDateTime port in dt_parse.py, with PG's range errors.
"""

from __future__ import annotations

import re

from qp.errors import SqlError
from qp.types.core import DATE_NEG_INF, DATE_POS_INF, TS_NEG_INF, TS_POS_INF, USECS_PER_DAY
from qp.types.datetime import (
    DATE_END,
    DATE_MIN,
    POSTGRES_EPOCH_JDATE,
    TS_END,
    TS_MIN,
    UNIX_EPOCH_US,
    date2j,
    days_in_month,
    local_to_utc,
)
from qp.types.dt_parse import (
    _TM,
    BAD_TZ,
    DT_DATE,
    DT_EARLY,
    DT_EPOCH,
    DT_LATE,
    M_DATE,
    M_TIME,
    _DtErr,
    _local_us,
    _time_overflows,
    decode_datetime,
    dt_error,
)
from qp.types.timezones import Zone

# --- the input functions ---------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)", re.ASCII)
_ISO_TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(\.\d{1,6})?)?"
                     r"(?:([+-])(\d\d)(?::?(\d\d))?|(Z))?", re.ASCII)


def _in_range_julian(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= days_in_month(y, m) and y >= 1


def parse_date(s: str, now_us: int, tz: Zone) -> int:
    m = _ISO_DATE.fullmatch(s)
    if m is not None:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if _in_range_julian(y, mo, d):
            return date2j(y, mo, d) - POSTGRES_EPOCH_JDATE
    try:
        dtype, tm, _ = decode_datetime(s, now_us, tz)
    except _DtErr as e:
        raise dt_error(e.kind, e.detail if e.kind == BAD_TZ else s, "date") from None
    if dtype == DT_EPOCH:
        return UNIX_EPOCH_US // USECS_PER_DAY
    if dtype == DT_LATE:
        return DATE_POS_INF
    if dtype == DT_EARLY:
        return DATE_NEG_INF
    if not (-4713 <= tm.year <= 5874898):
        raise SqlError("22008", f'date out of range: "{s}"')
    d = date2j(tm.year, tm.mon, tm.mday) - POSTGRES_EPOCH_JDATE
    if d < DATE_MIN or d >= DATE_END:
        raise SqlError("22008", f'date out of range: "{s}"')
    return d


def _ts_from_tm(tm: _TM, s: str, with_tz: bool) -> int:
    if not (-4713 <= tm.year <= 294277):
        raise SqlError("22008", f'timestamp out of range: "{s}"')
    us = _local_us(tm)
    if with_tz:
        us -= (tm.tz or 0) * 1000000
    if us < TS_MIN or us >= TS_END:
        raise SqlError("22008", f'timestamp out of range: "{s}"')
    return us


def parse_timestamp(s: str, now_us: int, tz: Zone, with_tz: bool) -> int:
    typename = "timestamp with time zone" if with_tz else "timestamp"
    m = _ISO_TS.fullmatch(s)
    if m is not None:
        # fast path: ISO 8601 as drivers send it, with or without an offset
        y, mo, d, h, mi = (int(m.group(k)) for k in range(1, 6))
        sec = int(m.group(6) or 0)
        if _in_range_julian(y, mo, d) and h < 24 and mi < 60 and sec < 60:
            us = (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY + \
                ((h * 60 + mi) * 60 + sec) * 1000000
            frac = m.group(7)
            if frac:
                us += int(frac[1:].ljust(6, "0"))
            if not with_tz:
                return us
            if m.group(8):
                off = (int(m.group(9)) * 60 + int(m.group(10) or 0)) * 60
                if int(m.group(9)) <= 15:
                    return us - (off if m.group(8) == "+" else -off) * 1000000
            elif m.group(11):
                return us
            else:
                return local_to_utc(tz, us)
    try:
        dtype, tm, _ = decode_datetime(s, now_us, tz)
    except _DtErr as e:
        raise dt_error(e.kind, e.detail if e.kind == BAD_TZ else s, typename) from None
    if dtype == DT_EPOCH:
        return UNIX_EPOCH_US
    if dtype == DT_LATE:
        return TS_POS_INF
    if dtype == DT_EARLY:
        return TS_NEG_INF
    return _ts_from_tm(tm, s, with_tz)


def parse_time(s: str, now_us: int, tz: Zone) -> int:
    m = re.fullmatch(r"(\d\d):(\d\d)(?::(\d\d)(\.\d{1,6})?)?", s)
    if m is not None:
        h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h < 24 and mi < 60 and sec < 60:
            us = ((h * 60 + mi) * 60 + sec) * 1000000
            if m.group(4):
                us += int(m.group(4)[1:].ljust(6, "0"))
            return us
    try:
        dtype, tm, fmask = decode_datetime(s, now_us, tz, time_only=True)
    except _DtErr as e:
        raise dt_error(e.kind, e.detail if e.kind == BAD_TZ else s, "time without time zone") from None
    if dtype != DT_DATE:
        raise SqlError("22007", f'invalid input syntax for type time: "{s}"')
    if (fmask & M_TIME) == 0 and (fmask & M_DATE) != M_DATE:
        raise SqlError("22007", f'invalid input syntax for type time: "{s}"')
    if _time_overflows(tm.hour, tm.min, tm.sec, tm.fsec):
        raise SqlError("22008", f'date/time field value out of range: "{s}"')
    return ((tm.hour * 60 + tm.min) * 60 + tm.sec) * 1000000 + tm.fsec


