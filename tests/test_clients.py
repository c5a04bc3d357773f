"""Smoke tests with the real clients: asyncpg, psql and psycopg 3.

The protocol details each client depends on differ (asyncpg: extended
protocol, prepared statements, binary results and parameters; psql: the simple
protocol, SSL negotiation and PostgreSQL's aligned text output; psycopg 3:
text and binary parameters, pipelined ``executemany``, transaction blocks), so
each one's everyday API runs against dsql. Where a result can be compared, the
same scenario also runs on the reference PostgreSQL and the two must agree; the
expected Python values are spelled out as well, so each test can fail on its own.

asyncpg needs asyncio (pytest-trio runs trio), so its scenarios run in
``asyncio.run`` inside ordinary tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg.types.json import Jsonb

UTC = dt.UTC
COMMAND_TIMEOUT_S = 30
PSQL_TIMEOUT_S = 60


def both(pg_server, dsql_server, scenario):
    """Run an asyncio scenario(dsn) on PostgreSQL and on dsql; return (reference, dsql) results."""
    reference = asyncio.run(scenario(pg_server.dsn))
    candidate = asyncio.run(scenario(dsql_server.dsn))
    return reference, candidate


# -- asyncpg ----------------------------------------------------------------------------------------------------


def test_asyncpg_fetch_execute_executemany(pg_server, dsql_server, names):
    table = names("apg")

    async def scenario(dsn: str) -> dict:
        conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
        try:
            out: dict = {}
            out["create"] = await conn.execute(
                f"CREATE TABLE {table} (id int PRIMARY KEY, name text, score float8)"
            )
            out["insert"] = await conn.execute(
                f"INSERT INTO {table} VALUES (1, 'one', 1.5), (2, 'two', NULL)"
            )
            await conn.executemany(
                f"INSERT INTO {table} (id, name, score) VALUES ($1, $2, $3)",
                [(n, f"n{n}", n / 4) for n in range(3, 23)],
            )
            out["count"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
            out["row"] = tuple(await conn.fetchrow(f"SELECT id, name, score FROM {table} WHERE id = $1", 1))
            out["missing"] = await conn.fetchrow(f"SELECT id FROM {table} WHERE id = $1", 999)
            out["rows"] = [
                tuple(r)
                for r in await conn.fetch(f"SELECT id, name FROM {table} WHERE id < $1 ORDER BY id", 5)
            ]
            out["record_keys"] = list(
                (await conn.fetchrow(f"SELECT id AS ident, name FROM {table} LIMIT 1")).keys()
            )
            out["update"] = await conn.execute(f"UPDATE {table} SET score = score * 2 WHERE id > $1", 20)
            out["delete"] = await conn.execute(f"DELETE FROM {table} WHERE id = $1", 2)
            out["sum"] = await conn.fetchval(f"SELECT sum(score) FROM {table}")
            out["null"] = await conn.fetchval("SELECT NULL::int")
            out["no_args_fetch"] = [tuple(r) for r in await conn.fetch("SELECT 1 AS a, 'x' AS b")]
            out["drop"] = await conn.execute(f"DROP TABLE {table}")
            return out
        finally:
            await conn.close()

    reference, candidate = both(pg_server, dsql_server, scenario)
    assert candidate == reference
    assert candidate["count"] == 22
    assert candidate["row"] == (1, "one", 1.5)
    assert candidate["insert"] == "INSERT 0 2" and candidate["update"] == "UPDATE 2"
    assert candidate["record_keys"] == ["ident", "name"]


def test_asyncpg_prepared_statements(pg_server, dsql_server):
    async def scenario(dsn: str) -> dict:
        conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
        try:
            stmt = await conn.prepare(
                "SELECT $1::int + 1 AS i, $2::text || '!' AS t, $3::numeric(10,2) * 2 AS n, "
                "$4::bool AS b, $5::date + 1 AS d, $6::float8 / 2 AS f, $7::bigint AS big"
            )
            out: dict = {
                "params": [t.name for t in stmt.get_parameters()],
                "columns": [(a.name, a.type.name) for a in stmt.get_attributes()],
                "runs": [],
            }
            for n in range(3):
                row = await stmt.fetchrow(
                    n, f"s{n}", Decimal("1.25") + n, n % 2 == 0, dt.date(2024, 2, 28) + dt.timedelta(days=n),
                    float(n), 2**40 + n,
                )  # fmt: skip
                out["runs"].append(tuple(row))
            out["fetchval"] = await stmt.fetchval(7, "x", Decimal(0), None, None, None, None)
            again = await conn.prepare("SELECT count(*) FROM generate_series(1, $1::int)")
            out["series"] = [await again.fetchval(k) for k in (0, 1, 10)]
            return out
        finally:
            await conn.close()

    reference, candidate = both(pg_server, dsql_server, scenario)
    assert candidate == reference
    assert candidate["runs"][1] == (2, "s1!", Decimal("4.50"), False, dt.date(2024, 3, 1), 0.5, 2**40 + 1)
    assert candidate["series"] == [0, 1, 10]


def test_asyncpg_transactions(pg_server, dsql_server, names):
    table = names("apgtx")

    async def scenario(dsn: str) -> dict:
        conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
        try:
            await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES (1, 10)")
                await conn.execute(f"INSERT INTO {table} VALUES (2, 20)")
            with pytest.raises(ZeroDivisionError):
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} VALUES (3, 30)")
                    raise ZeroDivisionError
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} VALUES (4, 40)")
                    await conn.execute(f"INSERT INTO {table} VALUES (1, 0)")
            tx = conn.transaction(isolation="repeatable_read")
            await tx.start()
            await conn.execute(f"UPDATE {table} SET v = v + 1")
            await tx.commit()
            async with conn.transaction(readonly=True):
                readonly_sum = await conn.fetchval(f"SELECT sum(v) FROM {table}")
            await conn.execute("BEGIN")
            await conn.execute(f"DELETE FROM {table}")
            await conn.execute("ROLLBACK")
            rows = [tuple(r) for r in await conn.fetch(f"SELECT id, v FROM {table} ORDER BY id")]
            await conn.execute(f"DROP TABLE {table}")
            return {"rows": rows, "readonly_sum": readonly_sum, "in_tx": conn.is_in_transaction()}
        finally:
            await conn.close()

    reference, candidate = both(pg_server, dsql_server, scenario)
    assert candidate == reference
    assert candidate == {"rows": [(1, 11), (2, 21)], "readonly_sum": 32, "in_tx": False}


TYPED_VALUES = [
    # (type, Python value sent as a parameter and expected back)
    ("int2", -32768),
    ("int4", 2147483647),
    ("int8", -9223372036854775808),
    ("numeric(20,6)", Decimal("-12345678901234.123456")),
    ("numeric(10,2)", Decimal("0.10")),
    ("float4", 1.5),
    ("float8", 0.1),
    ("float8", float("inf")),
    ("text", "héllo, wörld ✓"),
    ("text", ""),
    ("varchar(20)", "varchar value"),
    ("bool", True),
    ("bool", False),
    ("bytea", b"\x00\x01\xfe\xff"),
    ("date", dt.date(2024, 2, 29)),
    ("date", dt.date(1, 1, 1)),
    ("timestamp", dt.datetime(2024, 1, 2, 3, 4, 5, 678901)),
    ("timestamptz", dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("uuid", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    ("jsonb", '{"a": [1, 2.5, null], "b": "x"}'),
]


def test_asyncpg_binary_results_of_every_type(pg_server, dsql_server, names):
    """Each type as a binary parameter, stored in a column, and read back in binary."""
    table = names("apgtypes")
    columns = ", ".join(f"c{n} {type_}" for n, (type_, _) in enumerate(TYPED_VALUES))
    placeholders = ", ".join(f"${n + 1}" for n in range(len(TYPED_VALUES)))
    values = [value for _, value in TYPED_VALUES]

    async def scenario(dsn: str) -> dict:
        conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
        try:
            await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, {columns})")
            await conn.execute(f"INSERT INTO {table} VALUES (1, {placeholders})", *values)
            stored = tuple(await conn.fetchrow(f"SELECT * FROM {table}"))[1:]
            literals = tuple(
                await conn.fetchrow(
                    "SELECT 7::int2, 7::int4, 7::int8, 1.5::numeric(4,2), 0.25::float4, 1e-5::float8, 'lit'::text, "
                    "'v'::varchar(3), true, '\\x0a0b'::bytea, '2000-01-01'::date, "
                    "'1999-12-31 23:59:59.5'::timestamp, '2024-06-01 12:00:00+02'::timestamptz, "
                    "'00000000-0000-0000-0000-000000000001'::uuid, '[1, {\"k\": true}]'::jsonb, NULL::int"
                )
            )
            echoed = tuple(
                await conn.fetchrow(
                    "SELECT " + ", ".join(f"${n + 1}::{t}" for n, (t, _) in enumerate(TYPED_VALUES)), *values
                )
            )
            await conn.execute(f"DROP TABLE {table}")
            return {"stored": stored, "literals": literals, "echoed": echoed}
        finally:
            await conn.close()

    reference, candidate = both(pg_server, dsql_server, scenario)
    assert candidate["stored"] == tuple(values), "values changed on a round trip through a table"
    assert candidate["echoed"] == tuple(values), "values changed on a round trip through parameters"
    assert candidate == reference


# -- psql ---------------------------------------------------------------------------------------------------------

PSQL_SCRIPT = """\
DROP TABLE IF EXISTS psql_smoke;
CREATE TABLE psql_smoke (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2), ok bool, born date, note varchar(20));
INSERT INTO psql_smoke VALUES
    (1, 'apple', 1.50, true, '2024-01-01', NULL),
    (2, 'banana split', 12.00, false, NULL, 'ripe'),
    (3, 'çava ✓', NULL, NULL, '1999-12-31', '');
