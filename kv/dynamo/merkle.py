"""Dynamo's anti-entropy, sans I/O: a Merkle tree per partition, the exchange
that finds where two replicas of a partition differ, and the token bucket
that keeps it in the background.

Dynamo repairs replicas that hinted handoff and read repair missed (a hinted
replica lost before it was handed back, a key nobody reads) by comparing
Merkle trees between the replicas of each key range [DYN §4.7]. With the
paper's strategy 3 the ranges are the ring's fixed partitions, so a tree
survives membership changes and is exchanged whole between the partition's
replicas. Riak's active anti-entropy is the model for the details: trees are
updated as writes arrive rather than rebuilt per exchange, and the leaves
are a fixed number of segments of a key-hash space (Riak uses 1,024-wide
trees over about a million segments; the shape here is a parameter).

Tree
----
`MerkleTree(fanout, levels)` has `fanout ** levels` leaf segments. A key
falls in the segment given by the top bits of its own hash (BLAKE2b keyed by
a personalisation string), *not* the ring's hash: a partition is one slice
of the ring's hash space, so the ring's hash would put every key of the
partition into a handful of segments. A segment's hash covers its (key,
object digest) pairs sorted by key, each length-prefixed, so it depends on
the contents alone, never on insertion order; an inner node hashes the
concatenation of its children's hashes (fixed-size, so unambiguous). The
object digest is the caller's (a hash of the object's vector clock and
value, say): this module never sees objects. Leaves and inner nodes hash
under different personalisations, so a leaf can never pass for a node.

`insert`/`update` and `delete` change one segment and mark it dirty;
`root()` and `node_hashes()` rehash only dirty segments and the paths above
them. Hashes use hashlib, never Python's `hash`, so trees built by different
processes agree.

Exchange
--------
The initiator (`Exchange`) compares its tree with a peer's, level by level,
one request in flight; the peer answers each request with `respond`, which
is a pure function of its tree (it keeps no state between requests):

    HashesRequest(level, ids) -> Hashes(level, hashes)    level 0 .. levels
    SegmentsRequest(segments) -> Segments(entries)        differing leaves

It starts with the root; for each level it asks only for the children of the
nodes that differed at the level above; at the leaves it asks for the
differing segments' (key, digest) pairs and diffs them against its own. The
result is the keys that differ with both digests (None where a side lacks
the key): which side is newer is for the caller, which holds the vector
clocks. With k differing keys the exchange takes `2 * (levels + 2)`
messages (two when the trees are equal; more when a level's ids do not fit
one message, past k * fanout > HASHES_PER_MESSAGE_MAX or k >
SEGMENTS_PER_MESSAGE_MAX), carrying at most k * fanout hashes per level
below the root and the pairs of at most k segments, instead of all n keys.

The trees may change while an exchange runs (writes keep arriving on both
sides). The exchange then may report a key that is already equal again, or
miss one that diverged during it: both are harmless, because the caller
compares vector clocks before repairing anything and the next exchange
sees what this one missed.

Each message has a compact wire form (`to_wire`/`message_from_wire`):
tuples of ints and bytes that `cluster.codec` (msgpack) carries as is. The
exchange counts the messages and encoded bytes it sends and receives, so a
scheduler can charge them to a budget; `TokenBucket` is that budget (in
exchanges or keys per second), driven by the caller's clock readings.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from cluster import codec

# Bytes of every tree hash: 128 bits makes an accidental collision (two
# different segments hashing alike, so a difference goes unrepaired) about
# 2**-64 likely even over 2**32 comparisons, and keeps hash messages small.
HASH_BYTES = 16
# Riak's largest trees have about a million segments; past that the
# per-tree memory (one hash per node) stops being small for a partition.
SEGMENTS_MAX = 1 << 20
# The default shape: 1,024 segments in two levels of 32 (Riak's default
# width is 1,024). An exchange of a partition that differs in one key then
# moves the root, 32 hashes, 32 hashes and one segment.
FANOUT_DEFAULT = 32
LEVELS_DEFAULT = 2
# Node ids in one HashesRequest (and hashes in its reply): 1,024 hashes are
# about 17 KiB encoded, a message that never hogs a connection.
HASHES_PER_MESSAGE_MAX = 1024
# Segments asked for in one SegmentsRequest.
SEGMENTS_PER_MESSAGE_MAX = 64
# Keys in one Segments reply: the responder stops adding segments past this
# (always sending at least one, since a segment is not split), and the
# initiator asks again for those left out.
SEGMENT_KEYS_PER_REPLY_MAX = 4096

_PERSON_SEGMENT = b"dynamo-aae-seg"
_PERSON_LEAF = b"dynamo-aae-leaf"
_PERSON_INNER = b"dynamo-aae-node"


class MerkleError(ValueError):
    """A request or reply that does not fit the tree or the exchange: a shape
    that differs from ours, an id out of range, an unexpected reply."""


def _key_position(key: bytes) -> int:
    """The key's 64-bit position in the segment hash space."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8, person=_PERSON_SEGMENT).digest(), "big")


