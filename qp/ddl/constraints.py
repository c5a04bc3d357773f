"""Foreign keys (enforced by writers) and constraint validation; a foreign key is bound by
qp/bind/ddl/constraints.py.

Enforcement follows DSQL (shared/research/dsql.md §2.2):
- A child row written with a non-NULL key needs its parent to exist in the
  transaction's snapshot (plus its own writes); the parent row's key is then
  held KEY SHARE until commit, so a concurrent delete of the parent and this
  insert never both commit (the adjudicator's share keys).
- Deleting a parent row, or changing its referenced key, looks for children
  (through an index on the child's key columns when there is one, else with a
  filtered scan pushed down to storage) and applies the action: NO ACTION and
  RESTRICT fail with 23503; CASCADE deletes or updates the children (their
  rows count toward the transaction's row limit, as in DSQL); SET NULL and
  SET DEFAULT rewrite the children's key columns.
Parent rows are shared by their key stamp, as SELECT ... FOR KEY SHARE shares
them: a concurrent delete of the parent or change of its key columns
conflicts, an update of its other columns does not (DSQL's KEY SHARE).

Adding a CHECK or FOREIGN KEY to a table with rows is online, like an index
build: the constraint is first added NOT VALID (every writer enforces it from
then on), then the existing rows are checked at a later snapshot, then it is
marked valid. `validate_rows` is that middle step; VALIDATE CONSTRAINT runs it
for a constraint added NOT VALID.
"""

from __future__ import annotations

import json
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind.context import QueryLevel
from qp.bind.expressions import ExprBinder
from qp.bind.scope import table_scope
from qp.catalog.stored import (
    FK_CASCADE,
    FK_NO_ACTION,
    FK_RESTRICT,
    FK_SET_NULL,
    CatalogSnapshot,
    CheckDef,
    ForeignKeyDef,
    TableDef,
    key_stamp,
)
from qp.errors import SqlError, foreign_key_violation
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.types import text_encoder
from storage import keys
from storage.mvcc import keep_where_true

# Bound on how deep ON DELETE CASCADE may recurse through tables (a cycle of
# cascades is finite because rows disappear, but a bound keeps a bad schema
# from recursing without end).
CASCADE_DEPTH_MAX = 32


def parent_lookup_key(parent: TableDef, fk: ForeignKeyDef, values: tuple) -> bytes:
    """The key that holds the parent row with referenced values `values`:
    its row key when the reference is the physical primary key, else the
    unique index entry."""
    if parent.pk is not None and tuple(parent.pk) == tuple(fk.ref_columns):
        row = [None] * len(parent.columns)
        for i, v in zip(fk.ref_columns, values, strict=True):
            row[i] = v
        return parent.row_key(tuple(row))
    index = parent.unique_index_on(fk.ref_columns)
    assert index is not None
    ordered = {c: v for c, v in zip(fk.ref_columns, values, strict=True)}
    encoded = keys.encode_values(parent.index_encoders(index), [ordered[c] for c in index.columns])
    return parent.index_prefix(index) + encoded


def _key_values(fk: ForeignKeyDef, row: tuple, table: TableDef) -> tuple | None:
    """The child's key values, or None if the row references nothing (NULLs)."""
    columns = fk.columns
    if len(columns) == 1:  # the usual foreign key: no generator per row
        (column,) = columns
        value = row[column] if column < len(row) else None
        return None if value is None else (value,)
    values = tuple(row[i] if i < len(row) else None for i in columns)
    if None not in values:
        return values
    nulls = sum(v is None for v in values)
    if fk.match_full and nulls != len(values):
        raise foreign_key_violation(
            f'insert or update on table "{table.name}" violates foreign key constraint "{fk.name}"',
            "MATCH FULL does not allow mixing of null and nonnull key values.", table.schema, table.name, fk.name,
            routine="RI_FKey_check",
        )
    return None


def _key_text(table: TableDef, columns: tuple[int, ...], values: tuple, ctx) -> str:
    names = ", ".join(table.columns[i].name for i in columns)
    shown = ", ".join(
        "null" if v is None else text_encoder(table.columns[i].type, ctx)(v).decode()
        for i, v in zip(columns, values, strict=True)
    )
    return f"Key ({names})=({shown})"


