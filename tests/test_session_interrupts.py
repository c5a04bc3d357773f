"""Interrupts: nothing stalls the server, and cancels and timeouts stop any statement.

dsql runs every part of the embedded server (sessions, journal replicas with
their leases, storage apply) in one trio thread, so a busy statement must give
the scheduler a turn every few ms (cluster/timeslice.py). These tests check
the visible consequences, with real clients, against PostgreSQL where it
applies:

- under a CPU-bound query another session's `SELECT 1` keeps answering while
  the query runs, and the journal keeps its leader (no election is logged);
- a CancelRequest, `statement_timeout`, `pg_cancel_backend()` stop a running
  statement with 57014 and the session stays usable; `pg_terminate_backend()`
  ends the connection with FATAL 57P01; `idle_in_transaction_session_timeout`
  and `idle_session_timeout` end an idle connection with FATAL 25P03 / 57P05;
- a COMMIT interrupted by a cancel reports its real outcome and leaves no
  keys held.

No test asserts a latency: only what happened and in which order.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import asyncpg
import psycopg
import pytest
from support.wire import RawConnection, errors_in

# Long enough on both servers to be interrupted, short enough to finish if it is not.
BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 30000000)"
ELECTION = re.compile(r"campaign ballot")


def _both(pg_server, dsql_server, scenario):
    return asyncio.run(scenario(pg_server.dsn)), asyncio.run(scenario(dsql_server.dsn))


# -- nothing stalls -----------------------------------------------------------------------------------


def test_select_1_answers_beside_a_cpu_bound_query_and_the_journal_keeps_its_leader(start_dsql) -> None:
    server = start_dsql()
    with psycopg.connect(server.dsn, autocommit=True) as warm:
        warm.execute("SELECT 1")  # the first election of the journal is behind us
    time.sleep(0.5)
    elections_before = len(ELECTION.findall(server.log_path.read_text()))

    async def scenario() -> tuple[int, int, bool]:
        busy = await asyncpg.connect(server.dsn)
        probe = await asyncpg.connect(server.dsn)
        try:
            task = asyncio.create_task(busy.fetchval("SELECT count(*) FROM generate_series(1, 6000000)"))
            await asyncio.sleep(0.3)
            answered_during = 0
            while not task.done():
                assert await probe.fetchval("SELECT 1", timeout=30) == 1
                if not task.done():
                    answered_during += 1
                await asyncio.sleep(0.02)
            return await task, answered_during, True
        finally:
            await busy.close()
            await probe.close()

    count, answered_during, _ = asyncio.run(scenario())
    assert count == 6_000_000
    # Before the executor yielded, the probe waited for the whole query: at most one answer.
    assert answered_during >= 5, f"SELECT 1 answered only {answered_during} times while the query ran"
    elections_after = len(ELECTION.findall(server.log_path.read_text()))
    assert elections_after == elections_before, "the journal held an election while the query ran"


def test_sorts_joins_and_aggregates_over_many_rows_answer_as_postgres(pg_server, dsql_server) -> None:
    """The executor's pieces (sorted runs merged lazily, hash joins built per batch,
    windows per slice) give PostgreSQL's answers on inputs past their piece sizes."""
    queries = [
        "SELECT x FROM generate_series(1, 30000) x ORDER BY x % 7 DESC, x LIMIT 20 OFFSET 14990",
        "SELECT x, y FROM generate_series(1, 20000) x, LATERAL (SELECT x % 3 AS y) s "
        "ORDER BY y NULLS FIRST, x DESC LIMIT 10",
        "SELECT a.x FROM generate_series(1, 20000) a(x) JOIN generate_series(1, 20000, 3) b(y) ON a.x = b.y "
        "ORDER BY a.x DESC LIMIT 5",
        "SELECT string_agg(x::text, ',' ORDER BY x DESC) FROM generate_series(1, 12000) x WHERE x % 1000 = 0",
        "SELECT x, sum(x) OVER (ORDER BY x ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM "
        "generate_series(1, 10000) x ORDER BY x DESC LIMIT 3",
        "SELECT count(*), count(DISTINCT x % 1000) FROM generate_series(1, 50000) x",
        "SELECT count(*) FROM (SELECT generate_series(1, 25000), generate_series(1, 3)) s",
        "SELECT x FROM generate_series(1, 20000) x INTERSECT SELECT y * 2 FROM generate_series(1, 9000) y "
        "ORDER BY 1 DESC LIMIT 3",
    ]

    def run(dsn: str) -> list:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return [conn.execute(q).fetchall() for q in queries]

    assert run(dsql_server.dsn) == run(pg_server.dsn)


