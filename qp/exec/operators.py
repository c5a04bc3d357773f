"""Physical operators: async producers of row batches.

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
`SORT_RUN_ROWS` rows are cut into runs merged lazily.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.catalog.stored import key_stamp
from qp.errors import SqlError
from qp.exec.compile import (
    DeferredError,
    ExecFrame,
    Layout,
    compile_batch,
    compile_predicate,
    compile_row,
    compile_scalar,
)
from qp.exec.explain import expr_text, filter_text, render
from qp.exec.runtime import SCAN_CACHE_ROWS_MAX, RunContext
from qp.types import group_key, sort_key
from storage.mvcc import keep_where_true, project

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


def rows_until_error(rows: list[tuple], keep: Callable | None, project: Callable | None,
                     frame: ExecFrame) -> tuple[list[tuple], BaseException | None]:
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


# -- subqueries inside expressions -----------------------------------------------------

class SublinkSlots:
    """The subqueries of one operator's expressions, evaluated per input row.

    A slot is (sublink, plan, outer extractor(row, X) -> tuple, test fn(row, X)
    -> value, memoize). With `memoize`, a subquery's result is kept for the
    statement by its outer values (see run_sublink); the planner clears it for
    a correlated subquery that calls a volatile function, which PostgreSQL
    runs again for every row.
    """

    def __init__(self, slots: list[tuple[E.SubLink, Operator, Callable | None, Callable | None, bool]]) -> None:
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


async def run_sublink(link: E.SubLink, plan: Operator, outer: tuple, test: Any, rc: RunContext,
                      memoize: bool = True) -> Any:
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


# -- leaves -------------------------------------------------------------------------------

class OneRow(Operator):
    def __init__(self) -> None:
        self.cids = []

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        yield [()]


class Empty(Operator):
    def __init__(self, cids: list[int]) -> None:
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        return
        yield  # pragma: no cover


class ValuesOp(Operator):
    def __init__(self, rows: list[list[E.Expr]], cids: list[int], sublinks: SublinkSlots,
                 outer_positions: dict[int, int] | None = None) -> None:
        self.cids = cids
        self.sublinks = sublinks
        layout = Layout([], outer_positions)
        self._rows = [compile_row(r, layout) for r in rows]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        out = []
        for fn in self._rows:
            try:
                if self.sublinks:
                    frame.subs = await self.sublinks.evaluate((), rc)
                out.append(fn((), frame))
            except Exception:
                if out:  # the rows before the failing one first (see the module docstring)
                    yield out
                raise
            if len(out) >= BATCH_ROWS:
                yield out
                out = []
                await checkpoint_if_due()
        if out:
            yield out

    def title(self) -> str:
        return "Values Scan"

    def details(self) -> list[str]:
        return [f"Rows: {len(self._rows)}"]

class FunctionScan(Operator):
    def __init__(self, call: E.Call, cids: list[int], ordinality: bool, record: bool,
                 outer_positions: dict[int, int] | None = None) -> None:
        self.cids = cids
        self.call = call
        self.ordinality = ordinality
        self.record = record
        self._args = compile_row(list(call.args), Layout([], outer_positions))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        args = self._args((), rc.frame)
        if self.call.strict and any(a is None for a in args):
            return
        if self.call.needs_context:
            args = (rc.ctx, *args)
        results = iter(self.call.impl(*args))
        record, ordinality = self.record, self.ordinality
        n = 0
        # Unlike a projection, a function in FROM fails as soon as any of its first
        # rows does: PostgreSQL computes its whole result before the first row
        # goes up, so an error later in the result surfaces even under a LIMIT.
        # (dsql streams it in batches instead, so that a series of millions of
        # rows needs no memory; the batch is the unit that fails.)
        while True:
            await checkpoint_if_due()
            values = list(itertools.islice(results, BATCH_ROWS))
            if not values:
                return
            batch = [tuple(v) for v in values] if record else [(v,) for v in values]
            if ordinality:
                batch = [(*row, n + i) for i, row in enumerate(batch, start=1)]
                n += len(batch)
            yield batch

    def title(self) -> str:
        return f"Function Scan on {self.call.name}"

class Rename(Operator):
    """The same rows under new column identities (a subquery in FROM)."""

    def __init__(self, child: Operator, cids: list[int]) -> None:
        assert len(child.cids) == len(cids)
        self.child = child
        self.cids = cids

    def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        return self.child.run(rc)


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "Subquery Scan"

# -- row-by-row and batch transforms ----------------------------------------------------------

class FilterProject(Operator):
    """WHERE and/or SELECT list over the child's rows."""

    def __init__(
        self,
        child: Operator,
        predicate: E.Expr | None,
        exprs: list[E.Expr] | None,
        cids: list[int] | None,
        sublinks: SublinkSlots,
        outer_positions: dict[int, int] | None = None,
    ) -> None:
        self.child = child
        self.cids = cids if exprs is not None else child.cids
        self.sublinks = sublinks
        self.predicate_expr = predicate
        self.exprs = exprs
        self._layout = layout = Layout(child.cids, outer_positions)
        self._pred: Callable | None = None
        self._proj: Callable | None = None
        if sublinks:
            self._row_functions()
        else:
            self._batch = compile_batch(exprs, predicate, layout)

    def _row_functions(self) -> tuple[Callable | None, Callable | None]:
        """The predicate and projection a row at a time (compiled when first needed)."""
        if self._pred is None and self._proj is None:
            layout = self._layout
            self._pred = compile_predicate(self.predicate_expr, layout) if self.predicate_expr is not None else None
            self._proj = compile_row(self.exprs, layout) if self.exprs is not None else None
        return self._pred, self._proj

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        if not self.sublinks:
            fn = self._batch
            async for batch in self.child.run(rc):
                try:
                    out = fn(batch, frame)
                except Exception as batch_error:
                    out, error = rows_until_error(batch, *self._row_functions(), frame)
                    if out:
                        yield out
                    raise (error or batch_error) from None
                if out:
                    yield out
            return
        pred, proj, sublinks = self._pred, self._proj, self.sublinks
        async for batch in self.child.run(rc):
            out = []
            for row in batch:
                await checkpoint_if_due()
                try:
                    frame.subs = await sublinks.evaluate(row, rc)
                    if pred is not None and not pred(row, frame):
                        continue
                    out.append(proj(row, frame) if proj is not None else row)
                except Exception:
                    if out:
                        yield out
                    raise
            if out:
                yield out


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        if self.predicate_expr is not None:
            return "Filter"
        return "Project"

    def details(self) -> list[str]:
        out = []
        if self.predicate_expr is not None:
            out.append(f"Filter: {expr_text(self.predicate_expr)}")
        if self.sublinks:
            out.append(f"SubPlans: {len(self.sublinks.slots)} (evaluated per row)")
        return out

