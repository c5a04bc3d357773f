"""Bad input never hurts anyone but the sender.

dsql's invariant "nothing half-done on bad input": malformed protocol bytes and
bad SQL get a clear error to that client, the server stays up, and no other
client or stored data is touched. Over raw sockets and through real clients
this module sends malformed startup packets, broken framing, unknown message
types, absurd lengths (1 GB headers, oversized messages), invalid UTF-8,
syntax errors, Bind messages with the wrong number or kind of parameters, and
values beyond dsql's size limits.

Expected answers: framing errors get an ErrorResponse with severity FATAL
(SQLSTATE class 08 for protocol violations) and the connection is closed;
statement-level errors get an ErrorResponse and the same connection goes on
working. After every case a connection opened before the bad one still works
and a canary table still holds exactly its rows.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable, Iterator

import asyncpg
import psycopg
import pytest
from support.pgsession import Session, SqlError
from support.wire import (
    GSSENC_REQUEST_CODE,
    PROTOCOL_3_0,
    SSL_REQUEST_CODE,
    SYNC,
    RawConnection,
    Reply,
    bind_message,
    data_rows,
    describe_portal,
    errors_in,
    execute_message,
    message,
    parse_message,
    startup_packet,
)

FATAL_TIMEOUT_S = 10.0  # the server must answer a framing error this fast, without waiting for more bytes
CANARY_ROWS = [("1", "one"), ("2", "two"), ("3", "three")]


# -- fixtures and checks ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary(dsql_server) -> Iterator[str]:
    table = "bad_input_canary"
    with Session(dsql_server.dsn, timeout_s=30) as session:
        session.run(f"DROP TABLE IF EXISTS {table}")
        session.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text NOT NULL)")
        session.execute(f"INSERT INTO {table} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    yield table
    with Session(dsql_server.dsn, timeout_s=30) as session:
        session.run(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def unharmed(dsql_server, canary) -> Iterator[Callable[[], None]]:
    """Opens a bystander connection now; calling the result checks it and the canary table are fine."""
    bystander = Session(dsql_server.dsn, timeout_s=10)
    assert bystander.query(f"SELECT id, v FROM {canary} ORDER BY id") == CANARY_ROWS

    def check() -> None:
        assert bystander.query(f"SELECT id, v FROM {canary} ORDER BY id") == CANARY_ROWS, "bystander harmed"
        with Session(dsql_server.dsn, timeout_s=10) as fresh:
            assert fresh.query(f"SELECT id, v FROM {canary} ORDER BY id") == CANARY_ROWS, "canary changed"

    yield check
    bystander.close()


@pytest.fixture
def raw(dsql_server) -> Iterator[Callable[[], RawConnection]]:
    """Factory of raw socket connections (not yet started up); all closed at the end."""
    opened: list[RawConnection] = []

    def open_raw() -> RawConnection:
        conn = RawConnection(dsql_server.host, dsql_server.port)
        opened.append(conn)
        return conn

    yield open_raw
    for conn in opened:
        conn.close()


@pytest.fixture
def session(raw) -> RawConnection:
    """A raw connection through startup, ready for queries."""
    conn = raw()
    conn.startup()
    return conn


def expect_fatal(conn: RawConnection, classes: tuple[str, ...] = ("08",)) -> dict[str, str]:
    """The server answers with a FATAL ErrorResponse and closes the connection."""
    try:
        replies = conn.read_until_closed(timeout_s=FATAL_TIMEOUT_S)
    except TimeoutError:
        pytest.fail(
            f"the server neither answered nor closed within {FATAL_TIMEOUT_S} s (is it waiting for bytes?)"
        )
    errors = errors_in(replies)
    assert errors, f"expected a FATAL ErrorResponse before the connection closed; got {replies}"
    fatal = errors[-1]
    assert fatal.get("V", fatal.get("S")) == "FATAL", fatal
    assert fatal.get("C", "")[:2] in classes, f"SQLSTATE {fatal.get('C')} not in class {classes}: {fatal}"
    return fatal


def expect_error_then_ready(replies: list[Reply], sqlstate: str) -> dict[str, str]:
    """Exactly one ErrorResponse with ``sqlstate`` (or its class, if two characters), then ReadyForQuery."""
    errors = errors_in(replies)
    assert len(errors) == 1, f"expected one ErrorResponse, got {replies}"
    assert errors[0].get("C", "").startswith(sqlstate), f"expected {sqlstate}, got {errors[0]}"
    assert errors[0].get("V", errors[0].get("S")) == "ERROR", errors[0]
    assert replies[-1].kind == b"Z", replies
    return errors[0]


def still_works(conn: RawConnection) -> None:
    replies = conn.simple_query("SELECT 40 + 2")
    assert data_rows(replies) == [["42"]], replies
    assert replies[-1].kind == b"Z" and replies[-1].payload == b"I", replies


# -- startup ---------------------------------------------------------------------------------------------------

_RANDOM = random.Random(20240601)

BAD_STARTUPS = {
    "length-4": (struct.pack("!I", 4), ("08",)),
    "length-6": (struct.pack("!I", 6) + b"\x00\x03", ("08",)),
    "length-2gb": (struct.pack("!II", 0x7FFFFFFF, PROTOCOL_3_0), ("08",)),
    "length-100mb": (struct.pack("!II", 100_000_000, PROTOCOL_3_0) + b"user\x00", ("08",)),
    "http-request": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", ("08",)),
    "unknown-protocol-version": (startup_packet({"user": "postgres"}, version=0x12345678), ("08", "0A")),
    "no-user": (startup_packet({"database": "postgres"}), ("08", "28")),
    "missing-terminator": (
        struct.pack("!II", 4 + 4 + 13, PROTOCOL_3_0) + b"user\x00postgres",
        ("08",),
    ),
    "random-bytes": (
        struct.pack("!I", 64) + bytes(_RANDOM.randrange(256) for _ in range(60)),
        ("08", "0A", "28"),
    ),
}


@pytest.mark.parametrize("name", list(BAD_STARTUPS))
def test_malformed_startup_gets_fatal_error(raw, unharmed, name):
    data, classes = BAD_STARTUPS[name]
    conn = raw()
    conn.send(data)
    expect_fatal(conn, classes)
    unharmed()


def test_truncated_startup_then_eof_is_dropped(raw, unharmed):
    conn = raw()
    conn.send(struct.pack("!II", 100, PROTOCOL_3_0) + b"user\x00")
    conn.shutdown_write()
    try:
        replies = conn.read_until_closed(timeout_s=FATAL_TIMEOUT_S)
    except TimeoutError:
        pytest.fail("the server kept a half-sent startup packet open after EOF")
    assert all(r.kind == b"E" for r in replies), replies
    unharmed()


@pytest.mark.parametrize("code", [SSL_REQUEST_CODE, GSSENC_REQUEST_CODE], ids=["ssl", "gssenc"])
def test_encryption_requests_are_declined_then_startup_works(raw, unharmed, code):
    """psql and libpq ask for SSL first; the answer 'N' must be followed by a working startup."""
    conn = raw()
    conn.send(struct.pack("!II", 8, code))
    assert conn.read_byte(FATAL_TIMEOUT_S) == b"N"
    conn.startup()
    still_works(conn)
    unharmed()


def test_cancel_request_with_unknown_key_is_harmless(raw, unharmed):
    conn = raw()
    conn.send(struct.pack("!IIII", 16, 80877102, 12345, 67890))
    try:
        conn.read_until_closed(timeout_s=FATAL_TIMEOUT_S)
    except TimeoutError:
        pytest.fail("the server kept a CancelRequest connection open")
    unharmed()


# -- framing after startup ------------------------------------------------------------------------------------


def test_message_length_below_four_is_fatal(session, unharmed):
    session.send(b"Q" + struct.pack("!I", 2))
    expect_fatal(session)
    unharmed()


def test_unknown_message_type_is_fatal(session, unharmed):
    session.send(message(b"y", b"what is this"))
    expect_fatal(session)
    unharmed()


def test_non_ascii_message_type_is_fatal(session, unharmed):
    session.send(message(b"\xff", b""))
    expect_fatal(session)
    unharmed()


@pytest.mark.parametrize("length", [0x3FFF_FFFF, 0x7FFFFFFF], ids=["1GiB", "2GiB"])
def test_oversized_message_header_is_fatal_without_waiting(session, unharmed, length):
    """PostgreSQL's message size limit is 1 GiB - 2: a larger length header is refused at once."""
    session.send(b"Q" + struct.pack("!I", length) + b"SELECT '" + b"x" * 1000)
    expect_fatal(session)
    unharmed()


