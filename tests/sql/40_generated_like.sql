-- GENERATED ALWAYS AS (expr) STORED columns: computed on INSERT and UPDATE,
-- refused as targets with PostgreSQL's errors, shown in the catalogs; and
-- CREATE TABLE ... (LIKE other [INCLUDING ...]).

CREATE TABLE gen_t (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED,
                    name text, lname text GENERATED ALWAYS AS (lower(name) || '!') STORED);
INSERT INTO gen_t (id, a, name) VALUES (1, 10, 'Alice'), (2, NULL, 'BOB');
INSERT INTO gen_t VALUES (3, 7, DEFAULT, 'Carol', DEFAULT);
INSERT INTO gen_t (id, a, b) VALUES (4, 1, DEFAULT) RETURNING b, lname;
SELECT * FROM gen_t ORDER BY id;
INSERT INTO gen_t (id, a, b) VALUES (5, 1, 2);
INSERT INTO gen_t VALUES (5, 1, 2, 'x', 'y');
INSERT INTO gen_t (id, a, b) SELECT 6, 1, 2;
INSERT INTO gen_t (id, a, b) VALUES (7, 1, DEFAULT), (8, 2, 4);
UPDATE gen_t SET a = a + 1 WHERE id <= 2 RETURNING id, a, b;
UPDATE gen_t SET name = 'DAVE' WHERE id = 3 RETURNING lname;
UPDATE gen_t SET b = 5 WHERE id = 1;
UPDATE gen_t SET b = DEFAULT, a = 100 WHERE id = 1 RETURNING b;
SELECT id, b, lname FROM gen_t WHERE b > 15 ORDER BY id;
INSERT INTO gen_t (id, a) VALUES (4, 3) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a RETURNING a, b;
INSERT INTO gen_t (id, a) VALUES (4, 3) ON CONFLICT (id) DO UPDATE SET b = 1;
SELECT column_name, column_default, is_nullable, is_generated, generation_expression
  FROM information_schema.columns WHERE table_name = 'gen_t' ORDER BY ordinal_position;
SELECT attname, attgenerated, atthasdef FROM pg_attribute
  WHERE attrelid = 'gen_t'::regclass AND attnum > 0 ORDER BY attnum;
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
  WHERE d.adrelid = 'gen_t'::regclass ORDER BY d.adnum;

-- checks and indexes over generated columns
CREATE TABLE gen_chk (a int, d int GENERATED ALWAYS AS (a + 1) STORED CHECK (d < 10));
INSERT INTO gen_chk (a) VALUES (1);
INSERT INTO gen_chk (a) VALUES (9);
CREATE UNIQUE INDEX gen_chk_d ON gen_chk (d);
INSERT INTO gen_chk (a) VALUES (1);
SELECT * FROM gen_chk WHERE d = 2;

-- generation expressions PostgreSQL refuses
CREATE TABLE gen_bad (a int, b int GENERATED ALWAYS AS (a * 2) STORED, c int GENERATED ALWAYS AS (b + 1) STORED);
CREATE TABLE gen_bad (a int, b int DEFAULT 1 GENERATED ALWAYS AS (a * 2) STORED);
CREATE TABLE gen_bad (a int, b float8 GENERATED ALWAYS AS (random()) STORED);
CREATE TABLE gen_bad (a int, b int GENERATED ALWAYS AS (count(a)) STORED);
CREATE TABLE gen_bad (a int, b int GENERATED ALWAYS AS ((SELECT 1)) STORED);
CREATE TABLE gen_bad (a int, b int GENERATED ALWAYS AS (nope + 1) STORED);
CREATE TABLE gen_bad (a int, b int GENERATED ALWAYS AS ('x') STORED);

-- DROP EXPRESSION turns the column into a plain one with its values
ALTER TABLE gen_chk ALTER COLUMN d DROP EXPRESSION;
INSERT INTO gen_chk (a, d) VALUES (3, 7);
SELECT * FROM gen_chk ORDER BY a;
ALTER TABLE gen_chk ALTER COLUMN d DROP EXPRESSION;
ALTER TABLE gen_chk ALTER COLUMN d DROP EXPRESSION IF EXISTS;
ALTER TABLE gen_t ALTER COLUMN b SET DEFAULT 1;
ALTER TABLE gen_t DROP COLUMN a;

-- LIKE: columns, types and NOT NULL always; the rest with INCLUDING
CREATE TABLE like_src (id int PRIMARY KEY, code varchar(8) NOT NULL DEFAULT 'c',
                       amount numeric(10, 2) CHECK (amount >= 0), twice numeric GENERATED ALWAYS AS (amount * 2) STORED,
                       note text, UNIQUE (code));
CREATE INDEX like_src_note ON like_src (note);
CREATE TABLE like_plain (LIKE like_src);
SELECT column_name, data_type, character_maximum_length, numeric_precision, is_nullable, column_default, is_generated
  FROM information_schema.columns WHERE table_name = 'like_plain' ORDER BY ordinal_position;
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'like_plain'::regclass ORDER BY conname;
INSERT INTO like_plain (id, code, amount, twice) VALUES (1, 'x', -1, 5);
INSERT INTO like_plain (id, amount) VALUES (2, 1);
SELECT * FROM like_plain ORDER BY id;
CREATE TABLE like_all (LIKE like_src INCLUDING ALL);
SELECT column_name, is_nullable, column_default, is_generated, generation_expression
  FROM information_schema.columns WHERE table_name = 'like_all' ORDER BY ordinal_position;
SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'like_all'::regclass ORDER BY conname;
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'like_all' ORDER BY indexname;
INSERT INTO like_all (id, amount) VALUES (1, 2.5) RETURNING *;
INSERT INTO like_all (id, amount) VALUES (2, -1);
INSERT INTO like_all (id, amount) VALUES (1, 1);
INSERT INTO like_all (id, code, amount) VALUES (3, 'c', 1);
CREATE TABLE like_some (extra int, LIKE like_src INCLUDING DEFAULTS INCLUDING CONSTRAINTS, last text);
SELECT column_name, column_default, is_generated FROM information_schema.columns
  WHERE table_name = 'like_some' ORDER BY ordinal_position;
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'like_some'::regclass ORDER BY conname;
INSERT INTO like_some (id, amount) VALUES (1, -3);
INSERT INTO like_some (id, amount, twice) VALUES (1, 3, 1) RETURNING *;
CREATE TABLE like_gen (LIKE like_src INCLUDING GENERATED EXCLUDING CONSTRAINTS);
INSERT INTO like_gen (id, code, amount) VALUES (1, 'a', -4) RETURNING twice;
CREATE TABLE like_idx (LIKE like_src INCLUDING INDEXES);
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'like_idx' ORDER BY indexname;
CREATE TABLE like_missing (LIKE no_such_table);
CREATE TABLE like_dup (id int, LIKE like_src);
CREATE TABLE like_view_src (LIKE like_src INCLUDING ALL, id2 int);
SELECT count(*) FROM like_view_src;

DROP TABLE gen_t;
DROP TABLE gen_chk;
DROP TABLE like_plain;
DROP TABLE like_all;
DROP TABLE like_some;
DROP TABLE like_gen;
DROP TABLE like_idx;
DROP TABLE like_view_src;
DROP TABLE like_src;
