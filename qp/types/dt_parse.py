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
from datetime import UTC, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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

# field-type codes of ParseDateTime
NUMBER, STRING, DATE, TIME, TZ, SPECIAL = range(6)

# field masks (DTK_M)
M_YEAR, M_MONTH, M_DAY, M_HOUR, M_MIN, M_SEC, M_FSEC, M_TZ, M_DOY, M_DOW, M_AMPM, M_ADBC = (
    1 << i for i in range(12))
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
_SPECIALS = {"epoch", "infinity", "-infinity", "+infinity", "now", "today", "tomorrow", "yesterday",
             "allballs", "zulu"}
_KEYWORDS = set(_MONTHS) | set(_DAYS) | _SPECIALS | {"am", "pm", "a.m.", "p.m.", "ad", "bc", "t", "j",
                                                      "on", "at", "z", "ago", "current"}

# PostgreSQL's 'Default' timezone abbreviation set (pg_timezone_abbrevs): name -> seconds east.
_ABBREV_DATA = (
    "acdt 37800 acsst 37800 acst 34200 act -18000 acwst 31500 adt -10800 aedt 39600 aesst 39600 "
    "aest 36000 aft 16200 akdt -28800 akst -32400 almst 25200 almt 21600 amst 14400 amt -14400 "
    "anast 43200 anat 43200 arst -10800 art -10800 ast -14400 awsst 32400 awst 28800 azost 0 "
    "azot -3600 azst 14400 azt 14400 bdst 7200 bdt 21600 bnt 28800 bort 28800 bot -14400 "
    "bra -10800 brst -7200 brt -10800 bst 3600 btt 21600 cadt 37800 cast 34200 cct 28800 "
    "cdt -18000 cest 7200 cet 3600 cetdst 7200 chadt 49500 chast 45900 chut 36000 ckt -36000 "
    "clst -10800 clt -10800 cot -18000 cst -21600 cxt 25200 davt 25200 ddut 36000 easst -18000 "
    "east -18000 eat 10800 edt -14400 eest 10800 eet 7200 eetdst 10800 egst 0 egt -3600 "
    "est -18000 fet 10800 fjst 46800 fjt 43200 fkst -10800 fkt -10800 fnst -3600 fnt -7200 "
    "galt -21600 gamt -32400 gest 14400 get 14400 gft -10800 gilt 43200 gmt 0 gyt -14400 "
    "hkt 28800 hst -36000 ict 25200 idt 10800 iot 21600 irkst 28800 irkt 28800 irt 12600 "
    "ist 7200 jayt 32400 jst 32400 kdt 36000 kgst 21600 kgt 21600 kost 39600 krast 25200 "
    "krat 25200 kst 32400 lhdt 39600 lhst 37800 ligt 36000 lint 50400 lkt 19800 magst 39600 "
    "magt 39600 mart -34200 mawt 18000 mdt -21600 mest 7200 mesz 7200 met 3600 metdst 7200 "
    "mez 3600 mht 43200 mmt 23400 mpt 36000 msd 14400 msk 10800 mst -25200 must 18000 "
    "mut 14400 mvt 18000 myt 28800 ndt -9000 nft -12600 novst 25200 novt 25200 npt 20700 "
    "nst -12600 nut -39600 nzdt 46800 nzst 43200 nzt 43200 omsst 21600 omst 21600 pdt -25200 "
    "pet -18000 petst 43200 pett 43200 pgt 36000 pht 28800 pkst 21600 pkt 18000 pmdt -7200 "
    "pmst -10800 pont 39600 pst -28800 pwt 32400 pyst -10800 pyt -10800 ret 14400 sadt 37800 "
    "sast 7200 sct 14400 sgt 28800 taht -36000 tft 18000 tjt 18000 tkt 46800 tmt 18000 "
    "tot 46800 trut 36000 tvt 43200 uct 0 ulast 32400 ulat 28800 ut 0 utc 0 uyst -7200 "
    "uyt -10800 uzst 21600 uzt 18000 vet -14400 vlast 36000 vlat 36000 volt 10800 vut 39600 "
    "wadt 28800 wakt 43200 wast 25200 wat 3600 wdt 32400 wet 0 wetdst 3600 wft 43200 "
    "wgst -7200 wgt -10800 xjt 21600 yakst 32400 yakt 32400 yapt 36000 yekst 21600 yekt 18000 "
    "z 0 zulu 0")
_w = _ABBREV_DATA.split()
TZ_ABBREVS: dict[str, int] = {_w[i]: int(_w[i + 1]) for i in range(0, len(_w), 2)}
del _w


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {n.lower(): n for n in available_timezones()}


@lru_cache(maxsize=512)
def find_zone(name: str) -> ZoneInfo | timezone | None:
    """A full zone name (case-insensitive), as pg_tzset finds it."""
    key = _zone_names().get(name.lower())
    if key is None:
        if name.upper() in ("UTC", "GMT", "Z"):
            return UTC
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


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


def decode_timezone(s: str) -> int:
    """DecodeTimezone: '+05', '+0530', '+05:30', '-08:00:00' -> seconds east."""
    if not s or s[0] not in "+-":
        raise _DtErr(BAD_FORMAT)
    m = re.match(r"(\d+)(?::(\d+)(?::(\d+))?)?", s[1:])
    if m is None:
        raise _DtErr(BAD_FORMAT)
    hr = int(m.group(1))
    mins = int(m.group(2)) if m.group(2) is not None else 0
    sec = int(m.group(3)) if m.group(3) is not None else 0
    if m.group(2) is None and len(s) > 3 and m.end() == len(s) - 1:
        hr, mins = divmod(hr, 100)
    if hr > 15 or mins >= 60 or sec >= 60:
        raise _DtErr(TZDISP_OVERFLOW)
    if m.end() != len(s) - 1:
        raise _DtErr(BAD_FORMAT)
    off = (hr * 60 + mins) * 60 + sec
    return -off if s[0] == "-" else off


def _parse_fraction(frac: str) -> int:
    """'.5' -> 500000 microseconds (rint of the double, as PG does)."""
    if frac in (".", ""):
        return 0
    return int(round(float("0" + frac) * 1000000))


class _TM:
    __slots__ = ("year", "mon", "mday", "hour", "min", "sec", "fsec", "yday", "tz", "zone")

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
        self.zone: ZoneInfo | timezone | None = None  # named zone to resolve later


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


def decode_datetime(s: str, now_us: int, tz: ZoneInfo | timezone, time_only: bool = False
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
            if word in TZ_ABBREVS and word not in ("mon",):
                tm.tz = TZ_ABBREVS[word]
                tmask = M_TZ
            elif word in _SPECIALS or word == "+infinity":
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
                elif word in ("allballs", "zulu"):
                    tmask = M_TIME | M_TZ
                    tm.hour = tm.min = tm.sec = tm.fsec = 0
                    tm.tz = 0
                else:
                    tmask = M_DATE | M_TIME | M_TZ
                    dtype = {"epoch": DT_EPOCH, "infinity": DT_LATE, "+infinity": DT_LATE,
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
    if dtype == DT_DATE and tm.tz is None:
        zone = tm.zone or tz
        local = _local_us(tm) if (fmask & M_DATE) == M_DATE else 0
        tm.tz = local_offset(zone, local)
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


__all__ = ["decode_datetime", "find_zone", "TZ_ABBREVS", "decode_timezone", "parse_tokens"]
