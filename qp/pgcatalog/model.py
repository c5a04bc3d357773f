"""One catalog snapshot seen as PostgreSQL's catalogs see it.

dsql's catalog (`qp.catalog.stored.CatalogSnapshot`) holds tables with their
columns, indexes and checks inside them. PostgreSQL spreads the same facts
over pg_class (tables *and* indexes), pg_attribute (columns of both),
pg_index, pg_constraint and pg_attrdef, each row with an oid. A
`CatalogModel` is that second view, computed once per snapshot and kept in
the snapshot's `derived` cache (the snapshot never changes, so neither does
its model): every relation (user tables, their indexes, and the system
relations themselves) with its attributes, every constraint and column
default with its oid, and the lookups the reg* types and catalog functions
need (by oid, by name along the search path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from qp.catalog.stored import (
    CatalogSnapshot,
    CheckDef,
    ColumnDef,
    DomainDef,
    ForeignKeyDef,
    IndexDef,
    IndexState,
    SequenceDef,
    TableDef,
    ViewDef,
    expression_key_name,
)
from qp.catalog.temp_keys import TEMP_NAMESPACE_OID, TEMP_SCHEMA_ALIASES, TEMP_SCHEMA_NAME, is_temp_oid
from qp.functions.strings import quote_ident
from qp.pgcatalog import oids
from qp.pgcatalog.registry import REGISTRY
from qp.pgcatalog.search_path import SearchPath, schema_oids, session_search_path
from qp.types import BOOL, INT8, SqlType, type_by_oid

_MODEL_KEY = "pgcatalog.model"

# dsql's relation kinds -> pg_class.relkind
RELKINDS = {"table": "r", "view": "v", "materialized view": "m", "sequence": "S"}


@dataclass(frozen=True)
class Attribute:
    attnum: int
    name: str
    type: SqlType
    not_null: bool = False
    default_sql: str | None = None  # the default's parse tree (JSON), as dsql stores it
    dropped: bool = False
    identity: str = ""  # attidentity: 'a' (ALWAYS), 'd' (BY DEFAULT) or ''
    sequence_oid: int | None = None  # serial and identity columns
    generated: str = ""  # attgenerated: 's' (STORED, its expression in default_sql) or ''
    has_missing: bool = False  # atthasmissing: ADD COLUMN ... DEFAULT gave old rows a value
    domain_oid: int | None = None  # a column of a domain: atttypid (its values are of `type`)


@dataclass(eq=False)
class RelationInfo:
    """One pg_class row's worth: a table, an index or a system relation."""

    oid: int
    name: str
    namespace: int
    relkind: str
    attributes: tuple[Attribute, ...]
    table: TableDef | None = None  # user tables; for indexes, the indexed table
    index: IndexDef | None = None
    system: Any = None  # qp.pgcatalog.relation.SystemRelation
    sequence: SequenceDef | None = None
    view: ViewDef | None = None
    schema_name: str | None = None  # a user object's schema (system relations: from `namespace`)

    @property
    def schema(self) -> str:
        if self.namespace == TEMP_NAMESPACE_OID:
            return TEMP_SCHEMA_NAME
        return self.schema_name or oids.NAMESPACE_NAMES[self.namespace]


@dataclass(eq=False)
class ConstraintInfo:
    oid: int
    name: str
    contype: str  # 'p' primary key, 'u' unique, 'c' check, 'f' foreign key
    table: TableDef
    index: IndexDef | None = None  # p, u: the constraint's index; f: the referenced key's
    check: CheckDef | None = None
    attnums: tuple[int, ...] = ()
    foreign_key: ForeignKeyDef | None = None
    referenced: TableDef | None = None
    ref_attnums: tuple[int, ...] = ()
    # A domain's CHECK: `table` is a stand-in whose one column is the domain's VALUE
    # (DOMAIN_VALUE_NAME in the check's tree), so the expression prints as a table's would.
    domain: DomainDef | None = None

    @property
    def validated(self) -> bool:
        if self.check is not None:
            return self.check.validated
        if self.foreign_key is not None:
            return self.foreign_key.validated
        return True


