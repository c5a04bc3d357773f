"""HTTP/1.1 for the DynamoDB endpoint, sans I/O: request bytes in, requests and body bytes out;
an answer's status, headers and body in, its bytes out.

Why not h11, which did this before: h11 is general and careful, and costs about 60 µs of CPU
per request on this machine (its event objects, header validation and state machine), which
was a third of what the server spends on a GetItem. DynamoDB's clients send the simplest
HTTP/1.1 there is: a POST with a `Content-Length` body, one request at a time on a kept-alive
connection. This module reads exactly what RFC 9112 allows a request to be and refuses the
rest with the status h11 gave, so the fast path is a few `find`s and `split`s:

- a request head (request line, header fields) of at most `head_bytes_max` bytes, ended by an
  empty line; lines end in CRLF or a bare LF; empty lines before a request line are skipped
  (RFC 9112 §2.2); a head that does not fit is 431, anything malformed 400, an HTTP version
  other than 1.0 and 1.1 is 505, and an HTTP/1.1 request without `Host` is 400;
- header names as tokens (lower-cased on the way out, as ASGI wants), values without control
  characters and with surrounding blanks removed; obsolete line folding is refused (400);
- a body framed by `Content-Length` (digits; repeated only with the same value) or by
  `Transfer-Encoding: chunked` (any other transfer coding is 501; both framings at once is
  400, since one of them would be a lie), else no body;
- keep-alive unless the client says `Connection: close` or speaks HTTP/1.0; an
  `Expect: 100-continue` is noted so the server can send `100 Continue` before it reads the body.

Requests on one connection are read in order (pipelining): whatever follows a body in the
buffer is the next request's. Limits: the head (`head_bytes_max`), a chunk-size line
(`CHUNK_LINE_BYTES_MAX`) and the trailer section (`head_bytes_max` again); the body's size is
the app's to bound (it reads the body in pieces as they come).
"""

from __future__ import annotations

import http
import re
from dataclasses import dataclass

# A chunk-size line is hex digits and, rarely, chunk extensions; nothing legitimate comes near this.
CHUNK_LINE_BYTES_MAX = 1024

_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")  # visible characters, blanks, obs-text
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")  # the empty line that ends a head, CRLF or bare LF
_VERSIONS = {b"HTTP/1.1": "1.1", b"HTTP/1.0": "1.0"}


class ProtocolError(Exception):
    """A request this server cannot read; answer `status` and close the connection."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    target: bytes
    http_version: str  # "1.1" or "1.0"
    headers: list[tuple[bytes, bytes]]  # names lower-cased, in the order sent
    keep_alive: bool = True
    expect_continue: bool = False
    chunked: bool = False
    content_length: int = 0


# Where the reader is in the request it reads.
_HEAD, _LENGTH_BODY, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_DATA_END, _TRAILERS = range(6)


class RequestReader:
    """The request side of one connection: `feed` it bytes, take requests with `next_request`
    and each request's body with `read_body` until it says the body is done."""

    def __init__(self, head_bytes_max: int) -> None:
        self.head_bytes_max = head_bytes_max
        self._buffer = bytearray()
        self._state = _HEAD
        self._remaining = 0  # body bytes (Content-Length) or chunk bytes still to come
        self.closed = False  # the client closed its side

    def feed(self, data: bytes) -> None:
        if not data:
            self.closed = True
        else:
            self._buffer += data

    @property
    def buffered(self) -> bool:
        return bool(self._buffer)

    # -- the head ---------------------------------------------------------------------------------

    def next_request(self) -> Request | None:
        """The next request's head, or None until more bytes arrive. Raises ProtocolError."""
        assert self._state == _HEAD, "the previous request's body was not read to its end"
        buffer = self._buffer
        while buffer[:2] == b"\r\n" or buffer[:1] == b"\n":  # empty lines before a request line
            del buffer[: 2 if buffer[:1] == b"\r" else 1]
        end = _HEAD_END.search(buffer)
        if end is None:
            if len(buffer) > self.head_bytes_max:
                raise ProtocolError(431, "request head too large")
            if self.closed and buffer:
                raise ProtocolError(400, "connection closed in the middle of a request head")
            return None
        head_end, body_start = end.span()
        if head_end > self.head_bytes_max:
            raise ProtocolError(431, "request head too large")
        head = bytes(buffer[:head_end])
        del buffer[:body_start]
        request = _parse_head(head)
        if request.chunked:
            self._state = _CHUNK_SIZE_LINE
        elif request.content_length:
            self._state = _LENGTH_BODY
            self._remaining = request.content_length
        return request

    # -- the body ---------------------------------------------------------------------------------

    def read_body(self) -> tuple[bytes, bool]:
        """The body bytes that have arrived (possibly none) and whether the body is complete.
        Raises ProtocolError for a malformed chunked body or one the client cut short."""
        if self._state == _HEAD:
            return b"", True
        if self._state == _LENGTH_BODY:
            buffer = self._buffer
            if len(buffer) <= self._remaining:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[: self._remaining])
                del buffer[: self._remaining]
            self._remaining -= len(data)
            if self._remaining == 0:
                self._state = _HEAD
                return data, True
            if self.closed:
                raise ProtocolError(400, "connection closed in the middle of a request body")
            return data, False
        return self._read_chunks()

    def _read_chunks(self) -> tuple[bytes, bool]:
        buffer = self._buffer
        pieces: list[bytes] = []
        pos = 0
        try:
            while True:
                if self._state == _CHUNK_SIZE_LINE:
                    end = buffer.find(b"\n", pos)
                    if end < 0:
                        if len(buffer) - pos > CHUNK_LINE_BYTES_MAX:
                            raise ProtocolError(400, "chunk size line too long")
                        break
                    match = _CHUNK_SIZE.fullmatch(bytes(buffer[pos:end]).rstrip(b"\r"))
                    if match is None:
                        raise ProtocolError(400, "malformed chunk size line")
                    pos = end + 1
                    self._remaining = int(match.group(1), 16)
                    self._state = _CHUNK_DATA if self._remaining else _TRAILERS
                elif self._state == _CHUNK_DATA:
                    take = min(self._remaining, len(buffer) - pos)
                    if take == 0:
                        break
                    pieces.append(bytes(buffer[pos : pos + take]))
                    pos += take
                    self._remaining -= take
                    if self._remaining == 0:
                        self._state = _CHUNK_DATA_END
                elif self._state == _CHUNK_DATA_END:
                    if buffer[pos : pos + 2] == b"\r\n":
                        pos += 2
                    elif buffer[pos : pos + 1] == b"\n":
                        pos += 1
                    elif len(buffer) - pos >= 2 or buffer[pos : pos + 1] not in (b"", b"\r"):
                        raise ProtocolError(400, "chunk data not followed by a line end")
                    else:
                        break
                    self._state = _CHUNK_SIZE_LINE
                else:  # _TRAILERS: header lines, ignored, up to an empty line
                    end = buffer.find(b"\n", pos)
                    if end < 0:
                        if len(buffer) - pos > self.head_bytes_max:
                            raise ProtocolError(431, "trailer section too large")
                        break
                    line = bytes(buffer[pos:end]).rstrip(b"\r")
                    pos = end + 1
                    if not line:
                        self._state = _HEAD
                        return b"".join(pieces), True
        finally:
            del buffer[:pos]
        if self.closed:
            raise ProtocolError(400, "connection closed in the middle of a request body")
        return b"".join(pieces), False


