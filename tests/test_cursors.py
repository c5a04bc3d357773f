"""Server-side cursors (DECLARE, FETCH, MOVE, CLOSE) against dsql and the reference PostgreSQL.

The same scripts run on both servers through libpq's simple protocol and must
give the same command tags, rows and errors. PostgreSQL makes a cursor
declared without SCROLL or NO SCROLL scrollable only when its plan can run
backwards; dsql materializes every cursor, so such cursors always scroll
(the scripts say SCROLL or NO SCROLL where it matters). Then the drivers'
named cursors: psycopg 3 (DECLARE through the extended protocol with
parameters, Describe of the cursor as a portal, FETCH with binary results,
WITH HOLD in autocommit) and psycopg2.
"""

from __future__ import annotations

import psycopg
import psycopg2
import pytest
from psycopg import pq
from psycopg.conninfo import make_conninfo


class Script:
    """One libpq connection that runs query strings and records what came back."""

    def __init__(self, server) -> None:
        self.pgconn = pq.PGconn.connect(make_conninfo(server.dsn).encode())
        assert self.pgconn.status == pq.ConnStatus.OK, self.pgconn.error_message

    def run(self, sql: str) -> list[tuple]:
        self.pgconn.send_query(sql.encode())
        out = []
        while (result := self.pgconn.get_result()) is not None:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                out.append(("error", result.error_field(pq.DiagnosticField.SQLSTATE).decode(),
                            result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY).decode()))
            else:
                values = [tuple(result.get_value(i, j) for j in range(result.nfields)) for i in range(result.ntuples)]
                out.append((result.command_status.decode(), values))
        return out

    def close(self) -> None:
        self.pgconn.finish()


def compare(pg_server, dsql_server, setup: list[str], script: list[str]) -> list:
    sessions = [Script(pg_server), Script(dsql_server)]
    try:
        for session in sessions:
            for sql in setup:
                assert session.run(sql)[-1][0] != "error", sql
        transcript = []
        for sql in script:
            expected, got = sessions[0].run(sql), sessions[1].run(sql)
            assert got == expected, sql
            transcript.append(got)
        return transcript
    finally:
        for session in sessions:
            session.close()


def test_fetch_and_move_in_every_direction(pg_server, dsql_server, names):
    table = names("scroll")
    setup = [f"DROP TABLE IF EXISTS {table}", f"CREATE TABLE {table} (id int PRIMARY KEY, v text)",
             f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 5) AS g"]
    script = [
        "BEGIN",
        f"DECLARE c SCROLL CURSOR FOR SELECT id, v FROM {table} ORDER BY id",
        "FETCH c", "FETCH 2 c", "FETCH ALL c", "FETCH c", "FETCH PRIOR c", "FETCH BACKWARD 2 c",
        "FETCH ABSOLUTE 0 c", "FETCH RELATIVE 0 c", "FETCH ABSOLUTE 7 c", "FETCH RELATIVE -1 c", "FETCH LAST c",
        "FETCH RELATIVE 0 c", "MOVE ALL c", "MOVE BACKWARD ALL c", "MOVE 2 c", "FETCH -1 c", "FETCH FORWARD 0 c",
        "MOVE ABSOLUTE 9 IN c", "MOVE ABSOLUTE 3 FROM c", "FETCH NEXT FROM c", "MOVE RELATIVE 10 c",
        "FETCH FIRST IN c", "FETCH BACKWARD ALL FROM c", "FETCH FORWARD 3 FROM c", "FETCH ABSOLUTE -2 c",
        "CLOSE c",
        "FETCH c",
        "ROLLBACK",
    ]
    transcript = compare(pg_server, dsql_server, setup, script)
    assert transcript[2] == [("FETCH 1", [(b"1", b"v1")])]
    assert transcript[-2] == [("error", "34000", 'cursor "c" does not exist')]


def test_no_scroll_and_errors(pg_server, dsql_server, names):
    table = names("noscroll")
    setup = [f"DROP TABLE IF EXISTS {table}", f"CREATE TABLE {table} (id int PRIMARY KEY)",
             f"INSERT INTO {table} VALUES (1), (2), (3)"]
    script = [
        f"DECLARE c CURSOR FOR SELECT id FROM {table}",  # 25P01 outside a block
        "FETCH c",  # 34000
        "CLOSE c",
        "MOVE c",
        "BEGIN",
        f"DECLARE d NO SCROLL CURSOR FOR SELECT id FROM {table} ORDER BY id",
        "DECLARE d CURSOR FOR SELECT 1",  # 42P03, and the block fails
        "FETCH d",  # 25P02
        "ROLLBACK",
        "BEGIN",
        f"DECLARE d NO SCROLL CURSOR FOR SELECT id FROM {table} ORDER BY id",
        "FETCH ABSOLUTE 2 d", "FETCH RELATIVE 1 d", "FETCH RELATIVE 0 d",  # 55000 on the refetch
        "ROLLBACK",
        "BEGIN",
        f"DECLARE d NO SCROLL CURSOR FOR SELECT id FROM {table} ORDER BY id",
        "FETCH 2 d", "FETCH PRIOR d",
        "ROLLBACK",
        "CLOSE ALL",
    ]
    transcript = compare(pg_server, dsql_server, setup, script)
    assert transcript[0] == [("error", "25P01", "DECLARE CURSOR can only be used in transaction blocks")]
    assert transcript[6] == [("error", "42P03", 'cursor "d" already exists')]
    assert transcript[13] == [("error", "55000", "cursor can only scan forward")]
    assert transcript[-1] == [("CLOSE CURSOR ALL", [])]