async def check_parents(txn, catalog: CatalogSnapshot, table: TableDef, rows: list[tuple], ctx,
                        old_rows: list[tuple | None] | None = None) -> None:
    """Every foreign key of `table` holds for `rows` (new versions of rows).

    The parent keys of every foreign key are read in one storage read (a pgbench_history
    row references three tables: one round trip, not three). The violation reported is
    PostgreSQL's: the first row that has one, and of its foreign keys the first in the
    table's order (its checks are after-row triggers, queued row by row)."""
    checks: list[tuple[int, ForeignKeyDef, TableDef, bytes, tuple]] = []  # (order, fk, parent, key, values)
    per_row = len(table.foreign_keys)
    for f, fk in enumerate(table.foreign_keys):
        parent = table if fk.ref_oid == table.oid else catalog.by_oid.get(fk.ref_oid)
        if parent is None:
            continue  # the parent was dropped with CASCADE in this transaction's catalog
        # Rows of a batch mostly reference few parents (800,000 pgbench accounts, 8 branches):
        # equal values find the same parent row, so they are checked once, as the first row
        # holding them (the one whose violation PostgreSQL would report).
        seen: set[tuple] = set()
        for i, row in enumerate(rows):
            values = _key_values(fk, row, table)
            if values is None:
                continue
            if old_rows is not None and old_rows[i] is not None and _key_values(fk, old_rows[i], table) == values:
                continue  # the reference did not change (PostgreSQL skips the check too)
            try:
                if values in seen:
                    continue
                seen.add(values)
            except TypeError:  # an unhashable value (an array's list): checked row by row
                pass
            checks.append((i * per_row + f, fk, parent, parent_lookup_key(parent, fk, values), values))
    if not checks:
        return
    lookup = list(dict.fromkeys(check[3] for check in checks))
    found = dict(zip(lookup, await txn.get(lookup), strict=True))
    checks.sort(key=lambda check: check[0])
    for _, fk, parent, key, values in checks:
        hit = found[key]
        if hit is None:
            raise foreign_key_violation(
                f'insert or update on table "{table.name}" violates foreign key constraint "{fk.name}"',
                f'{_key_text(table, fk.columns, values, ctx)} is not present in table "{parent.name}".',
                table.schema, table.name, fk.name,
            )
    for key, hit in found.items():
        # KEY SHARE: the parent row (found by its row key, or through its unique
        # index, whose entry holds the row key) keeps its key until commit: its
        # key stamp is shared (qp/catalog/stored.py, key_stamp).
        txn.share(key_stamp(hit if key != hit and isinstance(hit, bytes) else key))


async def referencing_rows(txn, child: TableDef, fk: ForeignKeyDef, values: tuple) -> list[tuple[bytes, tuple]]:
    """The child rows whose key columns equal `values` (key, full row)."""
    index = next(
        (ix for ix in child.secondary_indexes
         if ix.state == "public" and ix.plain and tuple(ix.columns[: len(fk.columns)]) == tuple(fk.columns)),
        None,
    )
    out: list[tuple[bytes, tuple]] = []
    if index is not None:
        prefix = child.index_prefix(index) + keys.encode_values(child.index_encoders(index)[: len(values)], values)
        row_keys = []
        async for page in txn.scan(prefix, keys.prefix_end(prefix)):
            row_keys += [v for _, v in page]
        rows = await txn.get(row_keys) if row_keys else []
        for key, row in zip(row_keys, rows, strict=True):
            if row is not None:
                out.append((key, child.pad_row(row)))
        return out
    tree = ("and", *[("cmp", "=", i, v) for i, v in zip(fk.columns, values, strict=True)])
    if any(child.columns[i].missing is not None for i in fk.columns):
        # Storage reads NULL where rows from before ADD COLUMN ... DEFAULT hold its value.
        keep = keep_where_true(tree)
        async for page in txn.scan(child.primary_prefix, child.primary_end):
            out += [(k, row) for k, r in page if keep(row := child.pad_row(r))]
        return out
    async for page in txn.scan(child.primary_prefix, child.primary_end, filter_tree=tree):
        out += [(k, child.pad_row(r)) for k, r in page]
    return out


