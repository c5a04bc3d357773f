"""Join planning (qp/plan/joins.py, stats.py, cost.py; qp/ddl/analyze.py): the
order follows statistics, EXPLAIN shows estimates and EXPLAIN ANALYZE actual
figures in PostgreSQL's shapes, and many-table joins finish.

Results of multi-way joins are compared with PostgreSQL in
tests/sql/30_join_order.sql; here the plans themselves, through real clients.
The pure parts (the n_distinct estimator, the orderer) are tested without a server.
"""

from __future__ import annotations

import re
import time

import psycopg
import pytest

from qp.catalog.stored import CatalogSnapshot
from qp.frontend.prepare import Prepared
from qp.pgcatalog.search_path import session_search_path
from qp.plan import joins
from qp.plan.joins import Leaf, Predicate, order
from qp.plan.stats import STATS_REFRESH_S, StatsCache, TableStats, estimate_n_distinct
from qp.types.context import EvalContext

ACTUAL_NO_TIMING = re.compile(r"^\s*(->  )?\S.* \(actual rows=\d+ loops=\d+\)$")
ACTUAL_TIMED = re.compile(r"\(actual time=\d+\.\d{3}\.\.\d+\.\d{3} rows=\d+ loops=\d+\)$")


@pytest.fixture
def conn(dsql_server):
    with psycopg.connect(dsql_server.dsn, autocommit=True) as connection:
        yield connection


def plan(conn, sql: str) -> list[str]:
    return [row[0] for row in conn.execute(sql).fetchall()]


def scans(lines: list[str]) -> list[str]:
    """The tables scanned, in the order EXPLAIN lists them (deepest join's first within each join)."""
    return [m.group(1) for line in lines if (m := re.search(r"Scan on (\w+)", line))]


def innermost_join(lines: list[str]) -> list[str]:
    """The two relations of the most deeply nested join."""
    depth = max(len(line) - len(line.lstrip()) for line in lines if "Join" in line)
    start = next(
        i for i, line in enumerate(lines) if "Join" in line and len(line) - len(line.lstrip()) == depth
    )
    return scans(lines[start + 1 :])[:2]


@pytest.fixture
def three_tables(conn):
    conn.execute("CREATE TABLE jt_big (id int PRIMARY KEY, k int, v int)")
    conn.execute("CREATE TABLE jt_mid (id int PRIMARY KEY, k int)")
    conn.execute("CREATE TABLE jt_tiny (id int PRIMARY KEY, k int)")
    conn.execute("INSERT INTO jt_big SELECT g, g % 100, g FROM generate_series(1, 3000) g")
    conn.execute("INSERT INTO jt_mid SELECT g, g % 100 FROM generate_series(1, 300) g")
    conn.execute("INSERT INTO jt_tiny SELECT g, g FROM generate_series(1, 3) g")
    yield
    for name in ("jt_big", "jt_mid", "jt_tiny"):
        conn.execute(f"DROP TABLE {name}")


QUERY = "SELECT count(*) FROM jt_big b JOIN jt_mid m ON m.k = b.k JOIN jt_tiny t ON t.k = m.k"


def test_explain_order_follows_statistics(conn, three_tables):
    before = plan(conn, "EXPLAIN " + QUERY)
    # Never analyzed: every table is assumed the same size, so the written order stands.
    assert innermost_join(before) == ["jt_big", "jt_mid"], before
    conn.execute("ANALYZE jt_big, jt_mid, jt_tiny")
    after = plan(conn, "EXPLAIN " + QUERY)
    assert sorted(innermost_join(after)) == ["jt_mid", "jt_tiny"], after  # the small table is joined first
    assert any("Scan on jt_tiny  (rows=3)" in line for line in after), after
    assert any("Scan on jt_big  (rows=3000)" in line for line in after), after
    assert conn.execute(QUERY).fetchone()[0] == 270


def test_range_estimates_follow_the_histogram(conn, three_tables):
    conn.execute("ANALYZE jt_big")

    def estimate(where: str) -> int:
        lines = plan(conn, f"EXPLAIN SELECT * FROM jt_big WHERE {where}")
        return int(re.search(r"Scan on jt_big  \(rows=(\d+)\)", "\n".join(lines)).group(1))

    assert 250 <= estimate("v <= 300") <= 350  # v runs 1..3000
    assert 2650 <= estimate("v > 300") <= 2750
    assert 80 <= estimate("v BETWEEN 1001 AND 1100") <= 120  # one range, not two independent bounds
    assert 80 <= estimate("v > 1000 AND v <= 1100 AND v < 2000") <= 120
    assert estimate("v < 0") <= 5


