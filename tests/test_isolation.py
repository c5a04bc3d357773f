"""DSQL's transaction semantics, checked with 2 and 3 concurrent connections.

dsql offers one isolation level: snapshot isolation (PostgreSQL's REPEATABLE
READ on the Hermitage tests) made optimistic. Writes are buffered, conflicts
are found at COMMIT, the first committer wins and the loser gets SQLSTATE 40001
with ``OC000`` in the message; no statement ever waits for another
transaction. This module runs DSQL's published Hermitage set (G0, G1a-c, OTV,
PMP, P4, G-single, G2-item, G2, with the DSQL outcomes of dsql.md §2.3) and the
rest of the contract: stable snapshots, strong consistency, read-your-own-
writes, non-blocking statements, read-only transactions that never abort, the
accepted and refused transaction modes, aborted-transaction behaviour, schema
conflicts (``OC001``) and atomic visibility across tables.

Only dsql is tested: PostgreSQL blocks where DSQL does not, so there is no
oracle to compare with. Every statement has a short timeout; a statement that
does not answer in time has blocked, which fails the test instead of hanging.
Each test works on tables named after itself and drops them at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from psycopg import pq
from support.pgsession import Session, SqlError

STATEMENT_TIMEOUT_S = 5.0  # dsql never waits on another transaction: slower than this means it blocked
CONFLICT = "OC000"
SCHEMA_CONFLICT = "OC001"


# -- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture
def connect(dsql_server, cleanup) -> Iterator[Callable[[], Session]]:
    """Open sessions on dsql (each with the blocking timeout); all are closed at the end.

    (It depends on ``cleanup`` so that the sessions close before the tables are dropped.)
    """
    opened: list[Session] = []

    def open_session() -> Session:
        session = Session(dsql_server.dsn, timeout_s=STATEMENT_TIMEOUT_S)
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()


@pytest.fixture
def cleanup(dsql_server) -> Iterator[list[str]]:
    """Tables listed here are dropped after the test."""
    tables: list[str] = []
    yield tables
    with Session(dsql_server.dsn, timeout_s=30) as session:
        for table in tables:
            session.run(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def test_table(connect, names, cleanup) -> str:
    """Hermitage's table: ``test(id int primary key, value int)`` with rows (1, 10) and (2, 20)."""
    table = names("test")
    cleanup.append(table)
    setup = connect()
    setup.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, value int)")
    setup.execute(f"INSERT INTO {table} (id, value) VALUES (1, 10), (2, 20)")
    return table


def rows_of(session: Session, sql: str) -> list[tuple[int | None, ...]]:
    """Rows of an integer-valued query, sorted."""
    return sorted(tuple(None if v is None else int(v) for v in row) for row in session.query(sql))


def table_state(session: Session, table: str) -> dict[int, int | None]:
    return {row[0]: row[1] for row in rows_of(session, f"SELECT id, value FROM {table}")}  # type: ignore[misc]


def committed_state(connect: Callable[[], Session], table: str) -> dict[int, int | None]:
    """The table as a brand-new transaction on a fresh connection sees it."""
    return table_state(connect(), table)


def expect_conflict(session: Session, statements: list[str], code: str = CONFLICT) -> SqlError:
    """Run the losing transaction's remaining statements and its COMMIT.

    The conflict must surface as SQLSTATE 40001 with ``code`` in the message, at COMMIT at the
    latest (an earlier statement may already report it). The transaction is over afterwards.
    """
    for sql in [*statements, "COMMIT"]:
        try:
            result = session.execute(sql)
        except SqlError as error:
            assert error.sqlstate == "40001", f"{sql!r}: expected SQLSTATE 40001, got {error}"
            assert code in error.message, f"{sql!r}: expected {code} in the message, got {error.message!r}"
            session.run("ROLLBACK")
            assert session.transaction_status == pq.TransactionStatus.IDLE
            return error
        if sql == "COMMIT":
            pytest.fail(f"the losing transaction's COMMIT did not fail (tag {result.tag!r})")
    raise AssertionError("unreachable")


def commit(session: Session) -> None:
    result = session.execute("COMMIT")
    assert result.tag == "COMMIT", f"COMMIT answered {result.tag!r}"


