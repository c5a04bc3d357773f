"""COPY against dsql and the reference PostgreSQL, with psycopg 3 and libpq directly.

- COPY FROM STDIN in text, CSV and binary loads the same rows as PostgreSQL
  does from the same bytes; COPY TO STDOUT sends the same CopyData messages,
  byte for byte.
- Bad input (malformed data, wrong column counts, bad values, CopyFail,
  broken constraints, bad options) gives PostgreSQL's SQLSTATE, message and
  CONTEXT, leaves the table as it was, and leaves the connection usable.
- DSQL's transaction limits: 3,000 rows and 10 MiB by default (54000), both
  settable (SET, startup options), and `dsql.copy_batch_rows` batching, also
  inside a transaction block, where its batches commit on their own.
"""

from __future__ import annotations

import struct
import uuid

import psycopg
import pytest
from psycopg import pq
from psycopg.conninfo import make_conninfo

from pgwire import messages as m
from pgwire.testing.client import RawClient
from qp.api import TransactionStatus


def connect(server, **kwargs) -> psycopg.Connection:
    return psycopg.connect(server.dsn, autocommit=True, **kwargs)


def outcome(exc: psycopg.Error) -> tuple:
    d = exc.diag
    return ("error", d.sqlstate, d.message_primary, d.message_detail, d.context, d.message_hint)


def copy_in(conn: psycopg.Connection, sql: str, data: bytes | list[bytes]) -> tuple:
    """("ok", rows) or ("error", sqlstate, message, detail, context, hint); `data` as one or several writes."""
    pieces = data if isinstance(data, list) else [data]
    try:
        with conn.cursor() as cur:
            with cur.copy(sql) as copy:
                for piece in pieces:
                    copy.write(piece)
            return ("ok", cur.rowcount)
    except psycopg.Error as exc:
        return outcome(exc)


def copy_out(conn: psycopg.Connection, sql: str) -> tuple[list[bytes], str | None]:
    """The CopyData payloads, one per message, and the command tag."""
    with conn.cursor() as cur:
        with cur.copy(sql) as copy:
            chunks = [bytes(chunk) for chunk in copy]
        return chunks, cur.pgresult.command_status.decode() if cur.pgresult else None


def rows(conn: psycopg.Connection, table: str, order: str = "1") -> list[tuple]:
    """The table's rows as the server's text (psycopg's loaders refuse dates such as 'infinity')."""
    result = conn.pgconn.exec_(f"SELECT * FROM {table} ORDER BY {order}".encode())
    assert result.status == pq.ExecStatus.TUPLES_OK, result.error_message
    return [
        tuple(None if (v := result.get_value(i, j)) is None else v.decode() for j in range(result.nfields))
        for i in range(result.ntuples)
    ]


def on_both(pg_server, dsql_server, setup: list[str]):
    """Connections to both servers, with `setup` run on each (one statement at a time: DSQL
    allows one DDL per transaction)."""
    conns = []
    for server in (pg_server, dsql_server):
        conn = connect(server)
        for sql in setup:
            conn.execute(sql)
        conns.append(conn)
    return conns


# -- loading ----------------------------------------------------------------------------------------------


TYPES_TABLE = (
    "(id int PRIMARY KEY, name text, score float8, amount numeric(10,2), born date, at timestamptz,"
    " flag bool, tag char(4), blob bytea, doc jsonb, code varchar(5), u uuid, dflt int DEFAULT 7)"
)
TEXT_ROWS = (
    b"1\tplain\t1.5\t12.345\t2024-02-29\t2024-01-02 03:04:05+00\tt\tab\t\\\\x00ff\t{\"a\": [1, \"x\"]}\tabc"
    b"\t00000000-0000-0000-0000-000000000001\t1\n"
    b"2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n"
    b"3\ttab\\there\\nnew\\\\line \\x41\\101\t-2.5e10\t-0.5\tinfinity\t-infinity\tf\t\t\\\\x\tnull\t\t"
    b"ffffffff-ffff-ffff-ffff-ffffffffffff\t3\n"
    b"4\t\xc3\xa9t\xc3\xa9 \xe2\x82\xac\tNaN\tNaN\t2000-01-01\t1999-12-31 23:59:59.999999+00\tt\tx\t\\\\x61\t\"s\"\tz"
    b"\t\\N\t\\N\n"
)