def _leaf_hash(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The hash of one segment's (key, digest) pairs, given sorted by key."""
    h = hashlib.blake2b(digest_size=HASH_BYTES, person=_PERSON_LEAF)
    for key, digest in pairs:
        h.update(len(key).to_bytes(4, "big"))
        h.update(key)
        h.update(len(digest).to_bytes(4, "big"))
        h.update(digest)
    return h.digest()


def _inner_hash(children: Sequence[bytes]) -> bytes:
    return hashlib.blake2b(b"".join(children), digest_size=HASH_BYTES, person=_PERSON_INNER).digest()


def _check_bytes(name: str, value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


class MerkleTree:
    """One replica's hash tree over the (key, object digest) pairs it holds
    for one partition. Level 0 is the root; level `levels` holds the
    `fanout ** levels` segments (leaves); node `i` of level `l` has the
    children `i * fanout .. i * fanout + fanout - 1` at level `l + 1`."""

    def __init__(self, *, fanout: int = FANOUT_DEFAULT, levels: int = LEVELS_DEFAULT) -> None:
        if fanout < 2 or levels < 1:
            raise ValueError(
                f"a tree needs fanout >= 2 and levels >= 1, not fanout {fanout}, levels {levels}"
            )
        if fanout**levels > SEGMENTS_MAX:
            raise ValueError(f"fanout {fanout} ** levels {levels} exceeds {SEGMENTS_MAX} segments")
        self.fanout = fanout
        self.levels = levels
        self.segment_count = fanout**levels
        # Only non-empty segments have a dict: a partition's tree costs memory
        # for the keys it holds, plus one hash per node.
        self._segments: dict[int, dict[bytes, bytes]] = {}
        self._key_count = 0
        # Every empty segment hashes alike, and so does every node above only
        # empty segments, so an empty tree is one hash per level, repeated.
        empty = _leaf_hash(())
        empty_by_level = [empty]
        for _ in range(levels):
            empty_by_level.append(_inner_hash([empty_by_level[-1]] * fanout))
        empty_by_level.reverse()
        self._hashes: list[list[bytes]] = [
            [empty_by_level[level]] * fanout**level for level in range(levels + 1)
        ]
        self._dirty: set[int] = set()

    @classmethod
    def build(
        cls,
        pairs: Iterable[tuple[bytes, bytes]],
        *,
        fanout: int = FANOUT_DEFAULT,
        levels: int = LEVELS_DEFAULT,
    ) -> MerkleTree:
        """A tree over `pairs` (key, digest); a key given twice keeps its last digest."""
        tree = cls(fanout=fanout, levels=levels)
        for key, digest in pairs:
            tree.insert(key, digest)
        tree.root()
        return tree

    @property
    def shape(self) -> tuple[int, int]:
        return (self.fanout, self.levels)

    def __len__(self) -> int:
        return self._key_count

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and key in self._segments.get(self.segment_of(key), ())

    def get(self, key: bytes) -> bytes | None:
        """The digest held for `key`, or None."""
        segment = self._segments.get(self.segment_of(key))
        return None if segment is None else segment.get(key)

    def segment_of(self, key: bytes) -> int:
        # The top bits of the position, as a multiply so that any segment
        # count (not only powers of two) splits the space into equal ranges.
        return (_key_position(key) * self.segment_count) >> 64

    def insert(self, key: bytes, digest: bytes) -> None:
        """Record that this replica holds `key` with an object whose digest
        is `digest` (new, or replacing the digest it had)."""
        _check_bytes("key", key)
        _check_bytes("digest", digest)
        index = self.segment_of(key)
        segment = self._segments.setdefault(index, {})
        previous = segment.get(key)
        if previous == digest:
            return
        if previous is None:
            self._key_count += 1
        segment[key] = digest
        self._dirty.add(index)

    update = insert

    def delete(self, key: bytes) -> bool:
        """Forget `key`; False if the tree did not hold it."""
        _check_bytes("key", key)
        index = self.segment_of(key)
        segment = self._segments.get(index)
        if segment is None or key not in segment:
            return False
        del segment[key]
        if not segment:
            del self._segments[index]
        self._key_count -= 1
        self._dirty.add(index)
        return True

    def segment_pairs(self, index: int) -> tuple[tuple[bytes, bytes], ...]:
        """The (key, digest) pairs of segment `index`, sorted by key."""
        self._check_id(self.levels, index)
        return tuple(sorted(self._segments.get(index, {}).items()))

    def root(self) -> bytes:
        self._refresh()
        return self._hashes[0][0]

    def node_hashes(self, level: int, ids: Iterable[int]) -> tuple[bytes, ...]:
        """The hashes of the nodes `ids` of `level` (the segments when
        `level == levels`)."""
        self._check_id(level, 0)
        self._refresh()
        row = self._hashes[level]
        result = []
        for node in ids:
            self._check_id(level, node)
            result.append(row[node])
        return tuple(result)

    def children(self, node: int) -> range:
        return range(node * self.fanout, (node + 1) * self.fanout)

    def _check_id(self, level: int, node: int) -> None:
        if not 0 <= level <= self.levels:
            raise MerkleError(f"level {level} is not in 0..{self.levels}")
        if not (isinstance(node, int) and 0 <= node < self.fanout**level):
            raise MerkleError(f"node {node!r} is not in level {level} (0..{self.fanout**level - 1})")

    def _refresh(self) -> None:
        """Rehash the dirty segments and every node above them, bottom up:
        each level's dirty set is the parents of the one below."""
        if not self._dirty:
            return
        dirty = self._dirty
        leaves = self._hashes[self.levels]
        for index in dirty:
            leaves[index] = _leaf_hash(sorted(self._segments.get(index, {}).items()))
        fanout = self.fanout
        for level in range(self.levels - 1, -1, -1):
            dirty = {node // fanout for node in dirty}
            row, below = self._hashes[level], self._hashes[level + 1]
            for node in dirty:
                row[node] = _inner_hash(below[node * fanout : (node + 1) * fanout])
        self._dirty = set()


# -- messages -------------------------------------------------------------------------

# The first element of each message's wire tuple.
_TAG_HASHES_REQUEST = 1
_TAG_HASHES = 2
_TAG_SEGMENTS_REQUEST = 3
_TAG_SEGMENTS = 4


@dataclasses.dataclass(frozen=True)
class HashesRequest:
    """Asks for the hashes of nodes `ids` of `level` in the peer's tree of
    `partition`, whose shape must be `fanout`, `levels`."""

    partition: int
    fanout: int
    levels: int
    level: int
    ids: tuple[int, ...]

    def to_wire(self) -> tuple:
        return (_TAG_HASHES_REQUEST, self.partition, self.fanout, self.levels, self.level, self.ids)


@dataclasses.dataclass(frozen=True)
class Hashes:
    """The hashes of the requested nodes, in the order asked."""

    partition: int
    level: int
    hashes: tuple[bytes, ...]

    def to_wire(self) -> tuple:
        return (_TAG_HASHES, self.partition, self.level, self.hashes)


@dataclasses.dataclass(frozen=True)
class SegmentsRequest:
    """Asks for the (key, digest) pairs of the peer's segments `segments`."""

    partition: int
    fanout: int
    levels: int
    segments: tuple[int, ...]

    def to_wire(self) -> tuple:
        return (_TAG_SEGMENTS_REQUEST, self.partition, self.fanout, self.levels, self.segments)


@dataclasses.dataclass(frozen=True)
class Segments:
    """(segment, its pairs sorted by key) for a prefix of the requested
    segments, in the order asked (at least one; the rest did not fit)."""

    partition: int
    entries: tuple[tuple[int, tuple[tuple[bytes, bytes], ...]], ...]

    def to_wire(self) -> tuple:
        return (_TAG_SEGMENTS, self.partition, self.entries)


Request = HashesRequest | SegmentsRequest
Reply = Hashes | Segments
Message = Request | Reply


def _ints(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int for v in value):
        raise MerkleError(f"expected a tuple of ints, got {value!r:.80}")
    return value


def _hash_tuple(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, bytes) and len(v) == HASH_BYTES for v in value):
        raise MerkleError(f"expected a tuple of {HASH_BYTES}-byte hashes, got {value!r:.80}")
    return value


def _entries(value: Any) -> tuple[tuple[int, tuple[tuple[bytes, bytes], ...]], ...]:
    if not isinstance(value, tuple):
        raise MerkleError(f"expected a tuple of segment entries, got {value!r:.80}")
    for entry in value:
        ok = (
            isinstance(entry, tuple)
            and len(entry) == 2
            and type(entry[0]) is int
            and isinstance(entry[1], tuple)
        )
        if not ok or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], bytes) and isinstance(p[1], bytes)
            for p in entry[1]
        ):
            raise MerkleError(f"malformed segment entry {entry!r:.80}")
    return value


