"""ORDER BY, DISTINCT and LIMIT/OFFSET. Sorts of more than `SORT_RUN_ROWS` rows are cut
into runs sorted a run per scheduler turn and merged lazily, so a large sort never
holds the thread.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.errors import SqlError
from qp.exec.compile import (
    Layout,
    compile_scalar,
)
from qp.exec.operators import BATCH_ROWS, Operator
from qp.exec.runtime import RunContext


class Limit(Operator):
    def __init__(
        self,
        child: Operator,
        limit: E.Expr | None,
        offset: E.Expr | None,
        outer_positions: dict[int, int] | None = None,
    ) -> None:
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
            rows.sort(
                key=lambda r, p=position, n=null_rank, o=other: (n, None) if r[p] is None else (o, r[p]),
                reverse=desc,
            )
        else:
            rows.sort(
                key=lambda r, p=position, n=null_rank, o=other, k=value_key: (
                    (n, None) if r[p] is None else (o, k(r[p]))
                ),
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
            return (
                lambda r: (null_rank, None) if r[position] is None else (other, value_key(r[position]))
            ), reverse

        def same_way(row: tuple) -> tuple:
            return tuple(
                (null_rank, None)
                if (v := row[p]) is None
                else (1 - null_rank, fn(v) if fn is not None else v)
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


async def sorted_batches(
    rows: list[tuple], keys: list[tuple[int, Callable | None, bool, bool]]
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
        keys = [
            f"#{p + 1}{' DESC' if desc else ''}{' NULLS FIRST' if nf and not desc else ''}"
            for p, _, desc, nf in self._keys
        ]
        return [f"Sort Key: {', '.join(keys)}"]


class Distinct(Operator):
    """Keep the first row of each distinct value of `key_cids` (all columns if None)."""

    def __init__(
        self, child: Operator, key_fns: list[Callable | None], key_cids: list[int] | None = None
    ) -> None:
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
