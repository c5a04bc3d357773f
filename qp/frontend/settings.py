"""Session settings (GUCs): defaults, validation, and which ones clients track.

The server reports itself as PostgreSQL 16 (DSQL's base) everywhere a client
can ask: the ParameterStatus `server_version`, `SHOW server_version`,
`server_version_num`, `version()` and `current_setting()`.

Settings in `REPORTED` (PostgreSQL 16's GUC_REPORT list) are sent as
ParameterStatus at startup and again, before ReadyForQuery, whenever their
value differs from the last one sent, however it changed (SET, RESET,
set_config(), a rollback undoing a SET), because drivers read them from there
rather than asking (psycopg reads TimeZone and DateStyle live; psycopg2
requires client_encoding).
"""

from __future__ import annotations

import functools
import re

from qp.errors import SqlError
from qp.frontend.planner_settings import PLANNER_DEFAULTS, PLANNER_SETTINGS, normalize_planner
from qp.plan.rule_names import ALL_RULE_NAMES
from qp.types.dt_interval import parse_interval
from qp.types.timezones import UTC, Zone, pg_tzset, pg_tzset_offset

SERVER_VERSION = "16.9"
SERVER_VERSION_NUM = "160009"
VERSION_STRING = f"PostgreSQL {SERVER_VERSION} (dsql) on x86_64-pc-linux-gnu, compiled by Python, 64-bit"

REPORTED = (
    "server_version",
    "server_encoding",
    "client_encoding",
    "application_name",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "integer_datetimes",
    "standard_conforming_strings",
    "is_superuser",
    "session_authorization",
    "default_transaction_read_only",
    "in_hot_standby",
    "scram_iterations",  # reported since PostgreSQL 16
)

# name (as shown) -> default value
DEFAULTS: dict[str, str] = {
    "server_version": SERVER_VERSION,
    "server_version_num": SERVER_VERSION_NUM,
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "application_name": "",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "is_superuser": "on",
    "session_authorization": "postgres",
    "role": "none",  # SET ROLE (qp/frontend/identity.py)
    "default_transaction_read_only": "off",
    "transaction_read_only": "off",
    "in_hot_standby": "off",
    "transaction_isolation": "repeatable read",
    "default_transaction_isolation": "repeatable read",
    "default_transaction_deferrable": "off",
    "transaction_deferrable": "off",
    "search_path": '"$user", public',
    "extra_float_digits": "1",
    "max_identifier_length": "63",
    "lc_collate": "C",
    "lc_ctype": "C",
    "lc_messages": "C",
    "lc_monetary": "C",
    "lc_numeric": "C",
    "lc_time": "C",
    "block_size": "8192",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
    "idle_session_timeout": "0",
    "client_min_messages": "notice",
    "bytea_output": "hex",
    "jit": "off",
    "synchronous_commit": "on",
    "max_connections": "10000",
    "timezone_abbreviations": "Default",
    "row_security": "on",
    "check_function_bodies": "on",
    "escape_string_warning": "on",
    "backslash_quote": "safe_encoding",
    "xmloption": "content",
    "geqo": "on",
    "work_mem": "4MB",
    "scram_iterations": "4096",  # PBKDF2 rounds of verifiers made by CREATE/ALTER ROLE ... PASSWORD
    # dsql's own settings (see "DSQL limits" below).
    "dsql.transaction_rows_max": "3000",
    "dsql.transaction_bytes_max": str(10 * 1024 * 1024),
    "dsql.copy_batch_rows": "0",
    # DSQL's switch for batched index nested-loop joins (qp/plan/index_join.py).
    "dsql.enable_batched_nestloop": "on",
    # Planner rules switched off, to bisect a wrong result (qp/plan/rule_names.py).
    "dsql.planner_rules_off": "",
    # The statement fast paths (qp/exec/fast_path.py): a prepared primary-key point get and a
    # single-row UPDATE/DELETE by primary key skip the operator tree; `off` runs them through
    # the general path, to compare the two.
    "dsql.fast_path": "on",
    # The batched bulk path of INSERT and COPY (qp/exec/dml.py `_insert_batched`): `off` checks
    # and buffers the rows one at a time, the reference the tests compare it with.
    "dsql.bulk_path": "on",
    # Writers of one row on this QP take turns and refresh their snapshot (qp/txn/intents.py).
    "dsql.hot_row_wait": "on",
}
DEFAULTS.update(PLANNER_DEFAULTS)  # accepted and shown, not used (planner_settings.py)

