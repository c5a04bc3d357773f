"""Reading storage for DynamoDB: strong reads that fail over, eventual reads that do not wait.

This is `storage.client.StorageClient` with one addition DynamoDB needs: a
strong read must not hang on one lagging replica. A strong read as of τ asks
a replica, which waits until its watermark reaches τ; a replica that is held
back (paused, partitioned, slow to apply) would keep the read waiting for
the node's own 15 s limit. So a strong read gives each replica
`STRONG_READ_FAILOVER_S` to answer, then asks the next one, and remembers
the slow one as suspect for a while so the following reads go elsewhere
first. Any replica that reaches τ gives the same answer (the snapshot
invariant), so failing over never changes a result.

Eventual reads (`get_latest`, scans with τ < 0) go to the replicas in turn
and never wait: a lagging replica really answers with what it has applied,
which is how DynamoDB's default reads behave.

As in `StorageClient`, every storage node of the embedded topology hosts
every shard, so any node can serve any key.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import trio

from cluster.topology import Topology
from cluster.transport import InProcessTransport, Peer, RemoteError, Unreachable
from kv.dynamodb.errors import internal
from storage.node import StorageUnavailable, WrongShard

# How long one replica gets to reach a strong read's τ before the read asks
# another: far above a healthy replica's apply lag (milliseconds), short
# enough that a held-back replica costs a client well under a second.
STRONG_READ_FAILOVER_S = 0.25
# A replica that missed that deadline is asked last for this long.
SUSPECT_FOR_S = 5.0
SCAN_PAGE_ROWS = 200


class Replicas:
    def __init__(self, topology: Topology, transport: InProcessTransport) -> None:
        self.topology = topology
        self.ranges = topology.shard_ranges
        self.nodes: list[Peer] = [
            transport.connect(topology.storage_address(n)) for n in range(topology.storage_node_count)
        ]
        self._turn = itertools.count()
        self._suspect_until = [0.0] * len(self.nodes)

    def _order(self) -> list[int]:
        """Nodes to ask, in turn; suspects last."""
        count = len(self.nodes)
        first = next(self._turn) % count
        order = [(first + i) % count for i in range(count)]
        now = time.monotonic()
        healthy = [n for n in order if self._suspect_until[n] <= now]
        return healthy + [n for n in order if self._suspect_until[n] > now]

    def next_node(self) -> int:
        return self._order()[0]

    async def _strong_call(self, method: str, *args: Any) -> Any:
        order = self._order()
        for attempt, node in enumerate(order):
            last = attempt == len(order) - 1
            try:
                if last:
                    return await self.nodes[node].call(method, *args)
                with trio.move_on_after(STRONG_READ_FAILOVER_S):
                    return await self.nodes[node].call(method, *args)
            except (StorageUnavailable, Unreachable, RemoteError, WrongShard) as exc:
                if last:
                    raise internal(f"storage unavailable: {exc}") from None
            self._suspect_until[node] = time.monotonic() + SUSPECT_FOR_S
        raise internal("storage unavailable")

    async def get(self, keys: list[bytes], tau: int) -> list[Any]:
        """Strong read: values of `keys` as of τ (None where absent)."""
        if not keys:
            return []
        return list(await self._strong_call("get", tuple(keys), tau, None))

    async def get_latest(self, keys: list[bytes]) -> list[Any]:
        """Eventual read: one replica's newest applied versions, no waiting."""
        if not keys:
            return []
        for node in self._order():
            try:
                return list(await self.nodes[node].call("get_latest", tuple(keys)))
            except (Unreachable, RemoteError, WrongShard):
                continue
        raise internal("storage unavailable")

    async def scan(
        self,
        start: bytes,
        end: bytes | None,
        tau: int,
        *,
        reverse: bool = False,
        filter_tree: Any = None,
        page_rows: int = SCAN_PAGE_ROWS,
    ) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """Pages of (key, value) in [start, end) as of τ (τ < 0: eventual), in key order."""
        pieces = self.ranges.overlapping(start, end)
        # One eventual scan stays on one replica, so its pages come from one
        # replica's history (a replica's view only ever moves forward).
        eventual_order = self._order() if tau < 0 else []
        if reverse:
            pieces.reverse()
        for shard, lo, hi in pieces:
            resume_lo, resume_hi = lo, hi
            while True:
                args = (shard, resume_lo, resume_hi, tau, None, page_rows, reverse, filter_tree, None)
                if tau >= 0:
                    pairs, resume = await self._strong_call("scan", *args)
                else:
                    pairs, resume = await self._eventual_scan(eventual_order, args)
                if pairs:
                    yield list(pairs)
                if resume is None:
                    break
                if reverse:
                    resume_hi = resume
                else:
                    resume_lo = resume + b"\x00"

    async def _eventual_scan(self, order: list[int], args: tuple) -> Any:
        for node in order:
            try:
                return await self.nodes[node].call("scan", *args)
            except (Unreachable, RemoteError, WrongShard):
                continue
        raise internal("storage unavailable")
