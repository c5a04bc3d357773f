"""Reads "as of now" keep real-time order when clocks are far apart.

A transaction reads at τ_start, its clock's `latest`, which may run up to twice
the error bound ahead of true time, and storage applies a commit before that
commit's wait has ended. Without a wait, a reader whose clock runs ahead sees a
commit and finishes, and a reader that starts after it on a clock that runs
behind takes a τ_start below the commit and misses it (the simulator's seed
2001 found this as G-single-realtime). A read answers only once its τ is past
(qp/txn/transaction.py `_until_start_past`, storage/client.py `_until_past`).

Here the clocks are real: three `Clock`s over the wall clock, one ahead by half
the error bound and one behind by half, on an embedded cluster whose own clock
has the same bound.
"""

from __future__ import annotations

import time

import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster.clock import Clock
from qp.txn.transaction import Transaction
from storage.client import LEADER
from tests.test_kernel import sql_key

ERROR_NS = 400_000_000


def _clock(offset_ns: int) -> Clock:
    return Clock(ERROR_NS, source_ns=lambda: time.time_ns() + offset_ns)


def _txn(cluster: EmbeddedCluster, clock: Clock) -> Transaction:
    return Transaction(clock, cluster.storage_client(), cluster.topology, cluster.transport)


async def _commit_in_background(cluster: EmbeddedCluster, key: bytes, nursery: trio.Nursery) -> trio.Event:
    """A write from a clock ahead of true time; the event is set once it is acknowledged
    (its commit wait then lasts about twice the error bound)."""
    done = trio.Event()
    writer = _txn(cluster, _clock(ERROR_NS // 2))
    writer.begin_snapshot()
    writer.put(key, ("written",))

    async def commit() -> None:
        await writer.commit()
        done.set()

    nursery.start_soon(commit)
    with trio.fail_after(10):
        while not any(node.applied_tau >= writer.tau_start for node in cluster.storage_nodes):
            await trio.sleep(0.005)
    return done


async def test_a_reader_after_one_that_saw_a_commit_sees_it_too(nursery) -> None:
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(clock_error_ns=ERROR_NS)).run)
    key = sql_key(16385, 7)
    acknowledged = await _commit_in_background(cluster, key, nursery)
    # Storage shows the commit while its writer still waits: the scenario needs that.
    assert not acknowledged.is_set()
    ahead = _txn(cluster, _clock(ERROR_NS // 2))
    assert await ahead.get([key], catalog_check=False) == [("written",)]
    # Started after the first reader answered, on a clock that runs behind true time.
    behind = _txn(cluster, _clock(-ERROR_NS // 2))
    assert await behind.get([key], catalog_check=False) == [("written",)]


async def test_a_scan_after_one_that_saw_a_commit_sees_it_too(nursery) -> None:
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(clock_error_ns=ERROR_NS)).run)
    key = sql_key(16385, 8)
    start, end = sql_key(16385, 0), sql_key(16385, 100)
    acknowledged = await _commit_in_background(cluster, key, nursery)
    assert not acknowledged.is_set()
    ahead = _txn(cluster, _clock(ERROR_NS // 2))
    assert [p async for p in ahead.scan(start, end, catalog_check=False)] == [[(key, ("written",))]]
    behind = _txn(cluster, _clock(-ERROR_NS // 2))
    assert [p async for p in behind.scan(start, end, catalog_check=False)] == [[(key, ("written",))]]


async def test_a_leader_read_at_now_keeps_real_time_order_too(nursery) -> None:
    # DynamoDB's ConsistentRead: the storage client picks τ itself.
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(clock_error_ns=ERROR_NS)).run)
    key = sql_key(16385, 9)
    acknowledged = await _commit_in_background(cluster, key, nursery)
    assert not acknowledged.is_set()
    ahead = cluster.storage_client()
    ahead.clock = _clock(ERROR_NS // 2)
    assert await ahead.get([key], policy=LEADER) == [("written",)]
    behind = cluster.storage_client()
    behind.clock = _clock(-ERROR_NS // 2)
    assert await behind.get([key], policy=LEADER) == [("written",)]
