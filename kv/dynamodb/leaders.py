"""Which storage replica leads each shard for DynamoDB's strong reads, and replacing one that stopped.

DynamoDB serves `ConsistentRead=true` from the leader of the item's replica
group only, and while a group has no leader (its host was lost, until the
group elects another) strong reads fail and eventual reads go on. dsql does
the same: a shard's leader is the first storage node of its placement
(`storage.client.LEADER` reads go there alone), and this front end replaces a
leader that stopped answering by committing the next placement with another
host of the shard first, one that serves a strong read as of now (so not a
replica that was cut off and is still catching up after a partition heals),
and the old leader last (`storage.placement.with_leader_moved`): a
read-modify-write of the placement key, so two front ends that both see the
loss commit one change between them, and every process learns the new
leader as it learns any placement. While no other host can serve either,
the leader stays and strong reads keep failing: there is no one to elect.

The failover is deliberately not instant: a leader is replaced only after it
has failed to answer for `FAILOVER_S` and a probe (a strong read as of now,
which a leader that is down, cut off or far behind cannot serve) confirms it, which is the
visible unavailability window of strong reads the comparison measures
(DynamoDB's is seconds too). A report first refreshes the placement: another
front end may already have moved the leader, and then the reads go on at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict
from cluster.clock import Clock
from cluster.topology import Topology
from storage.client import STRONG, StorageClient
from storage.interface import Get
from storage.placement import (
    PLACEMENT_KEY,
    decode_placement,
    initial_placement,
    placement_record,
    shard_map,
    with_leader_moved,
)

log = logging.getLogger(__name__)

FAILOVER_S = 3.0  # how long a leader may not answer before it is replaced
PROBE_S = 1.0  # the confirming probe's bound
CHECK_EVERY_S = 0.25
CHANGE_ATTEMPTS = 20


class LeaderFailover:
    """Leaders this front end found unresponsive, and their replacement."""

    def __init__(
        self, topology: Topology, transport, clock: Clock, storage: StorageClient, *,
        failover_s: float = FAILOVER_S, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.topology = topology
        self.transport = transport
        self.clock = clock
        self.storage = storage
        self.adjudicators = AdjudicatorClient(topology, transport)
        self.failover_s = failover_s
        self._monotonic = monotonic
        # (shard start key, leader node) -> when it was first reported.
        self.suspects: dict[tuple[bytes, int], float] = {}
        self.failovers = 0
        self._wake = trio.Event()

    def report(self, start: bytes, node: int) -> None:
        """A strong read found the leader `node` of the shard beginning at `start` unresponsive."""
        self.suspects.setdefault((start, node), self._monotonic())
        self._wake.set()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self.suspects:
                await self._wake.wait()
                self._wake = trio.Event()
                # Another front end may have moved the leader already: learn it at once.
                await self.storage.refresh_placement(force=True)
            for (start, node), since in sorted(self.suspects.items(), key=lambda item: item[1]):
                if not self._still_leads(start, node):
                    del self.suspects[(start, node)]
                elif self._monotonic() - since >= self.failover_s:
                    await self._replace(start, node)
            await trio.sleep(CHECK_EVERY_S)

    def _still_leads(self, start: bytes, node: int) -> bool:
        placement = self.storage.placement
        ranges = shard_map(placement)
        shard = ranges.owner(start)
        return ranges.bounds(shard)[0] == start and placement.shard_hosts[shard][0] == node

    async def _answers_now(self, start: bytes, node: int) -> bool:
        """Whether `node` serves a strong read of the shard as of now within `PROBE_S` (a node that
        is down, cut off, or too far behind the journal to serve now does not)."""
        with trio.move_on_after(PROBE_S):
            try:
                probe = Get((start,), self.clock.now().latest)  # a key of the shard
                await self.transport.connect(self.topology.storage_address(node)).call("get", probe)
            except Exception:  # noqa: BLE001 - any failure to answer counts as not answering
                return False
            return True
        return False

    async def _caught_up_successor(self, start: bytes, node: int) -> int | None:
        """The first other host of the shard, in placement order, that answers a strong read as
        of now: after a partition heals, the replicas that were cut off are behind, and a
        leader chosen among them would only fail again (a Raft leader must be up to date too)."""
        placement = self.storage.placement
        shard = shard_map(placement).owner(start)
        candidates = [host for host in placement.shard_hosts[shard] if host != node]
        answered: dict[int, bool] = {}

        async def probe(host: int) -> None:
            answered[host] = await self._answers_now(start, host)

        async with trio.open_nursery() as nursery:
            for host in candidates:
                nursery.start_soon(probe, host)
        return next((host for host in candidates if answered.get(host)), None)

    async def _replace(self, start: bytes, node: int) -> None:
        """Probe the leader once more with a strong read as of now; if it still cannot answer
        one (down, cut off, or too far behind to serve now), commit as the next leader the
        first other host that can."""
        if await self._answers_now(start, node):
            del self.suspects[(start, node)]  # it answers again: it stays the leader
            return
        successor = await self._caught_up_successor(start, node)
        if successor is None:
            return  # no other replica can serve now either: keep the suspicion, look again later
        for _ in range(CHANGE_ATTEMPTS):
            tau = self.clock.now().latest
            try:
                (value,) = await self.storage.get([PLACEMENT_KEY], tau, policy=STRONG)
                current = initial_placement(self.topology) if value is None else decode_placement(value)
                shard = shard_map(current).owner(start)
                new = with_leader_moved(current, shard, node, successor)
                if new is current:
                    self.storage.apply_placement(current)
                    break
                await self.adjudicators.commit(tau, placement_record(new), [PLACEMENT_KEY])
            except CommitConflict:
                await trio.sleep(0.05)
                continue
            except Exception as exc:  # noqa: BLE001 - a failover that cannot commit now is retried later
                log.warning("dynamodb: replacing the leader of shard [%s...) failed: %r", start.hex(), exc)
                return
            self.storage.apply_placement(new)
            self.failovers += 1
            log.warning(
                "dynamodb: storage node %d stopped answering as leader of shard [%s...); storage node %d leads it "
                "(placement %d)", node, start.hex() or "-", new.shard_hosts[shard][0], new.version,
            )  # fmt: skip
            break
        self.suspects.pop((start, node), None)

