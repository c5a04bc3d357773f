"""RPC over TCP: the transport for parts in separate processes.

The interface is `cluster.transport`'s: a process serves objects at logical
addresses (`serve(address, handler)`, their `rpc_*` methods), and reaches
others with `connect(address).call(method, *args)`. An address book maps
every logical address to the (host, port) of the process serving it;
calls to an address this process serves itself go through an
`InProcessTransport`, in whose worker tasks every handler runs, whether the
call came from this process or over a connection.

Wire format: frames of `u32 length (big-endian) | msgpack body` (`cluster.codec`),
at most `FRAME_BYTES_MAX` bytes of body.
  request  (call id, address, method, args, timeout)
           timeout: the seconds the caller has left (float), or None for no
           deadline; relative, since clocks differ between processes, and
           counted by the server from when the request arrives
  reply    (call id, True, result) or (call id, False, (error class, args))
Many calls share one connection per peer process, each answered by id, so a
long poll never blocks another call. The server hands each request to the
worker tasks of the address it names, as `InProcessTransport` runs calls
made in the process (at most `REQUESTS_PER_CONNECTION_MAX` at once per
connection, after which it stops reading: back-pressure); `cluster.transport`
explains the semantics shared by every transport: callee tasks, deadlines,
errors. A request whose deadline passes before its handler ends gets no
reply. Neither side spends a task or a send per message: requests (and
replies) queued in one scheduler turn go out together in one send, from one
writer task per connection; at 8 concurrent callers that halves the CPU a
call costs each side (bench/README, "cluster: cheaper remote calls").

Errors cross as on the in-process transport (`@wire_error` classes are
re-raised with their arguments, anything else as `RemoteError`), plus the
transport's own:
  Unreachable    no connection, or it broke before the request was handed
                 to the socket: the handler did not run
  FrameTooLarge  (an `Unreachable`) the request would exceed
                 `FRAME_BYTES_MAX`; nothing was sent and the connection
                 stays up (a reply too large comes back as `RemoteError`)
  ReplyLost      the connection broke after the request was handed to the
                 socket (whole or in part: the caller cannot tell), or the
                 address stopped being served during the call: the handler
                 may have run
A frame that is too long or does not decode ends that connection only (its
calls in flight get `ReplyLost`); the process and its other connections go on.

Run it with `await nursery.start(transport.run)` (and `listen` to accept
calls); connection tasks live in that nursery.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import struct
from typing import Any

import trio

from cluster import codec
from cluster.timeslice import checkpoint_if_due
from cluster.transport import (
    NOT_NOW,
    InProcessTransport,
    Peer,
    RemoteError,
    ReplyLost,
    Unreachable,
    decode_error,
    encode_error,
)

log = logging.getLogger(__name__)

_length = struct.Struct(">I")
# A frame holds one request or reply: a journal Accept of one slot (a
# transaction is at most 10 MiB) or a page of a scan.
FRAME_BYTES_MAX = 64 * 1024 * 1024
# Requests one connection may have running on the server at once.
REQUESTS_PER_CONNECTION_MAX = 1024
CONNECT_TIMEOUT_S = 2.0
_READ_CHUNK = 1 << 16


class FrameTooLarge(Unreachable):
    """A request would exceed `FRAME_BYTES_MAX`: it was not sent."""


class _Call:
    __slots__ = ("done", "reply", "sent")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: tuple | None = None
        self.sent = False  # its request was handed to the socket: it may have run


class _FrameReader:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def next(self) -> bytes | None:
        """The next frame's body, or None at a clean end of stream."""
        while True:
            if len(self._buffer) >= 4:
                (length,) = _length.unpack_from(self._buffer)
                if length > FRAME_BYTES_MAX:
                    raise ValueError(f"frame of {length} bytes")
                if len(self._buffer) >= 4 + length:
                    body = bytes(self._buffer[4 : 4 + length])
                    del self._buffer[: 4 + length]
                    return body
            data = await self._stream.receive_some(_READ_CHUNK)
            if not data:
                if self._buffer:
                    raise trio.BrokenResourceError("stream ended inside a frame")
                return None
            self._buffer += data


def _frame(body: bytes) -> bytes:
    return _length.pack(len(body)) + body


