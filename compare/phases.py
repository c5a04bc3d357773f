"""Running a scenario: every design's clients at once, through one schedule of faults.

A scenario is a workload and a list of `Phase`s. Each phase starts with an
action on the cluster (cut hosts off, delay them, kill a host, heal) and
lasts a number of seconds; the clients of every design run throughout, so
each design meets the same fault at the same moment (the comparison's
premise: the same faults). Clients of a design are spread over the query
processors (a client of each design beside each QP), as users of one
service would be.

`run_phased` bounds everything: a fault action that fails ends the
scenario (the cluster is healed in any case), clients are told to stop when
the last phase ends and are then given `DRAIN_S` to finish the operation
they are in (each call is bounded by the designs' own timeout).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from checker.history import History
from compare.cluster import CompareCluster, Endpoint
from compare.designs import Design

DRAIN_S = 15.0
UNTIL_CHECK_S = 0.25
DesignFactory = Callable[[Endpoint], Design]


@dataclass(frozen=True)
class Phase:
    name: str  # short, for tables and plots: "before", "partition", ...
    seconds: float
    fault: str  # what happens at its start, for people ("" for nothing)
    act: Callable[[CompareCluster], None] | None = None
    # Ends the phase early once true (checked every `UNTIL_CHECK_S`): a phase that waits for
    # something to happen (copies restored) lasts `seconds` at most.
    until: Callable[[], bool] | None = None
    # The phase begins when its action is asked for, not when it returns: for actions whose
    # effect unfolds while they run (adding or draining a node returns once replicas moved).
    begins_when_asked: bool = False


@dataclass
class Context:
    """What every scenario is given."""

    cluster: CompareCluster
    seed: int
    quick: bool
    out: Path
    console: Console
    run_id: str = field(default_factory=lambda: str(time.time_ns()))

    def key_prefix(self, scenario: str, design: str) -> str:
        """Keys new to the store for this run, scenario and design."""
        slug = "".join(c if c.isalnum() else "-" for c in design)
        return f"{scenario}-{slug}-{self.run_id}-"


@dataclass
class Schedule:
    """When a scenario ran and when each of its phases began (monotonic ns)."""

    start_ns: int = 0
    end_ns: int = 0
    marks: list[tuple[str, int]] = field(default_factory=list)  # (phase, when its fault was in place)
    requested: list[tuple[str, int]] = field(default_factory=list)  # (phase, when its fault was asked for)

    def phase_starts_s(self) -> list[tuple[str, float]]:
        return [(name, round((at - self.start_ns) / 1e9, 2)) for name, at in self.marks]

    def requested_s(self) -> dict[str, float]:
        return {name: round((at - self.start_ns) / 1e9, 2) for name, at in self.requested}


async def run_phased(ctx: Context, scenario: str, phases: Sequence[Phase],
                     clients: Callable[[Callable[[], bool]], Awaitable[object]]) -> Schedule:  # fmt: skip
    """Run `clients(stop)` (every design's clients) through `phases`; heal the cluster after."""
    schedule = Schedule(start_ns=time.monotonic_ns())
    stopping = False
    workload = asyncio.ensure_future(clients(lambda: stopping))
    total = sum(p.seconds for p in phases)
    try:
        for phase in phases:
            with ctx.console.status(f"{scenario}: {phase.name}" + (f" ({phase.fault})" if phase.fault else "")
                                    + f", {phase.seconds:g} s of {total:g}"):  # fmt: skip
                # A phase begins when its fault is in place (cutting hosts off or restarting
                # processes takes seconds, during which the previous state still holds), or
                # when asked for (`begins_when_asked`), and lasts its length (or the action's).
                asked = time.monotonic_ns()
                schedule.requested.append((phase.name, asked))
                if phase.begins_when_asked:
                    schedule.marks.append((phase.name, asked))
                if phase.act is not None:
                    await asyncio.to_thread(phase.act, ctx.cluster)
                begun = asked if phase.begins_when_asked else time.monotonic_ns()
                if not phase.begins_when_asked:
                    schedule.marks.append((phase.name, begun))
                ends = begun / 1e9 + phase.seconds
                if phase.until is None:
                    await asyncio.sleep(max(0.0, ends - time.monotonic_ns() / 1e9))
                else:
                    while time.monotonic_ns() / 1e9 < ends and not phase.until():
                        await asyncio.sleep(UNTIL_CHECK_S)
                if workload.done():
                    break  # the clients failed: their exception is raised below
    finally:
        stopping = True
        schedule.end_ns = time.monotonic_ns()
        try:
            with ctx.console.status(f"{scenario}: the clients finish their last operations"):
                await asyncio.wait_for(workload, DRAIN_S)
        finally:
            await asyncio.to_thread(ctx.cluster.heal)
    return schedule


Work = Callable[[str, list[Design], History, Callable[[], bool]], Awaitable[object]]


@dataclass
class Fleet:
    """Every design's clients in a scenario (one list per design), and each design's history."""

    designs: dict[str, list[Design]]
    histories: dict[str, History]

    @classmethod
    def of(cls, ctx: Context, factories: dict[str, DesignFactory], per_qp: int) -> Fleet:
        """`per_qp` clients of each design beside each query processor."""
        endpoints = ctx.cluster.endpoints()
        designs = {name: [factory(e) for e in endpoints for _ in range(per_qp)] for name, factory in factories.items()}
        for name, clients in designs.items():
            for design in clients:
                design.name = name  # a variant's name as the scenario calls it
        return cls(designs, {name: History() for name in designs})

    async def run(self, ctx: Context, scenario: str, phases: Sequence[Phase], work: Work,
                  then: Callable[[], Awaitable[object]] | None = None) -> Schedule:  # fmt: skip
        """`work(name, clients, history, stop)` for every design at once through `phases`; then
        `then()` (final reads) while the clients are still connected; then every client closed."""
        try:
            schedule = await run_phased(ctx, scenario, phases, lambda stop: asyncio.gather(*(
                work(name, clients, self.histories[name], stop) for name, clients in self.designs.items())))  # fmt: skip
            if then is not None:
                await then()
            return schedule
        finally:
            for clients in self.designs.values():
                for design in clients:
                    try:
                        await design.close()
                    except Exception:  # noqa: BLE001 -- best effort: the run's figures are already taken
                        pass
