"""The catalog: tables, columns, indexes and constraints, stored in storage.

Every descriptor is a row under the system key space, written by DDL
transactions through the same adjudicators and journal as data, so DDL is
transactional and versioned like everything else:

  sys/cat/ver          the catalog version, bumped by every DDL (so two
                       concurrent DDLs conflict: the later gets OC001)
  sys/cat/oid          the next object id
  sys/cat/rel/<oid>    a table descriptor, indexes and constraints inside it;
                       a view, a sequence or a role (its `kind` says which)

Every DDL on a table also rewrites the table's schema stamp, a key inside the
table's own key range (index id 0). A DML transaction lists the stamp of each
table it writes as a "check" key: if a DDL on that table commits after the
transaction's τ_start, the adjudicator refuses the commit (OC001), because the
writes were planned against a schema that no longer exists. The stamp lives
with the table's rows, so a single-table write transaction is checked by one
adjudicator; only DDL spans the catalog's range and the table's. Keeping a
table's indexes inside its descriptor makes CREATE/DROP INDEX conflict with
concurrent writers the same way.

The QP caches the catalog by version (`CatalogSnapshot`, immutable); storage
tells it when the version it planned with is not the one as of its τ.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from qp.catalog.acl import RECORD_KINDS as PRIVILEGE_RECORD_KINDS
from qp.catalog.acl import PrivilegeState
from qp.errors import SqlError
from qp.types import SqlType, format_type, type_by_oid
from storage import keys

CATALOG_PREFIX = keys.CATALOG_PREFIX
VERSION_KEY = CATALOG_PREFIX + b"ver"
NEXT_OID_KEY = CATALOG_PREFIX + b"oid"
RELATION_PREFIX = CATALOG_PREFIX + b"rel/"
FIRST_USER_OID = 16384

DEFAULT_SCHEMA = "public"

# Which key encoding each type uses; types missing here cannot be in a key
# (DSQL: interval, bytea? (allowed here), json, jsonb, arrays are not indexable).
_KEY_KIND_BY_OID = {
    16: "bool",
    20: "int",
    21: "int",
    23: "int",
    26: "int",
    1082: "int",
    1083: "int",
    1114: "int",
    1184: "int",
    700: "float",
    701: "float",
    1700: "numeric",
    25: "text",
    1043: "text",
    19: "text",
    18: "text",
    1042: "bpchar",
    17: "bytes",
    2950: "uuid",
}


def key_kind(t: SqlType) -> str | None:
    return _KEY_KIND_BY_OID.get(t.oid)


def relation_key(oid: int) -> bytes:
    return RELATION_PREFIX + struct.pack(">I", oid)


# What follows a row key to name its "key stamp": a key that is never stored,
# only adjudicated. FOR KEY SHARE shares it; whatever DSQL says conflicts with
# KEY SHARE (DELETE, an UPDATE of key columns, FOR UPDATE) locks it; an UPDATE
# of other columns leaves it alone, so it does not conflict with a key share.
# 0x01 is no key encoding's tag (storage/keys.py), so no row key has this form.
KEY_STAMP_SUFFIX = b"\x01key"


def key_stamp(row_key: bytes) -> bytes:
    return row_key + KEY_STAMP_SUFFIX


def comment_key(oid: int, subid: int) -> bytes:
    """Where COMMENT ON keeps an object's comment (subid: a column's number, else 0).
    Beside the object's own descriptor, so the catalog reads both in one scan."""
    return relation_key(oid) + b"/comment/" + struct.pack(">I", subid)


class IndexState:
    WRITE_ONLY = "write_only"  # maintained by writers, not yet used by reads (being built)
    PUBLIC = "public"


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: SqlType
    not_null: bool = False
    default_sql: str | None = None
    dropped: bool = False
    # Columns filled from a sequence: serial (default nextval) and identity
    # columns ("a" GENERATED ALWAYS, "d" BY DEFAULT).
    sequence_oid: int | None = None
    identity: str | None = None
    # GENERATED ALWAYS AS (expr) STORED: the expression's parse tree, as JSON.
    # Computed by every INSERT and UPDATE (qp/exec/dml.py) and never a target.
    generated: str | None = None
    # ADD COLUMN ... DEFAULT (PostgreSQL 11's "missing value"): the default as it
    # was when the column was added, which rows written before then (stored
    # shorter than the table) read in this column; None: they read NULL.
    missing: Any = None
    domain_oid: int | None = None  # a column of a domain type: `type` is its base type


