"""Schemas beyond what the differential corpus (tests/sql/49_schemas.sql) can show.

- Concurrent DDL: CREATE/DROP SCHEMA bump the catalog version like any DDL, so
  a table created in a schema that a concurrent transaction drops never
  survives (one of the two gets 40001 with OC001), either way round.
- DROP SCHEMA ... CASCADE goes through DROP TABLE's path: the dropped tables'
  key ranges travel with the commit and storage reclaims their rows.
- psql's `\\dn`, `\\dt s.*` and `\\d s.t`, byte for byte with PostgreSQL, on a
  server and a database of their own (so nothing else lists).
- Schemas and what they hold, and the search path through them, after a
  restart of the server (the catalog is read back from storage).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import trio
from support.pgsession import Session, SqlError
from test_ddl_reclaim import _keys_in, _settled, _sql
from test_psql_meta import output, psql

from assembly.embedded import ClusterConfig, EmbeddedCluster
from bench.servers import DsqlServer
from qp.frontend.server import QueryProcessor
from storage import keys
from storage import node as storage_node

STATEMENT_TIMEOUT_S = 10.0
SCHEMA_CONFLICT = "OC001"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def schema_name(dsql_server) -> Iterator[str]:
    """A fresh schema name; the schema is dropped (with what it holds) after the test."""
    name = "ts_" + uuid.uuid4().hex[:8]
    yield name
    with Session(dsql_server.dsn) as session:
        session.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def test_a_table_created_in_a_schema_dropped_concurrently_does_not_survive(dsql_server, schema_name):
    s = schema_name
    with Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as creator, \
            Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as dropper:  # fmt: skip
        creator.execute(f"CREATE SCHEMA {s}")
        creator.execute("BEGIN")
        creator.execute(f"CREATE TABLE {s}.t (id int PRIMARY KEY)")
        dropper.execute(f"DROP SCHEMA {s} CASCADE")  # commits first
        with pytest.raises(SqlError) as lost:
            creator.execute("COMMIT")
        assert lost.value.sqlstate == "40001" and SCHEMA_CONFLICT in lost.value.message, lost.value
        assert dropper.scalar(f"SELECT count(*) FROM pg_namespace WHERE nspname = '{s}'") == "0"
        assert dropper.scalar(f"SELECT to_regclass('{s}.t') IS NULL") == "t"
        with pytest.raises(SqlError) as missing:
            dropper.execute(f"INSERT INTO {s}.t VALUES (1)")
        assert missing.value.sqlstate == "42P01"


def test_a_schema_drop_loses_to_a_table_created_in_it_first(dsql_server, schema_name):
    s = schema_name
    with Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as creator, \
            Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as dropper:  # fmt: skip
        creator.execute(f"CREATE SCHEMA {s}")
        dropper.execute("BEGIN")
        dropper.execute(f"DROP SCHEMA {s}")  # empty as of its snapshot: RESTRICT allows it
        creator.execute(f"CREATE TABLE {s}.t (id int PRIMARY KEY)")  # commits first
        with pytest.raises(SqlError) as lost:
            dropper.execute("COMMIT")
        assert lost.value.sqlstate == "40001" and SCHEMA_CONFLICT in lost.value.message, lost.value
        creator.execute(f"INSERT INTO {s}.t VALUES (1)")
        assert creator.scalar(f"SELECT count(*) FROM {s}.t") == "1"


def test_nested_elements_run_in_one_transaction(dsql_server, schema_name):
    """An element that fails (here a duplicate table) leaves nothing behind: not the
    schema, not the elements before it."""
    s = schema_name
    with Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as session:
        with pytest.raises(SqlError):
            session.execute(f"CREATE SCHEMA {s} CREATE TABLE a (x int) CREATE TABLE a (y int)")
        assert session.scalar(f"SELECT count(*) FROM pg_namespace WHERE nspname = '{s}'") == "0"
        assert session.scalar(f"SELECT to_regclass('{s}.a') IS NULL") == "t"
        # The elements are ordered as PostgreSQL orders them: the view after the table it reads.
        session.execute(f"CREATE SCHEMA {s} CREATE VIEW v AS SELECT x FROM a CREATE TABLE a (x int)")
        session.execute(f"INSERT INTO {s}.a VALUES (4)")
        assert session.query(f"SELECT x FROM {s}.v") == [("4",)]


async def test_drop_schema_cascade_reclaims_its_tables_keys(nursery, monkeypatch) -> None:
    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
    session = await qp.open_session({"user": "postgres", "database": "postgres"})
    await _sql(session, "CREATE SCHEMA reclaim_s")
    await _sql(session, "CREATE TABLE reclaim_s.t (a int PRIMARY KEY, b int)")
    await _sql(session, "INSERT INTO reclaim_s.t SELECT g, g FROM generate_series(1, 300) g")
    table = qp.latest_catalog.find_table("t", "reclaim_s")
    assert table is not None
    table_range = keys.table_range(table.key_id)
    nodes = len(cluster.storage_nodes)
    await _settled(cluster, lambda: _keys_in(cluster, *table_range) >= 300 * nodes)

    await _sql(session, "DROP SCHEMA reclaim_s CASCADE")
    await _settled(cluster, lambda: all(len(n.dropped_ranges) == 1 for n in cluster.storage_nodes))
    assert {(start, end) for _, start, end in cluster.storage_nodes[0].dropped_ranges} == {table_range}
    assert qp.latest_catalog.find_table("t", "reclaim_s") is None
    assert "reclaim_s" not in qp.latest_catalog.schemas
    monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
    await _settled(cluster, lambda: _keys_in(cluster, *table_range) == 0)
    await trio.sleep(0)


# -- psql and restarts: a dsql server and a PostgreSQL database of their own -------------------------

SETUP = [
    "CREATE SCHEMA app",
    "CREATE SCHEMA audit",
    "COMMENT ON SCHEMA app IS 'the application'",
    "CREATE TABLE app.items (id int PRIMARY KEY, name text NOT NULL)",
    "CREATE INDEX items_name ON app.items (name)",
    "CREATE TABLE audit.items (id int PRIMARY KEY, at int)",
    "CREATE TABLE audit.log (n int)",
    "CREATE VIEW app.names AS SELECT name FROM app.items",
    "INSERT INTO app.items VALUES (1, 'one'), (2, 'two')",
    "CREATE SCHEMA nested CREATE VIEW nv AS SELECT id, name FROM ni WHERE id > 0 CREATE TABLE ni (id int, name text)",
    "SET search_path = nested",
    "CREATE VIEW nested.nv2 AS SELECT name FROM ni",
    "RESET search_path",
    "CREATE FUNCTION app.add1(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'",
    "CREATE FUNCTION audit.tag(t text, n int DEFAULT 1) RETURNS text LANGUAGE sql AS $$ SELECT t || n $$",
    "CREATE FUNCTION audit.add1(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 10'",
    "SET search_path = audit",
    "CREATE FUNCTION pairs(n int) RETURNS TABLE (a int, b text) LANGUAGE sql STABLE AS 'SELECT n, n::text'",
    "RESET search_path",
    "COMMENT ON FUNCTION audit.tag(text, int) IS 'tags'",
]


@pytest.fixture(scope="module")
def private_servers(pg_server, tmp_path_factory):
    """(PostgreSQL with a database of its own, that database's name, a dsql server of its own)."""
    dbname = "schemas_" + uuid.uuid4().hex[:8]
    with Session(pg_server.dsn) as session:
        session.execute(f"CREATE DATABASE {dbname}")
    base = tmp_path_factory.mktemp("dsql-schemas")
    dsql = DsqlServer(base / "data", log_path=base / "dsql.log")
    dsql.start()
    pg_dsn = pg_server.dsn.rsplit("/", 1)[0] + f"/{dbname}"
    for dsn in (pg_dsn, dsql.dsn):
        with Session(dsn) as session:
            for statement in SETUP:
                session.execute(statement)
    try:
        yield pg_server, dbname, dsql
    finally:
        dsql.stop()
        with Session(pg_server.dsn) as session:
            session.execute(f"DROP DATABASE {dbname}")


@pytest.mark.parametrize("command", [
    r"\dn", r"\dn+", r"\dn a*", r"\dt app.*", r"\dt *.items", r"\d app.items", r"\d audit.items",
    r"\dv app.*", r"\di app.*", r"\d app.names", r"\d+ app.names", r"\dt", r"\d app.items_name",
    r"\ds app.*", r"\dT app.*", r"\z app.*", r"\d+ nested.nv", r"\d+ nested.nv2",
    r"\df", r"\df app.*", r"\df *.add1", r"\df audit.*", r"\df+ audit.*", r"\df+ app.add1", r"\sf app.add1",
    r"\sf audit.tag", r"\sf+ audit.pairs", r"\df audit.ta*",
])  # fmt: skip
def test_psql_describes_schemas_as_postgres(private_servers, command):
    pg_server, dbname, dsql = private_servers
    # The reference is PostgreSQL 15, whose pg_get_viewdef qualifies a single-table
    # view's columns; 16 (which dsql answers as) does not (see test_psql_meta.py).
    expected = re.sub(r"\b(items|ni)\.(?=\w)", "", output(pg_server, command, dbname=dbname))
    assert output(dsql, command) == expected


def test_schemas_survive_a_restart(private_servers):
    _, _, dsql = private_servers
    dsql.stop()
    dsql.start()
    with Session(dsql.dsn) as session:
        assert session.query(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('app', 'audit') ORDER BY oid"
        ) == [("app",), ("audit",)]
        assert session.query("SELECT id, name FROM app.items ORDER BY id") == [("1", "one"), ("2", "two")]
        assert session.query("SELECT name FROM app.names ORDER BY 1") == [("one",), ("two",)]
        session.execute("SET search_path = audit, app")
        assert session.scalar("SELECT 'items'::regclass::text") == "items"  # audit's: first on the path
        assert session.scalar("SELECT 'app.items'::regclass::text") == "app.items"
        assert (
            session.scalar("SELECT obj_description('app'::regnamespace, 'pg_namespace')") == "the application"
        )


def test_copy_names_tables_by_schema_and_along_the_path(private_servers):
    """COPY FROM/TO a qualified table, and an unqualified one found along the search path."""
    pg_server, dbname, dsql = private_servers
    for server, db in ((pg_server, dbname), (dsql, None)):
        output(server, "COPY audit.log FROM STDIN", dbname=db, stdin="1\n2\n\\.\n")
        output(server, "SET search_path = audit", "COPY log FROM STDIN", dbname=db, stdin="3\n\\.\n")
    command = "COPY (SELECT n FROM audit.log ORDER BY n) TO STDOUT"
    assert output(dsql, command) == output(pg_server, command, dbname=dbname) == "1\n2\n3\n"
    path_copy = ("SET search_path = audit, app", "COPY log TO STDOUT")
    assert sorted(output(dsql, *path_copy).split()) == sorted(
        output(pg_server, *path_copy, dbname=dbname).split()
    )
    for server, db in ((pg_server, dbname), (dsql, None)):
        output(server, "DELETE FROM audit.log", dbname=db)


def test_a_schema_named_after_the_user_comes_first_on_the_default_path(dsql_server):
    with Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S) as session:
        user = session.scalar("SELECT current_user")
        session.execute("CREATE SCHEMA AUTHORIZATION CURRENT_USER")
        try:
            assert session.scalar("SELECT current_schema()") == user
            assert session.scalar("SELECT current_schemas(false)::text") == f"{{{user},public}}"
            session.execute("CREATE TABLE mine_first (x int)")
            assert (
                session.scalar(
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relname = 'mine_first'"
                )
                == user
            )
        finally:
            session.execute(f'DROP SCHEMA "{user}" CASCADE')
        assert session.scalar("SELECT current_schema()") == "public"