# -- Hermitage (DSQL's published outcomes) ---------------------------------------------------------------


def test_g0_write_cycles_prevented(connect, test_table):
    """G0: T2's write to T1's row does not block while T1 is open; T2 aborts at commit."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 12 WHERE id = 1")  # must return at once
    t1.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    commit(t1)
    expect_conflict(t2, [f"UPDATE {test_table} SET value = 22 WHERE id = 2"])
    assert committed_state(connect, test_table) == {1: 11, 2: 21}


def test_g1a_aborted_reads_prevented(connect, test_table):
    """G1a: T2 never sees a write of T1 that is rolled back."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = 101 WHERE id = 1")
    assert table_state(t2, test_table) == {1: 10, 2: 20}
    t1.execute("ROLLBACK")
    assert table_state(t2, test_table) == {1: 10, 2: 20}
    commit(t2)
    assert committed_state(connect, test_table) == {1: 10, 2: 20}


def test_g1b_intermediate_reads_prevented(connect, test_table):
    """G1b: T2 sees neither T1's intermediate value nor, within its snapshot, T1's final one."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = 101 WHERE id = 1")
    assert table_state(t2, test_table) == {1: 10, 2: 20}
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    commit(t1)
    assert table_state(t2, test_table) == {1: 10, 2: 20}
    commit(t2)
    assert committed_state(connect, test_table) == {1: 11, 2: 20}


def test_g1c_circular_information_flow_prevented(connect, test_table):
    """G1c: each transaction writes one row and reads the other's: neither sees the other's write."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 22 WHERE id = 2")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 2") == [(20,)]
    assert rows_of(t2, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    commit(t1)
    commit(t2)
    assert committed_state(connect, test_table) == {1: 11, 2: 22}


def test_otv_observed_transaction_vanishes_prevented(connect, test_table):
    """OTV (3 connections): T3 sees T1's committed state whole; T2 loses at commit."""
    t1, t2, t3 = connect(), connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t1.execute(f"UPDATE {test_table} SET value = 19 WHERE id = 2")
    t2.execute(f"UPDATE {test_table} SET value = 12 WHERE id = 1")  # does not block
    commit(t1)
    t3.execute("BEGIN")
    assert rows_of(t3, f"SELECT value FROM {test_table} WHERE id = 1") == [(11,)]
    expect_conflict(t2, [f"UPDATE {test_table} SET value = 18 WHERE id = 2"])
    assert rows_of(t3, f"SELECT value FROM {test_table} WHERE id = 2") == [(19,)]
    assert rows_of(t3, f"SELECT value FROM {test_table} WHERE id = 1") == [(11,)]
    commit(t3)
    assert committed_state(connect, test_table) == {1: 11, 2: 19}


def test_pmp_predicate_many_preceders_prevented(connect, test_table):
    """PMP: a row inserted and committed by T2 does not appear in T1's predicate reads."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE value = 30") == []
    t2.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    commit(t2)
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE value % 3 = 0") == []
    assert rows_of(t1, f"SELECT count(*) FROM {test_table}") == [(2,)]
    commit(t1)
    assert committed_state(connect, test_table) == {1: 10, 2: 20, 3: 30}


def test_pmp_write_predicate_prevented(connect, test_table):
    """PMP write predicate: T2 deletes a row T1 updated; T2 does not block and aborts at commit."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"UPDATE {test_table} SET value = value + 10")
    assert rows_of(t2, f"SELECT id, value FROM {test_table} WHERE value = 20") == [(2, 20)]
    t2.execute(f"DELETE FROM {test_table} WHERE value = 20")  # does not block
    commit(t1)
    expect_conflict(t2, [])
    assert committed_state(connect, test_table) == {1: 20, 2: 30}


def test_p4_lost_update_prevented(connect, test_table):
    """P4: two read-modify-writes of one row: the second committer aborts."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    assert rows_of(t2, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")  # does not block
    commit(t1)
    expect_conflict(t2, [])
    assert committed_state(connect, test_table) == {1: 11, 2: 20}


def test_a_doomed_write_fails_at_its_statement(connect, test_table):
    """Writing a row that someone committed after our snapshot can never commit,
    so the statement itself fails with 40001; reading it, or writing other rows, is fine."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]  # the snapshot
    t2.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")  # autocommit
    assert rows_of(t1, f"SELECT value FROM {test_table}") == [(10,), (20,)]  # reads never fail
    t1.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    with pytest.raises(SqlError) as doomed:
        t1.execute(f"UPDATE {test_table} SET value = value + 1 WHERE id = 1")
    assert doomed.value.sqlstate == "40001" and CONFLICT in doomed.value.message
    t1.run("ROLLBACK")
    # The same through SELECT ... FOR UPDATE, and with a savepoint to go back to.
    t1.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 2") == [(20,)]
    t2.execute(f"UPDATE {test_table} SET value = 22 WHERE id = 2")
    t1.execute("SAVEPOINT before_lock")
    with pytest.raises(SqlError) as locked:
        t1.execute(f"SELECT value FROM {test_table} WHERE id = 2 FOR UPDATE")
    assert locked.value.sqlstate == "40001"
    t1.execute("ROLLBACK TO SAVEPOINT before_lock")
    t1.execute(f"UPDATE {test_table} SET value = 100 WHERE id = 3")  # no such row: writes nothing
    commit(t1)
    assert committed_state(connect, test_table) == {1: 11, 2: 22}


def test_g_single_read_skew_prevented(connect, test_table):
    """G-single: T1 reads row 1 before and row 2 after T2's commit, both from its snapshot."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    assert rows_of(t2, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    assert rows_of(t2, f"SELECT value FROM {test_table} WHERE id = 2") == [(20,)]
    t2.execute(f"UPDATE {test_table} SET value = 12 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 18 WHERE id = 2")
    commit(t2)
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 2") == [(20,)]
    commit(t1)  # read-only: never aborts
    assert committed_state(connect, test_table) == {1: 12, 2: 18}


def test_g_single_write_predicate_prevented(connect, test_table):
    """G-single, write predicate: T1 deletes by a predicate over rows T2 changed; T1 aborts."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    t2.execute(f"UPDATE {test_table} SET value = 12 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 18 WHERE id = 2")
    commit(t2)
    expect_conflict(t1, [f"DELETE FROM {test_table} WHERE value = 20"])
    assert committed_state(connect, test_table) == {1: 12, 2: 18}


def test_g2_item_write_skew_allowed(connect, test_table):
    """G2-item: disjoint writes after overlapping reads both commit (write skew is allowed)."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id, value FROM {test_table} WHERE id IN (1, 2)") == [(1, 10), (2, 20)]
    assert rows_of(t2, f"SELECT id, value FROM {test_table} WHERE id IN (1, 2)") == [(1, 10), (2, 20)]
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    commit(t1)
    commit(t2)
    assert committed_state(connect, test_table) == {1: 11, 2: 21}


def test_g2_item_with_select_for_update_prevented(connect, test_table):
    """G2-item with FOR UPDATE on the row each one reads: the rows count as written; T2 aborts."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 2 FOR UPDATE") == [(20,)]
    assert rows_of(t2, f"SELECT value FROM {test_table} WHERE id = 1 FOR UPDATE") == [(10,)]  # no block
    t1.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    t2.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    commit(t1)
    expect_conflict(t2, [])
    assert committed_state(connect, test_table) == {1: 11, 2: 20}