@dataclass(frozen=True)
class IndexDef:
    oid: int
    name: str
    index_id: int
    columns: tuple[int, ...]  # positions in TableDef.columns
    unique: bool = False
    primary: bool = False
    state: str = IndexState.PUBLIC
    constraint: bool = False  # created by a PRIMARY KEY / UNIQUE constraint
    # INCLUDE (...) columns: shown by the catalogs only, since every index entry
    # leads to the whole row anyway.
    include: tuple[int, ...] = ()
    nulls_not_distinct: bool = False  # NULLS NOT DISTINCT: a NULL collides with a NULL
    # A partial index (WHERE ...): the predicate's parse tree, as JSON; only rows
    # for which it is true have entries (and are unique among themselves).
    predicate: str | None = None
    # Expression keys: for each key, (parse tree as JSON, type oid, typmod, text
    # as pg_get_indexdef prints it pretty), or None where the key is the column
    # `columns[k]` (-1 for an expression key). Writers compute the values
    # (qp/exec/index_keys.py).
    expressions: tuple[tuple[str, int, int] | None, ...] = ()
    # A primary key being built: the columns whose NOT NULL came with it (taken back if
    # the build fails). None: all of its columns (catalogs written before this field).
    not_null_from_key: tuple[int, ...] | None = None

    @property
    def plain(self) -> bool:
        """Keys that are columns and an entry for every row: what the planner,
        ON CONFLICT inference and foreign keys know how to use."""
        return self.predicate is None and not any(self.expressions)

    def key_type(self, table: TableDef, k: int) -> SqlType:
        expression = self.expressions[k] if k < len(self.expressions) else None
        if expression is not None:
            return type_by_oid(expression[1]).with_typmod(expression[2])
        return table.columns[self.columns[k]].type


def looks_like_function(tree: str) -> bool:
    """Whether an index expression (its parse tree as JSON) reads as a function call:
    PostgreSQL prints it bare in CREATE INDEX and names its index column after the
    function; anything else is parenthesized and named "expr"."""
    return next(iter(json.loads(tree)), "") in ("FuncCall", "CoalesceExpr", "MinMaxExpr", "SQLValueFunction")


def key_text(tree: str, text: str) -> str:
    """An expression key as pg_get_indexdef and "Key (...)" messages show it."""
    return text if looks_like_function(tree) else f"({text})"


def expression_key_name(tree: str, text: str) -> str:
    return text.split("(", 1)[0] if looks_like_function(tree) else "expr"


@dataclass(frozen=True)
class CheckDef:
    name: str
    sql: str  # the expression's parse tree, as JSON
    validated: bool = True  # False: enforced on new rows, existing rows not yet checked (NOT VALID)


# Foreign-key actions, as pg_constraint.confdeltype/confupdtype letters.
FK_NO_ACTION, FK_RESTRICT, FK_CASCADE, FK_SET_NULL, FK_SET_DEFAULT = "a", "r", "c", "n", "d"


@dataclass(frozen=True)
class ForeignKeyDef:
    name: str
    columns: tuple[int, ...]  # positions in this table
    ref_oid: int  # the referenced table
    ref_columns: tuple[int, ...]  # positions in the referenced table (a unique key there)
    on_delete: str = FK_NO_ACTION
    on_update: str = FK_NO_ACTION
    match_full: bool = False
    validated: bool = True


