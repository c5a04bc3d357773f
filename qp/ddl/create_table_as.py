"""CREATE TABLE ... AS and SELECT ... INTO: a table made from a query's result, in one
transaction (an extension: Aurora DSQL has neither).

DSQL keeps DDL and DML in separate transactions. Here the new table's descriptor and its
rows commit together, in the statement's one transaction: no one can see the table before
its rows or its rows before the table, so this costs DSQL's semantics nothing. It counts
as the transaction's one DDL statement, and the rows count against DSQL's row and byte
limits like any INSERT's (54000 past 3,000 rows by default; `dsql.transaction_rows_max`
raises it). The columns take the query's names and types, as PostgreSQL's do (an untyped
literal becomes text); `WITH NO DATA` creates the table only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from qp.bind.context import BindContext
from qp.bind.ddl.create_table import bind_create_table
from qp.bind.ddl.skip import SkipDdl
from qp.bind.dml import bind_insert
from qp.bind.query import QueryBinder
from qp.catalog.stored import RELATION_PREFIX, CatalogSnapshot, TableDef
from qp.catalog.temp_keys import is_temp_oid
from qp.ddl.common import DdlResult
from qp.ddl.tables import apply_create_table
from qp.ddl.temp_objects import name_taken
from qp.errors import SqlError
from qp.exec.compile import ExecFrame
from qp.exec.dml import run_insert
from qp.exec.runtime import RunContext, StatementCaches
from qp.parse.parser import Statement, parse, string_list
from qp.plan.dml import plan_insert
from qp.txn.transaction import Transaction
from qp.types import TEXT, UNKNOWN, SqlType, format_type

# Types a table column cannot have (PostgreSQL: 42P16 "column ... has pseudo-type ...").
_PSEUDO_TYPES = {"record", "void", "cstring", "internal", "trigger", "anyelement", "anyarray", "anynonarray",
                 "anycompatible", "anycompatiblearray", "any"}  # fmt: skip


def into_clause(statement: Statement) -> tuple[dict, dict]:
    """(the INTO clause, the query) of a CREATE TABLE AS or a SELECT ... INTO."""
    body = statement.body
    if statement.kind == "SelectStmt":
        query = {key: value for key, value in body.items() if key != "intoClause"}
        return body["intoClause"], {"SelectStmt": query}
    return body["into"], body["query"]


async def create_table_as(statement: Statement, txn: Transaction, catalog: CatalogSnapshot, bc: BindContext,
                          session: Any) -> DdlResult:  # fmt: skip
    """Create the table and insert the query's rows into `txn` (see the module docstring)."""
    body = statement.body
    if statement.kind == "CreateTableAsStmt":
        if body.get("objtype") == "OBJECT_MATVIEW":
            raise SqlError("0A000", "CREATE MATERIALIZED VIEW is not supported")
        if "SelectStmt" not in body["query"]:
            raise SqlError("0A000", "CREATE TABLE AS EXECUTE is not supported")
    into, query = into_clause(statement)
    if into["rel"].get("relpersistence") != "t" and into.get("onCommit", "ONCOMMIT_NOOP") != "ONCOMMIT_NOOP":
        raise SqlError("42P16", "ON COMMIT can only be used on temporary tables")
    bound = QueryBinder(bc).bind_query(query)
    names = list(bound.names)
    given = string_list(into.get("colNames"))
    if len(given) > len(names):
        raise SqlError("42601", "too many column names were specified")
    names[: len(given)] = given
    relation = into["rel"]
    columns = [_column_def(name, t) for name, t in zip(names, bound.output_types(), strict=True)]
    bound_table = bind_create_table({"relation": relation, "tableElts": columns,
                                     "if_not_exists": body.get("if_not_exists", False)}, catalog, bc,
                                    lambda name, schema: name_taken(catalog, name, schema, txn))  # fmt: skip
    if isinstance(bound_table, SkipDdl):  # IF NOT EXISTS, and it does
        created = DdlResult(bound_table.tag, list(bound_table.notices))
    else:
        created = await apply_create_table(bound_table, txn, catalog)
    if into.get("skipData") or not any(key.startswith(RELATION_PREFIX) for key in txn.buffer.values):
        return DdlResult("CREATE TABLE AS", created.notices)  # WITH NO DATA, or IF NOT EXISTS and it does
    table = _new_table(txn, relation["relname"])
    # Bound against a catalog that has the new table; reads keep the snapshot's catalog
    # version (txn.catalog), which is what storage checks them against.
    with_table = replace(catalog, tables={**catalog.tables, (table.schema, table.name): table}, derived={})
    insert_bc = BindContext(with_table, bc.eval_ctx, resolve_special_relation=bc.resolve_special_relation)
    target = {"relname": table.name, "schemaname": table.schema}
    if is_temp_oid(table.oid):  # found first by its bare name, in the session's pg_temp
        del target["schemaname"]  # (public.name would be refused if a permanent one is hidden)
    plan = plan_insert(insert_bc, bind_insert(insert_bc, {"relation": target, "selectStmt": query}))
    rc = RunContext(txn, ExecFrame((), (), session.ctx), StatementCaches(), session)
    count, _ = await run_insert(plan, rc)
    return DdlResult(f"SELECT {count}", created.notices)


def _column_def(name: str, column_type: SqlType) -> dict:
    """A ColumnDef parse node for a column of `column_type`, as CREATE TABLE would have it."""
    if column_type == UNKNOWN:
        column_type = TEXT  # PostgreSQL resolves an untyped literal to text here
    if column_type.name in _PSEUDO_TYPES:
        raise SqlError("42P16", f'column "{name}" has pseudo-type {column_type.name}')
    (parsed,) = parse(f"CREATE TABLE t (c {format_type(column_type)})")
    type_name = parsed.body["tableElts"][0]["ColumnDef"]["typeName"]
    return {"ColumnDef": {"colname": name, "typeName": type_name, "is_local": True}}


def _new_table(txn: Transaction, name: str) -> TableDef:
    """The descriptor CREATE TABLE just wrote into `txn`."""
    for key, record in txn.buffer.values.items():
        if key.startswith(RELATION_PREFIX) and isinstance(record, dict) and record.get("name") == name \
                and record.get("kind") == "table":  # fmt: skip
            return TableDef.from_record(record)
    raise AssertionError(f"CREATE TABLE wrote no descriptor for {name}")
