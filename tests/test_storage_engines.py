"""The storage engines' conformance suite: every engine behind VersionStore's interface
answers exactly as the in-memory one does (storage/mvcc.py, storage/lmdb_store.py).

Hypothesis drives both through the same random histories — versions applied,
GC horizons raised and swept in pieces, ranges dropped — and then asks both
every kind of question a storage node asks: as-of reads, newer-than checks,
paged scans in both directions with filters, checkpoint and copy pages, range
counts and split points. The LMDB store must also survive being closed and
opened again, and a failed batch must leave nothing behind.
"""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cluster import codec
from storage.lmdb_engine import LmdbEngine
from storage.lmdb_store import LmdbVersionStore, decode_key, encode_key, open_environment
from storage.mvcc import VersionStore, keep_where_true
from tests.test_storage import _paged

# Keys whose escaped form passes 400 bytes live in buckets (storage/lmdb_store.py): long keys
# around a bucket's boundaries, short keys equal to and just past its prefix, and a prefix cut
# before an escaped 0x00.
_A398, _A399 = b"a" * 398, b"a" * 399
KEYS = [b"k", b"k\x00", b"k\x00\x00", b"k\x00\x01", b"k\x01", b"ka", b"kab", b"k\xff", b"kb\x00z", b"kz",
        b"k" + _A398, b"k" + _A399, b"k" + _A398 + b"b", b"k" + _A399 + b"\x00", b"k" + _A399 + b"\x01",
        b"k" + _A399 + b"b" * 600, b"k" + _A398 + b"\x00", b"k" + _A398 + b"\x00\x00z", b"k" + _A399 + b"\x00"
        + b"\x00" * 300]

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.integers(0, len(KEYS) - 1), st.one_of(st.none(), st.integers(0, 9))),
        st.tuples(st.just("horizon"), st.integers(0, 40), st.integers(1, 4)),
        st.tuples(st.just("drop"), st.integers(0, len(KEYS) - 1), st.integers(0, len(KEYS) - 1)),
        st.tuples(st.just("commit")),
        st.tuples(st.just("raise"), st.integers(0, 40)),  # the horizon moves; no sweep (applies collect)
    ),
    max_size=60,
)


@pytest.fixture(scope="module")
def engine():
    """A storage node's engine: its stores write through one transaction it commits."""
    with tempfile.TemporaryDirectory(prefix="dsql-lmdb-engine-") as path:
        engine = LmdbEngine(path, map_size=1 << 30)
        yield engine
        engine.close()


@pytest.fixture(scope="module")
def environment():
    with tempfile.TemporaryDirectory(prefix="dsql-lmdb-") as path:
        env = open_environment(path, map_size=1 << 30, sync=False)
        yield env
        env.close()


_names = iter(range(1 << 30))


def _run(ops, stores, engine=None) -> None:
    tau = 0
    for op in ops:
        if op[0] == "commit":
            if engine is not None:
                engine.commit({})
        elif op[0] == "raise":
            for store in stores:
                store.gc_horizon = max(store.gc_horizon, min(op[1], tau))
        elif op[0] == "apply":
            tau += 1
            value = None if op[2] is None else (op[1], op[2])
            for i, store in enumerate(stores):
                # The first store takes decoded values; the others take every second
                # one (the last store: every one) as a journal record carries it.
                if i and (tau % 2 == 0 or i == len(stores) - 1):
                    store.apply_encoded(KEYS[op[1]], tau, codec.encode(value))
                else:
                    store.apply(KEYS[op[1]], tau, value)
        elif op[0] == "horizon":
            for store in stores:
                store.gc_horizon = max(store.gc_horizon, min(op[1], tau))
                after = None
                while (after := store.collect_some(after, op[2])) is not None:
                    pass
        else:
            lo, hi = sorted((KEYS[op[1]], KEYS[op[2]]))
            for store in stores:
                while not store.drop_range(lo, hi, 2):
                    pass