def test_select_for_update_alone_conflicts_with_a_committed_write(connect, test_table):
    """A row read FOR UPDATE (and not written) still conflicts with a concurrent committed write."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1 FOR UPDATE") == [(10,)]
    t2.execute(f"UPDATE {test_table} SET value = 15 WHERE id = 1")  # autocommit, does not block
    expect_conflict(t1, [f"UPDATE {test_table} SET value = 25 WHERE id = 2"])
    assert committed_state(connect, test_table) == {1: 15, 2: 20}


def test_g2_anti_dependency_cycles_allowed(connect, test_table):
    """G2: two transactions insert rows the other's predicate read missed; both commit."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE value % 3 = 0") == []
    assert rows_of(t2, f"SELECT id FROM {test_table} WHERE value % 3 = 0") == []
    t1.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    t2.execute(f"INSERT INTO {test_table} (id, value) VALUES (4, 42)")
    commit(t1)
    commit(t2)
    assert committed_state(connect, test_table) == {1: 10, 2: 20, 3: 30, 4: 42}


# -- snapshots, consistency, own writes -------------------------------------------------------------------


def test_snapshot_is_stable_while_others_commit(connect, test_table):
    """A transaction keeps its snapshot through concurrent inserts, updates and deletes."""
    reader, writer = connect(), connect()
    reader.execute("BEGIN")
    before = table_state(reader, test_table)
    assert before == {1: 10, 2: 20}
    writer.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    writer.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    writer.execute(f"DELETE FROM {test_table} WHERE id = 2")
    writer.execute("BEGIN")
    writer.execute(f"UPDATE {test_table} SET value = 33 WHERE id = 3")
    writer.execute(f"INSERT INTO {test_table} (id, value) VALUES (4, 40)")
    commit(writer)
    assert table_state(reader, test_table) == before
    assert rows_of(reader, f"SELECT count(*), sum(value) FROM {test_table}") == [(2, 30)]
    assert rows_of(reader, f"SELECT value FROM {test_table} WHERE id = 2") == [(20,)]
    commit(reader)
    assert table_state(reader, test_table) == {1: 11, 3: 33, 4: 40}


