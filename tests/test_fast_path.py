"""The statement fast paths (qp/exec/fast_path.py) give exactly the general path's answers.

A prepared primary-key point get and a single-row UPDATE/DELETE by primary key skip
the operator tree. Every test here runs the same statements on two connections to one
server, one with the fast paths on (the default) and one with `dsql.fast_path=off`,
and compares rows, command tags, errors (SQLSTATE and message) and conflicts:

- shapes: one- and composite-column keys, NULL and missing keys, parameters that are
  coerced, RETURNING, constraints that fail, explicit blocks and autocommit, the simple
  protocol, temporary tables (which fall back);
- the catalog changing under a prepared statement, and privileges;
- conflicts (DSQL's optimistic concurrency: 40001 at the statement or at COMMIT);
- a hypothesis property test over random schemas, rows and statements.

Which statements take a fast path is checked in process (the real parts in one trio
run, as tests/test_temp_tables.py does), where the session's prepared statements can
be looked at.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.names import unique_name

from assembly.embedded import ClusterConfig, EmbeddedCluster
from qp.api import DataRows
from qp.errors import SqlError
from qp.exec.fast_path import IndexPointGet, PointGet, PointModify
from qp.frontend.server import QueryProcessor

pytestmark = pytest.mark.timeout(300)

Outcome = tuple  # ("ok", tag, rows) | ("error", sqlstate, message)


def _connect(dsql_server, fast: bool) -> psycopg.Connection:
    dsn = dsql_server.dsn if fast else f"{dsql_server.dsn}&options={quote('-c dsql.fast_path=off')}"
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def pair(dsql_server) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    """(fast, general): two connections to one server."""
    with _connect(dsql_server, True) as fast, _connect(dsql_server, False) as general:
        assert fast.execute("SHOW dsql.fast_path").fetchone() == ("on",)
        assert general.execute("SHOW dsql.fast_path").fetchone() == ("off",)
        yield fast, general


@pytest.fixture
def tables(dsql_server) -> Iterator[Callable[[str], str]]:
    """`make(columns_sql)` creates a uniquely named table; all are dropped at the end."""
    made: list[str] = []
    with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:

        def make(columns: str) -> str:
            name = unique_name("fp")
            admin.execute(f"CREATE TABLE {name} ({columns})")
            made.append(name)
            return name

        yield make
        for name in made:
            admin.execute(f"DROP TABLE IF EXISTS {name}")


def _run(conn: psycopg.Connection, sql: str, params=(), *, prepare: bool | None = True) -> Outcome:
    """One statement's outcome; `prepare=True` uses a named prepared statement."""
    try:
        cur = conn.execute(sql, params, prepare=prepare)
        rows = cur.fetchall() if cur.description is not None else None
        return ("ok", cur.statusmessage, rows)
    except psycopg.Error as exc:
        diag = exc.diag
        return ("error", diag.sqlstate, diag.message_primary)


def _simple(conn: psycopg.Connection, sql: str) -> Outcome:
    result = conn.pgconn.exec_(sql.encode())
    if result.error_message:
        return ("error", result.error_field(psycopg.pq.DiagnosticField.SQLSTATE).decode(),
                result.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY).decode())  # fmt: skip
    rows = [tuple(None if result.get_value(r, c) is None else result.get_value(r, c).decode()
                  for c in range(result.nfields)) for r in range(result.ntuples)]  # fmt: skip
    return ("ok", result.command_status.decode(), rows)


def _both(pair, sql: str, params=(), **kw) -> Outcome:
    """The statement's outcome on both paths, inside a block rolled back after (so both
    start from the same state); asserts they are the same."""
    outcomes = []
    for conn in pair:
        conn.execute("BEGIN")
        outcomes.append(_run(conn, sql, params, **kw))
        conn.execute("ROLLBACK")
    assert repr(outcomes[0]) == repr(outcomes[1]), (sql, params)  # repr: NaN is not equal to itself
    return outcomes[0]


def _contents(conn: psycopg.Connection, table: str) -> list[tuple]:
    return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


# -- shapes -----------------------------------------------------------------------------------


