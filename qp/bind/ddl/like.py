"""CREATE TABLE ... (LIKE source [INCLUDING | EXCLUDING ...]): the clause written out.

PostgreSQL copies the source's column names, types and NOT NULL always, and
with INCLUDING DEFAULTS, GENERATED, IDENTITY, CONSTRAINTS (checks) and INDEXES
(the primary key, unique constraints and plain indexes) the rest. Rather than
a second way to build a table, the clause is expanded here into the parse
nodes CREATE TABLE already understands (ColumnDef and Constraint elements, a
column's resolved type under `LIKE_TYPE_KEY`), so every check and every name
choice of qp/bind/ddl/create_table.py applies to copied parts as to written ones. Plain
indexes come back apart: CREATE TABLE names and adds them after its own.
"""

from __future__ import annotations

import json
from typing import Any

from qp.bind.context import BindContext
from qp.bind.ddl.names import relation_display, schema_of, search_schema
from qp.catalog.stored import CatalogSnapshot, IndexDef, TableDef, expression_key_name
from qp.errors import SqlError
from qp.parse.parser import node_kind
from qp.types import type_by_oid

LIKE_TYPE_KEY = "dsql_like_type"  # a copied ColumnDef's SqlType, already resolved
LIKE_DOMAIN_KEY = "dsql_like_domain"  # and its domain's oid, if it is of a domain
LIKE_COMMENT_KEY = "dsql_like_comment"  # and its comment, with INCLUDING COMMENTS

# pg_nodes.h's CREATE_TABLE_LIKE_* bits
LIKE_COMMENTS, LIKE_COMPRESSION, LIKE_CONSTRAINTS, LIKE_DEFAULTS = 1, 2, 4, 8
LIKE_GENERATED, LIKE_IDENTITY, LIKE_INDEXES, LIKE_STATISTICS, LIKE_STORAGE = 16, 32, 64, 128, 256


def expand_like(
    elements: list, catalog: CatalogSnapshot, bc: BindContext
) -> tuple[list, list[tuple[TableDef, IndexDef]]]:
    """`elements` with each LIKE clause replaced by what it copies, and the
    source table and index of each index INCLUDING INDEXES copies that backs no constraint."""
    out: list = []
    plain_indexes: list[tuple[TableDef, IndexDef]] = []
    for element in elements:
        if node_kind(element) != "TableLikeClause":
            out.append(element)
            continue
        clause = element["TableLikeClause"]
        columns, constraints, indexes = _copy(clause["relation"], clause.get("options", 0), catalog, bc)
        out.extend(columns)
        out.extend(constraints)
        plain_indexes.extend(indexes)
    return out, plain_indexes


def _copy(relation: dict, options: int, catalog: CatalogSnapshot, bc: BindContext) -> tuple[list, list, list]:
    name = relation["relname"]
    where = search_schema(schema_of(relation), bc, name)
    table = catalog.find_table(name, where) if where else None
    if table is None:
        view = catalog.find_view(name, where) if where else None
        if view is None:
            error = SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
            error.location = relation.get("location")
            raise error
        # A view has columns and nothing else to copy.
        columns = [_column(column_name, type_by_oid(oid).with_typmod(typmod), [])
                   for column_name, oid, typmod in view.columns]  # fmt: skip
        if options & LIKE_COMMENTS:
            for attnum, column in enumerate(columns, start=1):
                column["ColumnDef"][LIKE_COMMENT_KEY] = catalog.comments.get((view.oid, attnum))
        return columns, [], []
    return _copy_table(table, options, catalog)


def _copy_table(table: TableDef, options: int, catalog: CatalogSnapshot) -> tuple[list, list, list]:
    columns = []
    for position, column in enumerate(table.columns):
        if column.dropped:
            continue
        constraints: list[dict] = []
        if column.not_null:
            constraints.append({"Constraint": {"contype": "CONSTR_NOTNULL"}})
        if column.generated is not None and options & LIKE_GENERATED:
            constraints.append(
                {
                    "Constraint": {
                        "contype": "CONSTR_GENERATED",
                        "generated_when": "a",
                        "raw_expr": json.loads(column.generated),
                    }
                }  # fmt: skip
            )
        elif column.identity and options & LIKE_IDENTITY:
            constraints.append(_identity(column, catalog))
        elif column.default_sql is not None and column.sequence_oid is None and options & LIKE_DEFAULTS:
            constraints.append(
                {"Constraint": {"contype": "CONSTR_DEFAULT", "raw_expr": json.loads(column.default_sql)}}
            )
        copied = _column(column.name, column.type, constraints)
        copied["ColumnDef"][LIKE_DOMAIN_KEY] = column.domain_oid
        if options & LIKE_COMMENTS:
            copied["ColumnDef"][LIKE_COMMENT_KEY] = catalog.comments.get((table.oid, position + 1))
        columns.append(copied)
    table_constraints = []
    if options & LIKE_CONSTRAINTS:
        for check in table.checks:
            table_constraints.append(
                {
                    "Constraint": {
                        "contype": "CONSTR_CHECK",
                        "conname": check.name,
                        "raw_expr": json.loads(check.sql),
                    }
                }
            )
    plain_indexes = []
    if options & LIKE_INDEXES:
        for index in table.indexes:
            if index.constraint:
                contype = "CONSTR_PRIMARY" if index.primary else "CONSTR_UNIQUE"
                constraint = {
                    "contype": contype,
                    "keys": [{"String": {"sval": table.columns[i].name}} for i in index.columns],
                    "including": [{"String": {"sval": table.columns[i].name}} for i in index.include],
                    "nulls_not_distinct": index.nulls_not_distinct,
                }
                table_constraints.append({"Constraint": constraint})
            else:
                # An index that backs no constraint stays an index (its expressions and
                # predicate name columns, which the copy has under the same names).
                plain_indexes.append((table, index))
    return columns, table_constraints, plain_indexes


def _column(name: str, column_type: Any, constraints: list) -> dict:
    return {"ColumnDef": {"colname": name, LIKE_TYPE_KEY: column_type, "constraints": constraints}}


def _identity(column: Any, catalog: CatalogSnapshot) -> dict:
    """The identity of a copied column, with its sequence's options (a sequence of its own)."""
    sequence = catalog.sequences_by_oid.get(column.sequence_oid)
    options = []
    if sequence is not None:
        for option, value in (("cache", sequence.cache), ("start", sequence.start),
                              ("increment", sequence.increment), ("minvalue", sequence.min_value),
                              ("maxvalue", sequence.max_value)):  # fmt: skip
            options.append({"DefElem": {"defname": option, "arg": {"Integer": {"ival": value}}}})
        options.append({"DefElem": {"defname": "cycle", "arg": {"Boolean": {"boolval": sequence.cycle}}}})
    return {
        "Constraint": {"contype": "CONSTR_IDENTITY", "generated_when": column.identity, "options": options}
    }


def like_key_name(index: IndexDef, k: int) -> str:
    """The name an expression key gives an index's default name: the function's, else "expr"."""
    return expression_key_name(index.expressions[k][0], index.expressions[k][3])
