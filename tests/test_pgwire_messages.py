"""pgwire.messages: every message's bytes, checked against an independent codec and PostgreSQL 15."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgwire import messages as m
from pgwire.testing import decode_backend, encode_frontend
from qp.api import Column, TransactionStatus
from qp.errors import SqlError


def frontend_round_trip(message: m.FrontendMessage) -> m.FrontendMessage:
    data = encode_frontend(message)
    return m.decode_frontend(data[:1], data[5:])


def backend_round_trip(message: m.BackendMessage) -> m.BackendMessage:
    data = message.encode()
    (length,) = struct.unpack_from("!i", data, 1)
    assert length == len(data) - 1, "the length word counts itself and the body, not the type"
    return decode_backend(data[:1], data[5:])


FRONTEND = [
    m.Query("select 1"),
    m.Query(""),
    m.Query("select 'héllo ✓ 𝄞'"),
    m.Parse("", "select $1::int", ()),
    m.Parse("__asyncpg_stmt_1__", "select $1, $2", (23, 0)),
    m.Parse("s", "q", (4294967295,)),  # OIDs are unsigned
    m.Bind("", "", (), (), ()),
    m.Bind("", "", (1,), (), (1,)),  # asyncpg: one format code and no parameters
    m.Bind("p", "s", (0, 1), (b"1", None), (0,)),
    m.Bind("p", "s", (1,), (b"", b"\x00\x00\x00\x05"), ()),  # an empty value is not NULL
    m.Describe("S", "stmt"),
    m.Describe("P", ""),
    m.Execute("", 0),
    m.Execute("portal", 50),
    m.Execute("", -1),
    m.Close("S", "stmt"),
    m.Close("P", "portal"),
    m.Sync(),
    m.Flush(),
    m.FunctionCall(b"\x00\x00\x00\x01rest"),
    m.CopyData(b"1\tone\n"),
    m.CopyDone(),
    m.CopyFail("client gave up"),
]


@pytest.mark.parametrize("message", FRONTEND, ids=repr)
def test_frontend_round_trip(message: m.FrontendMessage) -> None:
    assert frontend_round_trip(message) == message


def test_terminate_ignores_its_body_as_postgresql_does() -> None:
    assert m.decode_frontend(b"X", b"") == m.Terminate()
    assert m.decode_frontend(b"X", b"junk") == m.Terminate()


@pytest.mark.parametrize(
    "message, expected",
    [
        (m.PasswordMessage("secret"), m.PasswordMessage),
        (m.SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc"), m.SASLInitialResponse),
        (m.SASLInitialResponse("SCRAM-SHA-256", None), m.SASLInitialResponse),
        (m.SASLResponse(b"c=biws,r=abc,p=xyz"), m.SASLResponse),
    ],
    ids=repr,
)
def test_password_messages_round_trip(message: m.FrontendMessage, expected: type) -> None:
    data = encode_frontend(message)
    assert m.decode_password_message(data[5:], expected) == message


@pytest.mark.parametrize(
    "message",
    [
        m.StartupMessage((3, 0), {"user": "u", "database": "d", "client_encoding": "'utf-8'"}),
        m.StartupMessage((3, 0), {"user": "ü", "options": "-c search_path=x"}),
        m.StartupMessage((3, 2), {"user": "u"}, {"_pq_.foo": "bar"}),
        m.SSLRequest(),
        m.GSSENCRequest(),
        m.CancelRequest(1234, 0xDEADBEEF),
    ],
    ids=repr,
)
def test_startup_packets_round_trip(message: m.FrontendMessage) -> None:
    data = encode_frontend(message)
    assert struct.unpack_from("!i", data)[0] == len(data)
    assert m.decode_startup_packet(data[4:]) == message


COLUMNS = [
    Column("?column?", 23, 4),
    Column("name", 25, -1, -1, 16384, 2, 1),
    Column("ünïcode", 1043, -1, 36, 4294967295, 32767, 0),
]

BACKEND = [
    m.AuthenticationOk(),
    m.AuthenticationCleartextPassword(),
    m.AuthenticationMD5Password(b"salt"),
    m.AuthenticationSASL(("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS")),
    m.AuthenticationSASLContinue(b"r=abc,s=c2FsdA==,i=4096"),
    m.AuthenticationSASLFinal(b"v=xyz"),
    m.ParameterStatus("server_version", "16.4"),
    m.ParameterStatus("application_name", ""),
    m.BackendKeyData(42, 0xFFFFFFFF),
    m.ReadyForQuery(TransactionStatus.IDLE),
    m.ReadyForQuery(TransactionStatus.IN_BLOCK),
    m.ReadyForQuery(TransactionStatus.FAILED),
    m.RowDescription(COLUMNS),
    m.RowDescription([]),
    m.DataRow([b"1", None, b"", "✓".encode()]),
    m.DataRow([]),
    m.CommandComplete("INSERT 0 3"),
    m.EmptyQueryResponse(),
    m.ParseComplete(),
    m.BindComplete(),
    m.CloseComplete(),
    m.NoData(),
    m.PortalSuspended(),
    m.ParameterDescription([23, 25, 4294967295]),
    m.ParameterDescription([]),
    m.ErrorResponse("ERROR", "42601", 'syntax error at or near "selec"', position=1),
    m.ErrorResponse("FATAL", "28000", "no user", "a detail", "a hint"),
    m.ErrorResponse("ERROR", "23505", "dup", "Key (a)=(1) already exists.", objects=("public", "t", None, None, "t_pkey"),
                    routine="_bt_check_unique"),
    m.ErrorResponse("ERROR", "0A000", "cached plan must not change result type", routine="RevalidateCachedQuery"),
    m.NoticeResponse("WARNING", "25001", "there is already a transaction in progress"),
    m.NoticeResponse("NOTICE", "00000", "hello", "detail", "hint"),
    m.NegotiateProtocolVersion(0, ("_pq_.foo", "_pq_.bar")),
    m.NegotiateProtocolVersion(0, ()),
    m.CopyInResponse(0, [0, 0, 0]),
    m.CopyOutResponse(1, [1]),
    m.CopyDataMessage(b"1\tone\n"),
    m.CopyDoneMessage(),
]


@pytest.mark.parametrize("message", BACKEND, ids=repr)
def test_backend_round_trip(message: m.BackendMessage) -> None:
    assert backend_round_trip(message) == message


def test_backend_bytes_match_postgresql_15() -> None:
    """Bytes captured from PostgreSQL 15.18 answering `select 1` and an error."""
    assert m.RowDescription([Column("?column?", 23, 4)]).encode() == (
        b"T\x00\x00\x00\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04"
        b"\xff\xff\xff\xff\x00\x00"
    )
    assert m.DataRow([b"1"]).encode() == b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011"
    assert m.CommandComplete("SELECT 1").encode() == b"C\x00\x00\x00\x0dSELECT 1\x00"
    assert m.ReadyForQuery(TransactionStatus.IDLE).encode() == b"Z\x00\x00\x00\x05I"
    assert m.AuthenticationOk().encode() == b"R\x00\x00\x00\x08\x00\x00\x00\x00"
    assert m.EmptyQueryResponse().encode() == b"I\x00\x00\x00\x04"
    assert m.NegotiateProtocolVersion(0, ("_pq_.foo",)).encode() == (
        b"v\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x01_pq_.foo\x00"
    )
    assert m.EncryptionResponse().encode() == b"N"


def test_data_rows_is_the_concatenation_of_data_row_messages() -> None:
    rows = [[b"1", None], [b"22", b""], [None, None]]
    assert m.DataRows(rows).encode() == b"".join(m.DataRow(r).encode() for r in rows)
    assert m.DataRows([]).encode() == b""


@given(st.lists(st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=6), max_size=20))
def test_data_rows_decode_back(rows: list[list[bytes | None]]) -> None:
    data = m.encode_data_rows(rows)
    decoded, pos = [], 0
    while pos < len(data):
        assert data[pos : pos + 1] == b"D"
        (length,) = struct.unpack_from("!i", data, pos + 1)
        decoded.append(decode_backend(b"D", data[pos + 5 : pos + 1 + length]).values)
        pos += 1 + length
    assert decoded == rows


@given(
    st.text(max_size=20).filter(lambda s: "\0" not in s),
    st.text(max_size=20).filter(lambda s: "\0" not in s),
    st.lists(st.sampled_from([0, 1]), max_size=4),
    st.lists(st.one_of(st.none(), st.binary(max_size=30)), max_size=5),
    st.lists(st.sampled_from([0, 1]), max_size=4),
)
def test_bind_round_trip_property(portal, statement, pformats, params, rformats) -> None:
    message = m.Bind(portal, statement, tuple(pformats), tuple(params), tuple(rformats))
    assert frontend_round_trip(message) == message


def test_text_with_nul_cannot_break_the_framing() -> None:
    data = m.ErrorResponse("ERROR", "22P02", "bad value \0 here").encode()
    assert backend_round_trip(m.ErrorResponse("ERROR", "22P02", "bad value \0 here")) == m.ErrorResponse(
        "ERROR", "22P02", "bad value  here"
    )
    assert data[5:].count(b"\0") == 4 + 1  # four fields' terminators and the final one


def test_legacy_error_format_for_protocol_2_clients() -> None:
    error = m.ErrorResponse("FATAL", "0A000", "unsupported frontend protocol 2.0: server supports 3.0 to 3.0")
    # what PostgreSQL 15 sends a 2.0 client, byte for byte
    assert error.encode_legacy() == b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\x00"


def test_error_response_from_sql_error() -> None:
    error = SqlError("42P01", 'relation "t" does not exist', detail="d", hint="h", position=15)
    assert m.ErrorResponse.from_error(error) == m.ErrorResponse("ERROR", "42P01", 'relation "t" does not exist', "d", "h", 15)
    assert not m.ErrorResponse.from_error(error).fatal
    assert m.ErrorResponse("FATAL", "57P01", "bye").fatal


def test_error_response_carries_the_object_names_and_routine() -> None:
    error = SqlError("23514", "check", schema_name="public", table_name="t", constraint_name="t_a_check",
                     routine="ExecConstraints")
    response = m.ErrorResponse.from_error(error)
    assert response == m.ErrorResponse(
        "ERROR", "23514", "check", objects=("public", "t", None, None, "t_a_check"), routine="ExecConstraints"
    )
    assert backend_round_trip(response) == response
    fields = [f[:1] for f in response.encode()[5:].split(b"\0") if f]
    assert fields == [b"S", b"V", b"C", b"M", b"s", b"t", b"n", b"R"]


def test_constraint_error_bytes_match_postgresql_15() -> None:
    """PostgreSQL 15.18's ErrorResponse to `INSERT INTO pe3 VALUES (NULL)` (pe3: a int NOT NULL),
    without its F and L fields (a C file and line, which dsql does not have): same fields, same order."""
    captured = [
        b"SERROR", b"VERROR", b"C23502",
        b'Mnull value in column "a" of relation "pe3" violates not-null constraint',
        b"DFailing row contains (null).", b"spublic", b"tpe3", b"ca", b"FexecMain.c", b"L2023", b"RExecConstraints",
    ]
    body = b"".join(f + b"\0" for f in captured if f[:1] not in b"FL") + b"\0"
    error = SqlError(
        "23502", 'null value in column "a" of relation "pe3" violates not-null constraint',
        detail="Failing row contains (null).", schema_name="public", table_name="pe3", column_name="a",
        routine="ExecConstraints",
    )
    assert m.ErrorResponse.from_error(error).encode() == b"E" + struct.pack("!i", len(body) + 4) + body


# --- malformed contents: the errors and wording PostgreSQL 15 gives ------------------------

def _error_of(type_byte: bytes, body: bytes) -> SqlError:
    with pytest.raises(SqlError) as info:
        m.decode_frontend(type_byte, body)
    return info.value


@pytest.mark.parametrize(
    "type_byte, body, sqlstate, message",
    [
        (b"Q", b"select '\xff'\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xff'),
        (b"Q", b"select '\xe2\x28\xa1'\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xe2 0x28 0xa1'),
        # a truncated sequence shows as many bytes as its first byte claims, as PostgreSQL does
        (b"Q", b"select '\xe2\x82'\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xe2 0x82 0x27'),
        (b"Q", b"select '\xed\xa0\x80'\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xed 0xa0 0x80'),
        (b"Q", b"select '\xc0\x80'\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xc0 0x80'),
        (b"Q", b"ok \x80\0", "22021", 'invalid byte sequence for encoding "UTF8": 0x80'),
        (b"Q", b"\xe2\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xe2'),
        (b"Q", b"select 1", "08P01", "invalid string in message"),
        (b"Q", b"select 1\0x", "08P01", "invalid message format"),
        (b"S", b"x", "08P01", "invalid message format"),
        (b"H", b"x", "08P01", "invalid message format"),
        (b"c", b"x", "08P01", "invalid message format"),
        (b"P", b"\0select 1\0\x00\x02\x00\x00\x00\x17", "08P01", "insufficient data left in message"),
        (b"P", b"\0select 1\0\x00\x00zz", "08P01", "invalid message format"),
        (b"P", b"\xff\0select 1\0\x00\x00", "22021", 'invalid byte sequence for encoding "UTF8": 0xff'),
        (b"P", b"\0select 1\0\x00", "08P01", "insufficient data left in message"),
        (b"B", b"\0\0\x00\x00\x00\x01\x00\x00\x00\x0a1", "08P01", "insufficient data left in message"),
        (b"B", b"\0\0\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00", "08P01", "insufficient data left in message"),
        (b"B", b"\0\0\x00\x00\x00\x00\x00\x00\x00", "08P01", "invalid message format"),
        (b"B", b"\0\0\x00\x05\x00\x00", "08P01", "insufficient data left in message"),
        (b"D", b"X\0", "08P01", "invalid DESCRIBE message subtype 88"),
        (b"D", b"S", "08P01", "invalid string in message"),
        (b"D", b"", "08P01", "insufficient data left in message"),
        (b"C", b"X\0", "08P01", "invalid CLOSE message subtype 88"),
        (b"E", b"\0\x00\x00", "08P01", "insufficient data left in message"),
        (b"E", b"\0\x00\x00\x00\x00\x00", "08P01", "invalid message format"),
        (b"f", b"\xff\0", "22021", 'invalid byte sequence for encoding "UTF8": 0xff'),
    ],
)
def test_malformed_contents(type_byte: bytes, body: bytes, sqlstate: str, message: str) -> None:
    error = _error_of(type_byte, body)
    assert (error.sqlstate, error.message, error.severity) == (sqlstate, message, "ERROR")


def _startup_error(body: bytes) -> SqlError:
    with pytest.raises(SqlError) as info:
        m.decode_startup_packet(body)
    return info.value


def test_startup_packet_layout_errors() -> None:
    version = struct.pack("!I", 196608)
    for body in (version + b"user\0u\0database", version + b"user\0u\0", version + b"user\0u\0x\0"):
        error = _startup_error(body)
        assert (error.sqlstate, error.severity) == ("08P01", "FATAL")
        assert error.message == "invalid startup packet layout: expected terminator as last byte"
    assert m.decode_startup_packet(version + b"\0") == m.StartupMessage((3, 0), {})


@pytest.mark.parametrize("major, minor", [(2, 0), (1, 0), (4, 0), (0, 0)])
def test_unsupported_protocol_versions(major: int, minor: int) -> None:
    error = _startup_error(struct.pack("!HH", major, minor) + b"user\0u\0\0")
    assert (error.sqlstate, error.severity) == ("0A000", "FATAL")
    assert error.message == f"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"


def test_cancel_request_of_the_wrong_length() -> None:
    error = _startup_error(struct.pack("!II", m.CANCEL_REQUEST_CODE, 1))
    assert (error.sqlstate, error.message, error.severity) == ("08P01", "invalid length of startup packet", "FATAL")


def test_invalid_utf8_in_startup_packet() -> None:
    error = _startup_error(struct.pack("!I", 196608) + b"user\0\xff\0\0")
    assert (error.sqlstate, error.severity) == ("22021", "FATAL")


def test_password_message_errors() -> None:
    with pytest.raises(SqlError, match="invalid string in message"):
        m.decode_password_message(b"secret", m.PasswordMessage)
    with pytest.raises(SqlError, match="insufficient data left in message"):
        m.decode_password_message(b"SCRAM-SHA-256\0\x00\x00\x00\x09abc", m.SASLInitialResponse)
