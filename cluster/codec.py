"""The one encoding of everything that crosses a part boundary: msgpack.

Requests, replies, journal records and checkpoints are all msgpack. Arrays
decode as tuples (rows are tuples everywhere, and tuples hash). Types msgpack
does not know travel as extension types: Decimal and UUID are handled here;
higher layers register theirs (`register_ext`) for classes they own, such as
the QP's Interval and Jsonb. A process that never registered an extension
(a storage node, say) keeps such values as opaque `msgpack.ExtType`, which
re-encodes to the same bytes, so values pass through parts that need not
understand them.

Typed messages (the requests and replies of each part's `interface.py`:
msgspec Structs or frozen dataclasses) travel as one extension type,
`EXT_MESSAGE`, whose body is the array (type id, field, field, ...): the id
is a stable number from `cluster.wire_ids`, registered with
`register_message(id, cls)`, never a Python path, and fields go by position.
A message of an id this process does not know is an error
(`UnknownMessage`), not an opaque value: unlike a row value, a request must
be understood by whoever receives it.
"""

from __future__ import annotations

import dataclasses
import decimal
import operator
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgpack
import msgspec

EXT_DECIMAL = 1
EXT_UUID = 2
EXT_MESSAGE = 3
# Codes 16..63 are for registered higher-layer types.

_encoders: dict[type, tuple[int, Callable[[Any], bytes]]] = {}
_decoders: dict[int, Callable[[bytes], Any]] = {}

M = TypeVar("M", bound=type)


class UnknownMessage(ValueError):
    """A message whose type id no class is registered for in this process."""


# Registered messages: class -> (id, its fields as a tuple), and id -> class.
_message_fields: dict[type, tuple[int, Callable[[Any], tuple]]] = {}
_message_classes: dict[int, type] = {}
# The frozen ones among them (class -> its fields as a tuple): `shareable` looks inside these.
_frozen_fields: dict[type, Callable[[Any], tuple]] = {}


def register_message(message_id: int, cls: M) -> M:
    """Let instances of `cls` (a msgspec Struct or a frozen dataclass, built
    from its fields by position) cross the wire under `message_id`."""
    existing = _message_classes.get(message_id)
    if existing is not None and existing is not cls:
        raise ValueError(f"message id {message_id} is already {existing.__qualname__}, not {cls.__qualname__}")
    if issubclass(cls, msgspec.Struct):
        fields: Callable[[Any], tuple] = msgspec.structs.astuple
    elif dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        if len(names) == 1:
            getter = operator.attrgetter(names[0])
            fields = lambda obj: (getter(obj),)  # noqa: E731
        elif names:
            fields = operator.attrgetter(*names)
        else:
            fields = lambda obj: ()  # noqa: E731
    else:
        raise TypeError(f"{cls.__qualname__} is neither a msgspec Struct nor a dataclass")
    _message_fields[cls] = (message_id, fields)
    _message_classes[message_id] = cls
    if _is_frozen(cls):
        _frozen_fields[cls] = fields
    return cls


def _is_frozen(cls: type) -> bool:
    if issubclass(cls, msgspec.Struct):
        return bool(cls.__struct_config__.frozen)
    return bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]


def message(message_id: int) -> Callable[[M], M]:
    """Class decorator form of `register_message`."""
    return lambda cls: register_message(message_id, cls)


def register_ext(code: int, cls: type, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]) -> None:
    assert 16 <= code < 64, code
    existing = _decoders.get(code)
    assert existing is None or existing is decode or _encoders.get(cls, (None,))[0] == code, code
    _encoders[cls] = (code, encode)
    _decoders[code] = decode


def _default(obj: Any) -> Any:
    registered = _message_fields.get(type(obj))
    if registered is not None:
        message_id, fields = registered
        return msgpack.ExtType(EXT_MESSAGE, encode((message_id, *fields(obj))))
    entry = _encoders.get(type(obj))
    if entry is not None:
        code, encode_ext = entry
        return msgpack.ExtType(code, encode_ext(obj))
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(EXT_UUID, obj.bytes)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} for the wire")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_MESSAGE:
        body = decode(data)
        cls = _message_classes.get(body[0])
        if cls is None:
            raise UnknownMessage(f"unknown message type id {body[0]!r} (this process registers no such message)")
        return cls(*body[1:])
    if code == EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    decode_ext = _decoders.get(code)
    if decode_ext is None:
        return msgpack.ExtType(code, data)
    return decode_ext(data)


