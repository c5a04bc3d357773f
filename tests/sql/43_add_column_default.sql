-- ALTER TABLE ... ADD COLUMN ... DEFAULT <non-volatile expression>: PostgreSQL
-- 11's "missing value" (dsql's extension to DSQL, which adds bare columns
-- only). Rows from before the column read the default as it was when the
-- column was added, through every path: scans, point reads, index reads,
-- filters, updates, upserts, foreign keys and indexes built later.

CREATE TABLE acd (id int PRIMARY KEY, v text);
INSERT INTO acd SELECT g, 'v' || g FROM generate_series(1, 50) AS g;
ALTER TABLE acd ADD COLUMN n int DEFAULT 7;
ALTER TABLE acd ADD COLUMN label text NOT NULL DEFAULT 'new' || 'er';
ALTER TABLE acd ADD COLUMN plain int;
ALTER TABLE acd ADD COLUMN amount numeric(8, 2) DEFAULT 1.5;
SELECT * FROM acd WHERE id <= 3 ORDER BY id;
SELECT count(*), sum(n), min(label), sum(amount) FROM acd;
SELECT id FROM acd WHERE n = 7 AND id < 4;
SELECT count(*) FROM acd WHERE n IS NULL;
SELECT count(*) FROM acd WHERE label = 'newer';
SELECT n, label FROM acd WHERE id = 10;
INSERT INTO acd (id, v) VALUES (100, 'fresh');
INSERT INTO acd (id, v, n, label) VALUES (101, 'given', NULL, 'x');
INSERT INTO acd (id, v, label) VALUES (102, 'bad', NULL);
SELECT id, n, label, plain, amount FROM acd WHERE id >= 100 ORDER BY id;
UPDATE acd SET v = 'changed' WHERE id = 2 RETURNING id, v, n, label, amount;
UPDATE acd SET n = n + 1 WHERE id = 3 RETURNING n;
SELECT id, n FROM acd WHERE id IN (2, 3, 4) ORDER BY id;
INSERT INTO acd (id, v) VALUES (5, 'up') ON CONFLICT (id) DO UPDATE SET n = acd.n * 10 RETURNING id, n, label;
DELETE FROM acd WHERE n = 7 AND id > 40 RETURNING id, label;
SELECT column_name, column_default, is_nullable FROM information_schema.columns WHERE table_name = 'acd' ORDER BY ordinal_position;
SELECT attname, atthasdef, atthasmissing FROM pg_attribute WHERE attrelid = 'acd'::regclass AND attnum > 0 ORDER BY attnum;

-- a later default applies to new rows only; old rows keep the missing value
ALTER TABLE acd ALTER COLUMN n SET DEFAULT 8;
INSERT INTO acd (id, v) VALUES (103, 'later');
SELECT id, n FROM acd WHERE id IN (1, 103) ORDER BY id;
ALTER TABLE acd ALTER COLUMN n DROP DEFAULT;
SELECT n FROM acd WHERE id = 1;

-- indexes and constraints built after the column see the missing value
CREATE INDEX acd_n ON acd (n);
SELECT count(*) FROM acd WHERE n = 7;
CREATE TABLE acd_keys (k int PRIMARY KEY, tag text);
INSERT INTO acd_keys VALUES (1, 'a'), (2, 'b'), (103, 'c');
SELECT acd_keys.tag, acd.n, acd.label FROM acd_keys JOIN acd ON acd.id = acd_keys.k;
SELECT count(*) FROM acd_keys JOIN acd ON acd.n = acd_keys.k + 6;
DROP TABLE acd_keys;
CREATE UNIQUE INDEX acd_label ON acd (label);
ALTER TABLE acd ADD CONSTRAINT acd_n_small CHECK (n < 5);
ALTER TABLE acd ADD CONSTRAINT acd_n_big CHECK (n > 5 OR n IS NULL);
CREATE TABLE acd_ref (k int PRIMARY KEY);
INSERT INTO acd_ref VALUES (7), (70);
ALTER TABLE acd ADD CONSTRAINT acd_n_fk FOREIGN KEY (n) REFERENCES acd_ref (k);
DELETE FROM acd_ref WHERE k = 7;

-- refused: a volatile default needs a value per row, that is a rewrite
-- (PostgreSQL rewrites the table; dsql, like DSQL, never does)
-- @dsql-error 0A000
ALTER TABLE acd ADD COLUMN r float8 DEFAULT random();
ALTER TABLE acd ADD COLUMN bad int DEFAULT id;
ALTER TABLE acd ADD COLUMN bad int DEFAULT 'x';

-- a stable default is evaluated once, when the column is added
CREATE TABLE acd_t (id int PRIMARY KEY);
INSERT INTO acd_t VALUES (1), (2);
ALTER TABLE acd_t ADD COLUMN at date DEFAULT CURRENT_DATE;
SELECT count(DISTINCT at), bool_and(at = CURRENT_DATE) FROM acd_t;

DROP TABLE acd;
DROP TABLE acd_ref;
DROP TABLE acd_t;
