"""INSERT, UPDATE and DELETE, run: rows checked and applied to the write buffer.

A DML statement first reads everything it needs (the source rows, the rows
to change, existing keys), then computes the new rows, then buffers all its
writes. Reading before writing gives PostgreSQL's statement semantics (a
statement does not see its own changes, so `INSERT INTO t SELECT * FROM t`
copies each row once).

For every changed row the statement buffers the row's post-image under its
primary key and the entries of every index. Those keys are the write set
the adjudicator checks at COMMIT: two transactions that insert one primary
key, or one value of a unique index, conflict there even though neither saw
the other. Uniqueness against committed data is checked here, against the
snapshot and the transaction's own writes (23505).

The plans come from qp/plan/dml.py (`InsertPlan`, `ModifyPlan` are defined
here: they are what this module runs); TRUNCATE inside a block is a delete
of every row (`run_truncate`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.api import Column
from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.dml import DEFAULT_MARK, Returning, TableContext, truncate_targets
from qp.bind.domains import domain_in
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.privileges import check_sequence
from qp.bind.query import QueryBinder
from qp.bind.scope import Scope
from qp.catalog.stored import IndexDef, TableDef, key_stamp
from qp.ddl.constraints import check_parents, enforce_children
from qp.errors import SqlError, check_violation, not_null_violation, unique_violation
from qp.exec.async_values import evaluate as evaluate_async
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.exec.index_keys import IndexKeys
from qp.exec.operators import Operator, SublinkSlots, collect
from qp.exec.runtime import RunContext
from qp.txn.transaction import encoded
from qp.types import text_encoder
from storage import keys as storage_keys

KEY_BYTES_MAX = 1024  # DSQL: primary and secondary index keys are at most 1 KiB
ROW_BYTES_MAX = 2 * 1024 * 1024

_EPOCH_2020_MS = 1_577_836_800_000
# Hidden row ids are unique across query processors: milliseconds since 2020
# (38 bits until 2028, 41 bits for 70 years), the QP's index (8 bits) and a
# counter (14 bits: 16,384 rows per millisecond per QP), 63 bits in all. Two QPs
# never share an index, and one QP's ids only grow: a millisecond whose counter
# is spent lends the next one's ids, so the time in an id could run ahead of
# the clock, but only while rows come faster than 16,384 a millisecond (far
# above what one process inserts: a restart cannot land inside such a lead).
_ROWID_COUNTER_BITS = 14
_ROWID_QP_BITS = 8
_ROWID_BLOCK = 1 << _ROWID_COUNTER_BITS
_rowid_qp = 0
_rowid_next: dict[int, int] = {}  # QP index -> the next id it may give (absent: none given yet)


def set_rowid_qp(index: int) -> None:
    """The index of the query processor this process runs (qp.frontend.server.QueryProcessor sets it)."""
    global _rowid_qp
    assert 0 <= index < 1 << _ROWID_QP_BITS, index
    _rowid_qp = index


def _rowid_block(ms: int) -> int:
    """The first id of millisecond `ms`'s block of this QP."""
    return ((ms << _ROWID_QP_BITS) | _rowid_qp) << _ROWID_COUNTER_BITS


def new_rowids(count: int) -> list[int]:
    """`count` unique hidden row ids, rising (see above): one clock read for them all."""
    ms = time.time_ns() // 1_000_000 - _EPOCH_2020_MS
    start = max(_rowid_next.get(_rowid_qp, 0), _rowid_block(ms))
    out: list[int] = []
    while count:
        # Take what is left of `start`'s millisecond, then go on in the next one.
        block_end = (start | (_ROWID_BLOCK - 1)) + 1
        take = min(count, block_end - start)
        out.extend(range(start, start + take))
        count -= take
        start += take
        if start == block_end:
            start = _rowid_block(((block_end - 1) >> (_ROWID_QP_BITS + _ROWID_COUNTER_BITS)) + 1)
    _rowid_next[_rowid_qp] = start
    return out