def message_from_wire(wire: Any) -> Message:
    """The message a wire tuple (as `cluster.codec.decode` gives it) stands for."""
    if not isinstance(wire, tuple) or not wire or type(wire[0]) is not int:
        raise MerkleError(f"not an anti-entropy message: {wire!r:.80}")
    tag, fields = wire[0], wire[1:]
    arity = {_TAG_HASHES_REQUEST: 5, _TAG_HASHES: 3, _TAG_SEGMENTS_REQUEST: 4, _TAG_SEGMENTS: 2}.get(tag)
    if arity is None or len(fields) != arity:
        raise MerkleError(f"not an anti-entropy message: {wire!r:.80}")
    if tag == _TAG_HASHES_REQUEST:
        partition, fanout, levels, level = _ints(fields[:4])
        return HashesRequest(partition, fanout, levels, level, _ints(fields[4]))
    if tag == _TAG_HASHES:
        partition, level = _ints(fields[:2])
        return Hashes(partition, level, _hash_tuple(fields[2]))
    if tag == _TAG_SEGMENTS_REQUEST:
        partition, fanout, levels = _ints(fields[:3])
        return SegmentsRequest(partition, fanout, levels, _ints(fields[3]))
    (partition,) = _ints(fields[:1])
    return Segments(partition, _entries(fields[1]))


