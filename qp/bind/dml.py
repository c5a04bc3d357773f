"""INSERT, UPDATE and DELETE: binding, and applying rows to the write buffer.

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
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.api import Column
from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.expressions import _SEQUENCE_FUNCTIONS, ExprBinder, coerce, resolve_unknown
from qp.bind.query import BoundSelect, FromJoin, FromTable, QueryBinder, figure_colname
from qp.bind.scope import RangeItem, Scope, ScopeColumn
from qp.catalog.stored import ColumnDef, IndexDef, TableDef
from qp.ddl.constraints import check_parents, enforce_children
from qp.errors import SqlError, check_violation, locate, not_null_violation, unique_violation
from qp.exec.append import Append
from qp.exec.compile import ExecFrame, Layout, compile_predicate, compile_row, compile_scalar
from qp.exec.operators import FilterProject, OneRow, Operator, SublinkSlots, ValuesOp, collect
from qp.exec.runtime import RunContext
from qp.parse.parser import node_kind, node_location
from qp.pgcatalog.search_path import USER_SCHEMA, lookup_schema
from qp.plan.planner import Planner
from qp.txn.transaction import encoded_size
from qp.types import INT8, OID, UNKNOWN, text_encoder
from storage import keys as storage_keys

KEY_BYTES_MAX = 1024  # DSQL: primary and secondary index keys are at most 1 KiB
ROW_BYTES_MAX = 2 * 1024 * 1024

_rowid_counter = itertools.count()
_EPOCH_2020_MS = 1_577_836_800_000
# Hidden row ids are unique across query processors: milliseconds since 2020
# (38 bits until 2028, 41 bits for 70 years), the QP's index (8 bits) and a
# counter (14 bits: 16,384 rows per millisecond per QP, far above what one
# process inserts), 63 bits in all. Two QPs never share an index, and one QP's
# ids only grow (the counter's wrap lands in a later millisecond).
_ROWID_COUNTER_BITS = 14
_ROWID_QP_BITS = 8
_rowid_qp = 0


def set_rowid_qp(index: int) -> None:
    """The index of the query processor this process runs (qp.frontend.server.QueryProcessor sets it)."""
    global _rowid_qp
    assert 0 <= index < 1 << _ROWID_QP_BITS, index
    _rowid_qp = index


def new_rowid() -> int:
    """A unique hidden row id (see above)."""
    ms = time.time_ns() // 1_000_000 - _EPOCH_2020_MS
    return (
        (((ms << _ROWID_QP_BITS) | _rowid_qp) << _ROWID_COUNTER_BITS)
        | (next(_rowid_counter) & ((1 << _ROWID_COUNTER_BITS) - 1))
    )


@dataclass
class TableContext:
    """A DML target: its scope (for SET, WHERE, RETURNING) and its column identities."""

    table: TableDef
    scope: Scope
    cids: list[int | None]
    alias: str


def target_context(bc: BindContext, relation: dict, ctes: dict | None = None) -> TableContext:
    scope = Scope()
    binder = QueryBinder(bc)
    schema = lookup_schema(relation.get("schemaname"), bc.eval_ctx)  # public, if the search path reaches it
    if schema == USER_SCHEMA and bc.catalog.find_view(relation["relname"]) is not None:
        raise SqlError("0A000", f'cannot change view "{relation["relname"]}": views are read-only (as in DSQL)')
    # The target is always a table, even one a WITH query's name would hide.
    item = binder._bind_range_var(relation, scope)
    scope.inherited_ctes = ctes or {}
    if not isinstance(item, FromTable):
        raise SqlError("42809", f'cannot change relation "{relation["relname"]}"')
    if item.table.kind != "table":
        raise SqlError("42809", f'cannot change {item.table.kind} "{item.table.name}"')
    return TableContext(item.table, scope, item.cids, item.alias)


@dataclass
class Returning:
    exprs: list[E.Expr]
    columns: list[Column]
    slots: SublinkSlots = field(default_factory=lambda: SublinkSlots([]))


def bind_returning(bc: BindContext, tc: TableContext, nodes: list, extra_scope: Scope | None = None) -> Returning | None:
    if not nodes:
        return None
    binder = ExprBinder(bc, extra_scope or tc.scope, QueryLevel(what="RETURNING"), QueryBinder(bc)._subquery_binder)
    exprs, names = [], []
    for node in nodes:
        res = node["ResTarget"]
        value = res["val"]
        if node_kind(value) == "ColumnRef" and "A_Star" in value["ColumnRef"]["fields"][-1]:
            # `*` is every FROM entry (UPDATE ... FROM, DELETE ... USING too); `s.*` is s's.
            for name, expr in QueryBinder(bc)._expand_star(value, extra_scope or tc.scope):
                exprs.append(expr)
                names.append(name)
            continue
        exprs.append(resolve_unknown(binder.bind(value), bc))
        names.append(res.get("name") or figure_colname(value))
    columns = [Column(n, e.type.oid, e.type.typlen, e.type.typmod) for n, e in zip(names, exprs, strict=True)]
    return Returning(exprs, columns)


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

    def _live(self, row: tuple) -> tuple:
        return tuple(row[i] for i in self.live_positions)

    def validate(self, row: tuple, frame) -> None:
        table = self.table
        for i in self.not_null:
            if row[i] is None:
                raise not_null_violation(
                    table.schema, table.name, table.columns[i].name, f"Failing row contains {self.describe(row, frame)}."
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

    def row_key(self, row: tuple) -> bytes:
        table = self.table
        key = table.row_key(row) if table.pk is not None else table.rowid_key(new_rowid())
        if len(key) > KEY_BYTES_MAX:
            raise SqlError("54000", "key size too large")
        return key

    def index_entries(self, row: tuple, row_key: bytes) -> list[tuple[IndexDef, bytes]]:
        out = []
        for index in self.table.secondary_indexes:
            entry = self.table.index_entry_key(index, row, row_key)
            if len(entry) > KEY_BYTES_MAX:
                raise SqlError("54000", "key size too large")
            out.append((index, entry))
        return out

    # -- row operations, with foreign keys ------------------------------------------

    def writer_for(self, table: TableDef) -> RowWriter:
        writer = self.writers.get(table.oid)
        if writer is None:
            scope = Scope()
            item = QueryBinder(self.bc)._bind_range_var({"relname": table.name, "schemaname": table.schema}, scope)
            writer = RowWriter(self.bc, TableContext(table, scope, item.cids, table.name), self.writers)
        return writer

    def default_value(self, index: int, ctx) -> Any:
        column = self.table.columns[index]
        if column.sequence_oid is not None:
            raise SqlError("0A000", "ON DELETE/UPDATE SET DEFAULT to a serial or identity column is not supported")
        if column.default_sql is None:
            return None
        fn = self._defaults.get(index)
        if fn is None:
            binder = ExprBinder(self.bc, Scope(), QueryLevel(what="DEFAULT"))
            expr = coerce(binder.bind(json.loads(column.default_sql)), column.type, self.bc, "assignment", column.name)
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
        for _, entry in self.index_entries(row, key):
            txn.put(entry, None)
        txn.count_rows(1, len(key))


# -- INSERT ------------------------------------------------------------------------------

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


def bind_insert(bc: BindContext, body: dict) -> InsertPlan:
    ctes = QueryBinder(bc).bind_with(body.get("withClause"))
    tc = target_context(bc, body["relation"], ctes)
    table = tc.table
    targets = [r["ResTarget"] for r in body.get("cols", ())]
    if targets:
        positions = []
        for target in targets:
            name = target["name"]
            index = table.column_index(name)
            if index is None:
                error = SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
                raise locate(error, target.get("location"))
            if index in positions:
                raise SqlError("42701", f'column "{name}" specified more than once')
            positions.append(index)
    else:
        positions = list(table.live_columns)
    select = body.get("selectStmt")
    override = body.get("override", "OVERRIDING_NOT_SET")
    # With a column list, every column named needs a value (PostgreSQL's transformInsertRow).
    named_at = [t.get("location") for t in targets] if targets else None
    source, positions = _bind_insert_source(bc, tc, select, positions, ctes, named_at)
    # Identity columns: GENERATED ALWAYS refuses given values unless
    # OVERRIDING SYSTEM VALUE; OVERRIDING USER VALUE ignores given values.
    for pos in list(positions):
        column = table.columns[pos]
        if column.identity == "a" and override != "OVERRIDING_SYSTEM_VALUE" and override != "OVERRIDING_USER_VALUE":
            raise SqlError(
                "428C9",
                f'cannot insert a non-DEFAULT value into column "{column.name}"',
                detail=f'Column "{column.name}" is an identity column defined as GENERATED ALWAYS.',
                hint="Use OVERRIDING SYSTEM VALUE to override.",
            )
    ignored = {pos for pos in positions if override == "OVERRIDING_USER_VALUE" and table.columns[pos].identity}
    writer = RowWriter(bc, tc)
    defaults = _bind_defaults(bc, tc, positions)
    plan = InsertPlan(tc, writer, positions, source, defaults, None, (), [], None, None, None, ignored)
    if "onConflictClause" in body:
        _bind_on_conflict(bc, tc, body["onConflictClause"], plan)
    plan.returning = bind_returning(bc, tc, _returning_nodes(body))
    if plan.returning is not None:
        plan.returning_fn = compile_row(plan.returning.exprs, writer.layout)
    return plan


_DEFAULT_MARK = object()


def _check_insert_width(width: int, positions: list[int], named_at: list | None, expression_at=None) -> None:
    """INSERT's arity errors, located as PostgreSQL locates them: at the first
    expression without a column, or at the first named column without a value."""
    if width > len(positions):
        error = SqlError("42601", "INSERT has more expressions than target columns")
        raise locate_any(error, expression_at(len(positions)) if expression_at is not None else None)
    if named_at is not None and width < len(positions):
        error = SqlError("42601", "INSERT has more target columns than expressions")
        raise locate_any(error, named_at[width])


def locate_any(error: SqlError, location: int | None) -> SqlError:
    if isinstance(location, int) and location >= 0:
        error.location = location
    return error


def _bind_insert_source(bc: BindContext, tc: TableContext, select: dict | None, positions: list[int],
                        ctes: dict, named_at: list | None = None):
    table = tc.table
    if select is None:  # DEFAULT VALUES

        return OneRow(), []
    body = select["SelectStmt"]
    if "valuesLists" in body and not any(k in body for k in ("sortClause", "limitCount", "withClause")):
        binder = ExprBinder(bc, Scope(inherited_ctes=ctes), QueryLevel(what="VALUES"), QueryBinder(bc)._subquery_binder)
        lists = [row_node["List"]["items"] if "List" in row_node else row_node for row_node in body["valuesLists"]]
        for items in lists:  # row by row, as PostgreSQL checks each row when it reaches it
            if len(items) != len(lists[0]):
                raise SqlError("42601", "VALUES lists must all be the same length")
            _check_insert_width(len(items), positions, named_at, lambda i, items=items: node_location(items[i]))
        rows = []
        for items in lists:
            row = []
            for pos, item in zip(positions, items, strict=False):
                if node_kind(item) == "SetToDefault":
                    row.append(E.Const(_DEFAULT_MARK, UNKNOWN))
                    continue
                column = table.columns[pos]
                row.append(_assign(binder.bind(item), column, bc, item))
            rows.append(row)
        positions = positions[: len(lists[0])]

        cids = [bc.new_cid() for _ in positions]
        planner = Planner()
        prepared = [planner.prepare_sublinks(row, []) for row in rows]
        if len(prepared) > 1 and any(slots for _, slots in prepared):
            # Each row evaluates its own subqueries: one VALUES operator per row, in order.
            return Append([ValuesOp([exprs], cids, slots) for exprs, slots in prepared], cids), positions
        return ValuesOp([exprs for exprs, _ in prepared], cids, prepared[0][1]), positions
    # A plain SELECT's string literals stay untyped, so that they take the
    # columns' types as in VALUES (PostgreSQL: INSERT ... SELECT '5' into an int).
    plain = body.get("op", "SETOP_NONE") == "SETOP_NONE" and "valuesLists" not in body and not any(
        body.get(k) for k in ("sortClause", "groupClause", "distinctClause", "havingClause"))
    query = QueryBinder(bc).bind_query(select, None, ctes, keep_unknown=plain)
    if plain and isinstance(query, BoundSelect):
        targets = []
        for i, target in enumerate(query.targets):
            if target.type == UNKNOWN and isinstance(target, E.Const) and i < len(positions):
                column = table.columns[positions[i]]
                target = coerce(target, column.type, bc, "assignment", column.name)
            targets.append(resolve_unknown(target, bc))
        query.targets = targets
    types = query.output_types()
    select_targets = [t["ResTarget"].get("val") for t in body.get("targetList", ())]
    _check_insert_width(len(types), positions, named_at,
                        lambda i: node_location(select_targets[i]) if i < len(select_targets) else None)
    positions = positions[: len(types)]
    op = Planner().plan_query(query)
    target_nodes = [t["ResTarget"].get("val") for t in body.get("targetList", ())]
    if any(isinstance(n, dict) and node_kind(n) == "ColumnRef" and "A_Star" in n["ColumnRef"]["fields"][-1]
           for n in target_nodes):
        target_nodes = []  # `*` expands: the nodes no longer line up with the columns
    casts = []
    for i, (cid, t, pos) in enumerate(zip(query.target_cids, types, positions, strict=True)):
        column = table.columns[pos]
        node = target_nodes[i] if i < len(target_nodes) and isinstance(target_nodes[i], dict) else None
        if node is None:
            casts.append(coerce(E.ColumnRef(cid, t), column.type, bc, "assignment", column.name))
        else:
            casts.append(_assign(E.ColumnRef(cid, t), column, bc, node))
    if any(not isinstance(c, E.ColumnRef) for c in casts):

        op = FilterProject(op, None, casts, [bc.new_cid() for _ in casts], SublinkSlots([]))
    return op, positions


def _bind_defaults(bc: BindContext, tc: TableContext, given: list[int]) -> list[tuple[int, Any]]:
    """Default values for the columns an INSERT leaves out (or writes DEFAULT into)."""
    out = []
    binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT"))
    for i, column in enumerate(tc.table.columns):
        if column.dropped:
            continue
        if column.sequence_oid is not None:
            out.append((i, ("nextval", column.sequence_oid)))
            continue
        if column.default_sql is None:
            out.append((i, None))
            continue
        expr = coerce(binder.bind(json.loads(column.default_sql)), column.type, bc, "assignment", column.name)
        out.append((i, compile_scalar(expr, Layout([]))))
    return out


def _bind_on_conflict(bc: BindContext, tc: TableContext, clause: dict, plan: InsertPlan) -> None:
    table = tc.table
    action = clause.get("action")
    infer = clause.get("infer")
    uniques = [ix for ix in table.indexes if ix.unique]
    if infer is not None:
        if "conname" in infer:
            arbiter = [ix for ix in uniques if ix.name == infer["conname"]]
            if not arbiter:
                raise SqlError("42704", f'constraint "{infer["conname"]}" for table "{table.name}" does not exist')
        else:
            if "whereClause" in infer:
                raise SqlError("0A000", "ON CONFLICT with a partial index predicate is not supported")
            cols = set()
            for elem in infer.get("indexElems", ()):
                name = elem["IndexElem"].get("name")
                index = table.column_index(name) if name else None
                if index is None:
                    raise SqlError("42703", f'column "{name}" does not exist')
                cols.add(index)
            arbiter = [ix for ix in uniques if set(ix.columns) == cols]
            if not arbiter:
                raise SqlError(
                    "42P10", "there is no unique or exclusion constraint matching the ON CONFLICT specification"
                )
    else:
        if action == "ONCONFLICT_UPDATE":
            raise SqlError("42601", "ON CONFLICT DO UPDATE requires inference specification or constraint name")
        arbiter = uniques
    plan.arbiter = tuple(arbiter)
    if action == "ONCONFLICT_NOTHING":
        plan.on_conflict = "nothing"
        return
    plan.on_conflict = "update"
    # SET and WHERE see the existing row (the table's name) and EXCLUDED.
    scope = Scope(items=list(tc.scope.items))
    excluded_cids = [bc.new_cid(c.name) if not c.dropped else None for c in table.columns]
    scope.items.append(RangeItem("excluded", [
        ScopeColumn(c.name, E.ColumnRef(cid, c.type, c.name))
        for c, cid in zip(table.columns, excluded_cids, strict=True) if cid is not None
    ]))
    binder = ExprBinder(bc, scope, QueryLevel(what="ON CONFLICT DO UPDATE"))
    layout = Layout([c for c in tc.cids if c is not None] + [c for c in excluded_cids if c is not None])
    plan.update_set = _bind_set_list(bc, table, clause.get("targetList", ()), binder, layout)
    if "whereClause" in clause:
        plan.update_where = compile_predicate(binder.bind_bool(clause["whereClause"], "WHERE"), layout)


def _bind_set_list(bc, table: TableDef, targets: list, binder: ExprBinder, layout: Layout) -> list[tuple[int, Any]]:
    positions, exprs = _bind_set_exprs(bc, table, targets, binder)
    if any(isinstance(n, (E.SubLink, E.AsyncCall)) for e in exprs for n in E.walk(e)):
        raise SqlError("0A000", "subqueries in ON CONFLICT DO UPDATE SET are not supported")
    return [(pos, compile_scalar(expr, layout)) for pos, expr in zip(positions, exprs, strict=True)]


async def run_insert(plan: InsertPlan, rc: RunContext) -> tuple[int, list[tuple]]:
    txn = rc.txn
    frame = rc.frame
    table = plan.tc.table
    writer = plan.writer
    source_rows = await collect(plan.source, rc)
    width = len(table.columns)
    new_rows: list[tuple] = []
    for src in source_rows:
        row: list[Any] = [None] * width
        given = set()
        for pos, value in zip(plan.target_positions, src, strict=False):
            if value is _DEFAULT_MARK or pos in plan.ignored_positions:
                continue
            row[pos] = value
            given.add(pos)
        for pos, default in plan.defaults:
            if pos in given or default is None:
                continue
            if type(default) is tuple:  # a serial or identity column
                row[pos] = await rc.session.sequences.nextval(rc.session, writer.bc.catalog, default[1])
            else:
                row[pos] = default((), frame)
        new_rows.append(tuple(row))
    for row in new_rows:
        writer.validate(row, frame)
    keys = [writer.row_key(row) for row in new_rows]
    existing = await txn.get(keys) if table.pk is not None else [None] * len(keys)
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
        conflict = (primary, key, current) if current is not None else await _unique_conflict(txn, writer, row, key)
        if conflict is not None:
            index, existing_key, existing_row = conflict
            if plan.on_conflict is None or index is None or index.oid not in arbiter:
                columns = index.columns if index is not None else (table.pk or ())
                name = index.name if index is not None else _primary_key_name(table)
                raise unique_violation(table.schema, table.name, name, writer.key_text(columns, row, frame))
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
            updated_row = tuple(updated)
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


async def _unique_conflict(txn, writer: RowWriter, row: tuple, key: bytes):
    """(index, key, row) of an existing row holding one of `row`'s unique values, if any."""
    for index, entry in writer.index_entries(row, key):
        if not index.unique or any(row[i] is None for i in index.columns):
            continue
        (other_key,) = await txn.get([entry])
        if other_key is not None and other_key != key:
            (other,) = await txn.get([other_key])
            if other is not None:
                return index, other_key, other
    return None