@dataclass(frozen=True)
class TableDef:
    oid: int
    name: str
    columns: tuple[ColumnDef, ...]
    pk: tuple[int, ...] | None  # None: a hidden row id is the key
    indexes: tuple[IndexDef, ...] = ()
    checks: tuple[CheckDef, ...] = ()
    foreign_keys: tuple[ForeignKeyDef, ...] = ()
    schema: str = DEFAULT_SCHEMA
    next_index_id: int = 2
    key_id: int = 0
    kind: str = "table"

    # -- derived, never stored --------------------------------------------

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    @cached_property
    def schema_key(self) -> bytes:
        return keys.table_prefix(self.key_id, keys.SCHEMA_STAMP_INDEX_ID)

    @cached_property
    def primary_prefix(self) -> bytes:
        return keys.table_prefix(self.key_id, keys.PRIMARY_INDEX_ID)

    @cached_property
    def primary_end(self) -> bytes:
        return keys.prefix_end(self.primary_prefix)

    @cached_property
    def pk_encoders(self) -> tuple:
        if self.pk is None:
            return (keys.encode_int,)
        return tuple(keys.encoder_for(key_kind(self.columns[i].type)) for i in self.pk)

    @cached_property
    def missing_values(self) -> tuple | None:
        """What a row stored before each column was added reads there (None: all NULL)."""
        if all(c.missing is None for c in self.columns):
            return None
        return tuple(c.missing for c in self.columns)

    def pad_row(self, row: tuple) -> tuple:
        """A stored row at the table's width: rows written before ADD COLUMN are shorter."""
        width = len(self.columns)
        if len(row) >= width:
            return tuple(row)
        missing = self.missing_values
        return tuple(row) + (missing[len(row) :] if missing is not None else (None,) * (width - len(row)))

    @cached_property
    def live_columns(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if not c.dropped)

    def column_index(self, name: str) -> int | None:
        for i, column in enumerate(self.columns):
            if column.name == name and not column.dropped:
                return i
        return None

    def row_key(self, row: tuple) -> bytes:
        assert self.pk is not None
        pk = self.pk
        if len(pk) == 1:
            value = row[pk[0]]
            return self.primary_prefix + self.pk_encoders[0](value)
        return self.primary_prefix + b"".join(enc(row[i]) for enc, i in zip(self.pk_encoders, pk, strict=True))

    @cached_property
    def key_columns(self) -> frozenset[int]:
        """DSQL's key columns: those of the primary key and of unique indexes that
        are neither partial nor on expressions (what FOR KEY SHARE protects)."""
        out = set(self.pk or ())
        for index in self.indexes:
            if index.unique and index.plain:
                out.update(index.columns)
        return frozenset(out)

    def rowid_keys(self, rowids: list[int]) -> list[bytes]:
        return list(map(self.primary_prefix.__add__, map(keys.encode_int, rowids)))

    def index_prefix(self, index: IndexDef) -> bytes:
        return keys.table_prefix(self.key_id, index.index_id)

    def index_encoders(self, index: IndexDef) -> tuple:
        return self._index_key_parts(index)[1]

    @cached_property
    def _index_parts(self) -> dict:
        return {}

    def _index_key_parts(self, index: IndexDef) -> tuple[bytes, tuple]:
        """(prefix, key encoders) of one of this table's indexes, made once per table
        version: bulk paths (COPY, index builds) ask for them once per row."""
        cache = self._index_parts
        parts = cache.get(id(index))
        if parts is None or parts[0] is not index:  # (the index is kept: its id is not reused)
            encoders = tuple(keys.encoder_for(key_kind(index.key_type(self, k))) for k in range(len(index.columns)))
            parts = cache[id(index)] = (index, keys.table_prefix(self.key_id, index.index_id), encoders)
        return parts[1], parts[2]

    def index_entry_key(self, index: IndexDef, row: tuple, row_key: bytes, values: list | None = None) -> bytes:
        """The index entry of a row (`values`: its key values, when they are
        not plain columns). Unique indexes key on the values alone (so two rows
        with one value collide, in storage and at the adjudicator), except when
        a value is NULL: NULLs are distinct, so the row key makes the entry
        unique, unless the index says NULLS NOT DISTINCT."""
        if values is None:
            values = [row[i] for i in index.columns]
        prefix, encoders = self._index_key_parts(index)
        encoded = keys.encode_values(encoders, values)
        if index.unique and (index.nulls_not_distinct or None not in values):
            return prefix + encoded
        return prefix + encoded + row_key[len(self.primary_prefix) :]

    @cached_property
    def secondary_indexes(self) -> tuple[IndexDef, ...]:
        """Indexes with entries of their own: all but the physical primary key.

        A primary key added to a table created without one (ALTER TABLE ADD
        PRIMARY KEY) is `primary` for clients but stored as a unique index:
        its rows stay keyed by their hidden row id."""
        return tuple(ix for ix in self.indexes if ix.index_id != keys.PRIMARY_INDEX_ID)

    @property
    def primary_index(self) -> IndexDef | None:
        """The PRIMARY KEY constraint's index, physical or not."""
        for index in self.indexes:
            if index.primary:
                return index
        return None

    def unique_index_on(self, columns: tuple[int, ...]) -> IndexDef | None:
        """A unique index whose key is exactly `columns` (in any order)."""
        for index in self.indexes:
            if (
                index.unique
                and index.plain
                and set(index.columns) == set(columns)
                and len(index.columns) == len(columns)
            ):
                return index
        return None

    def constraint_named(self, name: str):
        for index in self.indexes:
            if index.constraint and index.name == name:
                return index
        for check in self.checks:
            if check.name == name:
                return check
        for fk in self.foreign_keys:
            if fk.name == name:
                return fk
        return None

    def index_named(self, name: str) -> IndexDef | None:
        for index in self.indexes:
            if index.name == name:
                return index
        return None

    # -- storage form ------------------------------------------------------

    def to_record(self) -> dict:
        return {
            "kind": self.kind,
            "oid": self.oid,
            "name": self.name,
            "schema": self.schema,
            "key_id": self.key_id,
            "columns": [
                _column_record(c) for c in self.columns
            ],
            "pk": list(self.pk) if self.pk is not None else None,
            "indexes": [_index_record(ix) for ix in self.indexes],
            "checks": [[c.name, c.sql, c.validated] for c in self.checks],
            "foreign_keys": [
                [fk.name, list(fk.columns), fk.ref_oid, list(fk.ref_columns), fk.on_delete, fk.on_update,
                 fk.match_full, fk.validated]
                for fk in self.foreign_keys
            ],
            "next_index_id": self.next_index_id,
        }

    @staticmethod
    def from_record(record: dict) -> TableDef:
        columns = tuple(_column_from_record(c) for c in record["columns"])
        indexes = tuple(_index_from_record(r) for r in record["indexes"])
        pk = record["pk"]
        return TableDef(
            oid=record["oid"],
            name=record["name"],
            schema=record["schema"],
            key_id=record["key_id"],
            columns=columns,
            pk=tuple(pk) if pk is not None else None,
            indexes=indexes,
            checks=tuple(CheckDef(*c) for c in record["checks"]),
            foreign_keys=tuple(
                ForeignKeyDef(name, tuple(cols), ref, tuple(ref_cols), on_delete, on_update, full, valid)
                for name, cols, ref, ref_cols, on_delete, on_update, full, valid in record.get("foreign_keys", ())
            ),
            next_index_id=record["next_index_id"],
            kind=record.get("kind", "table"),
        )


