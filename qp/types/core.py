"""SQL types: their identity (oid, typmod), names, and the value classes
that have no natural Python equivalent (`Interval`; `Jsonb` is qp/types/json.py's).

This module owns what a type *is*: the pg_type facts the resolver and the
wire protocol need (oid, typlen, category, preferred flag, array type),
PostgreSQL's typmod encodings, `format_type()` text and the resolution of
every type-name spelling the grammar produces. It holds no behaviour of
values (I/O, casts, operators live in sibling modules), so everything else
can import it without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from qp.errors import SqlError

USECS_PER_DAY = 86_400_000_000
USECS_PER_HOUR = 3_600_000_000
USECS_PER_MINUTE = 60_000_000
USECS_PER_SEC = 1_000_000

# Sentinels for the infinite datetimes, as the contract fixes them.
DATE_NEG_INF = -(2**31)
DATE_POS_INF = 2**31 - 1
TS_NEG_INF = -(2**63)
TS_POS_INF = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SqlType:
    """A SQL type as the engine passes it around (pg_type row + typmod).

    `typmod` uses PostgreSQL's internal atttypmod encoding (varchar(10) is
    14), because that is what RowDescription and pg_attribute carry.
    `fields` is only set for anonymous record types whose shape is known
    (the rows of jsonb_each(), for instance): (name, type) pairs.
    """

    oid: int
    name: str
    typlen: int
    category: str
    preferred: bool = False
    typmod: int = -1
    elem: SqlType | None = None
    array_oid: int = 0
    fields: tuple[tuple[str, SqlType], ...] | None = None

    @property
    def base(self) -> SqlType:
        """The same type without a typmod (array element typmods too)."""
        if self.typmod == -1 and (self.elem is None or self.elem.typmod == -1):
            return self
        return _BASE_BY_OID.get(self.oid) or SqlType(
            self.oid, self.name, self.typlen, self.category, self.preferred, -1,
            self.elem.base if self.elem is not None else None, self.array_oid, self.fields)

    @property
    def is_array(self) -> bool:
        return self.category == "A" and self.elem is not None

    def with_typmod(self, typmod: int) -> SqlType:
        if typmod == self.typmod:
            return self
        elem = self.elem.with_typmod(typmod) if self.is_array and self.elem is not None else self.elem
        return SqlType(self.oid, self.name, self.typlen, self.category, self.preferred,
                       typmod, elem, self.array_oid, self.fields)

    def __repr__(self) -> str:
        return f"SqlType({format_type(self)})"


_BASE_BY_OID: dict[int, SqlType] = {}
_BY_NAME: dict[str, SqlType] = {}


def _t(oid: int, name: str, typlen: int, category: str, preferred: bool = False,
       array_oid: int = 0) -> SqlType:
    t = SqlType(oid, name, typlen, category, preferred, -1, None, array_oid)
    _BASE_BY_OID[oid] = t
    _BY_NAME[name] = t
    return t


BOOL = _t(16, "bool", 1, "B", True, 1000)
BYTEA = _t(17, "bytea", -1, "U", False, 1001)
CHAR = _t(18, "char", 1, "Z", False, 1002)
NAME = _t(19, "name", 64, "S", False, 1003)
INT8 = _t(20, "int8", 8, "N", False, 1016)
INT2 = _t(21, "int2", 2, "N", False, 1005)
INT4 = _t(23, "int4", 4, "N", False, 1007)
REGPROC = _t(24, "regproc", 4, "N", False, 1008)
TEXT = _t(25, "text", -1, "S", True, 1009)
OID = _t(26, "oid", 4, "N", True, 1028)
JSON = _t(114, "json", -1, "U", False, 199)
FLOAT4 = _t(700, "float4", 4, "N", False, 1021)
FLOAT8 = _t(701, "float8", 8, "N", True, 1022)
UNKNOWN = _t(705, "unknown", -2, "X", False, 0)
BPCHAR = _t(1042, "bpchar", -1, "S", False, 1014)
VARCHAR = _t(1043, "varchar", -1, "S", False, 1015)
DATE = _t(1082, "date", 4, "D", False, 1182)
TIME = _t(1083, "time", 8, "D", False, 1183)
TIMESTAMP = _t(1114, "timestamp", 8, "D", False, 1115)
TIMESTAMPTZ = _t(1184, "timestamptz", 8, "D", True, 1185)
INTERVAL = _t(1186, "interval", 16, "T", True, 1187)
NUMERIC = _t(1700, "numeric", -1, "N", False, 1231)
REGPROCEDURE = _t(2202, "regprocedure", 4, "N", False, 2207)
REGCLASS = _t(2205, "regclass", 4, "N", False, 2210)
REGTYPE = _t(2206, "regtype", 4, "N", False, 2211)
UUID = _t(2950, "uuid", 16, "U", False, 2951)
JSONB = _t(3802, "jsonb", -1, "U", False, 3807)
JSONPATH = _t(4072, "jsonpath", -1, "U", False, 4073)
REGNAMESPACE = _t(4089, "regnamespace", 4, "N", False, 4090)
REGROLE = _t(4096, "regrole", 4, "N", False, 4097)
# The system catalogs' stored expressions (pg_attrdef.adbin, ...): text that
# only the catalog functions read (pg_get_expr), as in PostgreSQL.
PG_NODE_TREE = _t(194, "pg_node_tree", -1, "Z", False, 0)
# Pseudo-types: used in function signatures and for untyped values.
RECORD = _t(2249, "record", -1, "P", False, 2287)
CSTRING = _t(2275, "cstring", -2, "P", False, 1263)
ANY = _t(2276, "any", 4, "P")
ANYARRAY = _t(2277, "anyarray", -1, "P")
VOID = _t(2278, "void", 4, "P")
TRIGGER = _t(2279, "trigger", 4, "P")
INTERNAL = _t(2281, "internal", 8, "P")
ANYELEMENT = _t(2283, "anyelement", 4, "P")
ANYNONARRAY = _t(2776, "anynonarray", 4, "P")
ANYCOMPATIBLE = _t(5077, "anycompatible", 4, "P")
ANYCOMPATIBLEARRAY = _t(5078, "anycompatiblearray", -1, "P")
ANYCOMPATIBLENONARRAY = _t(5079, "anycompatiblenonarray", 4, "P")

# int2vector and oidvector are arrays (category A) with their own oids; their
# text form is space separated, their binary form is array_send's.
INT2VECTOR = SqlType(22, "int2vector", -1, "A", False, -1, INT2, 1006)
OIDVECTOR = SqlType(30, "oidvector", -1, "A", False, -1, OID, 1013)
_BASE_BY_OID[22] = INT2VECTOR
_BASE_BY_OID[30] = OIDVECTOR
_BY_NAME["int2vector"] = INT2VECTOR
_BY_NAME["oidvector"] = OIDVECTOR

POLYMORPHIC = frozenset({ANYELEMENT.oid, ANYARRAY.oid, ANYNONARRAY.oid, ANYCOMPATIBLE.oid,
                         ANYCOMPATIBLEARRAY.oid, ANYCOMPATIBLENONARRAY.oid})

_ARRAY_CACHE: dict[tuple[int, int], SqlType] = {}
_ELEM_BY_ARRAY_OID: dict[int, SqlType] = {}


def array_of(t: SqlType) -> SqlType:
    """The array type whose elements are `t` (PG has one array type per
    element type, whatever the number of dimensions)."""
    if t.is_array and t.oid not in (22, 30):
        return t
    key = (t.oid, t.typmod)
    a = _ARRAY_CACHE.get(key)
    if a is None:
        if not t.array_oid:
            raise SqlError("42704", f"could not find array type for data type {format_type(t)}")
        a = SqlType(t.array_oid, "_" + t.name, -1, "A", False, t.typmod, t, 0)
        _ARRAY_CACHE[key] = a
    return a


for _b in list(_BASE_BY_OID.values()):
    if _b.array_oid and _b.oid not in (2275,):
        _arr = array_of(_b)
        _BASE_BY_OID[_arr.oid] = _arr
        _BY_NAME[_arr.name] = _arr
        _ELEM_BY_ARRAY_OID[_arr.oid] = _b
INT2VECTOR_ARRAY = array_of(INT2VECTOR)
OIDVECTOR_ARRAY = array_of(OIDVECTOR)
for _arr in (INT2VECTOR_ARRAY, OIDVECTOR_ARRAY):
    _BASE_BY_OID[_arr.oid] = _arr
    _BY_NAME[_arr.name] = _arr


def record_type(fields: list[tuple[str, SqlType]]) -> SqlType:
    """An anonymous record type with a known shape (for SRFs with OUT params)."""
    return SqlType(RECORD.oid, "record", -1, "P", False, -1, None, RECORD.array_oid, tuple(fields))


def type_by_oid(oid: int) -> SqlType:
    t = _BASE_BY_OID.get(oid)
    if t is None:
        raise SqlError("42704", f"type with OID {oid} does not exist")
    return t


def is_array(t: SqlType) -> bool:
    return t.category == "A" and t.elem is not None


# --- typmods ----------------------------------------------------------------

VARHDRSZ = 4
MAX_PRECISION = 6  # timestamp/time/interval fractional digits
INTERVAL_FULL_RANGE = 0x7FFF
INTERVAL_FULL_PRECISION = 0xFFFF
# interval field bits, as datetime.h numbers them
IV_MONTH, IV_YEAR, IV_DAY = 1 << 1, 1 << 2, 1 << 3
IV_HOUR, IV_MINUTE, IV_SECOND = 1 << 10, 1 << 11, 1 << 12
_INTERVAL_RANGES = {
    IV_YEAR: "year", IV_MONTH: "month", IV_DAY: "day", IV_HOUR: "hour", IV_MINUTE: "minute",
    IV_SECOND: "second", IV_YEAR | IV_MONTH: "year to month", IV_DAY | IV_HOUR: "day to hour",
    IV_DAY | IV_HOUR | IV_MINUTE: "day to minute",
    IV_DAY | IV_HOUR | IV_MINUTE | IV_SECOND: "day to second",
    IV_HOUR | IV_MINUTE: "hour to minute", IV_HOUR | IV_MINUTE | IV_SECOND: "hour to second",
    IV_MINUTE | IV_SECOND: "minute to second",
}


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + VARHDRSZ


def numeric_typmod_parts(typmod: int) -> tuple[int, int]:
    """(precision, scale) from a numeric typmod; scale may be negative (PG 15+)."""
    t = typmod - VARHDRSZ
    scale = ((t & 0x7FF) ^ 1024) - 1024
    return (t >> 16) & 0xFFFF, scale


def _typmod_in(t: SqlType, mods: list[int]) -> int:
    """PG's typmodin for the types that take one; `mods` as the user wrote them."""
    name = format_type(t.base)
    if not mods:
        return -1
    oid = t.oid
    if oid in (VARCHAR.oid, BPCHAR.oid):
        if len(mods) != 1:
            raise SqlError("22023", "invalid type modifier")
        n = mods[0]
        if n < 1:
            raise SqlError("22023", f"length for type {t.name} must be at least 1")
        if n > 10485760:
            raise SqlError("22023", f"length for type {t.name} cannot exceed 10485760")
        return n + VARHDRSZ
    if oid == NUMERIC.oid:
        if len(mods) > 2:
            raise SqlError("22023", "invalid NUMERIC type modifier")
        p = mods[0]
        s = mods[1] if len(mods) == 2 else 0
        if p < 1 or p > 1000:
            raise SqlError("22023", f"NUMERIC precision {p} must be between 1 and 1000")
        if s < -1000 or s > 1000:
            raise SqlError("22023", f"NUMERIC scale {s} must be between -1000 and 1000")
        return numeric_typmod(p, s)
    if oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid, TIME.oid):
        if len(mods) != 1:
            raise SqlError("22023", "invalid type modifier")
        p = mods[0]
        if p < 0:
            raise SqlError("22023", f"{name.upper()}({p}) precision must not be negative")
        return min(p, MAX_PRECISION)
    if oid == INTERVAL.oid:
        # The grammar gives [range] or [range, precision] (range defaults to full).
        rng = mods[0]
        prec = mods[1] if len(mods) > 1 else INTERVAL_FULL_PRECISION
        if rng != INTERVAL_FULL_RANGE and rng not in _INTERVAL_RANGES:
            raise SqlError("22023", "invalid INTERVAL type modifier")
        if prec != INTERVAL_FULL_PRECISION:
            if prec < 0:
                raise SqlError("22023", f"INTERVAL({prec}) precision must not be negative")
            prec = min(prec, MAX_PRECISION)
        return (rng << 16) | prec
    raise SqlError("42601", f"type modifier is not allowed for type \"{t.name}\"")