def test_point_gets_on_one_and_several_key_columns(pair, tables) -> None:
    one = tables("id int PRIMARY KEY, v int NOT NULL, t text")
    two = tables("a text, b bigint, v numeric, PRIMARY KEY (a, b)")
    pair[0].execute(f"INSERT INTO {one} VALUES (1, 10, 'one'), (2, 20, NULL), (-5, 0, '')")
    pair[0].execute(f"INSERT INTO {two} VALUES ('x', 1, 1.50), ('x', 2, NULL), ('', -1, 'NaN')")
    for key in (1, 2, -5, 3, None, 2**31 - 1):
        assert _both(pair, f"SELECT v, t FROM {one} WHERE id = %s", (key,))[0] == "ok"
        _both(pair, f"SELECT * FROM {one} WHERE id = %s", (key,), prepare=False)
        _both(pair, f"SELECT t, id, v, t FROM {one} WHERE %s = id", (key,))
    assert _both(pair, f"SELECT v FROM {one} WHERE id = %s", (1,))[2] == [(10,)]
    for a, b in (("x", 1), ("x", 2), ("", -1), ("x", 3), (None, 1), ("x", None)):
        _both(pair, f"SELECT v, b FROM {two} WHERE a = %s AND b = %s", (a, b))
        _both(pair, f"SELECT * FROM {two} WHERE b = %s AND a = %s", (b, a))
    assert _both(pair, f"SELECT v FROM {two} WHERE a = %s AND b = %s", ("x", 1))[2] == [(decimal.Decimal("1.50"),)]


def test_parameters_that_are_coerced_or_do_not_fit(pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v text")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 'one'), (32767, 'small')")
    for sql, params in [
        (f"SELECT v FROM {table} WHERE id = %s::bigint", (1,)),
        (f"SELECT v FROM {table} WHERE id = %s::smallint", (32767,)),
        (f"SELECT v FROM {table} WHERE id = %s::bigint", (2**40,)),  # out of int's range
        (f"SELECT v FROM {table} WHERE id = %s::text::int", ("1",)),
        (f"SELECT v FROM {table} WHERE id = %s::text::int", ("one",)),  # 22P02
        (f"SELECT v FROM {table} WHERE id = %s::numeric", (1,)),  # not a key comparison: general
        (f"SELECT v FROM {table} WHERE id = (%s::int + 1)", (0,)),
        (f"SELECT v FROM {table} WHERE id = %s AND v = %s", (1, "one")),  # a pushed-down filter
        (f"SELECT v FROM {table} WHERE id = %s AND v = %s", (1, "two")),
        (f"SELECT v FROM {table} WHERE id = %s AND v IS NULL", (1,)),
        (f"SELECT v FROM {table} WHERE id = %s AND length(v) > 10", (1,)),  # a residual: general
        (f"SELECT v FROM {table} WHERE id IN (%s, %s)", (1, 32767)),  # several keys: general
        (f"SELECT v FROM {table} WHERE id = %s FOR UPDATE", (1,)),  # a lock: general
    ]:
        _both(pair, sql, params)


def test_single_row_updates_and_deletes(pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int NOT NULL CHECK (v < 100), t text UNIQUE")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 10, 'one'), (2, 20, 'two')")
    statements = [
        (f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,)),
        (f"UPDATE {table} SET v = v + 1 WHERE id = %s", (3,)),  # no such row
        (f"UPDATE {table} SET v = v + 1 WHERE id = %s", (None,)),
        (f"UPDATE {table} SET v = %s WHERE id = %s", (None, 1)),  # 23502
        (f"UPDATE {table} SET v = %s WHERE id = %s", (100, 1)),  # 23514
        (f"UPDATE {table} SET t = %s WHERE id = %s", ("two", 1)),  # 23505 on the unique index
        (f"UPDATE {table} SET t = %s WHERE id = %s", ("uno", 1)),  # the index entry moves
        (f"UPDATE {table} SET id = %s WHERE id = %s", (2, 1)),  # 23505 on the key
        (f"UPDATE {table} SET id = %s WHERE id = %s", (7, 1)),  # the key moves
        (f"UPDATE {table} SET v = v * 2, t = upper(t) WHERE id = %s RETURNING *", (2,)),
        (f"UPDATE {table} SET v = v / %s WHERE id = %s", (0, 2)),  # 22012
        (f"UPDATE {table} SET v = (SELECT max(v) FROM {table}) WHERE id = %s", (1,)),  # a subquery: general
        (f"DELETE FROM {table} WHERE id = %s", (1,)),
        (f"DELETE FROM {table} WHERE id = %s RETURNING v, t", (2,)),
        (f"DELETE FROM {table} WHERE id = %s", (9,)),
    ]
    for sql, params in statements:
        _both(pair, sql, params)
    # Applied for real, alternately on each path: the same table either way.
    for i, (sql, params) in enumerate(statements):
        _run(pair[i % 2], sql, params)
    assert _contents(pair[0], table) == _contents(pair[1], table)


