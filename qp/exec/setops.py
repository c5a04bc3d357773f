"""UNION, INTERSECT and EXCEPT, and WITH RECURSIVE (the recursive union and the work
table its recursive side reads), with the bounds that stop a runaway recursion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.errors import SqlError
from qp.exec.operators import BATCH_ROWS, Operator
from qp.exec.runtime import RunContext


class SetOperation(Operator):
    def __init__(
        self,
        op: str,
        all_: bool,
        left: Operator,
        right: Operator,
        cids: list[int],
        key_fns: list[Callable | None],
    ) -> None:
        self.op = op
        self.all = all_
        self.left = left
        self.right = right
        self.cids = cids
        self._fns = key_fns

    def _key(self, row: tuple) -> tuple:
        return tuple(
            (fn(v) if fn is not None and v is not None else v) for fn, v in zip(self._fns, row, strict=True)
        )

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
        return tuple(
            (fn(v) if fn is not None and v is not None else v) for fn, v in zip(self._fns, row, strict=True)
        )

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
