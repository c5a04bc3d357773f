-- Index kinds beyond plain columns: INCLUDE columns, NULLS NOT DISTINCT,
-- partial indexes (WHERE: entries only for matching rows, unique only among
-- them) and expression indexes (lower(name)): maintained through writes,
-- enforcing uniqueness, shown in pg_indexes / pg_index, and giving the same
-- rows whether or not the planner reads them.

CREATE TABLE ik (id int PRIMARY KEY, name text, email text, status text, n int, m int);
INSERT INTO ik SELECT g, 'Name' || (g % 20), 'User' || g || '@Example.com', CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, g % 7, g % 5
  FROM generate_series(1, 120) AS g;

-- INCLUDE
CREATE INDEX ik_n_incl ON ik (n) INCLUDE (m, name);
SELECT indexdef FROM pg_indexes WHERE indexname = 'ik_n_incl';
SELECT indnatts, indnkeyatts, indkey::text, indisunique, indnullsnotdistinct FROM pg_index WHERE indexrelid = 'ik_n_incl'::regclass;
SELECT pg_get_indexdef('ik_n_incl'::regclass, 1, false), pg_get_indexdef('ik_n_incl'::regclass, 2, false), pg_get_indexdef('ik_n_incl'::regclass, 3, false);
SELECT id, m FROM ik WHERE n = 3 AND id < 30;
CREATE UNIQUE INDEX ik_id_incl ON ik (id) INCLUDE (name);
CREATE INDEX ik_bad_incl ON ik (n) INCLUDE (nope);

-- NULLS NOT DISTINCT
CREATE TABLE nnd (a int, b int);
CREATE UNIQUE INDEX nnd_a ON nnd (a) NULLS NOT DISTINCT;
INSERT INTO nnd VALUES (1, 1), (NULL, 2);
INSERT INTO nnd VALUES (NULL, 3);
INSERT INTO nnd VALUES (1, 4);
UPDATE nnd SET a = NULL WHERE b = 1;
INSERT INTO nnd VALUES (NULL, 9) ON CONFLICT (a) DO NOTHING;
INSERT INTO nnd VALUES (NULL, 9) ON CONFLICT (a) DO UPDATE SET b = nnd.b + 100 RETURNING *;
INSERT INTO nnd VALUES (5, 9) ON CONFLICT (a) DO UPDATE SET b = 0 RETURNING *;
SELECT * FROM nnd ORDER BY b;
SELECT indexdef FROM pg_indexes WHERE indexname = 'nnd_a';
SELECT indnullsnotdistinct FROM pg_index WHERE indexrelid = 'nnd_a'::regclass;
CREATE TABLE nnd2 (a int, b int, UNIQUE NULLS NOT DISTINCT (a, b));
INSERT INTO nnd2 VALUES (1, NULL), (NULL, NULL);
INSERT INTO nnd2 VALUES (1, NULL);
INSERT INTO nnd2 VALUES (NULL, NULL);
INSERT INTO nnd2 VALUES (2, NULL);
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'nnd2'::regclass;
SELECT indexdef FROM pg_indexes WHERE tablename = 'nnd2';
CREATE TABLE nnd3 (a int);
INSERT INTO nnd3 VALUES (NULL), (NULL);
CREATE UNIQUE INDEX nnd3_a ON nnd3 (a) NULLS NOT DISTINCT;
CREATE UNIQUE INDEX nnd3_b ON nnd3 (a);