def test_explain_costs_off_hides_estimates(conn, three_tables):
    with_costs = plan(conn, "EXPLAIN " + QUERY)
    assert all("(rows=" in line for line in with_costs if "Scan on" in line or "Join" in line), with_costs
    without = plan(conn, "EXPLAIN (COSTS OFF) " + QUERY)
    assert not any("rows=" in line for line in without), without
    assert scans(without) == scans(with_costs)


def test_explain_analyze_counts_rows(conn, three_tables):
    conn.execute("ANALYZE jt_big, jt_mid, jt_tiny")
    lines = plan(conn, "EXPLAIN ANALYZE " + QUERY)
    node_lines = [line for line in lines if "  (rows=" in line]  # the operators, not their detail lines
    assert len(node_lines) == 6, lines
    assert all(ACTUAL_TIMED.search(line) for line in node_lines), lines
    assert any(re.search(r"Scan on jt_big .*actual time=\S+ rows=3000 loops=1", line) for line in lines), (
        lines
    )
    assert any(re.search(r"Hash Join .*actual time=\S+ rows=270 loops=1", line) for line in lines), lines
    assert re.fullmatch(r"Planning Time: \d+\.\d{3} ms", lines[-2]), lines
    assert re.fullmatch(r"Execution Time: \d+\.\d{3} ms", lines[-1]), lines


def test_explain_analyze_options_match_postgres_shape(conn, three_tables, pg_server):
    """(ANALYZE, TIMING OFF, COSTS OFF): the same shape of node line as PostgreSQL's."""
    sql = "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) " + QUERY
    ours = plan(conn, sql)
    with psycopg.connect(pg_server.dsn, autocommit=True) as pg:
        pg.execute("CREATE TEMP TABLE jt_big (id int PRIMARY KEY, k int, v int)")
        pg.execute("CREATE TEMP TABLE jt_mid (id int PRIMARY KEY, k int)")
        pg.execute("CREATE TEMP TABLE jt_tiny (id int PRIMARY KEY, k int)")
        theirs = [row[0] for row in pg.execute(sql).fetchall()]
    for lines in (ours, theirs):
        heads = [line for line in lines if "actual" in line]
        assert heads and all(ACTUAL_NO_TIMING.match(line) for line in heads), lines
        assert lines[-1].startswith("Execution Time: ") and any(
            x.startswith("Planning Time: ") for x in lines
        ), lines
    assert not any(
        "Time:" in line for line in plan(conn, "EXPLAIN (ANALYZE, SUMMARY OFF, COSTS OFF) " + QUERY)
    )
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("EXPLAIN (TIMING) " + QUERY)


def test_explain_analyze_runs_dml_inside_the_transaction(conn, three_tables):
    lines = plan(conn, "EXPLAIN ANALYZE INSERT INTO jt_tiny VALUES (10, 10)")
    assert re.fullmatch(r"Insert on jt_tiny  \(rows=0\) \(actual time=\S+ rows=0 loops=1\)", lines[0]), lines
    assert conn.execute("SELECT count(*) FROM jt_tiny").fetchone()[0] == 4  # autocommit: the row stays
    conn.execute("BEGIN")
    plan(conn, "EXPLAIN ANALYZE DELETE FROM jt_tiny WHERE id = 10")
    assert conn.execute("SELECT count(*) FROM jt_tiny").fetchone()[0] == 3  # seen inside the transaction
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM jt_tiny").fetchone()[0] == 4  # and undone with it


