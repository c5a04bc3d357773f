"""Moving shard replicas between storage nodes while the cluster serves.

`PlacementDriver` carries out the moves storage/placement.py plans: to add a
replica it commits the next placement (a read-modify-write of the placement
key, through an adjudicator and the journal, so two drivers at once conflict
instead of overwriting each other), waits until the new node reports the
shard copied and caught up, and only then commits the placement without the
old replica. The copies that serve a shard therefore never number fewer than
before the move. `dsql cluster add-storage` and `dsql cluster drain` use it (drain also
replaces a lost node: its shards get new replicas copied from the surviving
ones, several at once, and the lost node leaves their hosts after);
it runs wherever a transport reaches the cluster (the CLI's own process, or
one process for the embedded tests).

It also splits shards that have grown past a size (`split_loop`, run by
every query processor; two splitting at once conflict on the placement key and
one gives way): it asks a replica for a key near the shard's middle and
commits the placement with the split, which every node then applies in place.

Every wait has a bound (`READY_TIMEOUT_S` for a copy, `CHANGE_ATTEMPTS` for
conflicting changes); a move cut short leaves the shard with one replica
more than it needs, never fewer, and running the same command again finishes
it (a node that already holds the shard is not given it twice).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict
from adjudicator.routing import OwnerMap, install
from assembly.config import ClusterSpec
from cluster.clock import Clock
from cluster.tcp import TcpTransport
from cluster.topology import RangeMap, Topology
from storage.client import StorageClient
from storage.interface import NodeStatus, Placement, SplitPoint
from storage.placement import (
    PLACEMENT_KEY,
    SPLIT_CHECK_S,
    SPLIT_KEYS,
    PlacementInvalid,
    decode_placement,
    initial_placement,
    placement_record,
    plan_drain,
    plan_spread,
    shard_map,
    split_shard,
    with_endpoint,
    with_replica,
    without_replica,
    without_source,
)

log = logging.getLogger(__name__)

# A new replica has this long to copy its shard and catch up: copying runs at
# some hundred thousand keys a second, so this covers tens of millions of keys.
READY_TIMEOUT_S = 600.0
READY_POLL_S = 0.2
# Changes that conflict with another driver's are read again and retried this often.
CHANGE_ATTEMPTS = 20
# A drain plans again after each round of moves (splits meanwhile leave halves behind).
DRAIN_ROUNDS = 10
STATUS_TIMEOUT_S = 2.0
# A split point may walk half a shard of a million keys on LMDB (yielding as it goes):
# it gets longer than a status, or a large shard would be asked again and again.
SPLIT_POINT_TIMEOUT_S = 60.0

Progress = Callable[[str], None]
T = TypeVar("T")


class PlacementDriver:
    def __init__(
        self,
        topology: Topology,
        transport: Any,
        clock: Clock,
        *,
        adjudicators: AdjudicatorClient | None = None,
        storage: StorageClient | None = None,
        progress: Progress | None = None,
    ) -> None:
        """`storage`: a client to read (and keep up to date) the placement with; a QP
        passes its own, so that each look for shards to split also shows it the
        newest placement (replicas added by moves get used within a round)."""
        self.topology = topology
        self.transport = transport
        self.clock = clock
        self.storage = storage if storage is not None else StorageClient(topology, transport, clock=clock)
        self.adjudicators = adjudicators if adjudicators is not None else AdjudicatorClient(topology, transport)
        self._progress = progress or (lambda message: log.info("%s", message))

    async def current(self) -> tuple[Placement, int]:
        """The placement as of now, and the τ it was read at."""
        tau = self.clock.now().latest
        (value,) = await self.storage.get([PLACEMENT_KEY], tau)
        placement = initial_placement(self.topology) if value is None else decode_placement(value)
        self.storage.apply_placement(placement)
        return placement, tau

    async def change(self, edit: Callable[[Placement], Placement]) -> Placement:
        """Commit `edit(current placement)`; read again and retry if another change got in first."""
        for _ in range(CHANGE_ATTEMPTS):
            placement, tau = await self.current()
            new = edit(placement)
            try:
                await self.adjudicators.commit(tau, placement_record(new), [PLACEMENT_KEY])
            except CommitConflict:
                # Jittered: moves made at once conflict on the placement key, and would again in step.
                await trio.sleep(0.05 * random.uniform(0.5, 1.5))
                continue
            self.storage.apply_placement(new)
            return new
        raise RuntimeError(f"the placement kept changing under {CHANGE_ATTEMPTS} attempts to change it")

    async def announce(self, node: int, endpoint: tuple[str, int]) -> Placement:
        """Tell every process where a storage node added to the cluster listens."""
        return await self.change(lambda p: with_endpoint(p, node, endpoint))

    async def status(self, node: int) -> NodeStatus:
        return await self.storage.status(node)

    async def wait_ready(self, start: bytes, node: int, version: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until `node` has applied placement `version` and serves the shard that
        begins at `start`: copied, caught up, and in a checkpoint (a copy only in
        memory would be lost by a crash, and the journal cannot replay it)."""
        with trio.fail_after(timeout_s):
            while True:
                status = None
                with trio.move_on_after(STATUS_TIMEOUT_S):
                    try:
                        status = await self.status(node)
                    except Exception as exc:  # noqa: BLE001 - a node restarting answers nothing for a while
                        log.info("storage-%d does not answer yet: %s", node, exc)
                if status is not None:
                    shard = RangeMap(tuple(status.splits)).owner(start)
                    if (status.placement_version >= version and status.caught_up and shard in status.shards
                            and shard not in status.filling and shard not in status.unsaved):
                        return
                await trio.sleep(READY_POLL_S)

    async def move(self, shard: int | bytes, source: int, target: int) -> None:
        """Give a shard a replica on `target`, then take the one on `source` away.

        The shard is named by its index in the current placement or by the key it
        begins at; the move follows it by that key, so a split meanwhile (which
        shifts indexes) cannot turn it into a move of another shard."""
        placement, _ = await self.current()
        start = shard if isinstance(shard, bytes) else shard_map(placement).bounds(shard)[0]
        name = f"shard [{start.hex() or '-'}...)"
        if target not in placement.hosts(_index(placement, start)):
            placement = await self.change(lambda p: with_replica(p, _index(p, start), target))
            self._progress(f"{name}: copying to storage-{target}")  # said once committed: it is
        await self.wait_ready(start, target, placement.version)
        placement, _ = await self.current()
        if source in placement.hosts(_index(placement, start)):
            placement = await self.change(lambda p: without_replica(p, _index(p, start), source))
        self._progress(f"{name}: moved from storage-{source} to storage-{target} (placement {placement.version})")

    async def split_large(self, split_keys: int) -> list[bytes]:
        """Split every shard a replica of which holds more than `split_keys` keys,
        once each (a half still too large splits on a later call); returns the split keys."""
        placement, _ = await self.current()
        sizes = await self._shard_sizes(placement)
        done = []
        for shard in [s for s, size in enumerate(sizes) if size > split_keys]:
            start, end = shard_map(placement).bounds(shard)
            key = await self._split_point(placement.hosts(shard), start, end)
            if key is None:
                continue

            def split(p: Placement, key: bytes = key) -> Placement:
                return split_shard(p, shard_map(p).owner(key), key)

            try:
                new = await self.change(split)
            except PlacementInvalid:
                continue  # another driver split it there first
            self._progress(f"shard {shard} [{start.hex()}, {'end' if end is None else end.hex()}) split at "
                           f"{key.hex()} ({sizes[shard]} keys; placement {new.version})")  # fmt: skip
            done.append(key)
        return done

    async def _shard_sizes(self, placement: Placement) -> list[int]:
        """The most keys any answering replica holds, per shard of `placement`."""
        sizes = [0] * len(placement.shard_hosts)
        for node in placement.nodes():
            with trio.move_on_after(STATUS_TIMEOUT_S):
                try:
                    status = await self.status(node)
                except Exception as exc:  # noqa: BLE001 - a node that does not answer is skipped this round
                    log.info("storage-%d does not answer: %s", node, exc)
                    continue
                if status.splits != placement.splits:
                    continue  # it has not applied this placement's shard map yet
                for shard, keys in zip(status.shards, status.shard_keys, strict=True):
                    sizes[shard] = max(sizes[shard], keys)
        return sizes

    async def _split_point(self, hosts: tuple[int, ...], start: bytes, end: bytes | None) -> bytes | None:
        for node in hosts:
            with trio.move_on_after(SPLIT_POINT_TIMEOUT_S):
                try:
                    reply = await self.storage._node(node).call("split_point", SplitPoint(start, end))
                except Exception as exc:  # noqa: BLE001 - another replica may answer
                    log.info("storage-%d gave no split point: %s", node, exc)
                    continue
                return reply.key
        return None

    async def answering(self, nodes: list[int]) -> list[int]:
        """The nodes of `nodes` that answer a status request within `STATUS_TIMEOUT_S` (all asked at once)."""
        answered: set[int] = set()

        async def ask(node: int) -> None:
            with trio.move_on_after(STATUS_TIMEOUT_S):
                try:
                    await self.status(node)
                except Exception as exc:  # noqa: BLE001 - a lost or partitioned node; it is left out
                    log.info("storage-%d does not answer: %s", node, exc)
                    return
                answered.add(node)

        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(ask, node)
        return [n for n in nodes if n in answered]

    async def drain(
        self, node: int, nodes: list[int], *, replicas: int | None = None, moves_at_once: int = 1
    ) -> list[tuple[int, int, int]]:
        """Move every replica off `node` onto the other `nodes` that answer; returns the moves made.

        `node` itself need not answer (a lost host): each new replica copies
        from a surviving one, and only then is `node` taken out of the shard's
        hosts. `replicas`: the copies a shard should have (a drain run again
        after being cut short then finishes the moves it began; see
        `plan_drain`). `moves_at_once`: moves made concurrently (a lost node's
        shards are short of a copy until theirs is done).

        Planned again until the node holds nothing: a shard that splits while it
        moves leaves its other half where it was."""
        assert moves_at_once >= 1
        limiter = trio.CapacityLimiter(moves_at_once)
        made: list[tuple[int, int, int]] = []
        for _ in range(DRAIN_ROUNDS):
            placement, _ = await self.current()
            if not placement.shards_of(node):
                if not made:
                    self._progress(f"storage-{node} holds no replica")
                return made
            answering = await self.answering(sorted({*nodes, node}))
            live = [n for n in answering if n != node]
            # A live node being drained is itself a source for its shards' new replicas; a lost one is not.
            if node not in answering and (stranded := without_source(placement, node, live)):
                raise PlacementInvalid(
                    f"shards {stranded} have no live replica besides storage-{node}: nothing to copy them from "
                    f"(restart a node that holds them)"
                )
            moves = plan_drain(placement, node, live, replicas)
            starts = shard_map(placement)
            async with trio.open_nursery() as nursery:
                for shard, source, target in moves:
                    # By the key the shard begins at: a split may come meanwhile.
                    nursery.start_soon(self._move_limited, limiter, starts.bounds(shard)[0], source, target)
            made += moves
        raise RuntimeError(f"storage-{node} still holds replicas after {DRAIN_ROUNDS} rounds of moves")

    async def _move_limited(self, limiter: trio.CapacityLimiter, start: bytes, source: int, target: int) -> None:
        async with limiter:
            await self.move(start, source, target)

    async def add_node(self, node: int, nodes: list[int], endpoint: tuple[str, int]) -> list[tuple[int, int, int]]:
        """A storage node just added: make its address known, then give it its share."""
        await self.announce(node, endpoint)
        return await self.spread(node, nodes)

    async def spread(self, node: int, nodes: list[int]) -> list[tuple[int, int, int]]:
        """Move replicas onto `node` (a storage node just added) until it holds its share."""
        placement, _ = await self.current()
        moves = plan_spread(placement, node, nodes)
        starts = shard_map(placement)
        for shard, source, target in moves:
            await self.move(starts.bounds(shard)[0], source, target)  # by key: a split may come meanwhile
        return moves


