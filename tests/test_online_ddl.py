"""Online schema changes: indexes built while writers run, constraints added to
tables with rows, and DSQL's asynchronous forms (CREATE INDEX ASYNC, sys.jobs,
CALL sys.wait_for_job, ALTER TABLE ASYNC ... VALIDATE CONSTRAINT).

The planner must use an index once its build is published (EXPLAIN shows it),
never before; a failed build must leave no index and no constraint behind.
"""

from __future__ import annotations

import re
import threading

import psycopg
import pytest

JOB_ID = re.compile(r"^[a-z2-7]{26}$")


@pytest.fixture
def conn(dsql_server):
    with psycopg.connect(dsql_server.dsn, autocommit=True) as connection:
        yield connection


def ix(table: str, suffix: str) -> str:
    """An index name that stays within PostgreSQL's 63-byte identifiers."""
    return f"{table[:55]}_{suffix}"


def plan(conn, sql: str) -> str:
    return "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql).fetchall())


def test_create_index_is_used_once_built(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {table_name} SELECT g, g % 10 FROM generate_series(1, 1500) AS g")
    assert "Index Scan" not in plan(conn, f"SELECT * FROM {table_name} WHERE v = 3")
    conn.execute(f"CREATE INDEX {ix(table_name, 'v')} ON {table_name} (v)")
    assert f"Index Scan using {ix(table_name, 'v')}" in plan(conn, f"SELECT * FROM {table_name} WHERE v = 3")
    assert conn.execute(f"SELECT count(*) FROM {table_name} WHERE v = 3").fetchone()[0] == 150
    conn.execute(f"DROP TABLE {table_name}")


def test_unique_index_build_fails_on_duplicates_and_leaves_nothing(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {table_name} VALUES (1, 7), (2, 7)")
    with pytest.raises(psycopg.errors.UniqueViolation, match="could not create unique index"):
        conn.execute(f"CREATE UNIQUE INDEX {ix(table_name, 'u')} ON {table_name} (v)")
    conn.execute(f"INSERT INTO {table_name} VALUES (3, 7)")  # no index left enforcing uniqueness
    assert "Index Scan" not in plan(conn, f"SELECT * FROM {table_name} WHERE v = 7")
    conn.execute(f"DROP TABLE {table_name}")


@pytest.mark.parametrize("second", [2, 999, 1000, 2500])
def test_unique_index_build_finds_duplicates_within_and_across_batches(conn, table_name, second):
    """The backfill checks a page of rows at a time: a duplicate in the same page
    and one in a later batch (1,000 rows each) are both found, and named."""
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    for start in range(1, 3001, 1000):  # DSQL's 3,000-row limit: three transactions
        conn.execute(f"INSERT INTO {table_name} SELECT g, g FROM generate_series({start}, {start + 999}) AS g")
    conn.execute(f"UPDATE {table_name} SET v = 1 WHERE id = {second}")
    with pytest.raises(psycopg.errors.UniqueViolation) as failed:
        conn.execute(f"CREATE UNIQUE INDEX {ix(table_name, 'u')} ON {table_name} (v)")
    assert failed.value.diag.message_detail == "Key (v)=(1) is duplicated."
    conn.execute(f"UPDATE {table_name} SET v = {second} WHERE id = {second}")
    conn.execute(f"CREATE UNIQUE INDEX {ix(table_name, 'u')} ON {table_name} (v)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(f"INSERT INTO {table_name} VALUES (5000, 1)")
    conn.execute(f"DROP TABLE {table_name}")


def test_index_build_while_writers_run(dsql_server, conn, table_name):
    """Rows written during the build are indexed (by the writers), rows from before
    by the backfill: afterwards the index answers exactly like a scan."""
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {table_name} SELECT g, g % 13 FROM generate_series(1, 2000) AS g")
    stop = threading.Event()

    def writer():
        with psycopg.connect(dsql_server.dsn, autocommit=True) as w:
            i = 2001
            while not stop.is_set():
                try:
                    w.execute(f"INSERT INTO {table_name} VALUES (%s, %s)", (i, i % 13))
                    w.execute(f"UPDATE {table_name} SET v = v + 1 WHERE id = %s", (i - 1500,))
                    w.execute(f"DELETE FROM {table_name} WHERE id = %s", (i - 1000,))
                except psycopg.errors.SerializationFailure:
                    pass
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # DDL racing writers may lose to one of them with OC001 (as in DSQL,
        # whose clients retry); the build itself never blocks them.
        for _attempt in range(50):
            try:
                conn.execute(f"CREATE INDEX {ix(table_name, 'v')} ON {table_name} (v)")
                break
            except psycopg.errors.SerializationFailure:
                continue
        else:
            raise AssertionError("CREATE INDEX lost to the writers 50 times in a row")
    finally:
        stop.set()
        thread.join()
    for v in range(14):
        by_index = conn.execute(f"SELECT id FROM {table_name} WHERE v = %s ORDER BY id", (v,)).fetchall()
        by_scan = conn.execute(f"SELECT id FROM {table_name} WHERE v + 0 = %s ORDER BY id", (v,)).fetchall()
        assert by_index == by_scan
    assert "Index Scan" in plan(conn, f"SELECT id FROM {table_name} WHERE v = 1")
    conn.execute(f"DROP TABLE {table_name}")


def test_create_index_async_job(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {table_name} SELECT g, g % 5 FROM generate_series(1, 500) AS g")
    job_id = conn.execute(f"CREATE INDEX ASYNC {ix(table_name, 'v')} ON {table_name} (v)").fetchone()[0]
    assert JOB_ID.match(job_id)
    assert conn.execute("CALL sys.wait_for_job(%s)", (job_id,)).fetchone()[0] is True
    status = conn.execute(
        "SELECT job_type, object_name, status FROM sys.jobs WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert status == ("INDEX_BUILD", f"{ix(table_name, 'v')}", "completed")
    assert f"Index Scan using {ix(table_name, 'v')}" in plan(conn, f"SELECT * FROM {table_name} WHERE v = 2")
    failing = conn.execute(f"CREATE UNIQUE INDEX ASYNC {ix(table_name, 'u')} ON {table_name} (v)").fetchone()[0]
    assert conn.execute("CALL sys.wait_for_job(%s)", (failing,)).fetchone()[0] is False
    details = conn.execute("SELECT status, details FROM sys.jobs WHERE job_id = %s", (failing,)).fetchone()
    assert details[0] == "failed" and "duplicated" in details[1]
    conn.execute(f"DROP TABLE {table_name}")


def test_validate_constraint_async(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {table_name} VALUES (1, 1), (2, -1)")
    conn.execute(f"ALTER TABLE {table_name} ADD CONSTRAINT v_pos CHECK (v >= 0) NOT VALID")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(f"INSERT INTO {table_name} VALUES (3, -5)")  # enforced on new rows at once
    job = conn.execute(f"ALTER TABLE ASYNC {table_name} VALIDATE CONSTRAINT v_pos").fetchone()[0]
    assert conn.execute("CALL sys.wait_for_job(%s)", (job,)).fetchone()[0] is False  # row 2 violates it
    conn.execute(f"DELETE FROM {table_name} WHERE id = 2")
    job = conn.execute(f"ALTER TABLE ASYNC {table_name} VALIDATE CONSTRAINT v_pos").fetchone()[0]
    assert conn.execute("CALL sys.wait_for_job(%s)", (job,)).fetchone()[0] is True
    conn.execute(f"DROP TABLE {table_name}")


def test_wait_for_unknown_job(conn):
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("CALL sys.wait_for_job('nosuchjob')")


def test_constraint_indexes_take_the_oids_after_the_counter(conn, table_name):
    """ALTER TABLE ADD CONSTRAINT is bound with its indexes' oids numbered from a placeholder
    and applied where the catalog's counter is: each index gets a fresh oid of its own, and
    the next object gets the oid after them."""
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, a int, b int)")
    conn.execute(f"ALTER TABLE {table_name} ADD CONSTRAINT {ix(table_name, 'a')} UNIQUE (a), "
                 f"ADD CONSTRAINT {ix(table_name, 'b')} UNIQUE (b)")  # fmt: skip
    conn.execute(f"CREATE INDEX {ix(table_name, 'ab')} ON {table_name} (a, b)")
    oids = [row[0] for row in conn.execute(
        "SELECT c.oid::int FROM pg_class c WHERE c.relname IN (%s, %s, %s) ORDER BY c.oid",
        (ix(table_name, "a"), ix(table_name, "b"), ix(table_name, "ab"))).fetchall()]  # fmt: skip
    table_oid = conn.execute("SELECT %s::regclass::oid::int", (table_name,)).fetchone()[0]
    assert len(oids) == 3 and oids[0] > table_oid and oids == [oids[0], oids[0] + 1, oids[0] + 2]
    conn.execute(f"INSERT INTO {table_name} VALUES (1, 1, 1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(f"INSERT INTO {table_name} VALUES (2, 1, 2)")
    conn.execute(f"DROP TABLE {table_name}")
