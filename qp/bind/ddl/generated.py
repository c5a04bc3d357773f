"""Generated columns (GENERATED ALWAYS AS (expr) STORED): the checks CREATE TABLE makes.

A generated column keeps its expression's parse tree (ColumnDef.generated);
every INSERT and UPDATE computes it from the other columns of the new row
(qp/exec/dml.py), and the binder refuses it as a target (qp/bind/dml.py).
The expression is checked here once, when the table is created, with
PostgreSQL's errors: it may read only ordinary columns of its own row, and
only through immutable functions, so that a stored value never goes stale.
"""

from __future__ import annotations

import json
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import column_names_in
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import table_scope
from qp.catalog.stored import TableDef
from qp.errors import SqlError

WHAT = "column generation expressions"


def check_generation_expressions(table: TableDef, bc: BindContext) -> None:
    """Bind every generation expression of `table` as PostgreSQL checks it in CREATE TABLE."""
    generated = {c.name for c in table.columns if c.generated is not None and not c.dropped}
    for column in table.columns:
        if column.generated is None or column.dropped:
            continue
        raw = json.loads(column.generated)
        _refuse_subqueries(raw)
        for name in column_names_in(raw):
            if name in generated:
                raise SqlError(
                    "42P17",
                    f'cannot use generated column "{name}" in column generation expression',
                    detail="A generated column cannot reference another generated column.",
                )
        binder = ExprBinder(bc, table_scope(table, bc), QueryLevel(what=WHAT))
        expr = coerce(binder.bind(raw), column.type, bc, "assignment", column.name)
        if any(_volatile(n) for n in E.walk(expr)):
            raise SqlError("42P17", "generation expression is not immutable")


def _volatile(node: E.Expr) -> bool:
    if isinstance(node, E.AsyncCall):
        return True  # nextval and the like
    return isinstance(node, E.Call) and node.volatility != "i"


def _refuse_subqueries(node: Any) -> None:
    if isinstance(node, dict):
        if "SubLink" in node:
            error = SqlError("0A000", "cannot use subquery in column generation expression")
            error.location = node["SubLink"].get("location")
            raise error
        for value in node.values():
            _refuse_subqueries(value)
    elif isinstance(node, list):
        for value in node:
            _refuse_subqueries(value)


def generation_dependents(table: TableDef, column_name: str) -> list[str]:
    """The generated columns of `table` whose expressions read `column_name`."""
    return [
        c.name
        for c in table.columns
        if c.generated is not None
        and not c.dropped
        and column_name in column_names_in(json.loads(c.generated))
    ]
