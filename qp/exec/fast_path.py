"""Statement fast paths: a primary-key point get and a single-row UPDATE/DELETE by
primary key (or by a unique index, every column bound), run without the operator tree.

The planner already turns `SELECT cols FROM t WHERE pk = $1` (every primary-key
column bound by equality) into a `TableScan` whose access path is a point get,
and `UPDATE t SET c = expr WHERE pk = $1` into a `ModifyPlan` over such a scan.
Running them through the general executor costs more than the read itself: an
async generator per operator, `collect`, the scan's per-page checkpoints, a
statement cache, a run context. What is the same on every execution — the key
builder, the projection, the pushed-down filter, the compiled SET expressions,
the row writer — is already in the plan; this module recognises the plain
shapes once per plan (`fast_plan`) and runs them straight against the
transaction: one `txn.get` of the key, the row projected, and for DML the same
per-row code the general path runs (`qp.exec.dml.modify_row`).

Exactly the general path's answers: the key values are computed by the plan's
own key functions (so a parameter's coercion and its errors are the same), the
read is the transaction's (its buffered writes, snapshot, catalog check and
conflict bookkeeping are the same), and the write goes through the same row
writer (constraints, index entries, foreign keys, the schema-key dependency).
Rows stored before an ADD COLUMN ... DEFAULT read its value as the scan pads
them. Anything else — an IN list, a residual filter, FOR UPDATE, a subquery in
SET, a temporary table, a join, an aggregate or an expression in the select
list — is not a fast plan, and the statement runs the general path.
`SET dsql.fast_path = off` turns the fast paths off (qp/frontend/runner.py).
"""

from __future__ import annotations

from typing import Any

from qp.catalog.temp_keys import is_temp_oid
from qp.exec.compile import ExecFrame
from qp.exec.dml import ModifyPlan, modify_row
from qp.exec.runtime import RunContext, StatementCaches
from qp.exec.scans import IndexScan, TableScan, _instantiate, _read_claimed
from storage.mvcc import keep_where_true, project


class PointGet:
    """The rows of a plain primary-key point get (`TableScan` with access "Point Get")."""

    __slots__ = ("prefix", "parts", "filter_template", "projection", "width", "pad", "with_key")

    def __init__(self, scan: TableScan) -> None:
        builder = scan.spec.keys_fn.__self__  # qp.plan.access._KeyBuilder, with no IN list
        self.prefix = builder.prefix
        self.parts = list(zip(builder.eq_fns, builder.encoders, strict=False))  # (value fn, key encoder)
        self.filter_template = scan.spec.filter_template
        self.projection = scan.projection
        self.width = max(scan.projection) + 1 if scan.projection else 0
        # Rows stored before ADD COLUMN ... DEFAULT read its value here (TableScan._pages).
        self.pad = scan.table.pad_row if scan.table.missing_values is not None else None
        self.with_key = scan.with_key

    async def _stored(self, txn, key: bytes, claim: bool) -> tuple[bytes, Any] | None:
        """The (row key, row) the point get reads, or None; `claim`: the row is to be
        written, and is claimed before it is read (hot rows: `_read_claimed`)."""
        (value,) = await (_read_claimed(txn, [key]) if claim else txn.get([key]))
        return None if value is None else (key, value)

    async def rows(self, txn, frame: ExecFrame, claim: bool = False) -> list[tuple]:
        """What the scan would yield, as one list (TableScan._stored_pages and run)."""
        key = self.prefix  # the key _KeyBuilder.keys makes: a NULL part matches nothing
        for fn, encode in self.parts:
            value = fn((), frame)
            if value is None:
                return []
            key += encode(value)
        stored = await self._stored(txn, key, claim)
        if stored is None:
            return []
        pairs = [stored]
        if self.filter_template is not None:
            keep = keep_where_true(_instantiate(self.filter_template, frame))
            pairs = [(k, v) for k, v in pairs if keep(v)]
        projection, width, pad = self.projection, self.width, self.pad
        if pad is not None:
            rows = [(k, tuple(pad(v)[i] for i in projection)) for k, v in pairs]
        else:
            rows = [(k, project(v, projection, width)) for k, v in pairs]
        if self.with_key:
            return [v + (k,) for k, v in rows]
        return [v for _, v in rows]