class ProjectSet(Operator):
    """Set-returning functions of a select list, run in lockstep per input row.

    Output: the input columns, then one column per function. An input row
    yields as many rows as its longest function result; shorter ones are
    padded with NULL (PostgreSQL 10+ semantics). A row whose functions all
    return nothing yields nothing.
    """

    def __init__(self, child: Operator, calls: list[E.Call], cids: list[int], outer_positions=None) -> None:
        self.child = child
        self.calls = calls
        self.cids = child.cids + cids
        layout = Layout(child.cids, outer_positions)
        self._args = [compile_row(list(call.args), layout) for call in calls]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        calls, args_fns = self.calls, self._args
        async for batch in self.child.run(rc):
            out = []
            for row in batch:
                sets = []
                for call, args_fn in zip(calls, args_fns, strict=True):
                    args = args_fn(row, frame)
                    if call.strict and any(a is None for a in args):
                        sets.append(())
                        continue
                    sets.append(call.impl(rc.ctx, *args) if call.needs_context else call.impl(*args))
                # Lockstep, shorter results padded with NULL; consumed lazily, so
                # a set of millions streams in batches like any other input.
                combos = zip(sets[0]) if len(sets) == 1 else itertools.zip_longest(*sets)
                while True:
                    chunk: list = []
                    try:
                        chunk.extend(itertools.islice(combos, BATCH_ROWS))  # keeps what came before an error
                    except Exception:
                        out += [row + combo for combo in chunk]
                        if out:
                            yield out
                        raise
                    if not chunk:
                        break
                    out += [row + combo for combo in chunk]
                    if len(out) >= BATCH_ROWS:
                        yield out
                        out = []
                        await checkpoint_if_due()
            if out:
                yield out


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "ProjectSet"

class Limit(Operator):
    def __init__(self, child: Operator, limit: E.Expr | None, offset: E.Expr | None,
                 outer_positions: dict[int, int] | None = None) -> None:
        self.child = child
        self.cids = child.cids
        layout = Layout([], outer_positions)  # a correlated subquery's LIMIT may read the enclosing row
        self._limit = compile_scalar(limit, layout) if limit is not None else None
        self._offset = compile_scalar(offset, layout) if offset is not None else None

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        limit = self._limit((), rc.frame) if self._limit else None
        offset = self._offset((), rc.frame) if self._offset else 0
        offset = offset or 0
        if limit is not None and limit < 0:
            raise SqlError("2201W", "LIMIT must not be negative")
        if offset < 0:
            raise SqlError("2201X", "OFFSET must not be negative")
        if limit == 0:
            return
        remaining = limit
        async for batch in self.child.run(rc):
            if offset:
                if offset >= len(batch):
                    offset -= len(batch)
                    continue
                batch = batch[offset:]
                offset = 0
            if remaining is not None:
                if len(batch) >= remaining:
                    yield batch[:remaining]
                    return
                remaining -= len(batch)
            yield batch


    def children(self) -> list[Operator]:
        return [self.child]


# A sort of more rows than this is cut into runs of this many, each sorted in
# one call (a few ms), then merged lazily: one list.sort() of millions of rows
# would hold the thread for seconds.
SORT_RUN_ROWS = 8192


def sort_rows(rows: list[tuple], keys: list[tuple[int, Callable | None, bool, bool]]) -> None:
    """Sort in place by (position, value key, desc, nulls_first) keys, stably.

    One call sorts everything: for lists of any size use `sort_rows_async`."""
    for position, value_key, desc, nulls_first in reversed(keys):
        null_rank = 1 if nulls_first == desc else 0
        other = 1 - null_rank
        if value_key is None:
            rows.sort(key=lambda r, p=position, n=null_rank, o=other: (n, None) if r[p] is None else (o, r[p]),
                      reverse=desc)
        else:
            rows.sort(
                key=lambda r, p=position, n=null_rank, o=other, k=value_key: (n, None) if r[p] is None else (o, k(r[p])),
                reverse=desc,
            )