def test_batched_index_join_for_a_small_outer_side(conn, three_tables):
    """A filtered outer side looks its keys up in the inner table's primary key,
    in batches; DSQL's setting switches the rule off (a hash join then)."""
    conn.execute("ANALYZE jt_big, jt_mid, jt_tiny")
    sql = "SELECT t.id, b.v FROM jt_tiny t JOIN jt_big b ON b.id = t.k * 10"
    lines = plan(conn, "EXPLAIN " + sql)
    assert any("Nested Loop (Batched Join)" in line for line in lines), lines
    assert any("Inner: jt_big by jt_big_pkey (id = (k * 10))" in line for line in lines), lines
    analyzed = plan(conn, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
    assert any(line.endswith("Nested Loop (Batched Join) (actual rows=3 loops=1)") for line in analyzed), (
        analyzed
    )
    assert sorted(conn.execute(sql).fetchall()) == [(1, 10), (2, 20), (3, 30)]
    conn.execute("SET dsql.enable_batched_nestloop = off")
    try:
        lines = plan(conn, "EXPLAIN " + sql)
        assert not any("Batched" in line for line in lines) and any("Hash Join" in line for line in lines), (
            lines
        )
        assert sorted(conn.execute(sql).fetchall()) == [(1, 10), (2, 20), (3, 30)]
    finally:
        conn.execute("RESET dsql.enable_batched_nestloop")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SET dsql.enable_batched_nestloop = maybe")


def test_batched_index_join_sees_the_transactions_writes(conn, three_tables):
    conn.execute("ANALYZE jt_big, jt_mid, jt_tiny")
    sql = "SELECT t.id, b.v FROM jt_tiny t JOIN jt_big b ON b.id = t.k * 10"
    assert any("Batched" in line for line in plan(conn, "EXPLAIN " + sql))
    conn.execute("BEGIN")
    try:
        conn.execute("UPDATE jt_big SET v = -1 WHERE id = 20")
        conn.execute("DELETE FROM jt_big WHERE id = 30")
        assert sorted(conn.execute(sql).fetchall()) == [(1, 10), (2, -1)]
    finally:
        conn.execute("ROLLBACK")


def test_statistics_are_durable_and_read_back_by_a_new_process(start_dsql):
    """ANALYZE writes storage; a QP that did not run it (here: the same server
    after a restart) reads the statistics back in the background, and plans by them."""
    server = start_dsql()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jt_kept (id int PRIMARY KEY, k int)")
        conn.execute("INSERT INTO jt_kept SELECT g, g % 7 FROM generate_series(1, 700) g")
        conn.execute("ANALYZE jt_kept")
        before = conn.execute(
            "SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'jt_kept'"
        ).fetchall()
    assert sorted(before) == [("id", -1.0), ("k", 7.0)]
    server.restart()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for _ in range(100):  # the background refresh runs every STATS_REFRESH_S
            reltuples = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'jt_kept'").fetchone()[0]
            if reltuples != -1:
                break
            time.sleep(STATS_REFRESH_S / 10)
        assert reltuples == 700
        after = conn.execute(
            "SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'jt_kept'"
        ).fetchall()
        assert sorted(after) == sorted(before)
        assert any("(rows=100)" in line for line in plan(conn, "EXPLAIN SELECT * FROM jt_kept WHERE k = 3"))


def test_analyze_refuses_unknown_names(conn, three_tables):
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("ANALYZE jt_nosuch")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        conn.execute("ANALYZE jt_tiny (nosuch)")


def test_ten_table_join_completes(conn):
    """A chain of ten tables of a few thousand rows, written in an order whose
    neighbours share no predicate: the written order cross-joins, the planner must not."""
    names = [f"jt_ten{i}" for i in range(10)]
    for i, name in enumerate(names):
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, next_id int, v int)")
        conn.execute(
            f"INSERT INTO {name} SELECT g, (g * 7) % 2000 + 1, g % {i + 3} FROM generate_series(1, 2000) g"
        )
    try:
        scrambled = [0, 5, 2, 7, 4, 9, 1, 6, 3, 8]
        where = " AND ".join(f"{names[i]}.next_id = {names[i + 1]}.id" for i in range(9))
        sql = f"SELECT count(*) FROM {', '.join(names[i] for i in scrambled)} WHERE {where} AND {names[0]}.v = 1"
        assert conn.execute(sql).fetchone()[0] >= 0  # completion is the point
    finally:
        for name in names:
            conn.execute(f"DROP TABLE {name}")


def test_twelve_relations_are_ordered_greedily_without_cross_products(conn):
    """Above DP_RELATIONS_MAX the greedy orderer runs; a connected graph still gets
    no join without a condition."""
    names = [f"jt_g{i}" for i in range(12)]
    for name in names:
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, next_id int)")
        conn.execute(f"INSERT INTO {name} SELECT g, g % 50 + 1 FROM generate_series(1, 50) g")
    try:
        where = " AND ".join(f"{names[i]}.next_id = {names[i + 1]}.id" for i in range(11))
        sql = f"SELECT count(*) FROM {', '.join(reversed(names))} WHERE {where}"
        lines = plan(conn, "EXPLAIN (COSTS OFF) " + sql)
        joins_seen = [line for line in lines if "Join" in line]
        assert len(joins_seen) == 11, lines
        assert not any(line.strip().endswith("Nested Loop") for line in lines), lines  # no bare cross product
        assert conn.execute(sql).fetchone()[0] == 50
    finally:
        for name in names:
            conn.execute(f"DROP TABLE {name}")


# -- pure parts ---------------------------------------------------------------------


