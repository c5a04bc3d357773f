"""Errors as PostgreSQL sends them: the fields clients read, and the limits behind some errors.

- Routine (`R`): asyncpg re-prepares a cached statement after a schema change
  only for a 0A000 from `RevalidateCachedQuery`, so `SELECT *` after another
  connection's `ALTER TABLE ... ADD COLUMN` must give the application what it
  gets from PostgreSQL: the new rows outside a transaction, asyncpg's
  InvalidCachedStatementError inside one.
- Object names (`s`, `t`, `c`, `n`) and DETAIL on constraint errors, read as
  psycopg's `e.diag.*` and asyncpg's `e.*_name`, for INSERT, UPDATE, DELETE,
  INSERT ... ON CONFLICT and COPY, compared with PostgreSQL statement by
  statement.
- HINTs on DSQL's transaction limits, naming the setting that moves each.
- 54001 "stack depth limit exceeded" for statements and values nested too
  deeply, in each stage that recurses; never XX000, the session goes on and
  nothing reaches the server log as a RecursionError (qp/stack.py's own
  checks, and the recursion limit against the C stack: tests/test_stack.py).
- Messages: a 20 MB query literal and bind parameter work from both drivers;
  a message over `dsql serve --max-message-bytes` gets PostgreSQL's
  "invalid message length" and the server carries on.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg.types.string import TextLoader
from support.names import unique_name
from support.wire import RawConnection, errors_in, message

COMMAND_TIMEOUT_S = 60
REPO = Path(__file__).resolve().parent.parent


def connect(server) -> psycopg.Connection:
    return psycopg.connect(server.dsn, autocommit=True)


def run_on_both(pg_server, dsql_server, scenario, *args):
    """(PostgreSQL's result, dsql's result) of one scenario."""
    return tuple(scenario(server, *args) for server in (pg_server, dsql_server))


# -- R: asyncpg's statement cache after ALTER TABLE -------------------------------------------------


async def _asyncpg_after_alter(dsn: str, table: str) -> list:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    other = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    out: list = []
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
        await conn.execute(f"INSERT INTO {table} VALUES (1, 10)")
        out.append([tuple(r.items()) for r in await conn.fetch(f"SELECT * FROM {table}")])
        await other.execute(f"ALTER TABLE {table} ADD COLUMN w text")
        # Outside a transaction asyncpg prepares the statement again and retries it.
        out.append([tuple(r.items()) for r in await conn.fetch(f"SELECT * FROM {table}")])
        await other.execute(f"ALTER TABLE {table} ADD COLUMN x int")
        try:
            async with conn.transaction():  # inside one it cannot: the error reaches the application
                await conn.fetch(f"SELECT * FROM {table}")
            out.append("no error")
        except asyncpg.PostgresError as exc:
            out.append((type(exc).__name__, exc.sqlstate))
        out.append([tuple(r.items()) for r in await conn.fetch(f"SELECT * FROM {table}")])
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
        await other.close()
    return out


def test_asyncpg_prepares_again_after_alter_table_as_with_postgresql(pg_server, dsql_server, table_name):
    pg, dsql = run_on_both(pg_server, dsql_server, lambda s: asyncio.run(_asyncpg_after_alter(s.dsn, table_name)))
    assert pg == [
        [(("id", 1), ("v", 10))],
        [(("id", 1), ("v", 10), ("w", None))],
        ("InvalidCachedStatementError", "0A000"),
        [(("id", 1), ("v", 10), ("w", None), ("x", None))],
    ]
    assert dsql == pg


# -- s, t, c, n and DETAIL on constraint errors ---------------------------------------------------------


def _diag(exc: psycopg.Error) -> tuple:
    d = exc.diag
    return (exc.sqlstate, d.message_primary, d.message_detail, d.schema_name, d.table_name, d.column_name,
            d.datatype_name, d.constraint_name, d.source_function)


def _asyncpg_fields(exc: asyncpg.PostgresError) -> tuple:
    return (exc.sqlstate, exc.message, exc.detail, exc.schema_name, exc.table_name, exc.column_name,
            exc.data_type_name, exc.constraint_name, exc.server_source_function)


def _schema(parent: str, child: str, full: str) -> list[str]:
    return [
        f"CREATE TABLE {parent} (id int PRIMARY KEY, u int UNIQUE, v int NOT NULL, w int CHECK (w > 0), "
        "UNIQUE (id, u))",
        f"CREATE TABLE {child} (id int PRIMARY KEY, pid int REFERENCES {parent} (id))",
        f"CREATE TABLE {full} (id int PRIMARY KEY, a int, b int, "
        f"FOREIGN KEY (a, b) REFERENCES {parent} (id, u) MATCH FULL)",
        f"INSERT INTO {parent} VALUES (1, 1, 1, 1), (2, 2, 2, 2)",
        f"INSERT INTO {child} VALUES (1, 1)",
    ]


def _violations(parent: str, child: str, full: str) -> list[tuple[str, tuple]]:
    return [
        (f"INSERT INTO {parent} VALUES (1, 9, 9, 9)", ()),  # primary key
        (f"INSERT INTO {parent} VALUES (3, 1, 9, 9)", ()),  # unique
        (f"INSERT INTO {parent} VALUES (3, 3, NULL, 9)", ()),  # not null
        (f"INSERT INTO {parent} VALUES (3, 3, 3, -1)", ()),  # check
        (f"INSERT INTO {parent} VALUES (%s, %s, %s, %s)", (3, 3, None, 3)),  # with parameters
        (f"INSERT INTO {child} VALUES (2, 99)", ()),  # foreign key, from the child
        (f"INSERT INTO {full} VALUES (1, 1, NULL)", ()),  # MATCH FULL
        (f"UPDATE {parent} SET v = NULL WHERE id = 2", ()),
        (f"UPDATE {parent} SET w = 0 WHERE id = 2", ()),
        (f"UPDATE {parent} SET u = 1 WHERE id = 2", ()),
        (f"UPDATE {parent} SET id = 1 WHERE id = 2", ()),
        (f"UPDATE {child} SET pid = 42", ()),
        (f"UPDATE {parent} SET id = 5 WHERE id = 1", ()),  # foreign key, from the parent
        (f"DELETE FROM {parent} WHERE id = 1", ()),
        (f"INSERT INTO {parent} VALUES (2, 5, 5, 5) ON CONFLICT (id) DO UPDATE SET v = NULL", ()),
        (f"INSERT INTO {parent} VALUES (2, 5, 5, 5) ON CONFLICT (id) DO UPDATE SET u = 1", ()),
        (f"INSERT INTO {parent} VALUES (2, 5, 5, 5) ON CONFLICT (id) DO UPDATE SET w = -2", ()),
        (f"INSERT INTO {parent} VALUES (3, 1, 5, 5) ON CONFLICT (id) DO NOTHING", ()),
        (f"INSERT INTO {parent} VALUES (3, 3, 5, -5) ON CONFLICT DO NOTHING", ()),
    ]


# COPY FROM STDIN rows that break each kind of constraint (the table's rows stay as they were).
_COPY_ROWS = {"parent": [(4, 4, None, 4), (1, 7, 7, 7), (5, 1, 5, 5), (6, 6, 6, -6)], "child": [(7, 77)]}


def _psycopg_violations(server, parent: str, child: str, full: str) -> list[tuple]:
    out = []
    with connect(server) as conn:
        for table in (full, child, parent):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for sql in _schema(parent, child, full):
            conn.execute(sql)
        try:
            for sql, params in _violations(parent, child, full):
                try:
                    conn.execute(sql, params or None)
                    out.append(("no error", sql))
                except psycopg.Error as exc:
                    out.append(_diag(exc))
            for key, rows in _COPY_ROWS.items():
                table = parent if key == "parent" else child
                for row in rows:
                    try:
                        with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                            copy.write_row(row)
                        out.append(("no error", row))
                    except psycopg.Error as exc:
                        out.append(_diag(exc))
        finally:
            for table in (full, child, parent):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    return out


async def _asyncpg_violations(dsn: str, parent: str, child: str, full: str) -> list[tuple]:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    out: list[tuple] = []
    try:
        for table in (full, child, parent):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        for sql in _schema(parent, child, full):
            await conn.execute(sql)
        for sql, params in _violations(parent, child, full):
            sql = sql.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1).replace("%s", "$4", 1)
            try:
                await conn.execute(sql, *params)  # prepared statements (extended protocol), even without parameters
                out.append(("no error", sql))
            except asyncpg.PostgresError as exc:
                out.append(_asyncpg_fields(exc))
        for key, rows in _COPY_ROWS.items():
            table = parent if key == "parent" else child
            for row in rows:
                try:
                    await conn.copy_records_to_table(table, records=[row])  # binary COPY
                    out.append(("no error", row))
                except asyncpg.PostgresError as exc:
                    out.append(_asyncpg_fields(exc))
    finally:
        for table in (full, child, parent):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
    return out


def short_names() -> tuple[str, str, str]:
    """Table names short enough that the constraint names made from them are not truncated."""
    return tuple(unique_name(kind, prefix="ef") for kind in ("parent", "child", "full"))


def test_constraint_errors_name_their_objects_in_psycopg_as_postgresql_does(pg_server, dsql_server):
    parent, child, full = short_names()
    pg, dsql = run_on_both(pg_server, dsql_server, _psycopg_violations, parent, child, full)
    assert pg[0] == ("23505", f'duplicate key value violates unique constraint "{parent}_pkey"',
                     "Key (id)=(1) already exists.", "public", parent, None, None, f"{parent}_pkey", "_bt_check_unique")
    assert pg[2] == ("23502", f'null value in column "v" of relation "{parent}" violates not-null constraint',
                     "Failing row contains (3, 3, null, 9).", "public", parent, "v", None, None, "ExecConstraints")
    assert len(pg) == len(_violations(parent, child, full)) + 5 and all(row[0] != "no error" for row in pg)
    for statement, theirs, ours in zip(_violations(parent, child, full) + [("COPY", ())] * 5, pg, dsql, strict=True):
        assert ours == theirs, statement


def test_constraint_errors_name_their_objects_in_asyncpg_as_postgresql_does(pg_server, dsql_server):
    parent, child, full = short_names()
    pg, dsql = run_on_both(
        pg_server, dsql_server, lambda s: asyncio.run(_asyncpg_violations(s.dsn, parent, child, full))
    )
    assert pg[5] == ("23503", f'insert or update on table "{child}" violates foreign key constraint "{child}_pid_fkey"',
                     f'Key (pid)=(99) is not present in table "{parent}".', "public", child, None, None,
                     f"{child}_pid_fkey", "ri_ReportViolation")
    assert all(row[0] != "no error" for row in pg)
    for statement, theirs, ours in zip(_violations(parent, child, full) + [("COPY", ())] * 5, pg, dsql, strict=True):
        assert ours == theirs, statement


def _several_foreign_keys(server, a: str, b: str, child: str) -> list[tuple]:
    statements = [
        f"INSERT INTO {child} VALUES (4, 9, 9)",  # both keys broken: the first one's error
        f"INSERT INTO {child} VALUES (5, 1, 8)",
        f"INSERT INTO {child} VALUES (6, 1, 1), (7, 1, 7), (8, 6, 1)",  # the first row's, not the first key's
        f"INSERT INTO {child} VALUES (9, 1, 1), (10, 5, 1), (11, 1, 4)",
        f"UPDATE {child} SET b = 3 WHERE id = 1",
        f"UPDATE {child} SET a = 3, b = 3 WHERE id = 1",
    ]
    out = []
    with connect(server) as conn:
        for table in (child, a, b):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {a} (id int PRIMARY KEY)")
        conn.execute(f"CREATE TABLE {b} (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO {a} VALUES (1), (2)")
        conn.execute(f"INSERT INTO {b} VALUES (1), (2)")
        conn.execute(f"CREATE TABLE {child} (id int PRIMARY KEY, a int REFERENCES {a}, b int REFERENCES {b})")
        conn.execute(f"INSERT INTO {child} VALUES (1, 1, 1), (2, 2, 2)")
        try:
            for sql in statements:
                try:
                    conn.execute(sql)
                    out.append(("no error", sql))
                except psycopg.Error as exc:
                    out.append(_diag(exc))
            out.append(conn.execute(f"SELECT * FROM {child} ORDER BY id").fetchall())
        finally:
            for table in (child, a, b):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    return out


def test_a_row_breaking_several_foreign_keys_is_reported_as_postgresql_does(pg_server, dsql_server):
    """The parent keys of all of a table's foreign keys are read at once; the error is still
    PostgreSQL's: the first row with a violation, and the first of its keys that has one."""
    a, b, child = (unique_name(kind, prefix="ef") for kind in ("a", "b", "child"))
    pg, dsql = run_on_both(pg_server, dsql_server, _several_foreign_keys, a, b, child)
    assert pg[2][7] == f"{child}_b_fkey" and pg[3][7] == f"{child}_a_fkey", pg
    assert pg[-1] == [(1, 1, 1), (2, 2, 2)]
    assert dsql == pg


