"""Dynamo's versions without a server: vector clocks (kv/dynamo/vclock.py) and
objects with siblings, put/delete, reconciliation and read repair (kv/dynamo/objects.py)."""

from __future__ import annotations

import base64
import itertools
import random

import crc32c
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kv.dynamo import vclock as vc
from kv.dynamo.objects import (
    SIBLINGS_MAX,
    NewContent,
    Sibling,
    StoredObject,
    TooManySiblings,
    apply_delete,
    apply_put,
    decode_object,
    encode_object,
    plan_read_repair,
    reconcile,
)
from kv.dynamo.vclock import PruneRules, VClock, concurrent, descends, dominates, merge

S = 1_000_000_000  # ns per second

ACTORS = ("a", "b", "c", "d")


def _stamp(actor: str, counter: int) -> int:
    # In a real history one (actor, counter) is one event with one timestamp;
    # generated clocks keep that so equal counters mean equal clocks.
    return counter * 1000 + ACTORS.index(actor) if actor in ACTORS else counter * 1000


clocks = st.dictionaries(st.sampled_from(ACTORS), st.integers(1, 4)).map(
    lambda d: VClock.from_entries((a, c, _stamp(a, c)) for a, c in d.items())
)

# Any actor text, counters and timestamps over their whole range: for the header round trip.
wide_clocks = st.dictionaries(
    st.text(min_size=0, max_size=20),
    st.tuples(st.integers(1, vc.INT_MAX), st.integers(0, vc.INT_MAX)),
    max_size=60,
).map(lambda d: VClock.from_entries((a, c, t) for a, (c, t) in d.items()))


def clock(**counters: int) -> VClock:
    return VClock.from_entries((a, c, _stamp(a, c)) for a, c in counters.items())


# --- vector clock laws ------------------------------------------------------------------------------


@given(clocks)
def test_descends_is_reflexive_and_dominates_is_not(a: VClock) -> None:
    assert descends(a, a)
    assert not dominates(a, a)
    assert not concurrent(a, a)


@given(clocks, clocks)
def test_descends_is_antisymmetric_on_distinct_clocks(a: VClock, b: VClock) -> None:
    if a != b:
        assert not (descends(a, b) and descends(b, a))
    else:
        assert descends(a, b) and descends(b, a)


@given(clocks, clocks)
def test_exactly_one_relation_holds(a: VClock, b: VClock) -> None:
    relations = [a == b, dominates(a, b), dominates(b, a), concurrent(a, b)]
    assert relations.count(True) == 1, (a, b, relations)
    assert concurrent(a, b) == concurrent(b, a)


@given(clocks, clocks, clocks)
def test_descends_is_transitive(a: VClock, b: VClock, c: VClock) -> None:
    if descends(a, b) and descends(b, c):
        assert descends(a, c)


@given(clocks, clocks, clocks)
def test_merge_is_the_least_upper_bound(a: VClock, b: VClock, c: VClock) -> None:
    m = merge(a, b)
    assert descends(m, a) and descends(m, b)
    if descends(c, a) and descends(c, b):
        assert descends(c, m)
    assert set(m.counters()) == set(a.counters()) | set(b.counters())


@given(clocks, clocks, clocks)
def test_merge_is_commutative_associative_idempotent(a: VClock, b: VClock, c: VClock) -> None:
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge(a, b, c)
    assert merge(a, a) == a
    assert merge(a) == a
    assert merge() == VClock()


def test_merge_keeps_the_later_timestamp_of_equal_counters() -> None:
    early = VClock.from_entries([("a", 2, 10)])
    late = VClock.from_entries([("a", 2, 20)])
    assert merge(early, late) == merge(late, early) == late


@given(clocks, st.sampled_from(ACTORS), st.integers(0, 10**12))
def test_increment_dominates_and_counts_one_more(a: VClock, actor: str, now_ns: int) -> None:
    b = a.increment(actor, now_ns)
    assert dominates(b, a)
    assert b.counter(actor) == a.counter(actor) + 1
    assert [e for e in b if e.actor == actor][0].timestamp_ns == now_ns
    assert {x: n for x, n in b.counters().items() if x != actor} == {
        x: n for x, n in a.counters().items() if x != actor
    }


