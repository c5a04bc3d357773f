"""Online DDL over large tables goes in batches, each a transaction of its own.

An index build writes its entries 1,000 rows per transaction; validating a new
CHECK, FOREIGN KEY or primary key's NOT NULL reads the rows in batches, each at
a snapshot of its own, so no snapshot outlives storage's retention however
large the table. These run the real parts in one process with the batch sizes
made small, and check that a violation in any batch (the first, a middle one,
the last row) is found, and that a clean table passes.
"""

from __future__ import annotations

import pytest

from assembly.embedded import ClusterConfig, EmbeddedCluster
from qp.bind.context import BindContext
from qp.ddl import online as qp_online
from qp.errors import SqlError
from qp.exec.index_keys import IndexKeys
from qp.frontend.server import QueryProcessor
from qp.types.context import EvalContext
from storage import keys


async def _sql(session, sql: str) -> list:
    return [event async for event in session.simple_query(sql)]


@pytest.fixture
async def session(nursery, monkeypatch):
    monkeypatch.setattr(qp_online, "VALIDATE_BATCH_ROWS", 7)
    monkeypatch.setattr(qp_online, "INDEX_BACKFILL_BATCH_ROWS", 5)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    return await qp.open_session({"user": "postgres", "database": "postgres"})


@pytest.mark.parametrize("bad", [1, 20, 50])
async def test_a_check_violated_in_any_batch_is_found(session, bad) -> None:
    await _sql(session, "CREATE TABLE vb_t (a int PRIMARY KEY, b int)")
    await _sql(session, f"INSERT INTO vb_t SELECT g, CASE WHEN g = {bad} THEN -1 ELSE g END FROM generate_series(1, 50) g")
    with pytest.raises(SqlError) as caught:
        await _sql(session, "ALTER TABLE vb_t ADD CONSTRAINT vb_positive CHECK (b > 0)")
    assert caught.value.sqlstate == "23514"
    await _sql(session, f"UPDATE vb_t SET b = 1 WHERE a = {bad}")
    await _sql(session, "ALTER TABLE vb_t ADD CONSTRAINT vb_positive CHECK (b > 0)")
    with pytest.raises(SqlError) as caught:
        await _sql(session, "INSERT INTO vb_t VALUES (99, -5)")
    assert caught.value.sqlstate == "23514"


async def test_a_foreign_key_and_a_primary_key_over_many_batches(session) -> None:
    await _sql(session, "CREATE TABLE vb_parent (id int PRIMARY KEY)")
    await _sql(session, "INSERT INTO vb_parent SELECT g FROM generate_series(1, 30) g")
    await _sql(session, "CREATE TABLE vb_child (id int, parent int)")
    await _sql(session, "INSERT INTO vb_child SELECT g, g % 30 + 1 FROM generate_series(1, 60) g")
    await _sql(session, "INSERT INTO vb_child VALUES (61, 31)")  # no such parent, in the last batch
    with pytest.raises(SqlError) as caught:
        await _sql(session, "ALTER TABLE vb_child ADD CONSTRAINT vb_fk FOREIGN KEY (parent) REFERENCES vb_parent (id)")
    assert caught.value.sqlstate == "23503"
    await _sql(session, "DELETE FROM vb_child WHERE id = 61")
    await _sql(session, "ALTER TABLE vb_child ADD CONSTRAINT vb_fk FOREIGN KEY (parent) REFERENCES vb_parent (id)")
    await _sql(session, "INSERT INTO vb_child VALUES (62, NULL)")  # a NULL key: the new primary key refuses it
    with pytest.raises(SqlError) as caught:
        await _sql(session, "ALTER TABLE vb_child ADD PRIMARY KEY (id, parent)")
    assert caught.value.sqlstate == "23502"
    await _sql(session, "DELETE FROM vb_child WHERE id = 62")
    await _sql(session, "INSERT INTO vb_child VALUES (5, 6)")  # a duplicate (5, 6), found by the index build
    with pytest.raises(SqlError) as caught:
        await _sql(session, "ALTER TABLE vb_child ADD PRIMARY KEY (id, parent)")
    assert caught.value.sqlstate == "23505"
    await _sql(session, "DELETE FROM vb_child WHERE id = 5")
    await _sql(session, "INSERT INTO vb_child VALUES (5, 6)")
    await _sql(session, "ALTER TABLE vb_child ADD PRIMARY KEY (id, parent)")
    events = await _sql(session, "SELECT count(*) FROM vb_child")
    assert [e.rows for e in events if type(e).__name__ == "DataRows"] == [[[b"60"]]]


