"""The logical plan: what a query's FROM and WHERE compute, before any choice of how.

Planning runs in three steps (as DuckDB's planner, optimizer and physical
plan generator do):

1. `logical_from` turns a bound FROM tree and its WHERE into logical nodes,
   exactly as written: one `Scan` per FROM item, one `Join` per JOIN with
   its ON conjuncts, the WHERE as a `Filter` on top.
2. The rewrite rules (qp/plan/rules.py) transform that tree; each can be
   switched off to bisect a wrong result.
3. Physical planning (qp/plan/planner.py) chooses an operator for each node:
   access paths for scans, join order and join methods for join graphs.

The nodes are small mutable records: the rules build new ones or fill in
filters; nothing outside planning sees them. What a SELECT does above its
FROM (grouping, windows, the select list, DISTINCT, ORDER BY, LIMIT) has no
rewrite yet and is planned straight from the bound query, in SQL's order.

This module also owns the column bookkeeping both later steps share: which
columns a node produces, which an expression reads, and whether an
expression can be evaluated from a given set of columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    FromTable,
    FromVirtual,
    FromWorkTable,
)


@dataclass
class Scan:
    """One FROM item: a table, a subquery, a function, a virtual relation or a work table."""

    item: Any  # FromTable | FromSubquery | FromFunction | FromVirtual | FromWorkTable
    filters: list[E.Expr] = field(default_factory=list)  # conjuncts over its own rows
    query: Any = None  # a subquery's query as the rules left it (None: the item's own)

    @property
    def subquery(self) -> Any:
        return self.query if self.query is not None else self.item.query


@dataclass
class Join:
    """A join as written: `kind` is inner, left, right or full."""

    kind: str
    left: Any
    right: Any
    conditions: list[E.Expr]  # the ON conjuncts, evaluated at the join


@dataclass
class JoinGraph:
    """Inner joins whose order is free: relations and the predicates between them."""

    leaves: list[Any]
    predicates: list[E.Expr]  # WHERE and ON conjuncts; physical planning places each


@dataclass
class Filter:
    """Rows of `input` for which every predicate is true."""

    input: Any
    predicates: list[E.Expr]


Node = Scan | Join | JoinGraph | Filter


def logical_from(tree: Any, where: list[E.Expr]) -> Node:
    """The FROM tree `tree` filtered by the WHERE conjuncts `where`, as written."""
    node = _from_item(tree)
    return Filter(node, list(where)) if where else node


def _from_item(tree: Any) -> Node:
    if isinstance(tree, FromJoin):
        return Join(tree.kind, _from_item(tree.left), _from_item(tree.right), E.conjuncts(tree.condition))
    return Scan(tree)


def node_cids(node: Node) -> set[int]:
    """The columns a node's rows carry."""
    if isinstance(node, Scan):
        return item_cids(node.item)
    if isinstance(node, Join):
        return node_cids(node.left) | node_cids(node.right)
    if isinstance(node, JoinGraph):
        return set().union(*(node_cids(leaf) for leaf in node.leaves))
    return node_cids(node.input)


def node_lateral_refs(node: Node) -> set[int]:
    """Columns from outside `node` (to its left) that LATERAL items inside it read."""
    if isinstance(node, Scan):
        return lateral_refs(node.item)
    if isinstance(node, Join):
        return node_lateral_refs(node.left) | (node_lateral_refs(node.right) - node_cids(node.left))
    if isinstance(node, JoinGraph):
        inside = node_cids(node)
        return set().union(*(node_lateral_refs(leaf) for leaf in node.leaves)) - inside
    return node_lateral_refs(node.input)


def item_cids(tree: Any) -> set[int]:
    if isinstance(tree, FromTable):
        return {c for c in tree.cids if c is not None}
    if isinstance(tree, (FromSubquery, FromFunction, FromVirtual, FromWorkTable)):
        return set(tree.cids)
    if isinstance(tree, FromJoin):
        return item_cids(tree.left) | item_cids(tree.right)
    return set()


def lateral_refs(tree: Any) -> set[int]:
    """Columns from outside `tree` (to its left) that LATERAL items inside it read."""
    if isinstance(tree, (FromSubquery, FromFunction)):
        return set(tree.lateral_refs)
    if isinstance(tree, FromJoin):
        return lateral_refs(tree.left) | (lateral_refs(tree.right) - item_cids(tree.left))
    return set()