def test_cursor_lifetimes(pg_server, dsql_server, names):
    table = names("life")
    setup = [f"DROP TABLE IF EXISTS {table}", f"CREATE TABLE {table} (id int PRIMARY KEY)",
             f"INSERT INTO {table} VALUES (1), (2), (3)"]
    script = [
        # WITHOUT HOLD: gone at COMMIT.
        "BEGIN", f"DECLARE w CURSOR FOR SELECT id FROM {table} ORDER BY id", "FETCH w", "COMMIT", "FETCH w",
        # WITH HOLD: survives COMMIT, keeps its position, lives until CLOSE.
        "BEGIN", f"DECLARE h SCROLL CURSOR WITH HOLD FOR SELECT id FROM {table} ORDER BY id", "FETCH h", "COMMIT",
        "FETCH h", "FETCH ABSOLUTE 1 h", "CLOSE h", "FETCH h",
        # WITH HOLD declared in a block that rolls back: gone.
        "BEGIN", f"DECLARE r CURSOR WITH HOLD FOR SELECT id FROM {table}", "ROLLBACK", "FETCH r",
        # WITH HOLD in a block that failed: COMMIT rolls back, so it is gone too.
        "BEGIN", f"DECLARE f CURSOR WITH HOLD FOR SELECT id FROM {table}", "SELECT 1/0", "COMMIT", "FETCH f",
        # WITH HOLD outside a block (its own implicit transaction), in one query string.
        f"DECLARE o CURSOR WITH HOLD FOR SELECT id FROM {table} ORDER BY id; FETCH 2 o", "FETCH o", "CLOSE o",
        # DISCARD ALL closes every cursor.
        "DECLARE z CURSOR WITH HOLD FOR SELECT 1", "DISCARD ALL", "FETCH z",
    ]
    transcript = compare(pg_server, dsql_server, setup, script)
    assert transcript[4] == [("error", "34000", 'cursor "w" does not exist')]
    assert transcript[9] == [("FETCH 1", [(b"2",)])]
    assert transcript[-1] == [("error", "34000", 'cursor "z" does not exist')]


def test_cursor_sees_writes_before_declare_not_after(pg_server, dsql_server, names):
    table = names("snap")
    setup = [f"DROP TABLE IF EXISTS {table}", f"CREATE TABLE {table} (id int PRIMARY KEY)",
             f"INSERT INTO {table} VALUES (1)"]
    script = [
        "BEGIN", f"INSERT INTO {table} VALUES (2)",
        f"DECLARE c CURSOR FOR SELECT id FROM {table} ORDER BY id",
        f"INSERT INTO {table} VALUES (3)",
        "FETCH ALL c", "ROLLBACK",
    ]
    transcript = compare(pg_server, dsql_server, setup, script)
    assert transcript[4] == [("FETCH 2", [(b"1",), (b"2",)])]


def test_binary_cursor_and_pg_cursors(pg_server, dsql_server, names):
    table = names("bincur")
    setup = [f"DROP TABLE IF EXISTS {table}", f"CREATE TABLE {table} (id int PRIMARY KEY, f float8)",
             f"INSERT INTO {table} VALUES (1, 1.5), (2, NULL)"]
    script = [
        "BEGIN",
        f"DECLARE b BINARY NO SCROLL CURSOR FOR SELECT id, f FROM {table} ORDER BY id",
        f"DECLARE s SCROLL CURSOR WITH HOLD FOR SELECT id FROM {table}",
        "FETCH 2 b",
        "SELECT name, statement, is_holdable, is_binary, is_scrollable, creation_time >= now()"
        " FROM pg_cursors ORDER BY name",
        "ROLLBACK",
        "SELECT count(*) FROM pg_cursors",
    ]
    transcript = compare(pg_server, dsql_server, setup, script)
    assert transcript[3] == [("FETCH 2", [(b"\x00\x00\x00\x01", b"?\xf8\x00\x00\x00\x00\x00\x00"), (b"\x00\x00\x00\x02", None)])]
    assert [r[:3] for r in transcript[4][0][1]] == [
        (b"b", f"DECLARE b BINARY NO SCROLL CURSOR FOR SELECT id, f FROM {table} ORDER BY id".encode(), b"f"),
        (b"s", f"DECLARE s SCROLL CURSOR WITH HOLD FOR SELECT id FROM {table}".encode(), b"t"),
    ]


