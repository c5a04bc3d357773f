"""Time zones as PostgreSQL's own time zone code (src/timezone) reads them.

PostgreSQL does not ask the C library about zones: it reads the IANA TZif
files itself (Debian's PostgreSQL, the reference, reads the system tzdata in
/usr/share/zoneinfo, the files Python's zoneinfo reads too) and parses POSIX
TZ strings itself. Python's zoneinfo answers differently where it matters:
it stops at year 9999 and at year 1, and knows no POSIX strings. So zones are
computed here, on integer seconds since 1970, from the same files:

- `pg_tzset(name)`: a file found case-insensitively under the zoneinfo
  directory, else the name read as a POSIX TZ string, where offsets count
  hours *west* of Greenwich (`'+02:00'` is UTC-2, `'FOO8BAR'` is UTC-8 with
  daylight saving), the standard abbreviation may be empty (PostgreSQL's
  extension) and a daylight-saving zone without rules gets `M3.2.0,M11.1.0`.
- Before a file's first transition its default type applies (the local mean
  time of the city); after the last one, the file's footer rule for any year
  (PostgreSQL repeats 400-year cycles, the Gregorian calendar's period,
  which is the same thing).
- `Zone.local_offset`: DetermineTimeZoneOffset's resolution of a wall-clock
  time, at whole seconds: in a spring-forward gap the offset from before the
  transition, in a fall-back overlap the one after.
- `Zone.abbrev_type`: pg_interpret_timezone_abbrev, the meaning of an
  abbreviation in a zone at a time (what `MSK` meant in Moscow then).
"""

from __future__ import annotations

import bisect
import os
import struct
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

SECS_PER_DAY = 86400
SECS_PER_HOUR = 3600
TZ_STRLEN_MAX = 255  # pgtime.h: longer names are not zones
_YEAR_CACHE_MAX = 4096  # per rule: transitions of this many years are kept
_DEFAULT_RULES = ",M3.2.0,M11.1.0"  # a DST zone named without rules (what PostgreSQL 15 answers)


@dataclass(frozen=True, slots=True)
class ZoneType:
    """One local time type: offset (seconds east of UTC), DST flag, abbreviation."""

    utoff: int
    isdst: bool
    abbr: str


# --- the proleptic Gregorian calendar on days since 1970-01-01 ------------------------------


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _year_of(t: int) -> int:
    """The civil year (UTC) of a time in seconds since 1970."""
    z = t // SECS_PER_DAY + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    return yoe + era * 400 + (1 if mp >= 10 else 0)


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


_MON_LENGTHS = ((31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))


# --- POSIX TZ strings (tzparse) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str  # "J" (Julian day 1..365, no Feb 29), "D" (day of year 0..365) or "M" (month.week.day)
    day: int
    week: int
    mon: int
    time: int  # seconds after local midnight; may be negative or past a day