def interval_typmod_parts(typmod: int) -> tuple[int, int]:
    """(range mask, precision) with precision -1 for full precision."""
    if typmod < 0:
        return INTERVAL_FULL_RANGE, -1
    prec = typmod & 0xFFFF
    return (typmod >> 16) & 0x7FFF, (-1 if prec == INTERVAL_FULL_PRECISION else prec)


# --- names --------------------------------------------------------------------

# Every spelling of a built-in type the grammar (or a user, unqualified) may give.
_ALIASES: dict[str, SqlType] = {
    "int": INT4, "integer": INT4, "int4": INT4, "smallint": INT2, "int2": INT2,
    "bigint": INT8, "int8": INT8, "real": FLOAT4, "float4": FLOAT4,
    "double precision": FLOAT8, "float8": FLOAT8, "decimal": NUMERIC, "dec": NUMERIC,
    "numeric": NUMERIC, "boolean": BOOL, "bool": BOOL,
    "character varying": VARCHAR, "char varying": VARCHAR, "varchar": VARCHAR,
    "national character varying": VARCHAR,
    "character": BPCHAR, "bpchar": BPCHAR, "national character": BPCHAR, "nchar": BPCHAR,
    "timestamp": TIMESTAMP, "timestamp without time zone": TIMESTAMP,
    "timestamp with time zone": TIMESTAMPTZ, "timestamptz": TIMESTAMPTZ,
    "time": TIME, "time without time zone": TIME,
}