class _Descending:
    """A sort key compared in reverse (for merging runs sorted with reverse=True)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


def _merge_key(keys: list[tuple[int, Callable | None, bool, bool]]) -> tuple[Callable[[tuple], Any], bool]:
    """(key, reverse) for heapq.merge that orders rows as sort_rows' passes do.

    When every key goes the same way this is sort_rows' own key and direction
    (what it computes per row is the merge's main cost); mixed directions wrap
    the descending parts so one ascending comparison orders them all."""
    spec = [(p, fn, desc, 1 if nf == desc else 0) for p, fn, desc, nf in keys]
    if len({desc for _, _, desc, _ in spec}) == 1:
        reverse = spec[0][2]
        if len(spec) == 1:
            position, value_key, _, null_rank = spec[0]
            other = 1 - null_rank
            if value_key is None:
                return (lambda r: (null_rank, None) if r[position] is None else (other, r[position])), reverse
            return (lambda r: (null_rank, None) if r[position] is None else (other, value_key(r[position]))), reverse

        def same_way(row: tuple) -> tuple:
            return tuple(
                (null_rank, None) if (v := row[p]) is None else (1 - null_rank, fn(v) if fn is not None else v)
                for p, fn, _, null_rank in spec
            )

        return same_way, reverse

    def mixed(row: tuple) -> tuple:
        parts = []
        for position, value_key, desc, null_rank in spec:
            value = row[position]
            rank = null_rank if value is None else 1 - null_rank
            if value is None:
                parts.append((-rank if desc else rank, None))
            else:
                value = value_key(value) if value_key is not None else value
                parts.append((-rank, _Descending(value)) if desc else (rank, value))
        return tuple(parts)

    return mixed, False


async def sorted_batches(rows: list[tuple], keys: list[tuple[int, Callable | None, bool, bool]]
                         ) -> AsyncIterator[list[tuple]]:
    """`rows` in sort order, in batches, giving the scheduler a turn between runs and batches."""
    if len(rows) <= SORT_RUN_ROWS:
        sort_rows(rows, keys)
        for i in range(0, len(rows), BATCH_ROWS):
            yield rows[i : i + BATCH_ROWS]
            await checkpoint_if_due()
        return
    runs = []
    for i in range(0, len(rows), SORT_RUN_ROWS):
        run = rows[i : i + SORT_RUN_ROWS]
        sort_rows(run, keys)
        runs.append(run)
        await checkpoint_if_due()
    # heapq.merge keeps equal keys in run order, and runs are consecutive: stable.
    key, reverse = _merge_key(keys)
    merged = heapq.merge(*runs, key=key, reverse=reverse)
    while batch := list(itertools.islice(merged, BATCH_ROWS)):
        yield batch
        await checkpoint_if_due()


async def sort_rows_async(rows: list[tuple], keys: list[tuple[int, Callable | None, bool, bool]]) -> None:
    """sort_rows for lists of any size, without holding the thread (see sorted_batches)."""
    if len(rows) <= SORT_RUN_ROWS:
        sort_rows(rows, keys)
        return
    out: list[tuple] = []
    async for batch in sorted_batches(rows, keys):
        out += batch
    rows[:] = out


class Sort(Operator):
    def __init__(self, child: Operator, keys: list[tuple[int, Any, bool, bool]]) -> None:
        """keys: (cid, sort key function or None, desc, nulls_first)."""
        self.child = child
        self.cids = child.cids
        positions = {cid: i for i, cid in enumerate(child.cids)}
        self._keys = [(positions[cid], fn, desc, nf) for cid, fn, desc, nf in keys]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        rows: list[tuple] = []
        async for batch in self.child.run(rc):
            rows += batch
        async for batch in sorted_batches(rows, self._keys):
            yield batch


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "Sort"

    def details(self) -> list[str]:
        keys = [f"#{p + 1}{' DESC' if desc else ''}{' NULLS FIRST' if nf and not desc else ''}"
                for p, _, desc, nf in self._keys]
        return [f"Sort Key: {', '.join(keys)}"]

class Distinct(Operator):
    """Keep the first row of each distinct value of `key_cids` (all columns if None)."""

    def __init__(self, child: Operator, key_fns: list[Callable | None], key_cids: list[int] | None = None) -> None:
        self.child = child
        self.cids = child.cids
        positions = {cid: i for i, cid in enumerate(child.cids)}
        cids = key_cids if key_cids is not None else child.cids
        self._positions = [positions[c] for c in cids]
        self._fns = key_fns

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        seen: set = set()
        positions, fns = self._positions, self._fns
        async for batch in self.child.run(rc):
            out = []
            for row in batch:
                key = tuple(
                    (fn(row[p]) if fn is not None and row[p] is not None else row[p])
                    for p, fn in zip(positions, fns, strict=True)
                )
                if key not in seen:
                    seen.add(key)
                    out.append(row)
            if out:
                yield out


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "Unique"

class SetOperation(Operator):
    def __init__(self, op: str, all_: bool, left: Operator, right: Operator, cids: list[int],
                 key_fns: list[Callable | None]) -> None:
        self.op = op
        self.all = all_
        self.left = left
        self.right = right
        self.cids = cids
        self._fns = key_fns

    def _key(self, row: tuple) -> tuple:
        return tuple((fn(v) if fn is not None and v is not None else v) for fn, v in zip(self._fns, row, strict=True))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        if self.op == "union" and self.all:
            async for batch in self.left.run(rc):
                yield batch
            async for batch in self.right.run(rc):
                yield batch
            return
        if self.op == "union":
            seen: set = set()
            for side in (self.left, self.right):
                async for batch in side.run(rc):
                    out = []
                    for row in batch:
                        key = self._key(row)
                        if key not in seen:
                            seen.add(key)
                            out.append(row)
                    if out:
                        yield out
            return
        right_counts: dict = {}
        async for batch in self.right.run(rc):
            for row in batch:
                key = self._key(row)
                right_counts[key] = right_counts.get(key, 0) + 1
        emitted: dict = {}
        async for batch in self.left.run(rc):
            out = []
            for row in batch:
                key = self._key(row)
                available = right_counts.get(key, 0)
                if self.op == "intersect":
                    if self.all:
                        if available > 0:
                            right_counts[key] = available - 1
                            out.append(row)
                    elif available and key not in emitted:
                        emitted[key] = 1
                        out.append(row)
                else:  # except
                    if self.all:
                        if available > 0:
                            right_counts[key] = available - 1
                        else:
                            out.append(row)
                    elif not available and key not in emitted:
                        emitted[key] = 1
                        out.append(row)
            if out:
                yield out


    def title(self) -> str:
        if self.op == "union":
            return "Append" if self.all else "HashAggregate (UNION)"
        return f"HashSetOp {self.op.capitalize()}{' All' if self.all else ''}"

    def children(self) -> list[Operator]:
        return [self.left, self.right]


# Iterations of one recursive query before it is deemed runaway (PostgreSQL
# has no limit; a bound turns an infinite recursion into an error, not a hang).
RECURSION_ITERATIONS_MAX = 100_000
RECURSION_ROWS_MAX = 10_000_000

class RecursiveUnion(Operator):
    """WITH RECURSIVE: the non-recursive term, then the recursive term run
    against the previous iteration's rows until it produces none (UNION drops
    rows seen before, so a cycle ends; UNION ALL keeps everything)."""

    def __init__(self, left: Operator, right: Operator, all_: bool, work: Any, key_fns: list) -> None:
        self.left = left
        self.right = right
        self.all = all_
        self.work = work
        self.cids = left.cids
        self._fns = key_fns

    def _key(self, row: tuple) -> tuple:
        return tuple((fn(v) if fn is not None and v is not None else v) for fn, v in zip(self._fns, row, strict=True))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        seen: set = set()
        total = 0

        async def fresh(plan: Operator) -> list[tuple]:
            out: list[tuple] = []
            async for batch in plan.run(rc):
                if self.all:
                    out += batch
                    continue
                for row in batch:
                    key = self._key(row)
                    if key not in seen:
                        seen.add(key)
                        out.append(row)
            return out

        current = await fresh(self.left)
        for _ in range(RECURSION_ITERATIONS_MAX):
            if not current:
                return
            total += len(current)
            if total > RECURSION_ROWS_MAX:
                raise SqlError("54001", "recursive query produced too many rows")
            yield current
            # Each run of the recursive term sees a fresh statement cache: its
            # scans of the work table must not be served from an earlier iteration.
            rc.caches.worktables[id(self.work)] = current
            current = await fresh(self.right)
        raise SqlError("54001", "recursive query did not terminate")


    def children(self) -> list[Operator]:
        return [self.left, self.right]

    def title(self) -> str:
        return "Recursive Union" if not self.all else "Recursive Union All"

class WorkTableScan(Operator):
    def __init__(self, work: Any, cids: list[int]) -> None:
        self.work = work
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        rows = rc.caches.worktables.get(id(self.work), [])
        for i in range(0, len(rows), BATCH_ROWS):
            await checkpoint_if_due()
            yield rows[i : i + BATCH_ROWS]

    def title(self) -> str:
        return f"WorkTable Scan on {self.work.name}"

# -- joins ------------------------------------------------------------------------------------

class HashJoin(Operator):
    """Equi-join: builds a hash table of the right side, probes with the left.

    kind: inner | left | full (a right join is planned as a left join with the
    sides swapped; output order is by cid, so the swap is invisible).
    """

    def __init__(self, kind: str, left: Operator, right: Operator, left_keys: list[E.Expr], right_keys: list[E.Expr],
                 residual: E.Expr | None, key_fns: list[Callable | None], outer_positions=None) -> None:
        self.kind = kind
        self.left = left
        self.right = right
        self.cids = left.cids + right.cids
        self.left_keys, self.right_keys, self.residual_expr = left_keys, right_keys, residual
        lay_left = Layout(left.cids, outer_positions)
        lay_right = Layout(right.cids, outer_positions)
        self._left_key = compile_row(left_keys, lay_left)
        self._right_key = compile_row(right_keys, lay_right)
        self._fns = key_fns
        self._residual = compile_predicate(residual, Layout(self.cids, outer_positions)) if residual is not None else None
        self._right_width = len(right.cids)
        self._left_width = len(left.cids)

    def _normalize(self, key: tuple) -> tuple | None:
        if None in key:
            return None
        fns = self._fns
        return tuple(fn(v) if fn is not None else v for fn, v in zip(fns, key, strict=True))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        table: dict[tuple, list[tuple]] = {}
        right_rows: list[tuple] = []
        right_key = self._right_key
        full = self.kind == "full"
        index_of: dict[int, int] = {}
        async for batch in self.right.run(rc):
            for row in batch:
                key = self._normalize(right_key(row, frame))
                if full:
                    index_of[id(row)] = len(right_rows)
                right_rows.append(row)
                if key is not None:
                    table.setdefault(key, []).append(row)
        unmatched_right: set[int] | None = set(range(len(right_rows))) if full else None
        left_key, residual, kind = self._left_key, self._residual, self.kind
        null_right = (None,) * self._right_width
        async for batch in self.left.run(rc):
            out = []
            try:
                for row in batch:
                    key = self._normalize(left_key(row, frame))
                    matches = table.get(key) if key is not None else None
                    matched = False
                    if matches:
                        for other in matches:
                            combined = row + other
                            if residual is None or residual(combined, frame):
                                out.append(combined)
                                matched = True
                                if unmatched_right is not None:
                                    unmatched_right.discard(index_of[id(other)])
                    if not matched and kind in ("left", "full"):
                        out.append(row + null_right)
                    if len(out) >= BATCH_ROWS:  # many matches per row: bound the batch and the slice
                        yield out
                        out = []
                        await checkpoint_if_due()
            except Exception:
                if out:  # the rows before the failing one first (see the module docstring)
                    yield out
                raise
            if out:
                yield out
        if unmatched_right:
            null_left = (None,) * self._left_width
            out = [null_left + right_rows[i] for i in sorted(unmatched_right)]
            for i in range(0, len(out), BATCH_ROWS):
                await checkpoint_if_due()
                yield out[i : i + BATCH_ROWS]


    def children(self) -> list[Operator]:
        return [self.left, self.right]

    def title(self) -> str:
        return {"inner": "Hash Join", "left": "Hash Left Join", "full": "Hash Full Join"}[self.kind]

    def details(self) -> list[str]:
        conds = [f"({expr_text(a)} = {expr_text(b)})" for a, b in zip(self.left_keys, self.right_keys, strict=True)]
        out = [f"Hash Cond: {' AND '.join(conds)}"]
        if self.residual_expr is not None:
            out.append(f"Join Filter: {expr_text(self.residual_expr)}")
        return out

class NestedLoopJoin(Operator):
    def __init__(self, kind: str, left: Operator, right: Operator, condition: E.Expr | None,
                 sublinks: SublinkSlots, outer_positions=None) -> None:
        self.kind = kind
        self.left = left
        self.right = right
        self.cids = left.cids + right.cids
        self.sublinks = sublinks
        self.condition = condition
        self._cond = (
            compile_predicate(condition, Layout(self.cids, outer_positions)) if condition is not None else None
        )
        self._right_width = len(right.cids)
        self._left_width = len(left.cids)

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        right_rows = await collect(self.right, rc)
        cond, kind, sublinks = self._cond, self.kind, self.sublinks
        null_right = (None,) * self._right_width
        matched_right: set[int] = set()
        async for batch in self.left.run(rc):
            out = []
            try:
                for row in batch:
                    await checkpoint_if_due()  # one left row may meet many right rows
                    matched = False
                    for i, other in enumerate(right_rows):
                        combined = row + other
                        if cond is not None:
                            if sublinks:
                                frame.subs = await sublinks.evaluate(combined, rc)
                            if not cond(combined, frame):
                                continue
                        out.append(combined)
                        matched = True
                        if kind == "full":
                            matched_right.add(i)
                    if not matched and kind in ("left", "full"):
                        out.append(row + null_right)
                    if len(out) >= BATCH_ROWS:
                        yield out
                        out = []
            except Exception:
                if out:  # the rows before the failing one first (see the module docstring)
                    yield out
                raise
            if out:
                yield out
        if kind == "full":
            null_left = (None,) * self._left_width
            out = [null_left + r for i, r in enumerate(right_rows) if i not in matched_right]
            if out:
                yield out


    def children(self) -> list[Operator]:
        return [self.left, self.right]

    def title(self) -> str:
        return {"inner": "Nested Loop", "left": "Nested Loop Left Join", "full": "Nested Loop Full Join"}[self.kind]

    def details(self) -> list[str]:
        return [f"Join Filter: {expr_text(self.condition)}"] if self.condition is not None else []

class LateralJoin(Operator):
    """A nested loop whose right side reads the left row (LATERAL, functions in FROM).

    For each left row the right plan runs again with an outer frame of this
    level's outer values followed by the left row's `lateral` columns (the
    planner numbered them that way). kind: inner | left.
    """

    def __init__(self, kind: str, left: Operator, right: Operator, lateral: list[int], condition: E.Expr | None,
                 sublinks: SublinkSlots, outer_positions=None) -> None:
        assert kind in ("inner", "left"), kind
        self.kind = kind
        self.left = left
        self.right = right
        self.cids = left.cids + right.cids
        self.lateral = lateral
        self.condition = condition
        self.sublinks = sublinks
        self._picks = [left.cids.index(cid) for cid in lateral]
        self._cond = (
            compile_predicate(condition, Layout(self.cids, outer_positions)) if condition is not None else None
        )
        self._right_width = len(right.cids)

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        outer, picks = frame.outer, self._picks
        cond, sublinks, keep_unmatched = self._cond, self.sublinks, self.kind == "left"
        null_right = (None,) * self._right_width
        async for batch in self.left.run(rc):
            out = []
            try:
                for row in batch:
                    await checkpoint_if_due()
                    matched = False
                    inner = rc.child(outer + tuple(row[i] for i in picks))
                    async for right_rows in self.right.run(inner):
                        for other in right_rows:
                            combined = row + other
                            if cond is not None:
                                if sublinks:
                                    frame.subs = await sublinks.evaluate(combined, rc)
                                if not cond(combined, frame):
                                    continue
                            out.append(combined)
                            matched = True
                    if not matched and keep_unmatched:
                        out.append(row + null_right)
                    if len(out) >= BATCH_ROWS:
                        yield out
                        out = []
            except Exception:
                if out:  # the rows before the failing one first (see the module docstring)
                    yield out
                raise
            if out:
                yield out

    def children(self) -> list[Operator]:
        return [self.left, self.right]

    def title(self) -> str:
        return "Nested Loop Left Join" if self.kind == "left" else "Nested Loop"

    def details(self) -> list[str]:
        out = [f"Lateral: {len(self.lateral)} column(s) of the left side, right side run per row"]
        if self.condition is not None:
            out.append(f"Join Filter: {expr_text(self.condition)}")
        return out

# -- aggregation ---------------------------------------------------------------------------

class HashAggregate(Operator):
    """GROUP BY and aggregates. Output: group columns then aggregate results."""

    def __init__(self, child: Operator, group_exprs: list[E.Expr], group_cids: list[int], aggregates: list,
                 group_fns: list[Callable | None], outer_positions=None, sublinks: SublinkSlots | None = None) -> None:
        self.child = child
        self.cids = list(group_cids) + [a.cid for a in aggregates]
        self.aggregates = aggregates
        self._group_fns = group_fns
        layout = Layout(child.cids, outer_positions)
        self.sublinks = sublinks or SublinkSlots([])
        # One projection computes every input the aggregation needs:
        # group values, then each aggregate's arguments and FILTER.
        inputs: list[E.Expr] = list(group_exprs)
        self._arg_slices: list[tuple[int, int, int | None, list[tuple[int, Any, bool, bool]]]] = []

        for agg in aggregates:
            start = len(inputs)
            inputs += list(agg.args)
            filter_pos = None
            if agg.filter is not None:
                filter_pos = len(inputs)
                inputs.append(agg.filter)
            order_keys = []
            for expr, desc, nulls_first in agg.order:
                order_keys.append((len(inputs), sort_key(expr.type), desc, nulls_first))
                inputs.append(expr)
            self._arg_slices.append((start, start + len(agg.args), filter_pos, order_keys))
        self._ngroup = len(group_exprs)
        self._inputs = compile_row(inputs, layout) if self.sublinks else compile_batch(inputs, None, layout)
        # DISTINCT compares argument values as PostgreSQL's equality does (arrays, numerics, floats).
        self._distinct_keys = [_distinct_key_fn([a.type for a in agg.args]) if agg.distinct else None
                               for agg in aggregates]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        groups: dict[tuple, list] = {}
        originals: dict[tuple, tuple] = {}
        ngroup, aggs = self._ngroup, self.aggregates
        group_fns = self._group_fns
        async for values_batch in self._input_values(rc):
            for values in values_batch:
                raw_key = values[:ngroup]
                key = tuple(
                    fn(v) if fn is not None and v is not None else v for fn, v in zip(group_fns, raw_key, strict=True)
                ) if ngroup else ()
                state = groups.get(key)
                if state is None:
                    state = groups[key] = [self._new_state(a) for a in aggs]
                    originals[key] = raw_key
                self._accumulate(state, values)
        if not groups and ngroup == 0:
            groups[()] = [self._new_state(a) for a in aggs]
            originals[()] = ()
        out = []
        for key, state in groups.items():
            out.append(tuple(originals[key]) + await self._results(state))
            if len(out) >= BATCH_ROWS:
                yield out
                out = []
                await checkpoint_if_due()
        if out:
            yield out

    async def _input_values(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        """Per input batch, each row's group values then aggregate inputs."""
        frame = rc.frame
        async for batch in self.child.run(rc):
            if self.sublinks:
                values_batch = []
                for row in batch:
                    await checkpoint_if_due()
                    frame.subs = await self.sublinks.evaluate(row, rc)
                    values_batch.append(self._inputs(row, frame))
                yield values_batch
            else:
                yield self._inputs(batch, frame)

    def _accumulate(self, state: list, values: tuple) -> None:
        """Feed one input row (its computed inputs) to a group's aggregate states."""
        slices = self._arg_slices
        for i, agg in enumerate(self.aggregates):
            start, stop, filter_pos, order_keys = slices[i]
            if filter_pos is not None and values[filter_pos] is not True:
                continue
            args = values[start:stop]
            if not agg.star and None in args and getattr(agg.resolved, "strict", True):
                continue
            if agg.distinct or agg.order:
                acc, seen, pending = state[i]
                if agg.distinct:
                    key_fn = self._distinct_keys[i]
                    dkey = args if key_fn is None else key_fn(args)
                    if dkey in seen:
                        continue
                    seen.add(dkey)
                if agg.order:
                    pending.append((tuple(values[p] for p, _, _, _ in order_keys), args))
                    continue
                acc.step(*args)
            else:
                state[i].step(*args)

    async def _results(self, state: list) -> tuple:
        """A group's aggregate results."""
        results = []
        for i, agg in enumerate(self.aggregates):
            acc = state[i]
            if agg.distinct or agg.order:
                acc, _, pending = acc
                if agg.order:
                    # Feed the aggregate in its ORDER BY order.
                    keys = [(j, fn, desc, nf) for j, (_, fn, desc, nf) in enumerate(self._arg_slices[i][3])]
                    ordered = [(*order_values, args) for order_values, args in pending]
                    await sort_rows_async(ordered, keys)
                    for entry in ordered:
                        acc.step(*entry[-1])
            results.append(acc.final())
        return tuple(results)

    def _new_state(self, agg) -> Any:
        acc = agg.resolved.make()
        if agg.distinct or agg.order:
            return (acc, set(), [])
        return acc


    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "HashAggregate" if self._ngroup else "Aggregate"

    def details(self) -> list[str]:
        return [f"Aggregates: {', '.join(a.name for a in self.aggregates)}"] if self.aggregates else []