def refs_within(e: E.Expr, cids: Any, outer: Any = ()) -> bool:
    """Whether `e` reads only the columns `cids` (and values of enclosing queries)."""
    allowed = {c for c in cids if c is not None}
    for node in E.walk(e):
        if isinstance(node, E.ColumnRef) and node.cid not in allowed:
            return False
        if isinstance(node, E.SubLink):
            if any(c not in allowed and c not in outer for c in node.query.outer_refs):
                return False
    return True


def refs(exprs: list[E.Expr]) -> set[int]:
    """Every column identity the expressions read, their subqueries' included."""
    out: set[int] = set()
    for e in exprs:
        for node in E.walk(e):
            if isinstance(node, (E.ColumnRef, E.OuterRef)):
                out.add(node.cid)
            elif isinstance(node, E.SubLink):
                out |= referenced_cids(node.query) | node.query.outer_refs
    return out


def calls_volatile(e: E.Expr) -> bool:
    return any(isinstance(node, E.Call) and node.volatility == "v" for node in E.walk(e))


def referenced_cids(q: Any, include_where: bool = True) -> set[int]:
    """Every column identity a query (and its subqueries) reads, for column pruning.

    `include_where=False` leaves out the top level's WHERE: the planner adds
    back whatever of it is not consumed by an access path.
    """
    out: set[int] = set()
    top = q

    def exprs_of(query: Any):
        if isinstance(query, BoundSelect):
            where = query.where if (include_where or query is not top) else None
            yield from (where, query.having, *query.targets, *query.hidden, *query.group_exprs)
            for window in query.windows:
                yield from (*window.args, *window.partition, *(o[0] for o in window.order), window.filter)
            for agg in query.aggregates:
                yield from agg.args
                yield agg.filter
                yield from (o[0] for o in agg.order)
            yield from _join_conditions(query.from_)
            yield query.limit
            yield query.offset
        elif isinstance(query, BoundValues):
            for row in query.rows:
                yield from row
        elif isinstance(query, (BoundSetOp, BoundRecursive)):
            yield from exprs_of(query.left)
            yield from exprs_of(query.right)

    def visit(query: Any) -> None:
        for e in exprs_of(query):
            if e is None:
                continue
            for node in E.walk(e):
                if isinstance(node, (E.ColumnRef, E.OuterRef)):
                    out.add(node.cid)
                elif isinstance(node, E.SubLink):
                    out.update(node.query.outer_refs)
                    visit(node.query)
        if isinstance(query, BoundSelect):
            _visit_from(query.from_)

    def _visit_from(tree: Any) -> None:
        if isinstance(tree, FromSubquery):
            out.update(tree.query.outer_refs)
        elif isinstance(tree, FromFunction):
            out.update(tree.lateral_refs)
        elif isinstance(tree, FromJoin):
            _visit_from(tree.left)
            _visit_from(tree.right)

    visit(q)
    return out


def _join_conditions(tree: Any):
    if isinstance(tree, FromJoin):
        yield tree.condition
        yield from _join_conditions(tree.left)
        yield from _join_conditions(tree.right)


def describe(node: Node, depth: int = 0) -> list[str]:
    """The logical plan as indented lines (for tests and debugging)."""
    pad = "  " * depth
    if isinstance(node, Scan):
        item = node.item
        name = getattr(getattr(item, "table", None), "name", None) or type(item).__name__
        lines = [f"{pad}Scan {name}" + (f" filters={len(node.filters)}" if node.filters else "")]
        return lines
    if isinstance(node, Join):
        out = [f"{pad}Join {node.kind} conditions={len(node.conditions)}"]
        return out + describe(node.left, depth + 1) + describe(node.right, depth + 1)
    if isinstance(node, JoinGraph):
        out = [f"{pad}JoinGraph predicates={len(node.predicates)}"]
        for leaf in node.leaves:
            out += describe(leaf, depth + 1)
        return out
    return [f"{pad}Filter predicates={len(node.predicates)}"] + describe(node.input, depth + 1)