# -- HINTs on DSQL's limits -----------------------------------------------------------------------------


def test_limit_errors_hint_at_the_setting_that_moves_them(dsql_server, table_name):
    with connect(dsql_server) as conn:
        conn.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, s text)")
        try:
            conn.execute("SET dsql.transaction_rows_max = 5")
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                with conn.cursor().copy(f"COPY {table_name} (id) FROM STDIN") as copy:
                    for i in range(10):
                        copy.write_row((i,))
            assert info.value.diag.message_primary == "transaction row limit exceeded"
            assert info.value.diag.message_hint == (
                "A COPY is one transaction, limited to dsql.transaction_rows_max (5) rows. To load more, "
                "set dsql.copy_batch_rows (to at most 5) so that COPY commits every that many rows "
                "as a transaction of its own."
            )
            conn.execute("SET dsql.copy_batch_rows = 8")  # batches larger than the limit
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                with conn.cursor().copy(f"COPY {table_name} (id) FROM STDIN") as copy:
                    for i in range(10):
                        copy.write_row((i,))
            assert "set dsql.copy_batch_rows to at most 5" in info.value.diag.message_hint
            conn.execute("SET dsql.copy_batch_rows = 5")  # as the hint says: now it loads
            with conn.cursor().copy(f"COPY {table_name} (id) FROM STDIN") as copy:
                for i in range(10):
                    copy.write_row((i,))
            assert conn.execute(f"SELECT count(*) FROM {table_name}").fetchone() == (10,)
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                conn.execute(f"INSERT INTO {table_name} SELECT g, 'x' FROM generate_series(100, 109) g")
            assert info.value.diag.message_hint == (
                "Modify fewer rows in one transaction, or raise dsql.transaction_rows_max (currently 5)."
            )
            conn.execute("RESET dsql.transaction_rows_max")
            conn.execute("SET dsql.transaction_bytes_max = '1kB'")
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                conn.execute(f"INSERT INTO {table_name} VALUES (200, repeat('x', 2000))")
            assert info.value.diag.message_primary == "transaction size limit 1kb exceeded"
            assert info.value.diag.message_hint == (
                "Modify less data in one transaction, or raise dsql.transaction_bytes_max (currently 1024 bytes)."
            )
        finally:
            conn.execute("RESET ALL")
            conn.execute(f"DROP TABLE {table_name}")


