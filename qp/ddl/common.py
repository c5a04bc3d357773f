"""What the DDL statements share: the result of one, the catalog's counters and how a change
is written (DSQL's limits on tables, columns and indexes are qp/bind/ddl/limits.py's).

A DDL statement reads the catalog as of its transaction's τ_start, builds new descriptors,
and writes them (with a bumped catalog version) into the transaction's buffer; the commit
goes through the adjudicators like any other, so DDL is transactional and two concurrent
DDLs conflict (OC001). DSQL's rules apply: one DDL statement per transaction, and no DDL
and DML in one transaction (checked by the statement runner).

Dropping a table or index removes its descriptor; its keys are never reused (object ids
only grow), so the rows left behind are unreachable (storage reclaims their ranges).
"""

from __future__ import annotations

from qp.catalog.stored import (
    FIRST_USER_OID,
    NEXT_OID_KEY,
    VERSION_KEY,
    CatalogSnapshot,
    TableDef,
)
from storage import keys


class DdlResult:
    """What a DDL statement did, and what must run after it commits.

    `followups` are the later steps of online changes, run by the session in
    their own transactions: ("build_index", table oid, index name) and
    ("validate", table oid, constraint name) (which also covers NOT NULL of a
    new primary key's columns)."""

    def __init__(
        self,
        tag: str,
        notices: list[str] | None = None,
        build_index: tuple[int, str] | None = None,
        followups: list[tuple] | None = None,
    ) -> None:
        self.tag = tag
        self.notices = notices or []
        self.followups = list(followups or [])
        if build_index is not None:
            self.followups.append(("build_index", *build_index))
        self.sequence_oid: int | None = None
        self.object_id: int | None = None  # the index a build job is about
        self.build_index = build_index  # (table oid, index name): run the online build after commit


async def catalog_counters(txn) -> tuple[int, int]:
    version, next_oid = await txn.get([VERSION_KEY, NEXT_OID_KEY], catalog_check=False)
    return version or 0, next_oid or FIRST_USER_OID


def write_catalog(
    txn,
    version: int,
    next_oid: int | None,
    changes: list[tuple[TableDef, dict | None]],
    catalog: CatalogSnapshot,
) -> None:
    """Write changed descriptors (None drops), their schema stamps, and the next catalog version.

    Key ranges the change abandons (a dropped table's or index's, a truncated
    table's old range) go with the commit as dropped ranges: storage removes
    their keys once no snapshot can read them any more (storage/node.py)."""
    for table, record in changes:
        txn.put(table.descriptor_key, record)
        txn.put(table.schema_key, version + 1)
        txn.drop_ranges(
            abandoned_ranges(catalog.by_oid.get(table.oid), table if record is not None else None)
        )
    bump_version(txn, version, next_oid)


def abandoned_ranges(old: TableDef | None, new: TableDef | None) -> list[tuple[bytes, bytes]]:
    """The key ranges of `old` that `new` (None: the table is dropped) no longer uses."""
    if old is None:
        return []
    if new is None or new.key_id != old.key_id:
        return [keys.table_range(old.key_id)]
    kept = {ix.index_id for ix in new.indexes}
    return [
        keys.index_range(old.key_id, ix.index_id)
        for ix in old.indexes
        if ix.index_id not in kept and ix.index_id != keys.PRIMARY_INDEX_ID
    ]


def bump_version(txn, version: int, next_oid: int | None) -> None:
    txn.put(VERSION_KEY, version + 1)
    if next_oid is not None:
        txn.put(NEXT_OID_KEY, next_oid)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
