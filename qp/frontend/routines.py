"""Running a SQL function's body: the calls the binder did not inline.

A call (qp/bind/routines.py) hands its argument values here. The body's
statements are bound and planned once per catalog version (kept in a small
cache) and run one after another as sub-statements of the caller's
transaction: they read at its snapshot and see its buffered writes, and an
INSERT/UPDATE/DELETE in a VOLATILE body writes into it. The last statement
gives the result: its first row (or NULL) for a scalar function, all its rows
for a set-returning one, cast to the declared type as PostgreSQL's
check_sql_fn_retval arranged.

A STRICT function given a NULL returns NULL (no rows) without running. Calls
nest (a body may call functions, itself included); `ROUTINE_DEPTH_MAX` bounds
the nesting with PostgreSQL's 54001, well before Python's recursion limit.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from qp.bind.context import BindContext
from qp.bind.routine_body import bind_body_statement, body_context
from qp.bind.routines import body_statements, result_type
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.exec.compile import ExecFrame
from qp.exec.dml import run_insert, run_modify
from qp.exec.operators import collect
from qp.exec.runtime import RunContext, StatementCaches
from qp.pgcatalog.search_path import SearchPath, session_search_path
from qp.plan.dml import plan_insert, plan_modify
from qp.plan.planner import DEFAULT_RULES, Planner
from qp.stack import stack_depth_exceeded
from qp.types import RECORD, VOID, find_cast

# How deep calls of SQL functions may nest. Each level costs a few dozen Python
# frames (the caller's operators, the body's plan); PostgreSQL's 2 MB stack allows
# a few hundred levels of SQL functions, and this stays well inside both.
ROUTINE_DEPTH_MAX = 100
# Bodies kept bound and planned, by (catalog version, function oid, search path): a body's
# unqualified names resolve along the caller's path, as PostgreSQL's do when it runs.
PLAN_CACHE_ENTRIES_MAX = 256

_depth: ContextVar[int] = ContextVar("routine_depth", default=0)
_plans: OrderedDict[tuple[int, int, SearchPath], list] = OrderedDict()


def _planned_body(function: FunctionDef, catalog: CatalogSnapshot, rc: RunContext, special_relation) -> list:
    """(kind, plan, casts of the result columns) for each statement of the body."""
    key = (catalog.version, function.oid, session_search_path(rc.ctx, catalog))
    cached = _plans.get(key)
    if cached is not None:
        _plans.move_to_end(key)
        return cached
    statements = body_statements(function)
    rtype = result_type(function)
    wanted = [t for _, t in rtype.fields] if rtype.oid == RECORD.oid and rtype.fields else [rtype]
    out = []
    for i, node in enumerate(statements):
        bc = BindContext(catalog, rc.ctx, resolve_special_relation=special_relation)
        body_context(bc, function)
        bound = bind_body_statement(bc, function, node, executing=True)
        planner = Planner(rules=DEFAULT_RULES)
        if bound.kind == "query":
            plan = planner.plan_query(bound.bound)
        elif bound.kind == "insert":
            plan = plan_insert(bc, bound.bound, planner)
        else:
            plan = plan_modify(bc, bound.bound, planner)
        casts = None
        if i == len(statements) - 1 and rtype.oid != VOID.oid:
            casts = []
            for got, want in zip(bound.output_types, wanted, strict=False):
                cast = None if got.oid == want.oid else find_cast(got, want, "assignment")
                casts.append(cast.fn if cast is not None else None)
        out.append((bound.kind, plan, casts))
    _plans[key] = out
    while len(_plans) > PLAN_CACHE_ENTRIES_MAX:
        _plans.popitem(last=False)
    return out


async def run_routine(session: Any, rc: RunContext, function: FunctionDef, catalog: CatalogSnapshot,
                      values: tuple, rows: bool) -> Any:  # fmt: skip
    """One call's result: a value, or (with `rows`) a list of values or record tuples."""
    if function.strict and any(v is None for v in values):
        return [] if rows else None
    depth = _depth.get()
    if depth >= ROUTINE_DEPTH_MAX:
        raise stack_depth_exceeded()
    token = _depth.set(depth + 1)
    try:
        planned = _planned_body(function, catalog, rc, session.runner.special_relation)
        result: list[tuple] = []
        for kind, plan, _casts in planned:
            frame = ExecFrame(tuple(values), (), rc.ctx)
            sub = RunContext(rc.txn, frame, StatementCaches(), rc.session, True)
            if kind == "query":
                result = await collect(plan, sub)
            else:
                if rc.txn.read_only:
                    raise SqlError("25006", f"cannot execute {kind.upper()} in a read-only transaction")
                if rc.txn.ddl_count:
                    raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
                _, result = await run_modify(plan, sub) if kind != "insert" else await run_insert(plan, sub)
                rc.txn.dml_count += 1
        if not rows:
            result = result[:1]
        last_casts = planned[-1][2] if planned else None
        if last_casts is None:
            return [] if rows else None
        converted = [_convert(row, last_casts, rc) for row in result]
        record = len(last_casts) > 1 or bool(result_type(function).fields)
        values_out = [row if record else row[0] for row in converted]
        if rows:
            return values_out
        return values_out[0] if values_out else None
    except RecursionError:
        raise stack_depth_exceeded() from None
    finally:
        _depth.reset(token)


def _convert(row: tuple, casts: list, rc: RunContext) -> tuple:
    if not any(casts):
        return tuple(row)
    return tuple(v if fn is None or v is None else fn(v, rc.ctx) for v, fn in zip(row, casts, strict=False))
