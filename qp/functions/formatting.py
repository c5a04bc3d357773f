"""to_char for dates, timestamps and intervals, to_date and
to_timestamp(text, text): PostgreSQL's formatting.c datetime templates
(numbers are in formatting_num.py).

Templates: YYYY YYY YY Y Y,YYY IYYY IYY IY I MM MON Mon mon MONTH Month
month DD DDD D ID W WW IW IDDD CC J Q RM rm HH HH12 HH24 MI SS SSSS SSSSS
MS US FF1..FF6 AM/PM (a.m., A.M. ...) BC/AD TZ tz TZH TZM OF, with the FM
(fill mode) prefix, the TH/th suffix, "quoted text" and \\ escapes.
Keywords are matched longest first, as PG's keyword table does.
"""

from __future__ import annotations

import re
from typing import Any

from qp.errors import SqlError
from qp.functions.dt_extract import isoweek, isoyear, j2day
from qp.functions.registry import register_function
from qp.types.context import EvalContext
from qp.types.core import (
    DATE,
    INTERVAL,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
    Interval,
)
from qp.types.datetime import (
    POSTGRES_EPOCH_JDATE,
    check_ts,
    date2j,
    days_in_month,
    interval_parts,
    is_finite_ts,
    local_to_utc,
    ts_to_fields,
    tz_abbrev,
    utc_offset,
)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
ROMAN_MONTHS = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]

_DCH_KEYWORDS = sorted("""A.D. A.M. AD AM B.C. BC CC DAY DDD DD DY Day Dy D FF1 FF2 FF3 FF4 FF5 FF6 FX
HH24 HH12 HH IDDD ID IW IYYY IYY IY I J MI MM MONTH MON MS Month Mon OF P.M. PM Q RM SSSSS SSSS SS TZH TZM
TZ US WW W Y,YYY YYYY YYY YY Y a.d. a.m. ad am b.c. bc cc day ddd dd dy d ff1 ff2 ff3 ff4 ff5 ff6 fx hh24
hh12 hh iddd id iw iyyy iyy iy i j mi mm month mon ms of p.m. pm q rm sssss ssss ss tzh tzm tz us ww w
y,yyy yyyy yyy yy y""".split(), key=len, reverse=True)


def _ordinal(n: int, upper: bool) -> str:
    n = abs(n)
    if 10 <= n % 100 <= 20:
        s = "th"
    else:
        s = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return s.upper() if upper else s


