"""INSERT, UPDATE and DELETE, planned: bound statements (qp/bind/dml.py) to the plans
qp/exec/dml.py runs.

The source of an INSERT is planned as a query is (VALUES rows become VALUES
operators, one per row when rows carry their own subqueries, so that each row
evaluates them in order); UPDATE and DELETE read their target through the
planner's FROM planning, so WHERE chooses the access path (a key range or an
index) and FROM / USING items are joined as in a SELECT. Expressions are
compiled against the layouts the plans produce.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext
from qp.bind.dml import BoundInsert, BoundModify, InsertQuery, InsertSource, InsertValues, TableContext
from qp.errors import SqlError
from qp.exec.append import Append
from qp.exec.compile import Layout, compile_predicate, compile_row, compile_scalar
from qp.exec.dml import InsertPlan, ModifyPlan, RowWriter
from qp.exec.operators import Operator, SublinkSlots
from qp.exec.project import FilterProject
from qp.exec.scans import OneRow, ValuesOp
from qp.plan.planner import Planner


def plan_insert(bc: BindContext, bound: BoundInsert, planner: Planner | None = None) -> InsertPlan:
    """`planner` (the session's rules and statistics) plans the source; a default one if None."""
    tc = bound.tc
    writer = RowWriter(bc, tc)
    plan = InsertPlan(
        tc, writer, bound.target_positions, plan_insert_source(bound.source, planner or Planner()),
        plan_defaults(bound.defaults), bound.on_conflict, bound.arbiter, [], None, bound.returning, None,
        bound.ignored_positions,
    )  # fmt: skip
    if bound.on_conflict == "update":
        layout = Layout(bound.update_cids)
        plan.update_set = [(pos, compile_scalar(expr, layout)) for pos, expr in bound.update_set]
        if bound.update_where is not None:
            plan.update_where = compile_predicate(bound.update_where, layout)
    if bound.returning is not None:
        plan.returning_fn = compile_row(bound.returning.exprs, writer.layout)
    return plan


def plan_insert_source(source: InsertSource, planner: Planner) -> Operator:
    """The operator that produces an INSERT's source rows."""
    if source is None:  # DEFAULT VALUES
        return OneRow()
    if isinstance(source, InsertValues):
        prepared = [planner.prepare_sublinks(row, []) for row in source.rows]
        if len(prepared) > 1 and any(slots for _, slots in prepared):
            # Each row evaluates its own subqueries: one VALUES operator per row, in order.
            return Append([ValuesOp([exprs], source.cids, slots) for exprs, slots in prepared], source.cids)
        return ValuesOp([exprs for exprs, _ in prepared], source.cids, prepared[0][1])
    assert isinstance(source, InsertQuery)
    op = planner.plan_query(source.query)
    if source.casts is not None:
        op = FilterProject(op, None, source.casts, source.cids, SublinkSlots([]))
    return op


def plan_defaults(defaults: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Bound defaults (qp.bind.dml.bind_defaults) compiled: (column, fn, ("nextval", oid) or None)."""
    return [(pos, compile_scalar(d, Layout([])) if isinstance(d, E.Expr) else d) for pos, d in defaults]


def plan_modify(bc: BindContext, bound: BoundModify, planner: Planner | None = None) -> ModifyPlan:
    """`planner` (the session's rules and statistics) reads the target; a default one if None."""
    tc: TableContext = bound.tc
    table = tc.table
    returning = bound.returning
    planner = planner or Planner()
    needed = referenced_cids_of([bound.where, *bound.set_exprs, *(returning.exprs if returning else [])]) | {
        c for c in tc.cids if c is not None
    }
    scan = planner.plan_source(bound.tree, E.conjuncts(bound.where), needed)
    positions = {cid: i for i, cid in enumerate(scan.cids)}
    column_positions = [positions.get(cid) if cid is not None else None for cid in tc.cids]
    exprs, slots = planner.prepare_sublinks(bound.set_exprs, scan.cids)
    set_fn = compile_row(exprs, Layout(scan.cids)) if exprs else None
    writer = RowWriter(bc, tc)
    returning_fn = None
    if returning is not None:
        # RETURNING sees the new row: the scan's layout with the target's columns replaced.
        ret_exprs, ret_slots = planner.prepare_sublinks(returning.exprs, scan.cids)
        if ret_slots:
            raise SqlError("0A000", "subqueries in RETURNING are not supported")
        returning_fn = compile_row(ret_exprs, Layout(scan.cids))
    return ModifyPlan(bound.kind, tc, writer, scan, column_positions, positions[-table.oid], bound.set_positions,
                      set_fn, slots, returning, returning_fn)  # fmt: skip


def referenced_cids_of(exprs: list[E.Expr | None]) -> set[int]:
    """The columns (and outer columns of subqueries) the expressions read."""
    out: set[int] = set()
    for e in exprs:
        if e is None:
            continue
        for node in E.walk(e):
            if isinstance(node, (E.ColumnRef, E.OuterRef)):
                out.add(node.cid)
            elif isinstance(node, E.SubLink):
                out |= node.query.outer_refs
    return out