def _column_record(c: ColumnDef) -> list:
    """A column as a list; the fields added later go in a trailing dict, and only
    when set, so catalogs written before them read back with their defaults."""
    record: list = [c.name, c.type.oid, c.type.typmod, c.not_null, c.default_sql, c.dropped, c.sequence_oid,
                    c.identity]  # fmt: skip
    extra = {}
    if c.generated is not None:
        extra["generated"] = c.generated
    if c.missing is not None:
        extra["missing"] = c.missing
    if c.domain_oid is not None:
        extra["domain_oid"] = c.domain_oid
    if extra:
        record.append(extra)
    return record


def _column_from_record(record: list) -> ColumnDef:
    name, oid, typmod, *rest = record
    extra = rest.pop() if rest and isinstance(rest[-1], dict) else {}
    return ColumnDef(name, type_by_oid(oid).with_typmod(typmod), *rest, **extra)


def _index_record(ix: IndexDef) -> list:
    """An index as a list; the fields added later go in a trailing dict, and only
    when set, so catalogs written before them read back with their defaults."""
    record: list = [ix.oid, ix.name, ix.index_id, list(ix.columns), ix.unique, ix.primary, ix.state, ix.constraint]
    extra: dict = {}
    if ix.include:
        extra["include"] = list(ix.include)
    if ix.nulls_not_distinct:
        extra["nulls_not_distinct"] = True
    if ix.predicate is not None:
        extra["predicate"] = ix.predicate
    if any(ix.expressions):
        extra["expressions"] = [list(e) if e is not None else None for e in ix.expressions]
    if ix.not_null_from_key is not None:
        extra["not_null_from_key"] = list(ix.not_null_from_key)
    if extra:
        record.append(extra)
    return record


def _index_from_record(record: list) -> IndexDef:
    oid, name, index_id, cols, unique, primary, state, constraint, *rest = record
    extra = rest[0] if rest else {}
    return IndexDef(
        oid, name, index_id, tuple(cols), unique, primary, state, constraint,
        include=tuple(extra.get("include", ())),
        nulls_not_distinct=extra.get("nulls_not_distinct", False),
        predicate=extra.get("predicate"),
        expressions=tuple(tuple(e) if e is not None else None for e in extra.get("expressions", ())),
        not_null_from_key=tuple(extra["not_null_from_key"]) if "not_null_from_key" in extra else None,
    )  # fmt: skip