@dataclass(eq=False)
class DefaultInfo:
    oid: int
    table: TableDef
    attnum: int
    sql: str


@dataclass(eq=False)
class CatalogModel:
    snapshot: CatalogSnapshot
    relations: list[RelationInfo] = field(default_factory=list)
    by_oid: dict[int, RelationInfo] = field(default_factory=dict)
    by_name: dict[tuple[int, str], RelationInfo] = field(default_factory=dict)
    constraints: list[ConstraintInfo] = field(default_factory=list)
    constraint_by_oid: dict[int, ConstraintInfo] = field(default_factory=dict)
    domain_constraints: list[ConstraintInfo] = field(default_factory=list)
    defaults: list[DefaultInfo] = field(default_factory=list)
    # Rows of CATALOG-lifetime relations, keyed by (schema, name).
    rows: dict[tuple[str, str], list[tuple]] = field(default_factory=dict)

    # -- lookups ----------------------------------------------------------------------------------

    def relation(self, oid: int) -> RelationInfo | None:
        return self.by_oid.get(oid)

    def lookup(self, name: str, schema: str | None, search_path: SearchPath) -> RelationInfo | None:
        """The relation `name` names: in `schema`, or the first match along the search path."""
        if schema is not None:
            nsp = TEMP_NAMESPACE_OID if schema in TEMP_SCHEMA_ALIASES else schema_oids(self.snapshot).get(schema)
            return None if nsp is None else self.by_name.get((nsp, name))
        for nsp in (TEMP_NAMESPACE_OID, *search_path.namespace_oids()):  # pg_temp first, as PostgreSQL
            found = self.by_name.get((nsp, name))
            if found is not None:
                return found
        return None

    def is_visible(self, relation: RelationInfo, search_path: SearchPath) -> bool:
        """pg_table_is_visible: the relation is what its bare name finds."""
        return self.lookup(relation.name, None, search_path) is relation

    def indexes_of(self, table_oid: int) -> list[RelationInfo]:
        return [r for r in self.relations if r.relkind == "i" and r.table is not None and r.table.oid == table_oid]

    def referenced_by(self, table_oid: int) -> list[ConstraintInfo]:
        return [c for c in self.constraints if c.referenced is not None and c.referenced.oid == table_oid]


def search_path_of(ctx: Any) -> SearchPath:
    """The session's search path (qp/pgcatalog/search_path.py)."""
    return session_search_path(ctx)


# -- building ---------------------------------------------------------------------------------------


def model_for(snapshot: CatalogSnapshot) -> CatalogModel:
    """The model of `snapshot`, built on first use and kept with the snapshot."""
    model = snapshot.derived.get(_MODEL_KEY)
    if model is None:
        model = _build(snapshot)
        snapshot.derived[_MODEL_KEY] = model
    return model


_SYSTEM_RELATIONS: list[RelationInfo] | None = None


def system_relations() -> list[RelationInfo]:
    """pg_class entries for the system relations themselves (pg_catalog.pg_class, ...)."""
    global _SYSTEM_RELATIONS
    if _SYSTEM_RELATIONS is None:

        out = []
        for (schema, name), relation in sorted(REGISTRY.items(), key=lambda kv: kv[1].oid):
            # PostgreSQL's catalog tables declare their fixed-width columns NOT NULL.
            attributes = tuple(Attribute(i, col, t, relation.relkind == "r" and t.typlen > 0)
                               for i, (col, t) in enumerate(relation.columns, start=1))
            out.append(RelationInfo(relation.oid, name, oids.NAMESPACE_OIDS[schema], relation.relkind, attributes,
                                    system=relation))
        _SYSTEM_RELATIONS = out
    return _SYSTEM_RELATIONS


# The columns PostgreSQL 16 gives a sequence relation.
SEQUENCE_ATTRIBUTES = (Attribute(1, "last_value", INT8, True), Attribute(2, "log_cnt", INT8, True),
                       Attribute(3, "is_called", BOOL, True))