def resolve_type_name(names: list[str], typmods: list[int] | None = None, array_dims: int = 0) -> SqlType:
    """The SqlType for a type name as the parser gives it.

    `names` is the qualified name (["pg_catalog", "int4"], ["varchar"],
    ["double precision"]); `typmods` are the user's modifiers
    (varchar(10) -> [10]). A trailing "[]" in the name also makes an array.
    """
    typmods = list(typmods or [])
    if not names:
        raise SqlError("42601", "syntax error at or near \"\"")
    if len(names) > 1 and names[-2].lower() not in ("pg_catalog",):
        if len(names) > 3 or names[-2].lower() not in ("public", "information_schema"):
            raise SqlError("42704", f'type "{".".join(names)}" does not exist')
    raw = names[-1]
    name = raw.strip().lower() if raw != '"char"' else raw
    while name.endswith("[]"):
        name = name[:-2].rstrip()
        array_dims += 1
    if name in ('"char"',):
        t = CHAR
    elif name in ("float", "double"):
        t = FLOAT8 if name == "double" else _float_by_precision(typmods)
        typmods = []
    elif name == "char":
        # Unqualified "char" from pglast is the quoted one-byte type; the SQL
        # CHAR(n) arrives as pg_catalog.bpchar. When a length is given the
        # user meant SQL CHAR.
        t = BPCHAR if typmods else CHAR
    elif name.startswith("interval"):
        t, typmods = _interval_name(name, typmods)
    elif name.startswith(("timestamp", "time")) and "(" in name:
        t, typmods = _precision_name(name, typmods)
    else:
        t = _ALIASES.get(name) or _BY_NAME.get(name)
        if t is None or t.category == "P" and t.oid not in (RECORD.oid, VOID.oid, ANY.oid,
                                                            ANYELEMENT.oid, ANYARRAY.oid,
                                                            UNKNOWN.oid, CSTRING.oid):
            shown = ".".join(names) if len(names) > 1 else raw
            raise SqlError("42704", f'type "{shown}" does not exist')
    if typmods:
        t = t.with_typmod(_typmod_in(t, typmods))
    if array_dims:
        t = array_of(t)
    return t