# -- 54001: statements and values nested too deeply ----------------------------------------------------------

_FROM = " FROM (SELECT 1 AS x) v"
# Statements PostgreSQL 15 refuses with 54001 (its parser's or analyser's check_stack_depth).
DEEP_BEYOND_POSTGRESQL = {
    "a sum of 100,000 terms": "SELECT " + "+".join(["1"] * 100_000),
    "a concatenation of 100,000 terms": "SELECT " + "||".join(["'a'"] * 100_000),
    "9,000 NOTs": "SELECT " + "NOT " * 9000 + "true",
    "jsonb 100,000 levels deep": "SELECT '" + "[" * 100_000 + "]" * 100_000 + "'::jsonb",
}
# Statements PostgreSQL computes but dsql refuses, each in another stage: binding the
# parse tree, compiling expressions (CPython's parser stops at 200 nested parentheses),
# reading a value (jsonb input), encoding a result (a jsonb value built 5,000 deep).
DEEP_FOR_DSQL = {
    "600 nested subqueries": "SELECT " + "(SELECT " * 600 + "x" + ")" * 600 + _FROM,
    "a sum of 300 columns": "SELECT " + "+".join(["x"] * 300) + _FROM,
    "jsonb 5,000 levels deep": "SELECT length(('" + "[" * 5000 + "]" * 5000 + "'::jsonb)::text)",
    "a jsonb result 5,000 levels deep": (
        "WITH RECURSIVE r(j, n) AS (SELECT '[]'::jsonb, 0 UNION ALL SELECT jsonb_build_array(j), n + 1 "
        "FROM r WHERE n < 5000) SELECT j FROM r WHERE n = 5000"
    ),
}
DEEP_PARAMETER = "[" * 100_000 + "]" * 100_000  # jsonb input from a bind parameter: 54001 in PostgreSQL