def test_point_gets_and_writes_through_a_unique_index(dsql_server, pair, tables) -> None:
    # pgbench's shape: rows keyed by a hidden row id, the primary key added after as a
    # unique index (qp/exec/fast_path.py IndexPointGet); and a composite unique index
    # whose NULLs are distinct (their entries carry the row key).
    added = tables("aid int NOT NULL, bid int, abalance int, filler char(8)")
    both = tables("id int PRIMARY KEY, a text, b int, v int, UNIQUE (a, b)")
    with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:
        admin.execute(f"INSERT INTO {added} SELECT i, i % 3, 0, 'x' FROM generate_series(1, 20) i")
        admin.execute(f"ALTER TABLE {added} ADD PRIMARY KEY (aid)")
        admin.execute(f"INSERT INTO {both} VALUES (1, 'x', 1, 10), (2, 'x', NULL, 20), (3, 'x', NULL, 30),"
                      f" (4, NULL, 1, 40), (5, 'y', 2, 50)")  # fmt: skip
    for key in (1, 7, 20, 0, 21, None):
        _both(pair, f"SELECT abalance, filler FROM {added} WHERE aid = %s", (key,))
        _both(pair, f"SELECT * FROM {added} WHERE aid = %s", (key,))
    assert _both(pair, f"SELECT bid FROM {added} WHERE aid = %s", (7,))[2] == [(1,)]
    for a, b in (("x", 1), ("x", None), (None, 1), ("y", 2), ("y", 3), ("z", 1)):
        _both(pair, f"SELECT id, v FROM {both} WHERE a = %s AND b = %s", (a, b))
    statements = [
        (f"UPDATE {added} SET abalance = abalance + %s WHERE aid = %s", (5, 3)),
        (f"UPDATE {added} SET abalance = abalance + %s WHERE aid = %s", (5, 99)),
        (f"UPDATE {added} SET aid = %s WHERE aid = %s", (4, 3)),  # 23505 on the added key
        (f"UPDATE {added} SET aid = %s WHERE aid = %s RETURNING *", (30, 3)),  # the entry moves
        (f"SELECT abalance FROM {added} WHERE aid = %s", (30,)),
        (f"SELECT abalance FROM {added} WHERE aid = %s", (3,)),
        (f"DELETE FROM {added} WHERE aid = %s RETURNING bid", (5,)),
        (f"SELECT abalance FROM {added} WHERE aid = %s", (5,)),
        (f"UPDATE {both} SET b = %s WHERE a = %s AND b = %s", (2, "y", 2)),
        (f"UPDATE {both} SET b = %s WHERE a = %s AND b = %s", (3, "x", 1)),
        (f"UPDATE {both} SET a = %s, b = %s WHERE a = %s AND b = %s", ("x", 3, "y", 2)),  # 23505: (x, 3) is taken
        (f"DELETE FROM {both} WHERE a = %s AND b = %s", ("y", 2)),
        (f"SELECT * FROM {both} WHERE a = %s AND b = %s", ("y", 2)),
    ]
    results = []
    for conn in pair:
        conn.execute("BEGIN")  # one block: each statement sees the ones before it
        steps = []
        for sql, params in statements:
            conn.execute("SAVEPOINT step")
            steps.append(_run(conn, sql, params))
            conn.execute("ROLLBACK TO SAVEPOINT step" if steps[-1][0] == "error" else "RELEASE SAVEPOINT step")
        conn.execute("ROLLBACK")
        results.append(steps)
    assert repr(results[0]) == repr(results[1])
    assert results[0][2][1] == "23505" and results[0][10][1] == "23505"
    assert results[0][3][2] == [(30, 0, 5, "x       ")] and results[0][5][2] == []
    # Applied for real, alternately on each path: the same tables either way.
    for i, (sql, params) in enumerate(statements):
        _run(pair[i % 2], sql, params)
    assert _contents(pair[0], added) == _contents(pair[1], added)
    assert _contents(pair[0], both) == _contents(pair[1], both)


