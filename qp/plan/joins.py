"""Join order: the inner joins of a FROM as a graph, ordered by estimated cost.

What it owns: turning a tree of inner joins (comma joins and JOIN … ON, nested
or not) into a join graph, choosing the order in which to join its
relations, and building that order from the planner's operators.

- Relations ("leaves") are the FROM items below the inner joins: tables,
  subqueries, functions, and outer joins, which stay whole (their order is
  fixed by their semantics; the inner joins inside each of their sides are
  ordered again when the planner plans that side).
- Every WHERE and ON conjunct becomes a predicate over the leaves it reads.
  One that reads a single leaf filters that leaf (and may become its access
  path); one that reads several is evaluated at the lowest join that has all
  their columns.
- Order: dynamic programming over connected subsets of leaves (DPsub) for up
  to `DP_RELATIONS_MAX` leaves; above that, greedy operator ordering (join
  the pair with the smallest result first). Subsets are joined only when a
  predicate connects them, so there is no cross product unless the graph is
  disconnected; its components are then joined last, smallest first.
- Each join is a hash join on its equality predicates, building on the
  smaller side, or a batched index nested-loop join (exec/index_join.py) when
  one side is a single table with an index on the join columns and the other
  side is small; otherwise a nested loop.

The graph comes from the rewrite rule `join_order` (qp/plan/rules.py), which
leaves a FROM with LATERAL references between its items as written; this
module is physical planning: it orders, costs and builds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qp.bind import expr as E
from qp.bind.query import FromTable
from qp.plan import cost
from qp.plan.index_join import lookup_columns
from qp.plan.logical import JoinGraph, Scan, node_cids
from qp.plan.stats import StatsCache

# DPsub visits 3^n (subset, split) pairs: 59,049 for 10 relations, a few tens
# of milliseconds in Python; 12 would be half a million. Above this, greedy.
DP_RELATIONS_MAX = 10
# A batched index nested-loop join reads the inner table by key, a batch of
# outer rows at a time (exec/index_join.py). Costs per outer row, in rows a
# scan reads (measured on the embedded server: a scan reads a row in ~1.6 µs,
# a batch of point reads costs ~2 µs a key, range scans ~65 µs a key, 16 at a time).
# Outer sides above INDEX_JOIN_OUTER_ROWS_MAX rows are left to hash joins,
# where an estimate that is off would cost many round trips.
INDEX_JOIN_OUTER_ROWS_MAX = 5000.0
INDEX_POINT_COST = 2.0
INDEX_RANGE_COST = 40.0


@dataclass(frozen=True)
class PlannerHooks:
    """What the join orderer needs of the physical planner (passed in: no import cycle)."""

    plan_node: Callable[[Any, set[int]], Any]  # a logical node's operator, given what is read above it
    filter: Callable[[Any, E.Expr], Any]
    join: Callable[..., Any]
    refs: Callable[[list[E.Expr]], set[int]]
    refs_within: Callable[[E.Expr, Any], bool]
    index_join: Callable[..., Any] | None  # None: the index_join rule is off


@dataclass
class Leaf:
    node: Any  # a logical node (qp/plan/logical.py)
    cids: set[int]
    local: list[E.Expr] = field(default_factory=list)
    op: Any = None
    rows: float = 1.0  # after its own filters
    base_rows: float = 1.0  # what a scan of it reads
    lookup: dict[int, bool] = field(default_factory=dict)  # columns an index join can bind first: point read?

    @property
    def table_item(self) -> FromTable | None:
        """The FROM table this leaf scans, if it is a table scan."""
        if isinstance(self.node, Scan) and isinstance(self.node.item, FromTable):
            return self.node.item
        return None


@dataclass
class Predicate:
    expr: E.Expr
    mask: int  # the leaves it reads
    equi: bool  # a column-to-column equality usable as a hash key
    selectivity: float = 1.0
    lookup_mask: int = 0  # leaves this equality can look up by index, given the others
    point_mask: int = 0  # of those, the leaves where that lookup is a point read


@dataclass
class Plan:
    """A join order: a leaf, or two sub-plans joined."""

    mask: int
    rows: float
    cost: float
    leaf: int | None = None
    left: Plan | None = None
    right: Plan | None = None  # with method "index", the table looked up
    method: str = "hash"  # hash | index | loop


def plan_join_graph(
    hooks: PlannerHooks, stats: StatsCache, graph: JoinGraph, needed: set[int]
) -> tuple[Any, list[E.Expr]]:
    """An operator joining the relations of `graph` in the cheapest order found,
    and the predicates it could not place (they read columns from outside it)."""
    leaves = [Leaf(leaf, node_cids(leaf)) for leaf in graph.leaves]
    if hooks.index_join:
        for leaf in leaves:
            leaf.lookup = lookup_columns(leaf.table_item)
    everything = set().union(*(leaf.cids for leaf in leaves))
    above: list[E.Expr] = []
    predicates: list[Predicate] = []
    for c in graph.predicates:
        if not hooks.refs_within(c, everything):
            above.append(c)
            continue
        reads = hooks.refs([c])
        mask = 0
        for i, leaf in enumerate(leaves):
            if reads & leaf.cids:
                mask |= 1 << i
        if mask & (mask - 1) == 0:
            # One leaf's alone (the pushdown rule was off): it filters that leaf.
            leaves[mask.bit_length() - 1 if mask else 0].local.append(c)
        else:
            lookup, point = _lookup_masks(c, leaves)
            predicates.append(
                Predicate(c, mask, _is_equi(c, leaves, mask), lookup_mask=lookup, point_mask=point)
            )
    join_reads = hooks.refs([p.expr for p in predicates]) | hooks.refs(above)
    columns: dict[int, cost.ColumnInfo] = {}
    for i, leaf in enumerate(leaves):
        op = hooks.plan_node(leaf.node, needed | join_reads | hooks.refs(leaf.local))
        if leaf.local:
            op = hooks.filter(op, E.and_all(leaf.local))
        leaf.op = op
        table = leaf.table_item
        if table is not None and not leaf.local:
            table_columns = cost.table_columns(table.table, table.cids, i, stats)
            leaf.base_rows = cost.table_rows(table.table, stats)
            rows = op.plan_rows
            columns.update(table_columns)
        else:
            rows = leaf.base_rows = cost.estimate_operator(op)
            for cid in leaf.cids:
                columns[cid] = cost.ColumnInfo(i, min(cost.DEFAULT_NUM_DISTINCT, rows), 0.0)
        leaf.rows = max(rows, 1.0)
        op.plan_rows = leaf.rows
    rows_of = {i: leaf.rows for i, leaf in enumerate(leaves)}
    for p in predicates:
        p.selectivity = cost.selectivity(p.expr, columns, rows_of)
    best = order(leaves, predicates)
    # What an index join's inner table must give of its rows: what is read above the
    # graph and by its predicates (as a scan of the same table would be asked for).
    keep = needed | join_reads
    return _build(hooks, leaves, predicates, best, keep), above


def _is_equi(c: E.Expr, leaves: list[Leaf], mask: int) -> bool:
    if not (isinstance(c, E.Call) and c.name == "=" and len(c.args) == 2) or bin(mask).count("1") != 2:
        return False
    a, b = (E.column_refs(x) for x in c.args)
    return bool(a) and bool(b) and not (a & b)


def _lookup_masks(c: E.Expr, leaves: list[Leaf]) -> tuple[int, int]:
    """The leaves whose index this equality can probe with values of the other
    leaves, and those among them where the probe is a point read."""
    if not (isinstance(c, E.Call) and c.name == "=" and len(c.args) == 2):
        return 0, 0
    lookup = point = 0
    for column, value in ((c.args[0], c.args[1]), (c.args[1], c.args[0])):
        if not isinstance(column, E.ColumnRef):
            continue
        for i, leaf in enumerate(leaves):
            if column.cid in leaf.lookup and not (E.column_refs(value) & leaf.cids):
                lookup |= 1 << i
                if leaf.lookup[column.cid]:
                    point |= 1 << i
    return lookup, point


def order(leaves: list[Leaf], predicates: list[Predicate]) -> Plan:
    """The cheapest join order found: DP for small graphs, greedy above."""
    singles = [Plan(1 << i, leaf.rows, leaf.rows, leaf=i) for i, leaf in enumerate(leaves)]
    if len(leaves) == 1:
        return singles[0]
    estimator = _Cardinality(leaves, predicates)
    components = _components(len(leaves), predicates)
    plans = []
    for component in components:
        members = [singles[i] for i in range(len(leaves)) if component >> i & 1]
        if len(members) <= DP_RELATIONS_MAX:
            plans.append(_dp(members, component, predicates, estimator))
        else:
            plans.append(_greedy(members, predicates, estimator))
    # Disconnected: the query asked for a cross product; smallest first.
    plans.sort(key=lambda p: p.rows)
    out = plans[0]
    for p in plans[1:]:
        rows = out.rows * p.rows
        out = Plan(out.mask | p.mask, rows, out.cost + p.cost + rows, left=out, right=p, method="loop")
    return out


class _Cardinality:
    """Rows of a set of leaves: the product of their rows and of the selectivities
    of the predicates inside the set (the same whatever the order)."""

    def __init__(self, leaves: list[Leaf], predicates: list[Predicate]) -> None:
        self.leaves = leaves
        self.predicates = predicates
        self.cache: dict[int, float] = {}

    def rows(self, mask: int) -> float:
        found = self.cache.get(mask)
        if found is None:
            rows = 1.0
            for i, leaf in enumerate(self.leaves):
                if mask >> i & 1:
                    rows *= leaf.rows
            for p in self.predicates:
                if p.mask & mask == p.mask:
                    rows *= p.selectivity
            found = self.cache[mask] = max(rows, 1.0)
        return found


def _join(a: Plan, b: Plan, mask: int, rows: float, connecting: list[Predicate]) -> Plan:
    """The cheapest way to join `a` and `b`: hash, index lookups into one of them, or a loop."""
    if any(p.equi for p in connecting):
        big, small = (a, b) if a.rows >= b.rows else (b, a)
        best = Plan(
            mask, rows, a.cost + b.cost + a.rows + b.rows + rows, left=big, right=small, method="hash"
        )
    else:
        best = Plan(mask, rows, a.cost + b.cost + a.rows * b.rows + rows, left=a, right=b, method="loop")
    for outer, inner in ((a, b), (b, a)):
        if inner.leaf is None or not any(p.lookup_mask >> inner.leaf & 1 for p in connecting):
            continue
        if outer.rows > INDEX_JOIN_OUTER_ROWS_MAX:
            continue
        point = any(p.point_mask >> inner.leaf & 1 for p in connecting)
        total = outer.cost + outer.rows * (INDEX_POINT_COST if point else INDEX_RANGE_COST) + rows
        if total < best.cost:
            best = Plan(mask, rows, total, left=outer, right=inner, method="index")
    return best


def _connecting(predicates: list[Predicate], a: int, b: int) -> list[Predicate]:
    both = a | b
    return [p for p in predicates if p.mask & both == p.mask and p.mask & a and p.mask & b]


def _components(n: int, predicates: list[Predicate]) -> list[int]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p in predicates:
        members = [i for i in range(n) if p.mask >> i & 1]
        for m in members[1:]:
            parent[find(m)] = find(members[0])
    groups: dict[int, int] = {}
    for i in range(n):
        groups[find(i)] = groups.get(find(i), 0) | 1 << i
    return list(groups.values())


def _dp(members: list[Plan], component: int, predicates: list[Predicate], estimator: _Cardinality) -> Plan:
    """DPsub: the best plan of every connected subset, from smaller subsets."""
    # Compact bit positions 0..k-1 for the component's leaves.
    positions = [m.leaf for m in members]
    k = len(positions)
    local_of = {leaf: j for j, leaf in enumerate(positions)}

    def to_global(mask: int) -> int:
        out = 0
        for j in range(k):
            if mask >> j & 1:
                out |= 1 << positions[j]
        return out

    neighbours = [0] * k
    for p in predicates:
        if p.mask & component != p.mask:
            continue
        local = 0
        for leaf, j in local_of.items():
            if p.mask >> leaf & 1:
                local |= 1 << j
        for j in range(k):
            if local >> j & 1:
                neighbours[j] |= local & ~(1 << j)
    size = 1 << k
    near = [0] * size  # the neighbours of each subset
    for mask in range(1, size):
        low = mask & -mask
        near[mask] = near[mask ^ low] | neighbours[low.bit_length() - 1]
    best: list[Plan | None] = [None] * size
    for j, m in enumerate(members):
        best[1 << j] = m
    global_of: dict[int, int] = {}
    for mask in _by_size(k):
        if mask & (mask - 1) == 0:
            continue
        low = mask & -mask
        reach = low  # is `mask` connected? Grow from one leaf along the graph's edges.
        while True:
            grown = reach | (near[reach] & mask)
            if grown == reach:
                break
            reach = grown
        if reach != mask:
            continue  # a disconnected subset has no plan: skip its 2^|mask| splits
        chosen: Plan | None = None
        # Splits (sub, mask ^ sub) with `low` in sub, so each pair is seen once.
        sub = (mask - 1) & mask
        while sub:
            if sub & low:
                rest = mask ^ sub
                a, b = best[sub], best[rest]
                if a is not None and b is not None and near[sub] & rest:
                    gmask = global_of.get(mask)
                    if gmask is None:
                        gmask = global_of[mask] = to_global(mask)
                    connecting = _connecting(predicates, a.mask, b.mask)
                    if connecting:
                        joined = _join(a, b, gmask, estimator.rows(gmask), connecting)
                        if chosen is None or joined.cost < chosen.cost:
                            chosen = joined
            sub = (sub - 1) & mask
        best[mask] = chosen
    result = best[size - 1]
    assert result is not None, "a connected component has a plan"
    return result


@functools.cache
def _by_size(k: int) -> tuple[int, ...]:
    """The non-empty subsets of k leaves, smaller ones first (the order DP builds them in)."""
    return tuple(sorted(range(1, 1 << k), key=lambda m: bin(m).count("1")))


def _greedy(members: list[Plan], predicates: list[Predicate], estimator: _Cardinality) -> Plan:
    """Greedy operator ordering: join the connected pair with the smallest result, repeatedly."""
    plans = list(members)
    while len(plans) > 1:
        chosen = None
        for i in range(len(plans)):
            for j in range(i + 1, len(plans)):
                a, b = plans[i], plans[j]
                connecting = _connecting(predicates, a.mask, b.mask)
                if not connecting:
                    continue
                rows = estimator.rows(a.mask | b.mask)
                if chosen is None or rows < chosen[0]:
                    chosen = (rows, i, j, connecting)
        assert chosen is not None, "a connected component always has a connected pair"
        rows, i, j, connecting = chosen
        joined = _join(plans[i], plans[j], plans[i].mask | plans[j].mask, rows, connecting)
        plans = [p for n, p in enumerate(plans) if n not in (i, j)] + [joined]
    return plans[0]


def _build(hooks: PlannerHooks, leaves: list[Leaf], predicates: list[Predicate], plan: Plan, keep: set[int]) -> Any:
    if plan.leaf is not None:
        return leaves[plan.leaf].op
    assert plan.left is not None and plan.right is not None
    conds = [p.expr for p in _connecting(predicates, plan.left.mask, plan.right.mask)]
    left = _build(hooks, leaves, predicates, plan.left, keep)
    op = None
    if plan.method == "index" and hooks.index_join is not None:
        inner = leaves[plan.right.leaf]
        table = inner.table_item
        if table is not None and not inner.local:
            op = hooks.index_join(left, table, inner.node.filters, conds, keep)
    if op is None:
        right = _build(hooks, leaves, predicates, plan.right, keep)
        op = hooks.join("inner", left, right, conds, set(left.cids), set(right.cids))
    op.plan_rows = plan.rows
    return op


__all__ = ["DP_RELATIONS_MAX", "PlannerHooks", "plan_join_graph"]