def _pages(read, count: int) -> list:
    out, after = [], None
    while True:
        items, after = read(after, count)
        out.append(items)
        if after is None:
            return out


def _answers(store, taus: list[int], piece: int) -> dict:
    keep = keep_where_true(("cmp", ">=", 1, 4))
    out: dict = {"len": len(store), "count": store.count_range(b"k\x00", b"kb"), "middle": store.middle_key()}
    for tau in taus:
        out[f"get{tau}"] = [store.get(k, tau) for k in KEYS]
        out[f"newer{tau}"] = [store.newer_than(k, tau) for k in KEYS]
        for reverse in (False, True):
            newer: list[bytes] = []
            out[f"scan{tau}{reverse}"] = store.scan(b"k", b"l", tau, reverse=reverse, newer=newer)
            out[f"newer-list{tau}{reverse}"] = newer
            out[f"paged{tau}{reverse}"] = _paged(
                store, tau, limit=piece, examine=piece + 1, reverse=reverse, keep=keep
            )
            # One page as a node serves it, resume key included: bounded by the keys
            # examined (the filter rejects most rows) or by the rows returned.
            for limit, examine in ((piece + 1, piece), (piece, piece + 1)):
                out[f"page{tau}{reverse}{limit}"] = store.scan(
                    b"k", b"l", tau, limit=limit, examine=examine, reverse=reverse, keep=keep
                )
        out[f"items{tau}"] = _pages(lambda after, n, t=tau: store.items_as_of(t, after, n), piece)
        out[f"chains{tau}"] = _pages(
            lambda after, n, t=tau: store.chains_as_of(t, after, n, b"k\x00", b"kz"), piece
        )
    out["latest"] = list(store.latest_items())
    return out


@settings(max_examples=120, deadline=None)
@given(_ops, st.lists(st.integers(0, 60), min_size=1, max_size=3), st.integers(1, 4))
@example([("apply", 0, 1), ("apply", 0, None), ("horizon", 5, 1)], [1], 1)  # a deletion past the horizon goes
@example(
    [("apply", 2, 1), ("apply", 2, 3), ("apply", 2, 4), ("horizon", 2, 2)], [1, 3], 2
)  # older versions go
@example(
    [("apply", 9, 1), ("apply", 9, 2), ("apply", 9, 3), ("raise", 2), ("apply", 9, 4)], [4], 1
)  # an apply collects what the raised horizon left behind, on the last key too
def test_lmdb_answers_as_the_memory_store_does(environment, engine, ops, taus, piece) -> None:
    memory = VersionStore()
    lmdb_store = LmdbVersionStore(environment, b"s%d" % next(_names))
    node_store = engine.new_store()  # as a storage node's: through the engine's transaction and cursor
    memory_encoded = VersionStore()
    _run(ops, [memory, lmdb_store, node_store, memory_encoded], engine)
    expected = _answers(memory, taus, piece)
    assert _answers(memory_encoded, taus, piece) == expected
    assert _answers(lmdb_store, taus, piece) == expected
    assert _answers(node_store, taus, piece) == expected
    assert lmdb_store.version_count == node_store.version_count == memory.version_count
    engine.commit({})
    reopened = engine.open_store(node_store.name, key_count=node_store.key_count,
                                 bucket_extra=node_store.bucket_extra)
    assert _answers(reopened, taus, piece) == expected
    recounted = engine.open_store(node_store.name)  # counted by walking: the same figures
    assert (recounted.key_count, recounted.version_count) == (len(memory), memory.version_count)


