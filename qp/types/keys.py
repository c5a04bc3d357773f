"""Sort and grouping keys: Python values whose order/equality is
PostgreSQL's btree order/equality for a type.

Most types need no key (ints, text in the C collation, dates, timestamps,
bytea, uuid, bool and Interval already compare as PG does), so the factories
return None and the engine sorts the raw values. Keys exist only where PG
differs from Python: NaN (equal to itself, above every number), bpchar
(trailing spaces insignificant), jsonb (its own type order), arrays (NULL
elements sort last; lists are unhashable).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from qp.types.core import SqlType
from qp.types.json import JsonbSortKey, jsonb_hash_key


class _Top:
    """Compares above every number and equal to itself (NaN's place)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return other is self

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __ge__(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0x7FF8

    def __repr__(self) -> str:
        return "NaN"


NAN_KEY = _Top()


def _float_key(v: float) -> Any:
    return v if v == v else NAN_KEY


def _numeric_key(v: Any) -> Any:
    return NAN_KEY if v.is_nan() else v


def _bpchar_key(v: str) -> str:
    return v.rstrip(" ")


class _ArrayKey:
    """PG array order: element by element (NULL above any value), then the
    shorter array first."""

    __slots__ = ("items",)

    def __init__(self, items: tuple) -> None:
        self.items = items

    def __lt__(self, other: _ArrayKey) -> bool:
        return self.items < other.items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ArrayKey) and self.items == other.items

    def __hash__(self) -> int:
        return hash(self.items)


def _elem_keys(elem_key: Callable[[Any], Any] | None) -> Callable[[Any], tuple]:
    def flat(v: list) -> tuple:
        out = []
        for x in v:
            if x is None:
                out.append((1,))
            elif type(x) is list:
                out.extend(flat(x))
            else:
                out.append((0, elem_key(x) if elem_key is not None else x))
        return tuple(out)
    return flat


def sort_key(t: SqlType) -> Callable[[Any], Any] | None:
    """A key whose Python order is PG's btree order for `t` (None: use the values)."""
    oid = t.oid
    if t.is_array:
        assert t.elem is not None
        flat = _elem_keys(sort_key(t.elem))
        return lambda v: _ArrayKey(flat(v))
    if oid in (700, 701):
        return _float_key
    if oid == 1700:
        return _numeric_key
    if oid == 1042:
        return _bpchar_key
    if oid == 3802:
        return JsonbSortKey
    if oid == 2249:
        return _record_key(t)
    return None


def _record_key(t: SqlType) -> Callable[[tuple], tuple]:
    """Records compare field by field, NULL fields above any value."""
    keys = [sort_key(ft) for _, ft in t.fields] if t.fields is not None else None

    def key(v: tuple) -> tuple:
        return tuple((1,) if x is None else (0, keys[i](x) if keys is not None and keys[i] is not None else x)
                     for i, x in enumerate(v))
    return key


def _freeze(elem: Callable[[Any], Any] | None) -> Callable[[list], tuple]:
    def f(v: list) -> tuple:
        return tuple(None if x is None else f(x) if type(x) is list else (elem(x) if elem else x) for x in v)
    return f


def group_key(t: SqlType) -> Callable[[Any], Hashable] | None:
    """A hashable key equal for values PG considers equal (None: the values are)."""
    oid = t.oid
    if t.is_array:
        assert t.elem is not None
        return _freeze(group_key(t.elem))
    if oid in (700, 701):
        return _float_key
    if oid == 1700:
        return _numeric_key
    if oid == 1042:
        return _bpchar_key
    if oid == 3802:
        return lambda j: jsonb_hash_key(j.value)
    if oid == 2249 and t.fields is not None:
        fields = [group_key(ft) for _, ft in t.fields]
        if any(fields):
            return lambda v: tuple(x if x is None or k is None else k(x) for k, x in zip(fields, v, strict=False))
    return None
