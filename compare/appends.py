"""The list-append workload (Elle's) for every design, as a history.

Each client runs transactions of one to four micro-operations on a few
keys: `("append", key, element)` with an element unique to the key, or
`("r", key, None)`, completed with the list read. A design runs them as
its programming model allows (`compare.designs`); `checker.list_append`
then finds the anomalies of the dependency graph (Adya's G0, G1, G-single,
lost updates, incompatible orders...). Keys are new for each run.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Sequence

from checker.history import History
from compare.designs import Design, perform

PROCESSES_PER_CLIENT = 1_000


async def run_list_append(
    designs: Sequence[Design], *, keys: Sequence[str], seed: int, history: History, stop: Callable[[], bool],
    pause_s: float = 0.05,
) -> None:  # fmt: skip
    """Each design (one per client) runs transactions until `stop()`."""
    counters = {key: itertools.count(1) for key in keys}

    async def client(index: int, design: Design) -> None:
        rng = random.Random(seed * 7919 + index)
        process = index * PROCESSES_PER_CLIENT
        while not stop():
            mops = []
            for _ in range(rng.randint(1, 4)):
                key = rng.choice(list(keys))
                mops.append(("append", key, next(counters[key])) if rng.random() < 0.5 else ("r", key, None))
            process = await perform(history, process, "txn", tuple(mops), design.txn(mops), writes=True,
                                    completed=lambda done: done)  # fmt: skip
            await asyncio.sleep(rng.uniform(0, pause_s))

    await asyncio.gather(*(client(i, d) for i, d in enumerate(designs)))
