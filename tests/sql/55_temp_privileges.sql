-- Temporary objects belong to the role that creates them (the session's store keeps their owner
-- records, qp/ddl/ownership.py): a non-superuser uses, indexes and drops its own temp tables.
CREATE ROLE tp_r;
GRANT CREATE ON SCHEMA public TO tp_r;
SET ROLE tp_r;
CREATE TEMP TABLE tp_t (a int PRIMARY KEY, b text);
INSERT INTO tp_t VALUES (1, 'x');
SELECT * FROM tp_t;
CREATE INDEX ON tp_t (b);
CREATE TEMP VIEW tp_v AS SELECT a FROM tp_t;
SELECT * FROM tp_v;
SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE 'tp_%' ORDER BY 1;
-- User functions stay callable while the session has temporary objects.
CREATE FUNCTION tp_f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
SELECT tp_f(a) FROM tp_t;
DROP FUNCTION tp_f(int);
DROP TABLE tp_t CASCADE;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM tp_r;
DROP ROLE tp_r;
