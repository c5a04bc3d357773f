"""Physical planning: logical plans and bound queries to trees of operators.

A statement's FROM and WHERE become a logical plan (qp/plan/logical.py), the
rewrite rules (qp/plan/rules.py: prune_outputs, join_order, pushdown)
transform it, and `plan_node` chooses an operator for each node:
1. A table's filters become its access path (qp/plan/access.py, physical
   rule "access_paths"): key lookups, ranges, storage-side filters.
2. A join graph is ordered by estimated cost (qp/plan/joins.py); joins with
   equality conditions become hash joins (rule "hash_join"), or batched
   index nested-loop joins where they pay (rule "index_join"); others
   nested loops. A join whose right side reads its left side's columns
   (LATERAL, or a function in FROM) is a nested loop that runs the right
   side once per left row, with those columns as outer values.
3. Above the FROM: aggregation, HAVING, the select list (with set-returning
   functions if any), DISTINCT, ORDER BY, DISTINCT ON, LIMIT, in SQL's order,
   straight from the bound query.
4. Every subquery inside an expression gets its own plan; correlated ones
   receive the enclosing row's columns they read as `outer` values.

Each rule, rewrite or physical, can be switched off (`Planner.rules`,
`SET dsql.planner_rules_off`) to bisect a wrong result.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from qp.bind import expr as E
from qp.bind.expressions import SetReturning
from qp.bind.query import (
    BoundRecursive,
    BoundSelect,
    BoundSetOp,
    BoundValues,
    FromFunction,
    FromSubquery,
    FromTable,
    FromVirtual,
    FromWorkTable,
)
from qp.errors import SqlError
from qp.exec.aggregate import HashAggregate
from qp.exec.append import Append
from qp.exec.compile import Layout, compile_row, compile_scalar, has_sublinks
from qp.exec.cte_scan import CteScan
from qp.exec.grouping_sets import GroupingSetsAggregate
from qp.exec.joins import HashJoin, LateralJoin, NestedLoopJoin
from qp.exec.operators import Operator, SublinkSlots
from qp.exec.project import FilterProject, ProjectSet, Rename
from qp.exec.scans import Empty, FunctionScan, OneRow, ValuesOp, VirtualScan
from qp.exec.setops import RecursiveUnion, SetOperation, WorkTableScan
from qp.exec.sort import Distinct, Limit, Sort
from qp.exec.windows import WindowAgg
from qp.plan.access import plan_table
from qp.plan.cost import scan_rows
from qp.plan.ctes import foreign_work_tables, is_volatile, must_materialize
from qp.plan.index_join import plan_index_join
from qp.plan.joins import PlannerHooks, plan_join_graph
from qp.plan.logical import (
    Filter,
    Join,
    JoinGraph,
    Node,
    Scan,
    calls_volatile,
    logical_from,
    node_cids,
    node_lateral_refs,
    referenced_cids,
    refs,
    refs_within,
)
from qp.plan.rules import ALL_RULES, RewriteContext, rewrite
from qp.plan.stats import EMPTY_STATS, StatsCache
from qp.types import UNKNOWN, group_key, sort_key

DEFAULT_RULES = ALL_RULES

_INT_FAMILY = frozenset({20, 21, 23})


class Planner:
    def __init__(self, outer_positions: dict[int, int] | None = None, rules: frozenset[str] = DEFAULT_RULES,
                 cte_plans: dict[int, Operator] | None = None, stats: StatsCache = EMPTY_STATS) -> None:
        self.outer_positions = outer_positions or {}
        self.rules = rules
        self.stats = stats  # table statistics for the join orderer's estimates
        # Plans of materialized WITH queries, by definition: planned once per statement.
        self.cte_plans: dict[int, Operator] = cte_plans if cte_plans is not None else {}

    def _nested(self, outer_positions: dict[int, int]) -> Planner:
        """A planner for a query nested in this one (a subquery, a LATERAL item)."""
        return Planner(outer_positions, self.rules, self.cte_plans, self.stats)

    # -- queries -------------------------------------------------------------------

    def plan_query(self, q: Any) -> Operator:
        if isinstance(q, BoundSelect):
            return self._plan_select(q)
        if isinstance(q, BoundValues):
            return self._plan_values(q)
        if isinstance(q, BoundSetOp):
            return self._plan_setop(q)
        if isinstance(q, BoundRecursive):
            left = self._side(q.left, q.left_casts, q.target_cids)
            right = self._side(q.right, q.right_casts, q.target_cids)
            op: Operator = RecursiveUnion(left, right, q.all, q.work, [group_key(t) for t in q.types])
            return self._order_limit(op, q)
        raise SqlError("0A000", f"cannot plan {type(q).__name__}")

    def _plan_select(self, q: BoundSelect) -> Operator:
        conjuncts = E.conjuncts(q.where)
        needed = referenced_cids(q, include_where=False)
        if q.aggregated and not q.group_exprs and not q.aggregates and q.grouping_sets is None:
            # HAVING alone: one group whatever the input, and nothing reads its rows,
            # so (as in PostgreSQL's plan) FROM and WHERE are never run.
            op: Operator = Empty([])
        elif q.from_ is None:
            op = OneRow()
            if conjuncts:
                op = self._filter(op, E.and_all(conjuncts))
        else:
            op = self.plan_source(q.from_, conjuncts, needed)
        if q.aggregated:
            group_exprs, agg_exprs = list(q.group_exprs), []
            aggregates = [_guarded_by_filter(agg) for agg in q.aggregates]
            for agg in aggregates:
                agg_exprs += list(agg.args) + ([agg.filter] if agg.filter is not None else [])
                agg_exprs += [o[0] for o in agg.order]
            exprs, slots = self.prepare_sublinks(group_exprs + agg_exprs, op.cids)
            if slots:
                group_exprs = exprs[: len(group_exprs)]
                aggregates = _replace_agg_inputs(aggregates, exprs[len(group_exprs):])
            group_fns = [group_key(e.type) for e in group_exprs]
            if q.grouping_sets is not None:
                op = GroupingSetsAggregate(
                    op, group_exprs, q.group_cids, aggregates, group_fns, q.grouping_sets, q.groupings,
                    self.outer_positions, slots,
                )
            else:
                op = HashAggregate(op, group_exprs, q.group_cids, aggregates, group_fns, self.outer_positions, slots)
            if q.having is not None:
                op = self._filter(op, q.having)
        if q.windows:
            op = self._windows(op, q.windows)
        exprs = list(q.targets) + list(q.hidden)
        cids = list(q.target_cids) + list(q.hidden_cids)
        if q.has_srf:
            calls, srf_cids, exprs = _extract_set_returning(exprs)
            op = ProjectSet(op, calls, srf_cids, self.outer_positions)
            op = self._project(op, exprs, cids)
        elif not _is_identity(exprs, op.cids, cids):
            op = self._project(op, exprs, cids)
        if q.distinct:
            fns = [group_key(t.type) for t in q.targets]
            op = Distinct(op, fns, list(q.target_cids))
        if q.order_by:
            op = Sort(op, [(k.cid, sort_key(k.type), k.desc, k.nulls_first) for k in q.order_by])
        if q.distinct_on is not None:
            types = {cid: t.type for cid, t in zip(q.target_cids, q.targets, strict=True)}
            op = Distinct(op, [group_key(types[c]) for c in q.distinct_on], list(q.distinct_on))
        if q.limit is not None or q.offset is not None:
            op = Limit(op, q.limit, q.offset, self.outer_positions)
        if q.hidden:
            op = FilterProject(op, None, [E.ColumnRef(c, UNKNOWN) for c in q.target_cids], list(q.target_cids),
                               SublinkSlots([]), self.outer_positions)
        return op

    def _windows(self, op: Operator, windows: list) -> Operator:
        inputs = [e for w in windows for e in (*w.args, *w.partition, *(o[0] for o in w.order))]
        if has_sublinks(inputs):
            raise SqlError("0A000", "subqueries inside window function calls are not supported")
        return WindowAgg(op, windows, self.outer_positions)

    def _plan_values(self, q: BoundValues) -> Operator:
        prepared = [self.prepare_sublinks(row, []) for row in q.rows]
        cids = list(q.target_cids)
        op: Operator
        if len(prepared) > 1 and any(slots for _, slots in prepared):
            # Each row evaluates its own subqueries: one VALUES operator per row, in order.
            op = Append([ValuesOp([exprs], cids, slots, self.outer_positions) for exprs, slots in prepared], cids)
        else:
            slots = prepared[0][1] if prepared else SublinkSlots([])
            op = ValuesOp([exprs for exprs, _ in prepared], cids, slots, self.outer_positions)
        return self._order_limit(op, q)

    def _cte_scan(self, tree: FromSubquery) -> Operator:
        """A reference to a WITH query evaluated once for all its references."""
        cte = tree.cte_def
        outer = sorted(cte.query.outer_refs)
        plan = self.cte_plans.get(id(cte))
        if plan is None:
            plan = self._nested({cid: i for i, cid in enumerate(outer)}).plan_query(cte.query)
            self.cte_plans[id(cte)] = plan
        missing = [cid for cid in outer if cid not in self.outer_positions]
        assert not missing, f"WITH query {cte.name} reads outer columns {missing} not passed here"
        return CteScan(cte, plan, list(tree.cids), [self.outer_positions[cid] for cid in outer],
                       foreign_work_tables(cte.query))

    def _plan_setop(self, q: BoundSetOp) -> Operator:
        left = self._side(q.left, q.left_casts, q.target_cids)
        right = self._side(q.right, q.right_casts, q.target_cids)
        op: Operator = SetOperation(q.op, q.all, left, right, list(q.target_cids), [group_key(t) for t in q.types])
        return self._order_limit(op, q)

    def _side(self, query: Any, casts: list[E.Expr] | None, cids: list[int]) -> Operator:
        op = self.plan_query(query)
        if casts is None:
            return Rename(op, cids)
        return FilterProject(op, None, casts, cids, SublinkSlots([]), self.outer_positions)

    def _order_limit(self, op: Operator, q: Any) -> Operator:
        if q.order_by:
            op = Sort(op, [(k.cid, sort_key(k.type), k.desc, k.nulls_first) for k in q.order_by])
        if q.limit is not None or q.offset is not None:
            op = Limit(op, q.limit, q.offset, self.outer_positions)
        return op

    # -- FROM: logical plan, rewrites, physical plan ----------------------------------------

    def plan_source(self, tree: Any, conjuncts: list[E.Expr], needed: set[int]) -> Operator:
        """An operator for the FROM tree `tree` filtered by the WHERE `conjuncts`.

        `needed` is what the rest of the statement reads of its rows (not counting
        `conjuncts`), so columns used only to find rows are not fetched.
        """
        node = logical_from(tree, conjuncts)
        context = RewriteContext(frozenset(self.outer_positions), frozenset(needed | refs(conjuncts)))
        return self.plan_node(rewrite(node, self.rules, context), needed)

    def plan_node(self, node: Node, needed: set[int]) -> Operator:
        """The physical operator for a logical node (qp/plan/logical.py)."""
        if isinstance(node, Filter):
            op = self.plan_node(node.input, needed | refs(node.predicates))
            return self._filter(op, E.and_all(node.predicates)) if node.predicates else op
        if isinstance(node, Scan):
            op = self._plan_scan(node, needed)
            return self._filter(op, E.and_all(node.filters)) if node.filters and not isinstance(
                node.item, FromTable) else op
        if isinstance(node, JoinGraph):
            op, above = plan_join_graph(self._join_hooks(), self.stats, node, needed)
            return self._filter(op, E.and_all(above)) if above else op
        lateral = node_lateral_refs(node.right) & node_cids(node.left)
        if lateral:
            return self._plan_lateral_join(node, needed, sorted(lateral))
        needed = needed | refs(node.conditions)
        left = self.plan_node(node.left, needed)
        right = self.plan_node(node.right, needed)
        kind = node.kind
        if kind == "right":
            left, right = right, left
            kind = "left"
        return self._join(kind, left, right, node.conditions, set(left.cids), set(right.cids))

    def _plan_scan(self, node: Scan, needed: set[int]) -> Operator:
        """A FROM item's operator; a table's filters become its access path where they can."""
        item = node.item
        if isinstance(item, FromTable):
            options = {"for_update": item.for_update, "outer_positions": self.outer_positions,
                       "with_key": item.with_key, "all_columns": item.all_columns,
                       "index_exprs": item.index_exprs}
            if "access_paths" not in self.rules:
                op, _ = plan_table(item.table, item.cids, [], needed | refs(node.filters), **options)
                op.plan_rows = scan_rows(item.table, item.cids, [], self.stats)
                if node.filters:
                    op = self._filter(op, E.and_all(node.filters))
                    op.plan_rows = scan_rows(item.table, item.cids, node.filters, self.stats)
                return op
            op, later = plan_table(item.table, item.cids, node.filters, needed, **options)
            if later:
                op = self._filter(op, E.and_all(later))
            op.plan_rows = scan_rows(item.table, item.cids, node.filters, self.stats)  # for EXPLAIN, join order
            return op
        if isinstance(item, FromSubquery):
            if item.cte_def is not None and must_materialize(item.cte_def):
                return self._cte_scan(item)
            sub = self._nested(self.outer_positions).plan_query(node.subquery)
            return Rename(sub, list(item.cids))
        if isinstance(item, FromFunction):
            record = bool(item.call.type.fields)
            return FunctionScan(item.call, list(item.cids), item.ordinality, record, self.outer_positions)
        if isinstance(item, FromVirtual):
            return VirtualScan(item.relation, list(item.cids))
        if isinstance(item, FromWorkTable):
            return WorkTableScan(item.work, list(item.cids))
        raise SqlError("0A000", f"cannot plan FROM item {type(item).__name__}")

    def _join_hooks(self) -> PlannerHooks:
        index_join = None
        if "index_join" in self.rules:
            def index_join(outer: Operator, tree: FromTable, local: list, conds: list,
                           keep: set[int]) -> Operator | None:  # fmt: skip
                return plan_index_join(outer, tree, local, conds, self.outer_positions, keep)
        return PlannerHooks(self.plan_node, self._filter, self._join, refs,
                            lambda e, cids: refs_within(e, cids, self.outer_positions), index_join)

    def _plan_lateral_join(self, node: Join, needed: set[int], lateral: list[int]) -> Operator:
        """The right side reads `lateral` columns of the left: run it once per left row."""
        if node.kind not in ("inner", "left"):  # the binder refuses such references
            raise SqlError("42P10", "a LATERAL reference needs an INNER or LEFT join")
        needed = needed | refs(node.conditions)
        left = self.plan_node(node.left, needed | set(lateral))
        # The right side sees this level's outer values where they were, then
        # the lateral columns after them.
        positions = dict(self.outer_positions)
        for cid in lateral:
            positions[cid] = len(positions)
        right = self._nested(positions).plan_node(node.right, needed)
        cond = E.and_all(node.conditions)
        slots = SublinkSlots([])
        if cond is not None and has_sublinks([cond]):
            exprs, slots = self.prepare_sublinks([cond], left.cids + right.cids)
            cond = exprs[0]
        return LateralJoin(node.kind, left, right, lateral, cond, slots, self.outer_positions)

    def _join(self, kind: str, left: Operator, right: Operator, conds: list[E.Expr],
              left_cids: set[int], right_cids: set[int]) -> Operator:
        left_keys, right_keys, residual = [], [], []
        if "hash_join" in self.rules:
            for c in conds:
                pair = _equi_pair(c, left_cids, right_cids)
                if pair is None:
                    residual.append(c)
                else:
                    left_keys.append(pair[0])
                    right_keys.append(pair[1])
        else:
            residual = list(conds)
        if left_keys:
            rest = E.and_all(residual)
            if rest is not None and has_sublinks([rest]):
                op = HashJoin(kind, left, right, left_keys, right_keys, None,
                              [group_key(k.type) for k in left_keys], self.outer_positions)
                if kind != "inner":
                    raise SqlError("0A000", "subqueries in outer join conditions are not supported")
                return self._filter(op, rest)
            return HashJoin(kind, left, right, left_keys, right_keys, rest,
                            [group_key(k.type) for k in left_keys], self.outer_positions)
        cond = E.and_all(residual)
        slots = SublinkSlots([])
        if cond is not None and has_sublinks([cond]):
            exprs, slots = self.prepare_sublinks([cond], left.cids + right.cids)
            cond = exprs[0]
        return NestedLoopJoin(kind, left, right, cond, slots, self.outer_positions)

    # -- expressions with subqueries --------------------------------------------------------

    def _filter(self, op: Operator, predicate: E.Expr) -> Operator:
        exprs, slots = self.prepare_sublinks([predicate], op.cids)
        return FilterProject(op, exprs[0], None, None, slots, self.outer_positions)

    def _project(self, op: Operator, exprs: list[E.Expr], cids: list[int]) -> Operator:
        exprs, slots = self.prepare_sublinks(exprs, op.cids)
        return FilterProject(op, None, exprs, cids, slots, self.outer_positions)

    def prepare_sublinks(self, exprs: list[E.Expr], input_cids: list[int]) -> tuple[list[E.Expr], SublinkSlots]:
        """Give each subquery in `exprs` a slot and a plan; returns the rewritten exprs."""
        slots: list = []
        input_set = set(input_cids)

        def visit(e: E.Expr) -> E.Expr:
            e = E.map_children(e, visit)
            if isinstance(e, E.AsyncCall):
                args_fn = compile_row(list(e.args), Layout(input_cids, self.outer_positions))
                linked = replace(e, slot=len(slots))
                slots.append((linked, None, args_fn, None, False))
                return linked
            if not isinstance(e, E.SubLink):
                return e
            outer = sorted(e.query.outer_refs)
            sub_positions = {cid: i for i, cid in enumerate(outer)}
            plan = self._nested(sub_positions).plan_query(e.query)
            layout = Layout(input_cids, self.outer_positions)
            extractor = None
            if outer:
                refs = [E.ColumnRef(c, UNKNOWN) if c in input_set else E.OuterRef(c, UNKNOWN) for c in outer]
                extractor = compile_row(refs, layout)
            test_fn = compile_scalar(e.test, layout) if e.test is not None else None
            linked = replace(e, slot=len(slots))
            # PostgreSQL runs a correlated subquery again for every row (only an
            # uncorrelated one is an initplan, run once), so results kept by outer
            # values would repeat what random() or nextval() gave an earlier row.
            memoize = not (outer and is_volatile(e.query))
            slots.append((linked, plan, extractor, test_fn, memoize))
            return linked

        out = [visit(e) if e is not None else None for e in exprs]
        return out, SublinkSlots(slots)


_synthetic_cids = itertools.count(1 << 40)  # identities the planner invents (never clash with the binder's)


def _extract_set_returning(exprs: list[E.Expr]) -> tuple[list[E.Call], list[int], list[E.Expr]]:
    """Replace each set-returning call in `exprs` by a column its ProjectSet will fill."""

    calls: list[E.Call] = []
    cids: list[int] = []

    def visit(e: E.Expr) -> E.Expr:
        if isinstance(e, SetReturning):
            if any(isinstance(n, SetReturning) for a in e.call.args for n in E.walk(a)):
                raise SqlError("0A000", "set-returning functions nested in set-returning function arguments are not supported")
            calls.append(e.call)
            cids.append(next(_synthetic_cids))
            return E.ColumnRef(cids[-1], e.type)
        return E.map_children(e, visit)

    return calls, cids, [visit(e) for e in exprs]


def _guarded_by_filter(agg: Any) -> Any:
    """An aggregate whose arguments are computed only for rows its FILTER keeps.

    HashAggregate computes every input of a row in one projection; PostgreSQL
    evaluates the arguments only for rows that pass the FILTER, so
    `sum(1/x) FILTER (WHERE x > 0)` must not divide by zero. A row the filter
    rejects is skipped before its arguments are read, so what they hold then
    does not matter (a volatile filter is left alone: evaluating it twice could
    disagree with itself).
    """
    condition = agg.filter
    if condition is None or has_sublinks([condition]) or calls_volatile(condition):
        return agg

    def guarded(e: E.Expr) -> E.Expr:
        if isinstance(e, (E.ColumnRef, E.OuterRef, E.Const, E.Param)):
            return e  # cannot fail
        return E.Case(((condition, e),), None, e.type)

    return replace(agg, args=tuple(guarded(a) for a in agg.args),
                   order=tuple((guarded(e), desc, nulls_first) for e, desc, nulls_first in agg.order))


def _replace_agg_inputs(aggregates: list, exprs: list[E.Expr]) -> list:
    out = []
    i = 0
    for agg in aggregates:
        n = len(agg.args)
        args = tuple(exprs[i : i + n])
        i += n
        filter_expr = None
        if agg.filter is not None:
            filter_expr = exprs[i]
            i += 1
        order = []
        for _, desc, nulls_first in agg.order:
            order.append((exprs[i], desc, nulls_first))
            i += 1
        out.append(replace(agg, args=args, filter=filter_expr, order=tuple(order)))
    return out


def _equi_pair(c: E.Expr, left: set[int], right: set[int]) -> tuple[E.Expr, E.Expr] | None:
    if not (isinstance(c, E.Call) and c.name == "=" and len(c.args) == 2):
        return None
    a, b = c.args
    if has_sublinks([a, b]) or any(isinstance(n, E.Call) and n.volatility == "v" for n in E.walk(c)):
        return None
    ra, rb = E.column_refs(a), E.column_refs(b)
    if not ra or not rb:
        return None
    ta, tb = a.type.oid, b.type.oid
    if ta != tb and not (ta in _INT_FAMILY and tb in _INT_FAMILY):
        return None
    if ra <= left and rb <= right:
        return a, b
    if ra <= right and rb <= left:
        return b, a
    return None


def _is_identity(exprs: list[E.Expr], input_cids: list[int], out_cids: list[int]) -> bool:
    return (
        len(exprs) == len(input_cids)
        and all(isinstance(e, E.ColumnRef) and e.cid == c for e, c in zip(exprs, input_cids, strict=True))
        and list(out_cids) == list(input_cids)
    )


def plan_empty(cids: list[int]) -> Operator:
    return Empty(cids)
