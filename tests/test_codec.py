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


# -- shareable: what the in-process transport hands over without a copy ------------------------

import dataclasses  # noqa: E402

import msgspec  # noqa: E402
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@codec.message(99_997)
class _FrozenProbe(msgspec.Struct, frozen=True):
    keys: tuple
    tau: int


@codec.message(99_996)
class _MutableProbe(msgspec.Struct):
    keys: tuple


@codec.message(99_995)
@dataclasses.dataclass
class _MutableDataclassProbe:
    keys: tuple


def _same_types(a, b) -> bool:
    """Equal, and of the same type all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, _FrozenProbe):
        return _same_types(a.keys, b.keys) and _same_types(a.tau, b.tau)
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, Decimal) and a.is_nan():
        return b.is_nan() and str(a) == str(b)
    return a == b and (not isinstance(a, Decimal) or str(a) == str(b))


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=8), st.binary(max_size=8), st.decimals(allow_nan=True).map(lambda d: d),
    st.uuids(), st.sampled_from([Interval(1, 2, 3), Jsonb({"a": 1})]),
    # The edges of what msgpack carries: the largest ints either way and a lone surrogate.
    st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1, "\ud800", "é", float("nan"), -0.0]),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.tuples(inner, inner), st.lists(inner, max_size=4).map(tuple), st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=2), st.builds(_FrozenProbe, st.lists(inner, max_size=3).map(tuple), st.integers(0, 9)),
    ),
    max_leaves=60,
)  # fmt: skip


# Values built of what could be shared only (most of them are): the edges get tried often.
_candidates = st.recursive(
    _scalars.filter(lambda v: not isinstance(v, (Interval, Jsonb))),
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(tuple),
                            st.builds(_FrozenProbe, st.lists(inner, max_size=3).map(tuple), st.integers(0, 9))),
    max_leaves=12,
)  # fmt: skip


@given(st.one_of(_values, _candidates))
@example((2**64 - 1, 2**64))
@example((-(2**63), -(2**63) - 1))
@example(("\ud800", "é", "a"))
@example(_FrozenProbe((2**64,), 1))
@example(([1],))
def test_a_shareable_value_is_what_its_round_trip_would_give(value):
    # The in-process transport hands a shareable value over as it is; that is
    # only right if the wire would have given an equal value of the same types.
    if codec.shareable(value):
        assert _same_types(codec.decode(codec.encode(value)), value)


def test_what_is_shareable_and_what_is_copied():
    assert codec.shareable((None, True, 0, -(2**63), 2**64 - 1, 1.5, "ascii", b"\xff", Decimal("1.50")))
    assert codec.shareable(_FrozenProbe((b"k",), 5))
    assert codec.shareable(((1, (2, (3,))),))
    # Mutable, or not the same type after the trip, or not encodable at all: copied (or refused).
    for value in ([1], {"a": 1}, {1}, frozenset(), bytearray(b"x"), _MutableProbe((1,)),
                  _MutableDataclassProbe((1,)), Interval(1, 2, 3), Jsonb([1]), "text ✓", "\ud800",
                  2**64, -(2**63) - 1, _FrozenProbe([1], 5), (1, [2])):  # fmt: skip
        assert not codec.shareable(value), value
    # Past the budget a walk in Python costs more than msgpack: copied, and equal.
    big = tuple(range(codec.SHAREABLE_BUDGET + 1))
    assert not codec.shareable(big)
    assert codec.decode(codec.encode(big)) == big
