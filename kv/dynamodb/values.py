"""Attribute values: checking them on the way in, sizing, comparing, and the way out.

The wire form is DynamoDB's typed JSON (`{"S": "x"}`, `{"N": "1.5"}`,
`{"B": "<base64>"}`, `{"M": {...}}`, ...). Inside dsql a value keeps that
shape with two differences, so that it is plain msgpack-able data and cheap
to compare: binary is raw `bytes` (decoded once, on the way in) and numbers
are canonical strings (`numbers.canonical`), so equal numbers are equal
strings. Lists and sets may come back from storage as tuples (msgpack arrays
decode as tuples); every function here accepts either.

An item is a dict of attribute name to value. Checks follow DynamoDB's:
exactly one type per value, no empty or duplicated sets, NULL only `true`,
at most 32 levels of nesting, numbers within DynamoDB's limits.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kv.dynamodb import numbers
from kv.dynamodb.errors import invalid_params, serialization, validation

NESTING_DEPTH_MAX = 32
ITEM_SIZE_MAX = 400 * 1024
ATTRIBUTE_NAME_BYTES_MAX = 65535

SCALAR_TYPES = ("S", "N", "B")
SET_TYPES = ("SS", "NS", "BS")
ALL_TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
_TYPE_SET = frozenset(ALL_TYPES)

# What a set type is called in DynamoDB's "may not be empty" message (sic).
_SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


# -- in ------------------------------------------------------------------------------------------------


def _type_error(expected: str, got: Any) -> Exception:
    kind = {str: "STRING_VALUE", bool: "BOOLEAN_VALUE", list: "START_ARRAY", dict: "START_OBJECT"}.get(
        type(got), "NUMBER_VALUE" if isinstance(got, (int, float)) else "VALUE_NULL"
    )
    return serialization(f"{kind} cannot be converted to {expected}")


def from_wire(value: Any, depth: int = 1) -> AttributeValue:
    """Check one wire attribute value and return dsql's form of it."""
    if not isinstance(value, dict):
        raise serialization("Start of structure or map found where not expected")
    if len(value) != 1:
        known = [k for k in value if k in _TYPE_SET]
        if len(known) > 1:
            raise validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
            )
        raise validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    ((kind, body),) = value.items()
    if kind == "S":
        if not isinstance(body, str):
            raise _type_error("String", body)
        return value
    if kind == "N":
        if not isinstance(body, str):
            raise _type_error("String", body)
        return {"N": numbers.normalize(body)}
    if kind == "B":
        return {"B": _binary(body)}
    if kind == "BOOL":
        if not isinstance(body, bool):
            raise _type_error("Boolean", body)
        return value
    if kind == "NULL":
        if not isinstance(body, bool):
            raise _type_error("Boolean", body)
        if not body:
            raise invalid_params("Null attribute value types must have the value of true")
        return value
    if depth >= NESTING_DEPTH_MAX and kind in ("M", "L"):
        raise validation("Nesting Levels have exceeded supported limits")
    if kind == "M":
        if not isinstance(body, dict):
            raise _type_error("Map", body)
        return {"M": {name: from_wire(v, depth + 1) for name, v in body.items()}}
    if kind == "L":
        if not isinstance(body, list):
            raise _type_error("List", body)
        return {"L": [from_wire(v, depth + 1) for v in body]}
    if kind in SET_TYPES:
        if not isinstance(body, list):
            raise _type_error("List", body)
        if not body:
            raise invalid_params(f"An {_SET_NAMES[kind]} set  may not be empty")
        if kind == "SS":
            for s in body:
                if not isinstance(s, str):
                    raise _type_error("String", s)
            members = list(body)
        elif kind == "NS":
            members = [numbers.normalize(n) if isinstance(n, str) else _raise(_type_error("String", n)) for n in body]
        else:
            members = [_binary(b) for b in body]
        if len(set(members)) != len(members):
            raise invalid_params(f"Input collection {_show_collection(kind, body)} contains duplicates.")
        return {kind: members}
    raise validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")


def _raise(exc: Exception) -> Any:
    raise exc


