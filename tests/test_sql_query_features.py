"""Units of the query-side features of issue 13 (the differential corpus
tests/sql/31_* to 36_* checks them against PostgreSQL end to end): grouping
set expansion, ordered-set accumulators, the jsonpath parser and evaluator,
planner settings, and that pg_sleep yields to a cancel request."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import asyncpg
import pytest
from pglast.parser import parse_sql_json

from qp.bind.grouping_sets import CUBE_ELEMENTS_MAX, distinct_sets, flatten, grouping_mask
from qp.errors import SqlError
from qp.frontend.planner_settings import normalize_planner, show_memory
from qp.functions.jsonpath import jsonb_path_match, jsonb_path_query_array
from qp.functions.ordered_set import resolve_within_group
from qp.types import FLOAT8, INT4, TEXT
from qp.types.json import Jsonb
from qp.types.jsonpath import jsonpath_in, parse_path


def _group_clause(sql: str) -> list[dict]:
    return json.loads(parse_sql_json(sql))["stmts"][0]["stmt"]["SelectStmt"]["groupClause"]


def _sets(sql: str) -> list[tuple[str, ...]] | None:
    nodes, sets = flatten(_group_clause(sql))
    names = [n["ColumnRef"]["fields"][0]["String"]["sval"] for n in nodes]
    return None if sets is None else [tuple(names[i] for i in s) for s in sets]


def test_rollup_cube_and_sets_expand_as_postgresql_does() -> None:
    assert _sets("SELECT 1 FROM t GROUP BY a, b") is None
    assert _sets("SELECT 1 FROM t GROUP BY ROLLUP (a, b)") == [("a", "b"), ("a",), ()]
    assert _sets("SELECT 1 FROM t GROUP BY CUBE (a, b)") == [("a", "b"), ("a",), ("b",), ()]
    assert _sets("SELECT 1 FROM t GROUP BY a, ROLLUP (b)") == [("a", "b"), ("a",)]
    assert _sets("SELECT 1 FROM t GROUP BY GROUPING SETS ((a), (), ROLLUP (b))") == [("a",), (), ("b",), ()]
    assert _sets("SELECT 1 FROM t GROUP BY ROLLUP (a, (b, c))") == [("a", "b", "c"), ("a",), ()]


def test_cube_limit_and_distinct_sets() -> None:
    columns = ", ".join(f"c{i}" for i in range(CUBE_ELEMENTS_MAX + 1))
    with pytest.raises(SqlError) as raised:
        flatten(_group_clause(f"SELECT 1 FROM t GROUP BY CUBE ({columns})"))
    assert raised.value.sqlstate == "54011"
    assert distinct_sets([(0, 1), (1, 0), (0,), (0, 1)]) == [(0, 1), (0,)]


def test_grouping_mask_counts_from_the_last_argument() -> None:
    assert grouping_mask((0, 1), frozenset({0, 1})) == 0
    assert grouping_mask((0, 1), frozenset({0})) == 1
    assert grouping_mask((0, 1), frozenset({1})) == 2
    assert grouping_mask((0, 1), frozenset()) == 3


def _aggregate(name: str, direct: list, ordered: list, rows: list[tuple], spec=((False, False),)):
    resolved, _ = resolve_within_group(name, direct, ordered, list(spec))
    accumulator = resolved.make()
    for row in rows:
        accumulator.step(*row)
    return accumulator.final()


def test_percentiles_mode_and_hypothetical_rank() -> None:
    values = [(0.5, v) for v in (1.0, 2.0, 4.0, 10.0)]
    assert _aggregate("percentile_cont", [FLOAT8], [FLOAT8], values) == 3.0
    assert _aggregate("percentile_disc", [FLOAT8], [INT4], [(0.5, v) for v in (1, 2, 4, 10)]) == 2
    assert _aggregate("percentile_cont", [FLOAT8], [FLOAT8], []) is None
    assert _aggregate("mode", [], [TEXT], [("a",), ("b",), ("b",), ("c",), ("c",)]) == "b"
    assert _aggregate("rank", [INT4], [INT4], [(2, v) for v in (1, 2, 2, 3)]) == 2
    assert _aggregate("dense_rank", [INT4], [INT4], [(3, v) for v in (1, 1, 2, 3)]) == 3
    with pytest.raises(SqlError) as raised:
        _aggregate("percentile_cont", [FLOAT8], [FLOAT8], [(1.5, 1.0)])
    assert raised.value.sqlstate == "22003"
    with pytest.raises(SqlError) as raised:
        resolve_within_group("percentile_cont", [FLOAT8], [TEXT], [(False, False)])
    assert raised.value.sqlstate == "42883"


def test_jsonpath_lax_strict_filters_and_variables() -> None:
    doc = Jsonb({"a": [Decimal(1), Decimal(2), Decimal(3)], "b": {"c": "x"}})
    assert jsonb_path_query_array(doc, "$.a[*] ? (@ > 1)").value == [Decimal(2), Decimal(3)]
    assert jsonb_path_query_array(doc, "$.a ? (@ >= $min)", Jsonb({"min": Decimal(3)})).value == [Decimal(3)]
    assert jsonb_path_query_array(doc, "lax $.nope").value == []
    with pytest.raises(SqlError) as raised:
        jsonb_path_query_array(doc, "strict $.nope")
    assert raised.value.sqlstate == "2203A"
    assert jsonb_path_match(doc, '$.b.c == "x"') is True
    assert jsonb_path_match(doc, "$.b.c > 1") is None  # a string compared with a number: unknown
    assert jsonb_path_query_array(doc, "$.a[last - 1]").value == [Decimal(2)]


@pytest.mark.parametrize(
    "path, sqlstate",
    [
        ("$.a +", "42601"),
        ("@.a", "42601"),
        ("$.**", "0A000"),
        ('$ ? (@ like_regex "a")', "0A000"),
        ("$.datetime()", "0A000"),
    ],
)
def test_jsonpath_refuses_what_it_does_not_parse(path: str, sqlstate: str) -> None:
    with pytest.raises(SqlError) as raised:
        parse_path(path)
    assert raised.value.sqlstate == sqlstate


def test_planner_settings_validate_and_show_as_postgresql() -> None:
    assert normalize_planner("enable_seqscan", "FALSE") == "off"
    assert normalize_planner("random_page_cost", "1.10") == "1.1"
    assert normalize_planner("effective_cache_size", "1GB") == "1GB"
    assert normalize_planner("effective_cache_size", "1000") == "8000kB"
    assert show_memory(64) == "512kB"
    for name, value in (
        ("enable_hashjoin", "maybe"),
        ("random_page_cost", "-1"),
        ("plan_cache_mode", "x"),
        ("geqo_threshold", "1"),
    ):
        with pytest.raises(SqlError) as raised:
            normalize_planner(name, value)
        assert raised.value.sqlstate == "22023"


def test_cancel_request_stops_pg_sleep(dsql_server) -> None:
    async def scenario() -> int:
        conn = await asyncpg.connect(dsql_server.dsn)
        try:
            with pytest.raises(asyncio.TimeoutError):  # asyncpg sends a CancelRequest at its timeout
                await conn.fetchval("SELECT pg_sleep(60)", timeout=0.5)
            # Were the sleep still running, this would wait for it and time out.
            return await conn.fetchval("SELECT 41 + 1", timeout=15)
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == 42


def test_jsonpath_text_is_normalized_as_postgresql_prints_it() -> None:
    assert jsonpath_in("$.a[*] ? (@ > 1 && exists(@.b))") == '$."a"[*]?(@ > 1 && exists (@."b"))'
    assert jsonpath_in("lax $.a - 1 - 2") == '(($."a" - 1) - 2)'
    assert jsonpath_in("strict $x.size()") == 'strict $"x".size()'
    assert jsonpath_in("- -1") == "1"


def test_statements_dsql_lacks_are_refused_not_answered(dsql_server) -> None:
    async def scenario() -> list[str]:
        conn = await asyncpg.connect(dsql_server.dsn)
        codes = []
        try:
            # Temporary tables are an extension (tests/test_temp_tables.py); schemas are DSQL's.
            for sql in ("CREATE MATERIALIZED VIEW mv_t AS SELECT 1",):
                with pytest.raises(asyncpg.PostgresError) as caught:
                    await conn.execute(sql)
                codes.append(caught.value.sqlstate)
            assert await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE '%temp%t'") == 0
        finally:
            await conn.close()
        return codes

    assert asyncio.run(scenario()) == ["0A000"]


def test_create_table_as_is_one_transaction_within_dsqls_rules(dsql_server) -> None:
    """CREATE TABLE AS / SELECT INTO (an extension): the table and its rows commit together,
    count as the transaction's DDL and obey DSQL's row limit; a failure leaves no table."""

    async def scenario() -> None:
        conn = await asyncpg.connect(dsql_server.dsn)
        try:
            assert await conn.execute("CREATE TABLE ctas_rows AS SELECT g AS n FROM generate_series(1, 50) AS g") \
                == "SELECT 50"  # fmt: skip
            await conn.execute("SET dsql.transaction_rows_max = 20")
            with pytest.raises(asyncpg.PostgresError) as caught:
                await conn.execute("SELECT n INTO ctas_over FROM ctas_rows")
            assert caught.value.sqlstate == "54000"
            await conn.execute("RESET dsql.transaction_rows_max")
            assert await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'ctas_over'") == 0
            # DSQL's one-DDL, no-DDL-with-DML rules hold for it as for any DDL.
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO ctas_rows VALUES (51)")
            with pytest.raises(asyncpg.PostgresError) as caught:
                await conn.execute("CREATE TABLE ctas_mixed AS SELECT 1 AS a")
            assert caught.value.sqlstate == "0A000"
            await conn.execute("ROLLBACK")
            # Another session sees the table with its rows, or nothing.
            await conn.execute("BEGIN")
            assert await conn.execute("CREATE TABLE ctas_block AS SELECT n FROM ctas_rows WHERE n <= 3") == "SELECT 3"
            other = await asyncpg.connect(dsql_server.dsn)
            try:
                assert await other.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'ctas_block'") == 0
                await conn.execute("COMMIT")
                assert await other.fetchval("SELECT sum(n) FROM ctas_block") == 6
            finally:
                await other.close()
            await conn.execute("DROP TABLE ctas_block")
            await conn.execute("DROP TABLE ctas_rows")
        finally:
            await conn.close()

    asyncio.run(scenario())
