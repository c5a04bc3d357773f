"""Binary I/O: each type's send/recv format, as factories returning one
closure per column.

Formats are PostgreSQL's (network byte order): fixed-width integers and
IEEE floats, numeric as base-10000 digits with weight/sign/dscale, datetimes
as int64 microseconds / int32 days from 2000-01-01, interval as
(int64 us, int32 days, int32 months), jsonb with its version byte, arrays
with array_send's header (ndim, has-nulls flag, element oid, dimensions).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.types.casts import typmod_coercion
from qp.types.core import _BASE_BY_OID, Interval, SqlType, format_type
from qp.types.json import Jsonb, jsonb_out, parse_jsonb, validate_json
from qp.types.jsonpath import jsonpath_in
from qp.types.numeric import D_INF, D_NAN, D_NINF, DEC, normalize_scale

_I2 = struct.Struct("!h")
_I4 = struct.Struct("!i")
_U4 = struct.Struct("!I")
_I8 = struct.Struct("!q")
_F4 = struct.Struct("!f")
_F8 = struct.Struct("!d")
_IV = struct.Struct("!qii")
_NUMHDR = struct.Struct("!hhHh")

NUMERIC_POS, NUMERIC_NEG, NUMERIC_NAN = 0x0000, 0x4000, 0xC000
NUMERIC_PINF, NUMERIC_NINF = 0xD000, 0xF000


def numeric_send(d: Decimal) -> bytes:
    if not d.is_finite():
        if d.is_nan():
            return _NUMHDR.pack(0, 0, NUMERIC_NAN, 0)
        # PG reads the dscale of an infinity out of its short header: 32
        return _NUMHDR.pack(0, 0, NUMERIC_NINF if d.is_signed() else NUMERIC_PINF, 32)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    dscale = -exp if exp < 0 else 0
    s = "".join(map(str, digits)).lstrip("0")
    if exp > 0:
        s += "0" * exp
        exp = 0
    if not s:
        return _NUMHDR.pack(0, 0, NUMERIC_POS, dscale)
    int_digits = len(s) + exp
    pad_left = (-int_digits) % 4
    s = "0" * pad_left + s
    int_digits += pad_left
    s += "0" * ((-len(s)) % 4)
    groups = [int(s[i:i + 4]) for i in range(0, len(s), 4)]
    weight = int_digits // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    hdr = _NUMHDR.pack(len(groups), weight, NUMERIC_NEG if sign else NUMERIC_POS, dscale)
    return hdr + struct.pack(f"!{len(groups)}h", *groups)


def numeric_recv(b: bytes) -> Decimal:
    if len(b) < 8:
        raise _short()
    ndigits, weight, sign, dscale = _NUMHDR.unpack_from(b)
    if sign == NUMERIC_NAN:
        return D_NAN
    if sign == NUMERIC_PINF:
        return D_INF
    if sign == NUMERIC_NINF:
        return D_NINF
    if sign not in (NUMERIC_POS, NUMERIC_NEG):
        raise SqlError("22P03", "invalid sign in external \"numeric\" value")
    if len(b) != 8 + 2 * ndigits:
        raise _short()
    groups = struct.unpack_from(f"!{ndigits}h", b, 8)
    for g in groups:
        if g < 0 or g >= 10000:
            raise SqlError("22P03", "invalid digit in external \"numeric\" value")
    n = int("".join(f"{g:04d}" for g in groups)) if groups else 0
    v = Decimal(-n if sign == NUMERIC_NEG else n).scaleb(4 * (weight - ndigits + 1), context=DEC)
    v = v.quantize(Decimal(1).scaleb(-dscale), context=DEC)
    return normalize_scale(v)


def _short() -> SqlError:
    return SqlError("08P01", "insufficient data left in message")


def _unpacker(st: struct.Struct) -> Callable[[bytes], Any]:
    size = st.size
    unpack = st.unpack

    def recv(b: bytes) -> Any:
        if len(b) != size:
            if len(b) < size:
                raise _short()
            raise SqlError("22P03", "incorrect binary data format")
        return unpack(b)[0]

    return recv


def _bool_recv(b: bytes) -> bool:
    if len(b) != 1:
        raise _short() if not b else SqlError("22P03", "incorrect binary data format")
    return b[0] != 0


def _interval_send(v: Interval) -> bytes:
    return _IV.pack(v[2], v[1], v[0])


def _interval_recv(b: bytes) -> Interval:
    if len(b) != 16:
        raise _short()
    us, days, months = _IV.unpack(b)
    return Interval(months, days, us)


def _jsonb_send(v: Jsonb) -> bytes:
    return b"\x01" + jsonb_out(v.value).encode()


def _jsonb_recv(b: bytes) -> Jsonb:
    if not b or b[0] != 1:
        raise SqlError("22P03", f"unsupported jsonb version number {b[0] if b else 0}")
    return parse_jsonb(b[1:].decode())


def _text_recv(b: bytes) -> str:
    try:
        return b.decode()
    except UnicodeDecodeError:
        raise SqlError("22021", "invalid byte sequence for encoding \"UTF8\"") from None


def _char_send(v: str) -> bytes:
    return bytes([ord(v)]) if v else b"\x00"


def _char_recv(b: bytes) -> str:
    return chr(b[0]) if b and b[0] else ""


def _uuid_recv(b: bytes) -> uuid.UUID:
    if len(b) != 16:
        raise _short()
    return uuid.UUID(bytes=b)


_ENC: dict[int, Callable[[Any], bytes]] = {
    16: lambda v: b"\x01" if v else b"\x00",
    17: bytes,
    18: _char_send,
    20: _I8.pack, 21: _I2.pack, 23: _I4.pack, 26: _U4.pack, 24: _U4.pack, 2205: _U4.pack,
    2206: _U4.pack, 4089: _U4.pack, 2202: _U4.pack, 4096: _U4.pack,
    700: _F4.pack, 701: _F8.pack,
    1700: numeric_send,
    25: str.encode, 1043: str.encode, 1042: str.encode, 19: str.encode, 705: str.encode,
    114: str.encode, 2275: str.encode, 194: str.encode,
    1082: _I4.pack, 1083: _I8.pack, 1114: _I8.pack, 1184: _I8.pack,
    1186: _interval_send,
    2950: lambda v: v.bytes,
    3802: _jsonb_send,
    4072: lambda v: b"\x01" + v.encode(),  # jsonpath_send: a version byte, then the text
    2278: lambda v: b"",
}


def _jsonpath_recv(b: bytes) -> str:
    if not b or b[0] != 1:
        raise SqlError("22P03", f"unsupported jsonpath version number: {b[0] if b else 0}")
    return jsonpath_in(_text_recv(b[1:]))


_DEC: dict[int, Callable[[bytes], Any]] = {
    16: _bool_recv, 17: bytes, 18: _char_recv,
    20: _unpacker(_I8), 21: _unpacker(_I2), 23: _unpacker(_I4), 26: _unpacker(_U4),
    24: _unpacker(_U4), 2202: _unpacker(_U4), 2205: _unpacker(_U4), 4096: _unpacker(_U4), 2206: _unpacker(_U4), 4089: _unpacker(_U4),
    700: _unpacker(_F4), 701: _unpacker(_F8),
    1700: numeric_recv,
    25: _text_recv, 1043: _text_recv, 1042: _text_recv, 19: _text_recv, 705: _text_recv,
    2275: _text_recv,
    114: lambda b: validate_json(_text_recv(b)),
    1082: _unpacker(_I4), 1083: _unpacker(_I8), 1114: _unpacker(_I8), 1184: _unpacker(_I8),
    1186: _interval_recv, 2950: _uuid_recv, 3802: _jsonb_recv, 2278: lambda b: None,
    4072: _jsonpath_recv,
}


def _array_dims(v: list) -> list[int]:
    dims = []
    cur: Any = v
    while isinstance(cur, list):
        dims.append(len(cur))
        if not cur:
            break
        cur = cur[0]
    return dims


def _flatten(v: list, out: list) -> None:
    for x in v:
        if type(x) is list:
            _flatten(x, out)
        else:
            out.append(x)


def make_array_send(t: SqlType) -> Callable[[list], bytes]:
    assert t.elem is not None
    elem_oid = t.elem.oid
    elem_send = binary_encoder(t.elem)
    lbound = 0 if t.oid in (22, 30) else 1  # int2vector/oidvector are 0-based

    def send(v: list) -> bytes:
        if not v:
            return _I4.pack(0) + _I4.pack(0) + _U4.pack(elem_oid)
        dims = _array_dims(v)
        flat: list = []
        _flatten(v, flat)
        has_null = any(x is None for x in flat)
        parts = [struct.pack("!iiI", len(dims), 1 if has_null else 0, elem_oid)]
        for d in dims:
            parts.append(struct.pack("!ii", d, lbound))
        for x in flat:
            if x is None:
                parts.append(b"\xff\xff\xff\xff")
            else:
                data = elem_send(x)
                parts.append(_I4.pack(len(data)))
                parts.append(data)
        return b"".join(parts)

    return send


def make_array_recv(t: SqlType) -> Callable[[bytes], list]:
    assert t.elem is not None
    elem_recv = binary_decoder(t.elem)
    elem_oid = t.elem.oid

    def recv(b: bytes) -> list:
        if len(b) < 12:
            raise _short()
        ndim, _flags, oid = struct.unpack_from("!iiI", b)
        if ndim < 0 or ndim > 6:
            raise SqlError("22P03", f"invalid number of dimensions: {ndim}")
        if oid != elem_oid:
            got = _BASE_BY_OID.get(oid)
            raise SqlError("42804", f"binary data has array element type {oid} "
                           f"({format_type(got) if got else '???'}) instead of expected "
                           f"{elem_oid} ({format_type(t.elem)})")
        pos = 12
        dims = []
        for _ in range(ndim):
            if len(b) < pos + 8:
                raise _short()
            d, lb = struct.unpack_from("!ii", b, pos)
            if lb != 1 and d and not (lb == 0 and t.oid in (22, 30)):
                raise SqlError("0A000", "arrays with lower bounds other than 1 are not supported")
            dims.append(d)
            pos += 8
        if ndim == 0 or 0 in dims:
            return []
        total = 1
        for d in dims:
            total *= d
        flat = []
        for _ in range(total):
            if len(b) < pos + 4:
                raise _short()
            (n,) = _I4.unpack_from(b, pos)
            pos += 4
            if n == -1:
                flat.append(None)
            else:
                if len(b) < pos + n:
                    raise _short()
                flat.append(elem_recv(b[pos:pos + n]))
                pos += n
        if pos != len(b):
            raise SqlError("22P03", "incorrect binary data format in array")

        def build(level: int, it: Any) -> list:
            if level == len(dims) - 1:
                return [next(it) for _ in range(dims[level])]
            return [build(level + 1, it) for _ in range(dims[level])]

        return build(0, iter(flat))

    return recv


def binary_encoder(t: SqlType) -> Callable[[Any], bytes]:
    """Value -> bytes in PG's binary (send) format."""
    if t.is_array:
        return make_array_send(t)
    f = _ENC.get(t.oid)
    if f is not None:
        return f
    if t.oid == 2249:
        if t.fields is not None:
            return make_record_send([ft for _, ft in t.fields])
        return _record_send
    raise SqlError("0A000", f"binary output of type {format_type(t)} is not supported")


