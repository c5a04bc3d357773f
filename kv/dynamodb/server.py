"""Serving the DynamoDB endpoint (`kv.dynamodb.http`) inside `dsql serve` and every QP of a
cluster: HTTP/1.1 read and written by `http1`, one trio task per connection, the app called in
that task.

Why not hypercorn (which still serves Dynamo's Riak endpoint, `cluster.asgi`): a profile of
GetItem under 4 boto3 clients (bench/README.md) put two thirds of the server's CPU in
hypercorn and h11, since hypercorn runs every request in a task of its own with its own cancel
scopes, stream object and events between protocol, stream and app, and h11 builds and
validates an event per piece of a message. A DynamoDB client sends one request at a time per
connection and waits for the answer, so nothing is lost by answering in the connection's own
task; `http1` reads what RFC 9112 allows a request to be in a few `find`s and `split`s.

What a client sees is what hypercorn gave it: keep-alive and pipelining, `100 Continue` when
a client waits for it, chunked request bodies, a reason phrase on every status, a `date`
header and no `server` header, a 400 (431 for an oversized head, 505 for an unknown HTTP
version, 501 for a transfer coding other than chunked) with `connection: close` for a request
that cannot be read, and idle connections closed after `KEEP_ALIVE_S`. The app is the same
ASGI app (`scope`, `receive`, `send`); it answers every request with one
`http.response.start` and one `http.response.body`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import urllib.parse
from typing import Any
from wsgiref.handlers import format_date_time

import trio

from kv.dynamodb import http1
from kv.dynamodb.http import DynamoDBApp

log = logging.getLogger("kv.dynamodb.server")

# Largest request head read (DynamoDB caps headers at 16 KB); larger is refused with 431.
HEADER_BYTES_MAX = 64 * 1024
# Idle keep-alive connections are closed after this long (SDKs pool and reuse their connections,
# so this only bounds what idle clients hold); it also bounds each wait for more of a request, and
# a request still unanswered this long after it arrived is abandoned with its connection (SDKs give
# up after 60 s; a commit already under way finishes, see kv.dynamodb.txn).
KEEP_ALIVE_S = 75.0
# How stale the connection's deadline may get before it is pushed again (see `_Connection._stay`).
DEADLINE_STEP_S = 1.0
# Bytes asked of the socket at a time: a typical request (head and body) fits in one read.
RECEIVE_BYTES = 64 * 1024
# Pending connections the kernel queues before accept (hypercorn's default).
BACKLOG = 100


class _DateHeader:
    """The `date` header's value, formatted once a second rather than once a response."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = format_date_time(now).encode("ascii")
        return self._value


_date = _DateHeader()


class _ClientGone(Exception):
    """The client closed its side or timed out."""


_CLOSE_NOW = [(b"content-length", b"0"), (b"connection", b"close")]


