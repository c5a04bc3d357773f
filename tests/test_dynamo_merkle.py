"""Dynamo's anti-entropy core (`kv.dynamo.merkle`), without I/O: the tree's
hashes, the exchange against a brute-force diff and its cost, the wire form
of its messages, its limits and error paths, and the token bucket."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import codec
from kv.dynamo import merkle
from kv.dynamo.merkle import (
    Exchange,
    Hashes,
    HashesRequest,
    KeyDifference,
    MerkleError,
    MerkleTree,
    Phase,
    Segments,
    SegmentsRequest,
    TokenBucket,
    decode_message,
    encode_message,
    message_from_wire,
    respond,
)

keys = st.binary(min_size=0, max_size=12)
digests = st.binary(min_size=1, max_size=20)
contents = st.dictionaries(keys, digests, max_size=60)
# Small shapes put many keys in a segment and make every level matter; the
# default shape is the one the coordinator will use.
shapes = st.sampled_from([(2, 1), (2, 3), (3, 2), (4, 2), (merkle.FANOUT_DEFAULT, merkle.LEVELS_DEFAULT)])


def all_hashes(tree: MerkleTree) -> list[tuple[bytes, ...]]:
    return [tree.node_hashes(level, range(tree.fanout**level)) for level in range(tree.levels + 1)]


def reference_hashes(pairs: dict[bytes, bytes], fanout: int, levels: int) -> list[tuple[bytes, ...]]:
    """Every level's hashes computed from the definition, bottom up, with no
    dirty tracking: segment hash over the sorted pairs, node hash over its
    children's."""
    segment_of = MerkleTree(fanout=fanout, levels=levels).segment_of
    segments: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, digest in pairs.items():
        segments.setdefault(segment_of(key), []).append((key, digest))
    row = tuple(merkle._leaf_hash(sorted(segments.get(i, ()))) for i in range(fanout**levels))
    rows = [row]
    while len(row) > 1:
        row = tuple(merkle._inner_hash(row[i : i + fanout]) for i in range(0, len(row), fanout))
        rows.append(row)
    return rows[::-1]


def run_exchange(local: MerkleTree, remote: MerkleTree, partition: int = 7) -> Exchange:
    """One whole exchange, every message through its bytes on the wire."""
    exchange = Exchange(local, partition)
    request = exchange.start()
    while request is not None:
        assert exchange.phase is not Phase.DONE
        reply = respond(remote, decode_message(encode_message(request)))
        request = exchange.on_reply(decode_message(encode_message(reply)))
    assert exchange.phase is Phase.DONE
    return exchange


def brute_force_diff(a: dict[bytes, bytes], b: dict[bytes, bytes]) -> tuple[KeyDifference, ...]:
    return tuple(KeyDifference(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k))


# -- the tree -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(contents, shapes, st.randoms(use_true_random=False))
def test_same_contents_same_root_whatever_the_order(pairs, shape, rnd):
    fanout, levels = shape
    items = list(pairs.items())
    one = MerkleTree.build(items, fanout=fanout, levels=levels)
    rnd.shuffle(items)
    # The other tree also sees stale digests first, and keys that come and
    # go (longer than any drawn key, so never one of them).
    other = MerkleTree(fanout=fanout, levels=levels)
    for key, digest in items:
        other.insert(key, digest + b"-stale")
        other.insert(b"\xff" * 13 + key, digest)
    for key, digest in items:
        other.update(key, digest)
        assert other.delete(b"\xff" * 13 + key)
    assert one.root() == other.root()
    assert all_hashes(one) == all_hashes(other)
    assert len(one) == len(other) == len(pairs)