def binary_decoder(t: SqlType) -> Callable[[bytes], Any]:
    """Bytes in PG's binary (recv) format -> value. Like PG's recv functions,
    this applies the type's typmod (varchar(n) length, numeric(p,s)...)."""
    if t.is_array:
        f = make_array_recv(t)
    else:
        f = _DEC.get(t.oid)
        if f is None:
            raise SqlError("0A000", f"binary input of type {format_type(t)} is not supported")
    if t.typmod >= 0:
        coerce = typmod_coercion(t, False)
        if coerce is not None:
            recv = f
            return lambda b: coerce(recv(b))
    return f


def _record_send(v: tuple) -> bytes:
    raise SqlError("0A000", "binary output of anonymous records is not supported")


def make_record_send(fields: list[SqlType]) -> Callable[[tuple], bytes]:
    sends = [binary_encoder(ft) for ft in fields]
    oids = [ft.oid for ft in fields]

    def send(v: tuple) -> bytes:
        parts = [_I4.pack(len(v))]
        for oid, f, x in zip(oids, sends, v, strict=False):
            parts.append(_U4.pack(oid))
            if x is None:
                parts.append(b"\xff\xff\xff\xff")
            else:
                data = f(x)
                parts.append(_I4.pack(len(data)))
                parts.append(data)
        return b"".join(parts)

    return send
