"""PostgreSQL v3 wire messages: one frozen dataclass per message, and their bytes.

This module owns the byte layout of every message and nothing else: no state,
no sockets, no idea of which message may come when (that is
`pgwire.connection`). Frontend messages (client to server) are *decoded* from
a message body; backend messages (server to client) *encode* themselves with
`encode() -> bytes`, a whole framed message (type byte, int32 length, body).

Decoding follows PostgreSQL's `pq_getmsg*` functions: a string without its
NUL, a count larger than the bytes that follow, or bytes left over after the
last field raise `SqlError` 08P01 with PostgreSQL's own wording, and text that
is not valid UTF-8 raises 22021 naming the offending bytes as PostgreSQL does.
Names and values follow the protocol documentation,
https://www.postgresql.org/docs/current/protocol-message-formats.html.

RowDescription and DataRow are on the hot path of every query, so they are
encoded with precompiled `struct.Struct`s and a single `b"".join`, and
`DataRows` frames a whole batch of rows in one call.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from qp.api import Column, TransactionStatus
from qp.errors import SqlError

# --- protocol constants -------------------------------------------------------

PROTOCOL_3_0 = 3 << 16  # 196608, the only version we speak
SSL_REQUEST_CODE = 80877103  # 1234.5679
GSSENC_REQUEST_CODE = 80877104  # 1234.5680
CANCEL_REQUEST_CODE = 80877102  # 1234.5678

_I16 = struct.Struct("!h")
_U16 = struct.Struct("!H")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_HEADER = struct.Struct("!ci")  # type byte, length (which counts itself but not the type)
_ROW_HEADER = struct.Struct("!cih")  # 'D', length, column count
_FIELD = struct.Struct("!IhIhih")  # RowDescription field after its name
_NULL = _I32.pack(-1)
_pack_i32 = _I32.pack


def _frame(type_byte: bytes, body: bytes) -> bytes:
    return _HEADER.pack(type_byte, len(body) + 4) + body


def _cstr(text: str) -> bytes:
    """A NUL-terminated UTF-8 string; an embedded NUL would break the framing, so drop it."""
    data = text.encode("utf-8", "replace")
    if b"\0" in data:
        data = data.replace(b"\0", b"")
    return data + b"\0"


# --- decoding helpers (PostgreSQL's pq_getmsg*) ------------------------------

def protocol_violation(message: str, *, severity: str = "ERROR", detail: str | None = None) -> SqlError:
    return SqlError("08P01", message, severity=severity, detail=detail)


def _utf8_char_length(first_byte: int) -> int:
    """PostgreSQL's pg_utf_mblen: how many bytes the sequence starting here claims."""
    if first_byte < 0x80:
        return 1
    if first_byte & 0xE0 == 0xC0:
        return 2
    if first_byte & 0xF0 == 0xE0:
        return 3
    if first_byte & 0xF8 == 0xF0:
        return 4
    return 1


def invalid_utf8(data: bytes, start: int) -> SqlError:
    """22021 as PostgreSQL's report_invalid_encoding words it: up to one character's bytes."""
    length = min(_utf8_char_length(data[start]), len(data) - start, 8)
    shown = " ".join(f"0x{b:02x}" for b in data[start : start + length])
    return SqlError("22021", f'invalid byte sequence for encoding "UTF8": {shown}')


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_utf8(data, exc.start) from None


