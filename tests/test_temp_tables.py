"""Temporary tables across sessions: private to their session, never in storage.

tests/sql/53_temp_tables.sql compares one session's view of temporary tables with
PostgreSQL. What needs two sessions, or a look at storage and the catalog version,
is here: the real parts run in one process (the embedded cluster, the query
processor, sessions), so the storage nodes can be inspected directly.
"""

from __future__ import annotations

import pytest
import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster
from qp.api import CommandComplete, CopyInResponse, DataRows
from qp.catalog.stored import VERSION_KEY
from qp.catalog.temp_keys import is_temp_key
from qp.errors import SqlError
from qp.frontend.server import QueryProcessor
from qp.txn import temp_store


async def _sql(session, sql: str) -> list:
    return [event async for event in session.simple_query(sql)]


async def _rows(session, sql: str) -> list[list[str | None]]:
    out: list[list[str | None]] = []
    for event in await _sql(session, sql):
        if isinstance(event, DataRows):
            out += [[None if v is None else bytes(v).decode() for v in row] for row in event.rows]
    return out


async def _execute(session, name: str) -> list[list[str | None]]:
    """Bind and execute the prepared statement `name` (extended protocol), then Sync."""
    await session.bind("", name, [], [], [])
    out: list[list[str | None]] = []
    async for event in session.execute("", 0):
        if isinstance(event, DataRows):
            out += [[None if v is None else bytes(v).decode() for v in row] for row in event.rows]
    await session.sync()
    return out


async def _error(session, sql: str) -> SqlError:
    with pytest.raises(SqlError) as caught:
        await _sql(session, sql)
    return caught.value


def _stored_keys(cluster: EmbeddedCluster) -> list[bytes]:
    return [
        key
        for node in cluster.storage_nodes for store in node.shards if store is not None
        for key in store._versions.irange(b"", None)
    ]  # fmt: skip


async def _catalog_version(qp: QueryProcessor) -> int:
    async def read(txn):
        (version,) = await txn.get([VERSION_KEY], catalog_check=False)
        return version

    return await qp.txns.run(read, read_only=True)


async def _start(nursery):
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    one = await qp.open_session({"user": "postgres", "database": "postgres"})
    two = await qp.open_session({"user": "postgres", "database": "postgres"})
    return cluster, qp, one, two


async def test_another_session_neither_sees_nor_collides_with_a_temporary_table(nursery) -> None:
    _, _, one, two = await _start(nursery)
    await _sql(one, "CREATE TEMP TABLE tt (a int PRIMARY KEY, b text)")
    await _sql(one, "INSERT INTO tt VALUES (1, 'one')")
    assert (await _error(two, "SELECT * FROM tt")).sqlstate == "42P01"
    assert (await _error(two, "INSERT INTO tt VALUES (2, 'two')")).sqlstate == "42P01"
    assert await _rows(two, "SELECT count(*) FROM pg_class WHERE relname = 'tt'") == [["0"]]
    # The other session makes its own, of another shape, under the same name.
    await _sql(two, "CREATE TEMP TABLE tt (x text, y int, z int)")
    await _sql(two, "INSERT INTO tt VALUES ('two', 2, 3), ('dos', 2, 3)")
    assert await _rows(one, "SELECT * FROM tt") == [["1", "one"]]
    assert sorted(await _rows(two, "SELECT x FROM tt")) == [["dos"], ["two"]]
    await _sql(one, "DROP TABLE tt")
    assert await _rows(two, "SELECT count(*) FROM tt") == [["2"]]
    assert await _rows(one, "SELECT count(*) FROM pg_class WHERE relname = 'tt'") == [["0"]]


async def test_temporary_ddl_bumps_no_catalog_version_and_conflicts_with_no_one(nursery) -> None:
    _, qp, one, two = await _start(nursery)
    await _sql(one, "CREATE TABLE perm (a int PRIMARY KEY)")
    version = await _catalog_version(qp)
    # A transaction of the other session that has read and written a permanent table...
    await _sql(two, "BEGIN")
    assert await _rows(two, "SELECT count(*) FROM perm") == [["0"]]
    await _sql(two, "INSERT INTO perm VALUES (1)")
    # ...while this one runs temporary DDL of every kind...
    await _sql(one, "CREATE TEMP TABLE tt (a int PRIMARY KEY, b int)")
    await _sql(one, "CREATE INDEX ON tt (b)")
    await _sql(one, "ALTER TABLE tt ADD COLUMN c int")
    await _sql(one, "CREATE TEMP VIEW tv AS SELECT a FROM tt")
    await _sql(one, "CREATE TEMP SEQUENCE ts CACHE 1")
    await _sql(one, "INSERT INTO tt VALUES (1, 1, 1)")
    await _sql(one, "DROP VIEW tv")
    await _sql(one, "DROP TABLE tt")
    # ...commits without OC001, and the shared catalog version never moved.
    assert [e.tag for e in await _sql(two, "COMMIT") if isinstance(e, CommandComplete)] == ["COMMIT"]
    assert await _catalog_version(qp) == version
    assert await _rows(one, "SELECT a FROM perm") == [["1"]]
    # Permanent DDL of another session while a temporary table is in use does not disturb it.
    await _sql(one, "CREATE TEMP TABLE tt (a int)")
    await _sql(one, "BEGIN")
    await _sql(one, "INSERT INTO tt VALUES (1)")
    await _sql(two, "CREATE TABLE perm2 (a int)")
    await _sql(one, "INSERT INTO tt VALUES (2)")
    await _sql(one, "COMMIT")
    assert await _rows(one, "SELECT count(*) FROM tt") == [["2"]]


