"""The deterministic simulator: seeded runs of real parts under faults.

A `Simulation` is one seeded world: a `SimNetwork`, hosts (`SimNode`) that
each run an `async main(env)` and can crash and restart, and a trace. Each
host gets, through its `NodeEnv`, everything a part takes as an argument:

  env.transport   the network as seen from this host (serve / connect)
  env.disk        a `SimDisk` that outlives crashes but loses unsynced bytes
  env.clock       a `cluster.clock.Clock` whose source is the simulated time
                  plus a fixed offset within the clock error bound
  env.monotonic_ns  simulated monotonic time with a fixed rate error
  env.rng         a generator seeded from the simulation's
  env.trace       a line in the trace

Time is trio's `MockClock` with autojump: when every task waits, time jumps
to the next deadline, so minutes of simulated time take a fraction of a
second. Determinism: the only randomness is the simulation's generator (and
generators seeded from it); trio's scheduler is made deterministic and
seeded too (`deterministic_trio`); nothing may use threads, real sockets or
the wall clock. The same seed therefore gives the same trace, and a failing
seed replays from its number.

`run(seed, body)` runs `await body(sim)` in a fresh simulated world and
returns its result; `body` starts hosts, injects faults and checks.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trio
import trio.testing

from cluster.clock import Clock
from cluster.sim.disk import DiskFaults, SimDisk
from cluster.sim.network import NetworkFaults, SimNetwork, SimTransport

T = TypeVar("T")

# Simulated wall-clock time starts here (a plausible Unix time in ns), so τ
# values look like real ones.
EPOCH_NS = 1_750_000_000 * 1_000_000_000
TRACE_LINES_MAX = 200_000


@contextlib.contextmanager
def deterministic_trio(seed: int) -> Iterator[None]:
    """Make trio's scheduler a function of `seed` for the duration.

    trio shuffles each batch of runnable tasks with a private generator;
    in this mode it first sorts them by creation order, then shuffles with
    that generator, which we seed. (The same switch pytest-trio flips under
    Hypothesis.)
    """
    run_module = trio._core._run
    saved_flag = run_module._ALLOW_DETERMINISTIC_SCHEDULING
    saved_state = run_module._r.getstate()
    run_module._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    run_module._r.seed(seed)
    try:
        yield
    finally:
        run_module._ALLOW_DETERMINISTIC_SCHEDULING = saved_flag  # type: ignore[misc]
        run_module._r.setstate(saved_state)


class NodeEnv:
    """What one incarnation of a host gets to run with."""

    def __init__(self, node: SimNode) -> None:
        self.node = node
        self.name = node.name
        self.sim = node.sim
        self.transport: SimTransport = node.sim.network.transport(node.name)
        self.disk = node.disk
        self.clock = node.clock
        self.rng = random.Random(node.sim.rng.getrandbits(64))
        self.incarnation = node.incarnation

    def serve(self, address: str, handler: Any) -> None:
        self.transport.serve(address, handler)

    def monotonic_ns(self) -> int:
        return self.node.monotonic_ns()

    def trace(self, text: str) -> None:
        self.sim.trace(f"{self.name}: {text}")


class SimNode:
    """A simulated machine: a disk, a clock, and a program that can crash."""

    def __init__(
        self, sim: Simulation, name: str, main: Callable[[NodeEnv], Awaitable[None]], *,
        clock_offset_ns: int, clock_rate: float,
    ) -> None:  # fmt: skip
        self.sim = sim
        self.name = name
        self.main = main
        self.disk = SimDisk(random.Random(sim.rng.getrandbits(64)), sim.disk_faults)
        self.clock_offset_ns = clock_offset_ns
        self.clock_rate = clock_rate
        self.clock = Clock(
            sim.clock_error_ns,
            source_ns=lambda: EPOCH_NS + int(trio.current_time() * 1e9) + self.clock_offset_ns,
        )
        self.incarnation = 0
        self.alive = False
        self.env: NodeEnv | None = None
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._stopped = trio.Event()
        self._stopped.set()

    def monotonic_ns(self) -> int:
        return int(trio.current_time() * 1e9 * self.clock_rate)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task on this host (it dies with the host)."""
        if self._nursery is not None and self.alive:
            self._nursery.start_soon(fn, *args)

    async def start(self) -> None:
        assert not self.alive
        await self._stopped.wait()
        self.incarnation += 1
        self.alive = True
        self._stopped = trio.Event()
        self.sim.trace(f"{self.name}: start (incarnation {self.incarnation})")
        await self.sim.nursery.start(self._run)

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self.env = NodeEnv(self)
                    nursery.start_soon(self._main, self.env)
                    task_status.started()
        finally:
            self._nursery = None
            self._stopped.set()

    async def _main(self, env: NodeEnv) -> None:
        try:
            await self.main(env)
        except trio.Cancelled:
            raise
        except BaseExceptionGroup as group:
            if group.split(trio.Cancelled)[1] is None:
                raise  # only cancellations: the host was crashed or stopped
            self.sim.failures.append(f"{self.name} died: {group!r}")
            self.sim.trace(f"{self.name}: died: {group!r}")
            raise
        except BaseException as exc:
            self.sim.failures.append(f"{self.name} died: {type(exc).__name__}: {exc}")
            self.sim.trace(f"{self.name}: died: {type(exc).__name__}: {exc}")
            raise

    def crash(self) -> None:
        """kill -9: every task stops where it is, and unsynced writes are lost."""
        if not self.alive:
            return
        self.alive = False
        self.sim.network.host_down(self.name)
        if self._scope is not None:
            self._scope.cancel()
        lost = self.disk.crash()
        self.sim.trace(f"{self.name}: CRASH ({lost} unsynced bytes at risk)")

    async def restart(self) -> None:
        self.crash()
        await self.start()


