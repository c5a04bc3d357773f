"""The batched index nested-loop join operator (qp/exec/index_join.py), without a server.

A fake transaction stands in for storage: it answers point reads and key-range
scans from a dict and counts the calls, so the tests see how lookups are
batched (one point read per batch of outer rows, one range scan per distinct
key) and that a storage error comes out as itself, not wrapped in an
exception group by the concurrent scans. Results against PostgreSQL are in
tests/sql/30_join_order.sql.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import trio

from qp.bind import expr as E
from qp.catalog.stored import ColumnDef, IndexDef, TableDef
from qp.errors import SqlError
from qp.exec import index_join
from qp.exec.compile import ExecFrame
from qp.exec.index_join import IndexNestedLoopJoin
from qp.exec.operators import Operator
from qp.exec.runtime import RunContext, StatementCaches
from qp.plan import index_join as plan_index_join_module
from qp.types import INT4

TABLE = TableDef(
    oid=16400,
    name="inner_t",
    columns=(ColumnDef("id", INT4), ColumnDef("k", INT4)),
    pk=(0,),
    indexes=(IndexDef(oid=16401, name="inner_t_k", index_id=2, columns=(1,)),),
    key_id=77,
)
OUTER_CID, INNER_CIDS = 1, [2, 3]


class Rows(Operator):
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.cids = [OUTER_CID]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        for i in range(0, len(self.rows), 300):
            yield self.rows[i : i + 300]


class FakeTxn:
    """Rows of TABLE and their index entries in a sorted dict, as storage keeps them."""

    def __init__(self, rows: list[tuple], fail_scans: bool = False) -> None:
        self.data: dict[bytes, object] = {}
        for row in rows:
            key = TABLE.row_key(row)
            self.data[key] = row
            self.data[TABLE.index_entry_key(TABLE.indexes[0], row, key)] = key
        self.gets = 0
        self.scans = 0
        self.fail_scans = fail_scans

    async def get(self, keys: list[bytes]) -> list:
        self.gets += 1
        await trio.lowlevel.checkpoint()
        return [self.data.get(k) for k in keys]

    async def scan(self, start: bytes, end: bytes) -> AsyncIterator[list]:
        self.scans += 1
        await trio.lowlevel.checkpoint()
        if self.fail_scans:
            raise SqlError("40001", "change conflicts with another transaction")
        yield sorted((k, v) for k, v in self.data.items() if start <= k < end)


def join(outer_rows: list[tuple], index, txn: FakeTxn, *, by_column: bool = True) -> list[tuple]:
    op = IndexNestedLoopJoin(
        Rows(outer_rows), TABLE, index, [E.ColumnRef(OUTER_CID, INT4)], (0, 1), INNER_CIDS, None
    )
    if not by_column:  # the path of keys computed by an expression (tuples of key values)
        op._key_position = None
    rc = RunContext(txn, ExecFrame(), StatementCaches())

    async def collect() -> list[tuple]:
        out: list[tuple] = []
        async for batch in op.run(rc):
            out += batch
        return out

    return trio.run(collect)


def test_primary_key_lookups_are_one_point_read_per_batch():
    txn = FakeTxn([(i, i % 3) for i in range(1, 3001)])
    outer = [(i % 1500 + 1,) for i in range(2500)] + [(None,), (99999,)]  # duplicates, a NULL, a miss
    got = join(outer, None, txn)
    assert sorted(got) == sorted((k, k, k % 3) for (k,) in outer if k is not None and k <= 3000)
    batches = -(-len(outer) // index_join.LOOKUP_BATCH_ROWS)
    assert txn.gets == batches and txn.scans == 0
    # Keys computed by an expression take the general path: the same rows, as many reads.
    general = FakeTxn([(i, i % 3) for i in range(1, 3001)])
    assert sorted(join(outer, None, general, by_column=False)) == sorted(got)
    assert general.gets == batches


def test_secondary_index_lookups_scan_each_distinct_key_once_and_read_rows_together():
    txn = FakeTxn([(i, i % 5) for i in range(1, 101)])
    outer = [(1,), (1,), (2,), (7,), (None,)]
    got = join(outer, TABLE.indexes[0], txn)
    expected = [(k, i, i % 5) for (k,) in outer if k is not None for i in range(1, 101) if i % 5 == k]
    assert sorted(got) == sorted(expected)
    assert txn.scans == 3  # keys 1, 2, 7 (7 finds nothing); the NULL is never looked up
    assert txn.gets == 1  # every row the index named, in one read


def test_a_storage_error_in_concurrent_scans_comes_out_as_itself():
    txn = FakeTxn([(i, i % 5) for i in range(1, 101)], fail_scans=True)
    with pytest.raises(SqlError) as caught:
        join([(k,) for k in range(40)], TABLE.indexes[0], txn)
    assert caught.value.sqlstate == "40001"


def test_rows_from_before_add_column_default_read_its_missing_value():
    """A row stored before ADD COLUMN ... DEFAULT is shorter than the table: the join
    reads the column's missing value there, not NULL (qp/ddl/missing.py)."""
    table = replace(TABLE, columns=(*TABLE.columns, ColumnDef("added", INT4, missing=42)))
    txn = FakeTxn([(1, 1), (2, 2)])  # stored with two columns
    op = IndexNestedLoopJoin(
        Rows([(1,), (2,)]), table, None, [E.ColumnRef(OUTER_CID, INT4)], (0, 2), INNER_CIDS, None
    )
    rc = RunContext(txn, ExecFrame(), StatementCaches())

    async def collect() -> list[tuple]:
        out: list[tuple] = []
        async for batch in op.run(rc):
            out += batch
        return out

    assert sorted(trio.run(collect)) == [(1, 1, 42), (2, 2, 42)]


def test_partial_and_expression_indexes_are_no_lookup_paths():
    partial = IndexDef(oid=16402, name="p", index_id=3, columns=(1,), predicate='{"A_Const": {}}')
    expression = IndexDef(oid=16403, name="e", index_id=4, columns=(-1,),
                          expressions=(('{"FuncCall": {}}', 23, -1, "abs(k)"),))  # fmt: skip
    table = replace(TABLE, indexes=(*TABLE.indexes, partial, expression))
    assert [ix.name if ix is not None else None for ix, _ in plan_index_join_module._access_paths(table)] == [
        None,
        "inner_t_k",
    ]
