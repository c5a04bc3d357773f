"""Which WITH queries the planner materializes, and the walk that decides it.

PostgreSQL 12+ (SS_process_ctes) inlines a WITH query into the query that
reads it when it is referenced once (or declared NOT MATERIALIZED), is not
recursive and calls no volatile function; otherwise it is evaluated once and
every reference reads the stored rows. dsql decides the same way: a
non-volatile query gives the same rows either way, and a volatile one
(`random()`, `nextval()`) must be evaluated once for all its references to
agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qp import expr as E
from qp.binder.query import (
    BoundRecursive,
    BoundSelect,
    BoundSetOp,
    BoundValues,
    CteDef,
    FromFunction,
    FromJoin,
    FromSubquery,
)


def must_materialize(cte: CteDef) -> bool:
    if cte.materialized == "always":
        return True
    if cte.recursive and cte.refcount > 1:
        return True
    if is_volatile(cte.query):
        return True
    if cte.materialized == "never":
        return False
    return cte.refcount > 1


def is_volatile(query: Any) -> bool:
    """Whether a bound query calls a volatile function anywhere (subqueries included)."""
    for expr in query_exprs(query):
        for node in E.walk(expr):
            if isinstance(node, E.AsyncCall) or (isinstance(node, E.Call) and node.volatility == "v"):
                return True
    return False


def query_exprs(query: Any) -> Iterator[E.Expr]:
    """Every expression of a bound query and of the queries nested in it (not
    the WITH queries it references: those are judged on their own)."""
    pending = [query]
    while pending:
        q = pending.pop()
        for expr in _own_exprs(q, pending):
            yield expr
            for node in E.walk(expr):
                if isinstance(node, E.SubLink):
                    pending.append(node.query)


def _own_exprs(q: Any, pending: list) -> Iterator[E.Expr | None]:
    if isinstance(q, BoundSelect):
        yield from (e for e in (q.where, q.having, q.limit, q.offset) if e is not None)
        yield from (*q.targets, *q.hidden, *q.group_exprs)
        for agg in q.aggregates:
            yield from agg.args
            yield from (o[0] for o in agg.order)
            if agg.filter is not None:
                yield agg.filter
        for window in q.windows:
            yield from (*window.args, *window.partition, *(o[0] for o in window.order))
            if window.filter is not None:
                yield window.filter
        yield from _from_exprs(q.from_, pending)
    elif isinstance(q, BoundValues):
        for row in q.rows:
            yield from row
    elif isinstance(q, (BoundSetOp, BoundRecursive)):
        pending += [q.left, q.right]


def _from_exprs(tree: Any, pending: list) -> Iterator[E.Expr]:
    if isinstance(tree, FromJoin):
        if tree.condition is not None:
            yield tree.condition
        yield from _from_exprs(tree.left, pending)
        yield from _from_exprs(tree.right, pending)
    elif isinstance(tree, FromFunction):
        yield tree.call
    elif isinstance(tree, FromSubquery) and tree.cte_def is None:
        pending.append(tree.query)
