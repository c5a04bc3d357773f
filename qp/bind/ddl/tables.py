"""DROP TABLE / DROP INDEX, RENAME (tables, columns, indexes, views, sequences) and TRUNCATE
outside a block, bound: what they name found, what depends on it (views, foreign keys, owned
sequences) decided, and the descriptors as they become; qp/ddl/tables.py writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from qp.bind.context import BindContext
from qp.bind.ddl.index_exprs import index_with_renamed_column
from qp.bind.ddl.names import (
    SYSTEM_COLUMN_NAMES,
    check_name,
    check_not_system_column,
    existing_column,
    relation_display,
    schema_of,
    search_schema,
)
from qp.bind.ddl.skip import SkipDdl
from qp.bind.ddl.views import views_to_drop
from qp.bind.dml import truncate_targets
from qp.catalog.stored import CatalogSnapshot, SequenceDef, TableDef, ViewDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import schema_oids

# -- DROP TABLE, DROP INDEX ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundDropRelations:
    """DROP TABLE or DROP INDEX: each table changed, as it becomes (`dropped`: it goes), the
    views and owned sequences that go with the dropped tables, and the statement's notices."""

    tag: str
    changes: tuple[tuple[TableDef, bool], ...]  # (table, dropped)
    views: tuple[ViewDef, ...]
    sequences: tuple[SequenceDef, ...]
    notices: tuple[str, ...]


def unsupported_drop(body: dict) -> SqlError:
    """DROP of an object kind dsql does not have."""
    what = (body.get("removeType") or "OBJECT_UNKNOWN").removeprefix("OBJECT_").lower()
    return SqlError("0A000", f"DROP {what.upper()} is not supported")


def bind_drop_relations(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundDropRelations:
    kind = body.get("removeType")
    assert kind in ("OBJECT_TABLE", "OBJECT_INDEX"), kind
    notices: list[str] = []
    changes: list[tuple[TableDef, bool]] = []
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
            changes.append((table, True))
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
            changes = [(t, d) for t, d in changes if t.oid != table.oid]
            changes.append((table, False))
    dropped = {t.oid for t, d in changes if d}
    views = views_to_drop(
        catalog,
        dropped,
        body.get("behavior") == "DROP_CASCADE",
        {oid: f"table {catalog.by_oid[oid].name}" for oid in dropped},
        notices,
    )
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
            changes = [(t, d) for t, d in changes if t.oid != child.oid]
            changes.append((current, False))
    # Sequences owned by dropped tables go with them.
    sequences = tuple(s for s in catalog.sequences.values() if s.owned_by and s.owned_by[0] in dropped)
    tag = "DROP TABLE" if kind == "OBJECT_TABLE" else "DROP INDEX"
    return BoundDropRelations(tag, tuple(changes), tuple(views), sequences, tuple(notices))


# -- RENAME ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundRenameTable:
    """ALTER TABLE/INDEX ... RENAME [COLUMN]: the table as it becomes (a renamed column's
    checks, generation expressions and index expressions follow it)."""

    tag: str
    table: TableDef


@dataclass(frozen=True, slots=True)
class BoundRenameDescriptor:
    """ALTER VIEW / ALTER SEQUENCE ... RENAME: the view or sequence as it becomes."""

    tag: str
    descriptor: ViewDef | SequenceDef


RENAMED_OBJECTS = ("OBJECT_VIEW", "OBJECT_SEQUENCE", "OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_INDEX")


def bind_rename(body: dict, catalog: CatalogSnapshot,
                bc: BindContext | None) -> BoundRenameTable | BoundRenameDescriptor | SkipDdl:  # fmt: skip
    """RENAME of the kinds in RENAMED_OBJECTS."""
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
        return BoundRenameDescriptor("ALTER VIEW", replace(view, name=new_name))
    if kind == "OBJECT_SEQUENCE":
        sequence = catalog.find_sequence(relation["relname"], where) if where else None
        if sequence is None:
            if body.get("missing_ok"):
                return SkipDdl("ALTER SEQUENCE", (f'relation "{relation_display(relation)}" does not exist, skipping',))
            raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
        if catalog.relation_name_taken(new_name, sequence.schema):
            raise SqlError("42P07", f'relation "{new_name}" already exists')
        return BoundRenameDescriptor("ALTER SEQUENCE", replace(sequence, name=new_name))
    if kind in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        table = catalog.find_table(relation["relname"], where) if where else None
        if table is None:
            if body.get("missing_ok"):
                return SkipDdl("ALTER TABLE", (f'relation "{relation_display(relation)}" does not exist, skipping',))
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
            return BoundRenameTable("ALTER TABLE", replace(table, name=new_name))
        return BoundRenameTable("ALTER TABLE", _renamed_column(table, body["subname"], new_name, bc))
    if kind == "OBJECT_INDEX":
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
        return BoundRenameTable("ALTER INDEX", table)
    raise SqlError("0A000", "this kind of RENAME is not supported")


def unsupported_rename(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> SqlError:
    """RENAME of a kind dsql does not have (a constraint's, a trigger's...): its error, after
    the checks every RENAME makes first (the new name's length, the relation's schema)."""
    assert body.get("renameType") not in RENAMED_OBJECTS
    try:
        bind_rename(body, catalog, bc)
    except SqlError as error:
        return error
    raise AssertionError("bind_rename accepted a kind it does not rename")


def _renamed_column(table: TableDef, old: str, new_name: str, bc: BindContext | None) -> TableDef:
    if old in SYSTEM_COLUMN_NAMES:
        raise SqlError("0A000", f'cannot rename system column "{old}"')
    index = existing_column(table, old)
    check_not_system_column(new_name)
    if table.column_index(new_name) is not None:
        raise SqlError("42701", f'column "{new_name}" of relation "{table.name}" already exists')
    columns = list(table.columns)
    columns[index] = replace(table.columns[index], name=new_name)
    table = replace(table, columns=tuple(columns))
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
    return replace(table, indexes=tuple(
        index_with_renamed_column(table, ix, lambda tree: _rename_refs(tree, old, new_name), bc.eval_ctx)
        for ix in table.indexes
    ))  # fmt: skip


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


# -- TRUNCATE outside a block ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundTruncate:
    """TRUNCATE outside a transaction block: the tables that move to new, empty key ranges
    (those named, and with CASCADE those referencing them)."""

    tables: tuple[TableDef, ...]


def bind_truncate(body: dict, bc: BindContext) -> BoundTruncate:
    return BoundTruncate(tuple(tc.table for tc in truncate_targets(bc, body)))
