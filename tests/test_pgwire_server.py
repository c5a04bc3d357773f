"""pgwire.server over real sockets, spoken to message by message, with a fake QP behind it.

These tests pin down exact protocol behaviour (which messages, in which order,
when bytes are written, what a bad client gets) with `pgwire.testing.RawClient`;
test_pgwire_clients.py does the same through asyncpg, psycopg and psql.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import pytest
import trio

from pgwire import ServerLimits, serve
from pgwire import messages as m
from pgwire.testing import (
    STARTUP_PARAMETERS,
    FakeSession,
    FakeSessionFactory,
    RawClient,
    encode_frontend,
    startup_bytes,
)
from qp.api import Column, TransactionStatus
from qp.errors import SqlError

pytestmark = pytest.mark.timeout(60)

IDLE, IN_BLOCK, FAILED = TransactionStatus.IDLE, TransactionStatus.IN_BLOCK, TransactionStatus.FAILED
INT4 = Column("?column?", 23, 4)


@dataclass
class Running:
    factory: FakeSessionFactory
    port: int
    clients: list[RawClient] = field(default_factory=list)

    async def connect(self, **kwargs) -> RawClient:
        """A RawClient that the fixture closes after the test, so any leaked socket is the server's."""
        client = await RawClient.connect(self.port, **kwargs)
        self.clients.append(client)
        return client


@pytest.fixture
async def servers(nursery: trio.Nursery):
    """Start servers (with limits) in the test's nursery; their clients are closed afterwards."""
    running: list[Running] = []

    async def start(limits: ServerLimits | None = None) -> Running:
        factory = FakeSessionFactory()
        port = await nursery.start(
            lambda task_status: serve(factory, "127.0.0.1", 0, limits=limits, task_status=task_status)
        )
        running.append(Running(factory, port))
        return running[-1]

    yield start
    for server in running:
        for client in server.clients:
            await client.aclose()


@pytest.fixture
async def server(servers) -> Running:
    return await servers()


def types(messages: list) -> list[str]:
    return [type(x).__name__ for x in messages]


def session_of(server: Running, client: RawClient):
    return server.factory.sessions[client.key.process_id]


# --- startup -------------------------------------------------------------------------------

async def test_startup_sequence(server: Running) -> None:
    client = await server.connect(startup=False)
    await client.send_raw(startup_bytes(user="alice", database="shop", application_name="t"))
    messages = await client.until_ready()
    assert messages[0] == m.AuthenticationOk()
    statuses = [x for x in messages if isinstance(x, m.ParameterStatus)]
    assert {x.name: x.value for x in statuses} == STARTUP_PARAMETERS
    assert types(messages) == ["AuthenticationOk"] + ["ParameterStatus"] * len(statuses) + [
        "BackendKeyData", "ReadyForQuery",
    ]
    key = messages[-2]
    assert server.factory.sessions[key.process_id].secret_key == key.secret_key
    assert messages[-1] == m.ReadyForQuery(IDLE)
    assert server.factory.startups == [{"user": "alice", "database": "shop", "application_name": "t"}]


async def test_database_defaults_to_the_user_name(server: Running) -> None:
    client = await server.connect(startup=False)
    await client.send(m.StartupMessage((3, 0), {"user": "bob"}))
    await client.until_ready()
    assert server.factory.startups == [{"user": "bob", "database": "bob"}]


async def test_ssl_and_gssenc_requests_are_answered_n(server: Running) -> None:
    client = await server.connect(startup=False)
    await client.send(m.SSLRequest())
    assert await client.stream.receive_some(1) == b"N"
    await client.send(m.GSSENCRequest())
    assert await client.stream.receive_some(1) == b"N"
    await client.send_raw(startup_bytes())
    assert (await client.until_ready())[-1] == m.ReadyForQuery(IDLE)