def test_the_papers_figure_3() -> None:
    d1 = VClock().increment("Sx", 1)
    d2 = d1.increment("Sx", 2)
    d3 = d2.increment("Sy", 3)
    d4 = d2.increment("Sz", 4)
    assert dominates(d2, d1)
    assert concurrent(d3, d4)
    context = merge(d3, d4)
    assert context.counters() == {"Sx": 2, "Sy": 1, "Sz": 1}
    d5 = context.increment("Sx", 5)
    assert d5.counters() == {"Sx": 3, "Sy": 1, "Sz": 1}
    assert all(dominates(d5, d) for d in (d1, d2, d3, d4))


# --- truncation -------------------------------------------------------------------------------------


def _aged(n: int, oldest_ns: int, step_ns: int = 1) -> VClock:
    """n actors, the i-th last updated at oldest_ns + i*step_ns."""
    return VClock.from_entries((f"n{i:03d}", 1, oldest_ns + i * step_ns) for i in range(n))


def test_riak_default_prune_rules() -> None:
    rules = vc.RIAK_PRUNE_DEFAULTS
    assert (rules.small_vclock, rules.big_vclock) == (50, 50)
    assert (rules.young_vclock_ns, rules.old_vclock_ns) == (20 * S, 86_400 * S)
    now = 10**6 * S
    at_small = _aged(50, now - 10**5 * S)
    assert at_small.prune(now) is at_small  # at most small_vclock entries: untouched, however old
    big_old = _aged(53, now - 100 * S)
    pruned = big_old.prune(now)
    assert len(pruned) == 50
    assert [e.actor for e in pruned] == [f"n{i:03d}" for i in range(3, 53)]  # the 3 oldest went
    big_young = _aged(53, now - 19 * S)
    assert big_young.prune(now) == big_young  # the oldest entry is younger than young_vclock


def test_riak_prune_rules_between_small_and_big() -> None:
    rules = PruneRules(small_vclock=3, big_vclock=6, young_vclock_ns=20 * S, old_vclock_ns=1000 * S)
    now = 10**6 * S
    # 5 entries, within big: pruned only while the oldest is older than old_vclock.
    mixed = VClock.from_entries(
        [
            ("a", 1, now - 2000 * S),
            ("b", 1, now - 1500 * S),
            ("c", 1, now - 500 * S),
            ("d", 1, now - 30 * S),
            ("e", 1, now),
        ]
    )
    assert mixed.prune(now, rules).counters().keys() == {"c", "d", "e"}
    within = VClock.from_entries([(x, 1, now - 500 * S) for x in "abcde"])
    assert within.prune(now, rules) == within
    # 8 entries, past big: pruned down to big however recent (but not young) they are.
    past_big = _aged(8, now - 100 * S, S)
    assert len(past_big.prune(now, rules)) == 6
    # But never below small, even if all are ancient.
    ancient = _aged(8, now - 10**5 * S, S)
    assert len(ancient.prune(now, rules)) == 3


@given(st.lists(st.integers(0, 10**6), min_size=0, max_size=25), st.integers(1, 12))
def test_paper_truncation_keeps_the_newest_entries(stamps: list[int], threshold: int) -> None:
    c = VClock.from_entries((f"n{i}", 1, t) for i, t in enumerate(stamps))
    pruned = c.prune(now_ns=10**6, rules=PruneRules.paper(threshold))
    assert len(pruned) == min(len(c), threshold)
    newest = sorted(c, key=lambda e: (e.timestamp_ns, e.actor))[len(c) - len(pruned) :]
    assert set(pruned) == set(newest)
    assert descends(c, pruned)  # truncation only forgets
    if len(c) <= threshold:
        assert pruned == c


@settings(max_examples=300)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.integers(1, 4))
def test_truncation_makes_false_concurrency_only_past_the_threshold_and_no_lost_write_without_a_restart(
    coordinators: list[int], threshold: int
) -> None:
    """A chain of writes, each reading the previous version (so each truly follows all
    before it), by a changing set of coordinators, with the paper's truncation. A
    *restart* is a coordinator whose counter is not above one it issued before
    (its entry had been pruned away)."""
    rules = PruneRules.paper(threshold)
    versions: list[StoredObject] = []
    issued: dict[str, int] = {}
    restarted = False
    stored = None
    for step, node in enumerate(coordinators):
        actor = f"n{node}"
        context = stored.clock if stored is not None else None
        stored = apply_put(stored, context, NewContent(b"%d" % step), actor, (step + 1) * S, True, rules)
        versions.append(stored)
        assert len(stored.siblings) == 1 and len(stored.clock) <= threshold
        restarted |= stored.clock.counter(actor) <= issued.get(actor, 0)
        issued[actor] = max(issued.get(actor, 0), stored.clock.counter(actor))
    for old, new in itertools.combinations(versions, 2):
        merged = reconcile([new, old], allow_mult=True)
        if not restarted:
            # No lost write: no older clock descends a newer one, so reconciling keeps the newer value.
            assert not descends(old.clock, new.clock)
            assert new.siblings[0] in merged.siblings
        if not descends(new.clock, old.clock):
            # False concurrency (a spurious sibling, or worse after a restart): only where a
            # clock was truncated, i.e. the history named more coordinators than the threshold.
            assert len(issued) > threshold