async def split_loop(driver: PlacementDriver, split_keys: int = SPLIT_KEYS, interval_s: float = SPLIT_CHECK_S) -> None:
    """Split shards that grow past `split_keys`, looking every `interval_s` or so
    (jittered, so that the query processors running it do not all look at once)."""
    while True:
        await trio.sleep(interval_s * random.uniform(0.5, 1.5))
        try:
            await driver.split_large(split_keys)
        except Exception as exc:  # noqa: BLE001 - the next round tries again; a server never stops for it
            log.warning("looking for shards to split failed: %s", exc)


def _index(placement: Placement, start: bytes) -> int:
    """The index of the shard that begins at `start` (shards only split, so one does)."""
    return shard_map(placement).owner(start)


def run(spec: ClusterSpec, action: Callable[[PlacementDriver], Awaitable[T]]) -> T:
    """`action(driver)` against the running cluster `spec` describes, from this process (the CLI's)."""
    return trio.run(_run, spec, action)


async def _run(spec: ClusterSpec, action: Callable[[PlacementDriver], Awaitable[T]]) -> T:
    transport = TcpTransport(spec.address_book())
    clock = Clock(spec.clock_error_ns)
    topology = spec.topology()
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        # Commits find each key range's current owner through this map, as a QP's do.
        routes = OwnerMap(topology, transport, clock, len(spec.of_kind("adjudicator")))
        install(transport, routes)
        nursery.start_soon(routes.run)
        driver = PlacementDriver(topology, transport, clock, progress=_print)
        try:
            result = await action(driver)
        except Exception as exc:  # noqa: BLE001 - raised below, outside the nursery
            # Raised from inside the nursery it would reach the CLI wrapped in an
            # exception group, and a refusal (PlacementInvalid) would print as a traceback.
            failure: Exception | None = _single(exc)
        else:
            failure = None
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


def _single(exc: Exception) -> Exception:
    """The one exception inside nested groups of one (trio wraps what a nursery's tasks raise)."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _print(message: str) -> None:
    print(f"dsql cluster: {message}", flush=True)


__all__ = ["PlacementDriver", "PlacementInvalid", "run"]