@dataclass(frozen=True)
class ViewDef:
    """A view: a stored query (its parse tree as JSON) expanded where it is named.

    Views are read-only, as in DSQL. `depends_on` lists the relations the query
    names, so dropping one of them is refused (or cascades to the view)."""

    oid: int
    name: str
    query: str  # the SelectStmt parse tree, as JSON
    sql: str  # the query as the user wrote it
    columns: tuple[tuple[str, int, int], ...]  # (name, type oid, typmod)
    depends_on: tuple[int, ...] = ()
    schema: str = DEFAULT_SCHEMA
    # The schemas its unqualified names were looked up in at CREATE (None: made
    # before dsql kept it; such views read public, where all objects were then).
    search_path: tuple[str, ...] | None = None
    kind: str = "view"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]

    def to_record(self) -> dict:
        record = {"kind": "view", "oid": self.oid, "name": self.name, "schema": self.schema, "query": self.query,
                  "sql": self.sql, "columns": [list(c) for c in self.columns], "depends_on": list(self.depends_on)}
        if self.search_path is not None:
            record["search_path"] = list(self.search_path)
        return record

    @staticmethod
    def from_record(record: dict) -> ViewDef:
        path = record.get("search_path")
        return ViewDef(record["oid"], record["name"], record["query"], record["sql"],
                       tuple(tuple(c) for c in record["columns"]), tuple(record["depends_on"]), record["schema"],
                       tuple(path) if path is not None else None)


@dataclass(frozen=True)
class DomainDef:
    """A domain (CREATE DOMAIN): a base type with NOT NULL, a default and CHECKs.

    Values of the domain are values of the base type (clients see the base
    type, as PostgreSQL sends it); its constraints are checked wherever a value
    becomes the domain's: a cast to it, and a column of it on INSERT and UPDATE
    (qp/bind/domains.py). CHECKs keep their parse trees, VALUE naming the value."""

    oid: int
    name: str
    base_oid: int
    base_typmod: int
    not_null: bool = False
    default_sql: str | None = None
    checks: tuple[CheckDef, ...] = ()
    schema: str = DEFAULT_SCHEMA
    kind: str = "domain"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    @property
    def base_type(self) -> SqlType:
        return type_by_oid(self.base_oid).with_typmod(self.base_typmod)

    def to_record(self) -> dict:
        return {"kind": "domain", "oid": self.oid, "name": self.name, "schema": self.schema,
                "base_oid": self.base_oid, "base_typmod": self.base_typmod, "not_null": self.not_null,
                "default_sql": self.default_sql,
                "checks": [[c.name, c.sql] if c.validated else [c.name, c.sql, False] for c in self.checks]}  # fmt: skip

    @staticmethod
    def from_record(record: dict) -> DomainDef:
        return DomainDef(
            record["oid"], record["name"], record["base_oid"], record["base_typmod"], record["not_null"],
            record["default_sql"], tuple(CheckDef(*c) for c in record["checks"]), record["schema"],
        )  # fmt: skip


@dataclass(frozen=True)
class StatisticsDef:
    """An extended statistics object (CREATE STATISTICS): which columns of a table
    it covers and which kinds it asks for ('d' ndistinct, 'f' dependencies, 'm'
    mcv). Kept and shown (pg_statistic_ext); ANALYZE decides what it gathers."""

    oid: int
    name: str
    table_oid: int
    columns: tuple[int, ...]  # positions in the table
    kinds: tuple[str, ...]
    schema: str = DEFAULT_SCHEMA
    target: int = -1  # ALTER STATISTICS ... SET STATISTICS (stxstattarget; -1: the default)
    kind: str = "statistics"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    def to_record(self) -> dict:
        return {"kind": "statistics", "oid": self.oid, "name": self.name, "schema": self.schema,
                "table_oid": self.table_oid, "columns": list(self.columns), "kinds": list(self.kinds),
                "target": self.target}  # fmt: skip

    @staticmethod
    def from_record(record: dict) -> StatisticsDef:
        return StatisticsDef(record["oid"], record["name"], record["table_oid"], tuple(record["columns"]),
                             tuple(record["kinds"]), record["schema"], record.get("target", -1))  # fmt: skip


