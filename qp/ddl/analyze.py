"""ANALYZE: measure tables and keep what it found for every QP's planner.

`ANALYZE`, `ANALYZE t, u` and `ANALYZE t (a, b)` (and `VACUUM ANALYZE`) read
each table once in key order, keep a uniform random sample of at most
`SAMPLE_ROWS_MAX` rows (reservoir sampling: PostgreSQL's 300 ×
default_statistics_target of 100) and count every row, so the row count is
exact and the per-column figures come from the sample: the null fraction,
the number of distinct values by PostgreSQL's estimator
(qp/plan/stats.py), the average width and a histogram of 100 equal-frequency
buckets (for range estimates). Naming columns measures only those
and keeps what an earlier ANALYZE found for the others, as PostgreSQL does.

The read runs in its own read-only transaction (a fresh snapshot), the write
in its own small transaction of one key per table, retried on conflicts with
a concurrent ANALYZE, so ANALYZE neither enlarges nor dooms the session's
transaction. The sampling is seeded by the table's oid so the same data gives
the same statistics (and EXPLAIN the same plan) every time.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from qp.catalog.stored import TableDef
from qp.catalog.temp_keys import is_temp_oid
from qp.errors import SqlError
from qp.pgcatalog.search_path import relation_schema
from qp.plan.stats import ColumnStats, TableStats, estimate_n_distinct, histogram_of, stats_key
from qp.txn.transaction import Transaction

SAMPLE_ROWS_MAX = 30_000
WRITE_ATTEMPTS_MAX = 10  # conflicts come only from another ANALYZE of the same table


def _targets(catalog: Any, body: dict, ctx: Any = None) -> list[tuple[TableDef, list[str] | None]]:
    relations = body.get("rels") or []
    if not relations:
        return [(t, None) for t in sorted(catalog.tables.values(), key=lambda t: t.oid) if t.kind == "table"]
    out = []
    for item in relations:
        relation = item["VacuumRelation"]["relation"]
        schema = relation_schema(catalog, ctx, relation.get("schemaname"), relation["relname"])
        table = catalog.find_table(relation["relname"], schema) if schema else None
        if table is None:
            shown = f'{relation["schemaname"]}.{relation["relname"]}' if relation.get("schemaname") else relation["relname"]
            raise SqlError("42P01", f'relation "{shown}" does not exist')
        names = [c["String"]["sval"] for c in item["VacuumRelation"].get("va_cols", [])] or None
        for name in names or []:
            if table.column_index(name) is None:
                raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
        out.append((table, names))
    return out


def _width(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray)):  # PostgreSQL counts a short value's 1-byte header
        return (len(value.encode()) if isinstance(value, str) else len(value)) + 1
    if isinstance(value, bool):
        return 1
    return 4 if isinstance(value, int) and -(1 << 31) <= value < 1 << 31 else 8


def _float4(value: float) -> float:
    """PostgreSQL keeps these figures as float4 (real): the same rounding here."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return repr(sorted(value.items()))
    return value


def measure(
    table: TableDef, sample: list[tuple], total_rows: int, names: list[str] | None
) -> dict[str, ColumnStats]:
    """Per-column statistics from a sample of a table's stored rows."""
    out: dict[str, ColumnStats] = {}
    for position, column in enumerate(table.columns):
        if column.dropped or (names is not None and column.name not in names):
            continue
        nulls = 0
        widths = 0
        counts: dict[Any, int] = {}
        present: list[Any] = []
        for row in sample:
            value = row[position] if position < len(row) else None
            if value is None:
                nulls += 1
                continue
            present.append(value)
            widths += _width(value)
            key = _hashable(value)
            counts[key] = counts.get(key, 0) + 1
        n = len(sample)
        nonnull = n - nulls
        out[column.name] = ColumnStats(
            null_frac=_float4(nulls / n if n else 0.0),
            n_distinct=_float4(estimate_n_distinct(n, nulls, counts, float(total_rows))),
            avg_width=round(widths / nonnull) if nonnull else 0,
            histogram=histogram_of(present),
        )
    return out


async def sample_table(txn: Any, table: TableDef) -> tuple[list[tuple], int]:
    """A uniform sample of at most SAMPLE_ROWS_MAX rows, and the number of rows."""
    rng = random.Random(table.oid)
    sample: list[tuple] = []
    seen = 0
    async for page in txn.scan(table.primary_prefix, table.primary_end):
        for _, row in page:
            seen += 1
            if len(sample) < SAMPLE_ROWS_MAX:
                sample.append(row)
            else:
                slot = rng.randrange(seen)
                if slot < SAMPLE_ROWS_MAX:
                    sample[slot] = row
    return sample, seen


async def analyze(session: Any, body: dict) -> None:
    """Run ANALYZE for a VacuumStmt body on behalf of `session`."""
    reader = session.new_txn(read_only=True)
    catalog = await session.catalog_for(reader)
    cache = session.qp.table_stats
    for table, names in _targets(catalog, body, session.ctx):
        if is_temp_oid(table.oid):
            # Statistics are shared by every session of the QP and kept in storage, by oid;
            # temporary oids repeat from session to session, so a temporary table has none.
            continue
        sample, total = await sample_table(reader, table)
        columns = measure(table, sample, total, names)
        previous = cache.get(table.oid)
        if names is not None and previous is not None:
            columns = {**previous.columns, **columns}
        stats = TableStats(table.oid, float(total), columns, session.qp.clock.latest() // 1000)

        async def write(txn: Transaction, stats: TableStats = stats) -> None:
            txn.put(stats_key(stats.oid), stats.to_record())

        await session.qp.txns.run(write, attempts=WRITE_ATTEMPTS_MAX)
        cache.put(stats)