class _Reader:
    """A cursor over one message body; each method raises 08P01 as pq_getmsg* does."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise protocol_violation("insufficient data left in message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int16(self) -> int:
        return _I16.unpack(self._take(2))[0]

    def uint16(self) -> int:
        return _U16.unpack(self._take(2))[0]

    def int32(self) -> int:
        return _I32.unpack(self._take(4))[0]

    def uint32(self) -> int:
        return _U32.unpack(self._take(4))[0]

    def byte(self) -> int:
        return self._take(1)[0]

    def raw_string(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise protocol_violation("invalid string in message")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        return raw

    def string(self) -> str:
        return decode_utf8(self.raw_string())

    def rest(self) -> bytes:
        return self._take(len(self.data) - self.pos)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise protocol_violation("invalid message format")


# --- frontend messages --------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StartupMessage:
    """The first packet of a session. `parameters` excludes `_pq_.` protocol options."""

    protocol_version: tuple[int, int]
    parameters: dict[str, str]
    protocol_options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SSLRequest:
    pass


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    pass


@dataclass(frozen=True, slots=True)
class CancelRequest:
    process_id: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class Query:
    sql: str


@dataclass(frozen=True, slots=True)
class Parse:
    name: str
    query: str
    param_oids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Describe:
    kind: str  # "S" (statement) or "P" (portal)
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    portal: str
    max_rows: int  # 0 means all; PostgreSQL also reads a negative count as all


@dataclass(frozen=True, slots=True)
class Close:
    kind: str  # "S" or "P"
    name: str


@dataclass(frozen=True, slots=True)
class Sync:
    pass


@dataclass(frozen=True, slots=True)
class Flush:
    pass


@dataclass(frozen=True, slots=True)
class Terminate:
    pass


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """The fast-path function call ('F'); kept raw because we only refuse it."""

    body: bytes


@dataclass(frozen=True, slots=True)
class CopyData:
    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone:
    pass


@dataclass(frozen=True, slots=True)
class CopyFail:
    message: str


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    """A 'p' message answering AuthenticationCleartextPassword or AuthenticationMD5Password."""

    password: str


@dataclass(frozen=True, slots=True)
class SASLInitialResponse:
    """A 'p' message answering AuthenticationSASL; `data` None means the client sent length -1."""

    mechanism: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class SASLResponse:
    """A 'p' message answering AuthenticationSASLContinue."""

    data: bytes


FrontendMessage = (
    StartupMessage | SSLRequest | GSSENCRequest | CancelRequest | Query | Parse | Bind | Describe
    | Execute | Close | Sync | Flush | Terminate | FunctionCall | CopyData | CopyDone | CopyFail
    | PasswordMessage | SASLInitialResponse | SASLResponse
)


# --- decoding frontend messages -------------------------------------------------

def decode_startup_packet(body: bytes) -> StartupMessage | SSLRequest | GSSENCRequest | CancelRequest:
    """Decode a startup-phase packet (without its length word).

    Only the layout is checked here; which packets may follow which (a second
    SSLRequest, a missing user) is the connection's business.
    """
    reader = _Reader(body)
    code = reader.uint32()
    if code == CANCEL_REQUEST_CODE:
        if len(body) != 12:
            raise protocol_violation("invalid length of startup packet", severity="FATAL")
        return CancelRequest(reader.uint32(), reader.uint32())
    if code == SSL_REQUEST_CODE:
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        return GSSENCRequest()
    major, minor = code >> 16, code & 0xFFFF
    if major != 3:
        raise SqlError(
            "0A000",
            f"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0",
            severity="FATAL",
        )
    # name/value pairs, each NUL-terminated, then one more NUL as the last byte
    parameters: dict[str, str] = {}
    options: dict[str, str] = {}
    pos, end = 4, len(body)
    while pos < end and body[pos] != 0:
        name_end = body.find(b"\0", pos)
        value_end = body.find(b"\0", name_end + 1) if name_end >= 0 else -1
        if value_end < 0 or value_end >= end - 1:
            break  # missing value or terminator: complained about below, as PostgreSQL does
        try:
            name = body[pos:name_end].decode("utf-8")
            value = body[name_end + 1 : value_end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SqlError(
                "22021", f"invalid byte sequence for encoding \"UTF8\" in startup packet: {exc.reason}",
                severity="FATAL",
            ) from None
        (options if name.startswith("_pq_.") else parameters)[name] = value
        pos = value_end + 1
    if pos != end - 1 or body[pos] != 0:
        raise protocol_violation(
            "invalid startup packet layout: expected terminator as last byte", severity="FATAL"
        )
    return StartupMessage((major, minor), parameters, options)


def _decode_query(r: _Reader) -> Query:
    return Query(r.string())


def _decode_parse(r: _Reader) -> Parse:
    name = r.string()
    query = r.string()
    count = r.uint16()
    oids = tuple(r.uint32() for _ in range(count))
    return Parse(name, query, oids)


def _decode_bind(r: _Reader) -> Bind:
    portal = r.string()
    statement = r.string()
    param_formats = tuple(r.int16() for _ in range(r.uint16()))
    params: list[bytes | None] = []
    for _ in range(r.uint16()):
        length = r.int32()
        params.append(None if length == -1 else r._take(length))
    result_formats = tuple(r.int16() for _ in range(r.uint16()))
    return Bind(portal, statement, param_formats, tuple(params), result_formats)


def _decode_describe(r: _Reader) -> Describe:
    kind = r.byte()
    name = r.string()
    if kind not in (0x53, 0x50):  # 'S', 'P'
        raise protocol_violation(f"invalid DESCRIBE message subtype {kind}")
    return Describe(chr(kind), name)


def _decode_execute(r: _Reader) -> Execute:
    return Execute(r.string(), r.int32())


def _decode_close(r: _Reader) -> Close:
    kind = r.byte()
    name = r.string()
    if kind not in (0x53, 0x50):
        raise protocol_violation(f"invalid CLOSE message subtype {kind}")
    return Close(chr(kind), name)


def _decode_copy_fail(r: _Reader) -> CopyFail:
    return CopyFail(r.string())


_SYNC, _FLUSH, _COPY_DONE = Sync(), Flush(), CopyDone()

# type byte -> decoder of the body; the decoder must consume the whole body
_DECODERS = {
    b"Q": _decode_query,
    b"P": _decode_parse,
    b"B": _decode_bind,
    b"D": _decode_describe,
    b"E": _decode_execute,
    b"C": _decode_close,
    b"S": lambda r: _SYNC,
    b"H": lambda r: _FLUSH,
    b"F": lambda r: FunctionCall(r.rest()),
    b"d": lambda r: CopyData(r.rest()),
    b"c": lambda r: _COPY_DONE,
    b"f": _decode_copy_fail,
}

# the types that may come after startup, i.e. everything but 'p' and 'X' (handled by the connection)
FRONTEND_TYPES = frozenset(_DECODERS) | {b"X"}


def decode_frontend(type_byte: bytes, body: bytes) -> FrontendMessage:
    """Decode a typed message that arrived after startup (never 'p', see decode_password_message)."""
    if type_byte == b"X":
        return Terminate()  # PostgreSQL ignores a Terminate's body
    reader = _Reader(body)
    message: FrontendMessage = _DECODERS[type_byte](reader)  # type: ignore[operator,assignment]
    reader.end()
    return message


def decode_password_message(
    body: bytes, expected: type[PasswordMessage] | type[SASLInitialResponse] | type[SASLResponse]
) -> PasswordMessage | SASLInitialResponse | SASLResponse:
    """A 'p' body; its layout depends on which authentication request it answers."""
    reader = _Reader(body)
    if expected is PasswordMessage:
        message: PasswordMessage | SASLInitialResponse | SASLResponse = PasswordMessage(reader.string())
    elif expected is SASLInitialResponse:
        mechanism = reader.string()
        length = reader.int32()
        message = SASLInitialResponse(mechanism, None if length == -1 else reader._take(length))
    else:
        message = SASLResponse(reader.rest())
    reader.end()
    return message


# --- backend messages -----------------------------------------------------------

def _constant(type_byte: bytes, body: bytes = b"") -> bytes:
    return _frame(type_byte, body)


@dataclass(frozen=True, slots=True)
class EncryptionResponse:
    """The single unframed byte answering SSLRequest/GSSENCRequest: b"N" (no), b"S" or b"G"."""

    answer: bytes = b"N"

    def encode(self) -> bytes:
        return self.answer


_AUTH_OK = _constant(b"R", _I32.pack(0))


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    def encode(self) -> bytes:
        return _AUTH_OK


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    def encode(self) -> bytes:
        return _frame(b"R", _I32.pack(3))


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    salt: bytes

    def encode(self) -> bytes:
        assert len(self.salt) == 4, self.salt
        return _frame(b"R", _I32.pack(5) + self.salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    mechanisms: tuple[str, ...]

    def encode(self) -> bytes:
        return _frame(b"R", _I32.pack(10) + b"".join(_cstr(m) for m in self.mechanisms) + b"\0")


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    data: bytes

    def encode(self) -> bytes:
        return _frame(b"R", _I32.pack(11) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    data: bytes

    def encode(self) -> bytes:
        return _frame(b"R", _I32.pack(12) + self.data)


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    name: str
    value: str

    def encode(self) -> bytes:
        return _frame(b"S", _cstr(self.name) + _cstr(self.value))


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    process_id: int  # both sent as 32 bits; CancelRequest brings them back unsigned
    secret_key: int

    def encode(self) -> bytes:
        return _frame(b"K", _U32.pack(self.process_id & 0xFFFFFFFF) + _U32.pack(self.secret_key & 0xFFFFFFFF))


_READY = {status: _constant(b"Z", status.value) for status in TransactionStatus}


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    status: TransactionStatus

    def encode(self) -> bytes:
        return _READY[self.status]


@dataclass(frozen=True, slots=True)
class RowDescription:
    columns: Sequence[Column]

    def encode(self) -> bytes:
        pack = _FIELD.pack
        parts = [_I16.pack(len(self.columns))]
        for c in self.columns:
            parts.append(_cstr(c.name))
            parts.append(
                pack(c.table_oid, c.column_number, c.type_oid, c.type_len, c.type_mod, c.format)
            )
        return _frame(b"T", b"".join(parts))


def encode_data_rows(rows: Sequence[Sequence[bytes | None]]) -> bytes:
    """Frame many DataRow messages at once; the per-row work is a length sum and a join."""
    parts: list[bytes] = []
    append = parts.append
    header = _ROW_HEADER.pack
    pack_len = _pack_i32
    null = _NULL
    for row in rows:
        start = len(parts)
        append(b"")  # placeholder for the header, whose length we learn after the values
        size = 6
        for value in row:
            if value is None:
                append(null)
                size += 4
            else:
                n = len(value)
                append(pack_len(n))
                append(value)
                size += 4 + n
        parts[start] = header(b"D", size, len(row))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class DataRow:
    values: Sequence[bytes | None]

    def encode(self) -> bytes:
        return encode_data_rows((self.values,))


@dataclass(frozen=True, slots=True)
class DataRows:
    """A batch of DataRow messages, encoded together (not a protocol message of its own)."""

    rows: Sequence[Sequence[bytes | None]]

    def encode(self) -> bytes:
        return encode_data_rows(self.rows)


@dataclass(frozen=True, slots=True)
class CommandComplete:
    tag: str

    def encode(self) -> bytes:
        return _frame(b"C", _cstr(self.tag))


_EMPTY_QUERY = _constant(b"I")
_PARSE_COMPLETE = _constant(b"1")
_BIND_COMPLETE = _constant(b"2")
_CLOSE_COMPLETE = _constant(b"3")
_NO_DATA = _constant(b"n")
_PORTAL_SUSPENDED = _constant(b"s")
_COPY_DONE_MESSAGE = _constant(b"c")


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    """Answers an empty query string in place of CommandComplete."""

    def encode(self) -> bytes:
        return _EMPTY_QUERY


@dataclass(frozen=True, slots=True)
class ParseComplete:
    def encode(self) -> bytes:
        return _PARSE_COMPLETE


@dataclass(frozen=True, slots=True)
class BindComplete:
    def encode(self) -> bytes:
        return _BIND_COMPLETE


@dataclass(frozen=True, slots=True)
class CloseComplete:
    """Close done, also for a name that did not exist."""

    def encode(self) -> bytes:
        return _CLOSE_COMPLETE


@dataclass(frozen=True, slots=True)
class NoData:
    """Describe of a statement or portal that returns no rows."""

    def encode(self) -> bytes:
        return _NO_DATA


@dataclass(frozen=True, slots=True)
class PortalSuspended:
    """Execute stopped at its row limit; the portal can be executed again."""

    def encode(self) -> bytes:
        return _PORTAL_SUSPENDED


@dataclass(frozen=True, slots=True)
class CopyDoneMessage:
    """CopyDone sent by the server at the end of COPY TO STDOUT; the client's is `CopyDone`."""

    def encode(self) -> bytes:
        return _COPY_DONE_MESSAGE


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    type_oids: Sequence[int]

    def encode(self) -> bytes:
        oids = self.type_oids
        return _frame(b"t", struct.pack(f"!H{len(oids)}I", len(oids), *oids))