-- partial indexes
CREATE INDEX ik_open_n ON ik (n) WHERE status = 'open';
SELECT indexdef FROM pg_indexes WHERE indexname = 'ik_open_n';
SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'ik_open_n'::regclass;
SELECT id FROM ik WHERE n = 2 AND status = 'open';
SELECT id FROM ik WHERE n = 2 AND status = 'closed' AND id < 40;
SELECT count(*) FROM ik WHERE n = 2;
UPDATE ik SET status = 'open' WHERE id IN (1, 2);
UPDATE ik SET status = 'closed' WHERE id = 3;
SELECT id FROM ik WHERE n = 2 AND status = 'open';
SELECT id FROM ik WHERE n = 1 AND status = 'open';
DELETE FROM ik WHERE id = 9;
SELECT id FROM ik WHERE n = 2 AND status = 'open';
-- a join on the column of a partial index must not read it (it misses rows)
CREATE TABLE ik_keys (k int PRIMARY KEY);
INSERT INTO ik_keys VALUES (2), (4);
SELECT ik.id FROM ik_keys JOIN ik ON ik.n = ik_keys.k WHERE ik.id < 30;
SELECT ik.id FROM ik_keys JOIN ik ON lower(ik.name) = 'name' || ik_keys.k WHERE ik.id < 50;
DROP TABLE ik_keys;
CREATE TABLE pu (id int PRIMARY KEY, k int, active bool);
CREATE UNIQUE INDEX pu_k_active ON pu (k) WHERE active;
INSERT INTO pu VALUES (1, 10, true), (2, 10, false), (3, 10, false);
INSERT INTO pu VALUES (4, 10, true);
INSERT INTO pu VALUES (4, 11, true);
INSERT INTO pu VALUES (5, 10, true) ON CONFLICT DO NOTHING;
INSERT INTO pu VALUES (5, 10, true) ON CONFLICT (k) DO NOTHING;
INSERT INTO pu VALUES (5, 10, false) ON CONFLICT DO NOTHING;
INSERT INTO pu VALUES (6, 10, true) ON CONFLICT (k) WHERE active DO NOTHING;
INSERT INTO pu VALUES (6, 10, true) ON CONFLICT (k) WHERE active DO UPDATE SET id = pu.id RETURNING id;
INSERT INTO pu VALUES (6, 10, true) ON CONFLICT (k) WHERE active AND id > 0 DO UPDATE SET k = 12 RETURNING id, k;
INSERT INTO pu VALUES (7, 12, true) ON CONFLICT (k) WHERE NOT active DO NOTHING;
UPDATE pu SET active = true WHERE id = 2;
UPDATE pu SET active = false WHERE id = 1;
UPDATE pu SET active = true WHERE id = 2;
SELECT id, k, active FROM pu WHERE k = 10 AND active ORDER BY id;
SELECT id FROM pu WHERE k = 10 ORDER BY id;
CREATE TABLE pu2 (k int, active bool);
INSERT INTO pu2 VALUES (1, true), (1, false), (1, false);
CREATE UNIQUE INDEX pu2_k ON pu2 (k) WHERE active;
INSERT INTO pu2 VALUES (1, true);
CREATE UNIQUE INDEX pu2_k_bad ON pu2 (k) WHERE NOT active;
CREATE INDEX pu_bad ON pu (k) WHERE random() > 0.5;
CREATE INDEX pu_bad ON pu (k) WHERE k IN (SELECT 1);
CREATE INDEX pu_bad ON pu (k) WHERE nope > 1;

