"""The expressions of CREATE INDEX: expression keys and a partial index's predicate.

Both are bound once here, over the table's columns, with PostgreSQL's checks
(immutable functions only, no subqueries, no aggregates), and kept as parse
trees in the catalog (IndexDef.expressions, IndexDef.predicate); writers and
the online build compile them again (qp/exec/index_keys.py). A key's text, as
pg_get_indexdef and "Key (...)=(...)" messages show it, is kept beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import column_names_in
from qp.bind.expressions import ExprBinder
from qp.bind.scope import table_scope
from qp.catalog.stored import IndexDef, TableDef, key_kind
from qp.errors import SqlError
from qp.pgcatalog.ruleutils import expression_text
from qp.types import format_type


def index_expression(table: TableDef, node: dict, bc: BindContext) -> tuple[str, int, int, str] | int:
    """An expression key: (parse tree as JSON, type oid, typmod, text); a bare column gives its position."""
    _refuse_subqueries(node, "cannot use subquery in index expression")
    expr = ExprBinder(bc, table_scope(table, bc), QueryLevel(what="index expressions")).bind(node)
    if isinstance(expr, E.ColumnRef):
        position = table.column_index(expr.name) if expr.name else None
        if position is not None:
            return position
    if any(_volatile(n) for n in E.walk(expr)):
        raise SqlError("42P17", "functions in index expression must be marked IMMUTABLE")
    if key_kind(expr.type) is None:
        raise SqlError(
            "0A000", f"an index on an expression of type {format_type(expr.type)} is not supported"
        )
    tree = json.dumps(node)
    return tree, expr.type.oid, expr.type.typmod, expression_text(table, tree, True, bc.eval_ctx)


def index_predicate(table: TableDef, node: dict, bc: BindContext) -> str:
    """A partial index's WHERE, checked; its parse tree as JSON."""
    _refuse_subqueries(node, "cannot use subquery in index predicate")
    expr = ExprBinder(bc, table_scope(table, bc), QueryLevel(what="index predicates")).bind_bool(
        node, "WHERE"
    )
    if any(_volatile(n) for n in E.walk(expr)):
        raise SqlError("42P17", "functions in index predicate must be marked IMMUTABLE")
    return json.dumps(node)


def _volatile(node: E.Expr) -> bool:
    return isinstance(node, E.AsyncCall) or (isinstance(node, E.Call) and node.volatility != "i")


def _refuse_subqueries(node: Any, message: str) -> None:
    if isinstance(node, dict):
        if "SubLink" in node:
            raise SqlError("0A000", message)
        for value in node.values():
            _refuse_subqueries(value, message)
    elif isinstance(node, list):
        for value in node:
            _refuse_subqueries(value, message)


def index_reads_column(index: IndexDef, name: str) -> bool:
    """Whether an index's expressions or predicate name the column `name`."""
    trees = [e[0] for e in index.expressions if e is not None]
    if index.predicate is not None:
        trees.append(index.predicate)
    return any(name in column_names_in(json.loads(tree)) for tree in trees)


def index_with_renamed_column(
    table: TableDef, index: IndexDef, rename: Callable[[Any], Any], ctx: Any
) -> IndexDef:
    """`index` after a column of `table` (already renamed) was renamed: its
    trees rewritten by `rename`, its keys' text printed again."""
    if index.plain and index.predicate is None:
        return index
    expressions = []
    for expression in index.expressions:
        if expression is None:
            expressions.append(None)
            continue
        tree = json.dumps(rename(json.loads(expression[0])))
        text = expression_text(table, tree, True, ctx)
        expressions.append((tree, expression[1], expression[2], text))
    predicate = json.dumps(rename(json.loads(index.predicate))) if index.predicate is not None else None
    return replace(index, expressions=tuple(expressions), predicate=predicate)