def test_writes_in_a_block_are_read_back_by_both_paths(pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 1), (2, 2)")
    results = []
    for conn in pair:
        conn.execute("BEGIN")
        steps = [
            _run(conn, f"UPDATE {table} SET v = v + 10 WHERE id = %s", (1,)),
            _run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,)),
            _run(conn, f"DELETE FROM {table} WHERE id = %s", (2,)),
            _run(conn, f"SELECT v FROM {table} WHERE id = %s", (2,)),
            _run(conn, f"INSERT INTO {table} VALUES (%s, %s)", (3, 3)),
            _run(conn, f"UPDATE {table} SET v = v + 1 WHERE id = %s RETURNING v", (3,)),
            _run(conn, f"SELECT * FROM {table} WHERE id = %s", (3,)),
        ]
        conn.execute("ROLLBACK")
        results.append(steps)
    assert results[0] == results[1]
    assert results[0][1][2] == [(11,)] and results[0][3][2] == [] and results[0][5][2] == [(4,)]


def test_the_simple_protocol_and_a_failed_block(pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 1)")
    for conn_pair in [pair]:
        outcomes = []
        for conn in conn_pair:
            steps = [_simple(conn, f"SELECT v FROM {table} WHERE id = 1"),
                     _simple(conn, f"SELECT v FROM {table} WHERE id = 1"),
                     _simple(conn, "BEGIN"),
                     _simple(conn, f"UPDATE {table} SET v = v + 1 WHERE id = 1"),
                     _simple(conn, f"SELECT v FROM {table} WHERE id = 1 / 0"),
                     _simple(conn, f"SELECT v FROM {table} WHERE id = 1"),  # 25P02
                     _simple(conn, "ROLLBACK"),
                     _simple(conn, f"SELECT v FROM {table} WHERE id = 1")]  # fmt: skip
            outcomes.append(steps)
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][5][1] == "25P02"


def test_a_temporary_table_gives_the_same_answers(pair) -> None:
    results = []
    for conn in pair:
        conn.execute("CREATE TEMP TABLE fp_temp (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO fp_temp VALUES (1, 1)")
        results.append([
            _run(conn, "SELECT v FROM fp_temp WHERE id = %s", (1,)),
            _run(conn, "UPDATE fp_temp SET v = v + 1 WHERE id = %s", (1,)),
            _run(conn, "SELECT v FROM fp_temp WHERE id = %s", (1,)),
        ])
        conn.execute("DROP TABLE fp_temp")
    assert results[0] == results[1]
    assert results[0][2][2] == [(2,)]


def test_a_table_with_missing_values_of_an_added_column(pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 1)")
    pair[0].execute(f"ALTER TABLE {table} ADD COLUMN w int DEFAULT 7")
    pair[0].execute(f"INSERT INTO {table} VALUES (2, 2, 8)")
    for key in (1, 2, 3):
        _both(pair, f"SELECT w, v FROM {table} WHERE id = %s", (key,))
        _both(pair, f"UPDATE {table} SET v = w + v WHERE id = %s RETURNING *", (key,))
        _both(pair, f"SELECT * FROM {table} WHERE id = %s AND v = %s", (key, key))


# -- the catalog, privileges ----------------------------------------------------------------------


def test_the_catalog_changing_under_a_prepared_statement(dsql_server, pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 1)")
    with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:
        results = []
        for conn in pair:
            admin.execute(f"UPDATE {table} SET v = 1 WHERE id = 1")
            steps = [_run(conn, f"SELECT * FROM {table} WHERE id = %s", (1,)),
                     _run(conn, f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,))]
            admin.execute(f"ALTER TABLE {table} ADD COLUMN w{len(results)} int")
            # The named statement's result changed shape (0A000); the UPDATE is bound again.
            steps += [_run(conn, f"SELECT * FROM {table} WHERE id = %s", (1,)),
                      _run(conn, f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,)),
                      _run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,))]
            admin.execute(f"ALTER TABLE {table} DROP COLUMN w{len(results)}")
            results.append(steps)
        assert results[0][2] == results[1][2] == ("error", "0A000", "cached plan must not change result type")
        assert results[0][:2] == results[1][:2] and results[0][3:] == results[1][3:]
        # A block that began before a concurrent DDL: the conflict is the same on both paths.
        results = []
        for conn in pair:
            admin.execute(f"UPDATE {table} SET v = 1 WHERE id = 1")
            conn.execute("BEGIN")
            steps = [_run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,))]
            admin.execute(f"ALTER TABLE {table} ADD COLUMN x{len(results)} int")
            steps += [_run(conn, f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,)),
                      _run(conn, "COMMIT") if steps[-1][0] == "ok" else None]
            conn.execute("ROLLBACK")
            results.append(steps)
        assert results[0] == results[1]