def test_copy_from_text_loads_what_postgres_loads(pg_server, dsql_server, names):
    table = names("types")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} {TYPES_TABLE}"])
    with pg, dsql:
        assert copy_in(dsql, f"COPY {table} FROM STDIN", TEXT_ROWS) == copy_in(pg, f"COPY {table} FROM STDIN", TEXT_ROWS) == ("ok", 4)
        assert rows(dsql, table) == rows(pg, table)
        # Byte-at-a-time CopyData messages, column lists, DEFAULT for left-out columns.
        data = b"10\tx\n11\t\\N\n12\ty\n"
        sql = f"COPY {table} (id, name) FROM STDIN"
        assert copy_in(dsql, sql, [data[i : i + 1] for i in range(len(data))]) == copy_in(pg, sql, data) == ("ok", 3)
        assert rows(dsql, table) == rows(pg, table)
        assert dsql.execute(f"SELECT dflt FROM {table} WHERE id = 11").fetchone() == (7,)


PLAIN_TABLE = "(id int PRIMARY KEY, s smallint, b bigint, name text, tag char(4), code varchar(5), score float8)"
# No backslash anywhere: these lines are decoded a column at a time (qp/frontend/copy.py).
PLAIN_ROWS = (
    b"1\t+2\t 9223372036854775807 \tplain\tab\tabc\t1.5\n"
    b"-2147483648\t-32768\t-9223372036854775808\t\xc3\xa9t\xc3\xa9\t\tz   \t-2.5e10\n"
    b"2147483647\t32767\t0\t\t\xe2\x82\xac\t\tNaN\n"
    b"0\t 7\t00012\ttwo words\tabcd\tabcde\tinfinity\n"
)


def test_plain_lines_load_what_postgres_loads(pg_server, dsql_server, names):
    table = names("plain")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} {PLAIN_TABLE}"])
    with pg, dsql:
        sql = f"COPY {table} FROM STDIN"
        assert copy_in(dsql, sql, PLAIN_ROWS) == copy_in(pg, sql, PLAIN_ROWS) == ("ok", 4)
        assert rows(dsql, table) == rows(pg, table)
        # One line per CopyData message (pgbench), and lines cut anywhere.
        more = b"".join(b"%d\t%d\t%d\tn%d\tt\tc\t%d.5\n" % (i, i, i * 1000, i, i) for i in range(10, 2010))
        lines = more.splitlines(keepends=True)
        assert copy_in(dsql, sql, lines[:1000]) == copy_in(pg, sql, more[: sum(map(len, lines[:1000]))]) == ("ok", 1000)
        rest = b"".join(lines[1000:])
        assert copy_in(dsql, sql, [rest[i : i + 777] for i in range(0, len(rest), 777)]) == copy_in(pg, sql, rest)
        assert rows(dsql, table) == rows(pg, table)


def test_copy_from_csv_and_old_style_options(pg_server, dsql_server, names):
    table = names("csv")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} (id int, a text, b text, c float8)"])
    cases = [
        ("COPY {t} FROM STDIN WITH CSV HEADER", b'id,a,b,c\n1,"x,y",,1.5\n2,"",z,\n3,"multi\nline","q""uote",-1\n'),
        ("COPY {t} FROM STDIN (FORMAT csv, DELIMITER ';', NULL 'NA', QUOTE '''')", b"4;'a;b';NA;NA\n5;NA;'NA';2\n"),
        ("COPY {t} FROM STDIN (FORMAT csv, FORCE_NULL (a), FORCE_NOT_NULL (b))", b'6,"",,3\n'),
        ("COPY {t} FROM STDIN (FORMAT csv, ESCAPE '\\')", b'7,"a\\"b","c\\\\d",4\n\\.\n'),
        ("COPY {t} (id, a) FROM STDIN (FORMAT csv, HEADER match)", b"id,a\n8,h\n"),
        ("COPY {t} FROM STDIN DELIMITER '|' CSV", b"9|x|y|5\r\n10|p|q|6\r\n"),
    ]
    with pg, dsql:
        for sql, data in cases:
            sql = sql.format(t=table)
            assert copy_in(dsql, sql, data) == copy_in(pg, sql, data), sql
        assert rows(dsql, table) == rows(pg, table)
        assert len(rows(dsql, table)) == 10


def binary_copy(*rows_: list[bytes | None]) -> bytes:
    out = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
    for row in rows_:
        out += struct.pack("!h", len(row))
        for value in row:
            out += struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value
    return out + struct.pack("!h", -1)