@settings(max_examples=60, deadline=None)
@given(contents, shapes, keys, digests, st.data())
def test_any_single_change_changes_the_root(pairs, shape, new_key, new_digest, data):
    fanout, levels = shape
    tree = MerkleTree.build(pairs.items(), fanout=fanout, levels=levels)
    before = tree.root()
    change = data.draw(st.sampled_from(["insert", "update", "delete"] if pairs else ["insert"]))
    if change == "insert":
        key = new_key if new_key not in pairs else new_key + b"\x00" * 13
        tree.insert(key, new_digest)
    elif change == "update":
        key = data.draw(st.sampled_from(sorted(pairs)))
        tree.update(key, pairs[key] + b"\x01" if new_digest == pairs[key] else new_digest)
    else:
        key = data.draw(st.sampled_from(sorted(pairs)))
        assert tree.delete(key)
    assert tree.root() != before
    # And undoing it gives the old root back.
    if change == "insert":
        tree.delete(key)
    else:
        tree.insert(key, pairs[key])
    assert tree.root() == before


# Keys from a small pool as well, so that puts overwrite and deletes hit.
op_keys = st.one_of(st.sampled_from([b"pool-%d" % i for i in range(16)]), keys)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), op_keys, digests),
        st.tuples(st.just("delete"), op_keys, st.just(b"")),
        st.tuples(st.just("root"), st.just(b""), st.just(b"")),
    ),
    max_size=120,
)


@settings(max_examples=80, deadline=None)
@given(operations, shapes)
def test_incremental_updates_give_the_root_of_a_rebuild(ops, shape):
    fanout, levels = shape
    tree = MerkleTree(fanout=fanout, levels=levels)
    model: dict[bytes, bytes] = {}
    for op, key, digest in ops:
        if op == "put":
            tree.insert(key, digest)
            model[key] = digest
        elif op == "delete":
            assert tree.delete(key) == (key in model)
            model.pop(key, None)
        else:
            # Reading the root in between leaves some paths clean, some dirty.
            tree.root()
    rebuilt = MerkleTree.build(model.items(), fanout=fanout, levels=levels)
    assert tree.root() == rebuilt.root()
    assert all_hashes(tree) == all_hashes(rebuilt) == reference_hashes(model, fanout, levels)
    assert len(tree) == len(model)
    assert all(tree.get(k) == d and k in tree for k, d in model.items())


def test_an_empty_tree_and_its_rebuild_agree_and_differ_from_one_key():
    empty = MerkleTree(fanout=4, levels=3)
    assert empty.root() == MerkleTree.build([], fanout=4, levels=3).root()
    assert empty.root() != MerkleTree.build([(b"k", b"d")], fanout=4, levels=3).root()
    assert empty.root() != MerkleTree(fanout=4, levels=2).root()


def test_keys_of_one_partition_spread_over_the_segments():
    # A partition holds a narrow slice of the ring's hash space; the segment
    # hash must still spread its keys over all segments.
    tree = MerkleTree()
    for i in range(20_000):
        tree.insert(b"bucket/key-%d" % i, b"d")
    used = {tree.segment_of(b"bucket/key-%d" % i) for i in range(20_000)}
    assert len(used) == tree.segment_count
    per_segment = [len(tree.segment_pairs(s)) for s in range(tree.segment_count)]
    assert max(per_segment) < 3 * 20_000 / tree.segment_count


def test_pair_boundaries_count_in_the_segment_hash():
    # (b"k7", b"xyd") and (b"k7x", b"yd") concatenate alike; in a tree of
    # two segments, find such a pair of keys that share a segment.
    for i in range(100):
        short, long = (b"k%d" % i, b"xyd"), (b"k%dx" % i, b"yd")
        one, other = MerkleTree.build([short], fanout=2, levels=1), MerkleTree.build([long], fanout=2, levels=1)
        if one.segment_of(short[0]) == other.segment_of(long[0]):
            break
    else:
        raise AssertionError("no two keys in one segment of two")
    assert one.root() != other.root()


_ROOT_SCRIPT = """
from kv.dynamo.merkle import MerkleTree
tree = MerkleTree.build(((b"key-%d" % i, b"digest-%d" % (i * 7)) for i in range(500)), fanout=8, levels=2)
print(tree.root().hex())
"""


def test_roots_are_stable_across_processes():
    here = MerkleTree.build(((b"key-%d" % i, b"digest-%d" % (i * 7)) for i in range(500)), fanout=8, levels=2)
    roots = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", _ROOT_SCRIPT], env=env, capture_output=True, text=True, check=True)
        roots.add(out.stdout.strip())
    assert roots == {here.root().hex()}


