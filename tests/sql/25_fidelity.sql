-- PostgreSQL fidelity fixes: savepoints, transactional settings, LATERAL,
-- default constraint names, named primary keys, and small ones.

-- Savepoints: nested, rolled back to, released; an error inside a block is
-- cleared by ROLLBACK TO SAVEPOINT; the newest of two same-named ones wins;
-- RELEASE of an outer one releases the inner ones.
CREATE TABLE fid_sp (id int PRIMARY KEY, v text NOT NULL);
BEGIN;
INSERT INTO fid_sp VALUES (1, 'a');
SAVEPOINT one;
INSERT INTO fid_sp VALUES (2, 'b');
SAVEPOINT two;
UPDATE fid_sp SET v = 'changed' WHERE id = 1;
DELETE FROM fid_sp WHERE id = 2;
SELECT * FROM fid_sp ORDER BY id;
ROLLBACK TO SAVEPOINT two;
SELECT * FROM fid_sp ORDER BY id;
INSERT INTO fid_sp VALUES (1, 'duplicate');
SELECT 1;
RELEASE SAVEPOINT two;
ROLLBACK TO two;
SELECT * FROM fid_sp ORDER BY id;
ROLLBACK TO SAVEPOINT one;
SELECT * FROM fid_sp ORDER BY id;
INSERT INTO fid_sp VALUES (3, 'c');
RELEASE one;
ROLLBACK TO one;
ROLLBACK TO nosuch;
ROLLBACK;
SELECT * FROM fid_sp ORDER BY id;
BEGIN;
INSERT INTO fid_sp VALUES (1, 'a');
SAVEPOINT s;
INSERT INTO fid_sp VALUES (2, 'b');
SAVEPOINT s;
INSERT INTO fid_sp VALUES (3, 'c');
ROLLBACK TO s;
SELECT * FROM fid_sp ORDER BY id;
RELEASE s;
ROLLBACK TO s;
SELECT * FROM fid_sp ORDER BY id;
RELEASE s;
RELEASE s;
ROLLBACK;
BEGIN;
INSERT INTO fid_sp VALUES (4, 'd');
SAVEPOINT outer_sp;
INSERT INTO fid_sp VALUES (5, 'e');
SAVEPOINT inner_sp;
INSERT INTO fid_sp VALUES (6, 'f');
RELEASE outer_sp;
ROLLBACK TO inner_sp;
ROLLBACK;
BEGIN;
INSERT INTO fid_sp VALUES (4, 'd');
SAVEPOINT outer_sp;
INSERT INTO fid_sp VALUES (5, 'e');
SAVEPOINT inner_sp;
INSERT INTO fid_sp VALUES (6, 'f');
RELEASE outer_sp;
COMMIT;
SELECT * FROM fid_sp ORDER BY id;
-- an error, then ROLLBACK TO an earlier savepoint: the block goes on
BEGIN;
SAVEPOINT a;
UPDATE fid_sp SET v = NULL WHERE id = 4;
SELECT * FROM fid_sp;
ROLLBACK TO SAVEPOINT a;
UPDATE fid_sp SET v = 'dd' WHERE id = 4;
COMMIT;
SELECT * FROM fid_sp ORDER BY id;
-- COMMIT of a failed block reports ROLLBACK, savepoints or not
BEGIN;
SAVEPOINT a;
SELECT 1 / 0;
COMMIT;
SELECT count(*) FROM fid_sp;
-- outside a block
SAVEPOINT nowhere;
RELEASE SAVEPOINT nowhere;
ROLLBACK TO SAVEPOINT nowhere;
-- cursors declared after a savepoint close when it is rolled back to
BEGIN;
DECLARE c_before CURSOR FOR SELECT id FROM fid_sp ORDER BY id;
SAVEPOINT a;
DECLARE c_after CURSOR FOR SELECT id FROM fid_sp ORDER BY id;
FETCH 1 FROM c_before;
ROLLBACK TO a;
SELECT name FROM pg_cursors WHERE name LIKE 'c%' ORDER BY name;
FETCH 1 FROM c_before;
FETCH 1 FROM c_after;
ROLLBACK;
DROP TABLE fid_sp;

-- Settings belong to the transaction that changed them.
SET application_name = 'fid1';
BEGIN;
SET application_name = 'fid2';
ROLLBACK;
SHOW application_name;
BEGIN;
SET LOCAL application_name = 'fid3';
SHOW application_name;
COMMIT;
SHOW application_name;
BEGIN;
SET application_name = 'fid4';
SET LOCAL application_name = 'fid5';
COMMIT;
SHOW application_name;
BEGIN;
SAVEPOINT a;
SET application_name = 'fid6';
ROLLBACK TO a;
SHOW application_name;
SET extra_float_digits = 0;
RELEASE a;
COMMIT;
SHOW extra_float_digits;
RESET extra_float_digits;
SELECT set_config('application_name', 'fid7', true);
SHOW application_name;
SELECT set_config('application_name', 'fid8', false);
SHOW application_name;
BEGIN;
SET TimeZone = 'Asia/Tokyo';
SELECT 1 / 0;
ROLLBACK;
SHOW TimeZone;
SET my.custom = 'x';
BEGIN;
SET my.custom = 'y';
ROLLBACK;
SELECT current_setting('my.custom');
RESET ALL;
SHOW application_name;
SHOW TimeZone;