class RowWriter:
    """Checks constraints and buffers a table's rows and index entries.

    `insert_rows`, `update_row` and `delete_row` also enforce foreign keys on
    both sides (see qp/ddl/constraints.py); cascades reach other tables through
    `writer_for`, which shares one writer per table within a statement.
    """

    def __init__(self, bc: BindContext, tc: TableContext, writers: dict | None = None) -> None:
        self.table = tc.table
        self.tc = tc
        self.bc = bc
        self.writers = writers if writers is not None else {}
        self.writers.setdefault(tc.table.oid, self)
        self._defaults: dict[int, Any] = {}
        table = tc.table
        self.layout = Layout([c for c in tc.cids if c is not None])
        live = [i for i, c in enumerate(tc.cids) if c is not None]
        self.live_positions = live
        # CHECK constraints, bound over the table's columns.
        checks = []
        binder = ExprBinder(bc, tc.scope, QueryLevel(what="check constraints"))
        for check in table.checks:
            expr = binder.bind_bool(json.loads(check.sql), "CHECK")
            checks.append((check.name, compile_scalar(expr, self.layout)))
        self.checks = checks
        self.not_null = [i for i, c in enumerate(table.columns) if c.not_null and not c.dropped]
        # Generated columns, computed from the other columns of each new row.
        generated = []
        binder = ExprBinder(bc, tc.scope, QueryLevel(what="column generation expressions"))
        for i, column in enumerate(table.columns):
            if column.generated is not None and not column.dropped:
                expr = coerce(binder.bind(json.loads(column.generated)), column.type, bc, "assignment", column.name)
                generated.append((i, compile_scalar(expr, self.layout)))
        self.generated = generated
        self.index_keys = IndexKeys(table, bc)
        # Columns of a domain type: the domain's NOT NULL and CHECKs, over the column.
        domains = []
        for i, column in enumerate(table.columns):
            domain = bc.catalog.domains_by_oid.get(column.domain_oid) if column.domain_oid is not None else None
            if domain is not None and not column.dropped:
                cid = tc.cids[i]
                checked = domain_in(ExprBinder, bc, domain, E.ColumnRef(cid, column.type, column.name))
                domains.append(compile_scalar(checked, self.layout))
        self.domains = domains

    def compute_generated(self, row: tuple, frame) -> tuple:
        """`row` with its generated columns computed (before any constraint is checked, as in PostgreSQL)."""
        if not self.generated:
            return row
        live = self._live(row)
        out = list(row)
        for i, fn in self.generated:
            out[i] = fn(live, frame)
        return tuple(out)

    def _live(self, row: tuple) -> tuple:
        return tuple(row[i] for i in self.live_positions)

    def validate(self, row: tuple, frame) -> None:
        table = self.table
        if self.domains:  # first, as PostgreSQL coerces a value to the domain before it checks the row
            live = self._live(row)
            for fn in self.domains:
                fn(live, frame)
        for i in self.not_null:
            if row[i] is None:
                raise not_null_violation(
                    table.schema,
                    table.name,
                    table.columns[i].name,
                    f"Failing row contains {self.describe(row, frame)}.",
                )
        if self.checks:
            live = self._live(row)
            for name, fn in self.checks:
                # A CHECK fails only when FALSE: NULL (unknown) passes.
                if fn(live, frame) is False:
                    raise check_violation(
                        table.schema, table.name, name, f"Failing row contains {self.describe(row, frame)}."
                    )

    def describe(self, row: tuple, frame) -> str:
        parts = []
        for i in self.live_positions:
            value = row[i]
            if value is None:
                parts.append("null")
            else:
                parts.append(text_encoder(self.table.columns[i].type, frame.ctx)(value).decode())
        return "(" + ", ".join(parts) + ")"

    def key_text(self, columns: tuple[int, ...], row: tuple, frame) -> str:
        names = ", ".join(self.table.columns[i].name for i in columns)
        values = ", ".join(
            "null" if row[i] is None else text_encoder(self.table.columns[i].type, frame.ctx)(row[i]).decode()
            for i in columns
        )
        return f"Key ({names})=({values})"

    def row_keys(self, rows: list[tuple]) -> list[bytes]:
        """The storage keys of new rows: their primary keys, or fresh hidden row ids."""
        table = self.table
        if table.pk is None:
            return table.rowid_keys(new_rowids(len(rows)))
        keys = []
        for row in rows:
            key = table.row_key(row)
            if len(key) > KEY_BYTES_MAX:
                raise SqlError("54000", "key size too large")
            keys.append(key)
        return keys

    def index_entries(self, row: tuple, row_key: bytes) -> list[tuple[IndexDef, bytes, list]]:
        """(index, entry, key values) for each index the row has an entry in."""
        out = []
        for index in self.table.secondary_indexes:
            values = self.index_keys.values(index, row)
            if values is None:
                continue  # a partial index that leaves this row out
            entry = self.table.index_entry_key(index, row, row_key, values)
            if len(entry) > KEY_BYTES_MAX:
                raise SqlError("54000", "key size too large")
            out.append((index, entry, values))
        return out

    def index_key_text(self, index: IndexDef, values: list, frame) -> str:
        text = ", ".join(
            "null" if v is None else text_encoder(index.key_type(self.table, k), frame.ctx)(v).decode()
            for k, v in enumerate(values)
        )
        return f"Key ({self.index_keys.key_names(index)})=({text})"

    # -- row operations, with foreign keys ------------------------------------------

    def writer_for(self, table: TableDef) -> RowWriter:
        writer = self.writers.get(table.oid)
        if writer is None:
            scope = Scope()
            item = QueryBinder(self.bc)._bind_range_var(
                {"relname": table.name, "schemaname": table.schema}, scope
            )
            writer = RowWriter(self.bc, TableContext(table, scope, item.cids, table.name), self.writers)
        return writer

    def default_value(self, index: int, ctx) -> Any:
        column = self.table.columns[index]
        if column.sequence_oid is not None:
            raise SqlError(
                "0A000", "ON DELETE/UPDATE SET DEFAULT to a serial or identity column is not supported"
            )
        if column.default_sql is None:
            return None
        fn = self._defaults.get(index)
        if fn is None:
            binder = ExprBinder(self.bc, Scope(), QueryLevel(what="DEFAULT"))
            expr = coerce(
                binder.bind(json.loads(column.default_sql)), column.type, self.bc, "assignment", column.name
            )
            fn = self._defaults[index] = compile_scalar(expr, Layout([]))
        return fn((), ExecFrame(ctx=ctx))

    # Foreign keys are checked after the rows are buffered, so that a row
    # may reference another row of the same statement (PostgreSQL checks at
    # the end of the statement); a failure fails the statement, and with it
    # the transaction, so nothing partial is ever committed.

    async def insert_rows(self, txn, keyed_rows: list[tuple[bytes, tuple]], frame) -> None:
        for key, row in keyed_rows:
            _buffer_row(txn, self, key, row)
        if self.table.foreign_keys:
            await check_parents(txn, self.bc.catalog, self.table, [r for _, r in keyed_rows], frame.ctx)

    async def update_row(self, txn, key: bytes, old: tuple, new: tuple, frame, depth: int = 0) -> bytes:
        if depth:
            new = self.compute_generated(new, frame)
            self.validate(new, frame)
        new_key = await _apply_update(txn, self, key, old, new, frame)
        if self.table.foreign_keys:
            await check_parents(txn, self.bc.catalog, self.table, [new], frame.ctx, [old])
        if self.bc.catalog.referencing.get(self.table.oid):
            # After the parent's own write, so ON UPDATE CASCADE children find the new key.
            await enforce_children(txn, self.bc.catalog, self.table, self.writer_for, old, new, frame, depth)
        return new_key

    async def delete_row(self, txn, key: bytes, row: tuple, frame, depth: int = 0) -> None:
        if self.bc.catalog.referencing.get(self.table.oid):
            await enforce_children(txn, self.bc.catalog, self.table, self.writer_for, row, None, frame, depth)
        txn.put(key, None)
        txn.lock(key_stamp(key))  # conflicts with a concurrent FOR KEY SHARE of the row
        for _, entry, _ in self.index_entries(row, key):
            txn.put(entry, None)
        txn.count_rows(1, len(key))