# -- DSQL limits -------------------------------------------------------------------
#
# DSQL refuses a transaction that modifies more than 3,000 rows or 10 MiB
# (54000). dsql enforces the same limits by default but lets them be raised,
# per session (SET, or `-c name=value` in the startup options / PGOPTIONS) or
# for the whole server (`configure_defaults`, which `dsql serve` calls with
# its flags before any session starts):
#   dsql.transaction_rows_max   rows one transaction may modify (>= 1)
#   dsql.transaction_bytes_max  bytes of modified data one transaction may
#                               commit (>= 1; accepts kB, MB and GB units)
#   dsql.copy_batch_rows        0: a COPY FROM is one transaction (or part of
#                               the enclosing block), as in DSQL; N > 0: COPY
#                               commits every N rows as a transaction of its
#                               own, even inside a block (see qp/frontend/copy.py)
LIMIT_SETTINGS = ("dsql.transaction_rows_max", "dsql.transaction_bytes_max", "dsql.copy_batch_rows")

_CANONICAL = {name.lower(): name for name in DEFAULTS}
READ_ONLY = {
    "server_version", "server_version_num", "server_encoding", "integer_datetimes", "max_identifier_length",
    "lc_collate", "lc_ctype", "block_size", "in_hot_standby", "is_superuser", "max_connections",
}

# -- isolation ---------------------------------------------------------------------
#
# PostgreSQL's four levels are valid values of transaction_isolation and
# default_transaction_isolation; dsql runs only DSQL's one, REPEATABLE READ
# (snapshot isolation), and refuses the others as Aurora DSQL does
# ("Unsupported isolation level: READ COMMITTED", 0A000) rather than accept
# a level it would not honour.
ISOLATION_LEVELS = ("serializable", "repeatable read", "read committed", "read uncommitted")
ISOLATION_LEVEL = "repeatable read"
# The settings that describe the open transaction, and the session default
# each one starts from when a transaction begins (PostgreSQL's StartTransaction).
TRANSACTION_DEFAULTS = {
    "transaction_isolation": "default_transaction_isolation",
    "transaction_read_only": "default_transaction_read_only",
    "transaction_deferrable": "default_transaction_deferrable",
}
_ENUMS = {"bytea_output": ("escape", "hex")}


def isolation_level(name: str, value: str) -> str:
    """A valid isolation level (PostgreSQL's enum: any case, exact spacing), not yet checked
    against what dsql runs; 22023 otherwise."""
    level = value.lower()
    if level not in ISOLATION_LEVELS:
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                       hint=f"Available values: {', '.join(ISOLATION_LEVELS)}.")
    return level


def refuse_isolation(level: str) -> str:
    """`level` if dsql runs it; DSQL's refusal of every other level."""
    if level != ISOLATION_LEVEL:
        raise SqlError("0A000", f"Unsupported isolation level: {level.upper()}")
    return level


# -- identifier lists (search_path) ---------------------------------------------------


