"""Partial and expression indexes in plans: the planner reads them where it may, never where it may not.

The differential corpus (tests/sql/41_index_kinds.sql) proves the rows are
PostgreSQL's whether or not an index is read; these tests prove the indexes
are read at all: a partial index only when the query's conditions include its
predicate, an expression index only for a condition on its expression. They
also prove the catalog of an older dsql (indexes as eight-field lists) still reads.
"""

from __future__ import annotations

import psycopg
import pytest

from qp.catalog.stored import IndexDef, IndexState, TableDef, _index_from_record, _index_record


@pytest.fixture
def conn(dsql_server):
    with psycopg.connect(dsql_server.dsn, autocommit=True) as connection:
        yield connection


def plan(conn, sql: str) -> str:
    return "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql).fetchall())


def ix(table: str, suffix: str) -> str:
    return f"{table[:50]}_{suffix}"


def test_partial_index_is_read_only_under_its_predicate(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, k int, status text)")
    conn.execute(f"INSERT INTO {table_name} SELECT g, g % 10, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'done' END "
                 f"FROM generate_series(1, 300) AS g")  # fmt: skip
    conn.execute(f"CREATE INDEX {ix(table_name, 'open')} ON {table_name} (k) WHERE status = 'open'")
    used = f"Index Scan using {ix(table_name, 'open')}"
    query = f"SELECT id FROM {table_name} WHERE k = 3 AND status = 'open'"
    assert used in plan(conn, query)
    assert sorted(r[0] for r in conn.execute(query)) == [
        g for g in range(1, 301) if g % 10 == 3 and g % 3 == 0
    ]
    # Without the predicate, or with another one, the index would miss rows.
    assert used not in plan(conn, f"SELECT id FROM {table_name} WHERE k = 3")
    assert used not in plan(conn, f"SELECT id FROM {table_name} WHERE k = 3 AND status = 'done'")
    conn.execute(f"DROP TABLE {table_name}")


def test_expression_index_is_read_for_its_expression(conn, table_name):
    conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, name text)")
    conn.execute(f"INSERT INTO {table_name} SELECT g, 'Name' || (g % 50) FROM generate_series(1, 500) AS g")
    conn.execute(f"CREATE INDEX {ix(table_name, 'lower')} ON {table_name} (lower(name))")
    used = f"Index Scan using {ix(table_name, 'lower')}"
    query = f"SELECT id FROM {table_name} WHERE lower(name) = 'name7'"
    text = plan(conn, query)
    assert used in text and "Index Cond on: lower(name)" in text
    assert sorted(r[0] for r in conn.execute(query)) == list(range(7, 501, 50))
    assert used in plan(conn, f"SELECT id FROM {table_name} WHERE lower(name) > 'name48'")
    assert used not in plan(conn, f"SELECT id FROM {table_name} WHERE upper(name) = 'NAME7'")
    assert used not in plan(conn, f"SELECT id FROM {table_name} WHERE name = 'name7'")
    conn.execute(f"DROP TABLE {table_name}")


def test_index_records_written_before_the_new_fields_still_read():
    old = [16500, "t_k_idx", 2, [1], False, False, IndexState.PUBLIC, False]
    index = _index_from_record(old)
    assert index == IndexDef(16500, "t_k_idx", 2, (1,), False, False, IndexState.PUBLIC, False)
    assert _index_record(index) == old  # and an index without them is written as before
    new = IndexDef(
        16501,
        "t_x",
        3,
        (-1, 0),
        True,
        include=(2,),
        nulls_not_distinct=True,
        predicate='{"A_Const": {}}',
        expressions=(('{"FuncCall": {}}', 25, -1, "lower(a)"), None),
    )
    assert _index_from_record(_index_record(new)) == new


def test_table_records_written_before_generated_columns_still_read():
    record = {
        "oid": 16400,
        "name": "t",
        "schema": "public",
        "key_id": 7,
        "pk": [0],
        "indexes": [],
        "checks": [],
        "next_index_id": 2,
        "columns": [["a", 23, -1, True, None, False, None, None]],
    }
    table = TableDef.from_record(record)
    assert table.columns[0].generated is None
    assert table.to_record()["columns"] == record["columns"]