async def test_newer_protocol_versions_are_negotiated_down(server: Running) -> None:
    client = await server.connect(startup=False)
    await client.send(m.StartupMessage((3, 2), {"user": "u"}, {"_pq_.compression": "on"}))
    messages = await client.until_ready()
    assert messages[0] == m.NegotiateProtocolVersion(0, ("_pq_.compression",))
    assert messages[1] == m.AuthenticationOk()
    assert server.factory.startups == [{"user": "u", "database": "u"}]


async def test_open_session_refusal_is_sent_as_fatal(server: Running) -> None:
    server.factory.refuse = SqlError("3D000", 'database "nope" does not exist', severity="FATAL")
    client = await server.connect(startup=False)
    await client.send_raw(startup_bytes(database="nope"))
    messages = await client.until_eof()
    assert messages == [m.AuthenticationOk(), m.ErrorResponse("FATAL", "3D000", 'database "nope" does not exist')]
    server.factory.refuse = SqlError("28000", "not allowed")  # an ERROR ends the connection all the same
    client = await server.connect(startup=False)
    await client.send_raw(startup_bytes())
    assert (await client.until_eof())[-1] == m.ErrorResponse("FATAL", "28000", "not allowed")


async def test_a_crash_while_opening_the_session_is_fatal_for_that_client_only(
    server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await server.connect()

    def broken(self) -> dict[str, str]:
        raise KeyError("server_version")

    monkeypatch.setattr(FakeSession, "startup_parameters", broken)
    client = await server.connect(startup=False)
    await client.send_raw(startup_bytes())
    messages = await client.until_eof()
    assert messages[-1] == m.ErrorResponse("FATAL", "XX000", "internal error: KeyError('server_version')")
    with trio.fail_after(5):
        while len(server.factory.closed) < 1:  # the half-opened session is still closed
            await trio.sleep(0.01)
    assert (await other.query("select 1"))[1] == m.DataRow([b"1"])


# --- simple query ------------------------------------------------------------------------------

async def test_simple_query(server: Running) -> None:
    client = await server.connect()
    assert await client.query("select 1") == [
        m.RowDescription([INT4]), m.DataRow([b"1"]), m.CommandComplete("SELECT 1"), m.ReadyForQuery(IDLE),
    ]


async def test_simple_query_with_several_statements(server: Running) -> None:
    client = await server.connect()
    messages = await client.query("select 1; select generate_series(1, 3);")
    assert types(messages) == [
        "RowDescription", "DataRow", "CommandComplete",
        "RowDescription", "DataRow", "DataRow", "DataRow", "CommandComplete", "ReadyForQuery",
    ]
    assert [x.values for x in messages if isinstance(x, m.DataRow)] == [[b"1"], [b"1"], [b"2"], [b"3"]]


@pytest.mark.parametrize("sql", ["", ";", "  ;  ; "])
async def test_empty_simple_query(server: Running, sql: str) -> None:
    client = await server.connect()
    assert await client.query(sql) == [m.EmptyQueryResponse(), m.ReadyForQuery(IDLE)]


async def test_error_then_usable_and_transaction_status(server: Running) -> None:
    client = await server.connect()
    assert await client.query("select 1/0") == [
        m.ErrorResponse("ERROR", "22012", "division by zero"), m.ReadyForQuery(IDLE),
    ]
    assert (await client.query("begin"))[-1] == m.ReadyForQuery(IN_BLOCK)
    assert (await client.query("select 1/0"))[-1] == m.ReadyForQuery(FAILED)
    assert (await client.query("select 1"))[0].sqlstate == "25P02"
    assert await client.query("rollback") == [m.CommandComplete("ROLLBACK"), m.ReadyForQuery(IDLE)]
    assert (await client.query("selec 1"))[0] == m.ErrorResponse("ERROR", "42601", 'syntax error at or near "selec"', position=1)


async def test_internal_error_is_reported_and_the_connection_survives(server: Running) -> None:
    client = await server.connect()
    messages = await client.query("select crash()")
    assert types(messages) == ["RowDescription", "ErrorResponse", "ReadyForQuery"]
    assert (messages[1].sqlstate, messages[1].severity) == ("XX000", "ERROR")
    assert messages[1].message == "internal error: RuntimeError('the fake QP crashed')"
    assert ("mark_failed",) in session_of(server, client).calls
    assert (await client.query("select 1"))[1] == m.DataRow([b"1"])


@pytest.mark.parametrize("extended", [False, True])
async def test_a_fatal_session_error_ends_only_that_connection(server: Running, extended: bool) -> None:
    other = await server.connect()
    client = await server.connect()
    if extended:
        await client.send(m.Parse("", "select fatal()", ()), m.Bind("", "", (), (), ()), m.Execute("", 0), m.Sync())
    else:
        await client.send(m.Query("select fatal()"))
    messages = await client.until_eof()
    assert messages[-1] == m.ErrorResponse("FATAL", "57P01", "terminating connection due to administrator command")
    with trio.fail_after(5):
        while client.key.process_id not in server.factory.closed:
            await trio.sleep(0.01)
    assert (await other.query("select 1"))[1] == m.DataRow([b"1"])


async def test_notice_and_parameter_status_events(server: Running) -> None:
    client = await server.connect()
    messages = await client.query("select notice()")
    assert messages[1] == m.NoticeResponse("NOTICE", "00000", "hello from the fake", "a detail")
    assert messages[2] == m.ParameterStatus("application_name", "noticed")
    assert (await client.query("set application_name = 'x'"))[:2] == [
        m.ParameterStatus("application_name", "x"), m.CommandComplete("SET"),
    ]


async def test_function_call_is_refused_politely(server: Running) -> None:
    client = await server.connect()
    await client.send(m.FunctionCall(b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"))
    assert await client.until_ready() == [
        m.ErrorResponse("ERROR", "0A000", "fast-path function calls are not supported"), m.ReadyForQuery(IDLE),
    ]


# --- extended query ------------------------------------------------------------------------------

async def test_flush_writes_out_without_sync(server: Running) -> None:
    """asyncpg prepares with Parse + Describe + Flush and waits: the answer must come without a Sync."""
    client = await server.connect()
    await client.send(m.Parse("s1", "select $1::int", ()), m.Describe("S", "s1"), m.Flush())
    with trio.fail_after(5):
        assert await client.receive(3) == [
            m.ParseComplete(), m.ParameterDescription([23]), m.RowDescription([Column("int4", 23, 4)]),
        ]
    await client.send(m.Bind("", "s1", (1,), (struct.pack("!i", 42),), (1,)), m.Execute("", 0), m.Sync())
    assert await client.until_ready() == [
        m.BindComplete(), m.DataRow([struct.pack("!i", 42)]), m.CommandComplete("SELECT 1"), m.ReadyForQuery(IDLE),
    ]


async def test_output_waits_for_sync_or_flush(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", "select 1", ()), m.Bind("", "", (), (), ()), m.Execute("", 0))
    with trio.move_on_after(0.3):
        data = await client.stream.receive_some(1000)
        pytest.fail(f"got {data!r} before Sync or Flush")
    await client.send(m.Sync())
    assert types(await client.until_ready()) == [
        "ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery",
    ]


async def test_large_results_are_written_past_the_high_water_mark(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", "select generate_series(1, 30000)", ()), m.Bind("", "", (), (), ()), m.Execute("", 0))
    received = 0
    with trio.fail_after(5):
        while received < 64 * 1024:  # all before any Sync
            data = await client.stream.receive_some(65536)
            client.parser.feed(data)
            received += len(data)
    await client.send(m.Sync())
    messages = await client.until_ready()
    assert types(messages).count("DataRow") == 30000
    assert messages[-2:] == [m.CommandComplete("SELECT 30000"), m.ReadyForQuery(IDLE)]


async def test_an_answer_larger_than_the_socket_takes_waits_for_its_reader_alone(server: Running) -> None:
    """An answer the kernel cannot take at once goes out in part at once and the rest as the
    client reads (the server writes what the socket takes directly, then waits in trio's
    send_all); meanwhile other connections are answered, and every row arrives in order."""
    rows = 1_000_000  # ~14 MB: past loopback's send and receive buffers together
    slow = await server.connect()
    await slow.send(m.Query(f"select generate_series(1, {rows})"))
    await trio.sleep(0.5)  # the server writes until the socket is full, then waits
    other = await server.connect()
    with trio.fail_after(5):
        await other.send(m.Query("select 1"))
        assert types(await other.until_ready()) == ["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]
    with trio.fail_after(60):
        messages = await slow.until_ready()
    values = [int(x.values[0]) for x in messages if isinstance(x, m.DataRow)]
    assert values == list(range(1, rows + 1))
    assert messages[-2:] == [m.CommandComplete(f"SELECT {rows}"), m.ReadyForQuery(IDLE)]


async def test_row_limits_suspend_the_portal(server: Running) -> None:
    client = await server.connect()
    await client.send(
        m.Parse("", "select generate_series(1, 5)", ()), m.Bind("", "", (), (), ()),
        m.Execute("", 2), m.Execute("", 2), m.Execute("", 0), m.Sync(),
    )
    messages = await client.until_ready()
    assert types(messages) == [
        "ParseComplete", "BindComplete", "DataRow", "DataRow", "PortalSuspended",
        "DataRow", "DataRow", "PortalSuspended", "DataRow", "CommandComplete", "ReadyForQuery",
    ]
    assert messages[-2] == m.CommandComplete("SELECT 1")
    assert ("execute", "", 2) in session_of(server, client).calls


async def test_negative_row_limit_means_all_rows(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", "select generate_series(1, 3)", ()), m.Bind("", "", (), (), ()), m.Execute("", -7), m.Sync())
    assert types(await client.until_ready()).count("DataRow") == 3
    assert ("execute", "", 0) in session_of(server, client).calls


async def test_describe_statement_portal_and_no_data(server: Running) -> None:
    client = await server.connect()
    await client.send(
        m.Parse("ins", "insert into t values ($1)", ()), m.Describe("S", "ins"),
        m.Parse("sel", "select $1::text", ()), m.Bind("p", "sel", (), (b"hi",), (1,)), m.Describe("P", "p"),
        m.Close("P", "p"), m.Close("S", "sel"), m.Close("S", "never existed"), m.Sync(),
    )
    assert await client.until_ready() == [
        m.ParseComplete(), m.ParameterDescription([23]), m.NoData(),
        m.ParseComplete(), m.BindComplete(), m.RowDescription([Column("text", 25, -1, format=1)]),
        m.CloseComplete(), m.CloseComplete(), m.CloseComplete(), m.ReadyForQuery(IDLE),
    ]


async def test_empty_query_in_the_extended_protocol(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", ";", ()), m.Bind("", "", (), (), ()), m.Describe("P", ""), m.Execute("", 0), m.Sync())
    assert await client.until_ready() == [
        m.ParseComplete(), m.BindComplete(), m.NoData(), m.EmptyQueryResponse(), m.ReadyForQuery(IDLE),
    ]


async def test_session_error_skips_until_sync_without_mark_failed(server: Running) -> None:
    client = await server.connect()
    await client.send(
        m.Parse("", "selec 1", ()), m.Bind("", "", (), (), ()), m.Execute("", 0), m.Query("select 1"),
        m.Sync(), m.Query("select 2"),
    )
    assert types(await client.until_ready()) == ["ErrorResponse", "ReadyForQuery"]
    assert types(await client.until_ready()) == ["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]
    calls = [c[0] for c in session_of(server, client).calls]
    assert calls == ["parse", "sync", "simple_query"]  # Bind, Execute and the Query were skipped


async def test_bind_format_count_mismatch_is_our_error(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", "select $1::int", ()), m.Bind("", "", (0, 0), (b"1",), ()), m.Execute("", 0), m.Sync())
    messages = await client.until_ready()
    assert messages == [
        m.ParseComplete(),
        m.ErrorResponse("ERROR", "08P01", "bind message has 2 parameter formats but 1 parameters"),
        m.ReadyForQuery(IDLE),
    ]
    calls = [c[0] for c in session_of(server, client).calls]
    assert calls == ["parse", "mark_failed", "sync"]


async def test_unsupported_format_codes(server: Running) -> None:
    client = await server.connect()
    for pformats, rformats in (((7,), ()), ((), (0, 2))):
        await client.send(m.Parse("", "select $1::int", ()), m.Bind("", "", pformats, (b"1",), rformats), m.Sync())
        messages = await client.until_ready()
        assert messages[1] == m.ErrorResponse("ERROR", "22023", f"unsupported format code: {(pformats or rformats)[-1]}")


async def test_asyncpg_style_bind_with_one_format_and_no_parameters(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Parse("", "select 1", ()), m.Bind("", "", (1,), (), (1,)), m.Execute("", 0), m.Sync())
    assert (await client.until_ready())[2] == m.DataRow([struct.pack("!i", 1)])


async def test_malformed_message_in_a_batch_skips_until_sync(server: Running) -> None:
    client = await server.connect()
    bad_bind = b"B" + struct.pack("!i", 4 + 2 + 2 + 2 + 4 + 1) + b"\0\0" + b"\x00\x00\x00\x01" + struct.pack("!i", 10) + b"1"
    await client.send(m.Parse("", "select 1", ()))
    await client.send_raw(bad_bind + encode_frontend(m.Execute("", 0)) + encode_frontend(m.Sync()))
    assert await client.until_ready() == [
        m.ParseComplete(), m.ErrorResponse("ERROR", "08P01", "insufficient data left in message"), m.ReadyForQuery(IDLE),
    ]
    assert [c[0] for c in session_of(server, client).calls] == ["parse", "mark_failed", "sync"]


async def test_invalid_utf8_is_an_error_not_a_disconnect(server: Running) -> None:
    client = await server.connect()
    await client.send_raw(b"Q" + struct.pack("!i", 4 + 11) + b"select '\xff'\0")
    assert await client.until_ready() == [
        m.ErrorResponse("ERROR", "22021", 'invalid byte sequence for encoding "UTF8": 0xff'), m.ReadyForQuery(IDLE),
    ]
    await client.send_raw(b"P" + struct.pack("!i", 4 + 1 + 5 + 2) + b"\0\xe2\x28\xa1x\0\x00\x00")
    await client.send(m.Bind("", "", (), (), ()), m.Sync())
    assert await client.until_ready() == [
        m.ErrorResponse("ERROR", "22021", 'invalid byte sequence for encoding "UTF8": 0xe2 0x28 0xa1'),
        m.ReadyForQuery(IDLE),
    ]
    assert (await client.query("select 1"))[1] == m.DataRow([b"1"])


async def test_malformed_sync_gets_an_error_and_ready_for_query(server: Running) -> None:
    client = await server.connect()
    await client.send_raw(b"S\x00\x00\x00\x05x")
    assert await client.until_ready() == [
        m.ErrorResponse("ERROR", "08P01", "invalid message format"), m.ReadyForQuery(IDLE),
    ]


async def test_sync_failure_is_reported_before_ready_for_query(server: Running) -> None:
    client = await server.connect()
    session_of(server, client).sync_error = SqlError("40001", "change conflicts with another transaction (OC000)")
    await client.send(m.Parse("", "insert into t values (1)", ()), m.Bind("", "", (), (), ()), m.Execute("", 0), m.Sync())
    assert await client.until_ready() == [
        m.ParseComplete(), m.BindComplete(), m.CommandComplete("INSERT 0 1"),
        m.ErrorResponse("ERROR", "40001", "change conflicts with another transaction (OC000)"), m.ReadyForQuery(IDLE),
    ]


async def test_named_portals_survive_sync_inside_a_transaction(server: Running) -> None:
    client = await server.connect()
    await client.query("begin")
    await client.send(m.Parse("", "select generate_series(1, 5)", ()), m.Bind("c", "", (), (), ()), m.Execute("c", 2), m.Sync())
    assert types(await client.until_ready())[-2:] == ["PortalSuspended", "ReadyForQuery"]
    await client.send(m.Execute("c", 10), m.Sync())
    messages = await client.until_ready()
    assert [x.values for x in messages if isinstance(x, m.DataRow)] == [[b"3"], [b"4"], [b"5"]]
    assert messages[-1] == m.ReadyForQuery(IN_BLOCK)


async def test_terminate_and_eof_close_the_session(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Terminate())
    assert await client.until_eof() == []
    other = await server.connect()
    await other.aclose()
    with trio.fail_after(5):
        while len(server.factory.closed) < 2:
            await trio.sleep(0.01)
    assert server.factory.closed == [client.key.process_id, other.key.process_id]


async def test_client_vanishing_mid_result_leaves_the_server_healthy(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Query("select generate_series(1, 300000)"))
    await client.stream.receive_some(10)
    await client.aclose()
    with trio.fail_after(10):
        while client.key.process_id not in server.factory.closed:
            await trio.sleep(0.01)
    assert (await (await server.connect()).query("select 1"))[1] == m.DataRow([b"1"])


# --- cancel ------------------------------------------------------------------------------------

async def test_cancel_request_interrupts_a_running_statement(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Query("select pg_sleep(30)"))
    with trio.fail_after(10):
        await session_of(server, client).sleeping.wait()
        canceller = await server.connect(startup=False)
        await canceller.send(m.CancelRequest(client.key.process_id, client.key.secret_key))
        assert await canceller.until_eof() == []  # no answer, just a close
        messages = await client.until_ready()
    assert messages[-2:] == [
        m.ErrorResponse("ERROR", "57014", "canceling statement due to user request"), m.ReadyForQuery(IDLE),
    ]
    assert (await client.query("select 1"))[1] == m.DataRow([b"1"])


async def test_cancel_request_with_the_wrong_key_does_nothing(server: Running) -> None:
    client = await server.connect()
    await client.send(m.Query("select pg_sleep(0.5)"))
    await session_of(server, client).sleeping.wait()
    canceller = await server.connect(startup=False)
    await canceller.send(m.CancelRequest(client.key.process_id, client.key.secret_key ^ 1))
    await canceller.until_eof()
    assert types(await client.until_ready()) == ["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]


# --- bad input: FATAL for that connection, nothing for the others ------------------------------------

def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


BAD_STARTUPS = {
    "startup length 4": (struct.pack("!ii", 4, 0), "08P01", "invalid length of startup packet"),
    "startup length 20000": (struct.pack("!i", 20000) + b"\0" * 16, "08P01", "invalid length of startup packet"),
    "protocol 4.0": (struct.pack("!iHH", 16, 4, 0) + b"user\0u\0\0", "0A000",
                     "unsupported frontend protocol 4.0: server supports 3.0 to 3.0"),
    "no user": (encode_frontend(m.StartupMessage((3, 0), {"database": "d"})), "28000",
                "no PostgreSQL user name specified in startup packet"),
    "bad layout": (struct.pack("!iI", 20, 196608) + b"user\0u\0database", "08P01",
                   "invalid startup packet layout: expected terminator as last byte"),
    "ssl twice": (None, "0A000", "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0"),
    "garbage before startup": (_random_bytes(300, 1), "08P01", "invalid length of startup packet"),
    "an HTTP request": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "08P01", "invalid length of startup packet"),
}

BAD_MESSAGES = {
    "length 3": (b"Q\x00\x00\x00\x03", "invalid message length"),
    "negative length": (b"P\xff\xff\xff\xff", "invalid message length"),
    "2 GB header": (b"Q" + struct.pack("!i", 2**31 - 1) + b"select", "invalid message length"),
    "long Sync": (b"S" + struct.pack("!i", 20000) + b"\0" * 100, "invalid message length"),
    "unknown type": (b"z\x00\x00\x00\x04", "invalid frontend message type 122"),
    "type 0": (b"\x00\x00\x00\x00\x04", "invalid frontend message type 0"),
    "password after startup": (b"p\x00\x00\x00\x08abc\0", "invalid frontend message type 112"),
    "garbage": (b"\x8f" + _random_bytes(500, 2), "invalid frontend message type 143"),
}


@pytest.mark.parametrize("case", list(BAD_STARTUPS))
async def test_bad_startup_is_fatal_and_harmless_to_others(server: Running, case: str) -> None:
    data, sqlstate, message = BAD_STARTUPS[case]
    good = await server.connect()
    await good.send(m.Query("begin"))  # mid-transaction on purpose
    bad = await server.connect(startup=False)
    if data is None:
        await bad.send(m.SSLRequest())
        assert await bad.stream.receive_some(1) == b"N"
        data = encode_frontend(m.SSLRequest())
    await bad.send_raw(data)
    with trio.fail_after(5):
        assert await bad.until_eof() == [m.ErrorResponse("FATAL", sqlstate, message)]
    assert (await good.until_ready())[-1] == m.ReadyForQuery(IN_BLOCK)
    assert (await good.query("select 1"))[1] == m.DataRow([b"1"])


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
async def test_bad_message_is_fatal_and_harmless_to_others(server: Running, case: str) -> None:
    data, message = BAD_MESSAGES[case]
    good = await server.connect()
    bad = await server.connect()
    await bad.send_raw(data)
    with trio.fail_after(5):
        assert await bad.until_eof() == [m.ErrorResponse("FATAL", "08P01", message)]
    assert (await good.query("select 1"))[1] == m.DataRow([b"1"])
    with trio.fail_after(5):
        while bad.key.process_id not in server.factory.closed:
            await trio.sleep(0.01)


async def test_protocol_2_client_gets_the_old_error_format(server: Running) -> None:
    bad = await server.connect(startup=False)
    await bad.send_raw(struct.pack("!iHH", 16, 2, 0) + b"user\0u\0\0")
    data = b""
    with trio.fail_after(5):
        while chunk := await bad.stream.receive_some(1000):
            data += chunk
    assert data == b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\x00"


async def test_data_sent_before_the_ssl_answer_is_refused(server: Running) -> None:
    bad = await server.connect(startup=False)
    await bad.send_raw(encode_frontend(m.SSLRequest()) + startup_bytes())
    assert await bad.stream.receive_some(1) == b"N"
    error = (await bad.until_eof())[0]
    assert (error.severity, error.sqlstate, error.message) == ("FATAL", "08P01", "received unencrypted data after SSL request")


async def test_a_2_gb_message_is_refused_without_reading_it(server: Running) -> None:
    bad = await server.connect()
    await bad.send_raw(b"P" + struct.pack("!i", 2**31 - 1))  # over PostgreSQL's limit of 1 GiB - 2
    with trio.fail_after(2):  # well before 2 GB could arrive
        assert await bad.until_eof() == [m.ErrorResponse("FATAL", "08P01", "invalid message length")]


async def test_concurrent_connections_are_independent(server: Running) -> None:
    async def worker(i: int) -> None:
        client = await server.connect()
        for _ in range(20):
            messages = await client.query(f"select {i}")
            assert messages[1] == m.DataRow([str(i).encode()])
        await client.send(m.Terminate())

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(worker, i)
        bad = await server.connect()
        await bad.send_raw(b"z\x00\x00\x00\x04")
    assert (await bad.until_eof())[0].severity == "FATAL"


# --- limits and shutdown ------------------------------------------------------------------

async def test_connection_limit(servers) -> None:
    server = await servers(ServerLimits(connections_max=2))
    first = await server.connect()
    second = await server.connect()  # kept referenced: a collected client closes its socket
    third = await server.connect(startup=False)
    await third.send_raw(startup_bytes())
    assert (await third.until_eof())[-1] == m.ErrorResponse("FATAL", "53300", "sorry, too many clients already")
    await first.send(m.Terminate())
    await first.until_eof()
    with trio.fail_after(5):
        while True:  # the slot frees once the first session is closed
            client = await server.connect(startup=False)
            await client.send_raw(startup_bytes())
            if isinstance((await client.until_ready())[-1], m.ReadyForQuery):
                break
            await trio.sleep(0.01)
    assert (await second.query("select 1"))[1] == m.DataRow([b"1"])


async def test_cancel_requests_work_at_the_connection_limit(servers) -> None:
    server = await servers(ServerLimits(connections_max=1))
    client = await server.connect()
    await client.send(m.Query("select pg_sleep(30)"))
    await server.factory.sessions[client.key.process_id].sleeping.wait()
    canceller = await server.connect(startup=False)
    await canceller.send(m.CancelRequest(client.key.process_id, client.key.secret_key))
    with trio.fail_after(5):
        assert (await client.until_ready())[-2].sqlstate == "57014"


async def test_startup_timeout(servers) -> None:
    server = await servers(ServerLimits(startup_timeout_s=1.0))
    silent = await server.connect(startup=False)
    client = await server.connect()  # a prompt client is unaffected
    with trio.fail_after(5):
        assert await silent.until_eof() == []
    await trio.sleep(0.2)
    assert (await client.query("select 1"))[1] == m.DataRow([b"1"])


async def test_small_message_limit_is_configurable(servers) -> None:
    server = await servers(ServerLimits(message_bytes_max=20_000))
    client = await server.connect()
    assert (await client.query("select 1" + " " * 19_000))[1] == m.DataRow([b"1"])
    await client.send(m.Query("select 1" + " " * 20_000))
    assert await client.until_eof() == [m.ErrorResponse("FATAL", "08P01", "invalid message length")]


async def test_a_session_close_that_hangs_does_not_keep_the_socket(servers) -> None:
    server = await servers(ServerLimits(shutdown_grace_s=0.2))
    server.factory.close_delay_s = 30
    client = await server.connect()
    await client.send(m.Terminate())
    with trio.fail_after(3):
        assert await client.until_eof() == []
    assert server.factory.history[0].calls[-1] == ("close",) and server.factory.closed == []
    assert server.factory.sessions  # the abandoned close never finished
    assert (await (await server.connect()).query("select 1"))[1] == m.DataRow([b"1"])


async def test_graceful_shutdown_tells_clients_and_closes_sessions() -> None:
    factory = FakeSessionFactory()
    async with trio.open_nursery() as nursery:
        server = Running(factory, await nursery.start(serve, factory, "127.0.0.1", 0))
        idle = await server.connect()
        busy = await server.connect()
        await busy.send(m.Query("select pg_sleep(30)"))
        await server.factory.sessions[busy.key.process_id].sleeping.wait()
        half = await server.connect(startup=False)  # still in startup: just closed
        nursery.cancel_scope.cancel()
    shutdown = m.ErrorResponse("FATAL", "57P01", "terminating connection due to administrator command")
    with trio.fail_after(5):
        assert await idle.until_eof() == [shutdown]
        assert (await busy.until_eof())[-1] == shutdown
        assert await half.until_eof() == []
    assert sorted(server.factory.closed) == sorted([idle.key.process_id, busy.key.process_id])
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", server.port)
    for client in server.clients:
        await client.aclose()
