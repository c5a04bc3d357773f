"""Serving the DynamoDB endpoint (`kv.dynamodb.http`) inside `dsql serve` and every QP of a
cluster: HTTP/1.1 with h11, one trio task per connection, the app called in that task.

Why not hypercorn (which still serves Dynamo's Riak endpoint, `cluster.asgi`): a profile of
GetItem under 4 boto3 clients (bench/README.md) put two thirds of the server's CPU in
hypercorn's layers around h11, since it runs every request in a task of its own with its own
cancel scopes, stream object and events between protocol, stream and app. A DynamoDB client
sends one request at a time per connection and waits for the answer, so nothing is lost by
answering in the connection's own task, and the per-request cost drops to h11's parsing and
the app itself.

What a client sees is what hypercorn gave it: keep-alive and pipelining (h11 cycles the
connection), `100 Continue` when a client waits for it, chunked request bodies, a reason
phrase on every status, a `date` header and no `server` header, a 400 (431 for an oversized
head) with `connection: close` for a malformed request, and idle connections closed after
`KEEP_ALIVE_S`. The app is the same ASGI app (`scope`, `receive`, `send`); it answers every
request with one `http.response.start` and one `http.response.body`.
"""

from __future__ import annotations

import http
import logging
import socket
import time
import urllib.parse
from typing import Any
from wsgiref.handlers import format_date_time

import h11
import trio

from kv.dynamodb.http import DynamoDBApp

log = logging.getLogger("kv.dynamodb.server")

# Largest request head h11 buffers (DynamoDB caps headers at 16 KB).
HEADER_BYTES_MAX = 64 * 1024
# Idle keep-alive connections are closed after this long (SDKs pool and reuse their connections,
# so this only bounds what idle clients hold); it also bounds each wait for more of a request.
KEEP_ALIVE_S = 75.0
# Bytes asked of the socket at a time: a typical request (head and body) fits in one read.
RECEIVE_BYTES = 64 * 1024
# Pending connections the kernel queues before accept (hypercorn's default).
BACKLOG = 100

# Standard reason phrases, computed once (hypercorn's responses carry them too, see cluster.asgi).
_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}


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
    """The client closed its side, timed out or broke the protocol mid-request."""


class _Connection:
    """One client connection: requests in order, each answered before the next is read."""

    def __init__(self, app: Any, stream: trio.SocketStream, header_bytes_max: int) -> None:
        self.app = app
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=header_bytes_max)
        try:
            self.client = _address(stream.socket.getpeername())
            self.server = _address(stream.socket.getsockname())
        except OSError:
            self.client = self.server = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._responded = False

    async def run(self) -> None:
        try:
            while True:
                event = await self._next_event()
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed
                await self._serve(event)
                if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                    return  # `connection: close`, HTTP/1.0, or a body left unread
                self.h11.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            await self._protocol_error(exc)
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass
        except Exception:
            log.exception("dynamodb: connection failed")  # never let one connection take the server down
        finally:
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                await self.stream.aclose()

    async def _next_event(self) -> Any:
        """h11's next event, reading from the socket as it needs (bounded by `KEEP_ALIVE_S`)."""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                with trio.move_on_after(KEEP_ALIVE_S):
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                    self.h11.receive_data(data)
                    continue
                raise _ClientGone()
            return event

    async def _serve(self, request: h11.Request) -> None:
        raw_path, _, query = request.target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode(),
            "method": request.method.decode("ascii").upper(),
            "scheme": "http",
            "path": urllib.parse.unquote(raw_path.decode("ascii")) if b"%" in raw_path else raw_path.decode("ascii"),
            "raw_path": request.target,
            "query_string": query,
            "root_path": "",
            "headers": list(request.headers),
            "client": self.client,
            "server": self.server,
        }
        self._responded = False
        try:
            await self.app(scope, self._receive, self._send)
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception:
            log.exception("dynamodb: the app failed")
            if self._responded:
                raise _ClientGone() from None  # half an answer went out: all we can do is close
            await self._respond(500, [(b"content-length", b"0"), (b"connection", b"close")], b"")
            raise _ClientGone() from None
        if not self._responded:
            await self._respond(500, [(b"content-length", b"0"), (b"connection", b"close")], b"")
            raise _ClientGone()
        while self.h11.their_state is h11.SEND_BODY:
            # The app answered without reading the request to its end (a GET, or a body past the size
            # limit): what has already arrived is dropped; if more is to come, the connection closes.
            event = self.h11.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return

    async def _receive(self) -> dict[str, Any]:
        """ASGI receive: the request body, as much as has arrived."""
        if self.h11.their_state is not h11.SEND_BODY:
            return {"type": "http.disconnect"}
        if self.h11.they_are_waiting_for_100_continue:
            await self.stream.send_all(
                self.h11.send(h11.InformationalResponse(status_code=100, headers=[(b"date", _date.value())]))
            )
        chunks: list[bytes] = []
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Data):
                chunks.append(event.data)
                continue
            if isinstance(event, h11.EndOfMessage):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            if event is h11.NEED_DATA:
                if chunks:
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": True}
                with trio.move_on_after(KEEP_ALIVE_S):
                    self.h11.receive_data(await self.stream.receive_some(RECEIVE_BYTES))
                    continue
                raise _ClientGone()
            return {"type": "http.disconnect"}  # ConnectionClosed mid-body

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
        headers.append((b"date", _date.value()))
        data = self.h11.send(h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b"")))
        if body:
            data += self.h11.send(h11.Data(data=body))
        data += self.h11.send(h11.EndOfMessage())
        await self.stream.send_all(data)

    async def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        """A malformed request: 400 (or h11's better status, 431 for an oversized head), then close."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        status = exc.error_status_hint
        try:
            data = self.h11.send(
                h11.Response(
                    status_code=status, reason=_REASONS.get(status, b""),
                    headers=[(b"content-length", b"0"), (b"connection", b"close"), (b"date", _date.value())],
                )
            )  # fmt: skip
            data += self.h11.send(h11.EndOfMessage())
            await self.stream.send_all(data)
        except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass


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
