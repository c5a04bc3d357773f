"""Tables: CREATE TABLE, ALTER TABLE (columns, constraints, VALIDATE), RENAME, DROP and
TRUNCATE outside a block (PostgreSQL's catalog swap).

ADD CONSTRAINT (PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY) is online: the constraint is
added NOT VALID or write-only, existing rows are validated in transactions of their own
(qp/ddl/online.py), then it is published (`finish_constraint`) or taken back.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import (
    SYSTEM_COLUMN_NAMES,
    check_collation,
    check_name,
    check_not_system_column,
    column_names_in,
    creation_schema_of,
    distinct_index_constraints,
    existing_column,
    relation_display,
    resolve_column_type,
    schema_of,
    search_schema,
)
from qp.bind.ddl.naming import check_column, choose_name, constraint_names, name_addition
from qp.bind.ddl.sequences import sequence_options, with_owner
from qp.bind.dml import truncate_targets
from qp.bind.domains import domain_named
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope, table_scope
from qp.catalog.stored import (
    CatalogSnapshot,
    CheckDef,
    ColumnDef,
    ForeignKeyDef,
    IndexDef,
    IndexState,
    TableDef,
    comment_key,
    require_key_type,
)
from qp.ddl.common import (
    COLUMNS_PER_KEY_MAX,
    COLUMNS_PER_TABLE_MAX,
    TABLES_MAX,
    DdlResult,
    bump_version,
    catalog_counters,
    set_column,
    write_catalog,
)
from qp.ddl.constraints import foreign_key_from, validate_rows
from qp.ddl.generated import check_generation_expressions, generation_dependents
from qp.ddl.index_exprs import index_reads_column, index_with_renamed_column
from qp.ddl.like import LIKE_COMMENT_KEY, LIKE_DOMAIN_KEY, LIKE_TYPE_KEY, expand_like, like_key_name
from qp.ddl.missing import added_column_default
from qp.ddl.temp_objects import name_taken
from qp.ddl.views import drop_views, views_to_drop
from qp.errors import SqlError
from qp.parse.parser import node_kind, string_list
from qp.parse.unsupported import syntax_words
from qp.pgcatalog.search_path import USER_SCHEMA, schema_oids
from storage import keys


async def create_table(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    relation = body["relation"]
    name = check_name(relation["relname"])
    if relation.get("relpersistence") != "t" and body.get("oncommit", "ONCOMMIT_NOOP") != "ONCOMMIT_NOOP":
        raise SqlError("42P16", "ON COMMIT can only be used on temporary tables")
    # A temporary table (qp/ddl/temp_objects.py) is made like any other: the statement
    # runs in temp_mode, so its oids are temporary ones and its keys the session's.
    # A temporary table goes to the session's pg_temp whatever the search path says.
    schema = USER_SCHEMA if relation.get("relpersistence") == "t" else creation_schema_of(relation, bc)
    for unsupported, message in (
        ("partspec", "PARTITION BY clause not supported for CREATE TABLE"),
        ("inhRelations", "INHERITS is not supported"),
        ("ofTypename", "CREATE TABLE OF is not supported"),
        ("partbound", "PARTITION OF is not supported"),
    ):
        if body.get(unsupported):
            raise SqlError("0A000", message)
    if name_taken(catalog, name, schema, txn):
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
    index_options: dict[tuple[int, ...], tuple[bool, tuple[int, ...]]] = {}  # NULLS NOT DISTINCT, INCLUDE
    like_comments: dict[int, str] = {}  # column position -> comment LIKE ... INCLUDING COMMENTS copies
    elements, like_indexes = expand_like(body.get("tableElts", ()), catalog, bc)
    for element in elements:
        kind = node_kind(element)
        if kind == "ColumnDef":
            cd = element["ColumnDef"]
            col_name = check_name(cd["colname"])
            if any(c.name == col_name for c in columns):
                raise SqlError("42701", f'column "{col_name}" specified more than once')
            domain = domain_named(bc, cd["typeName"]) if "typeName" in cd else None
            if cd.get(LIKE_COMMENT_KEY):
                like_comments[len(columns)] = cd[LIKE_COMMENT_KEY]
            if LIKE_TYPE_KEY in cd:  # copied by LIKE
                col_type, serial = cd[LIKE_TYPE_KEY], False
            elif domain is not None:  # a column of a domain is of its base type, checked by writers
                col_type, serial = domain.base_type, False
            else:
                col_type, serial = resolve_column_type(cd["typeName"])
                check_collation(cd, col_type)
            default = None
            generated = None
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
                    if generated is not None:
                        raise _both("default", col_name, name, con)
                    default = con["raw_expr"]
                elif contype == "CONSTR_PRIMARY":
                    if pk is not None:
                        raise SqlError("42P16", f'multiple primary keys for table "{name}" are not allowed')
                    pk = (index,)
                    index_constraints.append([con.get("conname"), pk, True])
                elif contype == "CONSTR_UNIQUE":
                    index_constraints.append([con.get("conname"), (index,), False])
                    if con.get("nulls_not_distinct"):
                        index_options[(index,)] = (True, ())
                elif contype == "CONSTR_CHECK":
                    checks.append((con.get("conname"), con["raw_expr"]))
                elif contype == "CONSTR_IDENTITY":
                    if serial or identity is not None:
                        raise SqlError("42601", f'multiple identity specifications for column "{col_name}"')
                    if generated is not None:
                        raise _both("identity", col_name, name, con)
                    identity = (con.get("generated_when", "a"), con.get("options", []))
                elif contype == "CONSTR_GENERATED":
                    if default is not None:
                        raise _both("default", col_name, name, con)
                    if serial or identity is not None:
                        raise _both("identity", col_name, name, con)
                    generated = con["raw_expr"]
                elif contype == "CONSTR_FOREIGN":
                    foreign.append((con, index))
                elif contype in (
                    "CONSTR_ATTR_DEFERRABLE",
                    "CONSTR_ATTR_NOT_DEFERRABLE",
                    "CONSTR_ATTR_DEFERRED",
                    "CONSTR_ATTR_IMMEDIATE",
                ):
                    continue
                else:
                    raise SqlError("0A000", f"constraint {contype} is not supported")
            if (serial or identity) and default is not None:
                raise SqlError(
                    "42601", f'both default and identity specified for column "{col_name}" of table "{name}"'
                )
            if identity is not None and col_type.oid not in (20, 21, 23):
                raise SqlError("22023", "identity column type must be smallint, integer, or bigint")
            if serial or identity:
                not_null.add(index)
                sequenced.append((index, identity))
            columns.append(
                ColumnDef(
                    col_name,
                    col_type,
                    False,
                    json.dumps(default) if default else None,
                    identity=identity[0] if identity else None,
                    generated=json.dumps(generated) if generated is not None else None,
                    domain_oid=domain.oid if domain is not None else cd.get(LIKE_DOMAIN_KEY),
                )
            )
        elif kind == "Constraint":
            table_constraints.append(element["Constraint"])
        else:
            raise SqlError("0A000", f"{syntax_words(kind)} in CREATE TABLE is not supported")
    for column in columns:  # after the duplicate check, as PostgreSQL's CheckAttributeNamesTypes
        check_not_system_column(column.name)
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
        if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and (con.get("including") or con.get("nulls_not_distinct")):
            including = []
            for included in string_list(con.get("including")):
                if included not in positions:
                    raise SqlError("42703", f'column "{included}" named in key does not exist')
                including.append(positions[included])
            index_options[key_columns(con)] = (bool(con.get("nulls_not_distinct")), tuple(including))
    if pk is not None:
        if len(pk) > COLUMNS_PER_KEY_MAX:
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        not_null.update(pk)
        for i in pk:
            require_key_type(columns[i], "a primary key")
    columns = [replace(c, not_null=(i in not_null)) for i, c in enumerate(columns)]

    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    next_oid = oid + 1
    # Names are chosen in PostgreSQL's order (qp/bind/ddl/naming.py): sequences of serial
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
    table = TableDef(
        oid=oid, name=name, columns=tuple(columns), pk=pk, schema=schema, key_id=keys.table_key_id_for(oid)
    )
    scope = table_scope(table, bc)
    for column in columns:
        if column.default_sql is not None:
            binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
            expr = binder.bind(json.loads(column.default_sql))
            if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
                raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
            coerce(expr, column.type, bc, "assignment", column.name)
    check_generation_expressions(table, bc)
    check_defs = []
    for con_name, raw in checks:
        binder = ExprBinder(bc, scope, QueryLevel(what="check constraints"))
        binder.bind_bool(raw, "CHECK")
        if con_name is None:
            column_name = check_column(n for n in column_names_in(raw) if n in positions)
            con_name = choose_name(
                name, column_name, "check", lambda c: c in own_constraints or c in schema_constraints
            )
        elif con_name in own_constraints:
            raise SqlError("42710", f'check constraint "{con_name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        check_defs.append(CheckDef(con_name, json.dumps(raw)))

    indexes: list[IndexDef] = []
    next_index_id = 2
    for con_name, cols, primary in distinct_index_constraints(index_constraints):
        for i in cols:
            require_key_type(columns[i], "a primary key" if primary else "a unique constraint")
        if len(cols) > COLUMNS_PER_KEY_MAX:
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        nulls_not_distinct, including = index_options.get(cols, (False, ()))
        if con_name is None:
            addition = None if primary else name_addition(columns[i].name for i in (*cols, *including))
            con_name = choose_name(
                name,
                addition,
                "pkey" if primary else "key",
                lambda c: relation_taken(c) or c in schema_constraints,
            )
        elif relation_taken(con_name):
            raise SqlError("42P07", f'relation "{con_name}" already exists')
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        new_relations.add(con_name)
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        options = {"include": including, "nulls_not_distinct": nulls_not_distinct}
        if primary:
            indexes.append(IndexDef(next_oid, con_name, keys.PRIMARY_INDEX_ID, cols, True, True,
                                    IndexState.PUBLIC, True, **options))  # fmt: skip
        else:
            indexes.append(IndexDef(next_oid, con_name, next_index_id, cols, True, False,
                                    IndexState.PUBLIC, True, **options))  # fmt: skip
            next_index_id += 1
        next_oid += 1
    for source, index in like_indexes:  # indexes copied by LIKE ... INCLUDING INDEXES
        source_names = [source.columns[p].name if p >= 0 else None for p in index.columns]
        cols = tuple(positions[c] if c is not None else -1 for c in source_names)
        include = tuple(positions[source.columns[p].name] for p in index.include)
        key_names = [c if c is not None else like_key_name(index, k) for k, c in enumerate(source_names)]
        key_names += [source.columns[p].name for p in index.include]
        index_name = choose_name(name, name_addition(key_names), "idx", relation_taken)
        new_relations.add(index_name)
        indexes.append(replace(index, oid=next_oid, name=index_name, index_id=next_index_id, columns=cols,
                               include=include, state=IndexState.PUBLIC, constraint=False))  # fmt: skip
        next_index_id += 1
        next_oid += 1
    table = replace(table, indexes=tuple(indexes), next_index_id=next_index_id, checks=tuple(check_defs))
    fks = []
    for con, column_index in foreign:
        attr_names = (
            [columns[column_index].name] if column_index is not None else string_list(con.get("fk_attrs"))
        )
        con_name = con.get("conname")
        if con_name is None:
            con_name = choose_name(name, name_addition(attr_names), "fkey", lambda c: c in schema_constraints)
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        fk = foreign_key_from(con, table, column_index, catalog, con_name, bc)
        fks.append(replace(fk, validated=True))  # a new table has no rows to check
    table = replace(table, foreign_keys=tuple(fks))
    # Each serial or identity column gets a sequence of its own, owned by it.
    sequences = []
    columns = list(table.columns)
    for (column_index, identity), seq_name in zip(sequenced, sequence_names, strict=True):
        column = columns[column_index]
        definition, _, _ = sequence_options(
            identity[1] if identity else [],
            name=seq_name,
            oid=next_oid,
            type_oid=column.type.oid,
            require_cache=identity is not None,
        )
        sequences.append(replace(with_owner(definition, oid, column_index), schema=schema))
        columns[column_index] = replace(column, sequence_oid=next_oid)
        next_oid += 1
    table = replace(table, columns=tuple(columns))
    write_catalog(txn, version, next_oid, [(table, table.to_record())], catalog)
    for sequence in sequences:
        txn.put(sequence.descriptor_key, sequence.to_record())
    for position, text in like_comments.items():
        txn.put(comment_key(oid, position + 1), {"kind": "comment", "oid": oid, "subid": position + 1, "text": text})
    return DdlResult("CREATE TABLE")


def _both(what: str, column: str, table: str, con: dict) -> SqlError:
    """A column with a generation expression and a default or an identity (PostgreSQL's parse-time error)."""
    error = SqlError("42601", f'both {what} and generation expression specified for column "{column}" of table "{table}"')
    error.location = con.get("location")
    return error


async def drop(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    kind = body.get("removeType")
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
        if schema is not None and schema not in schema_oids(catalog):
            if body.get("missing_ok"):
                notices.append(f'schema "{schema}" does not exist, skipping')
                continue
            raise SqlError("3F000", f'schema "{schema}" does not exist')
        where = search_schema(schema, bc, name)
        shown = ".".join(names[-2:])
        if kind == "OBJECT_TABLE":
            table = catalog.find_table(name, where) if where else None
            if table is None or table.oid in changed_tables:
                if where and catalog.indexes_by_name.get((where, name)) and table is None:
                    raise SqlError(
                        "42809", f'"{name}" is not a table', hint="Use DROP INDEX to remove an index."
                    )
                if body.get("missing_ok"):
                    notices.append(f'table "{shown}" does not exist, skipping')
                    continue
                raise SqlError("42P01", f'table "{shown}" does not exist')
            changes.append((table, None))
            changed_tables[table.oid] = table
        else:
            found = catalog.indexes_by_name.get((where, name)) if where else None
            if found is None:
                if where and catalog.find_table(name, where) is not None:
                    raise SqlError(
                        "42809", f'"{name}" is not an index', hint="Use DROP TABLE to remove a table."
                    )
                if body.get("missing_ok"):
                    notices.append(f'index "{shown}" does not exist, skipping')
                    continue
                raise SqlError("42704", f'index "{shown}" does not exist')
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
    views = views_to_drop(
        catalog,
        dropped,
        body.get("behavior") == "DROP_CASCADE",
        {oid: f"table {catalog.by_oid[oid].name}" for oid in dropped},
        notices,
    )
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
            current = replace(
                current, foreign_keys=tuple(f for f in current.foreign_keys if f.name != fk.name)
            )
            changed_tables[child.oid] = current
            changes = [(t, v) for t, v in changes if t.oid != child.oid]
            changes.append((current, current.to_record()))
    if changes or views:
        version, _ = await catalog_counters(txn)
        write_catalog(txn, version, None, changes, catalog)
        for sequence in catalog.sequences.values():  # sequences owned by dropped tables go with them
            if sequence.owned_by and sequence.owned_by[0] in dropped:
                txn.put(sequence.descriptor_key, None)
                txn.put(sequence.state_key, None)
    tag = "DROP TABLE" if noun == "table" else "DROP INDEX"
    return DdlResult(tag, notices)


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
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    changes = []
    for tc in targets:
        table = tc.table
        txn.put(table.schema_key, version + 1)  # the old stamp: writers of the old range conflict
        moved = replace(table, key_id=keys.table_key_id_for(next_oid))
        next_oid += 1  # key ids come from oids, so no table ever had this one
        changes.append((moved, moved.to_record()))
    write_catalog(txn, version, next_oid, changes, catalog)
    return DdlResult("TRUNCATE TABLE")


async def alter_table(
    body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, asynchronous: bool = False
) -> DdlResult:
    relation = body["relation"]
    where = search_schema(schema_of(relation), bc, relation["relname"], missing_ok=body.get("missing_ok", False))
    if body.get("objtype", "OBJECT_TABLE") != "OBJECT_TABLE":
        raise SqlError("0A000", "ALTER of this object type is not supported")
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        if body.get("missing_ok"):
            return DdlResult("ALTER TABLE", [f'relation "{relation_display(relation)}" does not exist, skipping'])
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    notices: list[str] = []
    followups: list[tuple] = []
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    others: dict[int, TableDef] = {}  # other tables changed (a DROP CONSTRAINT never needs this yet)
    for cmd_node in body.get("cmds", ()):
        cmd = cmd_node["AlterTableCmd"]
        subtype = cmd.get("subtype")
        if subtype == "AT_AddConstraint":
            table, next_oid = _add_constraint(
                table, cmd["def"]["Constraint"], catalog, bc, next_oid, followups
            )
        elif subtype == "AT_DropConstraint":
            table = _drop_constraint(table, cmd, catalog, notices)
        elif subtype == "AT_ValidateConstraint":
            constraint = table.constraint_named(cmd["name"])
            if constraint is None:
                raise SqlError(
                    "42704", f'constraint "{cmd["name"]}" of relation "{table.name}" does not exist'
                )
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
    write_catalog(
        txn,
        version,
        next_oid,
        [(table, table.to_record()), *[(t, t.to_record()) for t in others.values()]],
        catalog,
    )
    return DdlResult("ALTER TABLE", notices, followups=followups)


def _add_constraint(
    table: TableDef,
    con: dict,
    catalog: CatalogSnapshot,
    bc: BindContext,
    next_oid: int,
    followups: list[tuple],
) -> tuple[TableDef, int]:
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
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        return tuple(out)

    schema_constraints = (
        constraint_names(catalog, table.schema)
        | {c.name for c in (*table.checks, *table.foreign_keys)}
        | {ix.name for ix in table.indexes if ix.constraint}
    )

    def fresh_name(name2: str | None, label: str, *, relation: bool = False) -> str:
        """PostgreSQL's default name (qp/bind/ddl/naming.py); index-backed ones avoid relations too."""

        def taken(candidate: str) -> bool:
            return candidate in schema_constraints or (
                relation and catalog.relation_name_taken(candidate, table.schema)
            )

        return choose_name(table.name, name2, label, taken)

    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
        if con.get("indexname"):
            raise SqlError("0A000", "ADD CONSTRAINT ... USING INDEX is not supported")
        cols = columns_of()
        for i in cols:
            require_key_type(
                table.columns[i], "a primary key" if contype == "CONSTR_PRIMARY" else "a unique constraint"
            )
        primary = contype == "CONSTR_PRIMARY"
        if primary and (table.pk is not None or table.primary_index is not None):
            raise SqlError("42P16", f'multiple primary keys for table "{table.name}" are not allowed')
        if name and catalog.relation_name_taken(name, table.schema):
            raise SqlError("42P07", f'relation "{name}" already exists')
        index_name = name or fresh_name(
            None if primary else name_addition(table.columns[i].name for i in cols),
            "pkey" if primary else "key",
            relation=True,
        )
        include = tuple(existing_column(table, c) for c in string_list(con.get("including")))
        index = IndexDef(
            next_oid, index_name, table.next_index_id, cols, True, primary, IndexState.WRITE_ONLY, True,
            include=include, nulls_not_distinct=bool(con.get("nulls_not_distinct")),
        )  # fmt: skip
        columns = list(table.columns)
        if primary:
            for i in cols:  # enforced by writers from now on; existing rows are checked next
                columns[i] = replace(columns[i], not_null=True)
            followups.append(("validate", table.oid, index_name))
        followups.append(("build_index", table.oid, index_name))
        table = replace(
            table,
            columns=tuple(columns),
            indexes=table.indexes + (index,),
            next_index_id=table.next_index_id + 1,
        )
        return table, next_oid + 1
    if contype == "CONSTR_CHECK":
        scope = table_scope(table, bc)
        ExprBinder(bc, scope, QueryLevel(what="check constraints")).bind_bool(con["raw_expr"], "CHECK")
        if not name:
            used = [n for n in column_names_in(con["raw_expr"]) if table.column_index(n) is not None]
            name = fresh_name(check_column(used), "check")
        check = CheckDef(name, json.dumps(con["raw_expr"]), validated=False)
        if not con.get("skip_validation"):
            followups.append(("validate", table.oid, name))
        return replace(table, checks=table.checks + (check,)), next_oid
    if contype == "CONSTR_FOREIGN":
        fk_name = name or fresh_name(name_addition(string_list(con.get("fk_attrs"))), "fkey")
        fk = replace(foreign_key_from(con, table, None, catalog, fk_name, bc), validated=False)
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
                    "2BP01",
                    f"cannot drop constraint {name} on table {table.name} because other objects depend on it",
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
        table = replace(
            table,
            indexes=tuple(
                replace(ix, state=IndexState.PUBLIC) if ix.oid == constraint.oid else ix
                for ix in table.indexes
            ),
        )
    else:
        table = _set_validated(table, name)
    version, _ = await catalog_counters(txn)
    write_catalog(txn, version, None, [(table, table.to_record())], catalog)


def _alter_one(
    table: TableDef, cmd: dict, catalog: CatalogSnapshot, bc: BindContext, notices: list[str]
) -> TableDef:
    subtype = cmd.get("subtype")
    name = cmd.get("name")
    if subtype == "AT_AddColumn":
        cd = cmd["def"]["ColumnDef"]
        col_name = check_name(cd["colname"])
        check_not_system_column(col_name)
        if table.column_index(col_name) is not None:
            if cmd.get("missing_ok"):
                notices.append(f'column "{col_name}" of relation "{table.name}" already exists, skipping')
                return table
            raise SqlError("42701", f'column "{col_name}" of relation "{table.name}" already exists')
        if len(table.live_columns) >= COLUMNS_PER_TABLE_MAX:
            raise SqlError("54011", f"tables can have at most {COLUMNS_PER_TABLE_MAX} columns")
        if domain_named(bc, cd["typeName"]) is not None:
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN of a domain type is not supported")
        col_type, serial = resolve_column_type(cd["typeName"])
        if serial:
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN with constraint not supported")
        check_collation(cd, col_type)
        # DSQL adds bare columns only; a DEFAULT is dsql's extension (qp/ddl/missing.py).
        default_sql, missing, not_null = added_column_default(cd, col_type, col_name, bc)
        column = ColumnDef(col_name, col_type, not_null, default_sql, missing=missing)
        return replace(table, columns=table.columns + (column,))
    if subtype in ("AT_DropColumn", "AT_AlterColumnType") and catalog.dependent_views(table.oid):
        view = catalog.dependent_views(table.oid)[0]
        raise SqlError(
            "2BP01",
            f"cannot alter table {table.name} because other objects depend on it",
            detail=f"view {view.name} depends on table {table.name}",
            hint="Drop the view first (DROP VIEW), then recreate it.",
        )
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
        dependents = [c for c in generation_dependents(table, name) if c != name]
        if dependents and cmd.get("behavior") != "DROP_CASCADE":
            raise SqlError(
                "2BP01",
                f"cannot drop column {name} of table {table.name} because other objects depend on it",
                detail=f"column {dependents[0]} of table {table.name} depends on column {name} of table {table.name}",
                hint="Use DROP ... CASCADE to drop the dependent objects too.",
            )
        if len(table.live_columns) <= 1 + len(dependents):
            raise SqlError("0A000", "cannot drop the last column of a table")
        for dependent in dependents:  # CASCADE: the generated columns reading it go too
            table = _alter_one(table, {"subtype": "AT_DropColumn", "name": dependent}, catalog, bc, notices)
        columns = list(table.columns)
        columns[index] = replace(columns[index], dropped=True, not_null=False, default_sql=None, generated=None)
        indexes = tuple(
            ix
            for ix in table.indexes
            if index not in ix.columns and index not in ix.include and not index_reads_column(ix, name)
        )
        checks = tuple(c for c in table.checks if name not in column_names_in(json.loads(c.sql)))
        return replace(table, columns=tuple(columns), indexes=indexes, checks=checks)
    if subtype == "AT_DropExpression":
        index = existing_column(table, name)
        column = table.columns[index]
        if column.generated is None:
            message = f'column "{name}" of relation "{table.name}" is not a stored generated column'
            if cmd.get("missing_ok"):
                notices.append(message + ", skipping")
                return table
            raise SqlError("55000", message)
        # The stored values stay; the column just stops being computed.
        return set_column(table, index, replace(column, generated=None))
    if subtype == "AT_ColumnDefault":
        index = existing_column(table, name)
        column = table.columns[index]
        if column.generated is not None:
            raise SqlError("42601", f'column "{name}" of relation "{table.name}" is a generated column')
        default = cmd.get("def")
        if default is None:
            return set_column(table, index, replace(column, default_sql=None))
        binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
        expr = binder.bind(default)
        if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
            raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
        coerce(expr, column.type, bc, "assignment", column.name)
        return set_column(table, index, replace(column, default_sql=json.dumps(default)))
    if subtype == "AT_DropNotNull":
        index = existing_column(table, name)
        if table.pk is not None and index in table.pk:
            raise SqlError("42P16", f'column "{name}" is in a primary key')
        return set_column(table, index, replace(table.columns[index], not_null=False))
    if subtype in ("AT_SetNotNull", "AT_AlterColumnType"):
        raise SqlError(
            "0A000",
            f"ALTER TABLE {'SET NOT NULL' if subtype == 'AT_SetNotNull' else 'ALTER COLUMN TYPE'} is not supported",
        )
    raise SqlError("0A000", f"ALTER TABLE {subtype.removeprefix('AT_')} is not supported yet")


async def rename(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    kind = body.get("renameType")
    relation = body.get("relation")
    new_name = check_name(body["newname"])
    where = (search_schema(schema_of(relation), bc, relation["relname"], missing_ok=body.get("missing_ok", False))
             if relation is not None else None)  # fmt: skip
    if kind == "OBJECT_VIEW":
        view = catalog.find_view(relation["relname"], where) if where else None
        if view is None:
            raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
        if catalog.relation_name_taken(new_name, view.schema):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        version, _ = await catalog_counters(txn)
        txn.put(view.descriptor_key, replace(view, name=new_name).to_record())
        bump_version(txn, version, None)
        return DdlResult("ALTER VIEW")
    if kind == "OBJECT_SEQUENCE":
        sequence = catalog.find_sequence(relation["relname"], where) if where else None
        if sequence is None:
            if body.get("missing_ok"):
                return DdlResult("ALTER SEQUENCE", [f'relation "{relation_display(relation)}" does not exist, skipping'])
            raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
        if catalog.relation_name_taken(new_name, sequence.schema):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        version, _ = await catalog_counters(txn)
        txn.put(sequence.descriptor_key, replace(sequence, name=new_name).to_record())
        bump_version(txn, version, None)
        return DdlResult("ALTER SEQUENCE")
    if kind in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        table = catalog.find_table(relation["relname"], where) if where else None
        if table is None:
            if body.get("missing_ok"):
                return DdlResult(
                    "ALTER TABLE", [f'relation "{relation_display(relation)}" does not exist, skipping']
                )
            raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
        if catalog.dependent_views(table.oid):
            view = catalog.dependent_views(table.oid)[0]
            # Views name their tables and columns and are bound again where they
            # are used, so a rename would break them (PostgreSQL would follow it).
            raise SqlError(
                "0A000",
                f"cannot rename {table.name} or its columns while view {view.name} depends on it",
                hint="Drop the view first (DROP VIEW), then recreate it.",
            )
        if kind == "OBJECT_TABLE":
            if catalog.relation_name_taken(new_name, table.schema):
                raise SqlError("42P07", f'relation "{new_name}" already exists')
            table = replace(table, name=new_name)
        else:
            old = body["subname"]
            if old in SYSTEM_COLUMN_NAMES:
                raise SqlError("0A000", f'cannot rename system column "{old}"')
            index = existing_column(table, old)
            check_not_system_column(new_name)
            if table.column_index(new_name) is not None:
                raise SqlError("42701", f'column "{new_name}" of relation "{table.name}" already exists')
            table = set_column(table, index, replace(table.columns[index], name=new_name))
            checks = tuple(
                replace(c, sql=json.dumps(_rename_refs(json.loads(c.sql), old, new_name)))
                for c in table.checks
            )
            renamed = tuple(
                replace(c, generated=json.dumps(_rename_refs(json.loads(c.generated), old, new_name)))
                if c.generated is not None else c
                for c in table.columns
            )  # fmt: skip
            table = replace(table, checks=checks, columns=renamed)
            table = replace(table, indexes=tuple(
                index_with_renamed_column(table, ix, lambda tree: _rename_refs(tree, old, new_name), bc.eval_ctx)
                for ix in table.indexes
            ))  # fmt: skip
    elif kind == "OBJECT_INDEX":
        found = catalog.indexes_by_name.get((where, relation["relname"])) if where else None
        if found is None:
            raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
        if catalog.relation_name_taken(new_name, where):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        table, index = found
        table = replace(
            table,
            indexes=tuple(replace(ix, name=new_name) if ix.oid == index.oid else ix for ix in table.indexes),
        )
    else:
        raise SqlError("0A000", "this kind of RENAME is not supported")
    version, _ = await catalog_counters(txn)
    write_catalog(txn, version, None, [(table, table.to_record())], catalog)
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