def _show_collection(kind: str, body: list) -> str:
    return "[" + ", ".join(str(v) for v in body) + "]"


def _binary(body: Any) -> bytes:
    if not isinstance(body, str):
        raise _type_error("Blob", body)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise serialization(f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(body)}") from None


def check_attribute_name(name: str) -> str:
    """An attribute name: at most 65535 bytes (DynamoDB documents "64 KB" and refuses
    65536, as the Alternator suite's test_limits.py recorded)."""
    if len(name.encode()) > ATTRIBUTE_NAME_BYTES_MAX:
        raise validation(
            "One or more parameter values were invalid: Attribute name exceeds the maximum length of "
            f"{ATTRIBUTE_NAME_BYTES_MAX} bytes; attribute name: {name[:32]}..."
        )
    return name


def item_from_wire(item: Any, what: str = "Item") -> Item:
    if not isinstance(item, dict):
        raise serialization(f"Start of structure or map found where not expected ({what})")
    return {check_attribute_name(name): from_wire(v) for name, v in item.items()}


# -- out -----------------------------------------------------------------------------------------------


def to_wire(value: Mapping[str, Any]) -> dict[str, Any]:
    """dsql's form back to DynamoDB JSON (binary as base64, arrays as lists)."""
    ((kind, body),) = value.items()
    if kind in ("S", "N", "BOOL", "NULL"):
        return {kind: body}
    if kind == "B":
        return {"B": base64.b64encode(body).decode()}
    if kind == "M":
        return {"M": {name: to_wire(v) for name, v in body.items()}}
    if kind == "L":
        return {"L": [to_wire(v) for v in body]}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in body]}
    return {kind: list(body)}


def item_to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in item.items():
        ((kind, body),) = value.items()
        if kind in ("S", "N"):
            out[name] = value
        else:
            out[name] = to_wire(value)
    return out


# -- size ----------------------------------------------------------------------------------------------


def size(value: Mapping[str, Any]) -> int:
    """Bytes a value counts for in the 400 KB item limit (Developer Guide rules)."""
    ((kind, body),) = value.items()
    if kind == "S":
        return len(body.encode())
    if kind == "N":
        return numbers.size_bytes(body)
    if kind == "B":
        return len(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + size(v) + 1 for name, v in body.items())
    if kind == "L":
        return 3 + sum(size(v) + 1 for v in body)
    if kind == "SS":
        return sum(len(s.encode()) for s in body)
    if kind == "NS":
        return sum(numbers.size_bytes(n) for n in body)
    return sum(len(b) for b in body)


def item_size(item: Mapping[str, Any]) -> int:
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        ((kind, body),) = value.items()
        total += len(body.encode()) if kind == "S" else size(value)
    return total


# -- comparing -----------------------------------------------------------------------------------------


def kind_of(value: Mapping[str, Any]) -> str:
    return next(iter(value))


def equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """DynamoDB equality: same type and value; sets ignore order."""
    if a is None or b is None:
        return False
    ((ka, va),) = a.items()
    ((kb, vb),) = b.items()
    if ka != kb:
        return False
    if ka in SET_TYPES:
        return set(va) == set(vb)
    if ka == "M":
        return va.keys() == vb.keys() and all(equal(va[k], vb[k]) for k in va)
    if ka == "L":
        return len(va) == len(vb) and all(equal(x, y) for x, y in zip(va, vb, strict=True))
    if ka == "N":
        return va == vb  # canonical strings
    return va == vb


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    """-1/0/1 for two values of one scalar type (N, S or B); None if not comparable."""
    ((ka, va),) = a.items()
    ((kb, vb),) = b.items()
    if ka != kb or ka not in SCALAR_TYPES:
        return None
    if ka == "N":
        da, db = Decimal(va), Decimal(vb)
        return (da > db) - (da < db)
    if ka == "S":
        va, vb = va.encode(), vb.encode()  # UTF-8 byte order, as DynamoDB sorts strings
    return (va > vb) - (va < vb)


def describe(value: Mapping[str, Any]) -> str:
    """`{N:2}`-style text for error messages."""
    ((kind, body),) = value.items()
    return f"{{{kind}:{body}}}"
