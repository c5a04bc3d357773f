"""PostgreSQL's convenience views over the catalogs: pg_tables, pg_indexes,
pg_views, pg_matviews, pg_sequences, pg_stat_user_tables, pg_statio_user_tables.

They name owners, which in dsql are the connected user (see cluster_tables),
so they are built per scan.
"""

from __future__ import annotations

from qp.pgcatalog.cluster_tables import session_user
from qp.pgcatalog.definitions import index_definition, view_definition
from qp.pgcatalog.relation import Lifetime, Source, empty, system_relation

SESSION = Lifetime.SESSION


@system_relation("pg_catalog", "pg_tables", 12033, """
    schemaname:name tablename:name tableowner:name tablespace:name hasindexes:bool hasrules:bool
    hastriggers:bool rowsecurity:bool""", lifetime=SESSION)
def pg_tables(src: Source) -> list[tuple]:
    owner = session_user(src)
    return [(r.schema, r.name, owner, None, bool(r.table and r.table.indexes), False, False, False)
            for r in src.model.relations if r.relkind in ("r", "p")]


@system_relation("pg_catalog", "pg_indexes", 12043, """
    schemaname:name tablename:name indexname:name tablespace:name indexdef:text""", lifetime=Lifetime.CATALOG)
def pg_indexes(src: Source) -> list[tuple]:
    model = src.model
    return [(r.schema, r.table.name, r.name, None, index_definition(model, r, 0, False, None, src.ctx))
            for r in model.relations if r.relkind == "i" and r.table is not None]


@system_relation("pg_catalog", "pg_views", 12028, "schemaname:name viewname:name viewowner:name definition:text",
                 lifetime=SESSION)
def pg_views(src: Source) -> list[tuple]:
    owner = session_user(src)
    return [(r.schema, r.name, owner, view_definition(src.model, r, src.ctx))
            for r in src.model.relations if r.relkind == "v"]


@system_relation("pg_catalog", "pg_stat_user_tables", 12161, """
    relid:oid schemaname:name relname:name seq_scan:int8 last_seq_scan:timestamptz seq_tup_read:int8
    idx_scan:int8 last_idx_scan:timestamptz idx_tup_fetch:int8 n_tup_ins:int8 n_tup_upd:int8 n_tup_del:int8
    n_tup_hot_upd:int8 n_tup_newpage_upd:int8 n_live_tup:int8 n_dead_tup:int8
    n_mod_since_analyze:int8 n_ins_since_vacuum:int8 last_vacuum:timestamptz last_autovacuum:timestamptz
    last_analyze:timestamptz last_autoanalyze:timestamptz vacuum_count:int8 autovacuum_count:int8
    analyze_count:int8 autoanalyze_count:int8""", lifetime=Lifetime.CATALOG)
def pg_stat_user_tables(src: Source) -> list[tuple]:
    """dsql keeps no access statistics: every counter is 0."""
    return [(r.oid, r.schema, r.name, 0, None, 0, 0, None, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None,
             0, 0, 0, 0)
            for r in src.model.relations if r.relkind == "r" and r.table is not None]


@system_relation("pg_catalog", "pg_statio_user_tables", 12179, """
    relid:oid schemaname:name relname:name heap_blks_read:int8 heap_blks_hit:int8 idx_blks_read:int8
    idx_blks_hit:int8 toast_blks_read:int8 toast_blks_hit:int8 tidx_blks_read:int8 tidx_blks_hit:int8""",
                 lifetime=Lifetime.CATALOG)
def pg_statio_user_tables(src: Source) -> list[tuple]:
    return [(r.oid, r.schema, r.name, 0, 0, 0, 0, None, None, None, None)
            for r in src.model.relations if r.relkind == "r" and r.table is not None]


system_relation("pg_catalog", "pg_matviews", 12038, """
    schemaname:name matviewname:name matviewowner:name tablespace:name hasindexes:bool ispopulated:bool
    definition:text""", lifetime=Lifetime.STATIC)(empty)
@system_relation("pg_catalog", "pg_sequences", 12048, """
    schemaname:name sequencename:name sequenceowner:name data_type:regtype start_value:int8 min_value:int8
    max_value:int8 increment_by:int8 cycle:bool cache_size:int8 last_value:int8""", lifetime=SESSION)
def pg_sequences(src: Source) -> list[tuple]:
    """last_value is NULL: reading it would need the sequence's state row (as
    PostgreSQL shows NULL for a sequence not yet used)."""
    owner = session_user(src)
    return [(r.schema, r.name, owner, q.type_oid, q.start, q.min_value, q.max_value, q.increment, q.cycle, q.cache,
             None) for r in src.model.relations if (q := r.sequence) is not None]
