"""The client side of the protocol, for tests and tools.

`encode_frontend(msg)` writes any frontend message and `BackendParser` reads
backend bytes back into `pgwire.messages` dataclasses. They are written
separately from the server's codec (plain `struct` calls, no shared helpers)
so that a round trip checks one against the other. `RawClient` speaks in
those messages over a trio stream, for tests of exact protocol behaviour.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import trio

from pgwire import messages as m
from qp.api import Column, TransactionStatus

# --- client-side codec ------------------------------------------------------------


def _c(text: str) -> bytes:
    return text.encode() + b"\0"


def _typed(type_byte: bytes, body: bytes) -> bytes:
    return type_byte + struct.pack("!i", len(body) + 4) + body


def _untyped(body: bytes) -> bytes:
    return struct.pack("!i", len(body) + 4) + body


def encode_frontend(msg: m.FrontendMessage) -> bytes:
    """The bytes a client sends for `msg`."""
    match msg:
        case m.StartupMessage(version, parameters, options):
            pairs = b"".join(_c(k) + _c(v) for k, v in {**parameters, **options}.items())
            return _untyped(struct.pack("!HH", *version) + pairs + b"\0")
        case m.SSLRequest():
            return _untyped(struct.pack("!I", m.SSL_REQUEST_CODE))
        case m.GSSENCRequest():
            return _untyped(struct.pack("!I", m.GSSENC_REQUEST_CODE))
        case m.CancelRequest(pid, key):
            return _untyped(struct.pack("!III", m.CANCEL_REQUEST_CODE, pid, key))
        case m.Query(sql):
            return _typed(b"Q", _c(sql))
        case m.Parse(name, query, oids):
            return _typed(b"P", _c(name) + _c(query) + struct.pack(f"!H{len(oids)}I", len(oids), *oids))
        case m.Bind(portal, statement, pformats, params, rformats):
            body = _c(portal) + _c(statement) + struct.pack(f"!H{len(pformats)}h", len(pformats), *pformats)
            body += struct.pack("!H", len(params))
            for p in params:
                body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
            return _typed(b"B", body + struct.pack(f"!H{len(rformats)}h", len(rformats), *rformats))
        case m.Describe(kind, name):
            return _typed(b"D", kind.encode() + _c(name))
        case m.Execute(portal, max_rows):
            return _typed(b"E", _c(portal) + struct.pack("!i", max_rows))
        case m.Close(kind, name):
            return _typed(b"C", kind.encode() + _c(name))
        case m.Sync():
            return _typed(b"S", b"")
        case m.Flush():
            return _typed(b"H", b"")
        case m.Terminate():
            return _typed(b"X", b"")
        case m.FunctionCall(body):
            return _typed(b"F", body)
        case m.CopyData(data):
            return _typed(b"d", data)
        case m.CopyDone():
            return _typed(b"c", b"")
        case m.CopyFail(message):
            return _typed(b"f", _c(message))
        case m.PasswordMessage(password):
            return _typed(b"p", _c(password))
        case m.SASLInitialResponse(mechanism, data):
            length = struct.pack("!i", -1) if data is None else struct.pack("!i", len(data)) + data
            return _typed(b"p", _c(mechanism) + length)
        case m.SASLResponse(data):
            return _typed(b"p", data)
    raise TypeError(f"not a frontend message: {msg!r}")


def startup_bytes(user: str = "tester", database: str = "db", **parameters: str) -> bytes:
    return encode_frontend(m.StartupMessage((3, 0), {"user": user, "database": database, **parameters}))


def _strings(data: bytes) -> list[str]:
    return [s.decode() for s in data.split(b"\0")[:-1]]


def _fields(body: bytes) -> dict[str, str]:
    return {f[:1].decode(): f[1:].decode() for f in body.split(b"\0") if f}


def decode_backend(type_byte: bytes, body: bytes) -> m.BackendMessage:
    """A backend message from its type byte and body (the client's view)."""
    if type_byte == b"R":
        (kind,) = struct.unpack_from("!i", body)
        rest = body[4:]
        return {
            0: lambda: m.AuthenticationOk(),
            3: lambda: m.AuthenticationCleartextPassword(),
            5: lambda: m.AuthenticationMD5Password(rest),
            10: lambda: m.AuthenticationSASL(tuple(_strings(rest[:-1]))),
            11: lambda: m.AuthenticationSASLContinue(rest),
            12: lambda: m.AuthenticationSASLFinal(rest),
        }[kind]()
    if type_byte == b"S":
        name, value = _strings(body)
        return m.ParameterStatus(name, value)
    if type_byte == b"K":
        return m.BackendKeyData(*struct.unpack("!II", body))
    if type_byte == b"Z":
        return m.ReadyForQuery(TransactionStatus(body))
    if type_byte == b"T":
        (count,) = struct.unpack_from("!h", body)
        pos, columns = 2, []
        for _ in range(count):
            end = body.index(b"\0", pos)
            name = body[pos:end].decode()
            table, attnum, oid, typlen, typmod, fmt = struct.unpack_from("!IhIhih", body, end + 1)
            columns.append(Column(name, oid, typlen, typmod, table, attnum, fmt))
            pos = end + 1 + 18
        return m.RowDescription(columns)
    if type_byte == b"D":
        (count,) = struct.unpack_from("!h", body)
        pos, values = 2, []
        for _ in range(count):
            (n,) = struct.unpack_from("!i", body, pos)
            pos += 4
            if n < 0:
                values.append(None)
            else:
                values.append(body[pos : pos + n])
                pos += n
        return m.DataRow(values)
    if type_byte == b"C":
        return m.CommandComplete(body[:-1].decode())
    if type_byte == b"t":
        (count,) = struct.unpack_from("!H", body)
        return m.ParameterDescription(list(struct.unpack_from(f"!{count}I", body, 2)))
    if type_byte in (b"E", b"N"):
        f = _fields(body)
        position = int(f["P"]) if "P" in f else None
        if type_byte == b"E":
            objects = tuple(f.get(code) for code in "stcdn")
            return m.ErrorResponse(
                f["V"], f["C"], f["M"], f.get("D"), f.get("H"), position, f.get("W"),
                objects if any(name is not None for name in objects) else (), f.get("R"),
            )
        return m.NoticeResponse(f["V"], f["C"], f["M"], f.get("D"), f.get("H"))
    if type_byte == b"v":
        minor, count = struct.unpack_from("!ii", body)
        return m.NegotiateProtocolVersion(minor, tuple(_strings(body[8:])))
    if type_byte in (b"G", b"H"):
        overall, count = struct.unpack_from("!bH", body)
        formats = list(struct.unpack_from(f"!{count}h", body, 3))
        return (m.CopyInResponse if type_byte == b"G" else m.CopyOutResponse)(overall, formats)
    if type_byte == b"d":
        return m.CopyDataMessage(body)
    simple = {
        b"I": m.EmptyQueryResponse, b"1": m.ParseComplete, b"2": m.BindComplete, b"3": m.CloseComplete,
        b"n": m.NoData, b"s": m.PortalSuspended, b"c": m.CopyDoneMessage,
    }
    return simple[type_byte]()


class BackendParser:
    """Accumulates the server's bytes and hands out whole backend messages."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def __iter__(self) -> Iterator[m.BackendMessage]:
        while len(self.buffer) >= 5:
            (length,) = struct.unpack_from("!i", self.buffer, 1)
            if len(self.buffer) < 1 + length:
                return
            type_byte, body = bytes(self.buffer[:1]), bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            yield decode_backend(type_byte, body)


# --- a raw client over a trio stream ----------------------------------------------------


class RawClient:
    """A client that speaks in messages (or raw bytes) for tests of exact protocol behaviour."""

    def __init__(self, stream: trio.abc.Stream, *, read_timeout_s: float = 10.0) -> None:
        self.stream = stream
        self.read_timeout_s = read_timeout_s  # a test that waits longer than this has found a bug
        self.parser = BackendParser()
        self.eof = False
        self.key: m.BackendKeyData | None = None

    @classmethod
    async def connect(cls, port: int, *, startup: bool = True, **parameters: str) -> RawClient:
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        if startup:
            await client.send_raw(startup_bytes(**parameters))
            for message in await client.until_ready():
                if isinstance(message, m.BackendKeyData):
                    client.key = message
                elif isinstance(message, m.ErrorResponse):
                    raise AssertionError(f"startup failed: {message}")
        return client

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send(self, *messages: m.FrontendMessage) -> None:
        await self.stream.send_all(b"".join(encode_frontend(msg) for msg in messages))

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            with trio.fail_after(self.read_timeout_s):
                data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:  # a reset after the server's FATAL counts as the end
            data = b""
        if not data:
            self.eof = True
            return False
        self.parser.feed(data)
        return True

    async def receive(self, count: int = 1) -> list[m.BackendMessage]:
        """Exactly `count` messages (fewer only at end of stream); the rest stay buffered."""
        got: list[m.BackendMessage] = []
        while True:
            for message in self.parser:
                got.append(message)
                if len(got) == count:
                    return got
            if not await self._fill():
                return got

    async def until(self, *types: type) -> list[m.BackendMessage]:
        """Messages up to and including the first of one of `types` (or up to end of stream)."""
        got: list[m.BackendMessage] = []
        while True:
            for message in self.parser:
                got.append(message)
                if isinstance(message, types):
                    return got
            if not await self._fill():
                return got

    async def until_ready(self) -> list[m.BackendMessage]:
        return await self.until(m.ReadyForQuery)

    async def until_eof(self) -> list[m.BackendMessage]:
        got: list[m.BackendMessage] = []
        while True:
            got.extend(self.parser)
            if not await self._fill():
                got.extend(self.parser)
                return got

    async def query(self, sql: str) -> list[m.BackendMessage]:
        await self.send(m.Query(sql))
        return await self.until_ready()

    async def aclose(self) -> None:
        await self.stream.aclose()