@dataclass(frozen=True)
class FunctionDef:
    """A function written in SQL (CREATE FUNCTION ... LANGUAGE sql), as pg_proc keeps it.

    `params` lists every declared parameter as (name, mode, type oid), modes
    being pg_proc.proargmodes' letters (i in, o out, b inout, t a TABLE column);
    the inputs (i, b, v: VARIADIC) make the signature. `defaults` holds the parse trees (as
    JSON) of the trailing inputs' DEFAULTs. The body is kept as text (`src`,
    prosrc) for the `AS '...'` form, or as the SQL-standard body's parse trees
    (`sql_body`: a JSON list of statements; a RETURN is a one-item SELECT).
    Functions are keyed by oid: one name may have several (overloading)."""

    oid: int
    name: str
    params: tuple[tuple[str, str, int], ...]
    return_oid: int
    returns_set: bool = False
    src: str = ""
    sql_body: str | None = None
    defaults: tuple[str, ...] = ()
    volatility: str = "v"  # provolatile: i, s, v
    strict: bool = False
    parallel: str = "u"  # proparallel: s, r, u
    security_definer: bool = False
    owner: str = "admin"
    schema: str = DEFAULT_SCHEMA
    kind: str = "function"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    @property
    def inputs(self) -> tuple[tuple[str, str, int], ...]:
        return tuple(p for p in self.params if p[1] in ("i", "b", "v"))

    @property
    def variadic(self) -> bool:
        """The last input is VARIADIC (an array the call's trailing arguments fill)."""
        return bool(self.params) and any(p[1] == "v" for p in self.params)

    @property
    def input_oids(self) -> tuple[int, ...]:
        return tuple(p[2] for p in self.inputs)

    @property
    def outputs(self) -> tuple[tuple[str, str, int], ...]:
        return tuple(p for p in self.params if p[1] in ("o", "b", "t"))

    def to_record(self) -> dict:
        record = {"kind": "function", "oid": self.oid, "name": self.name, "schema": self.schema,
                  "params": [list(p) for p in self.params], "return_oid": self.return_oid,
                  "returns_set": self.returns_set, "src": self.src, "volatility": self.volatility,
                  "strict": self.strict, "owner": self.owner}  # fmt: skip
        if self.sql_body is not None:
            record["sql_body"] = self.sql_body
        if self.defaults:
            record["defaults"] = list(self.defaults)
        if self.parallel != "u":
            record["parallel"] = self.parallel
        if self.security_definer:
            record["security_definer"] = True
        return record

    @staticmethod
    def from_record(record: dict) -> FunctionDef:
        return FunctionDef(
            record["oid"], record["name"], tuple(tuple(p) for p in record["params"]), record["return_oid"],
            record.get("returns_set", False), record.get("src", ""), record.get("sql_body"),
            tuple(record.get("defaults", ())), record.get("volatility", "v"), record.get("strict", False),
            record.get("parallel", "u"), record.get("security_definer", False), record.get("owner", "admin"),
            record.get("schema", DEFAULT_SCHEMA),
        )  # fmt: skip


SEQUENCE_STATE_PREFIX = keys.NS_SYSTEM + b"seq/"


@dataclass(frozen=True)
class SequenceDef:
    """A sequence. Its state (the next value not yet handed to any session)
    is a row of its own under `state_key`, advanced a cached block at a time
    by transactions of its own, so nextval is not rolled back with the
    transaction that called it (as in PostgreSQL)."""

    oid: int
    name: str
    type_oid: int  # int2, int4 or int8
    start: int
    increment: int
    min_value: int
    max_value: int
    cache: int
    cycle: bool = False
    owned_by: tuple[int, int] | None = None  # (table oid, column position)
    schema: str = DEFAULT_SCHEMA
    kind: str = "sequence"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    @cached_property
    def state_key(self) -> bytes:
        return SEQUENCE_STATE_PREFIX + struct.pack(">I", self.oid)

    def to_record(self) -> dict:
        return {
            "kind": "sequence", "oid": self.oid, "name": self.name, "schema": self.schema,
            "type_oid": self.type_oid, "start": self.start, "increment": self.increment,
            "min_value": self.min_value, "max_value": self.max_value, "cache": self.cache,
            "cycle": self.cycle, "owned_by": list(self.owned_by) if self.owned_by else None,
        }

    @staticmethod
    def from_record(record: dict) -> SequenceDef:
        owned = record.get("owned_by")
        return SequenceDef(
            record["oid"], record["name"], record["type_oid"], record["start"], record["increment"],
            record["min_value"], record["max_value"], record["cache"], record["cycle"],
            tuple(owned) if owned else None, record["schema"],
        )