def encode_message(message: Message) -> bytes:
    return codec.encode(message.to_wire())


def decode_message(data: bytes) -> Message:
    return message_from_wire(codec.decode(data))


# -- the responder --------------------------------------------------------------------


def respond(tree: MerkleTree, request: Request) -> Reply:
    """The peer's answer to one request, from its tree of `request.partition`.
    Raises MerkleError for a request that does not fit the tree (another
    shape, an id out of range, more ids than a message may carry)."""
    if (request.fanout, request.levels) != tree.shape:
        raise MerkleError(
            f"partition {request.partition}: tree shape {(request.fanout, request.levels)} asked, ours is {tree.shape}"
        )
    if isinstance(request, HashesRequest):
        if len(request.ids) > HASHES_PER_MESSAGE_MAX:
            raise MerkleError(
                f"{len(request.ids)} node ids in one request, more than {HASHES_PER_MESSAGE_MAX}"
            )
        return Hashes(request.partition, request.level, tree.node_hashes(request.level, request.ids))
    if len(request.segments) > SEGMENTS_PER_MESSAGE_MAX:
        raise MerkleError(
            f"{len(request.segments)} segments in one request, more than {SEGMENTS_PER_MESSAGE_MAX}"
        )
    entries = []
    keys = 0
    for index in request.segments:
        pairs = tree.segment_pairs(index)
        if entries and keys + len(pairs) > SEGMENT_KEYS_PER_REPLY_MAX:
            break
        entries.append((index, pairs))
        keys += len(pairs)
    return Segments(request.partition, tuple(entries))


