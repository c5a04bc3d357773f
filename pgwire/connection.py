"""The server side of the PostgreSQL v3 protocol as a state machine with no I/O.

`ServerConnection` is fed the client's bytes with `receive_data(bytes)` (an
empty `bytes` means end of input), hands out whole frontend messages with
`next_event()`, and turns backend messages into bytes with `send(msg)`. It
owns framing (lengths, limits, message types), the protocol's phases and
PostgreSQL's rules for errors: which ones end the connection, and which make
the server skip messages until Sync. It never touches a socket, a clock or a
session, so every rule can be tested by feeding bytes, one at a time if need
be; `pgwire.server` is the thin trio wrapper that moves the bytes.

Phases and their transitions ("recv" is a message returned by next_event,
"send" a message passed to send):

    AWAITING_STARTUP  recv SSLRequest/GSSENCRequest  -> AWAITING_STARTUP  (answer EncryptionResponse)
    AWAITING_STARTUP  recv CancelRequest             -> CLOSED
    AWAITING_STARTUP  recv StartupMessage            -> AUTHENTICATING
    AUTHENTICATING    recv PasswordMessage/SASL*     -> AUTHENTICATING    (only after asking for one)
    AUTHENTICATING    send ReadyForQuery             -> READY
    READY, EXTENDED   recv Query, FunctionCall       -> SIMPLE_QUERY
    READY, EXTENDED   recv Parse/Bind/Describe/Execute/Close/Flush -> EXTENDED
    READY, EXTENDED   recv Sync                      -> SYNCING
    SKIPPING          recv Sync                      -> SYNCING           (everything else is dropped)
    SIMPLE_QUERY      send ReadyForQuery             -> READY
    SYNCING           send ReadyForQuery             -> READY
    EXTENDED          send ErrorResponse             -> SKIPPING
    SIMPLE_QUERY, EXTENDED  send CopyInResponse      -> COPY_IN
    COPY_IN           recv CopyData                  -> COPY_IN           (Flush and Sync are dropped)
    COPY_IN           recv CopyDone/CopyFail         -> the phase before COPY_IN
    COPY_IN           send ErrorResponse             -> the phase before COPY_IN, then as above
    any phase         recv Terminate, end of input   -> CLOSED
    any phase         send a FATAL ErrorResponse     -> CLOSED

Outside COPY_IN, CopyData/CopyDone/CopyFail are dropped, as PostgreSQL does
(they are what a client still sends after a COPY failed). In COPY_IN, the
CopyData messages that sit whole one after another in the input come out as
one CopyData holding their bytes in order (up to `COPY_JOIN_BYTES`): COPY's
data is a byte stream whose message boundaries mean nothing (PostgreSQL's
CopyGetData reads it so too), and pgbench and psql send a message per row.

Errors in the client's bytes raise `ProtocolViolation`, an `SqlError`:
- FATAL, after which the phase is CLOSED and the server sends the error and
  hangs up: a startup packet of a bad length or layout, an unsupported
  protocol version, a message length below 4 or above the limit (checked
  from the 5-byte header, so an oversized body is never buffered), an unknown
  message type.
- ERROR, when one message's contents are malformed (a count larger than the
  bytes that follow, a string without its NUL, bytes after the last field,
  text that is not UTF-8). The message is consumed and the phase changes as
  if it had been well formed, so the server answers the same way it does
  when a session method raises: ErrorResponse, then ReadyForQuery in
  SIMPLE_QUERY and SYNCING, or skip-until-Sync in EXTENDED.
PostgreSQL 15 only logs (and hangs up on) a bad startup length or message
length; we also send the client a FATAL ErrorResponse saying why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qp.errors import SqlError

from . import messages as m

# Startup packets are small: PostgreSQL refuses any over 10000 bytes
# (MAX_STARTUP_PACKET_LENGTH) or shorter than the version word plus the length.
STARTUP_PACKET_BYTES_MIN = 8
STARTUP_PACKET_BYTES_MAX = 10_000

# The largest message a client may send (its length word included), by default
# PostgreSQL's own: PQ_LARGE_MESSAGE_LIMIT, MaxAllocSize - 1, just under 1 GiB,
# so that any query text or bind parameter PostgreSQL takes, dsql takes too.
# The bound is what keeps one client from making us buffer an arbitrary amount:
# a message is held whole before it is decoded, and processing it holds a few
# copies more (the decoded text, the parse tree), so a server that must serve
# many clients in little memory lowers it (`dsql serve --max-message-bytes`).
# Past it the client gets PostgreSQL's "invalid message length" and is
# disconnected, which is what PostgreSQL does (it only logs the reason).
MESSAGE_BYTES_MAX_DEFAULT = 0x3FFF_FFFF - 1

# Messages that carry no user data are tiny; PostgreSQL caps them at 10000
# bytes (PQ_SMALL_MESSAGE_LIMIT) whatever the large-message limit is.
SMALL_MESSAGE_BYTES_MAX = 10_000
_LARGE_MESSAGE_TYPES = frozenset({b"Q", b"P", b"B", b"F", b"d", b"p"})

# Authentication messages (passwords, SASL) are capped as in PostgreSQL (PG_MAX_AUTH_TOKEN_LENGTH).
AUTH_MESSAGE_BYTES_MAX = 65_535

# In COPY_IN, consecutive CopyData messages are joined up to about this many bytes of data.
COPY_JOIN_BYTES = 256 * 1024

# How much consumed input may sit at the front of the receive buffer before it is cut off.
_COMPACT_BYTES = 64 * 1024


class Phase(enum.Enum):
    AWAITING_STARTUP = "awaiting startup"  # nothing yet, or an SSL/GSSENC request was answered
    AUTHENTICATING = "authenticating"  # StartupMessage received; ends with the first ReadyForQuery
    READY = "ready"  # ReadyForQuery sent; waiting for a command
    SIMPLE_QUERY = "simple query"  # answering a Query (or FunctionCall); ends with ReadyForQuery
    EXTENDED = "extended"  # inside an extended-protocol batch, until Sync
    SKIPPING = "skipping"  # an error in the batch: drop everything until Sync
    SYNCING = "syncing"  # Sync received; ends with ReadyForQuery
    COPY_IN = "copy in"  # CopyInResponse sent; CopyData/CopyDone/CopyFail expected
    CLOSED = "closed"


# recv transitions in READY and EXTENDED (and for Sync and Terminate in SKIPPING), by message type
_COMMAND_PHASE_BY_TYPE: dict[bytes, Phase] = {
    b"Q": Phase.SIMPLE_QUERY, b"F": Phase.SIMPLE_QUERY, b"P": Phase.EXTENDED, b"B": Phase.EXTENDED,
    b"D": Phase.EXTENDED, b"E": Phase.EXTENDED, b"C": Phase.EXTENDED, b"H": Phase.EXTENDED,
    b"S": Phase.SYNCING, b"X": Phase.CLOSED,
}
_COPY_TYPES = frozenset({b"d", b"c", b"f"})

# Phases in which next_event() may be called (in the others the server owes the client an answer).
_RECEIVING = frozenset({
    Phase.AWAITING_STARTUP, Phase.AUTHENTICATING, Phase.READY, Phase.EXTENDED, Phase.SKIPPING,
    Phase.COPY_IN, Phase.CLOSED,
})

# The 'p' message a given authentication request is answered with.
_AUTH_ANSWER: dict[type, type] = {
    m.AuthenticationCleartextPassword: m.PasswordMessage,
    m.AuthenticationMD5Password: m.PasswordMessage,
    m.AuthenticationSASL: m.SASLInitialResponse,
    m.AuthenticationSASLContinue: m.SASLResponse,
}


class ProtocolViolation(SqlError):  # noqa: N818 (named after what it is, as h11 does)
    """The client's bytes break the protocol; severity FATAL means the connection is over."""


