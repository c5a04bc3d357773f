"""Text and binary I/O of every type: output byte for byte as PostgreSQL
prints it, input as PostgreSQL reads it (with typmods and PG's errors),
and the binary send/recv formats, compared with a live PostgreSQL.
"""

from __future__ import annotations

import math
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_functions_harness import PG, assert_same, evaluate, evaluate_value, make_ctx, pg_fixture  # noqa: F401

from qp.errors import SqlError
from qp.types import (
    BOOL,
    BPCHAR,
    BYTEA,
    CHAR,
    DATE,
    FLOAT4,
    FLOAT8,
    INT2,
    INT2VECTOR,
    INT4,
    INT8,
    INTERVAL,
    JSON,
    JSONB,
    NAME,
    NUMERIC,
    OID,
    OIDVECTOR,
    REGCLASS,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    UUID,
    VARCHAR,
    Interval,
    array_of,
    binary_decoder,
    binary_encoder,
    record_type,
    resolve_type_name,
    text_decoder,
    text_encoder,
    to_text,
)

TEXT_IO = [
    "true", "false", "'yes'::bool", "' tRuE '::bool", "'of'::bool", "'y'::bool", "'0'::bool", "'tr'::bool",
    "'o'::bool", "'maybe'::bool", "''::bool",
    "'\\x0102'::bytea", "'abc\\000'::bytea", "E'\\\\001abc\\\\\\\\'::bytea", "'é'::bytea", "'\\x01 02'::bytea",
    "'\\x0'::bytea", "'\\xzz'::bytea", "'\\\\'::bytea", "'a\\'::bytea", "''::bytea",
    "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid", "'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11'::uuid",
    "'A0EEBC999C0B4EF8BB6D6BB9BD380A11'::uuid", "'a0eebc99-9c0b'::uuid", "'a0eebc999c0b4ef8bb6d6bb9bd380a11a'::uuid",
    "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    "'é'::\"char\"", "'ab'::\"char\"", "''::\"char\"::text", "'\\101'::\"char\"", "'a'::\"char\"::int",
    "repeat('x', 70)::name", "repeat('é', 40)::name", "'abc'::name",
    "'abc  '::varchar(3)", "'abcd'::varchar(3)", "'ab'::char(4)", "'abc'::char(2)", "'ab'::char(4)::text",
    "'ab'::char(4)::varchar", "'ab  '::text::char(2)", "'x'::char", "'xy'::char",
    "123::oid", "'-1'::oid", "'4294967296'::oid", "'abc'::oid",
    "'[1, 2]'::json", "' {\"a\" : 1} '::json", "'{\"a\":1,\"a\":2}'::json", "'[1,'::json", "'{\"a\":1}'::json::text",
    "'abc'::text", "''::text", "'  '::varchar", "U&'\\0041'", "E'a\\tb'",
    "1::int2", "-32768::int2", "'  -32768  '::int2", "'32768'::int2", "'1.0'::int4", "'+5'::int8", "''::int4",
    "' '::int8", "'-'::int4", "'12abc'::int4",
    "'1.5'::numeric", "'  .5  '::numeric", "'5.'::numeric", "'1e-3'::numeric", "'1E+2'::numeric", "'.'::numeric",
    "'e5'::numeric", "'1e'::numeric", "'-nan'::numeric", "'+inf'::numeric", "'1.50'::numeric(3,2)",
    "'1.555'::numeric(3,2)", "'10.5'::numeric(3,2)", "'12345678901234567890.12345678901234567890'::numeric",
    "'0.000000000000000000001'::numeric", "'1e100'::numeric", "'-0.0'::numeric(3,1)",
    "'1.5'::float8", "'.5'::float8", "'5.'::float8", "'1e5'::float4", "'-0'::float4", "'1e39'::float4",
    "'1e-46'::float4", "'infinity'::float8", "'-INF'::float4", "'nan'::float8", "'1.7976931348623157e308'::float8",
    "'1.8e308'::float8", "'4.9e-324'::float8", "'2.5e-324'::float8", "'0.1'::float4::float8",
    "'16777217'::float4", "123456789::float4", "1e-45::float4", "3.4028235e38::float4",
    # reg* types without a catalog: built-in type names, well-known schemas, '-' for 0
    "pg_typeof(1)", "pg_typeof('a'::char(2))", "pg_typeof(ARRAY['a'::char])", "pg_typeof(now())",
    "pg_typeof('x')", "pg_typeof(NULL::interval[])", "'int4'::regtype", "'character varying(10)'::regtype",
    "'\"char\"'::regtype", "'text[]'::regtype", "'pg_catalog.int8'::regtype", "0::regtype", "'nosuch'::regtype",
    "'public'::regnamespace", "11::regnamespace", "0::regclass", "1259::regclass::oid", "'23'::regtype",
    "pg_typeof(1)::text", "pg_typeof(1)::oid",
    # digits that are not ASCII ones (Arabic-Indic three and four): PostgreSQL reads none of them
    "'\u0663'::int4", "'\u0663\u0664'::int8", "'\u0663.5'::numeric", "'1e\u0663'::numeric",
    "'\u0663'::float8", "'\u0663'::float4", "'\u0662\u0660\u0662\u0664-01-01'::date",
    "'2024-01-01 \u0661\u0662:00'::timestamp", "'\u0663 days'::interval", "'[\u0661:1]={5}'::int[]",
]