-- expression indexes
CREATE INDEX ik_lower_name ON ik (lower(name));
CREATE UNIQUE INDEX ik_lower_email ON ik (lower(email));
CREATE INDEX ON ik ((n + m));
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ik' ORDER BY indexname;
SELECT indnatts, indkey::text FROM pg_index WHERE indexrelid = 'ik_lower_name'::regclass;
SELECT pg_get_indexdef('ik_lower_name'::regclass, 1, true), pg_get_indexdef('ik_expr_idx'::regclass, 1, true);
SELECT id FROM ik WHERE lower(name) = 'name7' AND id < 50;
SELECT id, email FROM ik WHERE lower(email) = 'user5@example.com';
SELECT id FROM ik WHERE n + m = 10 AND id < 60;
SELECT count(*) FROM ik WHERE lower(name) > 'name5';
INSERT INTO ik VALUES (500, 'NAME7', 'user5@EXAMPLE.com', 'open', 1, 1);
INSERT INTO ik VALUES (500, 'NAME7', 'fresh@example.com', 'open', 1, 1);
SELECT id FROM ik WHERE lower(name) = 'name7' AND id > 100;
UPDATE ik SET email = 'USER6@example.com' WHERE id = 500;
UPDATE ik SET name = 'Renamed' WHERE id = 500;
SELECT id FROM ik WHERE lower(name) = 'name7' AND id > 100;
SELECT id FROM ik WHERE lower(name) = 'renamed';
INSERT INTO ik VALUES (501, 'x', 'FRESH@example.com', 'open', 1, 1) ON CONFLICT DO NOTHING;
SELECT count(*) FROM ik WHERE lower(email) = 'fresh@example.com';
INSERT INTO ik VALUES (502, 'y', 'FRESH@example.com', 'open', 1, 1) ON CONFLICT (lower(email)) DO UPDATE SET status = 'dup' RETURNING id, status;
INSERT INTO ik VALUES (503, 'y', 'z@example.com', 'open', 1, 1) ON CONFLICT (lower(email)) DO UPDATE SET status = 'dup' RETURNING id, status;
INSERT INTO ik VALUES (504, 'y', 'z@example.com', 'open', 1, 1) ON CONFLICT (upper(email)) DO NOTHING;
INSERT INTO ik VALUES (504, 'y', 'z@example.com', 'open', 1, 1) ON CONFLICT (email) DO NOTHING;
CREATE INDEX ik_bad ON ik (random());
CREATE INDEX ik_bad ON ik ((SELECT 1));
CREATE INDEX ik_bad ON ik (lower(nope));
CREATE TABLE ex_dup (s text);
INSERT INTO ex_dup VALUES ('A'), ('a');
CREATE UNIQUE INDEX ex_dup_lower ON ex_dup (lower(s));
CREATE UNIQUE INDEX ex_dup_upper ON ex_dup (upper(s)) WHERE s <> 'a';
INSERT INTO ex_dup VALUES ('b'), ('B');
CREATE TABLE ex_sum (a int, b int);
CREATE UNIQUE INDEX ex_sum_i ON ex_sum ((a + b), lower(a::text));
INSERT INTO ex_sum VALUES (1, 2), (2, 1);
INSERT INTO ex_sum VALUES (1, 2);
SELECT pg_get_indexdef('ex_sum_i'::regclass, 1, false), pg_get_indexdef('ex_sum_i'::regclass, 1, true), pg_get_indexdef('ex_sum_i'::regclass, 2, false), pg_get_indexdef('ex_sum_i'::regclass, 0, false), pg_get_indexdef('ex_sum_i'::regclass, 0, true);
SELECT a, b FROM ex_sum WHERE a + b = 3 AND lower(a::text) = '2';
DROP TABLE ex_sum;

-- LIKE ... INCLUDING INDEXES copies them all
CREATE TABLE ik_copy (LIKE ik INCLUDING INDEXES);
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ik_copy' ORDER BY indexname;
INSERT INTO ik_copy SELECT * FROM ik;
INSERT INTO ik_copy VALUES (900, 'q', 'USER7@example.com', 'open', 1, 1);
SELECT id FROM ik_copy WHERE lower(name) = 'name7' AND id < 50;
SELECT id FROM ik_copy WHERE n = 1 AND status = 'open' AND id < 60;

-- an index whose column is dropped goes with it
ALTER TABLE ik DROP COLUMN m;
SELECT indexname FROM pg_indexes WHERE tablename = 'ik' ORDER BY indexname;
ALTER TABLE ik RENAME COLUMN name TO full_name;
SELECT indexdef FROM pg_indexes WHERE indexname = 'ik_lower_name';
SELECT id FROM ik WHERE lower(full_name) = 'name7' AND id < 50;

DROP TABLE ik_copy;
DROP TABLE ik;
DROP TABLE nnd;
DROP TABLE nnd2;
DROP TABLE nnd3;
DROP TABLE pu;
DROP TABLE pu2;
DROP TABLE ex_dup;