def _buffer_row(txn, writer: RowWriter, key: bytes, row: tuple) -> None:
    nbytes = encoded_size(row)
    if nbytes > ROW_BYTES_MAX:
        raise SqlError("54000", "maximum row size exceeded")
    txn.count_rows(1, nbytes + len(key))
    txn.put(key, row)
    for _, entry in writer.index_entries(row, key):
        txn.put(entry, key)


async def _apply_update(txn, writer: RowWriter, old_key: bytes, old_row: tuple, new_row: tuple, frame) -> bytes:
    """Buffer the change of one row; returns its (possibly new) key."""
    table = writer.table
    new_key = table.row_key(new_row) if table.pk is not None else old_key
    if len(new_key) > KEY_BYTES_MAX:
        raise SqlError("54000", "key size too large")
    if new_key != old_key:
        (existing,) = await txn.get([new_key])
        if existing is not None:
            raise unique_violation(
                table.schema, table.name, _primary_key_name(table), writer.key_text(table.pk, new_row, frame)
            )
        txn.put(old_key, None)
    old_entries = dict((ix.oid, e) for ix, e in writer.index_entries(old_row, old_key))
    for index, entry in writer.index_entries(new_row, new_key):
        before = old_entries.get(index.oid)
        if before == entry and new_key == old_key:
            continue
        if before is not None and before != entry:
            txn.put(before, None)
        if index.unique and not any(new_row[i] is None for i in index.columns):
            (other,) = await txn.get([entry])
            if other is not None and other != old_key:
                (other_row,) = await txn.get([other])
                if other_row is not None:
                    raise unique_violation(
                        table.schema, table.name, index.name, writer.key_text(index.columns, new_row, frame)
                    )
        txn.put(entry, new_key)
    nbytes = encoded_size(new_row)
    if nbytes > ROW_BYTES_MAX:
        raise SqlError("54000", "maximum row size exceeded")
    txn.count_rows(1, nbytes + len(new_key))
    txn.put(new_key, new_row)
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


