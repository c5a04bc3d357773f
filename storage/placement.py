"""Where shard replicas live, and how that changes while the cluster runs.

The placement (`storage.interface.Placement`) says which storage nodes hold
a replica of each shard. Version 0 is the configuration's
(`Topology.shard_hosts`). A change is an ordinary commit through an
adjudicator and the journal: it writes the new placement under
`PLACEMENT_KEY` (read-modify-write, so two changes made at once conflict
and one retries) and carries it in the record's `placement` field, which
every storage node applies in τ order, whether or not it holds the system
shard the key lives in. So every node agrees on the placement as of every τ,
and a node that gains a shard at τ knows exactly which versions to copy (at
or below τ) and which to apply itself (above τ).

A replica moves in two steps so that the caught-up copies of a shard never
number fewer than before (the durability-while-scaling claim DSQL makes and
Dynamo does not):

1. `with_replica`: the new node is added to the shard's hosts. It copies the
   shard from a replica that has it (`CopyShard`) and refuses reads until the
   copy is done (`CatchingUp`), meanwhile applying newer records itself.
2. Once the new node reports the shard caught up, `without_replica` removes
   the old node, which drops its copy.

`plan_drain` and `plan_spread` choose the moves that empty a node or give a
new one its share; assembly/placement.py carries them out. Draining a lost
node (one that answers nothing) is the same two steps: the new replica copies
from a surviving one (a node filling a shard asks each other host in turn),
and the lost node is then taken out of the shard's hosts; it was serving
nothing already, so the serving copies go from R-1 back to R and never lower.

The placement also holds the shard map (its split keys). A shard that grows
past a size splits in two at a key near its middle (`split_shard`): both
halves stay on the nodes that held the whole, each of which splits its copy
in place when it applies the change, so a split copies nothing and never
lowers the number of replicas; the halves can then move apart.
"""

from __future__ import annotations

from collections import Counter

from cluster import codec
from cluster.keyspace import NS_SYSTEM
from cluster.topology import RangeMap, Topology
from journal.interface import CommitRecord
from storage.interface import Placement

PLACEMENT_KEY = NS_SYSTEM + b"placement"
# A shard splits once one of its replicas holds more keys than this (by default;
# `dsql serve --split-keys`, a cluster's `split_keys`).
SPLIT_KEYS = 1_000_000
SPLIT_CHECK_S = 10.0  # how often the shards' sizes are looked at


class PlacementInvalid(ValueError):
    """A change that would leave a shard without a replica, or one asked of a node that cannot take it."""


def initial_placement(topology: Topology) -> Placement:
    """Version 0: the configuration's placement."""
    hosts = tuple(topology.hosts_of_shard(s) for s in range(len(topology.shard_ranges)))
    return Placement(0, hosts, splits=topology.shard_ranges.splits)


def shard_map(placement: Placement) -> RangeMap:
    """The key ranges of the placement's shards."""
    assert len(placement.shard_hosts) == len(placement.splits) + 1, "a placement names its shard map"
    return RangeMap(placement.splits)


def split_shard(placement: Placement, shard: int, key: bytes) -> Placement:
    """The next placement: `shard` split in two at `key`, both halves on its nodes."""
    start, end = shard_map(placement).bounds(shard)
    if not (key > start and (end is None or key < end)):
        raise PlacementInvalid(f"{key.hex()} is not inside shard {shard}")
    splits = tuple(sorted((*placement.splits, key)))
    hosts = list(placement.shard_hosts)
    hosts.insert(shard + 1, hosts[shard])
    return Placement(placement.version + 1, tuple(hosts), placement.endpoints, splits)


def encode_placement(placement: Placement) -> bytes:
    return codec.encode(placement)


def decode_placement(value: bytes) -> Placement:
    placement = codec.decode(value)
    if not isinstance(placement, Placement):
        raise PlacementInvalid(f"not a placement: {type(placement).__name__}")
    return placement


def placement_record(placement: Placement) -> bytes:
    """The journal record (commit payload) that installs `placement`."""
    value = encode_placement(placement)
    return CommitRecord([(PLACEMENT_KEY, value)], placement=value).encode()


def with_replica(placement: Placement, shard: int, node: int, endpoint: tuple[str, int] | None = None) -> Placement:
    """The next placement: `node` also holds `shard` (and listens at `endpoint`, if given)."""
    hosts = placement.shard_hosts[shard]
    if node in hosts:
        raise PlacementInvalid(f"storage node {node} already holds shard {shard}")
    return _next(placement, shard, (*hosts, node), node, endpoint)


def without_replica(placement: Placement, shard: int, node: int) -> Placement:
    """The next placement: `node` no longer holds `shard`."""
    hosts = placement.shard_hosts[shard]
    if node not in hosts:
        raise PlacementInvalid(f"storage node {node} does not hold shard {shard}")
    if len(hosts) == 1:
        raise PlacementInvalid(f"shard {shard} would have no replica left")
    return _next(placement, shard, tuple(n for n in hosts if n != node), None, None)