async def enforce_children(txn, catalog: CatalogSnapshot, table: TableDef, writer_for, old: tuple,
                           new: tuple | None, frame, depth: int = 0) -> None:
    """Apply the foreign keys that reference `table` to a deleted (`new` None)
    or updated row. `writer_for(table)` gives the RowWriter of a table."""
    ctx = frame.ctx
    if depth > CASCADE_DEPTH_MAX:
        raise SqlError("54001", "foreign key cascades nest too deeply")
    for child, fk in catalog.referencing.get(table.oid, ()):
        old_values = tuple(old[i] if i < len(old) else None for i in fk.ref_columns)
        if any(v is None for v in old_values):
            continue
        if new is not None:
            new_values = tuple(new[i] for i in fk.ref_columns)
            if new_values == old_values:
                continue
        action = fk.on_delete if new is None else fk.on_update
        children = await referencing_rows(txn, child, fk, old_values)
        if child.oid == table.oid:
            children = [(k, r) for k, r in children if r != old]  # a row referencing itself
        if not children:
            continue
        if action in (FK_NO_ACTION, FK_RESTRICT):
            raise foreign_key_violation(
                f'update or delete on table "{table.name}" violates foreign key constraint "{fk.name}" '
                f'on table "{child.name}"',
                f'{_key_text(table, fk.ref_columns, old_values, ctx)} is still referenced from table "{child.name}".',
                child.schema, child.name, fk.name,
            )
        writer = writer_for(child)
        for key, row in children:
            if action == FK_CASCADE and new is None:
                await writer.delete_row(txn, key, row, frame, depth + 1)
                continue
            updated = list(row)
            for i, ref_i in zip(fk.columns, fk.ref_columns, strict=True):
                if action == FK_CASCADE:
                    updated[i] = new[ref_i]
                elif action == FK_SET_NULL:
                    updated[i] = None
                else:
                    updated[i] = writer.default_value(i, ctx)
            await writer.update_row(txn, key, row, tuple(updated), frame, depth + 1)


async def validate_rows(txn, catalog: CatalogSnapshot, table: TableDef, constraint: Any, ctx, bc, *,
                        start: bytes | None = None, limit: int = 0) -> bytes | None:
    """Check the existing rows of `table` against a CHECK or FOREIGN KEY (or the
    NOT NULL of a new primary key's columns); raises the violation.

    With `limit`, checks at most that many rows from `start` and returns the key
    to go on from (None when the table is done): a table of millions of rows is
    validated in batches, each at a snapshot of its own (the constraint is
    enforced by writers already, so rows changed after a batch's snapshot were
    checked when they were written), so no snapshot outlives storage's retention."""

    check_fn = None
    if isinstance(constraint, CheckDef):
        scope = table_scope(table, bc)
        expr = ExprBinder(bc, scope, QueryLevel(what="check constraints")).bind_bool(json.loads(constraint.sql), "CHECK")
        layout = Layout([c.expr.cid for c in scope.items[0].columns])
        fn = compile_scalar(expr, layout)
        live = table.live_columns
        frame = ExecFrame(ctx=ctx)

        def check_fn(row: tuple) -> bool:
            return fn(tuple(row[i] for i in live), frame) is not False

    seen = 0
    last: bytes | None = None
    async for page in txn.scan(start or table.primary_prefix, table.primary_end, limit=limit):
        await checkpoint_if_due()  # (cluster/timeslice.py) tables of millions of rows
        seen += len(page)
        last = page[-1][0] if page else last
        rows = [table.pad_row(r) for _, r in page]
        if check_fn is not None:
            for row in rows:
                if not check_fn(row):
                    raise SqlError(
                        "23514", f'check constraint "{constraint.name}" of relation "{table.name}" is violated by some row',
                        schema_name=table.schema, table_name=table.name, constraint_name=constraint.name,
                        routine="ATRewriteTable",
                    )
        elif isinstance(constraint, ForeignKeyDef):
            probe = TableDef(table.oid, table.name, table.columns, table.pk, table.indexes, table.checks,
                             (constraint,), table.schema, table.next_index_id, table.key_id)
            try:
                await check_parents(txn, catalog, probe, rows, ctx)
            except SqlError as exc:
                raise foreign_key_violation(
                    f'insert or update on table "{table.name}" violates foreign key constraint "{constraint.name}"',
                    exc.detail, table.schema, table.name, constraint.name,
                ) from None
        else:  # the NOT NULL of the columns `constraint` (a tuple) names
            for row in rows:
                for i in constraint:
                    if row[i] is None:
                        raise SqlError(
                            "23502", f'column "{table.columns[i].name}" of relation "{table.name}" contains null values',
                            schema_name=table.schema, table_name=table.name, column_name=table.columns[i].name,
                            routine="ATRewriteTable",
                        )
    if limit and seen >= limit and last is not None:
        return last + b"\x00"
    return None