def test_acknowledged_commits_are_visible_to_the_next_transaction(connect, test_table):
    """Strong consistency: once COMMIT is acknowledged, any later transaction anywhere sees it."""
    writer, reader_a, reader_b = connect(), connect(), connect()
    for value in range(100, 140):
        writer.execute(f"UPDATE {test_table} SET value = {value} WHERE id = 1")
        assert rows_of(reader_a, f"SELECT value FROM {test_table} WHERE id = 1") == [(value,)]
        reader_b.execute("BEGIN")
        assert rows_of(reader_b, f"SELECT value FROM {test_table} WHERE id = 1") == [(value,)]
        commit(reader_b)


def test_read_your_own_writes(connect, names, cleanup):
    """Inside a transaction every query, index lookups included, sees the transaction's own writes."""
    table = names("ryow")
    cleanup.append(table)
    session, other = connect(), connect()
    session.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, k int, note text)")
    session.execute(f"CREATE INDEX {names('idx')} ON {table} (k)")
    session.execute(f"INSERT INTO {table} VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')")
    session.execute("BEGIN")
    session.execute(f"INSERT INTO {table} VALUES (4, 77, 'new')")
    session.execute(f"UPDATE {table} SET k = 99 WHERE id = 1")
    session.execute(f"DELETE FROM {table} WHERE id = 2")
    assert session.query(f"SELECT note FROM {table} WHERE k = 77") == [("new",)]
    assert session.query(f"SELECT id FROM {table} WHERE k = 10") == []
    assert session.query(f"SELECT id FROM {table} WHERE k = 99") == [("1",)]
    assert session.query(f"SELECT id FROM {table} WHERE k = 20") == []
    assert rows_of(session, f"SELECT id FROM {table} WHERE k BETWEEN 25 AND 100") == [(1,), (3,), (4,)]
    assert rows_of(session, f"SELECT count(*) FROM {table}") == [(3,)]
    assert rows_of(session, f"SELECT id FROM {table} WHERE id >= 2") == [(3,), (4,)]
    session.execute(f"UPDATE {table} SET note = note || '!' WHERE k = 77")
    assert session.query(f"SELECT note FROM {table} WHERE id = 4") == [("new!",)]
    # nobody else sees any of it before COMMIT
    assert rows_of(other, f"SELECT id, k FROM {table}") == [(1, 10), (2, 20), (3, 30)]
    assert other.query(f"SELECT id FROM {table} WHERE k = 77") == []
    commit(session)
    assert rows_of(other, f"SELECT id, k FROM {table}") == [(1, 99), (3, 30), (4, 77)]
    assert other.query(f"SELECT note FROM {table} WHERE k = 77") == [("new!",)]