def test_n_distinct_estimator_follows_postgres():
    assert estimate_n_distinct(100, 0, {i: 1 for i in range(100)}, 100.0) == -1.0  # all unique
    assert estimate_n_distinct(100, 50, {i: 1 for i in range(50)}, 100.0) == -0.5  # unique, half NULL
    assert estimate_n_distinct(1000, 0, {i: 100 for i in range(10)}, 1_000_000.0) == 10.0  # all repeat
    # Some values once, some more: Haas and Stokes scale the sample's 600 distinct values up.
    counts = {i: 1 for i in range(500)} | {1000 + i: 5 for i in range(100)}
    estimate = estimate_n_distinct(1000, 0, counts, 1_000_000.0)
    assert estimate > 600 and estimate != -1.0


def test_plans_are_made_again_after_analyze():
    """A prepared statement's plan is kept until the statistics it was estimated from change."""
    ctx = EvalContext()
    stats = StatsCache()
    catalog = CatalogSnapshot(version=3)
    prepared = Prepared(
        None,
        "query",
        plan=object(),
        catalog_version=3,
        catalog=catalog,
        search_path=session_search_path(ctx),
        stats=stats,
        stats_version=stats.version,
        role=ctx.user,
    )
    assert prepared.planned_for(catalog, ctx)
    stats.put(TableStats(16384, 10.0))
    assert not prepared.planned_for(catalog, ctx)


def _chain(sizes: list[float]) -> tuple[list[Leaf], list[Predicate]]:
    leaves = [Leaf(None, set(), rows=s, base_rows=s) for s in sizes]
    predicates = [
        Predicate(None, 1 << i | 1 << (i + 1), True, 1.0 / max(sizes[i], sizes[i + 1]))
        for i in range(len(sizes) - 1)
    ]
    return leaves, predicates


def _pairs(plan: joins.Plan) -> list[int]:
    """The masks of the joins, innermost first."""
    if plan.leaf is not None:
        return []
    return _pairs(plan.left) + _pairs(plan.right) + [plan.mask]


def test_dp_never_cross_joins_a_connected_graph():
    leaves, predicates = _chain([1000, 10, 1000, 1000, 5])
    best = order(leaves, predicates)
    assert best.mask == 0b11111
    for mask in _pairs(best):  # every intermediate result is a connected run of the chain
        bits = [i for i in range(5) if mask >> i & 1]
        assert bits == list(range(bits[0], bits[-1] + 1)), bin(mask)


def test_greedy_above_the_dp_limit_and_disconnected_graphs():
    leaves, predicates = _chain([100.0 * (i % 3 + 1) for i in range(joins.DP_RELATIONS_MAX + 3)])
    best = order(leaves, predicates)
    assert best.mask == (1 << len(leaves)) - 1
    # Two components: each is joined inside, and only then the cross product.
    leaves, predicates = _chain([10, 20, 30, 40])
    predicates = [p for p in predicates if p.mask != 0b0110]
    best = order(leaves, predicates)
    assert sorted([best.left.mask, best.right.mask]) == [0b0011, 0b1100]


@pytest.mark.parametrize("size, total", [(20, 200), (20, 20), (20, 7), (1, 50)])
def test_analyzes_reservoir_samples_uniformly_whatever_the_pages(size, total):
    """ANALYZE's sample (qp/ddl/analyze.py, Algorithm L, fed a page at a time): `size`
    distinct items (all of them when fewer), each item kept about `size/total` of the time,
    the early ones as often as the late ones, whatever the page sizes."""
    import collections
    import random

    from qp.ddl.analyze import Reservoir

    trials = 3000
    counts: collections.Counter = collections.Counter()
    for trial in range(trials):
        reservoir = Reservoir(size, random.Random(trial))
        pages = random.Random(-trial - 1)
        position = 0
        while position < total:
            step = pages.randint(1, 37)
            reservoir.add(list(range(position, min(total, position + step))))
            position += step
        assert reservoir.seen == total
        assert sorted(reservoir.sample) == sorted(set(reservoir.sample)) and len(reservoir.sample) == min(size, total)
        counts.update(reservoir.sample)
    share = min(size, total) / total
    expected = trials * share
    spread = 5 * (trials * share * (1 - share)) ** 0.5 + 1  # five standard deviations
    assert all(abs(counts[i] - expected) <= spread for i in range(total)), (expected, counts)
    half = total // 2
    if half:
        early = sum(counts[i] for i in range(half)) / half
        late = sum(counts[i] for i in range(total - half, total)) / half
        assert abs(early - late) <= 0.1 * expected + 1, (early, late)