class LocalProtocolError(Exception):
    """The server used the state machine wrongly (a bug in pgwire, never the client's fault)."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()  # next_event(): no whole message yet; call receive_data


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """next_event(): the client closed its end (`incomplete`: in the middle of a message)."""

    incomplete: bool = False


def _fatal(message: str, *, sqlstate: str = "08P01", detail: str | None = None) -> ProtocolViolation:
    return ProtocolViolation(sqlstate, message, severity="FATAL", detail=detail)


def _violation(error: SqlError) -> ProtocolViolation:
    return ProtocolViolation(
        error.sqlstate, error.message, detail=error.detail, hint=error.hint, severity=error.severity
    )


class ServerConnection:
    """One client connection's protocol state. Not thread-safe; one task drives it."""

    def __init__(self, *, message_bytes_max: int = MESSAGE_BYTES_MAX_DEFAULT) -> None:
        assert message_bytes_max >= SMALL_MESSAGE_BYTES_MAX, message_bytes_max
        self.message_bytes_max = message_bytes_max
        self.phase = Phase.AWAITING_STARTUP
        self._buffer = bytearray()
        self._pos = 0  # start of the unconsumed input in _buffer
        self._eof = False
        self._ssl_done = False  # an SSLRequest was answered (a second one is refused)
        self._gss_done = False
        self._legacy_errors = False  # the client asked for protocol 2: errors in its format
        self._auth_answer: type | None = None  # the 'p' message we asked for, if any
        self._phase_before_copy = Phase.SIMPLE_QUERY
        self._refusal: ProtocolViolation | None = None  # raised by the next next_event()

    # --- input -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; `b""` means the client closed its end."""
        if not data:
            self._eof = True
        elif self.phase is not Phase.CLOSED:
            self._buffer += data

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer) - self._pos

    def next_event(self) -> m.FrontendMessage | ConnectionClosed | _NeedData:
        """The next whole message, NEED_DATA, or ConnectionClosed; raises ProtocolViolation."""
        phase = self.phase
        if phase not in _RECEIVING:
            raise LocalProtocolError(f"next_event() in phase {phase.name}: the client is owed an answer")
        if phase is Phase.CLOSED:
            return ConnectionClosed()
        if phase is Phase.AWAITING_STARTUP:
            return self._next_startup_packet()
        if phase is Phase.AUTHENTICATING and self._auth_answer is None:
            raise LocalProtocolError("next_event() while authenticating without asking for a password")
        if phase is Phase.COPY_IN:
            joined = self._copy_data_run()
            if joined is not None:
                return joined
        while True:
            frame = self._next_frame()
            if frame is None:
                if self._eof:
                    incomplete = self.buffered_bytes > 0
                    self._close()
                    return ConnectionClosed(incomplete)
                return NEED_DATA
            type_byte, body = frame
            event = self._on_message(type_byte, body)
            if event is not None:
                return event

    def _copy_data_run(self) -> m.CopyData | None:
        """The whole CopyData messages at the front of the input (and the Flush and Sync between
        them, dropped), joined; None when there are none. Stops at anything else, and at what is
        incomplete or of a length `_next_frame` refuses, which the general path then takes."""
        buffer, pos, end = self._buffer, self._pos, len(self._buffer)
        limit = self.message_bytes_max
        parts = []
        size = 0
        while end - pos >= 5 and size < COPY_JOIN_BYTES:
            type_byte = buffer[pos]
            length = int.from_bytes(buffer[pos + 1 : pos + 5], "big", signed=True)
            if type_byte == 0x64:  # b"d"
                if length < 4 or length > limit or end - pos <= length:
                    break
                parts.append(buffer[pos + 5 : pos + 1 + length])
                size += length - 4
            elif type_byte not in (0x48, 0x53) or not 4 <= length <= SMALL_MESSAGE_BYTES_MAX or end - pos <= length:
                break  # Flush and Sync are dropped in COPY_IN, as _on_message does
            pos += 1 + length
        if not parts:
            return None
        self._advance(pos - self._pos)
        return m.CopyData(bytes(parts[0]) if len(parts) == 1 else b"".join(parts))

    def _consume(self, n: int) -> bytes:
        data = bytes(self._buffer[self._pos : self._pos + n])
        self._advance(n)
        return data

    def _advance(self, n: int) -> None:
        self._pos += n
        if self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        elif self._pos > _COMPACT_BYTES:
            del self._buffer[: self._pos]
            self._pos = 0

    def _next_startup_packet(self) -> m.FrontendMessage | ConnectionClosed | _NeedData:
        if self._refusal is not None:
            raise self._fatal_close(self._refusal)
        if self.buffered_bytes < 4:
            return self._closed_or_need_data()
        length = int.from_bytes(self._buffer[self._pos : self._pos + 4], "big", signed=True)
        if not STARTUP_PACKET_BYTES_MIN <= length <= STARTUP_PACKET_BYTES_MAX:
            raise self._fatal_close(_fatal("invalid length of startup packet"))
        if self.buffered_bytes < length:
            return self._closed_or_need_data()
        packet = self._consume(length)[4:]
        try:
            event = m.decode_startup_packet(packet)
        except SqlError as exc:
            if packet[:2] < b"\x00\x03":  # a protocol 1 or 2 client reads errors in the old format
                self._legacy_errors = True
            raise self._fatal_close(_violation(exc)) from None
        if isinstance(event, m.SSLRequest | m.GSSENCRequest):
            done = self._ssl_done if isinstance(event, m.SSLRequest) else self._gss_done
            if done:  # asked twice: PostgreSQL reads the code as a protocol version
                code = m.SSL_REQUEST_CODE if isinstance(event, m.SSLRequest) else m.GSSENC_REQUEST_CODE
                raise self._fatal_close(_fatal(
                    f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                    "server supports 3.0 to 3.0", sqlstate="0A000",
                ))
            if self.buffered_bytes:
                # Bytes sent before our answer cannot have been encrypted: refuse them (after the
                # answer, as PostgreSQL does) so that nothing injected before a TLS handshake is read.
                what = "SSL" if isinstance(event, m.SSLRequest) else "GSSAPI encryption"
                self._refusal = _fatal(
                    f"received unencrypted data after {what} request",
                    detail="This could be either a client-software bug or evidence of an attempted "
                    "man-in-the-middle attack.",
                )
            if isinstance(event, m.SSLRequest):
                self._ssl_done = True
            else:
                self._gss_done = True
        elif isinstance(event, m.CancelRequest):
            self._close()
        else:
            assert isinstance(event, m.StartupMessage)
            if not event.parameters.get("user"):
                raise self._fatal_close(
                    _fatal("no PostgreSQL user name specified in startup packet", sqlstate="28000")
                )
            self.phase = Phase.AUTHENTICATING
        return event

    def _closed_or_need_data(self) -> ConnectionClosed | _NeedData:
        if self._eof:
            incomplete = self.buffered_bytes > 0
            self._close()
            return ConnectionClosed(incomplete)
        return NEED_DATA

    def _next_frame(self) -> tuple[bytes, bytes] | None:
        """The next (type, body), checking the type and the length before the body arrives."""
        if self.buffered_bytes < 5:
            return None
        pos = self._pos
        type_byte = bytes(self._buffer[pos : pos + 1])
        length = int.from_bytes(self._buffer[pos + 1 : pos + 5], "big", signed=True)
        if self.phase is Phase.AUTHENTICATING:
            if type_byte != b"p":
                raise self._fatal_close(_fatal(f"expected password response, got message type {type_byte[0]}"))
            limit = AUTH_MESSAGE_BYTES_MAX
        elif type_byte not in m.FRONTEND_TYPES:
            raise self._fatal_close(_fatal(f"invalid frontend message type {type_byte[0]}"))
        elif type_byte in _LARGE_MESSAGE_TYPES:
            limit = self.message_bytes_max
        else:
            limit = SMALL_MESSAGE_BYTES_MAX
        if length < 4 or length > limit:
            raise self._fatal_close(_fatal("invalid message length"))
        if self.buffered_bytes < length + 1:
            return None
        self._pos += 5
        return type_byte, self._consume(length - 4)

    def _on_message(self, type_byte: bytes, body: bytes) -> m.FrontendMessage | None:
        """Decode one message and move the phase; None means the message is dropped."""
        phase = self.phase
        if phase is Phase.AUTHENTICATING:
            expected, self._auth_answer = self._auth_answer, None
            try:
                return m.decode_password_message(body, expected)  # type: ignore[arg-type]
            except SqlError as exc:
                raise self._fatal_close(_fatal(exc.message, sqlstate=exc.sqlstate)) from None
        if phase is Phase.COPY_IN:
            if type_byte in (b"H", b"S"):
                return None  # ignored during copy-in, as the protocol says
            if type_byte == b"X":
                self._close()
                return m.Terminate()
            if type_byte not in _COPY_TYPES:
                self.phase = self._phase_before_copy
                raise ProtocolViolation(
                    "08P01", f"unexpected message type 0x{type_byte[0]:02X} during COPY from stdin"
                )
            if type_byte != b"d":
                self.phase = self._phase_before_copy
            return self._decode(type_byte, body)
        if type_byte in _COPY_TYPES:
            return None  # the tail of a failed COPY; PostgreSQL drops these too
        if phase is Phase.SKIPPING and type_byte not in (b"S", b"X"):
            return None
        new_phase = _COMMAND_PHASE_BY_TYPE[type_byte]
        if new_phase is Phase.CLOSED:
            self._close()
        else:
            self.phase = new_phase
        return self._decode(type_byte, body)

    def _decode(self, type_byte: bytes, body: bytes) -> m.FrontendMessage:
        try:
            return m.decode_frontend(type_byte, body)
        except SqlError as exc:
            raise _violation(exc) from None

    def _fatal_close(self, error: ProtocolViolation) -> ProtocolViolation:
        """Close, and return `error` for the caller to raise (so the raise stays visible there)."""
        self._close()
        return error

    def _close(self) -> None:
        self.phase = Phase.CLOSED
        self._buffer.clear()
        self._pos = 0

    # --- output ----------------------------------------------------------------

    def send(self, message: m.BackendMessage) -> bytes:
        """The bytes for `message`, moving the phase as the table above says."""
        phase = self.phase
        cls = type(message)
        if cls is m.ReadyForQuery:
            if phase not in (Phase.AUTHENTICATING, Phase.SIMPLE_QUERY, Phase.SYNCING):
                raise LocalProtocolError(f"ReadyForQuery in phase {phase.name}")
            self.phase = Phase.READY
        elif isinstance(message, m.ErrorResponse):  # (its own class: `cls is`, typed for mypyc)
            if message.fatal:
                self._close()
                if self._legacy_errors:
                    return message.encode_legacy()
            elif phase is Phase.COPY_IN:
                self.phase = phase = self._phase_before_copy
            if phase is Phase.EXTENDED:
                self.phase = Phase.SKIPPING
        elif phase is Phase.CLOSED:
            raise LocalProtocolError(f"{cls.__name__} after the connection closed")
        elif cls is m.CopyInResponse:
            if phase not in (Phase.SIMPLE_QUERY, Phase.EXTENDED):
                raise LocalProtocolError(f"CopyInResponse in phase {phase.name}")
            self._phase_before_copy = phase
            self.phase = Phase.COPY_IN
        elif cls in _AUTH_ANSWER:
            self._auth_answer = _AUTH_ANSWER[cls]
        return message.encode()


def protocol_negotiation(startup: m.StartupMessage) -> m.NegotiateProtocolVersion | None:
    """What to tell a client that asked for a newer 3.x or for `_pq_.` options, as PostgreSQL 15 does."""
    if startup.protocol_version[1] > 0 or startup.protocol_options:
        return m.NegotiateProtocolVersion(0, tuple(startup.protocol_options))
    return None
