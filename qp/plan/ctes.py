"""Which WITH queries the planner materializes, and what decides it.

PostgreSQL 12+ (SS_process_ctes) inlines a WITH query into the query that
reads it when it is referenced once (or declared NOT MATERIALIZED), is not
recursive and calls no volatile function; otherwise it is evaluated once and
every reference reads the stored rows. dsql decides the same way: a
non-volatile query gives the same rows either way, and a volatile one
(`random()`, `nextval()`) must be evaluated once for all its references to
agree.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.bind.query import BoundRecursive, BoundSelect, CteDef, FromWorkTable
from qp.bind.walk import from_items, nested_queries, own_exprs


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
    """Whether a bound query calls a volatile function anywhere (its subqueries
    included; the WITH queries it reads are judged on their own, as PostgreSQL's
    contain_volatile_functions does)."""
    for q in nested_queries(query):
        for expr in own_exprs(q):
            for node in E.walk(expr):
                if isinstance(node, E.AsyncCall) or (isinstance(node, E.Call) and node.volatility == "v"):
                    return True
    return False


def foreign_work_tables(query: Any) -> list:
    """The work tables of enclosing recursive queries that `query` reads (through
    the WITH queries it references too): a WITH query inside a recursive term
    changes with every iteration."""
    read: dict[int, Any] = {}
    defined: set[int] = set()
    for q in nested_queries(query, into_ctes=True):
        if isinstance(q, BoundRecursive) and q.work is not None:
            defined.add(id(q.work))
        if isinstance(q, BoundSelect):
            for item in from_items(q.from_):
                if isinstance(item, FromWorkTable):
                    read[id(item.work)] = item.work
    return [work for key, work in read.items() if key not in defined]