def test_a_prepared_statement_follows_the_path_and_the_schemas(dsql_server):
    """A named prepared statement is bound again when the search path changes, and when
    a schema the path names comes into existence (as PostgreSQL re-plans)."""
    suffix = uuid.uuid4().hex[:6]
    qa, qb, qc = f"qa_{suffix}", f"qb_{suffix}", f"qc_{suffix}"
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        try:
            for schema, value in ((qa, 1), (qb, 2)):
                conn.execute(f"CREATE SCHEMA {schema}")
                conn.execute(f"CREATE TABLE {schema}.pt (v int)")
                conn.execute(f"INSERT INTO {schema}.pt VALUES ({value})")
            query = "SELECT v FROM pt"
            conn.execute(f"SET search_path = {qc}, {qa}")
            assert conn.execute(query, prepare=True).fetchall() == [(1,)]
            assert conn.execute(query, prepare=True).fetchall() == [(1,)]  # now a named statement
            conn.execute(f"SET search_path = {qb}")
            assert conn.execute(query, prepare=True).fetchall() == [(2,)]
            conn.execute(f"SET search_path = {qc}, {qa}")
            conn.execute(f"CREATE SCHEMA {qc} CREATE TABLE pt (v int)")
            conn.execute(f"INSERT INTO {qc}.pt VALUES (3)")
            assert conn.execute(query, prepare=True).fetchall() == [(3,)]
        finally:
            conn.execute("RESET search_path")
            conn.execute(f"DROP SCHEMA IF EXISTS {qa}, {qb}, {qc} CASCADE")


def test_drop_schema_reports_what_it_holds_as_postgres(private_servers):
    """RESTRICT's error and CASCADE's notice list the schema's objects, as psql shows them."""
    pg_server, dbname, dsql = private_servers
    setup = ("CREATE SCHEMA dropme", "CREATE TABLE dropme.t (id int PRIMARY KEY)",
             "CREATE VIEW dropme.v AS SELECT id FROM dropme.t", "CREATE SEQUENCE dropme.s CACHE 1",
             "CREATE FUNCTION dropme.f(x int, y text) RETURNS int LANGUAGE sql AS 'SELECT x'")  # fmt: skip
    texts = {}
    for name, server, db in (("postgres", pg_server, dbname), ("dsql", dsql, None)):
        output(server, *setup, dbname=db)
        refused = psql(server, "DROP SCHEMA dropme", dbname=db)
        dropped = psql(server, "DROP SCHEMA dropme CASCADE", dbname=db)
        texts[name] = (refused.returncode, refused.stderr, dropped.returncode, dropped.stdout, dropped.stderr)
    assert texts["dsql"] == texts["postgres"]
    assert "drop cascades to 4 other objects" in texts["dsql"][4]
    assert "function dropme.f(integer,text) depends on schema dropme" in texts["dsql"][1]
