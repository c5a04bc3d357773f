"""Binding queries: SELECT, VALUES and set operations to `Bound*` trees.

The result says *what* a query computes, in terms of column identities:
a FROM tree, a WHERE condition, grouping and aggregates, output expressions,
sort keys, limits. The planner decides *how* (scans, indexes, joins).

PostgreSQL's name rules are kept where clients can tell: GROUP BY prefers
input columns and falls back to output names and positions; ORDER BY prefers
output names and positions; ORDER BY expressions not in the select list
become hidden sort columns, except under DISTINCT (42P10).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qp.bind import expr as E
from qp.bind.collation import setop_collations
from qp.bind.context import AggCall, BindContext, GroupingCall, QueryLevel  # noqa: F401 (AggCall: part of BoundSelect)
from qp.bind.expressions import ExprBinder, SetReturning, assert_no_sets, coerce, resolve_unknown
from qp.bind.grouping_sets import distinct_sets as distinct_grouping_sets
from qp.bind.grouping_sets import flatten as flatten_grouping_sets
from qp.bind.index_exprs import bind_index_exprs
from qp.bind.privileges import as_owner_of_view, note_read
from qp.bind.recursion import order_recursive_list
from qp.bind.routines import RoutineFrame, body_path, inlinable_set_body, result_type
from qp.bind.scope import RangeItem, Scope, ScopeColumn
from qp.catalog.stored import TableDef
from qp.catalog.temp_keys import is_temp_oid
from qp.catalog.temp_overlay import hidden_by_temp, hides_permanent
from qp.errors import SqlError, locate
from qp.functions import resolve_function
from qp.functions.json_records import RECORD_FUNCTIONS, row_builder
from qp.parse.parser import node_body, node_kind, node_location, string_list
from qp.parse.unsupported import syntax_words
from qp.pgcatalog.search_path import USER_SCHEMA, binding_path, definition_path
from qp.types import INT8, RECORD, TEXT, UNKNOWN, SqlType, common_type, format_type, record_type

# Set-returning functions whose one result column is a named OUT parameter
# (pg_proc.proargnames): in FROM, the column takes that name even under an alias.
_OUT_COLUMN_NAMES = {
    "json_array_elements": "value",
    "json_array_elements_text": "value",
    "jsonb_array_elements": "value",
    "jsonb_array_elements_text": "value",
}

# Views may name views; this bounds how deep (a cycle made by CREATE OR
# REPLACE VIEW would otherwise recurse forever).
VIEW_NESTING_MAX = 64

# -- bound FROM items -----------------------------------------------------------


@dataclass
class FromTable:
    table: TableDef
    alias: str
    cids: list[int | None]  # per table column (None: dropped)
    for_update: bool | str = False  # True: FOR UPDATE; "share": FOR KEY SHARE
    with_key: bool = False  # DML targets: the row key as a pseudo-column (cid -oid)
    all_columns: bool = False
    # Partial and expression indexes, bound over `cids` (qp/bind/index_exprs.py).
    index_exprs: dict = field(default_factory=dict)


@dataclass
class FromJoin:
    kind: str  # inner | left | right | full
    left: Any
    right: Any
    condition: E.Expr | None
    alias: str | None = None  # `(...) AS j` or `USING (...) AS j`: a name FOR UPDATE OF cannot use


@dataclass
class FromSubquery:
    query: Any  # BoundQuery
    cids: list[int]
    alias: str
    # LATERAL: the columns of FROM items to its left that it reads (as OuterRefs);
    # the planner runs it once per row of those items.
    lateral_refs: frozenset[int] = frozenset()
    cte: bool = False  # a WITH query's reference (FOR UPDATE passes it by)
    cte_def: Any = None  # CteDef: the WITH query it reads (shared by all its references)


@dataclass
class FromFunction:
    call: E.Call
    cids: list[int]
    alias: str
    ordinality: bool = False
    lateral_refs: frozenset[int] = frozenset()  # as FromSubquery's (functions in FROM are always LATERAL)


@dataclass
class WorkTable:
    """The rows a recursive query's last iteration produced, read by its recursive term."""

    name: str
    names: list[str]
    types: list[SqlType]


@dataclass
class FromWorkTable:
    work: WorkTable
    cids: list[int]
    alias: str


@dataclass(eq=False)
class CteDef:
    """A WITH query, bound once where it is defined.

    Every reference reads the one bound `query` under column identities of its
    own. The planner decides, as PostgreSQL 12+ does, whether the references
    share one evaluation (MATERIALIZED, referenced more than once, recursive
    and referenced more than once, or volatile) or each runs the query inline;
    `refcount` counts the references found while binding the statement.
    """

    name: str
    node: dict
    names: list[str]
    parent: Any  # the scope its query sees (that of the level enclosing its WITH)
    visible: dict
    recursive: bool = False
    materialized: str = "default"  # default | always | never
    owner: Any = None  # the scope of the query whose WITH defines it
    query: Any = None  # the bound query (BoundQuery)
    refcount: int = 0
    fold_error: Exception | None = None  # a constant's error, raised if the query is referenced


@dataclass
class FromVirtual:
    """A relation computed by the QP (pg_catalog, information_schema, sys.*)."""

    relation: Any  # object with .columns [(name, type)] and async rows(session) -> list[tuple]
    cids: list[int]
    alias: str


# -- bound queries ----------------------------------------------------------------


@dataclass
class SortKey:
    cid: int
    type: SqlType
    desc: bool
    nulls_first: bool


@dataclass
class BoundQueryBase:
    names: list[str]
    target_cids: list[int]
    order_by: list[SortKey] = field(default_factory=list)
    limit: E.Expr | None = None
    offset: E.Expr | None = None
    outer_refs: set[int] = field(default_factory=set)

    def output_types(self) -> list[SqlType]:
        raise NotImplementedError


@dataclass
class BoundSelect(BoundQueryBase):
    from_: Any = None
    where: E.Expr | None = None
    group_exprs: list[E.Expr] = field(default_factory=list)  # pre-aggregation
    group_cids: list[int] = field(default_factory=list)
    aggregates: list[AggCall] = field(default_factory=list)
    having: E.Expr | None = None
    targets: list[E.Expr] = field(default_factory=list)  # post-aggregation, visible columns
    hidden: list[E.Expr] = field(default_factory=list)  # sort-only columns, after targets
    hidden_cids: list[int] = field(default_factory=list)
    distinct: bool = False
    distinct_on: list[int] | None = None  # output cids
    aggregated: bool = False
    has_srf: bool = False
    windows: list = field(default_factory=list)  # WindowCall, computed after grouping
    # GROUPING SETS / ROLLUP / CUBE: each set as indexes into group_exprs (None: one set of all).
    grouping_sets: list[tuple[int, ...]] | None = None
    groupings: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # GROUPING(): (cid, positions)

    def output_types(self) -> list[SqlType]:
        return [t.type for t in self.targets]


@dataclass
class BoundValues(BoundQueryBase):
    rows: list[list[E.Expr]] = field(default_factory=list)
    types: list[SqlType] = field(default_factory=list)

    def output_types(self) -> list[SqlType]:
        return list(self.types)


@dataclass
class BoundSetOp(BoundQueryBase):
    op: str = "union"  # union | intersect | except
    all: bool = False
    left: Any = None
    right: Any = None
    types: list[SqlType] = field(default_factory=list)
    # Casts applied to each side's outputs (None: none needed).
    left_casts: list[E.Expr] | None = None
    right_casts: list[E.Expr] | None = None

    def output_types(self) -> list[SqlType]:
        return list(self.types)


@dataclass
class BoundRecursive(BoundQueryBase):
    """WITH RECURSIVE's query: left UNION [ALL] right, right reading `work`."""

    left: Any = None
    right: Any = None
    all: bool = False
    work: WorkTable | None = None
    types: list[SqlType] = field(default_factory=list)
    left_casts: list[E.Expr] | None = None
    right_casts: list[E.Expr] | None = None

    def output_types(self) -> list[SqlType]:
        return list(self.types)


BoundQuery = BoundSelect | BoundValues | BoundSetOp | BoundRecursive