@pytest.mark.parametrize("expr", TEXT_IO)
def test_text_io_matches_postgres(pg: PG, expr: str) -> None:
    assert_same(pg, expr)


BINARY = [
    "true", "false", "1::int2", "-2::int4", "9223372036854775807::int8", "4294967295::oid", "1.5::float4",
    "-1.5e300::float8", "'nan'::float8", "'-inf'::float4", "0::numeric", "1.50::numeric", "-12345.678900",
    "0.0001", "1e20::numeric", "123456789012345678901234567890.000001", "'NaN'::numeric",
    "'Infinity'::numeric", "'-Infinity'::numeric", "0.00::numeric", "10000::numeric", "0.1::numeric(10,4)",
    "'abc'::text", "'é'::varchar", "'ab'::char(4)", "'x'::name", "'a'::\"char\"",
    "'\\x00ff'::bytea", "''::bytea", "'2024-01-31'::date", "'infinity'::date", "'0044-03-15 BC'::date",
    "'12:34:56.5'::time", "'2024-01-31 12:34:56.5'::timestamp", "'-infinity'::timestamp",
    "'2024-01-31 12:34:56.5+02'::timestamptz", "'1 year 2 mons -3 days 04:05:06.5'::interval",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "'{\"b\": [1, 2.50], \"a\": null}'::jsonb",
    "'{\"b\": 1}'::json", "ARRAY[1,2,3]", "ARRAY[1,NULL]", "'{}'::int[]", "ARRAY[[1,2],[3,4]]",
    "ARRAY['a','b c']", "ARRAY[1.5, NULL]::numeric[]", "ARRAY['2024-01-01'::date]", "ARRAY[true]",
    "ARRAY['{\"a\":1}'::jsonb]", "ARRAY[[NULL::text]]", "'1 2 3'::int2vector", "'1 2'::oidvector",
]


def _typed(expr: str) -> tuple:
    v = evaluate_value(expr, make_ctx())
    return v.t, v.v


@pytest.mark.parametrize("expr", BINARY)
def test_binary_send_matches_postgres(pg: PG, expr: str) -> None:
    t, v = _typed(expr)
    assert binary_encoder(t)(v) == pg.binary(expr)


@pytest.mark.parametrize("expr", BINARY)
def test_binary_recv_reads_postgres(pg: PG, expr: str) -> None:
    t, _ = _typed(expr)
    got = binary_decoder(t)(pg.binary(expr))
    assert text_encoder(t, make_ctx())(got).decode() == pg.value(expr)