def test_privileges_are_checked_on_both_paths(dsql_server, pair, tables) -> None:
    table = tables("id int PRIMARY KEY, v int")
    role = unique_name("fp_role")
    pair[0].execute(f"INSERT INTO {table} VALUES (1, 1)")
    with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role}")
        try:
            results = []
            for conn in pair:
                admin.execute(f"UPDATE {table} SET v = 1 WHERE id = 1")
                steps = [_run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,)),
                         _run(conn, f"UPDATE {table} SET v = 2 WHERE id = %s", (1,))]
                conn.execute(f"SET ROLE {role}")
                steps += [_run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,)),
                          _run(conn, f"UPDATE {table} SET v = 2 WHERE id = %s", (1,))]
                admin.execute(f"GRANT SELECT ON {table} TO {role}")
                steps += [_run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,)),
                          _run(conn, f"UPDATE {table} SET v = 3 WHERE id = %s", (1,))]
                admin.execute(f"REVOKE SELECT ON {table} FROM {role}")
                steps.append(_run(conn, f"SELECT v FROM {table} WHERE id = %s", (1,)))
                conn.execute("RESET ROLE")
                results.append(steps)
            assert results[0] == results[1]
            assert [s[1] for s in results[0][2:4]] == ["42501", "42501"]
            assert results[0][4] == ("ok", "SELECT 1", [(2,)]) and results[0][6][1] == "42501"
        finally:
            admin.execute(f"DROP ROLE {role}")


# -- conflicts --------------------------------------------------------------------------------------


def _conflict_story(dsql_server, fast: bool, table: str) -> list[Outcome]:
    """Two writers of one row; what each statement of the second one answers."""
    with _connect(dsql_server, fast) as one, _connect(dsql_server, fast) as two:
        out = []
        # Both update the row in their blocks; the first COMMIT wins, the second gets 40001.
        one.execute("BEGIN")
        two.execute("BEGIN")
        out.append(_run(one, f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,)))
        out.append(_run(two, f"UPDATE {table} SET v = v + 10 WHERE id = %s", (1,)))
        out.append(_run(one, "COMMIT"))
        out.append(_run(two, "COMMIT"))
        # The second begins (and reads) before the first commits, then writes: refused at its
        # statement if storage has applied the first commit when it reads the row (it is
        # told the row is newer than its snapshot), else at its COMMIT; the first error counts.
        two.execute("BEGIN")
        out.append(_run(two, f"SELECT v FROM {table} WHERE id = %s", (1,)))
        out.append(_run(one, f"UPDATE {table} SET v = v + 1 WHERE id = %s", (1,)))  # autocommit
        update = _run(two, f"UPDATE {table} SET v = v + 10 WHERE id = %s", (1,))
        out.append(update if update[0] == "error" else _run(two, "COMMIT"))
        if two.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            two.execute("ROLLBACK")
        # A delete against an update.
        one.execute("BEGIN")
        two.execute("BEGIN")
        out.append(_run(one, f"DELETE FROM {table} WHERE id = %s", (2,)))
        out.append(_run(two, f"UPDATE {table} SET v = 0 WHERE id = %s RETURNING v", (2,)))
        out.append(_run(two, "COMMIT"))
        out.append(_run(one, "COMMIT"))
        out.append(_run(one, f"SELECT * FROM {table} WHERE id = %s", (2,)))
        out.append(_contents(one, table))
        return out


def test_two_writers_of_one_row_conflict_the_same_way(dsql_server, tables) -> None:
    stories = []
    for fast in (True, False):
        table = tables("id int PRIMARY KEY, v int")
        with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:
            admin.execute(f"INSERT INTO {table} VALUES (1, 0), (2, 0)")
        stories.append(_conflict_story(dsql_server, fast, table))
    assert stories[0] == stories[1]
    story = stories[0]
    assert story[3][:2] == ("error", "40001")  # at COMMIT
    assert story[6][:2] == ("error", "40001")  # at the statement (or at COMMIT)
    assert story[8] == ("ok", "UPDATE 1", [(0,)]) and story[9][0] == "ok"
    assert story[10][:2] == ("error", "40001")  # the delete lost at COMMIT
    assert story[12] == [(1, 2), (2, 0)]


# -- which statements take a fast path (in process) --------------------------------------------------


