"""Overload resolution: the result type PostgreSQL picks for operator and
function calls (compared with pg_typeof on a live server), the 42883 /
42725 errors with PG's hints, polymorphic functions, and that every
registered signature exists in PostgreSQL's own catalog.
"""

from __future__ import annotations

import pytest
from test_functions_harness import PG, evaluate, pg_fixture, result_type  # noqa: F401  (pg_fixture provides the "pg" fixture)

import qp.pgcatalog.privileges  # noqa: F401  (registers the privilege functions: every registered one is checked)
from qp.errors import SqlError
from qp.functions import (
    AGGREGATES,
    FUNCTIONS,
    OPERATORS,
    is_aggregate,
    resolve_aggregate,
    resolve_function,
    resolve_operator,
)
from qp.types import INT4, INT8, NUMERIC, TEXT, UNKNOWN, format_type

RESULT_TYPES = [
    "round(1)", "round(1.5)", "1 + 1.5", "abs(-1)", "'1' + 1", "2 ^ 3", "2.0 ^ 3", "sqrt(4)", "trunc(1)",
    "1::int2 + 1::int2", "1::int2 + 1", "1::float4 + 1", "1::float4 + 1.5", "now() - interval '1 day'",
    "now() - '2020-01-01'", "date '2020-01-01' - '2019-01-01'", "date '2020-01-01' + 1", "1::int8 / 2",
    "1::int2 * 1::int8", "1 = 1::int8", "1.5::float4 * 1.5::float8", "-1", "-1.5", "@ -1::int2", "|/ 4",
    "5 % 2::numeric", "abs('1')", "'10' ~~ '1%'", "1 < '2'", "date_part('year', now())",
    "extract(year from now())", "log(10)", "log(2, 8)", "power(2, 3)", "mod(5, 3)", "floor(1.5)", "floor(1)",
    "'a' || 1", "1 || 'a'", "'a' || 'b'", "ARRAY[1] || 2", "ARRAY[1] || 2.5", "2.5 || ARRAY[1]",
    "ARRAY[1] || ARRAY[2::int8]", "array_append(ARRAY[1], 2.5)", "length('abc')", "substr('abc', 1)",
    "left('abc'::varchar, 1)", "upper('x'::varchar)", "coalesce(1, 2)", "date '2024-01-01' + time '10:00'",
    "timestamp '2024-01-01' - date '2023-01-01'", "interval '1 day' * 2", "2 * interval '1 day'",
    "time '10:00' - time '09:00'", "timestamp '2024-01-01' + interval '1 day'", "date '2024-01-01' + interval '1 h'",
    "'{\"a\":1}'::jsonb -> 'a'", "'{\"a\":1}'::jsonb ->> 'a'", "'{\"a\":1}'::json -> 'a'", "'[1]'::jsonb -> 0",
    "'{}'::jsonb || '{}'", "to_jsonb(1)", "to_json('a'::text)", "jsonb_build_object('a', 1)",
    "json_build_array(1)", "array_length(ARRAY[1], 1)", "unnest(ARRAY[1.5])", "generate_series(1, 2)",
    "generate_series(1::int8, 2)", "generate_series(1.5, 2)", "generate_series(now(), now(), '1 day')",
    "array_position(ARRAY['a'], 'a')", "string_to_array('a,b', ',')", "regexp_match('a', 'a')",
    "to_char(now(), 'YYYY')", "to_char(1.5, '9.9')", "to_char(1, '9')", "to_number('1', '9')", "age(now())",
    "date_trunc('day', now())", "date_trunc('day', timestamp '2024-01-01')", "make_interval(1)",
    "make_date(2024, 1, 1)", "justify_days(interval '1 day')", "gen_random_uuid()", "md5('a')",
    "encode('a'::bytea, 'hex')", "decode('61', 'hex')", "num_nulls(1, 2)", "concat('a', 1)", "format('%s', 1)",
    "quote_literal(1)", "width_bucket(1, ARRAY[1, 2])", "width_bucket(1.5, 0, 2, 4)", "gcd(1, 2)", "gcd(1, 2::int8)",
    "factorial(5)", "div(5, 2)", "scale(1.5)", "'a' ~ 'b'", "'a'::char(2) ~ 'a'", "'a'::name ~~ 'a'",
    "1::int8 << 2", "1::int2 # 1::int2", "~1", "||/ 8", "'1 day'::interval / 2", "ARRAY[1] @> ARRAY[1]",
    "'a' = 'b'", "'a'::varchar = 'b'", "'a'::char(1) = 'b'::varchar", "1.5::float4 = 1.5", "int4('12')",
    "text(12)", "float8(1)", "date('2024-01-01 10:00'::timestamp)", "bool('t')",
]


