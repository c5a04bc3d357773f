"""TRUNCATE: a catalog swap outside a transaction block, a transactional delete inside one."""

from __future__ import annotations

import psycopg
import pytest


def test_truncate_outside_a_block_empties_a_table_of_any_size(dsql_server, table_name: str) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        conn.execute(f"create table {table_name} (id int primary key, v text)")
        conn.execute(f"create index on {table_name} (v)")
        for start in range(0, 6000, 2000):  # twice DSQL's 3,000-row limit in all
            conn.execute(f"insert into {table_name} select g, 'v' || g from generate_series({start + 1}, {start + 2000}) g")
        with pytest.raises(psycopg.Error) as too_big:  # as a DELETE it would be refused
            conn.execute(f"delete from {table_name}")
        assert too_big.value.sqlstate == "54000"
        assert conn.execute(f"truncate {table_name}").statusmessage == "TRUNCATE TABLE"
        assert conn.execute(f"select count(*) from {table_name}").fetchone() == (0,)
        assert conn.execute(f"select id from {table_name} where v = 'v5'").fetchall() == []  # the index too
        conn.execute(f"insert into {table_name} values (5, 'v5')")
        assert conn.execute(f"select id from {table_name} where v = 'v5'").fetchall() == [(5,)]
        assert conn.execute(f"select count(*) from {table_name}").fetchone() == (1,)


def test_truncate_in_a_block_is_undone_by_rollback_and_mixes_with_dml(dsql_server, table_name: str) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        conn.execute(f"create table {table_name} (id int primary key)")
        conn.execute(f"insert into {table_name} values (1), (2)")
        conn.execute("begin")
        conn.execute(f"truncate {table_name}")
        conn.execute(f"insert into {table_name} values (3)")
        assert conn.execute(f"select id from {table_name}").fetchall() == [(3,)]
        conn.execute("rollback")
        assert conn.execute(f"select id from {table_name} order by id").fetchall() == [(1,), (2,)]


def test_a_concurrent_writer_conflicts_and_an_older_snapshot_still_reads(dsql_server, table_name: str) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn, \
            psycopg.connect(dsql_server.dsn) as writer, psycopg.connect(dsql_server.dsn) as reader:
        conn.execute(f"create table {table_name} (id int primary key)")
        conn.execute(f"insert into {table_name} values (1), (2)")
        assert reader.execute(f"select count(*) from {table_name}").fetchone() == (2,)  # snapshot taken
        writer.execute(f"insert into {table_name} values (3)")
        conn.execute(f"truncate {table_name}")
        with pytest.raises(psycopg.Error) as lost:
            writer.commit()  # its row would land in the abandoned key range
        assert lost.value.sqlstate == "40001" and "OC001" in str(lost.value)
        assert reader.execute(f"select count(*) from {table_name}").fetchone() == (2,)  # snapshot isolation
        reader.commit()
        assert conn.execute(f"select count(*) from {table_name}").fetchone() == (0,)


def test_truncate_then_dml_in_one_pipeline_is_refused_as_ddl_with_dml(dsql_server, table_name: str) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        conn.execute(f"create table {table_name} (id int primary key)")
        conn.execute(f"insert into {table_name} values (1)")
        with pytest.raises(psycopg.Error) as refused:
            with conn.pipeline():
                conn.execute(f"truncate {table_name}")
                conn.execute(f"insert into {table_name} values (2)")
        assert refused.value.sqlstate == "0A000"
        # The implicit transaction failed as a whole: nothing was truncated or inserted.
        assert conn.execute(f"select id from {table_name}").fetchall() == [(1,)]
