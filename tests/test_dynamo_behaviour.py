"""Dynamo's claims, shown on the embedded server's five Dynamo nodes.

Each test stages what the paper (and the project's seed) says happens and
checks it happened: siblings from concurrent writes and their resolution;
R+W>N reads that see the latest acknowledged write while every node is up;
a sloppy-quorum read that returns an older value than an acknowledged write
despite R+W>N; hinted handoff after healing; read repair; anti-entropy of a
key nobody reads; and the keys short of N copies while a join hands
partitions over. Nodes are stopped and restarted as crashes would stop
them (`EmbeddedCluster.stop_dynamo_node`); the coordinator is the real
`DynamoService` over the in-process transport, which encodes every message.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster, dynamo_address
from kv.dynamo.interface import Fetch, GetOptions, PutOptions
from kv.dynamo.node import NodeConfig
from kv.dynamo.objects import NewContent, StoredObject, decode_object
from kv.dynamo.ring import hash_key
from kv.dynamo.service import DynamoService
from kv.dynamo.vclock import descends

BUCKET = b"behaviour"
WAIT_S = 30.0

# Background upkeep off unless a test turns it on: each test says which mechanism it shows.
QUIET = NodeConfig(handoff_interval_s=3600, aae_interval_s=3600, gossip_interval_s=0.2)


async def start(nursery, node_config: NodeConfig = QUIET) -> tuple[EmbeddedCluster, DynamoService]:
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None, dynamo=node_config))
    await nursery.start(cluster.run)
    service = DynamoService(cluster.transport, [dynamo_address(n) for n in range(5)], probe_interval_s=0.2)
    await nursery.start(service.run)
    return cluster, service


def values(obj: StoredObject | None) -> list[bytes]:
    return [] if obj is None else sorted(s.value for s in obj.live_siblings)


def preference(service: DynamoService, key: bytes, n: int = 3) -> list[str]:
    assert service.ring is not None
    return [node for _p, node in service.ring.preference_list(hash_key(BUCKET, key), n)]


def index(address: str) -> int:
    return int(address.rsplit("/", 1)[1])


async def copy_at(cluster: EmbeddedCluster, node: str, key: bytes) -> StoredObject | None:
    reply = await cluster.transport.connect(node).call("fetch", Fetch(BUCKET, key))
    return None if reply.object is None else decode_object(reply.object)


async def eventually(check, what: str) -> None:
    with trio.move_on_after(WAIT_S):
        while not await check():
            await trio.sleep(0.05)
        return
    pytest.fail(f"not within {WAIT_S} s: {what}")


async def test_concurrent_writes_become_siblings_and_the_merged_context_resolves_them(nursery):
    cluster, service = await start(nursery)
    first = await service.put(BUCKET, b"cart", NewContent(b"base"), None)
    # Two clients read the same version and write concurrently.
    await service.put(BUCKET, b"cart", NewContent(b"milk"), first.clock)
    await service.put(BUCKET, b"cart", NewContent(b"eggs"), first.clock)
    both = await service.get(BUCKET, b"cart")
    assert values(both) == [b"eggs", b"milk"]
    # A client that read both writes back one value with the one causal context.
    await service.put(BUCKET, b"cart", NewContent(b"eggs+milk"), both.clock)
    resolved = await service.get(BUCKET, b"cart")
    assert values(resolved) == [b"eggs+milk"]
    assert descends(resolved.clock, both.clock)


async def test_last_write_wins_when_allow_mult_is_false(nursery):
    cluster, service = await start(nursery)
    await service.set_bucket_props(BUCKET, {"allow_mult": False, "last_write_wins": True})
    first = await service.put(BUCKET, b"k", NewContent(b"base"), None)
    await service.put(BUCKET, b"k", NewContent(b"one"), first.clock)
    await service.put(BUCKET, b"k", NewContent(b"two"), first.clock)
    assert values(await service.get(BUCKET, b"k")) == [b"two"]


async def test_with_every_node_up_quorum_reads_see_the_latest_acknowledged_write(nursery):
    cluster, service = await start(nursery)
    context = None
    for i in range(40):
        key = b"counter-%d" % (i % 4)
        current = await service.get(BUCKET, key, GetOptions(r=2))
        context = None if current is None else current.clock
        await service.put(BUCKET, key, NewContent(b"%d" % i), context, PutOptions(w=2))
        assert values(await service.get(BUCKET, key, GetOptions(r=2))) == [b"%d" % i]


async def test_sloppy_quorum_lets_a_quorum_read_miss_an_acknowledged_write(nursery):
    """(N, R, W) = (3, 2, 2), R + W > N, and still a stale read: the write's
    quorum was fallbacks, the read's quorum the recovered primaries."""
    cluster, service = await start(nursery)
    key = b"sloppy"
    home = preference(service, key)
    old = await service.put(BUCKET, key, NewContent(b"old"), None)
    # The first two primaries are cut off; the write lands on the third and two fallbacks.
    for node in home[:2]:
        await cluster.stop_dynamo_node(index(node))
    await service.check_nodes()
    new = await service.put(BUCKET, key, NewContent(b"new"), old.clock, PutOptions(w=2))
    assert values(new) == [b"new"]
    assert service.counters["sloppy_targets"] > 0
    # Now the other side: the two primaries come back, every node that took the write is cut off.
    holders = [n for n in (dynamo_address(i) for i in range(5)) if n not in home[:2]]
    for node in holders:
        await cluster.stop_dynamo_node(index(node))
    for node in home[:2]:
        await cluster.start_dynamo_node(index(node))
    await service.check_nodes()
    stale = await service.get(BUCKET, key, GetOptions(r=2))
    assert values(stale) == [b"old"], "a (3,2,2) read after an acknowledged write returned the write's predecessor"