class _Scan:
    """A cursor over a TZ string, with tzparse's small parsers."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def name(self) -> str | None:
        """getzname / getqzname: an abbreviation, plain or in <...>."""
        s, i = self.s, self.i
        if s.startswith("<", i):
            j = s.find(">", i + 1)
            if j < 0:
                return None
            self.i = j + 1
            return s[i + 1:j]
        j = i
        while j < len(s) and not s[j].isdigit() and s[j] not in ",-+":
            j += 1
        self.i = j
        return s[i:j]

    def num(self, low: int, high: int) -> int | None:
        """getnum: digits, in [low, high] at every step."""
        s, i = self.s, self.i
        if i >= len(s) or not s[i].isdigit():
            return None
        value = 0
        while i < len(s) and s[i].isdigit():
            value = value * 10 + ord(s[i]) - 48
            if value > high:
                return None
            i += 1
        if value < low:
            return None
        self.i = i
        return value

    def secs(self) -> int | None:
        """getsecs: hh[:mm[:ss]], hours up to a week (quasi-POSIX rules like M10.4.6/26)."""
        hours = self.num(0, 24 * 7 - 1)
        if hours is None:
            return None
        total = hours * SECS_PER_HOUR
        if self.peek() == ":":
            self.i += 1
            minutes = self.num(0, 59)
            if minutes is None:
                return None
            total += minutes * 60
            if self.peek() == ":":
                self.i += 1
                seconds = self.num(0, 60)
                if seconds is None:
                    return None
                total += seconds
        return total

    def offset(self) -> int | None:
        """getoffset: [+-]hh[:mm[:ss]], positive west of Greenwich."""
        negative = False
        c = self.peek()
        if c and c in "+-":
            negative = c == "-"
            self.i += 1
        value = self.secs()
        if value is None:
            return None
        return -value if negative else value

    def rule(self) -> _Rule | None:
        c = self.peek()
        if c == "J":
            self.i += 1
            day = self.num(1, 365)
            rule = None if day is None else _Rule("J", day, 0, 0, 0)
        elif c == "M":
            self.i += 1
            mon = self.num(1, 12)
            if mon is None or self.peek() != ".":
                return None
            self.i += 1
            week = self.num(1, 5)
            if week is None or self.peek() != ".":
                return None
            self.i += 1
            day = self.num(0, 6)
            rule = None if day is None else _Rule("M", day, week, mon, 0)
        elif c.isdigit():
            day = self.num(0, 365)
            rule = None if day is None else _Rule("D", day, 0, 0, 0)
        else:
            return None
        if rule is None:
            return None
        time = 2 * SECS_PER_HOUR
        if self.peek() == "/":
            self.i += 1
            parsed = self.offset()
            if parsed is None:
                return None
            time = parsed
        return _Rule(rule.kind, rule.day, rule.week, rule.mon, time)


def _transtime(year: int, rule: _Rule, offset: int) -> int:
    """transtime: seconds from Jan 1 00:00 UTC of `year` to the rule's moment
    (`offset` is the POSIX offset, west-positive, in force when it happens)."""
    leap = _is_leap(year)
    if rule.kind == "J":
        value = (rule.day - 1) * SECS_PER_DAY
        if leap and rule.day >= 60:
            value += SECS_PER_DAY
    elif rule.kind == "D":
        value = rule.day * SECS_PER_DAY
    else:
        first = _days_from_civil(year, rule.mon, 1)
        dow = (first + 4) % 7  # 1970-01-01 was a Thursday
        d = rule.day - dow
        if d < 0:
            d += 7
        for _ in range(1, rule.week):
            if d + 7 >= _MON_LENGTHS[leap][rule.mon - 1]:
                break
            d += 7
        value = (first - _days_from_civil(year, 1, 1) + d) * SECS_PER_DAY
    return value + rule.time + offset


class PosixRule:
    """The daylight-saving rule of a POSIX TZ string, for any year."""

    __slots__ = ("std", "dst", "start", "end", "_std_posix", "_dst_posix", "_years", "_perpetual")

    def __init__(self, std: ZoneType, dst: ZoneType, start: _Rule, end: _Rule) -> None:
        self.std, self.dst, self.start, self.end = std, dst, start, end
        self._std_posix, self._dst_posix = -std.utoff, -dst.utoff
        self._years: dict[int, tuple[tuple[int, ZoneType], ...]] = {}
        self._perpetual = not any(self.year_transitions(y) for y in (1970, 1971))

    def year_transitions(self, year: int) -> tuple[tuple[int, ZoneType], ...]:
        """The (UTC second, type from then on) transitions of one year, in order."""
        found = self._years.get(year)
        if found is not None:
            return found
        janfirst = _days_from_civil(year, 1, 1) * SECS_PER_DAY
        starttime = _transtime(year, self.start, self._std_posix)
        endtime = _transtime(year, self.end, self._dst_posix)
        yearsecs = (366 if _is_leap(year) else 365) * SECS_PER_DAY
        swapped = endtime < starttime
        if swapped:
            starttime, endtime = endtime, starttime
        result: tuple[tuple[int, ZoneType], ...] = ()
        if swapped or (starttime < endtime and endtime - starttime < yearsecs + (self._std_posix - self._dst_posix)):
            first, second = (self.std, self.dst) if swapped else (self.dst, self.std)
            result = ((janfirst + starttime, first), (janfirst + endtime, second))
        if len(self._years) >= _YEAR_CACHE_MAX:
            self._years.clear()
        self._years[year] = result
        return result

    def type_at(self, t: int) -> ZoneType:
        if self._perpetual:
            return self.dst
        current: ZoneType | None = None
        year = _year_of(t)
        for y in (year - 1, year, year + 1):
            for at, zt in self.year_transitions(y):
                if at > t:
                    return current if current is not None else self._before(y)
                current = zt
        return current if current is not None else self.std

    def _before(self, year: int) -> ZoneType:
        for y in range(year - 1, year - 3, -1):
            transitions = self.year_transitions(y)
            if transitions:
                return transitions[-1][1]
        return self.std

    def next_boundary(self, t: int) -> tuple[ZoneType, int | None, ZoneType | None]:
        if self._perpetual:
            return self.dst, None, None
        before = self.type_at(t)
        year = _year_of(t)
        for y in range(year - 1, year + 3):
            for at, zt in self.year_transitions(y):
                if at > t:
                    return before, at, zt
        return before, None, None

    def latest_with(self, abbr: str, t: int, after: int) -> ZoneType | None:
        """The type named `abbr` in force at the rule's latest transition in (after, t]."""
        if abbr not in (self.std.abbr, self.dst.abbr) or self._perpetual:
            return None
        year = _year_of(t)
        for y in range(year, max(_year_of(after), year - 2) - 1, -1):
            for at, zt in reversed(self.year_transitions(y)):
                if after < at <= t and zt.abbr == abbr:
                    return zt
        return None