def _namespace(relation: Any, namespaces: dict[str, int]) -> int:
    """A user relation's pg_namespace oid: its schema's (`namespaces`: the snapshot's, by
    name), or the session's temporary schema."""
    if is_temp_oid(relation.oid):
        return TEMP_NAMESPACE_OID
    return namespaces.get(relation.schema, oids.PUBLIC_NAMESPACE)


def _build(snapshot: CatalogSnapshot) -> CatalogModel:
    model = CatalogModel(snapshot)
    relations = list(system_relations())
    taken: set[int] = set()
    sequences = snapshot.sequences_by_oid
    namespaces = schema_oids(snapshot)
    for table in sorted(snapshot.tables.values(), key=lambda t: t.oid):
        namespace = _namespace(table, namespaces)
        attributes = tuple(_attribute(attnum, column, sequences) for attnum, column in enumerate(table.columns, start=1))
        relations.append(RelationInfo(table.oid, table.name, namespace, RELKINDS.get(table.kind, "r"), attributes,
                                      table=table, schema_name=table.schema))
        for attribute in attributes:
            if attribute.default_sql is not None:
                oid = oids.derived_oid("attrdef", table.oid, str(attribute.attnum), taken)
                model.defaults.append(DefaultInfo(oid, table, attribute.attnum, attribute.default_sql))
        for index in table.indexes:
            index_attributes = _index_attributes(table, index)
            relations.append(RelationInfo(index.oid, index.name, namespace, "i", index_attributes, table=table,
                                          index=index, schema_name=table.schema))
            if index.constraint and index.state == IndexState.PUBLIC:
                contype = "p" if index.primary else "u"
                oid = oids.derived_oid("constraint", table.oid, index.name, taken)
                attnums = tuple(p + 1 for p in index.columns)
                model.constraints.append(ConstraintInfo(oid, index.name, contype, table, index=index, attnums=attnums))
        for check in table.checks:
            oid = oids.derived_oid("constraint", table.oid, check.name, taken)
            attnums = _check_attnums(table, check)
            model.constraints.append(ConstraintInfo(oid, check.name, "c", table, check=check, attnums=attnums))
        for fk in table.foreign_keys:
            referenced = snapshot.by_oid.get(fk.ref_oid)
            oid = oids.derived_oid("constraint", table.oid, fk.name, taken)
            key = referenced.unique_index_on(fk.ref_columns) if referenced is not None else None
            model.constraints.append(ConstraintInfo(
                oid, fk.name, "f", table, index=key, attnums=tuple(p + 1 for p in fk.columns), foreign_key=fk,
                referenced=referenced, ref_attnums=tuple(p + 1 for p in fk.ref_columns)))
    for sequence in sorted(snapshot.sequences.values(), key=lambda q: q.oid):
        namespace = _namespace(sequence, namespaces)
        relations.append(RelationInfo(sequence.oid, sequence.name, namespace, "S", SEQUENCE_ATTRIBUTES,
                                      sequence=sequence, schema_name=sequence.schema))
    for view in sorted(snapshot.views.values(), key=lambda v: v.oid):
        namespace = _namespace(view, namespaces)
        attributes = tuple(Attribute(attnum, name, type_by_oid(type_oid).with_typmod(typmod))
                           for attnum, (name, type_oid, typmod) in enumerate(view.columns, start=1))
        relations.append(RelationInfo(view.oid, view.name, namespace, "v", attributes, view=view,
                                      schema_name=view.schema))
    model.relations = relations
    model.by_oid = {r.oid: r for r in relations}
    model.by_name = {(r.namespace, r.name): r for r in relations}
    model.domain_constraints = _domain_constraints(snapshot, taken)
    model.constraint_by_oid = {c.oid: c for c in (*model.constraints, *model.domain_constraints)}
    return model


DOMAIN_VALUE_NAME = "dsql_domain_value"  # VALUE in a domain check, while it is printed


