"""Who owns what: the addresses of every part and the key ranges they own.

One `Topology` describes a deployment, whether every part runs in one
process (the embedded default) or each in its own. Parts find each other
only through it: journals by id, adjudicators by key range, storage nodes by
the shards they host.

Key ranges are given by sorted split keys: range i covers
[splits[i-1], splits[i]) with the first range starting at b"" and the last
running to the end of the key space.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from cluster import keyspace as keys


@dataclass(frozen=True)
class RangeMap:
    splits: tuple[bytes, ...]

    def __post_init__(self) -> None:
        assert list(self.splits) == sorted(set(self.splits)), "split keys must be sorted and distinct"
        assert b"" not in self.splits

    def __len__(self) -> int:
        return len(self.splits) + 1

    def owner(self, key: bytes) -> int:
        return bisect_right(self.splits, key)

    def bounds(self, index: int) -> tuple[bytes, bytes | None]:
        start = self.splits[index - 1] if index > 0 else b""
        end = self.splits[index] if index < len(self.splits) else None
        return start, end

    def overlapping(self, start: bytes, end: bytes | None) -> list[tuple[int, bytes, bytes | None]]:
        """The ranges a scan of [start, end) touches, each clipped to the scan."""
        out = []
        first = self.owner(start)
        last = len(self) - 1 if end is None else self.owner(end)
        for index in range(first, last + 1):
            lo, hi = self.bounds(index)
            lo = max(lo, start)
            hi = end if hi is None else (hi if end is None else min(hi, end))
            if hi is not None and lo >= hi:
                continue
            out.append((index, lo, hi))
        return out


def spread_replicas(shards: int, nodes: int, replicas: int) -> tuple[tuple[int, ...], ...]:
    """Each shard's `replicas` storage nodes, distinct, spread evenly: shard s on s, s+1, ... mod nodes."""
    assert 1 <= replicas <= nodes, (replicas, nodes)
    return tuple(tuple((s + k) % nodes for k in range(replicas)) for s in range(shards))


def default_splits(sql_parts: int, dynamodb_parts: int | None = None) -> tuple[bytes, ...]:
    """Split points: system keys, `sql_parts` ranges of SQL tables, `dynamodb_parts` of DynamoDB.

    Tables' keys begin with 0x02 and a bit-reversed oid (`storage.keys.table_key_id_for`),
    so even splits of that 32-bit space spread consecutive tables over the ranges.
    DynamoDB items' keys begin with 0x03 and a hash of the partition key, so even
    splits of the hash spread every table's items over its ranges (hash
    partitioning riding on range shards).
    """
    assert sql_parts >= 1
    dynamodb_parts = sql_parts if dynamodb_parts is None else dynamodb_parts
    splits = [keys.NS_SQL]
    for i in range(1, sql_parts):
        boundary = (i << 32) // sql_parts
        splits.append(keys.NS_SQL + boundary.to_bytes(4, "big"))
    splits.append(keys.NS_DYNAMODB)
    for i in range(1, dynamodb_parts):
        boundary = (i << 32) // dynamodb_parts
        splits.append(keys.NS_DYNAMODB + boundary.to_bytes(4, "big"))
    return tuple(splits)


@dataclass
class Topology:
    # Journals: each is its own Multi-Paxos log of `journal_replica_count`
    # replicas (2f+1); adjudicators spread commits over all of them and every
    # storage node merges them by τ_commit.
    journal_count: int = 1
    adjudicator_ranges: RangeMap = field(default_factory=lambda: RangeMap(default_splits(2)))
    shard_ranges: RangeMap = field(default_factory=lambda: RangeMap(default_splits(4)))
    storage_node_count: int = 2
    journal_replica_count: int = 3
    # Which storage nodes hold a replica of each shard (by shard index); None:
    # every node holds every shard (the embedded default).
    shard_hosts: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        assert self.journal_count >= 1
        assert self.journal_replica_count >= 1 and self.journal_replica_count % 2 == 1, "2f+1 journal replicas"
        if self.shard_hosts is not None:
            assert len(self.shard_hosts) == len(self.shard_ranges), "one host list per shard"
            for hosts in self.shard_hosts:
                assert hosts and len(set(hosts)) == len(hosts), "distinct hosts, at least one"
                assert all(0 <= n < self.storage_node_count for n in hosts)

    def hosts_of_shard(self, shard: int) -> tuple[int, ...]:
        """The storage nodes that hold a replica of `shard`."""
        if self.shard_hosts is None:
            return tuple(range(self.storage_node_count))
        return self.shard_hosts[shard]

    def shards_of_node(self, node: int) -> tuple[int, ...]:
        """The shards storage node `node` holds a replica of."""
        return tuple(s for s in range(len(self.shard_ranges)) if node in self.hosts_of_shard(s))

    def journal_address(self, journal_id: int, replica: int = 0) -> str:
        return f"journal/{journal_id}/{replica}"

    def journal_addresses(self, journal_id: int) -> list[str]:
        """Every replica of one journal, in replica order."""
        return [self.journal_address(journal_id, r) for r in range(self.journal_replica_count)]

    def adjudicator_address(self, index: int) -> str:
        return f"adjudicator/{index}"

    def storage_address(self, node: int) -> str:
        return f"storage/{node}"

    def dynamo_address(self, node: int) -> str:
        """Dynamo's node beside storage node `node` (kv/dynamo/node.py), in the same process."""
        return f"dynamo/{node}"

    def journal_for_adjudicator(self, index: int) -> int:
        """The journal an adjudicator tries first (it spreads its commits over all of them)."""
        return index % self.journal_count

    @property
    def adjudicator_count(self) -> int:
        return len(self.adjudicator_ranges)

    def storage_subscribers(self) -> tuple[str, ...]:
        return tuple(self.storage_address(n) for n in range(self.storage_node_count))
