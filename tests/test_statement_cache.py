"""A session's statements kept by text (qp/frontend/statement_cache.py): a repeated
statement is not parsed, bound and planned again, yet answers as if it were.

Each test runs the same text twice with something in between that must change the
answer — a setting that changes how a literal is read, DDL, the search path, the
role, a temporary table that hides a permanent one — in the simple protocol (psql's)
and as an unnamed extended-protocol statement (psycopg's `execute` with parameters),
and checks the second answer is the new one, as PostgreSQL, which plans every such
statement again, gives it. The pure cache (bounds, order) is tested without a server.
"""

from __future__ import annotations

import psycopg
import pytest
from support.names import unique_name

from qp.frontend.statement_cache import StatementCache

pytestmark = pytest.mark.timeout(120)


def _run(conn: psycopg.Connection, sql: str, params: tuple | None, protocol: str) -> list[tuple]:
    if protocol == "simple":
        assert params is None
        return _simple(conn, sql)
    return conn.execute(sql, params or ()).fetchall()


def _simple(conn: psycopg.Connection, sql: str) -> list[tuple]:
    result = conn.pgconn.exec_(sql.encode())
    assert result.error_message == b"", result.error_message

    def text(value: bytes | None) -> str | None:
        return None if value is None else value.decode()

    return [tuple(text(result.get_value(r, c)) for c in range(result.nfields)) for r in range(result.ntuples)]


@pytest.fixture
def conn(dsql_server):
    with psycopg.connect(dsql_server.dsn, autocommit=True) as connection:
        yield connection


def test_a_setting_that_reads_literals_otherwise_is_not_answered_from_the_cache(conn) -> None:
    sql = "SELECT '2024-06-01 12:00'::timestamptz::text"
    conn.execute("SET TimeZone = 'UTC'")
    first = _simple(conn, sql)
    assert _simple(conn, sql) == first  # the second run may come from the cache
    conn.execute("SET TimeZone = 'America/New_York'")
    assert _simple(conn, sql) == [("2024-06-01 12:00:00-04",)]
    conn.execute("SET TimeZone = 'UTC'")
    assert _simple(conn, sql) == first == [("2024-06-01 12:00:00+00",)]


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_ddl_between_two_runs_changes_the_answer(conn, protocol: str) -> None:
    table = unique_name("sc_t")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    try:
        conn.execute(f"INSERT INTO {table} VALUES (1, 10)")
        sql, params = (
            (f"SELECT * FROM {table} WHERE id = 1", None)
            if protocol == "simple"
            else (f"SELECT * FROM {table} WHERE id = %s", (1,))
        )
        for _ in range(2):
            assert len(_run(conn, sql, params, protocol)[0]) == 2
        conn.execute(f"ALTER TABLE {table} ADD COLUMN w int")
        assert len(_run(conn, sql, params, protocol)[0]) == 3
    finally:
        conn.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_the_search_path_and_a_temporary_table_are_followed(conn, protocol: str) -> None:
    schema = unique_name("sc_s")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"CREATE TABLE {schema}.sc_same (v text PRIMARY KEY)")
    conn.execute("CREATE TABLE sc_same (v text PRIMARY KEY)")
    try:
        conn.execute(f"INSERT INTO {schema}.sc_same VALUES ('in {schema}')")
        conn.execute("INSERT INTO sc_same VALUES ('in public')")
        sql, params = (
            ("SELECT v FROM sc_same", None)
            if protocol == "simple"
            else ("SELECT v FROM sc_same WHERE v <> %s", ("",))
        )
        assert _run(conn, sql, params, protocol) == [("in public",)]
        assert _run(conn, sql, params, protocol) == [("in public",)]
        conn.execute(f"SET search_path = {schema}, public")
        assert _run(conn, sql, params, protocol) == [(f"in {schema}",)]
        conn.execute("CREATE TEMP TABLE sc_same (v text)")
        conn.execute("INSERT INTO sc_same VALUES ('temporary')")
        assert _run(conn, sql, params, protocol) == [("temporary",)]
        conn.execute("DROP TABLE pg_temp.sc_same")
        assert _run(conn, sql, params, protocol) == [(f"in {schema}",)]
    finally:
        conn.execute("RESET search_path")
        conn.execute("DROP TABLE sc_same")
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_role_change_checks_privileges_again(conn) -> None:
    table, role = unique_name("sc_p"), unique_name("sc_r")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    conn.execute(f"CREATE ROLE {role}")
    try:
        sql = f"SELECT count(*) FROM {table}"
        assert _simple(conn, sql) == [("0",)]
        conn.execute(f"SET ROLE {role}")
        result = conn.pgconn.exec_(sql.encode())
        assert result.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42501"
        conn.execute("RESET ROLE")
        assert _simple(conn, sql) == [("0",)]
    finally:
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"DROP ROLE {role}")


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache = StatementCache(capacity=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == 1  # a is now the most recent
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and cache.get(("c",)) == 3
    assert len(cache) == 2 and cache.hits == 3 and cache.misses == 1
