"""Shard replicas that move while the cluster serves (storage/placement.py, assembly/placement.py).

- The planning functions: a drain empties a node and never puts two replicas
  of a shard on one node; a spread gives a new node its share; a change that
  would leave a shard without a replica is refused.
- On a real embedded cluster (three storage nodes, two replicas per shard),
  under a stream of commits: a fourth node joins from a peer's positions and
  takes its share, then a node is drained. Sampled all along, every shard
  keeps at least two replicas that serve (copied and caught up); afterwards
  every replica of every shard holds exactly the committed values, the new
  replicas serve old snapshots too (every version was copied), the drained
  node holds nothing, and a client that still had the old placement reads
  right (it learns the new one from `WrongShard`).
- A replica loaded from a checkpoint refuses reads below its cut
  (`HistoryGone`) rather than answering with newer versions.
- A replica whose disk was lost after the journal dropped its beginning
  starts from a peer's positions and copies its shards from it.
- A shard that grows past a size splits in place on every replica (nothing
  copied, the same nodes hold both halves); a client with the old shard map
  scans forwards and backwards through the splits and learns the new map; a
  half moves like any shard.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil

import pytest
import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict
from assembly import embedded
from assembly.embedded import ClusterConfig, EmbeddedCluster
from assembly.placement import PlacementDriver
from cluster.topology import Topology, spread_replicas
from journal.client import JournalClient
from journal.errors import PositionCompacted
from journal.interface import CommitRecord
from storage import keys
from storage import node as storage_node
from storage.client import EVENTUAL
from storage.interface import Get, GetLatest, HistoryGone, Placement, Status
from storage.lmdb_engine import ENGINE_DIR as STORAGE_ENGINE_DIR
from storage.mvcc import VersionStore
from storage.node import StorageNode
from storage.placement import (
    PlacementInvalid,
    plan_drain,
    plan_spread,
    shard_map,
    split_shard,
    with_leader_moved,
    with_replica,
    without_replica,
)

REPLICAS = 2


def test_a_leader_that_stopped_moves_to_the_end_of_its_shards_hosts():
    placement = Placement(4, ((0, 1, 2), (1, 2, 0)), (), (b"\x03",))
    moved = with_leader_moved(placement, 0, 0)
    assert moved.version == 5 and moved.shard_hosts == ((1, 2, 0), (1, 2, 0))
    assert with_leader_moved(moved, 0, 0) is moved, "a node that no longer leads is not moved again"
    single = Placement(1, ((3,),), (), ())
    assert with_leader_moved(single, 0, 3) is single, "a lone replica stays the leader"
    chosen = with_leader_moved(placement, 0, 0, successor=2)
    assert chosen.shard_hosts[0] == (2, 1, 0), "the caught-up successor leads, the old leader goes last"
    assert with_leader_moved(placement, 0, 0, successor=5) is placement, "a successor must be a host of the shard"
    assert with_leader_moved(placement, 0, 0, successor=0) is placement


def test_plans_keep_replicas_distinct_and_drain_everything():
    placement = Placement(0, spread_replicas(9, 3, 2))
    moves = plan_spread(placement, 3, [0, 1, 2, 3])
    assert moves, "a new node gets replicas"
    for shard, source, target in moves:
        placement = without_replica(with_replica(placement, shard, target), shard, source)
    counts = [len(placement.shards_of(n)) for n in range(4)]
    assert max(counts) - min(counts) <= 1, counts
    moves = plan_drain(placement, 0, [0, 1, 2, 3])
    for shard, source, target in moves:
        assert source == 0 and target != 0
        placement = without_replica(with_replica(placement, shard, target), shard, source)
    assert placement.shards_of(0) == ()
    for hosts in placement.shard_hosts:
        assert len(hosts) == 2 and len(set(hosts)) == 2
    with pytest.raises(PlacementInvalid, match="no replica left"):
        without_replica(Placement(0, ((1,),)), 0, 1)
    with pytest.raises(PlacementInvalid, match="already holds"):
        with_replica(placement, 0, placement.shard_hosts[0][0])
    with pytest.raises(PlacementInvalid, match="add a storage node"):
        plan_drain(Placement(0, ((0, 1), (1, 0)), splits=(b"m",)), 0, [0, 1])
    split = split_shard(Placement(3, ((0, 1), (1, 2)), splits=(b"m",)), 1, b"t")
    assert split == Placement(4, ((0, 1), (1, 2), (1, 2)), splits=(b"m", b"t"))
    for outside in (b"m", b"a", b""):
        with pytest.raises(PlacementInvalid, match="not inside"):
            split_shard(split, 1, outside)


def test_a_copied_store_keeps_deletions_until_the_copy_is_done():
    store = VersionStore(filling=True)
    store.apply(b"k", 20, None)  # a deletion applied before the older version arrives
    store.merge_older(b"k", ((10, ("old",)),))
    assert store.get(b"k", 15) == ("old",) and store.get(b"k", 25) is None
    chains, resume = store.chains_as_of(15, None, 10)
    assert chains == [(b"k", ((10, ("old",)),))] and resume is None


def _topology() -> Topology:
    topo = Topology()
    return Topology(storage_node_count=3, shard_hosts=spread_replicas(len(topo.shard_ranges), 3, REPLICAS))


async def _serving(cluster: EmbeddedCluster, nodes: dict[int, StorageNode]) -> list[int]:
    """Per shard, how many replicas serve it now (hold it copied, caught up)."""
    counts = [0] * len(cluster.topology.shard_ranges)
    for node in nodes.values():
        status = await node.rpc_status(Status())
        if not status.caught_up:
            continue
        for shard in status.shards:
            if shard not in status.filling:
                counts[shard] += 1
    return counts


async def test_a_node_joins_and_another_drains_under_load_with_two_replicas_serving_throughout(nursery, monkeypatch):
    # Small copy pages, so that a copy takes many steps and the sampler below
    # sees every moment of it (a copy of a few hundred keys is otherwise instant).
    monkeypatch.setattr(storage_node, "COPY_KEYS", 4)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(topology=_topology())).run)
    topo = cluster.topology
    adjudicators = AdjudicatorClient(topo, cluster.transport)
    stale_client = cluster.storage_client()  # keeps the first placement until a read tells it otherwise
    rng = random.Random(7)
    table_keys = [keys.table_prefix(rng.randrange(1 << 32), 1) + i.to_bytes(2, "big") for i in range(200)]
    table_keys += [keys.NS_DYNAMODB + rng.randbytes(4) + i.to_bytes(2, "big") for i in range(100)]
    values: dict[bytes, tuple] = {}
    history: list[tuple[int, dict[bytes, tuple]]] = []

    async def write(batch: list[tuple[bytes, tuple]]) -> None:
        tau_start = cluster.clock.now().latest
        try:
            tau = await adjudicators.commit(tau_start, CommitRecord(batch).encode(), [k for k, _ in batch])
        except CommitConflict:
            return
        values.update(batch)
        history.append((tau, dict(values)))

    for i in range(0, len(table_keys), 10):
        await write([(k, ("v0", k.hex())) for k in table_keys[i : i + 10]])

    nodes = {n: node for n, node in enumerate(cluster.storage_nodes)}
    stop = trio.Event()
    samples: list[list[int]] = []

    async def writer() -> None:
        n = 1
        while not stop.is_set():
            await write([(k, (f"v{n}", k.hex())) for k in rng.sample(table_keys, 3)])
            n += 1
            await trio.sleep(0.002)

    async def sampler() -> None:
        while not stop.is_set():
            samples.append(await _serving(cluster, nodes))
            await trio.sleep(0)  # between any two steps of the others

    joiner = StorageNode(3, topo, cluster.transport, cluster.clock, None, join=True)
    cluster.transport.serve(topo.storage_address(3), joiner)
    nodes[3] = joiner
    await nursery.start(joiner.run)
    async with trio.open_nursery() as load:
        load.start_soon(writer)
        load.start_soon(sampler)
        driver = PlacementDriver(topo, cluster.transport, cluster.clock, adjudicators=adjudicators)
        with trio.fail_after(60):
            spread = await driver.spread(3, [0, 1, 2, 3])
            drained = await driver.drain(0, [0, 1, 2, 3])
        await trio.sleep(0.05)
        stop.set()

    assert spread and drained
    assert samples and min(min(s) for s in samples) >= REPLICAS, "a shard had fewer serving replicas than R"
    placement, _ = await driver.current()
    assert placement.shards_of(0) == ()
    assert len(placement.shards_of(3)) >= 4
    assert all(len(hosts) == REPLICAS for hosts in placement.shard_hosts)
    with trio.fail_after(10):
        while (await nodes[0].rpc_status(Status())).shards:
            await trio.sleep(0.01)

    # Every replica of every shard holds exactly what was committed, now and at an old snapshot.
    last_tau, last_values = history[-1]
    old_tau, old_values = history[len(history) // 3]
    for key in table_keys:
        shard = topo.shard_ranges.owner(key)
        for node in placement.hosts(shard):
            now = await nodes[node].rpc_get(Get((key,), last_tau))
            assert list(now.values) == [last_values[key]], (node, key)
            then = await nodes[node].rpc_get(Get((key,), old_tau))
            assert list(then.values) == [old_values[key]], (node, key)
            latest = await nodes[node].rpc_get_latest(GetLatest((key,)))
            assert list(latest.values) == [values[key]]
    # The client made before the moves reads right, and learns the placement once
    # a read meets a node that gave its shard away (reading each key twice, one
    # of the two reads asks node 0 first: replicas are asked in turn).
    assert await stale_client.get(table_keys, last_tau) == [last_values[k] for k in table_keys]
    assert await stale_client.get(table_keys, policy=EVENTUAL) == [values[k] for k in table_keys]
    for key in table_keys * 2:
        assert await stale_client.get([key], last_tau) == [last_values[key]]
    assert stale_client.placement_version == placement.version


async def test_a_replica_loaded_from_a_checkpoint_refuses_reads_below_its_cut(nursery, tmp_path):
    config = ClusterConfig(data_dir=str(tmp_path), storage_engine="checkpoints")
    async with trio.open_nursery() as first:
        cluster = await first.start(EmbeddedCluster(config).run)
        adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
        key = keys.table_prefix(keys.table_key_id_for(16385), 1) + b"\x01"
        tau_one = await adjudicators.commit(cluster.clock.now().latest, CommitRecord([(key, ("one",))]).encode(), [key])
        tau_two = await adjudicators.commit(cluster.clock.now().latest, CommitRecord([(key, ("two",))]).encode(), [key])
        await cluster.clock.wait_until_past(tau_two)
        node = cluster.storage_nodes[0]
        assert list((await node.rpc_get(Get((key,), tau_one))).values) == [("one",)]
        for each in cluster.storage_nodes:  # applied everywhere: every cut is past tau_one
            assert list((await each.rpc_get(Get((key,), tau_two))).values) == [("two",)]
        await cluster.checkpoint()
        first.cancel_scope.cancel()
    cluster = await nursery.start(EmbeddedCluster(config).run)
    node = cluster.storage_nodes[0]
    with pytest.raises(HistoryGone):
        await node.rpc_get(Get((key,), tau_one))  # it would have said "two"
    assert list((await node.rpc_get(Get((key,), tau_two))).values) == [("two",)]
    # Through the client: every replica lacks that history, so the read fails as such
    # (the QP answers 72000 snapshot too old), never with the newer value.
    client = cluster.storage_client()
    with pytest.raises(HistoryGone):
        await client.get([key], tau_one)
    assert await client.get([key], tau_two) == [("two",)]


@pytest.mark.parametrize("engine", ["lmdb", "checkpoints"])
async def test_a_replica_that_lost_its_disk_after_the_journal_moved_on_copies_from_a_peer(
    nursery, tmp_path, monkeypatch, engine
):
    # Small journal segments, so that the checkpoints below let the journal drop its beginning.
    def small_segments(config, replicas):
        return dataclasses.replace(real_replica_config(config, replicas), segment_bytes_max=4096)

    real_replica_config = embedded.journal_replica_config
    monkeypatch.setattr(embedded, "journal_replica_config", small_segments)
    config = ClusterConfig(data_dir=str(tmp_path), storage_engine=engine)
    written: dict[bytes, tuple] = {}
    async with trio.open_nursery() as first:
        cluster = await first.start(EmbeddedCluster(config).run)
        adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
        for i in range(300):
            key = keys.table_prefix(keys.table_key_id_for(16385 + i % 7), 1) + i.to_bytes(4, "big")
            value = (i, "x" * 40)
            await adjudicators.commit(cluster.clock.now().latest, CommitRecord([(key, value)]).encode(), [key])
            written[key] = value
        await cluster.checkpoint()
        # Another commit carries the journal's BASE record; then its old segments go.
        await adjudicators.commit(cluster.clock.now().latest, CommitRecord([(key, value)]).encode(), [key])
        journal = JournalClient(cluster.transport, cluster.topology.journal_addresses(0))
        with trio.fail_after(10):
            while True:
                try:
                    await journal.read("storage/1", 1, 1, 0)
                except PositionCompacted:
                    break
                await trio.sleep(0.01)
        first.cancel_scope.cancel()
    if engine == "lmdb":  # a new disk
        shutil.rmtree(tmp_path / "storage-1" / STORAGE_ENGINE_DIR)
    else:
        os.remove(tmp_path / "storage-1" / storage_node.CHECKPOINT_FILE)

    cluster = await nursery.start(EmbeddedCluster(config).run)
    node = cluster.storage_nodes[1]
    with trio.fail_after(30):
        while True:
            status = await node.rpc_status(Status())
            if status.caught_up and not status.filling and status.keys >= len(written):
                break
            await trio.sleep(0.02)
    tau = cluster.clock.now().latest
    got = await node.rpc_get(Get(tuple(written), tau))
    assert list(got.values) == list(written.values())


async def test_a_shard_that_grows_splits_in_place_and_reads_follow(nursery):
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(topology=_topology())).run)
    topo = cluster.topology
    adjudicators = AdjudicatorClient(topo, cluster.transport)
    stale_client = cluster.storage_client()
    prefix = keys.table_prefix(keys.table_key_id_for(16390), 1)
    rows = {prefix + i.to_bytes(4, "big"): (i, f"row {i}") for i in range(300)}
    items = list(rows.items())
    for i in range(0, len(items), 50):
        batch = items[i : i + 50]
        tau = await adjudicators.commit(cluster.clock.now().latest, CommitRecord(batch).encode(), [k for k, _ in batch])
    await cluster.clock.wait_until_past(tau)
    driver = PlacementDriver(topo, cluster.transport, cluster.clock, adjudicators=adjudicators)
    before, _ = await driver.current()
    shard = topo.shard_ranges.owner(prefix)
    hosts = before.hosts(shard)
    splits: list[bytes] = []
    with trio.fail_after(30):
        for _ in range(10):  # each round splits every shard above the size once
            # Sizes come from every node's status once it has applied the last split.
            placement, _ = await driver.current()
            while [(await n.rpc_status(Status())).splits for n in cluster.storage_nodes] != [placement.splits] * 3:
                await trio.sleep(0.01)
            done = await driver.split_large(100)
            if not done:
                break
            splits += done
    assert len(splits) >= 3, splits
    after, _ = await driver.current()
    assert len(after.shard_hosts) == len(before.shard_hosts) + len(splits)
    # Every half stays on the nodes that held the whole, split in place (nothing copied).
    for key in splits:
        assert after.hosts(shard_map(after).owner(key)) == hosts
    for node in cluster.storage_nodes:
        status = await node.rpc_status(Status())
        assert status.splits == after.splits and status.filling == ()
        assert all(size <= 100 for size in status.shard_keys)
    # A client with the first shard map reads through the splits, forwards and backwards.
    tau = cluster.clock.now().latest
    start, end = keys.index_range(keys.table_key_id_for(16390), 1)
    forward = [pair async for page in stale_client.scan(start, end, tau, page_rows=7) for pair in page]
    assert forward == sorted(rows.items())
    backward = [pair async for page in stale_client.scan(start, end, tau, reverse=True, page_rows=7) for pair in page]
    assert backward == sorted(rows.items(), reverse=True)
    limited = [pair async for page in stale_client.scan(start, end, tau, limit=120) for pair in page]
    assert limited == sorted(rows.items())[:120]
    assert await stale_client.get(list(rows), tau) == list(rows.values())
    assert stale_client.placement_version == after.version
    # The halves move apart like any shard.
    half = shard_map(after).owner(splits[0])
    target = next(n for n in range(3) if n not in after.hosts(half))
    with trio.fail_after(30):
        await driver.move(half, after.hosts(half)[0], target)
    assert await stale_client.get(list(rows), cluster.clock.now().latest) == list(rows.values())


async def test_split_halves_share_a_store_until_a_restart_gives_each_its_own(nursery, tmp_path):
    config = ClusterConfig(data_dir=str(tmp_path), storage_engine="checkpoints")
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
        assert node.shards[lower] is node.shards[lower + 1], "a split copies nothing: the halves share the store"
        halves = (await node.rpc_status(Status())).shard_keys
        await cluster.checkpoint()
        first.cancel_scope.cancel()
    cluster = await nursery.start(EmbeddedCluster(config).run)
    node = cluster.storage_nodes[0]
    status = await node.rpc_status(Status())
    assert status.splits == placement.splits and status.shard_keys == halves
    assert node.shards[lower] is not node.shards[lower + 1]
    assert len(node.shards[lower]) + len(node.shards[lower + 1]) == len(rows)
    tau = cluster.clock.now().latest
    assert await cluster.storage_client().get(list(rows), tau) == list(rows.values())