def with_leader_moved(placement: Placement, shard: int, node: int, successor: int | None = None) -> Placement:
    """The next placement: `node`, the leader of `shard` (its first host), moves to the
    end of the shard's hosts, so the next host leads (DynamoDB's strong reads go to the
    leader; a leader that stopped answering is replaced this way), or `successor` if given
    (a host of the shard known to be caught up: a leader must not be one that is behind).
    Unchanged if `node` no longer leads the shard, is its only host, or `successor` is
    not another of its hosts."""
    hosts = placement.shard_hosts[shard]
    if hosts[0] != node or len(hosts) == 1:
        return placement
    if successor is None:
        return _next(placement, shard, (*hosts[1:], node), None, None)
    if successor == node or successor not in hosts:
        return placement
    others = tuple(h for h in hosts[1:] if h != successor)
    return _next(placement, shard, (successor, *others, node), None, None)


def with_endpoint(placement: Placement, node: int, endpoint: tuple[str, int]) -> Placement:
    """The next placement: `node` (a storage node added to the cluster) listens at `endpoint`."""
    return Placement(placement.version + 1, placement.shard_hosts, _endpoints(placement, node, endpoint),
                     placement.splits)


def _next(
    placement: Placement, shard: int, hosts: tuple[int, ...], node: int | None, endpoint: tuple[str, int] | None
) -> Placement:
    shard_hosts = list(placement.shard_hosts)
    shard_hosts[shard] = hosts
    endpoints = placement.endpoints if node is None or endpoint is None else _endpoints(placement, node, endpoint)
    return Placement(placement.version + 1, tuple(shard_hosts), endpoints, placement.splits)


def _endpoints(placement: Placement, node: int, endpoint: tuple[str, int]) -> tuple[tuple[int, str, int], ...]:
    others = tuple(e for e in placement.endpoints if e[0] != node)
    return tuple(sorted((*others, (node, str(endpoint[0]), int(endpoint[1])))))


def load(placement: Placement, nodes: list[int]) -> Counter[int]:
    """Replicas per node, for every node in `nodes` (0 for one that holds none)."""
    counts: Counter[int] = Counter({n: 0 for n in nodes})
    for hosts in placement.shard_hosts:
        counts.update(n for n in hosts if n in counts)
    return counts


def plan_drain(
    placement: Placement, node: int, nodes: list[int], replicas: int | None = None
) -> list[tuple[int, int, int]]:
    """Moves (shard, from, to) that take every replica off `node`, each to the
    least-loaded node of `nodes` that does not hold that shard yet.

    `nodes` are the nodes that may take a replica: the live ones, when `node` is
    a lost host being replaced. With `replicas` (the copies a shard should
    have) given, a shard whose other hosts in `nodes` already number that many
    gets no new one: its move goes to the one of them added last (a drain cut
    short after adding it, run again, waits for that copy and finishes the
    move rather than adding another, or failing for want of a free node)."""
    targets = [n for n in nodes if n != node]
    counts = load(placement, targets)
    moves = []
    for shard in placement.shards_of(node):
        hosts = placement.shard_hosts[shard]
        kept = [n for n in hosts if n != node and n in counts]
        if replicas is not None and len(kept) >= replicas:
            moves.append((shard, node, kept[-1]))  # `with_replica` appends: the last is the newest
            continue
        free = [n for n in targets if n not in hosts]
        if not free:
            raise PlacementInvalid(
                f"shard {shard} has replicas on every other live storage node ({', '.join(map(str, hosts))}): "
                f"add a storage node (dsql cluster add-storage) before draining storage-{node}"
            )
        target = min(free, key=lambda n: (counts[n], n))
        counts[target] += 1
        moves.append((shard, node, target))
    return moves


def without_source(placement: Placement, node: int, live: list[int]) -> list[int]:
    """The shards of `node` (a lost one) that no node of `live` holds: nothing is left to copy them from."""
    stranded = []
    for shard in placement.shards_of(node):
        if not any(n in live for n in placement.shard_hosts[shard] if n != node):
            stranded.append(shard)
    return stranded


def plan_spread(placement: Placement, node: int, nodes: list[int]) -> list[tuple[int, int, int]]:
    """Moves (shard, from, to) that give `node` its share of the replicas,
    each taken from the most-loaded node holding a shard `node` lacks."""
    everyone = sorted(set(nodes) | {node})
    counts = load(placement, everyone)
    total = sum(counts.values())
    share = total // len(everyone)
    hosts_of = [set(h) for h in placement.shard_hosts]
    moves = []
    while counts[node] < share:
        candidates = [
            (counts[source], shard, source)
            for shard, hosts in enumerate(hosts_of)
            if node not in hosts
            for source in hosts
            if counts[source] > share
        ]
        if not candidates:
            break
        _, shard, source = max(candidates, key=lambda c: (c[0], -c[1], c[2]))
        hosts_of[shard] = (hosts_of[shard] - {source}) | {node}
        counts[source] -= 1
        counts[node] += 1
        moves.append((shard, source, node))
    return moves
