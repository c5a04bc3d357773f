"""CREATE INDEX bound: the table found, the keys (columns and expressions), INCLUDE columns and
predicate checked and bound, DSQL's limits applied and the index named (PostgreSQL's default
name when none is given); qp/ddl/indexes.py adds it write-only and its online build fills it.

CONCURRENTLY changes nothing: every index is built online. Whether existing rows satisfy a
UNIQUE index is for the build to find, not for binding.
"""

from __future__ import annotations

from dataclasses import dataclass

from qp.bind.collation import check_collatable, resolve_collation
from qp.bind.context import BindContext
from qp.bind.ddl.index_exprs import index_expression, index_predicate
from qp.bind.ddl.limits import COLUMNS_PER_KEY_MAX, INDEXES_PER_TABLE_MAX
from qp.bind.ddl.names import check_name, relation_display, schema_of, search_schema
from qp.bind.ddl.naming import choose_name, name_addition
from qp.bind.ddl.skip import SkipDdl
from qp.bind.query import figure_colname
from qp.catalog.stored import CatalogSnapshot, IndexDef, IndexState, TableDef, require_key_type
from qp.errors import SqlError
from qp.parse.parser import string_list


@dataclass(frozen=True, slots=True)
class BoundCreateIndex:
    """CREATE INDEX: the table and the index to add to it (write-only, its oid allocated when
    applied, its index id the table's next)."""

    table: TableDef
    index: IndexDef  # oid 0 until applied


def bind_create_index(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundCreateIndex | SkipDdl:
    relation = body["relation"]
    where = search_schema(schema_of(relation), bc, relation["relname"])
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    if body.get("accessMethod", "btree") not in ("btree", "btree_index"):
        raise SqlError("0A000", "USING not supported for CREATE INDEX")
    columns: list[int] = []
    expressions: list[tuple | None] = []
    key_names: list[str] = []  # for the index's default name
    for elem_node in body.get("indexParams", ()):
        elem = elem_node["IndexElem"]
        if elem.get("ordering", "SORTBY_DEFAULT") not in ("SORTBY_DEFAULT", "SORTBY_ASC") or elem.get(
            "nulls_ordering", "SORTBY_NULLS_DEFAULT"
        ) not in ("SORTBY_NULLS_DEFAULT", "SORTBY_NULLS_LAST"):
            raise SqlError("0A000", "specifying sort order not supported for index keys")
        if "expr" in elem:
            expression = index_expression(table, elem["expr"], bc)
            if isinstance(expression, int):  # a parenthesized column is that column
                position = expression
            else:
                columns.append(-1)
                expressions.append(expression)
                key_names.append(figure_colname(elem["expr"]).replace("?column?", "expr"))
                continue
        else:
            name = elem["name"]
            position = table.column_index(name)
            if position is None:
                raise SqlError("42703", f'column "{name}" does not exist')
        if elem.get("collation"):  # every collation sorts as C: only checked
            check_collatable(table.columns[position].type, unknown_ok=False)
            resolve_collation(string_list(elem["collation"]))
        require_key_type(table.columns[position], "an index")
        columns.append(position)
        expressions.append(None)
        key_names.append(table.columns[position].name)
    include: list[int] = []
    for elem_node in body.get("indexIncludingParams", ()):
        elem = elem_node["IndexElem"]
        if "expr" in elem:
            raise SqlError("0A000", "expressions are not supported in included columns")
        position = table.column_index(elem["name"])
        if position is None:
            raise SqlError("42703", f'column "{elem["name"]}" does not exist')
        include.append(position)
        key_names.append(table.columns[position].name)  # PostgreSQL names an index after all its columns
    predicate = None
    if "whereClause" in body:
        predicate = index_predicate(table, body["whereClause"], bc)
    if len(columns) > COLUMNS_PER_KEY_MAX:
        raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
    if len(table.secondary_indexes) >= INDEXES_PER_TABLE_MAX:
        raise SqlError("54000", f"more than {INDEXES_PER_TABLE_MAX} indexes per table are not allowed")
    index_name = body.get("idxname")
    if index_name:
        check_name(index_name)
        if catalog.relation_name_taken(index_name, table.schema):
            if body.get("if_not_exists"):
                return SkipDdl("CREATE INDEX", (f'relation "{index_name}" already exists, skipping',))
            raise SqlError("42P07", f'relation "{index_name}" already exists')
    else:
        index_name = choose_name(
            table.name,
            name_addition(key_names),
            "idx",
            lambda c: catalog.relation_name_taken(c, table.schema),
        )
    index = IndexDef(
        0,
        index_name,
        table.next_index_id,
        tuple(columns),
        bool(body.get("unique")),
        False,
        IndexState.WRITE_ONLY,
        include=tuple(include),
        nulls_not_distinct=bool(body.get("nulls_not_distinct")),
        predicate=predicate,
        expressions=tuple(expressions) if any(expressions) else (),
    )
    return BoundCreateIndex(table, index)