# -- cancel and timeouts ------------------------------------------------------------------------------


def test_cancel_request_stops_a_busy_statement(pg_server, dsql_server) -> None:
    async def scenario(dsn: str):
        conn = await asyncpg.connect(dsn)
        try:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):  # asyncpg sends a CancelRequest at its timeout
                await conn.fetchval(BUSY_QUERY, timeout=0.5)
            # The connection is usable at once: the statement really stopped.
            value = await conn.fetchval("SELECT 41 + 1", timeout=30)
            return value, time.monotonic() - started < 20
        finally:
            await conn.close()

    reference, candidate = _both(pg_server, dsql_server, scenario)
    assert candidate == reference == (42, True)


def test_psycopg_cancel_gives_57014_and_the_block_is_failed(pg_server, dsql_server) -> None:
    def scenario(dsn: str):
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT 1")
            timer = threading.Timer(0.4, conn.cancel)
            timer.start()
            try:
                conn.execute(BUSY_QUERY)
            except psycopg.Error as exc:
                sqlstate = exc.sqlstate
            else:
                sqlstate = None
            finally:
                timer.cancel()
            status = conn.info.transaction_status.name
            conn.rollback()
            return sqlstate, status, conn.execute("SELECT 'ok'").fetchone()[0]

    assert scenario(dsql_server.dsn) == scenario(pg_server.dsn) == ("57014", "INERROR", "ok")


def test_statement_timeout(pg_server, dsql_server) -> None:
    def scenario(dsn: str):
        out = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            for value in ("1000", "'1.5s'", "90000", "'2min'", "'250ms'", "0"):
                conn.execute(f"SET statement_timeout = {value}")
                out.append(conn.execute("SHOW statement_timeout").fetchone()[0])
            for bad in ("'5x'", "-1", "'1e12'"):
                try:
                    conn.execute(f"SET statement_timeout = {bad}")
                except psycopg.Error as exc:
                    out.append((exc.sqlstate, exc.diag.message_primary))
            conn.execute("SET statement_timeout = '300ms'")
            for statement in (BUSY_QUERY, "SELECT pg_sleep(5)", "SELECT x FROM generate_series(1, 30000000) x "
                              "ORDER BY x DESC LIMIT 1"):
                started = time.monotonic()
                try:
                    conn.execute(statement)
                except psycopg.Error as exc:
                    out.append((exc.sqlstate, exc.diag.message_primary, time.monotonic() - started < 20))
            conn.execute("SET statement_timeout = 0")
            out.append(conn.execute("SELECT 1").fetchone())
        return out

    assert scenario(dsql_server.dsn) == scenario(pg_server.dsn)


def test_pg_cancel_backend_and_pg_terminate_backend(pg_server, dsql_server) -> None:
    async def scenario(dsn: str):
        victim = await asyncpg.connect(dsn)
        killer = await asyncpg.connect(dsn)
        out = []
        try:
            pid = await victim.fetchval("SELECT pg_backend_pid()")
            task = asyncio.create_task(victim.fetchval(BUSY_QUERY))
            await asyncio.sleep(0.4)
            out.append(await killer.fetchval("SELECT pg_cancel_backend($1)", pid))
            try:
                await task
            except asyncpg.PostgresError as exc:
                out.append((exc.sqlstate, str(exc)))
            out.append(await victim.fetchval("SELECT 'still here'"))
            out.append(await killer.fetchval("SELECT pg_cancel_backend(2147483000)"))  # no such backend
            task = asyncio.create_task(victim.fetchval(BUSY_QUERY))
            await asyncio.sleep(0.4)
            out.append(await killer.fetchval("SELECT pg_terminate_backend($1)", pid))
            try:
                await task
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                out.append(("ended", "terminating connection due to administrator command" in str(exc)))
            try:
                await killer.fetchval("SELECT pg_terminate_backend(1, -1)")
            except asyncpg.PostgresError as exc:
                out.append((exc.sqlstate, str(exc)))
            return out
        finally:
            await killer.close()
            victim.terminate()

    reference, candidate = _both(pg_server, dsql_server, scenario)
    assert candidate == reference