# -- the initiator --------------------------------------------------------------------


class Phase(enum.Enum):
    HASHES = "hashes"  # comparing node hashes, one level at a time
    SEGMENTS = "segments"  # fetching the differing segments' pairs
    DONE = "done"


@dataclasses.dataclass(frozen=True)
class KeyDifference:
    """A key whose replicas differ; None for the side that lacks it."""

    key: bytes
    local_digest: bytes | None
    remote_digest: bytes | None


class Exchange:
    """The initiator's side of one exchange of `partition` against a peer.

    `start()` gives the first request; hand each reply to `on_reply`, which
    gives the next request, or None when the exchange is over and
    `differences` holds its result. One request is in flight at a time."""

    def __init__(self, tree: MerkleTree, partition: int) -> None:
        self._tree = tree
        self.partition = partition
        self.phase = Phase.HASHES
        self._level = 0
        self._queue: list[int] = [0]  # ids of the current level (or segments) still to ask for
        self._differing: list[int] = []  # ids of the current level found to differ
        self._in_flight: Request | None = None
        self._differences: list[KeyDifference] = []
        self.messages_sent = 0
        self.messages_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def messages(self) -> int:
        return self.messages_sent + self.messages_received

    @property
    def bytes(self) -> int:
        return self.bytes_sent + self.bytes_received

    @property
    def differences(self) -> tuple[KeyDifference, ...]:
        """The differing keys, sorted by key (complete once the phase is DONE)."""
        return tuple(sorted(self._differences, key=lambda d: d.key))

    def start(self) -> Request:
        if self._in_flight is not None or self.phase is not Phase.HASHES or self._level != 0:
            raise MerkleError("the exchange has already started")
        return self._send_next()

    def on_reply(self, reply: Reply) -> Request | None:
        request = self._in_flight
        if request is None:
            raise MerkleError(f"a reply with no request in flight: {reply!r:.80}")
        if reply.partition != self.partition:
            raise MerkleError(f"a reply for partition {reply.partition} in the exchange of {self.partition}")
        self.messages_received += 1
        self.bytes_received += len(encode_message(reply))
        if isinstance(request, HashesRequest):
            if (
                not isinstance(reply, Hashes)
                or reply.level != request.level
                or len(reply.hashes) != len(request.ids)
            ):
                raise MerkleError(f"{reply!r:.80} does not answer {request!r:.80}")
            local = self._tree.node_hashes(request.level, request.ids)
            self._differing.extend(
                node for node, a, b in zip(request.ids, local, reply.hashes, strict=True) if a != b
            )
        else:
            if not isinstance(reply, Segments):
                raise MerkleError(f"{reply!r:.80} does not answer {request!r:.80}")
            answered = tuple(index for index, _ in reply.entries)
            if not answered or answered != request.segments[: len(answered)]:
                raise MerkleError(f"segments {answered} do not answer {request.segments}")
            for index, pairs in reply.entries:
                self._diff_segment(index, pairs)
            # What did not fit in the reply goes first in the next request.
            self._queue[:0] = request.segments[len(answered) :]
        self._in_flight = None
        return self._send_next()

    def _diff_segment(self, index: int, remote_pairs: tuple[tuple[bytes, bytes], ...]) -> None:
        local = dict(self._tree.segment_pairs(index))
        remote = dict(remote_pairs)
        for key in local.keys() | remote.keys():
            mine, theirs = local.get(key), remote.get(key)
            if mine != theirs:
                self._differences.append(KeyDifference(key, mine, theirs))

    def _send_next(self) -> Request | None:
        tree = self._tree
        if not self._queue and self.phase is Phase.HASHES:
            # The level is done: descend into the children of what differed,
            # or, at the leaves, fetch the differing segments.
            differing, self._differing = sorted(self._differing), []
            if not differing:
                self.phase = Phase.DONE
            elif self._level < tree.levels:
                self._level += 1
                self._queue = [child for node in differing for child in tree.children(node)]
            else:
                self.phase = Phase.SEGMENTS
                self._queue = differing
        if not self._queue:
            self.phase = Phase.DONE
            return None
        request: Request
        if self.phase is Phase.HASHES:
            ids, self._queue = self._queue[:HASHES_PER_MESSAGE_MAX], self._queue[HASHES_PER_MESSAGE_MAX:]
            request = HashesRequest(self.partition, tree.fanout, tree.levels, self._level, tuple(ids))
        else:
            ids, self._queue = self._queue[:SEGMENTS_PER_MESSAGE_MAX], self._queue[SEGMENTS_PER_MESSAGE_MAX:]
            request = SegmentsRequest(self.partition, tree.fanout, tree.levels, tuple(ids))
        self._in_flight = request
        self.messages_sent += 1
        self.bytes_sent += len(encode_message(request))
        return request


