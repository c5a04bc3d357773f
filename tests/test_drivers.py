"""The drivers' bulk-data and cursor APIs against dsql, compared with the reference PostgreSQL.

- asyncpg: copy_records_to_table (binary COPY after preparing
  `SELECT cols FROM t LIMIT 1`), copy_to_table, copy_from_table,
  copy_from_query (with arguments, which asyncpg inlines with quote_literal),
  cursors inside transactions (named portals with row limits), and the pool's
  reset query on release (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
  UNLISTEN *; RESET ALL;`).
- psycopg 3: binary parameters, executemany in pipeline mode, cursor.copy()
  both ways in text and binary.
- psycopg2: copy_from, copy_to, copy_expert both ways, execute_values.

Each scenario runs on both servers and must return the same values; the
expected values are spelled out too, so that each test can fail on its own.
asyncpg needs asyncio, so its scenarios run in `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from decimal import Decimal

import asyncpg
import psycopg
import psycopg2
import psycopg2.extras

COMMAND_TIMEOUT_S = 30


def on_both(pg_server, dsql_server, scenario, *args):
    return [scenario(server.dsn, *args) for server in (pg_server, dsql_server)]


def reset_table(dsn: str, table: str, columns: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} {columns}")


# -- asyncpg ----------------------------------------------------------------------------------------------


APG_COLUMNS = (
    "(id int PRIMARY KEY, name text, score float8, born date, amount numeric(10,2), flag bool DEFAULT true,"
    " tag char(4), u uuid, at timestamptz)"
)


def apg_records(start: int, stop: int) -> list[tuple]:
    return [
        (i, f"n{i}" if i % 3 else None, i * 1.5, dt.date(2000, 1, 1) + dt.timedelta(days=i), Decimal(i) / 4,
         i % 2 == 0, "ab", uuid.UUID(int=i), dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i))
        for i in range(start, stop)
    ]


async def asyncpg_copy(dsn: str, table: str) -> dict:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    out: dict = {}
    try:
        out["records"] = await conn.copy_records_to_table(table, records=apg_records(1, 1201))
        out["records_columns"] = await conn.copy_records_to_table(
            table, records=[(5000, "x"), (5001, None)], columns=["id", "name"]
        )
        try:
            await conn.copy_records_to_table(table, records=[(6000, "x"), (1, "dup")], columns=["id", "name"])
        except asyncpg.UniqueViolationError as exc:
            out["duplicate"] = (exc.sqlstate, exc.message, exc.detail)
        out["count"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        out["sample"] = [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} WHERE id IN (1, 2, 3, 5000, 5001) ORDER BY id")]
        buf = io.BytesIO()
        out["from_table"] = await conn.copy_from_table(
            table, output=buf, format="csv", header=True, columns=["id", "name", "amount", "u"]
        )
        out["from_table_data"] = buf.getvalue()
        buf = io.BytesIO()
        out["from_query"] = await conn.copy_from_query(
            f"SELECT id, name FROM {table} WHERE id < $1 AND name IS DISTINCT FROM $2 ORDER BY id", 6, "n2", output=buf
        )
        out["from_query_data"] = buf.getvalue()
        buf = io.BytesIO()
        out["from_query_binary"] = await conn.copy_from_query(
            f"SELECT id, score, at FROM {table} WHERE id <= 3 ORDER BY id", output=buf, format="binary"
        )
        out["from_query_binary_data"] = buf.getvalue()
        out["to_table"] = await conn.copy_to_table(
            table, source=io.BytesIO(b"7000,a\n7001,\n"), columns=["id", "name"], format="csv"
        )
        out["to_table_rows"] = [tuple(r) for r in await conn.fetch(f"SELECT id, name, flag FROM {table} WHERE id >= 7000 ORDER BY id")]
    finally:
        await conn.close()
    return out


def test_asyncpg_copy(pg_server, dsql_server, names):
    table = names("apg_copy")

    def scenario(dsn: str) -> dict:
        reset_table(dsn, table, APG_COLUMNS)
        return asyncio.run(asyncpg_copy(dsn, table))

    reference, got = on_both(pg_server, dsql_server, scenario)
    assert got == reference
    assert got["records"] == "COPY 1200" and got["records_columns"] == "COPY 2"
    assert got["duplicate"][0] == "23505" and got["count"] == 1202
    assert got["from_query_data"] == b"1\tn1\n3\t\\N\n4\tn4\n5\tn5\n"
    assert got["to_table_rows"] == [(7000, "a", True), (7001, None, True)]


async def asyncpg_cursors_and_pool(dsn: str, table: str) -> dict:
    out: dict = {}
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    try:
        await conn.execute(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 120) AS g")
        async with conn.transaction():
            cursor = await conn.cursor(f"SELECT id FROM {table} ORDER BY id")
            out["fetch"] = [r["id"] for r in await cursor.fetch(3)]
            out["fetchrow"] = (await cursor.fetchrow())["id"]
            await cursor.forward(10)
            out["after_forward"] = (await cursor.fetchrow())["id"]
            out["iterated"] = [r["id"] async for r in conn.cursor(f"SELECT id FROM {table} WHERE id > $1 ORDER BY id", 100, prefetch=7)]
        # The reset query a pool sends on release: all four statements in one simple Query.
        await conn.execute("SET extra_float_digits = 3")
        await conn.execute(f"DECLARE kept CURSOR WITH HOLD FOR SELECT id FROM {table}")
        out["reset"] = await conn.execute("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;")
        out["after_reset"] = (await conn.fetchval("SHOW extra_float_digits"),
                              await conn.fetchval("SELECT count(*) FROM pg_cursors WHERE name = 'kept'"))
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, command_timeout=COMMAND_TIMEOUT_S)
    try:
        seen = []
        for i in range(4):
            async with pool.acquire() as c:
                seen.append(await c.fetchval("SHOW search_path"))
                await c.execute(f"SET search_path = s{i}")  # undone by the reset query on release
                async with c.transaction():
                    await c.execute(f"DECLARE p{i} CURSOR WITH HOLD FOR SELECT 1")
        out["pool"] = seen
    finally:
        await pool.close()
    return out


def test_asyncpg_cursors_and_pool_reset(pg_server, dsql_server, names):
    table = names("apg_cur")

    def scenario(dsn: str) -> dict:
        reset_table(dsn, table, "(id int PRIMARY KEY, name text)")
        return asyncio.run(asyncpg_cursors_and_pool(dsn, table))

    reference, got = on_both(pg_server, dsql_server, scenario)
    assert got == reference
    assert got["fetch"] == [1, 2, 3] and got["fetchrow"] == 4 and got["after_forward"] == 15
    assert got["iterated"] == list(range(101, 121))
    assert got["after_reset"] == ("1", 0)
    assert got["pool"] == ['"$user", public'] * 4


# -- psycopg 3 --------------------------------------------------------------------------------------------


def psycopg3_scenario(dsn: str, table: str) -> dict:
    reset_table(dsn, table, "(id int PRIMARY KEY, name text, ts timestamptz, amt numeric, b bytea)")
    out: dict = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table} (id, name, ts, amt, b) FROM STDIN") as copy:
                for i in range(1, 6):
                    copy.write_row((i, f"x\t{i}\\" if i != 3 else None, dt.datetime(2024, 1, i, tzinfo=dt.UTC),
                                    Decimal("1.5") * i, bytes([i, 0, 255])))
            out["copy_text"] = cur.rowcount
            with cur.copy(f"COPY {table} (id, name, ts, amt, b) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "text", "timestamptz", "numeric", "bytea"])
                for i in range(6, 9):
                    copy.write_row((i, f"bin{i}", dt.datetime(2024, 2, i, tzinfo=dt.UTC), Decimal("-2.25") * i, b"\x00\x01"))
            out["copy_binary"] = cur.rowcount
            with cur.copy(f"COPY {table} TO STDOUT") as copy:
                out["out_text"] = list(copy.rows())
            with cur.copy(f"COPY (SELECT id, name, amt, ts FROM {table} ORDER BY id) TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "text", "numeric", "timestamptz"])
                out["out_binary"] = list(copy.rows())
            with cur.copy(f"COPY (SELECT id, name FROM {table} ORDER BY id) TO STDOUT (FORMAT csv, HEADER)") as copy:
                out["out_csv"] = b"".join(bytes(chunk) for chunk in copy)
            # Binary parameters of every common kind.
            cur.execute("SELECT %s::int + %s, %s, %s, %s, %s, %s, %s",
                        (1, 2, dt.date(2020, 1, 2), uuid.UUID(int=5), b"\x01\x02", 2.5, True,
                         dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)), binary=True)
            out["binary_params"] = cur.fetchone()
            cur.executemany(f"INSERT INTO {table} (id, name) VALUES (%s, %s)", [(100 + i, f"m{i}") for i in range(30)])
            out["executemany"] = conn.execute(f"SELECT count(*), min(name), max(name) FROM {table} WHERE id >= 100").fetchone()
        with conn.pipeline():
            conn.execute(f"INSERT INTO {table} (id) VALUES (500)")
            conn.execute(f"UPDATE {table} SET name = 'piped' WHERE id = %s", (500,))
            count = conn.execute(f"SELECT count(*) FROM {table}")
        out["pipeline"] = count.fetchone()
    return out


def test_psycopg3_copy_binary_params_and_pipeline(pg_server, dsql_server, names):
    table = names("pg3")
    reference, got = on_both(pg_server, dsql_server, psycopg3_scenario, table)
    assert got == reference
    assert got["copy_text"] == 5 and got["copy_binary"] == 3
    assert got["out_text"][2] == ("3", None, "2024-01-03 00:00:00+00", "4.5", "\\x0300ff")
    assert got["executemany"] == (30, "m0", "m9") and got["pipeline"] == (39,)


# -- psycopg2 ---------------------------------------------------------------------------------------------


def psycopg2_scenario(dsn: str, table: str) -> dict:
    reset_table(dsn, table, "(id int PRIMARY KEY, name text, v float8)")
    out: dict = {}
    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor()
        cur.copy_from(io.StringIO("1\ta\t1.5\n2\t\\N\t2.5\n"), table, columns=("id", "name", "v"))
        out["copy_from"] = cur.rowcount
        cur.copy_expert(f"COPY {table} FROM STDIN WITH CSV HEADER", io.StringIO('id,name,v\n3,"c,d",3.5\n4,,\n'))
        out["copy_expert_in"] = cur.rowcount
        conn.commit()
        buf = io.StringIO()
        cur.copy_to(buf, table, sep="|")
        out["copy_to"] = buf.getvalue()
        buf = io.StringIO()
        cur.copy_expert(f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", buf)
        out["copy_expert_out"] = buf.getvalue()
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {table} (id, name, v) VALUES %s", [(10 + i, f"e{i}", i / 2) for i in range(50)], page_size=20
        )
        conn.commit()
        cur.execute(f"SELECT count(*), sum(v) FROM {table}")
        out["execute_values"] = cur.fetchone()
        returned = psycopg2.extras.execute_values(
            cur, f"INSERT INTO {table} (id) VALUES %s RETURNING id", [(200,), (201,)], fetch=True
        )
        out["execute_values_returning"] = returned
        conn.commit()
        try:
            cur.copy_expert(f"COPY {table} FROM STDIN", io.StringIO("99\tz\tnot-a-number\n"))
        except psycopg2.Error as exc:
            out["bad_copy"] = (exc.pgcode, exc.diag.message_primary, exc.diag.context)
        conn.rollback()
        cur.execute(f"SELECT count(*) FROM {table}")
        out["after_bad"] = cur.fetchone()
    finally:
        conn.close()
    return out


def test_psycopg2_copy_and_execute_values(pg_server, dsql_server, names):
    table = names("pg2")
    reference, got = on_both(pg_server, dsql_server, psycopg2_scenario, table)
    assert got == reference
    assert got["copy_to"] == "1|a|1.5\n2|\\N|2.5\n3|c,d|3.5\n4|\\N|\\N\n"
    assert got["execute_values"] == (54, 7.5 + 612.5)
    assert got["bad_copy"] == ("22P02", 'invalid input syntax for type double precision: "not-a-number"',
                               f'COPY {table}, line 1, column v: "not-a-number"')
    assert got["after_bad"] == (56,)