# -- never blocking, first committer wins -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT value FROM {t} WHERE id = 1",
        "SELECT count(*) FROM {t}",
        "UPDATE {t} SET value = 99 WHERE id = 1",
        "DELETE FROM {t} WHERE id = 1",
        "SELECT value FROM {t} WHERE id = 1 FOR UPDATE",
        "INSERT INTO {t} (id, value) VALUES (3, 31)",
        "INSERT INTO {t} (id, value) VALUES (3, 31) ON CONFLICT (id) DO UPDATE SET value = 32",
    ],
    ids=["select", "count", "update", "delete", "for-update", "insert-same-key", "upsert-same-key"],
)
def test_nothing_blocks_on_uncommitted_writes(connect, test_table, statement):
    """Statements touching rows another open transaction wrote return at once, with committed data."""
    holder, other = connect(), connect()
    holder.execute("BEGIN")
    holder.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")
    holder.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    other.execute("BEGIN")
    started = time.monotonic()
    result = other.execute(statement.format(t=test_table))
    assert time.monotonic() - started < STATEMENT_TIMEOUT_S
    if statement.startswith("SELECT value"):
        assert result.rows == [("10",)], "must read the committed value, not the uncommitted one"
    if statement.startswith("SELECT count"):
        assert result.rows == [("2",)]
    commit(holder)
    if statement.startswith("SELECT") and "FOR UPDATE" not in statement:
        commit(other)  # read-only: never aborts
    else:
        expect_conflict(other, [])
    assert committed_state(connect, test_table) == {1: 11, 2: 20, 3: 30}


def test_three_writers_of_one_row_exactly_one_commits(connect, test_table):
    """Three transactions update the same row: the first to commit wins, the other two abort."""
    sessions = [connect(), connect(), connect()]
    for session in sessions:
        session.execute("BEGIN")
        assert rows_of(session, f"SELECT value FROM {test_table} WHERE id = 1") == [(10,)]
    for n, session in enumerate(sessions):
        session.execute(f"UPDATE {test_table} SET value = value + {n + 1} WHERE id = 1")
    commit(sessions[1])
    expect_conflict(sessions[0], [])
    expect_conflict(sessions[2], [])
    assert committed_state(connect, test_table) == {1: 12, 2: 20}


def test_losers_effects_are_invisible(connect, test_table, names, cleanup):
    """Everything the loser wrote, in every table, is gone after its failed COMMIT; a retry works."""
    audit = names("audit")
    cleanup.append(audit)
    setup = connect()
    setup.execute(f"CREATE TABLE {audit} (id int PRIMARY KEY, note text)")
    winner, loser = connect(), connect()
    winner.execute("BEGIN")
    loser.execute("BEGIN")
    loser.execute(f"INSERT INTO {test_table} (id, value) VALUES (5, 50), (6, 60)")
    loser.execute(f"UPDATE {test_table} SET value = 0 WHERE id = 2")
    loser.execute(f"DELETE FROM {test_table} WHERE id = 1")
    loser.execute(f"INSERT INTO {audit} VALUES (1, 'loser')")
    winner.execute(f"UPDATE {test_table} SET value = 100 WHERE id = 1")
    commit(winner)
    expect_conflict(loser, [])
    assert committed_state(connect, test_table) == {1: 100, 2: 20}
    assert rows_of(setup, f"SELECT count(*) FROM {audit}") == [(0,)]
    # the retry, on a fresh snapshot, commits
    loser.execute("BEGIN")
    loser.execute(f"DELETE FROM {test_table} WHERE id = 1")
    loser.execute(f"INSERT INTO {audit} VALUES (1, 'retry')")
    commit(loser)
    assert committed_state(connect, test_table) == {2: 20}
    assert setup.query(f"SELECT note FROM {audit}") == [("retry",)]


