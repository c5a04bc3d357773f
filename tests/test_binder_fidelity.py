"""Binder and planner errors, compared with PostgreSQL's exactly.

The differential script tests/sql/26_binder_fidelity.sql shows that dsql
answers (or refuses) what PostgreSQL answers (or refuses), but compares most
SQLSTATEs by class only. Here each refusal must carry PostgreSQL's own
SQLSTATE and message, and where PostgreSQL points at the offending part of the
statement, the same position. The pure parts (the order and form checks of
WITH RECURSIVE lists) are tested without a server.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from pglast.parser import parse_sql_json

from qp.bind.recursion import order_recursive_list
from qp.errors import SqlError

pytestmark = pytest.mark.timeout(120)

SETUP = [
    "CREATE TABLE {t} (x int, y int, a int, b int)",
    "INSERT INTO {t} VALUES (1, 2, 3, 4), (5, 6, 7, 8)",
    "CREATE TABLE {t}_s (a int, b int)",
]
CLEANUP = ["DROP TABLE IF EXISTS {t}_s", "DROP TABLE IF EXISTS {t}"]

# (statement, whether PostgreSQL's error position must match too)
ERRORS = [
    # An aggregate belongs to the level its arguments come from; that level's clause decides.
    ("SELECT * FROM {t} o WHERE (SELECT max(o.x)) > 1", True),
    ("SELECT * FROM {t} o JOIN {t} i ON (SELECT max(o.a)) > 0", True),
    ("SELECT * FROM {t} o GROUP BY (SELECT max(o.a))", True),
    ("SELECT * FROM {t} o, LATERAL (SELECT max(o.a)) s", True),
    ("SELECT * FROM {t} o, generate_series(1, (SELECT max(o.a))) g", True),
    ("SELECT * FROM generate_series(1, count(*)) g", True),
    ("SELECT max((SELECT max(o.a))) FROM {t} o", True),
    ("SELECT (SELECT max(max(o.a)) FROM {t} i) FROM {t} o", True),
    ("SELECT (SELECT max(o.a + max(i.b)) FROM {t} i) FROM {t} o", True),
    ("SELECT max(max(a)) FROM {t}", True),
    ("SELECT count(*) FILTER (WHERE max(x) > 1) FROM {t}", True),
    ("UPDATE {t} SET a = (SELECT max({t}.b))", True),
    ("UPDATE {t} SET a = max(b)", True),
    ("DELETE FROM {t} WHERE (SELECT max({t}.b)) > 1", True),
    ("DELETE FROM {t} RETURNING (SELECT max({t}.a))", True),
    ("SELECT x, (WITH c AS (SELECT 1 AS z) SELECT count((SELECT o.x FROM c))) FROM {t} o", False),
    ("SELECT count() FROM {t}", False),
    ("SELECT rank() OVER (ORDER BY 1), count(*) FROM {t} GROUP BY 1", False),
    # COLLATE
    ('SELECT \'a\' COLLATE "nosuch"', True),
    ("SELECT 'a' COLLATE c", True),
    ("SELECT 'a' COLLATE public.\"C\"", True),
    ('SELECT 1 COLLATE "C"', True),
    ('SELECT x FROM {t} ORDER BY x COLLATE "C"', True),
    ('SELECT \'a\' COLLATE "C" = \'b\' COLLATE "POSIX"', True),
    ('SELECT \'a\' COLLATE "default" || \'b\' COLLATE "C"', True),
    ('SELECT coalesce(\'a\' COLLATE "C", \'b\' COLLATE "POSIX")', True),
    ('SELECT lower(\'a\' COLLATE "C") = \'b\' COLLATE "POSIX"', True),
    ('SELECT \'a\' COLLATE "C" UNION SELECT \'b\' COLLATE "POSIX"', True),
    ('CREATE TABLE {t}_c (a int COLLATE "C")', True),
    ('CREATE TABLE {t}_c (a text COLLATE "nope")', True),
    ('ALTER TABLE {t} ADD COLUMN c int COLLATE "C"', True),
    # INSERT arity
    ("INSERT INTO {t} (x, y, a) VALUES (1, 2)", True),
    ("INSERT INTO {t} (x) VALUES (1, 2)", True),
    ("INSERT INTO {t} (x, y, a) SELECT 1, 2", True),
    ("INSERT INTO {t} (x) SELECT 1, 2", True),
    ("INSERT INTO {t} (x, y) VALUES (1), (2, 3)", True),
    ("INSERT INTO {t} (x, y) VALUES (1, 2), (3)", False),
    # Column aliases and range names
    ("SELECT * FROM {t} AS z(p, q, r, s, extra)", False),
    ("SELECT * FROM (SELECT 1, 2) AS z(a, b, c)", False),
    ("SELECT * FROM generate_series(1, 2) AS z(a, b)", False),
    ("SELECT * FROM generate_series(1, 2) WITH ORDINALITY AS z(a, b, c)", False),
    ("SELECT * FROM (VALUES (1, 2)) AS z(a, b, c)", False),
    ("SELECT * FROM pg_am AS p(a, b, c, d, e)", False),
    ("SELECT * FROM ({t} t1 JOIN {t} t2 USING (x)) AS j(p, q, r, s, t, u, v, w)", False),
    ("SELECT * FROM {t} t1 JOIN {t} t2 USING (x) AS t1", False),
    ("SELECT * FROM {t} z, {t} z", False),
    ("SELECT * FROM {t} j, ({t} a JOIN {t} b ON true) AS j", False),
    ("SELECT * FROM {t} a JOIN {t} b USING (x, x)", False),
    ("SELECT * FROM {t} a JOIN {t} b USING (x) AS j FOR UPDATE OF j", True),
    ("SELECT * FROM (SELECT 1)", False),
    ("SELECT * FROM (VALUES (1))", False),
    ("SELECT a FROM (SELECT 1 AS a, 2 AS a) s", True),
    # Aggregates with DISTINCT sort by their arguments only
    ("SELECT string_agg(DISTINCT x::text, ',' ORDER BY y) FROM {t}", True),
    ("SELECT array_agg(DISTINCT x ORDER BY x + 1) FROM {t}", True),
    # System column names
    ("CREATE TABLE {t}_c (xmin int)", False),
    ("CREATE TABLE {t}_c (a int, a int, xmax int)", False),
    ("ALTER TABLE {t}_s ADD COLUMN tableoid int", False),
    ("ALTER TABLE {t}_s ADD COLUMN IF NOT EXISTS cmin int", False),
    ("ALTER TABLE {t}_s RENAME COLUMN a TO ctid", False),
    ("ALTER TABLE {t}_s RENAME COLUMN xmin TO c", False),
    ("ALTER TABLE {t}_s DROP COLUMN xmin", False),
    # DISTINCT ON leads the ORDER BY
    ("SELECT DISTINCT ON (x) x, y FROM {t} ORDER BY y", True),
    ("SELECT DISTINCT x FROM {t} ORDER BY y", True),
    # WITH RECURSIVE's order and form
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n IN (SELECT * FROM x)) "
     "SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM {t} LEFT JOIN x ON true) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x f1, x f2) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL (SELECT 3 EXCEPT SELECT n FROM x)) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL (SELECT n FROM x EXCEPT ALL SELECT 3)) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT n FROM x UNION ALL SELECT 1) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 INTERSECT SELECT n FROM x) SELECT * FROM x", True),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x ORDER BY 1) SELECT * FROM x", False),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x LIMIT 3) SELECT * FROM x", False),
    ("WITH RECURSIVE x (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM y WHERE id < 5), "
     "y (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM x WHERE id < 5) SELECT * FROM x", True),
    ("WITH RECURSIVE f(i) AS (SELECT 1 UNION ALL SELECT (i + 1)::numeric(10, 0) FROM f WHERE i < 10) "
     "SELECT * FROM f", False),
    ("WITH RECURSIVE f(i) AS (SELECT 1::numeric(3, 0) UNION ALL SELECT (i + 1)::numeric(10, 0) FROM f "
     "WHERE i < 10) SELECT * FROM f", False),
    ("WITH x AS (SELECT 1), x AS (SELECT 2) SELECT 1", True),
]


def _error_of(server, statement: str) -> tuple:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc.sqlstate, exc.diag.message_primary, exc.diag.statement_position
    return None, None, None


def _run_all(server, statements: list[str]) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_errors_match_postgres_exactly(pg_server, dsql_server, table_name) -> None:
    setup = [s.format(t=table_name) for s in SETUP]
    cleanup = [s.format(t=table_name) for s in CLEANUP]
    mismatches = []
    for server in (pg_server, dsql_server):
        _run_all(server, cleanup + setup)
    try:
        for template, with_position in ERRORS:
            statement = template.format(t=table_name)
            expected = _error_of(pg_server, statement)
            actual = _error_of(dsql_server, statement)
            assert expected[0] is not None, f"PostgreSQL accepts {statement!r}: not an error case"
            if not with_position:
                expected, actual = expected[:2], actual[:2]
            if actual != expected:
                mismatches.append(f"{statement}\n  PostgreSQL: {expected}\n  dsql:       {actual}")
    finally:
        for server in (pg_server, dsql_server):
            _run_all(server, cleanup)
    assert not mismatches, f"{len(mismatches)} of {len(ERRORS)} errors differ:\n" + "\n".join(mismatches)


def test_volatile_with_query_is_evaluated_once_per_statement(dsql_server) -> None:
    """Each evaluation of the statement draws again; within it, every reference agrees."""
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        query = "WITH r AS (SELECT random() AS v) SELECT a.v, b.v, (SELECT v FROM r) FROM r a, r b"
        first = conn.execute(query).fetchone()
        second = conn.execute(query).fetchone()
    assert first[0] == first[1] == first[2]
    assert second[0] == second[1] == second[2]
    assert first[0] != second[0]


# -- WITH RECURSIVE lists, without a server ------------------------------------------------------


def _ctes(sql: str) -> list[dict]:
    tree = json.loads(parse_sql_json(sql))
    select = tree["stmts"][0]["stmt"]["SelectStmt"]
    return [c["CommonTableExpr"] for c in select["withClause"]["ctes"]]


def test_recursive_list_is_bound_without_forward_references() -> None:
    ctes = _ctes("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT * FROM c), "
                 "c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT * FROM a")
    assert [(cte["ctename"], recursive) for cte, recursive in order_recursive_list(ctes)] == [
        ("c", True), ("b", False), ("a", False)]


def test_inner_with_shadows_the_recursive_name() -> None:
    ctes = _ctes("WITH RECURSIVE w AS (WITH w AS (SELECT 1) SELECT * FROM w) SELECT * FROM w")
    assert [recursive for _, recursive in order_recursive_list(ctes)] == [False]
    ctes = _ctes("WITH RECURSIVE w(n) AS (SELECT 1 UNION ALL (WITH v AS (SELECT 2) SELECT n + 1 FROM w, v)) "
                 "SELECT * FROM w")
    assert [recursive for _, recursive in order_recursive_list(ctes)] == [True]


@pytest.mark.parametrize(("sql", "sqlstate", "message"), [
    ("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT 1", "0A000",
     "mutual recursion between WITH items is not implemented"),
    ("WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n FROM a JOIN a b USING (n)) SELECT 1", "42P19",
     'recursive reference to query "a" must not appear more than once'),
    ("WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n FROM b FULL JOIN a USING (n)) SELECT 1", "42P19",
     'recursive reference to query "a" must not appear within an outer join'),
    ("WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n FROM a RIGHT JOIN b USING (n)) SELECT 1", "42P19",
     'recursive reference to query "a" must not appear within an outer join'),
    ("WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL (SELECT n FROM a INTERSECT ALL SELECT 1)) SELECT 1", "42P19",
     'recursive reference to query "a" must not appear within INTERSECT'),
    ("WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT (SELECT n FROM a)) SELECT 1", "42P19",
     'recursive reference to query "a" must not appear within a subquery'),
    ("WITH RECURSIVE a(n) AS (SELECT 1 FROM a) SELECT 1", "42P19",
     'recursive query "a" does not have the form non-recursive-term UNION [ALL] recursive-term'),
])
def test_malformed_recursion_is_refused(sql: str, sqlstate: str, message: str) -> None:
    with pytest.raises(SqlError) as caught:
        order_recursive_list(_ctes(sql))
    assert (caught.value.sqlstate, caught.value.message) == (sqlstate, message)


def test_allowed_recursion_forms_pass() -> None:
    for sql in (
        "WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n FROM a LEFT JOIN b USING (n)) SELECT 1",
        "WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL (SELECT n FROM a INTERSECT SELECT 1)) SELECT 1",
        "WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n FROM (SELECT * FROM a) s) SELECT 1",
        "WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n + (SELECT 1 FROM b) FROM a) SELECT 1",
    ):
        assert order_recursive_list(_ctes(sql))[0][1] is True, sql