# -- the rate limiter -----------------------------------------------------------------

_NS_PER_S = 10**9


class TokenBucket:
    """A token bucket: `rate_per_s` tokens a second accrue up to `burst`.
    Anti-entropy takes one token per exchange, or one per key it repairs,
    so it stays a background load. Time is the caller's (nanoseconds from
    any fixed origin, never decreasing); arithmetic is exact (Fractions), so
    over any span the bucket admits exactly `burst + rate * span` tokens, at
    most."""

    def __init__(self, rate_per_s: int | float | Fraction, burst: int, now_ns: int) -> None:
        rate = (
            Fraction(rate_per_s).limit_denominator(_NS_PER_S) if isinstance(rate_per_s, float) else rate_per_s
        )
        if not rate > 0:
            raise ValueError(f"rate_per_s must be positive, not {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate_per_s = Fraction(rate)
        self.burst = burst
        self._tokens = Fraction(burst)  # starts full
        self._now_ns = now_ns

    def _advance(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError(f"time went back: {now_ns} ns after {self._now_ns} ns")
        elapsed_ns, self._now_ns = now_ns - self._now_ns, now_ns
        self._tokens = min(Fraction(self.burst), self._tokens + elapsed_ns * self.rate_per_s / _NS_PER_S)

    def available(self, now_ns: int) -> int:
        """Whole tokens available at `now_ns`."""
        self._advance(now_ns)
        return math.floor(self._tokens)

    def try_take(self, now_ns: int, amount: int = 1) -> bool:
        """Take `amount` tokens if all are there; otherwise take none."""
        self._check_amount(amount)
        self._advance(now_ns)
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True

    def wait_ns(self, now_ns: int, amount: int = 1) -> int:
        """Nanoseconds from `now_ns` until `amount` tokens are there (0: now)."""
        self._check_amount(amount)
        self._advance(now_ns)
        missing = amount - self._tokens
        return 0 if missing <= 0 else math.ceil(missing * _NS_PER_S / self.rate_per_s)

    def _check_amount(self, amount: int) -> None:
        # More than the burst would never be admitted: a caller that asks
        # for it would wait forever, so it is an error, not a refusal.
        if not 1 <= amount <= self.burst:
            raise ValueError(f"amount must be in 1..burst ({self.burst}), not {amount}")
