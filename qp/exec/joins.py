"""Joins: hash joins (equality conditions; the build side materialized), nested loops,
and lateral joins that run their right side once per left row. The batched index
nested-loop join is qp/exec/index_join.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.exec.compile import (
    Layout,
    compile_predicate,
    compile_row,
)
from qp.exec.explain import expr_text
from qp.exec.operators import BATCH_ROWS, Operator, SublinkSlots, collect
from qp.exec.runtime import RunContext


class HashJoin(Operator):
    """Equi-join: builds a hash table of the right side, probes with the left.

    kind: inner | left | full (a right join is planned as a left join with the
    sides swapped; output order is by cid, so the swap is invisible).
    """

    def __init__(
        self,
        kind: str,
        left: Operator,
        right: Operator,
        left_keys: list[E.Expr],
        right_keys: list[E.Expr],
        residual: E.Expr | None,
        key_fns: list[Callable | None],
        outer_positions=None,
    ) -> None:
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
        self._residual = (
            compile_predicate(residual, Layout(self.cids, outer_positions)) if residual is not None else None
        )
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
        conds = [
            f"({expr_text(a)} = {expr_text(b)})" for a, b in zip(self.left_keys, self.right_keys, strict=True)
        ]
        out = [f"Hash Cond: {' AND '.join(conds)}"]
        if self.residual_expr is not None:
            out.append(f"Join Filter: {expr_text(self.residual_expr)}")
        return out


class NestedLoopJoin(Operator):
    def __init__(
        self,
        kind: str,
        left: Operator,
        right: Operator,
        condition: E.Expr | None,
        sublinks: SublinkSlots,
        outer_positions=None,
    ) -> None:
        self.kind = kind
        self.left = left
        self.right = right
        self.cids = left.cids + right.cids
        self.sublinks = sublinks
        self.condition = condition
        self._cond = (
            compile_predicate(condition, Layout(self.cids, outer_positions))
            if condition is not None
            else None
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
        return {"inner": "Nested Loop", "left": "Nested Loop Left Join", "full": "Nested Loop Full Join"}[
            self.kind
        ]

    def details(self) -> list[str]:
        return [f"Join Filter: {expr_text(self.condition)}"] if self.condition is not None else []


class LateralJoin(Operator):
    """A nested loop whose right side reads the left row (LATERAL, functions in FROM).

    For each left row the right plan runs again with an outer frame of this
    level's outer values followed by the left row's `lateral` columns (the
    planner numbered them that way). kind: inner | left.
    """

    def __init__(
        self,
        kind: str,
        left: Operator,
        right: Operator,
        lateral: list[int],
        condition: E.Expr | None,
        sublinks: SublinkSlots,
        outer_positions=None,
    ) -> None:
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
            compile_predicate(condition, Layout(self.cids, outer_positions))
            if condition is not None
            else None
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
