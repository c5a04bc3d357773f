"""pgbench against dsql: every initialization step, every built-in script in every query mode.

`pgbench -i -s 1` loads 100,000 accounts with COPY in one transaction, past
DSQL's 3,000-row limit, so dsql refuses it by default (54000, checked here);
with PGOPTIONS `-c dsql.copy_batch_rows=3000` the COPY commits every 3,000
rows, and server-side generation (`-I G`, one INSERT ... SELECT) runs with
raised limits. The benchmark runs retry 40001 for as long as the run lasts
(`--max-tries=0` with `-T`): tpcb-like updates the single branch row in
every transaction, so concurrent transactions conflict under optimistic
concurrency; a failed transaction may only be one that was still
conflicting when the time ran out.

Each group of tests runs on a private server (pgbench drops and recreates its
tables, and 100,000 rows should not slow the shared one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from bench.pgbench import DSQL_INIT_OPTIONS, DSQL_RAISED_LIMITS, benchmark, initialize, pgbench_path
from bench.servers import DsqlServer

COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM pgbench_branches), (SELECT count(*) FROM pgbench_tellers),"
    " (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_history),"
    " (SELECT sum(abalance) FROM pgbench_accounts), (SELECT count(DISTINCT bid) FROM pgbench_accounts)"
)
SCALE_1 = (1, 10, 100_000, 0, 0, 1)


@contextmanager
def private_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[DsqlServer]:
    base = tmp_path_factory.mktemp(name)
    server = DsqlServer(base / "data", log_path=base / "dsql.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def init_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsqlServer]:
    with private_server(tmp_path_factory, "pgbench-init") as server:
        yield server


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsqlServer]:
    """A server initialized once (client-side generation with batching, every step)."""
    with private_server(tmp_path_factory, "pgbench-run") as server:
        done = initialize(server, steps="dtgvpf", pgoptions=DSQL_INIT_OPTIONS)
        assert done.returncode == 0, done.stderr
        yield server


def query(server, sql: str) -> tuple:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchone()


def assert_initialized(server, done) -> None:
    assert done.returncode == 0, done.stderr
    assert "done in" in done.stderr, done.stderr
    assert query(server, COUNTS_SQL) == SCALE_1


def assert_keys(server) -> None:
    """Step p made primary keys and step f foreign keys: both are enforced."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for table, column in (("pgbench_branches", "bid"), ("pgbench_tellers", "tid"), ("pgbench_accounts", "aid")):
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(f"INSERT INTO {table} ({column}) VALUES (1)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 99, 1, 0)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO pgbench_accounts (aid, bid, abalance) VALUES (200001, 2, 0)")


def test_pgbench_is_installed():
    assert pgbench_path().exists(), pgbench_path()


@pytest.mark.slow
def test_init_every_step_client_side_with_batching(init_server):
    done = initialize(init_server, steps="dtgvpf", pgoptions=DSQL_INIT_OPTIONS)
    assert_initialized(init_server, done)
    assert_keys(init_server)


@pytest.mark.slow
def test_init_every_step_server_side_with_raised_limits(init_server):
    done = initialize(init_server, steps="dtGvpf", pgoptions=DSQL_RAISED_LIMITS)
    assert_initialized(init_server, done)
    assert "server-side generate" in done.stderr
    assert_keys(init_server)


@pytest.mark.slow
def test_init_in_one_transaction_with_raised_limits(init_server):
    done = initialize(init_server, steps="dtg", pgoptions=DSQL_RAISED_LIMITS)
    assert_initialized(init_server, done)


@pytest.mark.slow
def test_init_is_refused_by_default_limits(init_server):
    """DSQL's 3,000-row limit: the COPY of pgbench_accounts fails and its transaction rolls back."""
    done = initialize(init_server, steps="dtg")
    assert done.returncode != 0
    assert "ERROR:  transaction row limit exceeded" in done.stderr, done.stderr
    assert "CONTEXT:  COPY pgbench_accounts, line " in done.stderr
    assert query(init_server, COUNTS_SQL)[:4] == (0, 0, 0, 0)
    # The same load with batching succeeds.
    done = initialize(init_server, steps="dtg", pgoptions=DSQL_INIT_OPTIONS)
    assert_initialized(init_server, done)


def check_run(report, done) -> None:
    assert done.returncode == 0, report.output
    assert "aborted" not in report.output, report.output
    assert report.processed > 0, report.output
    # Every failed transaction is one that still conflicted (40001) after its last try.
    assert report.failed == report.serialization_failures, report.output
    assert report.deadlock_failures == 0, report.output


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
@pytest.mark.parametrize("builtin", ["tpcb-like", "simple-update", "select-only"])
def test_builtin_scripts(bench_server, builtin, mode):
    report, done = benchmark(bench_server, builtin=builtin, mode=mode, clients=4, seconds=10)
    check_run(report, done)
    if builtin == "select-only":
        assert report.retried == 0 and report.failed == 0, report.output
    assert len(report.latencies_ms) == report.processed


@pytest.mark.slow
def test_single_client_never_conflicts(bench_server):
    report, done = benchmark(bench_server, builtin="tpcb-like", mode="prepared", clients=1, seconds=2)
    check_run(report, done)
    assert (report.failed, report.retried) == (0, 0), report.output
    # The history table got one row per transaction of this run (pgbench truncates it first).
    assert query(bench_server, "SELECT count(*) FROM pgbench_history") == (report.processed,)


def test_recommended_invocation_is_documented():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"PGOPTIONS='{DSQL_INIT_OPTIONS}' pgbench -i" in readme


# -- scale 20: two million accounts, twice on one data directory ----------------------------------------

SCALE_20 = (20, 200, 2_000_000, 0, 0, 20)
BALANCES_SQL = (
    "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches),"
    " (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)"
)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # seven minutes alone on CI's two cores, ten beside other heavy tests
def test_scale_20_loads_runs_and_loads_again_on_the_same_data_dir(tmp_path_factory):
    """`pgbench -i -s 20` (2,000,000 accounts in 2,000 batched COPY transactions, then
    ADD PRIMARY KEY on each table: an online index build over two million rows), a
    TPC-B run, and the same load again on the same data directory: every step
    completes, the run keeps TPC-B's balance invariant, and the second load's tables
    hold only their own rows (the first load's ranges are dropped, and reclaimed)."""
    with private_server(tmp_path_factory, "pgbench-scale-20") as server:
        first = initialize(server, scale=20, pgoptions=DSQL_INIT_OPTIONS)
        assert first.returncode == 0, first.stderr[-2000:]
        assert query(server, COUNTS_SQL) == SCALE_20
        assert_primary_keys(server)
        report, done = benchmark(server, builtin="tpcb-like", mode="prepared", clients=8, seconds=10)
        check_run(report, done)
        balances = query(server, BALANCES_SQL)
        assert balances[0] == balances[1] == balances[2] == balances[3], balances  # every delta landed everywhere
        assert query(server, "SELECT count(*) FROM pgbench_history")[0] == report.processed
        second = initialize(server, scale=20, pgoptions=DSQL_INIT_OPTIONS)
        assert second.returncode == 0, second.stderr[-2000:]
        assert query(server, COUNTS_SQL) == SCALE_20
        assert_primary_keys(server)


def assert_primary_keys(server) -> None:
    """`pgbench -i`'s step p: the primary keys exist and are enforced."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for table, column in (("pgbench_branches", "bid"), ("pgbench_tellers", "tid"), ("pgbench_accounts", "aid")):
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(f"INSERT INTO {table} ({column}) VALUES (1)")
