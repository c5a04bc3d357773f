"""The planner: bound queries to trees of physical operators.

Rules, in the order they apply:
1. WHERE is split into conjuncts and each is pushed as deep as it can go:
   into a table's access path when it mentions only that table, into a
   join's condition when it spans both sides of an inner join (so a
   comma join with `a.x = b.y` in WHERE becomes a hash join), and never
   below the null-extended side of an outer join.
2. The inner joins of a FROM are ordered by estimated cost (joins.py,
   rule "join_order"; batched index nested-loop joins where they pay, rule
   "index_join"). Joins with equality conditions become hash joins; others nested loops.
   A join whose right side reads its left side's columns (LATERAL, or a
   function in FROM) is a nested loop that runs the right side once per
   left row, with those columns as outer values.
3. Aggregation, HAVING, the select list (with set-returning functions if
   any), DISTINCT, ORDER BY, DISTINCT ON, LIMIT, in SQL's order.
4. Every subquery inside an expression gets its own plan; correlated ones
   receive the enclosing row's columns they read as `outer` values.

Each rule can be switched off (`Planner.rules`) to bisect a wrong result.
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
    FromJoin,
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
from qp.plan.stats import EMPTY_STATS, StatsCache
from qp.types import UNKNOWN, group_key, sort_key

DEFAULT_RULES = frozenset({"pushdown", "hash_join", "access_paths", "join_order", "index_join"})

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
            leftover: list[E.Expr] = []
        elif q.from_ is None:
            op = OneRow()
            leftover = conjuncts
        else:
            op, leftover = self._plan_from(q.from_, conjuncts, needed)
        if leftover:
            op = self._filter(op, E.and_all(leftover))
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

    # -- FROM --------------------------------------------------------------------------

    def _plan_from(self, tree: Any, conjuncts: list[E.Expr], needed: set[int]) -> tuple[Operator, list[E.Expr]]:
        """An operator for `tree` that applies as many of `conjuncts` as it can; the rest are returned."""
        if isinstance(tree, FromTable):
            mine = [c for c in conjuncts if _refs_within(c, tree.cids, self.outer_positions)]
            rest = [c for c in conjuncts if c not in mine]
            # What the rest of the query reads; the scan adds what its own filter reads.
            needed = needed | _refs(rest)
            options = {"for_update": tree.for_update, "outer_positions": self.outer_positions,
                       "with_key": tree.with_key, "all_columns": tree.all_columns,
                       "index_exprs": tree.index_exprs}
            if "access_paths" not in self.rules:
                op, later = plan_table(tree.table, tree.cids, [], needed, **options)
                return op, rest + mine
            op, later = plan_table(tree.table, tree.cids, mine, needed, **options)
            if later:
                op = self._filter(op, E.and_all(later))
            op.plan_rows = scan_rows(tree.table, tree.cids, mine, self.stats)  # for EXPLAIN and join order
            return op, rest
        if isinstance(tree, FromJoin):
            if tree.kind == "inner" and {"pushdown", "join_order"} <= self.rules:
                ordered = plan_join_graph(self._join_hooks(), self.stats, tree, conjuncts, needed)
                if ordered is not None:
                    return ordered
            return self._plan_join(tree, conjuncts, needed)
        if isinstance(tree, FromSubquery):
            if tree.cte_def is not None and must_materialize(tree.cte_def):
                return self._cte_scan(tree), conjuncts
            query = _prune_outputs(tree.query, tree.cids, needed | _refs(conjuncts))
            if "pushdown" in self.rules:
                query, conjuncts = _push_into_subquery(query, tree.cids, conjuncts)
            sub = self._nested(self.outer_positions).plan_query(query)
            return Rename(sub, list(tree.cids)), conjuncts
        if isinstance(tree, FromFunction):
            record = bool(tree.call.type.fields)
            return FunctionScan(tree.call, list(tree.cids), tree.ordinality, record, self.outer_positions), conjuncts
        if isinstance(tree, FromVirtual):
            return VirtualScan(tree.relation, list(tree.cids)), conjuncts
        if isinstance(tree, FromWorkTable):
            return WorkTableScan(tree.work, list(tree.cids)), conjuncts
        raise SqlError("0A000", f"cannot plan FROM item {type(tree).__name__}")

    def _join_hooks(self) -> PlannerHooks:
        index_join = None
        if "index_join" in self.rules:
            def index_join(outer: Operator, tree: FromTable, local: list, conds: list) -> Operator | None:
                return plan_index_join(outer, tree, local, conds, self.outer_positions)
        return PlannerHooks(self._plan_from, self._filter, self._join, _refs,
                            lambda e, cids: _refs_within(e, cids, self.outer_positions), _tree_cids, lateral_refs,
                            index_join)

    def _plan_join(self, j: FromJoin, conjuncts: list[E.Expr], needed: set[int]) -> tuple[Operator, list[E.Expr]]:
        left_cids, right_cids = _tree_cids(j.left), _tree_cids(j.right)
        lateral = lateral_refs(j.right) & left_cids
        if lateral:
            return self._plan_lateral_join(j, conjuncts, needed, left_cids, sorted(lateral))
        on = E.conjuncts(j.condition)
        kind = j.kind
        pushdown = "pushdown" in self.rules
        to_left: list[E.Expr] = []
        to_right: list[E.Expr] = []
        join_conds: list[E.Expr] = []
        above: list[E.Expr] = []
        for c in conjuncts:  # from WHERE (or an enclosing inner join)
            if pushdown and kind in ("inner", "left") and _refs_within(c, left_cids, self.outer_positions):
                to_left.append(c)
            elif pushdown and kind in ("inner", "right") and _refs_within(c, right_cids, self.outer_positions):
                to_right.append(c)
            elif pushdown and kind == "inner" and _refs_within(c, left_cids | right_cids, self.outer_positions):
                join_conds.append(c)
            else:
                above.append(c)
        for c in on:
            if pushdown and kind in ("inner", "right") and _refs_within(c, left_cids, self.outer_positions):
                to_left.append(c)
            elif pushdown and kind in ("inner", "left") and _refs_within(c, right_cids, self.outer_positions):
                to_right.append(c)
            else:
                join_conds.append(c)
        # Each side must also output what the join's own condition and the
        # other side's conditions read.
        needed = needed | _refs(join_conds) | _refs(above)
        left, left_rest = self._plan_from(j.left, to_left, needed | _refs(to_right))
        right, right_rest = self._plan_from(j.right, to_right, needed | _refs(to_left))
        if left_rest:
            left = self._filter(left, E.and_all(left_rest))
        if right_rest:
            right = self._filter(right, E.and_all(right_rest))
        if kind == "right":
            left, right = right, left
            left_cids, right_cids = right_cids, left_cids
            kind = "left"
        op = self._join(kind, left, right, join_conds, set(left.cids), set(right.cids))
        return op, above

    def _plan_lateral_join(self, j: FromJoin, conjuncts: list[E.Expr], needed: set[int], left_cids: set[int],
                           lateral: list[int]) -> tuple[Operator, list[E.Expr]]:
        """The right side reads `lateral` columns of the left: run it once per left row."""
        if j.kind not in ("inner", "left"):  # the binder refuses such references
            raise SqlError("42P10", "a LATERAL reference needs an INNER or LEFT join")
        to_left: list[E.Expr] = []
        to_right: list[E.Expr] = []
        above: list[E.Expr] = []
        right_cids = _tree_cids(j.right)
        for c in conjuncts:  # WHERE conjuncts on one side alone filter that side first
            if "pushdown" in self.rules and _refs_within(c, left_cids, self.outer_positions):
                to_left.append(c)
            elif ("pushdown" in self.rules and j.kind == "inner" and not has_sublinks([c])
                  and _refs_within(c, right_cids, self.outer_positions)):
                to_right.append(c)
            else:
                above.append(c)
        conds = E.conjuncts(j.condition)
        needed = needed | _refs(conds) | _refs(above)
        left, left_rest = self._plan_from(j.left, to_left, needed | set(lateral))
        if left_rest:
            left = self._filter(left, E.and_all(left_rest))
        # The right side sees this level's outer values where they were, then
        # the lateral columns after them.
        positions = dict(self.outer_positions)
        for cid in lateral:
            positions[cid] = len(positions)
        right_planner = self._nested(positions)
        right, right_rest = right_planner._plan_from(j.right, to_right, needed)
        if right_rest:
            right = right_planner._filter(right, E.and_all(right_rest))
        cond = E.and_all(conds)
        slots = SublinkSlots([])
        if cond is not None and has_sublinks([cond]):
            exprs, slots = self.prepare_sublinks([cond], left.cids + right.cids)
            cond = exprs[0]
        return LateralJoin(j.kind, left, right, lateral, cond, slots, self.outer_positions), above

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
    if condition is None or has_sublinks([condition]) or _calls_volatile(condition):
        return agg

    def guarded(e: E.Expr) -> E.Expr:
        if isinstance(e, (E.ColumnRef, E.OuterRef, E.Const, E.Param)):
            return e  # cannot fail
        return E.Case(((condition, e),), None, e.type)

    return replace(agg, args=tuple(guarded(a) for a in agg.args),
                   order=tuple((guarded(e), desc, nulls_first) for e, desc, nulls_first in agg.order))


def _calls_volatile(e: E.Expr) -> bool:
    """Whether `e` calls a volatile function, in its subqueries too."""
    for node in E.walk(e):
        if isinstance(node, E.AsyncCall) or (isinstance(node, E.Call) and node.volatility == "v"):
            return True
        if isinstance(node, E.SubLink) and is_volatile(node.query):
            return True
    return False


def _prune_outputs(query: Any, cids: list[int], needed: set[int]) -> Any:
    """A FROM subquery without the outputs nothing above reads (they become NULLs).

    PostgreSQL's remove_unused_subquery_outputs: besides saving the work, an
    unread column is never evaluated, so its errors never happen
    (`SELECT a FROM (SELECT a, (SELECT b FROM many_rows) AS b FROM t) s` returns
    rows). Outputs that sort, DISTINCT, set-returning functions and volatile
    expressions stay, as there.
    """
    if not isinstance(query, BoundSelect) or query.distinct or query.distinct_on is not None or query.has_srf:
        return query
    sorted_by = {key.cid for key in query.order_by}
    targets = list(query.targets)
    for i, (cid, target, target_cid) in enumerate(zip(cids, query.targets, query.target_cids, strict=True)):
        if cid in needed or target_cid in sorted_by or isinstance(target, E.Const) or _calls_volatile(target):
            continue
        targets[i] = E.Const(None, target.type)
    if all(a is b for a, b in zip(targets, query.targets, strict=True)):
        return query
    return replace(query, targets=targets)


def _push_into_subquery(query: Any, cids: list[int], conjuncts: list[E.Expr]) -> tuple[Any, list[E.Expr]]:
    """WHERE conjuncts on a FROM subquery's outputs, moved into its own WHERE.

    PostgreSQL's set_subquery_pathlist pushes such quals down (where they can use
    the subquery's indexes), so its select list is computed only for the rows that
    pass them: `SELECT * FROM (SELECT x, 1/x AS r FROM t) s WHERE x <> 0` does not
    divide by zero. As there, only into a plain SELECT (no aggregation, window,
    DISTINCT, LIMIT or set-returning function) and only conjuncts without
    subqueries, over outputs that call nothing volatile. Returns the new query and
    the conjuncts left for above it.
    """
    if (not isinstance(query, BoundSelect) or query.aggregated or query.windows or query.distinct
            or query.distinct_on is not None or query.has_srf or query.limit is not None or query.offset is not None):
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
        if (reads and reads <= outputs.keys() and not has_sublinks([c]) and not _calls_volatile(c)
                and not any(has_sublinks([outputs[cid]]) or _calls_volatile(outputs[cid]) for cid in reads)):
            pushed.append(substitute(c))
        else:
            rest.append(c)
    if not pushed:
        return query, conjuncts
    return replace(query, where=E.and_all([*E.conjuncts(query.where), *pushed])), rest


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


def _refs_within(e: E.Expr, cids: Any, outer: Any = ()) -> bool:
    """Whether `e` reads only the columns `cids` (and values of enclosing queries)."""
    allowed = {c for c in cids if c is not None}
    for node in E.walk(e):
        if isinstance(node, E.ColumnRef) and node.cid not in allowed:
            return False
        if isinstance(node, E.SubLink):
            if any(c not in allowed and c not in outer for c in node.query.outer_refs):
                return False
    return True


def lateral_refs(tree: Any) -> set[int]:
    """Columns from outside `tree` (to its left) that LATERAL items inside it read."""
    if isinstance(tree, (FromSubquery, FromFunction)):
        return set(tree.lateral_refs)
    if isinstance(tree, FromJoin):
        return lateral_refs(tree.left) | (lateral_refs(tree.right) - _tree_cids(tree.left))
    return set()


def _tree_cids(tree: Any) -> set[int]:
    if isinstance(tree, FromTable):
        return {c for c in tree.cids if c is not None}
    if isinstance(tree, (FromSubquery, FromFunction, FromVirtual, FromWorkTable)):
        return set(tree.cids)
    if isinstance(tree, FromJoin):
        return _tree_cids(tree.left) | _tree_cids(tree.right)
    return set()


def _is_identity(exprs: list[E.Expr], input_cids: list[int], out_cids: list[int]) -> bool:
    return (
        len(exprs) == len(input_cids)
        and all(isinstance(e, E.ColumnRef) and e.cid == c for e, c in zip(exprs, input_cids, strict=True))
        and list(out_cids) == list(input_cids)
    )


def _refs(exprs: list[E.Expr]) -> set[int]:
    out: set[int] = set()
    for e in exprs:
        for node in E.walk(e):
            if isinstance(node, (E.ColumnRef, E.OuterRef)):
                out.add(node.cid)
            elif isinstance(node, E.SubLink):
                out |= referenced_cids(node.query) | node.query.outer_refs
    return out


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


def plan_empty(cids: list[int]) -> Operator:
    return Empty(cids)
