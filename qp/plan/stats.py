"""Table statistics: what ANALYZE measures and the planner's estimates read.

Per table a row count, and per column the null fraction, the number of
distinct values (in PostgreSQL's convention: a positive count, or minus a
fraction of the rows when it grows with the table) and the average width.

Where they live: one record per table at `sys/stats/<oid>` in storage,
beside the catalog but outside `sys/cat/`, so writing statistics neither
bumps the catalog version (cached plans and concurrent DDL are left alone)
nor counts as a schema conflict. Every QP keeps them in a `StatsCache` that it
refreshes from storage every `STATS_REFRESH_S` in the background
(qp/frontend/server.py) (a scan of the
small `sys/stats/` range); the QP that runs ANALYZE updates its own cache at
once.

Tables never analyzed have no record: the planner then assumes
`DEFAULT_TABLE_ROWS` rows and PostgreSQL's default of 200 distinct values per
column (fewer if the table is assumed smaller; as many as rows for a
single-column primary key or unique index), the way PostgreSQL plans with
its defaults before the first ANALYZE.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from storage import keys

STATS_PREFIX = keys.NS_SYSTEM + b"stats/"
# How stale another QP's ANALYZE may look here: statistics steer plans, never
# results, so a second of delay costs nothing, and one small scan a second is cheap.
STATS_REFRESH_S = 1.0
# Rows a table is assumed to hold before its first ANALYZE. PostgreSQL assumes
# ten pages of a never-vacuumed table, a few hundred to a few thousand rows.
DEFAULT_TABLE_ROWS = 1000.0
# PostgreSQL's DEFAULT_NUM_DISTINCT: distinct values of a column it knows nothing about.
DEFAULT_NUM_DISTINCT = 200.0


def stats_key(oid: int) -> bytes:
    return STATS_PREFIX + struct.pack(">I", oid)


HISTOGRAM_BUCKETS = 100  # PostgreSQL's default_statistics_target
HISTOGRAM_TEXT_MAX = 200  # characters: at most ~20 kB of bounds per text column


@dataclass(frozen=True)
class ColumnStats:
    null_frac: float
    n_distinct: float  # > 0: a count; < 0: minus the fraction of rows (PostgreSQL's stadistinct)
    avg_width: int
    # Equal-frequency bucket bounds of the sorted non-null sample (integers, floats or
    # text only), for range estimates; the planner's alone (pg_stats shows NULL).
    histogram: tuple = ()

    def distinct_count(self, rows: float) -> float:
        """The estimated number of distinct non-null values in `rows` rows."""
        return self.n_distinct if self.n_distinct >= 0 else -self.n_distinct * rows

    def fraction_below(self, value: Any, inclusive: bool) -> float | None:
        """Of the non-null values, the fraction below `value` (or at it, if
        `inclusive`), from the histogram; None without one or for a value of another kind."""
        bounds = self.histogram
        if len(bounds) < 2 or not _same_kind(bounds[0], value):
            return None
        if value < bounds[0]:
            return 0.0
        if value > bounds[-1] or (inclusive and value == bounds[-1]):
            return 1.0
        buckets = len(bounds) - 1
        # The bucket holding `value`, then (for numbers) a linear position inside it.
        low, high = 0, buckets
        while low < high:
            mid = (low + high) // 2
            if bounds[mid + 1] < value or (inclusive and bounds[mid + 1] == value):
                low = mid + 1
            else:
                high = mid
        start, end = bounds[low], bounds[min(low + 1, buckets)]
        inside = 0.5
        if isinstance(value, (int, float)) and not isinstance(value, bool) and end != start:
            inside = min(max((value - start) / (end - start), 0.0), 1.0)
        return min((low + inside) / buckets, 1.0)


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True
    return isinstance(a, str) and isinstance(b, str)


def histogram_of(values: list[Any]) -> tuple:
    """HISTOGRAM_BUCKETS + 1 bounds of the sorted non-null values of one column
    (fewer for fewer values); none for kinds whose Python order is not SQL's."""
    # A float NaN has no place in an order; long texts would bloat the record
    # (PostgreSQL leaves values over 1 kB out of its statistics too).
    values = [v for v in values if v == v and not (isinstance(v, str) and len(v) > HISTOGRAM_TEXT_MAX)]
    if len(values) < 2 or not _same_kind(values[0], values[0]):
        return ()
    ordered = sorted(values)
    n = len(ordered)
    count = min(HISTOGRAM_BUCKETS + 1, n)
    return tuple(ordered[(i * (n - 1)) // (count - 1)] for i in range(count))


@dataclass(frozen=True)
class TableStats:
    oid: int
    reltuples: float
    columns: dict[str, ColumnStats] = field(default_factory=dict)  # by column name
    analyzed_at_us: int = 0  # wall clock, microseconds since 1970

    def to_record(self) -> dict:
        return {
            "oid": self.oid,
            "reltuples": self.reltuples,
            "analyzed_at_us": self.analyzed_at_us,
            "columns": [
                [name, c.null_frac, c.n_distinct, c.avg_width, list(c.histogram)]
                for name, c in self.columns.items()
            ],
        }

    @staticmethod
    def from_record(record: dict) -> TableStats:
        columns = {
            entry[0]: ColumnStats(
                float(entry[1]), float(entry[2]), int(entry[3]), tuple(entry[4]) if len(entry) > 4 else ()
            )
            for entry in record["columns"]
        }
        return TableStats(
            int(record["oid"]), float(record["reltuples"]), columns, int(record["analyzed_at_us"])
        )


class StatsCache:
    """One QP's copy of every table's statistics, refreshed from storage now and then."""

    def __init__(self) -> None:
        self._by_oid: dict[int, TableStats] = {}
        # Bumped whenever what the cache holds changes, so plans made before are
        # made again (PostgreSQL re-plans cached plans after ANALYZE too).
        self.version = 0

    def get(self, oid: int) -> TableStats | None:
        return self._by_oid.get(oid)

    def put(self, stats: TableStats) -> None:
        """Statistics this QP has just written (its own ANALYZE)."""
        self._by_oid[stats.oid] = stats
        self.version += 1

    def all(self) -> list[TableStats]:
        return list(self._by_oid.values())

    async def refresh(self, txn: Any) -> None:
        """Read every table's statistics as of `txn`'s snapshot."""
        fresh: dict[int, TableStats] = {}
        async for page in txn.scan(STATS_PREFIX, keys.prefix_end(STATS_PREFIX), catalog_check=False):
            for _, value in page:
                if isinstance(value, dict):
                    stats = TableStats.from_record(value)
                    fresh[stats.oid] = stats
        # A newer local ANALYZE than the snapshot read wins (it is not visible there yet).
        for oid, mine in self._by_oid.items():
            theirs = fresh.get(oid)
            if theirs is None or theirs.analyzed_at_us < mine.analyzed_at_us:
                fresh[oid] = mine
        if {o: s.analyzed_at_us for o, s in fresh.items()} != {
            o: s.analyzed_at_us for o, s in self._by_oid.items()
        }:
            self.version += 1
        self._by_oid = fresh


EMPTY_STATS = StatsCache()  # for planners given no statistics: every table is never analyzed


def estimate_n_distinct(
    sample_rows: int, null_count: int, counts: dict[Any, int], total_rows: float
) -> float:
    """PostgreSQL's stadistinct from a sample (analyze.c, compute_scalar_stats).

    `counts` maps each non-null value seen to how often; Haas and Stokes'
    Duj1 estimator scales what the sample saw to the table, and an estimate
    above a tenth of the rows becomes a negative fraction (it grows with the table).
    """
    nonnull = sample_rows - null_count
    if nonnull <= 0:
        return 0.0
    null_frac = null_count / sample_rows
    d = len(counts)
    multiple = sum(1 for c in counts.values() if c > 1)
    if multiple == 0:
        return -1.0 * (1.0 - null_frac)  # no value repeats: assume a unique column
    if multiple == d:
        n_distinct = float(d)  # every value seen twice or more: assume these are all of them
    else:
        f1 = d - multiple
        n = float(nonnull)
        big_n = total_rows * (1.0 - null_frac)
        estimate = (n * d) / ((n - f1) + f1 * n / big_n) if big_n > 0 else 0.0
        n_distinct = float(int(min(max(estimate, d), big_n) + 0.5))
    if total_rows > 0 and n_distinct > 0.1 * total_rows:
        return -(n_distinct / total_rows)
    return n_distinct
