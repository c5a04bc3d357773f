-- CREATE / ALTER / DROP SCHEMA, names resolved along the search path through
-- several schemas, schema-qualified names wherever a name appears, and the
-- catalogs that show schemas.

CREATE SCHEMA sa;
CREATE SCHEMA sa;
CREATE SCHEMA IF NOT EXISTS sa;
CREATE SCHEMA pg_mine;
CREATE SCHEMA pg_catalog;
CREATE SCHEMA IF NOT EXISTS pg_catalog;
CREATE SCHEMA public;
CREATE SCHEMA IF NOT EXISTS sb;
SELECT nspname FROM pg_namespace WHERE nspname IN ('sa', 'sb', 'public') ORDER BY nspname;
SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 's_' ORDER BY 1;
SELECT 'sa'::regnamespace::text, to_regnamespace('sb')::text, to_regnamespace('nope') IS NULL;
SELECT 'nope'::regnamespace;

-- The same name in two schemas is two objects.
CREATE TABLE sa.t (id int PRIMARY KEY, v text);
CREATE TABLE sb.t (id int PRIMARY KEY, w int);
CREATE TABLE sa.t (id int);
CREATE TABLE nope.t (id int);
INSERT INTO sa.t VALUES (1, 'a1'), (2, 'a2');
INSERT INTO sb.t VALUES (1, 10);
SELECT * FROM sa.t ORDER BY id;
SELECT * FROM sb.t ORDER BY id;
SELECT sa.t.v, sb.t.w FROM sa.t JOIN sb.t ON sa.t.id = sb.t.id;
SELECT * FROM nope.t;
SELECT * FROM sa.nope;
SELECT * FROM t;
UPDATE sa.t SET v = 'a2x' WHERE id = 2 RETURNING *;
DELETE FROM sb.t WHERE id = 1 RETURNING w;
SELECT count(*) FROM sb.t;