-- LATERAL: subqueries and functions in FROM that read the items to their left.
CREATE TABLE fid_la (id int PRIMARY KEY, n int, doc jsonb);
CREATE TABLE fid_lb (id int PRIMARY KEY, a_id int, v text);
INSERT INTO fid_la VALUES (1, 2, '[1, "x", {"k": 2}]'), (2, 0, '[]'), (3, 3, NULL);
INSERT INTO fid_lb VALUES (10, 1, 'p'), (11, 1, 'q'), (12, 2, 'r'), (13, 9, 'z');
SELECT a.id, s.* FROM fid_la a, LATERAL (SELECT b.v FROM fid_lb b WHERE b.a_id = a.id) s ORDER BY 1, 2;
SELECT a.id, s.* FROM fid_la a CROSS JOIN LATERAL (SELECT count(*) AS c, max(v) AS m FROM fid_lb b WHERE b.a_id = a.id) s ORDER BY 1;
SELECT a.id, s.v FROM fid_la a LEFT JOIN LATERAL (SELECT v FROM fid_lb b WHERE b.a_id = a.id ORDER BY v DESC LIMIT 1) s ON true ORDER BY 1;
SELECT a.id, s.c FROM fid_la a LEFT JOIN LATERAL (SELECT count(*) AS c FROM fid_lb b WHERE b.a_id = a.id) s ON s.c > 0 ORDER BY 1;
SELECT a.id, s.v FROM fid_la a JOIN LATERAL (SELECT v FROM fid_lb b WHERE b.a_id = a.id) s ON s.v <> 'p' ORDER BY 1, 2;
SELECT * FROM fid_la a, LATERAL (SELECT * FROM fid_lb b WHERE b.a_id = a.id) s WHERE s.v = 'q';
SELECT a.id, s.x, t.y FROM fid_la a, LATERAL (SELECT a.n + 1 AS x) s, LATERAL (SELECT s.x * 2 AS y) t ORDER BY 1;
SELECT a.id, q.v FROM fid_la a, LATERAL (SELECT v FROM fid_lb WHERE a_id = a.id UNION ALL SELECT 'extra' WHERE a.n > 1) q ORDER BY 1, 2;
SELECT x.id, s.v FROM (SELECT * FROM fid_la WHERE id < 3) x, LATERAL (SELECT v FROM fid_lb WHERE a_id = x.id ORDER BY v LIMIT 1) s ORDER BY 1;
WITH w AS (SELECT id FROM fid_la) SELECT w.id, s.v FROM w, LATERAL (SELECT v FROM fid_lb WHERE a_id = w.id) s ORDER BY 1, 2;
SELECT (SELECT string_agg(s.v, ',' ORDER BY s.v) FROM LATERAL (SELECT v FROM fid_lb WHERE a_id = a.id) s) FROM fid_la a ORDER BY 1;
SELECT a.id, s.* FROM fid_la a, LATERAL (SELECT b.v, (SELECT count(*) FROM fid_lb b2 WHERE b2.a_id = a.id) AS c FROM fid_lb b WHERE b.a_id = a.id) s ORDER BY 1, 2;
SELECT a.id, s.v FROM fid_la a, LATERAL (SELECT v FROM fid_lb WHERE a_id = a.id) s FOR UPDATE OF a;
-- functions in FROM are LATERAL with or without the keyword
SELECT a.id, g FROM fid_la a, generate_series(1, a.n) g ORDER BY 1, 2;
SELECT a.id, g FROM fid_la a, LATERAL generate_series(1, a.n) AS g ORDER BY 1, 2;
SELECT a.id, e.value FROM fid_la a, jsonb_array_elements(a.doc) e ORDER BY 1, 2;
SELECT a.id, e FROM fid_la a LEFT JOIN LATERAL jsonb_array_elements(a.doc) e ON true ORDER BY 1, 2;
SELECT a.id, e.* FROM fid_la a, jsonb_array_elements_text(a.doc) WITH ORDINALITY e ORDER BY 1, 2;
SELECT a.id, k.* FROM fid_la a, jsonb_each(a.doc -> 2) k ORDER BY 1;
SELECT a.id, u FROM fid_la a, unnest(ARRAY[a.id, a.n]) u ORDER BY 1, 2;
-- what LATERAL may not read
SELECT a.id, s.v FROM fid_la a, (SELECT v FROM fid_lb WHERE fid_lb.a_id = a.id) s;
SELECT a.id, s.v FROM fid_la a, (SELECT v FROM fid_lb WHERE a_id = n) s;
SELECT a.id FROM fid_la a RIGHT JOIN LATERAL (SELECT a.id AS x) s ON true;
SELECT a.id FROM fid_la a FULL JOIN LATERAL (SELECT a.id AS x) s ON true;
UPDATE fid_la SET n = n + 1 FROM LATERAL (SELECT fid_la.id) s;
DROP TABLE fid_la;
DROP TABLE fid_lb;