SELECT * FROM psql_smoke ORDER BY id;
SELECT count(*) AS n, sum(price) AS total, avg(price) AS mean FROM psql_smoke;
UPDATE psql_smoke SET price = price * 2 WHERE price IS NOT NULL;
SELECT id, price FROM psql_smoke WHERE price > 3 ORDER BY id;
SELECT name, length(name) FROM psql_smoke ORDER BY name;
BEGIN;
DELETE FROM psql_smoke WHERE id = 3;
ROLLBACK;
SELECT 1 AS one, NULL AS nothing, 'multi
line' AS text, 2.5::float8 AS f, 10/3 AS i;
DROP TABLE psql_smoke;
"""


def psql(server, *args: str, script: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("psql")
    if exe is None:
        pytest.fail("psql is not on PATH (Debian: apt-get install postgresql-client)", pytrace=False)
    argv = [exe, "-X", "-v", "ON_ERROR_STOP=1", *server.psql_args(), *args]
    if script is not None:
        argv += ["-f", str(script)]
    env = {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "PGCONNECT_TIMEOUT": "10",
        "PGCLIENTENCODING": "UTF8",
    }
    return subprocess.run(argv, capture_output=True, text=True, timeout=PSQL_TIMEOUT_S, env=env)


def test_psql_script_output_matches_postgres(pg_server, dsql_server, tmp_path):
    script = tmp_path / "smoke.sql"
    script.write_text(PSQL_SCRIPT, encoding="utf-8")
    reference = psql(pg_server, script=script)
    assert reference.returncode == 0, reference.stderr
    candidate = psql(dsql_server, script=script)
    assert candidate.returncode == 0, f"psql -f failed on dsql:\n{candidate.stderr}"
    assert candidate.stdout == reference.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "SELECT 1 AS a, 'two' AS b, NULL AS c, true AS d"],
        ["-A", "-t", "-c", "SELECT g, g * g FROM generate_series(1, 5) AS g"],
        ["-c", "SELECT 1.0/3 AS third, 1e20::float8 AS big, '2024-02-29'::date + 1 AS leap"],
        ["-c", "SELECT 'a' AS x UNION ALL SELECT 'bb' ORDER BY 1", "-c", "SELECT 42"],
    ],
    ids=["aligned", "unaligned", "numbers-dates", "two-commands"],
)
def test_psql_command_output_matches_postgres(pg_server, dsql_server, args):
    reference = psql(pg_server, *args)
    assert reference.returncode == 0, reference.stderr
    candidate = psql(dsql_server, *args)
    assert candidate.returncode == 0, f"psql {args} failed on dsql:\n{candidate.stderr}"
    assert candidate.stdout == reference.stdout


def test_psql_stops_on_error_like_postgres(pg_server, dsql_server):
    args = ["-c", "SELECT 1/0"]
    reference = psql(pg_server, *args)
    candidate = psql(dsql_server, *args)
    assert reference.returncode == candidate.returncode == 1
    assert "ERROR:" in candidate.stderr and "division by zero" in reference.stderr


# -- psycopg 3 ---------------------------------------------------------------------------------------------------

PSYCOPG_PARAMETERS = [
    42,
    -(2**40),
    "text ✓",
    "",
    1.25,
    Decimal("123.4500"),
    True,
    None,
    dt.date(2024, 2, 29),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00bytes\xff",
]


def _psycopg_echo(dsn: str, binary: bool) -> list:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        out = []
        with conn.cursor(binary=binary) as cur:
            for value in PSYCOPG_PARAMETERS:
                cur.execute("SELECT %s", (value,))
                out.append(cur.fetchone()[0])
            cur.execute("SELECT %s::jsonb", (Jsonb({"k": [1, "two", None]}),))
            out.append(cur.fetchone()[0])
            cur.execute("SELECT %s::int + %s::int, %s || %s", (1, 2, "a", "b"))
            out.append(cur.fetchone())
        return out


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg_parameters_round_trip(pg_server, dsql_server, binary):
    reference = _psycopg_echo(pg_server.dsn, binary)
    candidate = _psycopg_echo(dsql_server.dsn, binary)
    assert candidate == reference
    assert candidate[: len(PSYCOPG_PARAMETERS)] == PSYCOPG_PARAMETERS
    assert candidate[-2:] == [{"k": [1, "two", None]}, (3, "ab")]


def _psycopg_workflow(dsn: str, table: str) -> dict:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        out: dict = {}
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, amount numeric(10,2))")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {table} (id, name, amount) VALUES (%s, %s, %s)",
                [(n, f"name {n}", Decimal(n) / 4) for n in range(100)],
            )
            out["executemany_count"] = cur.execute(f"SELECT count(*), sum(amount) FROM {table}").fetchone()
            for n in range(3):
                cur.execute(f"SELECT name FROM {table} WHERE id = %s", (n,), prepare=True)
                out.setdefault("prepared", []).append(cur.fetchone()[0])
            cur.execute(f"UPDATE {table} SET amount = amount + %s WHERE id < %s", (Decimal("0.5"), 10))
            out["rowcount"] = cur.rowcount
            out["description"] = [
                c.name for c in cur.execute(f"SELECT id, name AS label FROM {table} LIMIT 1").description
            ]
        with conn.transaction():
            conn.execute(f"DELETE FROM {table} WHERE id >= 50")
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.transaction():
                conn.execute(f"DELETE FROM {table} WHERE id < 10")
                conn.execute(f"INSERT INTO {table} (id) VALUES (20)")
        out["after_transactions"] = conn.execute(f"SELECT count(*), min(id), max(id) FROM {table}").fetchone()
        conn.execute(f"DROP TABLE {table}")
    # the default (non-autocommit) mode: an implicit BEGIN, then commit() / rollback()
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        conn.commit()
        conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
        conn.commit()
        conn.execute(f"INSERT INTO {table} VALUES (3)")
        conn.rollback()
        out["non_autocommit"] = conn.execute(
            f"SELECT array_agg(id ORDER BY id)::text FROM {table}"
        ).fetchone()[0]
        conn.rollback()
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return out


def test_psycopg_executemany_prepared_and_transactions(pg_server, dsql_server, names):
    table = names("pg3")
    reference = _psycopg_workflow(pg_server.dsn, table)
    candidate = _psycopg_workflow(dsql_server.dsn, table)
    assert candidate == reference
    assert candidate["executemany_count"] == (100, Decimal("1237.50"))
    assert candidate["prepared"] == ["name 0", "name 1", "name 2"]
    assert candidate["rowcount"] == 10
    assert candidate["after_transactions"] == (50, 0, 49)
    assert candidate["non_autocommit"] == "{1,2}"


def test_json_text_agrees_between_clients(dsql_server):
    """asyncpg returns jsonb as text; it must parse as the JSON that was stored."""

    async def fetch() -> str:
        conn = await asyncpg.connect(dsql_server.dsn, command_timeout=COMMAND_TIMEOUT_S)
        try:
            return await conn.fetchval("""SELECT '{"b": 1, "a": [true, null]}'::jsonb""")
        finally:
            await conn.close()

    text = asyncio.run(fetch())
    assert json.loads(text) == {"a": [True, None], "b": 1}
    assert text == '{"a": [true, null], "b": 1}'


def test_version_is_reported_consistently(dsql_server):
    """ParameterStatus, SHOW, current_setting() and version() all name one PostgreSQL 16 version."""
    import psycopg

    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        reported = conn.info.parameter_status("server_version")
        shown = conn.execute("SHOW server_version").fetchone()[0]
        setting = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
        number = conn.execute("SHOW server_version_num").fetchone()[0]
        full = conn.execute("SELECT version()").fetchone()[0]
    assert reported == shown == setting
    assert reported.startswith("16.")
    major, minor = reported.split(".")
    assert number == f"{int(major)}{int(minor):04d}"
    assert full.startswith(f"PostgreSQL {reported} ")