def _outcome(conn: psycopg.Connection, sql: str, params: tuple | None = None) -> tuple:
    try:
        rows = conn.execute(sql, params).fetchall()
    except psycopg.Error as exc:
        return ("error", exc.sqlstate, exc.diag.message_primary, exc.diag.message_hint)
    return ("rows", [tuple(str(v)[:100] for v in row) for row in rows])


def _deep_outcomes(server) -> dict:
    out: dict = {}
    with connect(server) as conn:
        conn.adapters.register_loader("jsonb", TextLoader)  # the client's json module would recurse too
        for name, sql in {**DEEP_BEYOND_POSTGRESQL, **DEEP_FOR_DSQL}.items():
            out[name] = _outcome(conn, sql)
            out[name + ", then"] = _outcome(conn, "SELECT 42")  # the same session goes on
        out["parameter"] = _outcome(conn, "SELECT %s::jsonb", (DEEP_PARAMETER,))
        conn.execute("BEGIN")  # in a block: the block fails as after any error
        out["in a block"] = _outcome(conn, DEEP_BEYOND_POSTGRESQL["9,000 NOTs"])
        out["in a block, then"] = _outcome(conn, "SELECT 42")
        conn.execute("ROLLBACK")
        out["after the block"] = _outcome(conn, "SELECT 42")
    return out