def test_copy_from_binary(pg_server, dsql_server, names):
    table = names("bin")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} (id int, v int8, s text, f float8, c varchar(3))"])
    data = binary_copy(
        [struct.pack("!i", 1), struct.pack("!q", -5), "é".encode(), struct.pack("!d", 2.5), b"abc"],
        [struct.pack("!i", 2), None, b"", None, None],
    )
    with pg, dsql:
        sql = f"COPY {table} FROM STDIN (FORMAT binary)"
        assert copy_in(dsql, sql, [data[:7], data[7:30], data[30:]]) == copy_in(pg, sql, data) == ("ok", 2)
        assert rows(dsql, table) == rows(pg, table)
        # psycopg's own binary writer.
        for conn in (pg, dsql):
            with conn.cursor() as cur, cur.copy(f"COPY {table} (id, s) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "text"])
                for i in range(3, 50):
                    copy.write_row((i, f"row {i}"))
        assert rows(dsql, table) == rows(pg, table)


# -- COPY TO: byte for byte ----------------------------------------------------------------------------


def test_copy_to_matches_postgres_byte_for_byte(pg_server, dsql_server, names):
    table = names("out")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} {TYPES_TABLE}"])
    with pg, dsql:
        for conn in (pg, dsql):
            assert copy_in(conn, f"COPY {table} FROM STDIN", TEXT_ROWS) == ("ok", 4)
            conn.execute(f"INSERT INTO {table} (id, name) VALUES (5, %s), (6, %s), (7, %s)", ("\\.", "a,b", 'q"q\r'))
        statements = [
            "COPY {t} TO STDOUT",
            "COPY {t} TO STDOUT (FORMAT csv)",
            "COPY {t} TO STDOUT (FORMAT csv, HEADER)",
            "COPY {t} (id, name, blob) TO STDOUT (FORMAT text, HEADER)",
            "COPY {t} (id, name) TO STDOUT (DELIMITER '|', NULL 'NUL')",
            "COPY {t} (name) TO STDOUT (FORMAT csv)",
            "COPY {t} (name, code) TO STDOUT (FORMAT csv, FORCE_QUOTE *)",
            "COPY {t} (name) TO STDOUT (FORMAT csv, QUOTE '''', ESCAPE '\\', FORCE_QUOTE (name))",
            "COPY {t} TO STDOUT (FORMAT binary)",
            "COPY (SELECT id, name, ARRAY[id, NULL] AS arr FROM {t} ORDER BY id DESC) TO STDOUT",
            "COPY (SELECT id, ARRAY['a b', NULL, 'c'] FROM {t} WHERE id < 3 ORDER BY id) TO STDOUT (FORMAT binary)",
            "COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)",
            "COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT csv, HEADER)",
            "COPY (VALUES (1, 'x'), (2, NULL)) TO STDOUT WITH CSV",
        ]
        for sql in statements:
            sql = sql.format(t=table)
            # Rows went in in key order, so a plain table scan returns them in the same
            # order on both servers (PostgreSQL's heap order, dsql's key order).
            got, expected = copy_out(dsql, sql), copy_out(pg, sql)
            assert got == expected, sql
            if "binary" in sql:
                assert got[0][0].startswith(b"PGCOPY\n\xff\r\n\x00") and got[0][-1].endswith(b"\xff\xff"), sql


def test_copy_to_in_order_is_exact(pg_server, dsql_server, names):
    """With ORDER BY the whole stream, message boundaries included, is PostgreSQL's."""
    table = names("ordered")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} (id int PRIMARY KEY, s text, f float8)"])
    with pg, dsql:
        for conn in (pg, dsql):
            copy_in(conn, f"COPY {table} FROM STDIN", b"".join(b"%d\tv\\t%d\t%d.25\n" % (i, i, i) for i in range(40)))
        for fmt in ("text", "csv", "binary"):
            sql = f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT (FORMAT {fmt})"
            assert copy_out(dsql, sql) == copy_out(pg, sql)


# -- bad input -----------------------------------------------------------------------------------------


