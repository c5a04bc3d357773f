"""Session settings as a driver sees them, beside the reference PostgreSQL.

tests/sql/28_session_fidelity.sql compares statement results; what lives here
needs more than one autocommit connection running text statements: COPY
output under bytea_output, prepared plans that must be bound again when the
search_path changes (PostgreSQL's plan cache re-plans), settings given as
startup options, the exact texts of errors and warnings, DSQL's refusal of
other isolation levels (where dsql and PostgreSQL must differ), and the
setting stack's rule that a transaction starts from the session's defaults,
tested without a server.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import pq

from qp.frontend.setting_stack import SettingStack

pytestmark = pytest.mark.timeout(120)


def _connect(server, **kwargs) -> psycopg.Connection:
    return psycopg.connect(server.dsn, autocommit=True, **kwargs)


# -- bytea_output --------------------------------------------------------------------------------


def _copied(server, table: str) -> list[bytes]:
    with _connect(server) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, b bytea, t text)")
        try:
            conn.execute(f"INSERT INTO {table} VALUES (1, '\\x00015c41ff0a22', 'x'), (2, '', NULL), (3, NULL, 'y')")
            conn.execute("SET bytea_output = escape")
            out = []
            for statement in (f"COPY {table} TO STDOUT",
                              f"COPY (SELECT b, t FROM {table} ORDER BY id) TO STDOUT (FORMAT csv, HEADER)",
                              f"COPY (SELECT ARRAY[b, b] FROM {table} ORDER BY id) TO STDOUT"):
                with conn.cursor().copy(statement) as copy:
                    out.append(b"".join(bytes(chunk) for chunk in copy))
            return out
        finally:
            conn.execute(f"DROP TABLE {table}")


def test_copy_output_follows_bytea_output(pg_server, dsql_server, table_name) -> None:
    expected = _copied(pg_server, table_name)
    assert b"\\\\000\\\\001\\\\\\\\A" in expected[0]  # the escape format, its backslashes doubled by COPY
    assert _copied(dsql_server, table_name) == expected


# -- prepared plans and the search path ---------------------------------------------------------------


def _prepared_scenario(server, table: str) -> list:
    seen: list = []

    def run(conn: psycopg.Connection, sql: str) -> None:
        try:
            seen.append((sql, conn.execute(sql, prepare=True).fetchall()))
        except psycopg.Error as exc:
            seen.append((sql, exc.sqlstate, exc.diag.message_primary))

    with _connect(server) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, b bytea)")
        conn.execute("CREATE TABLE character_sets (mine int)")  # shadows information_schema's on the path
        try:
            conn.execute(f"INSERT INTO {table} VALUES (1, '\\x0001')")
            conn.execute("INSERT INTO character_sets VALUES (7)")
            count, cast = f"SELECT count(*) FROM {table}", f"SELECT b::text FROM {table}"
            shadowed = "SELECT * FROM character_sets"
            for sql in (count, cast, shadowed):
                run(conn, sql)  # prepared (named) from here on
            conn.execute("SET search_path = nosuch")
            run(conn, count)  # bound again: 42P01
            conn.execute("SET search_path = public")
            run(conn, count)
            conn.execute("SET bytea_output = escape")
            run(conn, cast)  # the same plan prints bytea the new way
            conn.execute("SET search_path = information_schema, public")
            run(conn, shadowed)  # now information_schema's view: its result type changed
            conn.execute("RESET search_path")
            run(conn, shadowed)
        finally:
            conn.execute("RESET search_path")
            conn.execute(f"DROP TABLE {table}")
            conn.execute("DROP TABLE character_sets")
    return seen


def test_prepared_plans_follow_the_search_path(pg_server, dsql_server, table_name) -> None:
    expected = _prepared_scenario(pg_server, table_name)
    assert expected[3][1] == "42P01" and expected[6][1] == "0A000", expected
    assert _prepared_scenario(dsql_server, table_name) == expected


# -- startup options ---------------------------------------------------------------------------------

STARTUP_QUERIES = [
    "SHOW search_path", "SELECT current_schema", "SELECT current_schemas(true)",
    "SHOW transaction_deferrable", "SELECT current_setting('transaction_deferrable')",
    "SHOW default_transaction_deferrable", "SHOW bytea_output", "SELECT '\\x00ff'::bytea",
]


def _startup_view(server) -> list:
    options = "-c search_path=nosuch -c default_transaction_deferrable=on -c bytea_output=escape"
    with _connect(server, options=options) as conn:
        out = [conn.execute(sql).fetchall() for sql in STARTUP_QUERIES]
        conn.execute("BEGIN")
        out.append(conn.execute("SHOW transaction_deferrable").fetchall())
        conn.execute("SET TRANSACTION NOT DEFERRABLE")
        out.append(conn.execute("SHOW transaction_deferrable").fetchall())
        conn.execute("COMMIT")
        out.append(conn.execute("SHOW transaction_deferrable").fetchall())
        return out


def test_startup_options_set_what_sessions_show(pg_server, dsql_server) -> None:
    expected = _startup_view(pg_server)
    assert expected[1] == [(None,)]
    assert _startup_view(dsql_server) == expected


# -- error and warning texts -----------------------------------------------------------------------------

MESSAGE_STEPS = [
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",  # DSQL's level, on both
    "SET bytea_output = 'base64'",
    "SELECT set_config('search_path', 'a,,b', false)",
    "SET search_path = nosuch",
    "CREATE TABLE session_settings_nowhere (a int)",
    "SET search_path = pg_catalog",
    "CREATE TABLE session_settings_nowhere (a int)",
    "RESET search_path",
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "RESET transaction_isolation",
    "SET default_transaction_isolation = 'bogus'",
    "SET default_transaction_deferrable = 'maybe'",
    "BEGIN", "SELECT 1", "SET TRANSACTION DEFERRABLE", "ROLLBACK",
    "BEGIN", "SELECT 1", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "ROLLBACK",
    "BEGIN", "SAVEPOINT s", "SET TRANSACTION NOT DEFERRABLE", "ROLLBACK",
    "BEGIN", "SAVEPOINT s", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "ROLLBACK",
    "BEGIN READ ONLY", "SAVEPOINT s", "SET TRANSACTION READ WRITE", "ROLLBACK",
    "BEGIN READ ONLY", "SELECT 1", "SET TRANSACTION READ WRITE", "ROLLBACK",
    "DECLARE held NO SCROLL CURSOR WITH HOLD FOR SELECT 1 UNION ALL SELECT 2",
    "FETCH held", "FETCH BACKWARD held", "FETCH held", "MOVE held", "CLOSE held",
]


def _messages(server) -> list:
    """What each step sends besides its rows: notices and errors, field by field."""
    pgconn = pq.PGconn.connect(psycopg.conninfo.make_conninfo(server.dsn).encode())
    assert pgconn.status == pq.ConnStatus.OK, pgconn.error_message
    notices: list = []
    pgconn.notice_handler = lambda result: notices.append(_fields(result))
    seen = []
    try:
        for step in MESSAGE_STEPS:
            pgconn.send_query(step.encode())
            outcome = []
            while (result := pgconn.get_result()) is not None:
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    outcome.append(_fields(result))
                else:
                    outcome.append(result.command_status.decode())
            seen.append((step, outcome, list(notices)))
            notices.clear()
    finally:
        pgconn.finish()
    return seen


def _fields(result: pq.PGresult) -> tuple:
    codes = (pq.DiagnosticField.SEVERITY_NONLOCALIZED, pq.DiagnosticField.SQLSTATE,
             pq.DiagnosticField.MESSAGE_PRIMARY, pq.DiagnosticField.MESSAGE_DETAIL, pq.DiagnosticField.MESSAGE_HINT)
    return tuple((result.error_field(code) or b"").decode() for code in codes)


def test_errors_and_warnings_read_as_postgres(pg_server, dsql_server) -> None:
    expected = _messages(pg_server)
    assert _messages(dsql_server) == expected


# -- DSQL's one isolation level ---------------------------------------------------------------------------


def test_characteristics_are_reflected_or_refused(dsql_server) -> None:
    """dsql accepts what it runs and shows it; every other isolation level is refused
    (PostgreSQL would accept them: this is where dsql is DSQL, not PostgreSQL)."""
    with _connect(dsql_server) as conn:
        show = lambda name: conn.execute(f"SHOW {name}").fetchone()[0]  # noqa: E731
        assert show("transaction_isolation") == show("default_transaction_isolation") == "repeatable read"
        for statement in ("BEGIN ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION ISOLATION LEVEL READ COMMITTED",
                          "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
                          "SET default_transaction_isolation = 'serializable'",
                          "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                          "SELECT set_config('transaction_isolation', 'read committed', false)"):
            with pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
                conn.execute(statement)
            assert refused.value.diag.message_primary.startswith("Unsupported isolation level: "), statement
            assert conn.info.transaction_status == pq.TransactionStatus.IDLE, statement  # no block was begun
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE")
        assert (show("transaction_isolation"), show("transaction_read_only"), show("transaction_deferrable")) == (
            "repeatable read", "on", "on")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        conn.execute("ROLLBACK")
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION DEFERRABLE")
        assert (show("default_transaction_deferrable"), show("transaction_deferrable")) == ("on", "on")


# -- the setting stack ------------------------------------------------------------------------------------


def test_setting_stack_starts_transactions_from_defaults() -> None:
    settings = {"default_transaction_deferrable": "on", "transaction_deferrable": "off",
                "default_transaction_read_only": "off", "transaction_read_only": "off"}
    stack = SettingStack(settings)  # a startup option set the default: the first transaction starts from it
    assert settings["transaction_deferrable"] == "on"
    stack.change("transaction_deferrable", "off", 1, local=True)  # SET TRANSACTION NOT DEFERRABLE
    stack.change("default_transaction_read_only", "on", 1, local=False)  # SET in the block...
    assert settings["transaction_read_only"] == "off"  # ...is for the next transaction
    assert stack.end(1, commit=True) == {"transaction_deferrable", "transaction_read_only"}
    assert (settings["transaction_deferrable"], settings["transaction_read_only"]) == ("on", "on")
    stack.change("default_transaction_deferrable", "off", 1, local=False)
    stack.change("default_transaction_read_only", "off", 2, local=False)
    stack.end(2, commit=False)  # ROLLBACK TO SAVEPOINT: not the transaction's end
    assert settings["transaction_deferrable"] == "on"
    stack.end(1, commit=False)  # ROLLBACK: the default stays what it was, and so does the next transaction
    assert (settings["transaction_deferrable"], settings["transaction_read_only"]) == ("on", "on") and not stack