# Packers per thread, reused: packers are not thread-safe, and making one per
# call costs more than the packing of a small message. An extension that
# encodes its own contents (a message, jsonb) re-enters `encode` while the
# thread's packer is busy; each depth of nesting has its packer.
_local = threading.local()


def _new_packer() -> msgpack.Packer:
    return msgpack.Packer(default=_default, use_bin_type=True, datetime=False)


def encode(obj: Any) -> bytes:
    local = _local
    try:
        packers = local.packers
        depth = local.depth
    except AttributeError:
        packers = local.packers = []
        depth = local.depth = 0
    if depth == len(packers):
        packers.append(_new_packer())
    local.depth = depth + 1
    try:
        return packers[depth].pack(obj)  # a failed pack leaves the packer empty (msgpack resets it)
    finally:
        local.depth = depth


# Types whose values nobody can change and which decode as an equal value of
# the same type: `shareable` passes them by reference. (A str only when ASCII:
# one holding a lone surrogate cannot be encoded, and the check is cheap only
# for ASCII. An int only within msgpack's range.)
_IMMUTABLE_SCALARS = frozenset({type(None), bool, float, bytes, decimal.Decimal, uuid.UUID})
# How many values `shareable` looks at before it gives up: past a few dozen,
# msgpack's C encoder and decoder beat a walk in Python.
SHAREABLE_BUDGET = 48
_INT_MIN, _INT_END = -(1 << 63), 1 << 64


def shareable(obj: Any) -> bool:
    """True if `decode(encode(obj))` would be an equal value of the same types
    throughout that nobody can change: then handing `obj` itself to another
    part of this process is indistinguishable from handing it a copy.

    Only small values qualify (see `SHAREABLE_BUDGET`): None, bool, int in
    msgpack's range, float, ASCII str, bytes, Decimal, UUID, tuples of them
    and frozen registered messages of them. Lists (which decode as tuples),
    dicts, sets, mutable messages and the extension types of higher layers do
    not: they take the codec round trip, which copies them (or raises, for
    what the wire cannot carry)."""
    return _shareable(obj, SHAREABLE_BUDGET) >= 0


def _shareable(obj: Any, budget: int) -> int:
    """The budget left after looking at `obj` and what it holds, or -1 if it is
    not shareable or the budget ran out. (Leaves are checked in the loop: a
    call per value would cost as much again.)"""
    kind = type(obj)
    if kind is tuple:
        items = obj
    else:
        fields = _frozen_fields.get(kind)
        if fields is None:
            if kind in _IMMUTABLE_SCALARS:
                return budget - 1
            if kind is int:
                return budget - 1 if _INT_MIN <= obj < _INT_END else -1
            if kind is str:
                return budget - 1 if obj.isascii() else -1
            return -1
        items = fields(obj)
    budget -= 1 + len(items)
    if budget < 0:
        return -1
    for item in items:
        kind = type(item)
        if kind is int:
            if not _INT_MIN <= item < _INT_END:
                return -1
        elif kind in _IMMUTABLE_SCALARS:
            pass
        elif kind is str:
            if not item.isascii():
                return -1
        else:
            budget = _shareable(item, budget + 1)  # its 1 was counted above
            if budget < 0:
                return -1
    return budget


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, use_list=False, raw=False, ext_hook=_ext_hook, strict_map_key=False)


def decode_stream(file: Any) -> Iterator[Any]:
    """The objects of a file written as a sequence of `encode`d values, one at a time."""
    yield from unpacker(file)


def unpacker(file: Any = None) -> msgpack.Unpacker:
    """A streaming decoder (iterate it; without a file, `feed()` it bytes as they come)."""
    return msgpack.Unpacker(
        file, use_list=False, raw=False, ext_hook=_ext_hook, strict_map_key=False, max_buffer_size=0
    )
