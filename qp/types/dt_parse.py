"""Text input of date, time, timestamp and timestamptz.

A port of the parts of PostgreSQL's datetime.c that matter in practice:
ParseDateTime (tokenising into numbers, strings, dates, times and zone
offsets) and DecodeDateTime/DecodeDate/DecodeNumber/DecodeNumberField (the
field-order heuristics for DateStyle ISO, MDY), with PG's error codes and
texts. Plain ISO input takes a regex fast path first, because that is what
drivers send almost always. Interval input lives in dt_interval.py.
"""

from __future__ import annotations

import re

from qp.errors import SqlError
from qp.types.core import USECS_PER_DAY
from qp.types.datetime import (
    POSTGRES_EPOCH_JDATE,
    date2j,
    days_in_month,
    j2date,
    local_offset,
    utc_to_local,
)
from qp.types.timezones import Zone, pg_tzset
from qp.types.tz_abbrevs import DYNAMIC, FIXED

# field-type codes of ParseDateTime
NUMBER, STRING, DATE, TIME, TZ, SPECIAL = range(6)

# field masks (DTK_M)
M_YEAR, M_MONTH, M_DAY, M_HOUR, M_MIN, M_SEC, M_FSEC, M_TZ, M_DOY, M_DOW, M_AMPM, M_ADBC, M_DTZ, M_DTZMOD, M_RESERV = (
    1 << i for i in range(15))
M_DATE = M_YEAR | M_MONTH | M_DAY
M_TIME = M_HOUR | M_MIN | M_SEC | M_FSEC

# dtype results
DT_DATE, DT_EPOCH, DT_LATE, DT_EARLY = "date", "epoch", "late", "early"

# error kinds (DTERR_*)
BAD_FORMAT, FIELD_OVERFLOW, MD_FIELD_OVERFLOW, TZDISP_OVERFLOW, BAD_TZ = range(5)


