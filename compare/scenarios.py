"""Scenarios: a workload and a fault schedule, run the same way against every design.

`register_partition`: clients on both QPs read and write a few keys; after
a calm start, hosts h1 and h2 are cut off from h0, h3 and h4 (each side
keeps a QP, and three Dynamo nodes), then the cut heals and the clients go
on. Every design gets the same clients, keys, seed and schedule; each run
yields a history (checked by the caller) and the times of its faults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from checker.history import History
from compare.cluster import CompareCluster, Endpoint
from compare.designs import Design
from compare.register import run_register

DesignFactory = Callable[[Endpoint], Design]


@dataclass(frozen=True)
class Schedule:
    """Seconds of calm, of the fault, and after it."""

    before_s: float = 4.0
    during_s: float = 8.0
    after_s: float = 6.0


@dataclass
class Run:
    design: str
    history: History
    marks: dict[str, int] = field(default_factory=dict)  # fault name -> monotonic ns


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


async def register_partition(
    cluster: CompareCluster, name: str, factory: DesignFactory, *, schedule: Schedule = Schedule(),
    clients_per_qp: int = 2, keys: int = 3, seed: int = 1, cut: tuple[str, ...] = ("h1", "h2"),
) -> Run:  # fmt: skip
    """The register workload on `factory`'s design with `cut` partitioned off mid-run."""
    endpoints = cluster.endpoints()
    designs = [factory(endpoint) for endpoint in endpoints for _ in range(clients_per_qp)]
    history = History()
    run = Run(name, history)
    done = False

    async def faults() -> None:
        nonlocal done
        await asyncio.sleep(schedule.before_s)
        await asyncio.to_thread(cluster.partition, list(cut))
        run.marks["partition"] = time.monotonic_ns()
        await asyncio.sleep(schedule.during_s)
        await asyncio.to_thread(cluster.heal)
        run.marks["heal"] = time.monotonic_ns()
        await asyncio.sleep(schedule.after_s)
        done = True

    try:
        await asyncio.gather(
            faults(),
            run_register(designs, keys=keys, ops_per_client=1_000_000, seed=seed, history=history,
                         pause_s=0.05, stop=lambda: done, key_prefix=f"{_slug(name)}-{time.time_ns()}-"),
        )  # fmt: skip
    finally:
        if "heal" not in run.marks:
            await asyncio.to_thread(cluster.heal)
        for design in designs:
            await design.close()
    return run