def test_every_key_at_once_long_ones_in_their_buckets(environment, engine) -> None:
    """Every key of KEYS, with versions, deletions and a raised horizon: both LMDB stores
    answer as the memory store (order across buckets and the keys beside them)."""
    ops = [("apply", i, i % 7) for i in range(len(KEYS))]
    ops += [("apply", i, None if i % 3 == 0 else 9) for i in range(len(KEYS)) if i % 2 == 0]
    ops += [("raise", len(KEYS) + 3), *[("apply", i, 5) for i in range(0, len(KEYS), 3)], ("commit",)]
    ops += [*[("apply", i, 6) for i in range(1, len(KEYS), 2)], ("horizon", 2 * len(KEYS) + 10, 1)]
    memory = VersionStore()
    lmdb_store = LmdbVersionStore(environment, b"s%d" % next(_names))
    node_store = engine.new_store()
    _run(ops, [memory, lmdb_store, node_store], engine)
    taus = [1, len(KEYS), 2 * len(KEYS), 100]
    for piece in (1, 3):
        expected = _answers(memory, taus, piece)
        assert _answers(lmdb_store, taus, piece) == expected
        assert _answers(node_store, taus, piece) == expected
    assert lmdb_store.version_count == node_store.version_count == memory.version_count


@given(st.binary(max_size=12), st.binary(max_size=12))
def test_encoded_keys_keep_byte_order_and_decode(a, b) -> None:
    assert decode_key(encode_key(a)) == a
    assert (encode_key(a) < encode_key(b)) == (a < b)
    # No key's entries can fall among another's: an encoded key is never a prefix of another.
    if a != b:
        assert not encode_key(b).startswith(encode_key(a))


def test_versions_outlive_closing_the_environment(tmp_path) -> None:
    env = open_environment(str(tmp_path), map_size=1 << 28)
    store = LmdbVersionStore(env, b"shard")
    with store.batch():
        for i in range(100):
            store.apply(b"k%03d" % i, 10 + i, (i, "row"))
        store.apply(b"k005", 500, None)
    env.close()
    env = open_environment(str(tmp_path), map_size=1 << 28)
    store = LmdbVersionStore(env, b"shard")
    assert store.get(b"k007", 1000) == (7, "row")
    assert store.get(b"k005", 499) == (5, "row") and store.get(b"k005", 500) is None
    assert store.get(b"k050", 59) is None  # written at τ 60
    assert store.count_range() == 100 and store.version_count == 101
    env.close()


def test_a_failed_batch_leaves_nothing(tmp_path) -> None:
    env = open_environment(str(tmp_path), map_size=1 << 28)
    store = LmdbVersionStore(env, b"shard")
    store.apply(b"kept", 1, ("v",))
    with pytest.raises(RuntimeError), store.batch():
        store.apply(b"lost", 2, ("w",))
        assert store.get(b"lost", 2) == ("w",)  # the batch reads its own writes
        raise RuntimeError("the journal record could not be applied")
    assert store.get(b"lost", 5) is None and store.get(b"kept", 5) == ("v",)
    env.close()


# -- collection by the garbage queue (storage/garbage.py) --------------------------------------------

_gc_ops = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.integers(0, len(KEYS) - 1), st.one_of(st.none(), st.integers(0, 9))),
        st.tuples(st.just("collect"), st.integers(0, 40), st.integers(1, 4)),
    ),
    max_size=60,
)


def _collect_as_a_node_does(store, horizon: int, piece: int) -> None:
    """storage/node.py's GC pass for one store: the queued keys, then a sweep if one is owed."""
    garbage = store.garbage
    store.gc_horizon = horizon
    while keys := garbage.ready(horizon, piece):
        store.collect_keys(keys)
    if garbage.sweep_due(horizon):
        garbage.sweep_started(horizon)
        after = None
        while (after := store.collect_some(after, piece)) is not None:
            pass


def _run_gc(ops, queued, swept) -> None:
    """The same writes on both; `queued` collects as a node does, `swept` by a full sweep each time."""
    tau = 0
    for op in ops:
        if op[0] == "apply":
            tau += 1
            value = None if op[2] is None else (op[1], op[2])
            for store in (queued, swept):
                store.apply(KEYS[op[1]], tau, value)
        else:
            horizon = max(queued.gc_horizon, min(op[1], tau))
            _collect_as_a_node_does(queued, horizon, op[2])
            swept.gc_horizon = horizon
            swept.collect_all()


