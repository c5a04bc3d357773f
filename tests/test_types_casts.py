"""Type identity and coercion: type-name resolution, format_type, pg_cast
contexts (implicit/assignment/explicit), typmod coercion on casts,
select_common_type for CASE/COALESCE/UNION, and the sort/group keys.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from test_functions_harness import PG, assert_same, make_ctx, pg_fixture  # noqa: F401  (pg_fixture provides the "pg" fixture)

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
    INT4,
    INT8,
    INTERVAL,
    JSON,
    JSONB,
    NAME,
    NUMERIC,
    OID,
    REGCLASS,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    UNKNOWN,
    UUID,
    VARCHAR,
    Interval,
    Jsonb,
    SqlType,
    array_of,
    can_coerce,
    common_type,
    find_cast,
    format_type,
    group_key,
    resolve_type_name,
    sort_key,
    type_by_oid,
)

TYPE_NAMES = [
    (["pg_catalog", "int4"], [], 0, "integer"),
    (["integer"], [], 0, "integer"),
    (["int"], [], 0, "integer"),
    (["bigint"], [], 0, "bigint"),
    (["smallint"], [], 0, "smallint"),
    (["double precision"], [], 0, "double precision"),
    (["float"], [], 0, "double precision"),
    (["float"], [24], 0, "real"),
    (["float"], [25], 0, "double precision"),
    (["real"], [], 0, "real"),
    (["character varying"], [10], 0, "character varying(10)"),
    (["varchar"], [], 0, "character varying"),
    (["pg_catalog", "bpchar"], [1], 0, "character(1)"),
    (["bpchar"], [], 0, "bpchar"),
    (["character"], [5], 0, "character(5)"),
    (["char"], [], 0, '"char"'),
    (['"char"'], [], 0, '"char"'),
    (["timestamp with time zone"], [], 0, "timestamp with time zone"),
    (["timestamptz"], [3], 0, "timestamp(3) with time zone"),
    (["timestamp"], [0], 0, "timestamp(0) without time zone"),
    (["time"], [2], 0, "time(2) without time zone"),
    (["decimal"], [10, 2], 0, "numeric(10,2)"),
    (["numeric"], [10, -2], 0, "numeric(10,-2)"),
    (["numeric"], [5], 0, "numeric(5,0)"),
    (["bool"], [], 0, "boolean"),
    (["boolean"], [], 0, "boolean"),
    (["text[]"], [], 0, "text[]"),
    (["text"], [], 2, "text[]"),
    (["varchar"], [3], 1, "character varying(3)[]"),
    (["interval"], [4], 0, "interval year"),
    (["interval"], [0x7FFF, 3], 0, "interval(3)"),
    (["interval"], [(1 << 10) | (1 << 11) | (1 << 12), 2], 0, "interval hour to second(2)"),
    (["interval day to second(2)"], [], 0, "interval day to second(2)"),
    (["jsonb"], [], 0, "jsonb"),
    (["uuid"], [], 0, "uuid"),
    (["regclass"], [], 0, "regclass"),
    (["oidvector"], [], 0, "oidvector"),
    (["name"], [], 0, "name"),
    (["bytea"], [], 0, "bytea"),
    (["public", "int4"], [], 0, "integer"),
]


@pytest.mark.parametrize("names,mods,dims,want", TYPE_NAMES)
def test_resolve_type_name_and_format_type(names: list, mods: list, dims: int, want: str) -> None:
    assert format_type(resolve_type_name(names, mods, dims)) == want


def test_type_name_errors() -> None:
    with pytest.raises(SqlError) as e:
        resolve_type_name(["nosuchtype"], [], 0)
    assert (e.value.sqlstate, e.value.message) == ("42704", 'type "nosuchtype" does not exist')
    with pytest.raises(SqlError) as e:
        resolve_type_name(["varchar"], [0], 0)
    assert e.value.message == "length for type varchar must be at least 1"
    with pytest.raises(SqlError) as e:
        resolve_type_name(["numeric"], [1001], 0)
    assert e.value.message == "NUMERIC precision 1001 must be between 1 and 1000"
    with pytest.raises(SqlError):
        resolve_type_name(["text"], [3], 0)


def test_format_type_matches_postgres(pg: PG) -> None:
    cases = [(1043, 14), (1042, -1), (1042, 5), (1114, 3), (1186, (2 << 16) | 65535), (1186, (32767 << 16) | 3),
             (1700, ((10 << 16) | 2) + 4), (1015, 14), (18, -1), (2249, -1), (1083, 2), (1184, -1), (30, -1),
             (705, -1), (1700, ((10 << 16) | (2047 & -2)) + 4), (1007, -1), (16, -1), (3802, -1), (1186, -1)]
    for oid, mod in cases:
        t = type_by_oid(oid).with_typmod(mod)
        assert format_type(t) == pg.value(f"format_type({oid}, {mod})"), (oid, mod)


def test_type_facts_match_pg_type(pg: PG) -> None:
    for t in (BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID, JSON, FLOAT4, FLOAT8, UNKNOWN, BPCHAR,
              VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID, JSONB, REGCLASS):
        row = pg.query(f"SELECT typname, typlen, typcategory, typispreferred, typarray FROM pg_type "
                       f"WHERE oid = {t.oid}")[0]
        assert row == (t.name, str(t.typlen), t.category, "t" if t.preferred else "f", str(t.array_oid)), t
        if t.array_oid:
            a = array_of(t)
            assert a.oid == t.array_oid and a.category == "A" and a.elem == t
            assert type_by_oid(a.oid) == a


CASTS = [
    (INT4, INT8, "implicit", True), (INT8, INT4, "implicit", False), (INT8, INT4, "assignment", True),
    (INT4, NUMERIC, "implicit", True), (NUMERIC, FLOAT8, "implicit", True), (FLOAT8, NUMERIC, "implicit", False),
    (FLOAT8, NUMERIC, "assignment", True), (INT4, TEXT, "implicit", False), (INT4, TEXT, "assignment", True),
    (TEXT, INT4, "assignment", False), (TEXT, INT4, "explicit", True), (INT4, BOOL, "assignment", False),
    (INT4, BOOL, "explicit", True), (BOOL, INT4, "explicit", True), (BOOL, TEXT, "assignment", True),
    (DATE, TIMESTAMP, "implicit", True), (TIMESTAMP, DATE, "implicit", False), (TIMESTAMPTZ, TIMESTAMP, "assignment", True),
    (TIMESTAMP, TIMESTAMPTZ, "implicit", True), (JSON, JSONB, "assignment", True), (JSONB, JSON, "implicit", False),
    (JSONB, INT4, "assignment", False), (JSONB, INT4, "explicit", True), (UNKNOWN, DATE, "implicit", True),
    (VARCHAR, TEXT, "implicit", True), (TEXT, VARCHAR, "implicit", True), (BPCHAR, TEXT, "implicit", True),
    (INT4, OID, "implicit", True), (OID, INT4, "assignment", True), (INT4, REGCLASS, "implicit", True),
    (array_of(INT4), array_of(INT8), "implicit", True), (array_of(INT8), array_of(INT4), "implicit", False),
    (array_of(INT4), array_of(TEXT), "assignment", True), (array_of(INT4), TEXT, "assignment", True),
    (UUID, TEXT, "assignment", True), (TEXT, UUID, "explicit", True), (INT4, UUID, "explicit", False),
    (INTERVAL, TIME, "assignment", True), (TIME, INTERVAL, "implicit", True), (FLOAT4, FLOAT8, "implicit", True),
    (NAME, TEXT, "implicit", True), (TEXT, NAME, "implicit", True), (CHAR, TEXT, "implicit", True),
]


@pytest.mark.parametrize("src,dst,context,ok", CASTS)
def test_cast_contexts(src: SqlType, dst: SqlType, context: str, ok: bool) -> None:
    assert (find_cast(src, dst, context) is not None) == ok
    assert can_coerce(src, dst, context) == ok


def test_cast_contexts_match_pg_cast(pg: PG) -> None:
    rows = pg.query("SELECT castsource, casttarget, castcontext FROM pg_cast WHERE castsource IN "
                    "(16,18,19,20,21,23,25,26,114,700,701,1042,1043,1082,1083,1114,1184,1186,1700,3802) AND "
                    "casttarget IN (16,18,19,20,21,23,25,26,114,700,701,1042,1043,1082,1083,1114,1184,1186,"
                    "1700,3802)")
    level = {"i": "implicit", "a": "assignment", "e": "explicit"}
    weaker = {"i": None, "a": "implicit", "e": "assignment"}
    for src, dst, ctxc in rows:
        s, d = type_by_oid(int(src)), type_by_oid(int(dst))
        assert find_cast(s, d, level[ctxc]) is not None, (s, d)
        if weaker[ctxc] is not None and s != d:
            assert find_cast(s, d, weaker[ctxc]) is None, (s, d, ctxc)


CAST_VALUES = [
    "'abcd'::varchar(3)", "'ab'::varchar(3)::char(5)", "'abc'::char(5)::varchar(2)", "12.345::numeric(4,2)",
    "123.45::numeric(4,2)", "'2024-01-31 12:34:56.789'::timestamp(1)", "1.5::float8::numeric(3,1)",
    "ARRAY[1.25, 2.35]::numeric(3,1)[]", "ARRAY['abc']::varchar(2)[]", "interval '1 day 02:03:04.56'::interval(1)",
    "'1 day 02:03:04'::interval hour", "timestamp '2024-01-31 12:00'::date", "date '2024-01-31'::timestamptz",
    "timestamptz '2024-01-31 12:00+00'::time", "1::int2::int8::float4::text", "'12'::text::int4",
    "'  12'::varchar::int2", "'t'::char::bool", "65::\"char\"::text", "1e10::float8::int8", "'12.7'::float8::int2",
    "32767.5::numeric::int2", "'2147483647.5'::numeric::int4", "-2147483648.4::numeric::int4",
    "'1.5'::numeric::float4", "1e40::numeric::float4", "'{\"a\":[1,2]}'::jsonb::text", "'\"x\"'::jsonb::text",
    "'[1]'::json::jsonb::json", "1::oid::int8", "ARRAY[[1,2],[3,4]]::text[]", "ARRAY[1,2]::int8[]::text",
    "row(1,'a')::text", "'(1,a)'::text", "true::int::bool", "'2024-01-31'::date::text::date",
    "interval '90 minutes'::time", "'a'::name::varchar(5)", "12345::varchar(3)", "12345::char(3)",
]


@pytest.mark.parametrize("expr", CAST_VALUES)
def test_cast_values_match_postgres(pg: PG, expr: str) -> None:
    assert_same(pg, expr)


def test_assignment_cast_to_varchar_errors_where_explicit_truncates() -> None:
    ctx = make_ctx()
    v3 = resolve_type_name(["varchar"], [3])
    with pytest.raises(SqlError) as e:
        find_cast(TEXT, v3, "assignment").fn("abcd", ctx)
    assert (e.value.sqlstate, e.value.message) == ("22001", "value too long for type character varying(3)")
    assert find_cast(TEXT, v3, "explicit").fn("abcd", ctx) == "abc"
    assert find_cast(TEXT, v3, "assignment").fn("abc   ", ctx) == "abc"
    assert find_cast(INT4, v3, "assignment").fn(12, ctx) == "12"
    c5 = resolve_type_name(["bpchar"], [5])
    assert find_cast(TEXT, c5, "assignment").fn("ab", ctx) == "ab   "
    n52 = resolve_type_name(["numeric"], [5, 2])
    with pytest.raises(SqlError) as e:
        find_cast(INT4, n52, "assignment").fn(1000, ctx)
    assert e.value.message == "numeric field overflow"
    # float8 -> numeric goes through 15 significant digits, so 1.005 rounds up (as in PG)
    assert find_cast(FLOAT8, n52, "assignment").fn(1.005, ctx) == Decimal("1.01")
    assert find_cast(INT4, INT4, "implicit").fn(None, ctx) is None


COMMON = [
    ([INT4, INT8], "bigint"), ([INT2, INT4, NUMERIC], "numeric"), ([INT4, FLOAT8, NUMERIC], "double precision"),
    ([UNKNOWN, UNKNOWN], "text"), ([UNKNOWN, INT4], "integer"), ([INT4, UNKNOWN], "integer"),
    ([TEXT, VARCHAR], "text"), ([VARCHAR, BPCHAR], "character varying"), ([BPCHAR, TEXT], "bpchar"), ([TEXT, BPCHAR], "text"),
    ([DATE, TIMESTAMP], "timestamp without time zone"), ([TIMESTAMP, TIMESTAMPTZ], "timestamp with time zone"),
    ([DATE, TIMESTAMPTZ], "timestamp with time zone"), ([FLOAT4, INT8], "real"), ([NUMERIC, FLOAT4], "real"),
    ([resolve_type_name(["varchar"], [3]), resolve_type_name(["varchar"], [3])], "character varying(3)"),
    ([resolve_type_name(["varchar"], [3]), resolve_type_name(["varchar"], [5])], "character varying"),
    ([array_of(INT4), array_of(INT8)], "bigint[]"), ([JSONB, UNKNOWN], "jsonb"), ([INTERVAL, UNKNOWN], "interval"),
    ([OID, INT4], "oid"), ([NAME, TEXT], "name"), ([TEXT, NAME], "text"),
]


@pytest.mark.parametrize("types,want", COMMON)
def test_common_type(types: list, want: str) -> None:
    assert format_type(common_type(types, "UNION")) == want


@pytest.mark.parametrize("types,msg", [
    ([INT4, TEXT], "CASE types integer and text cannot be matched"),
    ([BOOL, INT4], "CASE types boolean and integer cannot be matched"),
    ([DATE, INT4], "CASE types date and integer cannot be matched"),
    ([JSONB, JSON], None),
])
def test_common_type_errors(types: list, msg: str | None) -> None:
    if msg is None:
        assert format_type(common_type(types, "CASE")) == "jsonb"
        return
    with pytest.raises(SqlError) as e:
        common_type(types, "CASE")
    assert (e.value.sqlstate, e.value.message) == ("42804", msg)


def test_common_type_matches_postgres_union(pg: PG) -> None:
    pairs = [("1", "2.5"), ("1::int2", "1::int8"), ("'a'", "'b'"), ("1.5::float4", "2"), ("now()", "'2020-01-01'::date"),
             ("'a'::varchar(2)", "'b'::varchar(2)"), ("'a'::char(2)", "'b'::varchar"), ("NULL", "NULL"),
             ("'a'::name", "'b'::text"), ("'a'::char(2)", "'b'::text"), ("'b'::text", "'a'::char(2)"),
             ("1", "true")]
    for a, b in pairs:
        rows = pg.query(f"SELECT pg_typeof(x)::text FROM (SELECT {a} AS x UNION ALL SELECT {b}) s LIMIT 1")
        from test_functions_harness import result_type
        ta, tb = result_type(a), result_type(b)
        try:
            got = format_type(common_type([ta, tb], "UNION").base)
        except SqlError as e:
            got = e.message
        want = rows[0][0] if rows[0][0] != "ERROR" else rows[0][2]
        if want == "character":
            want = "bpchar"
        assert got == want, (a, b)


def test_sort_keys() -> None:
    nk = sort_key(NUMERIC)
    vals = [Decimal("NaN"), Decimal("1.0"), Decimal("-Infinity"), Decimal("Infinity"), Decimal("0")]
    assert sorted(vals, key=nk)[-1].is_nan()
    assert sorted(vals, key=nk)[0] == Decimal("-Infinity")
    fk = sort_key(FLOAT8)
    assert math.isnan(sorted([math.nan, math.inf, 0.0, -1.0], key=fk)[-1])
    assert sort_key(INT4) is None and sort_key(TEXT) is None and sort_key(TIMESTAMPTZ) is None
    assert sorted(["b ", "a", "a  "], key=sort_key(BPCHAR)) == ["a", "a  ", "b "]
    ak = sort_key(array_of(INT4))
    arrays = [[1, None], [1, 2], [1], [0, 5], []]
    assert sorted(arrays, key=ak) == [[], [0, 5], [1], [1, 2], [1, None]]
    jk = sort_key(JSONB)
    js = [Jsonb({"a": 1}), Jsonb([1, 2]), Jsonb(None), Jsonb([]), Jsonb("a"), Jsonb(Decimal(1)), Jsonb(True)]
    assert [j.value for j in sorted(js, key=jk)] == [[], None, "a", Decimal(1), True, [1, 2], {"a": 1}]
    assert sorted([Interval(1, 0, 0), Interval(0, 31, 0), Interval(0, 0, 1)]) == \
        [Interval(0, 0, 1), Interval(1, 0, 0), Interval(0, 31, 0)]


def test_group_keys() -> None:
    gk = group_key(NUMERIC)
    assert gk(Decimal("1.0")) == gk(Decimal("1.00")) and hash(gk(Decimal("1.0"))) == hash(gk(Decimal("1")))
    assert gk(Decimal("NaN")) == gk(Decimal("-NaN"))
    fk = group_key(FLOAT8)
    assert fk(math.nan) == fk(float("nan")) and fk(0.0) == fk(-0.0)
    assert group_key(BPCHAR)("a  ") == group_key(BPCHAR)("a")
    ak = group_key(array_of(NUMERIC))
    assert ak([Decimal("1.0"), None]) == ak([Decimal("1"), None])
    assert {ak([[Decimal(1)]])} == {ak([[Decimal("1.00")]])}
    jk = group_key(JSONB)
    assert jk(Jsonb({"a": Decimal("1.0")})) == jk(Jsonb({"a": Decimal(1)}))
    assert jk(Jsonb(True)) != jk(Jsonb(Decimal(1)))
    assert group_key(INT4) is None and group_key(TEXT) is None
    assert Interval(1, 0, 0) == Interval(0, 30, 0) and hash(Interval(1, 0, 0)) == hash(Interval(0, 30, 0))