def test_pg_cancel_backend_of_an_unknown_pid_warns(dsql_server, pg_server) -> None:
    def scenario(dsn: str):
        notices = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.add_notice_handler(lambda d: notices.append((d.severity, d.message_primary)))
            return conn.execute("SELECT pg_cancel_backend(2147483000)").fetchone(), notices

    assert scenario(dsql_server.dsn) == scenario(pg_server.dsn)


def test_a_role_may_not_cancel_a_superusers_statement(start_dsql) -> None:
    server = start_dsql()
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE mallory LOGIN")
        pid = admin.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(server.dsn.replace("postgres@", "mallory@", 1), autocommit=True) as other:
            assert other.execute("SELECT current_user").fetchone()[0] == "mallory"
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert caught.value.diag.message_primary == "permission denied to terminate process"
            # Its own statement it may cancel: the statement doing so is cancelled (as in PostgreSQL).
            with pytest.raises(psycopg.errors.QueryCanceled):
                other.execute("SELECT pg_cancel_backend(pg_backend_pid())")
            assert other.execute("SELECT 'usable'").fetchone() == ("usable",)
        assert admin.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(
    ("setting", "begin", "sqlstate", "message"),
    [
        ("idle_in_transaction_session_timeout", True, "25P03",
         "terminating connection due to idle-in-transaction timeout"),
        ("idle_session_timeout", False, "57P05", "terminating connection due to idle-session timeout"),
    ],
)
def test_idle_timeouts_end_the_connection(pg_server, dsql_server, setting, begin, sqlstate, message) -> None:
    def scenario(server) -> tuple:
        client = RawConnection(server.host, server.port)
        try:
            client.startup(user=server.user)
            assert not errors_in(client.simple_query(f"SET {setting} = '300ms'"))
            if begin:
                assert not errors_in(client.simple_query("BEGIN"))
            replies = client.read_until_closed(timeout_s=10)
            return tuple((e["S"], e["C"], e["M"]) for e in errors_in(replies))
        finally:
            client.close()

    assert scenario(dsql_server) == scenario(pg_server) == (("FATAL", sqlstate, message),)


def test_idle_in_transaction_timeout_spares_a_session_outside_a_block(dsql_server) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        conn.execute("SET idle_in_transaction_session_timeout = '200ms'")
        time.sleep(0.6)
        assert conn.execute("SELECT 'alive'").fetchone() == ("alive",)


# -- COMMIT is not interrupted halfway ----------------------------------------------------------------


def test_a_cancelled_commit_reports_its_real_outcome_and_holds_no_keys(dsql_server, names) -> None:
    """Cancel a COMMIT at varying moments: whatever the client is told must be
    what happened, and the keys it wrote are free for the next writer at once
    (a commit cancelled halfway used to report 57014, land anyway, and hold
    its keys for seconds)."""
    table = names("acct")
    with psycopg.connect(dsql_server.dsn, autocommit=True) as setup:
        setup.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")

    def attempt(round_: int, delay: float) -> tuple[str, bool]:
        with psycopg.connect(dsql_server.dsn) as conn:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(round_ * 1000 + i, i) for i in range(500)])
            timer = threading.Timer(delay, conn.cancel)
            timer.start()
            try:
                conn.commit()
                told = "committed"
            except psycopg.errors.QueryCanceled:
                told = "cancelled"
            timer.join()  # the cancel has reached the server (psycopg waits for it)
            conn.autocommit = True
            landed = conn.execute(f"SELECT count(*) FROM {table} WHERE id / 1000 = %s", (round_,)).fetchone()[0]
            # The keys are free: a new writer of the same rows commits at once, without 40001.
            conn.execute(f"UPDATE {table} SET v = v + 1 WHERE id / 1000 = %s", (round_,))
            return told, landed == 500

    delays = [0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.0, 0.001, 0.004]
    outcomes = [attempt(r, delay) for r, delay in enumerate(delays)]
    for told, landed in outcomes:
        assert (told == "committed") == landed, outcomes
    with psycopg.connect(dsql_server.dsn, autocommit=True) as cleanup:
        cleanup.execute(f"DROP TABLE {table}")