# -- INSERT ----------------------------------------------------------------------------------


@dataclass
class InsertPlan:
    tc: TableContext
    writer: RowWriter
    target_positions: list[int]  # table column index for each source column
    source: Operator
    defaults: list[tuple[int, Any]]  # (column index, compiled default or None)
    on_conflict: str | None  # None | "nothing" | "update"
    arbiter: tuple[IndexDef, ...]  # unique indexes (the primary first) that ON CONFLICT covers
    update_set: list[tuple[int, Any]]  # DO UPDATE: (column index, compiled fn over old+excluded)
    update_where: Any
    returning: Returning | None
    returning_fn: Any
    ignored_positions: set[int] = field(default_factory=set)  # OVERRIDING USER VALUE

    @property
    def columns(self) -> list[Column] | None:
        return self.returning.columns if self.returning else None


async def run_insert(plan: InsertPlan, rc: RunContext) -> tuple[int, list[tuple]]:
    txn = rc.txn
    frame = rc.frame
    table = plan.tc.table
    writer = plan.writer
    source_rows = await collect(plan.source, rc)
    width = len(table.columns)
    new_rows: list[tuple] = []
    if _rows_as_given(plan, writer, width, source_rows):
        new_rows = source_rows
        source_rows = []
    for src in source_rows:
        row: list[Any] = [None] * width
        given = set()
        for pos, value in zip(plan.target_positions, src, strict=False):
            if value is DEFAULT_MARK or pos in plan.ignored_positions:
                continue
            row[pos] = value
            given.add(pos)
        for pos, default in plan.defaults:
            if pos in given or default is None:
                continue
            if type(default) is tuple and default[0] == "await":  # it calls a SQL function's body
                row[pos] = await evaluate_async(default[1], rc)
            elif type(default) is tuple:  # a serial or identity column
                if table.columns[pos].identity is None:  # serial: nextval needs USAGE (an identity's does not)
                    check_sequence(writer.bc.catalog, rc.session.ctx.user, default[1], "nextval")
                row[pos] = await rc.session.sequences.nextval(rc.session, writer.bc.catalog, default[1])
            else:
                row[pos] = default((), frame)
        new_rows.append(writer.compute_generated(tuple(row), frame))
    for row in new_rows:
        writer.validate(row, frame)
    keys = writer.row_keys(new_rows)
    existing = await txn.get(keys) if table.pk is not None else [None] * len(keys)
    if plan.on_conflict is None and getattr(rc.session, "bulk_path", True):
        return await _insert_batched(plan, rc, new_rows, keys, existing)
    primary = next((ix for ix in table.indexes if ix.index_id == storage_keys.PRIMARY_INDEX_ID), None)
    arbiter = {ix.oid for ix in plan.arbiter}
    written: set[bytes] = set()
    returning_rows: list[tuple] = []
    inserted: list[tuple] = []
    affected = 0
    for row, key, current in zip(new_rows, keys, existing, strict=True):
        await checkpoint_if_due()  # (cluster/timeslice.py) rows_max may be raised to millions
        if key in written:
            current = txn.buffer.values.get(key)  # inserted earlier by this statement
        conflict = (
            (primary, key, current) if current is not None else await _unique_conflict(txn, writer, row, key)
        )
        if conflict is not None:
            index, existing_key, existing_row = conflict
            existing_row = table.pad_row(existing_row)  # it may be from before ADD COLUMN
            if plan.on_conflict is None or index is None or index.oid not in arbiter:
                if index is not None and index.index_id != storage_keys.PRIMARY_INDEX_ID:
                    values = writer.index_keys.values(index, row) or []
                    detail = writer.index_key_text(index, values, frame)
                else:
                    detail = writer.key_text(index.columns if index is not None else (table.pk or ()), row, frame)
                name = index.name if index is not None else _primary_key_name(table)
                raise unique_violation(table.schema, table.name, name, detail)
            if plan.on_conflict == "nothing":
                continue
            if existing_key in written:
                raise SqlError(
                    "21000",
                    "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    hint="Ensure that no rows proposed for insertion within the same command have duplicate "
                    "constrained values.",
                )
            combined = writer._live(existing_row) + writer._live(row)
            if plan.update_where is not None and not plan.update_where(combined, frame):
                continue
            updated = list(existing_row)
            for pos, fn in plan.update_set:
                updated[pos] = fn(combined, frame)
            updated_row = writer.compute_generated(tuple(updated), frame)
            writer.validate(updated_row, frame)
            new_key = await writer.update_row(txn, existing_key, existing_row, updated_row, frame)
            written.add(new_key)
            affected += 1
            if plan.returning is not None:
                returning_rows.append(plan.returning_fn(writer._live(updated_row), frame))
            continue
        _buffer_row(txn, writer, key, row)
        inserted.append(row)
        written.add(key)
        affected += 1
        if plan.returning is not None:
            returning_rows.append(plan.returning_fn(writer._live(row), frame))
    if inserted and table.foreign_keys:  # at the end of the statement, as PostgreSQL does
        await check_parents(txn, writer.bc.catalog, table, inserted, frame.ctx)
    txn.depend_on(table.schema_key)
    return affected, returning_rows