def bind_modify(bc: BindContext, body: dict, kind: str) -> ModifyPlan:
    if "whereClause" in body and node_kind(body["whereClause"]) == "CurrentOfExpr":
        raise SqlError("0A000", "WHERE CURRENT OF is not supported")
    tc = target_context(bc, body["relation"], QueryBinder(bc).bind_with(body.get("withClause")))
    table = tc.table
    qb = QueryBinder(bc)
    binder = ExprBinder(bc, tc.scope, QueryLevel(what="WHERE"), qb._subquery_binder)
    # UPDATE ... FROM and DELETE ... USING join the target with more tables;
    # LATERAL items among them cannot read the target (PostgreSQL).
    for item in tc.scope.items:
        qb.lateral_blocked[id(item)] = _target_not_lateral
    extra = qb._bind_from_list(body.get("fromClause") or body.get("usingClause") or (), tc.scope, binder)
    where = binder.bind_bool(body["whereClause"], "WHERE") if "whereClause" in body else None
    set_positions: list[int] = []
    set_exprs: list[E.Expr] = []
    if kind == "update":
        set_binder = ExprBinder(bc, tc.scope, QueryLevel(what="UPDATE"), qb._subquery_binder)
        set_positions, set_exprs = _bind_set_exprs(bc, table, body.get("targetList", ()), set_binder)
    returning = bind_returning(bc, tc, _returning_nodes(body))
    target = FromTable(table, tc.alias, tc.cids, with_key=True, all_columns=True)
    tree = target if extra is None else FromJoin("inner", target, extra, None)
    planner = Planner()
    needed = referenced_cids_of([where, *set_exprs, *(returning.exprs if returning else [])]) | {
        c for c in tc.cids if c is not None
    }
    scan, leftover = planner._plan_from(tree, E.conjuncts(where), needed)
    if leftover:
        scan = planner._filter(scan, E.and_all(leftover))
    positions = {cid: i for i, cid in enumerate(scan.cids)}
    column_positions = [positions.get(cid) if cid is not None else None for cid in tc.cids]
    exprs, slots = planner.prepare_sublinks(set_exprs, scan.cids)
    set_fn = compile_row(exprs, Layout(scan.cids)) if exprs else None
    writer = RowWriter(bc, tc)
    returning_fn = None
    if returning is not None:
        # RETURNING sees the new row: the scan's layout with the target's columns replaced.
        ret_exprs, ret_slots = planner.prepare_sublinks(returning.exprs, scan.cids)
        if ret_slots:
            raise SqlError("0A000", "subqueries in RETURNING are not supported")
        returning_fn = compile_row(ret_exprs, Layout(scan.cids))
    return ModifyPlan(kind, tc, writer, scan, column_positions, positions[-table.oid], set_positions, set_fn,
                      slots, returning, returning_fn)