def _domain_constraints(snapshot: CatalogSnapshot, taken: set[int]) -> list[ConstraintInfo]:
    out = []
    for domain in sorted(snapshot.domains.values(), key=lambda d: d.oid):
        stand_in = TableDef(0, domain.name, (ColumnDef(DOMAIN_VALUE_NAME, domain.base_type),), None,
                            schema=domain.schema)  # fmt: skip
        for check in domain.checks:
            tree = _rename_value(json.loads(check.sql))
            oid = oids.derived_oid("constraint", domain.oid, check.name, taken)
            out.append(ConstraintInfo(oid, check.name, "c", stand_in, check=CheckDef(check.name, json.dumps(tree), check.validated),
                                      domain=domain))  # fmt: skip
    return out


def _rename_value(node: Any) -> Any:
    if isinstance(node, dict):
        if "ColumnRef" in node and [f.get("String", {}).get("sval") for f in node["ColumnRef"].get("fields", [])] == [
            "value"
        ]:
            return {"ColumnRef": {**node["ColumnRef"], "fields": [{"String": {"sval": DOMAIN_VALUE_NAME}}]}}
        return {k: _rename_value(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_value(v) for v in node]
    return node


def _attribute(attnum: int, column: Any, sequences: dict[int, SequenceDef]) -> Attribute:
    default_sql = None if column.dropped or _is_null_default(column.default_sql) else column.default_sql
    sequence_oid = getattr(column, "sequence_oid", None)
    identity = getattr(column, "identity", None) or ""
    if sequence_oid is not None and not identity and not column.dropped:
        # serial: PostgreSQL stores the default nextval('<sequence>'::regclass).
        sequence = sequences.get(sequence_oid)
        if sequence is not None:
            default_sql = json.dumps(_nextval_tree(sequence))
    generated = ""
    if getattr(column, "generated", None) is not None and not column.dropped:
        # PostgreSQL keeps a generation expression where a default would be (pg_attrdef).
        default_sql, generated = column.generated, "s"
    has_missing = getattr(column, "missing", None) is not None and not column.dropped
    return Attribute(attnum, column.name, column.type, column.not_null, default_sql, column.dropped, identity,
                     sequence_oid, generated, has_missing, getattr(column, "domain_oid", None))


def _index_attributes(table: TableDef, index: IndexDef) -> tuple[Attribute, ...]:
    """An index's columns: its keys (an expression key named as PostgreSQL names
    it: the function's name, else "expr"), then its INCLUDE columns."""
    out = []
    for k, position in enumerate(index.columns):
        expression = index.expressions[k] if k < len(index.expressions) else None
        if expression is None:
            out.append(Attribute(k + 1, table.columns[position].name, table.columns[position].type))
        else:
            out.append(Attribute(k + 1, expression_key_name(expression[0], expression[3]), index.key_type(table, k)))
    for position in index.include:
        out.append(Attribute(len(out) + 1, table.columns[position].name, table.columns[position].type))
    return tuple(out)


def _nextval_tree(sequence: SequenceDef) -> dict:
    name = f"{quote_ident(sequence.schema)}.{quote_ident(sequence.name)}"
    regclass = {"TypeCast": {"arg": {"A_Const": {"sval": {"sval": name}}},
                             "typeName": {"names": [{"String": {"sval": "regclass"}}]}}}
    return {"FuncCall": {"funcname": [{"String": {"sval": "nextval"}}], "args": [regclass]}}


def _is_null_default(default_sql: str | None) -> bool:
    """PostgreSQL stores no default for DEFAULT NULL (with or without a cast)."""
    if default_sql is None:
        return True
    node = json.loads(default_sql)
    while "TypeCast" in node:
        node = node["TypeCast"].get("arg", {})
    return "A_Const" in node and bool(node["A_Const"].get("isnull"))


def _check_attnums(table: TableDef, check: CheckDef) -> tuple[int, ...]:
    """The columns a check mentions, in the order PostgreSQL's conkey lists them
    (first mention in the expression)."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("ColumnRef")
            if ref is not None:
                fields = ref.get("fields", ())
                if fields and "String" in fields[-1] and fields[-1]["String"]["sval"] not in names:
                    names.append(fields[-1]["String"]["sval"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(check.sql))
    positions = {c.name: i for i, c in enumerate(table.columns, start=1) if not c.dropped}
    return tuple(positions[n] for n in names if n in positions)