BAD_INPUT = [
    ("COPY {t} FROM STDIN", b"3\tx\t2\n"),  # missing data for column
    ("COPY {t} FROM STDIN", b"3\tx\t2\tab\tzz\n"),  # extra data
    ("COPY {t} FROM STDIN", b"3x\tx\t2\tab\n"),  # invalid input, with the column in CONTEXT
    ("COPY {t} FROM STDIN", b"9\tok\t1\tab\n1\tx\t2\tab\n"),  # duplicate key with a row already there
    ("COPY {t} FROM STDIN", b"20\ty\t1\tab\n20\ty\t1\tab\n"),  # duplicate key within the COPY
    ("COPY {t} FROM STDIN", b"21\tq\t1\tabcdefgh\n"),  # char(5) too long
    ("COPY {t} (a, b) FROM STDIN", b"7\tq\n\\."),  # end-of-copy marker corrupt
    ("COPY {t} (a, b) FROM STDIN", b"8\tq\n\\.x\n"),
    ("COPY {t} (a, b) FROM STDIN", b"9\tq\r\n10\tr\n"),  # literal newline
    ("COPY {t} (a, b) FROM STDIN", b"9\tq\n10\tr\r\n"),  # literal carriage return
    ("COPY {t} (a, b) FROM STDIN", b"9\tq\r\n10\tr\r\n\\.\n"),
    ("COPY {t} (a, b) FROM STDIN", b"20\t\xff\n"),  # invalid UTF-8
    ("COPY {t} (a, b) FROM STDIN", b"21\t\\xff\n"),
    ("COPY {t} (a, b) FROM STDIN", b"\n"),  # empty line: column a first
    # Lines without a backslash are decoded a column at a time; a bad value among them is
    # still reported with its own line and column.
    ("COPY {t} FROM STDIN", b"30\tx\t2\tab\n31\tx\t2\tab\n3x\tx\t2\tab\n33\tx\t2\tab\n"),
    ("COPY {t} FROM STDIN", b"32\tx\t2\tab\n99999999999\tx\t2\tab\n"),  # out of range for integer
    ("COPY {t} FROM STDIN", "33\tx\t2\tab\n\u0663\u0664\tx\t2\tab\n".encode()),  # digits, but not ASCII ones
    ("COPY {t} FROM STDIN", b"34\tx\t2\tab\n35\tx\tnot a number\tab\n"),
    ("COPY {t} FROM STDIN", b"36\tx\t2\tab\n37\tx\t2\tabcdefgh\n"),  # char(5) too long, line 2
    ("COPY {t} FROM STDIN", b"38\tx\t2\tab\n39\tx\t2\n40\tx\t2\tab\n"),  # missing data, line 2
    ("COPY {t} FROM STDIN", b"41\tx\t2\tab\n42\tx\t2\tab\tzz\n"),  # extra data, line 2
    ("COPY {t} (a, b) FROM STDIN", b"43\tx\n44\t\xff\n"),  # invalid UTF-8, line 2
    ("COPY {t} FROM STDIN", b"45\tx\t2\tab\n46\tx\t\t\n"),  # an empty float, line 2
    ("COPY {t} (a, b) FROM STDIN (FORMAT csv)", b'16,"unterminated\n'),
    ("COPY {t} (a, b) FROM STDIN (FORMAT csv, HEADER match)", b"a,c\n15,x\n"),
    ("COPY {t} (a, b) FROM STDIN (FORMAT binary)", b"garbage"),
    ("COPY {t} (a, b) FROM STDIN (FORMAT binary)", b"PGCOPY\n\xff\r\n\x00" + struct.pack("!iihi", 0, 0, 1, 4) + b"\0\0\0\1"),
    ("COPY {t} (a, b) FROM STDIN (FORMAT binary)", b"PGCOPY\n\xff\r\n\x00" + struct.pack("!iihi", 0, 0, 2, 3) + b"\0\0\1"),
    ("COPY {t} (a, z) FROM STDIN", b""),
    ("COPY {t} (a, a) FROM STDIN", b""),
    ("COPY {t} FROM STDIN (FORMAT bogus)", b""),
    ("COPY {t} FROM STDIN (DELIMITER '||')", b""),
    ("COPY {t} FROM STDIN (on_error ignore)", b""),
    ("COPY {t} (a, b) FROM STDIN (FORMAT csv, FORCE_NOT_NULL (c))", b""),
    ("COPY {t} (a, b) FROM STDIN (FORMAT csv, FORCE_NULL (zz))", b""),
    ("COPY nope_no_such_table FROM STDIN", b""),
]


def test_bad_copy_data_is_refused_like_postgres_and_changes_nothing(pg_server, dsql_server):
    # A short name: the primary key's constraint name (in the 23505 message) is derived from it.
    table = f"copy_bad_{uuid.uuid4().hex[:8]}"
    ddl = f"CREATE TABLE {table} (a int PRIMARY KEY, b text, c float8 NOT NULL DEFAULT 1.5, d char(5))"
    pg, dsql = on_both(pg_server, dsql_server, [ddl])
    with pg, dsql:
        for conn in (pg, dsql):
            assert copy_in(conn, f"COPY {table} FROM STDIN", b"1\tx\t2\tab\n2\t\\N\t3\t\\N\n") == ("ok", 2)
        before = rows(pg, table)
        assert rows(dsql, table) == before
        for sql, data in BAD_INPUT:
            sql = sql.format(t=table)
            expected = copy_in(pg, sql, data)
            got = copy_in(dsql, sql, data)
            assert expected[0] == "error", (sql, data)
            if expected[1] == "23505":
                # Where PostgreSQL notices a duplicate depends on its insert buffering;
                # the CONTEXT names the COPY and a line on both.
                assert got[:4] == expected[:4], (sql, data)
                assert got[4].startswith(f"COPY {table}, line "), got
            else:
                assert got == expected, (sql, data)
            assert rows(dsql, table) == before, (sql, data)
            assert dsql.execute("SELECT 1").fetchone() == (1,)