-- Unqualified names go along the search path; CREATE goes to its first schema.
SET search_path = sb, sa;
SHOW search_path;
SELECT current_schema(), current_schemas(false), current_schemas(true);
INSERT INTO t VALUES (5, 50);
SELECT * FROM t ORDER BY id;
CREATE TABLE only_b (x int);
SELECT schemaname, tablename FROM pg_tables WHERE tablename = 'only_b';
CREATE TABLE only_a_here (x int);
SET search_path = sa, sb;
SELECT * FROM t ORDER BY id;
SELECT * FROM only_b;
SELECT 't'::regclass::text, 'sb.t'::regclass::text, 'only_b'::regclass::text;
SELECT to_regclass('sb.t')::text, to_regclass('sa.t')::text, to_regclass('nope.t') IS NULL;
SELECT 'nope.t'::regclass;
SELECT c.relname, n.nspname, pg_table_is_visible(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relname IN ('t', 'only_b') ORDER BY 2, 1;
SET search_path = public;
SELECT 'sa.t'::regclass::text, 'sb.only_b'::regclass::text;
SELECT c.relname, pg_table_is_visible(c.oid) FROM pg_class c WHERE c.relname = 'only_b';
SET search_path = nope;
SELECT current_schema(), current_schemas(false);
CREATE TABLE nowhere (x int);
SELECT * FROM t;
RESET search_path;
SELECT current_schema();

-- Columns, information_schema and pg_class namespaces.
SELECT table_schema, table_name, table_type FROM information_schema.tables
  WHERE table_schema IN ('sa', 'sb') ORDER BY 1, 2;
SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
  WHERE table_schema IN ('sa', 'sb') ORDER BY 1, 2, ordinal_position;
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('sa', 'sb') ORDER BY 1, 2;

-- Indexes, views, sequences, domains, statistics, comments in a schema.
CREATE INDEX t_v_idx ON sa.t (v);
CREATE INDEX ON sb.t (w);
SELECT schemaname, tablename, indexname FROM pg_indexes WHERE schemaname IN ('sa', 'sb') ORDER BY 1, 3;
DROP INDEX t_v_idx;
DROP INDEX sa.t_v_idx;
CREATE SEQUENCE sa.seq START 7 CACHE 1;
SELECT nextval('sa.seq'), nextval('sa.seq');
SELECT nextval('seq');
SELECT nextval('nope.seq');
ALTER SEQUENCE sa.seq RESTART WITH 100;
SELECT nextval('sa.seq');
CREATE TABLE sa.ser (id serial PRIMARY KEY, note text);
INSERT INTO sa.ser (note) VALUES ('x'), ('y');
SELECT * FROM sa.ser ORDER BY id;
SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname = 'sa' ORDER BY 2;
CREATE VIEW sa.v AS SELECT id, v FROM sa.t;
SELECT * FROM sa.v ORDER BY id;
SELECT sa.v.id FROM sa.v ORDER BY 1;
SET search_path = sb;
CREATE VIEW vb AS SELECT id, w FROM t;
SELECT * FROM vb ORDER BY id;
RESET search_path;
SELECT * FROM sb.vb ORDER BY id;
SELECT table_schema, table_name FROM information_schema.views WHERE table_schema IN ('sa', 'sb') ORDER BY 1, 2;
CREATE DOMAIN sa.pos AS int CHECK (VALUE > 0);
SELECT 3::sa.pos;
SELECT (-3)::sa.pos;
CREATE TABLE sa.uses_pos (p sa.pos);
CREATE DOMAIN sb.pos AS int;
SET search_path = sb, sa;
SELECT t.typnamespace::regnamespace::text, pg_type_is_visible(t.oid) FROM pg_type t WHERE t.typname = 'pos' ORDER BY 1;
SELECT (-5)::pos;
RESET search_path;
DROP DOMAIN sb.pos;
INSERT INTO sa.uses_pos VALUES (0);
CREATE STATISTICS sa.st ON id, v FROM sa.t;
SELECT stxname, stxnamespace::regnamespace::text FROM pg_statistic_ext WHERE stxname = 'st';
COMMENT ON TABLE sa.t IS 'table t of sa';
COMMENT ON SCHEMA sa IS 'schema a';
COMMENT ON COLUMN sa.t.v IS 'the v of sa.t';
COMMENT ON VIEW sa.v IS 'view of sa';
COMMENT ON SEQUENCE sa.seq IS 'seq of sa';
COMMENT ON TABLE nope.t IS 'x';
COMMENT ON SCHEMA nope IS 'x';
SELECT col_description('sa.t'::regclass, 2), obj_description('sa.v'::regclass, 'pg_class'),
  obj_description('sa.seq'::regclass, 'pg_class');
SELECT obj_description('sa.t'::regclass, 'pg_class');
SELECT d.description FROM pg_description d JOIN pg_namespace n ON n.oid = d.objoid WHERE n.nspname = 'sa';
ANALYZE sa.t;
ANALYZE nope.t;

-- Foreign keys, LIKE and CREATE TABLE AS across schemas.
CREATE TABLE sb.child (id int PRIMARY KEY, t_id int REFERENCES sa.t (id));
INSERT INTO sb.child VALUES (1, 1);
INSERT INTO sb.child VALUES (2, 99);
CREATE TABLE sb.copy_of (LIKE sa.t);
SELECT column_name FROM information_schema.columns WHERE table_schema = 'sb' AND table_name = 'copy_of' ORDER BY ordinal_position;
CREATE TABLE sb.tas AS SELECT id, v FROM sa.t;
SELECT * FROM sb.tas ORDER BY id;
ALTER TABLE sb.tas ADD COLUMN extra int;
ALTER TABLE sb.tas RENAME TO tas2;
SELECT * FROM sb.tas2 ORDER BY id;
ALTER TABLE IF EXISTS nope.x ADD COLUMN y int;
DROP TABLE IF EXISTS nope.x;
DROP TABLE sb.tas2, sb.copy_of;

-- DROP SCHEMA: RESTRICT refuses a schema that holds anything; CASCADE drops it all.
DROP SCHEMA sb;
DROP SCHEMA nope;
DROP SCHEMA IF EXISTS nope;
DROP SCHEMA pg_catalog;
CREATE SCHEMA empty_one;
DROP SCHEMA empty_one;
ALTER SCHEMA sb RENAME TO sc;
SELECT * FROM sc.t ORDER BY id;
SELECT * FROM sb.t;
ALTER SCHEMA sc RENAME TO sa;
ALTER SCHEMA nope RENAME TO other;
ALTER SCHEMA sc RENAME TO sb;
DROP SCHEMA sb CASCADE;
SELECT * FROM sb.t;
SELECT nspname FROM pg_namespace WHERE nspname IN ('sa', 'sb') ORDER BY 1;
SELECT * FROM sa.t ORDER BY id;

-- CREATE SCHEMA with elements: run in the new schema, in PostgreSQL's order.
CREATE SCHEMA se
  CREATE VIEW ev AS SELECT id, n FROM et
  CREATE TABLE et (id int PRIMARY KEY, n text)
  CREATE INDEX et_n ON et (n)
  CREATE SEQUENCE es CACHE 1;
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'se' ORDER BY 1;
INSERT INTO se.et VALUES (1, 'one');
SELECT * FROM se.ev;
SELECT nextval('se.es');
CREATE SCHEMA IF NOT EXISTS sf CREATE TABLE t (x int);
CREATE SCHEMA sf CREATE TABLE sa.wrong (x int);
SELECT count(*) FROM pg_namespace WHERE nspname = 'sf';
CREATE SCHEMA sg CREATE TABLE gt (x int) CREATE TABLE gt (y int);
SELECT count(*) FROM pg_namespace WHERE nspname = 'sg';
CREATE ROLE schema_grant_reader;
CREATE SCHEMA sgr CREATE TABLE gt (a int) GRANT SELECT ON gt TO schema_grant_reader CREATE SEQUENCE gs CACHE 1;
SELECT c.relname, c.relacl IS NULL FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'sgr' ORDER BY 1;
SELECT has_table_privilege('schema_grant_reader', 'sgr.gt', 'SELECT'), has_table_privilege('schema_grant_reader', 'sgr.gt', 'INSERT');
GRANT USAGE ON SCHEMA sgr TO schema_grant_reader;
SELECT has_schema_privilege('schema_grant_reader', 'sgr', 'USAGE'), has_schema_privilege('schema_grant_reader', 'sgr', 'CREATE');
DROP SCHEMA sgr CASCADE;
DROP ROLE schema_grant_reader;
DROP SCHEMA se, sa CASCADE;
SELECT count(*) FROM pg_namespace WHERE nspname IN ('sa', 'se');

-- Every kind of object by its qualified name: rename, truncate, drop.
CREATE SCHEMA sk;
CREATE TABLE sk.k (id int PRIMARY KEY, v int);
CREATE INDEX k_v ON sk.k (w);
ALTER TABLE sk.k RENAME COLUMN v TO w;
CREATE VIEW sk.kv AS SELECT * FROM sk.k;
CREATE SEQUENCE sk.ks CACHE 1;
CREATE DOMAIN sk.kd AS text;
CREATE STATISTICS sk.kst ON id, w FROM sk.k;
INSERT INTO sk.k VALUES (1, 1), (2, 2);
ALTER INDEX sk.k_v RENAME TO k_v2;
ALTER VIEW sk.kv RENAME TO kv2;
ALTER SEQUENCE sk.ks RENAME TO ks2;
ALTER STATISTICS sk.kst RENAME TO kst2;
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sk' ORDER BY 1;
SELECT * FROM sk.kv2 ORDER BY id;
TRUNCATE sk.k;
SELECT count(*) FROM sk.k;
SELECT 1 AS one INTO sk.si;
SELECT * FROM sk.si;
SELECT sk.k.w FROM sk.k;
SELECT nope.k.w FROM sk.k;
SELECT k.w FROM sk.k;
SET search_path = sk;
SELECT 'x'::kd, nextval('ks2');
DROP INDEX k_v2;
DROP STATISTICS kst2;
RESET search_path;
DROP VIEW sk.kv2;
DROP SEQUENCE sk.ks2;
DROP DOMAIN sk.kd;
DROP TABLE sk.si;
DROP VIEW IF EXISTS nope.v;
DROP SEQUENCE IF EXISTS nope.s;
DROP INDEX IF EXISTS nope.i;
DROP SCHEMA sk;
DROP TABLE sk.k;
DROP SCHEMA sk;

-- DML across schemas.
CREATE SCHEMA sq;
CREATE SCHEMA sr;
CREATE TABLE sq.t (id int PRIMARY KEY, v int);
CREATE TABLE sr.t (id int PRIMARY KEY, v int);
INSERT INTO sq.t VALUES (1, 10), (2, 20);
INSERT INTO sr.t SELECT id, v * 100 FROM sq.t;
INSERT INTO sq.t VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = sq.t.v + 1 RETURNING *;
UPDATE sq.t SET v = sr.t.v FROM sr.t WHERE sq.t.id = sr.t.id AND sr.t.id = 2 RETURNING sq.t.id, sq.t.v;
DELETE FROM sr.t USING sq.t WHERE sr.t.id = sq.t.id AND sq.t.v = 11 RETURNING sr.t.*;
WITH t AS (SELECT 42 AS v) SELECT t.v, (SELECT count(*) FROM sq.t) FROM t;
SELECT s.nspname, count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
  WHERE s.nspname IN ('sq', 'sr') GROUP BY 1 ORDER BY 1;
SELECT table_schema, table_name, constraint_type FROM information_schema.table_constraints
  WHERE table_schema IN ('sq', 'sr') AND constraint_type = 'PRIMARY KEY' ORDER BY 1;
DROP SCHEMA sq, sr CASCADE;

-- ALTER ... SET SCHEMA moves a table with its indexes and owned sequences.
CREATE SCHEMA sx;
CREATE SCHEMA sy;
CREATE TABLE sx.mv (id serial PRIMARY KEY, v text UNIQUE);
CREATE INDEX mv_v_idx ON sx.mv (v);
INSERT INTO sx.mv (v) VALUES ('a');
ALTER TABLE sx.mv SET SCHEMA sy;
INSERT INTO sy.mv (v) VALUES ('b');
SELECT * FROM sy.mv ORDER BY id;
SELECT * FROM sx.mv;
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('sx', 'sy') ORDER BY 1, 2;
ALTER TABLE sy.mv SET SCHEMA nope;
ALTER TABLE IF EXISTS sx.mv SET SCHEMA sy;
ALTER TABLE sx.mv SET SCHEMA sy;
CREATE TABLE sx.mv (x int);
ALTER TABLE sx.mv SET SCHEMA sy;
DROP TABLE sx.mv;
ALTER SEQUENCE sy.mv_id_seq SET SCHEMA sx;
CREATE SEQUENCE sy.free CACHE 1;
ALTER SEQUENCE sy.free SET SCHEMA sx;
SELECT nextval('sx.free');
CREATE VIEW sy.mvv AS SELECT id FROM sy.mv;
ALTER VIEW sy.mvv SET SCHEMA sx;
SELECT * FROM sx.mvv ORDER BY id;
DROP SCHEMA sx, sy CASCADE;

-- Two tables named alike: qualified references tell them apart, a bare one is ambiguous.
CREATE SCHEMA sm;
CREATE SCHEMA sn;
CREATE TABLE sm.t (id int);
CREATE TABLE sn.t (id int);
INSERT INTO sm.t VALUES (1);
INSERT INTO sn.t VALUES (1), (2);
SELECT sm.t.id, sn.t.id FROM sm.t, sn.t ORDER BY 2;
SELECT t.id FROM sm.t, sn.t;
SELECT count(*) FROM sm.t, sn.t WHERE sm.t.id = sn.t.id;
SELECT * FROM sm.t, sm.t;
SELECT pg_catalog.pg_namespace.nspname FROM pg_catalog.pg_namespace WHERE pg_catalog.pg_namespace.nspname = 'sm';
SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE pg_catalog.n.nspname = 'sm';
DROP SCHEMA sm, sn;
DROP SCHEMA sm, sn CASCADE;

-- Schemas named after and owned by roles.
CREATE ROLE schema_owner_role;
CREATE SCHEMA AUTHORIZATION schema_owner_role;
CREATE SCHEMA so AUTHORIZATION schema_owner_role;
CREATE SCHEMA sp AUTHORIZATION no_such_role;
SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('schema_owner_role', 'so') ORDER BY 1;
SELECT schema_name, schema_owner FROM information_schema.schemata WHERE schema_name IN ('schema_owner_role', 'so') ORDER BY 1;
ALTER SCHEMA so RENAME TO schema_owner_role;
ALTER SCHEMA so OWNER TO no_such_role;
DROP SCHEMA so, schema_owner_role;
DROP ROLE schema_owner_role;

-- Temporary tables come first whatever the path, also when it names only a created schema.
CREATE SCHEMA stt;
SET search_path = stt;
CREATE TABLE tt (a int);
CREATE TEMP TABLE tt (a int, b text);
INSERT INTO tt VALUES (1, 'temp');
CREATE INDEX tt_a ON tt (a);
SELECT * FROM tt;
SELECT count(*) FROM stt.tt;
ALTER TABLE tt ADD COLUMN c int;
DROP INDEX tt_a;
DROP TABLE tt;
SELECT * FROM tt;
RESET search_path;
DROP SCHEMA stt CASCADE;

-- DSQL allows 10 schemas, public included.
CREATE SCHEMA l1;
CREATE SCHEMA l2;
CREATE SCHEMA l3;
CREATE SCHEMA l4;
CREATE SCHEMA l5;
CREATE SCHEMA l6;
CREATE SCHEMA l7;
CREATE SCHEMA l8;
CREATE SCHEMA l9;
-- @dsql-error 54000
CREATE SCHEMA l10;
DROP SCHEMA IF EXISTS l1, l2, l3, l4, l5, l6, l7, l8, l9, l10;