async def _asyncpg_deep(dsn: str) -> list:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    out: list = []
    try:
        for sql, args in [(DEEP_BEYOND_POSTGRESQL["a sum of 100,000 terms"], ()),
                          (DEEP_BEYOND_POSTGRESQL["9,000 NOTs"], ()), ("SELECT $1::jsonb", (DEEP_PARAMETER,))]:
            try:
                await conn.fetch(sql, *args)
                out.append("no error")
            except asyncpg.PostgresError as exc:
                out.append((exc.sqlstate, exc.message, exc.hint))
            out.append(await conn.fetchval("SELECT 42"))
    finally:
        await conn.close()
    return out


def _log_size(server) -> int:
    path = getattr(server, "log_path", None)
    return path.stat().st_size if path is not None and path.exists() else 0


def _log_since(server, offset: int) -> str:
    path = getattr(server, "log_path", None)
    if path is None or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def test_deep_statements_get_54001_and_the_session_goes_on(pg_server, dsql_server):
    bystander = connect(dsql_server)  # another session, open throughout
    log_offset = _log_size(dsql_server)
    try:
        pg, dsql = run_on_both(pg_server, dsql_server, _deep_outcomes)
        stack_depth = ("error", "54001", "stack depth limit exceeded", pg["9,000 NOTs"][3])
        assert stack_depth[3].startswith('Increase the configuration parameter "max_stack_depth"')
        for name in DEEP_BEYOND_POSTGRESQL:
            assert pg[name] == stack_depth, name
            assert dsql[name] == stack_depth, name
        for name in DEEP_FOR_DSQL:
            assert pg[name][0] == "rows", name
            assert dsql[name] in (pg[name], stack_depth), name  # PostgreSQL goes deeper; never XX000
        assert dsql["parameter"] == pg["parameter"] == stack_depth
        assert dsql["in a block"] == stack_depth
        assert dsql["in a block, then"] == pg["in a block, then"] == (
            "error", "25P02", "current transaction is aborted, commands ignored until end of transaction block", None
        )
        assert all(dsql[key] == ("rows", [("42",)]) for key in dsql if key.endswith(", then") and "block" not in key)
        assert dsql["after the block"] == ("rows", [("42",)])
        asyncpg_pg, asyncpg_dsql = run_on_both(pg_server, dsql_server, lambda s: asyncio.run(_asyncpg_deep(s.dsn)))
        assert asyncpg_dsql == asyncpg_pg == [("54001", "stack depth limit exceeded", stack_depth[3]), 42] * 3
        assert bystander.execute("SELECT 1 + 1").fetchone() == (2,)
    finally:
        bystander.close()
    log = _log_since(dsql_server, log_offset)
    assert "RecursionError" not in log and "internal error" not in log, log[-3000:]