def test_tree_errors():
    with pytest.raises(ValueError, match="fanout >= 2"):
        MerkleTree(fanout=1, levels=3)
    with pytest.raises(ValueError, match="levels >= 1"):
        MerkleTree(fanout=4, levels=0)
    MerkleTree(fanout=2, levels=20)  # exactly SEGMENTS_MAX
    with pytest.raises(ValueError, match="exceeds"):
        MerkleTree(fanout=2, levels=21)
    tree = MerkleTree(fanout=4, levels=2)
    with pytest.raises(TypeError, match="key must be bytes"):
        tree.insert("text", b"d")
    with pytest.raises(TypeError, match="digest must be bytes"):
        tree.insert(b"k", "d")
    with pytest.raises(TypeError, match="key must be bytes"):
        tree.delete("text")
    assert not tree.delete(b"absent")
    with pytest.raises(MerkleError, match="level 3"):
        tree.node_hashes(3, [0])
    with pytest.raises(MerkleError, match="level -1"):
        tree.node_hashes(-1, [])
    with pytest.raises(MerkleError, match="node 16"):
        tree.node_hashes(2, [16])
    with pytest.raises(MerkleError, match="node -1"):
        tree.segment_pairs(-1)
    assert tree.node_hashes(2, [15]) == tree.node_hashes(2, [0])  # both empty


# -- the exchange ---------------------------------------------------------------------


@st.composite
def replica_pairs(draw):
    """Two replicas' contents: a shared base, then changes on either side."""
    base = draw(contents)
    local, remote = dict(base), dict(base)
    for side in (local, remote):
        for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=8) if base else st.just([])):
            if draw(st.booleans()):
                side.pop(key, None)
            else:
                side[key] = draw(digests)
        side.update(draw(st.dictionaries(keys, digests, max_size=6)))
    return local, remote


@settings(max_examples=150, deadline=None)
@given(replica_pairs(), shapes)
def test_exchange_finds_exactly_the_differing_keys(pair, shape):
    local, remote = pair
    fanout, levels = shape
    a = MerkleTree.build(local.items(), fanout=fanout, levels=levels)
    b = MerkleTree.build(remote.items(), fanout=fanout, levels=levels)
    expected = brute_force_diff(local, remote)
    assert run_exchange(a, b).differences == expected
    # From the other side, the same keys with the digests swapped.
    swapped = tuple(KeyDifference(d.key, d.remote_digest, d.local_digest) for d in expected)
    assert run_exchange(b, a).differences == swapped


def test_equal_trees_take_one_round_trip():
    pairs = [(b"k%d" % i, b"d%d" % i) for i in range(1000)]
    exchange = run_exchange(MerkleTree.build(pairs), MerkleTree.build(reversed(pairs)))
    assert exchange.differences == ()
    assert (exchange.messages_sent, exchange.messages_received) == (1, 1)
    assert exchange.bytes < 64


def _full_transfer_bytes(pairs: dict[bytes, bytes]) -> int:
    """What sending every (key, digest) pair of the partition would take."""
    return len(codec.encode(tuple(pairs.items())))


@pytest.fixture(scope="module")
def large_replicas() -> tuple[dict[bytes, bytes], MerkleTree]:
    pairs = {b"bucket/user-%06d" % i: (b"%032x" % (i * 2654435761)) for i in range(20_000)}
    return pairs, MerkleTree.build(pairs.items())