def test_query_without_terminator_gets_an_error(session, unharmed):
    """A Query whose string lacks its NUL: an ErrorResponse (FATAL and closed, or ERROR and usable)."""
    session.send(message(b"Q", b"SELECT 1"))
    replies: list[Reply] = []
    ready = False
    while not ready:
        try:
            reply = session.read_reply(FATAL_TIMEOUT_S)
        except TimeoutError:
            pytest.fail(f"no answer within {FATAL_TIMEOUT_S} s; got {replies}")
        if reply is None:
            break
        replies.append(reply)
        ready = reply.kind == b"Z"
    assert errors_in(replies), f"expected an ErrorResponse, got {replies}"
    if ready:
        still_works(session)
    unharmed()


# -- statement-level errors keep the connection -------------------------------------------------------------


def test_invalid_utf8_in_query(session, unharmed):
    replies = session.simple_query(b"SELECT 'caf\xe9'")
    expect_error_then_ready(replies, "22021")
    still_works(session)
    unharmed()


def test_invalid_utf8_in_parse(session, unharmed):
    session.send(parse_message("", b"SELECT '\xff\xfe'") + SYNC)
    expect_error_then_ready(session.read_until_ready(), "22021")
    still_works(session)
    unharmed()


def test_syntax_error_keeps_connection(session, unharmed):
    expect_error_then_ready(session.simple_query("SELEKT 1"), "42601")
    expect_error_then_ready(session.simple_query("SELECT (((1"), "42601")
    still_works(session)
    unharmed()