def test_truncation_can_make_spurious_siblings() -> None:
    """The paper's "inefficiencies in reconciliation", shown once: a, b, c, a with threshold 2."""
    rules = PruneRules.paper(2)
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True, rules)
    v2 = apply_put(v1, v1.clock, NewContent(b"2"), "b", 2 * S, True, rules)
    v3 = apply_put(v2, v2.clock, NewContent(b"3"), "c", 3 * S, True, rules)
    assert v3.clock.counters() == {"b": 1, "c": 1}  # a's entry, the oldest, was dropped
    assert concurrent(v3.clock, v1.clock)  # v3 follows v1, but its clock no longer shows it
    assert [s.value for s in reconcile([v1, v3], True).siblings] != [b"3"]
    assert {s.value for s in reconcile([v1, v3], True).siblings} == {b"1", b"3"}
    # Without truncation (Riak's defaults) v3 simply replaces v1.
    w1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    w2 = apply_put(w1, w1.clock, NewContent(b"2"), "b", 2 * S, True)
    w3 = apply_put(w2, w2.clock, NewContent(b"3"), "c", 3 * S, True)
    assert [s.value for s in reconcile([w1, w3], True).siblings] == [b"3"]


def test_truncation_loses_a_write_when_a_pruned_coordinator_writes_again() -> None:
    """Each write reads the one before; a's and b's entries are pruned away and they
    restart at counter 1, below what the second version still holds."""
    rules = PruneRules.paper(2)
    chain = []
    stored = None
    for step, actor in enumerate("aabbcab"):
        context = stored.clock if stored is not None else None
        stored = apply_put(stored, context, NewContent(b"%d" % step), actor, (step + 1) * S, True, rules)
        chain.append(stored)
    assert chain[3].clock.counters() == {"a": 2, "b": 2}
    assert chain[6].clock.counters() == {"a": 1, "b": 1}
    assert dominates(chain[3].clock, chain[6].clock)
    assert reconcile([chain[3], chain[6]], True) == chain[3]  # the newest write is gone
    # Riak's defaults do not prune these clocks at all: the newest write wins.
    stored = None
    for step, actor in enumerate("aabbcab"):
        stored = apply_put(
            stored, stored.clock if stored else None, NewContent(b"%d" % step), actor, step * S, True
        )
    assert [s.value for s in stored.siblings] == [b"6"]


# --- the X-Riak-Vclock header --------------------------------------------------------------------


@given(wide_clocks)
def test_header_round_trips(c: VClock) -> None:
    header = c.encode()
    assert isinstance(header, str)
    assert VClock.decode(header) == c
    assert VClock.decode(header.encode()) == c


@settings(max_examples=50)
@given(wide_clocks.filter(lambda c: len(c) > 0), st.data())
def test_header_with_any_bit_flipped_is_rejected(c: VClock, data: st.DataObject) -> None:
    raw = bytearray(base64.b64decode(c.encode()))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ValueError):
        VClock.decode(base64.b64encode(bytes(raw)))


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_header_garbage_is_a_value_error(garbage: str | bytes) -> None:
    try:
        VClock.decode(garbage)
    except ValueError:
        pass


