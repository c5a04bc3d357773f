"""FOREIGN KEY / REFERENCES bound: the referenced table and columns found and checked (a unique
key there, key types that compare), the actions read; qp/ddl/constraints.py enforces what it
describes, and validates existing rows against it (that needs the rows, so it stays there).
"""

from __future__ import annotations

from typing import Any

from qp.bind.ddl.names import search_schema
from qp.catalog.stored import (
    FK_CASCADE,
    FK_NO_ACTION,
    FK_RESTRICT,
    FK_SET_DEFAULT,
    FK_SET_NULL,
    CatalogSnapshot,
    ForeignKeyDef,
    TableDef,
    key_kind,
)
from qp.catalog.temp_keys import is_temp_oid
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.types import format_type

_ACTIONS = {"a": FK_NO_ACTION, "r": FK_RESTRICT, "c": FK_CASCADE, "n": FK_SET_NULL, "d": FK_SET_DEFAULT}


def foreign_key_from(con: dict, table: TableDef, column_index: int | None, catalog: CatalogSnapshot,
                     name: str, bc: Any = None) -> ForeignKeyDef:
    """A FOREIGN KEY / REFERENCES constraint of `table`, checked against the referenced table."""
    if con.get("initdeferred"):
        raise SqlError("0A000", "INITIALLY DEFERRED foreign keys are not supported")
    if con.get("fk_matchtype", "s") == "p":
        raise SqlError("0A000", "MATCH PARTIAL is not implemented")
    pk_table = con["pktable"]
    ref_name = pk_table["relname"]
    schema = pk_table.get("schemaname")
    if bc is not None:
        # The table being created or altered is found first where it is (or will be).
        holds = lambda s: (s, ref_name) == (table.schema, table.name) or catalog.relation_name_taken(ref_name, s)  # noqa: E731
        schema = search_schema(schema, bc, ref_name, holds)
    ref = table if (schema or table.schema, ref_name) == (table.schema, table.name) else catalog.find_table(
        ref_name, schema) if schema else None  # fmt: skip
    if ref is None:
        shown = f"{pk_table['schemaname']}.{ref_name}" if pk_table.get("schemaname") else ref_name
        raise SqlError("42P01", f'relation "{shown}" does not exist')
    if is_temp_oid(ref.oid) != is_temp_oid(table.oid):  # one lives in the session, the other does not
        kind = "temporary" if is_temp_oid(table.oid) else "permanent"
        raise SqlError("42P16", f"constraints on {kind} tables may reference only {kind} tables")
    if column_index is not None:
        columns = (column_index,)
    else:
        columns = tuple(_position(table, n) for n in string_list(con.get("fk_attrs")))
    ref_names = string_list(con.get("pk_attrs"))
    if ref_names:
        ref_columns = tuple(_position(ref, n) for n in ref_names)
    else:
        primary = ref.primary_index
        if primary is None:
            raise SqlError("42830", f'there is no primary key for referenced table "{ref.name}"')
        ref_columns = primary.columns
    if len(columns) != len(ref_columns):
        raise SqlError("42830", "number of referencing and referenced columns for foreign key disagree")
    if ref.unique_index_on(ref_columns) is None:
        raise SqlError(
            "42830", f'there is no unique constraint matching given keys for referenced table "{ref.name}"'
        )
    for mine, theirs in zip(columns, ref_columns, strict=True):
        a, b = table.columns[mine], ref.columns[theirs]
        if key_kind(a.type) is None or key_kind(a.type) != key_kind(b.type):

            raise SqlError(
                "42804",
                f'foreign key constraint "{name}" cannot be implemented',
                detail=f'Key columns "{a.name}" and "{b.name}" are of incompatible types: '
                f"{format_type(a.type)} and {format_type(b.type)}.",
            )
    return ForeignKeyDef(
        name,
        columns,
        ref.oid,
        ref_columns,
        on_delete=_ACTIONS[con.get("fk_del_action", "a")],
        on_update=_ACTIONS[con.get("fk_upd_action", "a")],
        match_full=con.get("fk_matchtype", "s") == "f",
        validated=not con.get("skip_validation"),
    )


def _position(table: TableDef, name: str) -> int:
    index = table.column_index(name)
    if index is None:
        raise SqlError("42703", f'column "{name}" referenced in foreign key constraint does not exist')
    return index
