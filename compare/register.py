"""The register workload: clients reading and writing a few keys, recorded as a history.

Each client runs its operations one at a time against its own `Design`
(Jepsen's processes): with probability `write_ratio` a write of a value no
other write uses (client and sequence number encode it), else a read. Every
operation is recorded in a `checker.history.History` as `f="write"` with
value `(key, v)` or `f="read"` with value `(key, None)` completed by
`(key, values_seen)`; a refused operation is `fail`, an indeterminate one
`info`, after which the client continues as a new process (Jepsen's rule:
the old one may still be running somewhere).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from checker.history import History
from compare.designs import Design, perform

PROCESSES_PER_CLIENT = 1_000  # a client's process ids: client * this + restarts


async def run_register(
    designs: list[Design], *, keys: int, ops_per_client: int, seed: int, history: History | None = None,
    write_ratio: float = 0.5, pause_s: float = 0.0, stop: Callable[[], bool] = lambda: False,
    key_prefix: str = "r",
) -> History:  # fmt: skip
    """Run `ops_per_client` operations on each design (one per client), all at once, on keys
    `key_prefix` + a number: a run's keys must be new to the store, as its checker assumes
    every register starts empty (designs may share a table or bucket)."""
    history = history if history is not None else History()
    await designs[0].setup()

    async def client(index: int, design: Design) -> None:
        rng = random.Random(seed * 7919 + index)
        process = index * PROCESSES_PER_CLIENT
        for n in range(ops_per_client):
            if stop():
                return
            key = f"{key_prefix}{rng.randrange(keys)}"
            if rng.random() < write_ratio:
                value = (index + 1) * 1_000_000 + n
                process = await perform(history, process, "write", (key, value), design.write(key, value), writes=True)
            else:
                process = await perform(history, process, "read", (key, None), design.read(key), writes=False,
                                        completed=lambda seen, key=key: (key, seen))  # fmt: skip
            if pause_s:
                await asyncio.sleep(rng.uniform(0, pause_s))

    await asyncio.gather(*(client(i, d) for i, d in enumerate(designs)))
    return history