def test_not_null_violation_names_the_copy(dsql_server, names):
    table = names("nn")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int, c float8 NOT NULL)")
        got = copy_in(conn, f"COPY {table} FROM STDIN", b"1\t2\n11\t\\N\n")
        assert got[:4] == ("error", "23502", f'null value in column "c" of relation "{table}" violates not-null constraint',
                           "Failing row contains (11, null).")
        assert got[4].startswith(f"COPY {table}, line ")
        assert rows(conn, table) == []


def test_copy_fail_mid_stream(pg_server, dsql_server, names):
    table = names("fail")
    pg, dsql = on_both(pg_server, dsql_server, [f"CREATE TABLE {table} (a int, b text)"])
    results = []
    for conn in (pg, dsql):
        pgconn = conn.pgconn
        result = pgconn.exec_(f"COPY {table} FROM STDIN".encode())
        assert result.status == pq.ExecStatus.COPY_IN
        assert pgconn.put_copy_data(b"1\tone\n2\ttwo\n") == 1
        assert pgconn.put_copy_end(b"client gave up") == 1
        result = pgconn.get_result()
        results.append((result.status, result.error_field(pq.DiagnosticField.SQLSTATE),
                        result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY),
                        result.error_field(pq.DiagnosticField.CONTEXT)))
        while pgconn.get_result() is not None:
            pass
    assert results[0] == results[1]
    assert results[1][1:3] == (b"57014", b"COPY from stdin failed: client gave up")
    with pg, dsql:
        assert rows(dsql, table) == rows(pg, table) == []
        assert dsql.execute("SELECT 2").fetchone() == (2,)


def test_error_inside_a_block_fails_the_block(dsql_server, names):
    table = names("block")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
        conn.execute("BEGIN")
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"1\n2\n") == ("ok", 2)
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"3\n2\n")[1] == "23505"
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"4\n")[1] == "25P02"
        assert conn.pgconn.transaction_status == pq.TransactionStatus.INERROR
        conn.execute("ROLLBACK")
        assert rows(conn, table) == []
        # A block that commits keeps what its COPYs loaded.
        with conn.transaction():
            assert copy_in(conn, f"COPY {table} FROM STDIN", b"5\n6\n") == ("ok", 2)
            conn.execute(f"INSERT INTO {table} VALUES (7)")
        assert rows(conn, table) == [("5",), ("6",), ("7",)]


def test_read_only_and_ddl_rules(dsql_server, names):
    table = names("ro")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
        conn.execute("BEGIN READ ONLY")
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"1\n")[1:3] == (
            "25006", "cannot execute COPY FROM in a read-only transaction")
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE {table}_2 (a int)")
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"1\n")[1:3] == (
            "0A000", "ddl and dml are not supported in the same transaction")
        conn.execute("ROLLBACK")
        assert copy_in(conn, f"COPY {table} FROM '/etc/passwd'", b"")[1] == "0A000"