def _rows_as_given(plan: InsertPlan, writer: RowWriter, width: int, source_rows: list) -> bool:
    """Whether the source's rows are the new rows as they are: a value for every column, in
    the table's order, none DEFAULT, nothing to compute (what COPY into a table without
    dropped or generated columns gives): then no default applies and no row is rebuilt."""
    positions = plan.target_positions
    if len(positions) != width or plan.ignored_positions or writer.generated:
        return False
    if any(pos != i for i, pos in enumerate(positions)):
        return False
    return all(type(src) is tuple and len(src) == width and DEFAULT_MARK not in src for src in source_rows)


class _Deferred:
    """An error computing one row's index entries, raised when the loop reaches that row
    (as the row-at-a-time path raises it: after the earlier rows' conflicts)."""

    __slots__ = ("error",)

    def __init__(self, error: SqlError) -> None:
        self.error = error


async def _insert_batched(plan: InsertPlan, rc: RunContext, new_rows: list[tuple], keys: list[bytes],
                          existing: list) -> tuple[int, list[tuple]]:
    """The rest of `run_insert` without ON CONFLICT, a batch at a time: every row's index
    entries computed once, the unique entries of all rows read in one storage round trip
    and the rows they point at in one more (`_unique_conflict` reads them a row at a time),
    then the rows checked in order and buffered. Same rows, same errors in the same order:
    an entry or row written earlier by this statement is taken from what it wrote."""
    txn = rc.txn
    frame = rc.frame
    table = plan.tc.table
    writer = plan.writer
    entries: list[Any] = []
    probe: dict[bytes, None] = {}
    has_secondary = bool(table.secondary_indexes)
    for row, key in zip(new_rows, keys, strict=True):
        if not has_secondary:
            entries.append(())
            continue
        try:
            row_entries = writer.index_entries(row, key)
        except SqlError as exc:
            entries.append(_Deferred(exc))
            continue
        entries.append(row_entries)
        for index, entry, values in row_entries:
            if index.unique and (index.nulls_not_distinct or None not in values):
                probe[entry] = None
    pointed: dict[bytes, Any] = {}
    stored: dict[bytes, Any] = {}
    if probe:
        pointed = dict(zip(probe, await txn.get(list(probe)), strict=True))
        others = [k for k in dict.fromkeys(pointed.values()) if k is not None]
        if others:
            stored = dict(zip(others, await txn.get(others), strict=True))
    written: set[bytes] = set()
    written_entries: dict[bytes, bytes] = {}
    returning_rows: list[tuple] = []
    inserted: list[tuple] = []
    returning_fn = plan.returning_fn if plan.returning is not None else None
    buffered = txn.buffer.values
    for n, (row, key, current, row_entries) in enumerate(zip(new_rows, keys, existing, entries, strict=True)):
        if not n & 63:
            await checkpoint_if_due()  # (cluster/timeslice.py) rows_max may be raised to millions
        if key in written:
            current = buffered.get(key)  # inserted earlier by this statement
        if current is not None:
            index = next((ix for ix in table.indexes if ix.index_id == storage_keys.PRIMARY_INDEX_ID), None)
            raise _duplicate(writer, table, index, row, frame)
        if type(row_entries) is _Deferred:
            raise row_entries.error
        for index, entry, values in row_entries:
            if not index.unique or (not index.nulls_not_distinct and None in values):
                continue
            other_key = written_entries[entry] if entry in written_entries else pointed[entry]
            if other_key is not None and other_key != key:
                other = buffered.get(other_key) if other_key in written else stored[other_key]
                if other is not None:
                    raise _duplicate(writer, table, index, row, frame)
        raw = encoded(row)
        if len(raw) > ROW_BYTES_MAX:
            raise SqlError("54000", "maximum row size exceeded")
        txn.count_rows(1, len(raw) + len(key))
        txn.put(key, row, raw)
        for _, entry, _ in row_entries:
            txn.put(entry, key)
            written_entries[entry] = key
        inserted.append(row)
        written.add(key)
        if returning_fn is not None:
            returning_rows.append(returning_fn(writer._live(row), frame))
    if inserted and table.foreign_keys:  # at the end of the statement, as PostgreSQL does
        await check_parents(txn, writer.bc.catalog, table, inserted, frame.ctx)
    txn.depend_on(table.schema_key)
    return len(inserted), returning_rows