def _primary_key_name(table: TableDef) -> str:
    """The primary key constraint's name (its index's: CONSTRAINT x PRIMARY KEY names both)."""
    index = table.primary_index
    return index.name if index is not None else f"{table.name}_pkey"


def _target_not_lateral(alias: str) -> SqlError:
    return SqlError("42P01", f'invalid reference to FROM-clause entry for table "{alias}"',
                    hint=f'There is an entry for table "{alias}", but it cannot be referenced from this part of the query.')


def _bind_set_exprs(bc, table: TableDef, targets: list, binder: ExprBinder) -> tuple[list[int], list[E.Expr]]:
    positions: list[int] = []
    exprs: list[E.Expr] = []
    for node in targets:
        res = node["ResTarget"]
        name = res["name"]
        if res.get("indirection"):
            raise SqlError("0A000", "assigning to a subscript or field is not supported")
        index = table.column_index(name)
        if index is None:
            error = SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
            raise locate(error, res.get("location"))
        if index in positions:
            raise SqlError("42601", f'multiple assignments to same column "{name}"')
        value = res["val"]
        if node_kind(value) == "MultiAssignRef":
            raise SqlError("0A000", "multiple-column assignment is not supported")
        column = table.columns[index]
        if node_kind(value) == "SetToDefault":
            if column.sequence_oid is not None:

                expr: E.Expr = E.AsyncCall("nextval", _SEQUENCE_FUNCTIONS["nextval"],
                                           (E.Const(column.sequence_oid, OID),), INT8)
            elif column.default_sql is None:
                expr = E.Const(None, column.type)
            else:
                expr = ExprBinder(bc, Scope(), QueryLevel()).bind(json.loads(column.default_sql))
        elif column.identity == "a":
            raise SqlError("428C9", f'column "{name}" can only be updated to DEFAULT',
                           detail=f'Column "{name}" is an identity column defined as GENERATED ALWAYS.')
        else:
            expr = binder.bind(value)
        positions.append(index)
        exprs.append(_assign(expr, column, bc, value))
    return positions, exprs


