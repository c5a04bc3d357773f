"""pgwire.connection: framing, phases and error rules, driven by bytes alone (no trio, no sockets)."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgwire import messages as m
from pgwire.connection import (
    COPY_JOIN_BYTES,
    NEED_DATA,
    SMALL_MESSAGE_BYTES_MAX,
    ConnectionClosed,
    LocalProtocolError,
    Phase,
    ProtocolViolation,
    ServerConnection,
    protocol_negotiation,
)
from pgwire.testing import BackendParser, encode_frontend, startup_bytes
from qp.api import Column, TransactionStatus

IDLE = TransactionStatus.IDLE


def drain(conn: ServerConnection) -> list:
    """Every event available now: up to NEED_DATA, ConnectionClosed, or a phase that owes an answer."""
    out = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, ConnectionClosed) or conn.phase in (Phase.SIMPLE_QUERY, Phase.SYNCING, Phase.AUTHENTICATING):
            return out


def wire(*messages: m.FrontendMessage) -> bytes:
    return b"".join(encode_frontend(x) for x in messages)


def ready_connection(**kwargs) -> ServerConnection:
    conn = ServerConnection(**kwargs)
    conn.receive_data(startup_bytes())
    (startup,) = drain(conn)
    assert isinstance(startup, m.StartupMessage)
    conn.send(m.AuthenticationOk())
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.phase is Phase.READY
    return conn


def violation(conn: ServerConnection, data: bytes = b"") -> ProtocolViolation:
    conn.receive_data(data)
    with pytest.raises(ProtocolViolation) as info:
        drain(conn)
    return info.value


# --- startup ---------------------------------------------------------------------------

def test_startup_fed_one_byte_at_a_time() -> None:
    conn = ServerConnection()
    data = startup_bytes(user="alice", database="shop", application_name="psql")
    for byte in data[:-1]:
        conn.receive_data(bytes([byte]))
        assert conn.next_event() is NEED_DATA
    conn.receive_data(data[-1:])
    event = conn.next_event()
    assert event == m.StartupMessage((3, 0), {"user": "alice", "database": "shop", "application_name": "psql"})
    assert conn.phase is Phase.AUTHENTICATING


def test_ssl_and_gssenc_requests_are_declined_and_startup_follows() -> None:
    conn = ServerConnection()
    conn.receive_data(encode_frontend(m.SSLRequest()))
    assert drain(conn) == [m.SSLRequest()]
    assert conn.send(m.EncryptionResponse(b"N")) == b"N"
    conn.receive_data(encode_frontend(m.GSSENCRequest()))  # either order is allowed, once each
    assert drain(conn) == [m.GSSENCRequest()]
    conn.receive_data(startup_bytes())
    assert isinstance(drain(conn)[0], m.StartupMessage)


@pytest.mark.parametrize("request_message, code", [(m.SSLRequest(), "1234.5679"), (m.GSSENCRequest(), "1234.5680")])
def test_a_second_encryption_request_is_refused(request_message, code) -> None:
    conn = ServerConnection()
    conn.receive_data(encode_frontend(request_message))
    assert drain(conn) == [request_message]
    error = violation(conn, encode_frontend(request_message))
    assert (error.sqlstate, error.severity) == ("0A000", "FATAL")
    assert error.message == f"unsupported frontend protocol {code}: server supports 3.0 to 3.0"
    assert conn.phase is Phase.CLOSED


def test_data_pipelined_after_ssl_request_is_refused() -> None:
    conn = ServerConnection()
    conn.receive_data(encode_frontend(m.SSLRequest()) + startup_bytes())
    assert conn.next_event() == m.SSLRequest()  # answered first, as PostgreSQL does
    assert conn.send(m.EncryptionResponse()) == b"N"
    error = violation(conn)
    assert (error.sqlstate, error.severity) == ("08P01", "FATAL")
    assert error.message == "received unencrypted data after SSL request"
    assert "man-in-the-middle" in error.detail


@pytest.mark.parametrize("length", [-1, 0, 4, 7, 10_001, 2**31 - 1])
def test_startup_packet_length_bounds(length: int) -> None:
    error = violation(ServerConnection(), struct.pack("!i", length) + b"\0" * 8)
    assert (error.sqlstate, error.message, error.severity) == ("08P01", "invalid length of startup packet", "FATAL")


def test_startup_packet_at_the_length_bounds() -> None:
    body = struct.pack("!I", 196608) + b"user\0u\0application_name\0" + b"x" * 9966 + b"\0\0"
    packet = struct.pack("!i", len(body) + 4) + body
    assert len(packet) == 10_000
    conn = ServerConnection()
    conn.receive_data(packet)
    assert drain(conn)[0].parameters["application_name"] == "x" * 9966
    # 8 bytes is a valid length; a version word alone lacks the terminator
    error = violation(ServerConnection(), struct.pack("!iI", 8, 196608))
    assert error.message == "invalid startup packet layout: expected terminator as last byte"


def test_a_huge_startup_length_is_refused_before_the_body_arrives() -> None:
    error = violation(ServerConnection(), struct.pack("!i", 100_000_000))
    assert error.message == "invalid length of startup packet"


def test_protocol_2_is_refused_in_the_old_error_format() -> None:
    conn = ServerConnection()
    error = violation(conn, struct.pack("!iHH", 16, 2, 0) + b"user\0u\0\0")
    assert (error.sqlstate, error.severity) == ("0A000", "FATAL")
    assert conn.send(m.ErrorResponse.from_error(error)) == (
        b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\x00"
    )


def test_protocol_4_is_refused_in_the_v3_format() -> None:
    conn = ServerConnection()
    error = violation(conn, struct.pack("!iHH", 16, 4, 0) + b"user\0u\0\0")
    assert error.message == "unsupported frontend protocol 4.0: server supports 3.0 to 3.0"
    assert conn.send(m.ErrorResponse.from_error(error))[:1] == b"E"


def test_startup_without_user() -> None:
    error = violation(ServerConnection(), encode_frontend(m.StartupMessage((3, 0), {"database": "d"})))
    assert (error.sqlstate, error.severity) == ("28000", "FATAL")
    assert error.message == "no PostgreSQL user name specified in startup packet"


def test_newer_minor_versions_and_protocol_options_are_negotiated() -> None:
    conn = ServerConnection()
    conn.receive_data(encode_frontend(m.StartupMessage((3, 2), {"user": "u"}, {"_pq_.foo": "1"})))
    (startup,) = drain(conn)
    assert startup.parameters == {"user": "u"}  # _pq_ options are not GUCs
    assert protocol_negotiation(startup) == m.NegotiateProtocolVersion(0, ("_pq_.foo",))
    assert protocol_negotiation(m.StartupMessage((3, 0), {"user": "u"})) is None
    assert protocol_negotiation(m.StartupMessage((3, 5), {"user": "u"})) == m.NegotiateProtocolVersion(0, ())


def test_cancel_request_closes() -> None:
    conn = ServerConnection()
    conn.receive_data(encode_frontend(m.CancelRequest(7, 99)))
    assert conn.next_event() == m.CancelRequest(7, 99)
    assert conn.phase is Phase.CLOSED
    assert conn.next_event() == ConnectionClosed()


def test_eof_during_startup() -> None:
    conn = ServerConnection()
    conn.receive_data(startup_bytes()[:6])
    conn.receive_data(b"")
    assert drain(conn) == [ConnectionClosed(incomplete=True)]
    conn = ServerConnection()
    conn.receive_data(b"")
    assert drain(conn) == [ConnectionClosed(incomplete=False)]


# --- authentication --------------------------------------------------------------------

def authenticating() -> ServerConnection:
    conn = ServerConnection()
    conn.receive_data(startup_bytes())
    drain(conn)
    assert conn.phase is Phase.AUTHENTICATING
    return conn


def test_password_messages_are_read_as_what_was_asked_for() -> None:
    conn = authenticating()
    with pytest.raises(LocalProtocolError):
        conn.next_event()  # nothing was asked for
    conn.send(m.AuthenticationCleartextPassword())
    conn.receive_data(encode_frontend(m.PasswordMessage("hunter2")))
    assert drain(conn) == [m.PasswordMessage("hunter2")]

    conn = authenticating()
    conn.send(m.AuthenticationSASL(("SCRAM-SHA-256",)))
    conn.receive_data(encode_frontend(m.SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=nonce")))
    assert drain(conn) == [m.SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=nonce")]
    conn.send(m.AuthenticationSASLContinue(b"r=nonce2,s=salt,i=4096"))
    conn.receive_data(encode_frontend(m.SASLResponse(b"c=biws,r=nonce2,p=proof")))
    assert drain(conn) == [m.SASLResponse(b"c=biws,r=nonce2,p=proof")]
    conn.send(m.AuthenticationSASLFinal(b"v=sig"))
    conn.send(m.AuthenticationOk())
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.phase is Phase.READY


def test_anything_but_a_password_while_authenticating_is_fatal() -> None:
    conn = authenticating()
    conn.send(m.AuthenticationCleartextPassword())
    error = violation(conn, wire(m.Query("select 1")))
    assert (error.sqlstate, error.message, error.severity) == (
        "08P01", "expected password response, got message type 81", "FATAL"
    )


def test_malformed_password_message_is_fatal() -> None:
    conn = authenticating()
    conn.send(m.AuthenticationCleartextPassword())
    error = violation(conn, b"p\x00\x00\x00\x07abc")
    assert (error.message, error.severity) == ("invalid string in message", "FATAL")


# --- framing after startup ------------------------------------------------------------------

@pytest.mark.parametrize("length", [-5, 0, 3])
def test_message_length_below_4(length: int) -> None:
    conn = ready_connection()
    error = violation(conn, b"Q" + struct.pack("!i", length))
    assert (error.sqlstate, error.message, error.severity) == ("08P01", "invalid message length", "FATAL")
    assert conn.phase is Phase.CLOSED


def test_a_2_gb_message_is_refused_from_its_header_alone() -> None:
    conn = ready_connection()
    error = violation(conn, b"Q" + struct.pack("!i", 2**31 - 1) + b"sel")
    assert (error.message, error.severity) == ("invalid message length", "FATAL")
    assert conn.buffered_bytes == 0  # nothing kept


def test_message_size_limit_at_and_past_the_limit() -> None:
    limit = 20_000
    conn = ready_connection(message_bytes_max=limit)
    sql = "x" * (limit - 4 - 1)  # length word + text + NUL == limit
    conn.receive_data(wire(m.Query(sql)))
    assert drain(conn) == [m.Query(sql)]
    conn.send(m.ReadyForQuery(IDLE))
    error = violation(conn, wire(m.Query(sql + "x")))
    assert error.message == "invalid message length"


def test_the_default_limit_is_postgresqls() -> None:
    limit = 0x3FFF_FFFF - 1  # PQ_LARGE_MESSAGE_LIMIT: MaxAllocSize - 1
    conn = ready_connection()
    assert conn.message_bytes_max == limit
    conn.receive_data(b"P" + struct.pack("!i", limit))
    assert conn.next_event() is NEED_DATA  # at the limit: waits for the body
    conn = ready_connection()
    assert violation(conn, b"P" + struct.pack("!i", limit + 1)).message == "invalid message length"


def test_a_large_message_fed_in_small_pieces_is_buffered_in_linear_time() -> None:
    """20 MB in 4 KiB pieces, each followed by next_event() as the server does: with
    buffering that copied the whole buffer per piece this would move some 50 GB."""
    sql = "SELECT '" + "x" * 20_000_000 + "'"
    data = wire(m.Query(sql))
    conn = ready_connection()
    started = time.monotonic()
    for start in range(0, len(data), 4096):
        conn.receive_data(data[start : start + 4096])
        event = conn.next_event()
    assert event == m.Query(sql)
    assert time.monotonic() - started < 10  # about 0.1 s when linear


def test_small_messages_have_a_small_limit() -> None:
    conn = ready_connection()
    conn.receive_data(b"S" + struct.pack("!i", SMALL_MESSAGE_BYTES_MAX))
    assert conn.next_event() is NEED_DATA
    conn = ready_connection()
    error = violation(conn, b"S" + struct.pack("!i", SMALL_MESSAGE_BYTES_MAX + 1))
    assert error.message == "invalid message length"


@pytest.mark.parametrize("type_byte", [b"z", b"\0", b"p", b"A", b"\xff", b"T"])
def test_unknown_message_types_are_fatal(type_byte: bytes) -> None:
    conn = ready_connection()
    error = violation(conn, type_byte + struct.pack("!i", 4))
    assert (error.sqlstate, error.severity) == ("08P01", "FATAL")
    assert error.message == f"invalid frontend message type {type_byte[0]}"


def test_the_type_is_checked_before_the_length() -> None:
    assert violation(ready_connection(), b"z" + struct.pack("!i", 2)).message == "invalid frontend message type 122"


def test_every_message_fed_one_byte_at_a_time() -> None:
    conn = ready_connection()
    sent = [
        m.Parse("s1", "select $1::int", (23,)),
        m.Bind("p1", "s1", (1,), (b"\x00\x00\x00\x2a",), (1,)),
        m.Describe("P", "p1"),
        m.Execute("p1", 10),
        m.Close("P", "p1"),
        m.Flush(),
    ]
    received = []
    for byte in wire(*sent):
        conn.receive_data(bytes([byte]))
        received += drain(conn)
    assert received == sent
    assert conn.phase is Phase.EXTENDED


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_any_split_of_the_stream_gives_the_same_events(chunk_sizes: list[int]) -> None:
    sent = [
        m.Parse("", "select 1", ()), m.Bind("", "", (), (), ()), m.Execute("", 0), m.Sync(),
    ]
    data = wire(*sent)
    conn = ready_connection()
    received, pos, sizes = [], 0, iter(chunk_sizes * 100)
    while pos < len(data):
        n = next(sizes)
        conn.receive_data(data[pos : pos + n])
        pos += n
        received += drain(conn)
    assert received == sent


def test_many_messages_in_one_chunk_compact_the_buffer() -> None:
    conn = ready_connection()
    flushes = wire(m.Flush()) * 50_000  # 250 KB
    conn.receive_data(flushes)
    assert len(drain(conn)) == 50_000
    assert conn.buffered_bytes == 0


def test_eof_after_startup() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("select 1"))[:7])
    conn.receive_data(b"")
    assert drain(conn) == [ConnectionClosed(incomplete=True)]
    assert conn.phase is Phase.CLOSED
    conn.receive_data(b"more")  # ignored once closed
    assert conn.next_event() == ConnectionClosed()


# --- phases -----------------------------------------------------------------------------------

def test_simple_query_phase() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("select 1"), m.Query("select 2")))
    assert conn.next_event() == m.Query("select 1")
    assert conn.phase is Phase.SIMPLE_QUERY
    with pytest.raises(LocalProtocolError):
        conn.next_event()  # the answer (ending in ReadyForQuery) comes first
    conn.send(m.RowDescription([Column("?column?", 23, 4)]))
    conn.send(m.DataRows([[b"1"]]))
    conn.send(m.CommandComplete("SELECT 1"))
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.phase is Phase.READY
    assert conn.next_event() == m.Query("select 2")


def test_an_error_in_a_simple_query_does_not_skip() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("bad"), m.Query("select 1")))
    conn.next_event()
    conn.send(m.ErrorResponse("ERROR", "42601", "syntax error"))
    assert conn.phase is Phase.SIMPLE_QUERY
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.next_event() == m.Query("select 1")


def test_an_error_in_an_extended_batch_skips_until_sync() -> None:
    conn = ready_connection()
    conn.receive_data(wire(
        m.Parse("", "bad", ()), m.Bind("", "", (), (), ()), m.Describe("P", ""), m.Execute("", 0),
        m.Query("select 1"), m.Flush(), m.Close("S", ""), m.Sync(), m.Query("after"),
    ))
    assert conn.next_event() == m.Parse("", "bad", ())
    assert conn.phase is Phase.EXTENDED
    conn.send(m.ErrorResponse("ERROR", "42601", "syntax error"))
    assert conn.phase is Phase.SKIPPING
    assert conn.next_event() == m.Sync()
    assert conn.phase is Phase.SYNCING
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.next_event() == m.Query("after")


def test_skipping_drops_malformed_and_copy_messages_but_not_framing_errors() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Execute("", 0)))
    conn.next_event()
    conn.send(m.ErrorResponse("ERROR", "34000", "no portal"))
    conn.receive_data(b"D\x00\x00\x00\x06X\x00")  # a bad Describe subtype: never decoded while skipping
    conn.receive_data(wire(m.CopyData(b"x")))
    assert conn.next_event() is NEED_DATA
    assert violation(conn, b"z\x00\x00\x00\x04").severity == "FATAL"


def test_terminate_is_honoured_while_skipping() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Execute("", 0)))
    conn.next_event()
    conn.send(m.ErrorResponse("ERROR", "34000", "no portal"))
    conn.receive_data(wire(m.Bind("", "", (), (), ()), m.Terminate()))
    assert drain(conn) == [m.Terminate(), ConnectionClosed()]


def test_errors_after_sync_do_not_skip() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Sync(), m.Parse("", "x", ())))
    assert conn.next_event() == m.Sync()
    conn.send(m.ErrorResponse("ERROR", "40001", "commit failed"))  # e.g. from session.sync()
    assert conn.phase is Phase.SYNCING
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.next_event() == m.Parse("", "x", ())


def test_a_query_inside_a_batch_is_a_simple_query() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Parse("", "x", ()), m.Query("bad")))
    conn.next_event()
    conn.send(m.ParseComplete())
    assert conn.next_event() == m.Query("bad")
    conn.send(m.ErrorResponse("ERROR", "42601", "syntax error"))
    assert conn.phase is Phase.SIMPLE_QUERY  # as in PostgreSQL: no skip after a Query's error


@pytest.mark.parametrize(
    "data, phase, sqlstate",
    [
        (b"Q\x00\x00\x00\x06\xff\x00", Phase.SIMPLE_QUERY, "22021"),
        (b"Q\x00\x00\x00\x05x", Phase.SIMPLE_QUERY, "08P01"),
        (b"B\x00\x00\x00\x08\x00\x00\x00\x05", Phase.EXTENDED, "08P01"),
        (b"D\x00\x00\x00\x06X\x00", Phase.EXTENDED, "08P01"),
        (b"S\x00\x00\x00\x05x", Phase.SYNCING, "08P01"),
    ],
)
def test_malformed_contents_are_errors_that_keep_the_connection(data: bytes, phase: Phase, sqlstate: str) -> None:
    conn = ready_connection()
    error = violation(conn, data)
    assert (error.sqlstate, error.severity) == (sqlstate, "ERROR")
    assert conn.phase is phase
    conn.send(m.ErrorResponse.from_error(error))
    if phase is Phase.EXTENDED:
        assert conn.phase is Phase.SKIPPING
        conn.receive_data(wire(m.Sync()))
        assert conn.next_event() == m.Sync()
    conn.send(m.ReadyForQuery(IDLE))
    conn.receive_data(wire(m.Query("select 1")))
    assert conn.next_event() == m.Query("select 1")


def test_copy_messages_outside_copy_are_dropped() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.CopyData(b"row"), m.CopyDone(), m.CopyFail("x"), m.Query("select 2")))
    assert drain(conn) == [m.Query("select 2")]


def test_copy_in_from_a_simple_query() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("copy t from stdin")))
    conn.next_event()
    conn.send(m.CopyInResponse(0, [0, 0]))
    assert conn.phase is Phase.COPY_IN
    conn.receive_data(wire(m.CopyData(b"1\tone\n"), m.Flush(), m.Sync(), m.CopyData(b"\\.\n"), m.CopyDone()))
    assert drain(conn) == [m.CopyData(b"1\tone\n\\.\n"), m.CopyDone()]  # joined, Flush and Sync dropped
    assert conn.phase is Phase.SIMPLE_QUERY
    conn.send(m.CommandComplete("COPY 1"))
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.phase is Phase.READY


def _copy_in_connection(**kwargs) -> ServerConnection:
    conn = ready_connection(**kwargs)
    conn.receive_data(wire(m.Query("copy t from stdin")))
    conn.next_event()
    conn.send(m.CopyInResponse(0, [0]))
    return conn


def test_copy_data_in_a_row_comes_out_joined() -> None:
    conn = _copy_in_connection()
    rows = [f"{i}\trow {i}\n".encode() for i in range(5)]
    data = wire(*[m.CopyData(r) for r in rows], m.CopyDone())
    conn.receive_data(data[:-10])  # the last row cut short
    assert conn.next_event() == m.CopyData(b"".join(rows[:4]))
    assert conn.next_event() is NEED_DATA
    conn.receive_data(data[-10:])
    assert drain(conn) == [m.CopyData(rows[4]), m.CopyDone()]
    assert conn.phase is Phase.SIMPLE_QUERY


def test_copy_data_joins_stop_at_other_messages_and_at_the_size_bound() -> None:
    conn = _copy_in_connection()
    big = b"x" * (COPY_JOIN_BYTES // 2 + 1)
    conn.receive_data(wire(
        m.CopyData(b"a"), m.CopyData(b"b"), m.Flush(), m.CopyData(b"c"), m.Sync(),
        m.CopyData(big), m.CopyData(big), m.CopyData(b"d"), m.CopyDone(), m.Query("after"),
    ))
    assert drain(conn) == [
        m.CopyData(b"abc" + big + big),  # Flush and Sync are dropped; a join ends past COPY_JOIN_BYTES
        m.CopyData(b"d"),
        m.CopyDone(),
    ]
    conn.send(m.CommandComplete("COPY 4"))
    conn.send(m.ReadyForQuery(IDLE))
    assert conn.next_event() == m.Query("after")


def test_a_copy_data_of_a_refused_length_is_fatal_even_after_a_join() -> None:
    conn = _copy_in_connection(message_bytes_max=SMALL_MESSAGE_BYTES_MAX)
    too_long = b"d" + (SMALL_MESSAGE_BYTES_MAX + 1).to_bytes(4, "big")
    conn.receive_data(wire(m.CopyData(b"a"), m.CopyData(b"b")) + too_long)
    assert conn.next_event() == m.CopyData(b"ab")
    error = violation(conn, b"")
    assert (error.message, error.severity) == ("invalid message length", "FATAL")


def test_copy_fail_and_unexpected_messages_end_copy_in() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("copy t from stdin")))
    conn.next_event()
    conn.send(m.CopyInResponse(0, []))
    conn.receive_data(wire(m.CopyFail("client gave up")))
    assert drain(conn) == [m.CopyFail("client gave up")]
    assert conn.phase is Phase.SIMPLE_QUERY

    conn = ready_connection()
    conn.receive_data(wire(m.Bind("", "", (), (), ()), m.Execute("", 0)))
    drain(conn)
    conn.send(m.CopyInResponse(1, [1]))
    error = violation(conn, wire(m.Query("select 1")))
    assert (error.sqlstate, error.message, error.severity) == (
        "08P01", "unexpected message type 0x51 during COPY from stdin", "ERROR"
    )
    assert conn.phase is Phase.EXTENDED
    conn.send(m.ErrorResponse.from_error(error))
    assert conn.phase is Phase.SKIPPING


def test_an_error_sent_during_copy_in_leaves_it() -> None:
    conn = ready_connection()
    conn.receive_data(wire(m.Query("copy t from stdin")))
    conn.next_event()
    conn.send(m.CopyInResponse(0, []))
    conn.send(m.ErrorResponse("ERROR", "22P02", "bad row"))
    assert conn.phase is Phase.SIMPLE_QUERY
    conn.send(m.ReadyForQuery(IDLE))
    with pytest.raises(LocalProtocolError):
        conn.send(m.CopyInResponse(0, []))  # only while answering a command


def test_local_protocol_errors() -> None:
    conn = ready_connection()
    with pytest.raises(LocalProtocolError):
        conn.send(m.ReadyForQuery(IDLE))  # nothing asked
    conn.send(m.ErrorResponse("FATAL", "57P01", "terminating connection due to administrator command"))
    assert conn.phase is Phase.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(m.CommandComplete("SELECT 1"))


def test_in_memory_client_server_conversation() -> None:
    """A whole session through the sans-IO server and the test client's parser, with no I/O."""
    server, client = ServerConnection(), BackendParser()
    server.receive_data(encode_frontend(m.SSLRequest()))
    assert server.next_event() == m.SSLRequest()
    assert server.send(m.EncryptionResponse()) == b"N"
    server.receive_data(startup_bytes(user="u"))
    assert server.next_event().parameters["user"] == "u"
    for message in (
        m.AuthenticationOk(), m.ParameterStatus("server_version", "16.4"), m.BackendKeyData(1, 2),
        m.ReadyForQuery(IDLE),
    ):
        client.feed(server.send(message))
    assert [type(x) for x in client] == [m.AuthenticationOk, m.ParameterStatus, m.BackendKeyData, m.ReadyForQuery]

    server.receive_data(wire(m.Parse("", "select $1::int", ()), m.Describe("S", ""), m.Flush()))
    assert server.next_event() == m.Parse("", "select $1::int", ())
    client.feed(server.send(m.ParseComplete()))
    assert server.next_event() == m.Describe("S", "")
    client.feed(server.send(m.ParameterDescription([23])))
    client.feed(server.send(m.RowDescription([Column("int4", 23, 4)])))
    assert server.next_event() == m.Flush()
    assert list(client) == [m.ParseComplete(), m.ParameterDescription([23]), m.RowDescription([Column("int4", 23, 4)])]

    server.receive_data(wire(m.Bind("", "", (1,), (b"\x00\x00\x00\x07",), (1,)), m.Execute("", 1), m.Sync()))
    assert server.next_event() == m.Bind("", "", (1,), (b"\x00\x00\x00\x07",), (1,))
    client.feed(server.send(m.BindComplete()))
    assert server.next_event() == m.Execute("", 1)
    client.feed(server.send(m.DataRows([[b"\x00\x00\x00\x07"]])))
    client.feed(server.send(m.PortalSuspended()))
    assert server.next_event() == m.Sync()
    client.feed(server.send(m.ReadyForQuery(TransactionStatus.IN_BLOCK)))
    assert list(client) == [
        m.BindComplete(), m.DataRow([b"\x00\x00\x00\x07"]), m.PortalSuspended(),
        m.ReadyForQuery(TransactionStatus.IN_BLOCK),
    ]
    server.receive_data(wire(m.Terminate()))
    assert server.next_event() == m.Terminate()
    assert server.phase is Phase.CLOSED