# -- large messages -------------------------------------------------------------------------------------------

BIG_BYTES = 20_000_000


async def _asyncpg_big(dsn: str, big: str) -> list:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    try:
        return [await conn.fetchval("SELECT length($1)", big), await conn.fetchval(f"SELECT length('{big}')")]
    finally:
        await conn.close()


def _big_everywhere(server) -> tuple[list, float]:
    big = "x" * BIG_BYTES
    started = time.monotonic()
    with connect(server) as conn:
        results = [
            conn.execute(f"SELECT length('{big}')").fetchone()[0],
            conn.execute("SELECT length(%s)", (big,)).fetchone()[0],  # a text bind parameter
            conn.execute("SELECT length(%b)", (big.encode(),)).fetchone()[0],  # a binary one (bytea)
        ]
    results += asyncio.run(_asyncpg_big(server.dsn, big))
    return results, time.monotonic() - started


def test_a_20_mb_literal_and_parameter_work_from_psycopg_and_asyncpg(pg_server, dsql_server):
    (pg, _), (dsql, seconds) = run_on_both(pg_server, dsql_server, _big_everywhere)
    assert pg == [BIG_BYTES] * 5
    assert dsql == pg
    assert seconds < 60, f"five 20 MB statements took {seconds:.1f} s"  # about 2 s here


def test_a_message_over_the_bound_is_refused_and_the_server_carries_on(start_dsql):
    limit = 1_000_000
    server = start_dsql(extra_args=("--max-message-bytes", str(limit)))
    with psycopg.connect(server.dsn, autocommit=True) as bystander:
        at_limit = "SELECT length('" + "x" * (limit - 4 - len("SELECT length('')") - 1) + "')"
        assert len(at_limit.encode()) + 4 + 1 == limit  # length word, text, NUL
        assert bystander.execute(at_limit).fetchone() == (limit - 4 - len("SELECT length('')") - 1,)
        raw = RawConnection(server.host, server.port)
        try:
            raw.startup()
            over = message(b"Q", b"SELECT length('" + b"x" * limit + b"')\x00")
            raw.send(over[:5 + 4096])  # refused from the header: the body is never waited for
            replies = raw.read_until_closed(timeout_s=10)
        finally:
            raw.close()
        assert [(e["S"], e["C"], e["M"]) for e in errors_in(replies)] == [("FATAL", "08P01", "invalid message length")]
        assert bystander.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(server.dsn, autocommit=True) as fresh:
        assert fresh.execute("SELECT 2").fetchone() == (2,)


def test_max_message_bytes_outside_postgresqls_range_is_refused(tmp_path):
    for value in ("9999", "1073741823"):
        done = subprocess.run(
            [sys.executable, "-m", "assembly.cli", "serve", "--memory", "--port", "0", "--dynamodb-port", "0", "--dynamo-port", "0",
             "--max-message-bytes", value],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )
        assert done.returncode == 2, done.stderr
        assert f"--max-message-bytes {value}: between 10000 and 1073741822" in done.stderr
