-- COMMENT ON TABLE / COLUMN / INDEX / VIEW / SEQUENCE, read back by
-- obj_description, col_description and pg_description; ALTER VIEW ... RENAME
-- and CREATE OR REPLACE VIEW.

CREATE TABLE cm_t (id int PRIMARY KEY, name text, qty int);
CREATE INDEX cm_t_name ON cm_t (name);
CREATE VIEW cm_v AS SELECT id, name FROM cm_t;
CREATE SEQUENCE cm_s CACHE 1;
COMMENT ON TABLE cm_t IS 'the items';
COMMENT ON COLUMN cm_t.name IS 'what it is called';
COMMENT ON COLUMN cm_t.qty IS 'how many';
COMMENT ON INDEX cm_t_name IS 'by name';
COMMENT ON VIEW cm_v IS 'a view';
COMMENT ON COLUMN cm_v.name IS 'the view''s name';
COMMENT ON SEQUENCE cm_s IS 'numbers';
SELECT obj_description('cm_t'::regclass, 'pg_class'), obj_description('cm_t'::regclass);
SELECT col_description('cm_t'::regclass, 1), col_description('cm_t'::regclass, 2), col_description('cm_t'::regclass, 3);
SELECT obj_description('cm_t_name'::regclass, 'pg_class'), obj_description('cm_v'::regclass, 'pg_class'),
       obj_description('cm_s'::regclass, 'pg_class'), col_description('cm_v'::regclass, 2);
SELECT c.relname, d.objsubid, d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
  WHERE c.relname LIKE 'cm\_%' ORDER BY c.relname, d.objsubid;
COMMENT ON TABLE cm_t IS 'changed';
COMMENT ON COLUMN cm_t.qty IS NULL;
COMMENT ON COLUMN cm_t.name IS '';
SELECT obj_description('cm_t'::regclass, 'pg_class'), col_description('cm_t'::regclass, 2), col_description('cm_t'::regclass, 3);
COMMENT ON TABLE no_such IS 'x';
COMMENT ON COLUMN cm_t.nope IS 'x';
COMMENT ON TABLE cm_v IS 'x';
COMMENT ON INDEX cm_t IS 'x';
COMMENT ON VIEW cm_t IS 'x';
COMMENT ON COLUMN cm_t.id IS 'key';
CREATE TABLE cm_like (LIKE cm_t INCLUDING COMMENTS);
CREATE TABLE cm_like2 (LIKE cm_t);
SELECT col_description('cm_like'::regclass, 1), col_description('cm_like'::regclass, 2), col_description('cm_like2'::regclass, 1);
DROP TABLE cm_like;
DROP TABLE cm_like2;

-- views: rename, replace
ALTER VIEW cm_v RENAME TO cm_v2;
SELECT * FROM cm_v2;
SELECT obj_description('cm_v2'::regclass, 'pg_class');
SELECT * FROM cm_v;
ALTER VIEW no_such RENAME TO x;
CREATE OR REPLACE VIEW cm_v2 AS SELECT id, name, id * 2 AS twice FROM cm_t;
INSERT INTO cm_t VALUES (1, 'a');
SELECT * FROM cm_v2;
CREATE OR REPLACE VIEW cm_v2 AS SELECT id FROM cm_t;
CREATE OR REPLACE VIEW cm_v2 AS SELECT name, id FROM cm_t;
CREATE OR REPLACE VIEW cm_t AS SELECT 1 AS x;

DROP VIEW cm_v2;
-- a dropped column's comment goes with it
ALTER TABLE cm_t DROP COLUMN qty;
ALTER TABLE cm_t ADD COLUMN qty2 int;
SELECT col_description('cm_t'::regclass, 1), col_description('cm_t'::regclass, 3), col_description('cm_t'::regclass, 4);
DROP SEQUENCE cm_s;
DROP TABLE cm_t;
