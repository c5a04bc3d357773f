"""PostgreSQL's data types as the engine uses them: identity and names
(core), text and binary I/O, casts and coercion, sort and grouping keys.

This package is a pure library (no session or storage state); the public
names below are the contract in CONTRACT.md.
"""

from qp.types.binary_io import binary_decoder, binary_encoder
from qp.types.casts import Cast, can_coerce, coerce_to_common, common_type, find_cast, typmod_coercion
from qp.types.core import (
    ANY,
    ANYARRAY,
    ANYCOMPATIBLE,
    ANYCOMPATIBLEARRAY,
    ANYCOMPATIBLENONARRAY,
    ANYELEMENT,
    ANYNONARRAY,
    BOOL,
    BPCHAR,
    BYTEA,
    CHAR,
    CSTRING,
    DATE,
    DATE_NEG_INF,
    DATE_POS_INF,
    FLOAT4,
    FLOAT8,
    INT2,
    INT2VECTOR,
    INT4,
    INT8,
    INTERNAL,
    INTERVAL,
    JSON,
    JSONB,
    JSONPATH,
    NAME,
    NUMERIC,
    OID,
    OIDVECTOR,
    RECORD,
    REGCLASS,
    REGNAMESPACE,
    REGPROC,
    REGPROCEDURE,
    REGROLE,
    REGTYPE,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    TRIGGER,
    TS_NEG_INF,
    TS_POS_INF,
    UNKNOWN,
    UUID,
    VARCHAR,
    VOID,
    Interval,
    SqlType,
    array_of,
    format_type,
    is_array,
    numeric_typmod,
    record_type,
    resolve_type_name,
    type_by_oid,
)
from qp.types.json import Jsonb
from qp.types.keys import group_key, sort_key
from qp.types.text_io import text_decoder, text_encoder, text_out, to_text

__all__ = [
    "ANY", "ANYARRAY", "ANYCOMPATIBLE", "ANYCOMPATIBLEARRAY", "ANYCOMPATIBLENONARRAY", "ANYELEMENT",
    "ANYNONARRAY", "BOOL", "BPCHAR", "BYTEA", "CHAR", "CSTRING", "DATE", "DATE_NEG_INF", "DATE_POS_INF",
    "FLOAT4", "FLOAT8", "INT2", "INT2VECTOR", "INT4", "INT8", "INTERNAL", "INTERVAL", "JSON", "JSONB", "JSONPATH",
    "NAME", "NUMERIC", "OID", "OIDVECTOR", "RECORD", "REGCLASS", "REGNAMESPACE", "REGPROC", "REGPROCEDURE", "REGROLE", "REGTYPE",
    "TEXT", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "TRIGGER", "TS_NEG_INF", "TS_POS_INF", "UNKNOWN", "UUID",
    "VARCHAR", "VOID", "Cast", "Interval", "Jsonb", "SqlType", "array_of", "binary_decoder",
    "binary_encoder", "can_coerce", "coerce_to_common", "common_type", "find_cast", "format_type",
    "group_key", "is_array", "numeric_typmod", "record_type", "resolve_type_name", "sort_key",
    "text_decoder", "text_encoder", "text_out", "to_text", "type_by_oid", "typmod_coercion",
]