def parse_posix_tz(spec: str) -> tuple[ZoneType, PosixRule | None] | None:
    """tzparse (not lastditch): (standard type, rule or None), or None if invalid."""
    scan = _Scan(spec)
    std_name = scan.name()
    if std_name is None or not scan.peek():
        return None  # the offset is required (the name may be empty)
    std_offset = scan.offset()
    if std_offset is None:
        return None
    std = ZoneType(-std_offset, False, std_name)
    if not scan.peek():
        return std, None
    dst_name = scan.name()
    if not dst_name:
        return None
    if scan.peek() not in ("", ",", ";"):
        dst_offset = scan.offset()
        if dst_offset is None:
            return None
    else:
        dst_offset = std_offset - SECS_PER_HOUR
    dst = ZoneType(-dst_offset, True, dst_name)
    if not scan.peek():
        scan = _Scan(_DEFAULT_RULES)
    if scan.peek() not in (",", ";"):
        return None
    scan.i += 1
    start = scan.rule()
    if start is None or scan.peek() != ",":
        return None
    scan.i += 1
    end = scan.rule()
    if end is None or scan.peek():
        return None
    return std, PosixRule(std, dst, start, end)


# --- zones ---------------------------------------------------------------------------------


class Zone:
    """A time zone: transitions (UTC seconds) with the type in force from
    each, the type before the first, and the rule after the last."""

    __slots__ = ("name", "_ats", "_types", "_default", "_first_std", "_rule", "fixed", "is_utc", "_abbrs",
                 "_last_rule_free")

    def __init__(self, name: str, ats: list[int], types: list[ZoneType], default: ZoneType,
                 first_std: ZoneType, rule: PosixRule | None, all_types: list[ZoneType]) -> None:
        self.name = name
        self._ats = ats
        self._types = types
        self._default = default
        self._first_std = first_std
        self._rule = rule
        # a zone with one meaning for all time takes the fast paths
        self.fixed: ZoneType | None = default if not ats and rule is None else None
        self.is_utc = self.fixed is not None and self.fixed.utoff == 0
        self._abbrs = {zt.abbr for zt in all_types}
        if rule is not None:
            self._abbrs |= {rule.std.abbr, rule.dst.abbr}

    def __repr__(self) -> str:
        return f"Zone({self.name!r})"

    def type_at(self, t: int) -> ZoneType:
        """The local time type in force at UTC second `t` (localsub)."""
        if self.fixed is not None:
            return self.fixed
        ats = self._ats
        if not ats:
            assert self._rule is not None
            return self._rule.type_at(t)
        if t < ats[0]:
            return self._default
        if t >= ats[-1] and self._rule is not None:
            return self._rule.type_at(t)
        return self._types[bisect.bisect_right(ats, t) - 1]

    def utc_offset(self, t: int) -> int:
        """Seconds east of UTC at UTC second `t`."""
        return self.type_at(t).utoff

    def next_boundary(self, t: int) -> tuple[ZoneType, int | None, ZoneType | None]:
        """pg_next_dst_boundary: (type at t, next transition after t, type after it)."""
        if self.fixed is not None:
            return self.fixed, None, None
        ats = self._ats
        if not ats:
            assert self._rule is not None
            return self._rule.next_boundary(t)
        if t >= ats[-1]:
            if self._rule is not None:
                return self._rule.next_boundary(t)
            return self._types[-1], None, None
        if t < ats[0]:
            return self._first_std, ats[0], self._types[0]
        i = bisect.bisect_right(ats, t)
        return self._types[i - 1], ats[i], self._types[i]

    def local_offset(self, local: int) -> int:
        """DetermineTimeZoneOffset: seconds east for wall-clock second `local`
        (as if UTC). A gap takes the offset from before, an overlap the one after."""
        if self.fixed is not None:
            return self.fixed.utoff
        before, boundary, after = self.next_boundary(local - SECS_PER_DAY)
        if boundary is None or after is None:
            return before.utoff
        beforetime = local - before.utoff
        aftertime = local - after.utoff
        if beforetime < boundary and aftertime < boundary:
            return before.utoff
        if beforetime > boundary and aftertime >= boundary:
            return after.utoff
        return before.utoff if beforetime > aftertime else after.utoff

    def abbrev_type(self, abbr: str, t: int) -> ZoneType | None:
        """pg_interpret_timezone_abbrev: the meaning `abbr` (upper case) had in
        this zone most recently at or before `t`, else the first one after."""
        if abbr not in self._abbrs:
            return None
        ats, types, rule = self._ats, self._types, self._rule
        if not ats:
            if rule is None:
                return None  # no transitions: PostgreSQL finds no interval using it
            return rule.dst if abbr == rule.dst.abbr else rule.std if abbr == rule.std.abbr else None
        if rule is not None and t > ats[-1]:
            found = rule.latest_with(abbr, t, ats[-1])
            if found is not None:
                return found
        cutoff = bisect.bisect_right(ats, t)
        for i in range(cutoff - 1, -1, -1):
            if types[i].abbr == abbr:
                return types[i]
        for i in range(cutoff, len(ats)):
            if types[i].abbr == abbr:
                return types[i]
        if rule is not None:
            return rule.dst if abbr == rule.dst.abbr else rule.std if abbr == rule.std.abbr else None
        return None