def _pg_type_name(t) -> str:
    # regtype's output (what pg_typeof prints) drops typmods; bpchar prints as "character"
    name = format_type(t.base)
    return "character" if name == "bpchar" else name


@pytest.mark.parametrize("expr", RESULT_TYPES)
def test_result_type_matches_postgres(pg: PG, expr: str) -> None:
    want = pg.value(f"pg_typeof({expr})")
    if isinstance(want, list):
        want = want[0]
    assert _pg_type_name(result_type(expr)) == want


ERRORS = [
    "length(1)", "'1' + '2'", "1 ! 2", "1 + 'a'", "- '1'", "'a' + 1", "nosuch(1)", "abs()", "concat()",
    "substr(1, 2)", "ARRAY[1] = ARRAY[1::int8]", "1 = 'a'::text", "now() + now()", "'a' || ARRAY[1]",
    "'{}'::jsonb @> 'x'", "date '2024-01-01' + 1.5", "jsonb_extract_path('{}', 1)",
    "round(1.5, 1.5)", "array_append(ARRAY[1], 'x')",
]


@pytest.mark.parametrize("expr", ERRORS)
def test_resolution_errors_match_postgres(pg: PG, expr: str) -> None:
    want = pg.value(expr)
    assert isinstance(want, tuple), want
    assert evaluate(expr) == want


def test_hints() -> None:
    with pytest.raises(SqlError) as e:
        resolve_function("length", [INT4])
    assert e.value.hint == ("No function matches the given name and argument types. You might need to add "
                            "explicit type casts.")
    with pytest.raises(SqlError) as e:
        resolve_operator("+", UNKNOWN, UNKNOWN)
    assert e.value.sqlstate == "42725"
    assert e.value.hint == ("Could not choose a best candidate operator. You might need to add explicit "
                            "type casts.")
    with pytest.raises(SqlError) as e:
        resolve_operator("+", INT4, TEXT)
    assert e.value.hint == ("No operator matches the given name and argument types. You might need to add "
                            "explicit type casts.")


def test_resolved_shape() -> None:
    r = resolve_operator("+", INT4, NUMERIC)
    assert r.arg_types == [NUMERIC, NUMERIC] and r.return_type == NUMERIC and r.strict
    assert r.volatility == "i" and not r.needs_context and not r.returns_set
    r = resolve_operator("!=", INT4, INT8)
    assert r.impl(1, 2) is True
    r = resolve_function("now", [])
    assert r.needs_context and r.volatility == "s"
    r = resolve_function("random", [])
    assert r.volatility == "v"
    r = resolve_function("generate_series", [INT4, INT4])
    assert r.returns_set and list(r.impl(1, 3)) == [1, 2, 3]
    r = resolve_function("concat", [UNKNOWN, INT4])
    assert not r.strict and r.arg_types == [UNKNOWN, INT4]
    r = resolve_function("jsonb_each", [UNKNOWN])
    assert [n for n, _ in r.return_type.fields] == ["key", "value"]


