"""EXPLAIN ANALYZE's counters: rows, loops and time of every operator of a plan.

`instrument(op)` wraps the `run` of each operator in the tree (an instance
attribute shadowing the class's method, so parents that call
`self.child.run(rc)` reach the wrapper without knowing of it) and returns the
counters by operator. Time is measured only while an operator produces a
batch (inside its `__anext__`), so it includes its children's time and not
its parent's, as PostgreSQL's per-node timing does; the first batch's time is
PostgreSQL's "startup" figure. With `timing=False` only rows and loops are
counted (PostgreSQL's TIMING OFF, which skips the clock reads).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Counters:
    loops: int = 0
    rows: int = 0
    startup_s: float = 0.0  # summed over loops: time to each loop's first batch
    total_s: float = 0.0  # summed over loops


def instrument(op: Any, timing: bool = True) -> dict[int, Counters]:
    """Wrap every operator of the tree under `op`; counters keyed by id(operator)."""
    counters: dict[int, Counters] = {}

    def visit(node: Any) -> None:
        if id(node) in counters:
            return
        c = counters[id(node)] = Counters()
        original = node.run

        def run(rc: Any, _original: Any = original, _c: Counters = c) -> AsyncIterator[list[tuple]]:
            return _counted(_original(rc), _c, timing)

        node.run = run
        for child in node.children():
            visit(child)

    visit(op)
    return counters


async def _counted(
    batches: AsyncIterator[list[tuple]], c: Counters, timing: bool
) -> AsyncIterator[list[tuple]]:
    c.loops += 1
    it = batches.__aiter__()
    first = True
    clock = time.perf_counter
    try:
        while True:
            start = clock() if timing else 0.0
            try:
                batch = await it.__anext__()
            except StopAsyncIteration:
                if timing:
                    spent = clock() - start
                    c.total_s += spent
                    if first:
                        c.startup_s += spent
                return
            if timing:
                spent = clock() - start
                c.total_s += spent
                if first:
                    c.startup_s += spent
            first = False
            c.rows += len(batch)
            yield batch
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


def actual_text(c: Counters | None, timing: bool) -> str:
    """PostgreSQL's `(actual time=a..b rows=N loops=L)`; per-loop averages, as there."""
    if c is None or c.loops == 0:
        return "(never executed)"
    rows = round(c.rows / c.loops)
    if not timing:
        return f"(actual rows={rows} loops={c.loops})"
    startup_ms = c.startup_s * 1000 / c.loops
    total_ms = c.total_s * 1000 / c.loops
    return f"(actual time={startup_ms:.3f}..{total_ms:.3f} rows={rows} loops={c.loops})"