def _duplicate(writer: RowWriter, table: TableDef, index: IndexDef | None, row: tuple, frame) -> SqlError:
    """23505 for `row` against `index` (None: a primary key without an index of its own), as
    `run_insert` words it."""
    if index is not None and index.index_id != storage_keys.PRIMARY_INDEX_ID:
        values = writer.index_keys.values(index, row) or []
        detail = writer.index_key_text(index, values, frame)
    else:
        detail = writer.key_text(index.columns if index is not None else (table.pk or ()), row, frame)
    name = index.name if index is not None else _primary_key_name(table)
    return unique_violation(table.schema, table.name, name, detail)


async def _unique_conflict(txn, writer: RowWriter, row: tuple, key: bytes):
    """(index, key, row) of an existing row holding one of `row`'s unique values, if any."""
    for index, entry, values in writer.index_entries(row, key):
        if not index.unique or (not index.nulls_not_distinct and None in values):
            continue
        (other_key,) = await txn.get([entry])
        if other_key is not None and other_key != key:
            (other,) = await txn.get([other_key])
            if other is not None:
                return index, other_key, other
    return None


def _buffer_row(txn, writer: RowWriter, key: bytes, row: tuple) -> None:
    raw = encoded(row)
    if len(raw) > ROW_BYTES_MAX:
        raise SqlError("54000", "maximum row size exceeded")
    txn.count_rows(1, len(raw) + len(key))
    txn.put(key, row, raw)
    for _, entry, _ in writer.index_entries(row, key):
        txn.put(entry, key)