def _distinct_key_fn(types: list) -> Callable[[tuple], tuple] | None:
    fns = [group_key(t) for t in types]
    if not any(fns):
        return None
    return lambda args: tuple(fn(v) if fn is not None and v is not None else v for fn, v in zip(fns, args, strict=True))


# -- storage access ---------------------------------------------------------------------------

class ScanSpec:
    """How to read a table: key ranges (fixed or computed per execution) and pushdown."""

    def __init__(self, *, ranges=None, range_fn=None, keys_fn=None, filter_template=None, reverse=False):
        self.ranges = ranges  # [(start, end)] known at plan time
        self.range_fn = range_fn  # (frame) -> [(start, end)] from parameters
        self.keys_fn = keys_fn  # (frame) -> [key] for point reads
        self.filter_template = filter_template  # pushed-down filter tree, ("param", i) placeholders
        self.reverse = reverse


def _instantiate(tree: Any, frame: ExecFrame) -> Any:
    if isinstance(tree, tuple):
        if tree and tree[0] == "$param":
            return frame.params[tree[1]]
        if tree and tree[0] == "$outer":
            return frame.outer[tree[1]]
        return tuple(_instantiate(t, frame) for t in tree)
    return tree


class TableScan(Operator):
    """Rows of a table: point reads, primary-key ranges, or a full scan.

    Output: the projected columns, then the row key if `with_key`.
    """

    def __init__(self, table, projection: tuple[int, ...], cids: list[int], spec: ScanSpec,
                 residual: E.Expr | None, *, with_key: bool = False, lock: bool = False,
                 sublinks: SublinkSlots | None = None, outer_positions=None, access: str = "Seq Scan",
                 dependent: bool = False) -> None:
        self.table = table
        self.projection = projection
        self.cids = cids
        self.spec = spec
        self.with_key = with_key
        self.lock = lock
        self.access = access
        self.residual_expr = residual
        self.sublinks = sublinks or SublinkSlots([])
        self.dependent = dependent  # reads parameters or outer values: not cacheable
        self._layout = layout = Layout(cids, outer_positions)
        if residual is not None:
            self._residual = compile_predicate(residual, layout) if self.sublinks else compile_batch(None, residual, layout)
        else:
            self._residual = None

    async def _pages(self, rc: RunContext) -> AsyncIterator[list[tuple[bytes, Any]]]:
        if self.table.missing_values is None:
            async for page in self._stored_pages(rc):
                yield page
            return
        # Rows stored before ADD COLUMN ... DEFAULT read its missing value, which
        # storage does not know: it sends whole rows, projected here.
        projection = self.projection
        async for page in self._stored_pages(rc, whole_rows=True):
            yield [(k, tuple(self.table.pad_row(v)[i] for i in projection)) for k, v in page]

    async def _stored_pages(self, rc: RunContext, whole_rows: bool = False) -> AsyncIterator[list[tuple[bytes, Any]]]:
        txn = rc.txn
        spec = self.spec
        projection = self.projection if not whole_rows else None
        if spec.keys_fn is not None:
            keys = spec.keys_fn(rc.frame)
            if not keys:
                return
            values = await txn.get(keys)
            pairs = [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]
            if spec.filter_template is not None:

                keep = keep_where_true(_instantiate(spec.filter_template, rc.frame))
                pairs = [(k, v) for k, v in pairs if keep(v)]
            if pairs and projection is None:
                yield pairs
            elif pairs:
                width = max(projection) + 1 if projection else 0
                yield [(k, project(v, projection, width)) for k, v in pairs]
            return
        ranges = spec.ranges if spec.ranges is not None else spec.range_fn(rc.frame)
        filter_tree = _instantiate(spec.filter_template, rc.frame) if spec.filter_template is not None else None
        for start, end in ranges:
            async for page in txn.scan(start, end, filter_tree=filter_tree, projection=projection,
                                       reverse=spec.reverse):
                yield page

    async def _cached_pages(self, rc: RunContext) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """The scan's pages, from the statement's scan cache (a correlated subquery
        runs the same scan once per outer row). A scan too large for the cache
        streams as an uncached one would, past what it had gathered."""
        caches = rc.caches
        key = (self.table.oid, self.projection, repr(self.spec.ranges), repr(self.spec.filter_template),
               self.spec.reverse)
        cached = caches.scans.get(key)
        if cached is None:
            room = SCAN_CACHE_ROWS_MAX - caches.scan_rows
            gathered: list = []
            pages = self._pages(rc)
            async for page in pages:
                gathered += page
                if len(gathered) > room:  # too big to keep: hand over what there is, then stream
                    for i in range(0, len(gathered), BATCH_ROWS):
                        yield gathered[i : i + BATCH_ROWS]
                    async for rest in pages:
                        yield rest
                    return
            cached = caches.scans[key] = gathered
            caches.scan_rows += len(gathered)
        for i in range(0, len(cached), BATCH_ROWS):
            await checkpoint_if_due()
            yield cached[i : i + BATCH_ROWS]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        use_cache = rc.in_subquery and not self.dependent and not self.lock
        pages = self._cached_pages(rc) if use_cache else self._pages(rc)
        residual, with_key, lock = self._residual, self.with_key, self.lock
        async for page in pages:
            await checkpoint_if_due()
            if lock:
                _hold_rows(rc.txn, lock, [key for key, _ in page])
            rows = [v + (k,) for k, v in page] if with_key else [v for _, v in page]
            if residual is not None:
                if self.sublinks:
                    kept = []
                    for row in rows:
                        await checkpoint_if_due()
                        try:
                            frame.subs = await self.sublinks.evaluate(row, rc)
                            if residual(row, frame):
                                kept.append(row)
                        except Exception:
                            if kept:  # the rows before the failing one first (see the module docstring)
                                yield kept
                            raise
                    rows = kept
                else:
                    try:
                        rows = residual(rows, frame)
                    except Exception as batch_error:
                        keep = compile_predicate(self.residual_expr, self._layout)
                        kept, error = rows_until_error(rows, keep, None, frame)
                        if kept:
                            yield kept
                        raise (error or batch_error) from None
            if rows:
                yield rows

    def title(self) -> str:
        return f"{self.access} on {self.table.name}"

    def details(self) -> list[str]:
        names = [c.name for c in self.table.columns]
        out = []
        if self.access != "Full Scan":
            out.append(f"Key: {self.table.primary_index.name if self.table.primary_index else 'row id'}")
        if self.spec.filter_template is not None:
            out.append(f"Storage Filter: {filter_text(self.spec.filter_template, names)}")
        out.append(f"Projections: {', '.join(names[i] for i in self.projection) or '(none)'}")
        if self.residual_expr is not None:
            out.append(f"Filter: {expr_text(self.residual_expr)}")
        if self.lock == "share":
            out.append("Lock: FOR KEY SHARE (read keys are shared until commit)")
        elif self.lock:
            out.append("Lock: FOR UPDATE (read keys join the write set)")
        return out

