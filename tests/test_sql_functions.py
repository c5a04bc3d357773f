"""SQL functions beyond what the differential scripts can say (qp/bind/routines.py,
qp/frontend/routines.py, qp/bind/ddl/functions.py, qp/ddl/functions.py).

The scripts split statements at semicolons, so a `BEGIN ATOMIC ... END` body is
compared here, on dsql and on PostgreSQL, statement by statement. The rest are
dsql's own promises: a body's writes belong to the caller's transaction (gone
with its ROLLBACK), a parameterized call binds its arguments, and recursion
stops at 54001 with the session still usable.
"""

from __future__ import annotations

import uuid

import pytest
from support.pgsession import Session, SqlError


def _outcomes(dsn: str, statements: list[str]) -> list[tuple]:
    out = []
    with Session(dsn) as session:
        for statement in statements:
            try:
                out.append(("ok", session.query(statement)))
            except SqlError as exc:
                out.append(("error", exc.sqlstate))
    return out


def test_standard_bodies_match_postgres(pg_server, dsql_server):
    p = "sf" + uuid.uuid4().hex[:6]
    statements = [
        f"CREATE TABLE {p}_t (id int PRIMARY KEY, v text)",
        f"INSERT INTO {p}_t VALUES (1, 'a'), (2, 'b')",
        f"CREATE FUNCTION {p}_steps(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT x + 10; END",
        f"CREATE FUNCTION {p}_ret(x int) RETURNS int RETURN x * 3",
        f"CREATE FUNCTION {p}_rows(n int) RETURNS TABLE(id int, v text) LANGUAGE sql "
        f"BEGIN ATOMIC SELECT id, v FROM {p}_t WHERE id <= n ORDER BY id; END",
        f"CREATE FUNCTION {p}_bad() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT nope FROM {p}_t; END",
        f"SELECT {p}_steps(5), {p}_ret(2), {p}_ret(NULL)",
        f"SELECT * FROM {p}_rows(2)",
        f"SELECT prosrc = '' OR prosrc IS NULL FROM pg_proc WHERE proname = '{p}_ret'",
        f"DROP FUNCTION {p}_steps(int), {p}_ret(int), {p}_rows(int)",
        f"DROP TABLE {p}_t",
    ]
    assert _outcomes(dsql_server.dsn, statements) == _outcomes(pg_server.dsn, statements)


def test_body_writes_are_the_callers(dsql_server):
    p = "sw" + uuid.uuid4().hex[:6]
    with Session(dsql_server.dsn) as session:
        session.execute(f"CREATE TABLE {p}_t (id int PRIMARY KEY)")
        session.execute(f"CREATE FUNCTION {p}_add(i int) RETURNS int LANGUAGE sql AS "
                        f"$$ INSERT INTO {p}_t VALUES (i) RETURNING id $$")  # fmt: skip
        session.execute("BEGIN")
        assert session.query(f"SELECT {p}_add(1), {p}_add(2)") == [("1", "2")]
        assert session.query(f"SELECT count(*) FROM {p}_t") == [("2",)]
        session.execute("ROLLBACK")
        assert session.query(f"SELECT count(*) FROM {p}_t") == [("0",)]
        assert session.query(f"SELECT {p}_add(3)") == [("3",)]
        assert session.query(f"SELECT id FROM {p}_t") == [("3",)]
        # A function's DML is the transaction's DML: DSQL's rule then refuses DDL in it.
        session.execute("BEGIN")
        session.query(f"SELECT {p}_add(4)")
        with pytest.raises(SqlError) as info:
            session.execute(f"CREATE TABLE {p}_u (a int)")
        assert info.value.sqlstate == "0A000"
        session.execute("ROLLBACK")
        session.execute(f"DROP FUNCTION {p}_add(int)")
        session.execute(f"DROP TABLE {p}_t")


def test_parameters_and_recursion(dsql_server):
    p = "sr" + uuid.uuid4().hex[:6]
    with Session(dsql_server.dsn, protocol="extended") as session:
        session.execute(f"CREATE FUNCTION {p}_f(n int) RETURNS int LANGUAGE sql AS "
                        f"$$ SELECT CASE WHEN n <= 0 THEN 0 ELSE 1 + {p}_f(n - 1) END $$")  # fmt: skip
        assert session.query(f"SELECT {p}_f(20)") == [("20",)]
        with pytest.raises(SqlError) as info:
            session.query(f"SELECT {p}_f(100000)")
        assert info.value.sqlstate == "54001"
        assert session.query("SELECT 1") == [("1",)]  # the session goes on
        session.execute(f"DROP FUNCTION {p}_f(int)")