class Simulation:
    def __init__(
        self,
        seed: int,
        *,
        network_faults: NetworkFaults | None = None,
        disk_faults: DiskFaults | None = None,
        clock_error_ns: int = 0,
        clock_rate_error: float = 0.0,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.disk_faults = disk_faults or DiskFaults()
        self.clock_error_ns = clock_error_ns
        self.clock_rate_error = clock_rate_error
        self.network = SimNetwork(self, network_faults)
        self.nodes: dict[str, SimNode] = {}
        self.lines: deque[str] = deque(maxlen=TRACE_LINES_MAX)
        self.failures: list[str] = []  # hosts whose program raised (a bug, not a fault)
        self._nursery: trio.Nursery | None = None

    @property
    def nursery(self) -> trio.Nursery:
        assert self._nursery is not None, "the simulation is not running"
        return self._nursery

    @property
    def now(self) -> float:
        return trio.current_time()

    def trace(self, text: str) -> None:
        self.lines.append(f"{trio.current_time():11.6f} {text}")

    def add_node(self, name: str, main: Callable[[NodeEnv], Awaitable[None]]) -> SimNode:
        assert name not in self.nodes, name
        error = self.clock_error_ns
        offset = self.rng.randint(-error, error) if error else 0
        rate = 1.0 + self.rng.uniform(-self.clock_rate_error, self.clock_rate_error)
        node = SimNode(self, name, main, clock_offset_ns=offset, clock_rate=rate)
        self.nodes[name] = node
        return node

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """A task of the simulated world itself (it survives every crash)."""
        self.nursery.start_soon(fn, *args)

    def trace_tail(self, lines: int = 200) -> str:
        tail = list(self.lines)[-lines:]
        return "\n".join(tail)


def run(seed: int, body: Callable[[Simulation], Awaitable[T]], **options: Any) -> T:
    """Run `await body(sim)` in a new world seeded with `seed`; returns what it returns."""
    result: list[T] = []

    async def main() -> None:
        sim = Simulation(seed, **options)
        async with trio.open_nursery() as nursery:
            sim._nursery = nursery
            try:
                result.append(await body(sim))
            finally:
                nursery.cancel_scope.cancel()

    with deterministic_trio(seed):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return result[0]