@pytest.mark.parametrize("k", [1, 2, 5, 10, 30])
def test_exchange_cost_for_k_differences_among_n_keys(large_replicas, k):
    """The bound claimed in the module docstring: 2 * (levels + 2) messages,
    at most k * fanout hashes per level below the root, and the pairs of at
    most k segments; far less than sending all n keys."""
    pairs, local = large_replicas
    rnd = random.Random(k)
    changed = dict(pairs)
    for key in rnd.sample(sorted(pairs), k):
        if rnd.random() < 0.3:
            del changed[key]
        else:
            changed[key] = b"new-" + changed[key]
    remote = MerkleTree.build(changed.items())
    exchange = run_exchange(local, remote)
    assert exchange.differences == brute_force_diff(pairs, changed)
    assert len(exchange.differences) == k

    levels, fanout = local.levels, local.fanout
    assert exchange.messages == 2 * (levels + 2)
    differing_segments = {local.segment_of(d.key) for d in exchange.differences}
    segment_bytes = sum(len(codec.encode(remote.segment_pairs(s))) + 4 for s in differing_segments)
    # Per hash moved: its bytes plus a 2-byte msgpack header, plus up to
    # 3 bytes for its id in the request; per message, 16 bytes of framing.
    hashes_moved = 1 + sum(min(k, fanout ** (level - 1)) * fanout for level in range(1, levels + 1))
    bound = 16 * exchange.messages + hashes_moved * (merkle.HASH_BYTES + 2 + 3) + 3 * k + segment_bytes
    assert exchange.bytes <= bound
    assert exchange.bytes * 20 < _full_transfer_bytes(pairs)
    assert exchange.bytes_sent < exchange.bytes_received  # requests are ids; replies carry hashes


def test_exchange_pages_hash_requests_past_the_limit():
    # Every key differs, so every node differs: the leaf level of a
    # (16, 3) tree has 4,096 ids to ask for, in messages of at most
    # HASHES_PER_MESSAGE_MAX.
    fanout, levels = 16, 3
    pairs = {b"k%d" % i: b"a" for i in range(6000)}
    a = MerkleTree.build(pairs.items(), fanout=fanout, levels=levels)
    b = MerkleTree.build(((k, b"b") for k in pairs), fanout=fanout, levels=levels)
    exchange = Exchange(a, 1)
    request = exchange.start()
    sent: list[merkle.Request] = []
    while request is not None:
        sent.append(request)
        request = exchange.on_reply(respond(b, request))
    hash_requests = [r for r in sent if isinstance(r, HashesRequest)]
    assert max(len(r.ids) for r in hash_requests) == merkle.HASHES_PER_MESSAGE_MAX
    leaf_requests = [r for r in hash_requests if r.level == levels]
    assert len(leaf_requests) == fanout**levels // merkle.HASHES_PER_MESSAGE_MAX
    segment_requests = [r for r in sent if isinstance(r, SegmentsRequest)]
    assert max(len(r.segments) for r in segment_requests) == merkle.SEGMENTS_PER_MESSAGE_MAX
    # Every non-empty segment differs (an empty one is equal on both sides).
    assert sorted(s for r in segment_requests for s in r.segments) == sorted({a.segment_of(k) for k in pairs})
    assert exchange.differences == brute_force_diff(pairs, dict.fromkeys(pairs, b"b"))


def test_segment_replies_stop_at_the_key_limit_and_the_rest_is_asked_again():
    # Two segments of about 5,000 keys each: a reply carries one (more than
    # the limit alone, since a segment is never split), and the exchange
    # asks for the other next.
    limit = merkle.SEGMENT_KEYS_PER_REPLY_MAX
    pairs = {b"k%d" % i: b"a" for i in range(2 * limit + 2000)}
    a = MerkleTree.build(pairs.items(), fanout=2, levels=1)
    b = MerkleTree.build(((k, b"b") for k in pairs), fanout=2, levels=1)
    reply = respond(b, SegmentsRequest(1, 2, 1, (0, 1)))
    assert [index for index, _ in reply.entries] == [0]
    assert len(reply.entries[0][1]) > limit

    exchange = Exchange(a, 1)
    request = exchange.start()
    segment_requests = []
    while request is not None:
        if isinstance(request, SegmentsRequest):
            segment_requests.append(request.segments)
        request = exchange.on_reply(respond(b, request))
    assert segment_requests == [(0, 1), (1,)]
    assert len(exchange.differences) == len(pairs)