@dataclass(frozen=True)
class SchemaDef:
    """A schema made by CREATE SCHEMA. The system's schemas (pg_catalog,
    information_schema, pg_toast) and `public` are not stored: they always
    exist, with PostgreSQL's fixed oids (qp/pgcatalog/oids.py). Objects name
    their schema by name (`TableDef.schema`, ...), so renaming a schema
    rewrites the descriptors of what it holds (qp/ddl/schemas.py)."""

    oid: int
    name: str
    owner: str  # the owning role's name
    kind: str = "schema"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    def to_record(self) -> dict:
        return {"kind": "schema", "oid": self.oid, "name": self.name, "owner": self.owner}

    @staticmethod
    def from_record(record: dict) -> SchemaDef:
        return SchemaDef(record["oid"], record["name"], record["owner"])


BOOTSTRAP_SUPERUSER_OID = 10  # PostgreSQL's oid for the role initdb creates
BOOTSTRAP_SUPERUSER = "admin"  # DSQL's predefined role


@dataclass(frozen=True)
class RoleDef:
    """A role (CREATE ROLE/USER). The password is kept only as a SCRAM-SHA-256
    verifier, as PostgreSQL stores it. Roles belong to the cluster, not to a
    schema, and are versioned with the rest of the catalog, so a role created or
    altered by a committed DDL is what the next connection authenticates against."""

    oid: int
    name: str
    login: bool = False
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    inherit: bool = True
    replication: bool = False
    bypassrls: bool = False
    connection_limit: int = -1
    password: str | None = None
    valid_until: int | None = None  # a timestamptz (µs since 2000-01-01 UTC)
    kind: str = "role"

    @cached_property
    def descriptor_key(self) -> bytes:
        return relation_key(self.oid)

    def to_record(self) -> dict:
        return {
            "kind": "role", "oid": self.oid, "name": self.name, "login": self.login,
            "superuser": self.superuser, "createdb": self.createdb, "createrole": self.createrole,
            "inherit": self.inherit, "replication": self.replication, "bypassrls": self.bypassrls,
            "connection_limit": self.connection_limit, "password": self.password, "valid_until": self.valid_until,
        }

    @staticmethod
    def from_record(record: dict) -> RoleDef:
        fields = {k: v for k, v in record.items() if k != "kind"}
        return RoleDef(**fields)