async def test_the_shapes_that_take_a_fast_path(nursery) -> None:
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    session = await qp.open_session({"user": "postgres", "database": "postgres"})

    async def simple(sql: str) -> None:
        async for _ in session.simple_query(sql):
            pass

    async def fast_kind(sql: str, params: list[bytes | None]) -> type | None:
        await session.parse("s", sql, [])
        await session.bind("", "s", [], params, [])
        async for _ in session.execute("", 0):
            pass
        await session.sync()
        prepared = session.statements.pop("s")
        found = prepared.memo.get("fast")
        return None if found is None else type(found)

    await simple("CREATE TABLE kv (id int PRIMARY KEY, v int, w text UNIQUE)")
    await simple("CREATE TABLE kk (a int, b text, v int, PRIMARY KEY (a, b))")
    await simple("CREATE TEMP TABLE tt (id int PRIMARY KEY, v int)")
    await simple("CREATE INDEX kv_v ON kv (v)")
    await simple("CREATE UNIQUE INDEX kv_lower_w ON kv (lower(w))")
    await simple("INSERT INTO kv VALUES (1, 1, 'a')")
    taken = {
        "SELECT v FROM kv WHERE id = $1": PointGet,
        "SELECT * FROM kv WHERE id = $1::bigint": PointGet,
        "SELECT v FROM kk WHERE a = $1 AND b = $2": PointGet,
        "SELECT v FROM kv WHERE id = $1 AND v = 1": PointGet,
        "UPDATE kv SET v = v + 1 WHERE id = $1": PointModify,
        "UPDATE kv SET v = 2 WHERE id = $1 RETURNING *": PointModify,
        "DELETE FROM kv WHERE id = $1": PointModify,
        "UPDATE kk SET v = 0 WHERE a = $1 AND b = $2": PointModify,
        "SELECT v FROM kv WHERE w = $1::text": IndexPointGet,
        "UPDATE kv SET v = 3 WHERE w = $1::text": PointModify,
        "DELETE FROM kv WHERE w = $1::text RETURNING id": PointModify,
    }
    general = [
        "SELECT v FROM kv WHERE id IN ($1, 2)",
        "SELECT v FROM kv WHERE id = $1 FOR UPDATE",
        "SELECT v FROM kv WHERE id = $1 AND length(w) = 1",
        "SELECT v FROM kk WHERE a = $1 AND b > $2",
        "SELECT count(*) FROM kv WHERE id = $1",
        "SELECT v + 1 FROM kv WHERE id = $1",
        "SELECT v FROM kv WHERE w > $1::text",
        "SELECT v FROM kv WHERE w = $1::text AND length(w) = 1",
        "SELECT v FROM kv WHERE v = $1",  # an index that is not unique
        "SELECT v FROM kv WHERE lower(w) = $1::text",  # an expression index
        "SELECT v FROM tt WHERE id = $1",
        "UPDATE tt SET v = 1 WHERE id = $1",
        "UPDATE kv SET v = (SELECT 1) WHERE id = $1",
        "UPDATE kv SET v = 1 FROM kk WHERE kv.id = $1 AND kk.a = kv.id",
        "INSERT INTO kv VALUES ($1, 1, 'b')",
    ]
    params = {"SELECT v FROM kk WHERE a = $1 AND b = $2": [b"1", b"x"],
              "UPDATE kk SET v = 0 WHERE a = $1 AND b = $2": [b"1", b"x"],
              "SELECT v FROM kk WHERE a = $1 AND b > $2": [b"1", b"x"],
              "SELECT v FROM kv WHERE w = $1::text": [b"a"],
              "UPDATE kv SET v = 3 WHERE w = $1::text": [b"a"],
              "DELETE FROM kv WHERE w = $1::text RETURNING id": [b"a"],
              "SELECT v FROM kv WHERE w > $1::text": [b"a"],
              "SELECT v FROM kv WHERE w = $1::text AND length(w) = 1": [b"a"],
              "SELECT v FROM kv WHERE lower(w) = $1::text": [b"a"],
              "INSERT INTO kv VALUES ($1, 1, 'b')": [b"5"]}  # fmt: skip
    for sql, kind in taken.items():
        assert await fast_kind(sql, params.get(sql, [b"1"])) is kind, sql
    for sql in general:
        assert await fast_kind(sql, params.get(sql, [b"1"])) is None, sql
    # Off: the same statement runs the general path.
    await simple("SET dsql.fast_path = off")
    assert await fast_kind("SELECT v FROM kv WHERE id = $1", [b"1"]) is None
    await simple("RESET dsql.fast_path")
    assert await fast_kind("SELECT v FROM kv WHERE id = $1", [b"1"]) is PointGet


