"""PostgreSQL fidelity that the differential scripts cannot show on their own.

The scripts (tests/sql/25_fidelity.sql) compare results statement by
statement; what lives here needs a client's view or more than one session:
savepoints through psycopg's nested `transaction()` blocks and TypeInfo, the
ParameterStatus messages a driver sees whichever way a setting changes, the
time now() reports in a block, the conflict check after ROLLBACK TO SAVEPOINT,
psql's LINE/caret excerpts built from the error position — and the pure parts
(the write buffer's undo log, the setting stack) tested without a server.
"""

from __future__ import annotations

import os
import subprocess
import time

import psycopg
import pytest
from psycopg.types import TypeInfo
from support.pgsession import Session

from qp.bind.ddl.naming import check_column, choose_name, make_object_name, name_addition
from qp.frontend.setting_stack import SettingStack
from qp.txn.transaction import WriteBuffer

pytestmark = pytest.mark.timeout(120)


def _connect(server, **kwargs) -> psycopg.Connection:
    return psycopg.connect(server.dsn, **kwargs)


# -- savepoints ------------------------------------------------------------------------------


def _nested_scenario(server, table: str) -> list:
    """psycopg's nested transaction blocks: a SAVEPOINT for each inner one."""
    seen = []
    with _connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        try:
            with conn.transaction():
                conn.execute(f"INSERT INTO {table} VALUES (1, 'outer')")
                with conn.transaction():
                    conn.execute(f"INSERT INTO {table} VALUES (2, 'kept')")
                try:
                    with conn.transaction():
                        conn.execute(f"INSERT INTO {table} VALUES (3, 'undone')")
                        conn.execute(f"INSERT INTO {table} VALUES (1, 'duplicate')")
                except psycopg.errors.UniqueViolation as exc:
                    seen.append(exc.sqlstate)
                try:
                    with conn.transaction():
                        conn.execute(f"INSERT INTO {table} VALUES (4, 'rolled back')")
                        with conn.transaction():
                            conn.execute(f"UPDATE {table} SET v = 'changed' WHERE id = 1")
                        raise psycopg.Rollback()
                except psycopg.Rollback:
                    pass
                seen.append(conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall())
                # TypeInfo.fetch in an open transaction wraps its query in a savepoint too.
                info = TypeInfo.fetch(conn, "int4")
                seen.append((info.oid, info.array_oid) if info else None)
            seen.append(conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall())
        finally:
            conn.execute(f"DROP TABLE {table}")
    return seen


def test_psycopg_nested_transactions(pg_server, dsql_server, table_name) -> None:
    expected = _nested_scenario(pg_server, table_name)
    actual = _nested_scenario(dsql_server, table_name)
    assert actual == expected
    assert actual[-1] == [(1, "outer"), (2, "kept")]


def test_rolled_back_write_does_not_conflict(dsql_server, table_name) -> None:
    """A write undone by ROLLBACK TO leaves the write set; one released stays in it (40001)."""
    with Session(dsql_server.dsn) as a, Session(dsql_server.dsn) as b:
        a.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
        try:
            a.execute(f"INSERT INTO {table_name} VALUES (1, 0), (2, 0)")
            a.execute("BEGIN")
            a.execute(f"SELECT * FROM {table_name}")  # τ_start
            a.execute("SAVEPOINT s")
            a.execute(f"UPDATE {table_name} SET v = 1 WHERE id = 1")
            a.execute("ROLLBACK TO SAVEPOINT s")
            a.execute(f"UPDATE {table_name} SET v = 1 WHERE id = 2")
            b.execute(f"UPDATE {table_name} SET v = 2 WHERE id = 1")  # commits first, on the undone key
            a.execute("COMMIT")
            assert a.query(f"SELECT id, v FROM {table_name} ORDER BY id") == [("1", "2"), ("2", "1")]

            a.execute("BEGIN")
            a.execute(f"SELECT * FROM {table_name}")
            a.execute("SAVEPOINT s")
            a.execute(f"UPDATE {table_name} SET v = 3 WHERE id = 1")
            a.execute("RELEASE SAVEPOINT s")
            b.execute(f"UPDATE {table_name} SET v = 4 WHERE id = 1")
            with pytest.raises(Exception) as caught:
                a.execute("COMMIT")
            assert getattr(caught.value, "sqlstate", None) == "40001"
        finally:
            a.execute(f"DROP TABLE {table_name}")