def _float_by_precision(typmods: list[int]) -> SqlType:
    if not typmods:
        return FLOAT8
    p = typmods[0]
    if p < 1:
        raise SqlError("22023", "precision for type float must be at least 1 bit")
    if p <= 24:
        return FLOAT4
    if p <= 53:
        return FLOAT8
    raise SqlError("22023", "precision for type float must be less than 54 bits")


def _precision_name(name: str, typmods: list[int]) -> tuple[SqlType, list[int]]:
    # "timestamp(3) with time zone" written as one string
    base, _, rest = name.partition("(")
    p, _, tail = rest.partition(")")
    full = (base.strip() + " " + tail.strip()).strip()
    t = _ALIASES.get(full)
    if t is None:
        raise SqlError("42704", f'type "{name}" does not exist')
    return t, [int(p)]


_IV_FIELD_BITS = {"year": IV_YEAR, "month": IV_MONTH, "day": IV_DAY, "hour": IV_HOUR,
                  "minute": IV_MINUTE, "second": IV_SECOND}


def _interval_name(name: str, typmods: list[int]) -> tuple[SqlType, list[int]]:
    """`interval`, `interval(3)`, `interval day to second(2)` spelled as text."""
    rest = name[len("interval"):].strip()
    if not rest:
        return INTERVAL, typmods
    prec = None
    if rest.endswith(")"):
        rest, _, p = rest[:-1].rpartition("(")
        prec = int(p)
        rest = rest.strip()
    words = rest.split()
    mask = INTERVAL_FULL_RANGE
    if words:
        if len(words) == 1 and words[0] in _IV_FIELD_BITS:
            mask = _IV_FIELD_BITS[words[0]]
        elif len(words) == 3 and words[1] == "to" and words[0] in _IV_FIELD_BITS and words[2] in _IV_FIELD_BITS:
            lo, hi = _IV_FIELD_BITS[words[0]], _IV_FIELD_BITS[words[2]]
            order = [IV_YEAR, IV_MONTH, IV_DAY, IV_HOUR, IV_MINUTE, IV_SECOND]
            mask = 0
            for b in order[order.index(lo):order.index(hi) + 1]:
                mask |= b
            if mask not in _INTERVAL_RANGES:
                raise SqlError("42601", f'syntax error at or near "{words[2]}"')
        else:
            raise SqlError("42704", f'type "{name}" does not exist')
    mods = [mask] if prec is None else [mask, prec]
    return INTERVAL, mods