def _notice_fields(
    severity: str, sqlstate: str, message: str, detail: str | None, hint: str | None, position: int | None,
    context: str | None = None, objects: Sequence[str | None] = (), routine: str | None = None,
) -> bytes:
    """The fields of an ErrorResponse or NoticeResponse, in the order PostgreSQL's
    send_message_to_frontend writes them: S V C M D H P W, then the object names
    s t c d n, then R (we send no F or L: there is no C source file to name)."""
    parts = [b"S", _cstr(severity), b"V", _cstr(severity), b"C", _cstr(sqlstate), b"M", _cstr(message)]
    if detail is not None:
        parts += [b"D", _cstr(detail)]
    if hint is not None:
        parts += [b"H", _cstr(hint)]
    if position is not None:
        parts += [b"P", _cstr(str(position))]
    if context is not None:
        parts += [b"W", _cstr(context)]
    for code, name in zip(_OBJECT_FIELD_CODES, objects, strict=False):
        if name is not None:
            parts += [code, _cstr(name)]
    if routine is not None:
        parts += [b"R", _cstr(routine)]
    parts.append(b"\0")
    return b"".join(parts)


# schema, table, column, data type, constraint: the order of ErrorResponse.objects
_OBJECT_FIELD_CODES = (b"s", b"t", b"c", b"d", b"n")


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    severity: str  # ERROR, FATAL or PANIC; also sent as V, which PostgreSQL never translates
    sqlstate: str
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None
    context: str | None = None
    # Names of the objects the error is about, in _OBJECT_FIELD_CODES order (None: not sent).
    objects: tuple[str | None, ...] = ()
    routine: str | None = None  # PostgreSQL's function that reports the error ('R')

    @classmethod
    def from_error(cls, error: SqlError) -> ErrorResponse:
        objects = (error.schema_name, error.table_name, error.column_name, error.datatype_name, error.constraint_name)
        return cls(
            error.severity, error.sqlstate, error.message, error.detail, error.hint, error.position,
            error.context, objects if any(name is not None for name in objects) else (), error.routine,
        )

    @property
    def fatal(self) -> bool:
        return self.severity in ("FATAL", "PANIC")

    def encode(self) -> bytes:
        return _frame(
            b"E",
            _notice_fields(
                self.severity, self.sqlstate, self.message, self.detail, self.hint, self.position, self.context,
                self.objects, self.routine,
            ),
        )

    def encode_legacy(self) -> bytes:
        """The protocol-2 form PostgreSQL still uses to refuse a 2.0 client: 'E', text, NUL."""
        return b"E" + _cstr(f"{self.severity}:  {self.message}\n")