async def test_rows_that_share_parents_are_checked_each(session) -> None:
    """Parent keys are computed once per distinct value (qp/ddl/constraints.py); a missing
    parent among many repeated ones is still found and named, by a new constraint and by an
    INSERT's check."""
    await _sql(session, "CREATE TABLE vb_few (id int PRIMARY KEY)")
    await _sql(session, "INSERT INTO vb_few VALUES (1), (2), (3)")
    await _sql(session, "CREATE TABLE vb_many (id int, parent int)")
    await _sql(session, "INSERT INTO vb_many SELECT g, CASE WHEN g = 40 THEN 31 ELSE g % 3 + 1 END "
                        "FROM generate_series(1, 90) g")
    with pytest.raises(SqlError) as caught:
        await _sql(session, "ALTER TABLE vb_many ADD CONSTRAINT vb_many_fk FOREIGN KEY (parent) REFERENCES vb_few (id)")
    assert (caught.value.sqlstate, caught.value.detail) == (
        "23503", 'Key (parent)=(31) is not present in table "vb_few".')
    await _sql(session, "DELETE FROM vb_many WHERE id = 40")
    await _sql(session, "ALTER TABLE vb_many ADD CONSTRAINT vb_many_fk FOREIGN KEY (parent) REFERENCES vb_few (id)")
    with pytest.raises(SqlError) as caught:
        await _sql(session, "INSERT INTO vb_many SELECT g, CASE WHEN g IN (150, 160) THEN g ELSE g % 3 + 1 END "
                            "FROM generate_series(100, 200) g")
    assert (caught.value.sqlstate, caught.value.detail) == (
        "23503", 'Key (parent)=(150) is not present in table "vb_few".')
    events = await _sql(session, "SELECT count(*), sum(parent) FROM vb_many")
    assert [e.rows for e in events if type(e).__name__ == "DataRows"] == [[[b"89", b"178"]]]


@pytest.mark.parametrize("order", ["rising", "scattered"])
async def test_a_unique_build_finds_duplicates_whatever_the_key_order(session, order) -> None:
    """A batch reads the index span its entries cover when that span holds few entries
    (keys that rise with the rows' order), else entry by entry (qp/ddl/indexes.py): either
    way a duplicate in the same batch, in an earlier batch or in a later one is found, and
    a clean table gets every entry."""
    key = "g" if order == "rising" else "(g * 37) % 101"  # 37 is a unit mod 101: 101 distinct keys
    for dup_of, dup_row in [(3, 4), (2, 60), (90, 95)]:
        await _sql(session, "DROP TABLE IF EXISTS ub_t")
        await _sql(session, "CREATE TABLE ub_t (id int, k int)")
        await _sql(session, f"INSERT INTO ub_t SELECT g, {key} FROM generate_series(0, 100) g")
        await _sql(session, f"UPDATE ub_t SET k = (SELECT k FROM ub_t WHERE id = {dup_of}) WHERE id = {dup_row}")
        with pytest.raises(SqlError) as caught:
            await _sql(session, "CREATE UNIQUE INDEX ub_k ON ub_t (k)")
        assert caught.value.sqlstate == "23505", (order, dup_of, dup_row)
    await _sql(session, "DROP TABLE ub_t")
    await _sql(session, "CREATE TABLE ub_t (id int, k int)")
    await _sql(session, f"INSERT INTO ub_t SELECT g, {key} FROM generate_series(0, 100) g")
    await _sql(session, "CREATE UNIQUE INDEX ub_k ON ub_t (k)")
    with pytest.raises(SqlError) as caught:
        await _sql(session, "INSERT INTO ub_t VALUES (500, 50)")
    assert caught.value.sqlstate == "23505"
    events = await _sql(session, "SELECT count(*) FROM ub_t WHERE k BETWEEN 0 AND 100")
    assert [e.rows for e in events if type(e).__name__ == "DataRows"] == [[[b"101"]]]


def _rows(events) -> list:
    return [row for e in events if type(e).__name__ == "DataRows" for row in e.rows]