def test_rollback_to_restores_row_limit(dsql_server, table_name) -> None:
    """Rows undone by ROLLBACK TO no longer count against dsql.transaction_rows_max."""
    with Session(dsql_server.dsn) as s:
        s.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY)")
        try:
            s.execute("SET dsql.transaction_rows_max = 5")
            s.execute("BEGIN")
            s.execute("SAVEPOINT s")
            s.execute(f"INSERT INTO {table_name} SELECT generate_series(1, 4)")
            s.execute("ROLLBACK TO SAVEPOINT s")
            s.execute(f"INSERT INTO {table_name} SELECT generate_series(11, 14)")
            s.execute("COMMIT")
            assert s.scalar(f"SELECT string_agg(id::text, ',' ORDER BY id) FROM {table_name}") == "11,12,13,14"
        finally:
            s.execute("RESET dsql.transaction_rows_max")
            s.execute(f"DROP TABLE {table_name}")


def test_write_buffer_undo_log() -> None:
    buffer = WriteBuffer()
    buffer.put(b"b", 1)
    assert buffer.undo is None  # no savepoint: nothing logged
    buffer.undo = []
    mark = len(buffer.undo)
    buffer.put(b"a", 2)  # new key, sorts before the others
    buffer.put(b"b", None)  # a delete of a buffered key
    buffer.put(b"c", 3)
    assert buffer.keys_in(b"", None) == [b"a", b"b", b"c"]
    inner = len(buffer.undo)
    buffer.put(b"c", 4)
    buffer.undo_to(inner)
    assert buffer.values == {b"b": None, b"a": 2, b"c": 3}
    buffer.undo_to(mark)
    assert buffer.values == {b"b": 1}
    assert buffer.keys_in(b"", None) == [b"b"] and not buffer.has_keys_in(b"c", None)


# -- settings: transactional, and reported --------------------------------------------------------


def test_setting_stack_follows_postgres_rules() -> None:
    settings = {"a": "0"}
    stack = SettingStack(settings)
    stack.change("a", "1", 1, local=False)  # SET in the transaction
    stack.change("a", "2", 1, local=True)  # SET LOCAL after it: commit keeps the SET's value
    assert settings["a"] == "2"
    assert stack.end(1, commit=True) == {"a"} and settings["a"] == "1" and not stack

    stack.change("a", "5", 2, local=True)  # SET LOCAL in a savepoint, released: lives to the end
    stack.end(2, commit=True)
    assert settings["a"] == "5"
    stack.end(1, commit=True)
    assert settings["a"] == "1"

    stack.change("a", "6", 1, local=False)
    stack.change("a", "7", 2, local=False)
    stack.change("new.one", "x", 3, local=False)
    stack.end(3, commit=False)  # ROLLBACK TO the innermost savepoint
    assert "new.one" not in settings
    stack.end(2, commit=True)  # RELEASE
    assert settings["a"] == "7"
    stack.end(1, commit=False)  # ROLLBACK
    assert settings == {"a": "1"} and not stack


REPORT_STEPS = [
    "SET application_name = 'x1'",
    "SELECT set_config('application_name', 'x2', false)",
    "SELECT set_config('TimeZone', 'Europe/Paris', true)",  # local to its own statement
    "BEGIN", "SET application_name = 'x3'", "ROLLBACK",
    "BEGIN", "SET LOCAL TimeZone = 'Asia/Tokyo'", "COMMIT",
    "BEGIN", "SET DateStyle = 'ISO, DMY'", "SELECT 1/0", "ROLLBACK",  # undone at the error already
    "BEGIN", "SAVEPOINT s", "SET application_name = 'x4'", "ROLLBACK TO SAVEPOINT s", "COMMIT",
    "BEGIN", "SAVEPOINT s", "SET IntervalStyle = 'postgres'", "SET application_name = 'x5'", "RELEASE s", "COMMIT",
    "RESET ALL",
    "SET DateStyle = 'ISO, YMD'", "RESET DateStyle",
    "SET application_name = 'x6'", "DISCARD ALL",
]


