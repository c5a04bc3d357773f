"""Storage nodes on LMDB (storage/lmdb_engine.py): data and journal positions committed together.

A node on LMDB resumes from the positions committed with its data: nothing is
loaded at a start, every version it held is still there (reads below the last
commit are served, where a node loaded from a checkpoint refuses them), what
was applied but not committed when it stopped is replayed from the journals,
a checkpoint from the in-memory engine moves into LMDB once, and split halves
and dropped ranges survive a restart. The slow test loads two million rows
into one node, restarts it and checks the rows and the watermark.
"""

from __future__ import annotations

import os
import time

import pytest
import trio

from adjudicator.client import AdjudicatorClient
from assembly.embedded import ClusterConfig, EmbeddedCluster
from assembly.placement import PlacementDriver
from cluster.topology import Topology
from journal.interface import CommitRecord
from storage import keys
from storage import node as storage_node
from storage.interface import Get, SplitPoint, Status
from storage.lmdb_engine import ENGINE_DIR
from storage.lmdb_store import LmdbVersionStore
from storage.placement import shard_map
from tests.test_kernel import commit, sql_key


def _config(data_dir: str, **kwargs) -> ClusterConfig:
    return ClusterConfig(data_dir=data_dir, **kwargs)


async def _start(nursery, config: ClusterConfig) -> EmbeddedCluster:
    return await nursery.start(EmbeddedCluster(config).run)


async def test_a_restart_resumes_from_the_committed_positions_and_keeps_all_history(tmp_path) -> None:
    config = _config(str(tmp_path))
    key = sql_key(16385, 1)
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        assert all(isinstance(s, LmdbVersionStore) for n in cluster.storage_nodes for s in n.shards if s)
        tau_one = await commit(cluster, cluster.clock.latest(), [(key, ("one",))])
        tau_two = await commit(cluster, cluster.clock.latest(), [(key, ("two",))])
        await cluster.clock.wait_until_past(tau_two)
        for node in cluster.storage_nodes:
            assert list((await node.rpc_get(Get((key,), tau_two))).values) == [("two",)]
        await cluster.checkpoint()  # on LMDB: a commit, and the journals are told
        committed = [list(node.applied) for node in cluster.storage_nodes]
        nursery.cancel_scope.cancel()
    cluster = EmbeddedCluster(config)
    try:
        # Before running anything: the positions and the data are there already.
        assert [list(node.applied) for node in cluster.storage_nodes] == committed
        assert all(node.restored and node.applied_tau >= tau_two for node in cluster.storage_nodes)
    finally:
        cluster.close()
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        node = cluster.storage_nodes[0]
        # Every version is still held: a read below the last commit is served (a node
        # loaded from a checkpoint has only the newest versions and refuses it).
        assert list((await node.rpc_get(Get((key,), tau_one))).values) == [("one",)]
        assert list((await node.rpc_get(Get((key,), tau_two))).values) == [("two",)]
        nursery.cancel_scope.cancel()
    assert not [n for _, _, names in os.walk(tmp_path) for n in names if n.startswith("checkpoint")]


async def test_what_was_applied_but_not_committed_is_replayed_after_a_stop(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(storage_node, "COMMIT_INTERVAL_S", 3600.0)  # nothing commits on its own
    config = _config(str(tmp_path))
    rows = [(sql_key(16385, i), (i, "first")) for i in range(50)]
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        await commit(cluster, cluster.clock.latest(), rows)
        await cluster.checkpoint()
        later = [(k, (i, "second")) for k, (i, _) in rows[:10]]
        tau = await commit(cluster, cluster.clock.latest(), later)
        await cluster.clock.wait_until_past(tau)
        for node in cluster.storage_nodes:  # applied, in the open transaction only
            assert list((await node.rpc_get(Get((later[0][0],), tau))).values) == [(0, "second")]
            assert node.applied != node._committed
        nursery.cancel_scope.cancel()  # a stop with no commit: the transaction is aborted
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        expected = [(i, "second" if i < 10 else "first") for i in range(50)]
        assert await cluster.storage_client().get([k for k, _ in rows], cluster.clock.latest(), None) == expected
        nursery.cancel_scope.cancel()


async def test_a_checkpoint_of_the_memory_engine_moves_into_lmdb_once(tmp_path) -> None:
    data_dir = str(tmp_path)
    rows = [(sql_key(16385 + i % 3, i), (i,)) for i in range(120)]
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, _config(data_dir, storage_engine="checkpoints"))
        await commit(cluster, cluster.clock.latest(), rows)
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    checkpoints = [os.path.join(r, n) for r, _, names in os.walk(data_dir) for n in names if n == "checkpoint.msgpack"]
    assert len(checkpoints) == 2  # one per storage node
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, _config(data_dir))
        assert await cluster.storage_client().get([k for k, _ in rows], cluster.clock.latest(), None) == [
            v for _, v in rows
        ]
        nursery.cancel_scope.cancel()
    assert not any(os.path.exists(path) for path in checkpoints)
    cluster = EmbeddedCluster(_config(data_dir))
    try:
        assert all(node.restored for node in cluster.storage_nodes)
        assert sum(len(s) for s in cluster.storage_nodes[0]._stores()) == len(rows)
    finally:
        cluster.close()