async def _apply_update(
    txn, writer: RowWriter, old_key: bytes, old_row: tuple, new_row: tuple, frame
) -> bytes:
    """Buffer the change of one row; returns its (possibly new) key."""
    table = writer.table
    new_key = table.row_key(new_row) if table.pk is not None else old_key
    if len(new_key) > KEY_BYTES_MAX:
        raise SqlError("54000", "key size too large")
    if new_key != old_key or any(old_row[i] != new_row[i] for i in table.key_columns):
        txn.lock(key_stamp(old_key))  # a key change conflicts with a concurrent FOR KEY SHARE
    if new_key != old_key:
        (existing,) = await txn.get([new_key])
        if existing is not None:
            raise unique_violation(
                table.schema, table.name, _primary_key_name(table), writer.key_text(table.pk, new_row, frame)
            )
        txn.put(old_key, None)
    old_entries = {ix.oid: e for ix, e, _ in writer.index_entries(old_row, old_key)}
    new_entries = writer.index_entries(new_row, new_key)
    for index_oid in old_entries.keys() - {ix.oid for ix, _, _ in new_entries}:
        txn.put(old_entries[index_oid], None)  # the new row falls out of a partial index
    for index, entry, values in new_entries:
        before = old_entries.get(index.oid)
        if before == entry and new_key == old_key:
            continue
        if before is not None and before != entry:
            txn.put(before, None)
        if index.unique and (index.nulls_not_distinct or None not in values):
            (other,) = await txn.get([entry])
            if other is not None and other != old_key:
                (other_row,) = await txn.get([other])
                if other_row is not None:
                    raise unique_violation(
                        table.schema, table.name, index.name, writer.index_key_text(index, values, frame)
                    )
        txn.put(entry, new_key)
    raw = encoded(new_row)
    if len(raw) > ROW_BYTES_MAX:
        raise SqlError("54000", "maximum row size exceeded")
    txn.count_rows(1, len(raw) + len(new_key))
    txn.put(new_key, new_row, raw)
    return new_key