def test_copy_checks_constraints_defaults_and_identity(dsql_server, names):
    parent, child = names("parent"), names("child")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {parent} (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO {parent} VALUES (1), (2)")
        conn.execute(
            f"CREATE TABLE {child} (id int GENERATED BY DEFAULT AS IDENTITY (CACHE 1) PRIMARY KEY,"
            f" p int REFERENCES {parent}, v int CHECK (v > 0), note text DEFAULT 'none', u text UNIQUE)"
        )
        assert copy_in(conn, f"COPY {child} (p, v, u) FROM STDIN", b"1\t5\ta\n2\t6\tb\n") == ("ok", 2)
        assert copy_in(conn, f"COPY {child} (p, v, u) FROM STDIN", b"1\t-1\tc\n")[1] == "23514"
        assert copy_in(conn, f"COPY {child} (p, v, u) FROM STDIN", b"3\t1\td\n")[1] == "23503"
        assert copy_in(conn, f"COPY {child} (p, v, u) FROM STDIN", b"1\t1\ta\n")[1] == "23505"
        assert copy_in(conn, f"COPY {child} (p, v, note, u) FROM STDIN (DEFAULT '@')", b"2\t9\t@\te\n") == ("ok", 1)
        assert conn.execute(f"SELECT id, p, v, note, u FROM {child} ORDER BY id").fetchall() == [
            # The failed COPYs took identity values, as they do in PostgreSQL.
            (1, 1, 5, "none", "a"), (2, 2, 6, "none", "b"), (6, 2, 9, "none", "e"),
        ]
        # Unique and primary indexes hold the COPY's rows: lookups by them find them.
        assert conn.execute(f"SELECT v FROM {child} WHERE u = 'e'").fetchone() == (9,)


# -- the protocol ----------------------------------------------------------------------------------------


async def test_unexpected_message_during_copy_in(dsql_server, names):
    table = names("proto")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
    client = await RawClient.connect(dsql_server.port, user="postgres", database="postgres")
    try:
        await client.send(m.Query(f"COPY {table} FROM STDIN"))
        assert isinstance((await client.receive())[0], m.CopyInResponse)
        await client.send(m.CopyData(b"1\n"), m.Flush(), m.Sync(), m.Query("SELECT 1"))
        replies = await client.until_ready()
        error = next(r for r in replies if isinstance(r, m.ErrorResponse))
        assert (error.sqlstate, error.message) == ("08P01", "unexpected message type 0x51 during COPY from stdin")
        # Copy messages after the failed COPY are dropped; the connection works.
        await client.send(m.CopyData(b"2\n"), m.CopyDone())
        replies = await client.query("SELECT count(*) FROM " + table)
        assert m.DataRow([b"0"]) in replies
        assert replies[-1] == m.ReadyForQuery(TransactionStatus.IDLE)
    finally:
        await client.aclose()
    with connect(dsql_server) as conn:
        assert rows(conn, table) == []


async def test_copy_in_the_extended_protocol(dsql_server, names):
    table = names("ext")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int, b text)")
    client = await RawClient.connect(dsql_server.port, user="postgres", database="postgres")
    try:
        await client.send(m.Parse("", f"COPY {table} FROM STDIN", ()), m.Bind("", "", (), (), ()),
                          m.Describe("P", ""), m.Execute("", 0), m.Sync())
        replies = await client.until(m.CopyInResponse)
        assert [type(r) for r in replies] == [m.ParseComplete, m.BindComplete, m.NoData, m.CopyInResponse]
        # The Sync sent with the Execute was dropped in the copy-in phase (as PostgreSQL does);
        # libpq sends another after CopyDone for a COPY started by the extended protocol.
        await client.send(m.CopyData(b"1\tx\n"), m.CopyData(b"2\ty\n"), m.CopyDone(), m.Sync())
        replies = await client.until_ready()
        assert m.CommandComplete("COPY 2") in replies
        await client.send(m.Parse("", f"COPY (SELECT * FROM {table} ORDER BY a) TO STDOUT", ()),
                          m.Bind("", "", (), (), ()), m.Execute("", 0), m.Sync())
        replies = await client.until_ready()
        data = [r.data for r in replies if isinstance(r, m.CopyDataMessage)]
        assert isinstance(replies[2], m.CopyOutResponse)
        assert m.CommandComplete("COPY 2") in replies and data == [b"1\tx\n", b"2\ty\n"]
    finally:
        await client.aclose()


def test_client_gone_mid_copy_changes_nothing(dsql_server, names):
    table = names("gone")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
    pgconn = pq.PGconn.connect(make_conninfo(dsql_server.dsn).encode())
    assert pgconn.exec_(f"COPY {table} FROM STDIN".encode()).status == pq.ExecStatus.COPY_IN
    pgconn.put_copy_data(b"1\n2\n")
    pgconn.flush()
    pgconn.finish()
    with connect(dsql_server) as conn:
        assert rows(conn, table) == []
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"3\n") == ("ok", 1)


def test_pgbench_style_copy_one_line_per_message(dsql_server, names):
    """pgbench sends each row with PQputline and then a literal \\. line before CopyDone."""
    table = names("lines")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (bid int NOT NULL, bbalance int, filler char(88))")
        pieces = [b"%d\t0\t\\N\n" % i for i in range(1, 21)] + [b"\\.\n"]
        assert copy_in(conn, f"copy {table} from stdin with (freeze on)", pieces) == ("ok", 20)
        assert conn.execute(f"SELECT count(*), sum(bid) FROM {table}").fetchone() == (20, 210)


