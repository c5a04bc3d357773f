"""How the QP's own value classes cross part boundaries (cluster.codec extensions).

Rows travel as msgpack between the QP, the adjudicators, the journal and
storage. Two SQL types have Python classes of the QP's own: jsonb (`Jsonb`)
and interval (`Interval`). They are registered here as msgpack extension
types, so a row holding them is stored and read back as the same values.
"""

from __future__ import annotations

import msgpack

from cluster import codec
from qp.types import Interval, Jsonb

EXT_JSONB = 16
EXT_INTERVAL = 17


def _encode_jsonb(value: Jsonb) -> bytes:
    return codec.encode(value.value)


def _decode_jsonb(data: bytes) -> Jsonb:
    # JSON arrays must come back as lists (codec.decode makes tuples).
    return Jsonb(msgpack.unpackb(data, use_list=True, raw=False, ext_hook=codec._ext_hook, strict_map_key=False))


def _encode_interval(value: Interval) -> bytes:
    return codec.encode((value.months, value.days, value.micros))


def _decode_interval(data: bytes) -> Interval:
    return Interval(*codec.decode(data))


codec.register_ext(EXT_JSONB, Jsonb, _encode_jsonb, _decode_jsonb)
codec.register_ext(EXT_INTERVAL, Interval, _encode_interval, _decode_interval)