class _Connection:
    """One client connection to a peer process, shared by every call to it.

    Callers queue their requests and park; one writer sends every request
    queued since its last send at once, so calls made in the same scheduler
    turn share a system call (and no caller waits for a lock)."""

    def __init__(self, stream: trio.SocketStream, endpoint: tuple[str, int]) -> None:
        self.stream = stream
        self.endpoint = endpoint
        self.calls: dict[int, _Call] = {}
        self.broken = False
        self._outbox: list[tuple[bytes, _Call]] = []
        self._queued = trio.Event()

    def send(self, frame: bytes, call: _Call) -> None:
        self._outbox.append((frame, call))
        self._queued.set()

    async def write_loop(self) -> None:
        try:
            while not self.broken:
                if not self._outbox:
                    self._queued = trio.Event()
                    await self._queued.wait()
                    continue
                batch, self._outbox = self._outbox, []
                for _, call in batch:
                    call.sent = True  # from here on the peer may get it, whole or not
                await self.stream.send_all(batch[0][0] if len(batch) == 1 else b"".join(f for f, _ in batch))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.debug("sending to %s:%d failed: %s", *self.endpoint, exc)
        finally:
            self.fail_all()
            await trio.aclose_forcefully(self.stream)

    async def receive_loop(self) -> None:
        reader = _FrameReader(self.stream)
        try:
            while True:
                body = await reader.next()
                if body is None:
                    break
                try:
                    call_id, ok, payload = codec.decode(body)
                except Exception as exc:  # noqa: BLE001 - a garbled reply ends the connection
                    raise ValueError(f"undecodable reply: {exc}") from None
                call = self.calls.pop(call_id, None)
                if call is not None:
                    call.reply = (ok, payload)
                    call.done.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError, OSError) as exc:
            log.debug("connection to %s:%d broke: %s", *self.endpoint, exc)
        finally:
            self.fail_all()
            await trio.aclose_forcefully(self.stream)

    def fail_all(self) -> None:
        """The connection is gone: every call waiting on it ends (reply None:
        `ReplyLost` if its request was sent, `Unreachable` if not)."""
        self.broken = True
        self._queued.set()  # the writer ends
        self._outbox = []
        calls, self.calls = self.calls, {}
        for call in calls.values():
            call.done.set()