# -- drivers' named cursors -------------------------------------------------------------------------------


def psycopg3_named(dsn: str, table: str) -> dict:
    out: dict = {}
    with psycopg.connect(dsn) as conn:
        with conn.cursor("pg3_named") as cur:
            cur.itersize = 3
            # A str parameter goes as type unknown: DECLARE's Parse must infer it from the query.
            cur.execute(f"SELECT id, name FROM {table} WHERE id <= %s AND name <> %s ORDER BY id", (7, "n3"))
            out["description"] = [(d.name, d.type_code) for d in cur.description]
            out["first"] = cur.fetchone()
            out["many"] = cur.fetchmany(2)
            out["rest"] = cur.fetchall()
            out["iter"] = None
        with conn.cursor("pg3_iter") as cur:
            cur.itersize = 4
            cur.execute(f"SELECT id FROM {table} ORDER BY id")
            out["iter"] = [r[0] for r in cur]
        with conn.cursor("pg3_binary", binary=True) as cur:
            cur.execute(f"SELECT id, amount FROM {table} WHERE id IN (%s, %s) ORDER BY id", (2, 9))
            out["binary"] = cur.fetchall()
        with conn.cursor("pg3_scroll", scrollable=True) as cur:
            cur.execute(f"SELECT id FROM {table} ORDER BY id")
            cur.scroll(3)
            out["scroll_rel"] = cur.fetchone()
            cur.scroll(1, "absolute")
            out["scroll_abs"] = cur.fetchone()
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor("pg3_hold", withhold=True) as cur:
            cur.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", (8,))
            out["withhold"] = cur.fetchall()
        with pytest.raises(psycopg.errors.NoActiveSqlTransaction) as info, conn.cursor("pg3_nohold") as cur:
            cur.execute(f"SELECT id FROM {table}")
        out["nohold_error"] = info.value.diag.message_primary
    return out


def test_psycopg3_named_cursors(pg_server, dsql_server, names):
    table = names("pg3")
    results = []
    for server in (pg_server, dsql_server):
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, amount numeric(6,2))")
            conn.execute(f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.25 FROM generate_series(1, 10) AS g")
        results.append(psycopg3_named(server.dsn, table))
    assert results[1] == results[0]
    assert results[1]["first"] == (1, "n1") and results[1]["rest"] == [(5, "n5"), (6, "n6"), (7, "n7")]
    assert results[1]["iter"] == list(range(1, 11))
    assert results[1]["scroll_abs"] == (2,)


def psycopg2_named(dsn: str, table: str) -> dict:
    out: dict = {}
    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor("pg2_named")
        cur.itersize = 4
        cur.execute(f"SELECT id, name FROM {table} WHERE id > %s ORDER BY id", (2,))
        out["many"] = cur.fetchmany(3)
        out["iter"] = [r[0] for r in cur]
        cur.close()
        cur = conn.cursor("pg2_scroll", scrollable=True)
        cur.execute(f"SELECT id FROM {table} ORDER BY id")
        cur.fetchmany(6)
        cur.scroll(-3)
        out["scroll"] = cur.fetchone()
        cur.scroll(0, mode="absolute")
        out["absolute"] = cur.fetchone()
        cur.close()
        conn.commit()
        cur = conn.cursor("pg2_hold", withhold=True)
        cur.execute(f"SELECT id FROM {table} ORDER BY id LIMIT 4")
        conn.commit()
        out["hold"] = cur.fetchall()
        cur.close()
        plain = conn.cursor()
        plain.execute("SELECT count(*) FROM pg_cursors")
        out["left_open"] = plain.fetchone()
        conn.commit()
    finally:
        conn.close()
    return out


def test_psycopg2_named_cursors(pg_server, dsql_server, names):
    table = names("pg2")
    results = []
    for server in (pg_server, dsql_server):
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)")
            conn.execute(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 12) AS g")
        results.append(psycopg2_named(server.dsn, table))
    assert results[1] == results[0]
    assert results[1]["many"] == [(3, "n3"), (4, "n4"), (5, "n5")]
    assert results[1]["scroll"] == (4,) and results[1]["absolute"] == (1,)
    assert results[1]["hold"] == [(1,), (2,), (3,), (4,)]
