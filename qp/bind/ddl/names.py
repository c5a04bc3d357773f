"""DDL analysis that every kind of statement shares: names (length, system columns, the
schema an object is created in or found in along the search path), column types and
collations, and PostgreSQL's ordering of a table's index constraints.

Binding a DDL statement resolves what it names and checks what it asks for against the
catalog snapshot, raising every error the user can cause; nothing here reads storage or
writes the transaction (qp/ddl applies what binding produced).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qp.bind.collation import check_collatable, resolve_collation
from qp.bind.context import BindContext
from qp.catalog.stored import CatalogSnapshot, TableDef
from qp.catalog.temp_keys import is_temp_oid
from qp.catalog.temp_overlay import hidden_by_temp
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import (
    USER_SCHEMA,
    check_schema,
    creation_schema,
    first_schema,
    schema_oids,
    session_search_path,
    temp_relation_named,
)
from qp.types import format_type, resolve_type_name

NAME_BYTES_MAX = 63


def distinct_index_constraints(constraints: list[list]) -> list[tuple[str | None, tuple[int, ...], bool]]:
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


def check_name(name: str) -> str:
    if len(name.encode()) > NAME_BYTES_MAX:
        # PostgreSQL truncates identifiers to 63 bytes with a NOTICE; we refuse
        # rather than silently rename.
        raise SqlError("42622", f'identifier "{name}" is too long (at most {NAME_BYTES_MAX} bytes)')
    return name


# The columns PostgreSQL gives every table (heap.c's SysAtt): a user column may
# not take their names, which clients can select from any PostgreSQL table.


# The columns PostgreSQL gives every table (heap.c's SysAtt): a user column may
# not take their names, which clients can select from any PostgreSQL table.
SYSTEM_COLUMN_NAMES = frozenset({"tableoid", "cmax", "xmax", "cmin", "xmin", "ctid"})


def check_not_system_column(name: str) -> None:
    if name in SYSTEM_COLUMN_NAMES:
        raise SqlError("42701", f'column name "{name}" conflicts with a system column name')


def check_collation(column_def: dict, column_type: Any) -> None:
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
        raise SqlError(
            "0A000",
            f'column collation "{name}" is not supported: dsql columns use the default '
            'collation (C); use COLLATE "C" or none',
        )


def schema_of(relation: dict) -> str | None:
    """The schema a statement names (None: unqualified)."""
    return relation.get("schemaname")


def search_schema(
    schema: str | None,
    bc: BindContext | None,
    name: str | None = None,
    holds: Callable[[str], bool] | None = None,
    *,
    missing_ok: bool = False,
) -> str | None:
    """Where to find an existing object named `[schema.]name`: its schema (3F000 when
    there is none such), or for an unqualified name the first schema along the
    session's search path that `holds` one of that name (default: any relation), else
    None (nothing is found, as PostgreSQL finds nothing outside the path). With
    `missing_ok`, a schema that does not exist finds nothing instead of 3F000, as
    the IF EXISTS forms want."""
    if bc is None:
        return schema or USER_SCHEMA
    if schema is not None:
        if missing_ok and schema not in schema_oids(bc.catalog):
            return None
        return check_schema(bc.catalog, schema)
    path = session_search_path(bc.eval_ctx, bc.catalog)
    if holds is None:
        if name is None:
            return path.current_schema
        if temp_relation_named(bc.catalog, name):
            return USER_SCHEMA
        return first_schema(path, lambda candidate: bc.catalog.relation_name_taken(name, candidate))
    return first_schema(path, holds)


def relation_display(relation: dict) -> str:
    """A RangeVar's name as PostgreSQL's errors print it: qualified as written."""
    schema = relation.get("schemaname")
    return f"{schema}.{relation['relname']}" if schema else relation["relname"]


def creation_schema_of(relation: dict, bc: BindContext | None) -> str:
    """The schema CREATE puts a relation in: the one named, else the search path's first
    (3F000 when it has none)."""
    if bc is None:
        return schema_of(relation) or USER_SCHEMA
    return creation_schema(relation.get("schemaname"), relation["relname"], bc.eval_ctx, bc.catalog)


SERIAL_TYPES = {
    "serial": "int4",
    "serial4": "int4",
    "bigserial": "int8",
    "serial8": "int8",
    "smallserial": "int2",
    "serial2": "int2",
}


def resolve_column_type(type_name: dict):
    """A column's type, and whether it was written as serial (an integer filled from a sequence)."""
    names = string_list(type_name.get("names"))
    if len(names) == 1 and names[0] in SERIAL_TYPES and not type_name.get("arrayBounds"):
        return resolve_type_name([SERIAL_TYPES[names[0]]], [], 0), True
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


def column_names_in(node: Any) -> list[str]:
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


def existing_column(table: TableDef, name: str) -> int:
    index = table.column_index(name)
    if index is None:
        raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
    return index


def relation_name_taken(catalog: CatalogSnapshot, name: str, schema: str, temporary: bool) -> bool:
    """Whether CREATE of relation `name` in `schema` collides. A temporary one lives in its own
    schema (pg_temp, as in PostgreSQL), so only a temporary relation is in its way. A permanent
    one collides with any relation; but where the session's temporary relation of that name
    stands (the overlay keeps it under public's key), a permanent one could not be reached once
    made: that is refused (0A000), as reading `public.name` is, not reported as a duplicate."""
    found = next((f for f in (catalog.tables.get((schema, name)), catalog.views.get((schema, name)),
                              catalog.sequences.get((schema, name)),
                              (catalog.indexes_by_name.get((schema, name)) or [None])[0]) if f is not None),
                 None)  # fmt: skip
    if temporary:
        return found is not None and is_temp_oid(found.oid)
    if found is not None and is_temp_oid(found.oid):
        raise hidden_by_temp(schema, name)
    return catalog.relation_name_taken(name, schema)