@pytest.mark.parametrize("cuts_recorded", [True, False], ids=["cuts-recorded", "state-without-cuts"])
async def test_split_halves_keep_sharing_their_store_through_a_restart(nursery, tmp_path, monkeypatch,
                                                                       cuts_recorded) -> None:
    if not cuts_recorded:
        # State written before the halves' counts were recorded: a start counts them once.
        engine_state = storage_node.StorageNode._engine_state
        monkeypatch.setattr(storage_node.StorageNode, "_engine_state",
                            lambda self: {k: v for k, v in engine_state(self).items() if k != "cuts"})
    config = _config(str(tmp_path))
    prefix = keys.table_prefix(keys.table_key_id_for(16391), 1)
    rows = {prefix + i.to_bytes(4, "big"): (i,) for i in range(120)}
    async with trio.open_nursery() as first:
        cluster = await first.start(EmbeddedCluster(config).run)
        adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
        items = list(rows.items())
        tau = await adjudicators.commit(cluster.clock.now().latest, CommitRecord(items).encode(), [items[0][0]])
        await cluster.clock.wait_until_past(tau)
        driver = PlacementDriver(cluster.topology, cluster.transport, cluster.clock, adjudicators=adjudicators)
        with trio.fail_after(10):
            while not await driver.split_large(100):
                await trio.sleep(0.01)
            placement, _ = await driver.current()
            for node in cluster.storage_nodes:
                while (await node.rpc_status(Status())).splits != placement.splits:
                    await trio.sleep(0.01)
        node = cluster.storage_nodes[0]
        lower = shard_map(placement).owner(prefix)
        store = node.shards[lower]
        bounds = [shard_map(placement).bounds(lower + i) for i in range(2)]
        halves = (await node.rpc_status(Status())).shard_keys
        # Each half's size is kept, not walked, and it is the true count of its range.
        assert halves[lower:lower + 2] == tuple(store.count_range(*b) for b in bounds)
        assert sum(halves[lower:lower + 2]) == len(rows)
        # Keys that come (and go) later are counted in their own half.
        upper_keys = [k for k in rows if k >= bounds[1][0]]
        more = [(k + b"+", (0,)) for k in upper_keys[:7]] + [(upper_keys[-1], None)]
        tau = await adjudicators.commit(cluster.clock.now().latest, CommitRecord(more).encode(), [more[0][0]])
        await cluster.clock.wait_until_past(tau)
        with trio.fail_after(10):
            while node.applied_tau < tau:
                await trio.sleep(0.01)
        halves = (await node.rpc_status(Status())).shard_keys
        assert halves[lower:lower + 2] == tuple(store.count_range(*b) for b in bounds)
        assert halves[lower + 1] == len(upper_keys) + 7  # the deletion keeps its key until collected
        await cluster.checkpoint()
        first.cancel_scope.cancel()
    cluster = await nursery.start(EmbeddedCluster(config).run)
    node = cluster.storage_nodes[0]
    status = await node.rpc_status(Status())
    assert status.splits == placement.splits and status.shard_keys == halves
    assert node.shards[lower] is node.shards[lower + 1], "the state names one database for both halves"
    tau = cluster.clock.now().latest
    expected = {**rows, **dict(more)}
    assert await cluster.storage_client().get(list(expected), tau) == list(expected.values())


async def _committed_and_applied(cluster: EmbeddedCluster, node, writes) -> None:
    tau = await commit(cluster, cluster.clock.latest(), writes)
    with trio.fail_after(10):
        while node.applied_tau < tau:
            await trio.sleep(0.01)