def _framed(payload: bytes, fmt: int = 1) -> str:
    raw = bytes([fmt]) + payload
    return base64.b64encode(raw + crc32c.crc32c(raw).to_bytes(4, "big")).decode()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "too short"),
        ("not base64!", "not valid base64"),
        ("a85hYGBgzGDKBVIcR4M2cgczH7HPYEpkzGNlsP/VfYYvCwA=", "unknown format"),  # a Riak vclock
        ("é", "non-ASCII"),
        ("A" * (vc.HEADER_CHARS_MAX + 4), "above"),
        (_framed(msgpack.packb([["a", 1, 5]]), fmt=2), "unknown format"),
        (_framed(msgpack.packb([["a", 1, 5]]))[:-4] + "AAA=", "checksum"),
        (_framed(b"\xc1"), "does not hold a vector clock"),  # 0xc1 is never used in msgpack
        (_framed(msgpack.packb([["a", 1, 5]]) + b"\x00"), "does not hold a vector clock"),
        (_framed(msgpack.packb({"a": 1})), "does not hold a vector clock"),
        (_framed(msgpack.packb("a")), "list of entries"),
        (_framed(msgpack.packb([["a", 1]])), "triple"),
        (_framed(msgpack.packb([[b"a", 1, 5]])), "bad actor"),
        (_framed(msgpack.packb([["a" * 256, 1, 5]])), "bad actor"),
        (_framed(msgpack.packb([["a", 0, 5]])), "bad counter"),
        (_framed(msgpack.packb([["a", True, 5]])), "bad counter"),
        (_framed(msgpack.packb([["a", 1.5, 5]])), "bad counter"),
        (_framed(msgpack.packb([["a", 1, -1]])), "bad timestamp"),
        (_framed(msgpack.packb([["a", 1, 2**64 - 1]])), "bad timestamp"),
        (_framed(msgpack.packb([["b", 1, 5], ["a", 1, 5]])), "canonical order"),
        (_framed(msgpack.packb([["a", 1, 5], ["a", 2, 5]])), "canonical order"),
        (_framed(msgpack.packb([msgpack.ExtType(5, b"x")])), "does not hold a vector clock"),
        (_framed(msgpack.packb([["a", 1, 5]] * (vc.ENTRIES_MAX + 1))), "does not hold a vector clock"),
    ],
)
def test_malformed_headers_are_rejected_with_a_reason(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VClock.decode(header)


def test_header_of_the_empty_clock_and_of_a_clock_at_the_entry_limit() -> None:
    assert VClock.decode(VClock().encode()) == VClock()
    widest = VClock.from_entries((f"{i:0255d}", vc.INT_MAX, vc.INT_MAX) for i in range(vc.ENTRIES_MAX))
    header = widest.encode()
    assert len(header) <= vc.HEADER_CHARS_MAX
    assert VClock.decode(header) == widest


# --- objects: put, delete, reconcile ----------------------------------------------------------------


def values(obj: StoredObject | None) -> list[bytes]:
    assert obj is not None
    return sorted(s.value for s in obj.siblings)


def test_a_put_with_the_read_context_replaces_what_it_saw() -> None:
    v1 = apply_put(None, None, NewContent(b"one", "text/plain", (("colour", "red"),)), "a", 1 * S, True)
    assert v1.clock.counters() == {"a": 1}
    (sib,) = v1.siblings
    assert (sib.value, sib.content_type, sib.last_modified_ns, sib.tombstone, sib.user_meta) == (
        b"one",
        "text/plain",
        1 * S,
        False,
        (("colour", "red"),),
    )
    v2 = apply_put(v1, v1.clock, NewContent(b"two"), "a", 2 * S, True)
    assert values(v2) == [b"two"]
    assert v2.clock.counters() == {"a": 2}
    assert v2.siblings[0].vtag != sib.vtag


def test_two_puts_with_the_same_context_become_siblings_and_the_merged_context_resolves_them() -> None:
    base = apply_put(None, None, NewContent(b"cart"), "a", 1 * S, True)
    # Two clients read `base` and write back through different coordinators.
    left = apply_put(base, base.clock, NewContent(b"cart+book"), "a", 2 * S, True)
    right = apply_put(base, base.clock, NewContent(b"cart+pen"), "b", 3 * S, True)
    assert concurrent(left.clock, right.clock)
    both = reconcile([left, right], allow_mult=True)
    assert values(both) == [b"cart+book", b"cart+pen"]
    assert both.clock == merge(left.clock, right.clock)
    # The same through one coordinator: the second put's context no longer descends.
    again = apply_put(left, base.clock, NewContent(b"cart+pen"), "a", 3 * S, True)
    assert values(again) == [b"cart+book", b"cart+pen"]
    # A client that read the siblings writes back their merge with the merged context.
    resolved = apply_put(both, both.clock, NewContent(b"cart+book+pen"), "b", 4 * S, True)
    assert values(resolved) == [b"cart+book+pen"]
    assert dominates(resolved.clock, left.clock) and dominates(resolved.clock, right.clock)
    assert values(reconcile([left, right, resolved], True)) == [b"cart+book+pen"]


def test_a_stale_context_from_the_same_coordinator_does_not_overwrite() -> None:
    """Riak's put_merge guard: incrementing a stale context for the same actor
    yields a clock equal in counters to the stored one; it must not replace it."""
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    v2 = apply_put(v1, v1.clock, NewContent(b"2"), "a", 2 * S, True)
    late = apply_put(v2, v1.clock, NewContent(b"late"), "a", 3 * S, True)
    assert values(late) == [b"2", b"late"]
    assert dominates(late.clock, v2.clock)


def test_a_blind_put_beside_a_stored_value_is_a_sibling() -> None:
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    blind = apply_put(v1, None, NewContent(b"blind"), "a", 2 * S, True)
    assert values(blind) == [b"1", b"blind"]
    assert dominates(blind.clock, v1.clock)


def test_a_put_with_a_context_ahead_of_the_local_copy_replaces_it() -> None:
    """The coordinator's copy is behind what the client read elsewhere."""
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    v2 = apply_put(v1, v1.clock, NewContent(b"2"), "b", 2 * S, True)
    v3 = apply_put(v1, v2.clock, NewContent(b"3"), "a", 3 * S, True)  # a still holds v1
    assert values(v3) == [b"3"]
    assert v3.clock.counters() == {"a": 2, "b": 1}


@settings(max_examples=100)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=8))
def test_lww_keeps_exactly_the_latest(stamps: list[int]) -> None:
    """Concurrent blind writes through several coordinators, reconciled in either
    order: with allow_mult=False exactly one survives, the latest by last-modified,
    ties broken the same way whatever the order."""
    copies = [
        apply_put(None, None, NewContent(b"w%d" % i), f"n{i}", t * S, False) for i, t in enumerate(stamps)
    ]
    forward = reconcile(copies, allow_mult=False)
    backward = reconcile(reversed(copies), allow_mult=False)
    assert forward == backward
    assert len(forward.siblings) == 1
    latest = max(stamps)
    assert forward.siblings[0].last_modified_ns == latest * S
    assert forward.siblings[0] in [
        c.siblings[0] for c in copies if c.siblings[0].last_modified_ns == latest * S
    ]
    siblings = reconcile(copies, allow_mult=True)
    # with allow_mult, copies with the same clock merge, the rest stay: nothing is dropped
    assert {s.vtag for s in siblings.siblings} == {c.siblings[0].vtag for c in copies}