# -- the binder --------------------------------------------------------------------


class QueryBinder:
    def __init__(self, bc: BindContext) -> None:
        self.bc = bc
        # FROM items a LATERAL item to their right may not read (the left side of a
        # RIGHT or FULL join, a DML target), by id: the error a reference gets, by alias.
        self.lateral_blocked: dict[int, Callable[[str], SqlError]] = {}
        # Each join's output columns (USING columns merged, then the rest), by id.
        self._join_outputs: dict[int, tuple[FromJoin, list[ScopeColumn]]] = {}

    # Entry point for any query node (SelectStmt), possibly nested.
    def bind_with(self, with_clause: dict | None, parent: Scope | None = None) -> dict:
        """The WITH queries of a statement other than SELECT (INSERT/UPDATE/DELETE)."""
        if not with_clause:
            return {}
        scope = Scope(parent=parent)
        self._bind_with(with_clause, scope)
        return scope.ctes

    def bind_query(self, node: dict, parent: Scope | None = None, ctes: dict | None = None,
                   keep_unknown: bool = False) -> BoundQuery:
        body = node_body(node) if node_kind(node) == "SelectStmt" else node
        scope = Scope(parent=parent, inherited_ctes=ctes or {})
        if "withClause" in body:
            self._bind_with(body["withClause"], scope)
        op = body.get("op", "SETOP_NONE")
        if op != "SETOP_NONE":
            query = self._bind_setop(body, scope)
        elif "valuesLists" in body:
            query = self._bind_values(body, scope)
        else:
            query = self._bind_select(body, scope, keep_unknown)
        query.outer_refs = set(scope.outer_refs)
        return query

    def _bind_with(self, with_clause: dict, scope: Scope) -> None:
        ctes = [cte_node["CommonTableExpr"] for cte_node in with_clause.get("ctes", ())]
        for i, cte in enumerate(ctes):
            if any(other["ctename"] == cte["ctename"] for other in ctes[:i]):
                error = SqlError("42712", f'WITH query name "{cte["ctename"]}" specified more than once')
                error.location = cte.get("location") if self.bc.view_depth == 0 else None
                raise error
        # WITH RECURSIVE: every item sees every other, so they are bound in an
        # order without forward references; the self-referencing ones are recursive.
        ordered = order_recursive_list(ctes) if with_clause.get("recursive") else [(c, False) for c in ctes]
        for cte, recursive in ordered:
            name = cte["ctename"]
            if node_kind(cte["ctequery"]) != "SelectStmt":
                raise SqlError("0A000", "data-modifying statements in WITH are not supported")
            if cte.get("search_clause") or cte.get("cycle_clause"):
                raise SqlError("0A000", "SEARCH and CYCLE clauses are not supported")
            visible = scope.all_ctes()
            aliases = string_list(cte.get("aliascolnames"))
            materialized = {"CTEMaterializeAlways": "always", "CTEMaterializeNever": "never"}.get(
                cte.get("ctematerialized", ""), "default")
            definition = CteDef(name, cte["ctequery"], aliases, scope.parent, visible, recursive, materialized, scope)
            # Bound once, here; each reference reads this query under its own column identities.
            try:
                query = self._bind_cte(definition)
            except SqlError as exc:
                # PostgreSQL plans (and so folds the constants of) only the WITH
                # queries that are referenced: `WITH x AS (SELECT 1/0) SELECT 1`
                # is fine. Bound again with folding errors left for run time, the
                # query is good unless something else is wrong with it; its first
                # reference raises the folding error.
                self.bc.lenient += 1
                try:
                    query = self._bind_cte(definition)
                finally:
                    self.bc.lenient -= 1
                definition.fold_error = exc
            names = aliases or list(query.names)
            if len(names) > len(query.names):
                raise SqlError("42P10", f'WITH query "{name}" has {len(query.names)} columns available but {len(names)} columns specified')
            query.names = list(names) + list(query.names[len(names):])
            definition.names = names
            definition.query = query
            scope.ctes[name] = definition

    def _bind_cte(self, cte: CteDef) -> BoundQuery:
        if not cte.recursive:
            return self.bind_query(cte.node, cte.parent, cte.visible)
        body = node_body(cte.node)  # its form was checked with the WITH list (qp.bind.recursion)
        visible = dict(cte.visible)
        if body.get("withClause"):
            # WITH queries of the UNION itself: both terms see them (not the work table).
            with_scope = Scope(parent=cte.parent, inherited_ctes=cte.visible)
            self._bind_with(body["withClause"], with_scope)
            visible.update(with_scope.ctes)
        left = self.bind_query({"SelectStmt": body["larg"]}, cte.parent, visible)
        types = [t if t != UNKNOWN else TEXT for t in left.output_types()]
        names = list(cte.names or left.names)
        names += list(left.names[len(names):])
        work = WorkTable(cte.name, names, types)
        right = self.bind_query({"SelectStmt": body["rarg"]}, cte.parent, {**visible, cte.name: work})
        if len(right.output_types()) != len(types):
            raise SqlError("42601", "each UNION query must have the same number of columns")
        for i, (ltype, rtype) in enumerate(zip(types, right.output_types(), strict=True), start=1):
            # The work table has the non-recursive term's types; the UNION's must be the same.
            overall = common_type([ltype, TEXT if rtype == UNKNOWN else rtype], "UNION")
            typmod = ltype.typmod if ltype.typmod == rtype.typmod else -1
            if overall.base != ltype.base or typmod != ltype.typmod:
                shown = overall.base if typmod == -1 else overall.base.with_typmod(typmod)
                raise SqlError("42804", f'recursive query "{cte.name}" column {i} has type {format_type(ltype)} in '
                                        f"non-recursive term but type {format_type(shown)} overall",
                               hint="Cast the output of the non-recursive term to the correct type.")
        query = BoundRecursive(
            names=names,
            target_cids=[self.bc.new_cid(n) for n in names],
            left=left,
            right=right,
            all=bool(body.get("all")),
            work=work,
            types=types,
        )
        query.left_casts = self._side_casts(left, types)
        query.right_casts = self._side_casts(right, types)
        query.outer_refs = left.outer_refs | right.outer_refs
        return query

    # -- SELECT -----------------------------------------------------------------------

    def _bind_select(self, body: dict, scope: Scope, keep_unknown: bool = False) -> BoundSelect:
        bc = self.bc
        level = QueryLevel()
        scope.level = level
        scope.star_columns = []
        binder = ExprBinder(bc, scope, level, self._subquery_binder)
        from_tree = self._bind_from_list(body.get("fromClause", ()), scope, binder)
        query = BoundSelect(names=[], target_cids=[], from_=from_tree)

        if "whereClause" in body:
            level.what = "WHERE"
            query.where = binder.bind_bool(body["whereClause"], "WHERE")
            assert_no_sets(query.where)

        for window_node in body.get("windowClause", ()):
            window = window_node["WindowDef"]
            if window["name"] in level.named_windows:
                raise SqlError("42P20", f'window "{window["name"]}" is already defined')
            level.named_windows[window["name"]] = window
        # Select list (aggregates and window functions allowed; set-returning functions too).
        level.agg_allowed = True
        level.window_allowed = True
        level.srf_allowed = True
        level.what = "SELECT"
        raw_targets: list[E.Expr] = []
        for target in body.get("targetList", ()):
            res = target["ResTarget"]
            value = res.get("val")
            if value is not None and node_kind(value) == "ColumnRef" and _is_star(value):
                for name, expr in self._expand_star(value, scope):
                    raw_targets.append(expr)
                    query.names.append(name)
                continue
            expr = binder.bind(value)
            if not keep_unknown:  # a UNION leaf keeps 'literals' open for the set operation's type
                expr = resolve_unknown(expr, bc)
            raw_targets.append(expr)
            query.names.append(res.get("name") or figure_colname(value, bc.sublink_names))
        level.srf_allowed = False
        query.has_srf = level.has_srf

        # GROUP BY: input columns, then output names and positions.
        level.agg_allowed = False
        level.window_allowed = False
        level.what = "GROUP BY"
        group_nodes, grouping_sets = flatten_grouping_sets(body.get("groupClause", []))
        node_positions: list[int] = []  # per group node: its index in query.group_exprs
        for item in group_nodes:
            expr = self._group_item(item, raw_targets, query.names, binder)
            if any(isinstance(n, SetReturning) for n in E.walk(expr)):
                raise SqlError("0A000", "set-returning functions are not allowed in GROUP BY")
            if any(isinstance(n, E.ColumnRef) and n.cid in {a.cid for a in level.aggregates} for n in E.walk(expr)):
                raise SqlError("42803", "aggregate functions are not allowed in GROUP BY")
            if any(isinstance(n, E.ColumnRef) and n.cid in {w.cid for w in level.windows} for n in E.walk(expr)):
                raise SqlError("42P20", "window functions are not allowed in GROUP BY")  # GROUP BY 1 naming one
            if expr not in query.group_exprs:
                query.group_exprs.append(expr)
            node_positions.append(query.group_exprs.index(expr))
        if grouping_sets is not None:
            query.grouping_sets = [tuple(node_positions[i] for i in s) for s in grouping_sets]
            if body.get("groupDistinct"):
                query.grouping_sets = distinct_grouping_sets(query.grouping_sets)

        level.agg_allowed = True
        if "havingClause" in body:
            level.what = "HAVING"
            query.having = binder.bind_bool(body["havingClause"], "HAVING")

        # ORDER BY: output names and positions, else expressions over the input.
        level.what = "ORDER BY"
        level.window_allowed = True
        order_items: list[tuple[int | None, E.Expr | None, bool, bool]] = []
        for sort_node in body.get("sortClause", ()):
            order_items.append(self._order_item(sort_node, raw_targets, query.names, binder))
        level.agg_allowed = False
        level.window_allowed = False

        query.aggregated = bool(level.aggregates or query.group_exprs or query.having is not None
                                or query.grouping_sets is not None or level.groupings)
        if level.groupings and query.grouping_sets is None:
            query.grouping_sets = [tuple(range(len(query.group_exprs)))]
        query.aggregates = level.aggregates
        query.windows = level.windows
        if query.aggregated:
            self._apply_grouping(query, raw_targets, order_items, level.groupings)
        else:
            query.targets = raw_targets

        query.target_cids = [
            t.cid if isinstance(t, E.ColumnRef) and t.cid not in query.target_cids else bc.new_cid(n)
            for t, n in zip(query.targets, query.names, strict=True)
        ]
        # Each output needs its own identity even when two targets are the same column.
        seen: set[int] = set()
        for i, cid in enumerate(query.target_cids):
            if cid in seen:
                query.target_cids[i] = bc.new_cid(query.names[i])
            seen.add(query.target_cids[i])

        distinct_clause = body.get("distinctClause")
        if distinct_clause is not None:
            if distinct_clause == [{}] or all(not d for d in distinct_clause):
                query.distinct = True
            else:
                query.distinct_on = [
                    self._distinct_on_cid(d, query, binder) for d in distinct_clause
                ]
        sort_locations = [node_location(n["SortBy"]["node"]) for n in body.get("sortClause", ())]
        self._finish_order(query, order_items, sort_locations)
        if query.distinct_on is not None:
            offending = _distinct_on_not_leading(query)
            if offending is not None:
                error = SqlError("42P10", "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
                where = node_location(distinct_clause[query.distinct_on.index(offending)])
                raise locate_any(error, where, self.bc)

        if "limitCount" in body or "limitOffset" in body:
            if body.get("limitOption") == "LIMIT_OPTION_WITH_TIES":
                raise SqlError("0A000", "FETCH ... WITH TIES is not supported")
        query.limit = self._limit(body.get("limitCount"), binder, "LIMIT")
        query.offset = self._limit(body.get("limitOffset"), binder, "OFFSET")

        for locking in body.get("lockingClause", ()):
            self._apply_locking(locking["LockingClause"], from_tree, query)
        return query

    def _group_item(self, item: dict, targets: list[E.Expr], names: list[str], binder: ExprBinder) -> E.Expr:
        if node_kind(item) == "A_Const" and "ival" in item["A_Const"]:
            position = item["A_Const"]["ival"].get("ival", 0)
            if not 1 <= position <= len(targets):
                error = SqlError("42P10", f"GROUP BY position {position} is not in select list")
                raise locate(error, item["A_Const"].get("location"))
            return targets[position - 1]
        if node_kind(item) == "ColumnRef":
            names_ = string_list(item["ColumnRef"].get("fields"))
            if len(names_) == 1:
                try:
                    return binder.bind(item)
                except SqlError as exc:
                    if exc.sqlstate != "42703":
                        raise
                    if names_[0] in names:
                        return targets[names.index(names_[0])]
                    raise
        return resolve_unknown(binder.bind(item), self.bc)

    def _order_item(self, node: dict, targets: list[E.Expr], names: list[str], binder: ExprBinder):
        sort = node["SortBy"]
        if sort.get("sortby_dir") == "SORTBY_USING":
            raise SqlError("0A000", "ORDER BY ... USING is not supported")
        desc = sort.get("sortby_dir") == "SORTBY_DESC"
        nulls = sort.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
        nulls_first = desc if nulls == "SORTBY_NULLS_DEFAULT" else nulls == "SORTBY_NULLS_FIRST"
        item = sort["node"]
        if node_kind(item) == "A_Const" and "ival" in item["A_Const"]:
            position = item["A_Const"]["ival"].get("ival", 0)
            if not 1 <= position <= len(targets):
                error = SqlError("42P10", f"ORDER BY position {position} is not in select list")
                raise locate(error, item["A_Const"].get("location"))
            return position - 1, None, desc, nulls_first
        if node_kind(item) == "ColumnRef":
            names_ = string_list(item["ColumnRef"].get("fields"))
            if len(names_) == 1 and names.count(names_[0]) >= 1:
                if names.count(names_[0]) > 1:
                    indexes = [i for i, n in enumerate(names) if n == names_[0]]
                    if len({repr(targets[i]) for i in indexes}) > 1:
                        raise SqlError("42702", f'ORDER BY "{names_[0]}" is ambiguous')
                return names.index(names_[0]), None, desc, nulls_first
        expr = resolve_unknown(binder.bind(item), self.bc)
        assert_no_sets(expr)
        return None, expr, desc, nulls_first

    def _apply_grouping(
        self, query: BoundSelect, raw_targets: list[E.Expr], order_items: list, groupings: list[GroupingCall]
    ) -> None:
        bc = self.bc
        group_map: list[tuple[E.Expr, int]] = []
        for expr in query.group_exprs:
            cid = expr.cid if isinstance(expr, E.ColumnRef) else bc.new_cid("group")
            group_map.append((expr, cid))
            query.group_cids.append(cid)
        # Window calls run after grouping: their results are available to the
        # select list, and their inputs are rewritten like it.
        available = set(query.group_cids) | {a.cid for a in query.aggregates} | {w.cid for w in query.windows}
        for call in groupings:
            positions = tuple(_grouping_position(arg, query.group_exprs, call.location) for arg in call.args)
            query.groupings.append((call.cid, positions))
            available.add(call.cid)

        def rewrite(e: E.Expr) -> E.Expr:
            for g, cid in group_map:
                if e == g:
                    return E.ColumnRef(cid, e.type, getattr(e, "name", ""))
            if isinstance(e, E.ColumnRef):
                if e.cid in available:
                    return e
                name = e.name or bc.cid_names.get(e.cid, "?")
                raise SqlError(
                    "42803", f'column "{name}" must appear in the GROUP BY clause or be used in an aggregate function'
                )
            if isinstance(e, E.SubLink):
                for cid in e.query.outer_refs:
                    if cid in _level_cids(query) and cid not in available:
                        raise SqlError("42803", f'subquery uses ungrouped column "{bc.cid_names.get(cid, "?")}" from outer query')
            return E.map_children(e, rewrite)

        for agg in query.aggregates:
            for direct in agg.args[: agg.direct]:
                rewrite(direct)  # direct arguments are per group: only grouped columns (42803 otherwise)
        query.targets = [rewrite(t) for t in raw_targets]
        if query.having is not None:
            query.having = rewrite(query.having)
        for window in query.windows:
            window.args = tuple(rewrite(a) for a in window.args)
            window.partition = tuple(rewrite(p) for p in window.partition)
            window.order = tuple((rewrite(e), d, nf) for e, d, nf in window.order)
            if window.filter is not None:
                window.filter = rewrite(window.filter)
        for i, (position, expr, desc, nulls_first) in enumerate(order_items):
            if expr is not None:
                order_items[i] = (position, rewrite(expr), desc, nulls_first)

    def _finish_order(self, query: BoundSelect, order_items: list, locations: list[int | None]) -> None:
        bc = self.bc
        for (position, expr, desc, nulls_first), location in zip(order_items, locations, strict=True):
            if position is not None:
                cid, typ = query.target_cids[position], query.targets[position].type
            else:
                match = next((i for i, t in enumerate(query.targets) if t == expr), None)
                if match is not None:
                    cid, typ = query.target_cids[match], query.targets[match].type
                else:
                    # DISTINCT ON may sort by more than it shows (the row kept per group);
                    # plain DISTINCT compares whole output rows, so it may not.
                    if query.distinct:
                        error = SqlError("42P10", "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
                        raise locate_any(error, location, bc)
                    cid = bc.new_cid("sort")
                    typ = expr.type
                    query.hidden.append(expr)
                    query.hidden_cids.append(cid)
            query.order_by.append(SortKey(cid, typ, desc, nulls_first))

    def _distinct_on_cid(self, node: dict, query: BoundSelect, binder: ExprBinder) -> int:
        if node_kind(node) == "A_Const" and "ival" in node["A_Const"]:
            return query.target_cids[node["A_Const"]["ival"]["ival"] - 1]
        expr = binder.bind(node)
        for i, t in enumerate(query.targets):
            if t == expr:
                return query.target_cids[i]
        raise SqlError("0A000", "DISTINCT ON expressions must appear in the select list here")

    def _limit(self, node: dict | None, binder: ExprBinder, what: str) -> E.Expr | None:
        if node is None:
            return None
        if node_kind(node) == "A_Const" and node["A_Const"].get("isnull"):
            return None
        level = binder.level
        saved = level.what, level.agg_allowed
        level.what, level.agg_allowed = what, False
        try:
            expr = binder.bind(node)
        finally:
            level.what, level.agg_allowed = saved
        if E.column_refs(expr):
            raise SqlError("42P10", f"argument of {what} must not contain variables")
        return coerce(expr, INT8, self.bc, "implicit", what)

    def _apply_locking(self, clause: dict, from_tree: Any, query: BoundSelect) -> None:
        """FOR UPDATE [OF names]: mark the tables whose rows are locked, as PostgreSQL's
        transformLockingClause picks them (subqueries and views pass it to their tables;
        functions, VALUES and WITH queries have nothing to lock). NOWAIT and SKIP
        LOCKED change nothing: nothing ever waits here."""
        strength = _LOCK_STRENGTHS[clause.get("strength", "LCS_FORUPDATE")]
        _check_lockable(query, strength)
        marked: list[FromTable] = []
        relations = [node["RangeVar"] for node in clause.get("lockedRels", ())]
        if not relations:
            _lock_all(from_tree, strength, marked)
        for relation in relations:
            name = relation["relname"]
            item = _locked_item(from_tree, name)
            if relation.get("schemaname"):
                error = SqlError("42601", f"FOR {strength} must specify unqualified relation names")
            elif item is None:
                error = SqlError("42P01", f'relation "{name}" in FOR {strength} clause not found in FROM clause')
            elif isinstance(item, FromTable):
                marked.append(item)
                continue
            elif isinstance(item, FromSubquery) and not item.cte:
                _check_lockable(item.query, strength)
                if isinstance(item.query, BoundSelect):
                    _lock_all(item.query.from_, strength, marked)
                continue
            else:
                what = "a function" if isinstance(item, FromFunction) else "a WITH query" if getattr(
                    item, "cte", False) else "a join" if isinstance(item, FromJoin) else "this relation"
                error = SqlError("0A000", f"FOR {strength} cannot be applied to {what}")
            error.location = relation.get("location")  # PostgreSQL points at the name
            raise error
        if marked and strength not in ("UPDATE", "KEY SHARE"):
            # DSQL: FOR SHARE and FOR NO KEY UPDATE are not supported.
            raise SqlError("0A000", f"SELECT ... FOR {strength} is not supported (only FOR UPDATE and FOR KEY SHARE are)")
        for table in marked:  # a table named by two clauses takes the stronger lock
            table.for_update = True if strength == "UPDATE" or table.for_update is True else "share"

    # -- VALUES ----------------------------------------------------------------

    def _bind_values(self, body: dict, scope: Scope) -> BoundValues:
        for locking in body.get("lockingClause", ()):
            strength = _LOCK_STRENGTHS[locking["LockingClause"].get("strength", "LCS_FORUPDATE")]
            raise SqlError("0A000", f"FOR {strength} cannot be applied to VALUES")
        binder = ExprBinder(self.bc, scope, QueryLevel(what="VALUES"), self._subquery_binder)
        rows = []
        for row_node in body["valuesLists"]:
            items = row_node["List"]["items"] if "List" in row_node else row_node
            rows.append([binder.bind(i) for i in items])
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise SqlError("42601", "VALUES lists must all be the same length")
        if self.bc.collations:
            setop_collations(self.bc.collations, body)
        types = []
        for col in range(width):
            t = common_type([r[col].type for r in rows], "VALUES")
            if t == UNKNOWN:

                t = TEXT
            types.append(t)
        rows = [[coerce(r[c], types[c], self.bc) for c in range(width)] for r in rows]
        names = [f"column{i + 1}" for i in range(width)]
        query = BoundValues(names=names, target_cids=[self.bc.new_cid(n) for n in names], rows=rows, types=types)
        self._setop_order_limit(body, query, scope)
        return query

    # -- UNION / INTERSECT / EXCEPT ------------------------------------------------------

    def _bind_setop(self, body: dict, scope: Scope) -> BoundSetOp:
        op = {"SETOP_UNION": "union", "SETOP_INTERSECT": "intersect", "SETOP_EXCEPT": "except"}[body["op"]]
        for locking in body.get("lockingClause", ()):
            strength = _LOCK_STRENGTHS[locking["LockingClause"].get("strength", "LCS_FORUPDATE")]
            raise SqlError("0A000", f"FOR {strength} is not allowed with UNION/INTERSECT/EXCEPT")
        left = self.bind_query({"SelectStmt": body["larg"]}, scope.parent, scope.all_ctes(), keep_unknown=True)
        right = self.bind_query({"SelectStmt": body["rarg"]}, scope.parent, scope.all_ctes(), keep_unknown=True)
        if self.bc.collations:
            setop_collations(self.bc.collations, body)
        scope.outer_refs |= left.outer_refs | right.outer_refs
        lt, rt = left.output_types(), right.output_types()
        if len(lt) != len(rt):
            raise SqlError("42601", f"each {op.upper()} query must have the same number of columns")
        types = []
        for a, b in zip(lt, rt, strict=True):
            t = common_type([a, b], op.upper())
            if t == UNKNOWN:

                t = TEXT
            types.append(t)
        query = BoundSetOp(
            names=list(left.names),
            target_cids=[self.bc.new_cid(n) for n in left.names],
            op=op,
            all=bool(body.get("all")),
            left=left,
            right=right,
            types=types,
        )
        query.left_casts = self._side_casts(left, types)
        query.right_casts = self._side_casts(right, types)
        self._setop_order_limit(body, query, scope)
        return query

    def _side_casts(self, side: BoundQuery, types: list[SqlType]) -> list[E.Expr] | None:
        refs = [E.ColumnRef(cid, t) for cid, t in zip(side.target_cids, side.output_types(), strict=True)]
        casts = [coerce(r, t, self.bc) for r, t in zip(refs, types, strict=True)]
        return None if casts == refs else casts

    def _setop_order_limit(self, body: dict, query: BoundQueryBase, scope: Scope) -> None:
        binder = ExprBinder(self.bc, scope, QueryLevel(what="ORDER BY"), self._subquery_binder)
        for sort_node in body.get("sortClause", ()):
            sort = sort_node["SortBy"]
            desc = sort.get("sortby_dir") == "SORTBY_DESC"
            nulls = sort.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
            nulls_first = desc if nulls == "SORTBY_NULLS_DEFAULT" else nulls == "SORTBY_NULLS_FIRST"
            item = sort["node"]
            position = None
            if node_kind(item) == "A_Const" and "ival" in item["A_Const"]:
                position = item["A_Const"]["ival"].get("ival", 0) - 1
                if not 0 <= position < len(query.names):
                    raise SqlError("42P10", f"ORDER BY position {position + 1} is not in select list")
            elif node_kind(item) == "ColumnRef":
                names = string_list(item["ColumnRef"].get("fields"))
                if len(names) == 1 and names[0] in query.names:
                    position = query.names.index(names[0])
            if position is None:
                raise SqlError(
                    "0A000",
                    "ORDER BY on a UNION/INTERSECT/EXCEPT/VALUES result must name an output column or position",
                )
            types = query.output_types()
            query.order_by.append(SortKey(query.target_cids[position], types[position], desc, nulls_first))
        query.limit = self._limit(body.get("limitCount"), binder, "LIMIT")
        query.offset = self._limit(body.get("limitOffset"), binder, "OFFSET")

    # -- FROM ------------------------------------------------------------------------

    def _bind_from_list(self, items: list, scope: Scope, binder: ExprBinder) -> Any:
        tree = None
        for item in items:
            before = len(scope.items)
            node = self._bind_from_item(item, scope, binder)
            if scope.star_columns is not None:
                scope.star_columns += self._side_columns(node, scope.items[before:])
            tree = node if tree is None else FromJoin("inner", tree, node, None)
        return tree

    def _bind_from_item(self, item: dict, scope: Scope, binder: ExprBinder) -> Any:
        kind = node_kind(item)
        body = node_body(item)
        if kind == "RangeVar":
            return self._bind_range_var(body, scope)
        if kind == "JoinExpr":
            return self._bind_join(body, scope, binder)
        if kind == "RangeSubselect":
            if not body.get("alias"):
                # PostgreSQL 16 would name it unnamed_subquery; 15, the reference, refuses it.
                what = "VALUES" if "valuesLists" in node_body(body["subquery"]) else "SELECT"
                error = SqlError("42601", f"{'VALUES' if what == 'VALUES' else 'subquery'} in FROM must have an "
                                          "alias", hint=f"For example, FROM ({what} ...) [AS] foo.")
                raise locate_any(error, node_location(body["subquery"]), self.bc)
            alias = body["alias"]["aliasname"]
            if body.get("lateral"):
                lateral = self._lateral_scope(scope)
                query = self.bind_query(body["subquery"], lateral, scope.all_ctes())
                return self._subquery_item(query, body.get("alias"), alias, scope, lateral)
            # Without LATERAL it sees enclosing queries only; its siblings are
            # named in the error when it reaches for them.
            siblings = Scope(parent=scope.parent, inherited_ctes=scope.all_ctes(), invisible=list(scope.items))
            query = self.bind_query(body["subquery"], siblings, scope.all_ctes())
            return self._subquery_item(query, body.get("alias"), alias, scope)
        if kind == "RangeFunction":
            return self._bind_range_function(body, scope, binder)
        raise SqlError("0A000", f"{syntax_words(kind)} in FROM is not supported")

    def _lateral_scope(self, scope: Scope) -> Scope:
        """What a LATERAL item sees: the FROM items to its left, then the enclosing queries.

        Lookups that reach it from inside the item are outer references; those
        that go further (to enclosing queries) are noted in its `outer_refs`, so
        the item's own references to its left are the difference.
        """
        items = [
            _BlockedItem(item.alias, item.columns, item.table, item.merged_away, error=self.lateral_blocked[id(item)])
            if id(item) in self.lateral_blocked else item
            for item in scope.items
        ]
        return Scope(items=items, parent=scope.parent, using_columns=list(scope.using_columns),
                     inherited_ctes=scope.all_ctes(), agg_error="FROM clause of their own query level")

    def _subquery_item(self, query: BoundQuery, alias_node: dict | None, alias: str, scope: Scope,
                       lateral: Scope | None = None) -> FromSubquery:
        colnames = string_list((alias_node or {}).get("colnames"))
        names = list(query.names)
        _check_alias_count(alias, len(names), colnames)
        names[: len(colnames)] = colnames
        types = query.output_types()
        cids = [self.bc.new_cid(n) for n in names]
        columns = [ScopeColumn(n, E.ColumnRef(c, t, n)) for n, c, t in zip(names, cids, types, strict=True)]
        scope.items.append(RangeItem(alias, columns))
        scope.item_named(alias)
        if lateral is not None:
            # What it reads from enclosing queries, this query depends on too;
            # what it reads from its left is the join's business.
            scope.outer_refs |= lateral.outer_refs
            return FromSubquery(query, cids, alias, frozenset(query.outer_refs - lateral.outer_refs))
        # A derived table (or WITH query) cannot see this level's other FROM
        # items, so what it reads from outside comes from enclosing queries:
        # this query depends on those values too.
        scope.outer_refs |= query.outer_refs
        return FromSubquery(query, cids, alias)

    def _bind_range_var(self, body: dict, scope: Scope) -> Any:
        name = body["relname"]
        schema = body.get("schemaname")
        alias_node = body.get("alias")
        alias = alias_node["aliasname"] if alias_node else name
        ctes = scope.all_ctes()
        if schema is None and name in ctes:
            cte = ctes[name]
            if isinstance(cte, WorkTable):
                # The recursive term's reference to its own query.
                cids = [self.bc.new_cid(n) for n in cte.names]
                columns = [ScopeColumn(n, E.ColumnRef(c, t, n)) for n, c, t in zip(cte.names, cids, cte.types, strict=True)]
                scope.items.append(RangeItem(alias, columns))
                scope.item_named(alias)
                return FromWorkTable(cte, cids, alias)
            if cte.fold_error is not None:
                raise cte.fold_error
            cte.refcount += 1
            item = self._subquery_item(cte.query, alias_node, alias, scope)
            item.cte = True
            item.cte_def = cte
            # The WITH query reads values of the levels enclosing its definition:
            # every level from this reference up to the definition needs them.
            refs = cte.query.outer_refs
            if refs:
                for level in scope.chain()[1:]:
                    if level is cte.parent:
                        break
                    level.outer_refs |= refs
                    if level is cte.owner:
                        break
            return item
        table = None
        # An unqualified name is looked up along the session's search path (the
        # system schemas hold system relations, the others the user's), or in a
        # view's query along the path of its CREATE; a qualified one in its
        # schema only.
        if schema is not None:
            schemas: tuple[str, ...] = (schema,)
        else:
            schemas = binding_path(self.bc).searched
        if schema in (None, USER_SCHEMA) and self.bc.catalog.overlay and self._temp_named(name):
            # The session's temporary objects are searched first, whatever the path
            # (PostgreSQL's pg_temp); the catalog overlay keeps them under public's key.
            if schema is not None and hides_permanent(self.bc.catalog, schema, name):
                raise hidden_by_temp(schema, name)
            schemas = (USER_SCHEMA, *schemas)
        for candidate in schemas:
            table = self.bc.catalog.find_table(name, candidate)
            if table is not None:
                break
            view = self.bc.catalog.find_view(name, candidate)
            if view is not None:
                return self._bind_view(view, alias_node, alias, scope)
            if self.bc.resolve_special_relation is not None and candidate not in self.bc.catalog.schemas:
                relation = self.bc.resolve_special_relation(candidate, name)
                if relation is not None:
                    return self._virtual_item(relation, alias_node, alias, scope)
        if table is None:
            qualified = f"{schema}.{name}" if schema else name
            raise locate(SqlError("42P01", f'relation "{qualified}" does not exist'), body.get("location"))
        self.bc.tables_read.add(table.oid)
        note_read(self.bc, table.oid, "table", table.name, table.schema, schema is not None)  # checked after binding
        colnames = string_list((alias_node or {}).get("colnames"))
        _check_alias_count(alias, len(table.live_columns), colnames)
        cids: list[int | None] = []
        columns = []
        live = 0
        for attnum, column in enumerate(table.columns, start=1):
            if column.dropped:
                cids.append(None)
                continue
            shown = colnames[live] if live < len(colnames) else column.name
            live += 1
            cid = self.bc.new_cid(shown)
            cids.append(cid)
            columns.append(ScopeColumn(shown, E.ColumnRef(cid, column.type, shown), table_oid=table.oid, attnum=attnum))
        scope.items.append(RangeItem(alias, columns, table, schema=table.schema if alias_node is None else None))
        scope.item_named(alias, adding=True)
        return FromTable(table, alias, cids, index_exprs=bind_index_exprs(self.bc, table, cids))

    def _bind_view(self, view: Any, alias_node: dict | None, alias: str, scope: Scope) -> FromSubquery:
        """A view is its query, bound afresh where it is named (it sees no outer query)."""
        self.bc.view_depth += 1
        self.bc.definition_paths.append(definition_path(view.search_path, self.bc.catalog))
        note_read(self.bc, view.oid, "view", view.name, view.schema)
        try:
            if self.bc.view_depth > VIEW_NESTING_MAX:
                raise SqlError("42P17", f'infinite recursion detected in rules for relation "{view.name}"')
            with as_owner_of_view(self.bc, view.oid):  # its tables are read with its owner's rights
                query = self.bind_query(json.loads(view.query))
        except SqlError as exc:
            if exc.location is None:
                exc.location = -1  # its locations are in the view's text, not this statement's
            raise
        finally:
            self.bc.view_depth -= 1
            self.bc.definition_paths.pop()
        query.names = list(view.column_names) + list(query.names[len(view.column_names):])
        self.bc.tables_read.add(view.oid)
        item = self._subquery_item(query, alias_node, alias, scope)
        if alias_node is None:
            scope.items[-1].schema = view.schema  # `schema.view.column` names its columns
        return item

    def _temp_named(self, name: str) -> bool:
        """Whether `name` is a temporary table or view of the session (qp/catalog/temp_overlay.py)."""
        found = self.bc.catalog.find_table(name) or self.bc.catalog.find_view(name)
        return found is not None and is_temp_oid(found.oid)

    def _virtual_item(self, relation: Any, alias_node: dict | None, alias: str, scope: Scope) -> FromVirtual:
        colnames = string_list((alias_node or {}).get("colnames"))
        _check_alias_count(alias, len(relation.columns), colnames)
        cids, columns = [], []
        for i, (name, typ) in enumerate(relation.columns):
            shown = colnames[i] if i < len(colnames) else name
            cid = self.bc.new_cid(shown)
            cids.append(cid)
            columns.append(ScopeColumn(shown, E.ColumnRef(cid, typ, shown)))
        for name, typ in getattr(relation, "system_columns", ()):
            # Like a table's tableoid: readable by name, not part of `*`.
            cid = self.bc.new_cid(name)
            cids.append(cid)
            columns.append(ScopeColumn(name, E.ColumnRef(cid, typ, name), hidden=True))
        unaliased_schema = getattr(relation, "schema", None) if alias_node is None else None
        scope.items.append(RangeItem(alias, columns, schema=unaliased_schema))
        return FromVirtual(relation, cids, alias)

    def _bind_range_function(self, body: dict, scope: Scope, binder: ExprBinder) -> FromFunction | FromSubquery:
        functions = body.get("functions", ())
        if len(functions) != 1 or body.get("is_rowsfrom"):
            raise SqlError("0A000", "ROWS FROM with several functions is not supported")
        pair = functions[0]["List"]["items"]
        call_node = pair[0]
        if node_kind(call_node) != "FuncCall":
            raise SqlError("0A000", "only function calls are supported in FROM")
        fc = call_node["FuncCall"]
        name = string_list(fc.get("funcname"))[-1]
        # A function in FROM is LATERAL whether it says so or not (PostgreSQL):
        # its arguments may read the FROM items to its left, and enclosing
        # queries' columns, which this query then depends on.
        lateral = self._lateral_scope(scope)
        lateral.agg_error = "functions in FROM"
        outside = Scope(parent=lateral, inherited_ctes=scope.all_ctes())
        inner = ExprBinder(self.bc, outside, QueryLevel(what="functions in FROM"), self._subquery_binder)
        routine = inner.user_routine(fc)  # a user function (qp/bind/routines.py), run by the scan
        out_name = None
        if routine is not None:
            if body.get("coldeflist"):
                raise SqlError("42601", 'a column definition list is only allowed for functions returning "record"')
            inlined = self._inline_set_function(*routine, body, scope, lateral)
            if inlined is not None:
                return inlined
            call = inner.routine_in_from(*routine)
            rtype, returns_set = call.type, True
            outputs = routine[0].outputs
            out_name = outputs[0][0] if len(outputs) == 1 and outputs[0][0] else None  # TABLE (a int)
        else:
            args = [inner.bind(a) for a in fc.get("args", ())]
            resolved = resolve_function(name, [a.type for a in args])
            args = [coerce(a, t, self.bc) for a, t in zip(args, resolved.arg_types, strict=True)]
            rtype, impl = self._column_definitions(name, resolved, body.get("coldeflist"), binder)
            call = E.Call(name, impl, tuple(args), rtype, resolved.strict, resolved.needs_context,
                          resolved.volatility)  # fmt: skip
            returns_set = resolved.returns_set
        scope.outer_refs |= lateral.outer_refs
        lateral_refs = frozenset(outside.outer_refs - lateral.outer_refs)
        alias_node = body.get("alias")
        alias = alias_node["aliasname"] if alias_node else name
        colnames = string_list((alias_node or {}).get("colnames"))
        if rtype.fields:
            out = [(n, t) for n, t in rtype.fields]
        else:  # one column: its OUT parameter's name if it has one, else the alias or function name
            out = [(_OUT_COLUMN_NAMES.get(name) or out_name or (alias if alias_node else name), rtype)]
        if body.get("ordinality"):
            out.append(("ordinality", INT8))
        _check_alias_count(alias, len(out), colnames)
        names = [colnames[i] if i < len(colnames) else n for i, (n, _) in enumerate(out)]
        if not returns_set:
            raise SqlError("0A000", f"function {name}() in FROM must return a set")
        cids = [self.bc.new_cid(n) for n in names]
        columns = [ScopeColumn(n, E.ColumnRef(c, t, n)) for n, c, (_, t) in zip(names, cids, out, strict=True)]
        if not rtype.fields and not body.get("ordinality") and names[0] != alias:
            # The alias alone names the function's one column (PostgreSQL's whole-row reference).
            columns.append(ScopeColumn(alias, E.ColumnRef(cids[0], rtype, alias), hidden=True, whole_row=True))
        scope.items.append(RangeItem(alias, columns))
        scope.item_named(alias)
        return FromFunction(call, cids, alias, bool(body.get("ordinality")), lateral_refs)

    def _inline_set_function(self, function: Any, args: list[E.Expr], body: dict, scope: Scope,
                             lateral: Scope) -> FromSubquery | None:  # fmt: skip
        """A user function's one SELECT as a LATERAL subquery in FROM, where PostgreSQL
        inlines it (qp/bind/routines.py): its parameters stand for the arguments."""
        node = inlinable_set_body(function, args)
        if node is None or body.get("ordinality") or function.oid in self.bc.inlining:
            return None
        barrier = Scope()  # the body sees none of the caller's names, only its parameters
        self.bc.inlining.add(function.oid)
        self.bc.routine_frames.append(RoutineFrame(function, list(args), barrier))
        self.bc.view_depth += 1
        self.bc.definition_paths.append(body_path(self.bc))
        try:
            query = self.bind_query(node, barrier)
        except SqlError:
            return None  # run by the function scan instead, which raises what it raises
        finally:
            self.bc.definition_paths.pop()
            self.bc.view_depth -= 1
            self.bc.routine_frames.pop()
            self.bc.inlining.discard(function.oid)
        fields = result_type(function).fields
        if [t.oid for t in query.output_types()] != [t.oid for _, t in fields]:
            return None
        query.names = [n for n, _ in fields]
        alias_node = body.get("alias")
        alias = alias_node["aliasname"] if alias_node else function.name
        return self._subquery_item(query, alias_node, alias, scope, lateral)

    def _column_definitions(self, name: str, resolved: Any, coldefs: list | None, binder: ExprBinder):
        """A function returning `record` in FROM takes its columns from the column
        definition list (`AS t(a int, b text)`): the row type and the implementation
        that builds such rows (qp/functions/json_records.py)."""
        rtype = resolved.return_type
        if rtype.oid != RECORD.oid or rtype.fields:
            if coldefs:
                raise SqlError("42601", 'a column definition list is only allowed for functions returning "record"')
            return rtype, resolved.impl
        if not coldefs:
            raise SqlError("42601", 'a column definition list is required for functions returning "record"')
        if name not in RECORD_FUNCTIONS:
            raise SqlError("0A000", f"column definition lists are not supported for {name}()")
        columns = []
        for node in coldefs:
            definition = node["ColumnDef"]
            columns.append((definition["colname"], binder.type_name(definition["typeName"])))
        build, produce = row_builder(columns), resolved.impl
        return record_type(columns), lambda *args: map(build, produce(*args))

    def _bind_join(self, body: dict, scope: Scope, binder: ExprBinder) -> FromJoin:
        kind = {"JOIN_INNER": "inner", "JOIN_LEFT": "left", "JOIN_RIGHT": "right", "JOIN_FULL": "full"}.get(
            body.get("jointype", "JOIN_INNER")
        )
        if kind is None:
            raise SqlError("0A000", f"join type {body.get('jointype')} is not supported")
        before = len(scope.items)
        saved_names_from = scope.names_from
        if body.get("alias"):
            scope.names_from = before  # its alias will hide the names bound inside it
        left = self._bind_from_item(body["larg"], scope, binder)
        middle = len(scope.items)
        blocked = []
        if kind in ("right", "full"):
            # A LATERAL item on the right may not read the left side of these joins.
            def error(alias: str) -> SqlError:
                return SqlError("42P10", f'invalid reference to FROM-clause entry for table "{alias}"',
                                detail="The combining JOIN type must be INNER or LEFT for a LATERAL reference.")
            blocked = [id(item) for item in scope.items[before:middle] if id(item) not in self.lateral_blocked]
            self.lateral_blocked.update(dict.fromkeys(blocked, error))
        try:
            right = self._bind_from_item(body["rarg"], scope, binder)
        finally:
            for key in blocked:
                del self.lateral_blocked[key]
        left_items, right_items = scope.items[before:middle], scope.items[middle:]
        for item in (left_items if kind in ("right", "full") else []) + (right_items if kind in ("left", "full") else []):
            item.nullable = True
        # What each side offers the join: a nested join's own output (its USING
        # columns merged), or a relation's columns.
        left_out = self._side_columns(left, left_items)
        right_out = self._side_columns(right, right_items)
        condition = None
        using = string_list(body.get("usingClause"))
        if body.get("isNatural"):
            right_names = {c.name for c in right_out}
            using = [c.name for c in left_out if c.name in right_names]
        merged_columns: list[ScopeColumn] = []
        if using:
            conds = []
            consumed: list[ScopeColumn] = []
            for i, name in enumerate(using):
                if name in using[:i]:
                    raise SqlError("42701", f'column name "{name}" appears more than once in USING clause')
                lcol = _find_unique(left_out, name, "left")
                rcol = _find_unique(right_out, name, "right")
                conds.append(binder.operator("=", lcol.expr, rcol.expr))
                # PostgreSQL's buildMergedJoinVar: the common type, from the side that
                # is never null-extended (both, through COALESCE, for FULL).
                typ = common_type([lcol.expr.type, rcol.expr.type], "JOIN/USING")
                if kind == "full":
                    merged = E.Coalesce((coerce(lcol.expr, typ, self.bc), coerce(rcol.expr, typ, self.bc)), typ)
                else:
                    merged = coerce(rcol.expr if kind == "right" else lcol.expr, typ, self.bc)
                merged_columns.append(ScopeColumn(name, merged))
                consumed += [lcol, rcol]
                for it in left_items + right_items:
                    it.merged_away.add(name)
            # A nested join's merged column consumed here is now this join's.
            scope.using_columns = merged_columns + [c for c in scope.using_columns
                                                    if not any(c is k for k in consumed)]
            condition = E.and_all(conds)
        elif "quals" in body:
            saved = binder.level.what
            binder.level.what = "JOIN conditions"
            condition = binder.bind_bool(body["quals"], "JOIN/ON")
            binder.level.what = saved
        output = merged_columns + [c for c in left_out if c.name not in using] + [
            c for c in right_out if c.name not in using]
        using_alias = body.get("join_using_alias")
        if using_alias:
            # `USING (x) AS j` names the merged columns only; the joined names stay visible.
            name = using_alias["aliasname"]
            scope.items.append(RangeItem(name, [ScopeColumn(c.name, c.expr) for c in merged_columns],
                                         merged_away=set(using)))
            scope.item_named(name)
        alias_node = body.get("alias")
        if alias_node:
            # A join alias hides the joined items' own names (and may rename the columns).
            name = alias_node["aliasname"]
            colnames = string_list(alias_node.get("colnames"))
            if len(colnames) > len(output):
                raise SqlError("42P10", f'join expression "{name}" has {len(output)} columns available but '
                                        f"{len(colnames)} columns specified")
            output = [ScopeColumn(colnames[i] if i < len(colnames) else c.name, c.expr)
                      for i, c in enumerate(output)]
            scope.using_columns = [c for c in scope.using_columns if not any(c is m for m in merged_columns)]
            del scope.items[before:]
            scope.names_from = saved_names_from
            scope.items.append(RangeItem(name, output))
            scope.item_named(name)
        scope.names_from = saved_names_from
        tree = FromJoin(kind, left, right, condition, alias=(alias_node or using_alias or {}).get("aliasname"))
        self._join_outputs[id(tree)] = (tree, output)
        return tree

    def _side_columns(self, tree: Any, items: list[RangeItem]) -> list[ScopeColumn]:
        """The columns one side of a join (or one FROM entry) offers, in order."""
        found = self._join_outputs.get(id(tree))
        if found is not None and found[0] is tree:
            return found[1]
        return [c for it in items for c in it.columns if not c.hidden]

    def _expand_star(self, node: dict, scope: Scope) -> list[tuple[str, E.Expr]]:
        names = string_list(node["ColumnRef"].get("fields"))
        if len(names) == 1:
            if not scope.items:
                raise SqlError("42601", "SELECT * with no tables specified is not valid")
            if scope.star_columns is not None:  # a SELECT's FROM entries, in order
                return [(c.name, c.expr) for c in scope.star_columns]
            out = [(c.name, c.expr) for c in scope.using_columns]
            for item in scope.items:
                out += [(c.name, c.expr) for c in item.columns if not c.hidden and c.name not in item.merged_away]
            return out
        columns = scope.star_of(names[-2], names[-3] if len(names) == 3 else None)
        if columns is None:
            raise SqlError("42P01", f'missing FROM-clause entry for table "{names[-2]}"')
        return columns

    def _subquery_binder(self, node: dict, scope: Scope) -> BoundQuery:
        return self.bind_query(node, scope, scope.all_ctes())


class _BlockedItem(RangeItem):
    """A FROM item a LATERAL item can name but not read: finding a column in it is `error`."""

    def __init__(self, alias: str, columns: list[ScopeColumn], table: object, merged_away: set[str], *,
                 error: Callable[[str], SqlError]) -> None:
        super().__init__(alias, columns, table, merged_away)
        self.error = error

    def find(self, name: str) -> ScopeColumn | None:
        if super().find(name) is None:
            return None
        raise self.error(self.alias)


def _grouping_position(arg: E.Expr, group_exprs: list[E.Expr], location: int | None) -> int:
    if arg in group_exprs:
        return group_exprs.index(arg)
    error = SqlError("42803", "arguments to GROUPING must be grouping expressions of the associated query level")
    raise locate(error, location)


def _distinct_on_not_leading(query: BoundSelect) -> int | None:
    """PostgreSQL's transformDistinctOnClause: the ORDER BY items that are DISTINCT ON
    expressions come before any other (or the row kept per group would be arbitrary).
    The DISTINCT ON output that breaks the rule, if one does."""
    on = list(query.distinct_on or ())
    skipped = False
    for key in query.order_by:
        if key.cid not in on:
            skipped = True
        elif skipped:
            return key.cid
    sorted_by = {key.cid for key in query.order_by}
    return next((cid for cid in on if cid not in sorted_by), None) if skipped else None


def locate_any(error: SqlError, location: int | None, bc: BindContext) -> SqlError:
    """`error` located where PostgreSQL points, whatever its SQLSTATE (not inside a view)."""
    if error.location is None and isinstance(location, int) and location >= 0 and bc.view_depth == 0:
        error.location = location
    return error


def _check_alias_count(alias: str, available: int, colnames: list[str]) -> None:
    """More column aliases than the relation has columns (PostgreSQL's buildRelationAliases)."""
    if len(colnames) > available:
        raise SqlError("42P10", f'table "{alias}" has {available} columns available but {len(colnames)} columns '
                                "specified")


def _find_unique(columns: list[ScopeColumn], name: str, side: str) -> ScopeColumn:
    found = [c for c in columns if c.name == name]
    if not found:
        raise SqlError("42703", f'column "{name}" specified in USING clause does not exist in {side} table')
    if len(found) > 1:
        raise SqlError("42702", f'common column name "{name}" appears more than once in {side} table')
    return found[0]


_LOCK_STRENGTHS = {"LCS_FORUPDATE": "UPDATE", "LCS_FORNOKEYUPDATE": "NO KEY UPDATE", "LCS_FORSHARE": "SHARE",
                   "LCS_FORKEYSHARE": "KEY SHARE"}


def _check_lockable(query: Any, strength: str) -> None:
    """PostgreSQL's CheckSelectLocking: what a query with row locks may not have."""
    if not isinstance(query, BoundSelect):
        if isinstance(query, (BoundSetOp, BoundRecursive)):
            raise SqlError("0A000", f"FOR {strength} is not allowed with UNION/INTERSECT/EXCEPT")
        return
    problem = (
        "DISTINCT clause" if query.distinct or query.distinct_on is not None
        else "GROUP BY clause" if query.group_exprs
        else "HAVING clause" if query.having is not None
        else "aggregate functions" if query.aggregates
        else "window functions" if query.windows
        else "set-returning functions in the target list" if query.has_srf
        else None
    )
    if problem is not None:
        raise SqlError("0A000", f"FOR {strength} is not allowed with {problem}")


def _lock_all(tree: Any, strength: str, marked: list) -> None:
    if isinstance(tree, FromTable):
        marked.append(tree)
    elif isinstance(tree, FromJoin):
        _lock_all(tree.left, strength, marked)
        _lock_all(tree.right, strength, marked)
    elif isinstance(tree, FromSubquery) and not tree.cte:
        _check_lockable(tree.query, strength)
        if isinstance(tree.query, BoundSelect):
            _lock_all(tree.query.from_, strength, marked)


def _locked_item(tree: Any, name: str) -> Any:
    """The FROM item FOR UPDATE OF `name` names (by its alias, as PostgreSQL matches)."""
    if isinstance(tree, FromJoin):
        if tree.alias == name:
            return tree
        return _locked_item(tree.left, name) or _locked_item(tree.right, name)
    if getattr(tree, "alias", None) == name:
        return tree
    return None


def _level_cids(query: BoundSelect) -> set[int]:
    out: set[int] = set()

    def collect(tree: Any) -> None:
        if isinstance(tree, (FromTable, FromSubquery, FromFunction, FromVirtual, FromWorkTable)):
            out.update(c for c in tree.cids if c is not None)
        elif isinstance(tree, FromJoin):
            collect(tree.left)
            collect(tree.right)

    collect(query.from_)
    return out


def _is_star(node: dict) -> bool:
    fields = node["ColumnRef"].get("fields", ())
    return bool(fields) and "A_Star" in fields[-1]


def figure_colname(node: dict | None, sublink_names: dict | None = None) -> str:
    name, _ = _figure(node, sublink_names or {})
    return name or "?column?"


def _figure(node: dict | None, sublink_names: dict | None = None) -> tuple[str | None, int]:
    """PostgreSQL's FigureColname: the default name of an output column.

    `sublink_names`: the bound subqueries' first column names, by SubLink node
    (PostgreSQL names `(subquery)` after its transformed query's column, which
    for a VALUES list is column1)."""
    sublink_names = sublink_names if sublink_names is not None else {}
    if node is None:
        return None, 0
    kind = node_kind(node)
    body = node_body(node)
    if kind == "ColumnRef":
        names = string_list(body.get("fields"))
        if len(names) >= 2 and names[-1] == "*":
            return names[-2], 2  # t.* in an expression: t's whole row, named after t
        return (names[-1] if names and names[-1] != "*" else None), 2
    if kind == "A_Indirection":
        name, strength = _figure(body.get("arg"), sublink_names)
        for step in body.get("indirection", ()):
            if "String" in step:
                return step["String"]["sval"], 2
        return name, strength
    if kind == "FuncCall":
        return string_list(body.get("funcname"))[-1], 2
    if kind == "TypeCast":
        name, strength = _figure(body.get("arg"), sublink_names)
        if strength <= 1:
            names = string_list(body["typeName"].get("names"))
            return names[-1], 1
        return name, strength
    if kind == "CollateClause":
        return _figure(body.get("arg"), sublink_names)
    if kind == "CaseExpr":
        name, strength = _figure(body.get("defresult"), sublink_names)
        if strength <= 1:
            return "case", 1
        return name, strength
    if kind == "A_ArrayExpr":
        return "array", 2
    if kind == "GroupingFunc":
        return "grouping", 2
    if kind == "RowExpr":
        return "row", 2
    if kind == "CoalesceExpr":
        return "coalesce", 2
    if kind == "MinMaxExpr":
        return ("greatest" if body.get("op") == "IS_GREATEST" else "least"), 2
    if kind == "SQLValueFunction":
        op = body.get("op", "")
        return {
            "SVFOP_CURRENT_DATE": "current_date", "SVFOP_CURRENT_TIME": "current_time",
            "SVFOP_CURRENT_TIME_N": "current_time", "SVFOP_CURRENT_TIMESTAMP": "current_timestamp",
            "SVFOP_CURRENT_TIMESTAMP_N": "current_timestamp", "SVFOP_LOCALTIME": "localtime",
            "SVFOP_LOCALTIME_N": "localtime", "SVFOP_LOCALTIMESTAMP": "localtimestamp",
            "SVFOP_LOCALTIMESTAMP_N": "localtimestamp", "SVFOP_CURRENT_ROLE": "current_role",
            "SVFOP_CURRENT_USER": "current_user", "SVFOP_USER": "current_user",
            "SVFOP_SESSION_USER": "session_user", "SVFOP_CURRENT_CATALOG": "current_catalog",
            "SVFOP_CURRENT_SCHEMA": "current_schema",
        }.get(op), 2
    if kind == "SubLink":
        link = body.get("subLinkType")
        if link == "EXISTS_SUBLINK":
            return "exists", 2
        if link == "ARRAY_SUBLINK":
            return "array", 2
        if link == "EXPR_SUBLINK":
            bound = sublink_names.get(id(body))
            if bound is not None and bound[0] is body:
                return bound[1], 2
            sub = body["subselect"]["SelectStmt"]
            targets = sub.get("targetList", ())
            if targets:
                res = targets[0]["ResTarget"]
                if res.get("name"):
                    return res["name"], 2
                return _figure(res.get("val"), sublink_names)
        return None, 0
    if kind == "A_Expr" and body.get("kind") == "AEXPR_NULLIF":
        return "nullif", 2
    return None, 0