def test_segment_reply_packs_segments_up_to_the_key_limit():
    limit = merkle.SEGMENT_KEYS_PER_REPLY_MAX
    tree = MerkleTree(fanout=4, levels=1)
    counts = [0, 0, 0, 0]
    i = 0
    # Segment 0 holds exactly the limit less 10, segment 1 exactly 10, segment 2 one key.
    targets = [limit - 10, 10, 1, 0]
    while counts != targets:
        key = b"k%d" % i
        i += 1
        segment = tree.segment_of(key)
        if counts[segment] < targets[segment]:
            tree.insert(key, b"d")
            counts[segment] += 1
    reply = respond(tree, SegmentsRequest(0, 4, 1, (0, 1, 2, 3)))
    assert [index for index, _ in reply.entries] == [0, 1]  # at the limit, not one past it
    reply = respond(tree, SegmentsRequest(0, 4, 1, (2, 3, 1)))
    assert [(index, len(p)) for index, p in reply.entries] == [(2, 1), (3, 0), (1, 10)]


def test_responder_limits_and_errors():
    tree = MerkleTree(fanout=32, levels=2)
    at_limit = tuple(range(merkle.HASHES_PER_MESSAGE_MAX))
    assert len(respond(tree, HashesRequest(0, 32, 2, 2, at_limit)).hashes) == len(at_limit)
    with pytest.raises(MerkleError, match="more than 1024"):
        respond(tree, HashesRequest(0, 32, 2, 2, (*at_limit, 0)))
    segments = tuple(range(merkle.SEGMENTS_PER_MESSAGE_MAX))
    assert len(respond(tree, SegmentsRequest(0, 32, 2, segments)).entries) == len(segments)
    with pytest.raises(MerkleError, match="more than 64"):
        respond(tree, SegmentsRequest(0, 32, 2, (*segments, 64)))
    with pytest.raises(MerkleError, match=r"shape \(16, 2\) asked, ours is \(32, 2\)"):
        respond(tree, HashesRequest(0, 16, 2, 0, (0,)))
    with pytest.raises(MerkleError, match="shape"):
        respond(tree, SegmentsRequest(0, 32, 3, (0,)))
    with pytest.raises(MerkleError, match="level 3"):
        respond(tree, HashesRequest(0, 32, 2, 3, (0,)))
    with pytest.raises(MerkleError, match="node 1024"):
        respond(tree, SegmentsRequest(0, 32, 2, (1024,)))


def test_exchange_refuses_replies_that_do_not_answer():
    tree = MerkleTree(fanout=4, levels=2)
    other = MerkleTree.build([(b"k", b"d")], fanout=4, levels=2)
    exchange = Exchange(tree, 3)
    with pytest.raises(MerkleError, match="no request in flight"):
        exchange.on_reply(Hashes(3, 0, (tree.root(),)))
    first = exchange.start()
    with pytest.raises(MerkleError, match="already started"):
        exchange.start()
    with pytest.raises(MerkleError, match="partition 4"):
        exchange.on_reply(Hashes(4, 0, (tree.root(),)))
    with pytest.raises(MerkleError, match="does not answer"):
        exchange.on_reply(Hashes(3, 1, (tree.root(),)))
    with pytest.raises(MerkleError, match="does not answer"):
        exchange.on_reply(Segments(3, ((0, ()),)))
    request = exchange.on_reply(respond(other, first))
    assert isinstance(request, HashesRequest) and request.level == 1
    request = exchange.on_reply(respond(other, request))
    request = exchange.on_reply(respond(other, request))
    assert isinstance(request, SegmentsRequest) and len(request.segments) == 1
    with pytest.raises(MerkleError, match="do not answer"):
        exchange.on_reply(Segments(3, ((request.segments[0] + 1, ()),)))
    with pytest.raises(MerkleError, match="do not answer"):
        exchange.on_reply(Segments(3, ()))
    assert exchange.on_reply(respond(other, request)) is None
    assert exchange.differences == (KeyDifference(b"k", None, b"d"),)


def test_messages_round_trip_through_the_codec():
    h = bytes(range(16))
    for message in [
        HashesRequest(5, 32, 2, 1, (0, 7, 31)),
        Hashes(5, 1, (h, h)),
        SegmentsRequest(5, 32, 2, (3, 1023)),
        Segments(5, ((3, ((b"a", b"x"), (b"b", b""))), (1023, ()))),
        Segments(5, ()),
    ]:
        assert decode_message(encode_message(message)) == message
        assert message_from_wire(message.to_wire()) == message