def _parse_dch(fmt: str) -> list[tuple[str, Any]]:
    """Tokens: ('kw', (keyword, fm, th)) or ('lit', text)."""
    out: list[tuple[str, Any]] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c == '"':
            j = i + 1
            buf = []
            while j < n and fmt[j] != '"':
                if fmt[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(fmt[j])
                j += 1
            out.append(("lit", "".join(buf)))
            i = j + 1
            continue
        if c == "\\" and i + 1 < n:
            out.append(("lit", fmt[i + 1]))
            i += 2
            continue
        fm = False
        j = i
        while True:
            if fmt.startswith(("FM", "fm"), j):
                fm = True
                j += 2
            elif fmt.startswith(("TM", "tm"), j) or fmt.startswith(("FX", "fx"), j):
                j += 2
            else:
                break
        kw = next((k for k in _DCH_KEYWORDS if fmt.startswith(k, j)), None)
        if kw is None:
            if j > i:
                i = j
                continue
            out.append(("lit", c))
            i += 1
            continue
        j += len(kw)
        th = None
        if fmt.startswith("TH", j):
            th, j = "TH", j + 2
        elif fmt.startswith("th", j):
            th, j = "th", j + 2
        out.append(("kw", (kw, fm, th)))
        i = j
    return out


def _case(s: str, kw: str) -> str:
    if kw.isupper():
        return s.upper()
    if kw.islower():
        return s.lower()
    return s


class _TmInfo:
    __slots__ = ("year", "mon", "mday", "hour", "min", "sec", "fsec", "tz_off", "tz_name", "is_interval")

    def __init__(self, year: int, mon: int, mday: int, hour: int, mi: int, sec: int, fsec: int,
                 tz_off: int | None = None, tz_name: str = "", is_interval: bool = False) -> None:
        self.year, self.mon, self.mday = year, mon, mday
        self.hour, self.min, self.sec, self.fsec = hour, mi, sec, fsec
        self.tz_off, self.tz_name, self.is_interval = tz_off, tz_name, is_interval


def _dch_to_char(tm: _TmInfo, fmt: str) -> str:
    out: list[str] = []
    for kind, val in _parse_dch(fmt):
        if kind == "lit":
            out.append(val)
            continue
        kw, fm, th = val
        k = kw.upper()
        y = tm.year
        ay = y if y > 0 else 1 - y  # year as printed (no year 0)
        num: int | None = None
        width = 0
        s: str | None = None
        if k == "YYYY":
            num, width = ay, 4
        elif k == "Y,YYY":
            s = f"{ay // 1000},{ay % 1000:03d}"
        elif k == "YYY":
            num, width = ay % 1000, 3
        elif k == "YY":
            num, width = ay % 100, 2
        elif k == "Y":
            num, width = ay % 10, 1
        elif k in ("IYYY", "IYY", "IY", "I"):
            iy = isoyear(y, tm.mon, tm.mday)
            iy = iy if iy > 0 else 1 - iy
            width = len(k)
            num = iy if width == 4 else iy % (10 ** width)
        elif k == "MM":
            num, width = tm.mon, 2
        elif k in ("MONTH", "MON"):
            name = MONTHS[tm.mon - 1]
            if k == "MON":
                s = _case(name[:3], kw)
            else:
                s = _case(name, kw)
                if not fm:
                    s = s.ljust(9)
        elif k in ("DAY", "DY"):
            dow = j2day(date2j(y, tm.mon, tm.mday))
            name = DAYS[dow]
            if k == "DY":
                s = _case(name[:3], kw)
            else:
                s = _case(name, kw)
                if not fm:
                    s = s.ljust(9)
        elif k == "DD":
            num, width = tm.mday, 2
        elif k == "DDD":
            num, width = date2j(y, tm.mon, tm.mday) - date2j(y, 1, 1) + 1, 3
            if tm.is_interval:
                num = tm.mday
        elif k == "D":
            num = j2day(date2j(y, tm.mon, tm.mday)) + 1
        elif k == "ID":
            dw = j2day(date2j(y, tm.mon, tm.mday))
            num = 7 if dw == 0 else dw
        elif k == "W":
            num = (tm.mday - 1) // 7 + 1
        elif k == "WW":
            num, width = (date2j(y, tm.mon, tm.mday) - date2j(y, 1, 1)) // 7 + 1, 2
        elif k == "IW":
            num, width = isoweek(y, tm.mon, tm.mday), 2
        elif k == "IDDD":
            jd = date2j(y, tm.mon, tm.mday)
            iy = isoyear(y, tm.mon, tm.mday)
            first = date2j(iy, 1, 4)
            first -= (j2day(first) + 6) % 7
            num, width = jd - first + 1, 3
        elif k == "CC":
            if tm.is_interval:
                num = y // 100
            else:
                num = (y + 99) // 100 if y > 0 else -((99 - (y - 1)) // 100)
            width = 2
        elif k == "J":
            num = date2j(y, tm.mon, tm.mday)
        elif k == "Q":
            num = (tm.mon - 1) // 3 + 1
        elif k == "RM":
            if tm.is_interval:
                # an interval's months may be 0 (whole years: XII, or I when
                # negative; nothing when there are no years either) or negative
                # (-1 is XII, -2 XI...), as DCH_RM counts them
                if not tm.mon and not y:
                    continue
                index = (12 if y >= 0 else 1) if tm.mon == 0 else (13 + tm.mon if tm.mon < 0 else tm.mon)
            else:
                index = tm.mon
            s = _case(ROMAN_MONTHS[index - 1], kw)
            if not fm:
                s = s.ljust(4)
        elif k in ("HH", "HH12"):
            h = tm.hour % 12
            num, width = (12 if h == 0 else h), 2
        elif k == "HH24":
            num, width = tm.hour, 2
        elif k == "MI":
            num, width = tm.min, 2
        elif k == "SS":
            num, width = tm.sec, 2
        elif k == "MS":
            num, width = tm.fsec // 1000, 3
        elif k == "US":
            num, width = tm.fsec, 6
        elif k.startswith("FF"):
            d = int(k[2])
            num, width = tm.fsec // (10 ** (6 - d)), d
        elif k in ("SSSS", "SSSSS"):
            num = (tm.hour * 60 + tm.min) * 60 + tm.sec
        elif k in ("AM", "PM", "A.M.", "P.M."):
            pm = tm.hour >= 12
            s = ("P.M." if pm else "A.M.") if "." in k else ("PM" if pm else "AM")
            s = s.lower() if kw.islower() else s
        elif k in ("AD", "BC", "A.D.", "B.C."):
            bc = y <= 0
            s = ("B.C." if bc else "A.D.") if "." in k else ("BC" if bc else "AD")
            s = s.lower() if kw.islower() else s
        elif k == "TZ":
            s = tm.tz_name if kw == "TZ" else tm.tz_name.lower()
        elif k in ("TZH", "TZM", "OF"):
            off = tm.tz_off or 0
            sign = "-" if off < 0 else "+"
            a = abs(off)
            if k == "TZH":
                s = f"{sign}{a // 3600:02d}"
            elif k == "TZM":
                s = f"{(a // 60) % 60:02d}"
            else:
                s = f"{sign}{a // 3600:02d}" + (f":{(a // 60) % 60:02d}" if a % 3600 else "")
        if num is not None:
            if fm or not width:
                s = str(num)
            else:
                if num < 0 and k in ("HH", "HH12", "HH24", "MI", "SS"):
                    width += 1  # PG widens these for negative interval fields
                s = f"{num:0{width}d}"  # like C's %0*d: the sign counts in the width
            if th:
                s += _ordinal(num, th == "TH")
        out.append(s or "")
    return "".join(out)


def to_char_timestamp(ts: int, fmt: str) -> str | None:
    if not is_finite_ts(ts):
        return None
    y, mo, d, h, mi, s, f = ts_to_fields(ts)
    return _dch_to_char(_TmInfo(y, mo, d, h, mi, s, f, None, ""), fmt)


def to_char_timestamptz(ctx: EvalContext, ts: int, fmt: str) -> str | None:
    if not is_finite_ts(ts):
        return None
    off = utc_offset(ctx.tzinfo, ts)
    y, mo, d, h, mi, s, f = ts_to_fields(ts + off * 1000000)
    return _dch_to_char(_TmInfo(y, mo, d, h, mi, s, f, off, tz_abbrev(ctx.tzinfo, ts)), fmt)


def to_char_interval(iv: Interval, fmt: str) -> str:
    years, mons, days, hours, mins, secs, us = interval_parts(iv)
    tm = _TmInfo(years, mons, days, hours, mins, secs, us, None, "", True)
    return _dch_to_char(tm, fmt)


register_function("to_char", [TIMESTAMP, TEXT], TEXT, to_char_timestamp, volatility="s")
register_function("to_char", [TIMESTAMPTZ, TEXT], TEXT, to_char_timestamptz, ctx=True, volatility="s")
register_function("to_char", [INTERVAL, TEXT], TEXT, to_char_interval, volatility="s")

# --- to_date / to_timestamp --------------------------------------------------------------------

_MON_ABBR = {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
_MON_FULL = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
_DAY_NAMES = [d.lower() for d in DAYS] + [d[:3].lower() for d in DAYS]


def _from_char(s: str, fmt: str) -> dict:
    """Parse s by a datetime template into fields (from_char_parse)."""
    f: dict[str, Any] = {}
    pos = 0
    n = len(s)
    tokens = _parse_dch(fmt)
    for ti, (kind, val) in enumerate(tokens):
        if kind == "lit":
            # a literal (usually a separator) skips one character of input
            if val.isspace():
                while pos < n and s[pos].isspace():
                    pos += 1
            elif pos < n and not s[pos].isalnum():
                pos += 1
            elif pos < n and s[pos] == val:
                pos += 1
            continue
        kw, fm, th = val
        k = kw.upper()
        while pos < n and s[pos].isspace():
            pos += 1
        nxt_is_sep = ti + 1 >= len(tokens) or tokens[ti + 1][0] == "lit"
        if k in ("MONTH", "MON"):
            m = re.match(r"[A-Za-z]+", s[pos:])
            word = m.group(0).lower() if m else ""
            if k == "MON":
                mon = _MON_ABBR.get(word[:3])
                used = 3
            else:
                mon = _MON_FULL.get(word)
                used = len(word)
            if mon is None:
                raise SqlError("22007", f'invalid value "{s[pos:pos + 3]}" for "{kw}"',
                               detail="The given value did not match any of the allowed values for this field.")
            f["mon"] = mon
            pos += used
            continue
        if k in ("DAY", "DY"):
            m = re.match(r"[A-Za-z]+", s[pos:])
            pos += len(m.group(0)) if m else 0
            continue
        if k in ("AM", "PM", "A.M.", "P.M."):
            word = s[pos:pos + len(k)].upper()
            if word not in ("AM", "PM", "A.M.", "P.M."):
                raise SqlError("22007", f'invalid value "{s[pos:pos + len(k)]}" for "{kw}"',
                               detail="The given value did not match any of the allowed values for this field.")
            f["pm"] = word.startswith("P")
            pos += len(k)
            continue
        if k in ("AD", "BC", "A.D.", "B.C."):
            word = s[pos:pos + len(k)].upper()
            f["bc"] = word.startswith("B")
            pos += len(k)
            continue
        if k in ("TZ",):
            m = re.match(r"[A-Za-z]+", s[pos:])
            pos += len(m.group(0)) if m else 0
            continue
        maxw = {"YYYY": 4, "YYY": 3, "YY": 2, "Y": 1, "IYYY": 4, "MM": 2, "DD": 2, "DDD": 3, "HH": 2,
                "HH12": 2, "HH24": 2, "MI": 2, "SS": 2, "MS": 3, "US": 6, "J": 10, "CC": 2, "Q": 1, "W": 1,
                "WW": 2, "IW": 2, "D": 1, "ID": 1, "TZH": 3, "TZM": 2, "SSSS": 5, "SSSSS": 5,
                "Y,YYY": 5}.get(k, 6 if k.startswith("FF") else 2)
        if k == "Y,YYY":
            m = re.match(r"(\d+),(\d{3})", s[pos:])
            if m is None:
                raise SqlError("22007", f'invalid input string for "{kw}"')
            f["year"] = int(m.group(1)) * 1000 + int(m.group(2))
            pos += m.end()
            continue
        signed = k == "TZH"
        pat = r"[+-]?\d+" if signed else r"\d+"
        if not nxt_is_sep and not fm:
            pat = (r"[+-]?" if signed else "") + rf"\d{{1,{maxw}}}"
        if k in ("YYYY", "J", "IYYY") and nxt_is_sep:
            pat = r"\d+"
        m = re.match(pat, s[pos:])
        if m is None:
            if pos >= n:
                raise SqlError("22007", f'source string too short for "{kw}" formatting field',
                               detail=f"Field requires {maxw} characters, but only 0 remain.",
                               hint='If your source string is not fixed-width, try using the "FM" modifier.')
            raise SqlError("22007", f'invalid value "{s[pos:pos + maxw]}" for "{kw}"',
                           detail="Value must be an integer.")
        txt = m.group(0)
        v = int(txt)
        pos += m.end()
        if k in ("YYYY", "YYY", "YY", "Y", "IYYY"):
            if k in ("YY", "Y", "YYY") and len(txt) <= 2 and k != "YYY":
                v = v + 2000 if v < 70 else v + 1900
            elif k == "YYY" and len(txt) <= 3:
                v = v + 2000 if v < 100 else v + 1000
            f["year"] = v
        elif k == "MM":
            f["mon"] = v
        elif k == "DD":
            f["mday"] = v
        elif k == "DDD":
            f["yday"] = v
        elif k in ("HH", "HH12"):
            f["hour12"] = v
        elif k == "HH24":
            f["hour"] = v
        elif k == "MI":
            f["min"] = v
        elif k == "SS":
            f["sec"] = v
        elif k == "MS":
            f["fsec"] = v * 1000 * (10 ** (3 - len(txt)))
        elif k == "US" or k.startswith("FF"):
            f["fsec"] = int(txt.ljust(6, "0")[:6])
        elif k in ("SSSS", "SSSSS"):
            f["sssss"] = v
        elif k == "J":
            f["julian"] = v
        elif k == "CC":
            f["cc"] = v
        elif k == "TZH":
            f["tzh"] = v
            f["tzh_neg"] = txt.startswith("-")
        elif k == "TZM":
            f["tzm"] = v
    return f


def _fields_to_local(f: dict, s: str) -> int:
    if "julian" in f:
        days = f["julian"] - POSTGRES_EPOCH_JDATE
        y = None
    else:
        y = f.get("year")
        if y is None and "cc" in f:
            y = (f["cc"] - 1) * 100 + 1
        if y is None:
            y = 1
        if f.get("bc"):
            y = -(y - 1)
        mon = f.get("mon", 1)
        mday = f.get("mday", 1)
        if "yday" in f and "mon" not in f:
            jd = date2j(y, 1, 1) + f["yday"] - 1
            days = jd - POSTGRES_EPOCH_JDATE
        else:
            if not (1 <= mon <= 12) or not (1 <= mday <= days_in_month(y, mon)):
                raise SqlError("22008", f'date/time field value out of range: "{s}"')
            days = date2j(y, mon, mday) - POSTGRES_EPOCH_JDATE
    hour = f.get("hour", 0)
    if "hour12" in f:
        h12 = f["hour12"]
        if not 1 <= h12 <= 12:
            raise SqlError("22008", f'hour "{h12}" is invalid for the 12-hour clock',
                           hint="Use the 24-hour clock, or give an hour between 1 and 12.")
        hour = h12 % 12
    if f.get("pm") and hour < 12:
        hour += 12
    mi, sec = f.get("min", 0), f.get("sec", 0)
    if "sssss" in f:
        t = f["sssss"]
        hour, mi, sec = t // 3600, (t // 60) % 60, t % 60
    if hour > 24 or mi > 59 or sec > 60:
        raise SqlError("22008", f'date/time field value out of range: "{s}"')
    return days * 86400000000 + ((hour * 60 + mi) * 60 + sec) * 1000000 + f.get("fsec", 0)


def to_date(s: str, fmt: str) -> int:
    f = _from_char(s, fmt)
    return _fields_to_local(f, s) // 86400000000


def to_timestamp_text(ctx: EvalContext, s: str, fmt: str) -> int:
    f = _from_char(s, fmt)
    local = _fields_to_local(f, s)
    if "tzh" in f or "tzm" in f:
        off = abs(f.get("tzh", 0)) * 3600 + f.get("tzm", 0) * 60
        if f.get("tzh_neg"):
            off = -off
        return check_ts(local - off * 1000000)
    return check_ts(local_to_utc(ctx.tzinfo, local))


register_function("to_date", [TEXT, TEXT], DATE, to_date, volatility="s")
register_function("to_timestamp", [TEXT, TEXT], TIMESTAMPTZ, to_timestamp_text, ctx=True, volatility="s")
