"""The Dynamo ring: consistent hashing with Q equal partitions (strategy 3).

Owns where a key lives: the hash of (bucket, key), the partition it falls
in, which storage node owns each partition, the preference list of a key,
the fallbacks that stand in for down nodes, how a join or a leave moves
partitions, and the ring's encoding for gossip. Sans I/O: no clock, no
randomness, no sockets; every answer is a pure function of its arguments,
so the coordinator, the simulator and the tests all drive it directly.

Why it is built this way
------------------------
* Strategy 3 (Dynamo §6.2): the 160-bit SHA-1 hash space (Riak's `chash`)
  is cut into Q equal partitions fixed for the cluster's life, and each of
  the S nodes owns about Q/S of them. Partitions, not keys, are the unit of
  placement and of handoff: a join or a leave moves whole partitions and
  nothing else, and membership state is one owner per partition.
* Claim is deterministic, not random (Riak assigns round-robin and then
  claims; the paper's nodes "steal" random tokens): two nodes that apply
  the same change to the same ring get the same ring. Its goals, in order:
  every node owns floor(Q/S) or ceil(Q/S) partitions; a change moves no
  more partitions than that balance requires; and, as Riak's claim tries
  to, a node's partitions are at least `target_n_val` apart around the
  ring, so the first N distinct nodes clockwise are found in about N steps.
  The last goal is best-effort. A new ring keeps every window of N
  partitions distinct when S >= 2N - 1, and joins keep it so; but a leave
  hands each of the leaver's partitions to a node below its new share, and
  with few such nodes some windows must repeat a node unless other
  partitions move too, which this claim does not do (with S = N and Q not
  a multiple of S, some window repeats whatever one does). So the walk to N
  distinct nodes is usually N, sometimes a step or two more; the tests
  bound it rather than pretend otherwise.
* Preference list (§4.3): a key's partition, then the partitions clockwise
  from it, skipping nodes already listed, until N distinct nodes. Every key
  of a partition has the same list, which is why `preference_changes` can
  report a membership change per partition.
* Sloppy quorum (§4.6): a down node of the list is replaced by the next
  healthy node past the list, which keeps the replica under the home
  node's partition with a hint naming the home node (Riak's fallback vnode).
  `fallbacks` gives those stand-ins; `sloppy_preference_list` the n nodes a
  request goes to (healthy primaries, then the hinted fallbacks).
* A membership change gives a new ring with the next version. Until the
  handoffs complete the caller holds both rings: `handoffs` says which
  partitions change owner, and `preference_changes`/`placement_change` say,
  for each partition or key, which nodes of the new list do not yet hold
  the data. This module does not hide that window: the coordinator counts
  keys with fewer than N up-to-date copies from it.
* Gossip (§4.8) carries `Ring.encode()`: the version, the members and one
  member index per partition, in msgpack through `cluster.codec`. `merge`
  keeps the higher version and breaks a tie of versions by the larger
  encoding, so it is commutative, associative and idempotent and every node
  converges on the same ring whatever order views arrive in.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Iterator
from typing import NamedTuple

from cluster import codec

HASH_BITS = 160  # SHA-1, as Riak's chash: the ring is [0, 2**160)
HASH_SPACE = 1 << HASH_BITS

# Riak's default and the paper's usual N plus one: claim keeps a node's
# partitions this far apart where it can, so a preference list of N <= 4
# distinct nodes is found by walking N partitions.
TARGET_N_VAL_DEFAULT = 4

# Every message carrying a ring holds one entry per partition, and claim is
# O(Q^2) per change in the worst case; Riak rings are 64..1024 in practice.
PARTITIONS_MAX = 1 << 14

# The version of `Ring.encode`'s layout, first in the tuple so an old node
# can refuse a layout it does not know instead of misreading it.
RING_FORMAT = 1

Node = str


class RingDecodeError(ValueError):
    """Bytes that are not a ring this code can read (corrupt, or another format)."""


class Fallback(NamedTuple):
    """A healthy node standing in for a down node of the preference list:
    it keeps the replica under the home `partition`, hinted for `hint`."""

    partition: int
    node: Node
    hint: Node


class Target(NamedTuple):
    """Where one of a request's N replicas goes under sloppy quorum: a
    healthy primary (hint None) or a fallback holding it for `hint`."""

    partition: int
    node: Node
    hint: Node | None


class Handoff(NamedTuple):
    """A partition whose owner changes between two rings."""

    partition: int
    source: Node
    target: Node


class PreferenceChange(NamedTuple):
    """The preference list of one partition (so of all its keys) in the
    ring the data lives by (`old`) and the ring being moved to (`new`)."""

    partition: int
    old: tuple[Node, ...]
    new: tuple[Node, ...]

    @property
    def arriving(self) -> tuple[Node, ...]:
        """Nodes of the new list that hold none of the key's data until handoff completes."""
        return tuple(node for node in self.new if node not in self.old)

    @property
    def departing(self) -> tuple[Node, ...]:
        """Nodes that hold a copy the new list no longer counts."""
        return tuple(node for node in self.old if node not in self.new)

    @property
    def kept(self) -> tuple[Node, ...]:
        """Nodes in both lists: the copies that are in place during the handoff."""
        return tuple(node for node in self.new if node in self.old)


