"""Aggregates: result values and types of count/sum/avg/min/max,
string_agg/array_agg, bool and bit aggregates, the stddev/variance family
and json[b]_agg / json[b]_object_agg, compared with a live PostgreSQL
(SELECT agg(x) FROM (VALUES ...) t(x)).
"""

from __future__ import annotations

import pytest
from test_functions_harness import PG, aggregate, make_ctx, pg_aggregate, pg_fixture  # noqa: F401  (pg_fixture provides the "pg" fixture)

from qp.functions import resolve_aggregate
from qp.types import INT4, TEXT

AGGREGATES = [
 ("count(*)", ["1", "NULL::int"]), ("count(x)", ["1", "NULL::int"]),
 ("sum(x)", ["1", "2", "4", "NULL::int"]), ("avg(x)", ["1", "2", "4", "NULL::int"]),
 ("min(x)", ["1", "2", "4", "NULL::int"]), ("max(x)", ["1", "2", "4", "NULL::int"]),
 ("stddev(x)", ["1", "2", "4"]), ("variance(x)", ["1", "2", "4"]), ("var_pop(x)", ["1", "2", "4"]), ("stddev_pop(x)", ["1", "2", "4"]),
 ("sum(x)", ["1.5", "2.25", "4.0"]), ("avg(x)", ["1.5", "2.25", "4.0"]), ("stddev(x)", ["1.5", "2.25", "4.0"]), ("variance(x)", ["1.5", "2.25", "4.0"]),
 ("sum(x)", ["1.5::float8", "2.25", "4.0"]), ("avg(x)", ["1.5::float8", "2.25", "4.0"]), ("stddev(x)", ["1.5::float8", "2.25", "4.0"]),
 ("variance(x)", ["1.5::float8", "2.25", "4.0"]), ("var_pop(x)", ["1.5::float8", "2.25", "4.0"]),
 ("sum(x)", ["1::int8", "2"]), ("avg(x)", ["1::int8", "2"]),
 ("string_agg(x, ',')", ["'a'", "'b'", "NULL"]), ("array_agg(x)", ["'a'", "'b'", "NULL"]),
 ("json_agg(x)", ["'a'", "'b'", "NULL"]), ("jsonb_agg(x)", ["'a'", "'b'", "NULL"]),
 ("bool_and(x)", ["true", "false", "NULL::bool"]), ("bool_or(x)", ["true", "false"]), ("every(x)", ["true", "true"]),
 ("json_agg(x)", ["ARRAY[1,2]", "NULL"]), ("array_agg(x)", ["ARRAY[1,2]", "ARRAY[3,4]"]), ("array_agg(x)", ["ARRAY[1,2]", "NULL"]),
 ("min(x)", ["'a'::char(3)"]), ("sum(x)", ["2147483647", "1"]), ("sum(x)", ["1e308::float8", "1e308"]),
 ("avg(x)", ["'1 day'::interval", "'2 hours'"]), ("sum(x)", ["'1 day'::interval", "'2 hours'"]),
 ("variance(x)", ["1", "1"]), ("stddev(x)", ["1"]), ("sum(x)", ["1::float4", "2.5::float4"]), ("avg(x)", ["1::float4", "2.5::float4"]),
 ("bit_and(x)", ["12", "10"]), ("bit_or(x)", ["12", "10"]), ("bit_xor(x)", ["12", "10"]),
 ("min(x)", ["ARRAY[1,2]", "ARRAY[1]"]), ("max(x)", ["ARRAY[1,2]", "ARRAY[1]"]),
 ("avg(x)", ["1", "2", "2"]), ("sum(x)", ["'NaN'::numeric", "1"]), ("max(x)", ["'NaN'::numeric", "1"]), ("min(x)", ["'NaN'::float8", "1"]),
 ("max(x)", ["'2024-01-01'::date", "'2023-01-01'"]), ("min(x)", ["'b'", "'a'"]), ("max(x)", ["'1 day'::interval", "'25 hours'"]),
 ("jsonb_object_agg(x, 1)", ["'b'", "'a'"]), ("json_object_agg(x, 1)", ["'b'", "'a'"]), ("string_agg(x, '-')", ["'\\x01'::bytea", "'\\x02'"]),
 ("variance(x)", ["1.5::float4"]), ("stddev(x)", ["'NaN'::numeric", "1"]), ("avg(x)", ["1.5", "2.5"]), ("sum(x)", ["-1.50", "1.5"]),
 ("var_samp(x)", ["123456789012", "123456789013", "123456789014"]), ("stddev_samp(x)", ["0.1", "0.2", "0.35"]),
 ("avg(x)", ["9223372036854775807::int8", "9223372036854775807::int8"]), ("sum(x)", ["9223372036854775807::int8", "1"]),
 ("max(x)", ["'{\"a\":1}'::jsonb"]), ("min(x)", ["true"]),
]


@pytest.mark.parametrize("call,rows", AGGREGATES)
def test_aggregate_matches_postgres(pg: PG, call: str, rows: list) -> None:
    want = pg_aggregate(pg, call, rows)
    got = aggregate(call, rows)
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and got[1:] == want[1:]
    else:
        assert got == want


def test_accumulators_are_independent_per_group() -> None:
    ra = resolve_aggregate("sum", [INT4])
    a, b = ra.make(), ra.make()
    a.step(1)
    a.step(2)
    b.step(10)
    assert (a.final(), b.final()) == (3, 10)
    empty = ra.make()
    assert empty.final() is None


def test_count_and_string_agg_protocol() -> None:
    rc = resolve_aggregate("count", [], True)
    acc = rc.make(make_ctx())
    for _ in range(3):
        acc.step()
    assert acc.final() == 3 and not rc.strict
    rs = resolve_aggregate("string_agg", [TEXT, TEXT])
    assert not rs.strict
    acc = rs.make()
    acc.step("a", ",")
    acc.step(None, ",")
    acc.step("b", None)
    assert acc.final() == "ab"
