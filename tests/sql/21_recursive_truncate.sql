-- WITH RECURSIVE (counting, graphs with cycles, UNION vs UNION ALL, several
-- references), TRUNCATE (a catalog swap, and in a block a transactional delete) and VACUUM/ANALYZE.

CREATE TABLE rc_edge (src int, dst int);
INSERT INTO rc_edge VALUES (1, 2), (2, 3), (3, 4), (4, 2), (5, 6), (1, 5);

WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT sum(n), count(*), max(n) FROM t;
WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n * 2 FROM t WHERE n < 1000) SELECT n FROM t ORDER BY n;
WITH RECURSIVE fib(a, b) AS (SELECT 0::bigint, 1::bigint UNION ALL SELECT b, a + b FROM fib WHERE b < 1000000) SELECT a FROM fib ORDER BY a;
WITH RECURSIVE reach(node) AS (SELECT 1 UNION SELECT e.dst FROM rc_edge e JOIN reach r ON e.src = r.node) SELECT node FROM reach ORDER BY node;
WITH RECURSIVE reach(node, depth) AS (SELECT 1, 0 UNION ALL SELECT e.dst, r.depth + 1 FROM rc_edge e, reach r WHERE e.src = r.node AND r.depth < 5) SELECT node, min(depth) FROM reach GROUP BY node ORDER BY node;
WITH RECURSIVE path(node, trail) AS (SELECT 1, ARRAY[1] UNION ALL SELECT e.dst, p.trail || e.dst FROM rc_edge e JOIN path p ON e.src = p.node WHERE NOT e.dst = ANY(p.trail)) SELECT node, array_length(trail, 1) FROM path ORDER BY 2, 1;
WITH RECURSIVE t(n) AS (SELECT 1 UNION SELECT n FROM t) SELECT * FROM t;
WITH RECURSIVE t(n) AS (SELECT 3 UNION ALL SELECT n - 1 FROM t WHERE n > 0), u AS (SELECT n * 10 AS m FROM t) SELECT (SELECT count(*) FROM t), (SELECT sum(m) FROM u);
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT a.n, b.n FROM t a, t b WHERE a.n < b.n ORDER BY 1, 2;
WITH RECURSIVE t(n, s) AS (SELECT 1, 'a'::text UNION ALL SELECT n + 1, s || 'b' FROM t WHERE n < 4) SELECT * FROM t ORDER BY n;
SELECT x, (WITH RECURSIVE d(k) AS (SELECT x UNION ALL SELECT k - 1 FROM d WHERE k > 1) SELECT count(*) FROM d) FROM (VALUES (1), (4)) AS v(x) ORDER BY x;
WITH RECURSIVE t(n) AS (SELECT n + 1 FROM t UNION SELECT 1) SELECT * FROM t;
WITH RECURSIVE t AS (SELECT 1 AS n INTERSECT SELECT n FROM t) SELECT * FROM t;

CREATE TABLE tr_a (id int PRIMARY KEY, v text UNIQUE);
CREATE TABLE tr_b (id int);
INSERT INTO tr_a VALUES (1, 'a'), (2, 'b');
INSERT INTO tr_b VALUES (1), (2), (3);
TRUNCATE tr_a;
SELECT count(*) FROM tr_a;
INSERT INTO tr_a VALUES (1, 'a');
SELECT * FROM tr_a;
TRUNCATE TABLE tr_a, tr_b;
SELECT (SELECT count(*) FROM tr_a), (SELECT count(*) FROM tr_b);
INSERT INTO tr_b VALUES (7);
BEGIN;
TRUNCATE tr_b;
INSERT INTO tr_b VALUES (8);
SELECT * FROM tr_b;
ROLLBACK;
SELECT * FROM tr_b;
TRUNCATE no_such_table;
VACUUM tr_a;
ANALYZE tr_a;
VACUUM ANALYZE tr_b;

DROP TABLE rc_edge;
DROP TABLE tr_a;
DROP TABLE tr_b;