def _parse_head(head: bytes) -> Request:
    lines = head.split(b"\n")
    request_line = lines[0].rstrip(b"\r")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise ProtocolError(400, "malformed request line")
    method, target, version = parts
    http_version = _VERSIONS.get(version)
    if http_version is None:
        if re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version):
            raise ProtocolError(505, "HTTP version not supported")
        raise ProtocolError(400, "malformed request line")
    if any(b < 0x21 or b == 0x7F for b in target):
        raise ProtocolError(400, "malformed request target")
    headers: list[tuple[bytes, bytes]] = []
    content_length: int | None = None
    transfer_encoding = connection = expect = None
    host = False
    for raw in lines[1:]:
        line = raw[:-1] if raw[-1:] == b"\r" else raw
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(400, "obsolete line folding is not accepted")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ProtocolError(400, "malformed header field")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise ProtocolError(400, "illegal character in a header field value")
        name = name.lower()
        headers.append((name, value))
        if name == b"content-length":
            if not value.isdigit():
                raise ProtocolError(400, "malformed Content-Length")
            length = int(value)
            if content_length is not None and content_length != length:
                raise ProtocolError(400, "conflicting Content-Length headers")
            content_length = length
        elif name == b"transfer-encoding":
            if transfer_encoding is not None or value.lower() != b"chunked":
                raise ProtocolError(501, "only Transfer-Encoding: chunked is supported")
            transfer_encoding = value
        elif name == b"connection":
            connection = value if connection is None else connection + b"," + value
        elif name == b"expect":
            expect = value
        elif name == b"host":
            host = True
    if http_version == "1.1" and not host:
        raise ProtocolError(400, "missing mandatory Host header")
    if transfer_encoding is not None and content_length is not None:
        raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
    keep_alive = http_version == "1.1"
    if keep_alive and connection is not None:
        keep_alive = b"close" not in (token.strip() for token in connection.lower().split(b","))
    return Request(
        method=method.decode("ascii").upper(),
        target=target,
        http_version=http_version,
        headers=headers,
        keep_alive=keep_alive,
        expect_continue=http_version == "1.1" and expect is not None and expect.lower() == b"100-continue",
        chunked=transfer_encoding is not None,
        content_length=content_length or 0,
    )


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def response(status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, head_only: bool = False) -> bytes:
    """An answer's bytes. `headers` must carry its `content-length`; `head_only` (the answer to a
    HEAD request) leaves the body out."""
    out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
    for name, value in headers:
        out.append(name + b": " + value + b"\r\n")
    out.append(b"\r\n")
    if body and not head_only:
        out.append(body)
    return b"".join(out)
