"""A table's partial-index predicates and index expressions, bound where the table is read.

The planner (qp/plan/access.py) may read a partial index only when the query's
conditions imply its predicate, and may use an expression index only for a
condition on that expression. Both tests compare bound expressions, so the
catalog's parse trees (IndexDef.predicate, IndexDef.expressions) are bound
here over the column ids of the table's occurrence in the query; `same_shape`
then compares two bound expressions by structure, ignoring what binding does
not decide (column names shown, the Python objects of resolved functions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.expressions import ExprBinder
from qp.bind.scope import RangeItem, Scope, ScopeColumn
from qp.catalog.stored import IndexState, TableDef
from qp.errors import SqlError


@dataclass(frozen=True)
class BoundIndexExprs:
    predicate: tuple[E.Expr, ...] | None  # a partial index's conjuncts; None: every row has an entry
    keys: tuple[E.Expr | None, ...]  # per key, its expression (None: the key is a plain column)


def bind_index_exprs(bc: BindContext, table: TableDef, cids: list[int | None]) -> dict[int, BoundIndexExprs]:
    """For each public partial or expression index of `table` (by oid), its bound parts."""
    out: dict[int, BoundIndexExprs] = {}
    indexes = [ix for ix in table.secondary_indexes if not ix.plain and ix.state == IndexState.PUBLIC]
    if not indexes:
        return out
    columns = [
        ScopeColumn(column.name, E.ColumnRef(cid, column.type, column.name))
        for column, cid in zip(table.columns, cids, strict=True)
        if cid is not None
    ]
    scope = Scope(items=[RangeItem(table.name, columns, table)])
    for index in indexes:
        binder = ExprBinder(bc, scope, QueryLevel(what="index expressions"))
        try:
            predicate = None
            if index.predicate is not None:
                predicate = tuple(E.conjuncts(binder.bind_bool(json.loads(index.predicate), "WHERE")))
            keys = tuple(
                binder.bind(json.loads(expression[0])) if expression is not None else None
                for expression in index.expressions
            )
        except SqlError:
            continue  # cannot happen for an index CREATE INDEX accepted; then it is simply not used
        out[index.oid] = BoundIndexExprs(predicate, keys)
    return out


def same_shape(a: Any, b: Any) -> bool:
    return _shape(a) == _shape(b)


def _shape(e: Any) -> Any:
    if isinstance(e, E.ColumnRef):
        return ("col", e.cid)
    if isinstance(e, (list, tuple)):
        return tuple(_shape(x) for x in e)
    if is_dataclass(e) and not isinstance(e, type):
        parts: list[Any] = [type(e).__name__]
        for f in fields(e):
            if f.name in ("impl", "location", "name") and not isinstance(e, E.Call):
                continue
            if f.name in ("impl", "location"):
                continue
            parts.append(_shape(getattr(e, f.name)))
        return tuple(parts)
    if callable(e):
        return "fn"
    try:
        hash(e)
    except TypeError:
        return repr(e)
    return e