def _assign(expr: E.Expr, column: ColumnDef, bc: BindContext, node: dict) -> E.Expr:
    """`expr` converted for storing in `column` (PostgreSQL points at the expression if it cannot be)."""
    try:
        return coerce(expr, column.type, bc, "assignment", column.name)
    except SqlError as exc:
        locate(exc, node_location(node))
        raise


def referenced_cids_of(exprs: list[E.Expr | None]) -> set[int]:
    out: set[int] = set()
    for e in exprs:
        if e is None:
            continue
        for node in E.walk(e):
            if isinstance(node, (E.ColumnRef, E.OuterRef)):
                out.add(node.cid)
            elif isinstance(node, E.SubLink):
                out |= node.query.outer_refs
    return out


async def run_modify(plan: ModifyPlan, rc: RunContext) -> tuple[int, list[tuple]]:
    txn = rc.txn
    frame = rc.frame
    table = plan.tc.table
    writer = plan.writer
    column_positions = plan.column_positions
    matches = await collect(plan.scan, rc)  # everything is read before anything is written
    returning_rows = []
    seen: set[bytes] = set()
    for match in matches:
        await checkpoint_if_due()
        key = match[plan.key_position]
        if key in seen:
            continue  # joined to several FROM rows: the first one counts, as in PostgreSQL
        seen.add(key)
        old_row = tuple(match[p] if p is not None else None for p in column_positions)
        if plan.kind == "delete":
            await writer.delete_row(txn, key, old_row, frame)
            if plan.returning_fn is not None:
                returning_rows.append(plan.returning_fn(match, frame))
            continue
        new = list(old_row)
        if plan.set_fn is not None:
            if plan.slots:
                frame.subs = await plan.slots.evaluate(match, rc)
            for pos, value in zip(plan.set_positions, plan.set_fn(match, frame), strict=True):
                new[pos] = value
        new_row = tuple(new)
        writer.validate(new_row, frame)
        await writer.update_row(txn, key, old_row, new_row, frame)
        if plan.returning_fn is not None:
            after = list(match)
            for pos, p in enumerate(column_positions):
                if p is not None:
                    after[p] = new_row[pos]
            returning_rows.append(plan.returning_fn(tuple(after), frame))
    txn.depend_on(table.schema_key)
    return len(seen), returning_rows


