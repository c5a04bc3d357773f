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

import math
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


async def sample_table(txn: Any, table: TableDef, size: int = SAMPLE_ROWS_MAX) -> tuple[list[tuple], int]:
    """A uniform sample of at most `size` rows, and the number of rows."""
    reservoir = Reservoir(size, random.Random(table.oid))
    async for page in txn.scan(table.primary_prefix, table.primary_end):
        reservoir.add([row for _, row in page] if reservoir.seen < size else _Rows(page))
    return reservoir.sample, reservoir.seen


class _Rows:
    """A page's rows by position, without copying them out of the (key, row) pairs."""

    __slots__ = ("page",)

    def __init__(self, page: list) -> None:
        self.page = page

    def __len__(self) -> int:
        return len(self.page)

    def __getitem__(self, i: int) -> Any:
        return self.page[i][1]


class Reservoir:
    """A uniform random sample of `size` items from a stream seen a batch at a time, by
    Li's Algorithm L (ACM TOMS 1994): past the first `size` items it draws how many to skip
    before the next one replaces a random slot, so a batch costs work for the items it
    keeps, not for each item (a table of a million rows keeps ~30,000 · ln(33) of them)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.rng = rng
        self.sample: list = []
        self.seen = 0
        self._w = 1.0
        self._next = 0  # the index of the next item to take once the reservoir is full

    def add(self, items: Any) -> None:
        size, count = self.size, len(items)
        start = 0
        if len(self.sample) < size:
            start = min(size - len(self.sample), count)
            self.sample.extend(items[i] for i in range(start))
            self.seen += start
            if len(self.sample) == size and size:
                self._w = math.exp(math.log(self._random()) / size)
                self._next = self.seen + self._skip()
        end = self.seen + count - start
        while len(self.sample) == size and size and self._next < end:
            self.sample[self.rng.randrange(size)] = items[start + self._next - self.seen]
            self._w *= math.exp(math.log(self._random()) / size)
            self._next += 1 + self._skip()
        self.seen = end

    def _random(self) -> float:
        return self.rng.random() or 1e-300  # (random() may give 0.0; log needs more)

    def _skip(self) -> int:
        w = self._w
        if w >= 1.0:
            return 0
        return math.floor(math.log(self._random()) / math.log1p(-w))


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