def test_aggregate_resolution() -> None:
    assert is_aggregate("sum") and is_aggregate("COUNT") and not is_aggregate("abs")
    ra = resolve_aggregate("count", [], True)
    assert format_type(ra.return_type) == "bigint"
    for arg, want in ((INT4, "bigint"), (INT8, "numeric"), (NUMERIC, "numeric")):
        assert format_type(resolve_aggregate("sum", [arg]).return_type) == want
    assert format_type(resolve_aggregate("avg", [INT4]).return_type) == "numeric"
    assert format_type(resolve_aggregate("array_agg", [TEXT]).return_type) == "text[]"
    assert format_type(resolve_aggregate("max", [UNKNOWN]).return_type) == "text"
    with pytest.raises(SqlError) as e:
        resolve_aggregate("sum", [TEXT])
    assert e.value.message == "function sum(text) does not exist"
    with pytest.raises(SqlError) as e:
        resolve_aggregate("sum", [], True)
    assert e.value.message == "sum(*) must be used to call a parameterless aggregate function"
    with pytest.raises(SqlError) as e:
        resolve_function("sum", [INT4])
    assert e.value.sqlstate == "42809"


# Registered on purpose although PostgreSQL's pg_proc has no such entry:
# SQL-standard value functions the grammar turns into calls, and PG 16
# additions missing from the PG 15 server the tests run against.
NOT_IN_PG15_CATALOG = {"current_timestamp", "current_date", "localtimestamp", "localtime", "current_user",
                       "session_user", "current_schema", "random_normal"}


# Signatures dsql spells with a stand-in type: it has no aclitem type and shows ACLs
# (relacl, proacl...) as text[], so aclexplode takes text[] where PostgreSQL's takes aclitem[].
STAND_INS = {("aclexplode", "text[]"): "aclitem[]"}


def _pg_sig(t) -> str:
    name = format_type(t.base)
    return {"bpchar": "character", "any": '"any"', "char": '"char"'}.get(name, name)


def test_functions_exist_in_postgres_catalog(pg: PG) -> None:
    rows = pg.query("SELECT proname, array_to_string(proargtypes::regtype[], ','), pronargdefaults FROM pg_proc "
                    "WHERE pronamespace = 'pg_catalog'::regnamespace")
    catalog = set()
    for n, a, ndef in rows:
        args = a.split(",") if a else []
        for k in range(int(ndef) + 1):  # a call may leave out parameters that have defaults
            catalog.add((n, ",".join(args[:len(args) - k])))
    names = {n for n, _, _ in rows}
    missing = []
    for name, defs in FUNCTIONS.items():
        if name in NOT_IN_PG15_CATALOG:
            continue
        assert name in names, name
        for fd in defs:
            sig = ",".join(_pg_sig(t) for t in fd.args)
            sig = STAND_INS.get((name, sig), sig)
            if (name, sig) not in catalog:
                missing.append(f"{name}({sig})")
    assert not missing, missing


def test_operators_exist_in_postgres_catalog(pg: PG) -> None:
    rows = pg.query("SELECT oprname, oprkind, coalesce(oprleft::regtype::text, ''), oprright::regtype::text, "
                    "oprresult::regtype::text FROM pg_operator")
    catalog = {(n, k, "" if left == "-" else left, r, res) for n, k, left, r, res in rows}
    missing = []
    for (name, kind), defs in OPERATORS.items():
        for fd in defs:
            left = "" if kind == "l" else _pg_sig(fd.args[0])
            right = _pg_sig(fd.args[-1])
            if (name, kind, left, right, _pg_sig(fd.ret)) not in catalog:
                missing.append(f"{left} {name} {right}")
    assert not missing, missing


def test_aggregates_exist_in_postgres_catalog(pg: PG) -> None:
    rows = pg.query("SELECT proname, array_to_string(proargtypes::regtype[], ','), prorettype::regtype::text "
                    "FROM pg_proc WHERE prokind = 'a'")
    catalog = {(n, a, r) for n, a, r in rows}
    missing = [f"{name}({','.join(_pg_sig(t) for t in ad.args)})" for name, defs in AGGREGATES.items()
               for ad in defs
               if (name, ",".join(_pg_sig(t) for t in ad.args), _pg_sig(ad.ret)) not in catalog]
    assert not missing, missing