def test_binary_recv_applies_typmod() -> None:
    v3 = resolve_type_name(["varchar"], [3])
    assert binary_decoder(v3)(b"abc") == "abc"
    with pytest.raises(SqlError) as e:
        binary_decoder(v3)(b"abcd")
    assert e.value.sqlstate == "22001"
    n = resolve_type_name(["numeric"], [4, 1])
    assert binary_decoder(n)(binary_encoder(NUMERIC)(Decimal("1.25"))) == Decimal("1.3")
    assert binary_decoder(resolve_type_name(["bpchar"], [3]))(b"a") == "a  "


def test_binary_recv_errors() -> None:
    with pytest.raises(SqlError) as e:
        binary_decoder(INT4)(b"\x00\x01")
    assert e.value.sqlstate == "08P01"
    with pytest.raises(SqlError) as e:
        binary_decoder(array_of(INT4))(b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x14\x00\x00\x00\x01"
                                       b"\x00\x00\x00\x01\x00\x00\x00\x08" + b"\x00" * 8)
    assert e.value.sqlstate == "42804"
    with pytest.raises(SqlError):
        binary_decoder(JSONB)(b"\x02{}")
    with pytest.raises(SqlError):
        binary_decoder(NUMERIC)(b"\x00\x01\x00\x00\x00\x00\x00\x00\x27\x10")  # digit 10000


TYPMOD_INPUT = [
    (["varchar"], [3], "abc", "abc"),
    (["varchar"], [3], "ab ", "ab "),
    (["varchar"], [3], "abc   ", "abc"),
    (["bpchar"], [4], "ab", "ab  "),
    (["bpchar"], [2], "ab   ", "ab"),
    (["numeric"], [5, 2], "1.005", "1.01"),
    (["numeric"], [5, 2], "-1.005", "-1.01"),
    (["numeric"], [3, 0], "999.4", "999"),
    (["numeric"], [4, -2], "123456", "123500"),
    (["numeric"], [4, -2], "1234567", None),
    (["numeric"], [4, -2], "12345", "12300"),
    (["timestamp"], [0], "2024-01-31 12:34:56.5", "2024-01-31 12:34:57"),
    (["timestamp"], [2], "2024-01-31 12:34:56.125", "2024-01-31 12:34:56.13"),
    (["time"], [1], "12:34:56.25", "12:34:56.3"),
    (["interval"], [4], "1 year 2 mons 3 days", "1 year"),
    (["interval"], [0x7FFF, 0], "1.5 seconds", "00:00:02"),
]


@pytest.mark.parametrize("names,mods,text,want", TYPMOD_INPUT)
def test_input_applies_typmod(names: list, mods: list, text: str, want: str | None) -> None:
    t = resolve_type_name(names, mods)
    ctx = make_ctx()
    if want is None:
        with pytest.raises(SqlError) as e:
            text_decoder(t, ctx)(text)
        assert e.value.sqlstate == "22003"
        assert e.value.message == "numeric field overflow"
        assert e.value.detail == "A field with precision 4, scale -2 must round to an absolute value less than 10^6."
        return
    assert text_encoder(t, ctx)(text_decoder(t, ctx)(text)).decode() == want


def test_varchar_input_too_long() -> None:
    t = resolve_type_name(["varchar"], [3])
    with pytest.raises(SqlError) as e:
        text_decoder(t)("abcd")
    assert (e.value.sqlstate, e.value.message) == ("22001", "value too long for type character varying(3)")
    t = resolve_type_name(["bpchar"], [2])
    with pytest.raises(SqlError) as e:
        text_decoder(t)("abc")
    assert (e.value.sqlstate, e.value.message) == ("22001", "value too long for type character(2)")


def test_numeric_typmod_errors_have_pg_detail() -> None:
    t = resolve_type_name(["numeric"], [5, 2])
    with pytest.raises(SqlError) as e:
        text_decoder(t)("1000")
    assert e.value.detail == "A field with precision 5, scale 2 must round to an absolute value less than 10^3."
    t = resolve_type_name(["numeric"], [2, 2])
    with pytest.raises(SqlError) as e:
        text_decoder(t)("1")
    assert e.value.detail == "A field with precision 2, scale 2 must round to an absolute value less than 1."
    with pytest.raises(SqlError) as e:
        text_decoder(t)("Infinity")
    assert e.value.detail == "A field with precision 2, scale 2 cannot hold an infinite value."