async def test_temporary_rows_and_descriptors_never_reach_storage(nursery) -> None:
    cluster, qp, one, _ = await _start(nursery)
    await _sql(one, "CREATE TABLE perm (a int PRIMARY KEY)")
    await _sql(one, "CREATE TEMP TABLE tt (a int PRIMARY KEY, b text, c serial)")
    await _sql(one, "CREATE INDEX ON tt (b)")
    await _sql(one, "INSERT INTO tt (a, b) SELECT g, 'v' || g FROM generate_series(1, 200) g")
    await _sql(one, "BEGIN")
    await _sql(one, "INSERT INTO tt (a, b) VALUES (1000, 'mixed')")
    await _sql(one, "INSERT INTO perm VALUES (1)")  # a permanent write in the same transaction
    await _sql(one, "COMMIT")
    assert await _rows(one, "SELECT count(*), max(c) FROM tt") == [["201", "201"]]
    # Wait until the permanent row is applied everywhere: then any temporary key would be too.
    perm = qp.latest_catalog.find_table("perm")
    with trio.fail_after(20):
        while not any(key.startswith(perm.primary_prefix) for key in _stored_keys(cluster)):
            await trio.sleep(0.02)
    stored = _stored_keys(cluster)
    assert stored and not [key for key in stored if is_temp_key(key)]
    assert qp.latest_catalog.find_table("tt") is None  # the shared catalog does not know it


async def test_rollback_undoes_temporary_ddl_and_rows(nursery) -> None:
    _, _, one, _ = await _start(nursery)
    await _sql(one, "CREATE TEMP TABLE kept (a int)")
    await _sql(one, "INSERT INTO kept VALUES (1)")
    await _sql(one, "BEGIN")
    await _sql(one, "CREATE TEMP TABLE gone (a int)")
    await _sql(one, "INSERT INTO gone VALUES (1)")
    await _sql(one, "INSERT INTO kept VALUES (2)")
    await _sql(one, "DROP TABLE kept")
    await _sql(one, "ROLLBACK")
    assert (await _error(one, "SELECT * FROM gone")).sqlstate == "42P01"
    assert await _rows(one, "SELECT a FROM kept") == [["1"]]


async def test_a_prepared_statement_is_planned_again_when_its_temporary_table_is_recreated(nursery) -> None:
    _, _, one, _ = await _start(nursery)
    await _sql(one, "CREATE TABLE tt (a int)")
    await _sql(one, "INSERT INTO tt VALUES (100)")
    await one.parse("p", "SELECT a FROM tt", [])
    await one.sync()
    assert await _execute(one, "p") == [["100"]]
    await _sql(one, "CREATE TEMP TABLE tt (a int)")  # hides the permanent one
    await _sql(one, "INSERT INTO tt VALUES (1)")
    assert await _execute(one, "p") == [["1"]]
    await _sql(one, "DROP TABLE tt")
    await _sql(one, "CREATE TEMP TABLE tt (a int)")
    await _sql(one, "INSERT INTO tt VALUES (2)")
    assert await _execute(one, "p") == [["2"]]
    await _sql(one, "DISCARD TEMP")
    assert await _execute(one, "p") == [["100"]]


async def test_a_closed_session_frees_its_temporary_tables(nursery) -> None:
    _, qp, one, _ = await _start(nursery)
    await _sql(one, "CREATE TEMP TABLE tt (a int)")
    await _sql(one, "INSERT INTO tt VALUES (1)")
    store = one.temp_store
    assert store
    await one.close()
    three = await qp.open_session({"user": "postgres", "database": "postgres"})
    assert (await _error(three, "SELECT * FROM tt")).sqlstate == "42P01"
    assert not three.temp_store