class _DtErr(Exception):
    def __init__(self, kind: int, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail


def dt_error(kind: int, s: str, typename: str) -> SqlError:
    """DateTimeParseError: the SqlError for a decoding failure."""
    if kind == FIELD_OVERFLOW:
        return SqlError("22008", f'date/time field value out of range: "{s}"')
    if kind == MD_FIELD_OVERFLOW:
        return SqlError("22008", f'date/time field value out of range: "{s}"',
                        hint='Perhaps you need a different "datestyle" setting.')
    if kind == TZDISP_OVERFLOW:
        return SqlError("22009", f'time zone displacement out of range: "{s}"')
    if kind == BAD_TZ:
        return SqlError("22023", f'time zone "{s}" not recognized')
    return SqlError("22007", f'invalid input syntax for type {typename}: "{s}"')


_MONTHS = {"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
           "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8,
           "august": 8, "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10,
           "nov": 11, "november": 11, "dec": 12, "december": 12}
_DAYS = {"sun": 0, "sunday": 0, "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2,
         "wed": 3, "wednesday": 3, "wednes": 3, "thu": 4, "thur": 4, "thurs": 4, "thursday": 4,
         "fri": 5, "friday": 5, "sat": 6, "saturday": 6}
_SPECIALS = {"epoch", "infinity", "-infinity", "now", "today", "tomorrow", "yesterday",
             "allballs"}
_KEYWORDS = set(_MONTHS) | set(_DAYS) | _SPECIALS | {"am", "pm", "a.m.", "p.m.", "ad", "bc", "t", "j",
                                                      "on", "at", "z", "ago", "current"}

def find_zone(name: str) -> Zone | None:
    """A zone named in input ('America/New_York', 'PST8PDT', 'GMT+8'), as pg_tzset finds it."""
    return pg_tzset(name)


def lookup_abbrev(word: str) -> tuple[int, bool] | Zone | None:
    """DecodeTimezoneAbbrev (lower-case word): (seconds east, is DST) for a
    fixed abbreviation, the zone deciding a dynamic one (MSK), or None."""
    fixed = FIXED.get(word)
    if fixed is not None:
        return fixed
    zone_name = DYNAMIC.get(word)
    if zone_name is not None:
        return pg_tzset(zone_name)
    return None


def abbrev_offset_at_local(zone: Zone, abbr: str, local_s: int) -> int:
    """DetermineTimeZoneAbbrevOffset: seconds east that a dynamic abbreviation
    gives the wall-clock second `local_s` (Unix seconds, as if UTC)."""
    zone_offset = zone.local_offset(local_s)
    meaning = zone.abbrev_type(abbr.upper(), local_s - zone_offset)
    return meaning.utoff if meaning is not None else zone_offset


def abbrev_offset_at_utc(zone: Zone, abbr: str, utc_s: int) -> int:
    """DetermineTimeZoneAbbrevOffsetTS: seconds east of a dynamic abbreviation at an instant."""
    meaning = zone.abbrev_type(abbr.upper(), utc_s)
    if meaning is not None:
        return meaning.utoff
    return zone.local_offset(utc_s + zone.utc_offset(utc_s))


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def _isalpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def parse_tokens(s: str) -> list[tuple[int, str]]:
    """ParseDateTime: split input into typed fields (strings lower-cased)."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if _isdigit(c):
            j = i + 1
            while j < n and _isdigit(s[j]):
                j += 1
            if j < n and s[j] == ":":
                while j < n and (_isdigit(s[j]) or s[j] in ":."):
                    j += 1
                out.append((TIME, s[i:j]))
            elif j < n and s[j] in "-/.":
                delim = s[j]
                j += 1
                if j < n and _isdigit(s[j]):
                    ftype = NUMBER if delim == "." else DATE
                    while j < n and _isdigit(s[j]):
                        j += 1
                    if j < n and s[j] == delim:
                        ftype = DATE
                        j += 1
                        while j < n and (_isdigit(s[j]) or s[j] == delim):
                            j += 1
                    out.append((ftype, s[i:j]))
                else:
                    while j < n and (s[j].isalnum() and s[j].isascii() or s[j] == delim):
                        j += 1
                    out.append((DATE, s[i:j].lower()))
            else:
                out.append((NUMBER, s[i:j]))
            i = j
        elif c == ".":
            j = i + 1
            if j < n and _isdigit(s[j]):
                while j < n and _isdigit(s[j]):
                    j += 1
                out.append((NUMBER, s[i:j]))
                i = j
            else:
                i += 1
        elif _isalpha(c):
            j = i + 1
            while j < n and _isalpha(s[j]):
                j += 1
            word = s[i:j].lower()
            is_date = False
            if j < n and s[j] in "-/.":
                is_date = True
            elif j < n and (s[j] == "+" or _isdigit(s[j])):
                is_date = word not in _KEYWORDS
            if is_date:
                while j < n and (s[j] in "+-/_.:" or (s[j].isalnum() and s[j].isascii())):
                    j += 1
                out.append((DATE, s[i:j].lower()))
            else:
                out.append((STRING, word))
            i = j
        elif c in " \t\n\r\v\f":
            i += 1
        elif c in "+-":
            j = i + 1
            while j < n and s[j] in " \t\n\r\v\f":
                j += 1
            if j < n and _isdigit(s[j]):
                k = j + 1
                while k < n and (_isdigit(s[k]) or s[k] in ":.-"):
                    k += 1
                out.append((TZ, c + s[j:k]))
                i = k
            elif j < n and _isalpha(s[j]):
                k = j + 1
                while k < n and _isalpha(s[k]):
                    k += 1
                out.append((SPECIAL, c + s[j:k].lower()))
                i = k
            else:
                raise _DtErr(BAD_FORMAT)
        elif c.isascii() and not c.isalnum() and c.isprintable():
            i += 1  # other punctuation only delimits
        else:
            raise _DtErr(BAD_FORMAT)
    return out


MAX_TZDISP_HOUR = 15  # datatype/timestamp.h


def _strtoint(s: str, i: int) -> tuple[int, int]:
    """C strtol from s[i]: (value, index after it); (0, i) when there are no digits."""
    j = i
    while j < len(s) and s[j] in " \t\n\r\v\f":
        j += 1
    k = j
    if k < len(s) and s[k] in "+-":
        k += 1
    d = k
    while d < len(s) and s[d].isdigit():
        d += 1
    if d == k:
        return 0, i
    value = int(s[j:d])
    if not -(2**31) <= value < 2**31:
        raise _DtErr(TZDISP_OVERFLOW)
    return value, d


def decode_timezone(s: str) -> int:
    """DecodeTimezone: '+05', '+0530', '+05:30', '-08:00:00' -> seconds east
    (the SQL sign convention). Out-of-range parts are TZDISP_OVERFLOW even
    when junk follows; junk is BAD_FORMAT."""
    if not s or s[0] not in "+-":
        raise _DtErr(BAD_FORMAT)
    hr, i = _strtoint(s, 1)
    sec = 0
    if i < len(s) and s[i] == ":":
        mins, i = _strtoint(s, i + 1)
        if i < len(s) and s[i] == ":":
            sec, i = _strtoint(s, i + 1)
    elif i == len(s) and len(s) > 3:
        hr, mins = hr // 100, hr % 100
    else:
        mins = 0
    if not 0 <= hr <= MAX_TZDISP_HOUR or not 0 <= mins < 60 or not 0 <= sec < 60:
        raise _DtErr(TZDISP_OVERFLOW)
    if i != len(s):
        raise _DtErr(BAD_FORMAT)
    off = (hr * 60 + mins) * 60 + sec
    return -off if s[0] == "-" else off


def _parse_fraction(frac: str) -> int:
    """'.5' -> 500000 microseconds (rint of the double, as PG does)."""
    if frac in (".", ""):
        return 0
    return int(round(float("0" + frac) * 1000000))


class _TM:
    __slots__ = ("year", "mon", "mday", "hour", "min", "sec", "fsec", "yday", "tz", "zone", "abbrev")

    def __init__(self) -> None:
        self.year = 0
        self.mon = 1
        self.mday = 1
        self.hour = 0
        self.min = 0
        self.sec = 0
        self.fsec = 0
        self.yday = 0
        self.tz: int | None = None  # explicit offset, seconds east
        self.zone: Zone | None = None  # named zone (or a dynamic abbreviation's zone) to resolve later
        self.abbrev = ""  # the dynamic abbreviation (MSK) that `zone` interprets


def _decode_time(s: str) -> tuple[int, int, int, int]:
    """DecodeTime (full range): hh:mm, hh:mm:ss[.f], mm:ss.f."""
    m = re.fullmatch(r"(\d+):(\d+)(?:(:(\d+))?(\.\d*)?)?", s)
    if m is None:
        raise _DtErr(BAD_FORMAT)
    hour, mins = int(m.group(1)), int(m.group(2))
    sec, fsec = 0, 0
    if m.group(3):
        sec = int(m.group(4))
        fsec = _parse_fraction(m.group(5) or "")
    elif m.group(5) is not None:
        hour, mins, sec = 0, hour, mins
        fsec = _parse_fraction(m.group(5))
    if hour < 0 or mins < 0 or mins > 59 or sec < 0 or sec > 60 or fsec < 0 or fsec > 1000000:
        raise _DtErr(FIELD_OVERFLOW)
    return hour, mins, sec, fsec


def _time_overflows(h: int, mi: int, s: int, f: int) -> bool:
    if h < 0 or h > 24 or mi < 0 or mi >= 60 or s < 0 or s > 60 or f < 0 or f > 1000000:
        return True
    return ((h * 60 + mi) * 60 + s) * 1000000 + f > USECS_PER_DAY


def _decode_number_field(s: str, fmask: int, tm: _TM) -> tuple[int, bool]:
    """DecodeNumberField: run-together yyyymmdd / hhmmss[.f]. Returns (tmask, is2digits)."""
    if "." in s:
        s, _, frac = s.partition(".")
        tm.fsec = _parse_fraction("." + frac)
    elif (fmask & M_DATE) != M_DATE and len(s) >= 6:
        tm.mday = int(s[-2:])
        tm.mon = int(s[-4:-2])
        tm.year = int(s[:-4])
        return M_DATE, len(s) - 4 == 2
    if (fmask & M_TIME) != M_TIME:
        if len(s) == 6:
            tm.hour, tm.min, tm.sec = int(s[:2]), int(s[2:4]), int(s[4:6])
            return M_TIME, False
        if len(s) == 4:
            tm.hour, tm.min, tm.sec = int(s[:2]), int(s[2:4]), 0
            return M_TIME, False
    raise _DtErr(BAD_FORMAT)


def _decode_number(s: str, have_text_month: bool, fmask: int, tm: _TM,
                   is2digits: bool) -> tuple[int, bool]:
    """DecodeNumber: one numeric field, placed by what is already known."""
    m = re.match(r"\d+", s)
    if m is None:
        raise _DtErr(BAD_FORMAT)
    flen = len(s)
    val = int(m.group(0))
    rest = s[m.end():]
    if rest.startswith("."):
        if m.end() > 2:
            return _decode_number_field(s, fmask | M_DATE, tm)
        tm.fsec = _parse_fraction(rest)
    elif rest:
        raise _DtErr(BAD_FORMAT)
    if flen == 3 and (fmask & M_DATE) == M_YEAR and 1 <= val <= 366:
        tm.yday = val
        return M_DOY | M_MONTH | M_DAY, is2digits
    k = fmask & M_DATE
    if k == 0:
        if flen >= 3:
            tmask = M_YEAR
            tm.year = val
        else:
            tmask = M_MONTH
            tm.mon = val
    elif k == M_YEAR:
        tmask = M_MONTH
        tm.mon = val
    elif k == M_MONTH:
        if have_text_month:
            if flen >= 3:
                tmask = M_YEAR
                tm.year = val
            else:
                tmask = M_DAY
                tm.mday = val
        else:
            tmask = M_DAY
            tm.mday = val
    elif k == M_YEAR | M_MONTH:
        if have_text_month and flen >= 3 and is2digits:
            tmask = M_DAY
            tm.mday = tm.year
            tm.year = val
            is2digits = False
        else:
            tmask = M_DAY
            tm.mday = val
    elif k == M_DAY:
        tmask = M_MONTH
        tm.mon = val
    elif k == M_MONTH | M_DAY:
        tmask = M_YEAR
        tm.year = val
    elif k == M_DATE:
        return _decode_number_field(s, fmask, tm)
    else:
        raise _DtErr(BAD_FORMAT)
    if tmask == M_YEAR:
        is2digits = flen <= 2
    return tmask, is2digits


def _decode_date(s: str, fmask: int, tm: _TM, is2digits: bool) -> tuple[int, bool]:
    """DecodeDate: a field like 2024-01-31, 1/8/1999, jan-08-1999, 1999.008."""
    fields = re.findall(r"\d+|[a-zA-Z]+", s)
    if not fields or re.search(r"[^0-9a-zA-Z]$", s):
        raise _DtErr(BAD_FORMAT)
    tmask = 0
    have_text_month = False
    nums = []
    for f in fields:
        if f[0].isalpha():
            mon = _MONTHS.get(f.lower())
            if mon is None:
                raise _DtErr(BAD_FORMAT)
            if fmask & M_MONTH:
                raise _DtErr(BAD_FORMAT)
            tm.mon = mon
            have_text_month = True
            fmask |= M_MONTH
            tmask |= M_MONTH
        else:
            nums.append(f)
    for f in nums:
        dmask, is2digits = _decode_number(f, have_text_month, fmask, tm, is2digits)
        if fmask & dmask:
            raise _DtErr(BAD_FORMAT)
        fmask |= dmask
        tmask |= dmask
    if (fmask & ~(M_DOY | M_TZ)) != M_DATE:
        raise _DtErr(BAD_FORMAT)
    return tmask, is2digits


def decode_datetime(s: str, now_us: int, tz: Zone, time_only: bool = False
                    ) -> tuple[str, _TM, int]:
    """DecodeDateTime. Returns (dtype, fields, fmask); tm.tz is the offset
    (seconds east) to use, resolved against the session zone when absent."""
    tokens = parse_tokens(s)
    if not tokens:
        raise _DtErr(BAD_FORMAT)
    tm = _TM()
    fmask = 0
    ptype = ""
    is2digits = False
    have_text_month = False
    bc = False
    mer = ""
    dtype = DT_DATE
    isjulian = False
    nf = len(tokens)
    for i, (ftype, field) in enumerate(tokens):
        tmask = 0
        if ftype == DATE:
            if ptype == "j":
                raise _DtErr(BAD_FORMAT)
            if ptype or (fmask & (M_MONTH | M_DAY)) == (M_MONTH | M_DAY):
                if _isdigit(field[0]) or ptype:
                    if ptype and ptype != "t":
                        raise _DtErr(BAD_FORMAT)
                    ptype = ""
                    if (fmask & M_TIME) == M_TIME or "-" not in field:
                        raise _DtErr(BAD_FORMAT)
                    cut = field.index("-")
                    tm.tz = decode_timezone(field[cut:])
                    tmask, is2digits = _decode_number_field(field[:cut], fmask, tm)
                    tmask |= M_TZ
                else:
                    zone = find_zone(field)
                    if zone is None:
                        raise _DtErr(BAD_TZ, field)
                    tm.zone = zone
                    tmask = M_TZ
            else:
                tmask, is2digits = _decode_date(field, fmask, tm, is2digits)
        elif ftype == TIME:
            if ptype:
                if ptype != "t":
                    raise _DtErr(BAD_FORMAT)
                ptype = ""
            tm.hour, tm.min, tm.sec, tm.fsec = _decode_time(field)
            tmask = M_TIME
            if _time_overflows(tm.hour, tm.min, tm.sec, tm.fsec):
                raise _DtErr(FIELD_OVERFLOW)
        elif ftype == TZ:
            tm.tz = decode_timezone(field)
            tmask = M_TZ
        elif ftype == NUMBER:
            if ptype:
                m = re.match(r"\d+", field)
                if m is None:
                    raise _DtErr(BAD_FORMAT)
                value = int(m.group(0))
                rest = field[m.end():]
                if rest and not (rest[0] == "." and ptype in ("j", "t")):
                    raise _DtErr(BAD_FORMAT)
                if ptype == "j":
                    tmask = M_DATE
                    tm.year, tm.mon, tm.mday = j2date(value)
                    isjulian = True
                    if rest:
                        frac = float("0" + rest)
                        t = round(frac * 86400 * 1000000)
                        tm.hour, t = divmod(t, 3600000000)
                        tm.min, t = divmod(t, 60000000)
                        tm.sec, tm.fsec = divmod(t, 1000000)
                        tmask |= M_TIME
                else:  # "t": ISO time follows
                    tmask, is2digits = _decode_number_field(field, fmask | M_DATE, tm)
                    if tmask != M_TIME:
                        raise _DtErr(BAD_FORMAT)
                ptype = ""
            elif time_only:
                # DecodeTimeOnly: numbers are run-together times (040506)
                flen = len(field)
                dot = field.find(".")
                if dot >= 0:
                    if dot <= 2:
                        raise _DtErr(BAD_FORMAT)
                    tmask, is2digits = _decode_number_field(field, fmask | M_DATE, tm)
                elif flen > 4:
                    tmask, is2digits = _decode_number_field(field, fmask | M_DATE, tm)
                else:
                    tmask, is2digits = _decode_number(field, False, fmask | M_DATE, tm, is2digits)
            else:
                flen = len(field)
                dot = field.find(".")
                if dot >= 0 and not (fmask & M_DATE):
                    tmask, is2digits = _decode_date(field, fmask, tm, is2digits)
                elif dot >= 0 and dot > 2:
                    tmask, is2digits = _decode_number_field(field, fmask, tm)
                elif flen >= 6 and (not (fmask & M_DATE) or not (fmask & M_TIME)):
                    tmask, is2digits = _decode_number_field(field, fmask, tm)
                else:
                    tmask, is2digits = _decode_number(field, have_text_month, fmask, tm, is2digits)
        else:  # STRING / SPECIAL
            word = field
            abbrev = lookup_abbrev(word) if ftype == STRING else None  # abbreviations come first
            if isinstance(abbrev, tuple):
                tm.tz = abbrev[0]
                tmask = M_TZ | M_DTZ if abbrev[1] else M_TZ
            elif abbrev is not None:
                tm.zone = abbrev
                tm.abbrev = word
                tmask = M_TZ
            elif word == "dst":
                # DTZMOD: one hour more on the zone given before ("MET DST"); checked at the end
                tmask = M_DTZMOD | M_DTZ
                if tm.tz is not None:
                    tm.tz += 3600
            elif word in _SPECIALS:
                if word in ("now",):
                    tmask = M_DATE | M_TIME | M_TZ
                    tm.tz = None
                    local = utc_to_local(tz, now_us)
                    _set_from_local(tm, local)
                    tm.tz = (local - now_us) // 1000000
                elif word in ("today", "tomorrow", "yesterday"):
                    tmask = M_DATE
                    local = utc_to_local(tz, now_us)
                    delta = {"today": 0, "tomorrow": 1, "yesterday": -1}[word]
                    tm.year, tm.mon, tm.mday = j2date(local // USECS_PER_DAY + POSTGRES_EPOCH_JDATE + delta)
                elif word == "allballs":
                    tmask = M_TIME | M_TZ
                    tm.hour = tm.min = tm.sec = tm.fsec = 0
                    tm.tz = 0
                else:
                    # PostgreSQL 15 gives these a mask bit of their own: other
                    # fields may come too (a date only before them), the value wins
                    tmask = M_RESERV
                    dtype = {"epoch": DT_EPOCH, "infinity": DT_LATE,
                             "-infinity": DT_EARLY}[word]
            elif word in _MONTHS:
                tmask = M_MONTH
                if (fmask & M_MONTH) and not have_text_month and not (fmask & M_DAY) and 1 <= tm.mon <= 31:
                    tm.mday = tm.mon
                    tmask = M_DAY
                have_text_month = True
                tm.mon = _MONTHS[word]
            elif word in _DAYS:
                tmask = M_DOW
            elif word in ("am", "pm", "a.m.", "p.m."):
                tmask = M_AMPM
                mer = word[0]
            elif word in ("ad", "bc"):
                tmask = M_ADBC
                bc = word == "bc"
            elif word in ("on", "at"):
                continue
            elif word == "t":
                if (fmask & M_DATE) != M_DATE or i >= nf - 1 or tokens[i + 1][0] not in (NUMBER, TIME, DATE):
                    raise _DtErr(BAD_FORMAT)
                ptype = "t"
            elif word == "j":
                if ptype:
                    raise _DtErr(BAD_FORMAT)
                ptype = "j"
            elif ftype == SPECIAL:
                raise _DtErr(BAD_FORMAT)
            else:
                zone = find_zone(word)
                if zone is None:
                    raise _DtErr(BAD_FORMAT)  # an unknown word is a syntax error, not a zone error
                tm.zone = zone
                tmask = M_TZ
        if tmask & fmask:
            raise _DtErr(BAD_FORMAT)
        fmask |= tmask
    if ptype:
        raise _DtErr(BAD_FORMAT)
    if dtype != DT_DATE:
        return dtype, tm, fmask  # epoch/infinity: the fields are not used
    _validate_date(fmask, isjulian, is2digits, bc, tm)
    if mer:
        if tm.hour > 12:
            raise _DtErr(FIELD_OVERFLOW)
        if mer == "a" and tm.hour == 12:
            tm.hour = 0
        elif mer == "p" and tm.hour != 12:
            tm.hour += 12
    if dtype == DT_DATE and not time_only and (fmask & M_DATE) != M_DATE:
        raise _DtErr(BAD_FORMAT)
    if fmask & M_DTZMOD and (tm.zone is not None or not fmask & M_TZ):
        raise _DtErr(BAD_FORMAT)  # DST needs a fixed zone before it
    if dtype == DT_DATE and (tm.tz is None or tm.zone is not None):
        local = _local_us(tm) if (fmask & M_DATE) == M_DATE else 0
        if tm.zone is not None and tm.abbrev:
            tm.tz = abbrev_offset_at_local(tm.zone, tm.abbrev, local // 1000000 + _UNIX_SECS_2000)
        else:
            tm.tz = local_offset(tm.zone or tz, local)
    return dtype, tm, fmask


def _set_from_local(tm: _TM, local: int) -> None:
    days, t = divmod(local, USECS_PER_DAY)
    tm.year, tm.mon, tm.mday = j2date(days + POSTGRES_EPOCH_JDATE)
    tm.hour, t = divmod(t, 3600000000)
    tm.min, t = divmod(t, 60000000)
    tm.sec, tm.fsec = divmod(t, 1000000)


def _validate_date(fmask: int, isjulian: bool, is2digits: bool, bc: bool, tm: _TM) -> None:
    if fmask & M_YEAR:
        if isjulian:
            pass
        elif bc:
            if tm.year <= 0:
                raise _DtErr(FIELD_OVERFLOW)
            tm.year = -(tm.year - 1)
        elif is2digits:
            if tm.year < 70:
                tm.year += 2000
            elif tm.year < 100:
                tm.year += 1900
        elif tm.year <= 0:
            raise _DtErr(FIELD_OVERFLOW)
    if fmask & M_DOY:
        tm.year, tm.mon, tm.mday = j2date(date2j(tm.year, 1, 1) + tm.yday - 1)
    if fmask & M_MONTH and not 1 <= tm.mon <= 12:
        raise _DtErr(MD_FIELD_OVERFLOW)
    if fmask & M_DAY and not 1 <= tm.mday <= 31:
        raise _DtErr(MD_FIELD_OVERFLOW)
    if (fmask & M_DATE) == M_DATE and tm.mday > days_in_month(tm.year, tm.mon):
        raise _DtErr(FIELD_OVERFLOW)


def _local_us(tm: _TM) -> int:
    return ((date2j(tm.year, tm.mon, tm.mday) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY
            + ((tm.hour * 60 + tm.min) * 60 + tm.sec) * 1000000 + tm.fsec)


_UNIX_SECS_2000 = 946684800

__all__ = ["abbrev_offset_at_local", "abbrev_offset_at_utc", "decode_datetime", "decode_timezone", "find_zone",
           "lookup_abbrev", "parse_tokens"]