def _reported(server) -> list:
    seen = []
    with _connect(server, autocommit=True, application_name="fidelity") as conn:
        def status() -> tuple:
            return tuple(conn.info.parameter_status(n) for n in ("application_name", "TimeZone", "DateStyle"))
        for step in REPORT_STEPS:
            try:
                conn.execute(step)
            except psycopg.Error:
                pass
            seen.append((step, status()))
        for query in (b"SET application_name = 'y1'; SELECT 1/0", b"SET application_name = 'y2'; SELECT 1"):
            conn.pgconn.exec_(query)  # one simple query string: one implicit transaction
            seen.append((query, status()))
    return seen


def test_parameter_status_follows_every_change(pg_server, dsql_server) -> None:
    expected = _reported(pg_server)
    actual = _reported(dsql_server)
    assert actual == expected
    assert ("RESET ALL", ("fidelity", "UTC", "ISO, MDY")) in actual  # back to the startup value


def test_now_is_the_start_of_the_block(pg_server, dsql_server) -> None:
    for server in (pg_server, dsql_server):
        with _connect(server, autocommit=True) as conn:
            conn.execute("BEGIN")
            time.sleep(0.05)
            conn.execute("SELECT 1")
            time.sleep(0.05)
            row = conn.execute(
                "SELECT now() = transaction_timestamp(), statement_timestamp() - now() >= interval '90 ms'"
            ).fetchone()
            conn.execute("COMMIT")
            assert row == (True, True), server
            assert conn.execute("SELECT now() = statement_timestamp()").fetchone() == (True,)


def _implicit_scenario(server, table: str) -> list:
    with _connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        try:
            # COMMIT inside one query string commits what came before it (with a
            # warning); ROLLBACK discards what came after.
            conn.pgconn.exec_(f"INSERT INTO {table} VALUES (1); COMMIT; INSERT INTO {table} VALUES (2); ROLLBACK".encode())
            conn.pgconn.exec_(f"INSERT INTO {table} VALUES (3); SELECT 1/0".encode())
            return conn.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()
        finally:
            conn.execute(f"DROP TABLE {table}")


def test_commit_inside_a_query_string(pg_server, dsql_server, table_name) -> None:
    assert _implicit_scenario(dsql_server, table_name) == _implicit_scenario(pg_server, table_name) == [(1,)]


def test_scram_iterations_is_reported_and_used(dsql_server, names) -> None:
    """PostgreSQL 16 reports scram_iterations; CREATE ROLE ... PASSWORD uses the session's value."""
    role = names("role")
    with _connect(dsql_server, autocommit=True) as conn:
        assert conn.info.parameter_status("scram_iterations") == "4096"
        conn.execute("SET scram_iterations = 1000")
        assert conn.info.parameter_status("scram_iterations") == "1000"
        conn.execute(f"CREATE ROLE {role} PASSWORD 'secret'")
        try:
            verifier = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
            assert verifier is not None and verifier[0].startswith("SCRAM-SHA-256$1000:")
        finally:
            conn.execute(f"DROP ROLE {role}")


# -- default names (qp/bind/ddl/naming.py) ------------------------------------------------------------


def test_object_names_are_cut_like_postgres() -> None:
    long_table = "t" * 62
    long_column = "c" * 63
    assert make_object_name("t", "a", "check") == "t_a_check"
    assert make_object_name(long_table, None, "pkey") == "t" * 58 + "_pkey"
    # The longer part gives way first, until both fit beside the label.
    assert make_object_name(long_table, long_column, "key") == "t" * 29 + "_" + "c" * 29 + "_key"
    assert make_object_name(long_table, "r", "fkey") == "t" * 56 + "_r_fkey"
    # A multibyte character is never split: it goes whole.
    assert make_object_name("é" * 31, None, "pkey") == "é" * 29 + "_pkey"
    # A clash numbers the label, and the names shrink to make room for it.
    taken = {"t" * 58 + "_pkey"}
    assert choose_name(long_table, None, "pkey", taken.__contains__) == "t" * 57 + "_pkey1"
    assert choose_name("t", "a", "check", {"t_a_check", "t_a_check1"}.__contains__) == "t_a_check2"
    assert name_addition(["a", "b"]) == "a_b"
    assert check_column(["a", "a"]) == "a" and check_column(["a", "b"]) is None and check_column([]) is None


