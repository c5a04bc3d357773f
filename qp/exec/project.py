"""Filters and projections (one compiled comprehension per batch, or a row loop when
subqueries are evaluated per row), set-returning functions in the select list, and
renames.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.exec.compile import (
    Layout,
    compile_batch,
    compile_predicate,
    compile_row,
)
from qp.exec.explain import expr_text
from qp.exec.operators import BATCH_ROWS, Operator, SublinkSlots, rows_until_error
from qp.exec.runtime import RunContext


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
            self._pred = (
                compile_predicate(self.predicate_expr, layout) if self.predicate_expr is not None else None
            )
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
                    if getattr(call.impl, "wants_run_context", False):  # a user function (qp/bind/routines.py)
                        sets.append(await call.impl(rc, *args))
                    else:
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