def split_identifier_list(value: str) -> list[str] | None:
    """PostgreSQL's SplitIdentifierString(value, ','): the names of a list setting
    such as search_path, or None if its syntax is invalid.

    Unquoted names are folded to lower case (ASCII only, as the lexer folds
    them) and may not be empty; quoted ones keep their case, `""` stands for
    one quote, and `""` alone is an empty name. Names are cut to 63 bytes.
    """
    names: list[str] = []
    i, n = 0, len(value)
    while i < n and value[i] in _SCANNER_SPACE:
        i += 1
    if i == n:
        return names
    while True:
        if value[i] == '"':
            chars = []
            i += 1
            while True:
                end = value.find('"', i)
                if end < 0:
                    return None  # mismatched quotes
                chars.append(value[i:end])
                if end + 1 < n and value[end + 1] == '"':
                    chars.append('"')
                    i = end + 2
                    continue
                i = end + 1
                break
            name = "".join(chars)
        else:
            start = i
            while i < n and value[i] != "," and value[i] not in _SCANNER_SPACE:
                i += 1
            if i == start:
                return None  # empty unquoted name
            name = value[start:i].translate(_ASCII_LOWER)
        while i < n and value[i] in _SCANNER_SPACE:
            i += 1
        names.append(_truncate_identifier(name))
        if i == n:
            return names
        if value[i] != ",":
            return None
        i += 1
        while i < n and value[i] in _SCANNER_SPACE:
            i += 1


_SCANNER_SPACE = frozenset(" \t\n\r\f\v")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _truncate_identifier(name: str) -> str:
    data = name.encode()
    return name if len(data) <= 63 else data[:63].decode("utf-8", "ignore")


def canonical_name(name: str) -> str | None:
    """The setting's display name, or None if unknown (custom `a.b` names are allowed)."""
    lower = name.lower()
    if lower in _CANONICAL:
        return _CANONICAL[lower]
    if lower == "timezone":
        return "TimeZone"
    if "." in lower:
        return lower
    return None


def show_name(name: str) -> str | None:
    """The setting SHOW <name> reads (its column is named after it)."""
    lowered = " ".join(name.lower().split())
    if lowered == "transaction isolation level":
        return "transaction_isolation"
    if lowered == "session authorization":
        return "session_authorization"
    return canonical_name(lowered)