async def test_parameters_and_results_follow_the_settings(nursery) -> None:
    """A prepared statement keeps its parameter decoders and result encoders; a SET that
    changes how a timestamptz is read and written is followed at the next Bind."""
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)

    async def simple(session, sql: str) -> None:
        async for _ in session.simple_query(sql):
            pass

    async def execute(session, params: list[bytes]) -> list[list[str]]:
        await session.bind("", "s", [], params, [])
        rows = [[bytes(v).decode() for v in row]
                async for event in session.execute("", 0) if isinstance(event, DataRows)
                for row in event.rows]  # fmt: skip
        await session.sync()
        return rows

    results = {}
    for mode in ("on", "off"):
        session = await qp.open_session({"user": "postgres", "database": "postgres",
                                         "options": f"-c dsql.fast_path={mode}"})  # fmt: skip
        if mode == "on":
            await simple(session, "CREATE TABLE ts (t timestamptz PRIMARY KEY, n int)")
            await simple(session, "INSERT INTO ts VALUES ('2024-06-01 12:00+00', 1), ('2024-06-01 16:00+00', 2)")
        await session.parse("s", "SELECT t, n FROM ts WHERE t = $1", [])
        await simple(session, "SET TimeZone = 'UTC'")
        steps = [await execute(session, [b"2024-06-01 12:00"]), await execute(session, [b"2024-06-01 12:00"])]
        await simple(session, "SET TimeZone = 'America/New_York'")
        steps += [await execute(session, [b"2024-06-01 12:00"]), await execute(session, [b"2024-06-01 12:00"])]
        results[mode] = steps
    assert results["on"] == results["off"]
    assert results["on"][1] == [["2024-06-01 12:00:00+00", "1"]]
    assert results["on"][3] == [["2024-06-01 12:00:00-04", "2"]]


async def test_a_stale_catalog_is_retried_the_same_way(nursery) -> None:
    """Another query processor's DDL: this one's newest catalog is stale, storage refuses the
    read (StaleCatalog), and the runner loads the catalog and binds again, on both paths."""
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    here = QueryProcessor(cluster.clock, cluster.topology, cluster.transport, index=0)
    there = QueryProcessor(cluster.clock, cluster.topology, cluster.transport, index=1)
    ddl = await there.open_session({"user": "postgres", "database": "postgres"})
    async for _ in ddl.simple_query("CREATE TABLE st (id int PRIMARY KEY, v int)"):
        pass
    async for _ in ddl.simple_query("INSERT INTO st VALUES (1, 1), (2, 2)"):
        pass
    loads = 0
    load_catalog = here.load_catalog

    async def counting_load(txn):
        nonlocal loads
        loads += 1
        return await load_catalog(txn)

    here.load_catalog = counting_load

    async def execute(session, name: str, params: list[bytes | None]) -> tuple:
        try:
            await session.bind("", name, [], params, [])
            rows = [[None if v is None else bytes(v) for v in row]
                    async for event in session.execute("", 0) if isinstance(event, DataRows)
                    for row in event.rows]  # fmt: skip
            await session.sync()
            return ("ok", rows)
        except SqlError as exc:
            await session.sync()
            return ("error", exc.sqlstate, exc.message)

    results = {}
    for mode in ("on", "off"):
        session = await here.open_session({"user": "postgres", "database": "postgres",
                                           "options": f"-c dsql.fast_path={mode}"})  # fmt: skip
        async for _ in session.simple_query("SELECT count(*) FROM st"):  # this QP learns the catalog
            pass
        await session.parse("sel", "SELECT v FROM st WHERE id = $1", [])
        await session.parse("star", "SELECT * FROM st WHERE id = $1", [])
        await session.parse("upd", "UPDATE st SET v = v + 1 WHERE id = $1 RETURNING v", [])
        steps = [await execute(session, "sel", [b"1"]), await execute(session, "star", [b"1"])]
        async for _ in ddl.simple_query(f"ALTER TABLE st ADD COLUMN w_{mode} int"):
            pass
        before = loads
        steps += [await execute(session, "upd", [b"2"]), await execute(session, "sel", [b"1"]),
                  await execute(session, "star", [b"1"]), await execute(session, "sel", [None])]  # fmt: skip
        assert loads > before, mode  # the stale catalog was found and loaded again
        async for _ in ddl.simple_query(f"ALTER TABLE st DROP COLUMN w_{mode}"):
            pass
        async for _ in ddl.simple_query("UPDATE st SET v = 2 WHERE id = 2"):
            pass
        results[mode] = steps
    assert results["on"] == results["off"]
    assert results["on"][2] == ("ok", [[b"3"]])
    assert results["on"][4] == ("error", "0A000", "cached plan must not change result type")