_FORMAT_NAMES = {
    16: "boolean", 18: '"char"', 20: "bigint", 21: "smallint", 23: "integer", 700: "real",
    701: "double precision", 1043: "character varying", 1042: "character",
    1114: "timestamp without time zone", 1184: "timestamp with time zone",
    1083: "time without time zone", 1266: "time with time zone",
}


def format_type(t: SqlType) -> str:
    """PG's format_type(oid, typmod)."""
    if t.is_array and t.oid not in (22, 30):
        assert t.elem is not None
        return format_type(t.elem) + "[]"
    oid, mod = t.oid, t.typmod
    if oid == 1042 and mod < 0:
        return "bpchar"
    base = _FORMAT_NAMES.get(oid, t.name)
    if mod < 0:
        return base
    if oid in (1043, 1042):
        return f"{base}({mod - VARHDRSZ})"
    if oid == 1700:
        p, s = numeric_typmod_parts(mod)
        return f"numeric({p},{s})"
    if oid in (1114, 1184, 1083):
        word, _, zone = base.partition(" ")
        return f"{word}({mod}) {zone}"
    if oid == 1186:
        rng, prec = interval_typmod_parts(mod)
        out = "interval"
        if rng != INTERVAL_FULL_RANGE:
            out += " " + _INTERVAL_RANGES[rng]
        if prec >= 0:
            out += f"({prec})"
        return out
    return base


# --- value classes ------------------------------------------------------------


class Interval:
    """An interval value: (months, days, micros), as PostgreSQL stores it.

    Equality, hashing and order follow PG's interval_cmp: an interval is
    compared by its span with a month counted as 30 days and a day as 24
    hours, so '1 mon' = '30 days' (they also group together).

    Not a tuple subclass, so that the wire codec sees the type (a tuple
    subclass would be packed as a plain array and come back as a tuple);
    indexing and unpacking still work as on (months, days, micros).
    """

    __slots__ = ("months", "days", "micros")

    def __init__(self, months: int = 0, days: int = 0, micros: int = 0) -> None:
        self.months = months
        self.days = days
        self.micros = micros

    def __getitem__(self, index: int) -> int:
        return (self.months, self.days, self.micros)[index]

    def __iter__(self):
        return iter((self.months, self.days, self.micros))

    def __len__(self) -> int:
        return 3

    def span(self) -> int:
        return (self.months * 30 + self.days) * USECS_PER_DAY + self.micros

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.span() == other.span()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.span() != other.span()
        return NotImplemented

    def __lt__(self, other: Interval) -> bool:
        return self.span() < other.span()

    def __le__(self, other: Interval) -> bool:
        return self.span() <= other.span()

    def __gt__(self, other: Interval) -> bool:
        return self.span() > other.span()

    def __ge__(self, other: Interval) -> bool:
        return self.span() >= other.span()

    def __hash__(self) -> int:
        return hash(self.span())

    def __repr__(self) -> str:
        return f"Interval({self.months}, {self.days}, {self.micros})"

    def __reduce__(self):
        return (Interval, (self.months, self.days, self.micros))


