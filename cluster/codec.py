"""The one encoding of everything that crosses a part boundary: msgpack.

Requests, replies, journal records and checkpoints are all msgpack. Arrays
decode as tuples (rows are tuples everywhere, and tuples hash). Types msgpack
does not know travel as extension types: Decimal and UUID are handled here;
higher layers register theirs (`register_ext`) for classes they own, such as
the QP's Interval and Jsonb. A process that never registered an extension
(a storage node, say) keeps such values as opaque `msgpack.ExtType`, which
re-encodes to the same bytes, so values pass through parts that need not
understand them.
"""

from __future__ import annotations

import decimal
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

EXT_DECIMAL = 1
EXT_UUID = 2
# Codes 16..63 are for registered higher-layer types.

_encoders: dict[type, tuple[int, Callable[[Any], bytes]]] = {}
_decoders: dict[int, Callable[[bytes], Any]] = {}


def register_ext(code: int, cls: type, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]) -> None:
    assert 16 <= code < 64, code
    existing = _decoders.get(code)
    assert existing is None or existing is decode or _encoders.get(cls, (None,))[0] == code, code
    _encoders[cls] = (code, encode)
    _decoders[code] = decode


def _default(obj: Any) -> Any:
    entry = _encoders.get(type(obj))
    if entry is not None:
        code, encode = entry
        return msgpack.ExtType(code, encode(obj))
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(EXT_UUID, obj.bytes)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} for the wire")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    decode = _decoders.get(code)
    if decode is None:
        return msgpack.ExtType(code, data)
    return decode(data)


# A Packer per thread, reused: packers are not thread-safe, and making one per
# call costs more than the packing of a small message. An extension encoder
# that encodes its own contents (jsonb) re-enters `encode` while the thread's
# packer is busy; that nested call gets a fresh packer.
_local = threading.local()


def _new_packer() -> msgpack.Packer:
    return msgpack.Packer(default=_default, use_bin_type=True, datetime=False)


def encode(obj: Any) -> bytes:
    local = _local
    packer = getattr(local, "packer", None)
    if packer is None:
        packer = local.packer = _new_packer()
        local.busy = False
    if local.busy:
        return _new_packer().pack(obj)
    local.busy = True
    try:
        return packer.pack(obj)
    finally:
        local.busy = False


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
