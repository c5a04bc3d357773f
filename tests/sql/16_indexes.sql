-- CREATE [UNIQUE] INDEX and DROP INDEX, and queries an index can serve
-- (equality, ranges, IN lists, prefixes of multi-column indexes, ORDER BY on
-- the indexed column), before and after the index exists; unique indexes
-- enforcing uniqueness on existing and new rows; index DDL errors. Results
-- must not depend on whether an index is used.

CREATE TABLE idx_t (id int PRIMARY KEY, k int, name text, score numeric(6,2), born date);
INSERT INTO idx_t SELECT g, g % 10, 'n' || (g % 7), (g % 13) * 1.5, DATE '2024-01-01' + g FROM generate_series(1, 200) AS g;
INSERT INTO idx_t VALUES (201, NULL, NULL, NULL, NULL);

-- the same queries without, then with, secondary indexes
SELECT count(*) FROM idx_t WHERE k = 3;
SELECT id FROM idx_t WHERE k = 3 AND id < 50;
SELECT count(*) FROM idx_t WHERE name = 'n2';
SELECT id FROM idx_t WHERE born BETWEEN '2024-03-01' AND '2024-03-05';
CREATE INDEX idx_t_k ON idx_t (k);
CREATE INDEX idx_t_name_score ON idx_t (name, score);
CREATE INDEX idx_t_born ON idx_t (born);
SELECT count(*) FROM idx_t WHERE k = 3;
SELECT id FROM idx_t WHERE k = 3 AND id < 50;
SELECT count(*) FROM idx_t WHERE name = 'n2';
SELECT id FROM idx_t WHERE born BETWEEN '2024-03-01' AND '2024-03-05';
SELECT id FROM idx_t WHERE k IN (1, 2) AND id > 180;
SELECT id FROM idx_t WHERE k > 8 AND id < 40;
SELECT id FROM idx_t WHERE k >= 9 AND k < 10 AND id BETWEEN 100 AND 130;
SELECT id FROM idx_t WHERE k IS NULL;
SELECT id, score FROM idx_t WHERE name = 'n3' AND score > 15;
SELECT id FROM idx_t WHERE name = 'n3' AND score = 4.5;
SELECT count(*) FROM idx_t WHERE name > 'n5';
SELECT id, born FROM idx_t WHERE born > '2024-07-15' ORDER BY born;
SELECT id, born FROM idx_t WHERE born < '2024-01-05' ORDER BY born DESC;
SELECT k, count(*) FROM idx_t WHERE k < 3 GROUP BY k;
SELECT a.id, b.id FROM idx_t a JOIN idx_t b ON a.k = b.k WHERE a.id = 5 AND b.id < 40;

-- index maintenance through writes
UPDATE idx_t SET k = 42 WHERE id IN (10, 20);
SELECT id FROM idx_t WHERE k = 42;
SELECT count(*) FROM idx_t WHERE k = 0;
DELETE FROM idx_t WHERE k = 42;
SELECT id FROM idx_t WHERE k = 42;
INSERT INTO idx_t VALUES (300, 42, 'new', 1.00, '2030-01-01');
SELECT id, name FROM idx_t WHERE k = 42;
UPDATE idx_t SET name = 'renamed' WHERE name = 'new' RETURNING id;
SELECT id FROM idx_t WHERE name = 'new';
SELECT id FROM idx_t WHERE name = 'renamed';

-- unique indexes
CREATE UNIQUE INDEX idx_t_k_unique ON idx_t (k);
CREATE UNIQUE INDEX idx_t_born_unique ON idx_t (born);
INSERT INTO idx_t (id, born) VALUES (301, '2030-01-01');
INSERT INTO idx_t (id, born) VALUES (301, '2031-01-01');
INSERT INTO idx_t (id, born) VALUES (302, NULL);
UPDATE idx_t SET born = '2031-01-01' WHERE id = 1;
SELECT id FROM idx_t WHERE born = '2031-01-01';
INSERT INTO idx_t (id, born) VALUES (303, '2031-01-01') ON CONFLICT (born) DO NOTHING;
INSERT INTO idx_t (id, born, name) VALUES (303, '2031-01-01', 'upsert') ON CONFLICT (born) DO UPDATE SET name = EXCLUDED.name RETURNING id, name;
CREATE TABLE idx_pair (a int, b int, c text);
INSERT INTO idx_pair VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');
CREATE UNIQUE INDEX idx_pair_ab ON idx_pair (a, b);
INSERT INTO idx_pair VALUES (1, 1, 'dup');
INSERT INTO idx_pair VALUES (1, NULL, 'n1'), (1, NULL, 'n2');
SELECT a, b, c FROM idx_pair WHERE a = 1 ORDER BY b NULLS FIRST, c;

-- index DDL errors and DROP INDEX
CREATE INDEX idx_t_k ON idx_t (k);
CREATE INDEX IF NOT EXISTS idx_t_k ON idx_t (k);
CREATE INDEX idx_bad ON idx_t (nosuch);
CREATE INDEX idx_bad ON idx_nosuch (k);
DROP INDEX idx_t_k;
DROP INDEX idx_t_k;
DROP INDEX IF EXISTS idx_t_k;
DROP INDEX idx_t_name_score;
DROP INDEX idx_t_born;
DROP INDEX idx_t_born_unique;
INSERT INTO idx_t (id, born) VALUES (304, '2031-01-01');
SELECT count(*) FROM idx_t WHERE born = '2031-01-01';
SELECT count(*) FROM idx_t WHERE k = 3;

-- dropping a table drops its indexes: the names are free again
DROP TABLE idx_pair;
CREATE TABLE idx_pair (a int PRIMARY KEY);
CREATE INDEX idx_pair_ab ON idx_pair (a);
DROP TABLE idx_pair;
DROP TABLE idx_t;