async def test_a_split_point_skips_to_the_middle_and_walks_where_skipping_cannot_tell(nursery, tmp_path,
                                                                                     monkeypatch) -> None:
    """On LMDB the split point skips version entries without decoding them: with one version a
    key that is the middle key a walk finds; with more it is a stored key inside the range at or
    below the middle; and where it would land on the range's first key or on a long key's bucket,
    the key-by-key walk answers as before."""
    monkeypatch.setattr(storage_node, "SKIP_ENTRIES", 7)  # several pieces, and a remainder
    cluster = await _start(nursery, _config(str(tmp_path)))
    node = cluster.storage_nodes[0]
    prefix = keys.table_prefix(keys.table_key_id_for(16392), 1)
    rows = [(prefix + keys.encode_int(i), (i,)) for i in range(101)]
    await _committed_and_applied(cluster, node, rows)
    shard = node.ranges.owner(prefix)
    start, end = node.ranges.bounds(shard)
    store = node.shards[shard]

    def stored() -> list[bytes]:
        return store._keys_in(start, end, 1 << 20)

    async def split_point() -> bytes | None:
        return (await node.rpc_split_point(SplitPoint(start, end))).key

    assert (await split_point()) == stored()[len(stored()) // 2]
    # Ten more versions of each of the first 20 keys: below the middle, still a key inside.
    for round_ in range(10):
        await _committed_and_applied(cluster, node, [(k, (round_,)) for k, _ in rows[:20]])
    key = await split_point()
    assert key in stored() and start < key <= stored()[len(stored()) // 2]
    assert key < rows[20][0]  # the 200 newer versions moved it down
    # Versions piled on the range's first key: the skip lands on it, so the walk answers.
    first = stored()[0]
    for round_ in range(len(stored())):
        await _committed_and_applied(cluster, node, [(first, (round_,))])
    assert (await split_point()) == stored()[len(stored()) // 2]


async def test_a_split_point_among_long_keys_is_walked(nursery, tmp_path) -> None:
    """Long keys live in buckets, whose entries the skip does not decode: the walk answers."""
    cluster = await _start(nursery, _config(str(tmp_path)))
    node = cluster.storage_nodes[0]
    prefix = keys.table_prefix(keys.table_key_id_for(16393), 1)
    rows = [(prefix + bytes([i]) * 500, (i,)) for i in range(1, 200)]
    await _committed_and_applied(cluster, node, rows)
    shard = node.ranges.owner(prefix)
    start, end = node.ranges.bounds(shard)
    store = node.shards[shard]
    stored = store._keys_in(start, end, 1 << 20)
    assert store.entry_past(None, start, len(stored) // 2)[1] is None  # a bucket's entry
    assert (await node.rpc_split_point(SplitPoint(start, end))).key == stored[len(stored) // 2]


async def test_a_dropped_range_is_reclaimed_on_lmdb_and_stays_gone_after_a_restart(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    monkeypatch.setattr(storage_node, "SWEEP_KEYS", 5)
    monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
    config = _config(str(tmp_path))
    doomed_id = keys.table_key_id_for(16390)
    doomed = [keys.table_prefix(doomed_id, 1) + keys.encode_int(i) for i in range(40)]
    kept = [sql_key(16385, i) for i in range(10)]
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        await commit(cluster, cluster.clock.latest(), [(k, (1,)) for k in doomed + kept])
        adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
        payload = CommitRecord([(kept[0], (2,))], dropped_ranges=[keys.table_range(doomed_id)]).encode()
        tau = await adjudicators.commit(cluster.clock.latest(), payload, (kept[0],))
        await cluster.clock.wait_until_past(tau)
        with trio.fail_after(20):
            while any(sum(len(s) for s in node._stores()) != len(kept) or node.dropped_ranges
                      for node in cluster.storage_nodes):
                await trio.sleep(0.05)
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    cluster = EmbeddedCluster(config)
    try:
        for node in cluster.storage_nodes:
            assert sum(len(s) for s in node._stores()) == len(kept) and not node.dropped_ranges
            assert sum(s.count_range() for s in node._stores()) == len(kept)  # the kept count is the true one
    finally:
        cluster.close()


@pytest.mark.parametrize("engine", ["lmdb", "checkpoints"])
async def test_old_versions_of_updated_rows_are_collected_without_walking_every_key(tmp_path, monkeypatch,
                                                                                    engine) -> None:
    """Rows written twice and deleted: once the horizon passes, each node collects the
    older versions and the deletions from the keys its stores queued as they applied
    them (storage/garbage.py); no full sweep of the stores runs."""
    from storage.lmdb_store import LmdbVersionStore
    from storage.mvcc import VersionStore

    def no_sweep(*args) -> None:
        raise AssertionError("a full sweep ran")

    for store_class in (LmdbVersionStore, VersionStore):
        monkeypatch.setattr(store_class, "collect_some", no_sweep)
    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    monkeypatch.setattr(storage_node, "SWEEP_KEYS", 3)
    rows = [sql_key(16385, i) for i in range(20)]
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, _config(str(tmp_path), storage_engine=engine))
        await commit(cluster, cluster.clock.latest(), [(k, (1,)) for k in rows])
        await commit(cluster, cluster.clock.latest(), [(k, (2,)) for k in rows])
        await commit(cluster, cluster.clock.latest(), [(k, None) for k in rows[:5]])
        stores = [store for node in cluster.storage_nodes for store in node._stores()]
        with trio.fail_after(20):  # storage applies the journal asynchronously
            while sum(store.version_count for store in stores) != (2 * 20 + 5) * len(cluster.storage_nodes):
                await trio.sleep(0.01)
        await trio.sleep(0.2)
        assert sum(store.version_count for store in stores) == (2 * 20 + 5) * len(cluster.storage_nodes), \
            "retention still covers them"
        monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
        with trio.fail_after(20):
            while sum(store.version_count for store in stores) != 15 * len(cluster.storage_nodes):
                await trio.sleep(0.05)
        tau = cluster.clock.latest()
        assert await cluster.storage_client().get(rows, tau) == [None] * 5 + [(2,)] * 15
        nursery.cancel_scope.cancel()


async def test_a_restarted_node_sweeps_once_what_it_held_before(tmp_path, monkeypatch) -> None:
    """Versions left behind before a restart are in no queue: the node owes them one full
    sweep, which runs once the horizon has passed what it had applied, and then no more.
    (A node restored from a checkpoint holds one version a key: nothing to find.)"""
    from storage.lmdb_store import LmdbVersionStore
    from storage.mvcc import VersionStore

    sweeps = []
    for store_class in (LmdbVersionStore, VersionStore):
        def counted(self, after, count, sweep=store_class.collect_some):
            sweeps.append(self)
            return sweep(self, after, count)

        monkeypatch.setattr(store_class, "collect_some", counted)
    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    config = _config(str(tmp_path))
    rows = [sql_key(16385, i) for i in range(20)]
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        await commit(cluster, cluster.clock.latest(), [(k, (1,)) for k in rows])
        await commit(cluster, cluster.clock.latest(), [(k, (2,)) for k in rows])
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        stores = [store for node in cluster.storage_nodes for store in node._stores()]
        with trio.fail_after(20):
            while sum(store.version_count for store in stores) != 20 * len(cluster.storage_nodes):
                await trio.sleep(0.05)
        swept = len(sweeps)
        await trio.sleep(0.3)  # several GC passes more
        assert swept > 0 and len(sweeps) == swept, "one sweep of what each store held, then none"
        assert await cluster.storage_client().get(rows, cluster.clock.latest()) == [(2,)] * 20
        nursery.cancel_scope.cancel()


@pytest.mark.slow
async def test_two_million_rows_in_one_node_restart_without_loading(tmp_path) -> None:
    """Load 2,000,000 rows into a storage node, stop it, start it again: it resumes at
    once from its committed positions (nothing is loaded), answers for every row,
    and its watermark goes on from where it was."""
    topology = Topology(storage_node_count=1)
    config = _config(str(tmp_path), topology=topology)
    table = keys.table_key_id_for(16400)
    total, per_commit = 2_000_000, 5_000

    def key(i: int) -> bytes:
        return keys.table_prefix(table, 1) + keys.encode_int(i)

    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
        last_tau = 0
        for start in range(0, total, per_commit):
            rows = [(key(i), (i, f"row {i}")) for i in range(start, start + per_commit)]
            payload = CommitRecord(rows).encode()
            last_tau = await adjudicators.commit(cluster.clock.latest(), payload, (rows[0][0],))
        node = cluster.storage_nodes[0]
        with trio.fail_after(300):
            while node.applied_tau < last_tau:
                await trio.sleep(0.1)
        assert sum(len(s) for s in node._stores()) == total
        watermark = node.watermark
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        cluster = await _start(nursery, config)
        node = cluster.storage_nodes[0]
        assert node.restored and node.applied_tau >= last_tau
        client = cluster.storage_client()
        probe = [*range(0, total, 9_973), total - 1]
        got = await client.get([key(i) for i in probe], cluster.clock.latest(), None)
        first_answer_s = time.monotonic() - started
        assert got == [(i, f"row {i}") for i in probe]
        assert node.watermark >= watermark
        assert sum(len(s) for s in node._stores()) == total
        # Every row, a page at a time, as of now.
        seen = 0
        async for page in client.scan(keys.NS_SQL, None, cluster.clock.latest(), None):
            seen += sum(1 for k, _ in page if k.startswith(keys.table_prefix(table, 1)))
        assert seen == total
        print(f"restart to first answered read: {first_answer_s:.2f} s; "
              f"store {cluster.storage_nodes[0].engine.disk_bytes() / 1e6:.0f} MB")  # type: ignore[union-attr]
        nursery.cancel_scope.cancel()
    assert os.path.isdir(tmp_path / "storage-0" / ENGINE_DIR)
