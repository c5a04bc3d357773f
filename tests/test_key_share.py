"""SELECT ... FOR KEY SHARE with DSQL's conflict rules, and the strengths DSQL refuses.

A row read FOR KEY SHARE must keep its key until commit: a concurrent DELETE,
UPDATE of a key column or FOR UPDATE of it and this transaction never both
commit, whichever commits first; an UPDATE of other columns does not conflict,
nor do two KEY SHAREs of one row (shared/research/dsql.md §2.2). FOR SHARE and
FOR NO KEY UPDATE are refused (0A000), as DSQL refuses them.
"""

from __future__ import annotations

import pytest
from support.pgsession import SqlError
from test_isolation import cleanup, commit, committed_state, connect, expect_conflict, rows_of, test_table

__all__ = ["cleanup", "connect", "test_table"]  # fixtures, used by name


def test_key_share_then_concurrent_delete_loses(connect, test_table):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    assert rows_of(t1, f"SELECT value FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(10,)]
    t2.execute(f"DELETE FROM {test_table} WHERE id = 1")  # autocommit: commits first
    expect_conflict(t1, [f"UPDATE {test_table} SET value = 21 WHERE id = 2"])
    assert committed_state(connect, test_table) == {2: 20}


def test_delete_after_a_committed_key_share_loses(connect, test_table):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    t2.execute(f"DELETE FROM {test_table} WHERE id = 1")  # does not block
    commit(t1)
    expect_conflict(t2, [])
    assert committed_state(connect, test_table) == {1: 10, 2: 20}


def test_two_key_shares_both_commit(connect, test_table):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    assert rows_of(t2, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    t1.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    commit(t1)
    commit(t2)
    assert committed_state(connect, test_table) == {1: 10, 2: 21}


def test_key_share_conflicts_with_for_update(connect, test_table):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE id = 1 FOR UPDATE") == [(1,)]
    assert rows_of(t2, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    commit(t1)
    expect_conflict(t2, [])


def test_key_share_of_one_table_in_a_join(connect, test_table):
    """FOR KEY SHARE OF names the table whose rows are shared; the others are only read."""
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    rows = rows_of(t1, f"SELECT a.id, b.id FROM {test_table} a JOIN {test_table} b ON b.id = a.id + 1 "
                       f"WHERE a.id = 1 FOR KEY SHARE OF a")  # fmt: skip
    assert rows == [(1, 2)]
    t2.execute(f"DELETE FROM {test_table} WHERE id = 2")  # b's row: read, not shared
    commit(t1)


def test_key_share_allows_a_concurrent_update_of_other_columns(connect, test_table):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    t2.execute(f"UPDATE {test_table} SET value = 11 WHERE id = 1")  # not a key column
    t1.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
    commit(t1)
    assert committed_state(connect, test_table) == {1: 11, 2: 21}


@pytest.mark.parametrize("first", ["key share", "writer"])
def test_key_share_conflicts_with_an_update_of_a_key_column(connect, test_table, first):
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t2.execute("BEGIN")
    assert rows_of(t1, f"SELECT id FROM {test_table} WHERE id = 1 FOR KEY SHARE") == [(1,)]
    t2.execute(f"UPDATE {test_table} SET id = 5 WHERE id = 1")
    if first == "key share":
        t1.execute(f"UPDATE {test_table} SET value = 21 WHERE id = 2")
        commit(t1)
        expect_conflict(t2, [])
        assert committed_state(connect, test_table) == {1: 10, 2: 21}
    else:
        commit(t2)
        expect_conflict(t1, [])
        assert committed_state(connect, test_table) == {5: 10, 2: 20}


def test_key_share_covers_unique_columns_too(connect, test_table, cleanup, names):
    table = names("uq")
    cleanup.append(table)
    setup = connect()
    setup.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, code text UNIQUE, note text)")
    setup.execute(f"INSERT INTO {table} VALUES (1, 'a', 'x')")
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    assert len(t1.query(f"SELECT * FROM {table} WHERE id = 1 FOR KEY SHARE")) == 1
    setup.execute(f"UPDATE {table} SET note = 'y' WHERE id = 1")  # not a key column: fine
    t2.execute(f"UPDATE {table} SET code = 'b' WHERE id = 1")  # a unique column: a key column
    expect_conflict(t1, [f"UPDATE {test_table} SET value = 21 WHERE id = 2"])


@pytest.mark.parametrize("strength", ["FOR SHARE", "FOR NO KEY UPDATE"])
def test_strengths_dsql_refuses(connect, test_table, strength):
    session = connect()
    with pytest.raises(SqlError) as info:
        session.execute(f"SELECT * FROM {test_table} {strength}")
    assert info.value.sqlstate == "0A000"


@pytest.fixture
def parent_child(connect, cleanup, names):
    parent, child = names("parent"), names("child")
    cleanup.extend([child, parent])
    setup = connect()
    setup.execute(f"CREATE TABLE {parent} (id int PRIMARY KEY, note text)")
    setup.execute(f"CREATE TABLE {child} (id int PRIMARY KEY, pid int REFERENCES {parent} (id))")
    setup.execute(f"INSERT INTO {parent} VALUES (1, 'x'), (2, 'y')")
    return parent, child


def test_foreign_key_insert_and_parent_delete_never_both_commit(connect, parent_child):
    parent, child = parent_child
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t1.execute(f"INSERT INTO {child} VALUES (1, 1)")  # the parent is key-shared until commit
    t2.execute(f"DELETE FROM {parent} WHERE id = 1")  # autocommit: commits first
    expect_conflict(t1, [])
    assert rows_of(connect(), f"SELECT id FROM {child}") == []


def test_foreign_key_insert_allows_a_parent_update_of_other_columns(connect, parent_child):
    parent, child = parent_child
    t1, t2 = connect(), connect()
    t1.execute("BEGIN")
    t1.execute(f"INSERT INTO {child} VALUES (1, 1)")
    t2.execute(f"UPDATE {parent} SET note = 'changed' WHERE id = 1")  # DSQL: no conflict
    commit(t1)
    assert rows_of(connect(), f"SELECT id, pid FROM {child}") == [(1, 1)]