-- Default constraint names: <table>_<column>_check only when the expression
-- reads exactly one column; numbered labels on clashes (schema-wide for
-- constraints); duplicate index constraints merged; 63-byte truncation.
CREATE TABLE fid_ck1 (a int CHECK (a > 0), b int CHECK (b > a), c int CHECK (1 > 0), CHECK (c > 0), CHECK (a > b), CHECK (a > 0), CHECK (a + a > 0));
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'fid_ck1'::regclass ORDER BY conname;
CREATE TABLE fid_ck2 (a int, CONSTRAINT fid_ck2_a_check CHECK (a > 1), CHECK (a > 0));
SELECT conname FROM pg_constraint WHERE conrelid = 'fid_ck2'::regclass ORDER BY conname;
CREATE TABLE fid_ck3 (a int CHECK (a > 0), CONSTRAINT fid_ck3_a_check CHECK (a > 1));
CREATE TABLE fid_ck4 (v int CONSTRAINT fid_ck5_a_check CHECK (v > 0));
CREATE TABLE fid_ck5 (a int CHECK (a > 0), b int REFERENCES fid_ck4 (v));
CREATE TABLE fid_ck6 (a int UNIQUE, b int, UNIQUE (a, b), UNIQUE (b), CONSTRAINT fid_ck6_b_key1 UNIQUE (a), PRIMARY KEY (b));
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'fid_ck6'::regclass ORDER BY conname;
SELECT relname FROM pg_class WHERE relname LIKE 'fid_ck6%' ORDER BY 1;
CREATE TABLE fid_ck7 (a int PRIMARY KEY, CONSTRAINT fid_ck7_named UNIQUE (a));
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'fid_ck7'::regclass;
CREATE TABLE fid_ck8 (a int CONSTRAINT fid_ck8_c CHECK (a > 0), b int CONSTRAINT fid_ck8_c UNIQUE);
CREATE TABLE fid_ck8 (a int, b int, c int, FOREIGN KEY (b) REFERENCES fid_ck6 (b), FOREIGN KEY (a, b) REFERENCES fid_ck6 (a, b));
ALTER TABLE fid_ck8 ADD CHECK (a > 0);
ALTER TABLE fid_ck8 ADD CHECK (a > b);
ALTER TABLE fid_ck8 ADD CHECK (a > 1);
ALTER TABLE fid_ck8 ADD FOREIGN KEY (b) REFERENCES fid_ck6 (b);
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'fid_ck8'::regclass ORDER BY conname;
CREATE INDEX ON fid_ck8 (a);
CREATE INDEX ON fid_ck8 (a);
CREATE INDEX ON fid_ck8 (a, b);
SELECT relname FROM pg_class WHERE relname LIKE 'fid_ck8%' ORDER BY 1;
CREATE TABLE fid_ck9 (s serial, t serial PRIMARY KEY);
SELECT relname FROM pg_class WHERE relname LIKE 'fid_ck9%' ORDER BY 1;
CREATE TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef12 (id int PRIMARY KEY, abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123 int UNIQUE CHECK (abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123 > 0), r int REFERENCES fid_ck6 (b));
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef12'::regclass ORDER BY conname;
CREATE TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef1 (id int PRIMARY KEY);
SELECT conname FROM pg_constraint WHERE conrelid = 'fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef1'::regclass;
DROP TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef12;
DROP TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdef1;
DROP TABLE fid_ck9;
DROP TABLE fid_ck8;
DROP TABLE fid_ck7;
DROP TABLE fid_ck5;
DROP TABLE fid_ck6;
DROP TABLE fid_ck4;
DROP TABLE fid_ck2;
DROP TABLE fid_ck1;

