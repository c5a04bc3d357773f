"""Online DDL's follow-up steps: what CREATE INDEX and ADD CONSTRAINT run after
their first commit, in transactions of their own.

A new index or constraint is first published as "being built" (writers
maintain and enforce it from then on; qp/ddl/indexes.py, qp/ddl/tables.py).
Then the rows that existed before are checked (`validate`, read-only, in batches of
`VALIDATE_BATCH_ROWS`, each at a snapshot of its own) or given their index
entries (`build_index`, `INDEX_BACKFILL_BATCH_ROWS` per transaction; a batch
that meets a concurrent writer is read again). Finally the change is
published as valid, or taken back if a step failed (`run_followups`). The
same steps run in the session that issued the statement or, for DSQL's ASYNC
forms, in a background job (qp/ddl/jobs.py). Every transaction here goes
through the transaction service's bounded retries (qp/txn/service.py).
"""

from __future__ import annotations

from qp.bind.context import BindContext
from qp.catalog.stored import IndexDef
from qp.ddl.constraints import validate_rows
from qp.ddl.domain_alter import validate_domain
from qp.ddl.indexes import backfill_batch
from qp.ddl.tables import finish_constraint
from qp.errors import SqlError, schema_conflict
from qp.txn.service import TransactionService
from qp.txn.transaction import Transaction
from qp.types.context import EvalContext

# Rows per backfill transaction. Larger batches (20,000 rows) were measured slower: at
# pgbench -s 8, ADD PRIMARY KEY alone took 23.5 s with them against 14.3 s with 1,000: a big
# commit costs more than its rows somewhere past the query processor (bench/README.md).
# A batch also stops at the row whose entries reach INDEX_BACKFILL_BATCH_BYTES (so wide keys
# stay well inside a transaction's 10 MiB), and a batch that meets a concurrent writer (40001)
# is retried at a quarter of its size, down to INDEX_BACKFILL_MIN_ROWS.
INDEX_BACKFILL_BATCH_ROWS = 1000
INDEX_BACKFILL_BATCH_BYTES = 4 * 1024 * 1024
INDEX_BACKFILL_MIN_ROWS = 100
# Rows validated per read-only snapshot (a few seconds of work at most, far
# inside storage's five-minute retention of old versions).
VALIDATE_BATCH_ROWS = 100_000

_GONE = object()  # what a step returns when its object was dropped under it


async def run_followups(txns: TransactionService, ctx: EvalContext, followups: list[tuple]) -> None:
    """Validate and build what an online DDL added; publish it, or take it back."""
    if followups[0][0] == "validate_domain":  # ALTER DOMAIN (qp/ddl/domain_alter.py)
        await validate_domain(txns, ctx, followups[0])
        return
    table_oid, name = followups[0][1], followups[0][2]
    failure: SqlError | None = None
    for step in followups:
        try:
            if step[0] == "build_index":
                await build_index(txns, ctx, step[1], step[2])
            elif step[0] in ("validate", "revalidate"):
                await validate(txns, ctx, step[1], step[2])
        except SqlError as exc:
            failure = exc
            break
    if failure is not None and followups[0][0] == "revalidate":
        raise failure  # VALIDATE CONSTRAINT failed: the constraint stays as it was (NOT VALID)

    async def publish(txn: Transaction) -> None:  # retried on conflicts with concurrent DDL
        if txn.catalog.by_oid.get(table_oid) is not None:
            await finish_constraint(txn, txn.catalog, table_oid, name, failed=failure is not None)

    await txns.run(publish, with_catalog=True)
    if failure is not None:
        raise failure


async def validate(txns: TransactionService, ctx: EvalContext, table_oid: int, name: str) -> None:
    """Check existing rows against a constraint writers already enforce."""

    async def batch(txn: Transaction) -> bytes | object | None:
        catalog = txn.catalog
        table = catalog.by_oid.get(table_oid)
        constraint = table.constraint_named(name) if table is not None else None
        if constraint is None:
            return _GONE
        if isinstance(constraint, IndexDef):
            constraint = constraint.columns  # a new primary key: its columns must hold no NULLs
        return await validate_rows(txn, catalog, table, constraint, ctx, BindContext(catalog, ctx),
                                   start=start, limit=VALIDATE_BATCH_ROWS)  # fmt: skip

    start: bytes | None = None
    while (start := await txns.run(batch, read_only=True, with_catalog=True)) is not None:
        if start is _GONE:
            raise schema_conflict()


async def build_index(txns: TransactionService, ctx: EvalContext, table_oid: int, index_name: str) -> None:
    """Write the index entries of existing rows, a batch per transaction."""

    rows = INDEX_BACKFILL_BATCH_ROWS
    tried: bytes | None = None  # where the last attempt began: begun there again, it conflicted

    async def batch(txn: Transaction) -> bytes | object | None:
        nonlocal rows, tried
        table = txn.catalog.by_oid.get(table_oid)
        index = table.index_named(index_name) if table is not None else None
        if index is None:
            return _GONE
        first = start or table.primary_prefix
        if tried == first:
            rows = max(min(INDEX_BACKFILL_MIN_ROWS, INDEX_BACKFILL_BATCH_ROWS), rows // 4)
        tried = first
        return await backfill_batch(txn, table, index, first, rows, ctx, max_bytes=INDEX_BACKFILL_BATCH_BYTES)

    start: bytes | None = None
    while (start := await txns.run(batch, with_catalog=True)) is not None:
        if start is _GONE:
            raise schema_conflict()