@settings(max_examples=150, deadline=None)
@given(_gc_ops, st.sampled_from([2, 1000]), st.lists(st.integers(0, 60), min_size=1, max_size=2))
@example([("apply", 3, 1), ("apply", 3, 2), ("collect", 2, 1)], 1000, [2])  # the older version goes
@example([("apply", 3, 1), ("apply", 3, None), ("collect", 2, 1)], 1000, [2])  # and a deletion, whole
@example([("apply", 1, 1), ("apply", 2, 1), ("apply", 1, 2), ("apply", 2, 2), ("apply", 1, 3),
          ("collect", 5, 1)], 2, [5])  # past the queue's bound: owed to a sweep
@example([("apply", 1, 1), ("apply", 1, 2), ("apply", 1, 3), ("apply", 1, 4), ("apply", 2, 1), ("apply", 2, 2),
          ("collect", 5, 1), ("collect", 6, 1)], 2, [6])  # a sweep at 5 leaves what was owed at 6 owed
def test_the_garbage_queue_collects_what_a_full_sweep_does(engine, ops, bound, taus) -> None:
    """Whatever the writes, collecting the keys a store queued as it applied them (and
    sweeping only what the queue could not hold) leaves each engine exactly as a full
    sweep of every key at the same horizons does."""
    from unittest import mock

    from storage import garbage

    with mock.patch.object(garbage, "QUEUE_MAX", bound):
        for make in (VersionStore, engine.new_store):  # on LMDB as a node's: through the engine's cursor
            queued, swept = make(), make()
            _run_gc(ops, queued, swept)
            assert _answers(queued, taus, 2) == _answers(swept, taus, 2)
            assert queued.version_count == swept.version_count
            if bound > len(ops):
                assert not queued.garbage.sweep_due(1 << 62), "nothing was owed: no sweep"


def test_a_reopened_store_owes_one_sweep_of_what_it_held(engine) -> None:
    """The queue starts empty when a store is opened again: its old garbage is owed to a
    sweep as of what the node had applied, and once that sweep ran nothing more is owed."""
    store = engine.new_store()
    for tau, value in enumerate([(1,), (2,), (3,)], start=1):
        store.apply(KEYS[4], tau, value)
    engine.commit({})
    reopened = engine.open_store(store.name, key_count=store.key_count, bucket_extra=store.bucket_extra)
    assert reopened.garbage.untracked and len(reopened.garbage) == 0
    reopened.garbage.untracked = False
    reopened.garbage.owe(3)  # as the node does: everything it applied is at or below τ 3
    _collect_as_a_node_does(reopened, 2, 1)
    assert reopened.version_count == 3, "the sweep waits for the horizon to pass all it owes"
    assert reopened.garbage.sweep_due(3)
    _collect_as_a_node_does(reopened, 3, 1)
    assert reopened.version_count == 1 and reopened.get(KEYS[4], 3) == (3,)
    assert not reopened.garbage.sweep_due(1 << 62)
    assert not engine.new_store().garbage.untracked, "a new, empty store owes nothing"


def test_a_node_shares_its_queue_room_among_its_stores() -> None:
    """The queues of one node hold at most the node's total (a pass's writes aside), however
    many stores it has, and a store that keeps being written gets most of it."""
    from storage.garbage import GarbageQueue, share_room

    queues = [GarbageQueue() for _ in range(4)]
    tau = 0
    for _ in range(12):  # GC passes, with writes to the first store only in between
        share_room(queues, total=100)
        for _ in range(60):
            tau += 1
            queues[0].add(tau, b"k%d" % tau)
        assert sum(len(q) for q in queues) <= 100
    assert len(queues[0]) > 90 and queues[0].sweep_due(tau), "past its share: owed to a sweep"
    assert all(len(q) == 0 for q in queues[1:])
    share_room(queues, total=100)
    assert sum(q.limit for q in queues) <= 100