# -- property: random schemas, rows and statements --------------------------------------------------

_TYPES = {
    "int": st.integers(-(2**31), 2**31 - 1),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    "text": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
    "varchar(8)": st.text(st.sampled_from("abcé Z"), max_size=8),
    "numeric": st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False),
    "boolean": st.booleans(),
    "date": st.dates(),
}


@st.composite
def _schemas(draw):
    key_types = draw(st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=3))
    value_types = draw(st.lists(st.sampled_from(["int", "text", "numeric"]), min_size=1, max_size=2))
    not_null = draw(st.lists(st.booleans(), min_size=len(value_types), max_size=len(value_types)))
    return key_types, value_types, not_null


@st.composite
def _cases(draw):
    key_types, value_types, not_null = draw(_schemas())

    def key_of():
        return tuple(draw(_TYPES[t]) for t in key_types)

    keys = list(dict.fromkeys(key_of() for _ in range(draw(st.integers(1, 6)))))

    def value_of(t: str, nullable: bool):
        if nullable and draw(st.integers(0, 4)) == 0:
            return None
        return draw(_TYPES[t]) if t != "int" else draw(st.integers(-50, 50))

    rows = [k + tuple(value_of(t, not nn) for t, nn in zip(value_types, not_null, strict=True)) for k in keys]
    statements = []
    for _ in range(draw(st.integers(2, 8))):
        which = draw(st.sampled_from(["get", "get_star", "update", "update_returning", "delete", "update_key"]))
        roll = draw(st.integers(0, 9))
        if roll < 6 and keys:
            key = draw(st.sampled_from(keys))
        elif roll < 8:
            key = key_of()  # most likely missing
        else:
            key = tuple(None if i == draw(st.integers(0, len(key_types) - 1)) else v
                        for i, v in enumerate(draw(st.sampled_from(keys)) if keys else key_of()))  # fmt: skip
        column = draw(st.integers(0, len(value_types) - 1))
        value = value_of(value_types[column], True)
        statements.append((which, key, column, value))
    return key_types, value_types, not_null, rows, statements


def _case_sql(table: str, key_types, value_types, which: str, column: int) -> str:
    where = " AND ".join(f"k{i} = %s::{t}" for i, t in enumerate(key_types))
    v = f"v{column}"
    if which == "get":
        return f"SELECT {v}, k0 FROM {table} WHERE {where}"
    if which == "get_star":
        return f"SELECT * FROM {table} WHERE {where}"
    if which == "update":
        return f"UPDATE {table} SET {v} = %s::{value_types[column]} WHERE {where}"
    if which == "update_returning":
        return f"UPDATE {table} SET {v} = %s::{value_types[column]} WHERE {where} RETURNING *"
    if which == "update_key":
        return f"UPDATE {table} SET k0 = k0 WHERE {where}"
    return f"DELETE FROM {table} WHERE {where}"


def _property(dsql_server, case) -> None:
    key_types, value_types, not_null, rows, statements = case
    table = unique_name("fp_prop")
    columns = [f"k{i} {t}" for i, t in enumerate(key_types)]
    columns += [f"v{i} {t}{' NOT NULL' if nn else ''}" for i, (t, nn) in enumerate(zip(value_types, not_null, strict=True))]
    keys = ", ".join(f"k{i}" for i in range(len(key_types)))
    with _connect(dsql_server, True) as fast, _connect(dsql_server, False) as general:
        fast.execute(f"CREATE TABLE {table} ({', '.join(columns)}, PRIMARY KEY ({keys}))")
        try:
            if rows:
                marks = ", ".join(["%s"] * len(rows[0]))
                with fast.cursor() as cur:
                    cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            for i, (which, key, column, value) in enumerate(statements):
                sql = _case_sql(table, key_types, value_types, which, column)
                params = ((value,) if which.startswith("update") and which != "update_key" else ()) + key
                outcome = _both((fast, general), sql, params)
                # ... and applied, alternately on each path, in autocommit.
                applied = _run((fast, general)[i % 2], sql, params)
                assert repr(applied) == repr(outcome), (sql, params)
            assert repr(_contents(fast, table)) == repr(_contents(general, table))
        finally:
            fast.execute(f"DROP TABLE {table}")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_cases())
def test_random_schemas_give_the_same_answers_on_both_paths(dsql_server, case) -> None:
    _property(dsql_server, case)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_cases())
def test_random_schemas_give_the_same_answers_on_both_paths_at_length(dsql_server, case) -> None:
    _property(dsql_server, case)