# -- error positions (psql's LINE n and caret) ------------------------------------------------

POSITION_SCRIPT = """\
CREATE TABLE {t} (a int, v varchar(3), n numeric(3,1), d date, b text);
SELECT nosuch FROM {t};
SELECT {t}.nosuch FROM {t};
SELECT x.a FROM {t};
SELECT * FROM {t}_missing;
SELECT 'a'::int;
SELECT 1 + 'a';
SELECT int4('a');
SELECT '99999999999'::int;
SELECT '123.45'::numeric(3,1);
INSERT INTO {t} (v) VALUES ('abcdef');
INSERT INTO {t} (d) VALUES ('2020-13-45');
INSERT INTO {t} (a) VALUES ('x'::text);
INSERT INTO {t} (nosuch) VALUES (1);
INSERT INTO {t} SELECT 'q';
INSERT INTO {t} SELECT 'q'::text;
UPDATE {t} SET nosuch = 1;
UPDATE {t} SET a = 'w';
SELECT * FROM {t} WHERE a = 'z';
SELECT * FROM {t} WHERE 1;
SELECT nosuchfn(1);
SELECT 'a'::text + 1;
SELECT a FROM {t} p1, {t} p2;
SELECT 1 +;
SELECT 1 FROM {t} ORDER BY 3;
SELECT lower(1, 2);
SELECT 'é' frm {t};
SELECT 'éé',
  nosuch;
SELECT * FROM {t} WHERE a IN (SELECT v FROM {t});
SELECT 1::nosuchtype;
SELECT coalesce(1, 'a');
SELECT 1/0;
SELECT * FROM {t}, (SELECT v FROM {t} x WHERE x.a = {t}.a) s;
SELECT * FROM {t} x, (SELECT {t}.a) s;
SELECT {t}.a FROM {t} x;
SELECT * FROM {t} x WHERE EXISTS (SELECT 1 FROM {t} y WHERE {t}.a = 1);
CREATE TABLE {t}_x (a int DEFAULT nosuch);
DROP TABLE {t};
"""


def _psql_script(server, script: str) -> str:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PGCLIENTENCODING": "UTF8"}
    env.pop("PGOPTIONS", None)
    proc = subprocess.run(["psql", "-X", *server.psql_args()], input=script, capture_output=True, text=True,
                          timeout=60, env=env)
    return proc.stdout + proc.stderr


def test_psql_error_positions_match_postgres(pg_server, dsql_server, table_name) -> None:
    script = POSITION_SCRIPT.format(t=table_name)
    expected = _psql_script(pg_server, script)
    actual = _psql_script(dsql_server, script)
    assert actual == expected
    assert expected.count("LINE ") >= 25  # the script is about positions


def test_error_position_in_extended_protocol(pg_server, dsql_server) -> None:
    """psycopg (Parse/Bind/Execute) sees the same StatementPosition as with the simple protocol."""
    statements = ["SELECT 1,\n  nosuch", "SELECT 'é', 1 + 'x'", "SELECT * FROM nosuch_relation"]
    for statement in statements:
        seen = []
        for server in (pg_server, dsql_server):
            with _connect(server, autocommit=True) as conn:
                with pytest.raises(psycopg.Error) as caught:
                    conn.execute(statement)
                seen.append((caught.value.sqlstate, caught.value.diag.statement_position))
        assert seen[0] == seen[1] and seen[0][1] is not None, statement


def test_for_update_through_a_subquery_locks_its_rows(dsql_server, table_name) -> None:
    """FOR UPDATE on a derived table locks the rows of the tables under it (PostgreSQL's rule):
    a concurrent write of a locked row makes COMMIT fail with 40001."""
    with Session(dsql_server.dsn) as a, Session(dsql_server.dsn) as b:
        a.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v int)")
        try:
            a.execute(f"INSERT INTO {table_name} VALUES (1, 0)")
            a.execute("BEGIN")
            a.execute(f"SELECT * FROM (SELECT * FROM {table_name}) s FOR UPDATE")
            b.execute(f"UPDATE {table_name} SET v = 1 WHERE id = 1")
            with pytest.raises(Exception) as caught:
                a.execute("COMMIT")
            assert getattr(caught.value, "sqlstate", None) == "40001"
        finally:
            a.execute(f"DROP TABLE {table_name}")
