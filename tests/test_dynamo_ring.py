"""The Dynamo ring (kv.dynamo.ring): balance, preference lists, minimal
movement on join and leave, fallbacks with hints, handoff plans, the gossip
encoding and its merge rule. Pure: no servers, no trio."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cluster import codec
from kv.dynamo.ring import (
    HASH_SPACE,
    Fallback,
    Ring,
    RingDecodeError,
    handoffs,
    hash_key,
    merge,
    placement_change,
    preference_changes,
)

N = 3

ring_sizes = st.sampled_from([64, 128, 256, 512])
node_counts = st.integers(min_value=3, max_value=8)
key_hashes = st.integers(min_value=0, max_value=HASH_SPACE - 1)
# Churn tests replay several claims per example: smaller rings keep them fast.
churn_ring_sizes = st.sampled_from([64, 128, 256])


def names(count: int, prefix: str = "node") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


@st.composite
def churned_rings(draw: st.DrawFn) -> tuple[Ring, list[Ring]]:
    """A ring and the rings a few joins and leaves (3..8 nodes) lead to."""
    ring = Ring(draw(churn_ring_sizes), names(draw(node_counts)))
    history = [ring]
    fresh = 0
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        members = ring.members
        leave = len(members) > 3 and (len(members) == 8 or draw(st.booleans()))
        if leave:
            ring = ring.without_node(draw(st.sampled_from(members)))
        else:
            ring = ring.with_node(f"joiner{fresh}")
            fresh += 1
        history.append(ring)
    return ring, history


def walk_length(ring: Ring, partition: int, n: int) -> int:
    """How many partitions clockwise from `partition` hold its first n distinct nodes."""
    last_partition, _node = ring.preference_list(ring.partition_start(partition), n)[-1]
    return (last_partition - partition) % ring.partitions + 1


def naive_owners(partitions: int, nodes: list[str]) -> list[str]:
    """Reassignment from scratch: round-robin over the sorted members."""
    members = sorted(nodes)
    return [members[index % len(members)] for index in range(partitions)]


# -- balance -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ring_sizes, node_counts)
def test_new_ring_is_balanced_within_ten_percent(partitions: int, nodes: int) -> None:
    counts = Ring(partitions, names(nodes)).partition_counts()
    assert sorted(counts) == names(nodes)
    assert sum(counts.values()) == partitions
    share = partitions / nodes
    for node, count in counts.items():
        assert abs(count - share) <= 0.1 * share, (node, count, share)
    assert max(counts.values()) - min(counts.values()) <= 1


@settings(max_examples=40, deadline=None)
@given(churned_rings())
def test_balance_holds_through_joins_and_leaves(churned: tuple[Ring, list[Ring]]) -> None:
    _ring, history = churned
    for ring in history:
        counts = ring.partition_counts()
        share = ring.partitions / len(ring.members)
        assert all(abs(count - share) <= 0.1 * share for count in counts.values()), counts
        assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_ring_does_not_depend_on_the_order_nodes_are_given() -> None:
    assert Ring(64, ["c", "a", "b", "d"]) == Ring(64, ["d", "b", "a", "c"])
    assert Ring(64, ["c", "a", "b", "d"]).encode() == Ring(64, ["a", "b", "c", "d"]).encode()


# -- spread: the first N distinct nodes within a short walk ------------------


@settings(max_examples=60, deadline=None)
@given(ring_sizes, st.integers(min_value=5, max_value=8))
def test_new_ring_finds_n_distinct_nodes_in_n_partitions(partitions: int, nodes: int) -> None:
    # With S >= 2N - 1 the claim can keep every window of N partitions
    # distinct, wrap-around included, whatever Q mod S is.
    ring = Ring(partitions, names(nodes))
    assert [p for p in range(partitions) if walk_length(ring, p, N) != N] == []


@settings(max_examples=60, deadline=None)
@given(ring_sizes, node_counts)
def test_consecutive_partitions_are_on_distinct_nodes(partitions: int, nodes: int) -> None:
    ring = Ring(partitions, names(nodes))
    for current in (ring, ring.with_node("joiner")):
        owners = current.owners
        assert all(owners[p] != owners[(p + 1) % partitions] for p in range(partitions))


@settings(max_examples=40, deadline=None)
@given(ring_sizes, st.integers(min_value=4, max_value=8))
def test_join_and_leave_keep_the_walk_short(partitions: int, nodes: int) -> None:
    ring = Ring(partitions, names(nodes))
    joined = ring.with_node("joiner")
    assert max(walk_length(joined, p, N) for p in range(partitions)) <= N + 1
    left = ring.without_node("node1")
    assert max(walk_length(left, p, N) for p in range(partitions)) <= N + 2


# -- keys and preference lists -----------------------------------------------


def test_hash_key_is_sha1_of_the_length_prefixed_bucket_and_key() -> None:
    expected = int.from_bytes(hashlib.sha1(b"\x00\x00\x00\x05users" + b"alice").digest(), "big")
    assert hash_key(b"users", b"alice") == expected
    # The length prefix keeps a bucket/key boundary from being moved.
    assert hash_key(b"ab", b"c") != hash_key(b"a", b"bc")


def test_hash_key_is_the_same_in_another_process() -> None:
    here = [hash_key(b"bucket", key) for key in (b"a", b"b", b"\xff" * 40)]
    script = "from kv.dynamo.ring import hash_key; print([hash_key(b'bucket', k) for k in (b'a', b'b', b'\\xff' * 40)])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(here)


def test_partitions_are_equal_ranges_of_the_ring() -> None:
    ring = Ring(64, names(4))
    size = HASH_SPACE // 64
    assert ring.partition_of(0) == 0
    assert ring.partition_of(size - 1) == 0
    assert ring.partition_of(size) == 1
    assert ring.partition_of(HASH_SPACE - 1) == 63
    assert [ring.partition_start(p) for p in (0, 1, 64)] == [0, size, HASH_SPACE]
    with pytest.raises(ValueError):
        ring.partition_of(HASH_SPACE)
    with pytest.raises(ValueError):
        ring.partition_of(-1)


@settings(max_examples=50, deadline=None)
@given(churned_rings(), key_hashes, st.integers(min_value=1, max_value=3))
def test_preference_list_is_n_distinct_nodes_from_the_keys_partition(
    churned: tuple[Ring, list[Ring]], key_hash: int, n: int
) -> None:
    ring, _history = churned
    preference = ring.preference_list(key_hash, n)
    partition = ring.partition_of(key_hash)
    assert len(preference) == n
    assert preference[0] == (partition, ring.owner(partition))
    nodes = [node for _p, node in preference]
    assert len(set(nodes)) == n
    # Each entry is the first partition clockwise owned by a node not yet listed.
    expected = []
    for step in range(ring.partitions):
        index = (partition + step) % ring.partitions
        if ring.owner(index) not in [node for _i, node in expected]:
            expected.append((index, ring.owner(index)))
        if len(expected) == n:
            break
    assert preference == expected
    # Stable: the same answer again, and from a ring decoded from gossip.
    assert ring.preference_list(key_hash, n) == preference
    assert Ring.decode(ring.encode()).preference_list(key_hash, n) == preference


def test_preference_list_longer_than_the_ring_is_refused() -> None:
    ring = Ring(64, names(3))
    with pytest.raises(ValueError, match="needs at least 4 nodes"):
        ring.preference_list(0, 4)
    with pytest.raises(ValueError):
        ring.preference_list(0, 0)


# -- membership: minimal movement --------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ring_sizes, node_counts)
def test_join_moves_only_the_joiners_share(partitions: int, nodes: int) -> None:
    ring = Ring(partitions, names(nodes))
    joined = ring.with_node("joiner")
    assert joined.version == ring.version + 1
    moves = handoffs(ring, joined)
    assert len(moves) == partitions // (nodes + 1)
    assert all(move.target == "joiner" and move.source == ring.owner(move.partition) for move in moves)
    # What a reassignment from scratch would move instead: several times more.
    naive = naive_owners(partitions, [*names(nodes), "joiner"])
    naive_moves = sum(1 for before, after in zip(ring.owners, naive, strict=True) if before != after)
    assert naive_moves >= 2 * len(moves)


@settings(max_examples=60, deadline=None)
@given(ring_sizes, st.integers(min_value=4, max_value=8), st.data())
def test_leave_moves_only_the_leavers_partitions(partitions: int, nodes: int, data: st.DataObject) -> None:
    ring = Ring(partitions, names(nodes))
    leaver = data.draw(st.sampled_from(ring.members))
    left = ring.without_node(leaver)
    assert left.version == ring.version + 1
    assert leaver not in left.members
    moves = handoffs(ring, left)
    assert sorted(move.partition for move in moves) == [
        p for p, node in enumerate(ring.owners) if node == leaver
    ]
    assert all(move.source == leaver and move.target != leaver for move in moves)
    naive = naive_owners(partitions, [node for node in names(nodes) if node != leaver])
    naive_moves = sum(1 for before, after in zip(ring.owners, naive, strict=True) if before != after)
    assert naive_moves > len(moves)


def test_membership_errors() -> None:
    ring = Ring(64, names(3))
    with pytest.raises(ValueError, match="already in the ring"):
        ring.with_node("node0")
    with pytest.raises(ValueError, match="not in the ring"):
        ring.without_node("stranger")
    with pytest.raises(ValueError, match="last node"):
        Ring(8, ["only"]).without_node("only")
    with pytest.raises(ValueError, match="cannot each own"):
        Ring(4, names(5))
    with pytest.raises(ValueError, match="cannot each own"):
        Ring(4, names(4)).with_node("fifth")
    with pytest.raises(ValueError, match="distinct"):
        Ring(64, ["a", "a", "b"])
    with pytest.raises(ValueError, match="not one cluster"):
        handoffs(Ring(64, names(3)), Ring(128, names(3)))


# -- during a handoff ---------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(ring_sizes, node_counts, key_hashes)
def test_placement_change_reports_both_lists(partitions: int, nodes: int, key_hash: int) -> None:
    old = Ring(partitions, names(nodes))
    new = old.with_node("joiner")
    change = placement_change(old, new, key_hash, N)
    assert change.partition == old.partition_of(key_hash)
    assert list(change.old) == [node for _p, node in old.preference_list(key_hash, N)]
    assert list(change.new) == [node for _p, node in new.preference_list(key_hash, N)]
    assert set(change.kept) | set(change.arriving) == set(change.new)
    assert set(change.kept) | set(change.departing) == set(change.old)
    assert set(change.arriving) <= {"joiner"}


@settings(max_examples=30, deadline=None)
@given(ring_sizes, node_counts)
def test_preference_changes_cover_every_key_whose_copies_move(partitions: int, nodes: int) -> None:
    old = Ring(partitions, names(nodes))
    new = old.with_node("joiner")
    changed = {change.partition: change for change in preference_changes(old, new, N)}
    for partition in range(partitions):
        key_hash = old.partition_start(partition)
        before = old.preference_list(key_hash, N)
        after = new.preference_list(key_hash, N)
        if partition in changed:
            assert [node for _p, node in before] != [node for _p, node in after]
            assert changed[partition].arriving, "a joiner's arrival leaves the key short of copies"
        else:
            assert [node for _p, node in before] == [node for _p, node in after]
    # The joiner owns partitions, so it is in N of their lists at least:
    # those keys really are short of an up-to-date copy until handoff ends.
    assert len(changed) >= partitions // (nodes + 1)
    # Wider than the owner changes: the lists of partitions before a moved one change too.
    assert len(changed) > len(handoffs(old, new))


# -- sloppy quorum: fallbacks ------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(churned_rings(), key_hashes, st.data())
def test_fallbacks_skip_down_nodes_and_carry_the_hint(
    churned: tuple[Ring, list[Ring]], key_hash: int, data: st.DataObject
) -> None:
    ring, _history = churned
    down = set(data.draw(st.lists(st.sampled_from(ring.members), unique=True, max_size=len(ring.members))))
    preference = ring.preference_list(key_hash, N)
    primary_nodes = [node for _p, node in preference]
    fallbacks = ring.fallbacks(key_hash, N, down)
    down_primaries = [(p, node) for p, node in preference if node in down]
    healthy_outside = [node for node in ring.members if node not in down and node not in primary_nodes]
    assert len(fallbacks) == min(len(down_primaries), len(healthy_outside))
    for fallback, (home_partition, home) in zip(fallbacks, down_primaries, strict=False):
        assert fallback.hint == home
        assert fallback.partition == home_partition
        assert fallback.node not in down
        assert fallback.node not in primary_nodes
    assert len({fallback.node for fallback in fallbacks}) == len(fallbacks)
    # They are the nearest such nodes clockwise, in order.
    walked = [node for _p, node in ring.walk(ring.partition_of(key_hash))]
    expected = [node for node in walked[N:] if node not in down][: len(fallbacks)]
    assert [fallback.node for fallback in fallbacks] == expected


@settings(max_examples=50, deadline=None)
@given(churned_rings(), key_hashes, st.data())
def test_sloppy_preference_list_is_the_first_n_healthy_nodes(
    churned: tuple[Ring, list[Ring]], key_hash: int, data: st.DataObject
) -> None:
    ring, _history = churned
    down = set(data.draw(st.lists(st.sampled_from(ring.members), unique=True, max_size=len(ring.members))))
    targets = ring.sloppy_preference_list(key_hash, N, down)
    healthy = [node for node in ring.members if node not in down]
    assert len(targets) == min(N, len(healthy))
    assert len({target.node for target in targets}) == len(targets)
    assert not {target.node for target in targets} & down
    # Healthy primaries first, unhinted and in list order; then one hinted
    # fallback for each down primary, in list order.
    preference = ring.preference_list(key_hash, N)
    up = [(p, node, None) for p, node in preference if node not in down]
    assert [tuple(target) for target in targets[: len(up)]] == up
    hints = [target.hint for target in targets[len(up) :]]
    assert hints == [node for _p, node in preference if node in down][: len(hints)]


def test_fallback_example() -> None:
    ring = Ring(64, names(6))
    key_hash = ring.partition_start(10)
    walked = [node for _p, node in ring.walk(10)]
    first, second, third, fourth, fifth, _sixth = walked
    assert ring.fallbacks(key_hash, N, set()) == []
    assert ring.fallbacks(key_hash, N, {second}) == [
        Fallback(ring.preference_list(key_hash, N)[1][0], fourth, second)
    ]
    # A down node outside the list changes nothing; a down fallback is skipped.
    assert ring.fallbacks(key_hash, N, {fourth}) == []
    skipped = ring.fallbacks(key_hash, N, {first, fourth})
    assert skipped == [Fallback(10, fifth, first)]
    assert third in [node for _p, node in ring.preference_list(key_hash, N)]


# -- gossip: encoding and merge -----------------------------------------------


@settings(max_examples=30, deadline=None)
@given(churned_rings())
def test_encoding_round_trips_and_is_compact(churned: tuple[Ring, list[Ring]]) -> None:
    ring, _history = churned
    data = ring.encode()
    decoded = Ring.decode(data)
    assert decoded == ring
    assert decoded.owners == ring.owners
    assert decoded.version == ring.version
    assert decoded.members == ring.members
    # One byte a partition plus the member names and a few bytes of header.
    assert len(data) <= ring.partitions + sum(len(node) + 1 for node in ring.members) + 16


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: data[:-1],
        lambda data: b"\xc1" + data,
        lambda data: data.replace(b"node1", b"node9"),
    ],
)
def test_decoding_bad_bytes_is_a_clear_error(mangle) -> None:
    data = Ring(64, names(4)).encode()
    with pytest.raises(RingDecodeError):
        Ring.decode(mangle(data))


def test_decoding_refuses_an_unknown_format() -> None:
    fields = codec.decode(Ring(64, names(4)).encode())
    with pytest.raises(RingDecodeError, match="format"):
        Ring.decode(codec.encode((2, *fields[1:])))
    with pytest.raises(RingDecodeError, match="out of range"):
        Ring.decode(codec.encode((*fields[:4], bytes([0, 1, 2, 3, 4]))))
    with pytest.raises(RingDecodeError, match="own a partition"):
        Ring.decode(codec.encode((*fields[:4], bytes([0, 1, 2] * 4))))


@settings(max_examples=25, deadline=None)
@given(churned_rings(), churned_rings(), st.data())
def test_gossip_merge_is_commutative_associative_and_idempotent(
    left: tuple[Ring, list[Ring]], right: tuple[Ring, list[Ring]], data: st.DataObject
) -> None:
    views = [*left[1], *right[1]]
    a, b, c = (data.draw(st.sampled_from(views)) for _ in range(3))
    if not a.partitions == b.partitions == c.partitions:
        with pytest.raises(ValueError):
            merge(a, b) if a.partitions != b.partitions else merge(a, c)
        return
    assert merge(a, a) == a
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, b).version == max(a.version, b.version)
    assert merge(a, b) in (a, b)


def test_merge_breaks_a_tie_of_versions_the_same_way_everywhere() -> None:
    base = Ring(64, names(4))
    one = base.with_node("x")  # two changes made concurrently from the same view
    two = base.without_node("node2")
    assert one.version == two.version
    winner = merge(one, two)
    assert winner == merge(two, one)
    assert winner in (one, two)
    newer = two.with_node("y")
    assert merge(one, newer) == newer
    assert merge(newer, one) == newer


@st.composite
def churned_rings_of_five_or_more(draw: st.DrawFn) -> Ring:
    """A ring after a few joins and leaves that always leave at least
    2N - 1 = 5 nodes: with fewer, a window of N partitions around a
    leaver's partition sees every other node within N - 1 steps, so the
    walk past N there is the price of moving nothing else."""
    ring = Ring(draw(churn_ring_sizes), names(draw(st.integers(min_value=5, max_value=8))))
    for fresh in range(draw(st.integers(min_value=1, max_value=6))):
        members = ring.members
        if len(members) > 5 and (len(members) == 8 or draw(st.booleans())):
            ring = ring.without_node(draw(st.sampled_from(members)))
        else:
            ring = ring.with_node(f"joiner{fresh}")
    return ring


@settings(max_examples=40, deadline=None)
@given(churned_rings_of_five_or_more())
# Two histories where leaves without regard to spacing go past the bounds.
@example(Ring(64, names(8)).without_node("node0").without_node("node1").without_node("node6"))
@example(
    Ring(64, names(5)).with_node("joiner0").with_node("joiner1").without_node("node3").without_node("node4")
)
def test_the_walk_stays_short_through_churn(ring: Ring) -> None:
    # Minimal movement comes first, so after a leave some windows of N
    # partitions repeat a node (no taker below its share may fit there);
    # claim keeps those few and the walk short. (Reassigning a leaver's
    # partitions without regard to spacing fails these bounds.)
    walks = [walk_length(ring, p, N) for p in range(ring.partitions)]
    assert sum(walks) / len(walks) <= N + 0.5
    assert sum(1 for walk in walks if walk > N + 1) <= 0.1 * len(walks)
    assert max(walks) <= 3 * N
