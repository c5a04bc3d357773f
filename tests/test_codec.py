"""Every SQL value survives the wire encoding between parts (cluster.codec + qp.types.wire).

Rows cross the transport, the journal and checkpoints as msgpack; a value
that came back as another type (an interval as a plain tuple, a jsonb array
as a tuple) would silently change query results after a restart.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

import qp.types.wire  # noqa: F401  (registers jsonb and interval)
from cluster import codec
from qp.types import Interval, Jsonb

VALUES = [
    None,
    True,
    0,
    -(2**63),
    2**63 - 1,
    1.5,
    float("inf"),
    "text ✓",
    b"\x00\xff",
    Decimal("1.50"),
    Decimal("NaN"),
    Decimal("-Infinity"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Interval(1, 2, 3),
    Interval(-1, 0, 5),
    Jsonb({"a": [1, Decimal("2.5"), None, {"b": True}], "": "x"}),
    Jsonb([]),
    Jsonb(None),
    [1, None, 3],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_value_round_trips_with_its_type(value):
    (back,) = codec.decode(codec.encode((value,)))
    if isinstance(value, list):
        assert back == tuple(value)  # arrays travel as tuples; the QP accepts both
        return
    assert type(back) is type(value)
    if isinstance(value, Decimal) and value.is_nan():
        assert back.is_nan()
    elif isinstance(value, Jsonb):
        assert back == value and type(back.value) is type(value.value)
    elif isinstance(value, Interval):
        assert (back.months, back.days, back.micros) == (value.months, value.days, value.micros)
    else:
        assert back == value


def test_unknown_extension_passes_through_opaque():
    import msgpack

    opaque = msgpack.ExtType(63, b"abc")
    assert codec.decode(codec.encode(opaque)) == opaque


def test_nested_extension_values_in_one_message():
    # A row holding several jsonb values: each is encoded from inside the
    # outer encoding (regression: a shared packer corrupted the message).
    row = (Jsonb({"a": 1}), Jsonb([Jsonb is not None, {"b": [1, 2]}]), Interval(0, 1, 2), Jsonb("x"))
    assert codec.decode(codec.encode(row)) == row