@pytest.mark.parametrize(
    "wire",
    [
        (),
        [1, 0, 32, 2, 0, (0,)],
        (9, 0),
        (1, 0, 32, 2, 0),
        (1, 0, 32, 2, 0, (True,)),
        (1, 0, 32, "2", 0, (0,)),
        (2, 0, 0, (b"short",)),
        (3, 0, 32, 2, [0]),
        (4, 0, ((0, ((b"k",),)),)),
        (4, 0, ((0, ((b"k", "d"),)),)),
        (4, 0, (("0", ()),)),
    ],
)
def test_malformed_wire_tuples_are_refused(wire):
    with pytest.raises(MerkleError):
        message_from_wire(wire)


# -- the token bucket -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([Fraction(1, 10), Fraction(1, 3), Fraction(1), Fraction(7), Fraction(250), Fraction(99, 7)]),
    st.integers(1, 20),
    st.integers(1, 10 * 10**9),
    st.integers(1, 3),
)
def test_token_bucket_admits_the_configured_rate(rate, burst, span_ns, amount):
    amount = min(amount, burst)
    start_ns = 5 * 10**9
    bucket = TokenBucket(rate, burst, start_ns)
    # A greedy caller that wakes exactly when the next take can succeed.
    end_ns, now_ns, taken = start_ns + span_ns, start_ns, 0
    while True:
        wait_ns = bucket.wait_ns(now_ns, amount)
        if wait_ns:
            if now_ns + wait_ns > end_ns:
                break
            assert not bucket.try_take(now_ns + wait_ns - 1, amount)  # one ns early is too early
            now_ns += wait_ns
        assert bucket.try_take(now_ns, amount)
        taken += amount
    allowed = burst + rate * span_ns / 10**9
    assert taken <= allowed
    # Greedy: it gets all but at most one take (a take due exactly at the end can fall a
    # nanosecond past it, as waits are rounded up to whole nanoseconds).
    assert taken >= allowed - amount


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2 * 10**9), min_size=1, max_size=200), st.integers(1, 5))
def test_token_bucket_never_exceeds_burst_plus_rate(gaps_ns, burst):
    rate = Fraction(3)
    bucket = TokenBucket(rate, burst, 0)
    now_ns, taken = 0, 0
    for gap in gaps_ns:
        now_ns += gap
        taken += bucket.try_take(now_ns)
        assert bucket.available(now_ns) <= burst
    assert taken <= burst + rate * now_ns / 10**9


def test_token_bucket_idles_up_to_its_burst_only():
    bucket = TokenBucket(2, 5, 0)
    assert bucket.available(0) == 5
    assert bucket.try_take(0, 5) and not bucket.try_take(0)
    assert bucket.wait_ns(0) == 500_000_000
    assert bucket.available(499_999_999) == 0 and bucket.available(500_000_000) == 1
    assert bucket.available(3600 * 10**9) == 5  # an hour idle still gives only the burst
    assert bucket.try_take(3600 * 10**9, 5)
    assert not bucket.try_take(3600 * 10**9 + 2 * 10**9, 5)  # 4 tokens
    assert bucket.wait_ns(3600 * 10**9 + 2 * 10**9, 5) == 500_000_000


def test_token_bucket_float_rate_and_errors():
    bucket = TokenBucket(0.1, 1, 0)  # one exchange every ten seconds
    assert bucket.rate_per_s == Fraction(1, 10)
    assert bucket.try_take(0) and bucket.wait_ns(0) == 10 * 10**9
    with pytest.raises(ValueError, match="time went back"):
        bucket.available(-1)
    with pytest.raises(ValueError, match="amount must be in 1..burst"):
        bucket.try_take(0, 2)  # one past the burst
    with pytest.raises(ValueError, match="amount must be in 1..burst"):
        bucket.wait_ns(0, 0)
    with pytest.raises(ValueError, match="rate_per_s must be positive"):
        TokenBucket(0, 1, 0)
    with pytest.raises(ValueError, match="burst must be at least 1"):
        TokenBucket(1, 0, 0)
    assert math.isclose(float(TokenBucket(2.5, 3, 0).rate_per_s), 2.5)
