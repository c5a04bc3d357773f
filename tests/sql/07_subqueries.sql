-- Subqueries: IN / NOT IN (with NULLs on either side), EXISTS / NOT EXISTS,
-- scalar subqueries (correlated and not), ANY / ALL, derived tables, and the
-- errors for subqueries returning too many rows or columns.

CREATE TABLE sub_a (id int PRIMARY KEY, x int);
CREATE TABLE sub_b (id int PRIMARY KEY, y int);
INSERT INTO sub_a VALUES (1, 1), (2, 2), (3, 3), (4, NULL);
INSERT INTO sub_b VALUES (10, 2), (11, 3), (12, 3), (13, NULL);

-- IN / NOT IN
SELECT id FROM sub_a WHERE x IN (SELECT y FROM sub_b);
SELECT id FROM sub_a WHERE x NOT IN (SELECT y FROM sub_b);
SELECT id FROM sub_a WHERE x NOT IN (SELECT y FROM sub_b WHERE y IS NOT NULL);
SELECT id FROM sub_a WHERE x IN (SELECT y FROM sub_b WHERE false);
SELECT id FROM sub_a WHERE x NOT IN (SELECT y FROM sub_b WHERE false);
SELECT id, x IN (SELECT y FROM sub_b) AS in_b, x NOT IN (SELECT y FROM sub_b) AS not_in_b FROM sub_a;
SELECT id, x IN (SELECT y FROM sub_b WHERE y IS NOT NULL) AS in_b FROM sub_a;
SELECT id FROM sub_a WHERE (x, id) IN (SELECT y, 2 FROM sub_b);
SELECT id FROM sub_a WHERE x IN (1, 3, NULL);
SELECT id FROM sub_a WHERE x NOT IN (1, NULL);
SELECT id FROM sub_a WHERE x NOT IN (1, 2);
SELECT NULL IN (SELECT y FROM sub_b), 2 IN (SELECT y FROM sub_b), 5 IN (SELECT y FROM sub_b), 5 NOT IN (SELECT y FROM sub_b);

-- EXISTS / NOT EXISTS
SELECT id FROM sub_a a WHERE EXISTS (SELECT 1 FROM sub_b b WHERE b.y = a.x);
SELECT id FROM sub_a a WHERE NOT EXISTS (SELECT 1 FROM sub_b b WHERE b.y = a.x);
SELECT id FROM sub_a WHERE EXISTS (SELECT 1 FROM sub_b WHERE y > 100);
SELECT id FROM sub_a WHERE NOT EXISTS (SELECT 1 FROM sub_b WHERE y > 100);
SELECT EXISTS (SELECT 1 FROM sub_b WHERE y IS NULL), EXISTS (SELECT NULL);
SELECT id FROM sub_a a WHERE EXISTS (SELECT 1 FROM sub_b b WHERE b.y = a.x AND b.id > 10);

-- scalar subqueries
SELECT (SELECT max(y) FROM sub_b) AS m;
SELECT id, (SELECT count(*) FROM sub_b b WHERE b.y = a.x) AS matches FROM sub_a a;
SELECT id, (SELECT min(b.id) FROM sub_b b WHERE b.y = a.x) AS first_b FROM sub_a a ORDER BY id;
SELECT id FROM sub_a WHERE x = (SELECT min(y) FROM sub_b);
SELECT id FROM sub_a WHERE x > (SELECT avg(y) FROM sub_b);
SELECT id FROM sub_a WHERE x = (SELECT y FROM sub_b WHERE id = 99);
SELECT (SELECT y FROM sub_b WHERE id = 99) IS NULL;
SELECT id, x - (SELECT min(x) FROM sub_a) AS delta FROM sub_a;
SELECT (SELECT y FROM sub_b);
SELECT (SELECT id, y FROM sub_b WHERE id = 10);
SELECT id FROM sub_a a WHERE x = (SELECT y FROM sub_b b WHERE b.y = a.x);

-- ANY / ALL
SELECT id FROM sub_a WHERE x = ANY (SELECT y FROM sub_b);
SELECT id FROM sub_a WHERE x < ALL (SELECT y FROM sub_b WHERE y IS NOT NULL);
SELECT id FROM sub_a WHERE x < ALL (SELECT y FROM sub_b);
SELECT id FROM sub_a WHERE x > ANY (SELECT y FROM sub_b);
SELECT id FROM sub_a WHERE x <> ALL (SELECT y FROM sub_b WHERE y IS NOT NULL);
SELECT 1 = ANY (SELECT y FROM sub_b WHERE false), 1 = ALL (SELECT y FROM sub_b WHERE false);

-- derived tables and subqueries in several places
SELECT t.x, t.n FROM (SELECT x, count(*) AS n FROM sub_a GROUP BY x) AS t WHERE t.n = 1;
SELECT s.total FROM (SELECT sum(y) AS total FROM sub_b) s;
SELECT a.id, b.y FROM sub_a a JOIN (SELECT * FROM sub_b WHERE y > 2) b ON b.y = a.x;
SELECT id FROM sub_a WHERE id IN (SELECT id - 9 FROM sub_b WHERE y IN (SELECT x FROM sub_a WHERE x > 1));
SELECT id FROM (SELECT id FROM (SELECT id FROM sub_a WHERE id > 1) AS i1 WHERE id < 4) AS i2 ORDER BY id DESC;
SELECT max(c) FROM (SELECT count(*) AS c FROM sub_b GROUP BY y) AS g;
SELECT * FROM (SELECT 1) AS one;

DROP TABLE sub_a;
DROP TABLE sub_b;
