"""Tables: what binding decided (qp/bind/ddl/create_table.py, alter_table.py, tables.py)
written to the transaction: CREATE TABLE, ALTER TABLE (with VALIDATE CONSTRAINT's pass over
the rows, which needs them), RENAME, DROP TABLE / INDEX and TRUNCATE outside a block
(PostgreSQL's catalog swap).

ADD CONSTRAINT (PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY) is online: the constraint is
added NOT VALID or write-only, existing rows are validated in transactions of their own
(qp/ddl/online.py), then it is published (`finish_constraint`) or taken back.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.alter_table import BoundAlterTable, set_validated
from qp.bind.ddl.create_table import BoundCreateTable
from qp.bind.ddl.tables import BoundDropRelations, BoundRenameDescriptor, BoundRenameTable, BoundTruncate
from qp.catalog.stored import (
    CatalogSnapshot,
    CheckDef,
    IndexDef,
    IndexState,
    comment_key,
)
from qp.ddl.common import (
    DdlResult,
    bump_version,
    catalog_counters,
    write_catalog,
)
from qp.ddl.constraints import validate_rows
from storage import keys


async def apply_create_table(bound: BoundCreateTable, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    table, sequences = bound.placed_at(oid)
    write_catalog(txn, version, oid + bound.oids_used, [(table, table.to_record())], catalog)
    for sequence in sequences:
        txn.put(sequence.descriptor_key, sequence.to_record())
    for position, text in bound.comments:
        txn.put(comment_key(oid, position + 1), {"kind": "comment", "oid": oid, "subid": position + 1, "text": text})
    return DdlResult("CREATE TABLE")


async def apply_drop_relations(bound: BoundDropRelations, txn, catalog: CatalogSnapshot) -> DdlResult:
    for view in bound.views:
        txn.put(view.descriptor_key, None)
    if bound.changes or bound.views:
        version, _ = await catalog_counters(txn)
        changes = [(table, None if dropped else table.to_record()) for table, dropped in bound.changes]
        write_catalog(txn, version, None, changes, catalog)
        for sequence in bound.sequences:
            txn.put(sequence.descriptor_key, None)
            txn.put(sequence.state_key, None)
    return DdlResult(bound.tag, list(bound.notices))


async def apply_truncate(bound: BoundTruncate, txn, catalog: CatalogSnapshot) -> DdlResult:
    """TRUNCATE outside a transaction block: each table moves to a new, empty key range.

    PostgreSQL's TRUNCATE gives a table a new relfilenode; here the table gets
    a new `key_id`, so it is empty at once whatever its size (DSQL's row limit
    bounds rows written, and this writes none). It is a catalog change like
    DDL: both the old and the new schema stamps are written, so a concurrent
    writer of the table (which depends on the old stamp) fails with OC001
    instead of committing rows into the abandoned range, and readers at older
    snapshots still see the rows. The old range's versions are left to
    storage, as a dropped table's are.
    """
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    changes = []
    for table in bound.tables:
        txn.put(table.schema_key, version + 1)  # the old stamp: writers of the old range conflict
        moved = replace(table, key_id=keys.table_key_id_for(next_oid))
        next_oid += 1  # key ids come from oids, so no table ever had this one
        changes.append((moved, moved.to_record()))
    write_catalog(txn, version, next_oid, changes, catalog)
    return DdlResult("TRUNCATE TABLE")


async def apply_alter_table(bound: BoundAlterTable, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    bound = bound.placed_at(next_oid)
    for table, constraint in bound.validations:
        # Writers already enforce it, so one pass over the rows at this
        # snapshot covers every row it has not seen.
        bc = bound.bind_context
        await validate_rows(txn, catalog, table, constraint, bc.eval_ctx, bc)
    table = bound.table
    write_catalog(txn, version, next_oid + bound.oids_used, [(table, table.to_record())], catalog)
    return DdlResult("ALTER TABLE", list(bound.notices), followups=list(bound.followups))


async def finish_constraint(txn, catalog: CatalogSnapshot, table_oid: int, name: str, failed: bool) -> None:
    """The last step of an online ADD CONSTRAINT: mark it valid, or take it back."""
    table = catalog.by_oid[table_oid]
    constraint = table.index_named(name) or table.constraint_named(name)
    if constraint is None:
        return
    if failed:
        if isinstance(constraint, IndexDef):
            table = replace(table, indexes=tuple(ix for ix in table.indexes if ix.oid != constraint.oid))
            if constraint.primary:  # the NOT NULL that came with the key goes with it
                columns = list(table.columns)
                added = constraint.columns if constraint.not_null_from_key is None else constraint.not_null_from_key
                for i in added:
                    columns[i] = replace(columns[i], not_null=False)
                table = replace(table, columns=tuple(columns))
        elif isinstance(constraint, CheckDef):
            table = replace(table, checks=tuple(c for c in table.checks if c.name != name))
        else:
            table = replace(table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != name))
    elif isinstance(constraint, IndexDef):
        table = replace(
            table,
            indexes=tuple(
                replace(ix, state=IndexState.PUBLIC, not_null_from_key=None) if ix.oid == constraint.oid else ix
                for ix in table.indexes
            ),
        )
    else:
        table = set_validated(table, name)
    version, _ = await catalog_counters(txn)
    write_catalog(txn, version, None, [(table, table.to_record())], catalog)


async def apply_rename(bound: BoundRenameTable | BoundRenameDescriptor, txn,
                       catalog: CatalogSnapshot) -> DdlResult:  # fmt: skip
    version, _ = await catalog_counters(txn)
    if isinstance(bound, BoundRenameDescriptor):
        txn.put(bound.descriptor.descriptor_key, bound.descriptor.to_record())
        bump_version(txn, version, None)
    else:
        write_catalog(txn, version, None, [(bound.table, bound.table.to_record())], catalog)
    return DdlResult(bound.tag)