# -- DSQL's limits, and batching -------------------------------------------------------------------------


def numbers(start: int, stop: int) -> bytes:
    return b"".join(b"%d\n" % i for i in range(start, stop))


def test_default_row_limit_applies_to_copy(dsql_server, names):
    table = names("limit")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
        assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(0, 3000)) == ("ok", 3000)
        got = copy_in(conn, f"COPY {table} FROM STDIN", numbers(3000, 6001))
        assert got[1:3] == ("54000", "transaction row limit exceeded")
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3000,)
        # Rows loaded earlier in a block count toward the same limit.
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(10000, 11999) AS g")
        assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(20000, 21001))[1] == "54000"
        conn.execute("ROLLBACK")
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3000,)


def test_size_limit_applies_to_copy(dsql_server, names):
    table = names("size")
    big = b"x" * (1024 * 1024)
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int, s text)")
        got = copy_in(conn, f"COPY {table} FROM STDIN", [b"%d\t%s\n" % (i, big) for i in range(11)])
        assert got[1:3] == ("54000", "transaction size limit 10mb exceeded")
        assert got[3].startswith("Current transaction size ") and got[3].endswith("kb exceeds 10240kb")
        conn.execute("SET dsql.transaction_bytes_max = '2MB'")
        assert copy_in(conn, f"COPY {table} FROM STDIN", [b"%d\t%s\n" % (i, big) for i in range(3)])[1:3] == (
            "54000", "transaction size limit 2mb exceeded")
        assert copy_in(conn, f"COPY {table} FROM STDIN", b"1\tsmall\n") == ("ok", 1)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


def test_limits_are_settings(dsql_server, names):
    table = names("settings")
    with connect(dsql_server) as conn:
        assert conn.execute("SHOW dsql.transaction_rows_max").fetchone() == ("3000",)
        assert conn.execute("SHOW dsql.transaction_bytes_max").fetchone() == (str(10 * 1024 * 1024),)
        assert conn.execute("SHOW dsql.copy_batch_rows").fetchone() == ("0",)
        conn.execute(f"CREATE TABLE {table} (a int)")
        conn.execute("SET dsql.transaction_rows_max = 5000")
        assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(0, 4500)) == ("ok", 4500)
        # INSERT obeys the same setting.
        conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(1, 5000) AS g")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="transaction row limit exceeded"):
            conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(1, 5001) AS g")
        conn.execute("RESET dsql.transaction_rows_max")
        assert conn.execute("SHOW dsql.transaction_rows_max").fetchone() == ("3000",)
        for bad in ("0", "-1", "many", "5 apples"):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute(f"SET dsql.transaction_rows_max = '{bad}'")
        conn.execute("SET dsql.transaction_bytes_max = '1GB'")
        assert conn.execute("SHOW dsql.transaction_bytes_max").fetchone() == (str(1024**3),)
        conn.execute("RESET ALL")
        assert conn.execute("SHOW dsql.transaction_bytes_max").fetchone() == (str(10 * 1024 * 1024),)
    # The startup options (PGOPTIONS) set them too.
    with connect(dsql_server, options="-c dsql.transaction_rows_max=4000 -c dsql.copy_batch_rows=250") as conn:
        assert conn.execute("SHOW dsql.transaction_rows_max").fetchone() == ("4000",)
        assert conn.execute("SHOW dsql.copy_batch_rows").fetchone() == ("250",)


def test_batched_copy_commits_every_n_rows(dsql_server, names):
    table = names("batched")
    with connect(dsql_server, options="-c dsql.copy_batch_rows=1000") as conn:
        conn.execute(f"CREATE TABLE {table} (a int PRIMARY KEY, b text)")
        data = b"".join(b"%d\tv%d\n" % (i, i) for i in range(7500))
        assert copy_in(conn, f"COPY {table} FROM STDIN", data) == ("ok", 7500)
        assert conn.execute(f"SELECT count(*), min(a), max(a) FROM {table}").fetchone() == (7500, 0, 7499)
        # A failing batch: the ones before it stay committed, the error is reported.
        data = b"".join(b"%d\tw\n" % i for i in range(10000, 12500)) + b"1\tduplicate\n"
        got = copy_in(conn, f"COPY {table} FROM STDIN", data)
        assert got[1] == "23505"
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE a >= 10000").fetchone() == (2000,)
        # A batch bigger than the row limit fails as one transaction would.
        conn.execute("SET dsql.copy_batch_rows = 5000")
        assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(20000, 24000).replace(b"\n", b"\tx\n"))[1] == "54000"
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE a >= 20000").fetchone() == (0,)