class IndexPointGet(PointGet):
    """The row of a plain point get through a unique index, every column bound by
    equality (`IndexScan`; e.g. a primary key added by ALTER TABLE ADD PRIMARY KEY,
    which stays a unique index over rows keyed by their hidden row id).

    A unique index keys an entry on its values alone when none is NULL
    (`TableDef.index_entry_key`), so the entry is one key, its value the row's key, and
    both are read by one `txn.get_through` (one storage request where a replica holds
    both; `get_through_to_write` for a row to be written): the index scan reads
    the same two keys through a range scan, its pages and an operator. A NULL parameter
    matches nothing, as there."""

    __slots__ = ()

    def __init__(self, scan: IndexScan) -> None:
        builder = scan.range_fn.__self__  # qp.plan.access._KeyBuilder
        self.prefix = builder.prefix
        self.parts = list(zip(builder.eq_fns, builder.encoders, strict=False))
        self.filter_template = None
        self.projection = scan.projection
        self.width = max(scan.projection) + 1 if scan.projection else 0
        self.pad = scan.table.pad_row if scan.table.missing_values is not None else None
        self.with_key = scan.with_key

    async def _stored(self, txn, key: bytes, claim: bool) -> tuple[bytes, Any] | None:
        # Entry and row in one storage request where a replica holds both (a row to be
        # written is claimed after it is read, and read again only if the claim waited).
        return await (txn.get_through_to_write(key) if claim else txn.get_through(key))


class PointModify:
    """A single-row UPDATE or DELETE whose target is read by a plain point get."""

    __slots__ = ("plan", "get", "key_position", "schema_key")

    def __init__(self, plan: ModifyPlan, get: PointGet) -> None:
        self.plan = plan
        self.get = get
        self.key_position = plan.key_position
        self.schema_key = plan.tc.table.schema_key

    async def run(self, txn, frame: ExecFrame, session: Any) -> tuple[int, list[tuple]]:
        """(rows changed, RETURNING rows), as qp.exec.dml.run_modify gives them.

        With hot rows on (qp/txn/intents.py) the row's key is claimed before the row is
        used (before it is read by primary key; through a unique index, after entry and
        row are read together, the row read again if the claim waited): the statement
        queues behind the in-flight writer of the row on this QP and reads the row after
        that writer's commit (the transaction's snapshot refreshed past it); a row storage
        says was committed after the snapshot is read again after a refresh rather than
        failing the write (qp/txn/transaction.py `get_to_write`, `get_through_to_write`)."""
        matches = await self.get.rows(txn, frame, txn.intents is not None)
        returning_rows: list[tuple] = []
        if matches:
            rc = RunContext(txn, frame, StatementCaches(), session)
            for match in matches:  # one key: at most one row
                await modify_row(self.plan, rc, match[self.key_position], match, returning_rows)
        txn.depend_on(self.schema_key)
        return len(matches), returning_rows


def _index_point_get(scan: IndexScan) -> IndexPointGet | None:
    """An IndexPointGet for `scan` if it reads one entry of a unique index by equality
    on all its columns, with nothing else to do, else None."""
    index, table = scan.index, scan.table
    builder = getattr(scan.range_fn, "__self__", None)
    if builder is None or not index.unique or not index.plain or index.predicate is not None:
        return None
    if len(builder.eq_fns) != len(index.columns) or any(builder.eq_in) or builder.lower or builder.upper:
        return None
    if scan.residual_expr is not None or scan.lock or scan.reverse:
        return None
    if is_temp_oid(table.oid) or getattr(table, "kind", "table") != "table":
        return None
    return IndexPointGet(scan)


def _point_get(scan: Any) -> PointGet | None:
    """A PointGet for `scan` if it is a plain point get of one key, else None."""
    if type(scan) is IndexScan:
        return _index_point_get(scan)
    if type(scan) is not TableScan or scan.access != "Point Get":
        return None
    spec = scan.spec
    builder = getattr(spec.keys_fn, "__self__", None)
    if builder is None or not builder.point or any(builder.eq_in):
        return None  # an IN list reads several keys: the general path
    if scan.residual_expr is not None or scan.sublinks or scan.lock or spec.reverse:
        return None
    table = scan.table
    if is_temp_oid(table.oid) or getattr(table, "kind", "table") != "table":
        return None
    return PointGet(scan)


def fast_plan(kind: str, plan: Any) -> PointGet | PointModify | None:
    """The fast plan of a statement's plan, or None when the general path must run it."""
    if plan is None:
        return None
    if kind == "query":
        get = _point_get(plan)
        return get if get is not None and not get.with_key else None
    if kind in ("update", "delete") and type(plan) is ModifyPlan:
        if plan.slots or plan.kind != kind:
            return None
        get = _point_get(plan.scan)
        if get is None or not get.with_key or plan.key_position != len(plan.scan.cids) - 1:
            return None
        return PointModify(plan, get)
    return None
