"""System relations as the binder and executor see them, and their registry.

A `SystemRelation` has what the binder needs (`name`, `columns`) and what
`VirtualScan` calls (`rows(rc)`). Its rows are made by a builder function
from a `Source`: the catalog snapshot of the running statement (through
its `CatalogModel`), and for a few relations the session itself.

How long rows live depends on what they are made from, which each relation
declares:

- STATIC: only built-in objects (pg_type, pg_proc, pg_am): built once per
  process.
- CATALOG: the catalog snapshot (pg_class, pg_attribute): built once per
  snapshot and kept on its model, so the dozen queries of psql's `\\d` build
  them once.
- SESSION: the session (pg_settings, pg_prepared_statements): built for every
  scan.

Columns are declared as compact "name:type" strings, with PostgreSQL's names
and types. PostgreSQL types dsql does not have are shown as the nearest it
has: aclitem[] as text[], xid as oid, inet as text,
anyarray as text[].
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qp.pgcatalog.model import model_for
from qp.pgcatalog.registry import REGISTRY
from qp.types import (
    BOOL,
    BYTEA,
    CHAR,
    FLOAT4,
    FLOAT8,
    INT2,
    INT2VECTOR,
    INT4,
    INT8,
    INTERVAL,
    NAME,
    OID,
    OIDVECTOR,
    REGPROC,
    REGPROCEDURE,
    REGROLE,
    REGTYPE,
    TEXT,
    TIMESTAMPTZ,
    VARCHAR,
    SqlType,
    array_of,
)
from qp.types.core import PG_NODE_TREE


class Lifetime(enum.Enum):
    STATIC = "static"
    CATALOG = "catalog"
    SESSION = "session"


_TYPES: dict[str, SqlType] = {
    "oid": OID,
    "name": NAME,
    "char": CHAR,
    "bool": BOOL,
    "bytea": BYTEA,
    "int2": INT2,
    "int4": INT4,
    "int8": INT8,
    "float4": FLOAT4,
    "float8": FLOAT8,
    "text": TEXT,
    "varchar": VARCHAR,
    "regproc": REGPROC,
    "regprocedure": REGPROCEDURE,
    "regrole": REGROLE,
    "regtype": REGTYPE,
    "timestamptz": TIMESTAMPTZ,
    "interval": INTERVAL,
    "int2vector": INT2VECTOR,
    "oidvector": OIDVECTOR,
    # Stand-ins for types dsql does not implement (see the module docstring).
    "pg_node_tree": PG_NODE_TREE,
    "aclitem[]": array_of(TEXT),
    "anyarray": array_of(TEXT),
    "xid": OID,
    "inet": TEXT,
}
_STAND_INS = frozenset({"aclitem[]", "anyarray", "xid", "inet"})


def stand_in_columns(spec: str) -> frozenset[str]:
    """The columns of a declaration whose PostgreSQL type dsql does not have."""
    return frozenset(name for name, _, t in (item.partition(":") for item in spec.split()) if t in _STAND_INS)


def parse_columns(spec: str) -> list[tuple[str, SqlType]]:
    """'oid:oid relname:name reloptions:text[]' -> [(name, SqlType), ...]."""
    out = []
    for item in spec.split():
        name, _, type_name = item.partition(":")
        if type_name in _TYPES:
            t = _TYPES[type_name]
        elif type_name.endswith("[]"):
            t = array_of(_TYPES[type_name[:-2]])
        else:
            raise KeyError(f"unknown column type {type_name!r} in {item!r}")
        out.append((name, t))
    return out


@dataclass
class Source:
    """What a builder reads: the catalog model, and the session for SESSION relations."""

    model: Any  # qp.pgcatalog.model.CatalogModel
    session: Any = None
    ctx: Any = None  # the statement's EvalContext


@dataclass(eq=False)
class SystemRelation:
    schema: str
    name: str
    oid: int
    columns: list[tuple[str, SqlType]]
    build: Callable[[Source], list[tuple]]
    lifetime: Lifetime = Lifetime.CATALOG
    relkind: str = "v"  # 'r' for PostgreSQL's catalog tables, 'v' for its views
    stand_ins: frozenset[str] = frozenset()  # columns typed with a stand-in (see the module docstring)
    _static_rows: list[tuple] | None = field(default=None, repr=False)

    @property
    def system_columns(self) -> list[tuple[str, SqlType]]:
        """Columns every catalog table has besides its own (not in `*`); views have none."""
        return [("tableoid", OID)] if self.relkind == "r" else []

    async def rows(self, rc) -> list[tuple]:
        session = rc.session
        snapshot = await session.catalog_for(rc.txn)
        # Functions evaluated in the same statement (pg_get_indexdef, regclass
        # output) must read the snapshot these rows come from.
        rc.frame.ctx.catalog = snapshot
        if self.lifetime is Lifetime.STATIC:
            if self._static_rows is None:
                self._static_rows = self._checked(self.build(Source(model_for(snapshot))))
            return self._static_rows
        model = model_for(snapshot)
        if self.lifetime is Lifetime.CATALOG:
            key = (self.schema, self.name)
            cached = model.rows.get(key)
            if cached is None:
                cached = model.rows[key] = self._checked(self.build(Source(model)))
            return cached
        return self._checked(self.build(Source(model, session, rc.frame.ctx)))

    def _checked(self, rows: list[tuple]) -> list[tuple]:
        """The builder's rows, with the system columns' values after them."""
        width = len(self.columns)
        assert all(len(r) == width for r in rows), f"{self.schema}.{self.name}: rows must have {width} values"
        if self.relkind == "r":
            extra = (self.oid,)
            return [r + extra for r in rows]
        return rows


# (schema, name) -> relation; filled by the modules that define relations.


def system_relation(schema: str, name: str, oid: int, columns: str, *, lifetime: Lifetime = Lifetime.CATALOG,
                    relkind: str = "v") -> Callable[[Callable[[Source], list[tuple]]], Callable[[Source], list[tuple]]]:
    """Decorator: register `build` as the row builder of schema.name."""

    def register(build: Callable[[Source], list[tuple]]) -> Callable[[Source], list[tuple]]:
        key = (schema, name)
        assert key not in REGISTRY, key
        REGISTRY[key] = SystemRelation(schema, name, oid, parse_columns(columns), build, lifetime, relkind,
                                       stand_in_columns(columns))
        return build

    return register


def empty(_: Source) -> list[tuple]:
    return []
