"""DDL that abandons key ranges hands them to storage, which reclaims them.

DROP TABLE, DROP INDEX, TRUNCATE (a new key range for the table), and an
online index build that fails each leave keys no table will read again. Their
ranges travel in the commit record; every storage node removes their keys once
no snapshot can read them (the GC horizon passes the drop), so re-creating and
re-loading a table (`pgbench -i` twice) does not keep the old rows around.

These run the real parts in one process (the embedded cluster, the query
processor, a session) and look at the storage nodes directly.
"""

from __future__ import annotations

import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster
from qp.frontend.server import QueryProcessor
from storage import keys
from storage import node as storage_node


async def _sql(session, sql: str) -> list:
    return [event async for event in session.simple_query(sql)]


def _keys_in(cluster: EmbeddedCluster, start: bytes, end: bytes) -> int:
    return sum(
        len(list(store._versions.irange(start, end, inclusive=(True, False))))
        for node in cluster.storage_nodes for store in node.shards if store is not None
    )


async def _settled(cluster: EmbeddedCluster, predicate) -> None:
    with trio.fail_after(20):
        while not predicate():
            await trio.sleep(0.02)


async def test_drop_truncate_and_drop_index_reclaim_their_keys(nursery, monkeypatch) -> None:
    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    session = await qp.open_session({"user": "postgres", "database": "postgres"})
    await _sql(session, "CREATE TABLE reclaim_t (a int PRIMARY KEY, b int)")
    await _sql(session, "INSERT INTO reclaim_t SELECT g, g FROM generate_series(1, 500) g")
    await _sql(session, "CREATE INDEX reclaim_b ON reclaim_t (b)")
    table = qp.latest_catalog.find_table("reclaim_t")
    index = table.index_named("reclaim_b")
    first_range = keys.table_range(table.key_id)
    index_range = keys.index_range(table.key_id, index.index_id)
    nodes = len(cluster.storage_nodes)
    await _settled(cluster, lambda: _keys_in(cluster, *index_range) == 500 * nodes)

    # Snapshots may still read what is dropped, so nothing goes before the horizon passes.
    await _sql(session, "DROP INDEX reclaim_b")
    await _sql(session, "TRUNCATE reclaim_t")
    await _settled(cluster, lambda: all(len(n.dropped_ranges) == 2 for n in cluster.storage_nodes))
    assert {(start, end) for _, start, end in cluster.storage_nodes[0].dropped_ranges} == {index_range, first_range}
    await trio.sleep(0.2)
    assert _keys_in(cluster, *first_range) > 0

    monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
    await _settled(cluster, lambda: _keys_in(cluster, *first_range) == 0)
    await _sql(session, "INSERT INTO reclaim_t VALUES (1, 1)")
    moved = qp.latest_catalog.find_table("reclaim_t")
    assert moved.key_id != table.key_id
    second_range = keys.table_range(moved.key_id)
    await _settled(cluster, lambda: _keys_in(cluster, *second_range) >= nodes)
    await _sql(session, "DROP TABLE reclaim_t")
    await _settled(cluster, lambda: _keys_in(cluster, *second_range) == 0)
    assert all(not n.dropped_ranges for n in cluster.storage_nodes)


async def test_a_rolled_back_drop_hands_nothing_over(nursery) -> None:
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    session = await qp.open_session({"user": "postgres", "database": "postgres"})
    await _sql(session, "CREATE TABLE reclaim_u (a int PRIMARY KEY)")
    await _sql(session, "BEGIN")
    await _sql(session, "SAVEPOINT s")
    await _sql(session, "DROP TABLE reclaim_u")
    await _sql(session, "ROLLBACK TO SAVEPOINT s")
    await _sql(session, "CREATE TABLE reclaim_v (a int)")  # the block commits something after all
    await _sql(session, "COMMIT")
    assert qp.latest_catalog.find_table("reclaim_v") is not None
    await _sql(session, "INSERT INTO reclaim_u VALUES (7)")  # a commit after: every node has applied the block
    table = qp.latest_catalog.find_table("reclaim_u")
    await _settled(cluster, lambda: _keys_in(cluster, *keys.table_range(table.key_id)) >= len(cluster.storage_nodes))
    assert all(not n.dropped_ranges for n in cluster.storage_nodes)
