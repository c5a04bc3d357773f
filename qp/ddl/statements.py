"""DDL: statements that change the catalog.

A DDL statement reads the catalog as of its transaction's τ_start, builds
new descriptors, and writes them (with a bumped catalog version) into the
transaction's buffer; the commit goes through the adjudicators like any
other, so DDL is transactional and two concurrent DDLs conflict (OC001).

DSQL's rules apply: one DDL statement per transaction, and no DDL and DML in
one transaction (checked by the session).

CREATE INDEX on a table with rows is an online build in three steps, each its
own transaction, so writers are never blocked:
  1. the index is added in state write_only: every writer from now on
     maintains it, but no reader uses it;
  2. backfill: batches of rows are read at a snapshot and their entries
     written, each batch depending on its rows (a row changed concurrently
     makes the batch conflict and retry at a new snapshot);
  3. the index becomes public (readers may use it).
A unique build that finds a duplicate drops the index and fails with 23505.
ADD CONSTRAINT (PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY) works the same way:
added NOT VALID or write-only, validated against existing rows, then
published (`finish_constraint`) or taken back.

Dropping a table or index removes its descriptor; its keys are never reused
(object ids only grow), so the rows left behind are unreachable.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.bind.collation import check_collatable, resolve_collation
from qp.bind.context import BindContext, QueryLevel
from qp.bind.dml import truncate_targets
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.query import QueryBinder
from qp.bind.scope import Scope, table_scope
from qp.catalog.stored import (
    FIRST_USER_OID,
    NEXT_OID_KEY,
    VERSION_KEY,
    CatalogSnapshot,
    CheckDef,
    ColumnDef,
    ForeignKeyDef,
    IndexDef,
    IndexState,
    TableDef,
    ViewDef,
    require_key_type,
)
from qp.ddl import roles
from qp.ddl.constraints import foreign_key_from, validate_rows
from qp.ddl.naming import check_column, choose_name, constraint_names, name_addition
from qp.ddl.sequences import sequence_options, with_owner
from qp.errors import SqlError
from qp.parse.parser import node_kind, string_list
from qp.pgcatalog.search_path import USER_SCHEMA, creation_schema, session_search_path
from qp.types import format_type, resolve_type_name, text_encoder
from storage import keys

COLUMNS_PER_TABLE_MAX = 255
COLUMNS_PER_KEY_MAX = 8
INDEXES_PER_TABLE_MAX = 24
TABLES_MAX = 1000
NAME_BYTES_MAX = 63


class DdlResult:
    """What a DDL statement did, and what must run after it commits.

    `followups` are the later steps of online changes, run by the session in
    their own transactions: ("build_index", table oid, index name) and
    ("validate", table oid, constraint name) (which also covers NOT NULL of a
    new primary key's columns)."""

    def __init__(self, tag: str, notices: list[str] | None = None, build_index: tuple[int, str] | None = None,
                 followups: list[tuple] | None = None) -> None:
        self.tag = tag
        self.notices = notices or []
        self.followups = list(followups or [])
        if build_index is not None:
            self.followups.append(("build_index", *build_index))
        self.sequence_oid: int | None = None
        self.object_id: int | None = None  # the index a build job is about
        self.build_index = build_index  # (table oid, index name): run the online build after commit


async def _catalog_counters(txn) -> tuple[int, int]:
    version, next_oid = await txn.get([VERSION_KEY, NEXT_OID_KEY], catalog_check=False)
    return version or 0, next_oid or FIRST_USER_OID


def _write_catalog(txn, version: int, next_oid: int | None, changes: list[tuple[TableDef, dict | None]],
                   catalog: CatalogSnapshot) -> None:
    """Write changed descriptors (None drops), their schema stamps, and the next catalog version.

    Key ranges the change abandons (a dropped table's or index's, a truncated
    table's old range) go with the commit as dropped ranges: storage removes
    their keys once no snapshot can read them any more (storage/node.py)."""
    for table, record in changes:
        txn.put(table.descriptor_key, record)
        txn.put(table.schema_key, version + 1)
        txn.drop_ranges(abandoned_ranges(catalog.by_oid.get(table.oid), table if record is not None else None))
    _bump_version(txn, version, next_oid)


def abandoned_ranges(old: TableDef | None, new: TableDef | None) -> list[tuple[bytes, bytes]]:
    """The key ranges of `old` that `new` (None: the table is dropped) no longer uses."""
    if old is None:
        return []
    if new is None or new.key_id != old.key_id:
        return [keys.table_range(old.key_id)]
    kept = {ix.index_id for ix in new.indexes}
    return [keys.index_range(old.key_id, ix.index_id) for ix in old.indexes
            if ix.index_id not in kept and ix.index_id != keys.PRIMARY_INDEX_ID]


def _distinct_index_constraints(constraints: list[list]) -> list[tuple[str | None, tuple[int, ...], bool]]:
    """PostgreSQL's transformIndexConstraints: the primary key first, then the others
    in order, each dropped if an earlier one has the same columns (in the same
    order), handing its name to that one if it had none."""
    primary = next((c for c in constraints if c[2]), None)
    final = [list(primary)] if primary is not None else []
    for constraint in constraints:
        if constraint is primary:
            continue
        for prior in final:
            if tuple(prior[1]) == tuple(constraint[1]):
                if prior[0] is None:
                    prior[0] = constraint[0]
                break
        else:
            final.append(list(constraint))
    return [(n, tuple(cols), is_primary) for n, cols, is_primary in final]


def _check_name(name: str) -> str:
    if len(name.encode()) > NAME_BYTES_MAX:
        # PostgreSQL truncates identifiers to 63 bytes with a NOTICE; we refuse
        # rather than silently rename.
        raise SqlError("42622", f'identifier "{name}" is too long (at most {NAME_BYTES_MAX} bytes)')
    return name


# The columns PostgreSQL gives every table (heap.c's SysAtt): a user column may
# not take their names, which clients can select from any PostgreSQL table.
SYSTEM_COLUMN_NAMES = frozenset({"tableoid", "cmax", "xmax", "cmin", "xmin", "ctid"})


def _check_not_system_column(name: str) -> None:
    if name in SYSTEM_COLUMN_NAMES:
        raise SqlError("42701", f'column name "{name}" conflicts with a system column name')


def _check_collation(column_def: dict, column_type: Any) -> None:
    """A column's COLLATE clause: an existing collation (all sort as C) on a collatable type."""
    clause = column_def.get("collClause")
    if clause is None:
        return
    location = clause.get("location")
    try:
        check_collatable(column_type, unknown_ok=False)
        name = resolve_collation(string_list(clause.get("collname")))
    except SqlError as exc:
        exc.location = location
        raise
    if name not in ("default", "C"):
        # dsql keeps no collation per column. "C" and the default sort the same and never
        # conflict (the default yields to any other); two different non-default column
        # collations meeting in a comparison are an error in PostgreSQL that dsql could not see.
        raise SqlError("0A000", f'column collation "{name}" is not supported: dsql columns use the default '
                                'collation (C); use COLLATE "C" or none')


def _schema_of(relation: dict) -> str | None:
    """The schema a statement names (None: unqualified); dsql's objects are all in public."""
    schema = relation.get("schemaname")
    if schema not in (None, USER_SCHEMA):
        raise SqlError("3F000", f'schema "{schema}" does not exist')
    return schema


def _search_schema(schema: str | None, bc: BindContext | None) -> str | None:
    """Where to find an existing object named `[schema.]name`: its schema, or for an
    unqualified name public if the session's search path reaches it, else None
    (nothing is found, as PostgreSQL finds nothing outside the path)."""
    if schema is not None or bc is None:
        return schema or USER_SCHEMA
    return session_search_path(bc.eval_ctx).user_schema


def _creation_schema(relation: dict, bc: BindContext | None) -> str:
    """The schema CREATE puts a relation in: the one named, else the search path's first
    (3F000 when it has none); dsql creates only in public."""
    if bc is None:
        return _schema_of(relation) or USER_SCHEMA
    return creation_schema(relation.get("schemaname"), relation["relname"], bc.eval_ctx)


# -- CREATE TABLE ------------------------------------------------------------------------

async def create_table(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    relation = body["relation"]
    name = _check_name(relation["relname"])
    if relation.get("relpersistence") == "t":
        raise SqlError("0A000", "TEMPORARY or TEMP table not supported")
    schema = _creation_schema(relation, bc)
    for unsupported, message in (
        ("partspec", "PARTITION BY clause not supported for CREATE TABLE"),
        ("inhRelations", "INHERITS is not supported"),
        ("ofTypename", "CREATE TABLE OF is not supported"),
        ("partbound", "PARTITION OF is not supported"),
    ):
        if body.get(unsupported):
            raise SqlError("0A000", message)
    if catalog.relation_name_taken(name, schema):
        if body.get("if_not_exists"):
            return DdlResult("CREATE TABLE", [f'relation "{name}" already exists, skipping'])
        raise SqlError("42P07", f'relation "{name}" already exists')
    if len(catalog.tables) >= TABLES_MAX:
        raise SqlError("54000", f"creating more than {TABLES_MAX} tables not allowed")

    columns: list[ColumnDef] = []
    pk: tuple[int, ...] | None = None
    # PRIMARY KEY and UNIQUE, in the order written: [name or None, columns, primary]
    index_constraints: list[list] = []
    checks: list[tuple[str | None, dict]] = []
    not_null: set[int] = set()
    table_constraints: list[dict] = []
    foreign: list[tuple[dict, int | None]] = []
    sequenced: list[tuple[int, tuple | None]] = []  # serial and identity columns
    for element in body.get("tableElts", ()):
        kind = node_kind(element)
        if kind == "ColumnDef":
            cd = element["ColumnDef"]
            col_name = _check_name(cd["colname"])
            if any(c.name == col_name for c in columns):
                raise SqlError("42701", f'column "{col_name}" specified more than once')
            col_type, serial = _column_type(cd["typeName"])
            _check_collation(cd, col_type)
            default = None
            identity = None
            index = len(columns)
            if cd.get("is_not_null"):
                not_null.add(index)
            for con_node in cd.get("constraints", ()):
                con = con_node["Constraint"]
                contype = con.get("contype")
                if contype == "CONSTR_NOTNULL":
                    not_null.add(index)
                elif contype == "CONSTR_NULL":
                    not_null.discard(index)
                elif contype == "CONSTR_DEFAULT":
                    default = con["raw_expr"]
                elif contype == "CONSTR_PRIMARY":
                    if pk is not None:
                        raise SqlError("42P16", f'multiple primary keys for table "{name}" are not allowed')
                    pk = (index,)
                    index_constraints.append([con.get("conname"), pk, True])
                elif contype == "CONSTR_UNIQUE":
                    index_constraints.append([con.get("conname"), (index,), False])
                elif contype == "CONSTR_CHECK":
                    checks.append((con.get("conname"), con["raw_expr"]))
                elif contype == "CONSTR_IDENTITY":
                    if serial or identity is not None:
                        raise SqlError("42601", f'multiple identity specifications for column "{col_name}"')
                    identity = (con.get("generated_when", "a"), con.get("options", []))
                elif contype == "CONSTR_GENERATED":
                    raise SqlError("0A000", "generated columns are not supported yet")
                elif contype == "CONSTR_FOREIGN":
                    foreign.append((con, index))
                elif contype in ("CONSTR_ATTR_DEFERRABLE", "CONSTR_ATTR_NOT_DEFERRABLE",
                                 "CONSTR_ATTR_DEFERRED", "CONSTR_ATTR_IMMEDIATE"):
                    continue
                else:
                    raise SqlError("0A000", f"constraint {contype} is not supported")
            if (serial or identity) and default is not None:
                raise SqlError("42601", f'both default and identity specified for column "{col_name}" of table "{name}"')
            if identity is not None and col_type.oid not in (20, 21, 23):
                raise SqlError("22023", "identity column type must be smallint, integer, or bigint")
            if serial or identity:
                not_null.add(index)
                sequenced.append((index, identity))
            columns.append(ColumnDef(col_name, col_type, False, json.dumps(default) if default else None,
                                     identity=identity[0] if identity else None))
        elif kind == "Constraint":
            table_constraints.append(element["Constraint"])
        elif kind == "TableLikeClause":
            raise SqlError("0A000", "CREATE TABLE ... LIKE is not supported yet")
        else:
            raise SqlError("0A000", f"{kind} in CREATE TABLE is not supported")
    for column in columns:  # after the duplicate check, as PostgreSQL's CheckAttributeNamesTypes
        _check_not_system_column(column.name)
    if not columns:
        raise SqlError("0A000", "tables without columns are not supported")
    if len(columns) > COLUMNS_PER_TABLE_MAX:
        raise SqlError("54011", f"tables can have at most {COLUMNS_PER_TABLE_MAX} columns")
    positions = {c.name: i for i, c in enumerate(columns)}

    def key_columns(con: dict) -> tuple[int, ...]:
        out = []
        for key_name in string_list(con.get("keys")):
            if key_name not in positions:
                raise SqlError("42703", f'column "{key_name}" named in key does not exist')
            out.append(positions[key_name])
        return tuple(out)

    for con in table_constraints:
        contype = con.get("contype")
        if contype == "CONSTR_PRIMARY":
            if pk is not None:
                raise SqlError("42P16", f'multiple primary keys for table "{name}" are not allowed')
            pk = key_columns(con)
            index_constraints.append([con.get("conname"), pk, True])
        elif contype == "CONSTR_UNIQUE":
            index_constraints.append([con.get("conname"), key_columns(con), False])
        elif contype == "CONSTR_CHECK":
            checks.append((con.get("conname"), con["raw_expr"]))
        elif contype == "CONSTR_FOREIGN":
            foreign.append((con, None))
        elif contype == "CONSTR_EXCLUSION":
            raise SqlError("0A000", "exclusion constraints are not supported")
        else:
            raise SqlError("0A000", f"table constraint {contype} is not supported")
        if con.get("including"):
            pass  # INCLUDE columns: every index here covers the whole row anyway
    if pk is not None:
        if len(pk) > COLUMNS_PER_KEY_MAX:
            raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
        not_null.update(pk)
        for i in pk:
            require_key_type(columns[i], "a primary key")
    columns = [replace(c, not_null=(i in not_null)) for i, c in enumerate(columns)]

    version, next_oid = await _catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    next_oid = oid + 1
    # Names are chosen in PostgreSQL's order (qp/ddl/naming.py): sequences of serial
    # and identity columns, checks, the index-backed constraints (the primary
    # key first), then foreign keys; each avoids what exists by then.
    new_relations = {name}
    schema_constraints = constraint_names(catalog, schema)
    own_constraints: set[str] = set()

    def relation_taken(candidate: str) -> bool:
        return candidate in new_relations or catalog.relation_name_taken(candidate, schema)

    sequence_names = []
    for column_index, _ in sequenced:
        seq_name = choose_name(name, columns[column_index].name, "seq", relation_taken)
        new_relations.add(seq_name)
        sequence_names.append(seq_name)

    # Bind defaults and checks now, so a bad one fails CREATE TABLE (as in PG).
    table = TableDef(oid=oid, name=name, columns=tuple(columns), pk=pk, schema=schema,
                     key_id=keys.table_key_id_for(oid))
    scope = table_scope(table, bc)
    for column in columns:
        if column.default_sql is not None:
            binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
            expr = binder.bind(json.loads(column.default_sql))
            if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
                raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
            coerce(expr, column.type, bc, "assignment", column.name)
    check_defs = []
    for con_name, raw in checks:
        binder = ExprBinder(bc, scope, QueryLevel(what="check constraints"))
        binder.bind_bool(raw, "CHECK")
        if con_name is None:
            column_name = check_column(n for n in _column_names_in(raw) if n in positions)
            con_name = choose_name(name, column_name, "check",
                                   lambda c: c in own_constraints or c in schema_constraints)
        elif con_name in own_constraints:
            raise SqlError("42710", f'check constraint "{con_name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        check_defs.append(CheckDef(con_name, json.dumps(raw)))

    indexes: list[IndexDef] = []
    next_index_id = 2
    for con_name, cols, primary in _distinct_index_constraints(index_constraints):
        for i in cols:
            require_key_type(columns[i], "a primary key" if primary else "a unique constraint")
        if len(cols) > COLUMNS_PER_KEY_MAX:
            raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
        if con_name is None:
            addition = None if primary else name_addition(columns[i].name for i in cols)
            con_name = choose_name(name, addition, "pkey" if primary else "key",
                                   lambda c: relation_taken(c) or c in schema_constraints)
        elif relation_taken(con_name):
            raise SqlError("42P07", f'relation "{con_name}" already exists')
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        new_relations.add(con_name)
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        if primary:
            indexes.append(IndexDef(next_oid, con_name, keys.PRIMARY_INDEX_ID, cols, True, True,
                                    IndexState.PUBLIC, True))
        else:
            indexes.append(IndexDef(next_oid, con_name, next_index_id, cols, True, False, IndexState.PUBLIC, True))
            next_index_id += 1
        next_oid += 1
    table = replace(table, indexes=tuple(indexes), next_index_id=next_index_id, checks=tuple(check_defs))
    fks = []
    for con, column_index in foreign:
        attr_names = [columns[column_index].name] if column_index is not None else string_list(con.get("fk_attrs"))
        con_name = con.get("conname")
        if con_name is None:
            con_name = choose_name(name, name_addition(attr_names), "fkey", lambda c: c in schema_constraints)
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        fk = foreign_key_from(con, table, column_index, catalog, con_name)
        fks.append(replace(fk, validated=True))  # a new table has no rows to check
    table = replace(table, foreign_keys=tuple(fks))
    # Each serial or identity column gets a sequence of its own, owned by it.
    sequences = []
    columns = list(table.columns)
    for (column_index, identity), seq_name in zip(sequenced, sequence_names, strict=True):
        column = columns[column_index]
        definition, _, _ = sequence_options(
            identity[1] if identity else [], name=seq_name, oid=next_oid, type_oid=column.type.oid,
            require_cache=identity is not None,
        )
        sequences.append(with_owner(definition, oid, column_index))
        columns[column_index] = replace(column, sequence_oid=next_oid)
        next_oid += 1
    table = replace(table, columns=tuple(columns))
    _write_catalog(txn, version, next_oid, [(table, table.to_record())], catalog)
    for sequence in sequences:
        txn.put(sequence.descriptor_key, sequence.to_record())
    return DdlResult("CREATE TABLE")


_SERIAL_TYPES = {"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
                 "smallserial": "int2", "serial2": "int2"}


def _column_type(type_name: dict):
    """A column's type, and whether it was written as serial (an integer filled from a sequence)."""
    names = string_list(type_name.get("names"))
    if len(names) == 1 and names[0] in _SERIAL_TYPES and not type_name.get("arrayBounds"):
        return resolve_type_name([_SERIAL_TYPES[names[0]]], [], 0), True
    typmods = []
    for mod in type_name.get("typmods", ()):
        const = mod.get("A_Const", {})
        if "ival" not in const:
            raise SqlError("42601", "type modifiers must be simple constants")
        typmods.append(const["ival"].get("ival", 0))
    dims = len(type_name.get("arrayBounds", ()))
    t = resolve_type_name(names, typmods, dims)
    if t.category == "P" or t.oid in (2249, 2278, 705):
        raise SqlError("42P16", f"column cannot be of type {format_type(t)}")
    if t.is_array:
        raise SqlError("0A000", "array columns are not supported (DSQL: arrays are runtime-only types)")
    return t, False


def _column_names_in(node: Any) -> list[str]:
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if "ColumnRef" in n:
                fields = string_list(n["ColumnRef"].get("fields"))
                if fields:
                    out.append(fields[-1])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    return out


# -- DROP ------------------------------------------------------------------------------------

async def drop(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    kind = body.get("removeType")
    if kind == "OBJECT_SEQUENCE":
        return await drop_sequences(body, txn, catalog, bc)
    if kind == "OBJECT_VIEW":
        return await drop_views(body, txn, catalog, bc)
    if kind not in ("OBJECT_TABLE", "OBJECT_INDEX"):
        what = (kind or "OBJECT_UNKNOWN").removeprefix("OBJECT_").lower()
        raise SqlError("0A000", f"DROP {what.upper()} is not supported")
    noun = "table" if kind == "OBJECT_TABLE" else "index"
    notices = []
    changes: list[tuple[TableDef, dict | None]] = []
    changed_tables: dict[int, TableDef] = {}
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        name = names[-1]
        schema = names[-2] if len(names) > 1 else None
        if schema not in (None, "public"):
            if body.get("missing_ok"):
                notices.append(f'schema "{schema}" does not exist, skipping')
                continue
            raise SqlError("3F000", f'schema "{schema}" does not exist')
        where = _search_schema(schema, bc)
        if kind == "OBJECT_TABLE":
            table = catalog.find_table(name, where) if where else None
            if table is None or table.oid in changed_tables:
                if where and catalog.indexes_by_name.get((where, name)) and table is None:
                    raise SqlError("42809", f'"{name}" is not a table', hint="Use DROP INDEX to remove an index.")
                if body.get("missing_ok"):
                    notices.append(f'table "{name}" does not exist, skipping')
                    continue
                raise SqlError("42P01", f'table "{name}" does not exist')
            changes.append((table, None))
            changed_tables[table.oid] = table
        else:
            found = catalog.indexes_by_name.get((where, name)) if where else None
            if found is None:
                if where and catalog.find_table(name, where) is not None:
                    raise SqlError("42809", f'"{name}" is not an index', hint="Use DROP TABLE to remove a table.")
                if body.get("missing_ok"):
                    notices.append(f'index "{name}" does not exist, skipping')
                    continue
                raise SqlError("42704", f'index "{name}" does not exist')
            table, index = found
            table = changed_tables.get(table.oid, table)
            if index.constraint:
                constraint = index.name  # a constraint and its index share their name
                raise SqlError(
                    "2BP01",
                    f"cannot drop index {index.name} because constraint {constraint} on table {table.name} requires it",
                    hint=f"You can drop constraint {constraint} on table {table.name} instead.",
                )
            table = replace(table, indexes=tuple(ix for ix in table.indexes if ix.oid != index.oid))
            changed_tables[table.oid] = table
            changes = [(t, v) for t, v in changes if t.oid != table.oid]
            changes.append((table, table.to_record()))
    dropped = {t.oid for t, v in changes if v is None}
    views = _views_to_drop(catalog, dropped, body.get("behavior") == "DROP_CASCADE",
                           {oid: f"table {catalog.by_oid[oid].name}" for oid in dropped}, notices)
    for view in views:
        txn.put(view.descriptor_key, None)
    for oid in list(dropped):
        for child, fk in catalog.referencing.get(oid, ()):
            if child.oid in dropped:
                continue
            parent_name = catalog.by_oid[oid].name
            if body.get("behavior") != "DROP_CASCADE":
                raise SqlError(
                    "2BP01",
                    f"cannot drop table {parent_name} because other objects depend on it",
                    detail=f"constraint {fk.name} on table {child.name} depends on table {parent_name}",
                    hint="Use DROP ... CASCADE to drop the dependent objects too.",
                )
            notices.append(f"drop cascades to constraint {fk.name} on table {child.name}")
            current = changed_tables.get(child.oid, child)
            current = replace(current, foreign_keys=tuple(f for f in current.foreign_keys if f.name != fk.name))
            changed_tables[child.oid] = current
            changes = [(t, v) for t, v in changes if t.oid != child.oid]
            changes.append((current, current.to_record()))
    if changes or views:
        version, _ = await _catalog_counters(txn)
        _write_catalog(txn, version, None, changes, catalog)
        for sequence in catalog.sequences.values():  # sequences owned by dropped tables go with them
            if sequence.owned_by and sequence.owned_by[0] in dropped:
                txn.put(sequence.descriptor_key, None)
                txn.put(sequence.state_key, None)
    tag = "DROP TABLE" if noun == "table" else "DROP INDEX"
    return DdlResult(tag, notices)


# -- CREATE INDEX ------------------------------------------------------------------------------

async def create_index(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None, *,
                       asynchronous: bool = False) -> DdlResult:
    relation = body["relation"]
    where = _search_schema(_schema_of(relation), bc)
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
    if body.get("accessMethod", "btree") not in ("btree", "btree_index"):
        raise SqlError("0A000", "USING not supported for CREATE INDEX")
    if "whereClause" in body:
        raise SqlError("0A000", "partial indexes are not supported yet")
    if body.get("nulls_not_distinct"):
        raise SqlError("0A000", "NULLS NOT DISTINCT is not supported yet")
    columns: list[int] = []
    for elem_node in body.get("indexParams", ()):
        elem = elem_node["IndexElem"]
        if "expr" in elem:
            raise SqlError("0A000", "expression indexes are not supported yet")
        if elem.get("ordering", "SORTBY_DEFAULT") not in ("SORTBY_DEFAULT", "SORTBY_ASC") or elem.get(
            "nulls_ordering", "SORTBY_NULLS_DEFAULT"
        ) not in ("SORTBY_NULLS_DEFAULT", "SORTBY_NULLS_LAST"):
            raise SqlError("0A000", "specifying sort order not supported for index keys")
        name = elem["name"]
        position = table.column_index(name)
        if position is None:
            raise SqlError("42703", f'column "{name}" does not exist')
        if elem.get("collation"):  # every collation sorts as C: only checked
            check_collatable(table.columns[position].type, unknown_ok=False)
            resolve_collation(string_list(elem["collation"]))
        require_key_type(table.columns[position], "an index")
        columns.append(position)
    if len(columns) > COLUMNS_PER_KEY_MAX:
        raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
    if len(table.secondary_indexes) >= INDEXES_PER_TABLE_MAX:
        raise SqlError("54000", f"more than {INDEXES_PER_TABLE_MAX} indexes per table are not allowed")
    index_name = body.get("idxname")
    if index_name:
        _check_name(index_name)
        if catalog.relation_name_taken(index_name, table.schema):
            if body.get("if_not_exists"):
                return DdlResult("CREATE INDEX", [f'relation "{index_name}" already exists, skipping'])
            raise SqlError("42P07", f'relation "{index_name}" already exists')
    else:
        index_name = choose_name(table.name, name_addition(table.columns[i].name for i in columns), "idx",
                                 lambda c: catalog.relation_name_taken(c, table.schema))
    version, next_oid = await _catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    index = IndexDef(oid, index_name, table.next_index_id, tuple(columns), bool(body.get("unique")), False,
                     IndexState.WRITE_ONLY)
    updated = replace(table, indexes=table.indexes + (index,), next_index_id=table.next_index_id + 1)
    _write_catalog(txn, version, oid + 1, [(updated, updated.to_record())], catalog)
    result = DdlResult("CREATE INDEX", build_index=(table.oid, index_name))
    result.object_id = oid
    return result


async def backfill_batch(txn, table: TableDef, index: IndexDef, start: bytes, batch_rows: int, frame_ctx) -> bytes | None:
    """Write the index entries of up to `batch_rows` rows from `start`; returns where to resume."""

    resume = None
    count = 0
    width = len(table.columns)

    def duplicated(row: tuple) -> SqlError:
        names = ", ".join(table.columns[i].name for i in index.columns)
        values = ", ".join(text_encoder(table.columns[i].type, frame_ctx)(row[i]).decode() for i in index.columns)
        return SqlError("23505", f'could not create unique index "{index.name}"',
                        detail=f"Key ({names})=({values}) is duplicated.")

    async for page in txn.scan(start, table.primary_end, limit=batch_rows):
        await checkpoint_if_due()  # (cluster/timeslice.py) a batch is many rows of work
        entries: list[tuple[bytes, bytes, tuple]] = []
        for row_key, row in page:
            if len(row) < width:
                row = row + (None,) * (width - len(row))  # rows from before ADD COLUMN
            entries.append((table.index_entry_key(index, row, row_key), row_key, row))
        if index.unique:
            # One read for the whole page: entries already there (written by
            # concurrent writers while the index is write-only, or by an
            # earlier batch) that point at another live row are duplicates.
            checked = [(e, k, r) for e, k, r in entries if not any(r[i] is None for i in index.columns)]
            seen: dict[bytes, bytes] = {}
            for entry, row_key, row in checked:
                if seen.setdefault(entry, row_key) != row_key:
                    raise duplicated(row)
            await checkpoint_if_due()
            existing = await txn.get([e for e, _, _ in checked]) if checked else []
            clashes = [(other, row) for (_, row_key, row), other in zip(checked, existing, strict=True)
                       if other is not None and other != row_key]
            if clashes:
                others = await txn.get([other for other, _ in clashes])
                for (_, row), other_row in zip(clashes, others, strict=True):
                    if other_row is not None:
                        raise duplicated(row)
        for entry, row_key, _ in entries:
            txn.put(entry, row_key)
            txn.depend_on(row_key)
            count += 1
            resume = row_key
    txn.depend_on(table.schema_key)
    if count < batch_rows or resume is None:
        return None
    return resume + b"\x00"


# -- views ------------------------------------------------------------------------------------------

async def create_view(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, sql: str) -> DdlResult:
    relation = body["view"]
    name = _check_name(relation["relname"])
    if relation.get("relpersistence") == "t":
        raise SqlError("0A000", "TEMPORARY or TEMP view not supported")
    schema = _creation_schema(relation, bc)
    if body.get("withCheckOption", "NO_CHECK_OPTION") != "NO_CHECK_OPTION":
        raise SqlError("0A000", "WITH CHECK OPTION is not supported: views are read-only")
    query_node = body["query"]
    query = QueryBinder(bc).bind_query(query_node)
    names = list(query.names)
    aliases = string_list(body.get("aliases"))
    if len(aliases) > len(names):
        raise SqlError("42601", "CREATE VIEW specifies more column names than columns")
    names[: len(aliases)] = aliases
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise SqlError("42701", f'column "{duplicate}" specified more than once')
    types = query.output_types()
    columns = tuple((n, t.oid, t.typmod) for n, t in zip(names, types, strict=True))
    existing = catalog.find_view(name, schema)
    if existing is not None and not body.get("replace"):
        raise SqlError("42P07", f'relation "{name}" already exists')
    if existing is None and catalog.relation_name_taken(name, schema):
        raise SqlError("42P07" if not body.get("replace") else "42809", f'relation "{name}" already exists'
                       if not body.get("replace") else f'"{name}" is not a view')
    version, next_oid = await _catalog_counters(txn)
    if existing is not None:
        for (old_name, old_type, _), (new_name, new_type, _) in zip(existing.columns, columns, strict=False):
            if old_name != new_name:
                raise SqlError("42P16", f'cannot change name of view column "{old_name}" to "{new_name}"')
            if old_type != new_type:
                raise SqlError("42P16", f'cannot change data type of view column "{old_name}"')
        if len(columns) < len(existing.columns):
            raise SqlError("42P16", "cannot drop columns from view")
        oid = existing.oid
    else:
        oid = max(next_oid, catalog.next_oid)
    depends = tuple(sorted(o for o in bc.tables_read if o != oid))
    view = ViewDef(oid, name, json.dumps(query_node), sql, columns, depends, schema)
    txn.put(view.descriptor_key, view.to_record())
    _bump_version(txn, version, None if existing else oid + 1)
    return DdlResult("CREATE VIEW")


async def truncate_swap(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    """TRUNCATE outside a transaction block: each table moves to a new, empty key range.

    PostgreSQL's TRUNCATE gives a table a new relfilenode; here the table gets
    a new `key_id`, so it is empty at once whatever its size (DSQL's row limit
    bounds rows written, and this writes none). It is a catalog change like
    DDL: both the old and the new schema stamps are written, so a concurrent
    writer of the table (which depends on the old stamp) fails with OC001
    instead of committing rows into the abandoned range, and readers at older
    snapshots still see the rows. The old range's versions are left to
    storage, as a dropped table's are.
    """

    targets = truncate_targets(bc, body)
    version, next_oid = await _catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    changes = []
    for tc in targets:
        table = tc.table
        txn.put(table.schema_key, version + 1)  # the old stamp: writers of the old range conflict
        moved = replace(table, key_id=keys.table_key_id_for(next_oid))
        next_oid += 1  # key ids come from oids, so no table ever had this one
        changes.append((moved, moved.to_record()))
    _write_catalog(txn, version, next_oid, changes, catalog)
    return DdlResult("TRUNCATE TABLE")


def _bump_version(txn, version: int, next_oid: int | None) -> None:
    txn.put(VERSION_KEY, version + 1)
    if next_oid is not None:
        txn.put(NEXT_OID_KEY, next_oid)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1


def _views_to_drop(catalog: CatalogSnapshot, oids: set[int], cascade: bool, what: dict[int, str],
                   notices: list[str]) -> list[ViewDef]:
    """Views that depend on `oids` (transitively): refused unless CASCADE."""
    out: list[ViewDef] = []
    pending = list(oids)
    seen = set(oids)
    while pending:
        oid = pending.pop()
        for view in catalog.dependent_views(oid):
            if view.oid in seen:
                continue
            if not cascade:
                raise SqlError(
                    "2BP01", f"cannot drop {what[oid]} because other objects depend on it",
                    detail=f"view {view.name} depends on {what[oid]}",
                    hint="Use DROP ... CASCADE to drop the dependent objects too.",
                )
            notices.append(f"drop cascades to view {view.name}")
            seen.add(view.oid)
            what[view.oid] = f"view {view.name}"
            out.append(view)
            pending.append(view.oid)
    return out


async def drop_views(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    notices: list[str] = []
    chosen: list[ViewDef] = []
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        where = _search_schema(None, bc) if len(names) == 1 else names[-2]
        view = catalog.find_view(names[-1], where) if where == USER_SCHEMA else None
        if view is None:
            if where == USER_SCHEMA and catalog.find_table(names[-1], where) is not None:
                raise SqlError("42809", f'"{names[-1]}" is not a view', hint="Use DROP TABLE to remove a table.")
            if body.get("missing_ok"):
                notices.append(f'view "{names[-1]}" does not exist, skipping')
                continue
            raise SqlError("42P01", f'view "{names[-1]}" does not exist')
        chosen.append(view)
    what = {v.oid: f"view {v.name}" for v in chosen}
    chosen += _views_to_drop(catalog, {v.oid for v in chosen}, body.get("behavior") == "DROP_CASCADE", what, notices)
    if chosen:
        version, _ = await _catalog_counters(txn)
        for view in chosen:
            txn.put(view.descriptor_key, None)
        _bump_version(txn, version, None)
    return DdlResult("DROP VIEW", notices)


# -- sequences ---------------------------------------------------------------------------------------

async def create_sequence(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    relation = body["sequence"]
    name = _check_name(relation["relname"])
    if relation.get("relpersistence") == "t":
        raise SqlError("0A000", "TEMPORARY sequences are not supported")
    schema = _creation_schema(relation, bc)
    if catalog.relation_name_taken(name, schema):
        if body.get("if_not_exists"):
            return DdlResult("CREATE SEQUENCE", [f'relation "{name}" already exists, skipping'])
        raise SqlError("42P07", f'relation "{name}" already exists')
    version, next_oid = await _catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    definition, _, owned = sequence_options(body.get("options", []), name=name, oid=oid)
    if owned and owned != ["none"]:
        definition = _owner(definition, owned, catalog, bc)
    txn.put(definition.descriptor_key, definition.to_record())
    txn.put(VERSION_KEY, version + 1)
    txn.put(NEXT_OID_KEY, oid + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    return DdlResult("CREATE SEQUENCE")


def _owner(definition, owned: list[str], catalog: CatalogSnapshot, bc: BindContext | None):
    if len(owned) < 2:
        raise SqlError("42601", "invalid OWNED BY option", hint="Specify OWNED BY table.column or OWNED BY NONE.")
    where = _search_schema(owned[-3] if len(owned) > 2 else None, bc)
    table = catalog.find_table(owned[-2], where) if where == USER_SCHEMA else None
    if table is None:
        raise SqlError("42P01", f'relation "{owned[-2]}" does not exist')
    column = table.column_index(owned[-1])
    if column is None:
        raise SqlError("42703", f'column "{owned[-1]}" of relation "{table.name}" does not exist')
    return with_owner(definition, table.oid, column)


async def alter_sequence(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    relation = body["sequence"]
    where = _search_schema(_schema_of(relation), bc)
    sequence = catalog.find_sequence(relation["relname"], where) if where else None
    if sequence is None:
        if body.get("missing_ok"):
            return DdlResult("ALTER SEQUENCE", [f'relation "{relation["relname"]}" does not exist, skipping'])
        raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
    definition, restart, owned = sequence_options(body.get("options", []), name=sequence.name, oid=sequence.oid,
                                                 base=sequence)
    if owned is not None:
        definition = replace(definition, owned_by=None) if owned == ["none"] else _owner(definition, owned, catalog, bc)
    version, _ = await _catalog_counters(txn)
    txn.put(definition.descriptor_key, definition.to_record())
    if restart is not None:
        txn.put(definition.state_key, definition.start if restart == -1 else restart)
    txn.put(VERSION_KEY, version + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    result = DdlResult("ALTER SEQUENCE")
    result.sequence_oid = sequence.oid
    return result


async def drop_sequences(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    notices = []
    dropping = []
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        where = _search_schema(None, bc) if len(names) == 1 else names[-2]
        sequence = catalog.find_sequence(names[-1], where) if where == USER_SCHEMA else None
        if sequence is None:
            if body.get("missing_ok"):
                notices.append(f'sequence "{names[-1]}" does not exist, skipping')
                continue
            raise SqlError("42P01", f'sequence "{names[-1]}" does not exist')
        for table in catalog.tables.values():
            for column in table.columns:
                if column.sequence_oid == sequence.oid and not column.dropped:
                    raise SqlError(
                        "2BP01", f"cannot drop sequence {sequence.name} because other objects depend on it",
                        detail=f"default value for column {column.name} of table {table.name} depends on sequence "
                        f"{sequence.name}",
                        hint="Use DROP ... CASCADE to drop the dependent objects too.",
                    )
        dropping.append(sequence)
    if dropping:
        version, _ = await _catalog_counters(txn)
        for sequence in dropping:
            txn.put(sequence.descriptor_key, None)
            txn.put(sequence.state_key, None)
        txn.put(VERSION_KEY, version + 1)
        txn.catalog_version_written = version + 1
        txn.ddl_count += 1
    return DdlResult("DROP SEQUENCE", notices)


# -- ALTER TABLE ---------------------------------------------------------------------------------

async def alter_table(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext,
                      asynchronous: bool = False) -> DdlResult:
    relation = body["relation"]
    where = _search_schema(_schema_of(relation), bc)
    if body.get("objtype", "OBJECT_TABLE") != "OBJECT_TABLE":
        raise SqlError("0A000", "ALTER of this object type is not supported")
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        if body.get("missing_ok"):
            return DdlResult("ALTER TABLE", [f'relation "{relation["relname"]}" does not exist, skipping'])
        raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
    notices: list[str] = []
    followups: list[tuple] = []
    version, next_oid = await _catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    others: dict[int, TableDef] = {}  # other tables changed (a DROP CONSTRAINT never needs this yet)
    for cmd_node in body.get("cmds", ()):
        cmd = cmd_node["AlterTableCmd"]
        subtype = cmd.get("subtype")
        if subtype == "AT_AddConstraint":
            table, next_oid = _add_constraint(table, cmd["def"]["Constraint"], catalog, bc, next_oid, followups)
        elif subtype == "AT_DropConstraint":
            table = _drop_constraint(table, cmd, catalog, notices)
        elif subtype == "AT_ValidateConstraint":
            constraint = table.constraint_named(cmd["name"])
            if constraint is None:
                raise SqlError("42704", f'constraint "{cmd["name"]}" of relation "{table.name}" does not exist')
            if isinstance(constraint, (CheckDef, ForeignKeyDef)) and not constraint.validated:
                if asynchronous:  # DSQL's ALTER TABLE ASYNC ... VALIDATE CONSTRAINT: a job
                    followups.append(("revalidate", table.oid, constraint.name))
                    continue
                # Writers already enforce it, so one pass over the rows at this
                # snapshot covers every row it has not seen.

                await validate_rows(txn, catalog, table, constraint, bc.eval_ctx, bc)
                table = _set_validated(table, constraint.name)
        else:
            table = _alter_one(table, cmd, catalog, bc, notices)
    _write_catalog(txn, version, next_oid, [(table, table.to_record()), *[(t, t.to_record()) for t in others.values()]], catalog)
    return DdlResult("ALTER TABLE", notices, followups=followups)


def _add_constraint(table: TableDef, con: dict, catalog: CatalogSnapshot, bc: BindContext, next_oid: int,
                    followups: list[tuple]) -> tuple[TableDef, int]:
    """Add a constraint NOT VALID / write-only; `followups` validate and publish it."""
    contype = con.get("contype")
    name = con.get("conname")
    if name and table.constraint_named(name) is not None:
        raise SqlError("42710", f'constraint "{name}" for relation "{table.name}" already exists')

    def columns_of() -> tuple[int, ...]:
        out = []
        for column_name in string_list(con.get("keys")):
            index = table.column_index(column_name)
            if index is None:
                raise SqlError("42703", f'column "{column_name}" named in key does not exist')
            out.append(index)
        if len(out) > COLUMNS_PER_KEY_MAX:
            raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
        return tuple(out)

    schema_constraints = constraint_names(catalog, table.schema) | {
        c.name for c in (*table.checks, *table.foreign_keys)} | {ix.name for ix in table.indexes if ix.constraint}

    def fresh_name(name2: str | None, label: str, *, relation: bool = False) -> str:
        """PostgreSQL's default name (qp/ddl/naming.py); index-backed ones avoid relations too."""
        def taken(candidate: str) -> bool:
            return candidate in schema_constraints or (
                relation and catalog.relation_name_taken(candidate, table.schema))
        return choose_name(table.name, name2, label, taken)

    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
        if con.get("indexname"):
            raise SqlError("0A000", "ADD CONSTRAINT ... USING INDEX is not supported")
        cols = columns_of()
        for i in cols:
            require_key_type(table.columns[i], "a primary key" if contype == "CONSTR_PRIMARY" else "a unique constraint")
        primary = contype == "CONSTR_PRIMARY"
        if primary and (table.pk is not None or table.primary_index is not None):
            raise SqlError("42P16", f'multiple primary keys for table "{table.name}" are not allowed')
        if name and catalog.relation_name_taken(name, table.schema):
            raise SqlError("42P07", f'relation "{name}" already exists')
        index_name = name or fresh_name(
            None if primary else name_addition(table.columns[i].name for i in cols), "pkey" if primary else "key",
            relation=True,
        )
        index = IndexDef(next_oid, index_name, table.next_index_id, cols, True, primary, IndexState.WRITE_ONLY, True)
        columns = list(table.columns)
        if primary:
            for i in cols:  # enforced by writers from now on; existing rows are checked next
                columns[i] = replace(columns[i], not_null=True)
            followups.append(("validate", table.oid, index_name))
        followups.append(("build_index", table.oid, index_name))
        table = replace(table, columns=tuple(columns), indexes=table.indexes + (index,),
                        next_index_id=table.next_index_id + 1)
        return table, next_oid + 1
    if contype == "CONSTR_CHECK":
        scope = table_scope(table, bc)
        ExprBinder(bc, scope, QueryLevel(what="check constraints")).bind_bool(con["raw_expr"], "CHECK")
        if not name:
            used = [n for n in _column_names_in(con["raw_expr"]) if table.column_index(n) is not None]
            name = fresh_name(check_column(used), "check")
        check = CheckDef(name, json.dumps(con["raw_expr"]), validated=False)
        if not con.get("skip_validation"):
            followups.append(("validate", table.oid, name))
        return replace(table, checks=table.checks + (check,)), next_oid
    if contype == "CONSTR_FOREIGN":
        fk_name = name or fresh_name(name_addition(string_list(con.get("fk_attrs"))), "fkey")
        fk = replace(foreign_key_from(con, table, None, catalog, fk_name), validated=False)
        if not con.get("skip_validation"):
            followups.append(("validate", table.oid, fk_name))
        return replace(table, foreign_keys=table.foreign_keys + (fk,)), next_oid
    raise SqlError("0A000", f"ALTER TABLE ADD CONSTRAINT {contype.removeprefix('CONSTR_')} is not supported")


def _drop_constraint(table: TableDef, cmd: dict, catalog: CatalogSnapshot, notices: list[str]) -> TableDef:
    name = cmd["name"]
    constraint = table.constraint_named(name)
    if constraint is None:
        if cmd.get("missing_ok"):
            notices.append(f'constraint "{name}" of relation "{table.name}" does not exist, skipping')
            return table
        raise SqlError("42704", f'constraint "{name}" of relation "{table.name}" does not exist')
    if isinstance(constraint, IndexDef):
        if constraint.index_id == keys.PRIMARY_INDEX_ID:
            raise SqlError("0A000", "dropping a table's physical primary key is not supported")
        for child, fk in catalog.referencing.get(table.oid, ()):
            if set(fk.ref_columns) == set(constraint.columns):
                raise SqlError(
                    "2BP01", f"cannot drop constraint {name} on table {table.name} because other objects depend on it",
                    detail=f"constraint {fk.name} on table {child.name} depends on index {name}",
                )
        return replace(table, indexes=tuple(ix for ix in table.indexes if ix.oid != constraint.oid))
    if isinstance(constraint, CheckDef):
        return replace(table, checks=tuple(c for c in table.checks if c.name != name))
    return replace(table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != name))


def _set_validated(table: TableDef, name: str) -> TableDef:
    return replace(
        table,
        checks=tuple(replace(c, validated=True) if c.name == name else c for c in table.checks),
        foreign_keys=tuple(replace(f, validated=True) if f.name == name else f for f in table.foreign_keys),
    )


async def finish_constraint(txn, catalog: CatalogSnapshot, table_oid: int, name: str, failed: bool) -> None:
    """The last step of an online ADD CONSTRAINT: mark it valid, or take it back."""
    table = catalog.by_oid[table_oid]
    constraint = table.index_named(name) or table.constraint_named(name)
    if constraint is None:
        return
    if failed:
        if isinstance(constraint, IndexDef):
            table = replace(table, indexes=tuple(ix for ix in table.indexes if ix.oid != constraint.oid))
            if constraint.primary:  # the NOT NULL came with the key
                columns = list(table.columns)
                for i in constraint.columns:
                    columns[i] = replace(columns[i], not_null=False)
                table = replace(table, columns=tuple(columns))
        elif isinstance(constraint, CheckDef):
            table = replace(table, checks=tuple(c for c in table.checks if c.name != name))
        else:
            table = replace(table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != name))
    elif isinstance(constraint, IndexDef):
        table = replace(table, indexes=tuple(replace(ix, state=IndexState.PUBLIC) if ix.oid == constraint.oid else ix
                                             for ix in table.indexes))
    else:
        table = _set_validated(table, name)
    version, _ = await _catalog_counters(txn)
    _write_catalog(txn, version, None, [(table, table.to_record())], catalog)


def _alter_one(table: TableDef, cmd: dict, catalog: CatalogSnapshot, bc: BindContext, notices: list[str]) -> TableDef:
    subtype = cmd.get("subtype")
    name = cmd.get("name")
    if subtype == "AT_AddColumn":
        cd = cmd["def"]["ColumnDef"]
        col_name = _check_name(cd["colname"])
        _check_not_system_column(col_name)
        if table.column_index(col_name) is not None:
            if cmd.get("missing_ok"):
                notices.append(f'column "{col_name}" of relation "{table.name}" already exists, skipping')
                return table
            raise SqlError("42701", f'column "{col_name}" of relation "{table.name}" already exists')
        if cd.get("constraints") or cd.get("is_not_null"):
            # DSQL adds bare columns only; existing rows are not rewritten.
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN with constraint not supported")
        if len(table.live_columns) >= COLUMNS_PER_TABLE_MAX:
            raise SqlError("54011", f"tables can have at most {COLUMNS_PER_TABLE_MAX} columns")
        col_type, serial = _column_type(cd["typeName"])
        if serial:
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN with constraint not supported")
        _check_collation(cd, col_type)
        column = ColumnDef(col_name, col_type)
        return replace(table, columns=table.columns + (column,))
    if subtype in ("AT_DropColumn", "AT_AlterColumnType") and catalog.dependent_views(table.oid):
        view = catalog.dependent_views(table.oid)[0]
        raise SqlError("2BP01", f"cannot alter table {table.name} because other objects depend on it",
                       detail=f"view {view.name} depends on table {table.name}",
                       hint="Drop the view first (DROP VIEW), then recreate it.")
    if subtype == "AT_DropColumn":
        if name in SYSTEM_COLUMN_NAMES:
            raise SqlError("0A000", f'cannot drop system column "{name}"')
        index = table.column_index(name)
        if index is None:
            if cmd.get("missing_ok"):
                notices.append(f'column "{name}" of relation "{table.name}" does not exist, skipping')
                return table
            raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
        if table.pk is not None and index in table.pk:
            raise SqlError("0A000", "dropping a primary key column is not supported")
        if len(table.live_columns) == 1:
            raise SqlError("0A000", "cannot drop the last column of a table")
        columns = list(table.columns)
        columns[index] = replace(columns[index], dropped=True, not_null=False, default_sql=None)
        indexes = tuple(ix for ix in table.indexes if index not in ix.columns)
        checks = tuple(c for c in table.checks if name not in _column_names_in(json.loads(c.sql)))
        return replace(table, columns=tuple(columns), indexes=indexes, checks=checks)
    if subtype == "AT_ColumnDefault":
        index = _existing_column(table, name)
        column = table.columns[index]
        default = cmd.get("def")
        if default is None:
            return _set_column(table, index, replace(column, default_sql=None))
        binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
        expr = binder.bind(default)
        if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
            raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
        coerce(expr, column.type, bc, "assignment", column.name)
        return _set_column(table, index, replace(column, default_sql=json.dumps(default)))
    if subtype == "AT_DropNotNull":
        index = _existing_column(table, name)
        if table.pk is not None and index in table.pk:
            raise SqlError("42P16", f'column "{name}" is in a primary key')
        return _set_column(table, index, replace(table.columns[index], not_null=False))
    if subtype in ("AT_SetNotNull", "AT_AlterColumnType"):
        raise SqlError("0A000", f"ALTER TABLE {'SET NOT NULL' if subtype == 'AT_SetNotNull' else 'ALTER COLUMN TYPE'} is not supported")
    raise SqlError("0A000", f"ALTER TABLE {subtype.removeprefix('AT_')} is not supported yet")


def _existing_column(table: TableDef, name: str) -> int:
    index = table.column_index(name)
    if index is None:
        raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
    return index


def _set_column(table: TableDef, index: int, column: ColumnDef) -> TableDef:
    columns = list(table.columns)
    columns[index] = column
    return replace(table, columns=tuple(columns))


async def rename(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    kind = body.get("renameType")
    relation = body.get("relation")
    new_name = _check_name(body["newname"])
    where = _search_schema(_schema_of(relation), bc) if relation is not None else None
    if kind == "OBJECT_VIEW":
        view = catalog.find_view(relation["relname"], where) if where else None
        if view is None:
            raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
        if catalog.relation_name_taken(new_name):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        version, _ = await _catalog_counters(txn)
        txn.put(view.descriptor_key, replace(view, name=new_name).to_record())
        _bump_version(txn, version, None)
        return DdlResult("ALTER VIEW")
    if kind in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        table = catalog.find_table(relation["relname"], where) if where else None
        if table is None:
            if body.get("missing_ok"):
                return DdlResult("ALTER TABLE", [f'relation "{relation["relname"]}" does not exist, skipping'])
            raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
        if catalog.dependent_views(table.oid):
            view = catalog.dependent_views(table.oid)[0]
            # Views name their tables and columns and are bound again where they
            # are used, so a rename would break them (PostgreSQL would follow it).
            raise SqlError("0A000", f"cannot rename {table.name} or its columns while view {view.name} depends on it",
                           hint="Drop the view first (DROP VIEW), then recreate it.")
        if kind == "OBJECT_TABLE":
            if catalog.relation_name_taken(new_name, table.schema):
                raise SqlError("42P07", f'relation "{new_name}" already exists')
            table = replace(table, name=new_name)
        else:
            old = body["subname"]
            if old in SYSTEM_COLUMN_NAMES:
                raise SqlError("0A000", f'cannot rename system column "{old}"')
            index = _existing_column(table, old)
            _check_not_system_column(new_name)
            if table.column_index(new_name) is not None:
                raise SqlError("42701", f'column "{new_name}" of relation "{table.name}" already exists')
            table = _set_column(table, index, replace(table.columns[index], name=new_name))
            checks = tuple(replace(c, sql=json.dumps(_rename_refs(json.loads(c.sql), old, new_name)))
                           for c in table.checks)
            table = replace(table, checks=checks)
    elif kind == "OBJECT_INDEX":
        found = catalog.indexes_by_name.get((where, relation["relname"])) if where else None
        if found is None:
            raise SqlError("42P01", f'relation "{relation["relname"]}" does not exist')
        if catalog.relation_name_taken(new_name):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        table, index = found
        table = replace(table, indexes=tuple(replace(ix, name=new_name) if ix.oid == index.oid else ix
                                             for ix in table.indexes))
    else:
        raise SqlError("0A000", "this kind of RENAME is not supported")
    version, _ = await _catalog_counters(txn)
    _write_catalog(txn, version, None, [(table, table.to_record())], catalog)
    return DdlResult("ALTER TABLE" if kind != "OBJECT_INDEX" else "ALTER INDEX")


def _rename_refs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        if "ColumnRef" in node:
            fields = node["ColumnRef"].get("fields", [])
            if fields and fields[-1].get("String", {}).get("sval") == old:
                fields = [*fields[:-1], {"String": {"sval": new}}]
                return {"ColumnRef": {**node["ColumnRef"], "fields": fields}}
        return {k: _rename_refs(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, old, new) for v in node]
    return node


# -- roles ------------------------------------------------------------------------------------------------

_ROLE_TAGS = {"CreateRoleStmt": "CREATE ROLE", "AlterRoleStmt": "ALTER ROLE", "DropRoleStmt": "DROP ROLE",
              "RenameStmt": "ALTER ROLE"}


def role_tag(statement) -> str:
    if statement.kind == "CreateRoleStmt" and statement.body.get("stmt_type") == "ROLESTMT_USER":
        return "CREATE ROLE"  # PostgreSQL tags CREATE USER as CREATE ROLE too
    return _ROLE_TAGS[statement.kind]


async def role_ddl(statement, txn, catalog: CatalogSnapshot, user: str, ctx) -> DdlResult:
    """CREATE/ALTER/DROP ROLE and ALTER ROLE ... RENAME (see qp/ddl/roles.py)."""

    kind, body = statement.kind, statement.body
    if kind == "CreateRoleStmt":
        notices = await roles.create_role(body, txn, catalog, user, ctx, _catalog_counters, _bump_version)
    elif kind == "AlterRoleStmt":
        notices = await roles.alter_role(body, txn, catalog, user, ctx, _catalog_counters, _bump_version)
    elif kind == "DropRoleStmt":
        notices = await roles.drop_roles(body, txn, catalog, user, _catalog_counters, _bump_version)
    else:
        notices = await roles.rename_role(body, txn, catalog, user, _catalog_counters, _bump_version)
    return DdlResult(role_tag(statement), notices)


async def set_bootstrap_password(txn, catalog: CatalogSnapshot, password: str) -> bool:
    """Write `admin`'s password into `txn`; False if it already has this one (nothing written)."""

    roles.set_bootstrap_password(catalog, txn, password, await _catalog_counters(txn), _bump_version)
    return txn.catalog_version_written is not None
