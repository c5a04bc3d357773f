"""What crosses the seam into a storage node: its requests, replies and errors.

A storage node serves one RPC per request type below (`rpc_get(Get) ->
Values`, ...); `storage.client.StorageClient` is the one caller. Each type has
a stable number in `cluster.wire_ids`, which is what travels (as a
`cluster.codec` message), so a node and its callers agree on the messages and
not on Python module paths.

    Get          strong read of keys as of τ (waits for the node's watermark)  -> Values
    GetLatest    eventual read: the newest applied versions, no waiting        -> Values
    Scan         one page of a shard's range as of τ (None: eventual), with
                 an optional filter tree, projection, limit and direction      -> ScanPage
    Status       the node's counters                                           -> NodeStatus
    Watermark    the node's watermark                                          -> WatermarkReply
    CopyShard    a page of one shard's versions as of τ, for a new replica      -> ShardPiece
    NodeStateQuery  what a node joining the cluster starts from                -> NodeState
    PlacementQuery  the shard placement this node has applied                  -> Placement
    SplitPoint   a key near the middle of a shard, to split it at               -> SplitPointReply

Shards are named on the wire by their key range, never by their index alone:
a shard's index changes when one before it splits, and a caller may know an
older placement than the node it asks. A node that does not hold exactly the
range asked about (a `Scan` or `CopyShard` crossing its shard's end, after a
split) answers `WrongShard`, and the caller learns the newer placement.

The last three move replicas (storage/placement.py): a node given a shard
copies it from a replica that has it (`CopyShard`, page by page, every
version a snapshot may still read) while it applies the journal's newer
records itself; a node added to a running cluster first takes a peer's
journal positions, catalog versions and placement (`NodeStateQuery`).

`newer` (in Get and Scan) asks the node for the keys it returns that have a
version committed after τ: the QP dooms a transaction that writes one of them
at the statement rather than at COMMIT (qp/txn/transaction.py).

Why msgspec Structs and not frozen dataclasses, measured (one core of the
2-core machine, both carried by `cluster.codec` as an EXT_MESSAGE of (id,
fields...), encode + decode, best of 5, other agents running meanwhile):

                                       positional tuple   dataclass   Struct
    a one-key Get request                    0.6-1.7 µs      3.1 µs   2.5 µs
    a 200-row ScanPage (7 kB)                 300-430 µs    420 µs    290-375 µs
    constructing a Get                             -          0.6-1.0 µs   0.10-0.15 µs

The page is dominated by its rows either way; the per-message cost is
construction (a receiver builds every message it decodes) and reading the
fields back for encoding, where a Struct (C) is 4-6x cheaper than a frozen
dataclass (its __init__ goes through object.__setattr__). The typed Get costs
about 1.5 µs more than the bare tuple it replaces, against some 250 µs of
work per point select in the QP. Measured end to end (`python -m bench --only
point_select --seconds 10`, 8 connections, alternating runs on the loaded
shared machine): before 1,011 / 2,426 / 1,620 ops/s, after 2,033 / 2,104 /
1,807: no difference above the noise. A strong read through the client in one
process (tests' embedded cluster, 20,000 reads): 73-100 µs before, 60-79 µs
after at a fixed τ; 300-410 µs before, 285-355 µs after at τ = now (each
read asks the journal to close τ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from cluster import wire_ids
from cluster.codec import message
from cluster.transport import wire_error

# -- requests ------------------------------------------------------------------------


@message(wire_ids.STORAGE_GET)
class Get(msgspec.Struct, frozen=True):
    """Values of `keys` as of τ, once the node's watermark has reached τ.

    `catalog_version`, if not None, is the catalog the reader planned with;
    the node refuses the read (`CatalogChanged`) if τ sees another.

    `follow` (with one key): the key's value is itself a key (a unique index entry's value
    is its row's key); if this node holds that key's shard, it reads that key too, as
    of the same τ, and `Values.values` has two entries, else one (the caller reads
    the second key where it lives). An index lookup by a unique key is then one
    request, not two."""

    keys: tuple[bytes, ...]
    tau: int
    catalog_version: int | None = None
    newer: bool = False
    follow: bool = False


@message(wire_ids.STORAGE_GET_LATEST)
class GetLatest(msgspec.Struct, frozen=True):
    """The newest applied version of each key, without waiting (possibly stale)."""

    keys: tuple[bytes, ...]


@message(wire_ids.STORAGE_SCAN)
class Scan(msgspec.Struct, frozen=True):
    """One page of live pairs in [start, end), which lies within one shard, as of τ
    (τ None: whatever the node has applied, no waiting). `shard` is the caller's
    index of that shard, for logs; the node finds the shard by `start`.

    `limit` 0 asks for a page of the node's own size (it caps every page);
    `filter` is a filter tree (storage/mvcc.py `keep_where_true`) and
    `projection` the row positions to keep, both applied at the node."""

    shard: int
    start: bytes
    end: bytes | None
    tau: int | None
    catalog_version: int | None = None
    limit: int = 0
    reverse: bool = False
    filter: Any = None
    projection: tuple[int, ...] | None = None
    newer: bool = False


@message(wire_ids.STORAGE_STATUS)
class Status(msgspec.Struct, frozen=True):
    pass


@message(wire_ids.STORAGE_WATERMARK)
class Watermark(msgspec.Struct, frozen=True):
    pass


@message(wire_ids.STORAGE_COPY_SHARD)
class CopyShard(msgspec.Struct, frozen=True):
    """Up to `count` keys of the shard [start, end) after `after` (None: from
    its start), each with every version at or below τ that the node still holds."""

    start: bytes
    end: bytes | None
    tau: int
    after: bytes | None
    count: int


@message(wire_ids.STORAGE_SPLIT_POINT)
class SplitPoint(msgspec.Struct, frozen=True):
    """A key near the middle of the shard [start, end), if it has two keys or more."""

    start: bytes
    end: bytes | None


@message(wire_ids.STORAGE_NODE_STATE_QUERY)
class NodeStateQuery(msgspec.Struct, frozen=True):
    pass


@message(wire_ids.STORAGE_PLACEMENT_QUERY)
class PlacementQuery(msgspec.Struct, frozen=True):
    pass


# -- replies -------------------------------------------------------------------------


@message(wire_ids.STORAGE_PLACEMENT)
class Placement(msgspec.Struct, frozen=True):
    """Which storage nodes hold a replica of each shard, as of some τ.

    Version 0 comes from the cluster's configuration; each change is a
    commit through the journal (storage/placement.py), applied by every node
    in τ order, so all agree on the placement as of any τ. `endpoints` gives
    (node, host, port) of nodes added after the configuration was written,
    so processes that started before them can reach them."""

    version: int
    shard_hosts: tuple[tuple[int, ...], ...]
    endpoints: tuple[tuple[int, str, int], ...] = ()
    # The split keys of the shard map (cluster.topology.RangeMap): shards split
    # as they grow (storage/placement.py `split_shard`).
    splits: tuple[bytes, ...] = ()

    def hosts(self, shard: int) -> tuple[int, ...]:
        return self.shard_hosts[shard]

    def shards_of(self, node: int) -> tuple[int, ...]:
        return tuple(s for s, hosts in enumerate(self.shard_hosts) if node in hosts)

    def nodes(self) -> tuple[int, ...]:
        """Every storage node named, as a host or by an endpoint."""
        named = {n for hosts in self.shard_hosts for n in hosts} | {n for n, _, _ in self.endpoints}
        return tuple(sorted(named))


@message(wire_ids.STORAGE_VALUES)
class Values(msgspec.Struct, frozen=True):
    """One value per key asked, in order (None where absent); with `newer`
    asked, the keys that have a version after τ."""

    values: Sequence[Any]
    newer: Sequence[bytes] = ()


@message(wire_ids.STORAGE_SCAN_PAGE)
class ScanPage(msgspec.Struct, frozen=True):
    """(key, row) pairs in scan order; `resume` is the last key examined when
    the range may hold more (the next page starts after it, or before it for
    a reverse scan), None when the range is done."""

    pairs: Sequence[tuple[bytes, Any]]
    resume: bytes | None
    newer: Sequence[bytes] = ()


@message(wire_ids.STORAGE_NODE_STATUS)
class NodeStatus(msgspec.Struct, frozen=True):
    node: int
    watermark: int
    applied: tuple[int, ...]  # last journal position applied, per journal
    keys: int
    versions: int
    placement_version: int = 0
    shards: tuple[int, ...] = ()  # the shards this node holds a replica of (indexes in `splits`' map)
    filling: tuple[int, ...] = ()  # of those, the ones still being copied (not serving)
    caught_up: bool = True  # read the journals' backlog since it started
    splits: tuple[bytes, ...] = ()  # the shard map this node's indexes refer to
    shard_keys: tuple[int, ...] = ()  # keys held, per shard in `shards`
    unsaved: tuple[int, ...] = ()  # copied and serving, but in no checkpoint yet (a crash would lose the copy)


@message(wire_ids.STORAGE_SHARD_PIECE)
class ShardPiece(msgspec.Struct, frozen=True):
    """(key, versions) with versions ((τ, value), ...) ascending, None for a
    deletion; `resume` is the last key when there may be more, else None."""

    chains: Sequence[tuple[bytes, Sequence[tuple[int, Any]]]]
    resume: bytes | None
    floor: int = 0  # the source replica serves reads from this τ (loaded from a checkpoint cut there)


@message(wire_ids.STORAGE_SPLIT_POINT_REPLY)
class SplitPointReply(msgspec.Struct, frozen=True):
    key: bytes | None


@message(wire_ids.STORAGE_NODE_STATE)
class NodeState(msgspec.Struct, frozen=True):
    """Everything but the rows a node needs to go on from where this one is:
    the journal positions it has applied (and the τ they reach), the catalog
    versions a read may still ask about, the placement, and the key ranges
    dropped but not yet reclaimed."""

    applied: tuple[int, ...]
    applied_tau: int
    catalog_versions: tuple[tuple[int, int], ...]
    placement: Placement
    dropped_ranges: tuple[tuple[int, bytes, bytes], ...] = ()


@message(wire_ids.STORAGE_WATERMARK_REPLY)
class WatermarkReply(msgspec.Struct, frozen=True):
    watermark: int


# -- errors --------------------------------------------------------------------------


@wire_error(wire_ids.STORAGE_CATALOG_CHANGED)
class CatalogChanged(Exception):
    """The catalog as of the read's τ is not the version the QP planned with."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


@wire_error(wire_ids.STORAGE_UNAVAILABLE)
class StorageUnavailable(Exception):
    """The node could not serve the read (it did not reach τ in time), or no
    replica could (raised by the client after trying every host)."""


@wire_error(wire_ids.STORAGE_CATCHING_UP)
class CatchingUp(StorageUnavailable):
    """A (re)started replica has not yet read the journal's backlog, so its
    latest state may be far behind: it refuses eventual reads until then."""


@wire_error(wire_ids.STORAGE_HISTORY_GONE)
class HistoryGone(StorageUnavailable):
    """This replica does not hold the versions a read (or a copy) as of τ needs:
    it was loaded from a checkpoint cut after τ, or its retention has passed τ.
    Another replica may hold them."""


@wire_error(wire_ids.STORAGE_WRONG_SHARD)
class WrongShard(Exception):
    """The key range is not hosted here (a stale shard map)."""