# -- UPDATE and DELETE ---------------------------------------------------------------------


@dataclass
class ModifyPlan:
    kind: str  # "update" | "delete"
    tc: TableContext
    writer: RowWriter
    scan: Operator  # the target's columns and row key, joined with FROM/USING items if any
    column_positions: list[int | None]  # for each table column, its position in the scan's rows
    key_position: int
    set_positions: list[int]  # table columns that SET assigns, in order
    set_fn: Any  # row, frame -> new values for set_positions
    slots: SublinkSlots
    returning: Returning | None
    returning_fn: Any

    @property
    def columns(self) -> list[Column] | None:
        return self.returning.columns if self.returning else None


def _primary_key_name(table: TableDef) -> str:
    """The primary key constraint's name (its index's: CONSTRAINT x PRIMARY KEY names both)."""
    index = table.primary_index
    return index.name if index is not None else f"{table.name}_pkey"


async def run_modify(plan: ModifyPlan, rc: RunContext) -> tuple[int, list[tuple]]:
    txn = rc.txn
    table = plan.tc.table
    rc.write_target = plan.scan  # its rows are claimed before they are read (hot rows)
    try:
        matches = await collect(plan.scan, rc)  # everything is read before anything is written
    finally:
        rc.write_target = None
    returning_rows: list[tuple] = []
    seen: set[bytes] = set()
    for match in matches:
        await checkpoint_if_due()
        key = match[plan.key_position]
        if key in seen:
            continue  # joined to several FROM rows: the first one counts, as in PostgreSQL
        seen.add(key)
        await modify_row(plan, rc, key, match, returning_rows)
    txn.depend_on(table.schema_key)
    return len(seen), returning_rows


async def modify_row(plan: ModifyPlan, rc: RunContext, key: bytes, match: tuple, returning_rows: list) -> None:
    """Delete or update the row `match` (a row of the plan's scan) stored under `key`;
    its RETURNING row, if any, goes to `returning_rows`. The fast path of a single-row
    UPDATE or DELETE (qp/exec/fast_path.py) runs this too."""
    txn = rc.txn
    frame = rc.frame
    writer = plan.writer
    column_positions = plan.column_positions
    old_row = tuple(match[p] if p is not None else None for p in column_positions)
    if plan.kind == "delete":
        await writer.delete_row(txn, key, old_row, frame)
        if plan.returning_fn is not None:
            returning_rows.append(plan.returning_fn(match, frame))
        return
    new = list(old_row)
    if plan.set_fn is not None:
        if plan.slots:
            frame.subs = await plan.slots.evaluate(match, rc)
        for pos, value in zip(plan.set_positions, plan.set_fn(match, frame), strict=True):
            new[pos] = value
    new_row = writer.compute_generated(tuple(new), frame)
    writer.validate(new_row, frame)
    await writer.update_row(txn, key, old_row, new_row, frame)
    if plan.returning_fn is not None:
        after = list(match)
        for pos, p in enumerate(column_positions):
            if p is not None:
                after[p] = new_row[pos]
        returning_rows.append(plan.returning_fn(tuple(after), frame))


# -- TRUNCATE -------------------------------------------------------------------------------


async def run_truncate(bc: BindContext, body: dict, rc: RunContext) -> int:
    """TRUNCATE inside a transaction block: a transactional delete of every row (and index entry).

    DSQL has no TRUNCATE; PostgreSQL's is a catalog swap, which dsql does
    outside a block (`qp.ddl.tables.truncate_swap`). Inside one it is DML, so it
    mixes with other DML, obeys snapshot isolation (a concurrent writer of the
    table conflicts) and the transaction's row limit like any DELETE.
    """
    tables = truncate_targets(bc, body)
    txn = rc.txn
    count = 0
    for tc in tables:
        table = tc.table
        writer = RowWriter(bc, tc)
        async for page in txn.scan(table.primary_prefix, table.primary_end):
            await checkpoint_if_due()
            for key, row in page:
                row = table.pad_row(row)
                txn.put(key, None)  # no foreign-key actions: every referencing table is truncated too
                for _, entry, _ in writer.index_entries(row, key):
                    txn.put(entry, None)
                txn.count_rows(1, len(key))
                count += 1
        txn.depend_on(table.schema_key)
    return count
