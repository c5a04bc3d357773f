"""How the QP (and the KV front ends) reach storage: routing by key range.

The client knows the shard map and which storage nodes host each shard. A
batch of point reads is split by shard and sent as one request per node; a
range scan walks the shards it overlaps in key order (reverse order for a
descending scan), page by page. Any node hosting a shard can serve a strong
read, so the client spreads requests over them.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

from cluster.timeslice import checkpoint_if_due
from cluster.topology import Topology
from cluster.transport import InProcessTransport, Peer


class StorageClient:
    def __init__(self, topology: Topology, transport: InProcessTransport) -> None:
        self.topology = topology
        self.ranges = topology.shard_ranges
        self._nodes: list[Peer] = [
            transport.connect(topology.storage_address(n)) for n in range(topology.storage_node_count)
        ]
        # In the embedded topology every node hosts every shard.
        self._hosts: list[list[int]] = [list(range(len(self._nodes))) for _ in range(len(self.ranges))]
        self._turn = itertools.count()

    def _node_for(self, shard: int) -> Peer:
        hosts = self._hosts[shard]
        return self._nodes[hosts[next(self._turn) % len(hosts)]]

    async def get(
        self, keys: list[bytes], tau: int, catalog_version: int | None, *, newer: list[bytes] | None = None
    ) -> list[Any]:
        """Values of `keys` as of τ (None where absent), in the order asked.

        `newer`, if given, receives the keys that have a version committed after τ."""
        if len(keys) == 1:  # the common case: no grouping by node
            key = keys[0]
            node = self._node_for(self.ranges.owner(key))
            if newer is None:
                return list(await node.call("get", (key,), tau, catalog_version))
            values, stale = await node.call("get", (key,), tau, catalog_version, True)
            newer.extend(stale)
            return list(values)
        extra = (tau, catalog_version) if newer is None else (tau, catalog_version, True)
        return await self._get_many(keys, "get", extra, newer)

    async def get_latest(self, keys: list[bytes]) -> list[Any]:
        """Eventual read: each node's newest applied versions, no waiting, possibly stale."""
        return await self._get_many(keys, "get_latest", ())

    async def _get_many(self, keys: list[bytes], method: str, extra: tuple,
                        newer: list[bytes] | None = None) -> list[Any]:
        by_node: dict[int, list[int]] = {}
        node_of_shard: dict[int, int] = {}
        owner = self.ranges.owner
        for i, key in enumerate(keys):
            shard = owner(key)
            node = node_of_shard.get(shard)
            if node is None:
                hosts = self._hosts[shard]
                node = node_of_shard[shard] = hosts[next(self._turn) % len(hosts)]
            by_node.setdefault(node, []).append(i)
        out: list[Any] = [None] * len(keys)
        for node, indexes in by_node.items():
            values = await self._nodes[node].call(method, tuple(keys[i] for i in indexes), *extra)
            if newer is not None:
                values, stale = values
                newer.extend(stale)
            for i, value in zip(indexes, values, strict=True):
                out[i] = value
        return out

    async def scan(
        self,
        start: bytes,
        end: bytes | None,
        tau: int,
        catalog_version: int | None,
        *,
        limit: int = 0,
        reverse: bool = False,
        filter_tree: Any = None,
        projection: tuple[int, ...] | None = None,
        page_rows: int = 0,
        newer: list[bytes] | None = None,
    ) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """Pages of (key, value) in [start, end) as of τ (τ < 0: eventual).

        `newer`, if given, receives the returned keys that have a version after τ."""
        remaining = limit
        pieces = self.ranges.overlapping(start, end)
        if reverse:
            pieces.reverse()
        for shard, lo, hi in pieces:
            node = self._node_for(shard)
            resume_lo, resume_hi = lo, hi
            while True:
                want = remaining if remaining and (not page_rows or remaining < page_rows) else page_rows
                if newer is None:
                    pairs, resume = await node.call(
                        "scan", shard, resume_lo, resume_hi, tau, catalog_version, want, reverse, filter_tree,
                        projection,
                    )  # fmt: skip
                else:
                    pairs, resume, stale = await node.call(
                        "scan", shard, resume_lo, resume_hi, tau, catalog_version, want, reverse, filter_tree,
                        projection, True,
                    )  # fmt: skip
                    newer.extend(stale)
                await checkpoint_if_due()  # an in-process page is served in this task (cluster/timeslice.py)
                if pairs:
                    yield pairs
                    if remaining:
                        remaining -= len(pairs)
                        if remaining <= 0:
                            return
                if resume is None:
                    break
                if reverse:
                    resume_hi = resume
                else:
                    resume_lo = resume + b"\x00"
