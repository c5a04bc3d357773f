"""Rows for the built-in objects: types, functions, operators, operator classes.

These come from dsql's own type and function libraries (`qp.types`,
`qp.functions`), so pg_type and pg_proc list what dsql actually has, with
PostgreSQL's oids where PostgreSQL has the same object (`builtin_data`,
generated from a reference PostgreSQL). A function PostgreSQL lacks, or has
with other argument types, gets an oid from 9000 up (a range PostgreSQL
leaves unused), assigned in name order so that it is the same in every
process of one build.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from qp.functions.registry import AGGREGATES, FUNCTIONS, OPERATORS
from qp.pgcatalog import builtin_data as D
from qp.pgcatalog import oids
from qp.types import core as C

SYNTHETIC_PROC_OID_FIRST = 9000

# Default btree operator classes: type oid -> (opclass oid, name, family oid, keytype).
# varchar has no class of its own: its columns use text_ops (binary coercible).
BTREE_OPCLASSES = {
    16: (10003, "bool_ops", 424, 0),
    17: (10006, "bytea_ops", 428, 0),
    18: (10007, "char_ops", 429, 0),
    19: (10028, "name_ops", 1994, 2275),
    20: (3124, "int8_ops", 1976, 0),
    21: (1979, "int2_ops", 1976, 0),
    23: (1978, "int4_ops", 1976, 0),
    25: (3126, "text_ops", 1994, 0),
    26: (1981, "oid_ops", 1989, 0),
    700: (10012, "float4_ops", 1970, 0),
    701: (3123, "float8_ops", 1970, 0),
    1042: (10004, "bpchar_ops", 426, 0),
    1082: (3122, "date_ops", 434, 0),
    1083: (10038, "time_ops", 1996, 0),
    1114: (3128, "timestamp_ops", 434, 0),
    1184: (3127, "timestamptz_ops", 434, 0),
    1186: (10022, "interval_ops", 1982, 0),
    1700: (3125, "numeric_ops", 1988, 0),
    2950: (10065, "uuid_ops", 2968, 0),
    3802: (10088, "jsonb_ops", 4033, 0),
}
OPCLASS_FOR_TYPE = {**{oid: row[0] for oid, row in BTREE_OPCLASSES.items()}, 1043: 3126}
BTREE_OPFAMILIES = {
    424: "bool_ops", 428: "bytea_ops", 429: "char_ops", 1994: "text_ops", 1976: "integer_ops", 1989: "oid_ops",
    1970: "float_ops", 426: "bpchar_ops", 434: "datetime_ops", 1996: "time_ops", 1982: "interval_ops",
    1988: "numeric_ops", 2968: "uuid_ops", 4033: "jsonb_ops",
}


@dataclass(frozen=True)
class TypeFacts:
    """The pg_type facts of a built-in type that SqlType does not carry."""

    byval: bool
    typtype: str
    delim: str
    align: str
    storage: str
    collation: int


def type_facts(oid: int) -> TypeFacts:
    row = D.TYPES.get(oid)
    if row is None:
        return TypeFacts(False, "b", ",", "i", "x", 0)
    return TypeFacts(row[2], row[3], row[6], row[9], row[10], row[11])


def type_collation(oid: int) -> int:
    row = D.TYPES.get(oid)
    return row[11] if row is not None else 0


# -- pg_type ---------------------------------------------------------------------------------------


def type_rows() -> list[tuple]:
    out = []
    for oid in sorted(D.TYPES):
        (name, typlen, byval, typtype, category, preferred, delim, elem, array, align, storage, collation,
         typinput, typoutput, typreceive, typsend, typmodin, typmodout, typanalyze, typsubscript) = D.TYPES[oid]
        out.append((
            oid, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, typlen, byval, typtype, category,
            preferred, True, delim, 0, typsubscript, elem, array, typinput, typoutput, typreceive, typsend,
            typmodin, typmodout, typanalyze, align, storage, False, 0, -1, 0, collation, None, None, None,
        ))
    return out


DOMAIN_IN, DOMAIN_RECV = 2597, 2598  # PostgreSQL's domain_in / domain_recv


def domain_type_rows(domains: list, default_text, namespaces: dict[str, int] | None = None) -> list[tuple]:
    """pg_type rows of user domains (typtype 'd'): the base type's storage, its output
    and send functions, domain_in / domain_recv for input (as PostgreSQL gives them);
    `default_text(domain)` is typdefault."""
    out = []
    for domain in domains:
        base = D.TYPES.get(domain.base_oid)
        if base is None:
            continue
        (_, typlen, byval, _, category, _, delim, _, _, align, storage, collation,
         _, typoutput, _, typsend, _, _, _, _) = base
        namespace = (namespaces or oids.NAMESPACE_OIDS).get(domain.schema, oids.PUBLIC_NAMESPACE)
        default = default_text(domain)
        out.append((
            domain.oid, domain.name, namespace, oids.BOOTSTRAP_SUPERUSER, typlen, byval, "d", category,
            False, True, delim, 0, 0, 0, 0, DOMAIN_IN, typoutput, DOMAIN_RECV, typsend,
            0, 0, 0, align, storage, domain.not_null, domain.base_oid, domain.base_typmod, 0, collation,
            None, default, None,
        ))
    return out


# -- pg_proc ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    oid: int
    name: str
    arg_types: tuple[int, ...]
    ret: int
    kind: str  # 'f' function, 'a' aggregate
    strict: bool
    volatility: str
    retset: bool
    variadic: int  # element type of a VARIADIC last argument, else 0


@cache
def procs() -> tuple[ProcInfo, ...]:
    """Every function and aggregate dsql has (plus the types' I/O functions), with oids."""

    found: list[ProcInfo] = []
    unnumbered: list[tuple[str, tuple[int, ...], object, str]] = []
    for name, defs in sorted(FUNCTIONS.items()):
        for fd in defs:
            args = tuple(a.oid for a in fd.args)
            oid = D.PROCS.get(_signature(name, args))
            if oid is None:
                unnumbered.append((name, args, fd, "f"))
            else:
                found.append(_proc_from_def(oid, name, args, fd, "f"))
    for name, defs in sorted(AGGREGATES.items()):
        for ad in defs:
            args = tuple(a.oid for a in ad.args)
            oid = D.AGGREGATES.get(_signature(name, args))
            if oid is None:
                unnumbered.append((name, args, ad, "a"))
            else:
                found.append(_proc_from_def(oid, name, args, ad, "a"))
    taken = {p.oid for p in found} | set(D.IO_PROCS)
    for oid, (name, ret, args, strict, volatility) in D.IO_PROCS.items():
        found.append(ProcInfo(oid, name, tuple(args), ret, "f", strict, volatility, False, 0))
    next_oid = SYNTHETIC_PROC_OID_FIRST
    for name, args, definition, kind in sorted(unnumbered, key=lambda u: (u[0], u[1])):
        while next_oid in taken:
            next_oid += 1
        found.append(_proc_from_def(next_oid, name, args, definition, kind))
        taken.add(next_oid)
    # One row per oid (two registrations can share a PostgreSQL signature).
    unique = {p.oid: p for p in found}
    return tuple(sorted(unique.values(), key=lambda p: p.oid))


def _proc_from_def(oid: int, name: str, args: tuple[int, ...], definition, kind: str) -> ProcInfo:
    ret = definition.ret.oid
    strict = bool(getattr(definition, "strict", True))
    volatility = getattr(definition, "volatility", "i")
    retset = bool(getattr(definition, "returns_set", False))
    variadic = 0
    if getattr(definition, "variadic", False) and args:
        last = C.type_by_oid(args[-1])
        variadic = last.elem.oid if last is not None and last.is_array and last.elem is not None else args[-1]
    return ProcInfo(oid, name, args, ret, kind, strict, volatility, retset, variadic)


def _signature(name: str, args: tuple[int, ...]) -> str:
    return f"{name}({','.join(str(a) for a in args)})"


@cache
def proc_by_oid() -> dict[int, ProcInfo]:
    return {p.oid: p for p in procs()}


@cache
def procs_by_name() -> dict[str, list[ProcInfo]]:
    out: dict[str, list[ProcInfo]] = {}
    for p in procs():
        out.setdefault(p.name, []).append(p)
    return out


def proc_rows() -> list[tuple]:
    out = []
    for p in procs():
        out.append((
            p.oid, p.name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, oids.INTERNAL_LANGUAGE,
            1.0, 1000.0 if p.retset else 0.0, p.variadic, 0, p.kind, False, False, p.strict, p.retset,
            p.volatility, "s", len(p.arg_types), 0, p.ret, list(p.arg_types), None, None, None, None, None,
            p.name if p.kind == "f" else "aggregate_dummy", None, None, None, None,
        ))
    return out


# -- pg_operator -----------------------------------------------------------------------------------


@cache
def operator_rows() -> tuple[tuple, ...]:
    rows: dict[int, tuple] = {}
    unnumbered = []
    for (name, kind), defs in sorted(OPERATORS.items()):
        for fd in defs:
            left, right = (0, fd.args[0].oid) if kind == "l" else (fd.args[0].oid, fd.args[1].oid)
            known = D.OPERATORS.get(f"{name}({left},{right})")
            if known is None:
                unnumbered.append((name, kind, left, right, fd.ret.oid))
                continue
            oid, com, negate, canmerge, canhash, code = known
            rows[oid] = (oid, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, kind, canmerge, canhash,
                         left, right, fd.ret.oid, com, negate, code, 0, 0)
    next_oid = SYNTHETIC_PROC_OID_FIRST
    for name, kind, left, right, ret in unnumbered:
        while next_oid in rows:
            next_oid += 1
        rows[next_oid] = (next_oid, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, kind, False, False,
                          left, right, ret, 0, 0, 0, 0, 0)
    return tuple(rows[oid] for oid in sorted(rows))


# -- operator classes ------------------------------------------------------------------------------


def opclass_rows() -> list[tuple]:
    return [
        (oid, oids.BTREE_AM, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, family, intype, True, keytype)
        for intype, (oid, name, family, keytype) in sorted(BTREE_OPCLASSES.items(), key=lambda kv: kv[1][0])
    ]


def opfamily_rows() -> list[tuple]:
    return [(oid, oids.BTREE_AM, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER)
            for oid, name in sorted(BTREE_OPFAMILIES.items())]