def test_lww_put_replaces_even_a_blind_put_loses_to_nothing_later() -> None:
    v1 = apply_put(None, None, NewContent(b"1"), "a", 5 * S, False)
    blind = apply_put(v1, None, NewContent(b"2"), "b", 6 * S, False)
    assert values(blind) == [b"2"]
    # A coordinator whose clock is behind: its blind write loses to the later stored value.
    skewed = apply_put(v1, None, NewContent(b"skewed"), "c", 4 * S, False)
    assert values(skewed) == [b"1"]
    assert dominates(skewed.clock, v1.clock)


@given(st.lists(st.tuples(st.sampled_from(ACTORS), st.booleans()), min_size=1, max_size=6), st.randoms())
def test_reconcile_is_order_independent_and_idempotent(
    steps: list[tuple[str, bool]], rnd: random.Random
) -> None:
    copies = []
    for i, (actor, with_context) in enumerate(steps):
        base = copies[rnd.randrange(len(copies))] if copies else None
        context = base.clock if base is not None and with_context else None
        copies.append(apply_put(base, context, NewContent(b"%d" % i), actor, (i + 1) * S, True))
    merged = reconcile(copies, True)
    shuffled = list(copies)
    rnd.shuffle(shuffled)
    assert reconcile(shuffled, True) == merged
    assert reconcile([merged, merged], True) == merged
    assert reconcile([merged, *copies], True) == merged
    assert all(descends(merged.clock, c.clock) for c in copies)


def test_a_delete_leaves_a_tombstone_that_reconcile_keeps_over_older_values() -> None:
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    v2 = apply_put(v1, v1.clock, NewContent(b"2"), "b", 2 * S, True)
    gone = apply_delete(v2, v2.clock, "a", 3 * S, True)
    assert gone.deleted
    (tomb,) = gone.siblings
    assert tomb.tombstone and tomb.value == b"" and tomb.last_modified_ns == 3 * S
    assert dominates(gone.clock, v2.clock)
    for older in ([v1], [v2], [v1, v2], [None, v1]):
        for allow_mult in (True, False):
            kept = reconcile([*older, gone], allow_mult)
            assert kept == gone
            assert kept.deleted
    # A delete without context beside a value is a tombstone sibling, not a deletion.
    blind = apply_delete(v2, None, "c", 4 * S, True)
    assert not blind.deleted
    assert [s.tombstone for s in blind.siblings].count(True) == 1
    assert blind.live_siblings == v2.siblings
    # A write after the delete, with the delete's context, brings the key back.
    back = apply_put(gone, gone.clock, NewContent(b"3"), "a", 5 * S, True)
    assert not back.deleted and values(back) == [b"3"]