def normalize(name: str, value: str) -> str:
    """Validate a new value; returns it as SHOW will print it."""
    if name in READ_ONLY:
        raise SqlError("55P02", f'parameter "{name}" cannot be changed')
    if name in ("dsql.enable_batched_nestloop", "dsql.fast_path", "dsql.bulk_path", "dsql.hot_row_wait"):
        flag = value.strip("'\"").lower()
        if flag in ("on", "true", "yes", "1", "off", "false", "no", "0"):
            return "on" if flag in ("on", "true", "yes", "1") else "off"
        raise SqlError("22023", f'parameter "{name}" requires a Boolean value')
    if name == "dsql.planner_rules_off":
        names = [n.strip().lower() for n in value.strip("'\"").split(",") if n.strip()]
        unknown = [n for n in names if n not in ALL_RULE_NAMES]
        if unknown:
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                           detail=f'Unrecognized planner rule: "{unknown[0]}".',
                           hint=f"Rules: {', '.join(sorted(ALL_RULE_NAMES))}.")
        return ",".join(dict.fromkeys(names))
    if name == "client_encoding":
        cleaned = value.strip("'\"").upper().replace("-", "").replace("_", "")
        if cleaned not in ("UTF8", "UNICODE"):
            raise SqlError("0A000", f'client_encoding "{value}" is not supported; dsql speaks UTF8 only')
        return "UTF8"
    if name == "DateStyle":
        parts = [p.strip().upper() for p in value.replace(",", " ").split()]
        if parts and parts[0] not in ("ISO",) and "ISO" not in parts:
            raise SqlError("0A000", f'DateStyle "{value}" is not supported; only ISO is')
        order = "MDY"
        for part in parts:
            if part in ("MDY", "DMY", "YMD", "US", "NONEURO", "NONEUROPEAN"):
                order = "MDY" if part in ("US", "NONEURO", "NONEUROPEAN") else part
            elif part in ("EURO", "EUROPEAN"):
                order = "DMY"
        return f"ISO, {order}"
    if name == "IntervalStyle":
        if value.lower() != "postgres":
            raise SqlError("0A000", f'IntervalStyle "{value}" is not supported; only postgres is')
        return "postgres"
    if name == "TimeZone":
        return _zone_name(value)
    if name == "timezone_abbreviations":
        # Only PostgreSQL's Default set is built in (qp/types/tz_abbrevs.py).
        if value == "Default":
            return value
        if value in ("Australia", "India"):
            raise SqlError("0A000", f'timezone_abbreviations "{value}" is not supported; only Default is')
        raise SqlError("22023", f'invalid value for parameter "timezone_abbreviations": "{value}"')
    if name in ("transaction_isolation", "default_transaction_isolation"):
        return refuse_isolation(isolation_level(name, value))
    if name in _ENUMS:
        choices = _ENUMS[name]
        if value.lower() not in choices:
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                           hint=f"Available values: {', '.join(choices)}.")
        return value.lower()
    if name == "search_path":
        if split_identifier_list(value) is None:
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                           detail="List syntax is invalid.")
        return value
    if name == "standard_conforming_strings":
        if value.lower() not in ("on", "true", "1", "yes"):
            raise SqlError("0A000", "standard_conforming_strings must stay on")
        return "on"
    if name == "extra_float_digits":
        try:
            digits = int(value)
        except ValueError:
            raise SqlError("22023", f'invalid value for parameter "extra_float_digits": "{value}"') from None
        if not -15 <= digits <= 3:
            raise SqlError("22023", f"{digits} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)")
        return str(digits)
    if name in ("default_transaction_read_only", "transaction_read_only", "jit", "transaction_deferrable",
                "default_transaction_deferrable"):
        return _bool(name, value)
    if name in LIMIT_SETTINGS:
        return _limit(name, value)
    if name in PLANNER_SETTINGS:
        return normalize_planner(name, value)
    if name in DURATION_SETTINGS:
        return _show_ms(_duration_ms(name, value))
    if name == "scram_iterations":
        try:
            rounds = int(value)
        except ValueError:
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"') from None
        if not 1 <= rounds <= 2**31 - 1:
            raise SqlError("22023", f'{rounds} is outside the valid range for parameter "{name}" (1 .. 2147483647)')
        return str(rounds)
    return value


_BYTE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}

# -- timeouts ----------------------------------------------------------------------
#
# PostgreSQL's millisecond settings: an integer of milliseconds or a number with a
# unit (case-sensitive, as in PostgreSQL), 0 meaning "no limit"; SHOW prints the
# largest unit that divides the value. The session applies statement_timeout to
# each statement (57014); pgwire applies the idle ones while it waits for the
# next command (FATAL 25P03 / 57P05).
DURATION_SETTINGS = frozenset({
    "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout",
})
_MS_PER_UNIT = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_MAX_MS = 2**31 - 1


@functools.lru_cache(maxsize=256)  # read at every statement (statement_timeout), set rarely
def _duration_ms(name: str, value: str) -> int:
    text = value.strip()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").rstrip()
    unit = text[len(number):].strip()
    if unit and unit not in _MS_PER_UNIT:
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                       hint='Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".')
    try:
        ms = float(number) * _MS_PER_UNIT[unit or "ms"]
    except ValueError:
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"') from None
    if ms != ms or not -_DURATION_MAX_MS - 1 <= ms <= _DURATION_MAX_MS:
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                       hint="Value exceeds integer range.")
    rounded = int(ms + 0.5) if ms >= 0 else -int(-ms + 0.5)
    if rounded < 0:
        raise SqlError("22023", f'{rounded} ms is outside the valid range for parameter "{name}" '
                       f"(0 .. {_DURATION_MAX_MS})")
    return rounded