def hash_key(bucket: bytes, key: bytes) -> int:
    """The ring position of a key: SHA-1 of the bucket's length (4 bytes, big
    endian), the bucket and the key, as an integer. The length prefix keeps
    (b"ab", b"c") and (b"a", b"bc") apart; SHA-1 makes it the same in every
    process (unlike Python's `hash`) and spreads keys evenly (§4.2)."""
    if len(bucket) >= 1 << 32:
        raise ValueError("bucket name is too long to hash")
    digest = hashlib.sha1(len(bucket).to_bytes(4, "big") + bucket + key).digest()
    return int.from_bytes(digest, "big")


class Ring:
    """Q partitions and their owners, at a version. Immutable: membership
    changes return a new ring with the next version."""

    __slots__ = ("_owners", "_members", "_version", "_target_n_val", "_preference_cache")

    def __init__(
        self,
        partitions: int,
        nodes: Iterable[Node],
        *,
        version: int = 1,
        target_n_val: int = TARGET_N_VAL_DEFAULT,
    ) -> None:
        listed = list(nodes)
        members = sorted(set(listed))
        if len(members) != len(listed):
            raise ValueError("ring nodes must be distinct")
        _check_shape(partitions, len(members), target_n_val)
        owners = _initial_claim(partitions, members, target_n_val)
        self._set(tuple(owners), version, target_n_val)

    @classmethod
    def _from_owners(cls, owners: tuple[Node, ...], version: int, target_n_val: int) -> Ring:
        ring = cls.__new__(cls)
        ring._set(owners, version, target_n_val)
        return ring

    def _set(self, owners: tuple[Node, ...], version: int, target_n_val: int) -> None:
        if version < 0:
            raise ValueError("ring version must not be negative")
        self._owners = owners
        self._members = tuple(sorted(set(owners)))
        self._version = version
        self._target_n_val = target_n_val
        self._preference_cache: dict[tuple[int, int], tuple[tuple[int, Node], ...]] = {}

    # -- what a ring is --------------------------------------------------

    @property
    def partitions(self) -> int:
        """Q, fixed for the cluster's life."""
        return len(self._owners)

    @property
    def owners(self) -> tuple[Node, ...]:
        """The owner of each partition, by partition number."""
        return self._owners

    @property
    def members(self) -> tuple[Node, ...]:
        """The nodes that own partitions, sorted."""
        return self._members

    @property
    def version(self) -> int:
        return self._version

    @property
    def target_n_val(self) -> int:
        return self._target_n_val

    def owner(self, partition: int) -> Node:
        return self._owners[partition]

    def partition_counts(self) -> dict[Node, int]:
        counts = dict.fromkeys(self._members, 0)
        for node in self._owners:
            counts[node] += 1
        return counts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ring):
            return NotImplemented
        return (self._version, self._owners, self._target_n_val) == (
            other._version,
            other._owners,
            other._target_n_val,
        )

    def __hash__(self) -> int:
        return hash((self._version, self._owners, self._target_n_val))

    def __repr__(self) -> str:
        counts = ", ".join(f"{node}={count}" for node, count in self.partition_counts().items())
        return f"Ring(version={self._version}, partitions={self.partitions}, {counts})"

    # -- placement -------------------------------------------------------

    def partition_of(self, key_hash: int) -> int:
        """The partition holding a ring position: partition p covers
        [partition_start(p), partition_start(p + 1))."""
        if not 0 <= key_hash < HASH_SPACE:
            raise ValueError(f"key hash {key_hash} is outside the ring [0, 2**{HASH_BITS})")
        return (key_hash * len(self._owners)) >> HASH_BITS

    def partition_start(self, partition: int) -> int:
        """The first ring position of a partition (Riak calls it the index)."""
        if not 0 <= partition <= len(self._owners):
            raise ValueError(f"no partition {partition} in a ring of {len(self._owners)}")
        return -(-partition * HASH_SPACE // len(self._owners))

    def walk(self, partition: int) -> Iterator[tuple[int, Node]]:
        """The partitions clockwise from `partition` (itself first), each with
        its owner, keeping only the first partition met of each node: the
        preference list followed by the nodes a fallback is taken from."""
        seen: set[Node] = set()
        size = len(self._owners)
        for step in range(size):
            index = (partition + step) % size
            node = self._owners[index]
            if node not in seen:
                seen.add(node)
                yield index, node
                if len(seen) == len(self._members):
                    return

    def preference_list(self, key_hash: int, n: int) -> list[tuple[int, Node]]:
        """The first n distinct nodes clockwise from the key's partition,
        each with the partition it was met at (§4.3)."""
        return list(self._partition_preference(self.partition_of(key_hash), n))

    def _partition_preference(self, partition: int, n: int) -> tuple[tuple[int, Node], ...]:
        if not 1 <= n <= len(self._members):
            raise ValueError(
                f"a preference list of {n} needs at least {n} nodes; the ring has {len(self._members)}"
            )
        cached = self._preference_cache.get((partition, n))
        if cached is None:
            walked = self.walk(partition)
            cached = tuple(next(walked) for _ in range(n))
            self._preference_cache[(partition, n)] = cached
        return cached

    def fallbacks(self, key_hash: int, n: int, down: Collection[Node]) -> list[Fallback]:
        """For each down node of the key's preference list, in list order, the
        next healthy node past the list that is not already standing in for
        another (§4.6), with the home partition and the home node as hint.
        Shorter than the number of down nodes when too few healthy nodes are
        left: the coordinator then has fewer than N replicas and must know."""
        partition = self.partition_of(key_hash)
        primaries = self._partition_preference(partition, n)
        homes = [(index, node) for index, node in primaries if node in down]
        if not homes:
            return []
        walked = self.walk(partition)
        for _ in range(n):
            next(walked)  # the primaries themselves
        stand_ins = (node for _index, node in walked if node not in down)
        result = []
        for (index, home), stand_in in zip(homes, stand_ins, strict=False):
            result.append(Fallback(index, stand_in, home))
        return result

    def sloppy_preference_list(self, key_hash: int, n: int, down: Collection[Node]) -> list[Target]:
        """The first n healthy nodes for the key (§4.6): its healthy primaries
        in list order, then the fallbacks for its down ones with their hints.
        Shorter than n when fewer than n nodes are healthy."""
        primaries = self._partition_preference(self.partition_of(key_hash), n)
        targets = [Target(index, node, None) for index, node in primaries if node not in down]
        targets.extend(Target(*fallback) for fallback in self.fallbacks(key_hash, n, down))
        return targets

    # -- membership ------------------------------------------------------

    def with_node(self, node: Node) -> Ring:
        """The ring after `node` joins: it takes floor(Q/S') partitions from
        the nodes that own more than their new share, and nothing else moves."""
        if node in self._members:
            raise ValueError(f"node {node!r} is already in the ring")
        _check_shape(len(self._owners), len(self._members) + 1, self._target_n_val)
        owners = _claim_for_joiner(list(self._owners), node, self._target_n_val)
        return Ring._from_owners(tuple(owners), self._version + 1, self._target_n_val)

    def without_node(self, node: Node) -> Ring:
        """The ring after `node` leaves: its partitions go to the nodes below
        their new share, and nothing else moves."""
        if node not in self._members:
            raise ValueError(f"node {node!r} is not in the ring")
        if len(self._members) == 1:
            raise ValueError("the last node of a ring cannot leave it")
        owners = _reassign_leaver(list(self._owners), node, self._target_n_val)
        return Ring._from_owners(tuple(owners), self._version + 1, self._target_n_val)

    # -- gossip ----------------------------------------------------------

    def encode(self) -> bytes:
        """(format, version, target_n_val, members, owner index per partition)."""
        index = {node: position for position, node in enumerate(self._members)}
        indexes = [index[node] for node in self._owners]
        # One byte a partition while there are at most 256 members (Q = 1024
        # gossips in about 1 KiB); msgpack integers beyond that.
        owners = bytes(indexes) if len(self._members) <= 256 else tuple(indexes)
        return codec.encode((RING_FORMAT, self._version, self._target_n_val, self._members, owners))

    @classmethod
    def decode(cls, data: bytes) -> Ring:
        try:
            fields = codec.decode(data)
        except Exception as exc:  # msgpack raises several types for bad bytes
            raise RingDecodeError(f"ring bytes do not decode: {exc}") from exc
        if not isinstance(fields, tuple) or len(fields) != 5 or fields[0] != RING_FORMAT:
            raise RingDecodeError("not a ring of a known format")
        _format, version, target_n_val, members, owner_indexes = fields
        if (
            not isinstance(version, int)
            or version < 0
            or not isinstance(target_n_val, int)
            or target_n_val < 1
        ):
            raise RingDecodeError("ring version or target_n_val is invalid")
        if (
            not isinstance(members, tuple)
            or not all(isinstance(node, str) for node in members)
            or list(members) != sorted(set(members))
        ):
            raise RingDecodeError("ring members must be distinct sorted names")
        if not isinstance(owner_indexes, bytes | tuple) or not 1 <= len(owner_indexes) <= PARTITIONS_MAX:
            raise RingDecodeError("ring owners are invalid")
        if not all(isinstance(i, int) and 0 <= i < len(members) for i in owner_indexes):
            raise RingDecodeError("ring owner index out of range")
        owners = tuple(members[i] for i in owner_indexes)
        if len(set(owners)) != len(members):
            raise RingDecodeError("every ring member must own a partition")
        return cls._from_owners(owners, version, target_n_val)


def merge(a: Ring, b: Ring) -> Ring:
    """Reconcile two gossiped views of the ring (§4.8): the higher version
    wins; equal versions that differ (two changes made concurrently) are
    settled by the larger encoding, the same on every node."""
    if a.partitions != b.partitions:
        raise ValueError(f"rings of {a.partitions} and {b.partitions} partitions are not one cluster's")
    if a.version != b.version:
        return a if a.version > b.version else b
    if a == b:
        return a
    return a if a.encode() > b.encode() else b


def handoffs(old: Ring, new: Ring) -> list[Handoff]:
    """The partitions whose owner changes from `old` to `new`, in partition order."""
    _check_same_cluster(old, new)
    return [
        Handoff(partition, before, after)
        for partition, (before, after) in enumerate(zip(old.owners, new.owners, strict=True))
        if before != after
    ]


def placement_change(old: Ring, new: Ring, key_hash: int, n: int) -> PreferenceChange:
    """The key's preference list in both rings: during a handoff, the nodes
    of `arriving` do not yet hold the key, so it has only `kept` in place."""
    _check_same_cluster(old, new)
    partition = old.partition_of(key_hash)
    return _change(old, new, partition, n)


def preference_changes(old: Ring, new: Ring, n: int) -> list[PreferenceChange]:
    """Every partition whose preference list differs between the rings. Keys
    of other partitions keep all N copies in place through the change. This
    is wider than `handoffs`: a partition keeps its owner but changes list
    when a partition further along its walk changes hands."""
    _check_same_cluster(old, new)
    changes = []
    for partition in range(old.partitions):
        change = _change(old, new, partition, n)
        if change.old != change.new:
            changes.append(change)
    return changes


def _change(old: Ring, new: Ring, partition: int, n: int) -> PreferenceChange:
    before = tuple(node for _index, node in old._partition_preference(partition, n))
    after = tuple(node for _index, node in new._partition_preference(partition, n))
    return PreferenceChange(partition, before, after)


def _check_same_cluster(old: Ring, new: Ring) -> None:
    if old.partitions != new.partitions:
        raise ValueError(f"rings of {old.partitions} and {new.partitions} partitions are not one cluster's")


def _check_shape(partitions: int, nodes: int, target_n_val: int) -> None:
    if not 1 <= partitions <= PARTITIONS_MAX:
        raise ValueError(f"a ring has 1 to {PARTITIONS_MAX} partitions, not {partitions}")
    if nodes < 1:
        raise ValueError("a ring needs at least one node")
    if nodes > partitions:
        raise ValueError(f"{nodes} nodes cannot each own one of {partitions} partitions")
    if target_n_val < 1:
        raise ValueError("target_n_val must be at least 1")


# -- claim ----------------------------------------------------------------
#
# Shares: with Q partitions and S nodes every node owns floor(Q/S), and
# Q mod S of them one more. Which ones get the extra is chosen to move the
# least: the nodes that own the most already (ties by name, so the choice is
# the same everywhere).


def _shares(counts: dict[Node, int], members: Iterable[Node], partitions: int) -> dict[Node, int]:
    ranked = sorted(members, key=lambda node: (-counts.get(node, 0), node))
    base, extra = divmod(partitions, len(ranked))
    return {node: base + (1 if rank < extra else 0) for rank, node in enumerate(ranked)}


def _gap(positions: list[int], partition: int, size: int) -> int:
    """The ring distance from `partition` to the nearest of `positions`
    (sorted), or `size` when there are none."""
    if not positions:
        return size
    at = bisect_left(positions, partition)
    after = positions[at % len(positions)]
    before = positions[at - 1]
    return min((after - partition) % size, (partition - before) % size)


def _own_gap(positions: list[int], partition: int, size: int) -> int:
    """The ring distance from `partition`, one of `positions` (sorted), to
    the nearest other of them, or `size` when it is the only one."""
    if len(positions) == 1:
        return size
    at = bisect_left(positions, partition)
    after = positions[(at + 1) % len(positions)]
    before = positions[at - 1]
    return min((after - partition) % size, (partition - before) % size)


def _initial_claim(partitions: int, members: list[Node], target_n_val: int) -> list[Node]:
    """Round-robin (as Riak lays out a new ring), then the Q mod S partitions
    left over, one for each of the first nodes, inserted in rounds spread
    around the ring, each where it is furthest from that node's other
    partitions. Inserting never brings two partitions of another node
    closer, so when S + 1 >= 2 * target_n_val every node's partitions stay
    target_n_val apart, wrap included; below that some repeat is forced."""
    rounds, extra = divmod(partitions, len(members))
    owners = [members[index % len(members)] for index in range(rounds * len(members))]
    for number, node in enumerate(members[:extra]):
        # Round `first`, counted in the list as it is now: earlier inserts
        # all landed in earlier rounds, one each.
        first = (number * rounds // extra) * len(members) + number
        positions = [index for index, owner in enumerate(owners) if owner == node]
        best_at, best_gap = first, -1
        for at in range(first, first + len(members) + 1):
            shifted = [p + 1 if p >= at else p for p in positions]
            gap = _gap(shifted, at, len(owners) + 1)
            if gap > best_gap:
                best_at, best_gap = at, gap
        owners.insert(best_at, node)
    return owners


def _claim_for_joiner(owners: list[Node], joiner: Node, target_n_val: int) -> list[Node]:
    """Give the joiner its share, one partition at a time, from the nodes
    above their new share: first where the joiner would be at least
    target_n_val from its other partitions, then where the donor repeats
    within that distance (a repeat this fixes), then as far as possible from
    the joiner's other partitions (spreading them evenly), then the lowest
    partition number."""
    size = len(owners)
    counts: dict[Node, int] = {}
    for node in owners:
        counts[node] = counts.get(node, 0) + 1
    members = sorted([*counts, joiner])
    shares = _shares(counts, members, size)
    spacing = min(target_n_val, len(members))
    positions: dict[Node, list[int]] = {node: [] for node in members}
    for index, node in enumerate(owners):
        positions[node].append(index)
    counts[joiner] = 0
    while counts[joiner] < shares[joiner]:
        best: tuple[bool, bool, int, int] | None = None
        for partition, donor in enumerate(owners):
            if donor == joiner or counts[donor] <= shares[donor]:
                continue
            gap = _gap(positions[joiner], partition, size)
            donor_repeats = _own_gap(positions[donor], partition, size) < spacing
            score = (gap >= spacing, donor_repeats, gap, -partition)
            if best is None or score > best:
                best = score
        assert best is not None, "donors above their share must hold the joiner's share"
        partition = -best[3]
        donor = owners[partition]
        owners[partition] = joiner
        positions[donor].remove(partition)
        insort(positions[joiner], partition)
        counts[donor] -= 1
        counts[joiner] += 1
    return owners


def _reassign_leaver(owners: list[Node], leaver: Node, target_n_val: int) -> list[Node]:
    """Give each of the leaver's partitions, in order, to a node below its
    new share: one with none of its partitions within target_n_val if there
    is one, then the one whose nearest partition is furthest, then the one
    owning fewest, then by name."""
    size = len(owners)
    counts: dict[Node, int] = {}
    for node in owners:
        counts[node] = counts.get(node, 0) + 1
    del counts[leaver]
    members = sorted(counts)
    shares = _shares(counts, members, size)
    spacing = min(target_n_val, len(members))
    positions: dict[Node, list[int]] = {node: [] for node in members}
    for index, node in enumerate(owners):
        if node != leaver:
            positions[node].append(index)
    pending = [index for index, node in enumerate(owners) if node == leaver]
    while pending:
        # The partition with the fewest well-spaced takers goes first, so the
        # easy ones do not use up the takers a hard one needed.
        best: tuple[int, tuple[bool, int, int, Node], int] | None = None
        for partition in pending:
            ranks = []
            for node in members:
                if counts[node] < shares[node]:
                    gap = _gap(positions[node], partition, size)
                    ranks.append((gap < spacing, -gap, counts[node], node))
            assert ranks, "nodes below their share must take the leaver's partitions"
            good = sum(1 for rank in ranks if not rank[0])
            choice = (good, min(ranks), partition)
            if best is None or choice < best:
                best = choice
        assert best is not None
        _good, rank, partition = best
        taker = rank[3]
        pending.remove(partition)
        owners[partition] = taker
        insort(positions[taker], partition)
        counts[taker] += 1
    return owners