-- Named primary keys: the name is the constraint's and its index's.
CREATE TABLE fid_pk1 (id int CONSTRAINT fid_pk1_named PRIMARY KEY, v int);
CREATE TABLE fid_pk2 (id int, v int, CONSTRAINT fid_pk2_named PRIMARY KEY (id));
SELECT conname, contype, conindid::regclass FROM pg_constraint WHERE conrelid IN ('fid_pk1'::regclass, 'fid_pk2'::regclass) ORDER BY conname;
SELECT indexrelid::regclass, indisprimary FROM pg_index WHERE indrelid = 'fid_pk2'::regclass;
INSERT INTO fid_pk1 VALUES (1, 1), (1, 2);
INSERT INTO fid_pk2 VALUES (1, 1), (2, 2);
INSERT INTO fid_pk2 VALUES (1, 1);
UPDATE fid_pk2 SET id = 1 WHERE id = 2;
INSERT INTO fid_pk2 VALUES (1, 1) ON CONFLICT ON CONSTRAINT fid_pk2_named DO NOTHING;
DROP INDEX fid_pk2_named;
DROP TABLE fid_pk1;
DROP TABLE fid_pk2;

-- Identifiers are cut to 63 bytes, in SQL text and in regclass input alike.
CREATE TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefgh12 (id int PRIMARY KEY);
SELECT relname FROM pg_class WHERE oid = 'fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefgh12'::regclass;
SELECT conname FROM pg_constraint WHERE conrelid = 'fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefgh1'::regclass;
DROP TABLE fid_abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefgh1;

-- A plain INSERT ... SELECT's string literals take the target columns' types,
-- as in VALUES; typename('literal') is a cast of the literal.
CREATE TABLE fid_ins (a int, b text, d date);
INSERT INTO fid_ins SELECT '5', 'r', '2024-02-29';
INSERT INTO fid_ins (a) SELECT '6' FROM generate_series(1, 2);
INSERT INTO fid_ins SELECT '7', 'x' UNION ALL SELECT '8', 'y';
INSERT INTO fid_ins (a) SELECT x FROM (SELECT '9') s(x);
INSERT INTO fid_ins SELECT '10', 'z' ORDER BY 1;
INSERT INTO fid_ins SELECT 'q';
SELECT * FROM fid_ins ORDER BY a;
SELECT int4('12'), date('2024-01-02 10:00'), numeric('1.50'), text('t'), bool('yes');
SELECT int4('x');
DROP TABLE fid_ins;
CREATE TABLE fid_def (a int DEFAULT nosuch);

-- Small ones: numeric has no negative zero; E'\v' is "v" (no escape meaning
-- in PostgreSQL 16); FOR UPDATE with nothing to lock, through subqueries and
-- views, and PostgreSQL's errors where it cannot apply.
SELECT -0.0::float8, (-0.0)::float8, '-0'::float8, -0.0, (-0.0)::float4, (-0.0)::text;
SELECT (a * -1)::float8, (-a)::float8, greatest(a * -1, -1)::float8, round(-0.4)::float8 FROM (VALUES (0.0)) t(a);
SELECT E'\v', E'a\vb' = 'avb', E'\\v', E'\v\x41\101', length(E'\v'), e'\V';
SELECT 1 FOR UPDATE;
SELECT 1 FOR SHARE;
SELECT 1 FOR UPDATE NOWAIT;
SELECT * FROM (SELECT 1) s FOR UPDATE;
SELECT * FROM generate_series(1, 2) g FOR UPDATE;
SELECT * FROM generate_series(1, 2) g FOR UPDATE OF g;
CREATE TABLE fid_fu (id int PRIMARY KEY, v int);
INSERT INTO fid_fu VALUES (1, 1), (2, 2);
SELECT * FROM fid_fu x FOR UPDATE OF fid_fu;
SELECT * FROM fid_fu x FOR UPDATE OF x;
SELECT * FROM fid_fu FOR UPDATE OF public.fid_fu;
SELECT * FROM (SELECT * FROM fid_fu) s FOR UPDATE;
SELECT * FROM (SELECT * FROM fid_fu) s FOR UPDATE OF s;
SELECT * FROM (SELECT count(*) FROM fid_fu) s FOR UPDATE;
SELECT count(*) FROM fid_fu FOR UPDATE;
SELECT v FROM fid_fu GROUP BY v FOR UPDATE;
SELECT DISTINCT v FROM fid_fu FOR UPDATE;
WITH w AS (SELECT * FROM fid_fu) SELECT * FROM w FOR UPDATE;
WITH w AS (SELECT * FROM fid_fu) SELECT * FROM w FOR UPDATE OF w;
SELECT * FROM fid_fu UNION SELECT * FROM fid_fu FOR UPDATE;
VALUES (1) FOR UPDATE;
SELECT * FROM (VALUES (1)) v(x) FOR UPDATE;
SELECT * FROM fid_fu FOR UPDATE OF nosuch;
SELECT row_number() OVER () FROM fid_fu FOR UPDATE;
SELECT generate_series(1, 2) FROM fid_fu FOR UPDATE;
-- DSQL locks rows only FOR UPDATE and FOR KEY SHARE; FOR SHARE stays refused where there is a row to lock.
-- @dsql-error 0A000
SELECT * FROM fid_fu FOR SHARE;
DROP TABLE fid_fu;
