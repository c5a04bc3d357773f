"""A raw-socket PostgreSQL v3 frontend, for sending what real clients never send.

Real drivers only produce well-formed messages, so the bad-input tests build
bytes by hand: startup packets, framed messages, and the extended-protocol
messages (Parse/Bind/Describe/Execute/Sync) with any contents. Replies are read
back as ``(type, payload)`` pairs; ``ErrorResponse`` payloads decode into a
dict of their fields (``S`` severity, ``V`` non-localised severity, ``C``
SQLSTATE, ``M`` message).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
READ_TIMEOUT_S = 10.0


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def cstring(text: str | bytes) -> bytes:
    return (text.encode() if isinstance(text, str) else text) + b"\x00"


def startup_packet(params: dict[str, str], version: int = PROTOCOL_3_0) -> bytes:
    body = struct.pack("!I", version) + b"".join(cstring(k) + cstring(v) for k, v in params.items()) + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def parse_message(name: str, sql: str | bytes, param_oids: tuple[int, ...] = ()) -> bytes:
    payload = cstring(name) + cstring(sql) + struct.pack("!H", len(param_oids))
    payload += b"".join(struct.pack("!I", oid) for oid in param_oids)
    return message(b"P", payload)


def bind_message(
    portal: str, statement: str, values: list[bytes | None], formats: tuple[int, ...] = (), result_formats: tuple[int, ...] = ()
) -> bytes:  # fmt: skip
    payload = cstring(portal) + cstring(statement)
    payload += struct.pack("!H", len(formats)) + b"".join(struct.pack("!H", f) for f in formats)
    payload += struct.pack("!H", len(values))
    for value in values:
        payload += struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value
    payload += struct.pack("!H", len(result_formats)) + b"".join(struct.pack("!H", f) for f in result_formats)
    return message(b"B", payload)


def describe_portal(portal: str = "") -> bytes:
    return message(b"D", b"P" + cstring(portal))


def execute_message(portal: str = "", max_rows: int = 0) -> bytes:
    return message(b"E", cstring(portal) + struct.pack("!I", max_rows))


SYNC = message(b"S")
TERMINATE = message(b"X")


def error_fields(payload: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in payload.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", errors="replace")
    return fields


@dataclass
class Reply:
    kind: bytes
    payload: bytes

    @property
    def error(self) -> dict[str, str] | None:
        return error_fields(self.payload) if self.kind == b"E" else None

    def __repr__(self) -> str:
        if self.kind == b"E":
            return f"ErrorResponse({self.error})"
        return f"Reply({self.kind!r}, {self.payload[:60]!r})"


class ProtocolError(AssertionError):
    pass


class RawConnection:
    def __init__(self, host: str, port: int, timeout_s: float = READ_TIMEOUT_S):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.timeout_s = timeout_s
        self.buffer = b""
        self.closed_by_peer = False

    # -- bytes ----------------------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Send; False if the server already closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_peer = True
            return False

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False on EOF or reset. Raises TimeoutError past the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no reply from the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError as exc:
            raise TimeoutError("no reply from the server") from exc
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            return False
        self.buffer += chunk
        return True

    def read_byte(self, timeout_s: float | None = None) -> bytes | None:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while not self.buffer:
            if not self._fill(deadline):
                return None
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def read_reply(self, timeout_s: float | None = None) -> Reply | None:
        """The next message, or None when the server closed the connection."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while len(self.buffer) < 5:
            if not self._fill(deadline):
                return None
        kind = self.buffer[:1]
        (length,) = struct.unpack("!I", self.buffer[1:5])
        if length < 4 or length > 64 * 1024 * 1024:
            raise ProtocolError(f"server sent a message {kind!r} with length {length}")
        while len(self.buffer) < 1 + length:
            if not self._fill(deadline):
                return None
        payload = self.buffer[5 : 1 + length]
        self.buffer = self.buffer[1 + length :]
        return Reply(kind, payload)

    def read_until_ready(self, timeout_s: float | None = None) -> list[Reply]:
        """Messages up to and including ReadyForQuery; raises if the connection closes first."""
        replies = []
        while True:
            reply = self.read_reply(timeout_s)
            if reply is None:
                raise ProtocolError(f"connection closed before ReadyForQuery; got {replies}")
            replies.append(reply)
            if reply.kind == b"Z":
                return replies

    def read_until_closed(self, timeout_s: float | None = None) -> list[Reply]:
        """Every message until the server closes the connection (TimeoutError if it never does)."""
        replies = []
        while True:
            reply = self.read_reply(timeout_s)
            if reply is None:
                return replies
            replies.append(reply)

    # -- protocol -------------------------------------------------------------------------------------

    def startup(self, user: str = "postgres", database: str = "postgres") -> list[Reply]:
        """A normal startup, through authentication, up to the first ReadyForQuery."""
        self.send(startup_packet({"user": user, "database": database, "application_name": "dsql-bad-input"}))
        replies = []
        while True:
            reply = self.read_reply()
            if reply is None:
                raise ProtocolError(f"connection closed during startup; got {replies}")
            replies.append(reply)
            if reply.kind == b"E":
                raise ProtocolError(f"startup failed: {reply.error}")
            if reply.kind == b"R":
                (code,) = struct.unpack("!I", reply.payload[:4])
                if code in (3, 5):  # cleartext or MD5 password: the tests use trust, try an empty one
                    self.send(message(b"p", cstring("")))
                elif code != 0:
                    raise ProtocolError(f"unsupported authentication request {code}")
            if reply.kind == b"Z":
                return replies

    def simple_query(self, sql: str | bytes) -> list[Reply]:
        self.send(message(b"Q", cstring(sql)))
        return self.read_until_ready()

    def close(self) -> None:
        try:
            if not self.closed_by_peer:
                self.sock.sendall(TERMINATE)
        except OSError:
            pass
        self.sock.close()


def errors_in(replies: list[Reply]) -> list[dict[str, str]]:
    return [r.error for r in replies if r.error is not None]


def data_rows(replies: list[Reply]) -> list[list[str | None]]:
    """The text values of every DataRow."""
    rows = []
    for reply in replies:
        if reply.kind != b"D":
            continue
        (count,) = struct.unpack("!H", reply.payload[:2])
        offset = 2
        row: list[str | None] = []
        for _ in range(count):
            (length,) = struct.unpack("!i", reply.payload[offset : offset + 4])
            offset += 4
            if length < 0:
                row.append(None)
            else:
                row.append(reply.payload[offset : offset + length].decode("utf-8", errors="replace"))
                offset += length
        rows.append(row)
    return rows