def _show_ms(ms: int) -> str:
    if ms == 0:
        return "0"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def duration_s(settings: dict[str, str], name: str) -> float:
    """A timeout setting in seconds (0: no limit), from its SHOW form."""
    value = settings.get(name, "0")
    if value == "0":  # the default, read before every statement and message
        return 0.0
    return _duration_ms(name, value) / 1000


def _limit(name: str, value: str) -> str:
    """A non-negative integer (bytes may carry kB/MB/GB, as PostgreSQL's memory settings do)."""
    text = value.strip().lower().replace(" ", "")
    unit = text.lstrip("0123456789")
    digits = text[: len(text) - len(unit)]
    scale = _BYTE_UNITS.get(unit) if name == "dsql.transaction_bytes_max" else (1 if unit == "" else None)
    if not digits or scale is None:
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"')
    number = int(digits) * scale
    lowest = 0 if name == "dsql.copy_batch_rows" else 1
    if not lowest <= number <= 2**62:
        raise SqlError(
            "22023", f'{number} is outside the valid range for parameter "{name}" ({lowest} .. {2**62})'
        )
    return str(number)


def configure_defaults(overrides: dict[str, str]) -> None:
    """Server-wide defaults (e.g. from `dsql serve` flags), validated; call before sessions start.

    Sessions copy DEFAULTS when they open and RESET ALL goes back to them, so
    an override here is what every new session starts with.
    """
    for name, value in overrides.items():
        canonical = canonical_name(name)
        if canonical is None or canonical in READ_ONLY:
            raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
        DEFAULTS[canonical] = normalize(canonical, value)
        _CANONICAL[canonical.lower()] = canonical


def transaction_limits(settings: dict[str, str]) -> tuple[int, int]:
    """(rows_max, bytes_max) for a new transaction of a session with these settings."""
    return int(settings["dsql.transaction_rows_max"]), int(settings["dsql.transaction_bytes_max"])


def _bool(name: str, value: str) -> str:
    v = value.lower()
    if v in ("on", "true", "yes", "1", "t", "y"):
        return "on"
    if v in ("off", "false", "no", "0", "f", "n"):
        return "off"
    raise SqlError("22023", f'parameter "{name}" requires a Boolean value')


_STRTOD = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _zone_name(value: str) -> str:
    """check_timezone: the zone's canonical name (what SHOW TimeZone prints).

    `INTERVAL '...'` and a plain number of hours take the SQL sign (east
    positive) and become fixed zones named like '<+05>-05'; anything else is
    a tzdata name (any case) or a POSIX TZ string ('+02:00' is two hours
    *west*), as pg_tzset reads them."""
    zone: Zone | None
    if value[:8].lower() == "interval":
        rest = value[8:].lstrip()
        if not rest.startswith("'") or rest.count("'") != 2 or not rest.endswith("'"):
            raise _bad_zone(value)
        iv = parse_interval(rest[1:-1])
        if iv.months or iv.days:
            raise _bad_zone(value, "Cannot specify months in time zone interval." if iv.months
                            else "Cannot specify days in time zone interval.")
        micros = iv.micros
        seconds = abs(micros) // 1_000_000 * (1 if micros >= 0 else -1)
        zone = pg_tzset_offset(-seconds)
        if zone is None:
            raise _bad_zone(value, "UTC timezone offset is out of range.")
    elif _STRTOD.fullmatch(value):
        hours = float(value)
        zone = pg_tzset_offset(int(-hours * 3600)) if abs(hours) < 1e9 else None
        if zone is None:
            raise _bad_zone(value, "UTC timezone offset is out of range.")
    else:
        zone = pg_tzset(value)
        if zone is None:
            raise _bad_zone(value)
    return zone.name


def _bad_zone(value: str, detail: str | None = None) -> SqlError:
    return SqlError("22023", f'invalid value for parameter "TimeZone": "{value}"', detail=detail)


def zoneinfo_for(name: str) -> Zone:
    """The zone of a TimeZone setting (already checked by normalize)."""
    return pg_tzset(name) or UTC
