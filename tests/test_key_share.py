"""SELECT ... FOR KEY SHARE with DSQL's conflict rules, and the strengths DSQL refuses.

A row read FOR KEY SHARE must keep its key until commit: a concurrent DELETE
(or FOR UPDATE) of it and this transaction never both commit, whichever
commits first; two KEY SHAREs of one row never conflict. FOR SHARE and FOR NO
KEY UPDATE are refused (0A000), as DSQL refuses them. (dsql shares the row
key, so a concurrent UPDATE of non-key columns also conflicts: stricter than
DSQL, never weaker; see qp/ddl/constraints.py for foreign keys, which do the same.)
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


@pytest.mark.parametrize("strength", ["FOR SHARE", "FOR NO KEY UPDATE"])
def test_strengths_dsql_refuses(connect, test_table, strength):
    session = connect()
    with pytest.raises(SqlError) as info:
        session.execute(f"SELECT * FROM {test_table} {strength}")
    assert info.value.sqlstate == "0A000"
