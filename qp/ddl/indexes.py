"""Indexes: CREATE INDEX (bound by qp/bind/ddl/indexes.py) applied, an online build in three
steps, each its own transaction, so writers are never blocked:
  1. the index is added in state write_only: every writer from now on maintains it, but
     no reader uses it;
  2. backfill (`backfill_batch`, run by qp/ddl/online.py): batches of rows are read at a
     snapshot and their entries written, each batch depending on its rows (a row changed
     concurrently makes the batch conflict and retry at a new snapshot);
  3. the index becomes public (readers may use it).
A unique build that finds a duplicate drops the index and fails with 23505.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import replace

from cluster.timeslice import checkpoint_if_due
from qp.bind.context import BindContext
from qp.bind.ddl.indexes import BoundCreateIndex
from qp.catalog.stored import (
    CatalogSnapshot,
    IndexDef,
    TableDef,
)
from qp.ddl.common import (
    DdlResult,
    catalog_counters,
    write_catalog,
)
from qp.errors import SqlError
from qp.exec.index_keys import IndexKeys
from qp.types import text_encoder


async def apply_create_index(bound: BoundCreateIndex, txn, catalog: CatalogSnapshot) -> DdlResult:
    """Step 1: the index added write-only; the result asks for its build."""
    table = bound.table
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    index = replace(bound.index, oid=oid)
    updated = replace(table, indexes=table.indexes + (index,), next_index_id=table.next_index_id + 1)
    write_catalog(txn, version, oid + 1, [(updated, updated.to_record())], catalog)
    result = DdlResult("CREATE INDEX", build_index=(table.oid, index.name))
    result.object_id = oid
    return result


async def backfill_batch(
    txn, table: TableDef, index: IndexDef, start: bytes, batch_rows: int, frame_ctx, max_bytes: int = 0
) -> bytes | None:
    """Write the index entries of up to `batch_rows` rows from `start` (and, with `max_bytes`,
    stop at the row that brings the entries written to that many bytes); returns where
    to resume. A page at a time: one scan page in, one read for its unique entries, one batch
    of entries out."""

    resume = None
    count = 0
    written_bytes = 0
    full = False
    index_keys = IndexKeys(table, BindContext(txn.catalog, frame_ctx))

    def duplicated(values: list) -> SqlError:
        text = ", ".join(
            "null" if v is None else text_encoder(index.key_type(table, k), frame_ctx)(v).decode()
            for k, v in enumerate(values)
        )
        return SqlError(
            "23505",
            f'could not create unique index "{index.name}"',
            detail=f"Key ({index_keys.key_names(index)})=({text}) is duplicated.",
        )

    # No row is a check key of the batch: a row changed after the batch's τ_start
    # conflicts through the entries instead. Writers maintain the index from its
    # publication on (one that began before it depends on the table's schema stamp,
    # which the publication wrote, so it cannot commit), and a change that leaves an
    # entry this batch computed from the old row wrong writes that entry's key: a
    # delete or a key change deletes it, a change of its values deletes it and
    # writes another, a unique entry's new row writes it (qp/exec/dml.py,
    # `_apply_update` and `delete_row`). The batch writes the same key, so the
    # adjudicator's first-committer rule refuses whichever commits second; a change
    # that leaves the entry as it was needs no conflict. A check key per row cost
    # 1,000 more keys per batch through the commit request and the conflict table.
    pad_row, index_values, entry_key = table.pad_row, index_keys.values, table.index_entry_key
    pages = txn.scan(start, table.primary_end, limit=batch_rows)
    async for page in pages:
        await checkpoint_if_due()  # (cluster/timeslice.py) a batch is many rows of work
        entries: list[tuple[bytes, bytes, list]] = []
        for row_key, row in page:
            row = pad_row(row)  # rows from before ADD COLUMN are shorter
            values = index_values(index, row)
            if values is not None:  # else a partial index leaves the row out
                entry = entry_key(index, row, row_key, values)
                entries.append((entry, row_key, values))
                written_bytes += len(entry) + len(row_key)
            resume = row_key
            count += 1
            if max_bytes and written_bytes >= max_bytes:
                full = True  # the rest of the page goes to the next batch
                break
        if index.unique:
            # One read for the whole page: entries already there (written by
            # concurrent writers while the index is write-only, or by an
            # earlier batch) that point at another live row are duplicates.
            checked = [(e, k, v) for e, k, v in entries if index.nulls_not_distinct or None not in v]
            seen: dict[bytes, bytes] = {}
            for entry, row_key, values in checked:
                if seen.setdefault(entry, row_key) != row_key:
                    raise duplicated(values)
            await checkpoint_if_due()
            existing = await _existing_entries(txn, [e for e, _, _ in checked]) if checked else []
            clashes = [
                (other, row)
                for (_, row_key, row), other in zip(checked, existing, strict=True)
                if other is not None and other != row_key
            ]
            if clashes:
                others = await txn.get([other for other, _ in clashes])
                for (_, row), other_row in zip(clashes, others, strict=True):
                    if other_row is not None:
                        raise duplicated(row)
        put = txn.put
        for entry, row_key, _ in entries:
            put(entry, row_key)
        if full:
            await pages.aclose()
            break
    txn.depend_on(table.schema_key)
    if resume is None or (count < batch_rows and not full):
        return None
    return resume + b"\x00"


async def _existing_entries(txn, entries: list[bytes]) -> list:
    """What each of `entries` holds now (None: absent), as `txn.get(entries)` answers.

    Mostly none exist yet, and a page's entries often lie close together in the index
    (a key that rises with the rows' order: pgbench's aid): then one read of the span
    they cover, which finds at most a few entries, costs far less than a read per entry.
    If the span holds more entries than the page does, it is read entry by entry."""
    low, high = min(entries), max(entries)
    span: dict[bytes, object] = {}
    limit = len(entries) + 1
    async with aclosing(txn.scan(low, high + b"\x00", limit=limit)) as pages:
        async for page in pages:
            span.update(page)
            if len(span) >= limit:
                break
    if len(span) >= limit:
        return await txn.get(entries)
    return [span.get(entry) for entry in entries]