async def test_hinted_handoff_delivers_to_the_home_nodes_after_healing(nursery):
    cluster, service = await start(nursery, dataclasses.replace(QUIET, handoff_interval_s=0.1))
    key = b"hinted"
    home = preference(service, key)
    await cluster.stop_dynamo_node(index(home[0]))
    await service.check_nodes()
    written = await service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3))
    fallbacks = [n for n in (dynamo_address(i) for i in range(5)) if n not in home]
    hinted = [n for n in fallbacks if (await copy_at(cluster, n, key)) is not None]
    assert len(hinted) == 1, "one fallback took the down primary's copy, with a hint"
    await trio.sleep(0.5)  # handoff rounds run, but the home node is down: the hint stays
    assert await copy_at(cluster, hinted[0], key) is not None
    await cluster.start_dynamo_node(index(home[0]))

    async def delivered() -> bool:
        back = await copy_at(cluster, home[0], key)
        gone = await copy_at(cluster, hinted[0], key)
        return back is not None and values(back) == [b"v"] and descends(back.clock, written.clock) and gone is None

    await eventually(delivered, "the hinted copy reaches its home node and leaves the fallback")


async def test_read_repair_fixes_a_stale_replica_on_read(nursery):
    cluster, service = await start(nursery)
    key = b"repair"
    home = preference(service, key)
    old = await service.put(BUCKET, key, NewContent(b"old"), None, PutOptions(w=3))
    await cluster.stop_dynamo_node(index(home[2]))
    await service.check_nodes()
    await service.put(BUCKET, key, NewContent(b"new"), old.clock, PutOptions(w=2))
    await cluster.start_dynamo_node(index(home[2]))
    await service.check_nodes()
    assert values(await copy_at(cluster, home[2], key)) == [b"old"]
    assert values(await service.get(BUCKET, key, GetOptions(r=3))) == [b"new"]

    async def repaired() -> bool:
        return values(await copy_at(cluster, home[2], key)) == [b"new"] and service.counters["read_repairs"] >= 1

    await eventually(repaired, "read repair writes the new value to the stale replica")


async def test_anti_entropy_fixes_a_replica_of_a_key_nobody_reads(nursery):
    cluster, service = await start(nursery, dataclasses.replace(QUIET, aae_interval_s=0.02))
    keys = [b"unread-%d" % i for i in range(20)]
    olds = {key: await service.put(BUCKET, key, NewContent(b"old"), None, PutOptions(w=3)) for key in keys}
    stale_node = dynamo_address(0)
    await cluster.stop_dynamo_node(0)
    await service.check_nodes()
    for key in keys:
        await service.put(BUCKET, key, NewContent(b"new"), olds[key].clock, PutOptions(w=2))
    await cluster.start_dynamo_node(0)
    behind = [key for key in keys if stale_node in preference(service, key)]
    assert behind, "node 0 is a primary of some of the keys"
    assert [values(await copy_at(cluster, stale_node, key)) for key in behind] == [[b"old"]] * len(behind)
    gets_before = service.counters["node_gets"]

    async def converged() -> bool:
        return [values(await copy_at(cluster, stale_node, key)) for key in behind] == [[b"new"]] * len(behind)

    await eventually(converged, "anti-entropy brings the stale primary up to date")
    assert service.counters["node_gets"] == gets_before, "nothing read the keys"
    assert sum(node.counters["aae_keys_repaired"] for node in cluster.dynamo_nodes.values()) >= len(behind)


async def test_a_join_leaves_keys_short_of_n_copies_until_handoff_completes(nursery):
    cluster, service = await start(nursery, dataclasses.replace(QUIET, handoff_interval_s=0.2))
    keys = [b"join-%d" % i for i in range(200)]
    written = {key: await service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3)) for key in keys}
    old_ring = service.ring
    n = await cluster.add_dynamo_node()
    new_ring = max((node.ring for node in cluster.dynamo_nodes.values()), key=lambda ring: ring.version)
    assert new_ring.version == old_ring.version + 1 and dynamo_address(n) in new_ring.members
    moved = sum(1 for a, b in zip(old_ring.owners, new_ring.owners, strict=True) if a != b)
    assert 0 < moved <= new_ring.partitions // len(new_ring.members) + 1, "the joiner takes its share and no more"

    async def short_of_n() -> int:
        short = 0
        for key in keys:
            nodes = [node for _p, node in new_ring.preference_list(hash_key(BUCKET, key), 3)]
            in_place = 0
            for node in nodes:
                copy = await copy_at(cluster, node, key)
                in_place += copy is not None and descends(copy.clock, written[key].clock)
            short += in_place < 3
        return short

    during = await short_of_n()
    assert during > 0, "right after the join some keys' new preference lists hold fewer than N copies"

    async def handed_off() -> bool:
        return await short_of_n() == 0

    await eventually(handed_off, "handoff gives every key N copies on its new preference list")