class _Served:
    """One connection this process serves: requests in flight, and the replies
    waiting to go out.

    A reply is queued by its handler's worker task (no task per request), and
    one writer sends every reply queued since its last send at once, so
    requests that finish in the same scheduler turn share a system call.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.in_flight = 0
        self.closed = False
        self._outbox: list[bytes] = []
        self._queued = trio.Event()
        self._room: trio.Event | None = None

    async def room_for_more(self) -> None:
        while self.in_flight >= REQUESTS_PER_CONNECTION_MAX:
            self._room = trio.Event()
            await self._room.wait()

    def _release(self, count: int) -> None:
        """`count` requests are done with: answered (their replies sent) or dropped."""
        self.in_flight -= count
        if self._room is not None:
            self._room.set()
            self._room = None

    def reply(self, call_id: Any, method: str, outcome: tuple[bool, Any] | None) -> None:
        """Queue the reply to one request (None: its deadline passed; nothing is sent).
        A request counts as in flight until its reply is sent, so a client that
        stops reading replies stops the server reading its requests."""
        if outcome is None or self.closed:
            self._release(1)
            return  # the caller has stopped waiting, or hears ReplyLost from its side
        ok, value = outcome
        try:
            reply = codec.encode((call_id, True, value) if ok else (call_id, False, encode_error(value)))
        except Exception as exc:  # noqa: BLE001 - a result the codec cannot carry
            reply = codec.encode((call_id, False, encode_error(exc)))
        if len(reply) > FRAME_BYTES_MAX:
            error = RemoteError(f"a {method} reply of {len(reply)} bytes (at most {FRAME_BYTES_MAX})")
            reply = codec.encode((call_id, False, encode_error(error)))
        self._outbox.append(_frame(reply))
        self._queued.set()

    async def write_loop(self) -> None:
        while True:
            if not self._outbox:
                self._queued = trio.Event()
                await self._queued.wait()
                continue
            frames, self._outbox = self._outbox, []
            try:
                await self.stream.send_all(frames[0] if len(frames) == 1 else b"".join(frames))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                self.closed = True  # the callers hear ReplyLost from their side
                self._release(len(frames) + len(self._outbox))
                self._outbox = []
                return
            self._release(len(frames))


class TcpTransport:
    def __init__(self, addresses: dict[str, tuple[str, int]] | None = None) -> None:
        self.addresses: dict[str, tuple[str, int]] = dict(addresses or {})
        # The addresses this process serves, and the tasks their handlers run in.
        self._local = InProcessTransport()
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._connecting: dict[tuple[str, int], trio.Lock] = {}
        self._ids = itertools.count(1)
        self._nursery: trio.Nursery | None = None
        self.calls = 0

    # -- the transport interface ---------------------------------------------

    def serve(self, address: str, handler: Any) -> None:
        self._local.serve(address, handler)

    def unserve(self, address: str) -> None:
        """Stop serving `address`: its calls in flight (from here or from afar) get `ReplyLost`."""
        self._local.unserve(address)

    def connect(self, address: str) -> Peer:
        return Peer(self, address)  # type: ignore[arg-type]

    def learn_address(self, address: str, endpoint: tuple[str, int]) -> None:
        """Add a part that joined after this process read its address book (a storage
        node added to a running cluster; its endpoint comes with the shard placement)."""
        self.addresses[address] = (str(endpoint[0]), int(endpoint[1]))

    def call_now(self, address: str, method: str, args: tuple) -> Any:
        """An address served in this process may answer at once (`InProcessTransport.call_now`);
        one elsewhere never does."""
        if self._local.serves(address):
            return self._local.call_now(address, method, args)
        return NOT_NOW

    async def call(self, address: str, method: str, args: tuple, deadline: float = math.inf) -> Any:
        self.calls += 1
        if self._local.serves(address):
            return await self._local.call(address, method, args, deadline)
        endpoint = self.addresses.get(address)
        if endpoint is None:
            raise Unreachable(f"{address}: not in the address book")
        if deadline != math.inf:
            with trio.fail_at(deadline):
                return await self._call_remote(endpoint, address, method, args)
        return await self._call_remote(endpoint, address, method, args)

    async def _call_remote(self, endpoint: tuple[str, int], address: str, method: str, args: tuple) -> Any:
        deadline = trio.current_effective_deadline()
        timeout: float | None = None
        if deadline != math.inf:
            timeout = deadline - trio.current_time()
            if timeout <= 0:
                await trio.lowlevel.checkpoint()  # its time is up: send nothing
        call_id = next(self._ids)
        body = codec.encode((call_id, address, method, args, timeout))
        if len(body) > FRAME_BYTES_MAX:
            raise FrameTooLarge(f"{address}: a {method} request of {len(body)} bytes (at most {FRAME_BYTES_MAX})")
        connection = await self._connection(endpoint)
        call = _Call()
        connection.calls[call_id] = call
        connection.send(_frame(body), call)
        try:
            await call.done.wait()
        finally:
            connection.calls.pop(call_id, None)
        if call.reply is None:
            if not call.sent:
                raise Unreachable(f"{address}: the connection broke before the {method} request was sent")
            raise ReplyLost(f"{address}: connection lost during {method}")
        ok, payload = call.reply
        if ok:
            return payload
        name, error_args = payload
        raise decode_error(name, error_args)

    # -- running -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the nursery that connection tasks and handlers live in (until cancelled)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._local.run)
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def listen(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept calls on host:port for every address served here; reports the port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(bound)
            await trio.serve_listeners(self._serve_connection, listeners, handler_nursery=nursery)

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        served = _Served(stream)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(served.write_loop)
                await self._read_requests(served)
                nursery.cancel_scope.cancel()  # the writer too: nothing more goes out
        finally:
            served.closed = True
            await trio.aclose_forcefully(stream)

    async def _read_requests(self, served: _Served) -> None:
        # Errors end this connection only; they must not escape into the
        # listener (and take the process down with it).
        reader = _FrameReader(served.stream)
        handle_soon = self._local.handle_soon
        try:
            while True:
                body = await reader.next()
                if body is None:
                    return
                try:
                    call_id, address, method, args, timeout = codec.decode(body)
                    if not (
                        isinstance(address, str) and isinstance(method, str) and isinstance(args, tuple)
                        and (timeout is None or isinstance(timeout, (int, float)))
                    ):  # fmt: skip
                        raise ValueError("malformed request")
                except Exception as exc:  # noqa: BLE001 - a garbled request ends its connection
                    raise ValueError(f"undecodable request of {len(body)} bytes: {exc}") from None
                deadline = math.inf if timeout is None else trio.current_time() + timeout
                if served.in_flight >= REQUESTS_PER_CONNECTION_MAX:
                    await served.room_for_more()  # back-pressure: stop reading
                served.in_flight += 1
                handle_soon(address, method, args, deadline, functools.partial(served.reply, call_id, method))
                await checkpoint_if_due()  # a buffer full of small requests is read in slices
        except ValueError as exc:
            log.warning("closing a connection that sent a bad frame: %s", exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.debug("serving a connection ended: %s", exc)
        finally:
            # Close at once, not when the handlers in flight end: the peer
            # hears of it now (its calls on this connection get ReplyLost).
            served.closed = True
            await trio.aclose_forcefully(served.stream)

    async def _connection(self, endpoint: tuple[str, int]) -> _Connection:
        connection = self._connections.get(endpoint)
        if connection is not None and not connection.broken:
            return connection
        lock = self._connecting.setdefault(endpoint, trio.Lock())
        async with lock:
            connection = self._connections.get(endpoint)
            if connection is not None and not connection.broken:
                return connection
            if self._nursery is None:
                raise RuntimeError("TcpTransport.run must be started before calls to other processes")
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    stream = await trio.open_tcp_stream(*endpoint)
            except (OSError, trio.TooSlowError) as exc:
                raise Unreachable(f"{endpoint[0]}:{endpoint[1]}: {exc}") from None
            connection = _Connection(stream, endpoint)
            self._connections[endpoint] = connection
            self._nursery.start_soon(connection.receive_loop)
            self._nursery.start_soon(connection.write_loop)
            return connection