class _Connection:
    """One client connection: requests in order, each answered before the next is read."""

    def __init__(self, app: Any, stream: trio.SocketStream, header_bytes_max: int) -> None:
        self.app = app
        self.stream = stream
        self.reader = http1.RequestReader(header_bytes_max)
        try:
            self.client = _address(stream.socket.getpeername())
            self.server = _address(stream.socket.getsockname())
        except OSError:
            self.client = self.server = None
        self._request: http1.Request | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._responded = False
        self._body_done = False
        self._close_after = False
        self._idle = trio.CancelScope(deadline=trio.current_time() + KEEP_ALIVE_S)

    async def run(self) -> None:
        try:
            with self._idle:
                while True:
                    request = self.reader.next_request()
                    while request is None:
                        if self.reader.closed:
                            return
                        await self._receive_more()
                        request = self.reader.next_request()
                    self._stay()
                    await self._serve(request)
                    if self._close_after or not request.keep_alive or not self._body_done:
                        return  # `connection: close`, HTTP/1.0, or a body left unread
        except http1.ProtocolError as exc:
            if not self._responded:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.stream.send_all(http1.response(exc.status, [*_CLOSE_NOW, (b"date", _date.value())], b""))
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("dynamodb: connection failed")  # never let one connection take the server down
        finally:
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                await self.stream.aclose()

    def _stay(self) -> None:
        """Push the connection's deadline to `KEEP_ALIVE_S` from now, at most once in
        `DEADLINE_STEP_S`: one cancel scope for the connection's life, instead of one per read,
        which cost trio's deadline bookkeeping a few percent of a GetItem."""
        now = trio.current_time()
        if self._idle.deadline - now < KEEP_ALIVE_S - DEADLINE_STEP_S:
            self._idle.deadline = now + KEEP_ALIVE_S

    async def _receive_more(self) -> None:
        """More bytes from the client into the reader; a client silent for `KEEP_ALIVE_S`
        ends the connection (the connection's cancel scope)."""
        self._stay()
        self.reader.feed(await self.stream.receive_some(RECEIVE_BYTES))

    async def _serve(self, request: http1.Request) -> None:
        raw_path, _, query = request.target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method,
            "scheme": "http",
            "path": urllib.parse.unquote(raw_path.decode("latin-1")) if b"%" in raw_path else raw_path.decode("latin-1"),
            "raw_path": request.target,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": self.client,
            "server": self.server,
        }
        self._request = request
        self._responded = False
        self._body_done = False
        self._close_after = False
        try:
            await self.app(scope, self._receive, self._send)
        except (_ClientGone, http1.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception:
            log.exception("dynamodb: the app failed")
            if not self._responded:
                await self._respond(500, list(_CLOSE_NOW), b"")
            raise _ClientGone() from None  # after half an answer all we can do is close
        if not self._responded:
            await self._respond(500, list(_CLOSE_NOW), b"")
            raise _ClientGone()
        if not self._body_done:
            # The app answered without reading the request to its end (a GET, or a body past the
            # size limit): what has already arrived is dropped; if more is to come, the connection closes.
            _, self._body_done = self.reader.read_body()

    async def _receive(self) -> dict[str, Any]:
        """ASGI receive: the request body, as much as has arrived."""
        if self._body_done:
            return {"type": "http.disconnect"}
        request = self._request
        assert request is not None
        if request.expect_continue:
            request.expect_continue = False
            await self.stream.send_all(http1.CONTINUE)
        while True:
            data, done = self.reader.read_body()
            if done:
                self._body_done = True
                return {"type": "http.request", "body": data, "more_body": False}
            if data:
                return {"type": "http.request", "body": data, "more_body": True}
            await self._receive_more()

    async def _send(self, message: dict[str, Any]) -> None:
        """ASGI send: the start is kept until the body comes, then both go out in one write."""
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            if message.get("more_body"):
                raise RuntimeError("the DynamoDB endpoint sends each answer in one piece")
            await self._respond(self._status, self._headers, message.get("body", b""))

    async def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._responded = True
        request = self._request
        if any(name == b"connection" and b"close" in value.lower() for name, value in headers):
            self._close_after = True
        elif request is not None and not request.keep_alive:
            headers.append((b"connection", b"close"))
        headers.append((b"date", _date.value()))
        head_only = request is not None and request.method == "HEAD"
        await self.stream.send_all(http1.response(status, headers, body, head_only=head_only))


def _address(address: Any) -> tuple[str, int] | None:
    return (address[0], address[1]) if isinstance(address, tuple) else None


async def serve(
    app: DynamoDBApp, host: str, port: int, *, fd: int | None = None, header_bytes_max: int = HEADER_BYTES_MAX,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve `app` on host:port (0: any free port) or on the listening socket `fd`
    (a QP's SO_REUSEPORT port, taken over); reports the bound port through `task_status`."""
    if fd is not None:
        sock = trio.socket.from_stdlib_socket(socket.socket(fileno=fd))
        sock.listen(BACKLOG)
        listeners = [trio.SocketListener(sock)]
    else:
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=BACKLOG)
    bound = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        await _Connection(app, stream, header_bytes_max).run()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        task_status.started(bound)