async def test_batched_copy_and_analyze_keep_a_temporary_table_in_the_session(nursery) -> None:
    cluster, qp, one, _ = await _start(nursery)
    await _sql(one, "CREATE TEMP TABLE tt (a int PRIMARY KEY, b text)")
    await _sql(one, "SET dsql.copy_batch_rows = 2")
    tags = []
    async for event in one.simple_query("COPY tt FROM STDIN"):  # as pgwire does: feed the sink
        if isinstance(event, CopyInResponse):
            await event.sink.data(b"1\tx\n2\ty\n3\tz\n")
            await event.sink.done()
        elif isinstance(event, CommandComplete):
            tags.append(event.tag)
    assert tags == ["COPY 3"]
    assert await _rows(one, "SELECT count(*) FROM tt") == [["3"]]
    await _sql(one, "ANALYZE tt")
    assert not [key for key in _stored_keys(cluster) if is_temp_key(key)]


async def test_a_transaction_that_loses_a_conflict_keeps_none_of_its_temporary_writes(nursery) -> None:
    _, _, one, two = await _start(nursery)
    await _sql(one, "CREATE TABLE perm (a int PRIMARY KEY, v int)")
    await _sql(one, "INSERT INTO perm VALUES (1, 0)")
    await _sql(one, "CREATE TEMP TABLE tt (a int)")
    await _sql(one, "BEGIN")
    await _sql(one, "INSERT INTO tt VALUES (1)")
    await _sql(one, "CREATE TEMP TABLE made_in_loser (a int)")
    await _sql(one, "UPDATE perm SET v = 1 WHERE a = 1")
    await _sql(two, "UPDATE perm SET v = 2 WHERE a = 1")  # commits first
    error = await _error(one, "COMMIT")
    assert error.sqlstate == "40001"
    assert await _rows(one, "SELECT count(*) FROM tt") == [["0"]]
    assert (await _error(one, "SELECT * FROM made_in_loser")).sqlstate == "42P01"
    assert await _rows(one, "SELECT v FROM perm") == [["2"]]


async def test_a_session_s_temporary_tables_have_a_bound(nursery, monkeypatch) -> None:
    _, _, one, _ = await _start(nursery)
    monkeypatch.setattr(temp_store, "TEMP_KEYS_MAX", 50)
    await _sql(one, "CREATE TABLE perm (a int PRIMARY KEY)")
    await _sql(one, "CREATE TEMP TABLE tt (a int PRIMARY KEY)")
    await _sql(one, "INSERT INTO tt SELECT g FROM generate_series(1, 30) g")
    await _sql(one, "BEGIN")
    await _sql(one, "INSERT INTO perm VALUES (1)")
    await _sql(one, "INSERT INTO tt SELECT g FROM generate_series(31, 60) g")
    assert (await _error(one, "COMMIT")).sqlstate == "53400"
    assert await _rows(one, "SELECT count(*) FROM perm") == [["0"]]  # nothing of it committed
    assert await _rows(one, "SELECT count(*) FROM tt") == [["30"]]
    await _sql(one, "TRUNCATE tt")
    await _sql(one, "INSERT INTO tt SELECT g FROM generate_series(1, 40) g")
    assert await _rows(one, "SELECT count(*) FROM tt") == [["40"]]


async def test_a_temporary_table_after_others_gets_its_oids_where_the_counter_is(nursery) -> None:
    # CREATE TABLE is bound with its oids numbered from a placeholder (past every temporary
    # table's oid) and applied where the session's counter is: here past the first table's
    # index and sequence too, so the self-reference, the serial column's sequence and its
    # owner move with it.
    _, _, one, _ = await _start(nursery)
    await _sql(one, "CREATE TEMP TABLE first_t (a serial PRIMARY KEY, b int UNIQUE)")
    await _sql(one, "CREATE TEMP TABLE tree (id serial PRIMARY KEY, parent int REFERENCES tree ON DELETE CASCADE)")
    await _sql(one, "INSERT INTO tree (parent) VALUES (NULL)")
    await _sql(one, "INSERT INTO tree (parent) VALUES (1), (1)")
    assert (await _error(one, "INSERT INTO tree (parent) VALUES (99)")).sqlstate == "23503"
    assert await _rows(one, "SELECT confrelid = conrelid FROM pg_constraint WHERE conname = 'tree_parent_fkey'") \
        == [["t"]]  # fmt: skip
    assert await _rows(one, "SELECT pg_get_serial_sequence('tree', 'id') IS NOT NULL") == [["t"]]
    await _sql(one, "DELETE FROM tree WHERE id = 1")
    assert await _rows(one, "SELECT count(*) FROM tree") == [["0"]]
