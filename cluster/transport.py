"""RPC between parts: the only way one part reaches another.

A part serves an object at an address; its coroutine methods named `rpc_*`
are the interface. Callers hold a `Peer` and `await peer.call("read", ...)`.
The in-process transport below runs the handler in the caller's task (no
extra task switch, which matters on the hot path), but it still encodes the
request and the reply with `cluster.codec` and decodes them on the other side,
so no two parts ever share an object, and moving a part to another process
(the TCP transport) changes nothing above this module.

Errors cross as values: an exception class decorated with `@wire_error(N)`
(N its number in `cluster.wire_ids`; the number, not a module path, is what
travels) raised by a handler is re-raised at the caller as the same class
with the same arguments. Anything else becomes `RemoteError`, because a bug in one
part must not masquerade as a meaningful error in another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cluster import codec, wire_ids

E = TypeVar("E", bound=type)

# Registered error classes by wire key: a stable number from `cluster.wire_ids`
# (`@wire_error(N)`), or, for classes not yet numbered, the module path.
_error_classes: dict[int | str, type[Exception]] = {}


def wire_error(arg: E | int) -> Any:
    """Register an exception class whose instances may cross the transport.

    `@wire_error(N)` sends it as the number N (listed in `cluster.wire_ids`);
    bare `@wire_error` sends it by module path (the older form, kept while
    classes are being numbered). Its constructor must accept `*self.args`.
    """
    if isinstance(arg, int):
        return lambda cls: _register_error(arg, cls)
    return _register_error(f"{arg.__module__}.{arg.__qualname__}", arg)


def _register_error(key: int | str, cls: E) -> E:
    existing = _error_classes.get(key)
    if isinstance(key, int) and existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"wire error id {key} is already {existing.__qualname__}, not {cls.__qualname__}")
    _error_classes[key] = cls
    cls._wire_key = key  # type: ignore[attr-defined]
    return cls


class RemoteError(Exception):
    """A handler failed with an exception that has no meaning on the wire."""


class Unreachable(Exception):
    """The call reached no handler (no handler at that address, a refused
    connection, a dropped request): nothing happened there."""


class ReplyLost(Unreachable):
    """The call may have reached the handler and run, but no reply came back
    (a connection lost mid-call, a dropped reply): the caller cannot know."""


wire_error(wire_ids.UNREACHABLE)(Unreachable)
wire_error(wire_ids.REPLY_LOST)(ReplyLost)


class InProcessTransport:
    """Addresses are strings; handlers live in this process.

    `encode_messages=False` skips the encode/decode round trip; it exists only
    so a benchmark can measure what the encoding costs. Tests and `dsql serve`
    run with it on.
    """

    def __init__(self, *, encode_messages: bool = True) -> None:
        self._handlers: dict[str, Any] = {}
        self.encode_messages = encode_messages
        self.calls = 0

    def serve(self, address: str, handler: Any) -> None:
        assert address not in self._handlers, address
        self._handlers[address] = handler

    def unserve(self, address: str) -> None:
        self._handlers.pop(address, None)

    def connect(self, address: str) -> Peer:
        return Peer(self, address)

    def _method(self, address: str, method: str) -> Callable[..., Any]:
        handler = self._handlers.get(address)
        if handler is None:
            raise Unreachable(address)
        return getattr(handler, "rpc_" + method)

    async def call(self, address: str, method: str, args: tuple) -> Any:
        self.calls += 1
        fn = self._method(address, method)
        if not self.encode_messages:
            return await fn(*args)
        args = codec.decode(codec.encode(args))
        try:
            result = await fn(*args)
        except Exception as exc:
            raise _cross(exc) from None
        return codec.decode(codec.encode(result))


def _cross(exc: Exception) -> Exception:
    """The exception as the caller sees it after a trip over the wire."""
    return decode_error(*encode_error(exc))


def encode_error(exc: Exception) -> tuple[int | str, bytes]:
    """(wire key, msgpack of its arguments) of a handler's exception, for the wire.

    The key is the class's number, or its module path if it has none yet; an
    exception class not marked `@wire_error` travels as `RemoteError` (key "").
    """
    key = getattr(type(exc), "_wire_key", None)
    if key is None or _error_classes.get(key) is not type(exc):
        return "", codec.encode((f"{type(exc).__name__}: {exc}",))
    return key, codec.encode(exc.args)


def decode_error(key: int | str, args: bytes) -> Exception:
    """The exception a caller raises for an error that crossed the wire."""
    cls = _error_classes.get(key) if key != "" else None
    if cls is None:
        if key == "":
            return RemoteError(*codec.decode(args))
        if isinstance(key, int):
            return RemoteError(f"error of unknown wire id {key}: {codec.decode(args)}")
        return RemoteError(f"{key}: {codec.decode(args)}")
    return cls(*codec.decode(args))


class Peer:
    """A handle on a remote part."""

    __slots__ = ("_transport", "address")

    def __init__(self, transport: InProcessTransport, address: str) -> None:
        self._transport = transport
        self.address = address

    async def call(self, method: str, *args: Any) -> Any:
        return await self._transport.call(self.address, method, args)
