"""Physical operators: async producers of row batches; this module holds what every one is.

Every operator has `cids` (the column identities of its output rows, in
order) and `run(rc)`, an async generator of non-empty lists of tuples.
Work is per batch wherever possible: a filter or projection is one generated
list comprehension per batch (see compile.py). Operators that evaluate
subqueries per row (`SublinkSlots`) fall back to a row loop, because a
subquery needs storage and storage is async.

Errors come out in row order, as PostgreSQL's row-at-a-time executor raises
them: when a batch fails, the rows before the failing one are yielded first
(`rows_until_error`), so a LIMIT that is satisfied by them never reaches the
error (`SELECT 1/(x-3) FROM generate_series(1, 5) x LIMIT 2` gives two rows).

Nothing here may hold the thread for long (see cluster/timeslice.py): leaves
call `checkpoint_if_due()` per batch or page, operators that loop over
materialized rows call it per batch or per outer row, and sorts of more than
`SORT_RUN_ROWS` rows are cut into runs merged lazily (qp/exec/sort.py).

The operators themselves live one family per module: scans.py (tables,
indexes, system relations, VALUES, functions), project.py (filters,
projections, set-returning functions), sort.py (sorts, DISTINCT, LIMIT),
joins.py, aggregate.py, setops.py (UNION/INTERSECT/EXCEPT, recursion); and
append.py, cte_scan.py, windows.py, grouping_sets.py, index_join.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from qp.bind import expr as E
from qp.errors import SqlError
from qp.exec.compile import (
    DeferredError,
    ExecFrame,
)
from qp.exec.explain import render
from qp.exec.runtime import RunContext

BATCH_ROWS = 1024


class Operator:
    cids: list[int]

    def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        raise NotImplementedError

    def title(self) -> str:
        return type(self).__name__

    def details(self) -> list[str]:
        return []

    def explain(self) -> list[str]:
        return render(self)

    def children(self) -> list[Operator]:
        return []


def rows_until_error(
    rows: list[tuple], keep: Callable | None, project: Callable | None, frame: ExecFrame
) -> tuple[list[tuple], BaseException | None]:
    """A failed batch, again a row at a time: the rows that pass before the first
    error, and that error (None if every row went through)."""
    out = []
    for row in rows:
        try:
            if keep is not None and not keep(row, frame):
                continue
            out.append(project(row, frame) if project is not None else row)
        except Exception as exc:
            return out, exc
    return out, None


async def collect(op: Operator, rc: RunContext) -> list[tuple]:
    out: list[tuple] = []
    async for batch in op.run(rc):
        out += batch
    return out


class SublinkSlots:
    """The subqueries of one operator's expressions, evaluated per input row.

    A slot is (sublink, plan, outer extractor(row, X) -> tuple, test fn(row, X)
    -> value, memoize). With `memoize`, a subquery's result is kept for the
    statement by its outer values (see run_sublink); the planner clears it for
    a correlated subquery that calls a volatile function, which PostgreSQL
    runs again for every row.
    """

    def __init__(
        self, slots: list[tuple[E.SubLink, Operator, Callable | None, Callable | None, bool]]
    ) -> None:
        self.slots = slots

    def __bool__(self) -> bool:
        return bool(self.slots)

    async def evaluate(self, row: tuple, rc: RunContext) -> list:
        values: list = []
        # A subquery nested in another's test (`CASE WHEN x IN (SELECT ...) ...` IN
        # (SELECT ...)) has the lower slot: the later test reads it from the frame.
        rc.frame.subs = values
        for link, plan, outer_fn, test_fn, memoize in self.slots:
            try:
                if isinstance(link, E.AsyncCall):  # outer_fn computes its arguments
                    values.append(await link.fn(rc, *outer_fn(row, rc.frame)))
                    continue
                outer = outer_fn(row, rc.frame) if outer_fn is not None else ()
                test = test_fn(row, rc.frame) if test_fn is not None else None
                values.append(await run_sublink(link, plan, outer, test, rc, memoize))
            except SqlError as exc:
                values.append(DeferredError(exc))
        return values


async def run_sublink(
    link: E.SubLink, plan: Operator, outer: tuple, test: Any, rc: RunContext, memoize: bool = True
) -> Any:
    """The value of one subquery for one row. With `memoize`, results are kept
    for the statement by (subquery, outer values): a correlated subquery runs
    once per distinct outer value and an uncorrelated one once, as
    PostgreSQL's initplans do."""
    memo = rc.caches.sublinks
    key: tuple | None = None
    if memoize:
        try:
            key = (id(link), outer)
            hash(key)
        except TypeError:
            key = None
    if link.kind in ("any", "all"):
        values = memo.get(key) if key is not None else None
        if values is None:
            rows = await collect(plan, rc.child(outer))
            values = rows if link.row else [r[0] for r in rows]
            if key is not None:
                memo[key] = values
        return _quantified(link, test, values)
    if key is not None and key in memo:
        return memo[key]
    sub_rc = rc.child(outer)
    if link.kind == "exists":
        result = False
        async for _ in plan.run(sub_rc):
            result = True
            break
    elif link.kind == "scalar":
        rows: list[tuple] = []
        async for batch in plan.run(sub_rc):
            rows += batch
            if len(rows) > 1:
                break
        if len(rows) > 1:
            raise SqlError("21000", "more than one row returned by a subquery used as an expression")
        result = (tuple(rows[0]) if link.row else rows[0][0]) if rows else None  # row: (a, b) = (SELECT x, y)
    elif link.kind == "array":
        result = [r[0] for r in await collect(plan, sub_rc)]
    else:
        raise SqlError("0A000", f"{link.kind} subqueries are not supported")
    if key is not None:
        memo[key] = result
    return result


def _quantified(link: E.SubLink, test: Any, values: list) -> bool | None:
    is_all = link.kind == "all"
    if not values:
        return is_all
    if test is None:
        return None
    if link.row:
        test = tuple(test)
    op = link.op
    unknown = False
    for value in values:
        result = None if value is None else op(test, value)  # rows are never None
        if result is None:
            unknown = True
        elif is_all and result is False:
            return False
        elif not is_all and result is True:
            return True
    return None if unknown else is_all