def test_concurrent_inserts_of_one_key_conflict(connect, test_table):
    """Two transactions insert the same new key: neither blocks; the second committer gets 40001."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    t1.execute(f"INSERT INTO {test_table} (id, value) VALUES (7, 70)")
    t2.execute(f"INSERT INTO {test_table} (id, value) VALUES (7, 71)")  # does not block
    commit(t2)
    expect_conflict(t1, [])
    assert committed_state(connect, test_table) == {1: 10, 2: 20, 7: 71}


@pytest.mark.parametrize(
    "begin", ["BEGIN", "BEGIN READ ONLY", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"]
)
def test_read_only_transactions_never_abort(connect, test_table, begin):
    """A transaction that only reads commits even though every row it read changed meanwhile."""
    reader, writer = connect(), connect()
    for round_ in range(5):
        reader.execute(begin)
        assert rows_of(reader, f"SELECT count(*) FROM {test_table}") == [(2,)]
        seen = table_state(reader, test_table)
        writer.execute(f"UPDATE {test_table} SET value = value + 1")
        writer.execute("BEGIN")
        writer.execute(f"DELETE FROM {test_table} WHERE id = 2")
        writer.execute(f"INSERT INTO {test_table} (id, value) VALUES (2, {1000 + round_})")
        commit(writer)
        assert table_state(reader, test_table) == seen
        commit(reader)


# -- transaction modes and errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "begin",
    [
        "BEGIN",
        "BEGIN ISOLATION LEVEL REPEATABLE READ",
        "BEGIN READ ONLY",
        "BEGIN READ WRITE",
        "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION READ ONLY",
    ],
)
def test_supported_transaction_modes_are_accepted(connect, test_table, begin):
    session = connect()
    assert session.execute(begin).tag in ("BEGIN", "START TRANSACTION")
    assert session.transaction_status == pq.TransactionStatus.INTRANS
    assert rows_of(session, f"SELECT count(*) FROM {test_table}") == [(2,)]
    commit(session)


@pytest.mark.parametrize(
    "begin",
    [
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "BEGIN ISOLATION LEVEL READ COMMITTED",
        "BEGIN ISOLATION LEVEL READ UNCOMMITTED",
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    ],
)
def test_other_isolation_levels_are_rejected(connect, test_table, begin):
    """DSQL has one isolation level; asking for another is an error, and the session stays usable."""
    session = connect()
    with pytest.raises(SqlError) as raised:
        session.execute(begin)
    assert raised.value.sqlstate and raised.value.severity == "ERROR", raised.value
    session.run("ROLLBACK")
    assert session.transaction_status == pq.TransactionStatus.IDLE
    session.execute("BEGIN")
    assert rows_of(session, f"SELECT count(*) FROM {test_table}") == [(2,)]
    commit(session)


@pytest.mark.parametrize(
    "write",
    [
        "INSERT INTO {t} (id, value) VALUES (9, 90)",
        "UPDATE {t} SET value = 0",
        "DELETE FROM {t} WHERE id = 1",
        "SELECT value FROM {t} WHERE id = 1 FOR UPDATE",
    ],
    ids=["insert", "update", "delete", "for-update"],
)
def test_write_in_read_only_transaction_fails_25006(connect, test_table, write):
    session = connect()
    session.execute("BEGIN READ ONLY")
    with pytest.raises(SqlError) as raised:
        session.execute(write.format(t=test_table))
    assert raised.value.sqlstate == "25006", raised.value
    session.execute("ROLLBACK")
    assert committed_state(connect, test_table) == {1: 10, 2: 20}


def test_error_aborts_transaction_until_rollback(connect, test_table):
    """After an error inside BEGIN everything fails with 25P02; COMMIT then answers ROLLBACK."""
    session = connect()
    session.execute("BEGIN")
    session.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    with pytest.raises(SqlError) as raised:
        session.execute("SELECT 1 / 0")
    assert raised.value.sqlstate == "22012"
    assert session.transaction_status == pq.TransactionStatus.INERROR
    for sql in ["SELECT 1", f"SELECT * FROM {test_table}", f"INSERT INTO {test_table} VALUES (4, 40)"]:
        with pytest.raises(SqlError) as raised:
            session.execute(sql)
        assert raised.value.sqlstate == "25P02", f"{sql}: {raised.value}"
    assert session.execute("COMMIT").tag == "ROLLBACK"
    assert session.transaction_status == pq.TransactionStatus.IDLE
    assert committed_state(connect, test_table) == {1: 10, 2: 20}
    # the same with ROLLBACK, and a constraint violation as the error
    session.execute("BEGIN")
    session.execute(f"UPDATE {test_table} SET value = 0 WHERE id = 2")
    with pytest.raises(SqlError) as raised:
        session.execute(f"INSERT INTO {test_table} VALUES (1, 1)")
    assert raised.value.sqlstate == "23505"
    with pytest.raises(SqlError) as raised:
        session.execute(f"UPDATE {test_table} SET value = 5")
    assert raised.value.sqlstate == "25P02"
    assert session.execute("ROLLBACK").tag == "ROLLBACK"
    assert session.query("SELECT 1") == [("1",)]
    assert committed_state(connect, test_table) == {1: 10, 2: 20}


# -- schema conflicts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ddl", ["add-column", "create-index", "drop-index"])
def test_concurrent_ddl_fails_commit_with_oc001(connect, test_table, names, ddl):
    """A transaction that wrote to a table whose schema changed meanwhile fails with 40001/OC001."""
    index = names("idx")
    statements = {
        "add-column": f"ALTER TABLE {test_table} ADD COLUMN c int",
        "create-index": f"CREATE INDEX {index} ON {test_table} (value)",
        "drop-index": f"DROP INDEX {index}",
    }
    a, b = connect(), connect()
    if ddl == "drop-index":
        b.execute(f"CREATE INDEX {index} ON {test_table} (value)")
    a.execute("BEGIN")
    a.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    b.execute(statements[ddl])  # must not wait for A
    expect_conflict(a, [], code=SCHEMA_CONFLICT)
    assert committed_state(connect, test_table) == {1: 10, 2: 20}
    # a retry on the new schema succeeds
    a.execute("BEGIN")
    a.execute(f"INSERT INTO {test_table} (id, value) VALUES (3, 30)")
    commit(a)
    assert committed_state(connect, test_table) == {1: 10, 2: 20, 3: 30}


# -- atomic visibility across tables ---------------------------------------------------------------------------


def test_multi_table_transactions_are_visible_atomically(connect, names, cleanup):
    """A reader never sees one table's change without the other's (2 readers, 1 writer, 3 s)."""
    left, right = names("left"), names("right")
    cleanup.extend([left, right])
    setup = connect()
    for table in (left, right):
        setup.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        setup.execute(f"INSERT INTO {table} VALUES (1, 0), (2, 0)")
    writer = connect()
    readers = [connect(), connect()]
    stop = threading.Event()
    errors: list[BaseException] = []
    observations = [0, 0]

    def write() -> None:
        try:
            while not stop.is_set():
                writer.execute("BEGIN")
                writer.execute(f"UPDATE {left} SET v = v + 1 WHERE id = 1")
                writer.execute(f"UPDATE {right} SET v = v + 1 WHERE id = 2")
                writer.execute(f"UPDATE {left} SET v = v + 1 WHERE id = 2")
                commit(writer)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def read(n: int) -> None:
        session = readers[n]
        last = -1
        try:
            while not stop.is_set():
                if observations[n] % 2 == 0:
                    session.execute("BEGIN")
                    a1 = rows_of(session, f"SELECT v FROM {left} WHERE id = 1")[0][0]
                    b2 = rows_of(session, f"SELECT v FROM {right} WHERE id = 2")[0][0]
                    a2 = rows_of(session, f"SELECT v FROM {left} WHERE id = 2")[0][0]
                    commit(session)
                else:
                    a1, b2, a2 = rows_of(
                        session,
                        f"SELECT (SELECT v FROM {left} WHERE id = 1), (SELECT v FROM {right} WHERE id = 2), "
                        f"(SELECT v FROM {left} WHERE id = 2)",
                    )[0]
                assert a1 == b2 == a2, f"torn read: {left}.1={a1}, {right}.2={b2}, {left}.2={a2}"
                assert a1 >= last, f"time went backwards: {a1} after {last}"  # type: ignore[operator]
                last = a1  # type: ignore[assignment]
                observations[n] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert all(n > 0 for n in observations), f"readers made no progress: {observations}"
    final = rows_of(
        setup, f"SELECT (SELECT v FROM {left} WHERE id = 1), (SELECT v FROM {right} WHERE id = 2)"
    )
    assert final[0][0] == final[0][1] and final[0][0] > 0, final  # type: ignore[operator]