@dataclass
class CatalogSnapshot:
    """The catalog at one version: immutable once built, shared by sessions."""

    version: int
    tables: dict[tuple[str, str], TableDef] = field(default_factory=dict)
    sequences: dict[tuple[str, str], SequenceDef] = field(default_factory=dict)
    views: dict[tuple[str, str], ViewDef] = field(default_factory=dict)
    roles: dict[str, RoleDef] = field(default_factory=dict)
    domains: dict[tuple[str, str], DomainDef] = field(default_factory=dict)
    comments: dict[tuple[int, int], str] = field(default_factory=dict)  # (oid, subid) -> COMMENT ON text
    statistics: dict[tuple[str, str], StatisticsDef] = field(default_factory=dict)
    schemas: dict[str, SchemaDef] = field(default_factory=dict)  # CREATE SCHEMA's, by name
    functions: dict[int, FunctionDef] = field(default_factory=dict)  # by oid: names are overloaded
    next_oid: int = FIRST_USER_OID
    # 0 for a shared snapshot; a session's temporary objects laid over one get a
    # serial number of their own (qp/catalog/temp_overlay.py).
    overlay: int = 0
    # Owners, ACLs, role memberships and default ACLs (qp/catalog/acl.py).
    privileges: PrivilegeState = field(default_factory=lambda: PrivilegeState({}, [], []))
    # Per-snapshot caches of things derived from descriptors (bound defaults,
    # compiled checks); keyed by table oid. Safe because the snapshot never changes.
    derived: dict = field(default_factory=dict)

    @cached_property
    def by_oid(self) -> dict[int, TableDef]:
        return {t.oid: t for t in self.tables.values()}

    @cached_property
    def referencing(self) -> dict[int, list[tuple[TableDef, ForeignKeyDef]]]:
        """For each table oid, the foreign keys (of any table) that reference it."""
        out: dict[int, list[tuple[TableDef, ForeignKeyDef]]] = {}
        for table in self.tables.values():
            for fk in table.foreign_keys:
                out.setdefault(fk.ref_oid, []).append((table, fk))
        return out

    @cached_property
    def indexes_by_name(self) -> dict[tuple[str, str], tuple[TableDef, IndexDef]]:
        out = {}
        for table in self.tables.values():
            for index in table.indexes:
                out[(table.schema, index.name)] = (table, index)
        return out

    def find_table(self, name: str, schema: str | None = None) -> TableDef | None:
        return self.tables.get((schema or DEFAULT_SCHEMA, name))

    def relation_name_taken(self, name: str, schema: str = DEFAULT_SCHEMA) -> bool:
        return (
            (schema, name) in self.tables
            or (schema, name) in self.indexes_by_name
            or (schema, name) in self.sequences
            or (schema, name) in self.views
        )

    def find_view(self, name: str, schema: str | None = None) -> ViewDef | None:
        return self.views.get((schema or DEFAULT_SCHEMA, name))

    def dependent_views(self, oid: int) -> list[ViewDef]:
        return [v for v in self.views.values() if oid in v.depends_on]

    def find_sequence(self, name: str, schema: str | None = None) -> SequenceDef | None:
        return self.sequences.get((schema or DEFAULT_SCHEMA, name))

    def live_statistics(self) -> list[tuple[StatisticsDef, TableDef]]:
        """Statistics objects whose table and columns still exist (PostgreSQL drops
        them with either), each with its table."""
        out = []
        for stats in self.statistics.values():
            table = self.by_oid.get(stats.table_oid)
            if table is not None and not any(table.columns[i].dropped for i in stats.columns):
                out.append((stats, table))
        return out

    @cached_property
    def domains_by_oid(self) -> dict[int, DomainDef]:
        return {d.oid: d for d in self.domains.values()}

    @cached_property
    def functions_by_name(self) -> dict[tuple[str, str], list[FunctionDef]]:
        out: dict[tuple[str, str], list[FunctionDef]] = {}
        for function in sorted(self.functions.values(), key=lambda f: f.oid):
            out.setdefault((function.schema, function.name), []).append(function)
        return out

    @cached_property
    def sequences_by_oid(self) -> dict[int, SequenceDef]:
        return {s.oid: s for s in self.sequences.values()}

    @staticmethod
    def from_rows(version: int, rows: list[tuple[bytes, object]], next_oid: int) -> CatalogSnapshot:
        snapshot = CatalogSnapshot(version=version, next_oid=next_oid)
        for _, record in rows:
            if record.get("kind") == "sequence":
                sequence = SequenceDef.from_record(record)
                snapshot.sequences[(sequence.schema, sequence.name)] = sequence
                continue
            if record.get("kind") == "view":
                view = ViewDef.from_record(record)
                snapshot.views[(view.schema, view.name)] = view
                continue
            if record.get("kind") == "statistics":
                stats = StatisticsDef.from_record(record)
                snapshot.statistics[(stats.schema, stats.name)] = stats
                continue
            if record.get("kind") in PRIVILEGE_RECORD_KINDS:
                snapshot.privileges.add_record(record)
                continue
            if record.get("kind") == "comment":
                snapshot.comments[(record["oid"], record["subid"])] = record["text"]
                continue
            if record.get("kind") == "domain":
                domain = DomainDef.from_record(record)
                snapshot.domains[(domain.schema, domain.name)] = domain
                continue
            if record.get("kind") == "schema":
                schema = SchemaDef.from_record(record)
                snapshot.schemas[schema.name] = schema
                continue
            if record.get("kind") == "function":
                function = FunctionDef.from_record(record)
                snapshot.functions[function.oid] = function
                continue
            if record.get("kind") == "role":
                role = RoleDef.from_record(record)
                snapshot.roles[role.name] = role
                continue
            table = TableDef.from_record(record)
            snapshot.tables[(table.schema, table.name)] = table
        return snapshot


def require_key_type(column: ColumnDef, what: str) -> str:
    kind = key_kind(column.type)
    if kind is None:

        raise SqlError(
            "0A000", f'{what} on column "{column.name}" of type {format_type(column.type)} is not supported'
        )
    return kind