def _hold_rows(txn, lock: bool | str, keys: list[bytes]) -> None:
    """FOR KEY SHARE shares each row's key stamp; FOR UPDATE locks the row and its
    stamp, so it conflicts with writes and with key shares (qp/catalog/stored.py)."""
    if lock == "share":
        for key in keys:
            txn.share(key_stamp(key))
        return
    for key in keys:
        txn.lock(key)
        txn.lock(key_stamp(key))


class IndexScan(Operator):
    """Rows found through a secondary index: index range scan, then row reads."""

    def __init__(self, table, index, projection: tuple[int, ...], cids: list[int], range_fn, residual: E.Expr | None,
                 *, with_key: bool = False, lock: bool = False, outer_positions=None, reverse: bool = False) -> None:
        self.table = table
        self.index = index
        self.projection = projection
        self.cids = cids
        self.range_fn = range_fn
        self.with_key = with_key
        self.lock = lock
        self.reverse = reverse
        self.residual_expr = residual
        layout = Layout(cids, outer_positions)
        self._residual = compile_batch(None, residual, layout) if residual is not None else None

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        txn = rc.txn
        projection = self.projection
        width = max(projection) + 1 if projection else 0
        for start, end in self.range_fn(rc.frame):
            async for page in txn.scan(start, end, reverse=self.reverse):
                await checkpoint_if_due()
                row_keys = [v for _, v in page]
                rows = await txn.get(row_keys)
                out = []
                for key, row in zip(row_keys, rows, strict=True):
                    if row is None:
                        continue
                    if self.lock:
                        _hold_rows(txn, self.lock, [key])
                    if self.table.missing_values is not None:  # rows from before ADD COLUMN ... DEFAULT
                        row = self.table.pad_row(row)
                    projected = project(row, projection, width)
                    out.append(projected + (key,) if self.with_key else projected)
                if self._residual is not None:
                    out = self._residual(out, rc.frame)
                if out:
                    yield out

    def title(self) -> str:
        return f"Index Scan using {self.index.name} on {self.table.name}"

    def details(self) -> list[str]:
        names = [c.name for c in self.table.columns]
        expressions = self.index.expressions
        keys = [expressions[k][3] if k < len(expressions) and expressions[k] else names[i]
                for k, i in enumerate(self.index.columns)]  # fmt: skip
        out = [f"Index Cond on: {', '.join(keys)}",
               f"Projections: {', '.join(names[i] for i in self.projection) or '(none)'}"]
        if self.residual_expr is not None:
            out.append(f"Filter: {expr_text(self.residual_expr)}")
        return out

class VirtualScan(Operator):
    """Rows of a relation the QP computes (catalog views)."""

    def __init__(self, relation, cids: list[int]) -> None:
        self.relation = relation
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        rows = await self.relation.rows(rc)
        for i in range(0, len(rows), BATCH_ROWS):
            await checkpoint_if_due()
            yield rows[i : i + BATCH_ROWS]

    def title(self) -> str:
        return f"Function Scan on {self.relation.name}"