def test_the_sibling_limit() -> None:
    obj = None
    for i in range(SIBLINGS_MAX):
        obj = apply_put(obj, None, NewContent(b"%d" % i), "a", (i + 1) * S, True)
    assert len(obj.siblings) == SIBLINGS_MAX
    with pytest.raises(TooManySiblings, match=r"\(101, at most 100\)"):
        apply_put(obj, None, NewContent(b"one too many"), "a", 10**4 * S, True)
    # Resolving is still possible, and so is a write under last-write-wins.
    assert len(apply_put(obj, obj.clock, NewContent(b"resolved"), "a", 10**4 * S, True).siblings) == 1
    assert len(apply_put(obj, None, NewContent(b"lww"), "a", 10**4 * S, False).siblings) == 1


# --- read repair ------------------------------------------------------------------------------------


def test_read_repair_finds_the_stale_and_missing_replicas() -> None:
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    v2 = apply_put(v1, v1.clock, NewContent(b"2"), "a", 2 * S, True)
    plan = plan_read_repair({"n1": v2, "n2": v1, "n3": None}, allow_mult=True)
    assert plan.result == v2
    assert plan.missing == {"n3"}
    assert plan.stale == {"n2"}
    assert plan.needs_repair == {"n2", "n3"}
    fresh = plan_read_repair({"n1": v2, "n2": v2}, allow_mult=True)
    assert fresh.result == v2 and not fresh.needs_repair


def test_read_repair_of_concurrent_replicas_repairs_both() -> None:
    base = apply_put(None, None, NewContent(b"0"), "a", 1 * S, True)
    left = apply_put(base, base.clock, NewContent(b"L"), "a", 2 * S, True)
    right = apply_put(base, base.clock, NewContent(b"R"), "b", 3 * S, True)
    for allow_mult, expected in ((True, [b"L", b"R"]), (False, [b"R"])):
        plan = plan_read_repair({1: left, 2: right, 3: base}, allow_mult)
        assert values(plan.result) == expected
        assert plan.result.clock == merge(left.clock, right.clock)
        assert plan.stale == {1, 2, 3} and plan.missing == frozenset()


def test_read_repair_spreads_tombstones_and_nothing_when_all_are_missing() -> None:
    v1 = apply_put(None, None, NewContent(b"1"), "a", 1 * S, True)
    gone = apply_delete(v1, v1.clock, "a", 2 * S, True)
    plan = plan_read_repair({"n1": gone, "n2": v1, "n3": None}, True)
    assert plan.result == gone and plan.result.deleted
    assert plan.stale == {"n2"} and plan.missing == {"n3"}
    empty = plan_read_repair({"n1": None, "n2": None}, True)
    assert empty.result is None and not empty.needs_repair


# --- storage encoding -------------------------------------------------------------------------------

siblings_strategy = st.builds(
    Sibling,
    value=st.binary(max_size=40),
    content_type=st.sampled_from(
        ["application/octet-stream", "text/plain; charset=utf-8", "application/json"]
    ),
    last_modified_ns=st.integers(0, vc.INT_MAX),
    vtag=st.text(min_size=1, max_size=22),
    tombstone=st.booleans(),
    user_meta=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=3).map(tuple),
)
objects_strategy = st.builds(
    lambda c, sibs: StoredObject(c, tuple(sorted({s.vtag: s for s in sibs}.values(), key=lambda s: s.vtag))),
    wide_clocks,
    st.lists(siblings_strategy, min_size=1, max_size=5),
)


@given(objects_strategy)
def test_storage_encoding_round_trips(obj: StoredObject) -> None:
    assert decode_object(encode_object(obj)) == obj


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgpack.packb([2, [], []]),
        msgpack.packb([1, [], []]),
        msgpack.packb([1, [["a", 1]], []]),
        msgpack.packb("hello"),
        msgpack.packb([1, [], [[b"v", "t", 1, "x", False]]]),
    ],
)
def test_storage_decoding_rejects_what_is_not_an_object(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_object(data)
