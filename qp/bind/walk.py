"""Walking bound queries: every query nested in one, and each one's own expressions.

The binder and the planner both need to look through a whole bound query
(subqueries in expressions, derived tables, functions in FROM): to decide
whether a WITH query is volatile, which work tables it reads, or which WITH
queries an aggregate's arguments use. The walk is here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qp.bind import expr as E
from qp.bind.query import (
    BoundRecursive,
    BoundSelect,
    BoundSetOp,
    BoundValues,
    FromFunction,
    FromJoin,
    FromSubquery,
)


def nested_queries(query: Any, *, into_ctes: bool = False) -> Iterator[Any]:
    """`query` and every query nested in it (depth first, each once); the WITH
    queries it references only if `into_ctes`."""
    pending = [query]
    seen: set[int] = set()
    while pending:
        q = pending.pop()
        if id(q) in seen:
            continue
        seen.add(id(q))
        yield q
        for expr in own_exprs(q):
            for node in E.walk(expr):
                if isinstance(node, E.SubLink):
                    pending.append(node.query)
        if isinstance(q, BoundSelect):
            for item in from_items(q.from_):
                if isinstance(item, FromSubquery):
                    if item.cte_def is None:
                        pending.append(item.query)
                    elif into_ctes:
                        pending.append(item.cte_def.query)
        elif isinstance(q, (BoundSetOp, BoundRecursive)):
            pending += [q.left, q.right]


def own_exprs(q: Any) -> Iterator[E.Expr]:
    """The expressions of one query level (not those of the queries nested in it)."""
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
        for item in _join_tree(q.from_):
            if isinstance(item, FromJoin) and item.condition is not None:
                yield item.condition
            elif isinstance(item, FromFunction):
                yield item.call
    elif isinstance(q, BoundValues):
        for row in q.rows:
            yield from row
    elif isinstance(q, (BoundSetOp, BoundRecursive)):
        yield from (e for e in (q.limit, q.offset) if e is not None)


def from_items(tree: Any) -> Iterator[Any]:
    """The leaves of a FROM tree (tables, subqueries, functions, ...)."""
    for item in _join_tree(tree):
        if not isinstance(item, FromJoin):
            yield item


def _join_tree(tree: Any) -> Iterator[Any]:
    if tree is None:
        return
    yield tree
    if isinstance(tree, FromJoin):
        yield from _join_tree(tree.left)
        yield from _join_tree(tree.right)