def test_batched_copy_inside_a_block_commits_independently(dsql_server, names):
    table = names("batchblock")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
        conn.execute("SET dsql.copy_batch_rows = 500")
        conn.execute("BEGIN")
        conn.execute(f"SELECT count(*) FROM {table}")  # the block's snapshot starts here
        assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(0, 1200)) == ("ok", 1200)
        # The block's snapshot predates the batches: it does not see them...
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        conn.execute("ROLLBACK")
        # ...and its ROLLBACK does not undo them.
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1200,)


def test_set_inside_a_block_applies_to_the_open_transaction(dsql_server, names):
    table = names("setblock")
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(1, 2000) AS g")
            conn.execute("SET dsql.transaction_rows_max = 4000")
            assert copy_in(conn, f"COPY {table} FROM STDIN", numbers(0, 1500)) == ("ok", 1500)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3500,)


def test_server_wide_defaults_are_validated_and_used_by_new_sessions():
    """`configure_defaults` is how `dsql serve` flags set server-wide defaults."""
    from qp.frontend import settings

    saved = dict(settings.DEFAULTS)
    try:
        settings.configure_defaults({"dsql.transaction_rows_max": "10000", "DSQL.COPY_BATCH_ROWS": "500",
                                     "dsql.transaction_bytes_max": "64MB"})
        assert settings.transaction_limits(dict(settings.DEFAULTS)) == (10_000, 64 * 1024 * 1024)
        assert settings.DEFAULTS["dsql.copy_batch_rows"] == "500"
        with pytest.raises(Exception, match="outside the valid range"):
            settings.configure_defaults({"dsql.transaction_rows_max": "0"})
        with pytest.raises(Exception, match="unrecognized configuration parameter"):
            settings.configure_defaults({"no_such_setting": "1"})
    finally:
        settings.DEFAULTS.clear()
        settings.DEFAULTS.update(saved)


def test_psql_backslash_copy_both_ways(dsql_server, names, tmp_path):
    import subprocess

    from bench.servers import find_postgres_bin_dir

    table = names("psqlcopy")
    source, target = tmp_path / "in.csv", tmp_path / "out.txt"
    source.write_text('id,name\n1,a\n2,"b,c"\n3,\n')
    script = (
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text);\n"
        f"\\copy {table} FROM '{source}' WITH (FORMAT csv, HEADER)\n"
        f"\\copy {table} TO '{target}'\n"
        f"\\copy (SELECT id FROM {table} WHERE id > 1 ORDER BY id) TO STDOUT WITH CSV\n"
    )
    done = subprocess.run(
        [str(find_postgres_bin_dir() / "psql"), *dsql_server.psql_args(), "-X", "-q", "-v", "ON_ERROR_STOP=1"],
        input=script, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2\n3\n"
    assert target.read_text() == "1\ta\n2\tb,c\n3\t\\N\n"


def test_copy_computes_generated_columns_and_refuses_them_as_targets(pg_server, dsql_server, names):
    """Generated columns are left out of COPY's default column list (both ways), computed on
    COPY FROM, and refused when named (42P10), as in PostgreSQL."""
    table = names("gen")
    setup = [f"CREATE TABLE {table} (a int, b int GENERATED ALWAYS AS (a * 2) STORED, c text)"]
    pg, dsql = on_both(pg_server, dsql_server, setup)
    with pg, dsql:
        data = b"1\tx\n2\t\\N\n"
        assert copy_in(dsql, f"COPY {table} FROM STDIN", data) == copy_in(pg, f"COPY {table} FROM STDIN", data)
        assert rows(dsql, table) == rows(pg, table) == [("1", "2", "x"), ("2", "4", None)]
        assert copy_out(dsql, f"COPY {table} TO STDOUT") == copy_out(pg, f"COPY {table} TO STDOUT")
        for sql in (f"COPY {table} (a, b) FROM STDIN",):
            assert copy_in(dsql, sql, b"3\t6\n") == copy_in(pg, sql, b"3\t6\n")
            assert copy_in(dsql, sql, b"3\t6\n")[1] == "42P10"
        for conn in (pg, dsql):
            with pytest.raises(psycopg.Error) as info:
                copy_out(conn, f"COPY {table} (b) TO STDOUT")
            assert info.value.diag.sqlstate == "42P10"
        for conn in (pg, dsql):
            conn.execute(f"DROP TABLE {table}")