def test_empty_query(session, unharmed):
    replies = session.simple_query("")
    assert [r.kind for r in replies] == [b"I", b"Z"], replies
    still_works(session)
    unharmed()


def test_error_in_multi_statement_query_stops_the_rest(session, canary, unharmed):
    replies = session.simple_query(
        f"SELECT 1; UPDATE {canary} SET v = 'changed'; SELECT 1 / 0; UPDATE {canary} SET v = 'later'"
    )
    expect_error_then_ready(replies, "22012")
    assert data_rows(replies) == [["1"]]
    unharmed()  # the statements of a failed multi-statement Query form one transaction: all undone


def test_extended_error_skips_until_sync(session, unharmed):
    session.send(
        parse_message("", "SELEC 1") + bind_message("", "", []) + describe_portal() + execute_message() + SYNC
    )
    expect_error_then_ready(session.read_until_ready(), "42601")
    still_works(session)
    unharmed()


BIND_CASES = {
    # name: (statement, parameter values, parameter formats, expected SQLSTATE)
    "too-many-parameters": ("SELECT $1::int", [b"1", b"2"], (), "08P01"),
    "too-few-parameters": ("SELECT $1::int + $2::int", [b"1"], (), "08P01"),
    "no-parameters": ("SELECT $1::int", [], (), "08P01"),
    "text-not-an-integer": ("SELECT $1::int", [b"x"], (), "22P02"),
    "text-integer-overflow": ("SELECT $1::int", [b"99999999999"], (), "22003"),
    "text-invalid-date": ("SELECT $1::date", [b"2024-02-30"], (), "22008"),
    "binary-int4-too-long": ("SELECT $1::int", [b"\x00\x01\x02\x03\x04"], (1,), "22P03"),
    "binary-int8-too-short": ("SELECT $1::bigint", [b"\x00\x01"], (1,), "08P01"),
    "unknown-format-code": ("SELECT $1::int", [b"1"], (7,), "22023"),
    "too-many-format-codes": ("SELECT $1::int", [b"1"], (0, 0, 0), "08P01"),
    "invalid-utf8-text-parameter": ("SELECT $1::text", [b"\xff\xfe"], (), "22021"),
}


@pytest.mark.parametrize("name", list(BIND_CASES))
def test_bad_bind_gets_an_error_and_the_connection_survives(session, unharmed, name):
    sql, values, formats, sqlstate = BIND_CASES[name]
    session.send(
        parse_message("", sql)
        + bind_message("", "", values, formats)
        + describe_portal()
        + execute_message()
        + SYNC
    )
    expect_error_then_ready(session.read_until_ready(), sqlstate)
    still_works(session)
    unharmed()


def test_bind_to_unknown_statement(session, unharmed):
    session.send(bind_message("", "no_such_statement", []) + execute_message() + SYNC)
    expect_error_then_ready(session.read_until_ready(), "26000")
    still_works(session)
    unharmed()


