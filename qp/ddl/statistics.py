"""CREATE, ALTER and DROP STATISTICS applied: extended statistics objects, kept and shown.

DSQL accepts CREATE/ALTER/DROP STATISTICS. dsql keeps the object (which
columns of which table, which kinds) and shows it in pg_statistic_ext and
psql's \\d; gathering is ANALYZE's business. A statistics object goes with its
table or with any of its columns, as in PostgreSQL: the catalog shows only
those whose table and columns exist (CatalogSnapshot.live_statistics).
qp/bind/ddl/statistics.py binds the statements; this writes what they decided.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.statistics import BoundAlterStatistics, BoundCreateStatistics, BoundDropStatistics
from qp.catalog.stored import CatalogSnapshot
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_create_statistics(bound: BoundCreateStatistics, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    if bound.stale is not None:  # an object left behind by a dropped table or column
        txn.put(bound.stale.descriptor_key, None)
    stats = replace(bound.definition, oid=oid)
    txn.put(stats.descriptor_key, stats.to_record())
    bump_version(txn, version, oid + 1)
    return DdlResult("CREATE STATISTICS")


async def apply_alter_statistics(bound: BoundAlterStatistics, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    txn.put(bound.definition.descriptor_key, bound.definition.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER STATISTICS")


async def apply_drop_statistics(bound: BoundDropStatistics, txn) -> DdlResult:
    if bound.statistics:
        version, _ = await catalog_counters(txn)
        for stats in bound.statistics:
            txn.put(stats.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP STATISTICS", list(bound.notices))
