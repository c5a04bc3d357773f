"""json_to_record, json_to_recordset, jsonb_to_record, jsonb_to_recordset.

They return `record`: the row's shape comes from the column definition list
of the FROM item (`AS t(a int, b text)`), which only the binder sees. So the
registered functions yield each object as a dict of key -> JSON text, and the
binder wraps them with `row_builder(columns)`, which converts each field as
PostgreSQL's populate_record does: a missing key or JSON null is NULL; a JSON
string goes through the column type's input function unquoted; a JSON array
fills an array column (nested arrays are dimensions); anything else is its
JSON text given to the input function (so an object read as text is its text,
and read as an integer is an input syntax error). For json input the texts are
slices of the original (spacing kept), for jsonb its output form.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.json_text import json_members
from qp.functions.registry import register_function
from qp.types import core as C
from qp.types.core import JSON, JSONB, RECORD, SqlType
from qp.types.json import Jsonb, jsonb_out
from qp.types.text_io import text_decoder

RECORD_FUNCTIONS = frozenset({"json_to_record", "json_to_recordset", "jsonb_to_record", "jsonb_to_recordset"})


def _json_object(name: str, raw: str, of_set: bool) -> dict[str, str]:
    kind, members = json_members(raw)
    if kind != "object":
        if of_set:
            raise SqlError("22023", f"argument of {name} must be an array of objects")
        raise SqlError(
            "22023", f"cannot call populate_composite on {'an array' if kind == 'array' else 'a scalar'}"
        )
    return {key: text for key, text in members if key is not None}  # the last of duplicate keys wins


def _jsonb_object(name: str, value: Any, of_set: bool) -> dict[str, str]:
    if type(value) is not dict:
        if of_set:
            raise SqlError("22023", f"argument of {name} must be an array of objects")
        raise SqlError(
            "22023", f"cannot call populate_composite on {'an array' if type(value) is list else 'a scalar'}"
        )
    return {key: jsonb_out(v) for key, v in value.items()}


def json_to_record(raw: str) -> Iterator[dict[str, str]]:
    yield _json_object("json_to_record", raw, False)


def json_to_recordset(raw: str) -> Iterator[dict[str, str]]:
    kind, members = json_members(raw)
    if kind != "array":
        raise SqlError(
            "22023", f"cannot call json_to_recordset on {'an object' if kind == 'object' else 'a scalar'}"
        )
    for _, text in members:
        yield _json_object("json_to_recordset", text, True)


def jsonb_to_record(value: Jsonb) -> Iterator[dict[str, str]]:
    yield _jsonb_object("jsonb_to_record", value.value, False)


def jsonb_to_recordset(value: Jsonb) -> Iterator[dict[str, str]]:
    items = value.value
    if type(items) is not list:
        kind = "an object" if type(items) is dict else "a scalar"
        raise SqlError("22023", f"cannot call jsonb_to_recordset on {kind}")
    for item in items:
        yield _jsonb_object("jsonb_to_recordset", item, True)


register_function("json_to_record", [JSON], RECORD, json_to_record, srf=True, volatility="s")
register_function("json_to_recordset", [JSON], RECORD, json_to_recordset, srf=True, volatility="s")
register_function("jsonb_to_record", [JSONB], RECORD, jsonb_to_record, srf=True, volatility="s")
register_function("jsonb_to_recordset", [JSONB], RECORD, jsonb_to_recordset, srf=True, volatility="s")


def _field_converter(t: SqlType) -> Callable[[str], Any]:
    if t.oid == JSON.oid:
        return lambda text: text
    parse = text_decoder(t)
    if t.is_array:
        assert t.elem is not None
        element = _field_converter(t.elem)
        typename = C.format_type(t)

        def array(text: str) -> Any:
            if not text.startswith("["):
                return parse(_json.loads(text) if text.startswith('"') else text)
            return _populate_array(
                _json.loads(text, parse_float=Decimal, parse_int=Decimal), element, typename
            )

        return array

    def scalar(text: str) -> Any:
        return parse(_json.loads(text) if text.startswith('"') and t.oid != JSONB.oid else text)

    return scalar


def _populate_array(value: list, element: Callable[[str], Any], typename: str) -> list:
    """A JSON array as an array value: nested arrays are dimensions, and must be regular."""

    def convert(v: Any) -> Any:
        if isinstance(v, list):
            return [convert(x) for x in v]
        if v is None:
            return None
        return element(_json.dumps(v) if isinstance(v, str) else jsonb_out(v))

    result = [convert(v) for v in value]
    if any(isinstance(v, list) for v in result) and not _regular(result):
        raise SqlError("22P02", f"malformed JSON array for type {typename}")
    return result


def _regular(value: list) -> bool:
    kinds = {isinstance(v, list) for v in value}
    if len(kinds) > 1:
        return False
    if kinds == {True}:
        lengths = {len(v) for v in value}
        return len(lengths) == 1 and all(_regular(v) for v in value)
    return True


def row_builder(columns: list[tuple[str, SqlType]]) -> Callable[[dict[str, str]], tuple]:
    """An object's fields (key -> JSON text) as a row of the column definition list."""
    converters = [(name, _field_converter(t)) for name, t in columns]

    def build(fields: dict[str, str]) -> tuple:
        row = []
        for name, convert in converters:
            text = fields.get(name)
            row.append(None if text is None or text == "null" else convert(text))
        return tuple(row)

    return build
