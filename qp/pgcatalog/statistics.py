"""pg_stats: what ANALYZE measured (qp/ddl/analyze.py), as PostgreSQL shows it.

One row per analyzed column of an analyzed table, read from the QP's
statistics cache (qp/plan/stats.py) at each scan, so it is never older than
the planner's view. dsql keeps no most-common values, histograms or
correlation: those columns are NULL, as PostgreSQL shows them for a column
whose values are all distinct.
"""

from __future__ import annotations

from qp.pgcatalog.relation import Lifetime, Source, system_relation


@system_relation(
    "pg_catalog",
    "pg_stats",
    12053,
    """
    schemaname:name tablename:name attname:name inherited:bool null_frac:float4 avg_width:int4 n_distinct:float4
    most_common_vals:anyarray most_common_freqs:float4[] histogram_bounds:anyarray correlation:float4
    most_common_elems:anyarray most_common_elem_freqs:float4[] elem_count_histogram:float4[]""",
    lifetime=Lifetime.SESSION,
)
def pg_stats(src: Source) -> list[tuple]:
    if src.session is None:
        return []
    stats = src.session.qp.table_stats
    out = []
    for relation in src.model.relations:
        table = relation.table
        found = stats.get(relation.oid) if table is not None and relation.relkind == "r" else None
        if found is None:
            continue
        for column in table.columns:
            measured = found.columns.get(column.name)
            if column.dropped or measured is None:
                continue
            out.append(
                (
                    relation.schema,
                    relation.name,
                    column.name,
                    False,
                    measured.null_frac,
                    measured.avg_width,
                    measured.n_distinct,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            )
    return out


def reltuples_by_oid(src: Source) -> dict[int, float]:
    """pg_class.reltuples of the analyzed tables (the others show PostgreSQL's -1)."""
    if src.session is None:
        return {}
    return {s.oid: s.reltuples for s in src.session.qp.table_stats.all()}