def test_encoders_are_trivial_for_hot_types() -> None:
    # ints and text go straight to C-level callables; bool to a dict lookup
    assert text_encoder(INT4)(12) == b"12"
    assert text_encoder(INT8)(-(2**63)) == b"-9223372036854775808"
    assert text_encoder(TEXT) is str.encode
    assert text_encoder(BOOL)(True) == b"t" and text_encoder(BOOL)(False) == b"f"


def test_to_text_and_other_types() -> None:
    ctx = make_ctx("Asia/Kolkata")
    assert to_text(TIMESTAMPTZ, 0, ctx) == "2000-01-01 05:30:00+05:30"
    assert to_text(INTERVAL, Interval(-1, 0, 0)) == "-1 mons"
    assert to_text(UUID, uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert to_text(REGCLASS, 1259) == "1259"
    assert to_text(INT2VECTOR, [1, 2]) == "1 2"
    assert to_text(OIDVECTOR, []) == ""
    assert to_text(CHAR, "\x80") == "\\200"
    assert to_text(record_type([("a", INT4), ("b", TEXT)]), (1, "x y")) == '(1,"x y")'
    assert to_text(record_type([("a", TEXT), ("b", TEXT)]), ("", None)) == '("",)'
    assert to_text(array_of(BYTEA), [b"\x01"]) == '{"\\\\x01"}'
    assert to_text(array_of(JSON), ['{"a": 1}']) == '{"{\\"a\\": 1}"}'
    assert to_text(array_of(VARCHAR), ["NULL", None]) == '{"NULL",NULL}'
    assert text_decoder(INT2VECTOR)("1 2  3") == [1, 2, 3]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float8_output_round_trips(x: float) -> None:
    s = text_encoder(FLOAT8, make_ctx())(x).decode()
    assert float(s) == x
    assert text_decoder(FLOAT8)(s) == x


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float4_output_round_trips(x: float) -> None:
    s = text_encoder(FLOAT4, make_ctx())(x).decode()
    assert text_decoder(FLOAT4)(s) == x


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**40), 10**40), st.integers(0, 30))
def test_numeric_text_and_binary_round_trip(mantissa: int, scale: int) -> None:
    d = Decimal(mantissa).scaleb(-scale)
    s = text_encoder(NUMERIC)(d).decode()
    assert text_decoder(NUMERIC)(s) == d
    back = binary_decoder(NUMERIC)(binary_encoder(NUMERIC)(d))
    assert back == d and text_encoder(NUMERIC)(back) == s.encode()


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_int8_round_trip(n: int) -> None:
    assert text_decoder(INT8)(text_encoder(INT8)(n).decode()) == n
    assert binary_decoder(INT8)(binary_encoder(INT8)(n)) == n


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)),
                max_size=6))
def test_text_array_round_trip(items: list) -> None:
    t = array_of(TEXT)
    s = text_encoder(t)(items).decode()
    assert text_decoder(t)(s) == items
    assert binary_decoder(t)(binary_encoder(t)(items)) == items


def test_misc_decoders() -> None:
    assert text_decoder(DATE)("2024-02-29") == 8825
    assert text_decoder(TIME)("24:00") == 86_400_000_000
    assert text_decoder(TIMESTAMP)("2000-01-01") == 0
    assert text_decoder(NAME)("x" * 70) == "x" * 63
    assert text_decoder(BPCHAR)("ab ") == "ab "
    assert text_decoder(OID)("-1") == 4294967295
    assert math.isnan(text_decoder(FLOAT8)("NaN"))
    assert text_decoder(INT2)("-32768") == -32768
    with pytest.raises(SqlError):
        text_decoder(REGCLASS)("pg_class")


def test_evaluate_smoke() -> None:
    assert evaluate("'1'::int2") == "1"
