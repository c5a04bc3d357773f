"""The batched bulk paths (issue 14, item 5) against the row-at-a-time path and PostgreSQL.

INSERT without ON CONFLICT (multi-row VALUES, INSERT ... SELECT) and COPY FROM check and
buffer their rows a batch at a time (qp/exec/dml.py `_insert_batched`: one storage read for
the unique entries of a whole batch); `SET dsql.bulk_path = off` runs the row-at-a-time path
they replaced. Every case here runs three ways: on PostgreSQL, on dsql with the batched path
and on dsql with the reference path; the rows left and the error (SQLSTATE, message, detail,
context) must agree. The index build (qp/ddl/indexes.py `backfill_batch`) is checked over
batch boundaries and over duplicates.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from test_copy import copy_in, outcome, rows

import qp.ddl.online as qp_online

SCHEMA = [
    "CREATE TABLE {t} (a int PRIMARY KEY, b text NOT NULL, c int)",
    "CREATE UNIQUE INDEX {t}_c ON {t} (c)",
]

# (name, statements after the schema; the last one's outcome is compared, then the rows)
CASES = [
    ("values_ok", ["INSERT INTO {t} VALUES (1, 'x', 1), (2, 'y', NULL), (3, 'z', NULL), (4, 'w', 4)"]),
    ("values_pk_dup_in_statement", ["INSERT INTO {t} VALUES (1, 'x', 1), (2, 'y', 2), (1, 'z', 3)"]),
    ("values_pk_dup_stored", ["INSERT INTO {t} VALUES (1, 'x', 1)", "INSERT INTO {t} VALUES (2, 'y', 2), (1, 'z', 3)"]),
    ("values_unique_dup_in_statement", ["INSERT INTO {t} VALUES (1, 'x', 7), (2, 'y', 8), (3, 'z', 7)"]),
    ("values_unique_dup_stored", ["INSERT INTO {t} VALUES (1, 'x', 7)", "INSERT INTO {t} VALUES (2, 'y', 8), (3, 'z', 7)"]),
    ("values_not_null", ["INSERT INTO {t} VALUES (1, 'x', 1), (2, NULL, 2)"]),
    # dsql checks NOT NULL and CHECK for every row of a statement before any key (PostgreSQL
    # goes row by row, so it reports the duplicate here): both dsql paths keep that order.
    ("values_dup_then_null", ["INSERT INTO {t} VALUES (1, 'x', 1)", "INSERT INTO {t} VALUES (1, 'x', 5), (2, NULL, 6)"]),
    ("values_null_then_dup", ["INSERT INTO {t} VALUES (1, 'x', 1)", "INSERT INTO {t} VALUES (2, NULL, 5), (1, 'x', 6)"]),
    ("values_unique_then_pk", ["INSERT INTO {t} VALUES (1, 'x', 1), (2, 'x', 2)",
                               "INSERT INTO {t} VALUES (3, 'x', 2), (1, 'x', 9)"]),
    ("select_ok", ["INSERT INTO {t} SELECT g, 'v' || g, g * 2 FROM generate_series(1, 2500) AS g"]),
    ("select_dup_against_stored", ["INSERT INTO {t} SELECT g, 'v', g FROM generate_series(1, 100) AS g",
                                   "INSERT INTO {t} SELECT g, 'v', g + 1000 FROM generate_series(100, 200) AS g"]),
    ("select_unique_dup", ["INSERT INTO {t} SELECT g, 'v', g % 50 FROM generate_series(1, 60) AS g"]),
    ("select_self", ["INSERT INTO {t} SELECT g, 'v', g FROM generate_series(1, 30) AS g",
                     "INSERT INTO {t} SELECT a + 100, b, c + 100 FROM {t}"]),
]


def _short(base: str) -> str:
    """A table name short enough that the names made from it stay whole (63 bytes)."""
    return f"{base[:20]}_{uuid.uuid4().hex[:8]}"


# Cases where dsql already differed from PostgreSQL before the batched path (see above):
# there the two dsql paths are compared with each other only.
NOT_AS_POSTGRES = {"values_dup_then_null"}


def _conn(server, bulk: str | None = None) -> psycopg.Connection:
    options = f"-c dsql.bulk_path={bulk}" if bulk else ""
    return psycopg.connect(server.dsn, autocommit=True, options=options) if options else \
        psycopg.connect(server.dsn, autocommit=True)  # fmt: skip


def _run(conn: psycopg.Connection, table: str, statements: list[str]) -> tuple:
    for sql in SCHEMA:
        conn.execute(sql.format(t=table))
    result: tuple = ("ok",)
    for sql in statements:
        try:
            cur = conn.execute(sql.format(t=table))
            result = ("ok", cur.rowcount)
        except psycopg.Error as exc:
            result = outcome(exc)
    return result, rows(conn, table)


@pytest.mark.parametrize("name,statements", CASES, ids=[c[0] for c in CASES])
def test_insert_paths_match_postgres(pg_server, dsql_server, names, name, statements):
    table = _short(name)
    with _conn(pg_server) as conn:
        expected = _run(conn, table, statements)
        conn.execute(f"DROP TABLE {table}")
    got = {}
    for bulk in ("on", "off"):
        with _conn(dsql_server, bulk) as conn:
            outcome_rows = _run(conn, f"{table}_{bulk}", statements)
            conn.execute(f"DROP TABLE {table}_{bulk}")
        # Names in messages carry the table's name: compare with it put back.
        got[bulk] = tuple(_unname(x, f"{table}_{bulk}", table) for x in outcome_rows)
    assert got["on"] == got["off"]
    if name not in NOT_AS_POSTGRES:
        assert got["on"] == expected


def _unname(value, name: str, original: str):
    if isinstance(value, str):
        return value.replace(name, original)
    if isinstance(value, tuple):
        return tuple(_unname(v, name, original) for v in value)
    if isinstance(value, list):
        return [_unname(v, name, original) for v in value]
    return value


COPY_CASES = [
    ("ok", b"".join(b"%d\tv%d\t%d\n" % (i, i, i) for i in range(2500))),
    ("pk_dup_in_batch", b"1\tx\t1\n2\ty\t2\n1\tz\t3\n"),
    ("unique_dup_in_batch", b"1\tx\t5\n2\ty\t6\n3\tz\t5\n"),
    ("null_not_null", b"1\tx\t1\n2\t\\N\t2\n"),
    ("bad_line", b"1\tx\t1\n2\ty\tnotanint\n"),
    ("missing_column", b"1\tx\t1\n2\ty\n"),
    ("nulls_in_unique", b"1\tx\t\\N\n2\ty\t\\N\n3\tz\t\\N\n"),
    # Crossing the batch boundary (COPY flushes FLUSH_ROWS = 1000 at a time): a duplicate of a
    # row of an earlier chunk of the same COPY.
    ("dup_across_chunks", b"".join(b"%d\tv\t%d\n" % (i, i) for i in range(1500)) + b"7\tdup\t99999\n"),
    ("unique_dup_across_chunks", b"".join(b"%d\tv\t%d\n" % (i, i) for i in range(1500)) + b"5000\tdup\t3\n"),
]


def _copy_run(conn: psycopg.Connection, table: str, data: bytes, stored: bool) -> tuple:
    for sql in SCHEMA:
        conn.execute(sql.format(t=table))
    if stored:
        conn.execute(f"INSERT INTO {table} VALUES (100000, 's', 100000), (2, 'stored', 200000)")
    return copy_in(conn, f"COPY {table} FROM STDIN", data), rows(conn, table)


@pytest.mark.parametrize("stored", [False, True], ids=["empty", "stored"])
@pytest.mark.parametrize("name,data", COPY_CASES, ids=[c[0] for c in COPY_CASES])
def test_copy_paths_match_postgres(pg_server, dsql_server, names, name, data, stored):
    table = _short("cp_" + name)
    with _conn(pg_server) as conn:
        expected = _copy_run(conn, table, data, stored)
        conn.execute(f"DROP TABLE {table}")
    got = {}
    for bulk in ("on", "off"):
        with _conn(dsql_server, bulk) as conn:
            conn.execute("SET dsql.transaction_rows_max = 5000")
            outcome_rows = _copy_run(conn, f"{table}_{bulk}", data, stored)
            conn.execute(f"DROP TABLE {table}_{bulk}")
        got[bulk] = tuple(_unname(x, f"{table}_{bulk}", table) for x in outcome_rows)
    assert got["on"] == got["off"]  # CONTEXT included
    # dsql's CONTEXT of a constraint error names the last line of the chunk being loaded, not
    # the failing row's (PostgreSQL's): the rest is compared with PostgreSQL.
    assert (got["on"][0][:4], got["on"][1]) == (expected[0][:4], expected[1])
    if got["on"][0][1] not in ("23505", "23502"):
        assert got["on"] == expected


@pytest.mark.parametrize("bulk", ["on", "off"])
def test_batched_copy_paths_agree(dsql_server, names, bulk):
    """dsql.copy_batch_rows: batches before a failing one stay committed, on both paths."""
    table = _short("cpbatch_" + bulk)
    with _conn(dsql_server, bulk) as conn:
        conn.execute("SET dsql.copy_batch_rows = 400")
        for sql in SCHEMA:
            conn.execute(sql.format(t=table))
        conn.execute(f"INSERT INTO {table} VALUES (5000, 's', 5000)")
        data = b"".join(b"%d\tv\t%d\n" % (i, i) for i in range(1000)) + b"1001\tdup\t5000\n"
        got = copy_in(conn, f"COPY {table} FROM STDIN", data)
        assert got[:3] == ("error", "23505", f'duplicate key value violates unique constraint "{table}_c"')
        assert got[3] == "Key (c)=(5000) already exists."
        assert got[4] == f"COPY {table}, line 1001"
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (801,)  # two batches of 400


def test_row_limit_counts_the_same(dsql_server, names):
    for bulk in ("on", "off"):
        table = _short("limit_" + bulk)
        with _conn(dsql_server, bulk) as conn:
            conn.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
            with pytest.raises(psycopg.Error) as info:
                conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(1, 3001) AS g")
            assert info.value.diag.sqlstate == "54000"
            conn.execute(f"INSERT INTO {table} SELECT g FROM generate_series(1, 3000) AS g")
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3000,)


def test_index_build_over_batches_and_duplicates(pg_server, dsql_server, names):
    """ADD PRIMARY KEY / CREATE UNIQUE INDEX over many rows: the entries of every row, and a
    duplicate anywhere fails 23505 as PostgreSQL words it, leaving no index."""
    table = _short("build")
    setup = [
        f"CREATE TABLE {table} (a int NOT NULL, b int)",
        f"INSERT INTO {table} SELECT g, g % 1000 FROM generate_series(1, 2500) AS g",
        f"INSERT INTO {table} SELECT g, 2000 + g FROM generate_series(2501, 5000) AS g",
    ]
    results = []
    for server in (pg_server, dsql_server):
        with _conn(server) as conn:
            for sql in setup:
                conn.execute(sql)
            conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (a)")
            try:
                conn.execute(f"CREATE UNIQUE INDEX {table}_b ON {table} (b)")
                dup = ("ok",)
            except psycopg.Error as exc:
                dup = outcome(exc)[:3]
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE a > 0").fetchone()
            indexes = conn.execute(f"SELECT count(*) FROM pg_indexes WHERE tablename = '{table}'").fetchone()
            try:
                conn.execute(f"INSERT INTO {table} VALUES (77, 0)")
                pk = ("ok",)
            except psycopg.Error as exc:
                pk = outcome(exc)[:4]
            conn.execute(f"DROP TABLE {table}")
        results.append((dup, count, indexes, pk))
    assert results[0] == results[1]
    assert results[1][0][1] == "23505"


async def _sql(session, sql: str) -> list:
    return [event async for event in session.simple_query(sql)]


@pytest.mark.parametrize("duplicate", [None, 3, 390])
async def test_index_build_batches_by_size(nursery, monkeypatch, duplicate):
    """A backfill batch also ends on its bytes: with a small budget the build takes many
    batches (in one process, with the real parts) and writes every entry; a duplicate in any
    batch fails the build with 23505 and leaves no index."""
    from assembly.embedded import ClusterConfig, EmbeddedCluster
    from qp.errors import SqlError
    from qp.frontend.server import QueryProcessor

    assert qp_online.INDEX_BACKFILL_BATCH_BYTES <= 8 * 1024 * 1024  # inside a transaction's 10 MiB
    monkeypatch.setattr(qp_online, "INDEX_BACKFILL_BATCH_BYTES", 20_000)
    calls = []
    real = qp_online.backfill_batch

    async def counted(*args, **kwargs):
        calls.append(args[3])
        return await real(*args, **kwargs)

    monkeypatch.setattr(qp_online, "backfill_batch", counted)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    session = await qp.open_session({"user": "postgres", "database": "postgres"})
    await _sql(session, "CREATE TABLE bw_t (a int PRIMARY KEY, b text)")
    b = "repeat('x', 200) || g" if duplicate is None else f"repeat('x', 200) || CASE WHEN g = 400 THEN {duplicate} ELSE g END"
    await _sql(session, f"INSERT INTO bw_t SELECT g, {b} FROM generate_series(1, 400) AS g")
    if duplicate is not None:
        with pytest.raises(SqlError) as caught:
            await _sql(session, "CREATE UNIQUE INDEX bw_b ON bw_t (b)")
        assert caught.value.sqlstate == "23505"
        assert caught.value.message == 'could not create unique index "bw_b"'
        assert caught.value.detail == f"Key (b)=({'x' * 200}{duplicate}) is duplicated."
        await _sql(session, f"INSERT INTO bw_t VALUES (1000, repeat('x', 200) || '{duplicate}')")  # no index left
        return
    await _sql(session, "CREATE UNIQUE INDEX bw_b ON bw_t (b)")
    assert len(calls) >= 4  # 400 entries of ~220 bytes in batches of ~20 kB
    with pytest.raises(SqlError) as caught:
        await _sql(session, "INSERT INTO bw_t VALUES (5000, repeat('x', 200) || '17')")
    assert caught.value.sqlstate == "23505"
    with pytest.raises(SqlError) as caught:
        await _sql(session, "INSERT INTO bw_t VALUES (5001, repeat('x', 200) || '400')")
    assert caught.value.sqlstate == "23505"


def _records(data: bytes, cuts: list[int], plain: bool, header: bool = False) -> tuple:
    from qp.frontend.copy_format import parse_options
    from qp.frontend.copy_parse import TextParser

    opts = parse_options([], is_from=True)
    opts.header = header
    parser = TextParser(opts, ["a", "b", "c"])
    if not plain:
        parser.reader._plain_lines = list  # the byte-rule reader alone: the reference
    out = []
    try:
        start = 0
        for cut in [*cuts, len(data)]:
            out += parser.feed(data[start:cut])
            start = cut
        out += parser.finish()
    except Exception as exc:  # noqa: BLE001 - the error is part of what is compared
        return [(r.line_no, r.fields, r.line) for r in out], (type(exc).__name__, str(exc), getattr(exc, "context", None))
    return [(r.line_no, r.fields, r.line) for r in out], None


@pytest.mark.parametrize("seed", range(40))
def test_text_lines_split_at_once_as_byte_by_byte(seed):
    """COPY text input split a chunk at a time (lines without a backslash or CR) gives the
    records, line numbers and errors the byte-rule reader gives, however the data is cut."""
    import random

    rng = random.Random(seed)
    pieces = [b"1\tx\t2", b"", b"\\N\t\\N\t3", b"a\\tb\tc\td", b"4\t5", b"\\.", b"x\ry", b"7\t8\t9", b"\t\t"]
    lines = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
    newline = rng.choice([b"\n", b"\n", b"\n", b"\r\n"])
    data = newline.join(lines) + (newline if rng.random() < 0.7 else b"")
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data), rng.randint(0, 6))))
    header = rng.random() < 0.2
    assert _records(data, cuts, True, header) == _records(data, cuts, False, header)


@pytest.mark.parametrize("qp_index", [0, 7, 255])
def test_hidden_row_ids_are_unique_rising_and_keep_their_qp(monkeypatch, qp_index):
    """Hidden row ids, given a batch at a time with one clock read each (qp/exec/dml.py
    `new_rowids`): batches larger than a millisecond's 16,384 ids, and batches in the same
    millisecond, never repeat an id, only rise, and keep the QP's index in every id (a
    millisecond's ids spent go on in the next millisecond, never into another QP's)."""
    import qp.exec.dml as dml

    now = [1_700_000_000_000_000_000]  # the clock stands still: every batch in one millisecond
    monkeypatch.setattr(dml.time, "time_ns", lambda: now[0])
    monkeypatch.setattr(dml, "_rowid_next", {})  # (the ids given so far by this process's QPs)
    was = dml._rowid_qp
    dml.set_rowid_qp(qp_index)
    try:
        given: list[int] = []
        for count in [1, 3, 16_383, 16_384, 40_000, 2, 0, 5]:
            batch = dml.new_rowids(count)
            assert len(batch) == count
            given += batch
        now[0] += 10 * 1_000_000  # 10 ms later: the ids go on from the later millisecond
        later = dml.new_rowids(3)
        given += later
        assert given == sorted(set(given))
        qp_of = [(i >> dml._ROWID_COUNTER_BITS) & ((1 << dml._ROWID_QP_BITS) - 1) for i in given]
        assert set(qp_of) == {qp_index}
        assert max(given) < 1 << 63
        ms_of_later = later[0] >> (dml._ROWID_QP_BITS + dml._ROWID_COUNTER_BITS)
        assert ms_of_later == now[0] // 1_000_000 - dml._EPOCH_2020_MS
    finally:
        dml.set_rowid_qp(was)