@dataclass(frozen=True, slots=True)
class NoticeResponse:
    severity: str  # NOTICE, WARNING, INFO, LOG, DEBUG
    sqlstate: str
    message: str
    detail: str | None = None
    hint: str | None = None

    def encode(self) -> bytes:
        return _frame(b"N", _notice_fields(self.severity, self.sqlstate, self.message, self.detail, self.hint, None))


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    newest_minor: int
    unrecognized_options: tuple[str, ...]

    def encode(self) -> bytes:
        body = _I32.pack(self.newest_minor) + _I32.pack(len(self.unrecognized_options))
        return _frame(b"v", body + b"".join(_cstr(o) for o in self.unrecognized_options))


def _copy_response(type_byte: bytes, overall_format: int, column_formats: Sequence[int]) -> bytes:
    n = len(column_formats)
    return _frame(type_byte, struct.pack(f"!bH{n}h", overall_format, n, *column_formats))


@dataclass(frozen=True, slots=True)
class CopyInResponse:
    overall_format: int
    column_formats: Sequence[int]

    def encode(self) -> bytes:
        return _copy_response(b"G", self.overall_format, self.column_formats)


@dataclass(frozen=True, slots=True)
class CopyOutResponse:
    overall_format: int
    column_formats: Sequence[int]

    def encode(self) -> bytes:
        return _copy_response(b"H", self.overall_format, self.column_formats)


@dataclass(frozen=True, slots=True)
class CopyDataMessage:
    """CopyData sent by the server (COPY TO STDOUT); the client's is `CopyData`."""

    data: bytes

    def encode(self) -> bytes:
        return _frame(b"d", self.data)


@dataclass(frozen=True, slots=True)
class CopyDataMessages:
    """Several server CopyData messages framed at once (COPY TO sends one per row)."""

    chunks: Sequence[bytes]

    def encode(self) -> bytes:
        return b"".join([_frame(b"d", chunk) for chunk in self.chunks])


BackendMessage = (
    EncryptionResponse | AuthenticationOk | AuthenticationCleartextPassword | AuthenticationMD5Password
    | AuthenticationSASL | AuthenticationSASLContinue | AuthenticationSASLFinal | ParameterStatus
    | BackendKeyData | ReadyForQuery | RowDescription | DataRow | DataRows | CommandComplete
    | EmptyQueryResponse | ParseComplete | BindComplete | CloseComplete | NoData | PortalSuspended
    | ParameterDescription | ErrorResponse | NoticeResponse | NegotiateProtocolVersion
    | CopyInResponse | CopyOutResponse | CopyDataMessage | CopyDataMessages | CopyDoneMessage
)