# -- TRUNCATE -------------------------------------------------------------------------------

def truncate_targets(bc: BindContext, body: dict) -> list:
    """The tables a TRUNCATE empties: those named, and with CASCADE those referencing them."""
    if body.get("restart_seqs"):
        raise SqlError("0A000", "TRUNCATE ... RESTART IDENTITY is not supported")
    tables = []
    for relation_node in body.get("relations", ()):
        tc = target_context(bc, relation_node["RangeVar"])
        if tc.table.oid not in [t.table.oid for t in tables]:
            tables.append(tc)
    cascade = body.get("behavior") == "DROP_CASCADE"
    chosen = {tc.table.oid for tc in tables}
    i = 0
    while i < len(tables):  # children of truncated tables: added (CASCADE) or refused
        for child, _ in bc.catalog.referencing.get(tables[i].table.oid, ()):
            if child.oid in chosen:
                continue
            if not cascade:
                raise SqlError(
                    "0A000", "cannot truncate a table referenced in a foreign key constraint",
                    detail=f'Table "{child.name}" references "{tables[i].table.name}".',
                    hint=f'Truncate table "{child.name}" at the same time, or use TRUNCATE ... CASCADE.',
                )
            chosen.add(child.oid)
            tables.append(target_context(bc, {"relname": child.name, "schemaname": child.schema}))
        i += 1
    return tables


async def run_truncate(bc: BindContext, body: dict, rc: RunContext) -> int:
    """TRUNCATE inside a transaction block: a transactional delete of every row (and index entry).

    DSQL has no TRUNCATE; PostgreSQL's is a catalog swap, which dsql does
    outside a block (`qp.ddl.statements.truncate_swap`). Inside one it is DML, so it
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
                row = tuple(row) + (None,) * (len(table.columns) - len(row))
                txn.put(key, None)  # no foreign-key actions: every referencing table is truncated too
                for _, entry in writer.index_entries(row, key):
                    txn.put(entry, None)
                txn.count_rows(1, len(key))
                count += 1
        txn.depend_on(table.schema_key)
    return count


def _returning_nodes(body: dict) -> list:
    """RETURNING targets (PostgreSQL 18's grammar wraps them in a ReturningClause)."""
    clause = body.get("returningClause")
    if clause is None:
        return body.get("returningList", [])
    if clause.get("options"):
        raise SqlError("0A000", "RETURNING WITH (OLD/NEW) is not supported")
    return clause.get("exprs", [])
