"""Rewrite rules: logical plans (qp/plan/logical.py) to equivalent, cheaper ones.

Each rule is a function from a logical plan to a logical plan that computes
the same rows, and each has a name that can be switched off (`Planner.rules`,
`SET dsql.planner_rules_off = 'pushdown'`) to bisect a wrong result. They run
in the order of `REWRITE_RULES`:

- `prune_outputs`: a FROM subquery's outputs that nothing reads become NULLs
  (PostgreSQL's remove_unused_subquery_outputs), so what they compute is
  never evaluated and its errors never happen.
- `join_order`: a tree of inner joins becomes a join graph (its relations and
  the predicates between them), whose order physical planning then chooses
  by cost. Trees with LATERAL references inside stay as written.
- `pushdown`: each WHERE and ON conjunct moves as deep as it can go: into a
  relation's filters when it reads only that relation (where a table's may
  become its access path), into a FROM subquery's own WHERE when that is safe
  (PostgreSQL's set_subquery_pathlist), into a join's condition when it spans
  both sides of an inner join, and never below the null-extended side of an
  outer join.

Physical choices (access paths, hash joins, batched index joins) are not
rewrites; they are switched in the physical planner under the names in
qp/plan/rule_names.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from qp.bind import expr as E
from qp.bind.query import BoundSelect, FromSubquery, FromTable
from qp.exec.compile import has_sublinks
from qp.plan.ctes import must_materialize
from qp.plan.logical import (
    Filter,
    Join,
    JoinGraph,
    Node,
    Scan,
    calls_volatile,
    node_cids,
    node_lateral_refs,
    refs,
    refs_within,
)
from qp.plan.rule_names import ALL_RULE_NAMES, REWRITE_RULE_NAMES


@dataclass(frozen=True)
class RewriteContext:
    outer: frozenset[int]  # columns of enclosing queries' rows, readable anywhere here
    needed: frozenset[int]  # every column the query reads (for pruning unread outputs)


Rule = Callable[[Node, RewriteContext], Node]


def rewrite(node: Node, rules: frozenset[str], ctx: RewriteContext) -> Node:
    """`node` after every rewrite rule that `rules` leaves on, in order."""
    for name, rule in REWRITE_RULES:
        if name in rules:
            node = rule(node, ctx)
    return node


# -- prune_outputs ---------------------------------------------------------------------


def prune_outputs(node: Node, ctx: RewriteContext) -> Node:
    if isinstance(node, Scan):
        if isinstance(node.item, FromSubquery) and not _materialized(node.item):
            node.query = prune_query_outputs(node.subquery, node.item.cids, ctx.needed)
        return node
    if isinstance(node, Join):
        node.left, node.right = prune_outputs(node.left, ctx), prune_outputs(node.right, ctx)
    elif isinstance(node, JoinGraph):
        node.leaves = [prune_outputs(leaf, ctx) for leaf in node.leaves]
    else:
        node.input = prune_outputs(node.input, ctx)
    return node


def prune_query_outputs(query: Any, cids: list[int], needed: Any) -> Any:
    """A FROM subquery without the outputs nothing above reads (they become NULLs).

    Besides saving the work, an unread column is never evaluated, so its errors
    never happen (`SELECT a FROM (SELECT a, (SELECT b FROM many_rows) AS b FROM t) s`
    returns rows). Outputs that sort, DISTINCT, set-returning functions and
    volatile expressions stay, as in PostgreSQL.
    """
    if not isinstance(query, BoundSelect) or query.distinct or query.distinct_on is not None or query.has_srf:
        return query
    sorted_by = {key.cid for key in query.order_by}
    targets = list(query.targets)
    for i, (cid, target, target_cid) in enumerate(zip(cids, query.targets, query.target_cids, strict=True)):
        if cid in needed or target_cid in sorted_by or isinstance(target, E.Const) or calls_volatile(target):
            continue
        targets[i] = E.Const(None, target.type)
    if all(a is b for a, b in zip(targets, query.targets, strict=True)):
        return query
    return replace(query, targets=targets)


def _materialized(item: FromSubquery) -> bool:
    return item.cte_def is not None and must_materialize(item.cte_def)


# -- join_order ------------------------------------------------------------------------


def collect_join_graphs(node: Node, ctx: RewriteContext) -> Node:
    if isinstance(node, Filter):
        node.input = collect_join_graphs(node.input, ctx)
        return node
    if isinstance(node, JoinGraph):
        node.leaves = [collect_join_graphs(leaf, ctx) for leaf in node.leaves]
        return node
    if not isinstance(node, Join):
        return node
    if node.kind != "inner":
        node.left, node.right = collect_join_graphs(node.left, ctx), collect_join_graphs(node.right, ctx)
        return node
    leaves: list[Node] = []
    predicates: list[E.Expr] = []
    _flatten(node, leaves, predicates)
    everything = set().union(*(node_cids(leaf) for leaf in leaves))
    if any(node_lateral_refs(leaf) & everything for leaf in leaves):
        # An item reads columns of another: it must come after it, as written.
        node.left, node.right = collect_join_graphs(node.left, ctx), collect_join_graphs(node.right, ctx)
        return node
    return JoinGraph([collect_join_graphs(leaf, ctx) for leaf in leaves], predicates)


def _flatten(node: Node, leaves: list[Node], predicates: list[E.Expr]) -> None:
    """The relations and ON conjuncts of a tree of inner joins (conjuncts of the
    left subtree first, then the right's, then the join's own)."""
    if isinstance(node, Join) and node.kind == "inner":
        _flatten(node.left, leaves, predicates)
        _flatten(node.right, leaves, predicates)
        predicates += node.conditions
    else:
        leaves.append(node)


# -- pushdown --------------------------------------------------------------------------


def push_filters(node: Node, ctx: RewriteContext) -> Node:
    pushed, rest = _push(node, [], ctx.outer)
    return Filter(pushed, rest) if rest else pushed


def _push(node: Node, conjuncts: list[E.Expr], outer: frozenset[int]) -> tuple[Node, list[E.Expr]]:
    """`node` with as many of `conjuncts` as it can take pushed inside it, and the
    conjuncts left for the caller to evaluate above it."""
    if isinstance(node, Filter):
        inner, rest = _push(node.input, node.predicates + conjuncts, outer)
        return inner, rest
    if isinstance(node, Scan):
        return _push_scan(node, conjuncts, outer)
    if isinstance(node, JoinGraph):
        return _push_graph(node, conjuncts, outer)
    lateral = node_lateral_refs(node.right) & node_cids(node.left)
    if lateral:
        return _push_lateral_join(node, conjuncts, outer, lateral)
    return _push_join(node, conjuncts, outer)


def _filtered(node: Node, conjuncts: list[E.Expr], outer: frozenset[int]) -> Node:
    """`node` with `conjuncts` pushed in, and a Filter above for what it could not take."""
    pushed, rest = _push(node, conjuncts, outer)
    return Filter(pushed, rest) if rest else pushed


def _push_scan(node: Scan, conjuncts: list[E.Expr], outer: frozenset[int]) -> tuple[Node, list[E.Expr]]:
    item = node.item
    if isinstance(item, FromTable):
        mine = [c for c in conjuncts if refs_within(c, item.cids, outer)]
        node.filters = node.filters + mine
        return node, [c for c in conjuncts if not any(c is m for m in mine)]
    if isinstance(item, FromSubquery) and not _materialized(item):
        node.query, rest = push_into_subquery(node.subquery, item.cids, conjuncts)
        return node, rest
    return node, conjuncts


def _push_join(node: Join, conjuncts: list[E.Expr], outer: frozenset[int]) -> tuple[Node, list[E.Expr]]:
    kind = node.kind
    left_cids, right_cids = node_cids(node.left), node_cids(node.right)
    to_left: list[E.Expr] = []
    to_right: list[E.Expr] = []
    conditions: list[E.Expr] = []
    above: list[E.Expr] = []
    for c in conjuncts:  # from WHERE (or an enclosing inner join)
        if kind in ("inner", "left") and refs_within(c, left_cids, outer):
            to_left.append(c)
        elif kind in ("inner", "right") and refs_within(c, right_cids, outer):
            to_right.append(c)
        elif kind == "inner" and refs_within(c, left_cids | right_cids, outer):
            conditions.append(c)
        else:
            above.append(c)
    for c in node.conditions:
        # An ON conjunct on one side filters that side only where that side is not null-extended.
        if kind in ("inner", "right") and refs_within(c, left_cids, outer):
            to_left.append(c)
        elif kind in ("inner", "left") and refs_within(c, right_cids, outer):
            to_right.append(c)
        else:
            conditions.append(c)
    node.left = _filtered(node.left, to_left, outer)
    node.right = _filtered(node.right, to_right, outer)
    node.conditions = conditions
    return node, above


def _push_lateral_join(
    node: Join, conjuncts: list[E.Expr], outer: frozenset[int], lateral: set[int]
) -> tuple[Node, list[E.Expr]]:
    """The right side reads columns of the left, so runs once per left row: WHERE
    conjuncts on one side alone filter that side first; ON stays at the join."""
    to_left: list[E.Expr] = []
    to_right: list[E.Expr] = []
    above: list[E.Expr] = []
    left_cids, right_cids = node_cids(node.left), node_cids(node.right)
    for c in conjuncts:
        if refs_within(c, left_cids, outer):
            to_left.append(c)
        elif node.kind == "inner" and not has_sublinks([c]) and refs_within(c, right_cids, outer):
            to_right.append(c)
        else:
            above.append(c)
    node.left = _filtered(node.left, to_left, outer)
    # The right side sees the left's lateral columns as values of an enclosing row.
    node.right = _filtered(node.right, to_right, outer | frozenset(lateral))
    return node, above


def _push_graph(node: JoinGraph, conjuncts: list[E.Expr], outer: frozenset[int]) -> tuple[Node, list[E.Expr]]:
    everything = node_cids(node)
    above: list[E.Expr] = []
    local: list[list[E.Expr]] = [[] for _ in node.leaves]
    spanning: list[E.Expr] = []
    for c in conjuncts + node.predicates:
        if not refs_within(c, everything, outer):
            above.append(c)
            continue
        i = single_leaf(c, node.leaves)
        if i is None:
            spanning.append(c)
        else:
            local[i].append(c)
    node.leaves = [_filtered(leaf, mine, outer) for leaf, mine in zip(node.leaves, local, strict=True)]
    node.predicates = spanning
    return node, above


def single_leaf(c: E.Expr, leaves: list[Node]) -> int | None:
    """The one leaf whose columns `c` reads (the first if it reads none), or None."""
    reads = refs([c])
    found = None
    for i, leaf in enumerate(leaves):
        if reads & node_cids(leaf):
            if found is not None:
                return None
            found = i
    return 0 if found is None else found


def push_into_subquery(query: Any, cids: list[int], conjuncts: list[E.Expr]) -> tuple[Any, list[E.Expr]]:
    """WHERE conjuncts on a FROM subquery's outputs, moved into its own WHERE.

    PostgreSQL's set_subquery_pathlist pushes such quals down (where they can use
    the subquery's indexes), so its select list is computed only for the rows that
    pass them: `SELECT * FROM (SELECT x, 1/x AS r FROM t) s WHERE x <> 0` does not
    divide by zero. As there, only into a plain SELECT (no aggregation, window,
    DISTINCT, LIMIT or set-returning function) and only conjuncts without
    subqueries, over outputs that call nothing volatile. Returns the new query and
    the conjuncts left for above it.
    """
    if (
        not isinstance(query, BoundSelect)
        or query.aggregated
        or query.windows
        or query.distinct
        or query.distinct_on is not None
        or query.has_srf
        or query.limit is not None
        or query.offset is not None
    ):
        return query, conjuncts
    outputs = dict(zip(cids, query.targets, strict=True))
    pushed: list[E.Expr] = []
    rest: list[E.Expr] = []

    def substitute(e: E.Expr) -> E.Expr:
        if isinstance(e, E.ColumnRef):
            return outputs[e.cid]
        return E.map_children(e, substitute)

    for c in conjuncts:
        reads = E.column_refs(c)
        if (
            reads
            and reads <= outputs.keys()
            and not has_sublinks([c])
            and not calls_volatile(c)
            and not any(has_sublinks([outputs[cid]]) or calls_volatile(outputs[cid]) for cid in reads)
        ):
            pushed.append(substitute(c))
        else:
            rest.append(c)
    if not pushed:
        return query, conjuncts
    return replace(query, where=E.and_all([*E.conjuncts(query.where), *pushed])), rest


REWRITE_RULES: tuple[tuple[str, Rule], ...] = (
    ("prune_outputs", prune_outputs),
    ("join_order", collect_join_graphs),
    ("pushdown", push_filters),
)
assert tuple(name for name, _ in REWRITE_RULES) == REWRITE_RULE_NAMES
ALL_RULES = ALL_RULE_NAMES

__all__ = ["ALL_RULES", "REWRITE_RULES", "RewriteContext", "rewrite"]