def fixed_zone(utoff: int, abbr: str = "", name: str = "") -> Zone:
    """A zone with one offset (seconds east) for all time."""
    zt = ZoneType(utoff, False, abbr)
    return Zone(name or abbr, [], [], zt, zt, None, [zt])


UTC = fixed_zone(0, "UTC", "UTC")


# --- TZif files ----------------------------------------------------------------------------


def _parse_tzif(data: bytes, name: str) -> Zone | None:
    """A TZif file (RFC 8536) as tzloadbody reads it, the 64-bit data when present."""
    if len(data) < 44 or data[:4] != b"TZif":
        return None
    version = data[4]
    pos = 0
    size = 4
    for _ in range(2):
        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = struct.unpack_from(">6l", data, pos + 20)
        body = pos + 44
        block = timecnt * size + timecnt + typecnt * 6 + charcnt + leapcnt * (size + 4) + isstdcnt + isutcnt
        if typecnt <= 0 or len(data) < body + block:
            return None
        if version == 0 or size == 8:
            break
        pos = body + block
        size = 8
        if data[pos:pos + 4] != b"TZif":
            return None
    fmt = f">{timecnt}{'q' if size == 8 else 'l'}"
    ats = list(struct.unpack_from(fmt, data, body))
    p = body + timecnt * size
    idx = list(data[p:p + timecnt])
    p += timecnt
    infos = [struct.unpack_from(">lBB", data, p + 6 * k) for k in range(typecnt)]
    p += 6 * typecnt
    chars = data[p:p + charcnt]
    p += charcnt + leapcnt * (size + 4) + isstdcnt + isutcnt

    def abbr_at(k: int) -> str:
        end = chars.find(b"\0", k)
        return chars[k:end if end >= 0 else len(chars)].decode("ascii", "replace")

    ttypes = [ZoneType(utoff, bool(isdst), abbr_at(ai)) for utoff, isdst, ai in infos]
    if any(i >= typecnt for i in idx):
        return None
    rule: PosixRule | None = None
    if size == 8 and data[p:p + 1] == b"\n":
        end = data.find(b"\n", p + 1)
        footer = data[p + 1:end].decode("ascii", "replace") if end > p else ""
        parsed = parse_posix_tz(footer) if footer else None
        if parsed is not None and parsed[1] is not None:
            rule = parsed[1]
    # tzloadbody's choice of the type for times before the first transition
    default_index = 0 if 0 not in idx else -1
    if default_index < 0 and idx and ttypes[idx[0]].isdst:
        k = idx[0] - 1
        while k >= 0 and ttypes[k].isdst:
            k -= 1
        default_index = k
    if default_index < 0:
        default_index = next((k for k, zt in enumerate(ttypes) if not zt.isdst), 0)
    first_std = next((zt for zt in ttypes if not zt.isdst), ttypes[0])
    types = [ttypes[i] for i in idx]
    default = ttypes[default_index]
    if not ats and rule is None:
        default = first_std  # timecnt == 0: the lowest-numbered standard type
    return Zone(name, ats, types, default, first_std, rule, ttypes)


