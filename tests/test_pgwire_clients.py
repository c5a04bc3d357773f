"""pgwire.server with real clients over real sockets: asyncpg, psycopg 3 and psql.

The QP behind the server is `pgwire.testing.FakeSessionFactory`, so these
tests pin down the protocol each client needs (prepare with Flush, fetchrow's
row limit, executemany's single Sync, cursors whose portals outlive Sync,
pipeline mode, cancel, the empty query) independently of SQL. asyncpg and
psycopg are not trio libraries: each client runs in a worker thread (asyncpg
with its own asyncio loop) while the server runs in the test's trio loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import psycopg.errors
import pytest
import trio

from pgwire import serve, serve_listeners
from pgwire.testing import FakeSession, FakeSessionFactory

pytestmark = pytest.mark.timeout(120)


@dataclass
class Running:
    factory: FakeSessionFactory
    port: int

    def only_session(self) -> FakeSession:
        (session,) = self.factory.sessions.values()
        return session

    def calls(self, name: str) -> list[tuple]:
        return [c for s in self.factory.history for c in s.calls if c[0] == name]


@pytest.fixture
async def server(nursery: trio.Nursery) -> Running:
    factory = FakeSessionFactory()
    port = await nursery.start(serve, factory, "127.0.0.1", 0)
    return Running(factory, port)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 10) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


# --- asyncpg ---------------------------------------------------------------------------------

async def with_asyncpg(server: Running, body: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user="tester", database="db", timeout=10)
        try:
            return await body(conn)
        finally:
            await conn.close(timeout=5)

    return await trio.to_thread.run_sync(asyncio.run, main(), abandon_on_cancel=True)


async def test_asyncpg_prepared_statements(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> list:
        return [
            await conn.fetchval("select 1"),
            await conn.fetchval("select $1::int", 42),
            await conn.fetchval("select $1::int", -7),  # the cached statement again
            await conn.fetchval("select $1::text", "héllo ✓"),
            conn.get_server_version().major,
        ]

    assert await with_asyncpg(server, body) == [1, 42, -7, "héllo ✓", 16]
    parses = server.calls("parse")
    assert [p[2] for p in parses] == ["select 1", "select $1::int", "select $1::text"]
    assert all(p[1].startswith("__asyncpg_stmt_") and p[3] == [] for p in parses)
    binds = server.calls("bind")
    assert binds[1][3:] == ([1], [b"\x00\x00\x00\x2a"], [1])  # binary parameter, binary results
    assert binds[0][3:] == ([1], [], [1])  # one format code and no parameters


async def test_asyncpg_fetchrow_uses_a_row_limit(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        return await conn.fetchrow("select generate_series(1, 5)"), await conn.fetch("select generate_series(1, 3)")

    row, rows = await with_asyncpg(server, body)
    assert tuple(row) == (1,)
    assert [tuple(r) for r in rows] == [(1,), (2,), (3,)]
    assert [c[2] for c in server.calls("execute")] == [1, 0]


async def test_asyncpg_executemany_sends_one_sync(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> None:
        await conn.executemany("insert into t values ($1)", [(i,) for i in range(200)])

    await with_asyncpg(server, body)
    assert server.factory.table == list(range(200))
    assert len(server.calls("execute")) == 200
    assert len(server.calls("sync")) == 1


async def test_asyncpg_cursor_portal_survives_sync_in_a_transaction(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        async with conn.transaction():
            in_transaction = conn.is_in_transaction()
            values = [r[0] async for r in conn.cursor("select generate_series(1, 130)", prefetch=50)]
        return in_transaction, values, conn.is_in_transaction()

    in_transaction, values, after = await with_asyncpg(server, body)
    assert (in_transaction, values, after) == (True, list(range(1, 131)), False)
    executes = server.calls("execute")
    assert executes[0][1].startswith("__asyncpg_portal_") and [e[2] for e in executes] == [50, 50, 50]
    assert len(server.calls("sync")) >= 3  # a Sync after each batch; the portal lived on


async def test_asyncpg_errors_leave_the_connection_usable(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> list:
        out = []
        for sql in ("selec 1", "select 1/0", "select crash()"):
            try:
                await conn.fetch(sql)
            except asyncpg.PostgresError as exc:
                out.append((type(exc).__name__, exc.sqlstate))
            out.append(await conn.fetchval("select 1"))
        return out

    assert await with_asyncpg(server, body) == [
        ("PostgresSyntaxError", "42601"), 1, ("DivisionByZeroError", "22012"), 1, ("InternalServerError", "XX000"), 1,
    ]


async def test_asyncpg_empty_query(server: Running) -> None:
    # Only the extended protocol: asyncpg's execute(";") (a simple Query) raises AttributeError
    # on EmptyQueryResponse against PostgreSQL 15 itself; psycopg and psql cover that case.
    async def body(conn: asyncpg.Connection) -> Any:
        return await conn.fetch(";"), await conn.fetchval("select 1")

    assert await with_asyncpg(server, body) == ([], 1)
    assert [c[2] for c in server.calls("parse")] == [";", "select 1"]


async def test_asyncpg_timeout_sends_a_cancel_request(server: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        with pytest.raises(asyncio.TimeoutError):
            await conn.fetch("select pg_sleep(30)", timeout=0.5)
        return await conn.fetchval("select 1")

    assert await with_asyncpg(server, body) == 1
    assert len(server.calls("cancel")) == 1


# --- psycopg 3 -------------------------------------------------------------------------------

def psycopg_connect(server: Running, **kwargs: Any) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user="tester", dbname="db", connect_timeout=10, **kwargs
    )


async def in_thread(fn: Callable[[], Any]) -> Any:
    return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)


async def test_psycopg_parameters_and_transactions(server: Running) -> None:
    def body() -> list:
        with psycopg_connect(server) as conn:
            out = [conn.execute("select %s::int", [5]).fetchone()]
            out.append(conn.info.transaction_status.name)  # psycopg sent BEGIN: autocommit is off
            out.append(conn.execute("select %s", ["héllo"]).fetchone())
            out.append(conn.execute("select %s::int", [7], binary=True).fetchone())
            conn.commit()
            out.append(conn.info.transaction_status.name)
            out.append(conn.info.server_version)
            return out

    assert await in_thread(body) == [(5,), "INTRANS", ("héllo",), (7,), "IDLE", 160004]
    assert [c[1] for c in server.calls("simple_query")] == ["BEGIN", "COMMIT"]
    parse = server.calls("parse")[0]
    assert parse[1:] == ("", "select $1::int", [21])  # psycopg sends 5 as a binary int2
    assert server.calls("bind")[0][3:] == ([1], [b"\x00\x05"], [0])


async def test_psycopg_pipeline_mode(server: Running) -> None:
    def body() -> list:
        with psycopg_connect(server, autocommit=True) as conn:
            with conn.pipeline():
                c1 = conn.execute("select %s::int", [1])
                c2 = conn.execute("select generate_series(1, 3)", prepare=False, binary=False)
                c3 = conn.execute("select %s::text", ["x"])
            results = [c1.fetchall(), c2.fetchall(), c3.fetchall()]
            try:
                with conn.pipeline():
                    conn.execute("select %s::int", [1])
                    conn.execute("select 1/0", [])
                    conn.execute("select %s::int", [3])
            except psycopg.errors.DivisionByZero:
                results.append("division by zero")
            results.append(conn.execute("select 1").fetchone())
            return results

    assert await in_thread(body) == [[(1,)], [(1,), (2,), (3,)], [("x",)], "division by zero", (1,)]


async def test_psycopg_executemany(server: Running) -> None:
    def body() -> None:
        with psycopg_connect(server, autocommit=True) as conn:
            conn.cursor().executemany("insert into t values (%s)", [(i,) for i in range(50)])

    await in_thread(body)
    assert server.factory.table == list(range(50))
    assert {c[1] for c in server.calls("parse")} == {"_pg3_0"}  # prepared once, by name


async def test_psycopg_prepared_statements(server: Running) -> None:
    def body() -> list:
        with psycopg_connect(server, autocommit=True) as conn:
            return [conn.execute("select %s::int", [i], prepare=True).fetchone()[0] for i in range(5)]

    assert await in_thread(body) == [0, 1, 2, 3, 4]
    assert len(server.calls("parse")) == 1


async def test_psycopg_errors_and_failed_transactions(server: Running) -> None:
    def body() -> list:
        out = []
        with psycopg_connect(server) as conn:
            with pytest.raises(psycopg.errors.DivisionByZero):
                conn.execute("select 1/0", [])
            out.append(conn.info.transaction_status.name)
            with pytest.raises(psycopg.errors.InFailedSqlTransaction):
                conn.execute("select %s::int", [1])
            conn.rollback()
            out.append(conn.info.transaction_status.name)
            with pytest.raises(psycopg.errors.InternalError_) as info:
                conn.execute("select crash()")
            out.append(info.value.sqlstate)
            conn.rollback()
            out.append(conn.execute("select %s::int", [2]).fetchone())
        return out

    assert await in_thread(body) == ["INERROR", "IDLE", "XX000", (2,)]


async def test_psycopg_empty_query(server: Running) -> None:
    def body() -> Any:
        with psycopg_connect(server, autocommit=True) as conn:
            cur = conn.execute(";")
            return psycopg.pq.ExecStatus(cur.pgresult.status).name, cur.description

    assert await in_thread(body) == ("EMPTY_QUERY", None)


async def test_psycopg_notices_and_parameter_status(server: Running) -> None:
    def body() -> list:
        notices: list[Any] = []
        with psycopg_connect(server, autocommit=True) as conn:
            # a Diagnostic is only valid inside the handler
            conn.add_notice_handler(lambda n: notices.append((n.severity, n.message_primary, n.message_detail)))
            conn.execute("select notice()")
            conn.execute("set application_name = 'renamed'")
            return notices + [
                conn.info.parameter_status("application_name"),
            ]

    assert await in_thread(body) == [("NOTICE", "hello from the fake", "a detail"), "renamed"]


async def test_psycopg_cancel(server: Running) -> None:
    conn = await in_thread(lambda: psycopg_connect(server, autocommit=True))  # never block the trio thread
    try:
        async def canceller() -> None:
            await wait_for(lambda: len(server.factory.sessions) == 1)
            await server.only_session().sleeping.wait()
            await in_thread(conn.cancel_safe)

        def sleeper() -> str:
            try:
                conn.execute("select pg_sleep(30)")
            except psycopg.errors.QueryCanceled as exc:
                return exc.sqlstate
            return "not cancelled"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(canceller)
            assert await in_thread(sleeper) == "57014"
        assert await in_thread(lambda: conn.execute("select 1").fetchone()) == (1,)
    finally:
        await in_thread(conn.close)


# --- psql ------------------------------------------------------------------------------------

PSQL_ENV = {
    **os.environ, "PGCONNECT_TIMEOUT": "10", "PGUSER": "tester", "PGDATABASE": "db", "PGAPPNAME": "psql",
    "PGSSLMODE": "prefer",  # the default: libpq asks for SSL first and goes on after our "N"
}


async def psql(host: str, port: int, *args: str) -> trio.CompletedProcess:
    with trio.fail_after(30):
        return await trio.run_process(
            ["psql", "-X", "-h", host, "-p", str(port), *args], capture_stdout=True, capture_stderr=True,
            check=False, env=PSQL_ENV,
        )


async def test_psql_command(server: Running) -> None:
    result = await psql("127.0.0.1", server.port, "-At", "-c", "select 1; select generate_series(1, 3)")
    assert (result.returncode, result.stdout.decode(), result.stderr.decode()) == (0, "1\n1\n2\n3\n", "")
    assert server.calls("simple_query") == [("simple_query", "select 1; select generate_series(1, 3)")]
    assert server.factory.startups[0]["application_name"] == "psql"


async def test_psql_empty_query(server: Running) -> None:
    result = await psql("127.0.0.1", server.port, "-At", "-c", ";")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


async def test_psql_file_with_several_statements(server: Running, tmp_path: Path) -> None:
    script = tmp_path / "script.sql"
    script.write_text(
        "select 1;\n"
        "select generate_series(1, 2);\n"
        ";\n"
        "begin;\n"
        "insert into t values (7);\n"
        "commit;\n"
        "select * from t;\n"
        "select 1/0;\n"
        "select 2;\n"
    )
    result = await psql("127.0.0.1", server.port, "-At", "-f", str(script))
    assert result.returncode == 0
    assert result.stdout.decode().split("\n") == ["1", "1", "2", "BEGIN", "INSERT 0 1", "COMMIT", "7", "2", ""]
    assert "ERROR:  division by zero" in result.stderr.decode()
    assert [c[1] for c in server.calls("simple_query")][:4] == [  # psql sends one Query per statement
        "select 1;", "select generate_series(1, 2);", ";", "begin;",
    ]

    result = await psql("127.0.0.1", server.port, "-At", "-v", "ON_ERROR_STOP=1", "-f", str(script))
    assert result.returncode == 3
    assert not result.stdout.decode().endswith("2\n2\n")


async def test_psql_ctrl_c_cancels_the_statement(server: Running) -> None:
    process = await trio.lowlevel.open_process(
        ["psql", "-X", "-h", "127.0.0.1", "-p", str(server.port), "-c", "select pg_sleep(30)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=PSQL_ENV,
    )
    try:
        await wait_for(lambda: len(server.factory.sessions) == 1)
        await server.only_session().sleeping.wait()
        process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            await process.wait()
        stderr = await process.stderr.receive_some(65536)
    finally:
        process.kill()
    assert process.returncode == 1
    assert "ERROR:  canceling statement due to user request" in stderr.decode()


async def test_psql_over_a_unix_socket(nursery: trio.Nursery) -> None:
    factory = FakeSessionFactory()
    with tempfile.TemporaryDirectory() as directory:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(os.path.join(directory, ".s.PGSQL.5999"))
        sock.listen(16)
        nursery.start_soon(lambda: serve_listeners(factory, [trio.SocketListener(sock)]))
        result = await psql(directory, 5999, "-At", "-c", "select 1")
        assert (result.returncode, result.stdout) == (0, b"1\n")
