"""The commit path without SQL: adjudicators, journal, storage in one process.

These tests drive the parts through their RPC interfaces exactly as the QP
does, and check the invariants of DESIGN.md directly: snapshot reads, first
committer wins (including across adjudicator ranges), atomic visibility of a
multi-shard commit, strong consistency after an acknowledged commit, and
durability across a restart from the data directory.
"""

from __future__ import annotations

import pytest
import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict
from adjudicator.role import encode_commit_payload
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster import metrics
from storage import keys


def sql_key(oid: int, pk: int) -> bytes:
    return keys.table_prefix(keys.table_key_id_for(oid), keys.PRIMARY_INDEX_ID) + keys.encode_int(pk)


async def commit(cluster: EmbeddedCluster, tau_start: int, writes, checks=()) -> int:
    write_keys = tuple(k for k, _ in writes)
    adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
    tau = await adjudicators.commit(tau_start, encode_commit_payload(list(writes), None), write_keys, tuple(checks))
    await cluster.clock.wait_until_past(tau)
    return tau


async def start(nursery, data_dir=None) -> EmbeddedCluster:
    return await nursery.start(EmbeddedCluster(ClusterConfig(data_dir=data_dir)).run)


async def test_snapshot_and_read_your_commits(nursery):
    cluster = await start(nursery)
    client = cluster.storage_client()
    k1, k2 = sql_key(16385, 1), sql_key(16386, 1)  # two tables on different shards
    t0 = cluster.clock.latest()
    tau = await commit(cluster, t0, [(k1, (1, "a")), (k2, (1, "b"))])
    assert tau > t0
    # A snapshot before the commit sees nothing; one after sees both rows.
    assert await client.get([k1, k2], t0, None) == [None, None]
    after = cluster.clock.latest()
    assert await client.get([k1, k2], after, None) == [(1, "a"), (1, "b")]


async def test_first_committer_wins_across_ranges(nursery):
    cluster = await start(nursery)
    a, b = sql_key(16385, 7), sql_key(16386, 7)
    assert cluster.topology.adjudicator_ranges.owner(a) != cluster.topology.adjudicator_ranges.owner(b)
    t1 = cluster.clock.latest()
    t2 = cluster.clock.latest()
    await commit(cluster, t1, [(a, (1,)), (b, (1,))])
    try:
        await commit(cluster, t2, [(b, (2,))])
    except CommitConflict as exc:
        assert not exc.schema
    else:
        raise AssertionError("the second committer must lose")
    # A transaction that started after the first commit may write b.
    await commit(cluster, cluster.clock.latest(), [(b, (3,))])
    assert await cluster.storage_client().get([b], cluster.clock.latest(), None) == [(3,)]


async def test_concurrent_commits_one_winner(nursery):
    cluster = await start(nursery)
    key = sql_key(16390, 1)
    start_tau = cluster.clock.latest()
    outcomes: list[str] = []

    async def attempt(i):
        try:
            await commit(cluster, start_tau, [(key, (i,))])
            outcomes.append("ok")
        except CommitConflict:
            outcomes.append("conflict")

    async with trio.open_nursery() as inner:
        for i in range(10):
            inner.start_soon(attempt, i)
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == 9


async def test_scan_across_shards_in_key_order(nursery):
    cluster = await start(nursery)
    client = cluster.storage_client()
    writes = [(sql_key(oid, pk), (oid, pk)) for oid in (16384, 16385, 16386, 16387) for pk in range(5)]
    await commit(cluster, cluster.clock.latest(), writes)
    tau = cluster.clock.latest()
    pages = [p async for p in client.scan(keys.NS_SQL, keys.NS_DYNAMODB, tau, None, page_rows=3)]
    got = [k for page in pages for k, _ in page]
    assert got == sorted(k for k, _ in writes)
    assert len({cluster.topology.shard_ranges.owner(k) for k in got}) == 4
    backwards = [k for page in [p async for p in client.scan(keys.NS_SQL, keys.NS_DYNAMODB, tau, None, reverse=True, page_rows=4)] for k, _ in page]
    assert backwards == got[::-1]
    limited = [k for page in [p async for p in client.scan(keys.NS_SQL, None, tau, None, limit=7, page_rows=2)] for k, _ in page]
    assert limited == got[:7]


async def test_restart_keeps_acknowledged_commits(tmp_path):
    data_dir = str(tmp_path)
    key = sql_key(16385, 42)
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        for i in range(20):
            await commit(cluster, cluster.clock.latest(), [(key, (i,))])
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        assert await cluster.storage_client().get([key], cluster.clock.latest(), None) == [(19,)]
        await cluster.checkpoint()
        await commit(cluster, cluster.clock.latest(), [(key, (99,))])
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        assert await cluster.storage_client().get([key], cluster.clock.latest(), None) == [(99,)]
        nursery.cancel_scope.cancel()


def _total(counter) -> float:
    return sum(sample.value for metric in counter.collect() for sample in metric.samples
               if sample.name.endswith("_total"))  # fmt: skip


@pytest.mark.parametrize("immediate", [False, True], ids=["calls", "at-once"])
async def test_a_burst_of_strong_reads_shares_its_journal_closes(nursery, immediate):
    """Strong reads ahead of a replica's watermark ask the journal to close their τ;
    a burst of them shares one close in flight per journal (the largest τ wanted)
    instead of sending one each, and every read still sees the committed row. With
    immediate answers (the journal leader in this process, idle), the reads close their τ
    in their own tasks instead, and send no more calls."""
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(immediate_calls=immediate)).run)
    client = cluster.storage_client()
    key = sql_key(16385, 42)
    await commit(cluster, cluster.clock.latest(), [(key, (42, "x"))])
    before, at_once_before = _total(metrics.STORAGE_CLOSES), _total(metrics.STORAGE_CLOSES_AT_ONCE)
    reads = 60
    answers: list = []

    async def read() -> None:
        answers.append(await client.get([key], cluster.clock.latest(), None))

    async with trio.open_nursery() as burst:
        for _ in range(reads):
            burst.start_soon(read)
    assert answers == [[(42, "x")]] * reads
    sent = _total(metrics.STORAGE_CLOSES) - before
    at_once = _total(metrics.STORAGE_CLOSES_AT_ONCE) - at_once_before
    assert sent <= 4 * cluster.topology.journal_count, sent
    if immediate:
        assert at_once > 0, "no read closed its τ at once"
    else:
        assert sent > 0 and at_once == 0, (sent, at_once)