@lru_cache(maxsize=64)
def _listdir(path: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(path)))
    except OSError:
        return ()


def _find_file(name: str) -> tuple[str, str] | None:
    """pg_open_tzfile: each path component matched case-insensitively against
    the directory's entries (never '.' files, so no '..'): (path, canonical name)."""
    parts = name.split("/")
    if any(not part for part in parts):
        return None
    for root in zoneinfo.TZPATH:
        path, canonical = root, []
        for part in parts:
            lower = part.lower()
            match = next((e for e in _listdir(path) if not e.startswith(".") and e.lower() == lower), None)
            if match is None:
                break
            path = os.path.join(path, match)
            canonical.append(match)
        else:
            if os.path.isfile(path):
                return path, "/".join(canonical)
    return None


@lru_cache(maxsize=512)
def _load_file(path: str, canonical: str) -> Zone | None:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    return _parse_tzif(data, canonical)


@lru_cache(maxsize=512)
def pg_tzset(name: str) -> Zone | None:
    """The zone a TimeZone setting or a zone name in input names, or None:
    a tzdata file (any case), else a POSIX TZ string (upper-cased, as
    PostgreSQL shows it); 'GMT' is always the POSIX zone GMT."""
    if len(name) > TZ_STRLEN_MAX:
        return None
    upper = name.upper()
    if upper == "GMT":
        return fixed_zone(0, "GMT", "GMT")
    found = _find_file(upper[1:] if upper.startswith(":") else upper)
    if found is not None:
        zone = _load_file(*found)
        if zone is not None:
            return zone
    if upper.startswith(":"):
        return None
    parsed = parse_posix_tz(upper)
    if parsed is None:
        return None
    std, rule = parsed
    if rule is None:
        return Zone(upper, [], [], std, std, None, [std])
    return Zone(upper, [], [], rule.std, rule.std, rule, [rule.std, rule.dst])


def pg_tzset_offset(west_seconds: int) -> Zone | None:
    """pg_tzset_offset: a fixed zone named like '<+05>-05' (POSIX sign: west positive)."""
    absolute = abs(west_seconds)
    text = f"{absolute // 3600:02d}"
    absolute %= 3600
    if absolute:
        text += f":{absolute // 60:02d}"
        absolute %= 60
        if absolute:
            text += f":{absolute:02d}"
    spec = f"<-{text}>+{text}" if west_seconds > 0 else f"<+{text}>-{text}"
    return pg_tzset(spec)


__all__ = ["UTC", "PosixRule", "Zone", "ZoneType", "fixed_zone", "parse_posix_tz", "pg_tzset", "pg_tzset_offset"]