@pytest.mark.parametrize(
    ("index", "change", "conflicts"),
    [
        ("CREATE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET v = 77 WHERE id = 3", True),
        ("CREATE INDEX cw_v ON cw_t (v)", "DELETE FROM cw_t WHERE id = 3", True),
        ("CREATE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET id = 0 WHERE id = 3", True),
        ("CREATE INDEX cw_v ON cw_t (v) WHERE v < 100", "UPDATE cw_t SET v = 500 WHERE id = 3", True),
        ("CREATE UNIQUE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET v = 77 WHERE id = 3", True),
        ("CREATE UNIQUE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET id = 0 WHERE id = 3", True),
        ("CREATE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET w = 5 WHERE id = 3", False),
        ("CREATE UNIQUE INDEX cw_v ON cw_t (v)", "UPDATE cw_t SET w = 5 WHERE id = 3", False),
    ],
)
async def test_a_row_changed_under_a_backfill_batch(nursery, monkeypatch, index, change, conflicts) -> None:
    """A writer changes a row of a batch after the batch read it and before it commits.
    A change that makes the entry the batch computed wrong conflicts with the batch
    through that entry's key (the batch is read again and the index answers as a scan
    does); a change that leaves the entry right costs the batch nothing: rows are not
    check keys of the batch (qp/ddl/indexes.py)."""
    monkeypatch.setattr(qp_online, "INDEX_BACKFILL_BATCH_ROWS", 5)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    builder = await qp.open_session({"user": "postgres", "database": "postgres"})
    writer = await qp.open_session({"user": "postgres", "database": "postgres"})
    await _sql(builder, "CREATE TABLE cw_t (id int PRIMARY KEY, v int, w int)")
    await _sql(builder, "INSERT INTO cw_t SELECT g, g, 0 FROM generate_series(1, 12) g")
    calls: list[bytes] = []
    backfill_batch = qp_online.backfill_batch

    async def batch_then_write(txn, table, index, start, *args, **kwargs):
        resume = await backfill_batch(txn, table, index, start, *args, **kwargs)
        calls.append(start)
        if len(calls) == 1:  # the first batch holds rows 1-5: change row 3 before it commits
            await _sql(writer, change)
        return resume

    monkeypatch.setattr(qp_online, "backfill_batch", batch_then_write)
    await _sql(builder, index)
    assert (calls[0] == calls[1]) is conflicts, calls  # read again exactly when it conflicted
    assert len(calls) == 3 + conflicts  # 12 rows: three batches of five, and the one read again
    within = " AND v < 100" if "WHERE" in index else ""  # what makes a partial index usable
    explain = await _sql(builder, f"EXPLAIN SELECT id FROM cw_t WHERE v = 3{within}")
    assert "Index Scan using cw_v" in "\n".join(r[0].decode() for r in _rows(explain))
    for v in [*range(0, 14), 77, 500]:
        by_index = _rows(await _sql(builder, f"SELECT id FROM cw_t WHERE v = {v}{within} ORDER BY id"))
        by_scan = _rows(await _sql(builder, f"SELECT id FROM cw_t WHERE v + 0 = {v} ORDER BY id"))
        by_scan = [r for r in by_scan if not within or v < 100]
        assert by_index == by_scan, (v, by_index, by_scan)
    assert await _index_entries(qp, "cw_t", "cw_v") == await _entries_of_rows(qp, "cw_t", "cw_v")


async def _scan(txn, start: bytes, end: bytes) -> dict:
    return {key: value for page in [p async for p in txn.scan(start, end)] for key, value in page}


async def _index_entries(qp, table_name: str, index_name: str) -> dict:
    """An index's entries as storage holds them: a stale one pointing at a row deleted
    or moved is invisible to queries, not to this."""

    async def read(txn):
        table = txn.catalog.find_table(table_name)
        prefix = table.index_prefix(table.index_named(index_name))
        return await _scan(txn, prefix, keys.prefix_end(prefix))

    return await qp.txns.run(read, read_only=True, with_catalog=True)


async def _entries_of_rows(qp, table_name: str, index_name: str) -> dict:
    """The entries the table's rows call for, computed as writers compute them."""

    async def read(txn):
        table = txn.catalog.find_table(table_name)
        index = table.index_named(index_name)
        rows = await _scan(txn, table.primary_prefix, table.primary_end)
        index_keys = IndexKeys(table, BindContext(txn.catalog, EvalContext()))
        entries = {}
        for row_key, row in rows.items():
            values = index_keys.values(index, row)
            if values is not None:
                entries[table.index_entry_key(index, row, row_key, values)] = row_key
        return entries

    return await qp.txns.run(read, read_only=True, with_catalog=True)