def test_execute_unknown_portal(session, unharmed):
    session.send(execute_message("no_such_portal") + SYNC)
    expect_error_then_ready(session.read_until_ready(), "34000")
    still_works(session)
    unharmed()


# -- through real clients -------------------------------------------------------------------------------------


def test_asyncpg_bad_arguments_leave_the_connection_usable(dsql_server, unharmed):
    async def scenario() -> None:
        conn = await asyncpg.connect(dsql_server.dsn, command_timeout=10)
        try:
            with pytest.raises((asyncpg.DataError, asyncpg.PostgresError)):
                await conn.fetch("SELECT $1::int", "x")
            with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresError)):
                await conn.fetch("SELECT $1::int", 1, 2)
            with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresError)):
                await conn.fetch("SELECT $1::int + $2::int", 1)
            with pytest.raises((asyncpg.DataError, asyncpg.PostgresError)):
                await conn.fetch("SELECT $1::int", 2**40)
            with pytest.raises(asyncpg.PostgresSyntaxError):
                await conn.fetch("SELECT FROM WHERE")
            with pytest.raises(asyncpg.UndefinedTableError):
                await conn.fetch("SELECT * FROM bad_input_no_such_table WHERE id = $1", 1)
            assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
        finally:
            await conn.close()

    asyncio.run(scenario())
    unharmed()


def test_psycopg_bad_parameters_leave_the_connection_usable(dsql_server, unharmed):
    with psycopg.connect(dsql_server.dsn, autocommit=True, connect_timeout=10) as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT %s::int", ("x",))
        with pytest.raises(psycopg.ProgrammingError):
            conn.execute("SELECT %s::int", (1, 2))
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):
            conn.execute("SELECT %s::int", ("99999999999",))
        assert conn.execute("SELECT %s::int + 1", (41,)).fetchone() == (42,)
    unharmed()


# -- oversize values -------------------------------------------------------------------------------------------


@pytest.fixture
def sized_table(dsql_server, names) -> Iterator[str]:
    table = names("sized")
    with Session(dsql_server.dsn, timeout_s=30) as s:
        s.execute(f"CREATE TABLE {table} (k text PRIMARY KEY, short varchar(10), body text)")
        s.execute(f"INSERT INTO {table} VALUES ('a', 'ok', 'small')")
    yield table
    with Session(dsql_server.dsn, timeout_s=30) as s:
        s.run(f"DROP TABLE IF EXISTS {table}")


def _insert_error(dsn: str, sql: str, *args: object) -> str | None:
    async def attempt() -> str | None:
        conn = await asyncpg.connect(dsn, command_timeout=30)
        try:
            await conn.execute(sql, *args)
            return None
        except asyncpg.PostgresError as exc:
            return exc.sqlstate
        finally:
            await conn.close()

    return asyncio.run(attempt())


@pytest.mark.parametrize(
    "case",
    ["varchar-too-long", "non-key-value-2MiB", "key-2KiB"],
)
def test_oversize_values_are_refused(dsql_server, sized_table, unharmed, case):
    """varchar(n) overflow is 22001; DSQL's 1 MiB column and 1 KiB key limits are 54000."""
    sql, args, sqlstate = {
        "varchar-too-long": (
            f"INSERT INTO {sized_table} (k, short) VALUES ($1, $2)",
            ("b", "x" * 11),
            "22001",
        ),
        "non-key-value-2MiB": (
            f"INSERT INTO {sized_table} (k, body) VALUES ($1, $2)",
            ("c", "y" * (2 << 20)),
            "54000",
        ),
        "key-2KiB": (f"INSERT INTO {sized_table} (k) VALUES ($1)", ("z" * 2048,), "54000"),
    }[case]
    assert _insert_error(dsql_server.dsn, sql, *args) == sqlstate
    with Session(dsql_server.dsn) as s:
        assert s.query(f"SELECT k, short, body FROM {sized_table}") == [("a", "ok", "small")]
    unharmed()


def test_statement_errors_do_not_poison_a_pgsession(dsql_server, unharmed):
    """The simple-protocol client used elsewhere in the suite: errors, then business as usual."""
    with Session(dsql_server.dsn, timeout_s=10) as s:
        for bad in ["SELECT 1/0", "SELEC", "SELECT * FROM bad_input_nope", "SELECT 'x'::int"]:
            with pytest.raises(SqlError):
                s.execute(bad)
        assert s.scalar("SELECT 'still here'") == "still here"
    unharmed()
