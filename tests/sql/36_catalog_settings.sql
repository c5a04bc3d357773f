-- Planner settings PostgreSQL has and dsql's planner does not use (accepted,
-- shown and reset as PostgreSQL shows them), pg_stat_database, and
-- pg_get_functiondef for built-in functions.

SHOW enable_seqscan;
SHOW enable_hashjoin;
SHOW random_page_cost;
SET enable_seqscan = off;
SHOW enable_seqscan;
SET enable_seqscan TO DEFAULT;
SHOW enable_seqscan;
SET enable_nestloop = false;
SHOW enable_nestloop;
RESET enable_nestloop;
SHOW enable_nestloop;
SET random_page_cost = 1.1;
SHOW random_page_cost;
SET random_page_cost = -1;
SET enable_hashjoin = 'maybe';
SET seq_page_cost = 2;
SHOW seq_page_cost;
SET cpu_tuple_cost = 0.02;
SHOW cpu_tuple_cost;
SET effective_cache_size = '1GB';
SHOW effective_cache_size;
SET jit = off;
SHOW jit;
SET enable_partitionwise_join = on;
SHOW enable_partitionwise_join;
SELECT current_setting('enable_mergejoin'), current_setting('enable_indexscan'), current_setting('cpu_operator_cost');
SELECT set_config('enable_sort', 'off', false), current_setting('enable_sort');
SELECT name, setting, unit, vartype, category, boot_val FROM pg_settings
    WHERE name IN ('enable_seqscan', 'enable_hashjoin', 'random_page_cost', 'seq_page_cost', 'enable_bitmapscan', 'geqo_threshold',
                   'join_collapse_limit', 'from_collapse_limit', 'default_statistics_target', 'effective_cache_size', 'min_parallel_index_scan_size',
                   'constraint_exclusion', 'plan_cache_mode', 'cursor_tuple_fraction') ORDER BY name;
SET effective_cache_size = 1000;
SHOW effective_cache_size;
SET effective_cache_size = '100kB';
SHOW effective_cache_size;
SELECT setting, unit FROM pg_settings WHERE name = 'effective_cache_size';
SET effective_cache_size = '1XB';
SET plan_cache_mode = force_generic_plan;
SHOW plan_cache_mode;
SET plan_cache_mode = sometimes;
SET geqo_threshold = 1;
SET cpu_operator_cost = 'abc';
SET random_page_cost = 1e10;
SHOW random_page_cost;
RESET ALL;
SHOW enable_sort;
BEGIN;
SET LOCAL enable_indexscan = off;
SHOW enable_indexscan;
COMMIT;
SHOW enable_indexscan;
SHOW enable_nosuch;
SET enable_nosuch = on;

SELECT datname, numbackends >= 0, xact_commit >= 0, xact_rollback >= 0, blks_read >= 0, blks_hit >= 0, tup_returned >= 0, deadlocks, conflicts
    FROM pg_stat_database WHERE datname = current_database();
SELECT count(*) FROM pg_stat_database WHERE datname IS NULL;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pg_stat_database'::regclass AND attnum > 0 ORDER BY attnum;

SELECT pg_get_functiondef('lower'::regproc), pg_get_functiondef('now'::regproc), pg_get_functiondef('pg_sleep'::regproc);
SELECT pg_get_functiondef(p.oid) FROM pg_proc AS p WHERE p.proname IN ('abs', 'generate_series', 'concat', 'to_char', 'jsonb_build_object', 'random', 'int4in')
    AND p.prokind = 'f' AND p.oid < 16384 ORDER BY 1;
SELECT pg_get_functiondef('sum'::regproc);
SELECT pg_get_functiondef(p.oid) FROM pg_proc AS p WHERE p.proname = 'count' AND p.pronargs = 0;
SELECT pg_get_functiondef(0), pg_get_functiondef(999999999);
